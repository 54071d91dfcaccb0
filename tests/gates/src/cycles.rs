//! Gate 3: no import cycle between the files of a crate.
//!
//! Every crate root (`src/lib.rs`, `src/main.rs`, `src/bin/*.rs` of each package) gives a module tree, followed
//! from its `mod` items (`#[path]` honoured, test modules left out). A file uses another when it names a path
//! that starts with `crate::`, `super::` or `self::` (in a `use`, in code, or in a macro's tokens): the path is
//! resolved down the tree as far as its segments are modules, to the file that defines that module. So is a
//! path written from a child module's name (`commands::Vars` in the file that declares `mod commands;`). A file
//! naming one of its own ancestor modules' files (a child using its parent's items) is no edge. Each strongly
//! connected component of more than one file is one violation.

use crate::Violation;
use crate::sources::{Source, is_test_item};
use proc_macro2::{Span, TokenStream, TokenTree};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use syn::visit::{self, Visit};

/// A module's path from its crate root (`[]` is the root itself).
type ModulePath = Vec<String>;

/// A crate's modules and the file that defines each; an inline module maps to the file it is written in.
#[derive(Default)]
struct Tree {
    files: BTreeMap<ModulePath, PathBuf>,
    /// The module each file defines (its top-level module).
    modules: BTreeMap<PathBuf, ModulePath>,
}

/// Where one file names another: the first such place in the file.
#[derive(Clone)]
struct Use {
    line: usize,
    written: String,
}

type Edges = BTreeMap<(PathBuf, PathBuf), Use>;

/// Every import cycle of every crate under `root`.
pub fn check(root: &Path, sources: &[Source]) -> Result<Vec<Violation>, String> {
    let by_path: BTreeMap<&Path, &Source> = sources
        .iter()
        .filter(|s| !s.is_test)
        .map(|s| (s.path.as_path(), s))
        .collect();
    let mut found = Vec::new();
    let mut reported: BTreeSet<BTreeSet<PathBuf>> = BTreeSet::new();
    for crate_root in crate_roots(root, &by_path)? {
        let tree = module_tree(&crate_root, &by_path);
        let edges = edges(&tree, &by_path);
        for component in components(&tree, &edges) {
            let files: BTreeSet<PathBuf> = component.iter().cloned().collect();
            if reported.insert(files) {
                found.push(violation(&crate_root, &component, &edges));
            }
        }
    }
    Ok(found)
}

