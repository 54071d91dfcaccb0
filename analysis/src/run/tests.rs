//! Tests of the run-directory reader on damaged copies of the committed reference run.

use super::*;

/// A copy of the committed reference run (complete, 48 invocations), to damage.
fn reference_copy(status: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/reference/vm-spine");
    for file in [files::MANIFEST, files::INVOCATIONS] {
        std::fs::copy(reference.join(file), dir.path().join(file)).unwrap();
    }
    let manifest = dir.path().join(files::MANIFEST);
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("\"complete\"", &format!("\"{status}\""))).unwrap();
    dir
}

fn invocations(dir: &Path) -> String {
    std::fs::read_to_string(dir.join(files::INVOCATIONS)).unwrap()
}

fn set_invocations(dir: &Path, text: &str) {
    std::fs::write(dir.join(files::INVOCATIONS), text).unwrap();
}

fn load_error(dir: &Path) -> String {
    read_run(dir).unwrap_err().to_string()
}

#[test]
fn the_reference_run_loads_without_notes() {
    let dir = reference_copy("complete");
    let run = read_run(dir.path()).unwrap();
    assert_eq!(run.invocations.len(), 48);
    assert!(run.notes.is_empty(), "{:?}", run.notes);
}

/// Issue 11: a 0-byte invocations.csv was reported "complete 42259/42259".
#[test]
fn an_empty_invocations_file_of_a_complete_run_is_an_error() {
    let dir = reference_copy("complete");
    set_invocations(dir.path(), "");
    let msg = load_error(dir.path());
    assert!(msg.contains("invocations.csv:1:") && msg.contains("0 bytes"), "{msg}");
    let dir = reference_copy("partial");
    set_invocations(dir.path(), "");
    let run = read_run(dir.path()).unwrap();
    assert!(run.invocations.is_empty() && run.notes[0].contains("0 bytes"));
}

/// Issue 11: a repeated row (same sequence) doubled n.
#[test]
fn a_duplicated_row_is_an_error_naming_both_lines() {
    let dir = reference_copy("complete");
    let text = invocations(dir.path());
    let third = text.lines().nth(2).unwrap();
    set_invocations(dir.path(), &format!("{text}{third}\n"));
    let msg = load_error(dir.path());
    assert!(msg.contains("invocations.csv:50:") && msg.contains("line 3"), "{msg}");
}

/// Issue 11: SIGKILL mid-write leaves a torn final row; a partial run keeps the rows before it.
#[test]
fn a_torn_final_row_of_a_partial_run_is_dropped_with_a_note() {
    let dir = reference_copy("partial");
    let text = invocations(dir.path());
    let torn = &text[..text.len() - 30];
    set_invocations(dir.path(), torn);
    let run = read_run(dir.path()).unwrap();
    assert_eq!(run.invocations.len(), 47);
    assert!(
        run.notes[0].contains("invocations.csv:49: dropped the torn final row"),
        "{:?}",
        run.notes
    );
    // A torn numeric field parses: only the missing line end gives it away.
    let dir = reference_copy("partial");
    set_invocations(dir.path(), &text[..text.len() - 1]);
    assert_eq!(read_run(dir.path()).unwrap().invocations.len(), 47);
}

#[test]
fn a_complete_run_with_rows_missing_at_a_line_end_is_an_error() {
    let dir = reference_copy("complete");
    let text = invocations(dir.path());
    let kept: Vec<&str> = text.lines().take(40).collect();
    set_invocations(dir.path(), &(kept.join("\n") + "\n"));
    let msg = load_error(dir.path());
    assert!(
        msg.contains("invocations.csv:40:") && msg.contains("48 invocations recorded"),
        "{msg}"
    );
}

#[test]
fn a_torn_row_of_a_complete_run_or_in_the_middle_is_an_error() {
    let dir = reference_copy("complete");
    let text = invocations(dir.path());
    set_invocations(dir.path(), &text[..text.len() - 30]);
    let msg = load_error(dir.path());
    assert!(
        msg.contains("invocations.csv:49:") && msg.contains("cut short"),
        "{msg}"
    );
    let dir = reference_copy("partial");
    let mut lines: Vec<&str> = text.lines().collect();
    let cut = &lines[10][..40];
    lines[10] = cut;
    set_invocations(dir.path(), &(lines.join("\n") + "\n"));
    let msg = load_error(dir.path());
    assert!(msg.contains("invocations.csv:11:"), "{msg}");
}

