//! Precision rounds (the plan's `precision`): after the schedule's first look (`repetitions` per cell), look
//! at every comparison with the baseline through the report's own statistics, and run another interleaved
//! round, doubling the repetitions, for the cells whose intervals are still too wide, until each is narrow
//! enough or a budget runs out. The rule sees interval widths only (never an estimate, a p-value or a
//! verdict); the manifest keeps every look, rewritten at each, so a run killed between looks says how far it
//! got.

use crate::recorder::CellLabel;
use crate::scheduler::Slot;
use harness_analysis::report::ReportOptions;
use harness_analysis::report::look::look_comparisons;
use harness_analysis::report::model::{Comparison, Metric, ShownChannel};
use harness_analysis::stats::precision::{half_width, narrow_enough};
use harness_data::RunStatus;
use harness_data::precision::{PrecisionCell, PrecisionLook, PrecisionPlan, PrecisionRecord, PrecisionStop};
use harness_data::{CellKey, Mode};
use harness_probes::clock;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use std::time::Instant;

/// What a cell is to the rule.
#[derive(Debug, Clone, PartialEq)]
enum Role {
    /// Compared with the baseline cell (its index).
    Candidate(usize),
    /// The baseline of these candidates.
    Baseline(Vec<usize>),
    /// In no comparison: measured as a fixed design.
    Alone,
}

/// Half-widths of one comparison at a look.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Widths {
    pub latency: Option<f64>,
    pub energy: Option<f64>,
}

impl Widths {
    /// What must be narrow: latency always, energy where the channel is usable at this look.
    fn required(self) -> Vec<Option<f64>> {
        let mut out = vec![self.latency];
        out.extend(self.energy.map(Some));
        out
    }

    fn widest(self) -> Option<f64> {
        self.required().into_iter().try_fold(0.0f64, |m, h| h.map(|h| m.max(h)))
    }

    fn max(self, other: Widths) -> Widths {
        let pick = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        Widths {
            latency: pick(self.latency, other.latency),
            energy: pick(self.energy, other.energy),
        }
    }
}

/// The rule's state over a run.
pub(super) struct PrecisionRounds {
    pub plan: PrecisionPlan,
    pub level: f64,
    roles: Vec<Role>,
    /// Measured units per cell so far.
    pub units: Vec<u32>,
    stopped: Vec<Option<PrecisionStop>>,
    record: PrecisionRecord,
    started: Instant,
    seed: u64,
}

impl PrecisionRounds {
    pub fn new(plan: PrecisionPlan, level: f64, labels: &[CellLabel], seed: u64) -> PrecisionRounds {
        let index: BTreeMap<&CellKey, usize> = labels.iter().enumerate().map(|(i, l)| (&l.key, i)).collect();
        let mut roles = vec![Role::Alone; labels.len()];
        for (i, label) in labels.iter().enumerate() {
            if label.key.runtime == plan.baseline {
                continue;
            }
            let base = CellKey {
                runtime: plan.baseline.clone(),
                ..label.key.clone()
            };
            if let Some(&b) = index.get(&base) {
                roles[i] = Role::Candidate(b);
                match &mut roles[b] {
                    Role::Baseline(c) => c.push(i),
                    other => *other = Role::Baseline(vec![i]),
                }
            }
        }
        let record = PrecisionRecord {
            plan: plan.clone(),
            level,
            cells: labels
                .iter()
                .map(|l| PrecisionCell {
                    workload: l.key.workload.clone(),
                    input: l.key.input.clone(),
                    mode: l.key.mode,
                    runtime: l.key.runtime.clone(),
                    looks: Vec::new(),
                    repetitions: 0,
                    latency_half_width: None,
                    energy_half_width: None,
                    met: false,
                    stopped: PrecisionStop::Running,
                    missed_by: None,
                })
                .collect(),
            ended: "running".into(),
        };
        let stopped = roles
            .iter()
            .map(|r| (*r == Role::Alone).then_some(PrecisionStop::NoInterval))
            .collect();
        PrecisionRounds {
            plan,
            level,
            units: vec![0; labels.len()],
            roles,
            stopped,
            record,
            started: Instant::now(),
            seed,
        }
    }

    /// The measured rounds began now (the first look's repetitions count from here).
    pub fn start_clock(&mut self) {
        self.started = Instant::now();
    }

    pub fn out_of_time(&self) -> bool {
        self.plan
            .max_duration_s
            .is_some_and(|s| self.started.elapsed().as_secs() >= s)
    }

