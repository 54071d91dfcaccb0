//! Shared helpers of the end-to-end tests: they run the real `harness` binary on the real built workloads.
#![allow(dead_code)]

use harness_data::{InvocationRecord, Manifest, PairedRecord, SampleRecord};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use toml::Value;

pub mod machine;
mod meter;
pub use meter::{UM25C_WATTS, assert_um25c_window_split, um25c, um25c_probe};

/// Starts `harness measure` of `plan` into `run` in the background and returns once `rows` measured rows are on
/// disk (at most a minute), for tests that interrupt or kill a run midway.
pub fn spawn_measure_until(plan: &Path, run: &Path, rows: usize) -> std::process::Child {
    let child = harness()
        .args(["measure", "--plan"])
        .arg(plan)
        .arg("--out")
        .arg(run)
        .arg("--artifacts")
        .arg(artifacts())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    // Plus the header line.
    while std::fs::read_to_string(run.join("invocations.csv")).map_or(0, |t| t.lines().count()) < rows + 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "no {rows} rows written within a minute"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child
}

/// The harness binary, to run. The calling test shares the machine from here on ([`machine`]).
pub fn harness() -> Command {
    machine::share();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_harness"));
    cmd.env("CI", "true");
    cmd
}

/// The artifacts built by scripts/build-workloads.sh (scripts/test.sh runs it first).
pub fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../artifacts");
    assert!(
        dir.join("wasm/noop.wasm").is_file(),
        "workloads are not built: run scripts/build-workloads.sh (scripts/test.sh does it before the tests)"
    );
    dir
}

/// The smallest plan of issue "The measurement spine", as committed: 40 measured rows plus 8 marked warm-ups.
pub fn spine_plan() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../plans/issue-spine.toml")
}

/// A plan written as it is read: `PlanBuilder::new().seed(1).repetitions(3).runtimes(&["native", "wasmi"])
/// .modes(&["warm"]).workload("fibonacci", &["25"]).probe(Probe::new("model")).write(dir, "name.toml")`.
///
/// Only what a test sets is written, in the order it is set (top-level keys, then the workloads, then the
/// probes), so the plan's own defaults apply to the rest. Setting a key again replaces its value in place.
#[derive(Debug, Clone, Default)]
pub struct PlanBuilder {
    keys: Keys,
    workloads: Vec<(String, Vec<String>)>,
    probes: Vec<Probe>,
}

impl PlanBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// [`spine_plan`], to change a key or two of it.
    pub fn spine() -> Self {
        let path = spine_plan();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut table: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut plan = Self::new();
        if let Some(Value::Array(workloads)) = table.remove("workloads") {
            for w in workloads {
                let w: Workload = w.try_into().expect("a [[workloads]] entry of plans/issue-spine.toml");
                plan.workloads.push((w.name, w.inputs));
            }
        }
        assert!(!table.contains_key("probes"), "the spine plan has no probes");
        for (key, value) in table {
            plan.keys.set(&key, value);
        }
        plan
    }

    pub fn seed(self, seed: u32) -> Self {
        self.set("seed", seed)
    }

    pub fn repetitions(self, repetitions: u32) -> Self {
        self.set("repetitions", repetitions)
    }

    pub fn warmup(self, warmup: u32) -> Self {
        self.set("warmup", warmup)
    }

    pub fn baseline_ms(self, ms: u32) -> Self {
        self.set("baseline_ms", ms)
    }

    pub fn timeout_ms(self, ms: u32) -> Self {
        self.set("timeout_ms", ms)
    }

    pub fn runtimes(self, runtimes: &[&str]) -> Self {
        self.set("runtimes", runtimes.to_vec())
    }

    pub fn modes(self, modes: &[&str]) -> Self {
        self.set("modes", modes.to_vec())
    }

    /// Any other top-level key: `.set("cold_boundary", "process")`, `.set("calibrate_delay", true)`.
    pub fn set(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.keys.set(key, value.into());
        self
    }

    /// A `[[workloads]]` entry.
    pub fn workload(mut self, name: &str, inputs: &[&str]) -> Self {
        self.workloads
            .push((name.to_owned(), inputs.iter().map(|i| (*i).to_owned()).collect()));
        self
    }

    /// A `[[workloads]]` entry per `(name, input)`.
    pub fn workloads(self, workloads: &[(&str, &str)]) -> Self {
        workloads
            .iter()
            .fold(self, |plan, (name, input)| plan.workload(name, &[input]))
    }

    /// A `[[probes]]` entry.
    pub fn probe(mut self, probe: Probe) -> Self {
        self.probes.push(probe);
        self
    }

    /// The plan's TOML.
    pub fn text(&self) -> String {
        let mut text = self.keys.text();
        for (name, inputs) in &self.workloads {
            text += &format!(
                "[[workloads]]\nname = {}\ninputs = {}\n",
                Value::from(name.as_str()),
                Value::from(inputs.clone())
            );
        }
        for probe in &self.probes {
            text += "[[probes]]\n";
            text += &probe.keys.text();
        }
        text
    }

    /// Writes the plan to `dir/name` and returns its path.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        write_plan(dir, name, &self.text())
    }
}

