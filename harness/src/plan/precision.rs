//! `precision`, `baseline`, `precision_mode`, `max_repetitions` and `max_duration`: measure until every
//! interval against the baseline is narrow enough, within a budget. The rule's looks double from
//! `repetitions` up to `max_repetitions` (see `harness_analysis::stats::precision`).

use super::span::SpannedError;
use harness_analysis::stats::precision::geometric_looks;
use harness_data::precision::{PrecisionMode, PrecisionPlan};
use toml::Spanned;

/// Narrower than +-0.1% no sensor or clock here resolves; wider than +-50% is no precision at all.
pub const MIN_TARGET: f64 = 0.001;
pub const MAX_TARGET: f64 = 0.5;
/// Without `max_repetitions`, the budget is this many times `repetitions` (four doublings).
pub const DEFAULT_GROWTH: u32 = 16;

/// The precision keys as written.
pub(super) struct PrecisionKeys<'a> {
    pub precision: Option<&'a Spanned<f64>>,
    pub baseline: Option<&'a Spanned<String>>,
    pub mode: Option<&'a Spanned<String>>,
    pub max_repetitions: Option<&'a Spanned<i64>>,
    pub max_duration: Option<&'a Spanned<String>>,
}

/// `baseline` (alone, it names the report's default baseline) and the precision target with its budget.
pub(super) fn validate(
    keys: &PrecisionKeys,
    runtimes: &[String],
    repetitions: &Spanned<u32>,
) -> Result<(Option<String>, Option<PrecisionPlan>), SpannedError> {
    let baseline = keys
        .baseline
        .map(|b| baseline(b.get_ref(), runtimes).map_err(|e| (b.span(), e)))
        .transpose()?;
    let Some(precision) = keys.precision else {
        for (key, span) in [
            ("precision_mode", keys.mode.map(Spanned::span)),
            ("max_repetitions", keys.max_repetitions.map(Spanned::span)),
            ("max_duration", keys.max_duration.map(Spanned::span)),
        ] {
            if let Some(span) = span {
                return Err((
                    span,
                    format!("field `{key}` bounds a precision run; set `precision` (e.g. 0.02 for +-2%) too"),
                ));
            }
        }
        return Ok((baseline, None));
    };
    check_target(*precision.get_ref()).map_err(|e| (precision.span(), format!("field `precision`: {e}")))?;
    let Some(baseline) = baseline else {
        return Err((
            precision.span(),
            "field `precision` needs `baseline`: the runtime every other one is compared with (e.g. baseline = \
             \"wasmtime-aot\")"
                .into(),
        ));
    };
    let mode = match keys.mode {
        Some(m) => m
            .get_ref()
            .parse::<PrecisionMode>()
            .map_err(|e| (m.span(), format!("field `precision_mode`: {e}")))?,
        None => PrecisionMode::default(),
    };
    let first = *repetitions.get_ref();
    let max_repetitions = match keys.max_repetitions {
        Some(m) => match u32::try_from(*m.get_ref()) {
            Ok(v) if v >= first => v,
            _ => {
                return Err((
                    m.span(),
                    format!(
                        "field `max_repetitions` is {}; use at least `repetitions` ({first}), where the first look is",
                        m.get_ref()
                    ),
                ));
            }
        },
        None => first.saturating_mul(DEFAULT_GROWTH),
    };
    let max_duration_s = keys
        .max_duration
        .map(|d| parse_duration_s(d.get_ref()).map_err(|e| (d.span(), format!("field `max_duration`: {e}"))))
        .transpose()?;
    Ok((
        Some(baseline.clone()),
        Some(PrecisionPlan {
            target: *precision.get_ref(),
            baseline: baseline.clone(),
            mode,
            max_repetitions,
            max_duration_s,
            looks: geometric_looks(first, max_repetitions),
        }),
    ))
}

