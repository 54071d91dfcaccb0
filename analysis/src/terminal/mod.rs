//! Results at a glance: what `harness measure` prints when it ends, on a terminal and in CI logs alike (as
//! hyperfine ends with its summary). Built as the report is: [`build`] computes a [`TerminalSummary`] from the
//! run, [`render`] writes it as text.

mod build;
mod model;
mod render;

pub use build::build;
pub use model::{BestLoadLevel, RuntimeLine, ShownChannel, SummaryCell, TerminalSummary};
pub use render::render;
