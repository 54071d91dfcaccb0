//! What `harness run` found, as data: per command hyperfine's statistics (seconds) with the process's usage
//! and its energy per run, and `harness report`'s comparisons against the reference, built once from the run
//! directory and the report; the terminal and the exports only render it (criterion's way).

use harness_analysis::report::model::{Basis, Comparison, GroupReport, Metric, Report, Verdict};
use harness_analysis::run::Run;
use harness_data::{ProcessUsage, RunStatus, Status, UsageRecord};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Every command's results and the comparisons: `--export-json`'s document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunResults {
    /// hyperfine's `results[]`, each with the harness's additions.
    pub results: Vec<CommandResult>,
    /// Each other command against the reference, in time and in energy, as `harness report` judged them.
    pub comparisons: Vec<CommandComparison>,
    pub provenance: Provenance,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommandResult {
    /// The command's name (`-n`, else its line), as hyperfine writes it.
    pub command: String,
    /// Wall time per run, seconds, over the runs that counted (exit 0, or any exit with `-i`).
    pub mean: Option<f64>,
    pub stddev: Option<f64>,
    pub median: Option<f64>,
    /// Mean user and system CPU time per run, seconds (the process and the children it waited for).
    pub user: Option<f64>,
    pub system: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Each counted run's wall time, seconds, in the order they ran.
    pub times: Vec<f64>,
    /// Each counted run's peak resident set, bytes.
    pub memory_usage_byte: Vec<u64>,
    /// Each measured run's exit code (`null`: killed by a signal or at the deadline).
    pub exit_codes: Vec<Option<i32>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
    // -- the harness's additions --
    /// The command line run (parameters substituted).
    pub command_line: String,
    /// Given by `--reference`, or the one the comparisons are against.
    pub reference: bool,
    /// Measured runs, and those that did not count (their status, e.g. `timeout`).
    pub runs: usize,
    pub failed_runs: BTreeMap<String, usize>,
    /// Runs beyond Tukey's severe fences (3 IQR): kept in every figure, reported.
    pub outliers: usize,
    /// Energy per run on the run's whole-machine channel, with its interval (what the summary compares).
    pub energy_j: Option<CommandEnergy>,
    /// Median power over the energy windows, W (gross).
    pub power_w: Option<f64>,
    /// Every channel of every probe: energy per run gross and net of idle, with its source.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub energy_channels: Vec<ChannelFigures>,
}

/// One channel's medians per run (no interval: `harness report` gives every channel's).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelFigures {
    pub probe: String,
    pub channel: String,
    pub scope: String,
    pub estimated: bool,
    pub gross_j: Option<f64>,
    pub net_j: Option<f64>,
    pub power_w: Option<f64>,
    /// Windows the medians use (usable, unflagged), of `windows`.
    pub used: usize,
    pub windows: usize,
}

/// Energy per run of one command on the run's whole-machine channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommandEnergy {
    pub probe: String,
    pub channel: String,
    /// Whose work the channel sees (`machine`: every process, the command's and others').
    pub scope: String,
    /// From a model of CPU time, not a sensor: an estimate.
    pub estimated: bool,
    /// What `median` is: `net` of the idle baseline, or `gross` where no net figure may be shown (the idle
    /// baseline is missing, or was taken while the machine was busy).
    pub basis: String,
    /// Median energy per run on `basis`, J, with its bootstrap interval; `None` when fewer than half the
    /// windows resolved (then `reason` says why).
    pub median: Option<f64>,
    pub interval: Option<[f64; 2]>,
    /// Why there is no figure, e.g. "8 of 10 below resolution".
    pub reason: Option<String>,
    /// Net figure whose interval spans 0: the command's own energy is within the noise of idle.
    pub within_noise: bool,
    /// Why `basis` is `gross`: the idle baseline taken while the machine was busy (and by what), or none taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_net: Option<String>,
    /// The median net of idle, J (with its interval), where `basis` is `net`.
    pub median_net: Option<f64>,
    pub interval_net: Option<[f64; 2]>,
    /// Median energy per run before subtracting idle, J.
    pub median_gross: Option<f64>,
    /// Idle power subtracted, W.
    pub baseline_w: Option<f64>,
    /// Energy windows (a run alone, or K runs back to back) and those usable.
    pub windows: usize,
    pub usable: usize,
    /// Runs per window, on average (1: every run alone).
    pub runs_per_window: f64,
    pub left_out: BTreeMap<String, usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommandComparison {
    pub command: String,
    pub reference: String,
    /// `time` or `energy`.
    pub metric: String,
    /// For energy: `gross` (energy per run on the channel, idle included, as `harness report` compares it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basis: Option<String>,
    /// The command's median over the reference's (time, or energy per run on the channel shown).
    pub ratio: Option<f64>,
    pub interval: Option<[f64; 2]>,
    pub level: Option<f64>,
    /// `faster`, `slower`, `less energy`, `more energy`, `equivalent` or `inconclusive`, for the command.
    pub verdict: String,
    pub p_holm: Option<f64>,
    pub note: Option<String>,
    pub estimated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Provenance {
    pub harness_version: String,
    /// The run directory the figures come from (`harness report`, `export`, `pair` read it).
    pub run_dir: String,
    pub status: RunStatus,
    pub status_reason: Option<String>,
    pub seed: u64,
    /// `interleaved` (seeded shuffle) or `sequential`.
    pub order: String,
    pub shell: String,
    pub probes: Vec<String>,
    /// `probe/channel` of the energy figures, when energy was measured.
    pub energy_channel: Option<String>,
    pub energy_estimated: bool,
    pub notes: Vec<String>,
}

/// What the run was asked to do, for the provenance.
pub struct Asked<'a> {
    pub order: &'a str,
    pub shell: &'a str,
    /// The commands, in the order the results list them.
    pub commands: &'a [super::spec::BenchCommand],
}

