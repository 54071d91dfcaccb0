//! report.html in a real browser: Debian's chromium, headless (scripts/setup-browser.sh installs it). The page
//! must render with no console output at all (it has no scripts, so any console line is an error: a parse
//! error, a blocked load) and every plot must be in the rendered DOM as an SVG inside its figure.

use crate::common::*;
use std::path::Path;
use std::process::Command;

/// The rendered DOM and the console lines chromium logged while loading `page`.
fn render(page: &Path, profile: &Path) -> (String, Vec<String>) {
    render_at(page, profile, None)
}

/// As [`render`], in a window `width` pixels wide where given.
fn render_at(page: &Path, profile: &Path, width: Option<u32>) -> (String, Vec<String>) {
    machine::share();
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|name| {
            Command::new("sh")
                .args(["-c", &format!("command -v {name}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("chromium is not installed: run scripts/setup-browser.sh (scripts/setup.sh does it)");
    let output = Command::new("timeout")
        .args([
            "120",
            chromium,
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(width.map(|w| format!("--window-size={w},800")))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.canonicalize().unwrap().display()))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let console = String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_owned)
        .collect();
    (String::from_utf8_lossy(&output.stdout).into_owned(), console)
}

/// Whether the DOM holds `<figure ... id="id">` with an `<svg` inside it.
fn figure_has_svg(dom: &str, id: &str) -> bool {
    let Some(start) = dom.find(&format!("id=\"{id}\"")) else {
        return false;
    };
    let rest = &dom[start..];
    let end = rest.find("</figure>").unwrap_or(rest.len());
    let inside = &rest[..end];
    inside.contains("<svg")
        && inside.contains("</svg>")
        && (inside.contains("<path")
            || inside.contains("<polyline")
            || inside.contains("<circle")
            || inside.contains("<rect"))
}

/// A laptop screen's width.
const LAPTOP_PX: u32 = 1366;

/// `html` with a script that writes the page's layout width and the window's into `<body data-widths>`, so the
/// dumped DOM says whether anything overflows the window (a copy: the report itself has no scripts).
fn measuring(html: &str) -> String {
    html.replace(
        "</body>",
        "<script>document.body.setAttribute('data-widths', document.documentElement.scrollWidth + ' ' + window.innerWidth);</script></body>",
    )
}

/// (page width, window width) as [`measuring`] recorded them.
fn widths(dom: &str) -> (u32, u32) {
    let start = dom.find("data-widths=\"").expect("the measuring script ran") + "data-widths=\"".len();
    let text = &dom[start..start + dom[start..].find('"').unwrap()];
    let (page, window) = text.split_once(' ').unwrap();
    (page.parse().unwrap(), window.parse().unwrap())
}

#[test]
fn the_width_check_catches_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("wide.html");
    // A table of one long unbreakable row, as a report table without its scrolling box would be.
    let row = "word ".repeat(1000);
    let html = format!(
        "<!DOCTYPE html><html><body><table><tr><td style=\"white-space:nowrap\">{row}</td></tr></table></body></html>"
    );
    std::fs::write(&page, measuring(&html)).unwrap();
    let (dom, _) = render_at(&page, &dir.path().join("profile"), Some(LAPTOP_PX));
    let (page_px, window_px) = widths(&dom);
    assert_eq!(window_px, LAPTOP_PX);
    assert!(page_px > 3000, "{page_px}");
}

#[test]
fn the_console_check_catches_errors() {
    // The negative control: a page that logs an error and throws must be caught by the same check.
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("bad.html");
    std::fs::write(&page, "<!DOCTYPE html><html><body><figure id=\"x\"></figure><script>console.error('boom'); undefinedFunction();</script></body></html>").unwrap();
    let (dom, console) = render(&page, &dir.path().join("profile"));
    assert!(console.iter().any(|l| l.contains("boom")), "{console:?}");
    assert!(console.iter().any(|l| l.contains("undefinedFunction")), "{console:?}");
    assert!(!figure_has_svg(&dom, "x"));
}

#[test]
fn report_html_renders_without_console_errors_and_with_every_plot() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let output = measure(&spine_plan(), &run);
    assert!(output.status.success(), "{}", stderr(&output));
    // Energy rows so the scatter plots are drawn too.
    let measured = rows(&run).into_iter().filter(|r| !r.warmup);
    write_paired(&run, measured.map(|r| paired_from(&r, "rapl", "package-0", 25.0, 5.0)));
    let out = dir.path().join("report");
    let output = harness()
        .arg("report")
        .arg(&run)
        .args(["--baseline", "native", "--resamples", "200", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));

    let results: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    let ids: Vec<String> = results["figures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids.len(),
        6,
        "CDF and distribution per mode, a scatter per mode: {ids:?}"
    );
    let (dom, console) = render(&out.join("report.html"), &dir.path().join("profile"));
    assert!(
        console.is_empty(),
        "console output while rendering report.html: {console:#?}"
    );
    assert!(dom.contains("<h1>harness report</h1>"), "the page rendered");
    for id in &ids {
        assert!(figure_has_svg(&dom, id), "plot {id} missing from the rendered DOM");
    }
    for kind in ["latency-cdf-", "latency-distribution-", "energy-scatter-"] {
        assert!(ids.iter().any(|id| id.starts_with(kind)), "{kind}");
    }
    // The matrix at a glance rendered: a coloured table per mode and metric, its verdicts in words, a legend.
    let tables = results["glance"].as_array().unwrap().len();
    assert_eq!(tables, 4, "2 modes x (latency + rapl/package-0)");
    assert_eq!(dom.matches("<table class=\"glance\">").count(), tables);
    assert!(
        dom.contains("<td class=\"cell\" style=\"background:#"),
        "coloured cells"
    );
    assert!(dom.contains("class=\"legend\""));
    assert!(
        ["faster", "slower", "equivalent", "inconclusive"]
            .iter()
            .any(|v| dom.contains(&format!("<small>{v}</small>")))
    );

    // On a laptop screen nothing is wider than the window: wide tables scroll inside their own box.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let measured = out.join("measured.html");
    std::fs::write(&measured, measuring(&html)).unwrap();
    let (dom, _) = render_at(&measured, &dir.path().join("profile-laptop"), Some(LAPTOP_PX));
    let (page_px, window_px) = widths(&dom);
    assert_eq!(window_px, LAPTOP_PX);
    assert!(
        page_px <= LAPTOP_PX,
        "report.html is {page_px} px wide in a {LAPTOP_PX} px window"
    );
}