/// Issue 11: `format_version` 2 was read as if it were 1.
#[test]
fn an_unknown_manifest_format_version_is_refused() {
    let dir = reference_copy("complete");
    let path = dir.path().join(files::MANIFEST);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("\"format_version\": 1", "\"format_version\": 2")).unwrap();
    let msg = load_error(dir.path());
    assert!(
        msg.contains("manifest.json") && msg.contains("format_version 2") && msg.contains("reads format_version 1"),
        "{msg}"
    );
}

/// Issue 11: inf and NaN in paired.csv or samples.csv values were dropped silently.
#[test]
fn non_finite_values_are_errors_with_their_line_but_not_in_text_columns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("samples.csv");
    let header = "probe,channel,t_ns,value,unit,kind\n";
    for bad in ["inf", "NaN", "-inf", "+Infinity", "nan"] {
        std::fs::write(
            &path,
            format!("{header}rapl,pkg,1,5,uJ,energy_counter\nrapl,pkg,2,{bad},uJ,energy_counter\n"),
        )
        .unwrap();
        let msg = read_csv::<harness_data::SampleRecord>(&path).unwrap_err().to_string();
        assert!(
            msg.contains("samples.csv:3:") && msg.contains("column 4 (value)"),
            "{bad}: {msg}"
        );
    }
    // A plan input may be `inf`: it is text.
    let dir = reference_copy("complete");
    let text = invocations(dir.path()).replace("fibonacci,25,", "fibonacci,inf,");
    set_invocations(dir.path(), &text);
    assert_eq!(read_run(dir.path()).unwrap().invocations[0].input, "inf");
}

/// Issue 11: a RAPL counter garbage from the start gave a "complete" run of gaps only.
#[test]
fn a_probe_of_gaps_only_is_noted() {
    let dir = reference_copy("complete");
    let run = read_run(dir.path()).unwrap();
    let row = |r: &InvocationRecord, quality| PairedRecord {
        workload: r.workload.clone(),
        input: r.input.clone(),
        runtime: r.runtime.clone(),
        mode: r.mode,
        iteration: r.iteration,
        sequence: r.sequence,
        count: 1,
        window_start_ns: r.start_ns,
        window_end_ns: r.end_ns,
        latency_ns: r.latency_ns as f64,
        probe: if quality == EnergyQuality::Gap { "rapl" } else { "model" }.into(),
        channel: "package-0".into(),
        gross_j: None,
        net_j: None,
        baseline_w: None,
        power_w: None,
        samples: 0,
        uncertainty_j: None,
        quality,
        estimated: false,
        scope: harness_data::Scope::Machine,
        busy_share: None,
        flag: None,
        teardown: None,
        idle_browser_w: None,
    };
    let mut writer = csv::Writer::from_path(dir.path().join(files::PAIRED)).unwrap();
    for r in &run.invocations {
        writer.serialize(row(r, EnergyQuality::Gap)).unwrap();
        writer.serialize(row(r, EnergyQuality::Ok)).unwrap();
    }
    writer.flush().unwrap();
    let run = read_run(dir.path()).unwrap();
    assert_eq!(run.notes.len(), 1, "{:?}", run.notes);
    // The same (sequence, probe, channel) twice is a repeated row; the other probe's row is not.
    let paired = dir.path().join(files::PAIRED);
    let text = std::fs::read_to_string(&paired).unwrap();
    let second = text.lines().nth(1).unwrap().to_owned();
    std::fs::write(&paired, format!("{text}{second}\n")).unwrap();
    let msg = load_error(dir.path());
    assert!(
        msg.contains("paired.csv:98:") && msg.contains("line 2 (same sequence, probe and channel)"),
        "{msg}"
    );
    std::fs::write(&paired, &text).unwrap();
    assert!(
        run.notes[0].contains("probe `rapl` produced no valid sample"),
        "{:?}",
        run.notes
    );
}
