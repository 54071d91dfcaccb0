//! Mid-ranks (ties get the mean of the ranks they span), 1-based, as `scipy.stats.rankdata(method="average")`.

/// Mid-ranks of `values` in their original order. O(n log n). NaN must be filtered out first.
pub fn midranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Ranks start+1 ..= end share their mean.
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

#[cfg(test)]
mod tests {
    #[test]
    fn ties_share_the_mean_rank() {
        // scipy.stats.rankdata([3, 1, 4, 1, 5]) == [3, 1.5, 4, 1.5, 5]
        assert_eq!(
            super::midranks(&[3.0, 1.0, 4.0, 1.0, 5.0]),
            vec![3.0, 1.5, 4.0, 1.5, 5.0]
        );
    }
}
