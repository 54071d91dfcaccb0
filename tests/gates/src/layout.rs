//! Gate 4: README.md's layout table matches the tree. The table is the first one after a `## Layout` heading;
//! every path in backticks in a row's first cell must exist (relative to the root; `*` matches within one
//! file name, as in `workloads/src/*.rs`).

use crate::Violation;
use std::path::{Path, PathBuf};

pub fn check(root: &Path) -> Result<Vec<Violation>, String> {
    let readme = root.join("README.md");
    let text = std::fs::read_to_string(&readme).map_err(|e| format!("{}: {e}", readme.display()))?;
    let at = |line: usize, message: String| Violation {
        file: PathBuf::from("README.md"),
        line,
        message,
    };
    let lines: Vec<&str> = text.lines().collect();
    let Some(heading) = lines.iter().position(|l| is_layout_heading(l)) else {
        return Ok(vec![at(1, "no `## Layout` section with the layout table".into())]);
    };
    let rows: Vec<(usize, &str)> = lines
        .iter()
        .enumerate()
        .skip(heading + 1)
        .take_while(|(_, l)| !l.starts_with('#'))
        .skip_while(|(_, l)| !l.starts_with('|'))
        .take_while(|(_, l)| l.starts_with('|'))
        .map(|(i, l)| (i + 1, *l))
        .collect();
    if rows.len() < 3 {
        return Ok(vec![at(
            heading + 1,
            "the layout section has no table with a row".into(),
        )]);
    }
    let mut found = Vec::new();
    // The header row and the `|---|` row name no path.
    for (line, row) in &rows[2..] {
        let first_cell = row.trim_start_matches('|').split('|').next().unwrap_or_default();
        let paths = backticked(first_cell);
        if paths.is_empty() {
            found.push(at(*line, "a layout row without a `path` in its first cell".into()));
        }
        for path in paths {
            if !exists(root, path) {
                found.push(at(
                    *line,
                    format!("`{path}` is in the layout table but not in the tree"),
                ));
            }
        }
    }
    Ok(found)
}

fn is_layout_heading(line: &str) -> bool {
    let title = line.trim_start_matches('#');
    title.len() < line.len() && title.trim().eq_ignore_ascii_case("layout")
}

/// The texts between pairs of backticks.
fn backticked(cell: &str) -> Vec<&str> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .filter(|t| !t.trim().is_empty())
        .collect()
}

/// Whether `path` (relative to `root`, `*` matching within a file name) names at least one file or folder.
fn exists(root: &Path, path: &str) -> bool {
    let path = path.trim_end_matches('/');
    if !path.contains('*') {
        return root.join(path).exists();
    }
    let (dir, pattern) = path.rsplit_once('/').unwrap_or(("", path));
    let (prefix, suffix) = pattern.split_once('*').unwrap_or((pattern, ""));
    std::fs::read_dir(root.join(dir)).is_ok_and(|entries| {
        entries.filter_map(Result::ok).any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.len() >= prefix.len() + suffix.len() && name.starts_with(prefix) && name.ends_with(suffix)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::tree;

    const README: &str = "# x\n\n## Layout\n\n| path | what |\n|---|---|\n| `a/src/` | the crate; `lib.rs` |\n\
        | `b/` and `c.toml` | two |\n| `a/src/*.rs` | every source |\n\n## Next\n\n| `gone/` | not the layout |\n";

    fn shown(root: &Path) -> Vec<String> {
        check(root).unwrap().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn every_first_cell_path_must_exist() {
        let dir = tree(&[("README.md", README), ("a/src/lib.rs", ""), ("b/x", ""), ("c.toml", "")]);
        assert!(shown(dir.path()).is_empty(), "{:?}", shown(dir.path()));
        std::fs::remove_file(dir.path().join("c.toml")).unwrap();
        std::fs::remove_file(dir.path().join("a/src/lib.rs")).unwrap();
        assert_eq!(
            shown(dir.path()),
            [
                "README.md:8: `c.toml` is in the layout table but not in the tree",
                "README.md:9: `a/src/*.rs` is in the layout table but not in the tree",
            ]
        );
    }

    #[test]
    fn a_readme_without_the_table_or_a_row_without_a_path_fails() {
        let dir = tree(&[("README.md", "# x\n\nno layout\n")]);
        assert_eq!(
            shown(dir.path()),
            ["README.md:1: no `## Layout` section with the layout table"]
        );
        let dir = tree(&[(
            "README.md",
            "## Layout\n\nprose only\n## Next\n| a | b |\n|---|---|\n| `x` | y |\n",
        )]);
        assert_eq!(
            shown(dir.path()),
            ["README.md:1: the layout section has no table with a row"]
        );
        let dir = tree(&[(
            "README.md",
            "### layout\n| path | what |\n|---|---|\n| plain | words |\n",
        )]);
        assert_eq!(
            shown(dir.path()),
            ["README.md:4: a layout row without a `path` in its first cell"]
        );
    }
}
