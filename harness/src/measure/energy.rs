//! The energy side of a run: the sampler started with the calibration pattern and the idle baseline before the
//! invocations, and after them the idle baseline, the sampler stopped and the rows paired with samples.

use super::{FIRST_SAMPLE_TIMEOUT, Session};
use anyhow::Context;
use harness_data::{IdleLoad, RunStatus, files};
use harness_probes::busy::BusyMeter;
use harness_probes::clock;
use harness_probes::sampler::Sampler;
use std::path::Path;
use std::time::Duration;

impl Session {
    /// Starts the sampler, plays the calibration pattern, and measures the idle baseline before the run. The
    /// idle span starts only once every probe has delivered a sample, and ends on one, so `before_w` exists
    /// whenever the probe worked.
    pub(super) fn start_energy(&mut self) -> anyhow::Result<()> {
        if self.probes.is_empty() {
            return Ok(());
        }
        let runs = std::mem::take(&mut self.probes).into_iter().map(|p| p.run).collect();
        let sampler = Sampler::start(runs, &self.out.join(files::SAMPLES)).context("starting the sampler")?;
        let late = sampler.wait_for_samples_after(1, FIRST_SAMPLE_TIMEOUT);
        for &i in &late {
            let probe = &mut self.manifest.probes[i];
            probe.notes.push(format!(
                "no sample within {} s of starting: its baseline before the run may be missing",
                FIRST_SAMPLE_TIMEOUT.as_secs()
            ));
        }
        if self.plan.calibrate_delay {
            let channels: Vec<_> = self.manifest.probes.iter().flat_map(|p| p.channels.clone()).collect();
            self.manifest.calibration_busy_ns =
                crate::calibration_pattern::play(harness_analysis::calibrate::calibration_unit_ns(&channels));
            self.recorder
                .as_ref()
                .expect("recording")
                .track_manifest(&self.out, &self.manifest)?;
        }
        if self.plan.baseline_ms > 0 {
            let (span, load) = idle(&sampler, self.plan.baseline_ms);
            self.manifest.baseline_before_ns = Some(span);
            self.manifest.baseline_load_before = load;
            self.recorder
                .as_ref()
                .expect("recording")
                .track_manifest(&self.out, &self.manifest)?;
            self.idle_spans_with_runtimes_up(&sampler);
        }
        self.sampler = Some(sampler);
        Ok(())
    }

    /// An idle span as long as the baseline with each runtime that has an idle state up (a browser, its page
    /// open, nothing running): pairing turns it into the runtime's own idle power (`idle_browser_w`). A
    /// runtime that cannot come up gets no span; its invocations say why.
    fn idle_spans_with_runtimes_up(&mut self, sampler: &Sampler) {
        for (runtime, name) in self.runtimes.iter_mut().zip(&self.plan.runtime_names) {
            match runtime.start_idle() {
                Ok(false) => {}
                Ok(true) => {
                    let (span, load) = idle(sampler, self.plan.baseline_ms);
                    runtime.stop_idle(span, load);
                }
                Err(e) => eprintln!("note: {name}: no idle span with it up ({e:#})"),
            }
        }
    }

    /// Measures the idle baseline after a complete run, stops the sampler, records its notes, calibrates
    /// delays and pairs invocations with samples. Returns the number of paired rows.
    pub(super) fn finish_energy(&mut self, status: RunStatus) -> anyhow::Result<Option<usize>> {
        self.manifest.batching = std::mem::take(&mut self.batcher.plans);
        let Some(sampler) = self.sampler.take() else {
            return Ok(None);
        };
        if self.plan.baseline_ms > 0 && status == RunStatus::Complete {
            let (span, load) = idle(&sampler, self.plan.baseline_ms);
            self.manifest.baseline_after_ns = Some(span);
            self.manifest.baseline_load_after = load;
        }
        let stats = sampler.stop();
        for (probe, stat) in self.manifest.probes.iter_mut().zip(&stats) {
            for note in &stat.notes {
                if !probe.notes.contains(note) {
                    probe.notes.push(note.clone());
                }
            }
            probe
                .notes
                .push(format!("{} polls, {} rows, {} gaps", stat.polls, stat.rows, stat.gaps));
            if let Some(why) = &stat.first_gap {
                probe.notes.push(format!("first gap: {why}"));
            }
            probe.unseen = stat.unseen.clone();
        }
        let (pairing, calibration) = harness_analysis::pair::analyse_run(&self.out, &mut self.manifest)?;
        for line in calibration {
            eprintln!("calibration: {line}");
        }
        for probe in &mut self.manifest.probes {
            let key = probe.key().to_string();
            for channel in &probe.channels {
                if let Some(b) = pairing.baselines.get(&(key.clone(), channel.channel.clone())) {
                    probe.baselines.insert(channel.channel.clone(), b.clone());
                }
            }
        }
        Ok(Some(pairing.rows))
    }
}

/// Idles for `ms` with the sampler running, and returns the span on the run clock with what the machine's CPUs
/// did over it (busy CPU, the harness's share, the foreign rest: pairing flags a baseline taken on a busy
/// machine). The span ends only once every probe has a sample at or after its end, so the span is bracketed
/// by real samples.
fn idle(sampler: &Sampler, ms: u64) -> ([u64; 2], Option<IdleLoad>) {
    let meter = BusyMeter::new(Path::new("/"));
    let before = meter.snapshot();
    let start = clock::monotonic_ns();
    std::thread::sleep(Duration::from_millis(ms));
    let end = clock::monotonic_ns();
    let load = before.zip(meter.snapshot()).map(|(a, b)| b.load_since(&a));
    sampler.wait_for_samples_after(end, FIRST_SAMPLE_TIMEOUT);
    ([start, end], load)
}
