//! The renderers are pure functions from results to bytes: each is compared with a committed snapshot
//! (`tests/snapshots/`). After an intended change: `UPDATE_SNAPSHOTS=1 cargo test --release -p harness-analysis
//! --test all snapshots::`, then review the diff.

use crate::common::{load_level, paired_from};
use harness_analysis::export::{export_rows, load_export_rows, load_to_csv, to_csv};
use harness_analysis::report::model::Verdict;
use harness_analysis::report::render::{render_html, render_json, render_markdown};
use harness_analysis::report::{ReportOptions, build_report, plots};
use harness_analysis::run::Run;
use harness_data::*;

fn invocation(
    runtime: &str,
    mode: Mode,
    iteration: u32,
    sequence: u64,
    latency_ns: u64,
    status: Status,
) -> InvocationRecord {
    InvocationRecord {
        workload: "fibonacci".into(),
        input: "25".into(),
        runtime: runtime.into(),
        mode,
        iteration,
        warmup: iteration == 0,
        sequence,
        batch: None,
        start_ns: 1_000_000 * sequence,
        end_ns: 1_000_000 * sequence + latency_ns,
        latency_ns,
        startup_ns: None,
        compile_ns: None,
        instantiate_ns: None,
        input_ns: None,
        execute_ns: Some(latency_ns),
        output_ns: None,
        input_bytes: 2,
        output_bytes: 5,
        status,
        digest: if status == Status::Ok {
            "abcdef0123456789".into()
        } else {
            String::new()
        },
        error: if status == Status::Ok {
            String::new()
        } else {
            "guest trapped".into()
        },
    }
}

/// A small run: native and wasmi, cold and warm, 12 measured invocations each, one trap, and a paired.csv
/// with one measured and one modelled channel.
fn fixture_run() -> Run {
    let mut invocations = Vec::new();
    let mut sequence = 0;
    for (runtime, scale) in [("native", 1.0), ("wasmi", 10.0)] {
        for (mode, cold_factor) in [(Mode::Cold, 5.0), (Mode::Warm, 1.0)] {
            for iteration in 0..=12u32 {
                // Deterministic spread, one slow outlier per group.
                let jitter = [0.0, 3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0, 40.0][iteration as usize];
                let latency = (200_000.0 * scale * cold_factor * (1.0 + jitter / 100.0)) as u64;
                let status = if runtime == "wasmi" && mode == Mode::Cold && iteration == 7 {
                    Status::Trap
                } else {
                    Status::Ok
                };
                invocations.push(invocation(runtime, mode, iteration, sequence, latency, status));
                sequence += 1;
            }
        }
    }
    let mut paired = Vec::new();
    for r in invocations.iter().filter(|r| !r.warmup && r.status == Status::Ok) {
        paired.push(PairedRecord {
            samples: 3,
            ..paired_from(r, "rapl", "package-0", 30.0, 4.0)
        });
        paired.push(PairedRecord {
            samples: 3,
            quality: EnergyQuality::Estimated,
            estimated: true,
            ..paired_from(r, "model", "cpu", 12.0, 4.0)
        });
    }
    // A batch window of wasmi flagged for low busy share, and a window below resolution whose paired.csv still
    // holds numbers: both counted, neither used, and the export blanks the latter's energy.
    let template = paired
        .iter()
        .rfind(|p| p.runtime == "wasmi" && p.mode == Mode::Warm && p.probe == "rapl")
        .cloned()
        .unwrap();
    paired.push(PairedRecord {
        count: 4,
        busy_share: Some(0.6),
        flag: Some(EnergyFlag::LowBusyShare),
        gross_j: Some(9.0),
        ..template.clone()
    });
    paired.push(PairedRecord {
        quality: EnergyQuality::BelowResolution,
        ..template
    });
    let plan = serde_json::json!({"seed": 1, "repetitions": 12, "warmup": 1, "runtimes": ["native", "wasmi"],
        "modes": ["cold", "warm"], "workloads": [{"name": "fibonacci", "inputs": ["25"]}]});
    Run {
        dir: "runs/fixture".into(),
        name: "fixture".into(),
        manifest: Manifest {
            format_version: 1,
            harness_version: "0.1.0".into(),
            status: RunStatus::Complete,
            status_reason: None,
            seed: 1,
            anchor: Anchor {
                monotonic_ns: 0,
                unix_ns: 1_763_856_000_000_000_000,
                uncertainty_ns: 100,
            },
            started_unix_ns: 1_763_856_000_000_000_000,
            finished_unix_ns: Some(1_763_856_010_000_000_000),
            host: HostFingerprint {
                hostname: "lab-xeon".into(),
                cpu_model: "Test CPU".into(),
                logical_cores: 2,
                ..Default::default()
            },
            engines: [("wasmi".to_string(), "1.1.0".to_string())].into(),
            artifacts: Default::default(),
            plan: serde_json::from_value(plan).unwrap(),
            scheduled_invocations: sequence,
            recorded_invocations: sequence,
            probes: vec![],
            energy_estimated: false,
            batching: vec![],
            baseline_before_ns: None,
            baseline_after_ns: None,
            baseline_load_before: None,
            baseline_load_after: None,
            calibration_busy_ns: vec![],
            interrupt: [("native", "none"), ("wasmi", "fuel")]
                .map(|(r, m)| (r.to_string(), m.to_string()))
                .into(),
            stack: Default::default(),
            serving: Default::default(),
            serving_shape: Default::default(),
            precision: None,
            exec: None,
            browsers: Default::default(),
            skipped: Default::default(),
        },
        invocations,
        paired: Some(paired),
        load: Vec::new(),
        notes: Vec::new(),
    }
}

