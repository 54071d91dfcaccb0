//! Figures drawn as SVG with plotters (SVG backend only: text is emitted as SVG `<text>`, so no font files or
//! system libraries are needed). Log axes are drawn as log10 of the value on a linear axis, labelled with the
//! values themselves.

use super::model::{BoxStats, Figure, FigureData, LoadCurve, Series};
use harness_data::LoadKind;
use harness_data::RuntimeKind;
use plotters::prelude::*;

#[derive(Debug, thiserror::Error)]
#[error("drawing figure {id}: {message}")]
pub struct PlotError {
    pub id: String,
    pub message: String,
}

pub const WIDTH: u32 = 760;
pub const HEIGHT: u32 = 420;

/// Fixed colours for the known runtimes, so a runtime has one colour in every figure.
fn colour(runtime: &str, index: usize) -> RGBColor {
    match runtime.parse::<RuntimeKind>() {
        Ok(RuntimeKind::Native) => RGBColor(0x33, 0x33, 0x33),
        Ok(RuntimeKind::Container) => RGBColor(0x8c, 0x56, 0x4b),
        Ok(RuntimeKind::WasmtimeJit) => RGBColor(0x1f, 0x77, 0xb4),
        Ok(RuntimeKind::WasmtimeAot) => RGBColor(0x2c, 0xa0, 0x2c),
        Ok(RuntimeKind::Wasmi) => RGBColor(0xd6, 0x27, 0x28),
        Ok(RuntimeKind::NodeWasm) => RGBColor(0x94, 0x67, 0xbd),
        Ok(RuntimeKind::NodeJs) => RGBColor(0xff, 0x7f, 0x0e),
        Ok(RuntimeKind::ChromiumWasm) => RGBColor(0x17, 0xbe, 0xcf),
        Ok(RuntimeKind::ChromiumJs) => RGBColor(0xbc, 0xbd, 0x22),
        Ok(RuntimeKind::FirefoxWasm) => RGBColor(0xe3, 0x77, 0xc2),
        Ok(RuntimeKind::FirefoxJs) => RGBColor(0x7f, 0x7f, 0x7f),
        Ok(RuntimeKind::Exec) | Err(_) => {
            let (r, g, b) = Palette99::pick(index).to_rgba().rgb();
            RGBColor(r, g, b)
        }
    }
}

/// A tick label: at most 4 significant digits, no trailing zeros.
fn tick(value: f64) -> String {
    tick_significant(value, 4)
}

