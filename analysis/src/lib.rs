//! Analysis of run directories: alignment of samples to invocations, summaries, statistics.

pub mod align;
pub mod calibrate;
pub mod summary;
