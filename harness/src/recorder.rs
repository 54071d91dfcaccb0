//! Writes a run to disk as it is measured.
//!
//! The measuring thread hands each invocation to a writer thread, so hashing the output and formatting the CSV
//! row stay off the timed path. Rows travel in batches (at most 512 rows, 8 MiB of outputs or 50 ms old) over a
//! queue of a few batches: when the writer falls behind, the measuring thread waits for it between invocations,
//! never inside an invocation's timed window, so memory stays bounded however long the run. The writer writes
//! whole rows only (a kill never leaves half a row), cuts a short write on a full disk back to the last whole
//! row and stops the run with the reason, and checks that every runtime produced the same digest for the same
//! workload and input. It also runs on a timer: rows the measuring thread has not handed over yet (it is inside
//! a long invocation, or serving load levels, which make no rows) are taken by the writer once they are
//! [`STALE_NS`] old, and the manifest's `recorded_invocations` is refreshed every [`MANIFEST_EVERY`], so a kill
//! at any moment leaves every row finished more than a second before on disk and counted.

use crate::runtime::Outcome;
use anyhow::Context;
use harness_data::{CellKey, InvocationRecord, Manifest, Status, files, fsio};
use std::fs::File;
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TrySendError};
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

/// A load level's formatted rows, shared with the CSV writer that fills it, so whole rows can be taken out.
#[derive(Clone, Default)]
pub(crate) struct RowBuffer(pub(crate) std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

impl Write for RowBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Where the writer puts rows: the run's `invocations.csv`, or a fake disk in tests.
pub trait Sink: Send {
    /// Appends `bytes` (whole rows); on an error, none of them may be left behind.
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()>;
}

/// A CSV file written only in whole rows (`invocations.csv`, `requests.csv`).
pub(crate) struct RowFile {
    file: File,
    /// Bytes on disk, all of them whole rows.
    len: u64,
}

impl RowFile {
    /// `file`, new and empty.
    pub(crate) fn new(file: File) -> RowFile {
        RowFile { file, len: 0 }
    }
}

impl Sink for RowFile {
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self.file.write_all(bytes) {
            Ok(()) => {
                self.len += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                // A full disk takes part of the bytes: cut the file back to its last whole row.
                let _ = self.file.set_len(self.len);
                let _ = self.file.seek(std::io::SeekFrom::Start(self.len));
                Err(e)
            }
        }
    }
}

/// What the writer saw, for the manifest.
#[derive(Debug, Default, Clone)]
pub struct Written {
    /// Rows on disk.
    pub rows: u64,
    pub failed_rows: u64,
    /// CPU time the writer thread spent (hashing, formatting, writing), for the overhead benchmark.
    pub writer_cpu_ns: u64,
    /// The first digest mismatch or write error, if any: the run failed.
    pub failure: Option<String>,
}

#[derive(Default)]
struct Shared {
    failure: Mutex<Option<String>>,
    failed: AtomicBool,
    /// Batches handed over and not yet written (queued, or in the writer's hands); at most `QUEUE_BATCHES + 1`.
    in_flight: AtomicI64,
    /// The most `in_flight` ever was, for the test of the bound.
    max_in_flight: AtomicI64,
    /// Rows on disk so far.
    rows_on_disk: AtomicU64,
    /// The manifest the writer keeps `recorded_invocations` of up to date, and its run directory. Writes of
    /// the manifest hold this lock, so the measuring thread's and the writer's never mix.
    manifest: Mutex<Option<(PathBuf, Manifest)>>,
    /// Rows measured and not yet handed over. The measuring thread fills it; the writer takes it on its timer
    /// when it has gone stale. Either side holds the lock only to push a row or swap the vector.
    pending: Mutex<Pending>,
    /// The first digest of each digest group, and its cell; load levels check theirs against it.
    reference: Mutex<Reference>,
}

/// The batch being filled.
#[derive(Default)]
struct Pending {
    rows: Vec<Measured>,
    /// End stamp of the batch's first row, on the run's monotonic clock.
    since_ns: u64,
    /// Output bytes in `rows`.
    bytes: usize,
}

impl Shared {
    fn fail(&self, message: String) {
        let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        if failure.is_none() {
            *failure = Some(message);
        }
        self.failed.store(true, Ordering::Relaxed);
    }

    /// Rewrites the tracked manifest with the rows on disk now.
    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn refresh_manifest(&self) -> anyhow::Result<()> {
        let mut tracked = self.manifest.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((dir, manifest)) = tracked.as_mut() {
            manifest.recorded_invocations = self.rows_on_disk.load(Ordering::Relaxed);
            write_manifest(dir, manifest)?;
        }
        Ok(())
    }
}

