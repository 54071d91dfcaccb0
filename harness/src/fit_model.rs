//! `harness fit-model RUN`: fits the `model` probe's power curve from a run that had a real sensor beside the
//! model, and prints the `[[probes]]` block a sensorless sibling machine's plan can declare.

use anyhow::{Context, bail};
use clap::Args;
use harness_analysis::align::ChannelSeries;
use harness_analysis::fit;
use harness_data::{ChannelInfo, Manifest, ProbeManifest, SampleKind, SampleRecord, files};
use harness_probes::model::PowerCurve;
use std::path::{Path, PathBuf};

/// The model probe's channel.
const MODEL_CHANNEL: &str = "cpu-estimate";

const PLAN_HINT: &str = "fitting needs a run measured with both a real sensor and the model on this machine: run a \
     plan with `[[probes]] kind = \"rapl\"` (or `jetson`, `usb-meter`: any sensor that sees the whole machine) and \
     `[[probes]] kind = \"model\"`, with workloads that load the machine unevenly, then `harness fit-model` on that run";

/// Fits idle watts and watts per busy core from a run with a real sensor and the `model` probe, for the plan of
/// a sibling machine that has no sensor.
#[derive(Args)]
#[command(after_help = "Example:\n  harness fit-model runs/xeon-2026-11-23 >> plans/xeon-vm.toml")]
pub struct FitModelArgs {
    /// Run directory measured with a sensor and `[[probes]] kind = "model"`.
    pub run: PathBuf,
    /// The sensor channel to fit against, as PROBE/CHANNEL (e.g. rapl/package-0) [default: among the
    /// non-estimated machine-scope channels, the one whole-machine rule every summary uses: psys or a total
    /// input rail, then a package, never a sub-domain].
    #[arg(long)]
    pub channel: Option<String>,
    /// Window length in milliseconds; raised to twice the slower channel's update period.
    #[arg(long, default_value_t = 200.0)]
    pub window_ms: f64,
}

pub fn run(args: &FitModelArgs) -> anyhow::Result<()> {
    let dir = &args.run;
    let manifest = harness_analysis::run::read_manifest(dir)?;
    let run_name = run_name(dir);

    let model_probe = manifest
        .probes
        .iter()
        .find(|p| p.channels.iter().any(is_model_channel))
        .with_context(|| format!("{run_name} has no `model` probe ({MODEL_CHANNEL} channel): {PLAN_HINT}"))?;
    let sensors: Vec<&ChannelInfo> = manifest
        .probes
        .iter()
        .flat_map(|p| &p.channels)
        .filter(|c| is_sensor_channel(c))
        .collect();
    if sensors.is_empty() {
        bail!("{run_name} has no real sensor (a non-estimated channel that sees the whole machine): {PLAN_HINT}");
    }

    let samples_path = dir.join(files::SAMPLES);
    let samples: Vec<SampleRecord> = harness_analysis::run::read_csv(&samples_path)?;
    let channels: Vec<ChannelInfo> = manifest.probes.iter().flat_map(|p| p.channels.clone()).collect();
    let series = ChannelSeries::from_records(&samples, &channels, |probe| delay_ns(&manifest.probes, probe));
    let model = series.iter().find(|s| is_model_channel(&s.info)).with_context(|| {
        format!(
            "{}: no samples of the model's {MODEL_CHANNEL} channel",
            samples_path.display()
        )
    })?;
    let sensor = pick_sensor(&series, &manifest, args.channel.as_deref())?;

    let curve = model_curve(model_probe, manifest.host.logical_cores)?;
    let slowest = sensor.info.update_period_ns.max(model.info.update_period_ns);
    let window_ns = ((args.window_ms.max(0.0) * 1e6) as u64).max(2 * slowest);
    let points = fit::window_points(sensor, model, curve.idle_w, curve.busy_w_per_core, window_ns)?;
    let fit = fit::fit_line(&points)?;
    if !(fit.idle_w >= 0.0 && fit.busy_w_per_core >= 0.0) {
        bail!(
            "the fit gives idle {:.3} W and {:.3} W per busy core: a model cannot declare negative watts; the sensor \
             does not follow the model's CPU time in {run_name} (R^2 {:.3}); fit on a run with idle spans and busy \
             workloads",
            fit.idle_w,
            fit.busy_w_per_core,
            fit.r_squared
        );
    }

    refuse_weak_fit(&fit, &run_name)?;

    let fitted = format!("{} from {run_name}", manifest.host.hostname);
    println!(
        "# sensor {}/{} against {}/{} (run with idle {} W + {} W per busy core), windows of {:.0} ms",
        sensor.info.probe,
        sensor.info.channel,
        model.info.probe,
        model.info.channel,
        curve.idle_w,
        curve.busy_w_per_core,
        window_ns as f64 / 1e6
    );
    println!("[[probes]]");
    println!("kind = \"model\"");
    println!("idle_w = {:.3}", fit.idle_w);
    println!("busy_w_per_core = {:.3}", fit.busy_w_per_core);
    println!("fitted = {}", toml::Value::String(fitted));
    println!(
        "# fit: R^2 = {:.4}, median absolute error {:.3} W per window, {} windows (busy cores {:.2} to {:.2})",
        fit.r_squared, fit.median_abs_error_w, fit.windows, fit.busy_cores_min, fit.busy_cores_max
    );
    Ok(())
}

/// The least share of the sensor's variation the model's CPU time must explain for its curve to be printed.
const MIN_R_SQUARED: f64 = 0.5;

