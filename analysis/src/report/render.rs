//! Renderers: pure functions from the report to bytes. Markdown for papers, self-contained HTML (inline CSS
//! and SVG, no scripts, no network) for people, JSON for programs.

use super::document::{Block, layout};
use super::model::Report;

pub fn render_json(report: &Report) -> String {
    let mut text = serde_json::to_string_pretty(report).expect("the report model serializes");
    text.push('\n');
    text
}

fn md_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// Markdown; figures are links to the SVG files written beside it.
pub fn render_markdown(report: &Report) -> String {
    let mut out = String::new();
    for block in layout(report) {
        match block {
            Block::Heading(level, text) => out.push_str(&format!("{} {text}\n\n", "#".repeat(level as usize))),
            Block::Paragraph(text) => out.push_str(&format!("{text}\n\n")),
            Block::Bullets(items) => {
                for item in items {
                    out.push_str(&format!("- {item}\n"));
                }
                out.push('\n');
            }
            Block::Table { header, rows } => {
                out.push_str(&format!(
                    "| {} |\n",
                    header.iter().map(|h| md_cell(h)).collect::<Vec<_>>().join(" | ")
                ));
                out.push_str(&format!("|{}\n", "---|".repeat(header.len())));
                for row in rows {
                    out.push_str(&format!(
                        "| {} |\n",
                        row.iter().map(|c| md_cell(c)).collect::<Vec<_>>().join(" | ")
                    ));
                }
                out.push('\n');
            }
            Block::Figure(i) => {
                let f = &report.figures[i];
                out.push_str(&format!("![{}]({}.svg)\n\n", f.title, f.id));
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
table{border-collapse:collapse;margin:0.5rem 0 1rem;font-size:0.85rem}\
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
            Block::Table { header, rows } => {
                out.push_str("<table>\n<thead><tr>");
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
                out.push_str("</tbody>\n</table>\n");
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
