//! Where each workload's built artifacts live, and the `.cwasm` precompiled ahead of time.
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

#[derive(Debug, Clone)]
pub struct WorkloadArtifacts {
    pub name: &'static str,
    pub spec: &'static WorkloadSpec,
    pub wasm: PathBuf,
    /// The `.cwasm` for the default engine configuration (epoch interruption); [`Self::cwasm_for`] for others.
    pub cwasm: PathBuf,
    pub native: PathBuf,
    pub musl: PathBuf,
    /// The container image, once `ensure` has found or built it.
    pub container_image: Arc<OnceLock<crate::runtime::docker_engine::ImageInfo>>,
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

    /// Checks what `runtimes` need and precompiles the `.cwasm` (for both interrupt settings, so either loads,
    /// in this process or an `invoke-once` child) when `wasmtime-aot` is among them and it is missing or older
    /// than its `.wasm`. Errors say the command that fixes them.
    pub fn ensure(&self, runtimes: &[String]) -> anyhow::Result<()> {
        let needs_wasm = runtimes
            .iter()
            .any(|r| r.starts_with("wasmtime") || r == "wasmi" || r == "node-wasm");
        if needs_wasm && !self.wasm.is_file() {
            bail!(
                "the Wasm module of workload `{}` is missing ({}): run `{BUILD_COMMAND}` (it needs the wasm32-wasip1 target: `rustup target add wasm32-wasip1`)",
                self.name,
                self.wasm.display()
            );
        }
        if runtimes.iter().any(|r| r == "native") && !self.native.is_file() {
            bail!(
                "the native executable of workload `{}` is missing ({}): run `{BUILD_COMMAND}`",
                self.name,
                self.native.display()
            );
        }
        if runtimes.iter().any(|r| r == "node-js") {
            crate::runtime::node::js_port(self.name)?;
        }
        if runtimes.iter().any(|r| r == "container") && self.container_image.get().is_none() {
            if !self.musl.is_file() {
                bail!(
                    "the static executable of workload `{}` for its container image is missing ({}): run `scripts/build-musl-workloads.sh` (it needs `rustup target add x86_64-unknown-linux-musl`; scripts/setup.sh does both)",
                    self.name,
                    self.musl.display()
                );
            }
            let image = crate::runtime::docker_engine::ensure_image(self.name, &self.musl)
                .with_context(|| format!("the container image of workload `{}`", self.name))?;
            let _ = self.container_image.set(image);
        }
        if runtimes.iter().any(|r| r == "wasmtime-aot") {
            for interrupt in [Interrupt::Epoch, Interrupt::None] {
                self.precompile(interrupt)?;
            }
        }
        Ok(())
    }

    /// Writes the `.cwasm` for `interrupt` unless it is newer than the `.wasm`.
    pub fn precompile(&self, interrupt: Interrupt) -> anyhow::Result<()> {
        let path = self.cwasm_for(interrupt);
        if !is_stale(&path, &self.wasm) {
            return Ok(());
        }
        let wasm = std::fs::read(&self.wasm).with_context(|| format!("reading {}", self.wasm.display()))?;
        let cwasm = crate::runtime::wasmtime_rt::precompile(&wasm, interrupt)
            .with_context(|| format!("precompiling {}", self.wasm.display()))?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        // Written aside and renamed, so a run in another process never loads half a file.
        let partial = path.with_extension(format!("cwasm.{}", std::process::id()));
        std::fs::write(&partial, cwasm).with_context(|| format!("writing {}", partial.display()))?;
        std::fs::rename(&partial, &path).with_context(|| format!("writing {}", path.display()))
    }

    pub fn sizes(&self) -> ArtifactSizes {
        let size = |p: &Path| std::fs::metadata(p).ok().map(|m| m.len());
        ArtifactSizes {
            native_bytes: size(&self.native),
            wasm_bytes: size(&self.wasm),
            cwasm_bytes: size(&self.cwasm),
            container_image_bytes: self.container_image.get().map(|i| i.size_bytes),
        }
    }
}

/// The cache key of a `.cwasm`: workload, wasmtime version and the engine's interrupt setting.
fn cwasm_name(workload: &str, interrupt: Interrupt) -> String {
    let version = env!("HARNESS_WASMTIME_VERSION");
    format!("{workload}-wasmtime-{version}-{}.cwasm", interrupt.as_str())
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