    /// Records a look from the report built on the run so far, and decides who goes on. `last`: no further
    /// look is planned. Returns whether any cell goes on.
    pub fn look(&mut self, comparisons: &[Comparison], shown: Option<&ShownChannel>, last: bool) -> bool {
        self.look_at(&widths_of(comparisons, shown), last)
    }

    /// [`PrecisionRounds::look`] on each candidate's half-widths.
    fn look_at(&mut self, widths: &BTreeMap<Key, Widths>, last: bool) -> bool {
        let elapsed_ms = self.started.elapsed().as_millis() as u64;
        let of = |cell: usize| -> Widths {
            let r = &self.record.cells[cell];
            let key = (r.workload.clone(), r.input.clone(), r.mode, r.runtime.clone());
            widths.get(&key).copied().unwrap_or_default()
        };
        let mut seen: Vec<Widths> = (0..self.roles.len()).map(|_| Widths::default()).collect();
        for (cell, role) in self.roles.iter().enumerate() {
            seen[cell] = match role {
                Role::Candidate(_) => of(cell),
                Role::Baseline(candidates) => candidates
                    .iter()
                    .filter(|&&c| self.stopped[c].is_none())
                    .map(|&c| of(c))
                    .fold(Widths::default(), Widths::max),
                Role::Alone => Widths::default(),
            };
        }
        // Candidates first: a baseline goes on while any of its candidates does.
        for (cell, role) in self.roles.iter().enumerate() {
            if self.stopped[cell].is_some() {
                continue;
            }
            if let Role::Candidate(_) = role
                && narrow_enough(&seen[cell].required(), self.plan.target)
            {
                self.stopped[cell] = Some(PrecisionStop::Met);
            }
        }
        for (cell, role) in self.roles.iter().enumerate() {
            if let Role::Baseline(candidates) = role
                && self.stopped[cell].is_none()
                && candidates.iter().all(|&c| self.stopped[c].is_some())
            {
                // Met when every candidate met; else the reason of the first that did not.
                self.stopped[cell] = Some(
                    candidates
                        .iter()
                        .filter_map(|&c| self.stopped[c])
                        .find(|s| *s != PrecisionStop::Met)
                        .unwrap_or(PrecisionStop::Met),
                );
            }
        }
        let budget = if self.out_of_time() {
            Some(PrecisionStop::MaxDuration)
        } else if last {
            Some(PrecisionStop::MaxRepetitions)
        } else {
            None
        };
        if let Some(why) = budget {
            for s in self.stopped.iter_mut().filter(|s| s.is_none()) {
                *s = Some(why);
            }
        }
        for (cell, w) in seen.iter().enumerate() {
            let r = &mut self.record.cells[cell];
            r.repetitions = self.units[cell];
            if self.roles[cell] == Role::Alone {
                r.stopped = PrecisionStop::NoInterval;
                continue;
            }
            // A cell that stopped at an earlier look keeps that look's widths.
            if r.looks.last().is_some_and(|l| l.repetitions == self.units[cell]) {
                continue;
            }
            r.looks.push(PrecisionLook {
                repetitions: self.units[cell],
                latency_half_width: w.latency,
                energy_half_width: w.energy,
                elapsed_ms,
            });
            r.latency_half_width = w.latency;
            r.energy_half_width = w.energy;
            r.met = narrow_enough(&w.required(), self.plan.target);
            // Missed only once the cell stopped short of the target.
            r.missed_by = match (r.met, self.stopped[cell].is_some(), w.widest()) {
                (false, true, Some(h)) => Some(h - self.plan.target),
                _ => None,
            };
        }
        for (cell, s) in self.stopped.iter().enumerate() {
            if let Some(s) = s {
                self.record.cells[cell].stopped = *s;
            }
        }
        let going_on = self.stopped.iter().any(Option::is_none);
        self.record.ended = if going_on { "running".into() } else { self.ended() };
        going_on
    }

    fn ended(&self) -> String {
        let count = |s: PrecisionStop| self.stopped.iter().filter(|x| **x == Some(s)).count();
        let compared = self.roles.iter().filter(|r| **r != Role::Alone).count();
        let met = count(PrecisionStop::Met);
        if met == compared {
            format!("every compared cell met +-{:.1}%", self.plan.target * 100.0)
        } else {
            let mut why = Vec::new();
            for s in [
                PrecisionStop::MaxRepetitions,
                PrecisionStop::MaxDuration,
                PrecisionStop::Interrupted,
            ] {
                if count(s) > 0 {
                    why.push(format!("{} stopped at {}", count(s), s.as_str()));
                }
            }
            format!(
                "{met} of {compared} compared cells met +-{:.1}%; {}",
                self.plan.target * 100.0,
                why.join(", ")
            )
        }
    }

