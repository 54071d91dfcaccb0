//! The sampler: one thread per probe polls its source on an absolute schedule, stamping each poll with the
//! run's clock right before it, and streams rows to `samples.csv` as they come (appended in chunks at least
//! every 100 ms, so a crash loses at most that much).

use crate::clock::monotonic_ns;
use crate::source::{Reading, Source, TimedReading};
use harness_data::{SampleKind, SampleRecord};
use std::fmt::Write as _;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// A source and how often to poll it.
pub struct ProbeRun {
    pub source: Box<dyn Source>,
    pub interval_ns: u64,
}

/// What one probe's thread did, for the manifest and the overhead benchmark.
#[derive(Debug, Clone, Default)]
pub struct ProbeStats {
    pub kind: String,
    pub polls: u64,
    pub rows: u64,
    pub gaps: u64,
    /// The first reason a channel could not be read, if one could not.
    pub first_gap: Option<String>,
    /// CPU time of the sampler thread itself.
    pub cpu_ns: u64,
    pub wall_ns: u64,
    /// The source's notes at the end of the run (a serial meter's round-trip times, say).
    pub notes: Vec<String>,
    /// Runtimes the source could not see (see [`Source::unseen_runtimes`]).
    pub unseen: Vec<String>,
}

/// Rows appended by every probe thread; each append is whole lines, so lines never interleave.
struct SampleSink {
    file: Mutex<SinkFile>,
}

struct SinkFile {
    file: File,
    /// Bytes on disk up to the last whole line.
    whole: u64,
    /// Why writing stopped (a full disk): later rows are dropped, the file keeps its whole lines.
    failed: Option<String>,
}

impl SampleSink {
    fn new(file: File, header_len: u64) -> SampleSink {
        SampleSink {
            file: Mutex::new(SinkFile {
                file,
                whole: header_len,
                failed: None,
            }),
        }
    }

    /// Appends whole lines. A failed or short write (a full disk) is cut back to the last whole line, so the
    /// file never ends mid-row, and the sink stops writing: the measurement goes on, and the probe's notes say
    /// where its samples end.
    fn append(&self, text: &str) {
        if text.is_empty() {
            return;
        }
        let mut sink = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if sink.failed.is_some() {
            return;
        }
        match sink.file.write_all(text.as_bytes()) {
            Ok(()) => sink.whole += text.len() as u64,
            Err(e) => {
                let whole = sink.whole;
                let _ = sink.file.set_len(whole);
                sink.failed = Some(format!(
                    "writing samples.csv failed ({e}); it keeps the whole rows written before, later samples are missing"
                ));
            }
        }
    }

    fn failure(&self) -> Option<String> {
        self.file.lock().unwrap_or_else(|p| p.into_inner()).failed.clone()
    }
}

pub struct Sampler {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<ProbeStats>>,
    /// Per probe, the time of its newest value (not gap) sample; 0 before the first.
    newest: Vec<Arc<AtomicU64>>,
}

const FLUSH_EVERY_NS: u64 = 100_000_000;

impl Sampler {
    /// Creates `samples_path` with its header and starts one thread per probe.
    pub fn start(probes: Vec<ProbeRun>, samples_path: &Path) -> std::io::Result<Sampler> {
        let mut file = File::create(samples_path)?;
        let header = format!("{}\n", SampleRecord::COLUMNS.join(","));
        file.write_all(header.as_bytes())?;
        let sink = Arc::new(SampleSink::new(file, header.len() as u64));
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let mut newest = Vec::new();
        for probe in probes {
            let (sink, stop) = (Arc::clone(&sink), Arc::clone(&stop));
            let latest = Arc::new(AtomicU64::new(0));
            newest.push(Arc::clone(&latest));
            let name = format!("sampler-{}", probe.source.kind());
            threads.push(
                std::thread::Builder::new()
                    .name(name)
                    .spawn(move || run_probe(probe, &sink, &stop, &latest))?,
            );
        }
        Ok(Sampler { stop, threads, newest })
    }

