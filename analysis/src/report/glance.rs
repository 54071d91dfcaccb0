//! The results at a glance: the matrix a paper needs, built from the report's comparisons (per mode and
//! metric: workloads and inputs down, runtimes across, ratio of medians with its interval and verdict), and the
//! colour scale the HTML report paints its cells with.

use super::model::*;
use crate::run::Run;
use harness_data::Mode;
use std::collections::{BTreeMap, BTreeSet};

/// Position of `name` in `order`, names not in it after every listed one (then by name, as the caller sorts).
fn rank(order: &[String], name: &str) -> usize {
    order.iter().position(|o| o == name).unwrap_or(usize::MAX)
}

/// The plan's order of workloads, (workload, input) pairs and runtimes, over the runs in order.
struct PlanOrder {
    cells: Vec<(String, String)>,
    runtimes: Vec<String>,
}

impl PlanOrder {
    fn of(runs: &[Run]) -> Self {
        let (mut cells, mut runtimes) = (Vec::new(), Vec::new());
        for run in runs {
            let plan = &run.manifest.plan;
            for w in &plan.workloads {
                for input in &w.inputs {
                    let cell = (w.name.clone(), input.clone());
                    if !cells.contains(&cell) {
                        cells.push(cell);
                    }
                }
            }
            for r in plan.runtime_names() {
                if !runtimes.contains(&r) {
                    runtimes.push(r);
                }
            }
        }
        PlanOrder { cells, runtimes }
    }

    fn cell_rank(&self, workload: &str, input: &str) -> (usize, usize) {
        let by_cell = self
            .cells
            .iter()
            .position(|(w, i)| w == workload && i == input)
            .unwrap_or(usize::MAX);
        let by_workload = self.cells.iter().position(|(w, _)| w == workload).unwrap_or(usize::MAX);
        (by_workload, by_cell)
    }
}

/// The matrix key of a metric: energy tables are per (probe, channel), whatever each comparison's flags.
fn metric_key(metric: &Metric) -> Option<(String, String)> {
    match metric {
        Metric::Latency => None,
        Metric::Energy { probe, channel, .. } => Some((probe.clone(), channel.clone())),
    }
}

