//! `harness run`'s commands as hyperfine takes them: each positional argument one command, expanded over its
//! parameters (`-P`, `-L`), named (`-n`), with the per-command hooks (`--prepare`, `--conclude`, `--cleanup`)
//! given once for all or once per command, and the combinations hyperfine refuses refused here, before
//! anything runs. Pure: no process is started.

use std::collections::BTreeSet;

/// One command to measure: one runtime arm of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchCommand {
    /// Its name in the run's rows, the report and the exports (`-n`, else the command line).
    pub name: String,
    /// The command line, parameters substituted.
    pub command: String,
    /// The parameter values of this combination, in the order given (`-P`/`-L`).
    pub parameters: Vec<(String, String)>,
    pub hooks: Hooks,
    /// Given by `--reference`: what the summary compares the others against.
    pub reference: bool,
}

/// Untimed commands around a command's runs, parameters substituted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hooks {
    /// Once, before the command's first run.
    pub setup: Option<String>,
    /// Before every run.
    pub prepare: Option<String>,
    /// After every run.
    pub conclude: Option<String>,
    /// Once, after the command's last run.
    pub cleanup: Option<String>,
}

impl Hooks {
    /// Whether anything runs between two runs of the command (then no two runs share an energy window).
    pub fn between_runs(&self) -> bool {
        self.prepare.is_some() || self.conclude.is_some()
    }
}

/// What the command line says of the commands (hyperfine's options).
#[derive(Debug, Clone, Default)]
pub struct CommandLine {
    pub commands: Vec<String>,
    pub reference: Option<String>,
    pub names: Vec<String>,
    pub setup: Option<String>,
    pub prepare: Vec<String>,
    pub conclude: Vec<String>,
    pub cleanup: Vec<String>,
    /// `-P NAME MIN MAX` with `-D STEP`.
    pub scan: Option<Scan>,
    /// `-L NAME a,b,c`, each a dimension of the product.
    pub lists: Vec<(String, Vec<String>)>,
}

