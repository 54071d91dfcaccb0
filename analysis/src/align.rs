//! Alignment: energy per invocation from samples on the same clock.
//!
//! - Cumulative counters: the counter is interpolated linearly at each window edge between the samples around
//!   it; energy = E(end) - E(start). A counter that did not move across the window is `below_resolution`,
//!   never zero joules.
//! - Power samples: trapezoid integration of the piecewise-linear power, clipped to the window.
//! - Windows (invocations or batch windows) are sorted and disjoint, so one forward sweep per channel covers
//!   them all: linear in samples + windows.

use harness_data::{ChannelInfo, EnergyQuality, SampleKind, SampleRecord, Unit};

/// (probe, channel).
type ChannelKey = (String, String);

/// One channel's samples, sorted by time. Gap samples are kept as markers: their positions matter.
#[derive(Debug, Clone)]
pub struct ChannelSeries {
    pub info: ChannelInfo,
    /// Joules (counters) or watts (power) per unit of the channel.
    pub scale: f64,
    pub t_ns: Vec<u64>,
    /// In SI units (J or W); NaN for a gap.
    pub value: Vec<f64>,
    /// gaps_before[i] = number of gap markers among samples 0..i (for O(1) "any gap in this span").
    gaps_before: Vec<u32>,
}

impl ChannelSeries {
    /// Builds a series from the channel's rows (any order); `delay_ns` (a probe's measured latency) is
    /// subtracted from every timestamp.
    pub fn new(info: ChannelInfo, mut rows: Vec<(u64, Option<f64>)>, delay_ns: i64) -> ChannelSeries {
        let scale = info.unit.si_scale();
        rows.sort_by_key(|(t, _)| *t);
        let mut gaps_before = Vec::with_capacity(rows.len() + 1);
        let mut gaps = 0u32;
        let (mut t_ns, mut value) = (Vec::with_capacity(rows.len()), Vec::with_capacity(rows.len()));
        for (t, v) in rows {
            gaps_before.push(gaps);
            if v.is_none() {
                gaps += 1;
            }
            t_ns.push((t as i64 - delay_ns).max(0) as u64);
            value.push(v.map_or(f64::NAN, |v| v * scale));
        }
        gaps_before.push(gaps);
        ChannelSeries {
            info,
            scale,
            t_ns,
            value,
            gaps_before,
        }
    }

    /// Groups samples.csv rows by channel. `channels` supplies each channel's declared info (from the
    /// manifest); channels without one get an info inferred from their rows.
    pub fn from_records(
        records: &[SampleRecord],
        channels: &[ChannelInfo],
        delay_ns: impl Fn(&str) -> i64,
    ) -> Vec<ChannelSeries> {
        let mut grouped: std::collections::BTreeMap<ChannelKey, Vec<(u64, Option<f64>)>> = Default::default();
        let mut units: std::collections::BTreeMap<ChannelKey, (Unit, SampleKind)> = Default::default();
        for r in records {
            let key = (r.probe.clone(), r.channel.clone());
            grouped
                .entry(key.clone())
                .or_default()
                .push((r.t_ns, if r.kind == SampleKind::Gap { None } else { r.value }));
            if r.kind != SampleKind::Gap {
                units.entry(key).or_insert((r.unit, r.kind));
            }
        }
        grouped
            .into_iter()
            .map(|((probe, channel), rows)| {
                let info = channels
                    .iter()
                    .find(|c| c.probe == probe && c.channel == channel)
                    .cloned()
                    .unwrap_or_else(|| {
                        let (unit, kind) = units
                            .get(&(probe.clone(), channel.clone()))
                            .cloned()
                            .unwrap_or((Unit::Watt, SampleKind::Power));
                        ChannelInfo {
                            probe: probe.clone(),
                            channel: channel.clone(),
                            unit,
                            kind,
                            resolution: 0.0,
                            update_period_ns: 0,
                            estimated: false,
                            scope: harness_data::Scope::Machine,
                        }
                    });
                let delay = delay_ns(&probe);
                ChannelSeries::new(info, rows, delay)
            })
            .collect()
    }