    /// A stop signal or a failure ended the run between looks: cells still going say so.
    pub fn interrupted(&mut self) {
        for (cell, s) in self.stopped.iter_mut().enumerate() {
            if s.is_none() {
                *s = Some(PrecisionStop::Interrupted);
                self.record.cells[cell].stopped = PrecisionStop::Interrupted;
                self.record.cells[cell].repetitions = self.units[cell];
            }
        }
        self.record.ended = self.ended();
    }

    /// Whether any cell has a comparison the rule can look at.
    pub fn compares_anything(&self) -> bool {
        self.roles.iter().any(|r| *r != Role::Alone)
    }

    /// Ends the rounds early for a reason of the harness's (no baseline ran, a look failed).
    pub fn abandon(&mut self, why: String) {
        for (cell, s) in self.stopped.iter_mut().enumerate() {
            self.record.cells[cell].repetitions = self.units[cell];
            if s.is_none() {
                *s = Some(PrecisionStop::NoInterval);
                self.record.cells[cell].stopped = PrecisionStop::NoInterval;
            }
        }
        self.record.ended = why;
    }

    pub fn record(&self) -> PrecisionRecord {
        self.record.clone()
    }

    /// The next round: `target` repetitions for every cell still going, interleaved in a seeded order.
    pub fn round(&self, look: usize, target: u32) -> Vec<Slot> {
        let mut slots: Vec<Slot> = Vec::new();
        for (cell, s) in self.stopped.iter().enumerate() {
            if s.is_none() {
                slots.extend((self.units[cell]..target.max(self.units[cell])).map(|iteration| Slot {
                    cell,
                    iteration,
                    warmup: false,
                }));
            }
        }
        slots.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(
            self.seed ^ (look as u64 + 1),
        ));
        slots
    }
}

/// The sampler appends to samples.csv every 100 ms: a look waits this long past its last sample.
const SAMPLES_WRITTEN: Duration = Duration::from_millis(150);

impl super::Session {
    /// The looks and rounds after the schedule's first look. Returns why the run stopped early.
    pub(super) fn run_precision(&mut self, interrupted: &AtomicBool, progress: bool) -> Option<(RunStatus, String)> {
        let looks = self.precision.as_ref()?.plan.looks.clone();
        if !self.precision.as_ref()?.compares_anything() {
            let rounds = self.precision.as_mut()?;
            rounds.abandon(format!(
                "no cell has a baseline cell to compare with (`{}` did not run here): measured as a fixed design",
                rounds.plan.baseline
            ));
            self.write_precision();
            return None;
        }
        for (i, &n) in looks.iter().enumerate() {
            let last = i + 1 == looks.len();
            let going_on = match self.look_comparisons() {
                Ok((comparisons, shown)) => self.precision.as_mut()?.look(&comparisons, shown.as_ref(), last),
                Err(e) => {
                    self.precision.as_mut()?.abandon(format!(
                        "the look at {n} repetitions failed ({e:#}); measuring stopped there"
                    ));
                    false
                }
            };
            self.write_precision();
            if !going_on {
                return None;
            }
            let slots = self.precision.as_ref()?.round(i + 1, looks[i + 1]);
            self.manifest.scheduled_invocations += slots
                .iter()
                .map(|s| u64::from(self.batcher.size_of(s.cell).unwrap_or(1)))
                .sum::<u64>();
            if let Some(stop) = self.run_these(&slots, interrupted, progress, true) {
                self.precision.as_mut()?.interrupted();
                self.write_precision();
                return Some(stop);
            }
        }
        None
    }

    /// The report's statistics on every row measured so far: the rows flushed, energy paired with the samples
    /// written up to now, the comparisons against the baseline at the level the rule uses.
    fn look_comparisons(&mut self) -> anyhow::Result<(Vec<Comparison>, Option<ShownChannel>)> {
        self.recorder().sync();
        let mut manifest = self.manifest.clone();
        manifest.batching = self.batcher.plans.clone();
        if let Some(sampler) = &self.sampler {
            sampler.wait_for_samples_after(clock::monotonic_ns(), super::FIRST_SAMPLE_TIMEOUT);
            std::thread::sleep(SAMPLES_WRITTEN);
            // Without pairing (samples not readable yet) only latency counts at this look.
            let _ = harness_analysis::pair::pair_run(&self.out, &manifest, None);
        }
        let mut run = harness_analysis::run::read_run(&self.out)?;
        run.manifest = manifest;
        let rounds = self.precision.as_ref().expect("precision run");
        let options = ReportOptions {
            baseline: rounds.plan.baseline.clone(),
            level: rounds.level,
            alpha: 1.0 - rounds.level,
            seed: self.plan.seed,
            ..ReportOptions::default()
        };
        Ok(look_comparisons(&[run], &options))
    }

