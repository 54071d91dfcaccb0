//! Energy and power probes, the sampler that polls them, and the clock every measurement shares.
//!
//! As in alumet, a probe is a small [`Source`] that is polled; the [`sampler`] takes the timestamp right
//! before each poll, on the run's one clock. Discovery (what exists on this machine, and why not) is separate
//! from open handles: [`discover`] reports, a probe's `open` returns a [`Source`].

pub mod busy;
pub mod clock;
pub mod counter;
pub mod error;
pub mod jetson;
pub mod model;
pub mod nvml;
pub mod open;
pub mod rapl;
pub mod replay;
pub mod sampler;
pub mod source;
pub mod spec;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod usbmeter;

pub use error::ProbeError;
pub use source::{Reading, Source, TimedReading, stamp_all};

use harness_data::ChannelInfo;

/// What discovery found for one probe kind on this machine.
#[derive(Debug, Clone)]
pub struct Discovery {
    pub kind: &'static str,
    /// The channels it would read, when available.
    pub channels: Vec<ChannelInfo>,
    /// Why it is not available (and how to fix it), when it is not.
    pub missing: Option<String>,
    /// Facts worth showing (which interface was chosen, duplicate zones skipped).
    pub notes: Vec<String>,
}
