//! The one clock of a run: CLOCK_MONOTONIC in nanoseconds.
//!
//! Invocations, probe samples and child processes (the native workload binary, node) all read this same kernel
//! clock, so their timestamps can be compared directly. It never jumps with NTP or the wall clock; the manifest
//! records one [`Anchor`] to place it on the calendar.

use harness_data::Anchor;

/// Nanoseconds on CLOCK_MONOTONIC.
#[inline]
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime only writes the timespec we own; CLOCK_MONOTONIC exists on every Linux kernel.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Nanoseconds since the Unix epoch on the wall clock.
pub fn unix_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Reads both clocks back to back a few times and keeps the tightest pair, so the anchor's uncertainty is the
/// smallest gap seen between the two reads.
pub fn anchor() -> Anchor {
    (0..5)
        .map(|_| {
            let before = monotonic_ns();
            let wall = unix_ns();
            let after = monotonic_ns();
            Anchor {
                monotonic_ns: before + (after - before) / 2,
                unix_ns: wall,
                uncertainty_ns: after - before,
            }
        })
        .min_by_key(|a| a.uncertainty_ns)
        .expect("five reads")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_never_goes_back_and_matches_instant_rate() {
        let a = monotonic_ns();
        let start = std::time::Instant::now();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = monotonic_ns();
        let elapsed = start.elapsed().as_nanos() as u64;
        assert!(b > a);
        // Both read CLOCK_MONOTONIC on Linux: the two spans agree to well under a millisecond.
        assert!((b - a).abs_diff(elapsed) < 1_000_000, "{} vs {}", b - a, elapsed);
    }

    #[test]
    fn anchor_is_tight() {
        let anchor = anchor();
        assert!(anchor.uncertainty_ns < 1_000_000);
        assert!(anchor.unix_ns > 1_600_000_000_000_000_000);
    }
}
