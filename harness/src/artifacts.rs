//! Where each workload's built artifacts live. What each runtime needs of them, and the `.cwasm` precompiled
//! ahead of time, is the runtimes' business (`runtime::ensure_artifacts`): this module only knows files.
//!
//! ```text
//! artifacts/wasm/<workload>.wasm                       scripts/build-workloads.sh
//! artifacts/native/<workload>                          scripts/build-workloads.sh
//! artifacts/cwasm/<workload>-wasmtime-<version>-<interrupt>.cwasm
//!                                                      precompiled by `harness measure` before it measures,
//!                                                      once per interrupt setting (`epoch`, `none`)
//! artifacts/musl/<workload>                            scripts/build-musl-workloads.sh (static, for containers)
//! image harness-workload/<workload>:<hash>             built by `harness measure` from the musl executable
//! ```

use crate::plan::Interrupt;
use anyhow::{Context, bail};
use harness_data::ArtifactSizes;
use harness_workloads::WorkloadSpec;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

pub const BUILD_COMMAND: &str = "scripts/build-workloads.sh";

/// A workload's container image: its tag, size in bytes and architecture (`amd64`, `arm64`: the host's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerImage {
    pub tag: String,
    pub size_bytes: u64,
    pub architecture: String,
}

/// Writes `bytes` to `path` aside and renames it, so a run in another process never loads half a file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let partial = path.with_extension(format!("partial.{}", std::process::id()));
    std::fs::write(&partial, bytes).with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, path).with_context(|| format!("writing {}", path.display()))
}

#[derive(Debug, Clone)]
pub struct WorkloadArtifacts {
    pub name: &'static str,
    pub spec: &'static WorkloadSpec,
    pub wasm: PathBuf,
    /// The `.cwasm` for the default engine configuration (epoch interruption); [`Self::cwasm_for`] for others.
    pub cwasm: PathBuf,
    pub native: PathBuf,
    pub musl: PathBuf,
    /// The container image, once the container runtime has found or built it.
    pub container_image: Arc<OnceLock<ContainerImage>>,
}

impl WorkloadArtifacts {
    /// Paths for `spec` under `dir`, whether or not they exist yet.
    pub fn at(dir: &Path, spec: &'static WorkloadSpec) -> WorkloadArtifacts {
        WorkloadArtifacts {
            name: spec.name,
            spec,
            wasm: dir.join("wasm").join(format!("{}.wasm", spec.name)),
            cwasm: cwasm_path(dir, spec.name, Interrupt::Epoch),
            native: dir.join("native").join(spec.name),
            musl: dir.join("musl").join(spec.name),
            container_image: Arc::default(),
        }
    }

    /// The `.cwasm` an engine with `interrupt` loads: a module compiled with epoch checks does not load into an
    /// engine without them (nor the reverse), so each setting has its own file.
    pub fn cwasm_for(&self, interrupt: Interrupt) -> PathBuf {
        self.cwasm.with_file_name(cwasm_name(self.name, interrupt))
    }

    /// The `.wasm` module, or an error with the command that builds it.
    pub fn require_wasm(&self) -> anyhow::Result<()> {
        if !self.wasm.is_file() {
            bail!(
                "the Wasm module of workload `{}` is missing ({}): run `{BUILD_COMMAND}` (it needs the wasm32-wasip1 target: `rustup target add wasm32-wasip1`)",
                self.name,
                self.wasm.display()
            );
        }
        Ok(())
    }

    /// The native executable, or an error with the command that builds it.
    pub fn require_native(&self) -> anyhow::Result<()> {
        if !self.native.is_file() {
            bail!(
                "the native executable of workload `{}` is missing ({}): run `{BUILD_COMMAND}`",
                self.name,
                self.native.display()
            );
        }
        Ok(())
    }

    /// The static executable a container image holds, or an error with the command that builds it.
    pub fn require_musl(&self) -> anyhow::Result<()> {
        if !self.musl.is_file() {
            bail!(
                "the static executable of workload `{}` for its container image is missing ({}): run `scripts/build-musl-workloads.sh` (it needs `rustup target add {}-unknown-linux-musl`; scripts/setup.sh does both)",
                self.name,
                self.musl.display(),
                std::env::consts::ARCH
            );
        }
        Ok(())
    }

    /// Whether the `.cwasm` for `interrupt` is missing or older than its `.wasm`.
    pub fn cwasm_is_stale(&self, interrupt: Interrupt) -> bool {
        is_stale(&self.cwasm_for(interrupt), &self.wasm)
    }

    pub fn sizes(&self) -> ArtifactSizes {
        let size = |p: &Path| std::fs::metadata(p).ok().map(|m| m.len());
        ArtifactSizes {
            native_bytes: size(&self.native),
            wasm_bytes: size(&self.wasm),
            cwasm_bytes: size(&self.cwasm),
            container_image_bytes: self.container_image.get().map(|i| i.size_bytes),
            container_image_architecture: self.container_image.get().map(|i| i.architecture.clone()),
        }
    }
}

/// The cache key of a `.cwasm`: workload, wasmtime version and the engine's interrupt setting.
/// A `.cwasm` is machine code for one wasmtime version, one target and one engine setting: its name carries all
/// three, so an artifacts folder shared by an x86 server and an arm64 board (NFS) never hands one the other's.
fn cwasm_name(workload: &str, interrupt: Interrupt) -> String {
    let version = env!("HARNESS_WASMTIME_VERSION");
    let target = env!("HARNESS_TARGET");
    format!("{workload}-wasmtime-{version}-{target}-{}.cwasm", interrupt.as_str())
}

fn cwasm_path(dir: &Path, workload: &str, interrupt: Interrupt) -> PathBuf {
    dir.join("cwasm").join(cwasm_name(workload, interrupt))
}

fn is_stale(derived: &Path, source: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (modified(derived), modified(source)) {
        (Some(d), Some(s)) => d < s,
        _ => true,
    }
}

/// The artifacts directory: `--artifacts`, else `$HARNESS_ARTIFACTS`, else `artifacts` beside the repository
/// root the binary was built in (so `target/release/harness` works from any directory), else `./artifacts`.
pub fn default_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HARNESS_ARTIFACTS") {
        return dir.into();
    }
    let built_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("../artifacts");
    if built_in.is_dir() {
        built_in
    } else {
        PathBuf::from("artifacts")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cwasm_name_carries_version_target_and_setting() {
        let name = cwasm_name("noop", Interrupt::None);
        assert!(
            name.starts_with(&format!("noop-wasmtime-{}-", env!("HARNESS_WASMTIME_VERSION"))),
            "{name}"
        );
        // The triple the harness was built for: x86_64 and aarch64 builds never share a file.
        assert!(name.contains(&format!("-{}-", std::env::consts::ARCH)), "{name}");
        assert!(
            name.ends_with(&format!("-{}-none.cwasm", env!("HARNESS_TARGET"))),
            "{name}"
        );
        assert_ne!(name, cwasm_name("noop", Interrupt::Epoch));
    }
}