#[derive(Debug, Clone)]
pub struct Scan {
    pub name: String,
    pub min: String,
    pub max: String,
    pub step: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SpecError {
    #[error("{0}")]
    Refused(String),
}

fn refused(message: impl Into<String>) -> SpecError {
    SpecError::Refused(message.into())
}

/// The most commands (parameter combinations included) one run measures.
pub const MAX_COMMANDS: usize = 1000;
/// The longest name a command may have in the rows.
pub const MAX_NAME: usize = 200;

/// The commands to measure, the reference first, each with its hooks.
pub fn expand(line: &CommandLine) -> Result<Vec<BenchCommand>, SpecError> {
    if line.commands.is_empty() {
        return Err(refused(
            "give at least one command to measure, e.g. `harness run 'sleep 0.1'`",
        ));
    }
    let templates: Vec<(&str, bool)> = line
        .reference
        .iter()
        .map(|r| (r.as_str(), true))
        .chain(line.commands.iter().map(|c| (c.as_str(), false)))
        .collect();
    let n = templates.len();
    if line.names.len() > n {
        return Err(refused(format!(
            "too many --command-name options: {} given for {n} command(s)",
            line.names.len()
        )));
    }
    let per_command = |option: &str, values: &[String]| -> Result<Vec<Option<String>>, SpecError> {
        match values.len() {
            0 => Ok(vec![None; n]),
            1 => Ok(vec![Some(values[0].clone()); n]),
            k if k == n => Ok(values.iter().cloned().map(Some).collect()),
            k => Err(refused(format!(
                "the '{option}' option has to be provided just once or {n} times (once per command{}), not {k} times",
                if line.reference.is_some() {
                    ", the reference first"
                } else {
                    ""
                }
            ))),
        }
    };
    let prepare = per_command("--prepare", &line.prepare)?;
    let conclude = per_command("--conclude", &line.conclude)?;
    let cleanup = per_command("--cleanup", &line.cleanup)?;
    let combinations = parameter_combinations(line)?;
    let no_parameters = vec![Vec::new()];
    let mut out = Vec::new();
    for (i, (template, reference)) in templates.iter().enumerate() {
        // The reference is one command, whatever the parameters: what every combination is set against.
        let own = if *reference { &no_parameters } else { &combinations };
        for parameters in own {
            let substitute = |text: &str| substitute(text, parameters);
            let command = substitute(template);
            if command.trim().is_empty() {
                return Err(refused("a command is empty: give the program to run"));
            }
            let name = match line.names.get(i) {
                Some(name) => substitute(name),
                None => command.clone(),
            };
            out.push(BenchCommand {
                name: one_line(&name),
                command,
                parameters: parameters.clone(),
                hooks: Hooks {
                    setup: line.setup.as_deref().map(substitute),
                    prepare: prepare[i].as_deref().map(substitute),
                    conclude: conclude[i].as_deref().map(substitute),
                    cleanup: cleanup[i].as_deref().map(substitute),
                },
                reference: *reference,
            });
        }
    }
    if out.len() > MAX_COMMANDS {
        return Err(refused(format!(
            "{} commands after expanding the parameters: at most {MAX_COMMANDS} per run",
            out.len()
        )));
    }
    name_apart(&mut out)?;
    Ok(out)
}

/// `{NAME}` replaced by each parameter's value.
fn substitute(text: &str, parameters: &[(String, String)]) -> String {
    parameters.iter().fold(text.to_string(), |text, (name, value)| {
        text.replace(&format!("{{{name}}}"), value)
    })
}

/// A name is one line in every table.
fn one_line(name: &str) -> String {
    name.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Names are the runs' keys: two equal ones (`harness run true true`, an A/A check) become `true #1` and
/// `true #2`.
fn name_apart(commands: &mut [BenchCommand]) -> Result<(), SpecError> {
    let mut seen = BTreeSet::new();
    let repeated: BTreeSet<String> = commands
        .iter()
        .filter(|c| !seen.insert(c.name.clone()))
        .map(|c| c.name.clone())
        .collect();
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for c in commands.iter_mut() {
        if repeated.contains(&c.name) {
            let k = counts.entry(c.name.clone()).or_default();
            *k += 1;
            c.name = format!("{} #{k}", c.name);
        }
        if c.name.is_empty() || c.name.chars().count() > MAX_NAME {
            return Err(refused(format!(
                "the name of `{}` is {} characters long: give a name of 1 to {MAX_NAME} with -n/--command-name",
                c.command,
                c.name.chars().count()
            )));
        }
    }
    Ok(())
}

/// Every combination of parameter values (one empty combination without parameters): `-P`'s range, or the
/// product of the `-L` lists, the first list varying slowest.
fn parameter_combinations(line: &CommandLine) -> Result<Vec<Vec<(String, String)>>, SpecError> {
    let mut dimensions: Vec<(String, Vec<String>)> = Vec::new();
    if let Some(scan) = &line.scan {
        dimensions.push((scan.name.clone(), scan_values(scan)?));
    }
    let mut names = BTreeSet::new();
    for (name, values) in &line.lists {
        if values.is_empty() || values.iter().any(String::is_empty) {
            return Err(refused(format!(
                "--parameter-list {name}: give comma-separated values, none empty (e.g. `-L {name} 1,2,3`)"
            )));
        }
        dimensions.push((name.clone(), values.clone()));
    }
    for (name, _) in &dimensions {
        if name.is_empty() || name.contains(['{', '}']) {
            return Err(refused(format!(
                "parameter name `{name}`: give a plain word, used as {{NAME}}"
            )));
        }
        if !names.insert(name.clone()) {
            return Err(refused(format!("parameter `{name}` is given twice")));
        }
    }
    let mut combinations = vec![Vec::new()];
    for (name, values) in &dimensions {
        combinations = combinations
            .into_iter()
            .flat_map(|c: Vec<(String, String)>| {
                values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.push((name.clone(), v.clone()));
                    c
                })
            })
            .collect();
        if combinations.len() > MAX_COMMANDS {
            break;
        }
    }
    Ok(combinations)
}

