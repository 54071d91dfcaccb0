//! Writes a run to disk as it is measured.
//!
//! The measuring thread hands each invocation to a writer thread over a channel, so hashing the output and
//! formatting the CSV row stay off the timed path. Rows travel in batches of at most 50 ms, the writer flushes at least every
//! 100 ms, and both drain on Ctrl-C or a panic, so only a hard kill can lose rows (at most 150 ms of them), and it checks that every runtime produced the same digest for the
//! same workload and input.

use crate::runtime::Outcome;
use anyhow::Context;
use harness_data::{CellKey, InvocationRecord, Manifest, Status, files};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One cell's key and digest group; rows refer to it by index, so the measuring thread allocates no strings.
#[derive(Debug, Clone)]
pub struct CellLabel {
    pub key: CellKey,
    /// Cells with the same (workload, input) share a group: their digests must agree.
    pub group: usize,
}

/// Where an invocation sits in the schedule.
#[derive(Debug, Clone, Copy)]
pub struct SlotInfo {
    pub iteration: u32,
    pub warmup: bool,
    pub sequence: u64,
    /// The sequence of the batch's first invocation, for batched warm invocations.
    pub batch: Option<u64>,
}

/// An invocation as measured, compact: the writer turns it into an [`InvocationRecord`] and hashes the output.
pub struct Measured {
    pub cell: usize,
    pub slot: SlotInfo,
    pub start_ns: u64,
    pub end_ns: u64,
    pub input_bytes: u64,
    pub outcome: Outcome,
}

impl Measured {
    /// Writes this invocation as one `invocations.csv` row, in [`InvocationRecord::COLUMNS`] order. Written
    /// field by field rather than through serde: the writer shares the machine with the measurement, and this
    /// is several times cheaper.
    fn write_row(&self, csv: &mut csv::Writer<BufWriter<File>>, label: &CellLabel, digest: &str) -> csv::Result<()> {
        let mut numbers = itoa::Buffer::new();
        let mut number = |csv: &mut csv::Writer<BufWriter<File>>, n: Option<u64>| match n {
            Some(n) => csv.write_field(numbers.format(n)),
            None => csv.write_field(""),
        };
        let phases = &self.outcome.phases;
        csv.write_field(&label.key.workload)?;
        csv.write_field(&label.key.input)?;
        csv.write_field(&label.key.runtime)?;
        csv.write_field(label.key.mode.as_str())?;
        number(csv, Some(u64::from(self.slot.iteration)))?;
        csv.write_field(if self.slot.warmup { "true" } else { "false" })?;
        number(csv, Some(self.slot.sequence))?;
        number(csv, self.slot.batch)?;
        number(csv, Some(self.start_ns))?;
        number(csv, Some(self.end_ns))?;
        number(csv, Some(self.end_ns.saturating_sub(self.start_ns)))?;
        for phase in [
            phases.startup_ns,
            phases.compile_ns,
            phases.instantiate_ns,
            phases.input_ns,
            phases.execute_ns,
            phases.output_ns,
        ] {
            number(csv, phase)?;
        }
        number(csv, Some(self.input_bytes))?;
        number(csv, Some(self.outcome.output.len() as u64))?;
        csv.write_field(self.outcome.status().as_str())?;
        csv.write_field(digest)?;
        csv.write_field(&self.outcome.error)?;
        csv.write_record(None::<&[u8]>)
    }
}

/// What the writer saw, for the manifest.
#[derive(Debug, Default, Clone)]
pub struct Written {
    pub rows: u64,
    pub failed_rows: u64,
    /// CPU time the writer thread spent (hashing, formatting, writing), for the overhead benchmark.
    pub writer_cpu_ns: u64,
    /// The first digest mismatch, if any.
    pub failure: Option<String>,
}

#[derive(Default)]
struct Shared {
    failure: Mutex<Option<String>>,
    failed: AtomicBool,
}

/// The measuring thread hands rows over in batches: waking the writer for every row costs a futex wake per
/// invocation, and a writer running on the other core turns every munmap/madvise of the measured runtime into a
/// cross-core TLB shootdown. Batches leave at this size or this age, whichever comes first.
const BATCH_ROWS: usize = 512;
const BATCH_AGE_NS: u64 = 50_000_000;

pub struct Recorder {
    sender: Option<Sender<Vec<Measured>>>,
    /// Emptied batches come back from the writer for reuse, so no batch memory is allocated or given back to
    /// the OS (a trim is an munmap, and another TLB shootdown) while measuring.
    recycled: Receiver<Vec<Measured>>,
    pending: Vec<Measured>,
    pending_since_ns: u64,
    writer: Option<JoinHandle<anyhow::Result<Written>>>,
    shared: Arc<Shared>,
}

