//! Plans: what to measure, read from TOML. Every error names the file, the line and the field.

use harness_data::load::{
    LoadPlan, default_load_duration_ms, default_load_idle_ms, default_load_instances, default_load_warmup_ms,
};
use harness_data::plan::{AsRunPlan, default_baseline_ms, default_timeout_ms, default_warmup};
use harness_data::{Mode, RuntimeKind};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use toml::Spanned;

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("cannot read plan {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

pub use harness_data::plan::{ColdBoundary, Interrupt, PlanWorkload};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    seed: Option<u64>,
    repetitions: Spanned<u32>,
    #[serde(default = "default_warmup")]
    warmup: u32,
    runtimes: Vec<Spanned<String>>,
    modes: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    cooldown_ms: u64,
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u64,
    #[serde(default)]
    cold_boundary: ColdBoundary,
    interrupt: Option<Spanned<String>>,
    #[serde(default = "default_baseline_ms")]
    baseline_ms: u64,
    calibrate_delay: Option<bool>,
    #[serde(default)]
    skip_unavailable: bool,
    workloads: Spanned<Vec<WorkloadFile>>,
    #[serde(default)]
    probes: Vec<Spanned<ProbeSpec>>,
    load: Option<Spanned<LoadFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoadFile {
    #[serde(default)]
    clients: Vec<Spanned<i64>>,
    #[serde(default)]
    rates: Vec<Spanned<f64>>,
    #[serde(default)]
    burst: Vec<Spanned<i64>>,
    duration_ms: Option<Spanned<i64>>,
    warmup_ms: Option<Spanned<i64>>,
    instances: Option<Spanned<i64>>,
    memory_mb: Option<Spanned<i64>>,
    idle_ms: Option<Spanned<i64>>,
}

pub use harness_probes::spec::ProbeSpec;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkloadFile {
    name: Spanned<String>,
    /// Required for built-ins; a command's input is its `stdin` file and `args`.
    inputs: Option<Spanned<Vec<Spanned<String>>>>,
    /// A WASI command module by path (see [`commands`]).
    wasm: Option<Spanned<String>>,
    args: Option<Spanned<Vec<String>>>,
    stdin: Option<Spanned<String>>,
    native: Option<Spanned<String>>,
    js: Option<Spanned<String>>,
    preopen_writable: Option<Spanned<bool>>,
}

pub mod commands;

/// A validated plan, as run. Serialized into the manifest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub seed: u64,
    pub repetitions: u32,
    pub warmup: u32,
    pub runtimes: Vec<RuntimeKind>,
    pub modes: Vec<Mode>,
    pub cooldown_ms: u64,
    pub timeout_ms: u64,
    pub cold_boundary: ColdBoundary,
    /// Deadlines inside Wasm engines: `epoch` (default) or `none` (see [`Interrupt`]).
    pub interrupt: Interrupt,
    /// Idle time measured before and after the invocations, for baseline power (when probes are present).
    pub baseline_ms: u64,
    /// Play a load pattern at the start and measure each probe's delay (default: when a probe has its own
    /// latency, i.e. NVML or a serial meter).
    pub calibrate_delay: bool,
    /// Leave out, with the reason in the terminal and the manifest, runtimes this machine cannot run (no
    /// Docker engine, no node 20) instead of failing the run. The default plan sets it.
    pub skip_unavailable: bool,
    pub workloads: Vec<PlanWorkload>,
    pub probes: Vec<ProbeSpec>,
    /// Load levels, when `modes` includes `load`.
    pub load: Option<LoadPlan>,
}

impl Plan {
    /// The plan as the manifest records it (probes as their options).
    pub fn as_run(&self) -> AsRunPlan {
        AsRunPlan {
            seed: self.seed,
            repetitions: self.repetitions,
            warmup: self.warmup,
            runtimes: self.runtimes.clone(),
            modes: self.modes.clone(),
            cooldown_ms: self.cooldown_ms,
            timeout_ms: self.timeout_ms,
            cold_boundary: self.cold_boundary,
            interrupt: self.interrupt,
            baseline_ms: self.baseline_ms,
            calibrate_delay: self.calibrate_delay,
            skip_unavailable: self.skip_unavailable,
            workloads: self.workloads.clone(),
            probes: self
                .probes
                .iter()
                .map(|p| serde_json::to_value(p).unwrap_or_default())
                .collect(),
            load: self.load.clone(),
        }
    }

