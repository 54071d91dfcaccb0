//! Where in the plan's text a fault lies. Validators return the span of what they refuse; the parser turns it
//! into the file:line:column every plan error starts with.

use std::ops::Range;

/// A refused value: its span in the plan's text and what to do about it.
pub(super) type SpannedError = (Range<usize>, String);

/// 1-based line and column of a byte offset.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.len(), |nl| before.len() - nl - 1) + 1;
    (line, column)
}

/// The span of a top-level `key = ...` line (before the first table), for fields read without a span.
pub(super) fn key_span(text: &str, key: &str) -> Range<usize> {
    assignment_span(text, 0, key).unwrap_or(0..0)
}

/// The span of `field = ...` in the table whose header `[[probes]]` is at `header` (toml spans an element of
/// an array of tables by its header only), so an error points at the field's own line; the header when the
/// field is not found before the next table.
pub(crate) fn field_span(text: &str, header: Range<usize>, field: &str) -> Range<usize> {
    assignment_span(text, header.end, field).unwrap_or(header)
}

/// The span of `key` in the first `key = ...` line from `start` up to the next table header.
fn assignment_span(text: &str, start: usize, key: &str) -> Option<Range<usize>> {
    let mut offset = start;
    for line in text.get(start..).unwrap_or("").split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            break;
        }
        if let Some(rest) = trimmed.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            let begin = offset + (line.len() - trimmed.len());
            return Some(begin..begin + key.len());
        }
        offset += line.len();
    }
    None
}
