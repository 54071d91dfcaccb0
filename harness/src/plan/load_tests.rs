//! `[load]` values that cannot run or that fail mid-run (issue 21, items 6, 12 and 14): each refused at its
//! file:line before anything runs.

use crate::plan::Plan;
use std::path::Path;

const PLAN: &str = "seed = 1\nrepetitions = 1\nruntimes = [\"native\"]\nmodes = [\"load\"]\n[[workloads]]\nname = \"noop\"\ninputs = [\"0\"]\n[load]\nclients = [1, 2]\nrates = [50.5]\nburst = [8]\nduration_ms = 500\n";

fn error(text: &str) -> String {
    Plan::parse(text, Path::new("plans/test.toml")).unwrap_err().to_string()
}

/// `field = value` added to the `[load]` table (its 13th line).
fn with(line: &str) -> String {
    format!("{PLAN}{line}\n")
}

#[test]
fn the_test_plan_parses() {
    assert!(Plan::parse(PLAN, Path::new("p.toml")).is_ok());
}

#[test]
fn absurd_rates_sizes_and_spans_are_refused_at_their_line() {
    for (from, to, line, needle) in [
        ("rates = [50.5]", "rates = [1e12]", 10, "not a rate"),
        ("rates = [50.5]", "rates = [1e300]", 10, "not a rate"),
        ("rates = [50.5]", "rates = [nan]", 10, "not a rate"),
        ("rates = [50.5]", "rates = [inf]", 10, "not a rate"),
        // A rate the generator could run, over a window no memory holds the arrivals of.
        ("rates = [50.5]", "rates = [9000000.0]", 10, "one level may draw"),
        ("clients = [1, 2]", "clients = [1, 5000000]", 9, "load.clients"),
        ("burst = [8]", "burst = [4294967297]", 11, "load.burst"),
        (
            "duration_ms = 500",
            "duration_ms = 9223372036854775807",
            12,
            "duration_ms",
        ),
        ("duration_ms = 500", "duration_ms = 0", 12, "duration_ms"),
    ] {
        let msg = error(&PLAN.replace(from, to));
        assert!(
            msg.starts_with(&format!("plans/test.toml:{line}:")) && msg.contains(needle),
            "{to}: {msg}"
        );
    }
    for (field, value) in [
        ("warmup_ms", "9223372036854775807"),
        ("idle_ms", "9223372036854775000"),
        ("warmup_ms", "-1"),
        ("instances", "100000"),
        ("memory_mb", "0"),
        ("memory_mb", "1048577"),
    ] {
        let msg = error(&with(&format!("{field} = {value}")));
        assert!(
            msg.starts_with("plans/test.toml:13:") && msg.contains(field),
            "{field} = {value}: {msg}"
        );
    }
}

#[test]
fn a_level_listed_twice_is_refused_at_its_second_mention() {
    for (from, to, line) in [
        ("clients = [1, 2]", "clients = [1, 1]", 9),
        ("rates = [50.5]", "rates = [50.5, 50.5]", 10),
        ("burst = [8]", "burst = [8, 2, 8]", 11),
    ] {
        let msg = error(&PLAN.replace(from, to));
        assert!(
            msg.starts_with(&format!("plans/test.toml:{line}:")) && msg.contains("listed twice"),
            "{to}: {msg}"
        );
    }
    let msg = error(&PLAN.replace("clients = [1, 2]", "clients = [1, 1]"));
    // The second 1, not the first.
    assert!(msg.starts_with("plans/test.toml:9:15:"), "{msg}");
}

#[test]
fn a_container_memory_cap_under_dockers_minimum_is_refused_where_it_is_written() {
    let capped = with("memory_mb = 5");
    assert!(
        Plan::parse(&capped, Path::new("p.toml")).is_ok(),
        "native takes any cap"
    );
    let msg = error(&capped.replace("[\"native\"]", "[\"native\", \"container\"]"));
    assert!(msg.starts_with("plans/test.toml:13:") && msg.contains("6 MiB"), "{msg}");
    let six = with("memory_mb = 6").replace("[\"native\"]", "[\"container\"]");
    assert!(Plan::parse(&six, Path::new("p.toml")).is_ok());
}

#[test]
fn a_command_workload_under_load_is_refused_at_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let module = wat::parse_str(r#"(module (func (export "_start")))"#).unwrap();
    std::fs::write(dir.path().join("cmd.wasm"), module).unwrap();
    let text = PLAN.replace(
        "[[workloads]]\nname = \"noop\"\ninputs = [\"0\"]\n",
        "[[workloads]]\nname = \"noop\"\ninputs = [\"0\"]\n[[workloads]]\nname = \"mine\"\nwasm = \"cmd.wasm\"\n",
    );
    let path = dir.path().join("plan.toml");
    let msg = Plan::parse(&text, &path).unwrap_err().to_string();
    assert!(
        msg.starts_with(&format!("{}:9:", path.display())) && msg.contains("built-in workloads only"),
        "{msg}"
    );
    let cold = text
        .replace("modes = [\"load\"]", "modes = [\"cold\"]")
        .split("[load]")
        .next()
        .unwrap()
        .to_string();
    assert!(Plan::parse(&cold, &path).is_ok(), "the command runs cold");
}

#[test]
fn serving_is_threads_by_default_processes_when_asked_and_anything_else_is_refused_at_its_line() {
    let threads = Plan::parse(PLAN, Path::new("p.toml")).unwrap();
    assert_eq!(threads.load.unwrap().serving, harness_data::Serving::Threads);
    let processes = Plan::parse(&with("serving = \"processes\""), Path::new("p.toml")).unwrap();
    assert_eq!(processes.load.unwrap().serving, harness_data::Serving::Processes);
    let msg = error(&with("serving = \"forks\""));
    assert!(
        msg.starts_with("plans/test.toml:13:11:") && msg.contains("load.serving") && msg.contains("threads"),
        "{msg}"
    );
}

#[test]
fn the_committed_serving_plans_differ_in_their_shape_only() {
    let plans = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plans");
    let threads = Plan::load(&plans.join("serving-threads.toml")).unwrap();
    let mut processes = Plan::load(&plans.join("serving-processes.toml")).unwrap();
    assert_eq!(threads.load.as_ref().unwrap().serving, harness_data::Serving::Threads);
    let shaped = processes.load.as_mut().unwrap();
    assert_eq!(shaped.serving, harness_data::Serving::Processes);
    shaped.serving = harness_data::Serving::Threads;
    assert_eq!(threads.as_run(), processes.as_run());
}
