//! What `harness run` prints: hyperfine's shape (per command `Time (mean ± σ)`, `Range`, warnings; then a
//! summary against the reference) with the energy per run, its power, and the intervals and verdicts of
//! `harness report`. A pure function of [`RunResults`].

use super::export::sig;
use super::results::{CommandComparison, CommandResult, RunResults, decided};

/// The whole text, one command after another, then the summary.
pub fn render(results: &RunResults) -> String {
    let mut out = String::new();
    for (i, r) in results.results.iter().enumerate() {
        out.push_str(&command_block(i + 1, r, &results.provenance.shell));
        out.push('\n');
    }
    out.push_str(&summary(results));
    out
}

fn command_block(index: usize, r: &CommandResult, shell: &str) -> String {
    let mut out = format!("Benchmark {index}: {}\n", r.command);
    if r.command_line != r.command {
        out.push_str(&format!("  Command:              {}\n", r.command_line));
    }
    let (Some(mean), Some(min), Some(max)) = (r.mean, r.min, r.max) else {
        out.push_str(&format!("  No run counted: {}\n", failures(r)));
        return out;
    };
    let unit = TimeUnit::of(mean);
    let cpu = match (r.user, r.system) {
        (Some(u), Some(s)) => format!("    [User: {}, System: {}]", unit.show(u), unit.show(s)),
        _ => String::new(),
    };
    out.push_str(&format!(
        "  Time (mean ± σ):      {} ± {}{cpu}\n",
        unit.show(mean),
        r.stddev.map_or("-".into(), |s| unit.show(s)),
    ));
    let counted = r.times.len();
    out.push_str(&format!(
        "  Range (min … max):    {} … {}    {counted} run{}\n",
        unit.show(min),
        unit.show(max),
        if counted == 1 { "" } else { "s" }
    ));
    out.push_str(&energy_lines(r));
    if !r.memory_usage_byte.is_empty() {
        let peak = r.memory_usage_byte.iter().max().copied().unwrap_or(0);
        out.push_str(&format!(
            "  Peak memory (max):    {:.1} MiB\n",
            peak as f64 / (1 << 20) as f64
        ));
    }
    for warning in warnings(r, mean, shell) {
        out.push_str(&format!("\n  Warning: {warning}\n"));
    }
    out
}

fn energy_lines(r: &CommandResult) -> String {
    let Some(e) = &r.energy_j else {
        return String::new();
    };
    let label = format!(
        "{}/{}{}",
        e.probe,
        e.channel,
        if e.estimated { ", ESTIMATED" } else { "" }
    );
    let batched = if e.runs_per_window > 1.0 {
        format!(", {:.0} runs per window", e.runs_per_window)
    } else {
        String::new()
    };
    let basis = &e.basis;
    let mut out = match (e.median, e.interval) {
        (Some(m), interval) => {
            let interval = interval.map_or(String::new(), |[lo, hi]| format!(" [{}, {}]", sig(lo), sig(hi)));
            let gross = match e.median_gross {
                Some(g) if basis == "net" => format!("; gross {} J", sig(g)),
                _ => String::new(),
            };
            format!(
                "  Energy (median, {basis}): {} J{interval} per run    ({label}{batched}{gross})\n",
                sig(m)
            )
        }
        (None, _) => format!(
            "  Energy (median, {basis}): -    ({}; {label})\n",
            e.reason.as_deref().unwrap_or("no usable window")
        ),
    };
    if let Some(why) = &e.no_net {
        out.push_str(&format!("  No net figure: {why}.\n"));
    }
    if e.within_noise {
        out.push_str("  (the net figure's interval spans 0: within the noise of idle power)\n");
    }
    if let Some(p) = r.power_w {
        out.push_str(&format!("  Power (median):       {} W\n", sig(p)));
    }
    out
}

fn failures(r: &CommandResult) -> String {
    if r.failed_runs.is_empty() {
        return "no run was measured".into();
    }
    let parts: Vec<String> = r.failed_runs.iter().map(|(k, n)| format!("{n} {k}")).collect();
    format!(
        "{} of {} runs failed ({})",
        r.failed_runs.values().sum::<usize>(),
        r.runs,
        parts.join(", ")
    )
}

fn warnings(r: &CommandResult, mean: f64, shell: &str) -> Vec<String> {
    let mut out = Vec::new();
    if r.outliers > 0 {
        out.push(format!(
            "Statistical outliers were detected ({} beyond Tukey's 3-IQR fences). They are kept in every figure; \
             consider re-running on a quiet system without interference from other programs.",
            r.outliers
        ));
    }
    if r.exit_codes.iter().any(|c| *c != Some(0)) && !r.times.is_empty() {
        out.push("Ignoring non-zero exit code (-i): those runs count like the others.".into());
    }
    if !r.failed_runs.is_empty() {
        out.push(format!("Some runs did not count: {}.", failures(r)));
    }
    if mean < 0.005 {
        let shell = if shell == "none" {
            String::new()
        } else {
            format!(" and the shell ({shell}; -N runs without one)")
        };
        out.push(format!(
            "Command took less than 5 ms: starting its process{shell} is part of every run's time and energy \
             (nothing is subtracted)."
        ));
    }
    out
}

