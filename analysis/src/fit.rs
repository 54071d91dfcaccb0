//! Fitting the `model` probe's power curve on a machine that also has a real sensor.
//!
//! A run with both a sensor (RAPL package, Jetson rail, USB meter) and the model is cut into windows; per
//! window the sensor gives the mean power and the model's counter gives the machine's busy cores (CPU-seconds
//! per second, recovered through the curve the model ran with). A least-squares line through those points,
//! power = idle_w + busy_w_per_core x busy_cores, is a curve a sensorless sibling machine can declare.

use crate::align::{self, ChannelSeries, Window};
use serde::{Deserialize, Serialize};

/// One window: what the sensor measured and how busy the machine was.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FitPoint {
    pub busy_cores: f64,
    pub power_w: f64,
}

/// A fitted power curve and how well it fits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFit {
    pub idle_w: f64,
    pub busy_w_per_core: f64,
    /// Share of the variance of the windows' power the line explains.
    pub r_squared: f64,
    /// Median over windows of |measured - fitted| power, in watts.
    pub median_abs_error_w: f64,
    pub windows: usize,
    /// The load the windows covered: the fit says nothing outside it.
    pub busy_cores_min: f64,
    pub busy_cores_max: f64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FitError {
    #[error("only {found} usable windows where both channels have samples: at least 3 are needed")]
    TooFewWindows { found: usize },
    #[error(
        "the machine's load hardly varied (busy cores {min:.3} to {max:.3}): the slope cannot be told; fit on a run \
         with idle spans and busy workloads"
    )]
    NoLoadSpread { min: f64, max: f64 },
    #[error("the model ran with busy_w_per_core = 0, so its counter does not carry the CPU time")]
    FlatCurve,
}

/// Below this spread in busy cores the slope is noise.
const MIN_SPREAD_CORES: f64 = 0.05;

/// Cuts the span both channels cover into `window_ns` windows and returns, per window where both have a clean
/// figure, the sensor's mean power and the busy cores the model counted: (model power - `idle_w`) /
/// `busy_w_per_core`, the curve the model ran with.
pub fn window_points(
    sensor: &ChannelSeries,
    model: &ChannelSeries,
    idle_w: f64,
    busy_w_per_core: f64,
    window_ns: u64,
) -> Result<Vec<FitPoint>, FitError> {
    if busy_w_per_core <= 0.0 {
        return Err(FitError::FlatCurve);
    }
    let span = |s: &ChannelSeries| Some((*s.t_ns.first()?, *s.t_ns.last()?));
    let (Some((a0, a1)), Some((b0, b1))) = (span(sensor), span(model)) else {
        return Ok(Vec::new());
    };
    let (from, to) = (a0.max(b0), a1.min(b1));
    let window_ns = window_ns.max(1);
    let windows: Vec<Window> = (0..to.saturating_sub(from) / window_ns)
        .map(|k| Window {
            start_ns: from + k * window_ns,
            end_ns: from + (k + 1) * window_ns,
            count: 1,
        })
        .collect();
    let seconds = window_ns as f64 * 1e-9;
    let points = align::attribute(sensor, &windows)
        .into_iter()
        .zip(align::attribute(model, &windows))
        .filter_map(|(s, m)| {
            Some(FitPoint {
                busy_cores: (m.window_j? / seconds - idle_w) / busy_w_per_core,
                power_w: s.window_j? / seconds,
            })
        })
        .collect();
    Ok(points)
}

