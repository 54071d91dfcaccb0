//! Every statistic against values computed independently by `fixtures/make_fixtures.py` (SciPy, NumPy,
//! statsmodels, and Cliff's delta by its definition), committed as `fixtures/reference.json`.

use harness_analysis::stats::bootstrap::{Clustered, ratio_of_medians};
use harness_analysis::stats::brunner_munzel::brunner_munzel;
use harness_analysis::stats::cliff::{Magnitude, cliffs_delta};
use harness_analysis::stats::describe::describe;
use harness_analysis::stats::holm::holm;
use harness_analysis::stats::mann_whitney::mann_whitney;
use harness_analysis::stats::outliers::tukey_outliers;
use harness_analysis::stats::ranks::midranks;
use serde_json::Value;

fn fixtures() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn f(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("{key} in {v}"))
}

#[track_caller]
fn close(actual: f64, expected: f64, relative: f64, what: &str) {
    let tolerance = relative * expected.abs().max(1e-300);
    assert!(
        (actual - expected).abs() <= tolerance,
        "{what}: {actual} vs reference {expected}"
    );
}

fn cases() -> Vec<Value> {
    fixtures()["cases"].as_array().unwrap().clone()
}

#[test]
fn mann_whitney_matches_scipy() {
    for case in cases() {
        let name = case["name"].as_str().unwrap();
        let (x, y) = (floats(&case["x"]), floats(&case["y"]));
        let result = mann_whitney(&x, &y).unwrap();
        close(
            result.statistic,
            f(&case["mann_whitney"], "u"),
            1e-12,
            &format!("{name} U"),
        );
        // statrs computes the normal tail as 1 - cdf(z), which loses relative precision below ~1e-13; such
        // p-values are compared absolutely.
        let expected = f(&case["mann_whitney"], "p");
        if expected < 1e-10 {
            assert!(
                (result.p_value - expected).abs() < 1e-13,
                "{name} p: {} vs {expected}",
                result.p_value
            );
        } else {
            close(result.p_value, expected, 1e-6, &format!("{name} p"));
        }
    }
}

#[test]
fn brunner_munzel_matches_scipy() {
    let mut checked = 0;
    for case in cases() {
        let name = case["name"].as_str().unwrap();
        let (x, y) = (floats(&case["x"]), floats(&case["y"]));
        let result = brunner_munzel(&x, &y).unwrap();
        match case.get("brunner_munzel") {
            Some(reference) => {
                let result = result.unwrap_or_else(|| panic!("{name}: defined in SciPy"));
                close(result.statistic, f(reference, "w"), 1e-9, &format!("{name} W"));
                close(result.p_value, f(reference, "p"), 1e-6, &format!("{name} p"));
                checked += 1;
            }
            // SciPy gives NaN for complete separation (zero placement variance): undefined here too.
            None => assert!(result.is_none(), "{name}: undefined in SciPy"),
        }
    }
    assert!(checked >= 4);
}

#[test]
fn cliffs_delta_matches_its_definition() {
    for case in cases() {
        let (x, y) = (floats(&case["x"]), floats(&case["y"]));
        let d = cliffs_delta(&x, &y).unwrap();
        close(
            d.estimate,
            case["cliffs_delta"].as_f64().unwrap(),
            1e-12,
            case["name"].as_str().unwrap(),
        );
    }
    // Romano et al. (2006) thresholds.
    assert_eq!(Magnitude::of(0.1), Magnitude::Negligible);
    assert_eq!(Magnitude::of(-0.2), Magnitude::Small);
    assert_eq!(Magnitude::of(0.4), Magnitude::Medium);
    assert_eq!(Magnitude::of(-0.474), Magnitude::Large);
}

