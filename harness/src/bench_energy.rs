//! `harness bench-energy`: the committed benchmark behind the energy speed figures in docs/benchmarks.md.
//!
//! 1. Sampler overhead: RAPL polled at 1 kHz against a fake powercap tree (five zones, as on a client part
//!    with psys; a thread advances the package counter every millisecond, as the hardware does), the sampler
//!    thread's own CPU time over a long window, as a share of one core.
//! 2. Alignment: energy attributed to 1 million windows from 10 million counter samples (and a tenth of each,
//!    to show the cost grows linearly).

use harness_analysis::align::{ChannelSeries, Window, attribute};
use harness_data::{ChannelInfo, SampleKind};
use harness_probes::clock::monotonic_ns;
use harness_probes::rapl::{RaplOptions, open};
use harness_probes::sampler::{ProbeRun, Sampler};
use harness_probes::testing::FakePowercap;

/// Measure the sampler's CPU overhead at 1 kHz and the speed of alignment.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  harness bench-energy --seconds 20")]
pub struct BenchEnergyArgs {
    /// How long the sampler runs.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Poll interval in milliseconds.
    #[arg(long, default_value_t = 1.0)]
    pub interval_ms: f64,
    /// Samples in the large alignment case (windows: a tenth of it).
    #[arg(long, default_value_t = 10_000_000)]
    pub samples: usize,
}

pub fn run(args: &BenchEnergyArgs) -> anyhow::Result<()> {
    let fake = FakePowercap::new();
    for (id, name) in [
        ("intel-rapl:0", "package-0"),
        ("intel-rapl:0:0", "core"),
        ("intel-rapl:0:1", "uncore"),
        ("intel-rapl:0:2", "dram"),
        ("intel-rapl:1", "psys"),
    ] {
        fake.zone(id, name, 262_143_328_850, 0);
    }
    // The package counter moves, as on a real machine (a source whose counters never move is refused).
    let _driver = fake.drive("intel-rapl:0", 15.0, 1000);
    let source = open(&RaplOptions {
        sysfs_root: fake.root().into(),
        interval_ms: args.interval_ms,
    })?;
    let scratch = tempfile::tempdir()?;
    let interval_ns = (args.interval_ms * 1e6) as u64;
    let sampler = Sampler::start(
        vec![ProbeRun { source, interval_ns }],
        &scratch.path().join("samples.csv"),
    )?;
    std::thread::sleep(std::time::Duration::from_secs_f64(args.seconds));
    let stats = sampler.stop().pop().expect("one probe");
    let expected_polls = stats.wall_ns as f64 / interval_ns as f64;
    println!(
        "sampler: rapl, 5 zones, every {} ms for {:.1} s: {} polls ({:.1}% of the schedule), {} rows; sampler thread CPU {:.1} ms = {:.3}% of one core",
        args.interval_ms,
        stats.wall_ns as f64 * 1e-9,
        stats.polls,
        100.0 * stats.polls as f64 / expected_polls,
        stats.rows,
        stats.cpu_ns as f64 * 1e-6,
        100.0 * stats.cpu_ns as f64 / stats.wall_ns as f64
    );

    // The floor: a thread that only sleeps on the same schedule. In a VM every timer wake-up costs CPU of
    // its own (exits, timer reprogramming), whatever the sampler does after waking.
    let floor = std::thread::spawn({
        let (seconds, interval_ns) = (args.seconds, interval_ns);
        move || {
            let (start, end) = (monotonic_ns(), monotonic_ns() + (seconds * 1e9) as u64);
            let mut next = start;
            while next < end {
                next += interval_ns;
                harness_probes::sampler::sleep_until(next);
            }
            (harness_probes::sampler::thread_cpu_ns(), monotonic_ns() - start)
        }
    })
    .join()
    .expect("floor thread");
    println!(
        "floor: a thread that only sleeps on the same schedule uses {:.3}% of one core; the sampler's own work is the difference, {:.3}%",
        100.0 * floor.0 as f64 / floor.1 as f64,
        100.0 * (stats.cpu_ns as f64 / stats.wall_ns as f64 - floor.0 as f64 / floor.1 as f64)
    );

    for samples in [args.samples / 10, args.samples] {
        let windows = samples / 10;
        let (elapsed_ns, attributed) = time_alignment(samples, windows);
        println!(
            "alignment: {samples} samples x {windows} windows: {:.3} s ({:.1} ns per sample + window), {attributed} windows with energy",
            elapsed_ns as f64 * 1e-9,
            elapsed_ns as f64 / (samples + windows) as f64
        );
    }
    Ok(())
}

/// A 1 kHz counter at 20 W and back-to-back windows of 5 sample periods each, as invocations would be.
fn time_alignment(samples: usize, windows: usize) -> (u64, usize) {
    let info = ChannelInfo {
        probe: "rapl".into(),
        channel: "package-0".into(),
        unit: harness_data::Unit::Microjoule,
        kind: SampleKind::EnergyCounter,
        resolution: 1.0,
        update_period_ns: 1_000_000,
        estimated: false,
        scope: harness_data::Scope::Machine,
    };
    let rows: Vec<(u64, Option<f64>)> = (0..samples as u64)
        .map(|i| (i * 1_000_000, Some(i as f64 * 20_000.0)))
        .collect();
    let series = ChannelSeries::new(info, rows, 0);
    let span = (samples as u64 * 1_000_000) / windows.max(1) as u64;
    let windows: Vec<Window> = (0..windows as u64)
        .map(|i| Window {
            start_ns: i * span + 100,
            end_ns: i * span + span * 9 / 10,
            count: 1,
        })
        .collect();
    let start = monotonic_ns();
    let attributed = attribute(&series, &windows);
    let elapsed = monotonic_ns() - start;
    (elapsed, attributed.iter().filter(|a| a.window_j.is_some()).count())
}
