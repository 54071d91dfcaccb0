//! The CSV files of a run directory, read strictly: a row that does not parse, a non-finite number, a repeated
//! row or a torn one is an error naming its line (a partial run's torn final row is dropped with a note).

use super::error::RunError;
use harness_data::{Manifest, RunStatus};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::hash::Hash;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// A CSV file of a run (`invocations.csv`, `paired.csv`), checked beyond its rows' syntax:
/// - a 0-byte file is an error, unless the run is `partial` (killed before its header reached the disk);
/// - a `partial` run's final row cut mid-write (no line end: the harness was SIGKILLed while writing it) is
///   dropped with a note; elsewhere, and in a `complete` run, a torn row is an error with its line;
/// - two rows with the same `key` (the `sequence`, and probe and channel for paired rows) are an error:
///   a repeated row doubles n and narrows the confidence intervals.
pub(super) fn read_run_csv<T: DeserializeOwned, K: Hash + Eq>(
    path: &Path,
    manifest: &Manifest,
    notes: &mut Vec<String>,
    key_name: &str,
    mut key: impl FnMut(&T) -> K,
) -> Result<Vec<T>, RunError> {
    let io = |source| RunError::Io {
        path: path.to_path_buf(),
        source,
    };
    let partial = manifest.status == RunStatus::Partial;
    let mut file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len == 0 {
        if partial {
            notes.push(format!(
                "{} is empty (0 bytes): the partial run was stopped before its first row reached the disk",
                path.display()
            ));
            return Ok(Vec::new());
        }
        return Err(RunError::Csv {
            path: path.to_path_buf(),
            line: 1,
            message: format!(
                "empty file (0 bytes, not even the header), but the manifest says the run is {} with {} \
                 invocations recorded: the file was cut or replaced; restore it or measure again",
                status_name(manifest.status),
                manifest.recorded_invocations
            ),
        });
    }
    let keep = complete_lines_len(&mut file, len).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    let mut first_line: HashMap<K, u64> = HashMap::new();
    let mut last_line = 1;
    let source = std::io::BufReader::with_capacity(1 << 16, file.take(keep));
    let rows = parse_csv(path, source, |row: &T, line| {
        last_line = line;
        if let Some(first) = first_line.insert(key(row), line) {
            return Err(format!(
                "this row repeats the row at line {first} (same {key_name}): a row counted twice doubles n and \
                 narrows the confidence intervals; remove the repeated row"
            ));
        }
        Ok(())
    })?;
    let torn_line = if keep == 0 { 1 } else { last_line + 1 };
    if keep < len && !partial {
        return Err(RunError::Csv {
            path: path.to_path_buf(),
            line: torn_line,
            message: format!(
                "the final row is cut short (no line end), but the manifest says the run is {}: the file was \
                 damaged after the run; restore it or measure again",
                status_name(manifest.status)
            ),
        });
    }
    if keep < len {
        notes.push(format!(
            "{}:{}: dropped the torn final row (cut mid-write when the partial run was stopped); the rows before \
             it are kept",
            path.display(),
            torn_line
        ));
    }
    Ok(rows)
}

/// Small indices for (probe, channel) pairs, so the duplicate check of a long paired.csv keys on integers
/// instead of cloning two strings per row. A run has a handful of channels: a scan is cheaper than a hash.
#[derive(Default)]
pub(super) struct Channels(Vec<(String, String)>);

impl Channels {
    pub(super) fn index(&mut self, probe: &str, channel: &str) -> usize {
        match self.0.iter().position(|(p, c)| p == probe && c == channel) {
            Some(i) => i,
            None => {
                self.0.push((probe.to_owned(), channel.to_owned()));
                self.0.len() - 1
            }
        }
    }
}

fn status_name(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Complete => "complete",
        RunStatus::Partial => "partial",
        RunStatus::Failed => "failed",
    }
}

