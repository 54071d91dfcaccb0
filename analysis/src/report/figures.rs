//! The figures as data: which points each plot shows, in which unit. Plot data is thinned (evenly, by rank)
//! so a report over a hundred thousand rows stays light; the statistics use every row.

use super::energy::{channels, is_estimated, usable};
use super::format::{ENERGY_UNITS, TIME_UNITS, scale};
use super::gather::{Gathered, measured_ok};
use super::model::{BoxStats, Figure, FigureData, Series};
use crate::stats::describe::describe;
use harness_data::{CellKey, Mode};
use std::collections::BTreeMap;

const CDF_POINTS: usize = 300;
const SCATTER_POINTS: usize = 1000;
const TAIL_POINTS: usize = 200;

/// `k` evenly spaced picks from `n` items (all when `n <= k`).
fn picks(n: usize, k: usize) -> Vec<usize> {
    if n <= k {
        return (0..n).collect();
    }
    (0..k).map(|j| (j * (n - 1) + (k - 1) / 2) / (k - 1)).collect()
}

pub fn slug(parts: &[&str]) -> String {
    let raw = parts.join("-").to_lowercase();
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

/// Values this far apart (largest / smallest) are drawn on a log axis.
pub const LOG_AXIS_SPAN: f64 = 20.0;

/// Whether values span more than [`LOG_AXIS_SPAN`] and are all positive: a log axis shows them better.
pub fn spans_decades(values: impl Iterator<Item = f64>) -> bool {
    let (lo, hi) = values.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    lo > 0.0 && lo.is_finite() && hi / lo > LOG_AXIS_SPAN
}

fn log_label(log: bool) -> &'static str {
    if log { ", log scale" } else { "" }
}

fn median(values: &[f64]) -> f64 {
    crate::summary::median(values).unwrap_or(0.0)
}

pub(super) fn figures(latencies: &Latencies, energy: &EnergyPoints) -> Vec<Figure> {
    let mut out = Vec::new();
    for ((workload, input, mode), by_runtime) in latencies {
        let cell = format!("{workload} {input} {}", mode.as_str());
        let typical = by_runtime.values().map(|v| median(v)).fold(0.0, f64::max);
        let (unit, factor) = scale(typical, &TIME_UNITS);
        let log_x = spans_decades(by_runtime.values().flatten().copied());
        let cdf = by_runtime
            .iter()
            .map(|(runtime, values)| {
                let mut sorted = values.clone();
                sorted.sort_by(f64::total_cmp);
                let n = sorted.len();
                Series {
                    label: runtime.clone(),
                    // A step function: at each value the fraction rises from i/n to (i+1)/n.
                    points: picks(n, CDF_POINTS)
                        .into_iter()
                        .flat_map(|i| {
                            let x = sorted[i] / factor;
                            [[x, i as f64 / n as f64], [x, (i + 1) as f64 / n as f64]]
                        })
                        .collect(),
                }
            })
            .collect();
        out.push(Figure {
            id: slug(&["latency-cdf", workload, input, mode.as_str()]),
            title: format!("Latency CDF: {cell}"),
            x_label: format!("latency ({unit}){}", log_label(log_x)),
            y_label: "fraction of invocations".into(),
            log_x,
            data: FigureData::LatencyCdf { series: cdf },
        });
        let boxes = by_runtime
            .iter()
            .filter_map(|(runtime, values)| {
                let s = describe(values)?;
                let tails: Vec<f64> = values.iter().copied().filter(|v| *v < s.p5 || *v > s.p95).collect();
                Some(BoxStats {
                    label: runtime.clone(),
                    p5: s.p5 / factor,
                    p25: s.p25 / factor,
                    median: s.median / factor,
                    p75: s.p75 / factor,
                    p95: s.p95 / factor,
                    mean: s.mean / factor,
                    tail_points: picks(tails.len(), TAIL_POINTS)
                        .into_iter()
                        .map(|i| tails[i] / factor)
                        .collect(),
                })
            })
            .collect();
        out.push(Figure {
            id: slug(&["latency-distribution", workload, input, mode.as_str()]),
            title: format!("Latency distribution per runtime: {cell}"),
            x_label: format!("latency ({unit}){}", log_label(log_x)),
            y_label: "runtime".into(),
            log_x,
            data: FigureData::Distribution { boxes },
        });
    }
    for ((workload, input, mode, channel), (estimated, by_runtime)) in energy {
        let typical_t = by_runtime
            .values()
            .map(|p| median(&p.iter().map(|x| x[0]).collect::<Vec<_>>()))
            .fold(0.0, f64::max);
        let typical_e = by_runtime
            .values()
            .map(|p| median(&p.iter().map(|x| x[1]).collect::<Vec<_>>()))
            .fold(0.0, f64::max);
        let (t_unit, t_factor) = scale(typical_t, &TIME_UNITS);
        let (e_unit, e_factor) = scale(typical_e, &ENERGY_UNITS);
        let log_x = spans_decades(by_runtime.values().flatten().map(|p| p[0]));
        let log_y = spans_decades(by_runtime.values().flatten().map(|p| p[1]));
        let series = by_runtime
            .iter()
            .map(|(runtime, points)| Series {
                label: runtime.clone(),
                points: picks(points.len(), SCATTER_POINTS)
                    .into_iter()
                    .map(|i| [points[i][0] / t_factor, points[i][1] / e_factor])
                    .collect(),
            })
            .collect();
        let estimated_label = if *estimated { " (estimated)" } else { "" };
        out.push(Figure {
            id: slug(&["energy-scatter", workload, input, mode.as_str(), channel]),
            title: format!(
                "Energy vs latency, {channel}{estimated_label}: {workload} {input} {}",
                mode.as_str()
            ),
            x_label: format!("latency ({t_unit}){}", log_label(log_x)),
            y_label: format!(
                "gross energy per invocation ({e_unit}){estimated_label}{}",
                log_label(log_y)
            ),
            log_x,
            data: FigureData::EnergyScatter { series, log_y },
        });
    }
    out
}