/// A runtime of the plan by its name (`wasmi`, or an arm: `wasmi:b`).
fn baseline(name: &str, runtimes: &[String]) -> Result<String, String> {
    if !runtimes.iter().any(|r| r == name) {
        return Err(format!(
            "field `baseline` is `{name}`, which `runtimes` does not list; add it there or name one of: {}",
            runtimes.join(", ")
        ));
    }
    Ok(name.to_string())
}

fn check_target(target: f64) -> Result<(), String> {
    if !(MIN_TARGET..=MAX_TARGET).contains(&target) {
        return Err(format!(
            "{target} is not a half-width between {MIN_TARGET} (+-0.1%) and {MAX_TARGET} (+-50%); e.g. 0.02 for +-2%"
        ));
    }
    Ok(())
}

/// `--precision 2%` or `--precision 0.02`.
pub fn parse_target(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let value = match text.strip_suffix('%') {
        Some(pct) => pct.trim().parse::<f64>().map(|v| v / 100.0),
        None => text.parse::<f64>(),
    }
    .map_err(|_| format!("`{text}` is not a precision; write it as 2% or 0.02"))?;
    check_target(value)?;
    Ok(value)
}

/// "90s", "30m", "2h", "1h30m" (a plain number is seconds).
pub fn parse_duration_s(text: &str) -> Result<u64, String> {
    let bad = || format!("`{text}` is not a duration; write it as 90s, 30m, 2h or 1h30m");
    let mut total: u64 = 0;
    let mut digits = String::new();
    let trimmed = text.trim();
    if !trimmed.is_empty() && trimmed.chars().all(|c| c.is_ascii_digit()) {
        return trimmed.parse().map_err(|_| bad()).and_then(nonzero(text));
    }
    for c in trimmed.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        total = n.checked_mul(unit).and_then(|v| total.checked_add(v)).ok_or_else(bad)?;
        digits.clear();
    }
    if !digits.is_empty() || trimmed.is_empty() {
        return Err(bad());
    }
    nonzero(text)(total)
}

fn nonzero(text: &str) -> impl Fn(u64) -> Result<u64, String> + '_ {
    move |s| {
        if s == 0 {
            Err(format!("`{text}` is no time at all; give the rounds at least 1s"))
        } else {
            Ok(s)
        }
    }
}

