//! Energy and power probes, and the clock every measurement shares.

pub mod clock;
