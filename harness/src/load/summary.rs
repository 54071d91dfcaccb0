//! A level's numbers from its requests: counts, latency percentiles from the intended send time, send lag.

use harness_data::Status;

/// One request as sent and served.
#[derive(Debug, Clone)]
pub struct RawRequest {
    pub instance: u32,
    pub intended_ns: u64,
    pub sent_ns: u64,
    pub start_ns: u64,
    pub end_ns: u64,
    pub status: Status,
    pub error: String,
}

/// The latency side of a `load.csv` row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LevelLatency {
    pub sent: u64,
    pub completed: u64,
    pub failed: u64,
    pub timed_out: u64,
    /// Completed inside the window (intended in it and answered by its end), per second.
    pub achieved_rps: f64,
    /// Requests intended inside the window, per second: the offered rate as it was drawn.
    pub arrived_rps: f64,
    pub p50_ns: Option<u64>,
    pub p90_ns: Option<u64>,
    pub p99_ns: Option<u64>,
    pub p999_ns: Option<u64>,
    pub mean_ns: Option<f64>,
    pub send_lag_p50_ns: Option<u64>,
    pub send_lag_p99_ns: Option<u64>,
}

/// Whether a request was intended inside the measured window `[from_ns, to_ns)`.
pub fn in_window(request: &RawRequest, from_ns: u64, to_ns: u64) -> bool {
    (from_ns..to_ns).contains(&request.intended_ns)
}

/// Whether an open-loop level could not keep up: it completed under 90% of the requests that arrived in its
/// window. Against the arrivals as drawn, not the nominal rate, so a short window's Poisson shortfall is
/// not taken for saturation.
pub fn saturated(summary: &LevelLatency) -> bool {
    summary.achieved_rps < harness_data::LoadRecord::SATURATION_SHARE * summary.arrived_rps
}

/// Summarizes the requests intended inside `[from_ns, to_ns)`, as [`LevelTally`] does request by request.
pub fn summarize(requests: &[RawRequest], from_ns: u64, to_ns: u64) -> LevelLatency {
    let mut tally = LevelTally::new(from_ns, to_ns);
    for request in requests {
        tally.add(request);
    }
    tally.finish(from_ns, to_ns)
}

/// A level's numbers, taken request by request as its log streams past, in memory of fixed size: no level is
/// held whole. Latency percentiles cover completed and timed-out requests (a timed-out request's latency is a
/// lower bound of what it would have taken, so leaving it out would hide the tail); requests that failed
/// otherwise have no meaningful latency.
#[derive(Debug, Clone)]
pub struct LevelTally {
    from_ns: u64,
    to_ns: u64,
    counts: LevelLatency,
    completed_in_window: u64,
    latency_sum_ns: u128,
    latencies: Histogram,
    lags: Histogram,
    /// Every request handed over, warm-up and outside the window included.
    pub seen: u64,
    /// The latest end of any request, for a burst's window.
    pub last_end_ns: Option<u64>,
}

impl LevelTally {
    /// A tally of the requests intended inside `[from_ns, to_ns)`: a request answered after `to_ns` counts as
    /// sent and completed, but not toward the achieved rate.
    pub fn new(from_ns: u64, to_ns: u64) -> LevelTally {
        LevelTally {
            from_ns,
            to_ns,
            counts: LevelLatency::default(),
            completed_in_window: 0,
            latency_sum_ns: 0,
            latencies: Histogram::default(),
            lags: Histogram::default(),
            seen: 0,
            last_end_ns: None,
        }
    }

    pub fn add(&mut self, request: &RawRequest) {
        self.seen += 1;
        self.last_end_ns = Some(self.last_end_ns.map_or(request.end_ns, |e| e.max(request.end_ns)));
        if !in_window(request, self.from_ns, self.to_ns) {
            return;
        }
        let counts = &mut self.counts;
        counts.sent += 1;
        match request.status {
            Status::Ok => {
                counts.completed += 1;
                if request.end_ns <= self.to_ns {
                    self.completed_in_window += 1;
                }
            }
            Status::Timeout => counts.timed_out += 1,
            Status::Trap | Status::Error => counts.failed += 1,
        }
        if matches!(request.status, Status::Ok | Status::Timeout) {
            let latency = request.end_ns.saturating_sub(request.intended_ns);
            self.latency_sum_ns += u128::from(latency);
            self.latencies.add(latency);
        }
        self.lags.add(request.sent_ns.saturating_sub(request.intended_ns));
    }

    /// The level's numbers over the window it ended with, `[from_ns, to_ns)`: the planned one, or a shorter
    /// one when Ctrl-C cut it (no request is intended or answered after that).
    pub fn finish(self, from_ns: u64, to_ns: u64) -> LevelLatency {
        let mut summary = self.counts;
        let seconds = to_ns.saturating_sub(from_ns) as f64 / 1e9;
        if seconds > 0.0 {
            summary.achieved_rps = self.completed_in_window as f64 / seconds;
            summary.arrived_rps = summary.sent as f64 / seconds;
        }
        summary.p50_ns = self.latencies.quantile(0.5);
        summary.p90_ns = self.latencies.quantile(0.9);
        summary.p99_ns = self.latencies.quantile(0.99);
        summary.p999_ns = self.latencies.quantile(0.999);
        let n = self.latencies.count;
        summary.mean_ns = (n > 0).then(|| self.latency_sum_ns as f64 / n as f64);
        summary.send_lag_p50_ns = self.lags.quantile(0.5);
        summary.send_lag_p99_ns = self.lags.quantile(0.99);
        summary
    }
}

/// Mantissa bits of [`Histogram`]'s buckets: values below `2^(BITS+1)` ns (2 us) have a bucket each, larger
/// ones share buckets 1/1024 of their value wide.
const BITS: u32 = 10;
const BUCKETS: usize = ((64 - BITS as usize) << BITS) + (1 << BITS);