    /// Waits until every probe has delivered a value sampled at or after `t_ns`, at most `timeout`. Returns
    /// the probes (by index) that had not by then. An idle span must start and end on real samples, or its
    /// baseline power cannot be told.
    pub fn wait_for_samples_after(&self, t_ns: u64, timeout: std::time::Duration) -> Vec<usize> {
        let deadline = monotonic_ns() + timeout.as_nanos() as u64;
        loop {
            let late: Vec<usize> = (0..self.newest.len())
                .filter(|&i| self.newest[i].load(Ordering::Acquire) < t_ns.max(1))
                .collect();
            if late.is_empty() || monotonic_ns() >= deadline {
                return late;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// Polls once more (so the last invocation is bracketed), writes everything, and returns each probe's stats.
    pub fn stop(self) -> Vec<ProbeStats> {
        self.stop.store(true, Ordering::SeqCst);
        self.threads.into_iter().filter_map(|t| t.join().ok()).collect()
    }
}

/// `probe,channel,` and `,unit,kind` of each channel, formatted once.
struct RowParts {
    head: String,
    unit: &'static str,
    kind: &'static str,
}

fn kind_name(kind: SampleKind) -> &'static str {
    match kind {
        SampleKind::EnergyCounter => "energy_counter",
        SampleKind::Power => "power",
        SampleKind::Gap => "gap",
    }
}

fn sanitize(field: &str) -> String {
    field.replace([',', '\n', '"'], "_")
}

fn run_probe(mut probe: ProbeRun, sink: &SampleSink, stop: &AtomicBool, newest: &AtomicU64) -> ProbeStats {
    let parts: Vec<RowParts> = probe
        .source
        .channels()
        .iter()
        .map(|c| RowParts {
            head: format!("{},{},", sanitize(&c.probe), sanitize(&c.channel)),
            unit: c.unit.as_str(),
            kind: kind_name(c.kind),
        })
        .collect();
    let priority = raise_priority();
    let mut stats = ProbeStats {
        kind: probe.source.kind().to_string(),
        ..Default::default()
    };
    let mut readings: Vec<TimedReading> = Vec::with_capacity(parts.len() * 4);
    let mut text = String::with_capacity(1 << 16);
    let mut numbers = itoa::Buffer::new();
    let started = monotonic_ns();
    let mut last_flush = started;
    let mut next = started;
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        let now = monotonic_ns();
        probe.source.poll(now, &mut readings);
        stats.polls += 1;
        for TimedReading { channel, t_ns, reading } in readings.drain(..) {
            let Some(part) = parts.get(channel) else { continue };
            text.push_str(&part.head);
            text.push_str(numbers.format(t_ns));
            text.push(',');
            match reading {
                Reading::Value(v) => {
                    newest.fetch_max(t_ns, Ordering::Release);
                    // Counters are whole numbers (uJ, mJ): print those as integers, which is several times cheaper.
                    if v.fract() == 0.0 && v.abs() < 9.0e15 {
                        if v < 0.0 {
                            text.push('-');
                        }
                        text.push_str(numbers.format(v.abs() as u64));
                    } else {
                        let _ = write!(text, "{v}");
                    }
                    text.push(',');
                    text.push_str(part.unit);
                    text.push(',');
                    text.push_str(part.kind);
                }
                Reading::Gap(why) => {
                    stats.gaps += 1;
                    stats.first_gap.get_or_insert(why);
                    text.push(',');
                    text.push_str(part.unit);
                    text.push_str(",gap");
                }
            }
            text.push('\n');
            stats.rows += 1;
        }
        if stopping {
            break;
        }
        if now - last_flush >= FLUSH_EVERY_NS || text.len() > 60_000 {
            sink.append(&text);
            text.clear();
            last_flush = now;
        }
        // Absolute schedule: no drift; after a stall, skip the missed polls rather than bursting.
        next += probe.interval_ns;
        if next <= monotonic_ns() {
            next = monotonic_ns() + probe.interval_ns;
        }
        sleep_until(next);
    }
    sink.append(&text);
    stats.notes = probe.source.notes();
    stats.notes.push(priority.to_string());
    stats.notes.extend(sink.failure());
    stats.unseen = probe.source.unseen_runtimes();
    stats.cpu_ns = thread_cpu_ns();
    stats.wall_ns = monotonic_ns() - started;
    stats
}

/// A late poll is a lost window edge: a counter is interpolated between polls, and polls more than 3 update
/// periods apart at an edge make the window a gap. On a busy machine (a node or container cold start keeps both
/// cores of a small board busy) a normal thread's 1 ms poll can come 20 ms late, so the sampler thread asks for a
/// real-time slot (SCHED_FIFO: it sleeps between polls, so it takes little), else a higher priority, and says
/// which it got.
fn raise_priority() -> &'static str {
    let param = libc::sched_param { sched_priority: 10 };
    // SAFETY: pid 0 is the calling thread; `param` lives across the call.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } == 0 {
        return "sampler thread at real-time priority (SCHED_FIFO 10): a busy machine does not delay its polls";
    }
    // SAFETY: gettid has no preconditions; PRIO_PROCESS with a thread id sets that thread's nice value.
    let raised = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, -10) } == 0;
    if raised {
        "sampler thread at nice -10 (SCHED_FIFO refused): a busy machine can still delay its polls a little"
    } else {
        "sampler thread at normal priority (no CAP_SYS_NICE to raise it): on a busy machine its polls can come \
         late, and windows whose edges it missed are gaps; grant it with `setcap cap_sys_nice+ep $(which harness)`"
    }
}

