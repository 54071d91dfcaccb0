//! Which paired rows' energy may be used, gross and net: one rule for the report and the terminal summary.
//! A `busy_baseline` row keeps its gross figure (the window's energy is measured as ever) but not its net
//! one (the baseline subtracted from it is not the machine's idle power); every other flag drops both.

use harness_data::{Manifest, PairedRecord};

/// The row's gross energy per invocation, when it is measured without a gap, above resolution, and carries
/// no flag that biases the window's energy.
pub fn gross_usable(r: &PairedRecord) -> Option<f64> {
    (r.quality.has_energy() && r.flag.is_none_or(|f| f.keeps_gross()))
        .then_some(r.gross_j)
        .flatten()
        .filter(|v| v.is_finite())
}

/// The row's net energy per invocation, when its gross is usable and its baseline was taken on an idle
/// machine (no flag at all).
pub fn net_usable(r: &PairedRecord) -> Option<f64> {
    gross_usable(r)
        .and(r.flag.is_none().then_some(r.net_j).flatten())
        .filter(|v| v.is_finite())
}

/// One note per channel of `manifest` whose baseline is flagged `busy_baseline`, saying why its net energy
/// is left out (`run`: the run's name, or empty for a one-run summary).
pub fn busy_baseline_notes(manifest: &Manifest, run: &str) -> Vec<String> {
    let mut notes = Vec::new();
    for probe in &manifest.probes {
        for channel in &probe.channels {
            let Some(why) = probe
                .baselines
                .get(&channel.channel)
                .and_then(|b| b.busy_baseline.as_deref())
            else {
                continue;
            };
            let estimated = if channel.estimated { " (estimated)" } else { "" };
            let run = if run.is_empty() {
                String::new()
            } else {
                format!("run {run}: ")
            };
            notes.push(format!(
                "{run}net energy on {}/{}{estimated} left out of comparisons (busy_baseline): {why}; gross figures stay",
                probe.key(),
                channel.channel
            ));
        }
    }
    notes
}