/// Least-squares line power_w = idle_w + busy_w_per_core x busy_cores.
pub fn fit_line(points: &[FitPoint]) -> Result<ModelFit, FitError> {
    if points.len() < 3 {
        return Err(FitError::TooFewWindows { found: points.len() });
    }
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.busy_cores).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.power_w).sum::<f64>() / n;
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for p in points {
        let (dx, dy) = (p.busy_cores - mean_x, p.power_w - mean_y);
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    let min = points.iter().map(|p| p.busy_cores).fold(f64::INFINITY, f64::min);
    let max = points.iter().map(|p| p.busy_cores).fold(f64::NEG_INFINITY, f64::max);
    if max - min < MIN_SPREAD_CORES || sxx <= 0.0 {
        return Err(FitError::NoLoadSpread { min, max });
    }
    let slope = sxy / sxx;
    let intercept = mean_y - slope * mean_x;
    let mut residuals: Vec<f64> = points
        .iter()
        .map(|p| (p.power_w - intercept - slope * p.busy_cores).abs())
        .collect();
    let ss_res: f64 = residuals.iter().map(|r| r * r).sum();
    residuals.sort_by(f64::total_cmp);
    let mid = residuals.len() / 2;
    let median = if residuals.len() % 2 == 1 {
        residuals[mid]
    } else {
        0.5 * (residuals[mid - 1] + residuals[mid])
    };
    Ok(ModelFit {
        idle_w: intercept,
        busy_w_per_core: slope,
        // A flat sensor trace is explained perfectly by any line through it.
        r_squared: if syy > 0.0 { 1.0 - ss_res / syy } else { 1.0 },
        median_abs_error_w: median,
        windows: points.len(),
        busy_cores_min: min,
        busy_cores_max: max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness_data::{ChannelInfo, SampleKind, Unit};
    use rand::{Rng, SeedableRng};

    fn counter(probe: &str, unit: Unit, estimated: bool, rows: Vec<(u64, Option<f64>)>) -> ChannelSeries {
        let info = ChannelInfo {
            probe: probe.into(),
            channel: "c".into(),
            unit,
            kind: SampleKind::EnergyCounter,
            resolution: 1e-6,
            update_period_ns: 10_000_000,
            estimated,
            scope: harness_data::Scope::Machine,
        };
        ChannelSeries::new(info, rows, 0)
    }

    #[test]
    fn an_exact_line_is_recovered_with_r_squared_one() {
        let points: Vec<FitPoint> = (0..20)
            .map(|k| {
                let busy_cores = k as f64 * 0.2;
                FitPoint {
                    busy_cores,
                    power_w: 7.0 + 11.0 * busy_cores,
                }
            })
            .collect();
        let fit = fit_line(&points).unwrap();
        assert!((fit.idle_w - 7.0).abs() < 1e-9, "{fit:?}");
        assert!((fit.busy_w_per_core - 11.0).abs() < 1e-9, "{fit:?}");
        assert!((fit.r_squared - 1.0).abs() < 1e-12);
        assert!(fit.median_abs_error_w < 1e-9);
        assert_eq!(fit.windows, 20);
        assert!(fit.busy_cores_min == 0.0 && (fit.busy_cores_max - 3.8).abs() < 1e-9);
    }

    #[test]
    fn a_noisy_line_is_recovered_within_its_noise() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let points: Vec<FitPoint> = (0..500)
            .map(|_| {
                let busy_cores = rng.random_range(0.0..4.0);
                FitPoint {
                    busy_cores,
                    power_w: 7.0 + 11.0 * busy_cores + rng.random_range(-1.0..1.0),
                }
            })
            .collect();
        let fit = fit_line(&points).unwrap();
        assert!((fit.idle_w - 7.0).abs() < 0.2, "{fit:?}");
        assert!((fit.busy_w_per_core - 11.0).abs() < 0.1, "{fit:?}");
        assert!(fit.r_squared > 0.98 && fit.r_squared < 1.0, "{fit:?}");
        // Uniform noise on [-1, 1]: the median absolute error is about 0.5 W.
        assert!((fit.median_abs_error_w - 0.5).abs() < 0.1, "{fit:?}");
    }

    #[test]
    fn a_constant_load_or_too_few_windows_is_refused() {
        let flat: Vec<FitPoint> = (0..10)
            .map(|k| FitPoint {
                busy_cores: 1.0,
                power_w: 20.0 + k as f64 * 0.01,
            })
            .collect();
        assert!(matches!(fit_line(&flat), Err(FitError::NoLoadSpread { .. })));
        assert_eq!(fit_line(&flat[..2]), Err(FitError::TooFewWindows { found: 2 }));
    }

    /// A sensor counter in uJ and a model counter in J sampled every 10 ms over a load that steps between 0, 1
    /// and 3 busy cores every 300 ms: windows of 100 ms give back the load and the sensor's power.
    #[test]
    fn windows_recover_busy_cores_from_the_model_counter() {
        let load = |t: u64| [0.0, 1.0, 3.0][(t / 300_000_000 % 3) as usize];
        let (mut sensor_j, mut model_j) = (0.0, 0.0);
        let (mut sensor, mut model) = (Vec::new(), Vec::new());
        let step = 10_000_000u64;
        for k in 0..=300u64 {
            let t = k * step;
            sensor.push((t, Some(sensor_j * 1e6)));
            model.push((t, Some(model_j)));
            let cores = load(t);
            sensor_j += (7.0 + 11.0 * cores) * step as f64 * 1e-9;
            model_j += (10.0 + 15.0 * cores) * step as f64 * 1e-9;
        }
        let points = window_points(
            &counter("rapl", Unit::Microjoule, false, sensor),
            &counter("model", Unit::Joule, true, model),
            10.0,
            15.0,
            100_000_000,
        )
        .unwrap();
        assert_eq!(points.len(), 30);
        for (k, p) in points.iter().enumerate() {
            let cores = load(k as u64 * 100_000_000);
            assert!((p.busy_cores - cores).abs() < 1e-6, "window {k}: {p:?}");
            assert!((p.power_w - (7.0 + 11.0 * cores)).abs() < 1e-6, "window {k}: {p:?}");
        }
        let fit = fit_line(&points).unwrap();
        assert!((fit.idle_w - 7.0).abs() < 1e-6 && (fit.busy_w_per_core - 11.0).abs() < 1e-6);
        assert_eq!(
            window_points(
                &counter("a", Unit::Joule, false, vec![]),
                &counter("b", Unit::Joule, true, vec![]),
                10.0,
                0.0,
                1
            ),
            Err(FitError::FlatCurve)
        );
    }
}
