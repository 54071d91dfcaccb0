//! `harness run`: any commands, with hyperfine's options where they mean the same, measured in time and energy
//! into an ordinary run directory, and compared with intervals.

use super::Outcome;
use anyhow::Context;
use clap::{ArgAction, Args};
use harness::exec::process::{Output, RunSettings, Shell};
use harness::exec::spec::{CommandLine, Scan};
use harness::exec::{RunCount, RunRequest};
use harness_probes::spec::ProbeSpec;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// Measures commands as hyperfine does (warm-ups, runs, parameters, exports), adding energy per run (gross and
/// net of idle, from a sensor or labelled ESTIMATED from the model), user/system time and peak memory, a
/// seeded interleaved order, and each command against the reference with intervals and verdicts.
#[derive(Args)]
#[command(
    after_help = "Examples:\n  harness run 'sleep 0.1' 'sleep 0.2'\n  harness run -N --warmup 3 \
                        'node app.js' 'wasmtime app.wasm' --export-json out.json\n  harness run -P n 10 30 -D 10 \
                        'fib {n}' --probe rapl --out runs/fib"
)]
pub struct RunArgs {
    /// The commands to measure, each one argument (quote it); run with `sh -c` unless -N.
    #[arg(required = true, value_name = "COMMAND")]
    commands: Vec<String>,
    /// Runs of each command before its measured ones (recorded, marked, left out of statistics).
    #[arg(short = 'w', long, default_value_t = 0, value_name = "NUM")]
    warmup: u32,
    /// At least this many runs per command when the count is estimated [default: 10].
    #[arg(short = 'm', long, value_name = "NUM", conflicts_with = "runs")]
    min_runs: Option<u32>,
    /// At most this many runs per command when the count is estimated.
    #[arg(short = 'M', long, value_name = "NUM", conflicts_with = "runs")]
    max_runs: Option<u32>,
    /// Exactly this many runs per command [default: as many as fit in about 3 s per command, at least 10].
    #[arg(short = 'r', long, value_name = "NUM")]
    runs: Option<u32>,
    /// A command run once before each command's first run (untimed).
    #[arg(short = 's', long, value_name = "CMD")]
    setup: Option<String>,
    /// A command run before every run (untimed; its runs are then measured one per energy window). Once for
    /// all, or once per command.
    #[arg(short = 'p', long, value_name = "CMD")]
    prepare: Vec<String>,
    /// A command run after every run (untimed). Once for all, or once per command.
    #[arg(short = 'C', long, value_name = "CMD")]
    conclude: Vec<String>,
    /// A command run once after each command's last run. Once for all, or once per command.
    #[arg(short = 'c', long, value_name = "CMD")]
    cleanup: Vec<String>,
    /// A numeric parameter: each value from MIN to MAX (step -D, default 1) replaces {VAR} in the commands.
    #[arg(short = 'P', long, num_args = 3, value_names = ["VAR", "MIN", "MAX"], conflicts_with = "parameter_list")]
    parameter_scan: Option<Vec<String>>,
    /// The step of -P (needed for decimal ranges).
    #[arg(short = 'D', long, value_name = "DELTA", requires = "parameter_scan")]
    parameter_step_size: Option<String>,
    /// A parameter with listed values (`-L compiler gcc,clang`); several multiply.
    #[arg(short = 'L', long, num_args = 2, value_names = ["VAR", "VALUES"], action = ArgAction::Append)]
    parameter_list: Vec<String>,
    /// The shell that runs each command with `-c`; `none` runs it directly (as -N).
    #[arg(short = 'S', long, value_name = "SHELL")]
    shell: Option<String>,
    /// Runs each command without a shell (split as a shell would split it).
    #[arg(short = 'N', conflicts_with = "shell")]
    no_shell: bool,
    /// Counts runs that exit non-zero (or are killed by a signal) like the others, instead of stopping.
    #[arg(short = 'i', long)]
    ignore_failure: bool,
    /// The name of a command (in order; {VAR} is substituted).
    #[arg(short = 'n', long, value_name = "NAME")]
    command_name: Vec<String>,
    /// A command every other is compared against (measured too) [default: the fastest by median time].
    #[arg(long, value_name = "CMD")]
    reference: Option<String>,
    /// Writes hyperfine's JSON with energy, usage, comparisons and provenance added.
    #[arg(long, value_name = "FILE")]
    export_json: Option<PathBuf>,
    /// Writes hyperfine's CSV columns, then the energy columns.
    #[arg(long, value_name = "FILE")]
    export_csv: Option<PathBuf>,
    /// Writes hyperfine's Markdown table with energy and intervals.
    #[arg(long, value_name = "FILE")]
    export_markdown: Option<PathBuf>,
    /// Lets the commands' output through to the terminal.
    #[arg(long, conflicts_with = "output")]
    show_output: bool,
    /// Where the commands' output goes: `null` (default) or `inherit`.
    #[arg(long, value_parser = ["null", "inherit"])]
    output: Option<String>,
    /// A file given to every run on stdin [default: /dev/null].
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Kills a run (and everything it started) still going after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<f64>,
    /// Energy probes: `auto` (RAPL, else Jetson rails, else the model, labelled ESTIMATED), `none`, or a kind
    /// with options, e.g. `rapl`, `rapl,sysfs_root=/fake`, `model,tdp_w=65`, `nvml`, `usb-meter,port=/dev/ttyUSB0`.
    #[arg(long, value_name = "PROBE", default_value = "auto")]
    probe: Vec<String>,
    /// The run directory (rows, samples, manifest; `harness report`, `export` and `pair` read it) [default: a
    /// new directory under the system's temporary directory, named in the output].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Seed of the interleaved order.
    #[arg(long)]
    seed: Option<u64>,
    /// `interleaved` (a seeded shuffle of every command's runs) or `sequential` (hyperfine's order).
    #[arg(long, default_value = "interleaved", value_parser = ["interleaved", "sequential"])]
    order: String,
    /// Seconds of idle before and after the runs, for the idle baseline energy is net of.
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0)]
    idle: f64,
    /// Measures until every ratio against the reference is within +-this (e.g. `5%`), doubling the runs.
    #[arg(long, value_parser = harness::plan::precision::parse_target)]
    precision: Option<f64>,
}

