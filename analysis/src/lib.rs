//! Analysis of run directories: summaries now; alignment and statistics build on these.

pub mod summary;
pub mod stats;
pub mod load;
pub mod report;
pub mod export;
