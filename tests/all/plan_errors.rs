//! Bad input gets an error that says where and what to do, never a panic.

use crate::common::*;

const PLAN: &str = r#"seed = 7
repetitions = 2
runtimes = ["native", "wasmi"]
modes = ["cold", "warm"]
[[workloads]]
name = "fibonacci"
inputs = ["20"]
"#;

fn fails_with(plan_text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), "bad.toml", plan_text);
    let output = measure(&plan, &dir.path().join("run"));
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        !dir.path().join("run/invocations.csv").exists(),
        "nothing runs on a bad plan"
    );
    err
}

#[test]
fn malformed_plan_names_file_line_and_field() {
    let err = fails_with(&PLAN.replace("repetitions = 2", "repetitions = \"two\""));
    assert!(err.contains("bad.toml:2:"), "{err}");
    let err = fails_with(&PLAN.replace("modes", "mode"));
    assert!(err.contains("bad.toml:4:") && err.contains("mode"), "{err}");
    let err = fails_with(&PLAN.replace("[\"20\"]", "[\"20\""));
    assert!(err.contains("bad.toml:"), "{err}");
}

#[test]
fn unknown_names_list_the_valid_ones() {
    let err = fails_with(&PLAN.replace("\"wasmi\"", "\"wasmer\""));
    assert!(
        err.contains("bad.toml:3:") && err.contains("native, wasmtime-jit, wasmtime-aot, wasmi"),
        "{err}"
    );
    let err = fails_with(&PLAN.replace("fibonacci", "fib"));
    assert!(
        err.contains("bad.toml:6:") && err.contains("noop, fibonacci, sieve"),
        "{err}"
    );
}

#[test]
fn missing_plan_file_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let output = measure(&dir.path().join("nope.toml"), &dir.path().join("run"));
    assert!(!output.status.success());
    assert!(stderr(&output).contains("nope.toml"), "{}", stderr(&output));
}

#[test]
fn unbuilt_workloads_say_the_command_that_builds_them() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), "p.toml", PLAN);
    let output = harness()
        .args(["measure", "--plan"])
        .arg(&plan)
        .arg("--out")
        .arg(dir.path().join("run"))
        .arg("--artifacts")
        .arg(dir.path().join("empty"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(err.contains("scripts/build-workloads.sh"), "{err}");
    assert!(err.contains("rustup target add wasm32-wasip1"), "{err}");
}
