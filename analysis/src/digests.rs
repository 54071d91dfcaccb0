//! One digest per (workload, input) across the runs of one plan: `report` and `export` pool runs of several
//! devices (an x86 server and a Jetson, say), and a pool of runs that computed different things is worthless.
//! A measure already fails when two runtimes of one run disagree; this is the same rule across runs.
//!
//! Runs are compared when they measured one plan: the as-run plan without its seed (which only orders the
//! schedule) and without its probes (which say where energy is read, not what is computed). Runs of different
//! plans are not compared with each other.

use crate::export::device_name;
use crate::run::Run;
use harness_data::Status;
use harness_data::plan::AsRunPlan;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where one digest of a (workload, input) was computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestSource {
    pub device: String,
    pub dir: PathBuf,
    pub runtime: String,
    pub digest: String,
}

/// Two runs of one plan that disagree on the digest of a (workload, input).
#[derive(Debug, thiserror::Error)]
#[error(
    "runs of one plan disagree on the digest of workload {workload} input {input:?}: device {} (run {}, runtime \
     {}) computed {}, device {} (run {}, runtime {}) computed {}; these runs computed different things and are \
     not pooled. Build the workloads from one source for every device (scripts/build-workloads.sh, \
     scripts/build-arm64.sh) and measure again, or report and export the runs apart",
    first.device,
    first.dir.display(),
    first.runtime,
    first.digest,
    second.device,
    second.dir.display(),
    second.runtime,
    second.digest
)]
pub struct DigestMismatch {
    pub workload: String,
    pub input: String,
    // Boxed: the error stays small on the `Ok` path.
    pub first: Box<DigestSource>,
    pub second: Box<DigestSource>,
}

/// (workload, input) -> where its first digest came from: (run index, runtime, digest).
type FirstDigests<'a> = BTreeMap<(&'a str, &'a str), (usize, &'a str, &'a str)>;

/// The plan as far as it decides what is computed (see the module documentation).
fn plan_identity(run: &Run) -> AsRunPlan {
    AsRunPlan {
        seed: 0,
        probes: Vec::new(),
        ..run.manifest.plan.clone()
    }
}

/// The first digest of each (workload, input) among a run's `ok` rows, with the runtime that computed it.
fn run_digests(run: &Run) -> BTreeMap<(&str, &str), (&str, &str)> {
    let mut digests = BTreeMap::new();
    for r in run
        .invocations
        .iter()
        .filter(|r| r.status == Status::Ok && !r.digest.is_empty())
    {
        digests
            .entry((r.workload.as_str(), r.input.as_str()))
            .or_insert((r.runtime.as_str(), r.digest.as_str()));
    }
    digests
}

/// Refuses to pool runs of one plan that disagree on a (workload, input)'s digest, naming both devices and runs.
pub fn check_digests_agree(runs: &[Run]) -> Result<(), DigestMismatch> {
    // Each plan's first run per (workload, input): (plan, ((workload, input) -> (run index, runtime, digest))).
    let mut plans: Vec<(AsRunPlan, FirstDigests)> = Vec::new();
    for (index, run) in runs.iter().enumerate() {
        let identity = plan_identity(run);
        let position = match plans.iter().position(|(plan, _)| *plan == identity) {
            Some(position) => position,
            None => {
                plans.push((identity, BTreeMap::new()));
                plans.len() - 1
            }
        };
        let seen = &mut plans[position].1;
        for (key, (runtime, digest)) in run_digests(run) {
            let &mut (first_index, first_runtime, first_digest) = seen.entry(key).or_insert((index, runtime, digest));
            if first_digest != digest {
                let source = |run: &Run, runtime: &str, digest: &str| {
                    Box::new(DigestSource {
                        device: device_name(run, None),
                        dir: run.dir.clone(),
                        runtime: runtime.to_owned(),
                        digest: digest.to_owned(),
                    })
                };
                return Err(DigestMismatch {
                    workload: key.0.to_owned(),
                    input: key.1.to_owned(),
                    first: source(&runs[first_index], first_runtime, first_digest),
                    second: source(run, runtime, digest),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The committed reference run of `plans/issue-spine.toml` (fibonacci 25 on five runtimes), as `device`.
    fn reference_run(device: &str, dir: &str) -> Run {
        let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/reference/vm-spine");
        let mut run = crate::run::read_run(&reference).unwrap();
        run.manifest.host.device = Some(device.into());
        run.dir = PathBuf::from(dir);
        run
    }

    fn with_digest(mut run: Run, digest: &str) -> Run {
        for r in &mut run.invocations {
            r.digest = digest.into();
        }
        run
    }

    #[test]
    fn runs_of_one_plan_with_one_digest_pool() {
        let x86 = reference_run("xeon", "runs/xeon");
        let mut jetson = reference_run("orin", "runs/orin");
        // Another seed and another probe are still the same plan.
        jetson.manifest.plan.seed += 1;
        jetson.manifest.plan.probes = vec![serde_json::json!({"kind": "jetson"})];
        assert!(!x86.invocations.is_empty());
        check_digests_agree(&[x86, jetson]).unwrap();
    }

    #[test]
    fn differing_digests_are_refused_naming_both_devices_runs_and_digests() {
        let x86 = reference_run("xeon", "runs/xeon");
        let first_digest = x86.invocations[0].digest.clone();
        let jetson = with_digest(reference_run("orin", "runs/orin"), "00000000deadbeef");
        let err = check_digests_agree(&[x86, jetson]).unwrap_err();
        assert_eq!((err.workload.as_str(), err.input.as_str()), ("fibonacci", "25"));
        assert_eq!(err.first.device, "xeon");
        assert_eq!(err.second.device, "orin");
        let text = err.to_string();
        for needle in [
            "device xeon",
            "run runs/xeon",
            first_digest.as_str(),
            "device orin",
            "run runs/orin",
            "00000000deadbeef",
            "workload fibonacci input \"25\"",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from: {text}");
        }
    }

    #[test]
    fn without_a_device_name_the_hostname_names_the_run() {
        let mut a = reference_run("ignored", "runs/a");
        a.manifest.host.device = None;
        let b = with_digest(reference_run("pi5", "runs/b"), "ffff");
        let err = check_digests_agree(&[a, b]).unwrap_err();
        assert_eq!((err.first.device.as_str(), err.second.device.as_str()), ("vm", "pi5"));
    }

    #[test]
    fn runs_of_different_plans_are_not_compared() {
        let x86 = reference_run("xeon", "runs/xeon");
        let mut other = with_digest(reference_run("orin", "runs/orin"), "ffff");
        other.manifest.plan.repetitions += 1;
        check_digests_agree(&[x86, other]).unwrap();
    }

    #[test]
    fn rows_that_did_not_complete_carry_no_digest_to_compare() {
        let x86 = reference_run("xeon", "runs/xeon");
        let mut jetson = with_digest(reference_run("orin", "runs/orin"), "ffff");
        for r in &mut jetson.invocations {
            r.status = Status::Trap;
        }
        check_digests_agree(&[x86, jetson]).unwrap();
    }
}
