//! Unwrapping cumulative counters that wrap around (RAPL's `energy_uj` wraps at `max_energy_range_uj`).

/// Turns raw readings of a wrapping counter into a monotonic total, in the counter's own unit.
///
/// Kept as integers: a float total would lose microjoules after a few days of package energy.
#[derive(Debug, Clone)]
pub struct WrappingCounter {
    /// The value at which the counter wraps to 0; 0 means unknown (some firmware reports 0).
    max_range: u64,
    /// The largest increase that can be real between two reads (from the largest plausible power and the
    /// poll interval); a larger one is a garbage read, not energy.
    max_step: u64,
    last_raw: Option<u64>,
    total: u64,
}

/// What one raw reading meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterUpdate {
    /// The unwrapped total after this reading.
    Total(u64),
    /// The reading cannot be trusted (it went backwards with an unknown range, or jumped implausibly); the
    /// next good reading continues from it.
    Implausible,
}

impl WrappingCounter {
    pub fn new(max_range: u64, max_step: u64) -> WrappingCounter {
        WrappingCounter {
            max_range,
            max_step,
            last_raw: None,
            total: 0,
        }
    }

    pub fn update(&mut self, raw: u64) -> CounterUpdate {
        let Some(last) = self.last_raw else {
            self.last_raw = Some(raw);
            return CounterUpdate::Total(0);
        };
        let step = if raw >= last {
            raw - last
        } else if self.max_range > 0 && last <= self.max_range {
            // Wrapped: the kernel's counter runs modulo its range, so it goes from max to 0 in no time and
            // the energy is what it lacked to the top plus where it is now.
            (self.max_range - last) + raw
        } else {
            // Backwards with no known range: cannot tell a wrap from garbage.
            self.last_raw = Some(raw);
            return CounterUpdate::Implausible;
        };
        self.last_raw = Some(raw);
        if step > self.max_step {
            return CounterUpdate::Implausible;
        }
        self.total += step;
        CounterUpdate::Total(self.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_across_a_wrap() {
        let mut c = WrappingCounter::new(1000, 500);
        assert_eq!(c.update(900), CounterUpdate::Total(0));
        assert_eq!(c.update(950), CounterUpdate::Total(50));
        // 950 -> 1000 (= 0 modulo the range) is 50, 0 -> 20 is 20.
        assert_eq!(c.update(20), CounterUpdate::Total(120));
        assert_eq!(c.update(20), CounterUpdate::Total(120));
    }

    #[test]
    fn a_wrap_from_max_to_zero_adds_nothing_extra() {
        let mut c = WrappingCounter::new(1000, 500);
        c.update(990);
        assert_eq!(c.update(1000), CounterUpdate::Total(10));
        assert_eq!(c.update(0), CounterUpdate::Total(10));
        assert_eq!(c.update(5), CounterUpdate::Total(15));
    }

    #[test]
    fn unknown_range_backwards_is_implausible_not_negative() {
        let mut c = WrappingCounter::new(0, u64::MAX);
        c.update(500);
        assert_eq!(c.update(10), CounterUpdate::Implausible);
        assert_eq!(c.update(30), CounterUpdate::Total(20));
    }

    #[test]
    fn an_implausible_jump_is_rejected_and_counting_resumes() {
        let mut c = WrappingCounter::new(1 << 32, 1000);
        c.update(0);
        assert_eq!(c.update(100), CounterUpdate::Total(100));
        assert_eq!(c.update(10_000_000), CounterUpdate::Implausible);
        assert_eq!(c.update(10_000_050), CounterUpdate::Total(150));
    }
}
