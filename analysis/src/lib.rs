//! Analysis of run directories: alignment of samples to invocations, summaries, statistics.

pub mod align;
pub mod calibrate;
pub mod digests;
pub mod energy_summary;
pub mod export;
pub mod fit;
pub mod machine_channel;
pub mod net;
pub mod pair;
pub mod report;
pub mod run;
pub mod stats;
pub mod summary;
pub mod terminal;
