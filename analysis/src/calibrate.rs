//! Delay calibration: how late a probe's trace follows the load the harness put on the machine.
//!
//! The harness plays a known pattern of CPU bursts at the start of a run; the probe's power (or, for
//! counters, its rate) is cross-correlated with the pattern at every lag up to `max_lag_ns`, and the lag with
//! the highest correlation is the probe's delay. Serial meters and NVML typically lag by tens to hundreds of
//! milliseconds; subtracting the delay puts their samples back on the invocations' clock.

use crate::align::ChannelSeries;
use harness_data::{ChannelInfo, SampleKind};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DelayEstimate {
    pub delay_ns: i64,
    /// Pearson correlation at that lag (1 = the trace is the pattern, shifted).
    pub correlation: f64,
}

/// The channel's power on a regular grid, from a trace reconstructed as attribution reads it (align.rs):
/// power channels are interpolated linearly between samples; counters are interpolated linearly too, and the
/// grid value is the mean power over the grid cell centred on the point. Holding each sample instead would
/// shift the trace late by half a sample period on average and bias the delay by as much. NaN where the
/// trace has a gap or does not cover the point.
fn power_on_grid(series: &ChannelSeries, from_ns: u64, step_ns: u64, points: usize) -> Option<Vec<f64>> {
    let (t, v) = (&series.t_ns, &series.value);
    if t.len() < 2 {
        return None;
    }
    // `i`: the last sample at or before the point asked for (moves forward only: linear in samples + points).
    let mut i = 0usize;
    let mut at = |x: u64| -> f64 {
        while i + 1 < t.len() && t[i + 1] <= x {
            i += 1;
        }
        if x < t[i] || i + 1 >= t.len() && x > t[i] {
            return f64::NAN;
        }
        let (t0, v0) = (t[i], v[i]);
        match (t.get(i + 1), v.get(i + 1)) {
            (Some(&t1), Some(&v1)) if t1 > t0 => v0 + (v1 - v0) * (x - t0) as f64 / (t1 - t0) as f64,
            _ => v0,
        }
    };
    let grid = match series.info.kind {
        SampleKind::EnergyCounter => {
            let half = step_ns / 2;
            let mut prev = at((from_ns).saturating_sub(half));
            (0..points)
                .map(|k| {
                    let edge = from_ns + k as u64 * step_ns + (step_ns - half);
                    let next = at(edge);
                    let rate = (next - prev) / (step_ns as f64 * 1e-9);
                    prev = next;
                    rate
                })
                .collect()
        }
        _ => (0..points).map(|k| at(from_ns + k as u64 * step_ns)).collect(),
    };
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
/// up to `max_lag_ns` in steps of `step_ns` and refining the best one below a step by a parabola through the
/// correlations around it. `None` when the trace does not follow the pattern at all.
///
/// The search also reaches one sample period (at least two steps) below zero: a probe cannot be early, but an
/// estimate from sampled data scatters around the true delay either way, and cutting it off at zero would
/// bias small delays late. So a probe with no delay may get a slightly negative estimate.
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
    let early_steps = (series.info.update_period_ns.max(2 * step) / step).min(from / step) as usize;
    let lags = early_steps + (max_lag_ns / step) as usize + 1;
    let power = power_on_grid(series, from - early_steps as u64 * step, step, points + lags)?;
    let correlations: Vec<Option<f64>> = (0..lags).map(|k| pearson(&pattern, &power[k..k + points])).collect();
    let (best, peak) = correlations
        .iter()
        .enumerate()
        .filter_map(|(k, c)| Some((k, (*c)?)))
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    // Vertex of the parabola through the peak and its neighbours, within half a step of the peak.
    let offset = match (
        best.checked_sub(1).and_then(|k| correlations[k]),
        correlations.get(best + 1).copied().flatten(),
    ) {
        (Some(before), Some(after)) => {
            let curvature = before - 2.0 * peak + after;
            if curvature < 0.0 {
                (0.5 * (before - after) / curvature).clamp(-0.5, 0.5)
            } else {
                0.0
            }
        }
        _ => 0.0,
    };
    let lag_steps = best as f64 - early_steps as f64 + offset;
    Some(DelayEstimate {
        delay_ns: (lag_steps * step as f64).round() as i64,
        correlation: peak,
    })
    .filter(|b| b.correlation > 0.5)
}

