//! `requests.csv`, streamed while a level runs. Client and worker threads hand their requests over in small
//! batches to one writer thread, which tallies the level's numbers ([`LevelTally`]) and writes whole rows as
//! the requests pass. Memory stays bounded however long the level: a client waits for the writer between
//! requests, after its end stamp, when the writer falls behind (as the measuring thread waits for the
//! invocation recorder), so `requests.csv` keeps one row per request and `memory_bytes` reads the serving
//! side, not a log. The tally does not depend on the file: on a full disk `requests.csv` keeps its whole
//! rows, the level still gets its `load.csv` row, and then the run stops with the reason.

use super::summary::{LevelTally, RawRequest};
use crate::recorder::{RowBuffer, RowFile, Sink};
use anyhow::Context;
use harness_data::{LoadKind, RequestRecord, Status, files};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Requests a client hands over at once, unless its batch is [`BATCH_AGE_NS`] old first.
pub const BATCH: usize = 64;
const BATCH_AGE_NS: u64 = 100_000_000;
/// Batches queued for the writer at most: with every client's batch, the requests held in memory.
const QUEUE: usize = 64;
/// The writer writes what it formatted at least this often, and whenever its queue runs empty.
const WRITE_BYTES: usize = 1 << 16;

/// The run's `requests.csv`.
pub struct RequestsCsv {
    sink: Box<dyn Sink>,
    path: PathBuf,
    rows: u64,
    /// The first write error: nothing more is written, and the run stops after the level's row.
    failure: Option<String>,
}

impl RequestsCsv {
    /// Creates `requests.csv` in `dir`, with its header.
    pub fn create(dir: &Path) -> anyhow::Result<RequestsCsv> {
        let path = dir.join(files::REQUESTS);
        let file = std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        RequestsCsv::on(Box::new(RowFile::new(file)), path)
    }

    /// Writes the header to `sink`, which then takes the rows; `path` names it in messages.
    pub fn on(mut sink: Box<dyn Sink>, path: PathBuf) -> anyhow::Result<RequestsCsv> {
        let mut header = csv::Writer::from_writer(Vec::new());
        header.write_record(RequestRecord::COLUMNS)?;
        let header = header.into_inner().map_err(|e| anyhow::anyhow!("{}", e.error()))?;
        sink.append(&header)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(RequestsCsv {
            sink,
            path,
            rows: 0,
            failure: None,
        })
    }

    /// The write error that stopped the file, if any, with what it keeps.
    pub fn failure(&self) -> Option<String> {
        self.failure.clone()
    }

    fn append(&mut self, bytes: &[u8], rows: u64) {
        if self.failure.is_some() || bytes.is_empty() {
            return;
        }
        match self.sink.append(bytes) {
            Ok(()) => self.rows += rows,
            Err(e) => {
                self.failure = Some(format!(
                    "writing {}: {e}; it keeps its {} whole rows, and the level's numbers are in load.csv: free some space (or choose another --out) and measure again",
                    self.path.display(),
                    self.rows
                ))
            }
        }
    }
}

/// What every request of a level has in common, for its rows.
#[derive(Debug, Clone)]
pub struct LevelColumns {
    pub workload: String,
    pub input: String,
    pub runtime: String,
    pub kind: LoadKind,
    pub level: f64,
    pub sequence: u64,
    /// Requests intended before this are the level's warm-up.
    pub window_start_ns: u64,
}

/// One row as [`RequestRecord`] writes it, borrowed, so a row allocates nothing.
#[derive(Serialize)]
struct RequestRow<'a> {
    workload: &'a str,
    input: &'a str,
    runtime: &'a str,
    kind: LoadKind,
    level: f64,
    sequence: u64,
    instance: u32,
    warmup: bool,
    intended_ns: u64,
    sent_ns: u64,
    start_ns: u64,
    end_ns: u64,
    status: Status,
    error: &'a str,
}

/// Where a level's threads hand their requests.
pub type LogSender = SyncSender<Vec<RawRequest>>;

/// A level's log while it runs: the sender its threads use, and the writer thread.
pub struct LevelLog {
    sender: Option<LogSender>,
    writer: Option<JoinHandle<LevelTally>>,
}

