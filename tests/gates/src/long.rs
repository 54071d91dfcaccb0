//! Gates 1 and 2: no non-test function over [`MAX_FUNCTION_LINES`] lines, no non-test file over
//! [`MAX_FILE_LINES`] lines unless its first line opts out with a reason ([`OPT_OUT`]).

use crate::Violation;
use crate::sources::{Source, is_test_item};
use syn::spanned::Spanned;
use syn::visit::{self, Visit};

pub const MAX_FUNCTION_LINES: usize = 120;
pub const MAX_FILE_LINES: usize = 600;
/// The first line of a long file that may stay long, followed by the one-line reason.
pub const OPT_OUT: &str = "// house-gates: allow-long-file:";

/// Every non-test function (free, method, trait default, nested) over the limit, counted from the line of its
/// signature (visibility included, attributes and doc comments not) to its closing brace.
pub fn functions(sources: &[Source]) -> Vec<Violation> {
    let mut found = Vec::new();
    for source in sources.iter().filter(|s| !s.is_test) {
        let mut visitor = Functions {
            source,
            owner: None,
            found: &mut found,
        };
        visitor.visit_file(&source.syntax);
    }
    found
}

/// Every non-test file over the limit without an opt-out, and every opt-out without a reason.
pub fn files(sources: &[Source]) -> Vec<Violation> {
    let mut found = Vec::new();
    for source in sources.iter().filter(|s| !s.is_test) {
        let first = source.text.lines().next().unwrap_or_default();
        let lines = source.text.lines().count();
        let violation = |message: String| Violation {
            file: source.path.clone(),
            line: 1,
            message,
        };
        match first.trim_start().strip_prefix(OPT_OUT) {
            Some(reason) if reason.trim().is_empty() => {
                found.push(violation(format!("`{OPT_OUT}` needs a reason after it")));
            }
            Some(_) => {}
            None if lines > MAX_FILE_LINES => found.push(violation(format!(
                "{lines} lines (limit {MAX_FILE_LINES}): split it, or make the first line `{OPT_OUT} <reason>`"
            ))),
            None => {}
        }
    }
    found
}

struct Functions<'a> {
    source: &'a Source,
    /// The type of the `impl` or the trait being visited, to name methods `Type::method`.
    owner: Option<String>,
    found: &'a mut Vec<Violation>,
}

impl Functions<'_> {
    fn measure(&mut self, name: &syn::Ident, start: proc_macro2::Span, block: &syn::Block) {
        let first = start.start().line;
        let lines = block.brace_token.span.close().end().line + 1 - first;
        if lines > MAX_FUNCTION_LINES {
            let name = match &self.owner {
                Some(owner) => format!("{owner}::{name}"),
                None => name.to_string(),
            };
            self.found.push(Violation {
                file: self.source.path.clone(),
                line: first,
                message: format!("function `{name}` is {lines} lines (limit {MAX_FUNCTION_LINES}): split it"),
            });
        }
    }

    fn with_owner(&mut self, owner: String, visit: impl FnOnce(&mut Self)) {
        let outer = self.owner.replace(owner);
        visit(self);
        self.owner = outer;
    }
}

/// Where a function starts: its visibility where it has one, else its signature.
fn start(vis: &syn::Visibility, sig: &syn::Signature) -> proc_macro2::Span {
    match vis {
        syn::Visibility::Inherited => sig.span(),
        _ => vis.span(),
    }
}