/// A `[[probes]]` entry of a [`PlanBuilder`]: `Probe::new("rapl").path("sysfs_root", fake.root()).set("interval_ms", 1)`.
#[derive(Debug, Clone)]
pub struct Probe {
    keys: Keys,
}

impl Probe {
    pub fn new(kind: &str) -> Self {
        let mut keys = Keys::default();
        keys.set("kind", kind.into());
        Self { keys }
    }

    pub fn set(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.keys.set(key, value.into());
        self
    }

    /// A path-valued key (`sysfs_root`, `port`, `path`).
    pub fn path(self, key: &str, path: &Path) -> Self {
        let path = path.to_str().expect("a UTF-8 path");
        self.set(key, path)
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Workload {
    name: String,
    inputs: Vec<String>,
}

/// `key = value` lines in the order their keys were first set.
#[derive(Debug, Clone, Default)]
struct Keys(Vec<(String, Value)>);

impl Keys {
    fn set(&mut self, key: &str, value: Value) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => self.0.push((key.to_owned(), value)),
        }
    }

    fn text(&self) -> String {
        self.0.iter().map(|(k, v)| format!("{k} = {v}\n")).collect()
    }
}

pub fn write_plan(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

pub fn measure(plan: &Path, out: &Path) -> Output {
    harness()
        .args(["measure", "--plan"])
        .arg(plan)
        .arg("--out")
        .arg(out)
        .arg("--artifacts")
        .arg(artifacts())
        .output()
        .expect("running harness")
}

pub fn rows(run: &Path) -> Vec<InvocationRecord> {
    csv_rows(&run.join("invocations.csv"))
}

pub fn manifest(run: &Path) -> Manifest {
    serde_json::from_slice(&std::fs::read(run.join("manifest.json")).expect("manifest.json")).expect("manifest parses")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn median(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values[values.len() / 2]
}

/// Every row of a CSV file a run wrote, as the data crate's record type.
pub fn csv_rows<T: serde::de::DeserializeOwned>(path: &Path) -> Vec<T> {
    let mut reader = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    reader
        .deserialize()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn paired(run: &Path) -> Vec<PairedRecord> {
    csv_rows(&run.join("paired.csv"))
}

pub fn samples(run: &Path) -> Vec<SampleRecord> {
    csv_rows(&run.join("samples.csv"))
}

// One fixture for both crates' tests: the analysis tests' own file.
#[path = "../../../analysis/tests/common/paired.rs"]
mod paired;
pub use paired::paired_from;

/// Writes `rows` as the run's paired.csv (a run measured without a probe has none).
pub fn write_paired(run: &Path, rows: impl IntoIterator<Item = PairedRecord>) {
    let mut writer = csv::Writer::from_path(run.join("paired.csv")).unwrap();
    for row in rows {
        writer.serialize(row).unwrap();
    }
    writer.flush().unwrap();
}

/// Ids and owner labels of every container the harness labelled, running or not.
pub fn harness_containers() -> Vec<(String, String)> {
    let out = Command::new("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            "label=harness.managed",
            "--format",
            "{{.ID}} {{.Label \"harness.owner\"}}",
        ])
        .output()
        .expect("the docker CLI");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(id, owner)| (id.to_string(), owner.to_string()))
        .collect()
}

/// The containers of the harness process `pid`.
pub fn containers_of(pid: u32) -> Vec<String> {
    harness_containers()
        .into_iter()
        .filter(|(_, owner)| owner.starts_with(&format!("{pid}:")))
        .map(|(id, _)| id)
        .collect()
}

/// Waits (up to `limit`) until `pid` has no container; the engine removes auto-removed ones asynchronously.
pub fn assert_none_left(pid: u32, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let left = containers_of(pid);
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "containers of harness {pid} left behind: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Starts `harness measure` in the background with its output piped and `env` set.
pub fn spawn_measure(plan: &Path, run: &Path, env: &[(&str, &str)]) -> Child {
    let mut cmd = harness();
    cmd.args(["measure", "--plan"])
        .arg(plan)
        .arg("--out")
        .arg(run)
        .arg("--artifacts")
        .arg(artifacts())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawning harness")
}

/// `harness report ARGS --out OUT RUN`, which must succeed; its results.json.
pub fn report_results(run: &Path, args: &[&str], out: &Path) -> serde_json::Value {
    let output = harness()
        .arg("report")
        .args(args)
        .arg("--out")
        .arg(out)
        .arg(run)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap()
}
