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
//! artifacts/commands/<workload>/benchmark.wasm         built-in WASI commands (`transfer-wasi`):
//!                                                      scripts/build-commands.sh
//! artifacts/cwasm/<name>-<module hash>-wasmtime-...    a command module's `.cwasm`, keyed by its content
//! ```

use anyhow::{Context, bail};
use harness_data::ArtifactSizes;
use harness_data::plan::{Interrupt, PlanWorkload};
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
    harness_data::fsio::write_bytes_atomically(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// What a WASI command workload (issue 14) needs beyond its files: how it is invoked and what it must print.
#[derive(Debug, Clone, Default)]
pub struct CommandArtifacts {
    /// The module's directory, preopened as `.` and the working directory of its native twin.
    pub dir: PathBuf,
    pub args: Vec<String>,
    /// The file given on stdin (external workloads); built-ins get their prepared input there instead.
    pub stdin: Option<PathBuf>,
    /// A user's JavaScript module for node-js.
    pub js: Option<PathBuf>,
    pub preopen_writable: bool,
    /// The built-in workload this command is (its inputs, its build script); `None` for a plan's module.
    pub builtin: Option<BuiltinCommand>,
    /// `<stem>.stdout.expected` / `.stderr.expected` beside the module, read before the run.
    pub expected_stdout: Option<Expected>,
    pub expected_stderr: Option<Expected>,
}

/// An expected-output file and its bytes.
#[derive(Debug, Clone)]
pub struct Expected {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
}

/// The expected-output file `<module stem>.<stream>.expected` beside `wasm`, read now (outside any timed window).
pub fn read_expected(wasm: &Path, stream: &str) -> std::io::Result<Option<Expected>> {
    let stem = wasm
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let path = wasm.with_file_name(format!("{stem}.{stream}.expected"));
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(Expected { path, bytes })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// A built-in workload that is a WASI command, run through the command path: its module is
/// `artifacts/commands/<name>/benchmark.wasm` (built by scripts/build-commands.sh).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltinCommand {
    TransferWasi,
}

impl BuiltinCommand {
    pub const ALL: [BuiltinCommand; 1] = [BuiltinCommand::TransferWasi];

    pub fn name(self) -> &'static str {
        match self {
            BuiltinCommand::TransferWasi => "transfer-wasi",
        }
    }

    /// The built-in command `spec` is, if it is one.
    pub fn of(spec: &WorkloadSpec) -> Option<BuiltinCommand> {
        BuiltinCommand::ALL.into_iter().find(|c| c.name() == spec.name)
    }

    /// Its workload (its inputs are prepared as any built-in's).
    pub fn spec(self) -> &'static WorkloadSpec {
        harness_workloads::find(self.name()).expect("every built-in command is a built-in workload")
    }
}

/// What a workload's module is and how it is invoked: the two guest contracts the runtimes implement.
#[derive(Debug, Clone)]
pub enum Guest {
    /// A built-in workload on the harness ABI (`harness_run` over linear memory), its native twin callable
    /// in-process.
    Builtin(&'static WorkloadSpec),
    /// A WASI command (`_start`, stdin, stdout): a built-in one or a module a plan names by path.
    Command(Arc<CommandArtifacts>),
}

pub const BUILD_COMMANDS_SCRIPT: &str = "scripts/build-commands.sh";

#[derive(Debug, Clone)]
pub struct WorkloadArtifacts {
    pub name: &'static str,
    pub guest: Guest,
    /// Names this workload's `.cwasm`: the workload name, plus the module's content hash for commands, so two
    /// modules both called `benchmark.wasm` never share one.
    pub cache_key: String,
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
        if let Some(builtin) = BuiltinCommand::of(spec) {
            let command_dir = dir.join("commands").join(spec.name);
            return WorkloadArtifacts::command(
                dir,
                spec.name,
                command_dir.join("benchmark.wasm"),
                command_dir.join("benchmark"),
                CommandArtifacts {
                    dir: command_dir,
                    builtin: Some(builtin),
                    ..CommandArtifacts::default()
                },
            );
        }
        WorkloadArtifacts {
            name: spec.name,
            guest: Guest::Builtin(spec),
            cache_key: spec.name.to_string(),
            wasm: dir.join("wasm").join(format!("{}.wasm", spec.name)),
            cwasm: cwasm_path(dir, spec.name, Interrupt::Epoch),
            native: dir.join("native").join(spec.name),
            musl: dir.join("musl").join(spec.name),
            container_image: Arc::default(),
        }
    }

    /// A WASI command workload: `wasm` (and `native`, which may not exist) with `command`'s contract. The
    /// `.cwasm` goes under `dir/cwasm`, keyed by the module's content (when readable; `require_wasm` says
    /// what is missing otherwise).
    pub fn command(
        dir: &Path,
        name: &'static str,
        wasm: PathBuf,
        native: PathBuf,
        command: CommandArtifacts,
    ) -> WorkloadArtifacts {
        let hash = std::fs::read(&wasm)
            .map(|bytes| harness_workloads::digest(&bytes))
            .unwrap_or_else(|_| "missing".into());
        let cache_key = format!("{name}-{hash}");
        WorkloadArtifacts {
            name,
            cwasm: cwasm_path(dir, &cache_key, Interrupt::Epoch),
            cache_key,
            musl: dir.join("musl").join(name),
            wasm,
            native,
            guest: Guest::Command(Arc::new(command)),
            container_image: Arc::default(),
        }
    }

