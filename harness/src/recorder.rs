//! Writes a run to disk as it is measured.
//!
//! The measuring thread hands each invocation to a writer thread over a channel, so hashing the output and
//! formatting the CSV row stay off the timed path. The writer flushes whenever its queue runs dry, so a crash or
//! Ctrl-C loses at most the rows still queued, and it checks that every runtime produced the same digest for the
//! same workload and input.

use anyhow::Context;
use harness_data::{InvocationRecord, Manifest, Status, files};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// An invocation as measured: the row without its digest, and the output to hash.
pub struct Measured {
    pub record: InvocationRecord,
    pub output: Vec<u8>,
}

/// What the writer saw, for the manifest.
#[derive(Debug, Default, Clone)]
pub struct Written {
    pub rows: u64,
    pub failed_rows: u64,
}

#[derive(Default)]
struct Shared {
    failure: Mutex<Option<String>>,
    failed: AtomicBool,
}

pub struct Recorder {
    sender: Option<Sender<Measured>>,
    writer: Option<JoinHandle<anyhow::Result<Written>>>,
    shared: Arc<Shared>,
}

impl Recorder {
    /// Creates `invocations.csv` in `dir` with its header, and starts the writer.
    pub fn create(dir: &Path) -> anyhow::Result<Recorder> {
        let path = dir.join(files::INVOCATIONS);
        let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let mut csv = csv::WriterBuilder::new().has_headers(false).from_writer(BufWriter::with_capacity(1 << 16, file));
        csv.write_record(InvocationRecord::COLUMNS)?;
        csv.flush()?;
        let (sender, receiver) = mpsc::channel();
        let shared = Arc::new(Shared::default());
        let writer_shared = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || write_rows(csv, receiver, &writer_shared, path))
            .context("starting the recorder thread")?;
        Ok(Recorder { sender: Some(sender), writer: Some(writer), shared })
    }

    #[inline]
    pub fn record(&self, measured: Measured) {
        if let Some(sender) = &self.sender {
            // The writer only stops early on an I/O error, which `finish` reports.
            let _ = sender.send(measured);
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

    /// Waits until every queued row is on disk.
    pub fn finish(mut self) -> anyhow::Result<Written> {
        self.sender.take();
        match self.writer.take().map(|w| w.join()) {
            Some(Ok(result)) => result,
            Some(Err(_)) => anyhow::bail!("the recorder thread panicked"),
            None => Ok(Written::default()),
        }
    }
}

impl Drop for Recorder {
    /// On an early return or a panic, still drain the queue to disk.
    fn drop(&mut self) {
        self.sender.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

fn write_rows(mut csv: csv::Writer<BufWriter<File>>, receiver: Receiver<Measured>, shared: &Shared, path: PathBuf) -> anyhow::Result<Written> {
    let mut written = Written::default();
    // (workload, input) -> (digest, runtime, mode) of the first successful invocation.
    let mut reference: HashMap<(String, String), (String, String, String)> = HashMap::new();
    while let Ok(first) = receiver.recv() {
        let mut next = Some(first);
        while let Some(Measured { mut record, output }) = next {
            if record.status == Status::Ok {
                record.digest = harness_workloads::digest(&output);
                check_digest(&mut reference, &record, shared);
            } else {
                written.failed_rows += 1;
            }
            csv.serialize(&record).with_context(|| format!("writing {}", path.display()))?;
            written.rows += 1;
            next = receiver.try_recv().ok();
        }
        csv.flush().with_context(|| format!("writing {}", path.display()))?;
    }
    csv.flush()?;
    Ok(written)
}

fn check_digest(reference: &mut HashMap<(String, String), (String, String, String)>, record: &InvocationRecord, shared: &Shared) {
    let key = (record.workload.clone(), record.input.clone());
    let (digest, runtime, mode) = reference
        .entry(key)
        .or_insert_with(|| (record.digest.clone(), record.runtime.clone(), record.mode.as_str().to_string()));
    if *digest != record.digest {
        let message = format!(
            "digest mismatch for workload `{}` input `{}`: {} ({}) gave {}, {} ({}) gave {}; runtimes that computed different things cannot be compared",
            record.workload, record.input, runtime, mode, digest, record.runtime, record.mode.as_str(), record.digest
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

    fn row(runtime: &str, status: Status) -> InvocationRecord {
        InvocationRecord {
            workload: "fibonacci".into(),
            input: "20".into(),
            runtime: runtime.into(),
            mode: Mode::Warm,
            iteration: 0,
            warmup: false,
            sequence: 0,
            start_ns: 1,
            end_ns: 3,
            latency_ns: 2,
            startup_ns: None,
            compile_ns: None,
            instantiate_ns: Some(1),
            input_ns: Some(0),
            execute_ns: Some(1),
            output_ns: Some(0),
            input_bytes: 2,
            output_bytes: 4,
            status,
            digest: String::new(),
            error: String::new(),
        }
    }

    #[test]
    fn writes_header_and_rows_in_column_order() {
        let dir = tempfile::tempdir().unwrap();
        let recorder = Recorder::create(dir.path()).unwrap();
        recorder.record(Measured { record: row("native", Status::Ok), output: b"6765".to_vec() });
        recorder.record(Measured { record: row("wasmi", Status::Trap), output: Vec::new() });
        let written = recorder.finish().unwrap();
        assert_eq!((written.rows, written.failed_rows), (2, 1));
        let text = std::fs::read_to_string(dir.path().join(files::INVOCATIONS)).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next().unwrap(), InvocationRecord::COLUMNS.join(","));
        let first: Vec<&str> = lines.next().unwrap().split(',').collect();
        assert_eq!(first.len(), InvocationRecord::COLUMNS.len());
        assert_eq!(first[2], "native");
        assert_eq!(first[10], "", "a phase that does not exist is an empty cell");
        assert_eq!(first[19], harness_workloads::digest(b"6765"));
        // Rows read back into the same struct.
        let mut reader = csv::Reader::from_path(dir.path().join(files::INVOCATIONS)).unwrap();
        let back: Vec<InvocationRecord> = reader.deserialize().collect::<Result<_, _>>().unwrap();
        assert_eq!(back[1].status, Status::Trap);
        assert_eq!(back[0].startup_ns, None);
    }

    #[test]
    fn a_differing_digest_fails_naming_both_runtimes() {
        let dir = tempfile::tempdir().unwrap();
        let recorder = Recorder::create(dir.path()).unwrap();
        recorder.record(Measured { record: row("native", Status::Ok), output: b"6765".to_vec() });
        recorder.record(Measured { record: row("wasmtime-jit", Status::Ok), output: b"6766".to_vec() });
        // The writer is asynchronous: wait for it to drain by finishing, then look at the shared state.
        let shared = Arc::clone(&recorder.shared);
        recorder.finish().unwrap();
        let failure = shared.failure.lock().unwrap().clone().unwrap();
        assert!(failure.contains("native (warm) gave"), "{failure}");
        assert!(failure.contains("wasmtime-jit (warm) gave"), "{failure}");
    }
}
