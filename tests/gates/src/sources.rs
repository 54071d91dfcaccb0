//! The workspace's Rust sources, parsed, and what counts as test code.

use std::path::{Path, PathBuf};

/// One `.rs` file of the workspace.
pub struct Source {
    /// Relative to the checked root.
    pub path: PathBuf,
    pub text: String,
    pub syntax: syn::File,
    /// Test code as a whole file: under a `tests/` folder, or named `tests.rs` or `*_tests.rs`.
    pub is_test: bool,
}

/// Folders never walked: build output, dependencies, and hidden ones (`.git`, `.cargo`).
const SKIPPED: [&str; 2] = ["target", "node_modules"];

/// Every `.rs` file under `root`, sorted by path, parsed. Symbolic links are not followed (`artifacts` is one).
pub fn read(root: &Path) -> Result<Vec<Source>, String> {
    let mut paths = Vec::new();
    walk(root, Path::new(""), &mut paths)?;
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let full = root.join(&path);
            let text = std::fs::read_to_string(&full).map_err(|e| format!("{}: {e}", full.display()))?;
            let syntax = syn::parse_file(&text).map_err(|e| {
                let at = e.span().start();
                format!("{}:{}: cannot parse: {e}", path.display(), at.line)
            })?;
            let is_test = is_test_file(&path);
            Ok(Source {
                path,
                text,
                syntax,
                is_test,
            })
        })
        .collect()
}

fn walk(root: &Path, relative: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let dir = root.join(relative);
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let kind = entry
            .file_type()
            .map_err(|e| format!("{}: {e}", entry.path().display()))?;
        if name.starts_with('.') || kind.is_symlink() {
            continue;
        }
        let path = relative.join(&*name);
        if kind.is_dir() && !SKIPPED.contains(&&*name) {
            walk(root, &path, out)?;
        } else if kind.is_file() && name.ends_with(".rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// A file that is test code as a whole.
pub fn is_test_file(path: &Path) -> bool {
    let under_tests = path
        .parent()
        .is_some_and(|dir| dir.components().any(|c| c.as_os_str() == "tests"));
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    under_tests || name == "tests.rs" || name.ends_with("_tests.rs")
}

/// Whether the attributes mark test code: `#[test]` (or `#[tokio::test]`, any path ending in `test`),
/// `#[cfg(test)]` or `#[cfg(all(test, ...))]`.
pub fn is_test_item(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        let path = attr.path();
        if path.segments.last().is_some_and(|s| s.ident == "test") {
            return true;
        }
        if !path.is_ident("cfg") {
            return false;
        }
        let Ok(list) = attr.meta.require_list() else {
            return false;
        };
        let tokens = list.tokens.to_string();
        tokens == "test" || (tokens.starts_with("all") && all_has_test(&tokens))
    })
}

/// Whether `all(...)`'s top-level arguments include `test`.
fn all_has_test(tokens: &str) -> bool {
    let Some(inner) = tokens
        .strip_prefix("all")
        .map(str::trim)
        .and_then(|t| t.strip_prefix('('))
    else {
        return false;
    };
    let mut depth = 0;
    let mut argument = String::new();
    for c in inner.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => break,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                if argument.trim() == "test" {
                    return true;
                }
                argument.clear();
                continue;
            }
            _ => {}
        }
        argument.push(c);
    }
    argument.trim() == "test"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(source: &str) -> Vec<syn::Attribute> {
        syn::parse_str::<syn::ItemFn>(&format!("{source} fn f() {{}}"))
            .unwrap()
            .attrs
    }

    #[test]
    fn test_files_are_under_tests_or_named_tests() {
        for path in [
            "tests/all/main.rs",
            "analysis/tests/x.rs",
            "a/src/tests.rs",
            "a/src/model_tests.rs",
        ] {
            assert!(is_test_file(Path::new(path)), "{path}");
        }
        for path in [
            "a/src/lib.rs",
            "a/src/latests.rs",
            "tests.rs/x/src/a.rs",
            "a/src/contests.rs",
        ] {
            assert!(!is_test_file(Path::new(path)), "{path}");
        }
    }

    #[test]
    fn test_items_are_test_functions_and_cfg_test() {
        for source in [
            "#[test]",
            "#[tokio::test]",
            "#[cfg(test)]",
            "#[cfg(all(test, unix))]",
            "#[inline] #[test]",
        ] {
            assert!(is_test_item(&attrs(source)), "{source}");
        }
        for source in [
            "",
            "#[inline]",
            "#[cfg(not(test))]",
            "#[cfg(unix)]",
            "#[cfg(all(unix, not(test)))]",
        ] {
            assert!(!is_test_item(&attrs(source)), "{source}");
        }
    }

    #[test]
    fn sources_skip_target_hidden_folders_and_links() {
        let dir = crate::fixture::tree(&[
            ("a/src/lib.rs", ""),
            ("target/debug/build/x.rs", ""),
            (".git/x.rs", ""),
            ("a/notes.md", ""),
        ]);
        std::os::unix::fs::symlink(dir.path().join("a"), dir.path().join("link")).unwrap();
        let paths: Vec<PathBuf> = read(dir.path()).unwrap().into_iter().map(|s| s.path).collect();
        assert_eq!(paths, [PathBuf::from("a/src/lib.rs")]);
    }

    #[test]
    fn a_file_that_does_not_parse_is_an_error_naming_it() {
        let dir = crate::fixture::tree(&[("a/src/lib.rs", "fn f() {\n")]);
        let err = read(dir.path()).err().unwrap();
        assert!(err.starts_with("a/src/lib.rs:"), "{err}");
    }
}