impl LevelLog {
    /// Starts the writer of a level's requests into `file` (or nowhere, for the generator's bench).
    pub fn start(
        file: Option<Arc<Mutex<RequestsCsv>>>,
        columns: LevelColumns,
        tally: LevelTally,
    ) -> anyhow::Result<LevelLog> {
        let (sender, receiver) = mpsc::sync_channel(QUEUE);
        let writer = std::thread::Builder::new()
            .name("requests".into())
            .spawn(move || write_requests(receiver, file, &columns, tally))
            .map_err(|e| no_thread("the request log's writer", e))?;
        Ok(LevelLog {
            sender: Some(sender),
            writer: Some(writer),
        })
    }

    pub fn sender(&self) -> &LogSender {
        self.sender.as_ref().expect("the log is open until finished")
    }

    /// Waits until every request handed over is tallied (and written), and returns the tally.
    pub fn finish(mut self) -> anyhow::Result<LevelTally> {
        self.sender.take();
        match self.writer.take().map(JoinHandle::join) {
            Some(Ok(tally)) => Ok(tally),
            _ => anyhow::bail!("the request log's writer panicked"),
        }
    }
}

impl Drop for LevelLog {
    fn drop(&mut self) {
        self.sender.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

fn write_requests(
    receiver: Receiver<Vec<RawRequest>>,
    file: Option<Arc<Mutex<RequestsCsv>>>,
    columns: &LevelColumns,
    mut tally: LevelTally,
) -> LevelTally {
    let buffer = RowBuffer::default();
    let mut csv = csv::WriterBuilder::new().has_headers(false).from_writer(buffer.clone());
    let mut formatted = 0u64;
    let write_out = |csv: &mut csv::Writer<RowBuffer>, formatted: &mut u64| {
        // Into memory, at a row boundary: the buffer then holds whole rows only.
        let _ = csv.flush();
        let mut bytes = buffer.0.borrow_mut();
        if let Some(file) = &file {
            file.lock()
                .unwrap_or_else(|p| p.into_inner())
                .append(&bytes, *formatted);
        }
        bytes.clear();
        *formatted = 0;
    };
    let mut next = receiver.recv().ok();
    while let Some(batch) = next {
        for request in &batch {
            tally.add(request);
            if file.is_some() && csv.serialize(row(columns, request)).is_ok() {
                formatted += 1;
            }
        }
        if buffer.0.borrow().len() >= WRITE_BYTES {
            write_out(&mut csv, &mut formatted);
        }
        next = match receiver.try_recv() {
            Ok(batch) => Some(batch),
            Err(TryRecvError::Empty) => {
                // Idle: what is formatted goes to disk before the writer waits.
                write_out(&mut csv, &mut formatted);
                receiver.recv().ok()
            }
            Err(TryRecvError::Disconnected) => None,
        };
    }
    write_out(&mut csv, &mut formatted);
    tally
}

fn row<'a>(columns: &'a LevelColumns, request: &'a RawRequest) -> RequestRow<'a> {
    RequestRow {
        workload: &columns.workload,
        input: &columns.input,
        runtime: &columns.runtime,
        kind: columns.kind,
        level: columns.level,
        sequence: columns.sequence,
        instance: request.instance,
        warmup: request.intended_ns < columns.window_start_ns,
        intended_ns: request.intended_ns,
        sent_ns: request.sent_ns,
        start_ns: request.start_ns,
        end_ns: request.end_ns,
        status: request.status,
        error: &request.error,
    }
}

/// A thread's requests on their way to the log: handed over [`BATCH`] at a time.
pub struct Outbox<'a> {
    log: &'a LogSender,
    batch: Vec<RawRequest>,
}

impl<'a> Outbox<'a> {
    pub fn new(log: &'a LogSender) -> Outbox<'a> {
        Outbox {
            log,
            batch: Vec::with_capacity(BATCH),
        }
    }

    /// Keeps `request`; hands the batch over (waiting for the writer if it is behind) when it is full or old.
    pub fn push(&mut self, request: RawRequest) {
        let due = self.batch.len() + 1 >= BATCH
            || self
                .batch
                .first()
                .is_some_and(|first| request.end_ns.saturating_sub(first.end_ns) >= BATCH_AGE_NS);
        self.batch.push(request);
        if due {
            self.flush();
        }
    }

    pub fn flush(&mut self) {
        if !self.batch.is_empty() {
            let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
            // The writer outlives every sender; if it is gone, the level is ending anyway.
            let _ = self.log.send(batch);
        }
    }
}

impl Drop for Outbox<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// The error of a thread the host would not start.
pub fn no_thread(what: &str, e: std::io::Error) -> anyhow::Error {
    anyhow::anyhow!(
        "cannot start {what}: {e}; the host allows this process no more threads (`ulimit -u`, or the cgroup's pids.max): lower the level (`clients`, `instances` or `burst` in [load]) or raise the limit"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A disk with room for `room` bytes: an append that does not fit fails as a full disk does.
    struct FullDisk {
        room: usize,
        bytes: Arc<Mutex<Vec<u8>>>,
    }

    impl Sink for FullDisk {
        fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
            let mut disk = self.bytes.lock().unwrap();
            if disk.len() + bytes.len() > self.room {
                return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
            }
            disk.extend_from_slice(bytes);
            Ok(())
        }
    }

    fn columns() -> LevelColumns {
        LevelColumns {
            workload: "noop".into(),
            input: "0".into(),
            runtime: "native".into(),
            kind: LoadKind::Clients,
            level: 2.0,
            sequence: 3,
            window_start_ns: 1_000,
        }
    }

    fn request(i: u64) -> RawRequest {
        RawRequest {
            instance: (i % 2) as u32,
            intended_ns: i * 10,
            sent_ns: i * 10,
            start_ns: i * 10,
            end_ns: i * 10 + 7,
            status: Status::Ok,
            error: String::new(),
        }
    }

    fn log_all(file: &Arc<Mutex<RequestsCsv>>, n: u64) -> LevelTally {
        let log = LevelLog::start(Some(Arc::clone(file)), columns(), LevelTally::new(1_000, u64::MAX)).unwrap();
        std::thread::scope(|scope| {
            for client in 0..2u64 {
                let sender = log.sender();
                scope.spawn(move || {
                    let mut outbox = Outbox::new(sender);
                    for i in (client..n).step_by(2) {
                        outbox.push(request(i));
                    }
                });
            }
        });
        log.finish().unwrap()
    }

    #[test]
    fn every_request_becomes_one_row_as_requests_csv_reads_it() {
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let disk = FullDisk {
            room: usize::MAX,
            bytes: Arc::clone(&bytes),
        };
        let file = Arc::new(Mutex::new(
            RequestsCsv::on(Box::new(disk), "requests.csv".into()).unwrap(),
        ));
        let tally = log_all(&file, 1_000);
        assert_eq!(tally.seen, 1_000);
        let text = bytes.lock().unwrap().clone();
        let mut reader = csv::Reader::from_reader(text.as_slice());
        let rows: Vec<RequestRecord> = reader.deserialize().collect::<Result<_, _>>().unwrap();
        assert_eq!(rows.len(), 1_000);
        assert_eq!(rows.iter().filter(|r| r.warmup).count(), 100, "intended before 1000 ns");
        assert!(
            rows.iter()
                .all(|r| r.workload == "noop" && r.level == 2.0 && r.sequence == 3)
        );
        assert!(file.lock().unwrap().failure().is_none());
    }

    #[test]
    fn a_full_disk_keeps_whole_rows_and_the_levels_numbers() {
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let disk = FullDisk {
            room: 200_000,
            bytes: Arc::clone(&bytes),
        };
        let file = Arc::new(Mutex::new(
            RequestsCsv::on(Box::new(disk), "requests.csv".into()).unwrap(),
        ));
        let tally = log_all(&file, 100_000);
        // The tally saw every request, though the disk took only some.
        let summary = tally.finish(1_000, 1_000_000);
        assert_eq!(summary.sent, 100_000 - 100);
        let failure = file.lock().unwrap().failure().unwrap();
        assert!(failure.contains("No space left on device"), "{failure}");
        let text = String::from_utf8(bytes.lock().unwrap().clone()).unwrap();
        assert!(text.ends_with('\n'), "the file ends on a whole row");
        let rows = text.lines().count() - 1;
        assert!(rows > 0 && rows < 100_000, "{rows}");
        assert!(failure.contains(&format!("its {rows} whole rows")), "{failure}");
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(
            reader.deserialize::<RequestRecord>().filter(Result::is_ok).count(),
            rows
        );
    }
}
