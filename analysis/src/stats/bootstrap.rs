//! Seeded percentile bootstrap of the ratio of medians, candidate / baseline. Each sample is a list of
//! clusters resampled whole (with replacement): a batch window of warm invocations measured back to back, or a
//! single invocation where there is no such structure, so dependence inside a batch is not mistaken for
//! independent evidence.
//!
//! Clusters know their run. With several runs of one plan (days, boots, devices of one model) the bootstrap is
//! hierarchical (Kalibera and Jones, "Rigorous Benchmarking in Reasonable Time", 2013): each resample draws
//! runs with replacement, then within each drawn run its clusters with replacement, so run-to-run variation
//! widens the interval. With one run it is the plain cluster bootstrap.

use super::Interval;
use crate::summary::quantile_sorted;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A sample as clusters of values; a cluster of one is an independent observation.
#[derive(Debug, Clone, Default)]
pub struct Clustered {
    pub clusters: Vec<Vec<f64>>,
    /// Run of each cluster (an index, any numbering); empty: every cluster is from one run.
    pub run_of: Vec<usize>,
}

impl Clustered {
    /// Independent values of one run.
    pub fn singletons(values: &[f64]) -> Clustered {
        Clustered::one_run(values.iter().map(|&v| vec![v]).collect())
    }

    pub fn one_run(clusters: Vec<Vec<f64>>) -> Clustered {
        Clustered {
            clusters,
            run_of: Vec::new(),
        }
    }

    /// Runs -> clusters -> values.
    pub fn with_runs(runs: Vec<Vec<Vec<f64>>>) -> Clustered {
        let mut out = Clustered::default();
        for (run, clusters) in runs.into_iter().enumerate() {
            for cluster in clusters {
                out.clusters.push(cluster);
                out.run_of.push(run);
            }
        }
        out
    }

    pub fn values(&self) -> impl Iterator<Item = f64> + '_ {
        self.clusters.iter().flatten().copied()
    }

    /// One value per cluster, its median: the unit rank tests and effect sizes count. A median, not a mean, so
    /// a window's one spike does not move its unit, and the test sees what the ratio of medians sees.
    pub fn unit_medians(&self) -> Vec<f64> {
        self.clusters
            .iter()
            .filter(|c| !c.is_empty())
            .map(|c| median_in_place(&mut c.clone()))
            .collect()
    }

    /// Cluster indices per run, runs in order of first appearance.
    pub fn runs(&self) -> Vec<Vec<usize>> {
        if self.run_of.len() != self.clusters.len() {
            return vec![(0..self.clusters.len()).collect()];
        }
        let mut order: Vec<usize> = Vec::new();
        let mut members: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
        for (i, &run) in self.run_of.iter().enumerate() {
            if !members.contains_key(&run) {
                order.push(run);
            }
            members.entry(run).or_default().push(i);
        }
        order.into_iter().filter_map(|r| members.remove(&r)).collect()
    }

    fn is_flat(&self) -> bool {
        self.clusters.iter().all(|c| c.len() == 1)
    }
}

/// Median in place (type 7); the buffer is reordered.
fn median_in_place(values: &mut [f64]) -> f64 {
    let n = values.len();
    let (_, &mut upper, _) = values.select_nth_unstable_by(n / 2, f64::total_cmp);
    if n % 2 == 1 {
        upper
    } else {
        let lower = values[..n / 2].iter().copied().max_by(f64::total_cmp).unwrap_or(upper);
        (lower + upper) / 2.0
    }
}

fn median_of(sample: &Clustered) -> f64 {
    median_in_place(&mut sample.values().collect::<Vec<_>>())
}

/// A sample prepared for resampling: its runs' cluster indices, and its values when every cluster is a
/// single value of one run (the fast path).
struct Prepared<'a> {
    sample: &'a Clustered,
    runs: Vec<Vec<usize>>,
    flat: Option<Vec<f64>>,
}

impl<'a> Prepared<'a> {
    fn new(sample: &'a Clustered) -> Self {
        let runs = sample.runs();
        let flat = (runs.len() == 1 && sample.is_flat()).then(|| sample.values().collect());
        Prepared { sample, runs, flat }
    }

    /// One resampled median. One run: as many clusters as it has, drawn with replacement. Several: as many
    /// runs as there are, drawn with replacement, then each drawn run's clusters drawn with replacement.
    fn resampled_median(&self, rng: &mut ChaCha8Rng, buffer: &mut Vec<f64>) -> f64 {
        buffer.clear();
        if let Some(values) = &self.flat {
            let k = values.len();
            buffer.extend((0..k).map(|_| values[rng.random_range(0..k)]));
            return median_in_place(buffer);
        }
        let r = self.runs.len();
        for _ in 0..r {
            // One run draws no run index, so a one-run report keeps the plain cluster bootstrap's stream.
            let run = if r == 1 {
                &self.runs[0]
            } else {
                &self.runs[rng.random_range(0..r)]
            };
            let k = run.len();
            for _ in 0..k {
                buffer.extend_from_slice(&self.sample.clusters[run[rng.random_range(0..k)]]);
            }
        }
        median_in_place(buffer)
    }
}