    fn write_precision(&mut self) {
        if let Some(rounds) = &self.precision {
            self.manifest.precision = Some(rounds.record());
            // A failed write shows at the next row's write, which stops the run.
            if let Some(recorder) = &self.recorder {
                let _ = recorder.track_manifest(&self.out, &self.manifest);
            }
        }
    }
}

type Key = (String, String, Mode, String);

/// Each candidate's half-widths from the report: latency, and energy on the channel the report shows.
fn widths_of(comparisons: &[Comparison], shown: Option<&ShownChannel>) -> BTreeMap<Key, Widths> {
    let mut out: BTreeMap<Key, Widths> = BTreeMap::new();
    for c in comparisons {
        let key = (c.workload.clone(), c.input.clone(), c.mode, c.runtime.clone());
        let h = c.ratio_of_medians.as_ref().and_then(half_width);
        let entry = out.entry(key).or_default();
        match &c.metric {
            Metric::Latency => entry.latency = h,
            Metric::Energy { probe, channel, .. } => {
                if shown.is_some_and(|s| (&s.probe, &s.channel) == (probe, channel)) {
                    entry.energy = h;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Vec<CellLabel> {
        ["wasmtime-aot", "wasmi", "native"]
            .iter()
            .map(|r| CellLabel {
                key: CellKey {
                    workload: "fibonacci".into(),
                    input: "20".into(),
                    runtime: (*r).into(),
                    mode: Mode::Warm,
                },
                group: 0,
            })
            .collect()
    }

    fn widths(wasmi: f64, native: f64) -> BTreeMap<Key, Widths> {
        let key = |r: &str| ("fibonacci".to_string(), "20".to_string(), Mode::Warm, r.to_string());
        let w = |h| Widths {
            latency: Some(h),
            energy: None,
        };
        [(key("wasmi"), w(wasmi)), (key("native"), w(native))]
            .into_iter()
            .collect()
    }

    #[test]
    fn a_met_candidate_stops_and_the_baseline_goes_on_while_another_does_not() {
        let plan = PrecisionPlan {
            target: 0.05,
            baseline: "wasmtime-aot".into(),
            mode: Default::default(),
            max_repetitions: 20,
            max_duration_s: None,
            looks: vec![10, 20],
        };
        let mut rounds = PrecisionRounds::new(plan, 0.95, &labels(), 1);
        rounds.units = vec![10, 10, 10];
        assert!(rounds.look_at(&widths(0.03, 0.09), false));
        let next = rounds.round(1, 20);
        let cells: std::collections::BTreeSet<usize> = next.iter().map(|s| s.cell).collect();
        assert_eq!(
            cells,
            [0, 2].into_iter().collect(),
            "wasmi met: only the baseline and native go on"
        );
        assert_eq!(next.len(), 20);
        rounds.units = vec![20, 10, 20];
        assert!(
            !rounds.look_at(&widths(0.5, 0.06), true),
            "the last look ends the rounds"
        );
        let record = rounds.record();
        let by = |r: &str| record.cells.iter().find(|c| c.runtime == r).unwrap().clone();
        let (base, wasmi, native) = (by("wasmtime-aot"), by("wasmi"), by("native"));
        assert!(wasmi.met && wasmi.stopped == PrecisionStop::Met && wasmi.repetitions == 10);
        assert_eq!(wasmi.looks.len(), 1, "a stopped cell is not looked at again");
        assert_eq!(
            (native.met, native.stopped, native.repetitions),
            (false, PrecisionStop::MaxRepetitions, 20)
        );
        assert!((native.missed_by.unwrap() - 0.01).abs() < 1e-12);
        assert_eq!(
            native.looks.iter().map(|l| l.repetitions).collect::<Vec<_>>(),
            vec![10, 20]
        );
        assert_eq!(base.stopped, PrecisionStop::MaxRepetitions);
        assert_eq!(
            base.latency_half_width,
            Some(0.06),
            "the baseline shows its widest live comparison"
        );
        assert!(record.ended.contains("1 of 3 compared cells met"), "{}", record.ended);
    }

    #[test]
    fn energy_counts_only_where_it_has_an_interval() {
        let w = Widths {
            latency: Some(0.01),
            energy: None,
        };
        assert!(narrow_enough(&w.required(), 0.02));
        let w = Widths {
            latency: Some(0.01),
            energy: Some(0.03),
        };
        assert!(!narrow_enough(&w.required(), 0.02));
        assert_eq!(w.widest(), Some(0.03));
        assert_eq!(Widths::default().widest(), None);
    }
}