    pub fn load(path: &Path) -> Result<Plan, PlanError> {
        Plan::load_with_vars(path, &[])
    }

    /// Reads a plan whose paths may use `${NAME}`, from `vars` (`--var NAME=VALUE`) or the environment.
    pub fn load_with_vars(path: &Path, vars: &commands::Vars) -> Result<Plan, PlanError> {
        let text = std::fs::read_to_string(path).map_err(|source| PlanError::Read {
            path: path.into(),
            source,
        })?;
        Plan::parse_with_vars(&text, path, vars)
    }

    /// Parses and validates; `path` only labels errors (and is where a command's relative paths start).
    pub fn parse(text: &str, path: &Path) -> Result<Plan, PlanError> {
        Plan::parse_with_vars(text, path, &[])
    }

    /// [`Plan::parse`] with values for `${NAME}` in command workloads' paths.
    pub fn parse_with_vars(text: &str, path: &Path, vars: &commands::Vars) -> Result<Plan, PlanError> {
        let invalid = |span: std::ops::Range<usize>, message: String| {
            let (line, column) = line_column(text, span.start);
            PlanError::Invalid {
                path: path.into(),
                line,
                column,
                message,
            }
        };
        let file: PlanFile =
            toml::from_str(text).map_err(|e| invalid(e.span().unwrap_or(0..0), e.message().trim().to_string()))?;

        if *file.repetitions.get_ref() == 0 {
            return Err(invalid(
                file.repetitions.span(),
                "field `repetitions` must be at least 1".into(),
            ));
        }
        let mut runtimes = Vec::new();
        for runtime in &file.runtimes {
            match runtime.get_ref().parse::<RuntimeKind>() {
                // A runtime named twice would measure its cells twice, with repeated iteration numbers.
                Ok(kind) if runtimes.contains(&kind) => {
                    return Err(invalid(
                        runtime.span(),
                        format!("field `runtimes`: `{kind}` is named twice; name each runtime once"),
                    ));
                }
                Ok(kind) => runtimes.push(kind),
                Err(unknown) => return Err(invalid(runtime.span(), format!("field `runtimes`: {unknown}"))),
            }
        }
        if file.runtimes.is_empty() {
            return Err(invalid(
                0..0,
                format!("field `runtimes` is empty; valid runtimes: {}", RuntimeKind::names()),
            ));
        }
        let mut modes = Vec::new();
        let mut load_mode = false;
        for mode in file.modes.get_ref() {
            let named_twice = || {
                invalid(
                    mode.span(),
                    format!(
                        "field `modes`: `{}` is named twice; name each mode once",
                        mode.get_ref()
                    ),
                )
            };
            match mode.get_ref().as_str() {
                "cold" | "warm" if modes.contains(&mode_of(mode.get_ref())) => return Err(named_twice()),
                "load" if load_mode => return Err(named_twice()),
                "cold" => modes.push(Mode::Cold),
                "warm" => modes.push(Mode::Warm),
                "load" => load_mode = true,
                other => {
                    return Err(invalid(
                        mode.span(),
                        format!("field `modes`: unknown mode `{other}`; valid modes: cold, warm, load"),
                    ));
                }
            }
        }
        if modes.is_empty() && !load_mode {
            return Err(invalid(
                file.modes.span(),
                "field `modes` is empty; valid modes: cold, warm, load".into(),
            ));
        }
        let load = match (&file.load, load_mode) {
            (Some(table), true) => Some(parse_load(table.get_ref()).map_err(|(span, m)| invalid(span, m))?),
            (Some(table), false) => {
                return Err(invalid(
                    table.span(),
                    "a `[load]` table, but `modes` has no \"load\": add it to `modes` or remove the table".into(),
                ));
            }
            (None, true) => {
                return Err(invalid(
                    file.modes.span(),
                    "mode `load` needs a `[load]` table with `clients`, `rates` or `burst`".into(),
                ));
            }
            (None, false) => None,
        };
        if file.workloads.get_ref().is_empty() {
            return Err(invalid(
                file.workloads.span(),
                "field `workloads` is empty: add a [[workloads]] table".into(),
            ));
        }
        let interrupt = match &file.interrupt {
            Some(value) => value
                .get_ref()
                .parse::<Interrupt>()
                .map_err(|e| invalid(value.span(), format!("field `interrupt`: {e}")))?,
            None => Interrupt::default(),
        };
        let mut probes = Vec::with_capacity(file.probes.len());
        for probe in file.probes {
            if let Err((field, message)) = probe.get_ref().check() {
                return Err(invalid(field_span(text, probe.span(), field), message));
            }
            probes.push(probe.into_inner());
        }
        let mut workloads = Vec::new();
        // Every (workload, input) pair once: a repeated one would triple a cell and repeat its iteration
        // numbers. A set keeps the check linear in the number of inputs.
        let mut seen = std::collections::HashSet::new();
        let plan_dir = path.parent().unwrap_or(Path::new("."));
        for entry in file.workloads.get_ref() {
            let name = entry.name.get_ref();
            if commands::is_command(entry) {
                if harness_workloads::find(name).is_some() {
                    return Err(invalid(
                        entry.name.span(),
                        format!(
                            "field `workloads.name`: `{name}` is a built-in workload; give the command module \
                             at `wasm` another name"
                        ),
                    ));
                }
                if let Some(inputs) = &entry.inputs {
                    return Err(invalid(
                        inputs.span(),
                        format!(
                            "field `workloads.inputs` of `{name}`: a command module takes its input from \
                             `stdin` (a file beside it) and `args`; remove `inputs`"
                        ),
                    ));
                }
                if !seen.insert((name.as_str(), commands::COMMAND_INPUT)) {
                    return Err(invalid(
                        entry.name.span(),
                        format!("field `workloads.name`: `{name}` names two workloads; name each once"),
                    ));
                }
                let command = commands::resolve(entry, plan_dir, vars).map_err(|(span, m)| invalid(span, m))?;
                workloads.push(PlanWorkload {
                    name: name.clone(),
                    inputs: vec![commands::COMMAND_INPUT.to_string()],
                    command: Some(command),
                });
                continue;
            }
            if let Some((span, key)) = commands::stray_command_key(entry) {
                return Err(invalid(
                    span,
                    format!(
                        "field `workloads.{key}` of `{name}`: only a command module (a table with `wasm`) takes \
                         `{key}`"
                    ),
                ));
            }
            let Some(spec) = harness_workloads::find(name) else {
                return Err(invalid(
                    entry.name.span(),
                    format!(
                        "field `workloads.name`: unknown workload `{name}`; valid workloads: {}",
                        harness_workloads::names().join(", ")
                    ),
                ));
            };
            let Some(inputs) = &entry.inputs else {
                return Err(invalid(
                    entry.name.span(),
                    format!(
                        "workload `{name}` has no field `inputs`; add e.g. `inputs = [\"{}\"]` ({})",
                        spec.small_input, spec.input_doc
                    ),
                ));
            };
            if inputs.get_ref().is_empty() {
                return Err(invalid(
                    inputs.span(),
                    format!("field `workloads.inputs` of `{name}` is empty"),
                ));
            }
            for input in inputs.get_ref() {
                // A newline or other control character would break report headings and CSV rows.
                if let Some(c) = input.get_ref().chars().find(|c| c.is_control()) {
                    return Err(invalid(
                        input.span(),
                        format!(
                            "field `workloads.inputs` of `{name}`: {:?} holds the control character {c:?}; \
                             inputs are printed in report headings and CSV rows, so use printable text",
                            input.get_ref()
                        ),
                    ));
                }
                if !seen.insert((name.as_str(), input.get_ref().as_str())) {
                    return Err(invalid(
                        input.span(),
                        format!(
                            "field `workloads.inputs` of `{name}`: `{}` is listed twice; list each input once \
                             (raise `repetitions` to measure it more)",
                            input.get_ref()
                        ),
                    ));
                }
                spec.prepare_input(input.get_ref()).map_err(|e| {
                    invalid(
                        input.span(),
                        format!(
                            "field `workloads.inputs` of `{name}`: {e} (expected: {})",
                            spec.input_doc
                        ),
                    )
                })?;
            }
            workloads.push(PlanWorkload {
                name: name.clone(),
                inputs: inputs.get_ref().iter().map(|i| i.get_ref().clone()).collect(),
                command: None,
            });
        }
        // Millisecond fields past a day are typos, and a sleep that never ends looks like a hang.
        for (field, value, max) in [
            ("timeout_ms", file.timeout_ms, MAX_TIMEOUT_MS),
            ("cooldown_ms", file.cooldown_ms, MAX_IDLE_MS),
            ("baseline_ms", file.baseline_ms, MAX_IDLE_MS),
        ] {
            if value > max {
                return Err(invalid(
                    key_span(text, field),
                    format!("field `{field}` is {value}; use at most {max} milliseconds"),
                ));
            }
        }
        // The schedule holds every invocation in memory: `repetitions = 4294967295` once aborted on a 64 GiB
        // allocation. Counted in u128 so the product itself cannot overflow.
        let cells: u128 = workloads.iter().map(|w| w.inputs.len() as u128).sum::<u128>()
            * runtimes.len() as u128
            * modes.len() as u128;
        let scheduled = cells * (u128::from(*file.repetitions.get_ref()) + u128::from(file.warmup));
        if scheduled > MAX_SCHEDULED {
            return Err(invalid(
                file.repetitions.span(),
                format!(
                    "{scheduled} invocations scheduled ({cells} cells x (repetitions + warmup)), more than the \
                     {MAX_SCHEDULED} one run can hold; lower `repetitions` or split the plan into several runs"
                ),
            ));
        }
        Ok(Plan {
            seed: file.seed.unwrap_or_else(random_seed),
            repetitions: *file.repetitions.get_ref(),
            warmup: file.warmup,
            runtimes,
            modes,
            cooldown_ms: file.cooldown_ms,
            timeout_ms: file.timeout_ms.max(1),
            cold_boundary: file.cold_boundary,
            interrupt,
            baseline_ms: file.baseline_ms,
            calibrate_delay: file
                .calibrate_delay
                .unwrap_or_else(|| probes.iter().any(ProbeSpec::has_own_delay)),
            skip_unavailable: file.skip_unavailable,
            workloads,
            probes,
            load,
        })
    }
}