/// The crate roots of every package (a folder with a Cargo.toml that has `[package]`).
fn crate_roots(root: &Path, sources: &BTreeMap<&Path, &Source>) -> Result<Vec<PathBuf>, String> {
    let mut roots = Vec::new();
    for path in sources.keys() {
        let Some(src) = path
            .parent()
            .filter(|dir| dir.ends_with("src") || dir.ends_with("src/bin"))
        else {
            continue;
        };
        let package = if src.ends_with("bin") {
            src.parent().and_then(Path::parent)
        } else {
            src.parent()
        };
        let Some(package) = package else { continue };
        let manifest = root.join(package).join("Cargo.toml");
        let is_package = match std::fs::read_to_string(&manifest) {
            Ok(text) => text.lines().any(|l| l.trim() == "[package]"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(format!("{}: {e}", manifest.display())),
        };
        let name = path.file_name().unwrap_or_default();
        let is_root = src.ends_with("bin") || name == "lib.rs" || name == "main.rs";
        if is_package && is_root {
            roots.push(path.to_path_buf());
        }
    }
    Ok(roots)
}

fn module_tree(crate_root: &Path, sources: &BTreeMap<&Path, &Source>) -> Tree {
    let mut tree = Tree::default();
    let dir = crate_root.parent().unwrap_or(Path::new("")).to_path_buf();
    add_file(&mut tree, sources, crate_root, Vec::new(), dir);
    tree
}

/// Adds `file` as module `module`, its children's files being found under `dir`.
fn add_file(tree: &mut Tree, sources: &BTreeMap<&Path, &Source>, file: &Path, module: ModulePath, dir: PathBuf) {
    let Some(source) = sources.get(file) else { return };
    if tree.modules.contains_key(file) {
        return;
    }
    tree.files.insert(module.clone(), file.to_path_buf());
    tree.modules.insert(file.to_path_buf(), module.clone());
    let file_dir = file.parent().unwrap_or(Path::new("")).to_path_buf();
    add_items(tree, sources, file, &file_dir, &source.syntax.items, module, dir);
}

fn add_items(
    tree: &mut Tree,
    sources: &BTreeMap<&Path, &Source>,
    file: &Path,
    file_dir: &Path,
    items: &[syn::Item],
    module: ModulePath,
    dir: PathBuf,
) {
    for item in items {
        let syn::Item::Mod(m) = item else { continue };
        if is_test_item(&m.attrs) {
            continue;
        }
        let name = m.ident.to_string();
        let mut child = module.clone();
        child.push(name.clone());
        if let Some((_, items)) = &m.content {
            tree.files.insert(child.clone(), file.to_path_buf());
            add_items(tree, sources, file, file_dir, items, child, dir.join(&name));
            continue;
        }
        let (child_file, child_dir) = match path_attribute(&m.attrs) {
            // A `#[path]` file owns its folder, as a mod.rs does.
            Some(path) => {
                let path = normalize(&file_dir.join(path));
                let child_dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
                (path, child_dir)
            }
            None => {
                let flat = dir.join(format!("{name}.rs"));
                let nested = dir.join(&name).join("mod.rs");
                if sources.contains_key(flat.as_path()) {
                    (flat, dir.join(&name))
                } else {
                    (nested, dir.join(&name))
                }
            }
        };
        add_file(tree, sources, &child_file, child, child_dir);
    }
}

fn path_attribute(attrs: &[syn::Attribute]) -> Option<String> {
    attrs
        .iter()
        .find(|a| a.path().is_ident("path"))
        .and_then(|a| match &a.meta {
            syn::Meta::NameValue(syn::MetaNameValue {
                value: syn::Expr::Lit(lit),
                ..
            }) => match &lit.lit {
                syn::Lit::Str(s) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
}

/// `a/b/../c` as `a/c`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn edges(tree: &Tree, sources: &BTreeMap<&Path, &Source>) -> Edges {
    let mut edges = Edges::new();
    for (file, module) in &tree.modules {
        let mut paths = Paths {
            module: module.clone(),
            found: Vec::new(),
        };
        paths.visit_file(&sources[file.as_path()].syntax);
        for named in paths.found {
            let Some(target) = resolve(tree, &named.module, &named.segments) else {
                continue;
            };
            let target_file = &tree.files[&target];
            let target_module = &tree.modules[target_file];
            // The file itself, or an ancestor of it (a child using its parent's items).
            if module.starts_with(target_module) {
                continue;
            }
            let at = Use {
                line: named.line,
                written: named.segments.join("::"),
            };
            let edge = edges
                .entry((file.clone(), target_file.clone()))
                .or_insert_with(|| at.clone());
            if at.line < edge.line {
                *edge = at;
            }
        }
    }
    edges
}

/// The module a path names, as deep as its segments are modules; `None` for a path that leaves the crate.
fn resolve(tree: &Tree, from: &[String], segments: &[String]) -> Option<ModulePath> {
    let mut module: ModulePath = from.to_vec();
    let mut rest = segments.iter().peekable();
    match rest.peek().map(|s| s.as_str()) {
        Some("crate") => {
            module.clear();
            rest.next();
        }
        Some("self") => {
            rest.next();
        }
        Some("super") => {}
        // A path into a child module without `self::` (`commands::Vars` beside `mod commands;`).
        Some(first) if segments.len() > 1 && tree.files.contains_key(&with_segment(from, first)) => {}
        _ => return None,
    }
    while rest.peek().is_some_and(|s| *s == "super") {
        rest.next();
        module.pop()?;
    }
    for segment in rest {
        module.push(segment.clone());
        if !tree.files.contains_key(&module) {
            module.pop();
            break;
        }
    }
    tree.files.contains_key(&module).then_some(module)
}

fn with_segment(module: &[String], segment: &str) -> ModulePath {
    let mut module = module.to_vec();
    module.push(segment.to_owned());
    module
}

/// A path of two segments or more, or one that starts with `crate`, `super` or `self`, where it is written.
struct Named {
    module: ModulePath,
    segments: Vec<String>,
    line: usize,
}

/// Collects the crate-relative paths of one file, outside test code and visibilities (`pub(crate)`).
struct Paths {
    /// The module being visited: the file's, plus the inline modules around the visitor.
    module: ModulePath,
    found: Vec<Named>,
}

const RELATIVE: [&str; 3] = ["crate", "super", "self"];

impl Paths {
    fn add(&mut self, mut segments: Vec<String>, span: Span) {
        // `use x::{self}` names `x`.
        if segments.len() > 1 && segments.last().is_some_and(|s| s == "self") {
            segments.pop();
        }
        let relative = segments.first().is_some_and(|s| RELATIVE.contains(&s.as_str()));
        // `self` alone is a method's receiver, not a path into the crate.
        if segments.len() > 1 || (relative && segments[0] != "self") {
            self.found.push(Named {
                module: self.module.clone(),
                segments,
                line: span.start().line,
            });
        }
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => self.add(with(prefix, &n.ident), n.ident.span()),
            syn::UseTree::Rename(r) => self.add(with(prefix, &r.ident), r.ident.span()),
            syn::UseTree::Glob(g) => self.add(with_segment(prefix, "*"), g.star_token.span),
            syn::UseTree::Group(g) => g.items.iter().for_each(|t| self.use_tree(prefix, t)),
        }
    }

    /// Paths in a macro's tokens (`format!("{}", crate::x::f())`): `crate`/`super`/`self` then `::ident`s.
    fn tokens(&mut self, tokens: TokenStream) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < tokens.len() {
            if let TokenTree::Group(group) = &tokens[i] {
                self.tokens(group.stream());
            }
            let TokenTree::Ident(first) = &tokens[i] else {
                i += 1;
                continue;
            };
            let mut segments = vec![first.to_string()];
            let mut next = i + 1;
            while let (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)), Some(TokenTree::Ident(ident))) =
                (tokens.get(next), tokens.get(next + 1), tokens.get(next + 2))
            {
                if a.as_char() != ':' || b.as_char() != ':' {
                    break;
                }
                segments.push(ident.to_string());
                next += 3;
            }
            if segments.len() > 1 && RELATIVE.contains(&segments[0].as_str()) {
                self.add(segments, first.span());
            }
            i = next;
        }
    }
}

