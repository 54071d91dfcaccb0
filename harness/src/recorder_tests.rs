//! Unit tests of the recorder: row format, digest checks, the bounded queue and a failing disk.

use super::*;
use harness_data::Mode;

fn labels() -> Vec<CellLabel> {
    ["native", "wasmi", "wasmtime-jit"]
        .iter()
        .map(|r| CellLabel {
            key: CellKey {
                workload: "fibonacci".into(),
                input: "20".into(),
                runtime: r.to_string(),
                mode: Mode::Warm,
            },
            group: 0,
        })
        .collect()
}

fn row(cell: usize, status: Status, output: &[u8]) -> Measured {
    let phases = harness_data::Phases {
        instantiate_ns: Some(1),
        execute_ns: Some(1),
        ..Default::default()
    };
    let outcome = Outcome {
        phases,
        status: Some(status),
        output: output.to_vec(),
        error: String::new(),
    };
    Measured {
        cell,
        slot: SlotInfo {
            iteration: 0,
            warmup: false,
            sequence: 0,
            batch: None,
        },
        start_ns: 1,
        end_ns: 3,
        input_bytes: 2,
        outcome,
    }
}

#[test]
fn writes_header_and_rows_in_column_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut recorder = Recorder::create(dir.path(), labels()).unwrap();
    recorder.record(row(0, Status::Ok, b"6765"));
    recorder.record(row(1, Status::Trap, b""));
    let written = recorder.finish().unwrap();
    assert_eq!((written.rows, written.failed_rows), (2, 1));
    let text = std::fs::read_to_string(dir.path().join(files::INVOCATIONS)).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next().unwrap(), InvocationRecord::COLUMNS.join(","));
    let first: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(first.len(), InvocationRecord::COLUMNS.len());
    assert_eq!(first[2], "native");
    assert_eq!(first[11], "", "a phase that does not exist is an empty cell");
    assert_eq!(first[20], harness_workloads::digest(b"6765"));
    // Rows read back into the same struct.
    let mut reader = csv::Reader::from_path(dir.path().join(files::INVOCATIONS)).unwrap();
    let back: Vec<InvocationRecord> = reader.deserialize().collect::<Result<_, _>>().unwrap();
    assert_eq!(back[1].status, Status::Trap);
    assert_eq!(back[0].startup_ns, None);
}

#[test]
fn a_differing_digest_fails_naming_both_runtimes() {
    let dir = tempfile::tempdir().unwrap();
    let mut recorder = Recorder::create(dir.path(), labels()).unwrap();
    recorder.record(row(0, Status::Ok, b"6765"));
    recorder.record(row(2, Status::Ok, b"6766"));
    let failure = recorder.finish().unwrap().failure.unwrap();
    assert!(failure.contains("native (warm) gave"), "{failure}");
    assert!(failure.contains("wasmtime-jit (warm) gave"), "{failure}");
}
