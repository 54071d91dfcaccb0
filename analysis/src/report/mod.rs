//! `harness report`: per-group statistics and comparisons against a baseline runtime, opened by the results at a
//! glance (the ratio matrix per mode and metric, [`glance`]), as `results.json`, `report.md` and a
//! self-contained `report.html`, plus each figure as an SVG file.

pub mod build;
pub mod cold_premium;
pub mod compare;
pub mod document;
pub mod energy;
pub mod energy_glance;
pub mod figures;
pub mod format;
pub mod gather;
pub mod glance;
pub mod load;
pub mod look;
pub mod model;
pub mod options;
pub mod plots;
pub mod precision;
pub mod render;
pub mod runs;
pub mod selfcheck;

pub use build::build_report;
pub use model::Report;
pub use options::{ReportError, ReportOptions};

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Plot(#[from] plots::PlotError),
}

/// Files written by [`write_report`], in order.
pub const REPORT_FILES: [&str; 3] = ["results.json", "report.md", "report.html"];

/// Writes the three report files and one `<figure id>.svg` per figure into `out` (created if needed).
pub fn write_report(report: &Report, out: &Path) -> Result<Vec<PathBuf>, WriteError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WriteError::Io { path, source }
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    let svgs: Vec<String> = report.figures.iter().map(plots::render_svg).collect::<Result<_, _>>()?;
    let mut written = Vec::new();
    let mut write = |name: &str, bytes: &[u8]| -> Result<(), WriteError> {
        let path = out.join(name);
        std::fs::write(&path, bytes).map_err(io(&path))?;
        written.push(path);
        Ok(())
    };
    write(REPORT_FILES[0], render::render_json(report).as_bytes())?;
    write(REPORT_FILES[1], render::render_markdown(report).as_bytes())?;
    write(REPORT_FILES[2], render::render_html(report, &svgs).as_bytes())?;
    for (figure, svg) in report.figures.iter().zip(&svgs) {
        write(&format!("{}.svg", figure.id), svg.as_bytes())?;
    }
    Ok(written)
}