/// Builds the results of `run` from its `report` (built against the reference) and its `usage.csv` rows.
pub fn build(run: &Run, report: &Report, usage: &[UsageRecord], asked: &Asked) -> RunResults {
    let usage: HashMap<u64, ProcessUsage> = usage.iter().map(|u| (u.sequence, u.usage())).collect();
    let results = asked
        .commands
        .iter()
        .map(|c| command_result(run, report, &usage, c))
        .collect();
    let comparisons = report
        .comparisons
        .iter()
        .filter(|c| shown(report, &c.metric))
        .map(comparison)
        .collect();
    let channel = report.energy_channel.as_ref();
    RunResults {
        results,
        comparisons,
        provenance: Provenance {
            harness_version: env!("CARGO_PKG_VERSION").to_string(),
            run_dir: run.dir.display().to_string(),
            status: run.manifest.status,
            status_reason: run.manifest.status_reason.clone(),
            seed: run.manifest.plan.seed,
            order: asked.order.to_string(),
            shell: asked.shell.to_string(),
            probes: run.manifest.probes.iter().map(|p| p.key().to_string()).collect(),
            energy_channel: channel.map(|c| format!("{}/{}", c.probe, c.channel)),
            energy_estimated: channel.is_some_and(|c| c.estimated),
            notes: report.notes.clone(),
        },
    }
}

/// Latency always; energy on the report's whole-machine channel only (the one its glance shows).
fn shown(report: &Report, metric: &Metric) -> bool {
    match metric {
        Metric::Latency => true,
        Metric::Energy { probe, channel, .. } => report
            .energy_channel
            .as_ref()
            .is_some_and(|c| &c.probe == probe && &c.channel == channel),
    }
}

fn command_result(
    run: &Run,
    report: &Report,
    usage: &HashMap<u64, ProcessUsage>,
    command: &super::spec::BenchCommand,
) -> CommandResult {
    let measured: Vec<_> = run
        .invocations
        .iter()
        .filter(|r| r.runtime == command.name && !r.warmup)
        .collect();
    let counted: Vec<_> = measured.iter().filter(|r| r.status == Status::Ok).collect();
    let seconds = |ns: u64| ns as f64 / 1e9;
    let group = report.groups.iter().find(|g| g.key.runtime == command.name);
    let latency = group.and_then(|g| g.latency_ns.as_ref());
    let usages: Vec<&ProcessUsage> = counted.iter().filter_map(|r| usage.get(&r.sequence)).collect();
    let mean_of = |f: fn(&ProcessUsage) -> u64| {
        (!usages.is_empty()).then(|| usages.iter().map(|u| seconds(f(u))).sum::<f64>() / usages.len() as f64)
    };
    let mut failed_runs = BTreeMap::new();
    for r in measured.iter().filter(|r| r.status != Status::Ok) {
        *failed_runs.entry(r.status.as_str().to_string()).or_insert(0) += 1;
    }
    CommandResult {
        command: command.name.clone(),
        mean: latency.map(|l| l.mean / 1e9),
        stddev: latency.filter(|l| l.n > 1).map(|l| l.std_dev / 1e9),
        median: latency.map(|l| l.median / 1e9),
        user: mean_of(|u| u.user_ns),
        system: mean_of(|u| u.sys_ns),
        min: latency.map(|l| l.min / 1e9),
        max: latency.map(|l| l.max / 1e9),
        times: counted.iter().map(|r| seconds(r.latency_ns)).collect(),
        memory_usage_byte: usages.iter().map(|u| u.max_rss_bytes).collect(),
        exit_codes: measured
            .iter()
            .map(|r| usage.get(&r.sequence).and_then(|u| u.exit_code))
            .collect(),
        parameters: command.parameters.iter().cloned().collect(),
        command_line: command.command.clone(),
        reference: report.baseline == command.name,
        runs: measured.len(),
        failed_runs,
        outliers: group
            .and_then(|g| g.outliers.as_ref())
            .map_or(0, |o| o.low_severe + o.high_severe),
        energy_j: group.and_then(|g| energy(run, report, g)),
        energy_channels: group.map_or_else(Vec::new, |g| {
            g.energy
                .iter()
                .map(|e| ChannelFigures {
                    probe: e.probe.clone(),
                    channel: e.channel.clone(),
                    scope: e.scope.clone(),
                    estimated: e.estimated,
                    gross_j: e.gross_j.as_ref().map(|s| s.median),
                    net_j: e.net_j.as_ref().map(|s| s.median),
                    power_w: e.power_w.as_ref().map(|s| s.median),
                    used: e.used,
                    windows: e.windows,
                })
                .collect()
        }),
        power_w: group.and_then(|g| {
            let channel = report.energy_channel.as_ref()?;
            g.energy
                .iter()
                .find(|e| e.probe == channel.probe && e.channel == channel.channel)?
                .power_w
                .as_ref()
                .map(|p| p.median)
        }),
    }
}

