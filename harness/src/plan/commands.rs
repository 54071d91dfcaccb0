//! External WASI command workloads in a plan (issue 14): `wasm`, `args`, `stdin`, `native`, `js` and
//! `preopen_writable` of a `[[workloads]]` table, with `${NAME}` expanded from `--var NAME=VALUE` or the
//! environment. Paths are relative to the plan file (`stdin` to the module's directory); each is checked
//! here, so a bad module is a plan error with its line, not a failed run.

use super::file::WorkloadFile;
use super::span::SpannedError;
use crate::runtime::wasi::contract;
use harness_data::plan::{CommandWorkload, PlanWorkload};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The input label of a command workload's one cell: its input is its `stdin` file and `args`.
pub const COMMAND_INPUT: &str = "default";

/// Values for `${NAME}` in a plan's paths, given on the command line (`--var NAME=VALUE`); the environment is
/// looked at after them.
pub type Vars = [(String, String)];

/// `value` with every `${NAME}` replaced.
pub fn expand(value: &str, vars: &Vars) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let Some(len) = rest[at + 2..].find('}') else {
            return Err(format!("`{value}` has a `${{` without its closing `}}`"));
        };
        let name = &rest[at + 2..at + 2 + len];
        let found = vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(name).ok());
        match found {
            Some(v) => out.push_str(&v),
            None => {
                return Err(format!(
                    "`{value}` uses `${{{name}}}`, which is not set: pass `--var {name}=<value>` to harness \
                     measure, or set the environment variable {name}"
                ));
            }
        }
        rest = &rest[at + 3 + len..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A command workload: a name no built-in has, no `inputs`, named once (`seen` holds the (workload, input)
/// pairs so far); its module and files resolved and checked.
pub(super) fn validate<'a>(
    entry: &'a WorkloadFile,
    seen: &mut HashSet<(&'a str, &'a str)>,
    plan_dir: &Path,
    vars: &Vars,
) -> Result<PlanWorkload, SpannedError> {
    let name = entry.name.get_ref();
    if harness_workloads::find(name).is_some() {
        return Err((
            entry.name.span(),
            format!(
                "field `workloads.name`: `{name}` is a built-in workload; give the command module at `wasm` \
                 another name"
            ),
        ));
    }
    if let Err(why) = check_name(name) {
        return Err((entry.name.span(), format!("field `workloads.name`: {why}")));
    }
    if let Some(inputs) = &entry.inputs {
        return Err((
            inputs.span(),
            format!(
                "field `workloads.inputs` of `{name}`: a command module takes its input from `stdin` (a file \
                 beside it) and `args`; remove `inputs`"
            ),
        ));
    }
    if !seen.insert((name.as_str(), COMMAND_INPUT)) {
        return Err((
            entry.name.span(),
            format!("field `workloads.name`: `{name}` names two workloads; name each once"),
        ));
    }
    Ok(PlanWorkload {
        name: name.clone(),
        inputs: vec![COMMAND_INPUT.to_string()],
        command: Some(resolve(entry, plan_dir, vars)?),
    })
}

/// The longest command workload name, in bytes: the name is part of file names (its `.cwasm`, about 70 bytes
/// more) and of its container image's name, which must stay under the file system's 255 bytes.
pub const MAX_NAME_BYTES: usize = 100;

/// A command workload's name goes into file names under `--artifacts` and an image name, so it may not leave
/// that folder (`/`, `\`, a leading `.` as in `..`), hold control characters, or be too long for a file name.
pub fn check_name(name: &str) -> Result<(), String> {
    let fix = "name it with letters, digits, spaces, `-`, `_` or `.` (not first)";
    if name.trim().is_empty() {
        return Err(format!("a command workload needs a name; {fix}"));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(format!(
            "`{}...` is {} bytes long; a command workload's name is part of file names under --artifacts, so at \
             most {MAX_NAME_BYTES} bytes",
            name.chars().take(40).collect::<String>(),
            name.len()
        ));
    }
    if let Some(c) = name.chars().find(|c| matches!(c, '/' | '\\') || c.is_control()) {
        return Err(format!(
            "{name:?} holds {c:?}; a command workload's name is part of file names under --artifacts, so it \
             may not name another folder; {fix}"
        ));
    }
    if name.starts_with('.') {
        return Err(format!(
            "{name:?} starts with `.`; a command workload's name is part of file names under --artifacts; {fix}"
        ));
    }
    Ok(())
}

/// Whether the table names a command module (any of the command keys) rather than a built-in workload.
pub(super) fn is_command(entry: &WorkloadFile) -> bool {
    entry.wasm.is_some()
}

/// The keys only a command takes, for the error when a built-in has them.
pub(super) fn stray_command_key(entry: &WorkloadFile) -> Option<(std::ops::Range<usize>, &'static str)> {
    [
        (entry.args.as_ref().map(Spanned::span), "args"),
        (entry.stdin.as_ref().map(Spanned::span), "stdin"),
        (entry.native.as_ref().map(Spanned::span), "native"),
        (entry.js.as_ref().map(Spanned::span), "js"),
        (entry.preopen_writable.as_ref().map(Spanned::span), "preopen_writable"),
    ]
    .into_iter()
    .find_map(|(span, key)| span.map(|s| (s, key)))
}

fn path_key(value: &Spanned<String>, key: &str, name: &str, base: &Path, vars: &Vars) -> Result<PathBuf, SpannedError> {
    let expanded = expand(value.get_ref(), vars)
        .map_err(|e| (value.span(), format!("field `workloads.{key}` of `{name}`: {e}")))?;
    let path = base.join(expanded);
    if !path.is_file() {
        return Err((
            value.span(),
            format!("field `workloads.{key}` of `{name}`: {} does not exist", path.display()),
        ));
    }
    Ok(absolute(&path))
}

fn absolute(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

/// Resolves and checks a command table: the module exists, is a command (`_start`), imports only what every
/// Wasm runtime provides; `stdin` is a file inside the module's directory; `native` and `js` exist.
fn resolve(entry: &WorkloadFile, plan_dir: &Path, vars: &Vars) -> Result<CommandWorkload, SpannedError> {
    let name = entry.name.get_ref();
    let wasm_key = entry.wasm.as_ref().expect("is_command");
    let wasm = path_key(wasm_key, "wasm", name, plan_dir, vars)?;
    let bytes = std::fs::read(&wasm).map_err(|e| {
        (
            wasm_key.span(),
            format!("field `workloads.wasm` of `{name}`: reading {}: {e}", wasm.display()),
        )
    })?;
    contract::check_module(&bytes, &wasm.display().to_string())
        .map_err(|e| (wasm_key.span(), format!("workload `{name}`: {e}")))?;
    let dir = wasm.parent().map(Path::to_path_buf).unwrap_or_default();
    let stdin = match &entry.stdin {
        None => None,
        Some(value) => {
            let file = path_key(value, "stdin", name, &dir, vars)?;
            if !file.starts_with(&dir) {
                return Err((
                    value.span(),
                    format!(
                        "field `workloads.stdin` of `{name}`: {} is outside the module's directory {}, the one \
                         directory the command sees (preopened as `.`); put the input beside the module",
                        file.display(),
                        dir.display()
                    ),
                ));
            }
            let bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            contract::check_file_size(&file, bytes, "it is read into memory before the run")
                .map_err(|e| (value.span(), format!("field `workloads.stdin` of `{name}`: {e}")))?;
            Some(file.display().to_string())
        }
    };
    let optional = |value: &Option<Spanned<String>>, key: &str| -> Result<Option<String>, SpannedError> {
        value
            .as_ref()
            .map(|v| path_key(v, key, name, plan_dir, vars).map(|p| p.display().to_string()))
            .transpose()
    };
    let args = match &entry.args {
        None => Vec::new(),
        Some(args) => args
            .get_ref()
            .iter()
            .map(|a| expand(a, vars).map_err(|e| (args.span(), format!("field `workloads.args` of `{name}`: {e}"))))
            .collect::<Result<_, _>>()?,
    };
    Ok(CommandWorkload {
        wasm: wasm.display().to_string(),
        args,
        stdin,
        native: optional(&entry.native, "native")?,
        js: optional(&entry.js, "js")?,
        preopen_writable: entry.preopen_writable.as_ref().is_some_and(|v| *v.get_ref()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_come_from_the_command_line_then_the_environment() {
        let vars = vec![("ROOT".to_string(), "/sg".to_string())];
        assert_eq!(
            expand("${ROOT}/benchmarks/x.wasm", &vars).unwrap(),
            "/sg/benchmarks/x.wasm"
        );
        assert_eq!(expand("plain", &vars).unwrap(), "plain");
        let home = std::env::var("HOME").unwrap_or_default();
        assert_eq!(expand("${HOME}", &[]).unwrap(), home);
        let unset = expand("${HARNESS_SURELY_UNSET_VARIABLE}/x", &vars).unwrap_err();
        assert!(unset.contains("--var HARNESS_SURELY_UNSET_VARIABLE=<value>"), "{unset}");
        assert!(expand("${OPEN", &vars).is_err());
    }

    #[test]
    fn names_that_would_leave_the_artifacts_folder_or_overflow_a_file_name_are_refused() {
        for fine in ["pulldown-cmark", "Cat Static", "a.b_c", "b\u{e9}b\u{e9}"] {
            assert_eq!(check_name(fine), Ok(()), "{fine}");
        }
        for (bad, said) in [
            ("../../../../tmp/x", "'/'"),
            ("..", "starts with `.`"),
            (".hidden", "starts with `.`"),
            ("a\\b", "'\\\\'"),
            ("tab\there", "'\\t'"),
            ("", "needs a name"),
            ("  ", "needs a name"),
        ] {
            let e = check_name(bad).unwrap_err();
            assert!(e.contains(said), "{bad:?}: {e}");
        }
        let long = "x".repeat(300);
        let e = check_name(&long).unwrap_err();
        assert!(e.contains("300 bytes long") && e.contains("at most 100 bytes"), "{e}");
        assert_eq!(check_name(&"x".repeat(MAX_NAME_BYTES)), Ok(()));
    }
}