/// The measuring thread hands rows over in batches: waking the writer for every row costs a futex wake per
/// invocation, and a writer running on the other core turns every munmap/madvise of the measured runtime into a
/// cross-core TLB shootdown. Batches leave at this size, this much output or this age, whichever comes first.
const BATCH_ROWS: usize = 512;
const BATCH_BYTES: usize = 8 << 20;
const BATCH_AGE_NS: u64 = 50_000_000;
/// Batches queued for the writer at most; with the one it writes and the one filling, rows held in memory
/// stay under `(QUEUE_BATCHES + 2) * BATCH_BYTES` of outputs (plus one output, when a single one is larger).
pub const QUEUE_BATCHES: usize = 4;
/// Pending rows this old are taken by the writer itself: the measuring thread has not recorded for a while
/// (a long invocation, load levels, a cooldown), and would otherwise keep them in memory until its next row.
const STALE_NS: u64 = 250_000_000;
/// How often the writer wakes when no batch arrives, to take stale rows and refresh the manifest.
const TICK: Duration = Duration::from_millis(125);

pub struct Recorder {
    sender: Option<SyncSender<Vec<Measured>>>,
    /// Emptied batches come back from the writer for reuse, so no batch memory is allocated or given back to
    /// the OS (a trim is an munmap, and another TLB shootdown) while measuring.
    recycled: Receiver<Vec<Measured>>,
    batch_bytes: usize,
    writer: Option<JoinHandle<Written>>,
    shared: Arc<Shared>,
}

impl Recorder {
    /// Creates `invocations.csv` in `dir` with its header, and starts the writer.
    pub fn create(dir: &Path, cells: Vec<CellLabel>) -> anyhow::Result<Recorder> {
        let path = dir.join(files::INVOCATIONS);
        let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        Recorder::start(Box::new(RowFile { file, len: 0 }), cells, path, BATCH_BYTES)
    }