/// Sleeps until `deadline_ns` on CLOCK_MONOTONIC (absolute, so the schedule does not drift).
pub fn sleep_until(deadline_ns: u64) {
    let ts = libc::timespec {
        tv_sec: (deadline_ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (deadline_ns % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: clock_nanosleep reads the timespec we own; an interruption (EINTR) just polls early.
    unsafe { libc::clock_nanosleep(libc::CLOCK_MONOTONIC, libc::TIMER_ABSTIME, &ts, std::ptr::null_mut()) };
}

/// CPU time of the calling thread, in nanoseconds.
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rapl::{RaplOptions, open};
    use crate::replay::read_samples;
    use crate::testing::FakePowercap;

    #[test]
    fn a_rapl_source_that_never_moves_is_refused() {
        let fake = FakePowercap::new();
        fake.zone("intel-rapl:0", "package-0", 1 << 30, 12345);
        let err = open(&RaplOptions {
            sysfs_root: fake.root().into(),
            interval_ms: 1.0,
        })
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("did not move"), "{err}");
    }

    #[test]
    fn streams_rapl_samples_on_the_run_clock_with_gaps() {
        let fake = FakePowercap::new();
        fake.zone("intel-rapl:0", "package-0", 1 << 30, 0);
        fake.zone("intel-rapl:0:0", "core", 1 << 30, 0);
        // Driven before opening: a RAPL source whose counters never move is refused.
        let driver = fake.drive("intel-rapl:0", 10.0, 200);
        let source = open(&RaplOptions {
            sysfs_root: fake.root().into(),
            interval_ms: 2.0,
        })
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samples.csv");
        let before = monotonic_ns();
        let sampler = Sampler::start(
            vec![ProbeRun {
                source,
                interval_ns: 2_000_000,
            }],
            &path,
        )
        .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(60));
        fake.write_raw("intel-rapl:0:0", "garbage");
        std::thread::sleep(std::time::Duration::from_millis(20));
        drop(driver);
        let stats = sampler.stop();
        let after = monotonic_ns();
        let rows = read_samples(&path).unwrap();
        assert_eq!(stats[0].rows as usize, rows.len());
        assert!(stats[0].polls >= 20, "{:?}", stats[0]);
        assert!(rows.iter().all(|r| r.t_ns >= before && r.t_ns <= after));
        let package: Vec<_> = rows.iter().filter(|r| r.channel == "package-0").collect();
        assert!(
            package
                .windows(2)
                .all(|w| w[0].t_ns < w[1].t_ns && w[0].value <= w[1].value)
        );
        assert!(package.last().unwrap().value.unwrap() > 0.0);
        assert!(
            rows.iter()
                .any(|r| r.channel == "package-0/core" && r.kind == SampleKind::Gap && r.value.is_none())
        );
        assert!(stats[0].first_gap.as_deref().unwrap().contains("unreadable"));
    }
    #[test]
    fn a_full_disk_keeps_whole_sample_rows_and_says_so() {
        // /dev/full answers every write with ENOSPC.
        let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
            return;
        };
        let sink = SampleSink::new(full, 0);
        sink.append("rapl,package-0,1,2,uJ,energy_counter\n");
        let why = sink.failure().expect("the failure is kept");
        assert!(why.contains("samples.csv") && why.contains("whole rows"), "{why}");
        // Later rows are dropped, not half-written.
        sink.append("rapl,package-0,2,3,uJ,energy_counter\n");
        assert_eq!(sink.failure(), Some(why));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samples.csv");
        let sink = SampleSink::new(File::create(&path).unwrap(), 0);
        sink.append("a\n");
        sink.append("b\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a\nb\n");
        assert_eq!(sink.failure(), None);
    }
}
