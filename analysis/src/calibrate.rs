//! Delay calibration: how late a probe's trace follows the load the harness put on the machine.
//!
//! The harness plays a known pattern of CPU bursts at the start of a run; the probe's power (or, for
//! counters, its rate) is cross-correlated with the pattern at every lag up to `max_lag_ns`, and the lag with
//! the highest correlation is the probe's delay. Serial meters and NVML typically lag by tens to hundreds of
//! milliseconds; subtracting the delay puts their samples back on the invocations' clock.

use crate::align::ChannelSeries;
use harness_data::SampleKind;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DelayEstimate {
    pub delay_ns: i64,
    /// Pearson correlation at that lag (1 = the trace is the pattern, shifted).
    pub correlation: f64,
}

/// The channel's power on a regular grid (sample and hold; counters differentiated between samples).
fn power_on_grid(series: &ChannelSeries, from_ns: u64, step_ns: u64, points: usize) -> Option<Vec<f64>> {
    let (t, v) = (&series.t_ns, &series.value);
    if t.len() < 2 {
        return None;
    }
    let mut grid = Vec::with_capacity(points);
    let mut i = 0usize;
    for k in 0..points {
        let at = from_ns + k as u64 * step_ns;
        while i + 1 < t.len() && t[i + 1] <= at {
            i += 1;
        }
        let value = match series.info.kind {
            SampleKind::EnergyCounter => {
                // The rate over the sample interval that contains `at`.
                let j = (i + 1).min(t.len() - 1);
                if j == i || t[j] == t[i] {
                    f64::NAN
                } else {
                    (v[j] - v[i]) / ((t[j] - t[i]) as f64 * 1e-9)
                }
            }
            _ => v[i],
        };
        grid.push(value);
    }
    Some(grid)
}

fn pearson(a: &[f64], b: &[f64]) -> Option<f64> {
    let pairs: Vec<(f64, f64)> = a
        .iter()
        .zip(b)
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|(x, y)| (*x, *y))
        .collect();
    if pairs.len() < 8 {
        return None;
    }
    let n = pairs.len() as f64;
    let (ma, mb) = (
        pairs.iter().map(|p| p.0).sum::<f64>() / n,
        pairs.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (x, y) in pairs {
        cov += (x - ma) * (y - mb);
        va += (x - ma) * (x - ma);
        vb += (y - mb) * (y - mb);
    }
    (va > 0.0 && vb > 0.0).then(|| cov / (va * vb).sqrt())
}

/// Estimates the delay of `series` behind the load pattern (`busy` spans on the run clock), searching lags
/// from 0 to `max_lag_ns` in steps of `step_ns`. `None` when the trace does not follow the pattern at all.
pub fn estimate_delay(
    series: &ChannelSeries,
    busy: &[[u64; 2]],
    max_lag_ns: u64,
    step_ns: u64,
) -> Option<DelayEstimate> {
    let (first, last) = (busy.first()?[0], busy.last()?[1]);
    let step = step_ns.max(1);
    // The pattern plus an idle margin on each side, so the step into and out of the first and last bursts count.
    let margin = (last - first) / 8;
    let from = first.saturating_sub(margin);
    let points = ((last + margin - from) / step) as usize;
    let pattern: Vec<f64> = (0..points)
        .map(|k| {
            let at = from + k as u64 * step;
            if busy.iter().any(|[a, b]| at >= *a && at < *b) {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    let power = power_on_grid(series, from, step, points + (max_lag_ns / step) as usize + 1)?;
    let mut best: Option<DelayEstimate> = None;
    for lag in 0..=(max_lag_ns / step) as usize {
        let Some(correlation) = pearson(&pattern, &power[lag..lag + points]) else {
            continue;
        };
        if best.is_none_or(|b| correlation > b.correlation) {
            best = Some(DelayEstimate {
                delay_ns: (lag as u64 * step) as i64,
                correlation,
            });
        }
    }
    best.filter(|b| b.correlation > 0.5)
}

/// A load pattern: alternating busy and idle spans, each 3 to 6 `unit_ns` long, from a fixed seed, so it has
/// one clear correlation peak.
pub fn pattern_spans(start_ns: u64, unit_ns: u64, bursts: usize) -> Vec<[u64; 2]> {
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        3 + state % 4
    };
    let mut t = start_ns + unit_ns * next();
    let mut spans = Vec::with_capacity(bursts);
    for _ in 0..bursts {
        let busy = unit_ns * next();
        spans.push([t, t + busy]);
        t += busy + unit_ns * next();
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness_data::ChannelInfo;

    fn power_series(samples: Vec<(u64, Option<f64>)>, period: u64) -> ChannelSeries {
        let info = ChannelInfo {
            probe: "replay".into(),
            channel: "meter".into(),
            unit: "W".into(),
            kind: SampleKind::Power,
            resolution: 0.001,
            update_period_ns: period,
            estimated: false,
            scope: "machine".into(),
        };
        ChannelSeries::new(info, samples, 0).unwrap()
    }

    /// A meter sampled every `period` reporting the power the machine drew `delay` earlier: 2 W idle, 9 W busy.
    fn delayed_trace(busy: &[[u64; 2]], delay: u64, period: u64, until: u64) -> Vec<(u64, Option<f64>)> {
        (0..until / period)
            .map(|k| {
                let t = k * period;
                let seen = t.saturating_sub(delay);
                let watts = if busy.iter().any(|[a, b]| seen >= *a && seen < *b) {
                    9.0
                } else {
                    2.0
                };
                // A little deterministic noise, as a real meter's readings have.
                (t, Some(watts + ((k * 7919) % 13) as f64 * 0.01))
            })
            .collect()
    }

    #[test]
    fn recovers_an_injected_delay_within_one_sample_period() {
        let period = 100_000_000; // a 10 Hz serial meter
        let busy = pattern_spans(1_000_000_000, 100_000_000, 6);
        for delay in [0, 120_000_000, 250_000_000, 430_000_000] {
            let trace = delayed_trace(&busy, delay, period, busy.last().unwrap()[1] + 3_000_000_000);
            let series = power_series(trace, period);
            let estimate = estimate_delay(&series, &busy, 1_000_000_000, 10_000_000).unwrap();
            assert!(
                (estimate.delay_ns - delay as i64).unsigned_abs() <= period,
                "injected {delay}, estimated {estimate:?}"
            );
            assert!(estimate.correlation > 0.8);
        }
    }

    #[test]
    fn a_trace_that_ignores_the_pattern_gives_no_estimate() {
        let busy = pattern_spans(0, 50_000_000, 5);
        let flat = (0..200)
            .map(|k| (k * 20_000_000, Some(3.0 + ((k * 31) % 5) as f64 * 0.1)))
            .collect();
        assert_eq!(
            estimate_delay(&power_series(flat, 20_000_000), &busy, 500_000_000, 10_000_000),
            None
        );
    }

    #[test]
    fn patterns_alternate_with_bounded_spans() {
        let spans = pattern_spans(0, 10, 8);
        assert_eq!(spans.len(), 8);
        assert!(spans.windows(2).all(|w| w[1][0] > w[0][1]));
        assert!(spans.iter().all(|[a, b]| (30..=60).contains(&(b - a))));
    }
}
