//! Unit tests of the recorder: row format, digest checks, the bounded queue and a failing disk.

use super::*;
use harness_data::Mode;
use std::sync::mpsc;

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
        usage: None,
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

#[test]
fn text_fields_that_need_quoting_read_back_whole_and_repeated_outputs_keep_their_digest() {
    let dir = tempfile::tempdir().unwrap();
    let mut cells = labels();
    cells[1].key.input = "a, \"quoted\"\nsize".into();
    let mut recorder = Recorder::create(dir.path(), cells).unwrap();
    let mut failed = row(1, Status::Trap, b"");
    failed.outcome.error = "trap: unreachable, at \"f\"\nline two".into();
    recorder.record(row(0, Status::Ok, b"6765"));
    recorder.record(failed);
    // Equal to the last output of its group: its digest comes from the comparison, not a second hash.
    recorder.record(row(2, Status::Ok, b"6765"));
    recorder.finish().unwrap();
    let mut reader = csv::Reader::from_path(dir.path().join(files::INVOCATIONS)).unwrap();
    let back: Vec<InvocationRecord> = reader.deserialize().collect::<Result<_, _>>().unwrap();
    assert_eq!(back.len(), 3);
    assert_eq!(back[1].input, "a, \"quoted\"\nsize");
    assert_eq!(back[1].error, "trap: unreachable, at \"f\"\nline two");
    assert_eq!(back[1].digest, "");
    assert_eq!(back[0].input, "20");
    assert_eq!(back[2].digest, harness_workloads::digest(b"6765"));
    assert_eq!(back[0].digest, back[2].digest);
}

/// A disk that takes each append only once the test hands it a token, to hold the writer back at will.
struct GatedSink {
    tokens: mpsc::Receiver<()>,
    bytes: Arc<Mutex<Vec<u8>>>,
}

impl Sink for GatedSink {
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.tokens
            .recv()
            .map_err(|_| std::io::Error::other("the test dropped its tokens"))?;
        self.bytes.lock().unwrap().extend_from_slice(bytes);
        Ok(())
    }
}

/// A row whose output alone fills a batch of the test recorders (`batch_bytes` 1 KiB).
fn big_row(sequence: u64, batch: Option<u64>) -> Measured {
    let mut measured = row(0, Status::Ok, &[7u8; 2048]);
    measured.slot.sequence = sequence;
    measured.slot.batch = batch;
    measured
}

fn gated() -> (Recorder, mpsc::Sender<()>, Arc<Mutex<Vec<u8>>>) {
    let (tokens, gate) = mpsc::channel();
    let bytes = Arc::new(Mutex::new(Vec::new()));
    let sink = GatedSink {
        tokens: gate,
        bytes: Arc::clone(&bytes),
    };
    // The header's append takes the first token.
    tokens.send(()).unwrap();
    let recorder = Recorder::start(Box::new(sink), labels(), "fake.csv".into(), 1024).unwrap();
    (recorder, tokens, bytes)
}

#[test]
fn a_slow_disk_holds_the_measuring_thread_back_instead_of_filling_memory() {
    const ROWS: u64 = 40;
    let (mut recorder, tokens, bytes) = gated();
    let shared = Arc::clone(&recorder.shared);
    let producer = std::thread::spawn(move || {
        for i in 0..ROWS {
            recorder.record(big_row(i, None));
        }
        recorder.finish().unwrap()
    });
    // The writer is stuck on its first append; the queue fills behind it.
    while shared.in_flight.load(Ordering::SeqCst) < QUEUE_BATCHES as i64 + 1 {
        std::thread::yield_now();
    }
    assert!(
        !producer.is_finished(),
        "{ROWS} rows of 2 KiB cannot all be queued while nothing is written: the measuring thread must wait"
    );
    for _ in 0..=ROWS {
        tokens.send(()).unwrap();
    }
    let written = producer.join().unwrap();
    assert_eq!(written.rows, ROWS);
    let max = shared.max_in_flight.load(Ordering::SeqCst);
    assert!(
        max <= QUEUE_BATCHES as i64 + 1,
        "{max} batches were in flight, more than the queue ({QUEUE_BATCHES}) and the one being written"
    );
    let text = String::from_utf8(bytes.lock().unwrap().clone()).unwrap();
    assert_eq!(text.lines().count() as u64, ROWS + 1, "the header and every row");
}

