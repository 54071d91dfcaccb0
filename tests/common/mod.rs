//! Shared helpers of the end-to-end tests: they run the real `harness` binary on the real built workloads.
#![allow(dead_code)]

use harness_data::{InvocationRecord, Manifest, PairedRecord, SampleRecord};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn harness() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_harness"));
    cmd.env("CI", "true");
    cmd
}

/// The artifacts built by scripts/build-workloads.sh (scripts/test.sh runs it first).
pub fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../artifacts");
    assert!(
        dir.join("wasm/noop.wasm").is_file(),
        "workloads are not built: run scripts/build-workloads.sh (scripts/test.sh does it before the tests)"
    );
    dir
}

pub fn write_plan(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

pub fn measure(plan: &Path, out: &Path) -> Output {
    harness()
        .args(["measure", "--plan"])
        .arg(plan)
        .arg("--out")
        .arg(out)
        .arg("--artifacts")
        .arg(artifacts())
        .output()
        .expect("running harness")
}

pub fn rows(run: &Path) -> Vec<InvocationRecord> {
    csv_rows(&run.join("invocations.csv"))
}

pub fn manifest(run: &Path) -> Manifest {
    serde_json::from_slice(&std::fs::read(run.join("manifest.json")).expect("manifest.json")).expect("manifest parses")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn median(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values[values.len() / 2]
}

/// Every row of a CSV file a run wrote, as the data crate's record type.
pub fn csv_rows<T: serde::de::DeserializeOwned>(path: &Path) -> Vec<T> {
    let mut reader = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    reader
        .deserialize()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn paired(run: &Path) -> Vec<PairedRecord> {
    csv_rows(&run.join("paired.csv"))
}

pub fn samples(run: &Path) -> Vec<SampleRecord> {
    csv_rows(&run.join("samples.csv"))
}