#[test]
fn ranks_quantiles_and_fences_match_numpy_and_scipy() {
    for case in cases() {
        let name = case["name"].as_str().unwrap();
        let x = floats(&case["x"]);
        assert_eq!(midranks(&x), floats(&case["midranks_x"]), "{name} ranks");
        let s = describe(&x).unwrap();
        let d = &case["describe_x"];
        for (actual, key) in [
            (s.mean, "mean"),
            (s.std_dev, "std_dev"),
            (s.p5, "p5"),
            (s.p25, "p25"),
            (s.median, "median"),
            (s.p75, "p75"),
            (s.p95, "p95"),
            (s.p99, "p99"),
        ] {
            close(actual, f(d, key), 1e-12, &format!("{name} {key}"));
        }
        let o = tukey_outliers(&x).unwrap();
        let t = &case["tukey_x"];
        for (actual, expected) in o.fences.iter().zip(floats(&t["fences"])) {
            close(*actual, expected, 1e-12, &format!("{name} fences"));
        }
        let counts = [o.low_severe, o.low_mild, o.high_mild, o.high_severe];
        let expected = ["low_severe", "low_mild", "high_mild", "high_severe"].map(|k| t[k].as_u64().unwrap() as usize);
        assert_eq!(counts, expected, "{name} outlier counts");
        assert_eq!(o.flagged.len(), o.total());
    }
}

#[test]
fn holm_matches_statsmodels() {
    for family in fixtures()["holm"].as_array().unwrap() {
        let adjusted = holm(&floats(&family["p"]));
        for (a, e) in adjusted.iter().zip(floats(&family["adjusted"])) {
            close(*a, e, 1e-12, "holm");
        }
    }
}

#[test]
fn bootstrap_interval_agrees_with_scipy_within_monte_carlo_error() {
    let mut checked = 0;
    for case in cases() {
        let Some(reference) = case.get("ratio_of_medians") else {
            continue;
        };
        let name = case["name"].as_str().unwrap();
        let (x, y) = (floats(&case["x"]), floats(&case["y"]));
        let interval =
            ratio_of_medians(&Clustered::singletons(&x), &Clustered::singletons(&y), 20_000, 0.95, 7).unwrap();
        close(
            interval.estimate,
            f(reference, "estimate"),
            1e-12,
            &format!("{name} estimate"),
        );
        // Two independent random streams of 20,000 resamples: the endpoints agree to a small fraction of the
        // interval's width.
        let width = f(reference, "ci_high") - f(reference, "ci_low");
        for (actual, key) in [(interval.ci_low, "ci_low"), (interval.ci_high, "ci_high")] {
            assert!(
                (actual - f(reference, key)).abs() <= 0.1 * width,
                "{name} {key}: {actual} vs SciPy {}",
                f(reference, key)
            );
        }
        assert_eq!(interval.level, 0.95);
        checked += 1;
    }
    assert!(checked >= 3);
}

#[test]
fn bootstrap_is_seeded_and_resamples_whole_batches() {
    let x: Vec<f64> = (0..200).map(|i| 100.0 + (i % 17) as f64).collect();
    let y: Vec<f64> = (0..200).map(|i| 110.0 + (i % 13) as f64).collect();
    let a = ratio_of_medians(&Clustered::singletons(&x), &Clustered::singletons(&y), 500, 0.95, 1).unwrap();
    let b = ratio_of_medians(&Clustered::singletons(&x), &Clustered::singletons(&y), 500, 0.95, 1).unwrap();
    assert_eq!(a, b, "same seed, same interval");
    // Batches whose means differ a lot but are internally identical: resampled as 4 units, the interval must be
    // much wider than if the 400 values were independent.
    let batch = |level: f64| vec![level; 100];
    let batched = Clustered::one_run(vec![batch(90.0), batch(100.0), batch(110.0), batch(120.0)]);
    let flat = Clustered::singletons(&batched.values().collect::<Vec<_>>());
    let base = Clustered::singletons(&vec![100.0; 50]);
    let wide = ratio_of_medians(&batched, &base, 2000, 0.95, 3).unwrap();
    let narrow = ratio_of_medians(&flat, &base, 2000, 0.95, 3).unwrap();
    assert!(
        wide.ci_high - wide.ci_low > 2.0 * (narrow.ci_high - narrow.ci_low),
        "{wide:?} vs {narrow:?}"
    );
}