/// `--precision` (and `--baseline`) given to `harness measure`: the same checks as the plan's keys, without a
/// line to point at. The plan's own budget keys, if any, stay.
pub fn apply_cli(plan: &mut super::Plan, target: Option<f64>, baseline_name: Option<&str>) -> Result<(), String> {
    if let Some(name) = baseline_name {
        plan.baseline =
            Some(baseline(name, &plan.runtime_names).map_err(|e| e.replace("field `baseline`", "--baseline"))?);
    }
    let Some(target) = target else {
        if let (Some(p), Some(b)) = (plan.precision.as_mut(), &plan.baseline) {
            p.baseline = b.clone();
        }
        return Ok(());
    };
    check_target(target)?;
    let Some(baseline) = plan.baseline.clone() else {
        return Err("--precision needs a baseline: give --baseline RUNTIME, or set `baseline` in the plan".into());
    };
    let first = plan.repetitions;
    let precision = plan.precision.get_or_insert_with(|| PrecisionPlan {
        target,
        baseline: baseline.clone(),
        mode: PrecisionMode::default(),
        max_repetitions: first.saturating_mul(DEFAULT_GROWTH),
        max_duration_s: None,
        looks: geometric_looks(first, first.saturating_mul(DEFAULT_GROWTH)),
    });
    precision.target = target;
    precision.baseline = baseline;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Plan;
    use std::path::Path;

    const PLAN: &str = "repetitions = 10\nruntimes = [\"wasmtime-aot\", \"wasmi\"]\nmodes = [\"warm\"]\n\
                        [[workloads]]\nname = \"fibonacci\"\ninputs = [\"20\"]\n";

    fn parse(keys: &str) -> Result<Plan, String> {
        Plan::parse(&format!("{keys}\n{PLAN}"), Path::new("p.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn precision_plans_the_looks_from_repetitions_to_the_budget() {
        let plan =
            parse("baseline = \"wasmtime-aot\"\nprecision = 0.05\nmax_repetitions = 100\nmax_duration = \"10m\"")
                .unwrap();
        let p = plan.precision.unwrap();
        assert_eq!(p.looks, vec![10, 20, 40, 80, 100]);
        assert_eq!(
            (p.max_duration_s, p.mode, p.baseline.as_str()),
            (Some(600), PrecisionMode::Width, "wasmtime-aot")
        );
        let plan = parse("baseline = \"wasmi\"\nprecision = 0.02\nprecision_mode = \"strict\"").unwrap();
        let p = plan.precision.unwrap();
        assert_eq!((p.max_repetitions, p.mode), (160, PrecisionMode::Strict));
        // `baseline` alone names the report's default and asks for nothing more.
        let plan = parse("baseline = \"wasmi\"").unwrap();
        assert_eq!((plan.baseline.as_deref(), plan.precision), (Some("wasmi"), None));
    }

    #[test]
    fn precision_errors_name_the_line_and_the_fix() {
        let cases = [
            ("precision = 0.05", "p.toml:1:", "needs `baseline`"),
            ("baseline = \"node-js\"\nprecision = 0.05", "p.toml:1:", "does not list"),
            ("baseline = \"wasmi\"\nprecision = 2.0", "p.toml:2:", "between 0.001"),
            (
                "baseline = \"wasmi\"\nprecision = 0.05\nmax_repetitions = 5",
                "p.toml:3:",
                "at least `repetitions`",
            ),
            (
                "baseline = \"wasmi\"\nprecision = 0.05\nmax_duration = \"ten\"",
                "p.toml:3:",
                "90s, 30m",
            ),
            (
                "baseline = \"wasmi\"\nprecision = 0.05\nprecision_mode = \"exact\"",
                "p.toml:3:",
                "strict",
            ),
            ("max_repetitions = 50", "p.toml:1:", "set `precision`"),
        ];
        for (keys, at, says) in cases {
            let msg = parse(keys).unwrap_err();
            assert!(msg.starts_with(at) && msg.contains(says), "{keys}: {msg}");
        }
    }

    #[test]
    fn the_command_line_sets_the_target_and_needs_a_baseline() {
        let mut plan = parse("").unwrap();
        assert!(
            apply_cli(&mut plan, Some(0.02), None)
                .unwrap_err()
                .contains("--baseline")
        );
        assert!(
            apply_cli(&mut plan, Some(0.02), Some("node-js"))
                .unwrap_err()
                .contains("--baseline")
        );
        apply_cli(&mut plan, Some(0.02), Some("wasmi")).unwrap();
        let p = plan.precision.unwrap();
        assert_eq!((p.target, p.baseline.as_str(), p.looks.len()), (0.02, "wasmi", 5));
    }

    #[test]
    fn targets_and_durations_read_as_people_write_them() {
        assert_eq!(parse_target("2%"), Ok(0.02));
        assert_eq!(parse_target("0.05"), Ok(0.05));
        assert!(parse_target("200%").unwrap_err().contains("between"));
        assert!(parse_target("two").unwrap_err().contains("2% or 0.02"));
        assert_eq!(parse_duration_s("90s"), Ok(90));
        assert_eq!(parse_duration_s("1h30m"), Ok(5400));
        assert_eq!(parse_duration_s("120"), Ok(120));
        assert!(parse_duration_s("10 minutes").is_err());
        assert!(parse_duration_s("0s").unwrap_err().contains("no time"));
        assert!(parse_duration_s("5").is_ok() && parse_duration_s("").is_err() && parse_duration_s("7").is_ok());
    }
}
