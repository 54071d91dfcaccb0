//! `--export-json`, `--export-csv`, `--export-markdown`: pure functions from [`RunResults`] to bytes
//! (hyperfine's way), each a superset of hyperfine's own layout so scripts written for it read these unchanged.

use super::results::{CommandComparison, CommandResult, RunResults};
use std::collections::BTreeSet;

/// hyperfine's JSON (`results[]` with `command`, `mean`, `stddev`, `median`, `user`, `system`, `min`, `max`,
/// `times`, `exit_codes`, `parameters`), each result with the harness's fields added, plus `comparisons` and
/// `provenance` beside `results`.
pub fn json(results: &RunResults) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(results).expect("results serialize");
    bytes.push(b'\n');
    bytes
}

/// hyperfine's CSV columns (`command,mean,stddev,median,user,system,min,max`, then `parameter_NAME` for each
/// parameter), then the harness's: energy per run net of idle with its interval, gross, power, the energy's
/// channel and whether it is estimated, runs and failed runs.
pub fn csv(results: &RunResults) -> Vec<u8> {
    let parameters: BTreeSet<&String> = results.results.iter().flat_map(|r| r.parameters.keys()).collect();
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = ["command", "mean", "stddev", "median", "user", "system", "min", "max"]
        .map(String::from)
        .to_vec();
    header.extend(parameters.iter().map(|p| format!("parameter_{p}")));
    header.extend(
        [
            "energy_j_net_median",
            "energy_j_net_low",
            "energy_j_net_high",
            "energy_j_gross_median",
            "power_w",
            "energy_channel",
            "energy_estimated",
            "runs",
            "failed_runs",
        ]
        .map(String::from),
    );
    writer.write_record(&header).expect("writing to memory");
    let number = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
    for r in &results.results {
        let energy = r.energy_j.as_ref();
        let mut row = vec![
            r.command.clone(),
            number(r.mean),
            number(r.stddev),
            number(r.median),
            number(r.user),
            number(r.system),
            number(r.min),
            number(r.max),
        ];
        row.extend(
            parameters
                .iter()
                .map(|p| r.parameters.get(*p).cloned().unwrap_or_default()),
        );
        row.extend([
            number(energy.and_then(|e| e.median_net)),
            number(energy.and_then(|e| e.interval_net).map(|i| i[0])),
            number(energy.and_then(|e| e.interval_net).map(|i| i[1])),
            number(energy.and_then(|e| e.median_gross)),
            number(r.power_w),
            energy.map_or(String::new(), |e| format!("{}/{}", e.probe, e.channel)),
            energy.map_or(String::new(), |e| e.estimated.to_string()),
            r.runs.to_string(),
            r.failed_runs.values().sum::<usize>().to_string(),
        ]);
        writer.write_record(&row).expect("writing to memory");
    }
    writer.into_inner().expect("writing to memory")
}

/// hyperfine's Markdown table (`Command`, `Mean`, `Min`, `Max`, `Relative`), with the energy per run (net of
/// idle) and the ratio of gross energy per run added. Relative figures are ratios of medians with their intervals (`harness report`'s), the
/// reference at 1.00.
pub fn markdown(results: &RunResults) -> Vec<u8> {
    let seconds = results.results.iter().filter_map(|r| r.mean).any(|m| m >= 1.0);
    let (unit, scale) = if seconds { ("s", 1.0) } else { ("ms", 1e3) };
    let estimated = results
        .results
        .iter()
        .any(|r| r.energy_j.as_ref().is_some_and(|e| e.estimated));
    let energy_header = if estimated {
        "Energy [J, ESTIMATED]"
    } else {
        "Energy [J]"
    };
    let mut out = format!(
        "| Command | Mean [{unit}] | Min [{unit}] | Max [{unit}] | Relative | {energy_header} | Relative energy (gross) |\n\
         |:---|---:|---:|---:|---:|---:|---:|\n"
    );
    let value = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.1}", v * scale));
    for r in &results.results {
        let mean = match (r.mean, r.stddev) {
            (Some(m), Some(s)) => format!("{:.1} ± {:.1}", m * scale, s * scale),
            (m, _) => value(m),
        };
        let energy =
            r.energy_j
                .as_ref()
                .and_then(|e| Some((e.median?, e.interval)))
                .map_or("-".to_string(), |(m, i)| match i {
                    Some([lo, hi]) => format!("{} [{}, {}]", sig(m), sig(lo), sig(hi)),
                    None => sig(m),
                });
        out.push_str(&format!(
            "| `{}` | {mean} | {} | {} | {} | {energy} | {} |\n",
            r.command.replace('|', "\\|").replace('`', "'"),
            value(r.min),
            value(r.max),
            relative(results, r, "time"),
            relative(results, r, "energy"),
        ));
    }
    out.into_bytes()
}

/// A command's ratio against the reference, with its interval; `1.00` for the reference itself.
fn relative(results: &RunResults, r: &CommandResult, metric: &str) -> String {
    if r.reference {
        return "1.00".into();
    }
    let found: Option<&CommandComparison> = results
        .comparisons
        .iter()
        .find(|c| c.command == r.command && c.metric == metric);
    match found.and_then(|c| Some((c.ratio?, c.interval))) {
        Some((ratio, Some([lo, hi]))) => format!("{ratio:.2} [{lo:.2}, {hi:.2}]"),
        Some((ratio, None)) => format!("{ratio:.2}"),
        None => "-".into(),
    }
}