/// `-P NAME MIN MAX [-D STEP]`: integers with a step of 1 by default; decimals need `-D`, and values are
/// written with the step's decimals.
fn scan_values(scan: &Scan) -> Result<Vec<String>, SpecError> {
    let name = &scan.name;
    let number = |what: &str, text: &str| -> Result<f64, SpecError> {
        text.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| refused(format!("--parameter-scan {name}: {what} `{text}` is not a number")))
    };
    let min = number("the minimum", &scan.min)?;
    let max = number("the maximum", &scan.max)?;
    let decimals = |text: &str| text.trim().split_once('.').map_or(0, |(_, d)| d.len());
    let (step, places) = match &scan.step {
        Some(step) => (number("the step (-D)", step)?, decimals(step)),
        None => {
            if decimals(&scan.min) > 0 || decimals(&scan.max) > 0 {
                return Err(refused(format!(
                    "--parameter-scan {name}: a decimal range needs a step: add `-D/--parameter-step-size`"
                )));
            }
            (1.0, 0)
        }
    };
    if step <= 0.0 {
        return Err(refused(format!("--parameter-scan {name}: the step must be positive")));
    }
    if min > max {
        return Err(refused(format!(
            "--parameter-scan {name}: the minimum {} is larger than the maximum {}",
            scan.min, scan.max
        )));
    }
    let count = ((max - min) / step + 1e-9).floor() as usize + 1;
    if count > MAX_COMMANDS {
        return Err(refused(format!(
            "--parameter-scan {name}: {count} values, at most {MAX_COMMANDS} per run"
        )));
    }
    let places = places.max(decimals(&scan.min));
    Ok((0..count)
        .map(|i| format!("{:.*}", places, min + step * i as f64))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(commands: &[&str]) -> CommandLine {
        CommandLine {
            commands: commands.iter().map(|c| c.to_string()).collect(),
            ..CommandLine::default()
        }
    }

    #[test]
    fn a_scan_expands_every_value_into_names_and_hooks() {
        let mut l = line(&["sleep {t}"]);
        l.scan = Some(Scan {
            name: "t".into(),
            min: "0.1".into(),
            max: "0.3".into(),
            step: Some("0.1".into()),
        });
        l.names = vec!["nap {t}".into()];
        l.prepare = vec!["echo {t}".into()];
        let c = expand(&l).unwrap();
        let names: Vec<_> = c.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["nap 0.1", "nap 0.2", "nap 0.3"]);
        assert_eq!(c[2].command, "sleep 0.3");
        assert_eq!(c[1].hooks.prepare.as_deref(), Some("echo 0.2"));
        assert_eq!(c[0].parameters, vec![("t".to_string(), "0.1".to_string())]);
        l.scan.as_mut().unwrap().step = None;
        assert!(expand(&l).unwrap_err().to_string().contains("needs a step"));
    }

    #[test]
    fn lists_multiply_and_the_reference_comes_first_once() {
        let mut l = line(&["x {a} {b}"]);
        l.lists = vec![
            ("a".into(), vec!["1".into(), "2".into()]),
            ("b".into(), vec!["u".into(), "v".into()]),
        ];
        l.reference = Some("ref".into());
        let c = expand(&l).unwrap();
        let commands: Vec<_> = c.iter().map(|c| c.command.as_str()).collect();
        assert_eq!(commands, ["ref", "x 1 u", "x 1 v", "x 2 u", "x 2 v"]);
        assert!(c[0].reference && c[0].parameters.is_empty() && !c[1].reference);
        assert_eq!(c[4].parameters[1], ("b".to_string(), "v".to_string()));
    }

    #[test]
    fn hyperfines_refusals_are_refused() {
        let mut l = line(&["a", "b"]);
        l.prepare = vec!["p".into(), "q".into(), "r".into()];
        assert!(expand(&l).unwrap_err().to_string().contains("just once or 2 times"));
        let mut l = line(&["a"]);
        l.names = vec!["x".into(), "y".into()];
        assert!(expand(&l).unwrap_err().to_string().contains("too many --command-name"));
        assert!(expand(&line(&[])).is_err());
        assert!(expand(&line(&["  "])).is_err());
        let mut l = line(&["a {n}"]);
        l.scan = Some(Scan {
            name: "n".into(),
            min: "5".into(),
            max: "1".into(),
            step: None,
        });
        assert!(expand(&l).unwrap_err().to_string().contains("larger than the maximum"));
        l.scan = Some(Scan {
            name: "n".into(),
            min: "1".into(),
            max: "x".into(),
            step: None,
        });
        assert!(expand(&l).unwrap_err().to_string().contains("not a number"));
        let mut l = line(&["a"]);
        l.lists = vec![("n".into(), vec![]), ("m".into(), vec!["1".into()])];
        assert!(expand(&l).is_err());
    }

    #[test]
    fn equal_commands_are_named_apart_and_names_are_one_line() {
        let c = expand(&line(&["true", "true", "echo  a\nb"])).unwrap();
        let names: Vec<_> = c.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["true #1", "true #2", "echo a b"]);
        assert!(!c[0].hooks.between_runs());
    }
}