/// "24 unseen, 2 low_busy_share" left out, where a side's energy rows were all flagged.
fn left_out(c: &Comparison) -> Option<String> {
    if c.ratio_of_medians.is_some() || !matches!(c.metric, Metric::Energy { .. }) {
        return None;
    }
    // A side with a minority of usable units says so in the comparison's note ("wasmi: 9 of 10 below
    // resolution"); sides wholly flagged are counted by flag below.
    if let Some(note) = c
        .verdict_note
        .as_deref()
        .and_then(|n| n.strip_prefix("energy left out: "))
        && note.split("; ").any(|part| !part.contains(" rows flagged ("))
    {
        return Some(note.to_owned());
    }
    let mut flags: BTreeMap<&str, usize> = BTreeMap::new();
    for (side, n) in [
        (&c.flagged_candidate, c.n_candidate),
        (&c.flagged_baseline, c.n_baseline),
    ] {
        if n == 0 {
            for (flag, count) in side {
                *flags.entry(flag).or_default() += count;
            }
        }
    }
    (!flags.is_empty()).then(|| {
        flags
            .iter()
            .map(|(flag, count)| format!("{count} {flag}"))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// The baseline's median in a row: latency (ns) or gross energy per invocation (J) on the metric's channel.
fn baseline_median(
    groups: &[GroupReport],
    baseline: &str,
    workload: &str,
    input: &str,
    mode: Mode,
    metric: &Metric,
) -> Option<f64> {
    let g = groups.iter().find(|g| {
        g.key.runtime == baseline && g.key.workload == workload && g.key.input == input && g.key.mode == mode
    })?;
    match metric {
        Metric::Latency => g.latency_ns.as_ref().map(|s| s.median),
        Metric::Energy { probe, channel, .. } => g
            .energy
            .iter()
            .find(|e| &e.probe == probe && &e.channel == channel)
            .and_then(|e| e.gross_j.as_ref())
            .map(|s| s.median),
    }
}

/// One table per mode (cold, then warm) and metric (latency, then each energy channel by name).
pub fn glance_tables(
    runs: &[Run],
    baseline: &str,
    groups: &[GroupReport],
    comparisons: &[Comparison],
) -> Vec<GlanceTable> {
    let order = PlanOrder::of(runs);
    type Key = (Mode, Option<(String, String)>);
    let mut by_table: BTreeMap<Key, Vec<&Comparison>> = BTreeMap::new();
    for c in comparisons {
        by_table.entry((c.mode, metric_key(&c.metric))).or_default().push(c);
    }
    let mut tables = Vec::new();
    for ((mode, _), members) in by_table {
        let mut metric = members[0].metric.clone();
        if let Metric::Energy { estimated, .. } = &mut metric {
            *estimated = members
                .iter()
                .any(|c| matches!(c.metric, Metric::Energy { estimated: true, .. }));
        }
        let mut runtimes: Vec<String> = members
            .iter()
            .map(|c| c.runtime.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        runtimes.sort_by_key(|r| (rank(&order.runtimes, r), r.clone()));
        let mut cells: Vec<(String, String)> = members
            .iter()
            .map(|c| (c.workload.clone(), c.input.clone()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        cells.sort_by_key(|(w, i)| (order.cell_rank(w, i), w.clone(), i.clone()));
        let rows = cells
            .into_iter()
            .map(|(workload, input)| {
                let cells = runtimes
                    .iter()
                    .map(|runtime| {
                        members
                            .iter()
                            .find(|c| c.runtime == *runtime && c.workload == workload && c.input == input)
                            .map(|c| GlanceCell {
                                ratio_of_medians: c.ratio_of_medians,
                                verdict: c.verdict,
                                left_out: left_out(c),
                            })
                    })
                    .collect();
                GlanceRow {
                    baseline_median: baseline_median(groups, baseline, &workload, &input, mode, &metric),
                    workload,
                    input,
                    cells,
                }
            })
            .collect();
        tables.push(GlanceTable {
            mode,
            metric,
            runtimes,
            rows,
        });
    }
    tables
}

/// Per workload (in plan order) and distinct set of sizes, the runs that recorded it.
pub fn artifact_rows(runs: &[Run]) -> Vec<ArtifactRow> {
    let order = PlanOrder::of(runs);
    let mut rows: Vec<ArtifactRow> = Vec::new();
    for run in runs {
        for (workload, sizes) in &run.manifest.artifacts {
            if *sizes == harness_data::ArtifactSizes::default() {
                continue;
            }
            match rows.iter_mut().find(|r| &r.workload == workload && &r.sizes == sizes) {
                Some(row) => row.runs.push(run.name.clone()),
                None => rows.push(ArtifactRow {
                    workload: workload.clone(),
                    runs: vec![run.name.clone()],
                    sizes: sizes.clone(),
                }),
            }
        }
    }
    // Stable: runs keep their order within a workload.
    rows.sort_by_key(|r| (order.cell_rank(&r.workload, "").0, r.workload.clone()));
    rows
}

/// A colour, as CSS writes it with [`Rgb::hex`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }

    /// Relative luminance (sRGB, as WCAG defines it), 0 (black) to 1 (white).
    pub fn luminance(self) -> f64 {
        let channel = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(self.0) + 0.7152 * channel(self.1) + 0.0722 * channel(self.2)
    }

    /// Black or white, whichever contrasts more with this colour (they tie at luminance 0.179).
    pub fn text(self) -> Rgb {
        if self.luminance() > 0.179 {
            Rgb(0x11, 0x11, 0x11)
        } else {
            Rgb(0xff, 0xff, 0xff)
        }
    }
}

/// Cells without a direction: equivalent, inconclusive, no ratio.
pub const GREY: Rgb = Rgb(0xdd, 0xdd, 0xdd);
/// The ends of the diverging scale (ColorBrewer RdBu, readable with the common colour-vision deficiencies):
/// blue for faster or less energy, red for slower or more energy; lighter near a ratio of 1.
pub const LOWER: Rgb = Rgb(0x21, 0x66, 0xac);
pub const HIGHER: Rgb = Rgb(0xb2, 0x18, 0x2b);
const PALE: Rgb = Rgb(0xf7, 0xf7, 0xf7);
/// |log10(ratio)| at which the scale saturates: 100x.
pub const SATURATION_DECADES: f64 = 2.0;
/// Intensity of the smallest difference a verdict can carry, so it stays apart from the pale end.
const MIN_INTENSITY: f64 = 0.2;

/// Intensity on the diverging scale of a ratio: 0.2 near 1, rising with |log10(ratio)| to 1 at 100x.
pub fn intensity(ratio: f64) -> f64 {
    let decades = if ratio > 0.0 && ratio.is_finite() {
        ratio.log10().abs()
    } else {
        SATURATION_DECADES
    };
    MIN_INTENSITY + (1.0 - MIN_INTENSITY) * (decades / SATURATION_DECADES).min(1.0)
}

fn mix(a: Rgb, b: Rgb, t: f64) -> Rgb {
    let m = |x: u8, y: u8| (f64::from(x) + (f64::from(y) - f64::from(x)) * t).round() as u8;
    Rgb(m(a.0, b.0), m(a.1, b.1), m(a.2, b.2))
}

/// The fill of a matrix cell: a diverging scale on log10 of the ratio of medians, blue for faster / less
/// energy, red for slower / more energy, deeper with the magnitude; grey where the verdict gives no direction
/// (equivalent, inconclusive) or there is no ratio.
pub fn cell_colour(ratio: Option<f64>, verdict: Verdict) -> Rgb {
    let Some(ratio) = ratio else {
        return GREY;
    };
    match verdict {
        Verdict::Faster | Verdict::LessEnergy => mix(PALE, LOWER, intensity(ratio)),
        Verdict::Slower | Verdict::MoreEnergy => mix(PALE, HIGHER, intensity(ratio)),
        Verdict::Equivalent | Verdict::Inconclusive => GREY,
    }
}

/// The legend's stops: ratios from 1/100 to 100 with the verdict they would carry.
pub fn legend_stops() -> Vec<(f64, Verdict)> {
    [0.01, 0.1, 0.5, 0.9]
        .map(|r| (r, Verdict::Faster))
        .into_iter()
        .chain([1.1, 2.0, 10.0, 100.0].map(|r| (r, Verdict::Slower)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_deepen_monotonically_with_the_ratio_and_grey_has_no_direction() {
        // Faster: the smaller the ratio, the darker the blue, until 100x.
        let faster: Vec<Rgb> = [0.99, 0.9, 0.5, 0.2, 0.1, 0.03, 0.01]
            .iter()
            .map(|&r| cell_colour(Some(r), Verdict::Faster))
            .collect();
        for pair in faster.windows(2) {
            assert!(pair[1].luminance() < pair[0].luminance(), "{pair:?}");
            assert!(pair[1].2 >= pair[1].0, "blue dominates: {pair:?}");
        }
        // Slower: the larger, the darker the red.
        let slower: Vec<Rgb> = [1.01, 1.1, 2.0, 5.0, 10.0, 30.0, 100.0]
            .iter()
            .map(|&r| cell_colour(Some(r), Verdict::Slower))
            .collect();
        for pair in slower.windows(2) {
            assert!(pair[1].luminance() < pair[0].luminance(), "{pair:?}");
            assert!(pair[1].0 > pair[1].2, "red dominates: {pair:?}");
        }
        // Symmetric on the log scale, saturated beyond 100x, energy verdicts as latency ones.
        assert_eq!(intensity(0.1), intensity(10.0));
        assert_eq!(cell_colour(Some(0.001), Verdict::Faster), LOWER);
        assert_eq!(cell_colour(Some(1000.0), Verdict::MoreEnergy), HIGHER);
        assert_eq!(
            cell_colour(Some(0.3), Verdict::LessEnergy),
            cell_colour(Some(0.3), Verdict::Faster)
        );
        // No direction: grey whatever the ratio, and distinct from the faintest verdict.
        for r in [0.01, 0.99, 1.0, 1.01, 50.0] {
            assert_eq!(cell_colour(Some(r), Verdict::Inconclusive), GREY);
            assert_eq!(cell_colour(Some(r), Verdict::Equivalent), GREY);
        }
        assert_eq!(cell_colour(None, Verdict::Faster), GREY);
        assert_ne!(cell_colour(Some(0.999), Verdict::Faster), GREY);
        assert_ne!(cell_colour(Some(1.001), Verdict::Slower), GREY);
        // Text stays readable on the darkest fills.
        assert_eq!(LOWER.text(), Rgb(0xff, 0xff, 0xff));
        assert_eq!(GREY.text(), Rgb(0x11, 0x11, 0x11));
        assert_eq!(Rgb(0x21, 0x66, 0xac).hex(), "#2166ac");
    }
}
