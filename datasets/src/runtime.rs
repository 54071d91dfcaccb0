//! The runtimes a plan can compare: one name for each, spelled here only.

use serde::{Deserialize, Serialize};

/// A runtime of the comparison axis. Rows store the name as a string (`as_str`), so data from another build
/// with other runtimes still loads; plans and the harness use this enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuntimeKind {
    Native,
    WasmtimeJit,
    WasmtimeAot,
    Wasmi,
    Container,
    NodeWasm,
    NodeJs,
    /// The workload's Wasm module in a headless Chromium page.
    ChromiumWasm,
    /// The workload's JavaScript port in a headless Chromium page.
    ChromiumJs,
    /// The workload's Wasm module in a headless Firefox page.
    FirefoxWasm,
    /// The workload's JavaScript port in a headless Firefox page.
    FirefoxJs,
    /// Any command, each invocation a fresh process: `harness run`'s commands (not a plan's runtime).
    Exec,
}

impl RuntimeKind {
    pub const ALL: [RuntimeKind; 11] = [
        RuntimeKind::Native,
        RuntimeKind::WasmtimeJit,
        RuntimeKind::WasmtimeAot,
        RuntimeKind::Wasmi,
        RuntimeKind::Container,
        RuntimeKind::NodeWasm,
        RuntimeKind::NodeJs,
        RuntimeKind::ChromiumWasm,
        RuntimeKind::ChromiumJs,
        RuntimeKind::FirefoxWasm,
        RuntimeKind::FirefoxJs,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeKind::Native => "native",
            RuntimeKind::WasmtimeJit => "wasmtime-jit",
            RuntimeKind::WasmtimeAot => "wasmtime-aot",
            RuntimeKind::Wasmi => "wasmi",
            RuntimeKind::Container => "container",
            RuntimeKind::NodeWasm => "node-wasm",
            RuntimeKind::NodeJs => "node-js",
            RuntimeKind::ChromiumWasm => "chromium-wasm",
            RuntimeKind::ChromiumJs => "chromium-js",
            RuntimeKind::FirefoxWasm => "firefox-wasm",
            RuntimeKind::FirefoxJs => "firefox-js",
            RuntimeKind::Exec => "exec",
        }
    }

    /// The valid names, for error messages.
    pub fn names() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }

    /// Runs the workload's `.wasm` module.
    pub fn runs_wasm(self) -> bool {
        matches!(
            self,
            RuntimeKind::WasmtimeJit
                | RuntimeKind::WasmtimeAot
                | RuntimeKind::Wasmi
                | RuntimeKind::NodeWasm
                | RuntimeKind::ChromiumWasm
                | RuntimeKind::FirefoxWasm
        )
    }

    /// Runs in a headless browser page.
    pub fn is_browser(self) -> bool {
        matches!(
            self,
            RuntimeKind::ChromiumWasm | RuntimeKind::ChromiumJs | RuntimeKind::FirefoxWasm | RuntimeKind::FirefoxJs
        )
    }

    /// A Wasm engine inside the harness process.
    pub fn is_wasm_in_process(self) -> bool {
        matches!(
            self,
            RuntimeKind::WasmtimeJit | RuntimeKind::WasmtimeAot | RuntimeKind::Wasmi
        )
    }

    /// Warm invocations run in harness threads (native: a direct call; Wasm engines in-process).
    pub fn is_in_process(self) -> bool {
        self == RuntimeKind::Native || self.is_wasm_in_process()
    }

    /// Served by a node process.
    pub fn is_node(self) -> bool {
        matches!(self, RuntimeKind::NodeWasm | RuntimeKind::NodeJs)
    }
}

impl std::fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A runtime equals its name, so plans and rows compare without spelling the name twice.
impl PartialEq<&str> for RuntimeKind {
    fn eq(&self, name: &&str) -> bool {
        self.as_str() == *name
    }
}

impl PartialEq<str> for RuntimeKind {
    fn eq(&self, name: &str) -> bool {
        self.as_str() == name
    }
}

/// An unknown runtime name; the message lists the valid ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown runtime `{0}`; valid runtimes: {names}", names = RuntimeKind::names())]
pub struct UnknownRuntime(pub String);

impl std::str::FromStr for RuntimeKind {
    type Err = UnknownRuntime;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == name)
            .ok_or_else(|| UnknownRuntime(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_serde() {
        for r in RuntimeKind::ALL {
            assert_eq!(r.as_str().parse::<RuntimeKind>(), Ok(r));
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{r}\""));
        }
        let err = "wasmer".parse::<RuntimeKind>().unwrap_err().to_string();
        assert!(err.contains("wasmer") && err.contains("node-js"), "{err}");
    }
}