#[track_caller]
fn check_snapshot(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} missing: run with UPDATE_SNAPSHOTS=1", path.display()));
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "{name} differs from its snapshot at line {}:\n  snapshot: {}\n  now:      {}\n(UPDATE_SNAPSHOTS=1 to accept)",
            line + 1,
            expected.lines().nth(line).unwrap_or(""),
            actual.lines().nth(line).unwrap_or("")
        );
    }
}

fn options() -> ReportOptions {
    ReportOptions {
        baseline: "native".into(),
        resamples: 400,
        ..ReportOptions::default()
    }
}

#[test]
fn markdown_snapshot() {
    let report = build_report(&[fixture_run()], &options()).unwrap();
    check_snapshot("report.md", &render_markdown(&report));
}

#[test]
fn json_snapshot() {
    let report = build_report(&[fixture_run()], &options()).unwrap();
    check_snapshot("results.json", &render_json(&report));
}

#[test]
fn html_snapshot() {
    let report = build_report(&[fixture_run()], &options()).unwrap();
    let svgs: Vec<String> = report.figures.iter().map(|f| plots::render_svg(f).unwrap()).collect();
    check_snapshot("report.html", &render_html(&report, &svgs));
}

#[test]
fn export_snapshot() {
    check_snapshot(
        "export.csv",
        &String::from_utf8(to_csv(&export_rows(&fixture_run(), None))).unwrap(),
    );
}

#[test]
fn estimated_energy_is_labelled_wherever_it_appears() {
    let report = build_report(&[fixture_run()], &options()).unwrap();
    let md = render_markdown(&report);
    for line in md
        .lines()
        .filter(|l| l.contains("model/cpu") || l.contains("model-cpu"))
    {
        assert!(line.contains("estimated"), "{line}");
    }
    let c = report
        .comparisons
        .iter()
        .find(|c| c.metric.label().contains("model/cpu"))
        .unwrap();
    assert!(c.metric.label().ends_with("(estimated)"));
    // The trap is counted, not timed.
    let wasmi_cold = report
        .groups
        .iter()
        .find(|g| g.key.runtime == "wasmi" && g.key.mode == Mode::Cold)
        .unwrap();
    assert_eq!(
        (wasmi_cold.measured, wasmi_cold.ok, wasmi_cold.failed.get("trap")),
        (12, 11, Some(&1))
    );
    // The slow invocation is flagged, not dropped.
    let native_warm = report
        .groups
        .iter()
        .find(|g| g.key.runtime == "native" && g.key.mode == Mode::Warm)
        .unwrap();
    assert_eq!(native_warm.latency_ns.as_ref().unwrap().n, 12);
    assert_eq!(native_warm.outliers.as_ref().unwrap().flagged.len(), 1);
}

/// The fixture with load levels beside its invocations: native and wasmi closed loop at 1 and 4 clients, open
/// loop at 200/s (wasmi saturated), a burst of 16; energy attributed on a modelled channel, wasmi's idle pool
/// unseen.
fn fixture_load_run() -> Run {
    let mut run = fixture_run();
    run.name = "fixture-load".into();
    let mut start_s = 20;
    for (runtime, slowdown) in [("native", 1.0f64), ("wasmi", 10.0)] {
        for (kind, level, completed) in [
            (LoadKind::Clients, 1.0f64, 900),
            (LoadKind::Clients, 4.0, 3000),
            (LoadKind::Rate, 200.0, 199),
            (LoadKind::Burst, 16.0, 16),
        ] {
            let completed = (completed as f64 / slowdown.sqrt()) as u64;
            let energy_j = 2.0 * level.sqrt() * slowdown;
            run.load.push(LoadRecord {
                energy_channel: "model/cpu".into(),
                energy_j: Some(energy_j),
                energy_per_request_j: Some(energy_j / completed as f64),
                idle_pool_w: (kind != LoadKind::Burst)
                    .then_some(0.4 * if kind == LoadKind::Rate { 8.0 } else { level }),
                estimated: Some(true),
                unseen: runtime == "wasmi" && kind == LoadKind::Burst,
                ..load_level(runtime, kind, level, start_s, completed, 0.2 * slowdown * level.sqrt())
            });
            start_s += 2;
        }
    }
    run
}

