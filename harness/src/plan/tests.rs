//! The plan parser's tests: whole plans in, a `Plan` or the error's file:line and message out.

use super::commands::COMMAND_INPUT;
use super::span::line_column;
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

#[test]
fn wasm_stack_kib_is_bounded_at_its_line_and_recorded_as_given() {
    // Absent: the engines' defaults, and the manifest's copy of the plan has no key.
    let plan = Plan::parse(ISSUE_PLAN, Path::new("p.toml")).unwrap();
    assert_eq!(plan.wasm_stack_kib, None);
    assert!(
        serde_json::to_value(plan.as_run())
            .unwrap()
            .get("wasm_stack_kib")
            .is_none()
    );
    let with = |value: &str| ISSUE_PLAN.replace("warmup = 1\n", &format!("warmup = 1\nwasm_stack_kib = {value}\n"));
    for kib in [64, 512, 4096] {
        let plan = Plan::parse(&with(&kib.to_string()), Path::new("p.toml")).unwrap();
        assert_eq!(plan.wasm_stack_kib, Some(WasmStack { kib }));
        assert_eq!(serde_json::to_value(plan.as_run()).unwrap()["wasm_stack_kib"], kib);
    }
    for bad in ["63", "4097", "0", "-512", "99999999999"] {
        let msg = error(&with(bad));
        assert!(msg.starts_with("plans/test.toml:4:"), "{msg}");
        assert!(
            msg.contains(&format!("field `wasm_stack_kib` is {bad}; use 64 to 4096 KiB")),
            "{msg}"
        );
    }
    assert!(error(&with("\"1MiB\"")).starts_with("plans/test.toml:4:"));
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

fn plan_in(dir: &Path, workload: &str) -> Result<Plan, String> {
    let text = format!("repetitions = 1\nruntimes = [\"wasmi\"]\nmodes = [\"cold\"]\n[[workloads]]\n{workload}");
    Plan::parse_with_vars(&text, &dir.join("p.toml"), &[]).map_err(|e| e.to_string())
}

#[test]
fn a_command_table_is_checked_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let module = wat::parse_str(r#"(module (import "env" "foo" (func)) (func (export "_start")))"#).unwrap();
    std::fs::create_dir(dir.path().join("m")).unwrap();
    std::fs::write(dir.path().join("m/bad.wasm"), module).unwrap();
    let good = wat::parse_str(r#"(module (func (export "_start")))"#).unwrap();
    std::fs::write(dir.path().join("m/good.wasm"), good).unwrap();
    std::fs::write(dir.path().join("outside.input"), b"x").unwrap();
    let e = plan_in(dir.path(), "name = \"b\"\nwasm = \"m/bad.wasm\"\n").unwrap_err();
    assert!(e.contains("p.toml:6:8") && e.contains("imports `env.foo`"), "{e}");
    let e = plan_in(
        dir.path(),
        "name = \"g\"\nwasm = \"m/good.wasm\"\nstdin = \"../outside.input\"\n",
    )
    .unwrap_err();
    assert!(
        e.contains("p.toml:7:9") && e.contains("outside the module's directory"),
        "{e}"
    );
    let e = plan_in(dir.path(), "name = \"g\"\nwasm = \"m/none.wasm\"\n").unwrap_err();
    assert!(e.contains("does not exist"), "{e}");
    let e = plan_in(dir.path(), "name = \"sha256\"\nwasm = \"m/good.wasm\"\n").unwrap_err();
    assert!(e.contains("built-in"), "{e}");
    let e = plan_in(dir.path(), "name = \"fibonacci\"\ninputs = [\"20\"]\nargs = [\"x\"]\n").unwrap_err();
    assert!(e.contains("`args`"), "{e}");
    let plan = plan_in(
        dir.path(),
        "name = \"g\"\nwasm = \"m/good.wasm\"\nargs = [\"-n\", \"3\"]\n",
    )
    .unwrap();
    let command = plan.workloads[0].command.as_ref().unwrap();
    assert_eq!(plan.workloads[0].inputs, [COMMAND_INPUT]);
    assert_eq!(command.args, ["-n", "3"]);
    assert!(Path::new(&command.wasm).is_absolute());
}