fn with(prefix: &[String], ident: &syn::Ident) -> Vec<String> {
    let mut segments = prefix.to_vec();
    segments.push(ident.to_string());
    segments
}

impl<'ast> Visit<'ast> for Paths {
    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        if !is_test_item(&item.attrs) {
            self.use_tree(&mut Vec::new(), &item.tree);
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments = path.segments.iter().map(|s| s.ident.to_string()).collect();
        self.add(segments, path.segments[0].ident.span());
        visit::visit_path(self, path);
    }

    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        visit::visit_macro(self, mac);
        self.tokens(mac.tokens.clone());
    }

    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        if is_test_item(&item.attrs) || item.content.is_none() {
            return;
        }
        self.module.push(item.ident.to_string());
        visit::visit_item_mod(self, item);
        self.module.pop();
    }

    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        if !is_test_item(&item.attrs) {
            visit::visit_item_fn(self, item);
        }
    }

    fn visit_item_impl(&mut self, item: &'ast syn::ItemImpl) {
        if !is_test_item(&item.attrs) {
            visit::visit_item_impl(self, item);
        }
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        if !is_test_item(&item.attrs) {
            visit::visit_impl_item_fn(self, item);
        }
    }
}

/// The strongly connected components of more than one file (Tarjan), each sorted, in file order.
fn components(tree: &Tree, edges: &Edges) -> Vec<Vec<PathBuf>> {
    let files: Vec<&PathBuf> = tree.modules.keys().collect();
    let index_of: BTreeMap<&PathBuf, usize> = files.iter().enumerate().map(|(i, f)| (*f, i)).collect();
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); files.len()];
    for (from, to) in edges.keys() {
        next[index_of[from]].push(index_of[to]);
    }
    let mut tarjan = Tarjan {
        next: &next,
        index: vec![None; files.len()],
        low: vec![0; files.len()],
        stack: Vec::new(),
        on_stack: vec![false; files.len()],
        counter: 0,
        found: Vec::new(),
    };
    for v in 0..files.len() {
        if tarjan.index[v].is_none() {
            tarjan.connect(v);
        }
    }
    let mut found: Vec<Vec<PathBuf>> = tarjan
        .found
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|c| {
            let mut c: Vec<PathBuf> = c.into_iter().map(|v| files[v].clone()).collect();
            c.sort();
            c
        })
        .collect();
    found.sort();
    found
}

struct Tarjan<'a> {
    next: &'a [Vec<usize>],
    index: Vec<Option<usize>>,
    low: Vec<usize>,
    stack: Vec<usize>,
    on_stack: Vec<bool>,
    counter: usize,
    found: Vec<Vec<usize>>,
}

