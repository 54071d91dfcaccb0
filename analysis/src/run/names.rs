//! The `run` column of an export names each run by its folder; two folders of one name (`a/run`, `b/run`)
//! once shared one value in study.csv, so their rows could not be told apart.

use super::Run;
use std::collections::HashMap;
use std::path::{Component, PathBuf};

/// Renames runs whose folder names collide to the shortest trailing part of their paths that tells them apart
/// (`a/run` and `b/run`); runs with a name of their own keep it.
pub fn distinct_names(runs: &mut [Run]) {
    let mut count: HashMap<String, usize> = HashMap::new();
    for run in runs.iter() {
        *count.entry(run.name.clone()).or_default() += 1;
    }
    let shared: Vec<usize> = (0..runs.len()).filter(|&i| count[&runs[i].name] > 1).collect();
    if shared.is_empty() {
        return;
    }
    let parts: Vec<Vec<String>> = shared.iter().map(|&i| components(&runs[i].dir)).collect();
    let longest = parts.iter().map(Vec::len).max().unwrap_or(1);
    // The fewest trailing components that make every colliding name unique (the whole path at worst: the
    // same directory given twice is refused before this).
    let tail = |p: &Vec<String>, k: usize| p[p.len().saturating_sub(k)..].join("/");
    let k = (1..=longest)
        .find(|&k| {
            let mut seen = std::collections::HashSet::new();
            parts.iter().all(|p| seen.insert(tail(p, k)))
        })
        .unwrap_or(longest);
    for (&i, p) in shared.iter().zip(&parts) {
        runs[i].name = tail(p, k);
    }
}

/// The run folder's path, absolute where it can be, as its names.
fn components(dir: &std::path::Path) -> Vec<String> {
    let path: PathBuf = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    path.components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_at(dir: &std::path::Path) -> Run {
        let reference = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/reference/vm-spine");
        let mut run = super::super::read_run(&reference).unwrap();
        std::fs::create_dir_all(dir).unwrap();
        run.dir = dir.to_path_buf();
        run.name = dir.file_name().unwrap().to_string_lossy().into_owned();
        run
    }

    #[test]
    fn folders_of_one_name_get_distinct_names_and_others_keep_theirs() {
        let root = tempfile::tempdir().unwrap();
        let mut runs = vec![
            run_at(&root.path().join("xeon/run")),
            run_at(&root.path().join("orin/run")),
            run_at(&root.path().join("pi5")),
        ];
        distinct_names(&mut runs);
        let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["xeon/run", "orin/run", "pi5"]);
        // Two levels deep when one is not enough.
        let mut runs = vec![
            run_at(&root.path().join("a/x/run")),
            run_at(&root.path().join("b/x/run")),
        ];
        distinct_names(&mut runs);
        assert_eq!(runs[0].name, "a/x/run");
        assert_eq!(runs[1].name, "b/x/run");
    }
}