/// Three significant digits, in joules.
pub(super) fn sig(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let digits = (2 - v.abs().log10().floor() as i32).max(0) as usize;
    format!("{v:.digits$}")
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::exec::results::{CommandEnergy, Provenance};
    use std::collections::BTreeMap;

    /// Two commands, the first the reference, with energy from the model.
    pub fn fixture() -> RunResults {
        let result = |name: &str, mean: f64, reference: bool| CommandResult {
            command: name.into(),
            mean: Some(mean),
            stddev: Some(mean / 100.0),
            median: Some(mean),
            user: Some(mean / 4.0),
            system: Some(mean / 8.0),
            min: Some(mean * 0.5),
            max: Some(mean * 1.2),
            times: vec![mean * 0.9, mean, mean * 1.2],
            memory_usage_byte: vec![1 << 20; 3],
            exit_codes: vec![Some(0); 3],
            parameters: BTreeMap::from([("n".to_string(), name.len().to_string())]),
            command_line: format!("{name} --flag"),
            reference,
            runs: 3,
            failed_runs: BTreeMap::new(),
            outliers: 0,
            energy_j: Some(CommandEnergy {
                probe: "model".into(),
                channel: "package".into(),
                scope: "machine".into(),
                estimated: true,
                basis: "net".into(),
                median: Some(mean * 10.0),
                interval: Some([mean * 9.0, mean * 11.0]),
                reason: None,
                within_noise: false,
                no_net: None,
                median_net: Some(mean * 10.0),
                interval_net: Some([mean * 9.0, mean * 11.0]),
                median_gross: Some(mean * 20.0),
                baseline_w: Some(10.0),
                windows: 3,
                usable: 3,
                runs_per_window: 1.0,
                left_out: BTreeMap::new(),
            }),
            power_w: Some(20.0),
            energy_channels: Vec::new(),
        };
        let comparison = |metric: &str, verdict: &str| CommandComparison {
            command: "b".into(),
            reference: "a".into(),
            metric: metric.into(),
            basis: (metric == "energy").then(|| "gross".into()),
            ratio: Some(2.0),
            interval: Some([1.9, 2.1]),
            level: Some(0.95),
            verdict: verdict.into(),
            p_holm: Some(0.001),
            note: None,
            estimated: metric == "energy",
        };
        RunResults {
            results: vec![result("a", 0.01, true), result("b", 0.02, false)],
            comparisons: vec![comparison("time", "slower"), comparison("energy", "more energy")],
            provenance: Provenance {
                harness_version: "0.1.0".into(),
                run_dir: "/tmp/run".into(),
                status: harness_data::RunStatus::Complete,
                status_reason: None,
                seed: 7,
                order: "interleaved".into(),
                shell: "sh".into(),
                probes: vec!["model".into()],
                energy_channel: Some("model/package".into()),
                energy_estimated: true,
                notes: Vec::new(),
            },
        }
    }

    #[test]
    fn json_keeps_hyperfines_fields_and_adds_energy() {
        let v: serde_json::Value = serde_json::from_slice(&json(&fixture())).unwrap();
        let first = &v["results"][0];
        for field in [
            "command",
            "mean",
            "stddev",
            "median",
            "user",
            "system",
            "min",
            "max",
            "times",
            "exit_codes",
        ] {
            assert!(!first[field].is_null(), "{field}");
        }
        assert_eq!(first["parameters"]["n"], "1");
        assert_eq!(first["energy_j"]["median_net"], 0.1);
        assert_eq!(v["comparisons"][1]["verdict"], "more energy");
        assert_eq!(v["provenance"]["energy_estimated"], true);
    }

    #[test]
    fn csv_is_hyperfines_columns_then_ours() {
        let text = String::from_utf8(csv(&fixture())).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap(),
            "command,mean,stddev,median,user,system,min,max,parameter_n,energy_j_net_median,energy_j_net_low,\
             energy_j_net_high,energy_j_gross_median,power_w,energy_channel,energy_estimated,runs,failed_runs"
        );
        assert_eq!(
            lines.next().unwrap(),
            "a,0.01,0.0001,0.01,0.0025,0.00125,0.005,0.012,1,0.1,0.09,0.11,0.2,20,model/package,true,3,0"
        );
    }

    #[test]
    fn markdown_is_hyperfines_table_with_energy() {
        let text = String::from_utf8(markdown(&fixture())).unwrap();
        assert_eq!(
            text,
            "| Command | Mean [ms] | Min [ms] | Max [ms] | Relative | Energy [J, ESTIMATED] | Relative energy (gross) |\n\
             |:---|---:|---:|---:|---:|---:|---:|\n\
             | `a` | 10.0 ± 0.1 | 5.0 | 12.0 | 1.00 | 0.100 [0.0900, 0.110] | 1.00 |\n\
             | `b` | 20.0 ± 0.2 | 10.0 | 24.0 | 2.00 [1.90, 2.10] | 0.200 [0.180, 0.220] | 2.00 [1.90, 2.10] |\n"
        );
    }
}