/// The reference against every other command: time, then energy, each with its interval and verdict.
fn summary(results: &RunResults) -> String {
    let Some(reference) = results.results.iter().find(|r| r.reference) else {
        return String::new();
    };
    let others: Vec<&CommandResult> = results.results.iter().filter(|r| !r.reference).collect();
    if others.is_empty() {
        return String::new();
    }
    let mut out = format!("Summary\n  {} ran\n", reference.command);
    for other in others {
        let find = |metric: &str| {
            results
                .comparisons
                .iter()
                .find(|c| c.command == other.command && c.metric == metric)
        };
        match find("time") {
            Some(c) => out.push_str(&format!(
                "    {} than {} ({})",
                phrase(c, ("faster", "slower")),
                other.command,
                verdict(c)
            )),
            None => out.push_str(&format!("    (no time interval against {})", other.command)),
        }
        if let Some(c) = find("energy") {
            out.push_str(&format!(
                "\n      and used {} energy per run (gross; {}{})",
                phrase(c, ("less", "more")),
                verdict(c),
                if c.estimated { "; ESTIMATED" } else { "" }
            ));
        }
        out.push('\n');
    }
    out
}

/// `1.40 [1.35, 1.46] times faster` from the reference's side: the comparison is the other command over the
/// reference, so a ratio above 1 is the reference ahead.
fn phrase(c: &CommandComparison, (ahead, behind): (&str, &str)) -> String {
    let Some(ratio) = c.ratio else {
        return format!("? times {ahead}");
    };
    let (value, interval, word) = if ratio >= 1.0 {
        (ratio, c.interval, ahead)
    } else {
        (1.0 / ratio, c.interval.map(|[lo, hi]| [1.0 / hi, 1.0 / lo]), behind)
    };
    let interval = interval.map_or(String::new(), |[lo, hi]| format!(" [{lo:.2}, {hi:.2}]"));
    format!("{value:.2}{interval} times {word}")
}

fn verdict(c: &CommandComparison) -> String {
    let who = &c.command;
    let mut text = match c.verdict.as_str() {
        v if decided(v) => format!("{who}: {v}"),
        v => v.to_string(),
    };
    if let Some(p) = c.p_holm {
        text.push_str(&format!(
            ", p = {} after Holm",
            harness_analysis::report::format::p_value(p)
        ));
    }
    if let Some(note) = &c.note {
        text.push_str(&format!("; {note}"));
    }
    text
}

/// Seconds or milliseconds, as hyperfine picks them from the mean.
#[derive(Clone, Copy)]
enum TimeUnit {
    Second,
    Millisecond,
    Microsecond,
}

impl TimeUnit {
    fn of(mean: f64) -> TimeUnit {
        if mean >= 1.0 {
            TimeUnit::Second
        } else if mean >= 1e-3 {
            TimeUnit::Millisecond
        } else {
            TimeUnit::Microsecond
        }
    }

    fn show(self, seconds: f64) -> String {
        match self {
            TimeUnit::Second => format!("{seconds:.3} s"),
            TimeUnit::Millisecond => format!("{:.1} ms", seconds * 1e3),
            TimeUnit::Microsecond => format!("{:.1} µs", seconds * 1e6),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyperfines_shape_with_energy_and_the_summary_with_intervals() {
        let text = render(&crate::exec::export::tests::fixture());
        assert!(
            text.starts_with("Benchmark 1: a\n  Command:              a --flag\n"),
            "{text}"
        );
        assert!(
            text.contains("  Time (mean ± σ):      10.0 ms ± 0.1 ms    [User: 2.5 ms, System: 1.2 ms]\n"),
            "{text}"
        );
        assert!(
            text.contains("  Range (min … max):    5.0 ms … 12.0 ms    3 runs\n"),
            "{text}"
        );
        assert!(
            text.contains("Energy (median, net): 0.100 J [0.0900, 0.110] per run    (model/package, ESTIMATED"),
            "{text}"
        );
        assert!(text.contains("  Power (median):       20.0 W\n"), "{text}");
        assert!(
            text.contains("Summary\n  a ran\n    2.00 [1.90, 2.10] times faster than b (b: slower, p = "),
            "{text}"
        );
        assert!(
            text.contains("\n      and used 2.00 [1.90, 2.10] times less energy per run (gross; b: more energy, p = "),
            "{text}"
        );
        assert!(text.contains("; ESTIMATED)\n"), "{text}");
    }

    #[test]
    fn a_ratio_below_one_reads_from_the_references_side() {
        let mut c = crate::exec::export::tests::fixture().comparisons[0].clone();
        c.ratio = Some(0.5);
        c.interval = Some([0.4, 0.8]);
        c.verdict = "faster".into();
        assert_eq!(phrase(&c, ("faster", "slower")), "2.00 [1.25, 2.50] times slower");
        assert!(verdict(&c).starts_with("b: faster, p = "));
    }
}