impl<'ast> Visit<'ast> for Functions<'_> {
    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        if is_test_item(&item.attrs) {
            return;
        }
        self.measure(&item.sig.ident, start(&item.vis, &item.sig), &item.block);
        // A function nested in this one is measured on its own; it is no method of the outer `impl`.
        let outer = self.owner.take();
        visit::visit_item_fn(self, item);
        self.owner = outer;
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        if is_test_item(&item.attrs) {
            return;
        }
        self.measure(&item.sig.ident, start(&item.vis, &item.sig), &item.block);
        visit::visit_impl_item_fn(self, item);
    }

    fn visit_trait_item_fn(&mut self, item: &'ast syn::TraitItemFn) {
        if is_test_item(&item.attrs) {
            return;
        }
        if let Some(block) = &item.default {
            self.measure(&item.sig.ident, item.sig.span(), block);
        }
        visit::visit_trait_item_fn(self, item);
    }

    fn visit_item_impl(&mut self, item: &'ast syn::ItemImpl) {
        if is_test_item(&item.attrs) {
            return;
        }
        let owner = match &*item.self_ty {
            syn::Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
            _ => None,
        };
        self.with_owner(owner.unwrap_or_else(|| "impl".into()), |v| {
            visit::visit_item_impl(v, item)
        });
    }

    fn visit_item_trait(&mut self, item: &'ast syn::ItemTrait) {
        if is_test_item(&item.attrs) {
            return;
        }
        self.with_owner(item.ident.to_string(), |v| visit::visit_item_trait(v, item));
    }

    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        if !is_test_item(&item.attrs) {
            visit::visit_item_mod(self, item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{function, tree};

    fn check(written: &[(&str, &str)]) -> (Vec<String>, Vec<String>) {
        let dir = tree(written);
        let sources = crate::sources::read(dir.path()).unwrap();
        let show = |v: Vec<Violation>| v.iter().map(ToString::to_string).collect();
        (show(functions(&sources)), show(files(&sources)))
    }

    #[test]
    fn a_function_of_121_lines_is_named_at_its_signature_and_one_of_120_passes() {
        let text = format!(
            "//! A module.\n\n/// Doc.\n#[inline]\n{}\n{}",
            function("long", 121),
            function("ok", 120)
        );
        let (functions, _) = check(&[("a/src/lib.rs", &text)]);
        assert_eq!(
            functions,
            ["a/src/lib.rs:5: function `long` is 121 lines (limit 120): split it"]
        );
    }

    #[test]
    fn methods_trait_defaults_and_nested_functions_are_measured_and_named() {
        let long = function("m", 121).replace('\n', "\n    ");
        let text = format!(
            "struct S;\nimpl S {{\n    pub {long}\n}}\ntrait T {{\n    {long}\n}}\nfn outer() {{\n    {long}\n}}\n"
        );
        let (functions, _) = check(&[("a/src/lib.rs", &text)]);
        assert_eq!(
            functions,
            [
                "a/src/lib.rs:3: function `S::m` is 121 lines (limit 120): split it",
                "a/src/lib.rs:127: function `T::m` is 121 lines (limit 120): split it",
                "a/src/lib.rs:250: function `outer` is 124 lines (limit 120): split it",
                "a/src/lib.rs:251: function `m` is 121 lines (limit 120): split it",
            ]
        );
    }

    #[test]
    fn test_code_may_have_long_functions() {
        let long = function("long", 200);
        let (functions, _) = check(&[
            (
                "a/src/lib.rs",
                &format!("#[cfg(test)]\nmod tests {{\n{long}}}\n#[test]\n{long}"),
            ),
            ("a/src/lib_tests.rs", &long),
            ("a/src/tests.rs", &long),
            ("tests/all/main.rs", &long),
            ("a/tests/x.rs", &long),
        ]);
        assert!(functions.is_empty(), "{functions:?}");
    }

    #[test]
    fn a_file_of_601_lines_fails_unless_its_first_line_says_why() {
        let body = |lines: usize| "// line\n".repeat(lines);
        let opt_out = format!("{OPT_OUT} generated tables, one per line\n{}", body(700));
        let (_, files) = check(&[
            ("a/src/long.rs", &body(601)),
            ("a/src/ok.rs", &body(600)),
            ("a/src/allowed.rs", &opt_out),
            ("a/src/no_reason.rs", &format!("{OPT_OUT}  \n{}", body(10))),
            ("tests/all/long.rs", &body(700)),
        ]);
        assert_eq!(
            files,
            [
                "a/src/long.rs:1: 601 lines (limit 600): split it, or make the first line \
                 `// house-gates: allow-long-file: <reason>`",
                "a/src/no_reason.rs:1: `// house-gates: allow-long-file:` needs a reason after it",
            ]
        );
    }
}
