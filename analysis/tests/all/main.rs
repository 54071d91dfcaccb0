//! The analysis crate's tests, one module per topic in one test binary: statistics against independent
//! references, the renderers against committed snapshots, the report's validity rules, and load mode's tables.

#[path = "../common/mod.rs"]
mod common;

mod energy_summary;
mod load;
mod reference;
mod snapshots;
mod validity;