/// A load pattern: alternating busy and idle spans, each 3 to 6 `unit_ns` long in eighths of a unit, from a
/// fixed seed, so it has one clear correlation peak. The eighths put the edges at different phases of a probe
/// that samples once per unit, so the errors of locating each edge from its samples average out within one run
/// instead of all being the same.
pub fn pattern_spans(start_ns: u64, unit_ns: u64, bursts: usize) -> Vec<[u64; 2]> {
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        unit_ns * (24 + state % 25) / 8
    };
    let mut t = start_ns + next();
    let mut spans = Vec::with_capacity(bursts);
    for _ in 0..bursts {
        let busy = next();
        spans.push([t, t + busy]);
        t += busy + next();
    }
    spans
}

/// The pattern's time unit: the coarsest channel's update period, at least 50 ms.
pub fn calibration_unit_ns(channels: &[ChannelInfo]) -> u64 {
    channels
        .iter()
        .map(|c| c.update_period_ns)
        .max()
        .unwrap_or(0)
        .max(50_000_000)
}

/// The longest delay looked for (and idled for after the pattern): ten units, at most 2 s.
pub fn max_lag_ns(unit_ns: u64) -> u64 {
    (unit_ns * 10).min(2_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn power_series(samples: Vec<(u64, Option<f64>)>, period: u64) -> ChannelSeries {
        let info = ChannelInfo {
            probe: "replay".into(),
            channel: "meter".into(),
            unit: harness_data::Unit::Watt,
            kind: SampleKind::Power,
            resolution: 0.001,
            update_period_ns: period,
            estimated: false,
            scope: harness_data::Scope::Machine,
        };
        ChannelSeries::new(info, samples, 0)
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

    /// An instantaneous 10 Hz meter (a reading every 100 ms from a random phase) behind a known delay: 20
    /// seeded trials per delay. Any one trial is off by up to half a sample period (where the samples fall
    /// around the edges), but the estimates must not lean either way: their mean is within 10 ms of the truth.
    /// And as the pattern's edges fall at different phases of the meter, no trial is off by 30 ms or more.
    #[test]
    fn estimates_are_unbiased_for_a_sampled_meter() {
        use rand::{Rng, SeedableRng};
        let period = 100_000_000u64;
        let busy = pattern_spans(1_000_000_000, period, 6);
        let until = busy.last().unwrap()[1] + 3_000_000_000;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20);
        for delay in [0u64, 120_000_000] {
            let trials = 20;
            let errors: Vec<f64> = (0..trials)
                .map(|_| {
                    let phase = rng.random_range(0..period);
                    let trace = (0..until / period)
                        .map(|k| {
                            let t = phase + k * period;
                            let seen = t.saturating_sub(delay);
                            let busy_now = busy.iter().any(|[a, b]| seen >= *a && seen < *b);
                            let watts = if busy_now { 9.0 } else { 2.0 } + rng.random_range(-0.05..0.05);
                            (t, Some(watts))
                        })
                        .collect();
                    let estimate = estimate_delay(&power_series(trace, period), &busy, 1_000_000_000, 5_000_000)
                        .expect("the trace follows the pattern");
                    (estimate.delay_ns - delay as i64) as f64 / 1e6
                })
                .collect();
            let mean = errors.iter().sum::<f64>() / trials as f64;
            assert!(
                mean.abs() < 10.0,
                "delay {delay}: mean error {mean:.1} ms over {errors:?}"
            );
            assert!(
                errors.iter().all(|e| e.abs() < 30.0),
                "delay {delay}: errors {errors:?}"
            );
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