/// Ratio of medians with a percentile bootstrap interval at `level` (e.g. 0.95) from `resamples` resamples
/// drawn from a ChaCha8 stream seeded with `seed`. `None` when a sample is empty or the baseline median is 0.
pub fn ratio_of_medians(
    candidate: &Clustered,
    baseline: &Clustered,
    resamples: usize,
    level: f64,
    seed: u64,
) -> Option<Interval> {
    if candidate.clusters.is_empty() || baseline.clusters.is_empty() {
        return None;
    }
    let base_median = median_of(baseline);
    if base_median == 0.0 || !base_median.is_finite() {
        return None;
    }
    let estimate = median_of(candidate) / base_median;
    let (prepared_candidate, prepared_baseline) = (Prepared::new(candidate), Prepared::new(baseline));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut buffer = Vec::new();
    let mut ratios = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        let c = prepared_candidate.resampled_median(&mut rng, &mut buffer);
        let b = prepared_baseline.resampled_median(&mut rng, &mut buffer);
        // A resampled baseline median of 0 gives no ratio; such draws are left out.
        if b != 0.0 {
            ratios.push(c / b);
        }
    }
    if ratios.is_empty() {
        return Some(Interval {
            estimate,
            ci_low: f64::NAN,
            ci_high: f64::NAN,
            level,
        });
    }
    ratios.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    Some(Interval {
        estimate,
        ci_low: quantile_sorted(&ratios, tail),
        ci_high: quantile_sorted(&ratios, 1.0 - tail),
        level,
    })
}

/// Percentile interval at `level` of `resampled` (sorted here), around `estimate`; NaN ends when empty.
fn percentile_interval(estimate: f64, mut resampled: Vec<f64>, level: f64) -> Interval {
    if resampled.is_empty() {
        return Interval {
            estimate,
            ci_low: f64::NAN,
            ci_high: f64::NAN,
            level,
        };
    }
    resampled.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    Interval {
        estimate,
        ci_low: quantile_sorted(&resampled, tail),
        ci_high: quantile_sorted(&resampled, 1.0 - tail),
        level,
    }
}

/// The median of one sample with a percentile bootstrap interval (clusters and runs resampled as
/// [`ratio_of_medians`] does). `None` for an empty sample.
pub fn median_interval(sample: &Clustered, resamples: usize, level: f64, seed: u64) -> Option<Interval> {
    if sample.clusters.is_empty() {
        return None;
    }
    let prepared = Prepared::new(sample);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut buffer = Vec::new();
    let medians = (0..resamples)
        .map(|_| prepared.resampled_median(&mut rng, &mut buffer))
        .collect();
    Some(percentile_interval(median_of(sample), medians, level))
}

/// Median of `a` minus median of `b` with a percentile bootstrap interval, the two samples resampled
/// independently. `None` when either is empty.
pub fn difference_of_medians(
    a: &Clustered,
    b: &Clustered,
    resamples: usize,
    level: f64,
    seed: u64,
) -> Option<Interval> {
    if a.clusters.is_empty() || b.clusters.is_empty() {
        return None;
    }
    let (pa, pb) = (Prepared::new(a), Prepared::new(b));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut buffer = Vec::new();
    let differences = (0..resamples)
        .map(|_| {
            let x = pa.resampled_median(&mut rng, &mut buffer);
            x - pb.resampled_median(&mut rng, &mut buffer)
        })
        .collect();
    Some(percentile_interval(median_of(a) - median_of(b), differences, level))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_in_place_is_type_7() {
        assert_eq!(median_in_place(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median_in_place(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median_in_place(&mut [5.0]), 5.0);
    }

    #[test]
    fn clusters_are_grouped_by_run_in_order_of_appearance() {
        let sample = Clustered {
            clusters: vec![vec![1.0], vec![2.0, 4.0], vec![3.0]],
            run_of: vec![7, 2, 7],
        };
        assert_eq!(sample.runs(), vec![vec![0, 2], vec![1]]);
        assert_eq!(sample.unit_medians(), vec![1.0, 3.0, 3.0]);
        assert_eq!(Clustered::one_run(vec![vec![1.0, 2.0, 90.0]]).unit_medians(), vec![2.0]);
        assert_eq!(Clustered::singletons(&[1.0, 2.0]).runs(), vec![vec![0, 1]]);
    }

    #[test]
    fn run_to_run_variation_widens_the_interval() {
        // Three runs whose levels differ by 10%, each with 50 tight single values.
        let runs: Vec<Vec<Vec<f64>>> = [90.0, 100.0, 110.0]
            .iter()
            .map(|level| (0..50).map(|i| vec![level + (i % 5) as f64 * 0.1]).collect())
            .collect();
        let hierarchical = Clustered::with_runs(runs.clone());
        let pooled = Clustered::one_run(runs.into_iter().flatten().collect());
        let base = Clustered::singletons(&[100.0; 40]);
        let wide = ratio_of_medians(&hierarchical, &base, 1000, 0.95, 5).unwrap();
        let narrow = ratio_of_medians(&pooled, &base, 1000, 0.95, 5).unwrap();
        assert!(
            wide.ci_high - wide.ci_low > 3.0 * (narrow.ci_high - narrow.ci_low),
            "{wide:?} vs {narrow:?}"
        );
    }
}