type SpannedError = (std::ops::Range<usize>, String);

/// The most invocations one run may schedule (the schedule and the cell labels are held in memory).
pub const MAX_SCHEDULED: u128 = 100_000_000;
/// The longest per-invocation deadline: a day.
pub const MAX_TIMEOUT_MS: u64 = 86_400_000;
/// The longest cooldown and baseline idle: an hour.
pub const MAX_IDLE_MS: u64 = 3_600_000;

/// The span of a top-level `key = ...` line (before the first table), for fields read without a span.
fn key_span(text: &str, key: &str) -> std::ops::Range<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            break;
        }
        if let Some(rest) = trimmed.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            let start = offset + (line.len() - trimmed.len());
            return start..start + key.len();
        }
        offset += line.len();
    }
    0..0
}

/// Validates `[load]`: levels must be positive (0 clients or a negative rate cannot be run).
fn parse_load(file: &LoadFile) -> Result<LoadPlan, SpannedError> {
    let positive = |field: &str, value: &Spanned<i64>| -> Result<u32, SpannedError> {
        match u32::try_from(*value.get_ref()) {
            Ok(v) if v > 0 => Ok(v),
            _ => Err((
                value.span(),
                format!(
                    "field `load.{field}`: {} is not a level; use a whole number of at least 1",
                    value.get_ref()
                ),
            )),
        }
    };
    let millis =
        |field: &str, value: &Option<Spanned<i64>>, default: u64, zero_ok: bool| -> Result<u64, SpannedError> {
            match value {
                None => Ok(default),
                Some(v) if *v.get_ref() > 0 || (zero_ok && *v.get_ref() == 0) => Ok(*v.get_ref() as u64),
                Some(v) => Err((
                    v.span(),
                    format!(
                        "field `load.{field}` must be {} milliseconds, not {}",
                        if zero_ok { "0 or more" } else { "at least 1" },
                        v.get_ref()
                    ),
                )),
            }
        };
    let clients = file
        .clients
        .iter()
        .map(|c| positive("clients", c))
        .collect::<Result<Vec<_>, _>>()?;
    let burst = file
        .burst
        .iter()
        .map(|b| positive("burst", b))
        .collect::<Result<Vec<_>, _>>()?;
    let mut rates = Vec::new();
    for rate in &file.rates {
        let r = *rate.get_ref();
        if !(r.is_finite() && r > 0.0) {
            return Err((
                rate.span(),
                format!("field `load.rates`: {r} is not a rate; use requests per second above 0"),
            ));
        }
        rates.push(r);
    }
    if clients.is_empty() && rates.is_empty() && burst.is_empty() {
        return Err((
            0..0,
            "`[load]` has no levels: give `clients`, `rates` or `burst`".into(),
        ));
    }
    let instances = match &file.instances {
        Some(v) => positive("instances", v)?,
        None => default_load_instances(),
    };
    let memory_mb = match &file.memory_mb {
        Some(v) => Some(u64::from(positive("memory_mb", v)?)),
        None => None,
    };
    Ok(LoadPlan {
        clients,
        rates,
        burst,
        duration_ms: millis("duration_ms", &file.duration_ms, default_load_duration_ms(), false)?,
        warmup_ms: millis("warmup_ms", &file.warmup_ms, default_load_warmup_ms(), true)?,
        instances,
        memory_mb,
        idle_ms: millis("idle_ms", &file.idle_ms, default_load_idle_ms(), true)?,
    })
}

