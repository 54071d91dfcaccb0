//! Where each workload's built artifacts live, and the `.cwasm` precompiled ahead of time.
//!
//! ```text
//! artifacts/wasm/<workload>.wasm                       scripts/build-workloads.sh
//! artifacts/native/<workload>                          scripts/build-workloads.sh
//! artifacts/cwasm/<workload>-wasmtime-<version>.cwasm  precompiled by `harness measure` before it measures
//! artifacts/musl/<workload>                            scripts/build-musl-workloads.sh (static, for containers)
//! image harness-workload/<workload>:<hash>             built by `harness measure` from the musl executable
//! ```

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
    pub cwasm: PathBuf,
    pub native: PathBuf,
    pub musl: PathBuf,
    /// The container image, once `ensure` has found or built it.
    pub container_image: Arc<OnceLock<crate::runtime::docker_engine::ImageInfo>>,
}

impl WorkloadArtifacts {
    /// Paths for `spec` under `dir`, whether or not they exist yet.
    pub fn at(dir: &Path, spec: &'static WorkloadSpec) -> WorkloadArtifacts {
        let version = env!("HARNESS_WASMTIME_VERSION");
        WorkloadArtifacts {
            name: spec.name,
            spec,
            wasm: dir.join("wasm").join(format!("{}.wasm", spec.name)),
            cwasm: dir
                .join("cwasm")
                .join(format!("{}-wasmtime-{version}.cwasm", spec.name)),
            native: dir.join("native").join(spec.name),
            musl: dir.join("musl").join(spec.name),
            container_image: Arc::default(),
        }
    }

    /// Checks what `runtimes` need and precompiles the `.cwasm` when `wasmtime-aot` is among them and it is
    /// missing or older than its `.wasm`. Errors say the command that fixes them.
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
        if runtimes.iter().any(|r| r == "wasmtime-aot") && is_stale(&self.cwasm, &self.wasm) {
            let wasm = std::fs::read(&self.wasm).with_context(|| format!("reading {}", self.wasm.display()))?;
            let cwasm = crate::runtime::wasmtime_rt::precompile(&wasm)
                .with_context(|| format!("precompiling {}", self.wasm.display()))?;
            if let Some(parent) = self.cwasm.parent() {
                std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(&self.cwasm, cwasm).with_context(|| format!("writing {}", self.cwasm.display()))?;
        }
        Ok(())
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