impl Tarjan<'_> {
    fn connect(&mut self, v: usize) {
        self.index[v] = Some(self.counter);
        self.low[v] = self.counter;
        self.counter += 1;
        self.stack.push(v);
        self.on_stack[v] = true;
        for &w in &self.next[v] {
            match self.index[w] {
                None => {
                    self.connect(w);
                    self.low[v] = self.low[v].min(self.low[w]);
                }
                Some(index) if self.on_stack[w] => self.low[v] = self.low[v].min(index),
                Some(_) => {}
            }
        }
        if Some(self.low[v]) == self.index[v] {
            let mut component = Vec::new();
            while let Some(w) = self.stack.pop() {
                self.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            self.found.push(component);
        }
    }
}

/// One component as a violation at its first file's first edge into the component: a shortest cycle through
/// that file, then every edge inside the component with its `file:line`.
fn violation(crate_root: &Path, component: &[PathBuf], edges: &Edges) -> Violation {
    let inside: Vec<(&(PathBuf, PathBuf), &Use)> = edges
        .iter()
        .filter(|((from, to), _)| component.contains(from) && component.contains(to))
        .collect();
    let base = crate_root.parent().unwrap_or(Path::new(""));
    let short = |p: &Path| p.strip_prefix(base).unwrap_or(p).display().to_string();
    let cycle: Vec<String> = shortest_cycle(&component[0], &inside)
        .iter()
        .map(|p| short(p))
        .collect();
    let first = inside
        .iter()
        .find(|((from, _), _)| *from == component[0])
        .map(|(_, u)| u.line);
    let listed: Vec<String> = inside
        .iter()
        .map(|((from, to), u)| format!("{}:{} `{}` -> {}", from.display(), u.line, u.written, short(to)))
        .collect();
    Violation {
        file: component[0].clone(),
        line: first.unwrap_or(1),
        message: format!(
            "import cycle between {} files of the crate at {}: {}\n      {}",
            component.len(),
            crate_root.display(),
            cycle.join(" -> "),
            listed.join("\n      ")
        ),
    }
}