pub fn run(args: Box<RunArgs>) -> anyhow::Result<Outcome> {
    let interrupted = Arc::new(AtomicBool::new(false));
    harness::stop_signals::install(Arc::clone(&interrupted)).context("installing the signal handlers")?;
    let request = request(&args)?;
    let progress = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
    let request = RunRequest { progress, ..request };
    let summary = harness::exec::run(&request, &interrupted)?;
    let out = request.out.display().to_string();
    let asked = harness::exec::results::Asked {
        order: harness::exec::order_name(request.sequential),
        shell: &harness::exec::shell_name(&request.settings.shell),
        commands: &request.commands,
    };
    // From the files as written, whatever stopped the run: what was measured is shown and exported.
    match harness::exec::gather(&request.out, &request.commands, &asked) {
        Ok(results) => {
            print!("{}", harness::exec::terminal::render(&results));
            for note in &results.provenance.notes {
                eprintln!("note: {note}");
            }
            export(&args, &results)?;
        }
        Err(e) if summary.rows > 0 => eprintln!("no summary: {e:#}"),
        Err(_) => {}
    }
    super::print_precision(&request.out);
    eprintln!(
        "{}: {} of {} runs recorded in {out} (`harness report {out} --out DIR` for the full report{})",
        super::status_word(summary.status),
        summary.rows,
        summary.scheduled,
        if summary.energy_estimated {
            "; energy ESTIMATED by the model"
        } else {
            ""
        }
    );
    super::run_outcome(summary.status, summary.reason)
}