/// Length of the file up to and including its last line end: the whole file when it ends with one.
fn complete_lines_len(file: &mut std::fs::File, len: u64) -> std::io::Result<u64> {
    let mut end = len;
    let mut chunk = vec![0u8; 64 << 10];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let buf = &mut chunk[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(buf)?;
        if let Some(i) = buf.iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// Every row of a CSV file with a header; a row that does not parse is an error naming its line (1-based,
/// the header being line 1), and so is an `inf` or `NaN` in a numeric column: it was once dropped silently.
pub fn read_csv<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, RunError> {
    read_csv_checked(path, |_: &T, _| Ok(()))
}

/// [`read_csv`] with `check` run on every row and its line: an error it returns names that line.
pub(crate) fn read_csv_checked<T: DeserializeOwned>(
    path: &Path,
    check: impl FnMut(&T, u64) -> Result<(), String>,
) -> Result<Vec<T>, RunError> {
    let file = std::fs::File::open(path).map_err(|source| RunError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_csv(path, std::io::BufReader::with_capacity(1 << 16, file), check)
}

/// Columns of free text, where `inf` or `nan` may be a legitimate value (a plan input, an error message).
const TEXT_COLUMNS: [&str; 8] = [
    "workload", "input", "runtime", "probe", "channel", "error", "device", "run",
];

fn parse_csv<T: DeserializeOwned>(
    path: &Path,
    source: impl Read,
    mut check: impl FnMut(&T, u64) -> Result<(), String>,
) -> Result<Vec<T>, RunError> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(source);
    let headers = reader.headers().map_err(|e| csv_error(path, e))?.clone();
    let numeric: Vec<bool> = headers.iter().map(|h| !TEXT_COLUMNS.contains(&h)).collect();
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(csv_error(path, e)),
        }
        let line = record.position().map_or(0, |p| p.line());
        let at_line = |message: String| RunError::Csv {
            path: path.to_path_buf(),
            line,
            message,
        };
        if let Some((i, field)) = record
            .iter()
            .enumerate()
            .find(|(i, field)| numeric.get(*i) == Some(&true) && not_finite(field))
        {
            return Err(at_line(format!(
                "column {} ({}): `{field}` is not a finite number; a measurement cannot be infinite or NaN, so \
                 the file is damaged: fix or remove the row",
                i + 1,
                headers.get(i).unwrap_or("?")
            )));
        }
        let row = record
            .deserialize(Some(&headers))
            .map_err(|e| at_line(describe_csv_error(&e, &headers, Some(&record))))?;
        check(&row, line).map_err(at_line)?;
        rows.push(row);
    }
    Ok(rows)
}

/// `inf`, `-Infinity`, `NaN` and the like; cheap for ordinary numbers, which start with a digit.
fn not_finite(field: &str) -> bool {
    let field = field.trim();
    field
        .bytes()
        .find(|b| *b != b'+' && *b != b'-')
        .is_some_and(|b| matches!(b, b'i' | b'I' | b'n' | b'N'))
        && field.parse::<f64>().is_ok_and(|v| !v.is_finite())
}

fn csv_error(path: &Path, error: csv::Error) -> RunError {
    if let csv::ErrorKind::Io(_) = error.kind() {
        let csv::ErrorKind::Io(source) = error.into_kind() else {
            unreachable!()
        };
        return RunError::Io {
            path: path.to_path_buf(),
            source,
        };
    }
    RunError::Csv {
        path: path.to_path_buf(),
        line: error.position().map_or(0, |p| p.line()),
        message: describe_csv_error(&error, &csv::StringRecord::new(), None),
    }
}

/// The csv crate's message, with the column where it is known. serde reports an unknown enum variant without
/// the field, so the column is then found by the value the message quotes.
fn describe_csv_error(error: &csv::Error, headers: &csv::StringRecord, record: Option<&csv::StringRecord>) -> String {
    match error.kind() {
        csv::ErrorKind::Deserialize { err, .. } => {
            let quoted = err.kind().to_string();
            let quoted = quoted.split('`').nth(1).map(str::to_owned);
            let column = err.field().map(|i| i as usize).or_else(|| {
                let value = quoted?;
                record?.iter().position(|field| field == value)
            });
            match column {
                Some(i) => format!("column {} ({}): {}", i + 1, headers.get(i).unwrap_or("?"), err.kind()),
                None => err.kind().to_string(),
            }
        }
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("{len} fields where the header has {expected_len}")
        }
        _ => error.to_string(),
    }
}