/// The shortest path from `start` back to itself along `edges` (breadth first), `start` at both ends.
fn shortest_cycle(start: &Path, edges: &[(&(PathBuf, PathBuf), &Use)]) -> Vec<PathBuf> {
    let mut came_from: BTreeMap<&Path, &Path> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(at) = queue.pop_front() {
        for ((from, to), _) in edges.iter().filter(|((from, _), _)| from == at) {
            if to == start {
                let mut back = vec![start.to_path_buf()];
                let mut at: &Path = from;
                while at != start {
                    back.push(at.to_path_buf());
                    at = came_from[at];
                }
                back.push(start.to_path_buf());
                back.reverse();
                return back;
            }
            if !came_from.contains_key(to.as_path()) {
                came_from.insert(to, from);
                queue.push_back(to);
            }
        }
    }
    vec![start.to_path_buf()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::tree;

    fn cycles(files: &[(&str, &str)]) -> Vec<String> {
        let mut files = files.to_vec();
        files.push(("a/Cargo.toml", "[package]\nname = \"a\"\n"));
        let dir = tree(&files);
        let sources = crate::sources::read(dir.path()).unwrap();
        check(dir.path(), &sources)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn two_files_using_each_other_are_one_cycle_with_both_uses() {
        let found = cycles(&[
            ("a/src/lib.rs", "mod x;\nmod y;\n"),
            ("a/src/x.rs", "use crate::y::Y;\npub struct X;\n"),
            (
                "a/src/y.rs",
                "pub struct Y;\n\nfn f() -> crate::x::X {\n    crate::x::X\n}\n",
            ),
        ]);
        assert_eq!(
            found,
            [
                "a/src/x.rs:1: import cycle between 2 files of the crate at a/src/lib.rs: x.rs -> y.rs -> x.rs\n      \
              a/src/x.rs:1 `crate::y::Y` -> y.rs\n      a/src/y.rs:3 `crate::x::X` -> x.rs"
            ]
        );
    }

    #[test]
    fn a_path_from_a_child_module_s_name_is_an_edge_too() {
        let found = cycles(&[
            ("a/src/lib.rs", "mod artifacts;\nmod plan;\nmod runtime;\n"),
            ("a/src/artifacts.rs", "use crate::plan::Interrupt;\n"),
            (
                "a/src/plan.rs",
                "mod commands;\npub struct Interrupt;\nfn f(_: commands::Vars) {}\n",
            ),
            (
                "a/src/plan/commands.rs",
                "use super::Interrupt;\nuse crate::runtime::wasi_command;\npub struct Vars;\n",
            ),
            ("a/src/runtime/mod.rs", "pub mod wasi_command;\nuse wasi_command::*;\n"),
            ("a/src/runtime/wasi_command.rs", "use crate::artifacts::{self};\n"),
        ]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with(
                "a/src/artifacts.rs:1: import cycle between 4 files of the crate at a/src/lib.rs: \
                 artifacts.rs -> plan.rs -> plan/commands.rs -> runtime/wasi_command.rs -> artifacts.rs\n"
            ),
            "{found:?}"
        );
        assert!(
            found[0].contains("a/src/plan.rs:3 `commands::Vars` -> plan/commands.rs"),
            "{found:?}"
        );
        assert!(
            found[0].contains("a/src/runtime/wasi_command.rs:1 `crate::artifacts` -> artifacts.rs"),
            "{found:?}"
        );
    }

    #[test]
    fn a_child_using_its_parent_is_no_cycle() {
        let found = cycles(&[
            ("a/src/lib.rs", "pub mod p;\npub struct Top;\n"),
            ("a/src/p/mod.rs", "pub mod c;\nuse self::c::C;\npub struct P;\n"),
            (
                "a/src/p/c.rs",
                "use super::P;\nuse crate::Top;\nuse super::super::p::P as Q;\npub struct C;\n",
            ),
        ]);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn a_cycle_through_three_files_via_super_code_and_macros_is_found() {
        let found = cycles(&[
            ("a/src/lib.rs", "mod r;\n"),
            ("a/src/r/mod.rs", "mod one;\nmod two;\nmod three;\n"),
            ("a/src/r/one.rs", "fn f() { super::two::g() }\n"),
            (
                "a/src/r/two.rs",
                "pub fn g() {\n    let _ = format!(\"{}\", crate::r::three::H);\n}\n",
            ),
            ("a/src/r/three.rs", "pub const H: u8 = 1;\nuse super::one as _;\n"),
        ]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with(
                "a/src/r/one.rs:1: import cycle between 3 files of the crate at a/src/lib.rs: \
                 r/one.rs -> r/two.rs -> r/three.rs -> r/one.rs"
            ),
            "{found:?}"
        );
        assert!(
            found[0].contains("a/src/r/two.rs:2 `crate::r::three::H` -> r/three.rs"),
            "{found:?}"
        );
    }

    #[test]
    fn test_code_visibilities_and_other_crates_make_no_edge() {
        let found = cycles(&[
            ("a/src/lib.rs", "pub mod x;\npub mod y;\n#[cfg(test)]\nmod tests;\n"),
            (
                "a/src/x.rs",
                "pub(in crate::y) struct X;\npub fn f() { other::y::g() }\n",
            ),
            (
                "a/src/y.rs",
                "pub(crate) use crate::x::f;\n#[cfg(test)]\nmod tests {\n    use crate::x::X;\n}\n",
            ),
            ("a/src/tests.rs", "use crate::x::f;\n"),
            ("a/src/main.rs", "mod x;\n"),
        ]);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn modules_are_found_inline_flat_nested_and_by_path_attribute() {
        let dir = tree(&[
            ("a/Cargo.toml", "[package]\n"),
            (
                "a/src/lib.rs",
                "mod flat;\nmod nested;\nmod inline { mod deep; }\n#[path = \"other/odd.rs\"]\nmod odd;\n",
            ),
            ("a/src/flat.rs", "mod child;\n"),
            ("a/src/flat/child.rs", ""),
            ("a/src/nested/mod.rs", ""),
            ("a/src/inline/deep.rs", ""),
            ("a/src/other/odd.rs", "mod beside;\n"),
            ("a/src/other/beside.rs", ""),
        ]);
        let sources = crate::sources::read(dir.path()).unwrap();
        let by_path = sources.iter().map(|s| (s.path.as_path(), s)).collect();
        let tree = module_tree(Path::new("a/src/lib.rs"), &by_path);
        let modules: Vec<String> = tree
            .files
            .iter()
            .map(|(m, f)| format!("{} {}", m.join("::"), f.display()))
            .collect();
        assert_eq!(
            modules,
            [
                " a/src/lib.rs",
                "flat a/src/flat.rs",
                "flat::child a/src/flat/child.rs",
                "inline a/src/lib.rs",
                "inline::deep a/src/inline/deep.rs",
                "nested a/src/nested/mod.rs",
                "odd a/src/other/odd.rs",
                "odd::beside a/src/other/beside.rs",
            ]
        );
    }
}
