//! Renderers: pure functions from the report to bytes. Markdown for papers, self-contained HTML (inline CSS
//! and SVG, no scripts, no network) for people, JSON for programs.

use super::document::{glance_cell, glance_header, glance_row, layout};
use super::format::Block;
use super::glance::{GREY, Rgb, cell_colour, legend_stops};
use super::model::{Report, Verdict};

pub fn render_json(report: &Report) -> String {
    let mut text = serde_json::to_string_pretty(report).expect("the report model serializes");
    text.push('\n');
    text
}

/// Text made safe for one line of Markdown (a heading, a table cell, a list item): line breaks become spaces
/// and what Markdown or HTML would read as syntax is backslash-escaped, so a workload or input name cannot end
/// a heading, split a table row, or open a link, emphasis, code, strikethrough, an entity or an HTML tag. Text
/// that only looks like syntax stays as it is: `low_busy_share` (an underscore inside a word emphasizes
/// nothing), `[9.81, 10.2]` (brackets make a link only before `(`, `[` or `:`).
pub fn escape_markdown(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let word = |i: Option<usize>| i.and_then(|i| chars.get(i)).is_some_and(|c| c.is_alphanumeric());
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        let escape = match c {
            '\r' | '\n' | '\t' => {
                out.push(' ');
                continue;
            }
            '\\' | '`' | '*' | '<' | '&' | '#' | '|' | '~' => true,
            '_' => !(word(i.checked_sub(1)) && word(Some(i + 1))),
            ']' => matches!(chars.get(i + 1), Some('(' | '[' | ':')),
            _ => false,
        };
        if escape {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn md_row(cells: &[String]) -> String {
    format!(
        "| {} |\n",
        cells.iter().map(|c| escape_markdown(c)).collect::<Vec<_>>().join(" | ")
    )
}

fn md_table(out: &mut String, header: &[String], rows: &[Vec<String>]) {
    out.push_str(&md_row(header));
    out.push_str(&format!("|{}\n", "---|".repeat(header.len())));
    for row in rows {
        out.push_str(&md_row(row));
    }
    out.push('\n');
}

/// Markdown; figures are links to the SVG files written beside it.
pub fn render_markdown(report: &Report) -> String {
    let mut out = String::new();
    for block in layout(report) {
        match block {
            Block::Heading(level, text) => out.push_str(&format!(
                "{} {}\n\n",
                "#".repeat(level as usize),
                escape_markdown(&text)
            )),
            Block::Paragraph(text) => out.push_str(&format!("{}\n\n", escape_markdown(&text))),
            Block::Bullets(items) => {
                for item in items {
                    out.push_str(&format!("- {}\n", escape_markdown(&item)));
                }
                out.push('\n');
            }
            Block::Table { header, rows } => md_table(&mut out, &header, &rows),
            Block::Glance(i) => {
                let table = &report.glance[i];
                let rows: Vec<Vec<String>> = table.rows.iter().map(|r| glance_row(table, r)).collect();
                md_table(&mut out, &glance_header(table, &report.baseline), &rows);
            }
            Block::GlanceLegend => {}
            Block::Figure(i) => {
                let f = &report.figures[i];
                out.push_str(&format!("![{}]({}.svg)\n\n", escape_markdown(&f.title), f.id));
            }
        }
    }
    out
}

pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1200px;padding:0 1rem;color:#222}\
h1,h2,h3,p,li,figcaption{overflow-wrap:anywhere}\
.wide{overflow-x:auto;max-width:100%;margin:0.5rem 0 1rem}.wide>table{margin:0}\
table{border-collapse:collapse;margin:0.5rem 0 1rem;font-size:0.85rem}\
table.glance td:nth-child(2),table.glance th:nth-child(2){text-align:left}table.glance td.cell{text-align:center;line-height:1.25}table.glance td.cell small{display:block;font-weight:600}\
.legend{display:flex;flex-wrap:wrap;gap:0.25rem;align-items:center;font-size:0.8rem;margin:0.5rem 0}\
.legend span{padding:0.15rem 0.45rem;border:1px solid #ccc}\
th,td{border:1px solid #ccc;padding:0.25rem 0.5rem;text-align:right;white-space:nowrap}\
th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}\
h2{border-bottom:2px solid #ddd;padding-bottom:0.2rem;margin-top:2.5rem}\
figure{margin:1rem 0;display:inline-block;vertical-align:top}figure svg{max-width:100%;height:auto;border:1px solid #eee}\
figcaption{font-size:0.8rem;color:#555}.note{background:#fff8e1;padding:0.5rem 1rem;border-left:4px solid #f0b400}";

/// Self-contained HTML. `svgs[i]` is figure `i` drawn by `plots::render_svg`.
pub fn render_html(report: &Report, svgs: &[String]) -> String {
    let mut out = String::from("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str(&format!(
        "<title>harness report: baseline {}</title>\n",
        escape_html(&report.baseline)
    ));
    out.push_str(&format!("<style>{STYLE}</style>\n</head>\n<body>\n"));
    for block in layout(report) {
        match block {
            Block::Heading(level, text) => out.push_str(&format!("<h{level}>{}</h{level}>\n", escape_html(&text))),
            Block::Paragraph(text) => out.push_str(&format!("<p>{}</p>\n", escape_html(&text))),
            Block::Bullets(items) => {
                out.push_str("<ul class=\"note\">\n");
                for item in items {
                    out.push_str(&format!("<li>{}</li>\n", escape_html(&item)));
                }
                out.push_str("</ul>\n");
            }
            Block::Glance(i) => glance_html(&mut out, report, i),
            Block::GlanceLegend => legend_html(&mut out),
            Block::Table { header, rows } => {
                out.push_str("<div class=\"wide\"><table>\n<thead><tr>");
                for h in header {
                    out.push_str(&format!("<th>{}</th>", escape_html(&h)));
                }
                out.push_str("</tr></thead>\n<tbody>\n");
                for row in rows {
                    out.push_str("<tr>");
                    for cell in row {
                        out.push_str(&format!("<td>{}</td>", escape_html(&cell)));
                    }
                    out.push_str("</tr>\n");
                }
                out.push_str("</tbody>\n</table></div>\n");
            }
            Block::Figure(i) => {
                let f = &report.figures[i];
                let svg = svgs.get(i).map(String::as_str).unwrap_or("");
                // The SVG's own XML prolog, if any, is not allowed inside HTML.
                let svg = svg.trim_start_matches(|c| c != '<').trim();
                let svg = svg
                    .strip_prefix("<?xml")
                    .map(|rest| rest.split_once("?>").map_or("", |(_, s)| s).trim())
                    .unwrap_or(svg);
                let svg = svg.replacen(
                    "<svg ",
                    &format!("<svg role=\"img\" aria-label=\"{}\" ", escape_html(&f.title)),
                    1,
                );
                out.push_str(&format!(
                    "<figure class=\"plot\" id=\"{}\">\n{svg}\n<figcaption>{} (<a href=\"{}.svg\">{}.svg</a>)</figcaption>\n</figure>\n",
                    f.id,
                    escape_html(&f.title),
                    f.id,
                    f.id
                ));
            }
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}

fn styled(colour: Rgb) -> String {
    format!("background:{};color:{}", colour.hex(), colour.text().hex())
}

/// A matrix of the results at a glance: each runtime's cell filled by [`cell_colour`], its ratio, interval and
/// verdict written in it, so it reads the same without colour.
fn glance_html(out: &mut String, report: &Report, i: usize) {
    let table = &report.glance[i];
    out.push_str("<div class=\"wide\"><table class=\"glance\">\n<thead><tr>");
    for h in glance_header(table, &report.baseline) {
        out.push_str(&format!("<th>{}</th>", escape_html(&h)));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in &table.rows {
        out.push_str("<tr>");
        let text = glance_row(table, row);
        for cell in &text[..3] {
            out.push_str(&format!("<td>{}</td>", escape_html(cell)));
        }
        for cell in &row.cells {
            let (ratio, verdict) = glance_cell(cell.as_ref());
            let colour = cell
                .as_ref()
                .map_or(GREY, |c| cell_colour(c.ratio_of_medians.map(|r| r.estimate), c.verdict));
            out.push_str(&format!(
                "<td class=\"cell\" style=\"{}\">{}<small>{}</small></td>",
                styled(colour),
                escape_html(&ratio),
                escape_html(&verdict)
            ));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table></div>\n");
}

fn legend_html(out: &mut String) {
    out.push_str("<div class=\"legend\" aria-label=\"colour key\">Colour: ");
    for (ratio, verdict) in legend_stops() {
        let label = format!("{ratio}");
        let word = if verdict == Verdict::Faster {
            "faster / less energy"
        } else {
            "slower / more energy"
        };
        out.push_str(&format!(
            "<span style=\"{}\" title=\"{word}\">{label}</span>",
            styled(cell_colour(Some(ratio), verdict))
        ));
    }
    out.push_str(&format!(
        "<span style=\"{}\">equivalent or inconclusive</span> ratio of medians: blue faster / less energy than the baseline, red slower / more energy, deeper with the ratio (full at 100x); every cell also says it in words</div>\n",
        styled(GREY)
    ));
}

#[cfg(test)]
mod tests {
    use super::escape_markdown;

    #[test]
    fn markdown_escaping_keeps_one_line_and_no_syntax() {
        assert_eq!(escape_markdown("a|b\n*c* <i>"), "a\\|b \\*c\\* \\<i>");
        assert_eq!(
            escape_markdown("size #1\r\n`x` ~y~ &amp;"),
            "size \\#1  \\`x\\` \\~y\\~ \\&amp;"
        );
        assert_eq!(
            escape_markdown("[x](http://e) ![i][r] [d]: u"),
            "[x\\](http://e) ![i\\][r] [d\\]: u"
        );
        assert_eq!(
            escape_markdown("_em_ low_busy_share a\\b"),
            "\\_em\\_ low_busy_share a\\\\b"
        );
        // What only looks like syntax stays readable.
        assert_eq!(
            escape_markdown("10.0 [9.81, 10.2] (estimated)"),
            "10.0 [9.81, 10.2] (estimated)"
        );
    }
}