#[test]
fn load_export_snapshot() {
    let rows = load_export_rows(&fixture_load_run(), None);
    check_snapshot("export.load.csv", &String::from_utf8(load_to_csv(&rows)).unwrap());
}

#[test]
fn load_report_snapshot() {
    let report = build_report(&[fixture_load_run()], &options()).unwrap();
    let md = render_markdown(&report);
    // The invocation sections are the fixture's own, untouched; the load section follows them.
    let plain = render_markdown(&build_report(&[fixture_run()], &options()).unwrap());
    let (before, load) = md.split_at(md.find("## Under load").expect("a load section"));
    assert_eq!(before.replace("fixture-load", "fixture"), plain);
    check_snapshot("report.load.md", load);
    for figure in report.figures.iter().filter(|f| f.id.starts_with("load-")) {
        let svg = plots::render_svg(figure).unwrap();
        assert!(svg.contains("achieved requests/s"), "{}", figure.id);
    }
    // The modelled energy is labelled in the figure and wherever the tables show it.
    let energy = report
        .figures
        .iter()
        .find(|f| f.id == "load-energy-fibonacci-25")
        .unwrap();
    assert!(energy.title.contains("(estimated)") && energy.y_label.contains("(estimated)"));
    for line in load.lines().filter(|l| l.contains(" mJ") || l.contains(" J |")) {
        assert!(line.contains("(estimated)"), "{line}");
    }
}

/// The matrix at a glance over three cells (one whose input holds a newline and Markdown syntax) and four
/// runtimes against native: wasmtime-aot 50x faster, wasmi 10x slower, container identical (equivalent, its
/// energy unseen so left out), node-js with 3 invocations (inconclusive after Holm).
fn fixture_glance_run() -> Run {
    let cells = [
        ("noop", "0", 50_000.0),
        ("fibonacci", "25", 1_000_000.0),
        ("json", "a|b\n*c* <i>", 300_000.0),
    ];
    let runtimes = [
        ("native", 1.0, 12),
        ("wasmtime-aot", 0.02, 12),
        ("wasmi", 10.0, 12),
        ("container", 1.0, 12),
        ("node-js", 1.3, 3),
    ];
    let mut invocations = Vec::new();
    let mut sequence = 0;
    for (workload, input, base) in cells {
        for (runtime, factor, measured) in runtimes {
            for (mode, mode_factor) in [(Mode::Cold, 5.0), (Mode::Warm, 1.0)] {
                for iteration in 0..=measured {
                    let jitter = [0.0, 3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0, 7.0][iteration as usize];
                    let latency = (base * factor * mode_factor * (1.0 + jitter / 500.0)) as u64;
                    invocations.push(InvocationRecord {
                        workload: workload.into(),
                        input: input.into(),
                        ..invocation(runtime, mode, iteration, sequence, latency, Status::Ok)
                    });
                    sequence += 1;
                }
            }
        }
    }
    let paired = invocations
        .iter()
        .filter(|r| !r.warmup)
        .map(|r| PairedRecord {
            flag: (r.runtime == "container").then_some(EnergyFlag::Unseen),
            ..paired_from(r, "rapl", "package-0", 30.0, 4.0)
        })
        .collect();
    let mut run = fixture_run();
    run.name = "glance".into();
    run.manifest.plan = serde_json::from_value(serde_json::json!({"seed": 1, "repetitions": 12, "warmup": 1,
        "runtimes": ["native", "wasmtime-aot", "wasmi", "container", "node-js"], "modes": ["cold", "warm"],
        "workloads": [{"name": "noop", "inputs": ["0"]}, {"name": "fibonacci", "inputs": ["25"]},
            {"name": "json", "inputs": ["a|b\n*c* <i>"]}]}))
    .unwrap();
    run.manifest.scheduled_invocations = sequence;
    run.manifest.recorded_invocations = sequence;
    run.manifest.interrupt = Default::default();
    let sizes = |native, wasm, cwasm, image| ArtifactSizes {
        native_bytes: Some(native),
        wasm_bytes: Some(wasm),
        cwasm_bytes: Some(cwasm),
        container_image_bytes: image,
        container_image_architecture: None,
    };
    run.manifest.artifacts = [
        ("json", sizes(812_544, 301_211, 1_210_880, None)),
        ("fibonacci", sizes(455_112, 61_440, 282_624, Some(2_310_144))),
        ("noop", sizes(430_080, 1_033, 148_480, Some(2_289_664))),
    ]
    .map(|(w, s)| (w.to_string(), s))
    .into();
    run.invocations = invocations;
    run.paired = Some(paired);
    run
}