    fn has_gap(&self, from: usize, to_inclusive: usize) -> bool {
        self.gaps_before[to_inclusive + 1] > self.gaps_before[from]
    }
}

/// A span of time to attribute energy to: one invocation, or a batch window of `count` invocations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub start_ns: u64,
    pub end_ns: u64,
    pub count: u32,
}

/// Energy attributed to one window by one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribution {
    /// Energy of the whole window, joules; `None` when it cannot be told (gap, below resolution).
    pub window_j: Option<f64>,
    pub samples: u32,
    pub quality: EnergyQuality,
    /// Resolution bound on `window_j`, joules.
    pub uncertainty_j: Option<f64>,
}

/// Samples further apart than this many update periods leave a hole: the windows around it are gaps.
pub const HOLE_PERIODS: u64 = 3;

/// Attributes energy to every window (sorted by start, not overlapping) in one sweep.
pub fn attribute(series: &ChannelSeries, windows: &[Window]) -> Vec<Attribution> {
    let n = series.t_ns.len();
    let mut out = Vec::with_capacity(windows.len());
    // `lo`: the last sample at or before the current window's start (moves forward only).
    let mut lo = 0usize;
    let resolution_j = series.info.resolution * series.scale;
    let period = series.info.update_period_ns;
    for w in windows {
        while lo + 1 < n && series.t_ns[lo + 1] <= w.start_ns {
            lo += 1;
        }
        // The first sample at or after the end.
        let mut hi = lo;
        while hi < n && series.t_ns[hi] < w.end_ns {
            hi += 1;
        }
        let gap = |reason_ok: bool| Attribution {
            window_j: None,
            samples: 0,
            quality: if reason_ok {
                EnergyQuality::BelowResolution
            } else {
                EnergyQuality::Gap
            },
            uncertainty_j: None,
        };
        if n == 0
            || series.t_ns[lo] > w.start_ns
            || hi >= n
            || series.has_gap(lo, hi)
            || series.value[lo].is_nan()
            || series.value[hi].is_nan()
        {
            out.push(gap(false));
            continue;
        }
        let spacing = |i: usize| series.t_ns[i + 1] - series.t_ns[i];
        let samples = series.t_ns[lo..=hi]
            .iter()
            .filter(|&&t| t >= w.start_ns && t <= w.end_ns)
            .count() as u32;
        let result = match series.info.kind {
            SampleKind::EnergyCounter => counter_energy(series, lo, hi, w),
            _ => Some(power_energy(series, lo, hi, w)),
        };
        let duration_s = (w.end_ns - w.start_ns) as f64 * 1e-9;
        // Each edge can be off by one counter step, or by what the power moves over the actual spacing of the
        // samples around it (not the declared period: sensors skip).
        let edge_spacing_ns = if hi > lo {
            spacing(lo).max(spacing(hi - 1))
        } else {
            period
        };
        let below = |window_j: Option<f64>| Attribution {
            window_j,
            samples,
            quality: EnergyQuality::BelowResolution,
            uncertainty_j: Some(
                2.0 * resolution_j
                    .max(window_j.unwrap_or(0.0).abs() / duration_s.max(1e-12) * edge_spacing_ns as f64 * 1e-9),
            ),
        };
        // A counter that did not move, or a window shorter than the sensor updates, cannot be resolved however
        // well it was sampled (kept here; paired rows leave the value blank).
        if result.is_none() || (w.end_ns - w.start_ns) < period {
            out.push(below(result));
            continue;
        }
        // Samples more than `HOLE_PERIODS` update periods apart: the sensor skipped, so what happened in between
        // cannot be told even without gap rows. Power is integrated across the whole window, so a hole anywhere
        // counts; a counter's difference stays exact across a hole inside, so only the edge segments, where it
        // is interpolated, count.
        let widest = match series.info.kind {
            SampleKind::EnergyCounter if hi > lo => edge_spacing_ns,
            _ => (lo..hi).map(spacing).max().unwrap_or(0),
        };
        if period > 0 && widest > HOLE_PERIODS * period {
            out.push(gap(false));
            continue;
        }
        // No sample inside or at the edges: the value is only an interpolation between readings outside.
        if samples == 0 {
            out.push(below(result));
            continue;
        }
        let window_j = result.unwrap_or(0.0);
        let edge_j = resolution_j.max(window_j.abs() / duration_s.max(1e-12) * edge_spacing_ns as f64 * 1e-9);
        // Whether the channel is a model is said by `estimated`, beside the quality, never instead of it.
        let quality = EnergyQuality::Ok;
        out.push(Attribution {
            window_j: Some(window_j),
            samples,
            quality,
            uncertainty_j: Some(2.0 * edge_j),
        });
    }
    out
}

