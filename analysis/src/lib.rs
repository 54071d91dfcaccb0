//! Analysis of run directories: summaries now; alignment and statistics build on these.

pub mod export;
pub mod load;
pub mod report;
pub mod stats;
pub mod summary;
