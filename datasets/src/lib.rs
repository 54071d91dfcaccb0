//! The data crate: plain records that `harness` writes and `analysis` reads.
//!
//! Like sightglass's data crate it holds no logic beyond naming: every type here is a row or a field of a file
//! a run writes, so the recorder and the analysis cannot disagree about a column. `SCHEMA.md` beside this crate
//! is the data dictionary for the same files.

pub mod energy;
pub mod fsio;
pub mod invocation;
pub mod load;
pub mod manifest;
pub mod plan;
pub mod precision;
pub mod runtime;

pub use energy::{
    BASELINE_DIFFER_SE, BASELINE_DRIFT_SHARE, BUSY_BASELINE_FOREIGN_CORES, Baseline, BatchPlan, ChannelInfo,
    EnergyFlag, EnergyQuality, MIN_BUSY_SHARE, PairedRecord, ProbeManifest, SampleKind, SampleRecord, Scope, Teardown,
    Unit,
};
pub use invocation::{CellKey, InvocationRecord, Mode, Phases, ProcessUsage, Status, UsageRecord};
pub use load::{LoadKind, LoadPlan, LoadRecord, RequestRecord, Serving};
pub use manifest::{
    Anchor, ArtifactSizes, BrowserFacts, EngineVersions, ExecCommand, ExecRecord, HostFingerprint, IdleLoad, Manifest,
    ManifestError, RunStatus,
};
pub use runtime::{RuntimeKind, UnknownRuntime};

/// File names inside a run directory.
pub mod files {
    pub const INVOCATIONS: &str = "invocations.csv";
    pub const MANIFEST: &str = "manifest.json";
    pub const SAMPLES: &str = "samples.csv";
    pub const PAIRED: &str = "paired.csv";
    pub const LOAD: &str = "load.csv";
    pub const REQUESTS: &str = "requests.csv";
    /// `harness run`: each run's process usage (user, system, peak RSS, exit), by `sequence`.
    pub const USAGE: &str = "usage.csv";
}
