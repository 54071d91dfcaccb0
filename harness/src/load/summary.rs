//! A level's numbers from its requests: counts, latency percentiles from the intended send time, send lag.

use super::drive::RawRequest;
use harness_analysis::summary::quantile_sorted;
use harness_data::Status;

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

/// Summarizes the requests intended inside `[from_ns, to_ns)`. Latency percentiles cover completed and
/// timed-out requests (a timed-out request's latency is a lower bound of what it would have taken, so leaving
/// it out would hide the tail); requests that failed otherwise have no meaningful latency.
pub fn summarize(requests: &[RawRequest], from_ns: u64, to_ns: u64) -> LevelLatency {
    let mut summary = LevelLatency::default();
    let mut latencies = Vec::new();
    let mut lags = Vec::new();
    let mut completed_in_window = 0u64;
    for request in requests.iter().filter(|r| in_window(r, from_ns, to_ns)) {
        summary.sent += 1;
        match request.status {
            Status::Ok => {
                summary.completed += 1;
                if request.end_ns <= to_ns {
                    completed_in_window += 1;
                }
            }
            Status::Timeout => summary.timed_out += 1,
            Status::Trap | Status::Error => summary.failed += 1,
        }
        if matches!(request.status, Status::Ok | Status::Timeout) {
            latencies.push(request.end_ns.saturating_sub(request.intended_ns) as f64);
        }
        lags.push(request.sent_ns.saturating_sub(request.intended_ns) as f64);
    }
    let seconds = to_ns.saturating_sub(from_ns) as f64 / 1e9;
    if seconds > 0.0 {
        summary.achieved_rps = completed_in_window as f64 / seconds;
        summary.arrived_rps = summary.sent as f64 / seconds;
    }
    latencies.sort_by(f64::total_cmp);
    lags.sort_by(f64::total_cmp);
    let at = |sorted: &[f64], q: f64| (!sorted.is_empty()).then(|| quantile_sorted(sorted, q).round() as u64);
    summary.p50_ns = at(&latencies, 0.5);
    summary.p90_ns = at(&latencies, 0.9);
    summary.p99_ns = at(&latencies, 0.99);
    summary.p999_ns = at(&latencies, 0.999);
    summary.mean_ns = (!latencies.is_empty()).then(|| latencies.iter().sum::<f64>() / latencies.len() as f64);
    summary.send_lag_p50_ns = at(&lags, 0.5);
    summary.send_lag_p99_ns = at(&lags, 0.99);
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn an_empty_window_has_no_percentiles() {
        let s = summarize(&[], 0, 10);
        assert_eq!((s.sent, s.p50_ns, s.mean_ns), (0, None, None));
    }
}