/// Refuses a fit the model cannot use: a sensor that ignores the load (R^2 0.08) once gave `busy_w_per_core =
/// 0.000`, a curve under which every workload costs nothing.
fn refuse_weak_fit(fit: &fit::ModelFit, run_name: &str) -> anyhow::Result<()> {
    // What `{:.3}` prints as 0.000: the printed curve would charge no work.
    let flat = fit.busy_w_per_core < 0.0005;
    if fit.r_squared < MIN_R_SQUARED || flat {
        bail!(
            "the fit gives idle {:.3} W and {:.4} W per busy core with R^2 {:.3} over {} windows (busy cores {:.2}              to {:.2}): the sensor does not follow the CPU time in {run_name} (R^2 under {MIN_R_SQUARED}{}), so              no curve is printed; fit on a run whose workloads load the machine unevenly, against a sensor that              sees the CPU (pick one with --channel)",
            fit.idle_w,
            fit.busy_w_per_core,
            fit.r_squared,
            fit.windows,
            fit.busy_cores_min,
            fit.busy_cores_max,
            if flat { ", or no watts per busy core" } else { "" }
        );
    }
    Ok(())
}

/// The run directory's own name, as the manifest does not record it.
fn run_name(dir: &Path) -> String {
    dir.canonicalize()
        .ok()
        .as_deref()
        .unwrap_or(dir)
        .file_name()
        .map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned())
}

fn is_model_channel(c: &ChannelInfo) -> bool {
    c.estimated && c.channel == MODEL_CHANNEL && c.kind == SampleKind::EnergyCounter
}

/// A measured channel that sees the whole machine, as the model's CPU time does.
fn is_sensor_channel(c: &ChannelInfo) -> bool {
    !c.estimated && c.scope == harness_data::Scope::Machine && c.kind != SampleKind::Gap
}

/// Samples are keyed by the probe's name (or, in older runs, its kind).
fn delay_ns(probes: &[ProbeManifest], probe: &str) -> i64 {
    probes
        .iter()
        .find(|p| p.name == probe || p.kind == probe)
        .and_then(|p| p.delay_ns)
        .unwrap_or(0)
}

fn pick_sensor<'a>(
    series: &'a [ChannelSeries],
    manifest: &Manifest,
    wanted: Option<&str>,
) -> anyhow::Result<&'a ChannelSeries> {
    let candidates: Vec<&ChannelSeries> = series.iter().filter(|s| is_sensor_channel(&s.info)).collect();
    let names = || {
        candidates
            .iter()
            .map(|s| format!("{}/{}", s.info.probe, s.info.channel))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(wanted) = wanted {
        return candidates
            .iter()
            .find(|s| format!("{}/{}", s.info.probe, s.info.channel) == wanted)
            .copied()
            .with_context(|| format!("no sensor channel `{wanted}` in the run; it has: {}", names()));
    }
    // The one whole-machine rule (psys or a total input rail, then a package, never a sub-domain), among the
    // measured machine-scope channels with samples.
    let by_probe: Vec<(&str, Vec<ChannelInfo>)> = manifest
        .probes
        .iter()
        .map(|p| {
            let of_probe = candidates
                .iter()
                .filter(|s| s.info.probe == p.key())
                .map(|s| s.info.clone());
            (p.kind.as_str(), of_probe.collect())
        })
        .collect();
    let probes = by_probe.iter().map(|(kind, channels)| (*kind, channels.as_slice()));
    let chosen = harness_analysis::machine_channel::choose(probes, |info| {
        candidates
            .iter()
            .any(|s| s.info.probe == info.probe && s.info.channel == info.channel && !s.t_ns.is_empty())
    })
    .with_context(|| {
        format!(
            "the run's samples hold no whole-machine sensor channel ({}): {PLAN_HINT}",
            names()
        )
    })?;
    candidates
        .into_iter()
        .find(|s| s.info.probe == chosen.probe && s.info.channel == chosen.channel)
        .with_context(|| format!("the run's samples hold no sensor channel: {PLAN_HINT}"))
}

/// The curve the model ran with: what its note says it used, else rebuilt from its options as `open_probe`
/// builds it (a TDP spreads over the machine's logical cores).
fn model_curve(probe: &ProbeManifest, cores: usize) -> anyhow::Result<PowerCurve> {
    if let Some(curve) = probe.notes.iter().find_map(|n| curve_from_note(n)) {
        return Ok(curve);
    }
    let option = |key: &str| probe.options.get(key).and_then(serde_json::Value::as_f64);
    Ok(PowerCurve::from_options(
        option("idle_w"),
        option("busy_w_per_core"),
        option("tdp_w"),
        cores,
    )?)
}

/// "... idle 10 W + 15 W per busy core ..." as the model's note states its curve.
fn curve_from_note(note: &str) -> Option<PowerCurve> {
    let rest = &note[note.find("idle ")? + "idle ".len()..];
    let (idle, rest) = rest.split_once(" W + ")?;
    let (busy, _) = rest.split_once(" W per busy core")?;
    Some(PowerCurve {
        idle_w: idle.trim().parse().ok()?,
        busy_w_per_core: busy.trim().parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_curve_is_read_from_the_model_note() {
        let note = "ESTIMATED energy: idle 10 W + 15.5 W per busy core, from the CPU time of the harness";
        assert_eq!(
            curve_from_note(note),
            Some(PowerCurve {
                idle_w: 10.0,
                busy_w_per_core: 15.5
            })
        );
        assert_eq!(curve_from_note("model curve declared"), None);
    }
}