    /// The artifacts of a plan's workload: a built-in by name, or the command module the plan names by path.
    pub fn for_plan(dir: &Path, entry: &PlanWorkload) -> anyhow::Result<WorkloadArtifacts> {
        let Some(command) = &entry.command else {
            let spec =
                harness_workloads::find(&entry.name).with_context(|| format!("unknown workload `{}`", entry.name))?;
            return Ok(WorkloadArtifacts::at(dir, spec));
        };
        let wasm = PathBuf::from(&command.wasm);
        let module_dir = wasm.parent().map(Path::to_path_buf).unwrap_or_default();
        let read = |stream| {
            read_expected(&wasm, stream).with_context(|| format!("reading the expected {stream} of `{}`", entry.name))
        };
        let artifacts = CommandArtifacts {
            dir: module_dir,
            args: command.args.clone(),
            stdin: command.stdin.as_ref().map(PathBuf::from),
            js: command.js.as_ref().map(PathBuf::from),
            preopen_writable: command.preopen_writable,
            builtin: None,
            expected_stdout: read("stdout")?,
            expected_stderr: read("stderr")?,
        };
        // No `native` in the plan: a path that does not exist, so `require_native` says what to add.
        let native = command
            .native
            .as_ref()
            .map(PathBuf::from)
            .unwrap_or_else(|| wasm.with_extension("native-not-given"));
        Ok(WorkloadArtifacts::command(
            dir,
            intern(&entry.name),
            wasm,
            native,
            artifacts,
        ))
    }

    /// The input bytes of each of `entry`'s inputs, prepared outside any timed window: a built-in's from its
    /// input spec, a command's from its `stdin` file (empty without one).
    pub fn plan_inputs(&self, entry: &PlanWorkload) -> anyhow::Result<Vec<Vec<u8>>> {
        let spec = match &self.guest {
            Guest::Builtin(spec) => *spec,
            Guest::Command(command) => match command.builtin {
                Some(builtin) => builtin.spec(),
                None => {
                    return Ok(vec![match &command.stdin {
                        Some(file) => read_stdin_file(file)?,
                        None => Vec::new(),
                    }]);
                }
            },
        };
        entry
            .inputs
            .iter()
            .map(|i| {
                spec.prepare_input(i)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", entry.name))
            })
            .collect()
    }

    /// The `.cwasm` an engine with `interrupt` loads: a module compiled with epoch checks does not load into an
    /// engine without them (nor the reverse), so each setting has its own file.
    pub fn cwasm_for(&self, interrupt: Interrupt) -> PathBuf {
        self.cwasm.with_file_name(cwasm_name(&self.cache_key, interrupt))
    }

    /// The `.wasm` module, or an error with the command that builds it.
    pub fn require_wasm(&self) -> anyhow::Result<()> {
        if let Guest::Command(command) = &self.guest
            && !self.wasm.is_file()
        {
            let fix = if command.builtin.is_some() {
                format!("run `{BUILD_COMMANDS_SCRIPT}` (scripts/build-workloads.sh calls it)")
            } else {
                "check the `wasm` path of the plan".to_string()
            };
            bail!(
                "the WASI command module of workload `{}` is missing ({}): {fix}",
                self.name,
                self.wasm.display()
            );
        }
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
        if let Guest::Command(command) = &self.guest
            && !self.native.is_file()
        {
            let fix = if command.builtin.is_some() {
                format!("run `{BUILD_COMMANDS_SCRIPT}`")
            } else {
                "give the plan's workload a `native` executable with the same contract, or leave `native` out of `runtimes`".to_string()
            };
            bail!(
                "the native executable of command workload `{}` is missing ({}): {fix}",
                self.name,
                self.native.display()
            );
        }
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

/// A command's `stdin` file, read whole but never past the size limit the plan was checked against (it may have
/// grown since).
fn read_stdin_file(file: &Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let limit = crate::runtime::wasi::contract::MAX_FILE_BYTES;
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
        .with_context(|| format!("reading {}", file.display()))?;
    crate::runtime::wasi::contract::check_file_size(file, bytes.len() as u64, "the command's stdin")
        .map_err(anyhow::Error::msg)?;
    Ok(bytes)
}

/// A plan's workload name for the life of the process ([`WorkloadArtifacts::name`] is `&'static` as the
/// built-ins' are); each name is kept once, however often a plan is read.
fn intern(name: &str) -> &'static str {
    static NAMES: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut names = NAMES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(known) = names.iter().find(|n| **n == name) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
    names.push(leaked);
    leaked
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
    fn every_builtin_command_is_a_builtin_workload_on_the_command_path() {
        for builtin in BuiltinCommand::ALL {
            let artifacts = WorkloadArtifacts::at(Path::new("a"), builtin.spec());
            assert!(
                matches!(&artifacts.guest, Guest::Command(c) if c.builtin == Some(builtin)),
                "{builtin:?}"
            );
            assert_eq!(
                artifacts.wasm,
                Path::new("a/commands").join(builtin.name()).join("benchmark.wasm")
            );
        }
        let plain = WorkloadArtifacts::at(Path::new("a"), harness_workloads::find("noop").unwrap());
        assert!(matches!(plain.guest, Guest::Builtin(spec) if spec.name == "noop"));
    }

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