/// The part of `text` from `start` up to (not including) `end`.
fn section<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).unwrap_or_else(|| panic!("{start} missing"));
    let to = from + text[from..].find(end).unwrap_or_else(|| panic!("{end} missing"));
    &text[from..to]
}

#[test]
fn glance_snapshots() {
    let report = build_report(&[fixture_glance_run()], &options()).unwrap();
    // Cold then warm; latency then the energy channel; rows in plan order; the baseline is no column.
    let titles: Vec<String> = report
        .glance
        .iter()
        .map(|t| format!("{} {}", t.mode.as_str(), t.metric.label()))
        .collect();
    assert_eq!(
        titles,
        [
            "cold latency",
            "cold energy rapl/package-0",
            "warm latency",
            "warm energy rapl/package-0"
        ]
    );
    let latency = &report.glance[0];
    assert_eq!(latency.runtimes, ["wasmtime-aot", "wasmi", "container", "node-js"]);
    let rows: Vec<&str> = latency.rows.iter().map(|r| r.workload.as_str()).collect();
    assert_eq!(rows, ["noop", "fibonacci", "json"]);
    let verdicts: Vec<Verdict> = latency.rows[1]
        .cells
        .iter()
        .map(|c| c.as_ref().unwrap().verdict)
        .collect();
    assert_eq!(
        verdicts,
        [
            Verdict::Faster,
            Verdict::Slower,
            Verdict::Equivalent,
            Verdict::Inconclusive
        ]
    );
    // The container's energy is unseen: left out, never a ratio.
    let energy = report.glance[1].rows[1].cells[2].as_ref().unwrap();
    assert_eq!(
        (energy.ratio_of_medians, energy.left_out.as_deref()),
        (None, Some("12 unseen"))
    );

    // Artifact sizes in plan order too (the manifest keys them by name).
    let sizes: Vec<&str> = report.artifacts.iter().map(|a| a.workload.as_str()).collect();
    assert_eq!(sizes, ["noop", "fibonacci", "json"]);

    let md = render_markdown(&report);
    let glance = section(&md, "## Results at a glance", "## Runs");
    check_snapshot("glance.md", glance);
    // The odd input stays inside its cell and its heading: no line starts with its second line, no raw tag.
    for text in [&md[..], glance] {
        assert!(
            !text.contains(" <i>") && !text.lines().any(|l| l.starts_with("*c*")),
            "{text}"
        );
    }
    assert!(
        md.contains("## json a\\|b \\*c\\* \\<i>, cold\n"),
        "the heading is one escaped line"
    );
    // The ratio matrices and the energy glance have 7 cells a row (workload, input, 5 runtimes), the cold
    // premium table 8 (workload, input, runtime, cold, warm, premium, interval, latency ratio).
    let (matrices, premium) = glance.split_once("### Cold premium").expect("a cold premium table");
    for line in matrices.lines().filter(|l| l.starts_with("| json")) {
        assert_eq!(line.matches(" | ").count(), 6, "7 cells: {line}");
    }
    let premium = premium.split("### Artifact sizes").next().unwrap_or(premium);
    let premium_rows: Vec<&str> = premium.lines().filter(|l| l.starts_with("| json")).collect();
    assert_eq!(premium_rows.len(), 5, "one per runtime");
    for line in premium_rows {
        assert_eq!(line.matches(" | ").count(), 7, "8 cells: {line}");
    }

    let svgs: Vec<String> = report.figures.iter().map(|f| plots::render_svg(f).unwrap()).collect();
    let html = render_html(&report, &svgs);
    let glance = section(&html, "<h2>Results at a glance</h2>", "<h2>Runs</h2>");
    check_snapshot("glance.html", glance);
    assert!(glance.contains("class=\"legend\""));
    assert_eq!(
        glance.matches("<div class=\"wide\"><table class=\"glance\">").count(),
        4
    );
    assert!(!html.contains("<i>"));
}