fn energy(run: &Run, report: &Report, group: &GroupReport) -> Option<CommandEnergy> {
    let channel = report.energy_channel.as_ref()?;
    let at_a_glance = group.energy_at_a_glance.as_ref()?;
    let summary = group
        .energy
        .iter()
        .find(|e| e.probe == channel.probe && e.channel == channel.channel)?;
    let net = at_a_glance.figure.as_ref().filter(|_| at_a_glance.basis == Basis::Net);
    let figure = at_a_glance.figure.as_ref();
    Some(CommandEnergy {
        basis: at_a_glance.basis.as_str().to_string(),
        median: figure.map(|i| i.estimate),
        interval: figure.map(|i| [i.ci_low, i.ci_high]),
        reason: at_a_glance.reason(),
        within_noise: at_a_glance.within_noise(),
        no_net: (at_a_glance.basis == Basis::Gross).then(|| no_net(run, &channel.probe, &channel.channel)),
        probe: channel.probe.clone(),
        channel: channel.channel.clone(),
        scope: summary.scope.clone(),
        estimated: channel.estimated,
        median_net: net.map(|i| i.estimate),
        interval_net: net.map(|i| [i.ci_low, i.ci_high]),
        median_gross: summary.gross_j.as_ref().map(|s| s.median),
        baseline_w: summary.baseline_w,
        windows: at_a_glance.units,
        usable: at_a_glance.usable,
        runs_per_window: if summary.windows == 0 {
            0.0
        } else {
            summary.invocations as f64 / summary.windows as f64
        },
        left_out: at_a_glance.left_out.clone(),
    })
}

/// Why a channel has no net figure, from the run's manifest.
fn no_net(run: &Run, probe: &str, channel: &str) -> String {
    let baseline = run
        .manifest
        .probes
        .iter()
        .find(|p| p.key() == probe)
        .and_then(|p| p.baselines.get(channel));
    match baseline {
        Some(b) => match &b.busy_baseline {
            Some(why) => format!("the idle baseline is not idle: {why}"),
            None => "the idle baseline could not be used".into(),
        },
        None => "no idle baseline was taken (--idle 0, or the run stopped before it)".into(),
    }
}

fn comparison(c: &Comparison) -> CommandComparison {
    let (metric, estimated) = match &c.metric {
        Metric::Latency => ("time", false),
        Metric::Energy { estimated, .. } => ("energy", *estimated),
    };
    CommandComparison {
        command: c.runtime.clone(),
        reference: c.baseline.clone(),
        metric: metric.to_string(),
        basis: (metric == "energy").then(|| "gross".to_string()),
        ratio: c.ratio_of_medians.as_ref().map(|i| i.estimate),
        interval: c.ratio_of_medians.as_ref().map(|i| [i.ci_low, i.ci_high]),
        level: c.ratio_of_medians.as_ref().map(|i| i.level),
        verdict: c.verdict.as_str().to_string(),
        p_holm: c.p_holm,
        note: c.verdict_note.clone(),
        estimated,
    }
}

/// Whether a verdict says the two differ.
pub fn decided(verdict: &str) -> bool {
    [
        Verdict::Faster,
        Verdict::Slower,
        Verdict::LessEnergy,
        Verdict::MoreEnergy,
    ]
    .iter()
    .any(|v| v.as_str() == verdict)
}
