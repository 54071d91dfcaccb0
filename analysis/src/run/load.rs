//! `load.csv` of a run, read strictly: beyond what every run CSV is checked for (a row that does not parse, a
//! non-finite number), a level must be a level (above 0; clients and bursts whole), a rate cannot be negative,
//! and each (workload, input, runtime, kind, level) is one row: a repeated one counts a level twice in the
//! curves and the export. Every verb that reads `load.csv` (report, export, pair) reads it here.

use super::error::RunError;
use super::rows::read_csv_checked;
use harness_data::{LoadKind, LoadRecord};
use std::collections::HashMap;
use std::path::Path;

/// The rows of `path`, each checked; an error names the file and line.
pub fn read_load_rows(path: &Path) -> Result<Vec<LoadRecord>, RunError> {
    let mut first_line: HashMap<(String, String, String, LoadKind, u64), u64> = HashMap::new();
    read_csv_checked(path, |row: &LoadRecord, line| {
        check_row(row)?;
        let key = (
            row.workload.clone(),
            row.input.clone(),
            row.runtime.clone(),
            row.kind,
            row.level.to_bits(),
        );
        if let Some(first) = first_line.insert(key, line) {
            return Err(format!(
                "this row repeats the row at line {first} (same workload, input, runtime, kind and level): a level \
                 counted twice weighs twice in the curves and the export; remove the repeated row"
            ));
        }
        Ok(())
    })
}

/// What no load level can have measured.
fn check_row(row: &LoadRecord) -> Result<(), String> {
    let whole = matches!(row.kind, LoadKind::Clients | LoadKind::Burst);
    // `is_nan` too: NaN is refused when the file is read, but the check stands on its own.
    if row.level.is_nan() || row.level <= 0.0 || (whole && row.level.fract() != 0.0) {
        return Err(format!(
            "column level: {} is not a {} level ({}); the file is damaged: fix or remove the row",
            row.level,
            row.kind,
            if whole {
                "a whole number of at least 1"
            } else {
                "requests per second above 0"
            }
        ));
    }
    for (column, value) in [
        ("achieved_rps", Some(row.achieved_rps)),
        ("offered_rps", row.offered_rps),
    ] {
        if let Some(v) = value
            && v < 0.0
        {
            return Err(format!(
                "column {column}: {v} requests/s is negative, which no level measures; the file is damaged: fix or \
                 remove the row"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