/// Log-axis ticks fall at powers of 10^(1/2) and the like: 2 significant digits read better (0.32, 3.2, 32).
fn tick_significant(value: f64, significant: i32) -> String {
    if value == 0.0 {
        return "0".into();
    }
    let digits = (significant - 1 - value.abs().log10().floor() as i32).clamp(0, 9) as usize;
    let value = if significant < 4 {
        let step = 10f64.powi(value.abs().log10().floor() as i32 - significant + 1);
        (value / step).round() * step
    } else {
        value
    };
    let text = format!("{value:.digits$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

pub fn render_svg(figure: &Figure) -> Result<String, PlotError> {
    let mut svg = String::new();
    draw(figure, &mut svg).map_err(|message| PlotError {
        id: figure.id.clone(),
        message,
    })?;
    Ok(svg)
}

fn x_of(figure: &Figure, v: f64) -> f64 {
    if figure.log_x {
        v.max(f64::MIN_POSITIVE).log10()
    } else {
        v
    }
}

/// The x range covering `values`, with a little room on both sides.
fn x_range(figure: &Figure, values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values
        .map(|v| x_of(figure, v))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    let pad = if hi > lo {
        (hi - lo) * 0.05
    } else {
        lo.abs().max(1.0) * 0.05
    };
    let lo = if figure.log_x {
        lo - pad
    } else {
        (lo - pad).max(0.0).min(lo)
    };
    lo..hi + pad
}

fn draw(figure: &Figure, svg: &mut String) -> Result<(), String> {
    let root = SVGBackend::with_string(svg, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let log_x = figure.log_x;
    let x_formatter = move |v: &f64| {
        if log_x {
            tick_significant(10f64.powf(*v), 2)
        } else {
            tick(*v)
        }
    };
    match &figure.data {
        FigureData::LatencyCdf { series } | FigureData::EnergyScatter { series, .. } => {
            let is_cdf = matches!(figure.data, FigureData::LatencyCdf { .. });
            let log_y = matches!(figure.data, FigureData::EnergyScatter { log_y: true, .. });
            let y_of = move |v: f64| if log_y { v.max(f64::MIN_POSITIVE).log10() } else { v };
            let xs = x_range(figure, series.iter().flat_map(|s| s.points.iter().map(|p| p[0])));
            let ys = if is_cdf {
                0.0..1.0
            } else if log_y {
                let (lo, hi) = series
                    .iter()
                    .flat_map(|s| s.points.iter().map(|p| y_of(p[1])))
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
                let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
                let pad = ((hi - lo) * 0.08).max(0.05);
                lo - pad..hi + pad
            } else {
                let y_max = series
                    .iter()
                    .flat_map(|s| s.points.iter().map(|p| p[1]))
                    .fold(0.0, f64::max)
                    * 1.08;
                0.0..if y_max > 0.0 { y_max } else { 1.0 }
            };
            let mut chart = ChartBuilder::on(&root)
                .caption(&figure.title, ("sans-serif", 16))
                .margin(12)
                .x_label_area_size(42)
                .y_label_area_size(64)
                .build_cartesian_2d(xs, ys)
                .map_err(|e| e.to_string())?;
            chart
                .configure_mesh()
                .x_desc(figure.x_label.as_str())
                .y_desc(figure.y_label.as_str())
                .x_label_formatter(&x_formatter)
                .y_label_formatter(&|v| {
                    if log_y {
                        tick_significant(10f64.powf(*v), 2)
                    } else {
                        tick(*v)
                    }
                })
                .draw()
                .map_err(|e| e.to_string())?;
            for (i, Series { label, points }) in series.iter().enumerate() {
                let c = colour(label, i);
                let mapped = points.iter().map(|p| (x_of(figure, p[0]), y_of(p[1])));
                let drawn = if is_cdf {
                    chart.draw_series(LineSeries::new(mapped, c.stroke_width(2)))
                } else {
                    chart.draw_series(mapped.map(|(x, y)| Circle::new((x, y), 3, c.mix(0.6).filled())))
                };
                drawn
                    .map_err(|e| e.to_string())?
                    .label(label.as_str())
                    .legend(move |(x, y)| Rectangle::new([(x, y - 4), (x + 14, y + 4)], c.filled()));
            }
            chart
                .configure_series_labels()
                .position(if is_cdf {
                    SeriesLabelPosition::LowerRight
                } else {
                    SeriesLabelPosition::UpperLeft
                })
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(|e| e.to_string())?;
        }
        FigureData::Distribution { boxes } => draw_boxes(figure, &root, boxes, &x_formatter)?,
        FigureData::LoadCurves { series, log_y } => draw_curves(figure, &root, series, *log_y, &x_formatter)?,
    }
    root.present().map_err(|e| e.to_string())
}

fn draw_boxes(
    figure: &Figure,
    root: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    boxes: &[BoxStats],
    x_formatter: &dyn Fn(&f64) -> String,
) -> Result<(), String> {
    let n = boxes.len().max(1);
    let xs = x_range(
        figure,
        boxes
            .iter()
            .flat_map(|b| [b.p5, b.p95, b.mean].into_iter().chain(b.tail_points.iter().copied())),
    );
    let labels: Vec<String> = boxes.iter().map(|b| b.label.clone()).collect();
    let y_formatter = move |v: &f64| {
        let i = v.round();
        if (v - i).abs() < 1e-6 && i >= 0.0 {
            labels.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    let mut chart = ChartBuilder::on(root)
        .caption(&figure.title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(100)
        .build_cartesian_2d(xs, -0.6..(n as f64 - 0.4))
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(figure.x_label.as_str())
        .y_desc(figure.y_label.as_str())
        .x_label_formatter(x_formatter)
        .y_labels(n + 1)
        .y_label_formatter(&y_formatter)
        .disable_y_mesh()
        .draw()
        .map_err(|e| e.to_string())?;
    let x = |v: f64| x_of(figure, v);
    for (i, b) in boxes.iter().enumerate() {
        let c = colour(&b.label, i);
        let y = i as f64;
        let line = |x0: f64, y0: f64, x1: f64, y1: f64| PathElement::new(vec![(x0, y0), (x1, y1)], c.stroke_width(2));
        chart
            .draw_series([
                line(x(b.p5), y, x(b.p25), y),
                line(x(b.p75), y, x(b.p95), y),
                line(x(b.p5), y - 0.12, x(b.p5), y + 0.12),
                line(x(b.p95), y - 0.12, x(b.p95), y + 0.12),
                line(x(b.median), y - 0.3, x(b.median), y + 0.3),
            ])
            .map_err(|e| e.to_string())?;
        chart
            .draw_series([Rectangle::new(
                [(x(b.p25), y - 0.3), (x(b.p75), y + 0.3)],
                c.mix(0.25).filled(),
            )])
            .map_err(|e| e.to_string())?;
        chart
            .draw_series([Rectangle::new(
                [(x(b.p25), y - 0.3), (x(b.p75), y + 0.3)],
                c.stroke_width(1),
            )])
            .map_err(|e| e.to_string())?;
        chart
            .draw_series([Cross::new((x(b.mean), y), 5, BLACK.stroke_width(1))])
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(
                b.tail_points
                    .iter()
                    .map(|&v| Circle::new((x(v), y), 2, c.mix(0.5).filled())),
            )
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Lines with markers in level order: solid for p50 (and energy), dashed for p99; circles for closed loop,
/// triangles for open loop.
fn draw_curves(
    figure: &Figure,
    root: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    series: &[LoadCurve],
    log_y: bool,
    x_formatter: &dyn Fn(&f64) -> String,
) -> Result<(), String> {
    let y_of = |v: f64| if log_y { v.max(f64::MIN_POSITIVE).log10() } else { v };
    let xs = x_range(figure, series.iter().flat_map(|s| s.points.iter().map(|p| p[0])));
    let (lo, hi) = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| y_of(p[1])))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let pad = if hi > lo {
        (hi - lo) * 0.08
    } else {
        hi.abs().max(1.0) * 0.08
    };
    // Linear axes start at zero unless a value (a net energy under the baseline) lies below it.
    let ys = if log_y {
        lo - pad..hi + pad
    } else {
        lo.min(0.0)..hi + pad
    };
    let mut chart = ChartBuilder::on(root)
        .caption(&figure.title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(64)
        .build_cartesian_2d(xs, ys)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(figure.x_label.as_str())
        .y_desc(figure.y_label.as_str())
        .x_label_formatter(x_formatter)
        .y_label_formatter(&|v| {
            if log_y {
                tick_significant(10f64.powf(*v), 2)
            } else {
                tick(*v)
            }
        })
        .draw()
        .map_err(|e| e.to_string())?;
    for (i, s) in series.iter().enumerate() {
        let c = colour(&s.runtime, i);
        let points: Vec<(f64, f64)> = s.points.iter().map(|p| (x_of(figure, p[0]), y_of(p[1]))).collect();
        // One legend entry per runtime and kind: the p99 line is told apart by its dashes (said in the x label).
        if s.statistic == "p99" {
            chart
                .draw_series(DashedLineSeries::new(points.clone(), 6, 4, c.stroke_width(2)))
                .map_err(|e| e.to_string())?;
        } else {
            chart
                .draw_series(LineSeries::new(points.clone(), c.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(format!("{} {}", s.runtime, s.kind))
                .legend(move |(x, y)| Rectangle::new([(x, y - 4), (x + 14, y + 4)], c.filled()));
        }
        match s.kind {
            LoadKind::Rate => chart.draw_series(points.iter().map(|&p| TriangleMarker::new(p, 5, c.filled()))),
            _ => chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, c.filled()))),
        }
        .map_err(|e| e.to_string())?;
    }
    // Latency climbs with load (upper right busy) and energy per request falls (lower right busy).
    let energy = series.iter().any(|s| s.statistic != "p50" && s.statistic != "p99");
    chart
        .configure_series_labels()
        .position(if energy {
            SeriesLabelPosition::UpperRight
        } else {
            SeriesLabelPosition::LowerRight
        })
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ticks_are_short() {
        assert_eq!(super::tick(1234.5678), "1235");
        assert_eq!(super::tick(0.0012347), "0.001235");
        assert_eq!(super::tick(2.5), "2.5");
        assert_eq!(super::tick(100.0), "100");
        assert_eq!(super::tick_significant(10f64.powf(-0.5), 2), "0.32");
        assert_eq!(super::tick_significant(10f64.powf(1.5), 2), "32");
    }
}