#[test]
fn inside_a_batch_window_recording_never_waits_for_the_writer() {
    let (mut recorder, tokens, _bytes) = gated();
    let (done, windows_recorded) = mpsc::channel();
    // Tokens come only once the window is recorded, or after a minute if recording waited for them.
    let releaser = std::thread::spawn(move || {
        let by_the_test = windows_recorded.recv_timeout(Duration::from_secs(60)).is_ok();
        for _ in 0..100 {
            let _ = tokens.send(());
        }
        by_the_test
    });
    for i in 0..20 {
        recorder.record(big_row(i, Some(0)));
    }
    done.send(()).unwrap();
    recorder.settle();
    let written = recorder.finish().unwrap();
    assert!(
        releaser.join().unwrap(),
        "recording inside a batch window waited for the writer"
    );
    assert_eq!(written.rows, 20);
}

/// A disk with room for `room` bytes: an append that does not fit fails as a full disk does.
struct FullDisk {
    room: usize,
    bytes: Vec<u8>,
}

impl Sink for FullDisk {
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if self.bytes.len() + bytes.len() > self.room {
            return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
        }
        self.bytes.extend_from_slice(bytes);
        Ok(())
    }
}

#[test]
fn a_full_disk_stops_the_run_with_the_reason_and_the_rows_written() {
    let sink = FullDisk {
        room: 4096,
        bytes: Vec::new(),
    };
    let mut recorder = Recorder::start(Box::new(sink), labels(), "full.csv".into(), 1024).unwrap();
    let mut stopped_after = None;
    for i in 0..10_000 {
        recorder.record(big_row(i, None));
        if recorder.failure().is_some() {
            stopped_after = Some(i);
            break;
        }
    }
    assert!(stopped_after.is_some(), "the measuring thread learns the disk is full");
    let written = recorder.finish().unwrap();
    let failure = written.failure.unwrap();
    assert!(failure.contains("No space left on device"), "{failure}");
    assert!(
        failure.contains(&format!("the {} whole rows", written.rows)),
        "{failure}"
    );
    assert!(written.rows > 0 && written.rows < 10_000);
}

/// A disk the test reads while the recorder runs.
struct SharedDisk(Arc<Mutex<Vec<u8>>>);

impl Sink for SharedDisk {
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(())
    }
}

#[test]
fn rows_that_no_later_row_pushes_out_reach_the_disk_on_the_writers_timer() {
    let bytes = Arc::new(Mutex::new(Vec::new()));
    let sink = SharedDisk(Arc::clone(&bytes));
    let mut recorder = Recorder::start(Box::new(sink), labels(), "timer.csv".into(), BATCH_BYTES).unwrap();
    for sequence in 0..3 {
        let mut measured = row(0, Status::Ok, b"6765");
        measured.slot.sequence = sequence;
        measured.end_ns = harness_probes::clock::monotonic_ns();
        recorder.record(measured);
    }
    // No row comes after these (a long invocation follows, or load levels, which make no rows): the batch is
    // neither full nor pushed out by a later row, and must still reach the disk. Due within STALE_NS + TICK;
    // the deadline only bounds a failing test.
    let lines = || String::from_utf8_lossy(&bytes.lock().unwrap()).lines().count();
    let deadline = Instant::now() + Duration::from_secs(60);
    while lines() < 4 {
        assert!(
            Instant::now() < deadline,
            "3 rows recorded a minute ago are still not on disk: {} line(s)",
            lines()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(recorder.shared.rows_on_disk.load(Ordering::SeqCst), 3);
    // Rows recorded after the timer took the first ones follow them, in order.
    let mut late = row(0, Status::Ok, b"6765");
    late.slot.sequence = 3;
    recorder.record(late);
    assert_eq!(recorder.finish().unwrap().rows, 4);
    let text = String::from_utf8(bytes.lock().unwrap().clone()).unwrap();
    let sequences: Vec<&str> = text.lines().skip(1).map(|l| l.split(',').nth(6).unwrap()).collect();
    assert_eq!(sequences, ["0", "1", "2", "3"]);
}