fn export(args: &RunArgs, results: &harness::exec::results::RunResults) -> anyhow::Result<()> {
    use harness::exec::export;
    type Exporter = fn(&harness::exec::results::RunResults) -> Vec<u8>;
    let exports: [(&Option<PathBuf>, Exporter); 3] = [
        (&args.export_json, export::json),
        (&args.export_csv, export::csv),
        (&args.export_markdown, export::markdown),
    ];
    for (path, render) in exports {
        if let Some(path) = path {
            harness_data::fsio::write_atomically(path, |out| std::io::Write::write_all(out, &render(results)))
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(())
}

/// The command line, checked: every refusal before anything runs.
fn request(args: &RunArgs) -> anyhow::Result<RunRequest> {
    let line = CommandLine {
        commands: args.commands.clone(),
        reference: args.reference.clone(),
        names: args.command_name.clone(),
        setup: args.setup.clone(),
        prepare: args.prepare.clone(),
        conclude: args.conclude.clone(),
        cleanup: args.cleanup.clone(),
        scan: args.parameter_scan.as_ref().map(|p| Scan {
            name: p[0].clone(),
            min: p[1].clone(),
            max: p[2].clone(),
            step: args.parameter_step_size.clone(),
        }),
        lists: args
            .parameter_list
            .chunks(2)
            .map(|l| (l[0].clone(), l[1].split(',').map(String::from).collect()))
            .collect(),
    };
    let commands = harness::exec::spec::expand(&line)?;
    let runs = match (args.runs, args.min_runs, args.max_runs) {
        (Some(0), ..) => anyhow::bail!("--runs 0: give at least one run"),
        (Some(n), ..) => RunCount::Exact(n),
        (None, min, max) => {
            let min = min.unwrap_or(10);
            if let Some(max) = max
                && max < min
            {
                anyhow::bail!(
                    "--min-runs {min} is larger than --max-runs {max}: the minimum cannot exceed the maximum"
                );
            }
            if max == Some(0) {
                anyhow::bail!("--max-runs 0: give at least one run");
            }
            RunCount::Estimate { min, max }
        }
    };
    let shell = match (args.no_shell, args.shell.as_deref()) {
        (true, _) | (false, Some("none")) => Shell::None,
        (false, Some("")) => anyhow::bail!("--shell needs a program, or `none`"),
        (false, Some(shell)) => Shell::Program(shell.into()),
        (false, None) => Shell::Program("sh".into()),
    };
    if let Some(input) = &args.input
        && !input.is_file()
    {
        anyhow::bail!(
            "--input {}: no such file: give a file to feed every run on stdin",
            input.display()
        );
    }
    let timeout = match args.timeout {
        None => None,
        Some(t) if t.is_finite() && t > 0.0 && t * 1000.0 <= harness::plan::MAX_TIMEOUT_MS as f64 => {
            Some(Duration::from_secs_f64(t))
        }
        Some(t) => anyhow::bail!("--timeout {t}: give seconds, more than 0 and at most a day (86400)"),
    };
    if !(args.idle.is_finite() && (0.0..=3600.0).contains(&args.idle)) {
        anyhow::bail!("--idle {}: give seconds from 0 to 3600", args.idle);
    }
    let output = match (args.show_output, args.output.as_deref()) {
        (true, _) | (false, Some("inherit")) => Output::Inherit,
        _ => Output::Null,
    };
    let out = match &args.out {
        Some(out) => out.clone(),
        None => std::env::temp_dir().join(format!("harness-run-{}", harness_probes::clock::unix_ns())),
    };
    Ok(RunRequest {
        commands,
        settings: RunSettings {
            shell,
            input: args.input.clone(),
            output,
            timeout,
            stop_on_signal: true,
        },
        ignore_failure: args.ignore_failure,
        runs,
        warmup: args.warmup,
        seed: args.seed,
        sequential: args.order == "sequential",
        probes: probes(&args.probe)?,
        idle_ms: (args.idle * 1000.0) as u64,
        out,
        precision: args.precision,
        progress: false,
    })
}

/// `--probe` values: `auto`, `none`, or `KIND[,key=value...]` read as a plan's `[[probes]]` table would be.
fn probes(values: &[String]) -> anyhow::Result<Vec<ProbeSpec>> {
    if values.iter().any(|v| v == "none") {
        if values.len() > 1 {
            anyhow::bail!("--probe none measures no energy: give it alone");
        }
        return Ok(Vec::new());
    }
    values
        .iter()
        .map(|value| {
            let mut parts = value.split(',');
            let kind = parts.next().unwrap_or_default().trim();
            let mut table = toml::Table::new();
            table.insert("kind".into(), toml::Value::String(kind.into()));
            for option in parts {
                let Some((key, text)) = option.split_once('=') else {
                    anyhow::bail!("--probe {value}: `{option}` is not key=value (e.g. `rapl,sysfs_root=/fake`)");
                };
                let parsed = match text.parse::<i64>() {
                    Ok(n) => toml::Value::Integer(n),
                    Err(_) => text
                        .parse::<f64>()
                        .map_or_else(|_| toml::Value::String(text.into()), toml::Value::Float),
                };
                table.insert(key.trim().into(), parsed);
            }
            let spec: ProbeSpec = toml::Value::Table(table)
                .try_into()
                .map_err(|e| anyhow::anyhow!("--probe {value}: {}", e.to_string().trim()))?;
            spec.check()
                .map_err(|(field, message)| anyhow::anyhow!("--probe {value}: `{field}`: {message}"))?;
            Ok(spec)
        })
        .collect()
}