/// Linear interpolation of the series at `t`, between samples `i` and `i + 1`.
fn interpolate(series: &ChannelSeries, i: usize, t: u64) -> f64 {
    let (t0, v0) = (series.t_ns[i], series.value[i]);
    match (series.t_ns.get(i + 1), series.value.get(i + 1)) {
        (Some(&t1), Some(&v1)) if t1 > t0 => v0 + (v1 - v0) * (t.saturating_sub(t0)) as f64 / (t1 - t0) as f64,
        _ => v0,
    }
}

/// `None` when the counter did not move between the samples bracketing the window: below resolution.
fn counter_energy(series: &ChannelSeries, lo: usize, hi: usize, w: &Window) -> Option<f64> {
    if series.value[hi] == series.value[lo] {
        return None;
    }
    // The sample just before the end bounds the last segment.
    let end_segment = hi.saturating_sub(1).max(lo);
    let energy = interpolate(series, end_segment, w.end_ns) - interpolate(series, lo, w.start_ns);
    Some(energy.max(0.0))
}

/// Trapezoid integral of power over the window, the power interpolated at the edges.
fn power_energy(series: &ChannelSeries, lo: usize, hi: usize, w: &Window) -> f64 {
    let mut energy = 0.0;
    let mut t_prev = w.start_ns;
    let mut p_prev = interpolate(series, lo, w.start_ns);
    for i in lo + 1..=hi {
        let (t, p) = if series.t_ns[i] >= w.end_ns {
            (w.end_ns, interpolate(series, i - 1, w.end_ns))
        } else {
            (series.t_ns[i], series.value[i])
        };
        energy += 0.5 * (p + p_prev) * (t - t_prev) as f64 * 1e-9;
        t_prev = t;
        p_prev = p;
        if t == w.end_ns {
            break;
        }
    }
    energy
}

