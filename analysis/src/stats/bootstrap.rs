//! Seeded percentile bootstrap of the ratio of medians, candidate / baseline. Each sample is a list of
//! clusters resampled whole (with replacement): a batch window of warm invocations measured back to back, or a
//! single invocation where there is no such structure, so dependence inside a batch is not mistaken for
//! independent evidence.

use super::Interval;
use crate::summary::quantile_sorted;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A sample as clusters of values; a cluster of one is an independent observation.
#[derive(Debug, Clone, Default)]
pub struct Clustered {
    pub clusters: Vec<Vec<f64>>,
}

impl Clustered {
    pub fn singletons(values: &[f64]) -> Clustered {
        Clustered {
            clusters: values.iter().map(|&v| vec![v]).collect(),
        }
    }

    pub fn values(&self) -> impl Iterator<Item = f64> + '_ {
        self.clusters.iter().flatten().copied()
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

/// One resampled median: as many clusters as the sample has, drawn with replacement.
fn resampled_median(sample: &Clustered, flat: Option<&[f64]>, rng: &mut ChaCha8Rng, buffer: &mut Vec<f64>) -> f64 {
    buffer.clear();
    let k = sample.clusters.len();
    match flat {
        Some(values) => buffer.extend((0..k).map(|_| values[rng.random_range(0..k)])),
        None => {
            for _ in 0..k {
                buffer.extend_from_slice(&sample.clusters[rng.random_range(0..k)]);
            }
        }
    }
    median_in_place(buffer)
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
    let flat_candidate: Option<Vec<f64>> = candidate.is_flat().then(|| candidate.values().collect());
    let flat_baseline: Option<Vec<f64>> = baseline.is_flat().then(|| baseline.values().collect());
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut buffer = Vec::new();
    let mut ratios = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        let c = resampled_median(candidate, flat_candidate.as_deref(), &mut rng, &mut buffer);
        let b = resampled_median(baseline, flat_baseline.as_deref(), &mut rng, &mut buffer);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_in_place_is_type_7() {
        assert_eq!(median_in_place(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median_in_place(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median_in_place(&mut [5.0]), 5.0);
    }
}
