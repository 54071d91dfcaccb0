//! The load pattern played at the start of a run when probes have delays of their own (serial meters, NVML):
//! `harness_analysis::calibrate` cross-correlates each probe's trace with it afterwards.

use harness_analysis::calibrate;

/// Plays the calibration pattern: every core spins during each busy span and sleeps between them; then idles
/// for the longest delay looked for, so a late probe's trace of the last burst is recorded.
pub fn play(unit_ns: u64) -> Vec<[u64; 2]> {
    let spans = calibrate::pattern_spans(harness_probes::clock::monotonic_ns(), unit_ns, 6);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for &[start, end] in &spans {
        harness_probes::sampler::sleep_until(start);
        std::thread::scope(|scope| {
            for _ in 0..cores {
                scope.spawn(|| {
                    let mut x = 0u64;
                    while harness_probes::clock::monotonic_ns() < end {
                        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                    }
                });
            }
        });
    }
    harness_probes::sampler::sleep_until(spans.last().map_or(0, |s| s[1]) + calibrate::max_lag_ns(unit_ns));
    spans
}
