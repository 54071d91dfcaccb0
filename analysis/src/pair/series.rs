//! What pairing of invocations and of load levels both take from the manifest for a channel: its probe's
//! delay (measured from the calibration pattern) and its idle baseline. One place, so the two subtract the
//! same figures.

use super::busy::{busy_reason, span_power};
use crate::align::ChannelSeries;
use harness_data::{Baseline, ChannelInfo, Manifest, SampleKind, SampleRecord};

/// The delay measured for `probe` (by its key) and recorded in the manifest; 0 when none was.
pub fn delay_ns(manifest: &Manifest, probe: &str) -> i64 {
    manifest
        .probes
        .iter()
        .find(|p| p.key() == probe)
        .and_then(|p| p.delay_ns)
        .unwrap_or(0)
}

/// One channel's series from a run's samples, as [`ChannelSeries::from_records`] builds every channel's: its
/// gap rows as gaps, its probe's delay subtracted.
pub fn channel_series(samples: &[SampleRecord], info: ChannelInfo, manifest: &Manifest) -> ChannelSeries {
    let readings: Vec<(u64, Option<f64>)> = samples
        .iter()
        .filter(|s| s.probe == info.probe && s.channel == info.channel)
        .map(|s| (s.t_ns, if s.kind == SampleKind::Gap { None } else { s.value }))
        .collect();
    let delay = delay_ns(manifest, &info.probe);
    ChannelSeries::new(info, readings, delay)
}

/// A channel's idle power from the manifest's idle spans before and after the run, with each span's noise and,
/// where the baseline is not the machine's idle power, why ([`super::busy`]): what pairing and the load levels
/// subtract.
pub fn baseline(series: &ChannelSeries, manifest: &Manifest) -> Baseline {
    let (before_w, before_se_w) = span_power(series, manifest.baseline_before_ns);
    let (after_w, after_se_w) = span_power(series, manifest.baseline_after_ns);
    let used_w = match (before_w, after_w) {
        (Some(a), Some(b)) => Some((a + b) / 2.0),
        (a, b) => a.or(b),
    };
    let mut baseline = Baseline {
        before_w,
        after_w,
        used_w,
        before_se_w,
        after_se_w,
        busy_baseline: None,
    };
    baseline.busy_baseline = busy_reason(series.info.scope, manifest, &baseline);
    baseline
}
