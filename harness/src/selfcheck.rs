//! `harness selfcheck`: the error rates of the report's own statistics. (a) Simulated A/A and A/B comparisons
//! with a known truth through the report's path ([`harness_analysis::report::selfcheck`]), with a fixed unit
//! count and through the precision rule of `harness measure` (width and strict mode): false positives, interval
//! coverage, and power at the minimum detectable effect the report states. (b) A real A/A run on this
//! machine: one runtime measured as two arms, invocation by invocation interleaved, whose verdict must not be
//! faster or slower.

use crate::artifacts::{self, WorkloadArtifacts};
use crate::runtime::{self, Limits};
use anyhow::Context;
use harness_analysis::report::model::Verdict;
use harness_analysis::report::options::ReportOptions;
use harness_analysis::report::selfcheck::{
    Design, FIRST_UNITS, MAX_UNITS, Pooled, ScenarioResult, compare_invocations, pooled, scenarios, simulate_all,
};
use harness_analysis::stats::precision::geometric_looks;
use harness_data::plan::Interrupt;
use harness_data::{Mode, RuntimeKind, Status};
use harness_probes::clock::monotonic_ns;
use harness_probes::model::ContainerLedger;
use serde::Serialize;
use std::path::PathBuf;

/// Measure the report's own error rates: simulated A/A and A/B comparisons, and a real A/A run here.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  harness selfcheck\n  harness selfcheck --comparisons 2000 --json selfcheck.json")]
pub struct SelfcheckArgs {
    /// A/A comparisons per scenario and design (as many A/B comparisons follow).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(10..=100_000))]
    pub comparisons: u32,
    /// Bootstrap resamples per comparison (the report's default is 2000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(100..=100_000))]
    pub resamples: u32,
    /// Seed of the simulation.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Invocations per arm of the real A/A run (0: skip it).
    #[arg(long, default_value_t = 300)]
    pub real: u32,
    /// Where the workloads are built [default: as `harness measure`].
    #[arg(long)]
    pub artifacts: Option<PathBuf>,
    /// Also write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// The real A/A run: wasmtime-aot warm noop, two arms interleaved.
#[derive(Debug, Serialize)]
pub struct RealAa {
    pub runtime: String,
    pub invocations_per_arm: usize,
    pub ratio: Option<[f64; 3]>,
    pub p_value: Option<f64>,
    pub verdict: String,
}

#[derive(Debug, Serialize)]
pub struct SelfcheckReport {
    pub alpha: f64,
    pub level: f64,
    pub resamples: usize,
    pub simulated: Vec<ScenarioResult>,
    /// Per design, every scenario together.
    pub pooled: Vec<Pooled>,
    pub real: Option<RealAa>,
}

pub fn run(args: &SelfcheckArgs) -> anyhow::Result<()> {
    let options = ReportOptions {
        resamples: args.resamples as usize,
        ..ReportOptions::default()
    };
    let simulated = simulate_all(
        &Design::ALL,
        &scenarios(),
        args.comparisons as usize,
        &options,
        args.seed,
    );
    let real = (args.real > 0).then(|| real_aa(args, &options)).transpose()?;
    let report = SelfcheckReport {
        alpha: options.alpha,
        level: options.level,
        resamples: options.resamples,
        pooled: Design::ALL.iter().filter_map(|&d| pooled(&simulated, d)).collect(),
        simulated,
        real,
    };
    print!("{}", render(&report));
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    // A real A/A comparison called faster or slower is a failure of the method (or of the machine's stability).
    if let Some(real) = report
        .real
        .as_ref()
        .filter(|r| r.verdict == "faster" || r.verdict == "slower")
    {
        anyhow::bail!(
            "the real A/A run's verdict is `{}`: one runtime against itself must not differ (a chance of alpha = {}; \
             rerun, and if it repeats, the machine's speed drifted within the run)",
            real.verdict,
            report.alpha
        );
    }
    Ok(())
}

fn real_aa(args: &SelfcheckArgs, options: &ReportOptions) -> anyhow::Result<RealAa> {
    let dir = args.artifacts.clone().unwrap_or_else(artifacts::default_dir);
    let spec = harness_workloads::find("noop").expect("noop exists");
    let noop = WorkloadArtifacts::at(&dir, spec);
    let kind = RuntimeKind::WasmtimeAot;
    runtime::ensure_artifacts(&[kind], &noop)?;
    let limits = Limits {
        timeout_ms: 10_000,
        interrupt: Interrupt::Epoch,
        memory_mb: None,
        wasm_stack: None,
    };
    let mut runtime = runtime::create(kind, limits, &ContainerLedger::default())?;
    runtime.prepare_warm(&noop)?;
    let input = spec.prepare_input("0").map_err(|e| anyhow::anyhow!("noop 0: {e}"))?;
    let mut arms: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    // One untimed warm-up, then A B B A A B ...: each arm goes first half the time.
    for round in 0..=args.real as usize {
        for turn in 0..2 {
            let arm = if round % 2 == 0 { turn } else { 1 - turn };
            let t0 = monotonic_ns();
            let outcome = runtime.invoke(Mode::Warm, &noop, &input);
            let t1 = monotonic_ns();
            if outcome.status() != Status::Ok {
                anyhow::bail!("{kind} noop failed in the A/A run: {}", outcome.error);
            }
            if round > 0 {
                arms[arm].push((t1 - t0) as f64);
            }
        }
    }
    let c = compare_invocations(&arms[0], &arms[1], options);
    Ok(RealAa {
        runtime: kind.to_string(),
        invocations_per_arm: arms[0].len(),
        ratio: c.ratio_of_medians.map(|r| [r.estimate, r.ci_low, r.ci_high]),
        p_value: c.test.map(|t| t.p_value),
        verdict: match c.verdict {
            Verdict::Faster | Verdict::LessEnergy => "faster",
            Verdict::Slower | Verdict::MoreEnergy => "slower",
            Verdict::Equivalent => "equivalent",
            Verdict::Inconclusive => "inconclusive",
        }
        .into(),
    })
}

/// The tables `harness selfcheck` prints.
pub fn render(report: &SelfcheckReport) -> String {
    let mut out = format!(
        "Simulated comparisons through the report's statistics (alpha {}, {:.0}% intervals, {} resamples):\n\n",
        report.alpha,
        report.level * 100.0,
        report.resamples
    );
    let row =
        |design: &str, scenario: &str, n: usize, rest: &str| format!("{design:<16} {scenario:<42} {n:>6} {rest}\n");
    out.push_str(&format!(
        "{:<16} {:<42} {:>6} {:>9} {:>9} {:>8} {:>7} {:>7} {:>7}\n",
        "design", "scenario", "n", "false +", "coverage", "MDE", "power", "units", "at max"
    ));
    for r in &report.simulated {
        out.push_str(&row(
            &r.design.label(),
            &r.scenario.name,
            r.comparisons,
            &format!(
                "{:>8.1}% {:>8.1}% {:>7.1}% {:>6.0}% {:>7.1} {:>7}",
                r.false_positive_rate * 100.0,
                r.coverage * 100.0,
                r.mde_pct,
                r.power_at_mde * 100.0,
                r.mean_units,
                r.at_max.map_or_else(|| "-".into(), |m| format!("{:.0}%", m * 100.0))
            ),
        ));
    }
    out.push('\n');
    for p in &report.pooled {
        out.push_str(&row(
            &p.design.label(),
            "all scenarios",
            p.comparisons,
            &format!(
                "{:>8.1}% {:>8.1}%   (alpha {:.4}, {:.2}% intervals)",
                p.false_positive_rate * 100.0,
                p.coverage * 100.0,
                p.alpha,
                p.level * 100.0
            ),
        ));
    }
    out.push_str(&format!(
        "\nfalse +: A/A verdicts faster or slower (stated: at most alpha, {:.0}%; strict: alpha / looks); coverage: \
         intervals holding the true ratio (stated: the level); power: A/B at the median MDE the A/A comparisons \
         state, found in the right direction (stated: 80%); units: mean units (invocations or windows) per side \
         and run at the end. Adaptive: the precision rule of `harness measure`, looks at {} units per side and \
         run, stop once the interval is within a target (the median half-width of A/A comparisons at 30 units); \
         at max: share of comparisons that reached {MAX_UNITS} units.\n",
        report.alpha * 100.0,
        geometric_looks(FIRST_UNITS as u32, MAX_UNITS as u32)
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    ));
    if let Some(real) = &report.real {
        out.push_str(&format!(
            "\nA real A/A run here: {} warm noop, {} invocations per arm, interleaved: ratio {}, p {}, verdict {}\n",
            real.runtime,
            real.invocations_per_arm,
            real.ratio
                .map(|[e, l, h]| format!("{e:.3} [{l:.3}, {h:.3}]"))
                .unwrap_or_else(|| "-".into()),
            real.p_value.map(|p| format!("{p:.3}")).unwrap_or_else(|| "-".into()),
            real.verdict
        ));
    }
    out
}