impl Recorder {
    /// Creates `invocations.csv` in `dir` with its header, and starts the writer.
    pub fn create(dir: &Path, cells: Vec<CellLabel>) -> anyhow::Result<Recorder> {
        let path = dir.join(files::INVOCATIONS);
        let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut csv = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(BufWriter::with_capacity(1 << 16, file));
        csv.write_record(InvocationRecord::COLUMNS)?;
        csv.flush()?;
        let (sender, receiver) = mpsc::channel();
        let (recycle, recycled) = mpsc::channel();
        let shared = Arc::new(Shared::default());
        let writer_shared = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || write_rows(csv, receiver, recycle, &cells, &writer_shared, path))
            .context("starting the recorder thread")?;
        Ok(Recorder {
            sender: Some(sender),
            recycled,
            pending: Vec::with_capacity(BATCH_ROWS),
            pending_since_ns: 0,
            writer: Some(writer),
            shared,
        })
    }

    #[inline]
    pub fn record(&mut self, measured: Measured) {
        let now = measured.end_ns;
        if self.pending.is_empty() {
            self.pending_since_ns = now;
        }
        self.pending.push(measured);
        if self.pending.len() >= BATCH_ROWS || now.saturating_sub(self.pending_since_ns) >= BATCH_AGE_NS {
            self.hand_over();
        }
    }

    fn hand_over(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let empty = self
            .recycled
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BATCH_ROWS));
        let batch = std::mem::replace(&mut self.pending, empty);
        if let Some(sender) = &self.sender {
            // The writer only stops early on an I/O error, which `finish` reports.
            let _ = sender.send(batch);
        }
    }

    /// A digest mismatch seen so far, if any: the run must stop.
    #[inline]
    pub fn failure(&self) -> Option<String> {
        if self.shared.failed.load(Ordering::Relaxed) {
            self.shared.failure.lock().unwrap_or_else(|p| p.into_inner()).clone()
        } else {
            None
        }
    }

    /// Waits until every queued row is on disk, and reports what the writer saw, digest checks included.
    pub fn finish(mut self) -> anyhow::Result<Written> {
        self.hand_over();
        self.sender.take();
        let mut written = match self.writer.take().map(|w| w.join()) {
            Some(Ok(result)) => result?,
            Some(Err(_)) => anyhow::bail!("the recorder thread panicked"),
            None => Written::default(),
        };
        written.failure = self.failure();
        Ok(written)
    }
}

impl Drop for Recorder {
    /// On an early return or a panic, still drain the queue to disk.
    fn drop(&mut self) {
        self.hand_over();
        self.sender.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// Rows reach the disk at least this often while a run goes on (and all of them when it ends, Ctrl-C and
/// panics included): a flush per row would cost a write syscall per invocation.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

fn write_rows(
    mut csv: csv::Writer<BufWriter<File>>,
    receiver: Receiver<Vec<Measured>>,
    recycle: Sender<Vec<Measured>>,
    cells: &[CellLabel],
    shared: &Shared,
    path: PathBuf,
) -> anyhow::Result<Written> {
    let mut written = Written::default();
    let mut reference = Reference::new();
    let mut last_flush = Instant::now();
    let mut dirty = false;
    loop {
        match receiver.recv_timeout(FLUSH_EVERY) {
            Ok(mut batch) => {
                for measured in batch.drain(..) {
                    let label = &cells[measured.cell];
                    let digest = if measured.outcome.status() == Status::Ok {
                        let digest = harness_workloads::digest(&measured.outcome.output);
                        check_digest(&mut reference, cells, measured.cell, &digest, shared);
                        digest
                    } else {
                        written.failed_rows += 1;
                        String::new()
                    };
                    measured
                        .write_row(&mut csv, label, &digest)
                        .with_context(|| format!("writing {}", path.display()))?;
                    written.rows += 1;
                    dirty = true;
                }
                // The measuring thread may have finished already; then the batch is simply dropped.
                let _ = recycle.send(batch);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if dirty && last_flush.elapsed() >= FLUSH_EVERY {
            csv.flush().with_context(|| format!("writing {}", path.display()))?;
            last_flush = Instant::now();
            dirty = false;
        }
    }
    csv.flush().with_context(|| format!("writing {}", path.display()))?;
    written.writer_cpu_ns = harness_probes::sampler::thread_cpu_ns();
    Ok(written)
}

/// The first successful digest of each (workload, input) group, and the cell that produced it.
type Reference = Vec<Option<(String, usize)>>;

fn check_digest(reference: &mut Reference, cells: &[CellLabel], cell: usize, digest: &str, shared: &Shared) {
    let label = &cells[cell];
    if reference.len() <= label.group {
        reference.resize(label.group + 1, None);
    }
    let (first_digest, first_cell) = reference[label.group].get_or_insert_with(|| (digest.to_string(), cell));
    if first_digest != digest {
        let first = &cells[*first_cell];
        let message = format!(
            "digest mismatch for workload `{}` input `{}`: {} ({}) gave {}, {} ({}) gave {}; runtimes that computed different things cannot be compared",
            label.key.workload,
            label.key.input,
            first.key.runtime,
            first.key.mode.as_str(),
            first_digest,
            label.key.runtime,
            label.key.mode.as_str(),
            digest
        );
        let mut failure = shared.failure.lock().unwrap_or_else(|p| p.into_inner());
        if failure.is_none() {
            *failure = Some(message);
        }
        shared.failed.store(true, Ordering::Relaxed);
    }
}

/// Writes `manifest.json` atomically (temporary file, then rename), so a reader never sees half of one.
pub fn write_manifest(dir: &Path, manifest: &Manifest) -> anyhow::Result<()> {
    let path = dir.join(files::MANIFEST);
    let tmp = dir.join(format!(".{}.tmp", files::MANIFEST));
    let mut file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    serde_json::to_writer_pretty(&mut file, manifest)?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
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
}