/// Per (workload, input, mode), per runtime: ok latencies in ns.
pub(super) type Latencies = BTreeMap<(String, String, Mode), BTreeMap<String, Vec<f64>>>;
/// Per (workload, input, mode, probe/channel), per runtime: (latency ns, gross J per invocation) and whether estimated.
pub(super) type EnergyPoints = BTreeMap<(String, String, Mode, String), (bool, BTreeMap<String, Vec<[f64; 2]>>)>;

pub(super) fn gathered_latencies(gathered: &BTreeMap<CellKey, Gathered>) -> Latencies {
    let mut out: Latencies = BTreeMap::new();
    for (k, g) in gathered {
        let values: Vec<f64> = measured_ok(g).map(|(_, r)| r.latency_ns as f64).collect();
        if !values.is_empty() {
            out.entry((k.workload.clone(), k.input.clone(), k.mode))
                .or_default()
                .insert(k.runtime.clone(), values);
        }
    }
    out
}

pub(super) fn gathered_energy(gathered: &BTreeMap<CellKey, Gathered>) -> EnergyPoints {
    let mut out: EnergyPoints = BTreeMap::new();
    for (k, g) in gathered {
        for ((probe, channel), rows) in channels(g) {
            let points: Vec<[f64; 2]> = rows
                .iter()
                .filter_map(|(_, r)| usable(r).map(|e| [r.latency_ns, e]))
                .collect();
            if points.is_empty() {
                continue;
            }
            let entry = out
                .entry((
                    k.workload.clone(),
                    k.input.clone(),
                    k.mode,
                    format!("{probe}/{channel}"),
                ))
                .or_default();
            entry.0 |= rows.iter().any(|(_, r)| is_estimated(r));
            entry.1.insert(k.runtime.clone(), points);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_are_even_and_keep_both_ends() {
        assert_eq!(picks(3, 5), vec![0, 1, 2]);
        let p = picks(1000, 5);
        assert_eq!((p[0], p[4]), (0, 999));
        assert!(p.windows(2).all(|w| w[0] < w[1]));
    }

    /// Energy points of one (workload, input, mode, channel): per runtime, latencies (ns) and energies (J).
    fn scatter(native_j: f64, wasmi_j: f64) -> Figure {
        let points = |t: f64, e: f64| (0..10).map(|i| [t * (1.0 + i as f64 / 100.0), e]).collect();
        let by_runtime = [("native", points(1e6, native_j)), ("wasmi", points(2e6, wasmi_j))]
            .map(|(r, p)| (r.to_string(), p))
            .into();
        let energy: EnergyPoints = [(
            ("w".into(), "i".into(), Mode::Warm, "rapl/package-0".into()),
            (false, by_runtime),
        )]
        .into();
        figures(&Latencies::new(), &energy).remove(0)
    }

    #[test]
    fn the_energy_axis_turns_logarithmic_past_20x() {
        let spread = scatter(0.001, 0.5);
        assert!(matches!(spread.data, FigureData::EnergyScatter { log_y: true, .. }));
        assert!(spread.y_label.ends_with(", log scale"), "{}", spread.y_label);
        // Latency spans 2x only: its axis stays linear.
        assert!(!spread.log_x && !spread.x_label.contains("log"));
        let close = scatter(0.001, 0.015);
        assert!(matches!(close.data, FigureData::EnergyScatter { log_y: false, .. }));
        assert!(!close.y_label.contains("log"));
        // Both draw; the log axis is labelled with the values (mJ here), not their logarithms.
        let svg = crate::report::plots::render_svg(&spread).unwrap();
        let ticks: Vec<&str> = svg.lines().map(str::trim).collect();
        assert!(
            ticks.contains(&"1") && ticks.contains(&"10") && ticks.contains(&"100"),
            "decade ticks in mJ"
        );
        crate::report::plots::render_svg(&close).unwrap();
        assert!(spans_decades([1.0, 21.0].into_iter()) && !spans_decades([1.0, 20.0].into_iter()));
        assert!(!spans_decades([0.0, 100.0].into_iter()) && !spans_decades(std::iter::empty()));
    }

    #[test]
    fn units_and_slugs() {
        assert_eq!(scale(350_000.0, &TIME_UNITS), ("µs", 1e3));
        assert_eq!(scale(12.0, &TIME_UNITS), ("ns", 1.0));
        assert_eq!(scale(0.002, &ENERGY_UNITS), ("mJ", 1e-3));
        assert_eq!(
            slug(&["latency-cdf", "transfer", "2MiB", "warm"]),
            "latency-cdf-transfer-2mib-warm"
        );
    }
}
