//! `house-gates [ROOT]`: checks the house rules on the workspace at ROOT (default `.`) and exits 1 naming
//! every `file:line` that breaks one, so that the test command (scripts/test.sh) fails on a violation:
//!
//! 1. no non-test function over 120 lines ([`long`]);
//! 2. no non-test source file over 600 lines, unless its first line says why
//!    (`// house-gates: allow-long-file: <reason>`) ([`long`]);
//! 3. no import cycle between files of one crate (`use crate::`/`super::`/`self::` and such paths in code)
//!    ([`cycles`]);
//! 4. every path in README.md's layout table exists ([`layout`]).
//!
//! Test code is exempt from 1-3: files under a `tests/` folder, files named `tests.rs` or `*_tests.rs`,
//! `#[cfg(test)]` items and `#[test]` functions ([`sources`]).

mod cycles;
mod layout;
mod long;
mod sources;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// One broken rule, at `file:line` (relative to the checked root).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Violation {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// Every violation of every gate in the workspace at `root`, per gate in the order of the module docs.
pub fn check(root: &Path) -> Result<Vec<(&'static str, Vec<Violation>)>, String> {
    let sources = sources::read(root)?;
    Ok(vec![
        ("functions over 120 lines", long::functions(&sources)),
        ("files over 600 lines", long::files(&sources)),
        ("import cycles", cycles::check(root, &sources)?),
        ("README layout table", layout::check(root)?),
    ])
}

fn main() -> ExitCode {
    let root = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    let gates = match check(&root) {
        Ok(gates) => gates,
        Err(e) => {
            eprintln!("house-gates: {e}");
            return ExitCode::from(2);
        }
    };
    let mut failed = 0;
    for (gate, violations) in &gates {
        if violations.is_empty() {
            eprintln!("house-gates: {gate}: ok");
            continue;
        }
        failed += violations.len();
        eprintln!("house-gates: {gate}: {} violation(s)", violations.len());
        for violation in violations {
            eprintln!("  {violation}");
        }
    }
    if failed == 0 {
        return ExitCode::SUCCESS;
    }
    eprintln!("house-gates: FAILED: {failed} violation(s) of the house rules (see tests/gates/src/main.rs)");
    ExitCode::FAILURE
}

#[cfg(test)]
pub(crate) mod fixture {
    //! Tiny workspaces written into a tempdir for the gates' tests.

    use std::path::Path;

    /// Writes `files` (path relative to the root, contents) under a new tempdir.
    pub fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            write(dir.path(), path, text);
        }
        dir
    }

    pub fn write(root: &Path, path: &str, text: &str) {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// A function named `name` whose body makes it `lines` lines long, signature and closing brace included.
    pub fn function(name: &str, lines: usize) -> String {
        let body: String = (0..lines - 2).map(|i| format!("    let _x{i} = {i};\n")).collect();
        format!("fn {name}() {{\n{body}}}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clean_tree_passes_every_gate_and_a_planted_violation_fails_its_own() {
        let dir = fixture::tree(&[
            (
                "README.md",
                "## Layout\n\n| path | what |\n|---|---|\n| `a/` | a crate |\n",
            ),
            ("a/Cargo.toml", "[package]\nname = \"a\"\n"),
            ("a/src/lib.rs", "pub mod b;\npub fn top() {}\n"),
            ("a/src/b.rs", "use crate::top;\npub fn b() { top() }\n"),
        ]);
        let gates = check(dir.path()).unwrap();
        assert!(gates.iter().all(|(_, v)| v.is_empty()), "{gates:?}");
        fixture::write(dir.path(), "a/src/c.rs", &fixture::function("long", 121));
        fixture::write(dir.path(), "a/src/lib.rs", "pub mod b;\npub mod c;\npub fn top() {}\n");
        let gates = check(dir.path()).unwrap();
        let failed: Vec<_> = gates.iter().filter(|(_, v)| !v.is_empty()).map(|(g, _)| *g).collect();
        assert_eq!(failed, ["functions over 120 lines"], "{gates:?}");
        assert_eq!(
            gates[0].1[0].to_string(),
            "a/src/c.rs:1: function `long` is 121 lines (limit 120): split it"
        );
    }
}