    /// Writes the header to `sink` and starts the writer; `path` names the file in messages.
    fn start(
        mut sink: Box<dyn Sink>,
        cells: Vec<CellLabel>,
        path: PathBuf,
        batch_bytes: usize,
    ) -> anyhow::Result<Recorder> {
        let mut header = csv::Writer::from_writer(Vec::new());
        header.write_record(InvocationRecord::COLUMNS)?;
        let header = header.into_inner().map_err(|e| anyhow::anyhow!("{}", e.error()))?;
        sink.append(&header)
            .with_context(|| format!("writing {}", path.display()))?;
        let (sender, receiver) = mpsc::sync_channel(QUEUE_BATCHES);
        let (recycle, recycled) = mpsc::channel();
        let shared = Arc::new(Shared::default());
        shared.pending().rows.reserve(BATCH_ROWS);
        let writer_shared = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || WriterThread::new(sink, &cells, &writer_shared, path).run(receiver, recycle))
            .context("starting the recorder thread")?;
        Ok(Recorder {
            sender: Some(sender),
            recycled,
            batch_bytes,
            writer: Some(writer),
            shared,
        })
    }

    /// Keeps `manifest` (of the run in `dir`) on disk with `recorded_invocations` up to date as rows reach the
    /// disk, so a run killed outright still says how many rows it holds. Writes it now.
    pub fn track_manifest(&self, dir: &Path, manifest: &Manifest) -> anyhow::Result<()> {
        *self.shared.manifest.lock().unwrap_or_else(|p| p.into_inner()) = Some((dir.to_path_buf(), manifest.clone()));
        self.shared.refresh_manifest()
    }

    /// Queues a measured invocation. When the writer is behind, this waits for it, after the invocation's end
    /// stamp; within a batch window (`slot.batch`) it does not wait, and [`Recorder::settle`] does after it.
    #[inline]
    pub fn record(&mut self, measured: Measured) {
        let now = measured.end_ns;
        let in_window = measured.slot.batch.is_some();
        let full = {
            let mut pending = self.shared.pending();
            if pending.rows.is_empty() {
                pending.since_ns = now;
            }
            pending.bytes += measured.outcome.output.len();
            pending.rows.push(measured);
            self.batch_full(&pending, now)
        };
        if full {
            self.hand_over(!in_window);
        }
    }

    /// After a batch window: waits for the writer if the rows of the window are due.
    pub fn settle(&mut self) {
        let due = {
            let pending = self.shared.pending();
            self.batch_full(&pending, pending.since_ns)
        };
        if due {
            self.hand_over(true);
        }
    }

    #[inline]
    fn batch_full(&self, pending: &Pending, now: u64) -> bool {
        pending.rows.len() >= BATCH_ROWS
            || pending.bytes >= self.batch_bytes
            || now.saturating_sub(pending.since_ns) >= BATCH_AGE_NS
    }

    /// Sends the pending rows to the writer, waiting for room if `wait`; otherwise they stay pending when the
    /// queue is full.
    fn hand_over(&mut self, wait: bool) {
        let Some(sender) = &self.sender else {
            return;
        };
        let empty = self
            .recycled
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BATCH_ROWS));
        let (batch, bytes) = {
            let mut pending = self.shared.pending();
            if pending.rows.is_empty() {
                return;
            }
            let bytes = std::mem::take(&mut pending.bytes);
            (std::mem::replace(&mut pending.rows, empty), bytes)
        };
        let sent = if wait {
            sender.send(batch).map_err(|e| TrySendError::Disconnected(e.0))
        } else {
            sender.try_send(batch)
        };
        match sent {
            Ok(()) => {
                let now = self.shared.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
                self.shared.max_in_flight.fetch_max(now, Ordering::Relaxed);
            }
            Err(TrySendError::Full(batch)) => {
                // Only this thread adds rows, and the writer takes none while `pending` is empty: the batch goes
                // back as it was, in order.
                let mut pending = self.shared.pending();
                pending.rows = batch;
                pending.bytes = bytes;
            }
            // The writer stopped on a write error, which `failure` reports; the rows cannot be kept.
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// A digest mismatch or write error seen so far, if any: the run must stop.
    #[inline]
    pub fn failure(&self) -> Option<String> {
        if self.shared.failed.load(Ordering::Relaxed) {
            self.shared.failure.lock().unwrap_or_else(|p| p.into_inner()).clone()
        } else {
            None
        }
    }

    /// Each (workload, input)'s digest, as first recorded, with the cell (its index) that gave it, once every
    /// row measured so far is written: what load levels' outputs must match.
    pub fn digests(&mut self) -> Vec<(usize, String)> {
        self.sync();
        let reference = self.shared.reference.lock().unwrap_or_else(|p| p.into_inner());
        reference
            .iter()
            .flatten()
            .map(|(digest, cell)| (*cell, digest.clone()))
            .collect()
    }

    /// Waits until every row measured so far is on disk (or the writer stopped on an error): what a look of a
    /// precision run reads.
    pub fn sync(&mut self) {
        self.hand_over(true);
        let writer_running = |r: &Recorder| r.writer.as_ref().is_some_and(|w| !w.is_finished());
        while self.shared.in_flight.load(Ordering::Acquire) > 0 && writer_running(self) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Waits until every queued row is on disk, and reports what the writer saw, digest checks and write
    /// errors included.
    pub fn finish(mut self) -> anyhow::Result<Written> {
        self.hand_over(true);
        self.sender.take();
        let mut written = match self.writer.take().map(|w| w.join()) {
            Some(Ok(written)) => written,
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
        self.hand_over(true);
        self.sender.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// The writer writes what it formatted at least this often, and at the end of every batch.
const WRITE_BYTES: usize = 1 << 16;
/// The manifest's `recorded_invocations` is refreshed this often while rows reach the disk.
const MANIFEST_EVERY: Duration = Duration::from_millis(500);

/// The writer thread's state: formats rows, checks digests, writes whole rows.
struct WriterThread<'a> {
    sink: Box<dyn Sink>,
    cells: &'a [CellLabel],
    /// Each cell's leading fields, formatted once.
    prefixes: Vec<Vec<u8>>,
    digests: row::Digests,
    shared: &'a Shared,
    path: PathBuf,
    written: Written,
    /// Whole rows formatted and not yet written.
    rows: Vec<u8>,
    /// Rows formatted but not yet on disk.
    formatted: u64,
    /// A write failed: later rows are taken and dropped.
    broken: bool,
    usage: row::UsageFile,
}

impl<'a> WriterThread<'a> {
    fn new(sink: Box<dyn Sink>, cells: &'a [CellLabel], shared: &'a Shared, path: PathBuf) -> WriterThread<'a> {
        WriterThread {
            sink,
            cells,
            prefixes: cells.iter().map(row::cell_prefix).collect(),
            digests: row::Digests::default(),
            shared,
            usage: row::UsageFile::new(path.with_file_name(files::USAGE)),
            path,
            written: Written::default(),
            rows: Vec::with_capacity(WRITE_BYTES + 4096),
            formatted: 0,
            broken: false,
        }
    }

    fn run(mut self, receiver: Receiver<Vec<Measured>>, recycle: Sender<Vec<Measured>>) -> Written {
        let mut last_manifest = Instant::now();
        let mut manifest_rows = 0u64;
        let mut spare: Vec<Measured> = Vec::new();
        loop {
            match receiver.recv_timeout(TICK) {
                Ok(mut batch) => {
                    self.write_batch(&mut batch);
                    self.shared.in_flight.fetch_sub(1, Ordering::Relaxed);
                    // The measuring thread may have finished already; then the batch is simply dropped.
                    let _ = recycle.send(batch);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if let Some(mut stale) = self.take_stale(std::mem::take(&mut spare)) {
                self.write_batch(&mut stale);
                spare = stale;
            }
            if self.written.rows != manifest_rows && last_manifest.elapsed() >= MANIFEST_EVERY {
                // On a full disk this fails too; the run's last manifest is written once space is given back.
                let _ = self.shared.refresh_manifest();
                manifest_rows = self.written.rows;
                last_manifest = Instant::now();
            }
        }
        self.write_out();
        if self.written.rows != manifest_rows {
            let _ = self.shared.refresh_manifest();
        }
        self.written.writer_cpu_ns = harness_probes::sampler::thread_cpu_ns();
        self.written
    }

    /// The pending rows, if the first of them ended [`STALE_NS`] ago; `empty` takes their place. Rows the
    /// measuring thread has handed over are all written before these (one thread writes, in order).
    fn take_stale(&self, empty: Vec<Measured>) -> Option<Vec<Measured>> {
        let now_ns = harness_probes::clock::monotonic_ns();
        let mut pending = self.shared.pending();
        if pending.rows.is_empty() || now_ns.saturating_sub(pending.since_ns) < STALE_NS {
            return None;
        }
        pending.bytes = 0;
        Some(std::mem::replace(&mut pending.rows, empty))
    }

    /// Formats, checks and writes a batch's rows, leaving it empty.
    fn write_batch(&mut self, batch: &mut Vec<Measured>) {
        for measured in batch.drain(..) {
            if self.broken {
                // Keep taking batches, so the measuring thread never waits on a writer that stopped.
                continue;
            }
            let group = self.cells[measured.cell].group;
            let output = &measured.outcome.output;
            let ok = measured.outcome.status() == Status::Ok;
            if ok && !self.digests.is_last(group, output) {
                let digest = harness_workloads::digest(output);
                let mut reference = self.shared.reference.lock().unwrap_or_else(|p| p.into_inner());
                check_digest(&mut reference, self.cells, measured.cell, &digest, self.shared);
                self.digests.keep(group, output, digest);
            }
            // An output equal to its group's last has the digest checked then; a second check would say the same.
            let digest = if ok {
                self.digests.last(group)
            } else {
                self.written.failed_rows += 1;
                ""
            };
            measured.write_row(&mut self.rows, &self.prefixes[measured.cell], digest);
            if let Some(usage) = &measured.outcome.usage {
                self.usage.push(measured.slot.sequence, usage);
            }
            self.formatted += 1;
            if self.rows.len() >= WRITE_BYTES {
                self.write_out();
            }
        }
        self.write_out();
    }

    /// Writes the formatted rows, whole; a write error stops the run with its reason.
    fn write_out(&mut self) {
        if !self.broken && !self.rows.is_empty() {
            match self.sink.append(&self.rows) {
                Ok(()) => {
                    self.written.rows += self.formatted;
                    self.shared.rows_on_disk.store(self.written.rows, Ordering::Relaxed);
                    if let Err(why) = self.usage.write() {
                        self.broken = true;
                        self.shared.fail(format!(
                            "{why}; the run stopped there: free some space and measure again"
                        ));
                    }
                }
                Err(e) => {
                    self.broken = true;
                    self.shared.fail(format!(
                        "writing {}: {e}; the run stopped there, and the file keeps the {} whole rows written before: free some space (or choose another --out) and measure again",
                        self.path.display(),
                        self.written.rows
                    ));
                }
            }
        }
        self.rows.clear();
        self.formatted = 0;
    }
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
        shared.fail(message);
    }
}

/// Writes `manifest.json` atomically (temporary file, then rename), so a reader never sees half of one.
pub fn write_manifest(dir: &Path, manifest: &Manifest) -> anyhow::Result<()> {
    let path = dir.join(files::MANIFEST);
    fsio::write_atomically(&path, |out| {
        serde_json::to_writer_pretty(&mut *out, manifest)?;
        out.write_all(b"\n")
    })
    .with_context(|| format!("writing {}", path.display()))
}

#[path = "recorder_row.rs"]
mod row;

#[cfg(test)]
#[path = "recorder_tests.rs"]
mod tests;