fn mode_of(name: &str) -> Mode {
    if name == "cold" { Mode::Cold } else { Mode::Warm }
}

/// The span of `field = ...` in the table whose header `[[probes]]` is at `header` (toml spans an element of
/// an array of tables by its header only), so an error points at the field's own line; the header when the
/// field is not found before the next table.
fn field_span(text: &str, header: std::ops::Range<usize>, field: &str) -> std::ops::Range<usize> {
    let mut offset = header.end;
    for line in text.get(header.end..).unwrap_or("").split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            break;
        }
        if let Some(rest) = trimmed.strip_prefix(field)
            && rest.trim_start().starts_with('=')
        {
            let start = offset + (line.len() - trimmed.len());
            return start..start + field.len();
        }
        offset += line.len();
    }
    header
}

/// A seed for plans that name none; recorded in the manifest so the run can be repeated.
fn random_seed() -> u64 {
    let t = harness_probes::clock::unix_ns() as u64;
    t ^ (u64::from(std::process::id()) << 32)
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.len(), |nl| before.len() - nl - 1) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUE_PLAN: &str = r#"seed = 7
repetitions = 5
warmup = 1
runtimes = ["native", "wasmtime-jit", "wasmtime-aot", "wasmi"]
modes = ["cold", "warm"]
[[workloads]]
name = "fibonacci"
inputs = ["25"]
"#;

    fn error(text: &str) -> String {
        Plan::parse(text, Path::new("plans/test.toml")).unwrap_err().to_string()
    }

    #[test]
    fn parses_the_issue_plan() {
        let plan = Plan::parse(ISSUE_PLAN, Path::new("p.toml")).unwrap();
        assert_eq!(plan.seed, 7);
        assert_eq!(plan.repetitions, 5);
        assert_eq!(plan.runtimes.len(), 4);
        assert_eq!(plan.modes, vec![Mode::Cold, Mode::Warm]);
        assert_eq!(plan.workloads[0].inputs, vec!["25"]);
        assert_eq!(plan.timeout_ms, 60_000);
    }

    #[test]
    fn misspelled_field_names_file_line_and_field() {
        let text = ISSUE_PLAN.replace("repetitions = 5", "repetitons = 5");
        let msg = error(&text);
        assert!(msg.starts_with("plans/test.toml:2:"), "{msg}");
        assert!(msg.contains("repetitons"), "{msg}");
    }

    #[test]
    fn wrong_type_names_line() {
        let msg = error(&ISSUE_PLAN.replace("warmup = 1", "warmup = \"one\""));
        assert!(msg.starts_with("plans/test.toml:3:"), "{msg}");
    }

    #[test]
    fn syntax_error_names_line() {
        let msg = error(&ISSUE_PLAN.replace("modes = [\"cold\", \"warm\"]", "modes = [\"cold\", "));
        assert!(msg.contains("plans/test.toml:"), "{msg}");
    }

    #[test]
    fn unknown_runtime_lists_valid_names() {
        let msg = error(&ISSUE_PLAN.replace("\"wasmi\"]", "\"wasmer\"]"));
        assert!(msg.starts_with("plans/test.toml:4:"), "{msg}");
        assert!(msg.contains("unknown runtime `wasmer`"), "{msg}");
        assert!(msg.contains("native, wasmtime-jit, wasmtime-aot, wasmi"), "{msg}");
    }

    #[test]
    fn unknown_workload_lists_valid_names() {
        let msg = error(&ISSUE_PLAN.replace("\"fibonacci\"", "\"fibonaci\""));
        assert!(msg.starts_with("plans/test.toml:7:"), "{msg}");
        assert!(msg.contains("unknown workload `fibonaci`"), "{msg}");
        assert!(msg.contains("fibonacci, sieve"), "{msg}");
    }

    #[test]
    fn bad_input_and_mode_and_zero_repetitions() {
        assert!(error(&ISSUE_PLAN.replace("[\"25\"]", "[\"twenty\"]")).contains(":8:"));
        assert!(error(&ISSUE_PLAN.replace("\"warm\"]", "\"hot\"]")).contains("unknown mode `hot`"));
        assert!(error(&ISSUE_PLAN.replace("repetitions = 5", "repetitions = 0")).contains("at least 1"));
    }

    #[test]
    fn probes_parse_with_their_options_and_reject_unknown_ones() {
        let text = format!(
            "{ISSUE_PLAN}[[probes]]\nkind = \"rapl\"\nsysfs_root = \"/tmp/fake\"\ninterval_ms = 1\n[[probes]]\nkind = \"model\"\ntdp_w = 65\n"
        );
        let plan = Plan::parse(&text, Path::new("p.toml")).unwrap();
        assert_eq!(
            plan.probes[0],
            ProbeSpec::Rapl {
                name: None,
                sysfs_root: Some("/tmp/fake".into()),
                interval_ms: Some(1.0)
            }
        );
        assert!(matches!(plan.probes[1], ProbeSpec::Model { tdp_w: Some(65.0), .. }));
        assert_eq!(plan.baseline_ms, 1000);
        let msg = error(&format!("{ISSUE_PLAN}[[probes]]\nkind = \"rapl\"\nintervall_ms = 1\n"));
        assert!(
            msg.contains("plans/test.toml:9:") && msg.contains("intervall_ms"),
            "{msg}"
        );
        let msg = error(&format!("{ISSUE_PLAN}[[probes]]\nkind = \"thermometer\"\n"));
        assert!(
            msg.contains("plans/test.toml:10:") && msg.contains("thermometer") && msg.contains("rapl"),
            "{msg}"
        );
    }

    #[test]
    fn a_fitted_model_probe_says_where_it_was_fitted() {
        let text = format!(
            "{ISSUE_PLAN}[[probes]]\nkind = \"model\"\nidle_w = 7.5\nbusy_w_per_core = 11.25\nfitted = \"xeon-1 from runs/x\"\n"
        );
        let plan = Plan::parse(&text, Path::new("p.toml")).unwrap();
        assert_eq!(
            plan.probes[0],
            ProbeSpec::Model {
                name: None,
                scope: None,
                idle_w: Some(7.5),
                busy_w_per_core: Some(11.25),
                tdp_w: None,
                interval_ms: None,
                fitted: Some("xeon-1 from runs/x".into()),
            }
        );
    }

    #[test]
    fn a_usb_meter_probe_parses_and_needs_a_port() {
        let text = format!(
            "{ISSUE_PLAN}[[probes]]\nkind = \"usb-meter\"\nmodel = \"um25c\"\nport = \"/dev/rfcomm0\"\ninterval_ms = 200\n"
        );
        let plan = Plan::parse(&text, Path::new("p.toml")).unwrap();
        assert_eq!(
            plan.probes[0],
            ProbeSpec::UsbMeter {
                name: None,
                model: Some("um25c".into()),
                port: "/dev/rfcomm0".into(),
                baud: None,
                interval_ms: Some(200.0),
                timeout_ms: None,
            }
        );
        let msg = error(&format!(
            "{ISSUE_PLAN}[[probes]]\nkind = \"usb-meter\"\nmodel = \"auto\"\n"
        ));
        assert!(msg.contains("port"), "{msg}");
    }

    #[test]
    fn interrupt_defaults_to_epoch_and_takes_none() {
        let plan = Plan::parse(ISSUE_PLAN, Path::new("p.toml")).unwrap();
        assert_eq!(plan.interrupt, Interrupt::Epoch);
        for (value, expected) in [("epoch", Interrupt::Epoch), ("none", Interrupt::None)] {
            let text = ISSUE_PLAN.replace("warmup = 1\n", &format!("warmup = 1\ninterrupt = \"{value}\"\n"));
            assert_eq!(Plan::parse(&text, Path::new("p.toml")).unwrap().interrupt, expected);
        }
        // The manifest's copy of the plan says which ran.
        let json = serde_json::to_value(&plan).unwrap();
        assert_eq!(json["interrupt"], "epoch");
    }

    #[test]
    fn unknown_interrupt_names_line_and_valid_values() {
        let msg = error(&ISSUE_PLAN.replace("warmup = 1\n", "warmup = 1\ninterrupt = \"fuel\"\n"));
        assert!(msg.starts_with("plans/test.toml:4:"), "{msg}");
        assert!(msg.contains("field `interrupt`: unknown interrupt `fuel`"), "{msg}");
        assert!(msg.contains("epoch (") && msg.contains("none ("), "{msg}");
        let msg = error(&ISSUE_PLAN.replace("warmup = 1\n", "warmup = 1\ninterrupt = false\n"));
        assert!(msg.starts_with("plans/test.toml:4:"), "{msg}");
    }

    const LOAD_PLAN: &str = "seed = 1\nrepetitions = 1\nruntimes = [\"native\"]\nmodes = [\"load\"]\n[[workloads]]\nname = \"noop\"\ninputs = [\"0\"]\n[load]\nclients = [1, 2]\nrates = [50.5]\nburst = [8]\nduration_ms = 500\n";

    #[test]
    fn a_load_table_parses_with_defaults() {
        let plan = Plan::parse(LOAD_PLAN, Path::new("p.toml")).unwrap();
        let load = plan.load.clone().unwrap();
        assert_eq!(load.clients, vec![1, 2]);
        assert_eq!(load.rates, vec![50.5]);
        assert_eq!(load.burst, vec![8]);
        assert_eq!((load.duration_ms, load.warmup_ms, load.instances), (500, 1000, 8));
        assert!(plan.modes.is_empty());
        assert_eq!(serde_json::to_value(plan.as_run()).unwrap()["load"]["clients"][1], 2);
    }

    #[test]
    fn load_levels_that_cannot_run_name_file_and_line() {
        let msg = error(&LOAD_PLAN.replace("clients = [1, 2]", "clients = [0, 2]"));
        assert!(
            msg.starts_with("plans/test.toml:9:") && msg.contains("load.clients"),
            "{msg}"
        );
        let msg = error(&LOAD_PLAN.replace("rates = [50.5]", "rates = [-5.0]"));
        assert!(
            msg.starts_with("plans/test.toml:10:") && msg.contains("not a rate"),
            "{msg}"
        );
        let msg = error(&LOAD_PLAN.replace("duration_ms = 500", "duration_ms = 0"));
        assert!(
            msg.starts_with("plans/test.toml:12:") && msg.contains("duration_ms"),
            "{msg}"
        );
        let msg = error(&LOAD_PLAN.replace("modes = [\"load\"]", "modes = [\"warm\"]"));
        assert!(msg.contains("add it to `modes`"), "{msg}");
        let without_table = LOAD_PLAN.split("[load]").next().unwrap().to_string();
        assert!(error(&without_table).contains("needs a `[load]` table"));
        let msg = error(&LOAD_PLAN.replace("burst = [8]", "bursts = [8]"));
        assert!(
            msg.starts_with("plans/test.toml:11:") && msg.contains("bursts"),
            "{msg}"
        );
    }

    /// Issue 11: 0, NaN, -1 and inf were accepted on every probe; the error names the `interval_ms` line.
    #[test]
    fn probe_intervals_that_cannot_be_polled_name_their_line() {
        for kind in ["rapl", "model", "jetson", "nvml", "auto"] {
            for bad in ["0", "nan", "-1", "inf", "-inf", "0.0"] {
                let msg = error(&format!(
                    "{ISSUE_PLAN}[[probes]]\nkind = \"{kind}\"\ninterval_ms = {bad}\n"
                ));
                assert!(
                    msg.starts_with("plans/test.toml:11:") && msg.contains("interval_ms"),
                    "{kind} {bad}: {msg}"
                );
            }
        }
        let msg = error(&format!(
            "{ISSUE_PLAN}[[probes]]\nkind = \"usb-meter\"\nport = \"/dev/x\"\ninterval_ms = inf\n"
        ));
        assert!(msg.starts_with("plans/test.toml:12:"), "{msg}");
        // The second probe's line, not the first's.
        let msg = error(&format!(
            "{ISSUE_PLAN}[[probes]]\nkind = \"rapl\"\ninterval_ms = 1\n[[probes]]\nkind = \"nvml\"\n  interval_ms = nan\n"
        ));
        assert!(msg.starts_with("plans/test.toml:14:3:"), "{msg}");
    }

    /// Issue 11: a repeated input tripled a cell and repeated its iteration numbers.
    #[test]
    fn duplicate_inputs_runtimes_and_modes_are_refused_with_their_line() {
        let msg = error(&ISSUE_PLAN.replace("[\"25\"]", "[\"25\", \"20\", \"25\"]"));
        assert!(
            msg.starts_with("plans/test.toml:8:") && msg.contains("`25` is listed twice"),
            "{msg}"
        );
        let msg = error(&format!(
            "{ISSUE_PLAN}[[workloads]]\nname = \"fibonacci\"\ninputs = [\"25\"]\n"
        ));
        assert!(msg.starts_with("plans/test.toml:11:"), "{msg}");
        let msg = error(&ISSUE_PLAN.replace("\"wasmi\"]", "\"wasmi\", \"native\"]"));
        assert!(
            msg.starts_with("plans/test.toml:4:") && msg.contains("named twice"),
            "{msg}"
        );
        let msg = error(&ISSUE_PLAN.replace("\"warm\"]", "\"warm\", \"cold\"]"));
        assert!(
            msg.starts_with("plans/test.toml:5:") && msg.contains("named twice"),
            "{msg}"
        );
        // The same input for two workloads is two cells.
        let text = format!("{ISSUE_PLAN}[[workloads]]\nname = \"sieve\"\ninputs = [\"25\"]\n");
        assert!(Plan::parse(&text, Path::new("p.toml")).is_ok());
    }

    /// Issue 11: an input with a newline broke report headings; inputs with control characters are refused.
    #[test]
    fn inputs_with_control_characters_are_refused() {
        let text = "seed = 1\nrepetitions = 1\nruntimes = [\"native\"]\nmodes = [\"warm\"]\n[[workloads]]\nname = \"noop\"\ninputs = [\"a\\nb\"]\n";
        let msg = error(text);
        assert!(
            msg.starts_with("plans/test.toml:7:") && msg.contains("control character"),
            "{msg}"
        );
        assert!(error(&text.replace("\\n", "\\t")).contains("control character"));
    }

    /// Issue 6: inputs beyond what a host can hold are plan errors with their line, for every workload.
    #[test]
    fn inputs_beyond_a_workloads_range_name_their_line() {
        for (name, input) in [
            ("sha256", "18446744073709551615"),
            ("sha256", "100GiB"),
            ("aes-gcm", "1GiB"),
            ("transfer", "100GiB"),
            ("fuzzy", "100GiB"),
            ("sieve", "18446744073709551615"),
            ("matmul", "100000"),
            ("mandelbrot", "1000000"),
            ("image-resize", "100000"),
            ("json", "18446744073709551615"),
            ("fibonacci", "1000"),
            ("nbody", "18446744073709551615"),
        ] {
            let msg = error(
                &ISSUE_PLAN
                    .replace("\"fibonacci\"", &format!("\"{name}\""))
                    .replace("\"25\"", &format!("\"{input}\"")),
            );
            assert!(
                msg.starts_with("plans/test.toml:8:") && msg.contains("outside"),
                "{name} {input}: {msg}"
            );
        }
    }

    /// `repetitions = 4294967295` aborted on a 64 GiB schedule; a cooldown of years looked like a hang.
    #[test]
    fn schedules_and_waits_no_host_can_hold_are_refused_with_their_line() {
        let msg = error(&ISSUE_PLAN.replace("repetitions = 5", "repetitions = 4294967295"));
        assert!(
            msg.starts_with("plans/test.toml:2:") && msg.contains("lower `repetitions`"),
            "{msg}"
        );
        let msg = error(&ISSUE_PLAN.replace("warmup = 1\n", "warmup = 1\ncooldown_ms = 9223372036854775807\n"));
        assert!(
            msg.starts_with("plans/test.toml:4:") && msg.contains("cooldown_ms"),
            "{msg}"
        );
        let msg = error(&ISSUE_PLAN.replace("warmup = 1\n", "warmup = 1\ntimeout_ms = 86400001\n"));
        assert!(
            msg.starts_with("plans/test.toml:4:") && msg.contains("timeout_ms"),
            "{msg}"
        );
        let msg = error(&ISSUE_PLAN.replace("seed = 7\n", "seed = 7\nbaseline_ms = 3600001\n"));
        assert!(
            msg.starts_with("plans/test.toml:2:") && msg.contains("baseline_ms"),
            "{msg}"
        );
    }

    #[test]
    fn missing_seed_gets_one() {
        let plan = Plan::parse(&ISSUE_PLAN.replace("seed = 7\n", ""), Path::new("p.toml")).unwrap();
        assert_ne!(plan.seed, 0);
    }

    #[test]
    fn line_column_counts_from_one() {
        assert_eq!(line_column("ab\ncd", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
    }
}
