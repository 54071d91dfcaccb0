//! The probe interface: a source of readings, polled by the sampler.

use harness_data::ChannelInfo;

/// One channel's reading at one poll.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    /// The value, in the channel's unit (an unwrapped cumulative counter, or a power).
    Value(f64),
    /// Nothing could be read; the reason goes to the run's log once, the gap to `samples.csv`.
    Gap(String),
}

/// A reading of channel `channel` (an index into `channels()`) at `t_ns` on the run's clock.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedReading {
    pub channel: usize,
    pub t_ns: u64,
    pub reading: Reading,
}

/// An opened probe, polled by its own sampler thread.
///
/// The sampler takes the timestamp `now_ns` right before calling `poll`, and most sources stamp every channel
/// with it ([`stamp_all`]). Sources whose readings belong to another instant say so: a serial meter stamps
/// the midpoint of request and answer, a replayed trace its recorded (shifted) times. `poll` must not block
/// for long: a stuck read delays that probe's next sample.
pub trait Source: Send {
    /// The probe kind (`rapl`, `model`, ...).
    fn kind(&self) -> &'static str;
    fn channels(&self) -> &[ChannelInfo];
    fn poll(&mut self, now_ns: u64, out: &mut Vec<TimedReading>);
    /// Facts worth recording in the manifest (chip settings, which interface was used).
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
    /// Runtimes whose work this probe could not see: their energy rows are flagged, never reported low.
    fn unseen_runtimes(&self) -> Vec<String> {
        Vec::new()
    }
}

/// For sources that read every channel at the poll instant: stamps `readings` (one per channel, in order).
pub fn stamp_all(now_ns: u64, readings: impl IntoIterator<Item = Reading>, out: &mut Vec<TimedReading>) {
    out.extend(readings.into_iter().enumerate().map(|(channel, reading)| TimedReading {
        channel,
        t_ns: now_ns,
        reading,
    }));
}