/// Mean power of a channel over a span (for baselines); `None` without clean samples around it.
pub fn mean_power(series: &ChannelSeries, from_ns: u64, to_ns: u64) -> Option<f64> {
    if to_ns <= from_ns {
        return None;
    }
    let window = Window {
        start_ns: from_ns,
        end_ns: to_ns,
        count: 1,
    };
    let a = attribute(series, &[window]).pop()?;
    a.window_j.map(|j| j / ((to_ns - from_ns) as f64 * 1e-9))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(kind: SampleKind, unit: &str, period: u64) -> ChannelInfo {
        let unit: Unit = serde_json::from_value(serde_json::json!(unit)).unwrap();
        ChannelInfo {
            probe: "p".into(),
            channel: "c".into(),
            unit,
            kind,
            resolution: 1.0,
            update_period_ns: period,
            estimated: false,
            scope: harness_data::Scope::Machine,
        }
    }

    /// A counter in uJ sampled every 1000 ns, reading 1000 i uJ at t = 1000 i ns: 1 uJ/ns, i.e. 1000 W.
    fn kilowatt_counter() -> ChannelSeries {
        let rows = (0..=100).map(|i| (i * 1000, Some(i as f64 * 1000.0))).collect();
        ChannelSeries::new(info(SampleKind::EnergyCounter, "uJ", 1000), rows, 0)
    }

    #[test]
    fn counters_interpolate_at_window_edges() {
        let series = kilowatt_counter();
        let out = attribute(
            &series,
            &[
                Window {
                    start_ns: 1500,
                    end_ns: 4500,
                    count: 1,
                },
                Window {
                    start_ns: 10_000,
                    end_ns: 20_000,
                    count: 1,
                },
            ],
        );
        assert!((out[0].window_j.unwrap() - 3000e-6).abs() < 1e-12, "{:?}", out[0]);
        assert_eq!(out[0].samples, 3);
        assert_eq!(out[0].quality, EnergyQuality::Ok);
        assert!((out[1].window_j.unwrap() - 10_000e-6).abs() < 1e-12);
    }

    #[test]
    fn a_flat_counter_is_below_resolution_not_zero() {
        let rows = vec![(0, Some(5.0)), (1000, Some(5.0)), (2000, Some(5.0))];
        let series = ChannelSeries::new(info(SampleKind::EnergyCounter, "uJ", 1000), rows, 0);
        let out = attribute(
            &series,
            &[Window {
                start_ns: 100,
                end_ns: 1900,
                count: 1,
            }],
        );
        assert_eq!(out[0].window_j, None);
        assert_eq!(out[0].quality, EnergyQuality::BelowResolution);
    }

    #[test]
    fn gaps_and_missing_brackets_are_gaps() {
        let rows = vec![(0, Some(0.0)), (1000, None), (2000, Some(2.0)), (3000, Some(3.0))];
        let series = ChannelSeries::new(info(SampleKind::EnergyCounter, "J", 500), rows, 0);
        let out = attribute(
            &series,
            &[
                Window {
                    start_ns: 500,
                    end_ns: 1500,
                    count: 1,
                },
                Window {
                    start_ns: 2000,
                    end_ns: 2900,
                    count: 1,
                },
                Window {
                    start_ns: 2950,
                    end_ns: 5000,
                    count: 1,
                },
            ],
        );
        assert_eq!(out[0].quality, EnergyQuality::Gap);
        assert_eq!(out[1].quality, EnergyQuality::Ok);
        assert!((out[1].window_j.unwrap() - 0.9).abs() < 1e-12);
        assert_eq!(out[2].quality, EnergyQuality::Gap, "no sample after the end");
    }

    #[test]
    fn power_is_integrated_with_trapezoids_clipped_to_the_window() {
        // Power ramps 0 W at 0 s to 10 W at 10 s (mW samples each second).
        let rows = (0..=10).map(|s| (s * 1_000_000_000, Some(s as f64 * 1000.0))).collect();
        let series = ChannelSeries::new(info(SampleKind::Power, "mW", 1_000_000_000), rows, 0);
        // Integral of P = t over [2.5, 7.5] s is (7.5^2 - 2.5^2) / 2 = 25 J.
        let out = attribute(
            &series,
            &[Window {
                start_ns: 2_500_000_000,
                end_ns: 7_500_000_000,
                count: 1,
            }],
        );
        assert!((out[0].window_j.unwrap() - 25.0).abs() < 1e-9, "{:?}", out[0]);
        // Inside one sample interval: (3.4^2 - 3.2^2) / 2 = 0.66 J, but shorter than the update period.
        let out = attribute(
            &series,
            &[Window {
                start_ns: 3_200_000_000,
                end_ns: 3_400_000_000,
                count: 1,
            }],
        );
        assert!((out[0].window_j.unwrap() - 0.66).abs() < 1e-9);
        assert_eq!(out[0].quality, EnergyQuality::BelowResolution);
        assert!((mean_power(&series, 0, 10_000_000_000).unwrap() - 5.0).abs() < 1e-9);
    }

    #[test]
    fn samples_too_far_apart_make_a_hole() {
        // Declared every 1000 ns, but the sensor skipped from 3000 to 7000 (4 periods).
        let rows = vec![
            (0, Some(0.0)),
            (1000, Some(1.0)),
            (2000, Some(2.0)),
            (3000, Some(3.0)),
            (7000, Some(7.0)),
            (8000, Some(8.0)),
            (9000, Some(9.0)),
        ];
        let series = ChannelSeries::new(info(SampleKind::EnergyCounter, "J", 1000), rows, 0);
        let window = |start_ns, end_ns| Window {
            start_ns,
            end_ns,
            count: 1,
        };
        let out = attribute(&series, &[window(500, 2500), window(3500, 6500), window(7000, 9000)]);
        assert_eq!(out[0].quality, EnergyQuality::Ok);
        assert_eq!(
            out[1].quality,
            EnergyQuality::Gap,
            "inside the hole, without any gap row"
        );
        assert_eq!(out[2].quality, EnergyQuality::Ok);
        // A counter's difference is exact across a hole inside the window: only its edges are interpolated.
        let across = attribute(&series, &[window(2500, 7500)]);
        assert_eq!(across[0].quality, EnergyQuality::Ok);
        assert!((across[0].window_j.unwrap() - 5.0).abs() < 1e-12);
        // Power is integrated through the hole, so there a hole anywhere in the window is a gap.
        let power_rows = vec![
            (0, Some(1.0)),
            (1000, Some(1.0)),
            (2000, Some(1.0)),
            (6000, Some(1.0)),
            (7000, Some(1.0)),
        ];
        let power = ChannelSeries::new(info(SampleKind::Power, "W", 1000), power_rows, 0);
        assert_eq!(attribute(&power, &[window(500, 6500)])[0].quality, EnergyQuality::Gap);
        // Exactly 3 periods apart is still whole.
        let rows = vec![(0, Some(0.0)), (3000, Some(3.0)), (4000, Some(4.0))];
        let series = ChannelSeries::new(info(SampleKind::EnergyCounter, "J", 1000), rows, 0);
        assert_eq!(attribute(&series, &[window(1000, 3500)])[0].quality, EnergyQuality::Ok);
    }

    #[test]
    fn uncertainty_follows_the_actual_spacing_and_empty_windows_are_below_resolution() {
        // 1 W as a counter in J, declared every 1000 ns; samples 1000 ns apart, then 2500 ns apart.
        let dense = vec![
            (0, Some(0.0)),
            (1000, Some(1e-6)),
            (2000, Some(2e-6)),
            (3000, Some(3e-6)),
        ];
        let sparse = vec![
            (0, Some(0.0)),
            (2500, Some(2.5e-6)),
            (5000, Some(5e-6)),
            (7500, Some(7.5e-6)),
        ];
        let window = |start_ns, end_ns| Window {
            start_ns,
            end_ns,
            count: 1,
        };
        let mut i = info(SampleKind::EnergyCounter, "J", 1000);
        i.resolution = 0.0;
        let dense = attribute(&ChannelSeries::new(i.clone(), dense, 0), &[window(500, 2500)]);
        let sparse = attribute(&ChannelSeries::new(i.clone(), sparse, 0), &[window(2000, 5500)]);
        let (d, s) = (dense[0].uncertainty_j.unwrap(), sparse[0].uncertainty_j.unwrap());
        assert!((d - 2e-6).abs() < 1e-12, "{d}");
        assert!((s - 5e-6).abs() < 1e-12, "{s}");
        // A window between two samples, longer than the period, with no sample inside: below resolution.
        let only_edges = vec![(0, Some(0.0)), (2500, Some(2.5e-6)), (5000, Some(5e-6))];
        let out = attribute(&ChannelSeries::new(i, only_edges, 0), &[window(2600, 4900)]);
        assert_eq!(out[0].samples, 0);
        assert_eq!(out[0].quality, EnergyQuality::BelowResolution);
    }

    #[test]
    fn a_probe_delay_shifts_samples_back() {
        let rows = vec![(1000, Some(0.0)), (2000, Some(1.0)), (3000, Some(2.0))];
        let series = ChannelSeries::new(info(SampleKind::EnergyCounter, "J", 100), rows, 1000);
        assert_eq!(series.t_ns, vec![0, 1000, 2000]);
    }

    #[test]
    fn the_sweep_is_linear_and_matches_per_window_results() {
        let series = kilowatt_counter();
        let windows: Vec<Window> = (0..40)
            .map(|i| Window {
                start_ns: 1000 + i * 2000,
                end_ns: 1000 + i * 2000 + 1500,
                count: 1,
            })
            .collect();
        let together = attribute(&series, &windows);
        for (w, a) in windows.iter().zip(&together) {
            assert_eq!(&attribute(&series, std::slice::from_ref(w))[0], a);
        }
    }
}