/// A log-linear histogram of nanosecond values: fixed size (about 440 KiB, touched only where values fall),
/// exact below 2 us and within 0.05% above, so a level of millions of requests keeps its percentiles without
/// keeping its requests.
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    buckets: Vec<u64>,
    count: u64,
}

fn bucket_of(value: u64) -> usize {
    let top = 63 - (value | 1).leading_zeros();
    if top <= BITS {
        return value as usize;
    }
    let shift = top - BITS;
    ((shift as usize + 1) << BITS) + ((value >> shift) as usize - (1 << BITS))
}

/// The middle of a bucket's values.
fn value_of(bucket: usize) -> u64 {
    let exact = 2usize << BITS;
    if bucket < exact {
        return bucket as u64;
    }
    let shift = (bucket >> BITS) as u32 - 1;
    let low = (((bucket & ((1 << BITS) - 1)) + (1 << BITS)) as u64) << shift;
    low + ((1u64 << shift) - 1) / 2
}

impl Histogram {
    pub fn add(&mut self, value: u64) {
        if self.buckets.is_empty() {
            self.buckets = vec![0; BUCKETS];
        }
        self.buckets[bucket_of(value)] += 1;
        self.count += 1;
    }

    /// The `q` quantile as numpy's default (linear between the two nearest ranks), each rank's value the
    /// middle of its bucket.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let position = q * (self.count - 1) as f64;
        let (low, high) = (position.floor() as u64, position.ceil() as u64);
        let (a, b) = (self.ranked(low) as f64, self.ranked(high) as f64);
        Some((a + (b - a) * (position - low as f64)).round() as u64)
    }

    /// The value of rank `rank` (0 the smallest).
    fn ranked(&self, rank: u64) -> u64 {
        let mut below = 0;
        for (bucket, &n) in self.buckets.iter().enumerate() {
            below += n;
            if below > rank {
                return value_of(bucket);
            }
        }
        value_of(BUCKETS - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness_analysis::summary::quantile_sorted;

    fn request(intended: u64, sent: u64, end: u64, status: Status) -> RawRequest {
        RawRequest {
            instance: 0,
            intended_ns: intended,
            sent_ns: sent,
            start_ns: sent,
            end_ns: end,
            status,
            error: String::new(),
        }
    }

    #[test]
    fn latency_counts_from_the_intended_time_and_keeps_timeouts() {
        let requests = vec![
            // Warm-up, outside the window.
            request(5, 5, 6, Status::Ok),
            request(100, 100, 110, Status::Ok),
            // Sent 40 late: its latency counts the lag too.
            request(200, 240, 250, Status::Ok),
            request(300, 300, 1300, Status::Timeout),
            request(400, 400, 401, Status::Trap),
        ];
        let s = summarize(&requests, 100, 1_000_000_100);
        assert_eq!((s.sent, s.completed, s.timed_out, s.failed), (4, 2, 1, 1));
        assert_eq!(s.p50_ns, Some(50));
        assert_eq!(s.p999_ns.map(|p| p > 990), Some(true));
        // Both completed inside the window; four arrived in it.
        assert!((s.achieved_rps - 2.0).abs() < 1e-9);
        assert!((s.arrived_rps - 4.0).abs() < 1e-9);
        assert!(saturated(&s));
        let late = summarize(&[request(100, 100, 2_000_000_000, Status::Ok)], 100, 1_000_000_100);
        assert_eq!((late.completed, late.achieved_rps), (1, 0.0));
        assert_eq!(s.send_lag_p50_ns, Some(0));
        assert_eq!(s.send_lag_p99_ns.map(|p| p > 30), Some(true));
    }

    #[test]
    fn the_histogram_is_exact_below_2_us_and_within_a_twentieth_of_a_percent_above() {
        for value in [
            0,
            1,
            50,
            1000,
            2047,
            2048,
            2049,
            12_345,
            999_999_937,
            u64::MAX / 3,
            u64::MAX,
        ] {
            let middle = value_of(bucket_of(value));
            let error = (middle as f64 - value as f64).abs() / (value.max(1) as f64);
            assert!(error <= 0.0005, "{value} read back as {middle}");
            if value < 2048 {
                assert_eq!(middle, value);
            }
        }
        assert!(bucket_of(u64::MAX) < BUCKETS);
        let mut histogram = Histogram::default();
        for v in 1..=1000u64 {
            histogram.add(v * 1000);
        }
        let exact = quantile_sorted(&(1..=1000).map(|v| v as f64 * 1000.0).collect::<Vec<_>>(), 0.99);
        let read = histogram.quantile(0.99).unwrap() as f64;
        assert!((read - exact).abs() / exact < 0.001, "{read} vs {exact}");
    }

    #[test]
    fn a_tally_of_millions_of_requests_stays_the_same_size() {
        let mut tally = LevelTally::new(0, u64::MAX);
        let size = |t: &LevelTally| t.latencies.buckets.capacity() + t.lags.buckets.capacity();
        tally.add(&request(1, 1, 2, Status::Ok));
        let after_one = size(&tally);
        for i in 0..2_000_000u64 {
            tally.add(&request(i, i, i + 5_000 + i % 7_919, Status::Ok));
        }
        assert_eq!(size(&tally), after_one);
        assert_eq!(tally.seen, 2_000_001);
        let s = tally.finish(0, 4_000_000);
        assert_eq!(s.completed, 2_000_001);
    }

    #[test]
    fn an_empty_window_has_no_percentiles() {
        let s = summarize(&[], 0, 10);
        assert_eq!((s.sent, s.p50_ns, s.mean_ns), (0, None, None));
    }
}
