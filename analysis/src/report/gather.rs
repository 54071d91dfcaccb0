//! Rows of the runs grouped by cell (workload, input, runtime, mode), across runs: what every part of a report
//! starts from.

use crate::run::Run;
use harness_data::{CellKey, InvocationRecord, Mode, PairedRecord, Status};
use std::collections::BTreeMap;

/// One group's rows, gathered across runs.
#[derive(Default)]
pub(crate) struct Gathered<'a> {
    pub invocations: Vec<(&'a str, &'a InvocationRecord)>,
    pub paired: Vec<(&'a str, &'a PairedRecord)>,
}

/// Every run's invocations and paired rows, by cell; each row keeps its run's name.
pub(crate) fn gather(runs: &[Run]) -> BTreeMap<CellKey, Gathered<'_>> {
    let mut gathered: BTreeMap<CellKey, Gathered> = BTreeMap::new();
    for run in runs {
        for row in &run.invocations {
            gathered
                .entry(key_of(&row.workload, &row.input, &row.runtime, row.mode))
                .or_default()
                .invocations
                .push((&run.name, row));
        }
        for row in run.paired.iter().flatten() {
            gathered
                .entry(key_of(&row.workload, &row.input, &row.runtime, row.mode))
                .or_default()
                .paired
                .push((&run.name, row));
        }
    }
    gathered
}

pub(crate) fn key_of(workload: &str, input: &str, runtime: &str, mode: Mode) -> CellKey {
    CellKey {
        workload: workload.into(),
        input: input.into(),
        runtime: runtime.into(),
        mode,
    }
}

pub(crate) fn measured_ok<'a>(g: &'a Gathered) -> impl Iterator<Item = &'a (&'a str, &'a InvocationRecord)> + 'a {
    g.invocations
        .iter()
        .filter(|(_, r)| !r.warmup && r.status == Status::Ok)
}
