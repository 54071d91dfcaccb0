//! Energy of each load level (`load.csv`): the level's window and its idle warm-pool span, on one channel per
//! run, with the run's baseline subtracted as pairing subtracts it.
//!
//! Which channel: a load level's energy is a whole-machine figure (the harness, the clients, the serving
//! processes and containers all draw from it), so one channel that sees the whole machine is chosen per run, by
//! the rule every whole-machine figure uses (`crate::machine_channel`).

use super::error::PairError;
use super::series::{baseline, channel_series};
use crate::align::{self, Window};
use crate::run::{RunError, read_csv, read_load_rows};
use harness_data::{ChannelInfo, LoadRecord, Manifest, SampleRecord, files, fsio};
use std::path::Path;

/// Recomputes the energy columns of the run's `load.csv` from its `samples.csv` and rewrites the file (rows
/// and order kept). Returns the rows rewritten: 0 when the run has no `load.csv`. A run without `samples.csv`
/// gets its energy columns cleared.
pub fn attribute_load_energy(dir: &Path, manifest: &Manifest) -> Result<usize, PairError> {
    let load_path = dir.join(files::LOAD);
    if !load_path.is_file() {
        return Ok(0);
    }
    let samples_path = dir.join(files::SAMPLES);
    let samples: Vec<SampleRecord> = if samples_path.is_file() {
        read_csv(&samples_path)?
    } else {
        Vec::new()
    };
    Ok(rewrite_load_csv(dir, &samples, manifest, &[])?.rows)
}

/// What a rewrite of `load.csv` did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadAttribution {
    /// Rows rewritten.
    pub rows: usize,
    /// Rows that got an energy figure.
    pub with_energy: usize,
    /// The channel used (`probe/channel`), none when no channel qualified.
    pub channel: Option<String>,
}

/// Reads `load.csv` (absent: nothing to do), attributes `samples` to its rows, and writes it back atomically.
/// `extra` are channels declared by another run (samples replayed from elsewhere).
pub(crate) fn rewrite_load_csv(
    dir: &Path,
    samples: &[SampleRecord],
    manifest: &Manifest,
    extra: &[ChannelInfo],
) -> Result<LoadAttribution, PairError> {
    let path = dir.join(files::LOAD);
    if !path.is_file() {
        return Ok(LoadAttribution::default());
    }
    let mut rows: Vec<LoadRecord> = read_load_rows(&path)?;
    let channel = attribute_load_rows(&mut rows, samples, manifest, extra);
    write_load_csv(&path, &rows)?;
    Ok(LoadAttribution {
        rows: rows.len(),
        with_energy: rows.iter().filter(|r| r.energy_j.is_some()).count(),
        channel,
    })
}

/// Fills the energy columns of `rows` from `samples` (clearing them first, so a recomputation never keeps a
/// stale figure). Returns the channel used as `probe/channel`.
pub fn attribute_load_rows(
    rows: &mut [LoadRecord],
    samples: &[SampleRecord],
    manifest: &Manifest,
    extra: &[ChannelInfo],
) -> Option<String> {
    for row in rows.iter_mut() {
        row.energy_channel.clear();
        row.energy_j = None;
        row.energy_per_request_j = None;
        row.idle_pool_w = None;
        row.estimated = None;
        row.unseen = false;
    }
    let info = choose_channel(samples, manifest, extra)?;
    let series = channel_series(samples, info.clone(), manifest);
    let baseline_w = baseline(&series, manifest).used_w;
    let unseen: &[String] = manifest
        .probes
        .iter()
        .find(|p| p.key() == info.probe)
        .map_or(&[], |p| p.unseen.as_slice());

    // Every level's window and idle span in one sweep: `attribute` needs the spans sorted by start.
    let mut spans: Vec<(usize, bool, Window)> = Vec::with_capacity(rows.len() * 2);
    for (i, row) in rows.iter().enumerate() {
        if row.window_end_ns > row.window_start_ns {
            spans.push((i, false, window(row.window_start_ns, row.window_end_ns)));
        }
        if let (Some(start), Some(end)) = (row.idle_start_ns, row.idle_end_ns)
            && end > start
        {
            spans.push((i, true, window(start, end)));
        }
    }
    spans.sort_by_key(|(_, _, w)| w.start_ns);
    let windows: Vec<Window> = spans.iter().map(|(_, _, w)| *w).collect();
    let label = format!("{}/{}", info.probe, info.channel);
    for row in rows.iter_mut() {
        row.energy_channel = label.clone();
        row.estimated = Some(info.estimated);
        row.unseen = unseen.contains(&row.runtime);
    }
    for ((i, idle, w), a) in spans.iter().zip(align::attribute(&series, &windows)) {
        let Some(gross_j) = a.window_j.filter(|_| a.quality.has_energy()) else {
            continue;
        };
        let seconds = (w.end_ns - w.start_ns) as f64 * 1e-9;
        let row = &mut rows[*i];
        if *idle {
            row.idle_pool_w = baseline_w.map(|b| gross_j / seconds - b);
        } else {
            let net_j = baseline_w.map(|b| gross_j - b * seconds);
            row.energy_j = net_j;
            row.energy_per_request_j = net_j.filter(|_| row.completed > 0).map(|j| j / row.completed as f64);
        }
    }
    Some(label)
}

fn window(start_ns: u64, end_ns: u64) -> Window {
    Window {
        start_ns,
        end_ns,
        count: 1,
    }
}

/// The run's load energy channel: the one whole-machine rule ([`crate::machine_channel::choose`]) over the
/// manifest's probes and `extra`, among the channels with at least one reading.
pub fn choose_channel(samples: &[SampleRecord], manifest: &Manifest, extra: &[ChannelInfo]) -> Option<ChannelInfo> {
    let probes = manifest
        .probes
        .iter()
        .map(|p| (p.kind.as_str(), p.channels.as_slice()))
        .chain(std::iter::once(("", extra)));
    // Only channels that actually read something: a declared channel can stay silent (permissions, a gap).
    let read: std::collections::BTreeSet<(&str, &str)> = samples
        .iter()
        .filter(|s| s.value.is_some())
        .map(|s| (s.probe.as_str(), s.channel.as_str()))
        .collect();
    crate::machine_channel::choose(probes, |info| {
        read.contains(&(info.probe.as_str(), info.channel.as_str()))
    })
}

/// `load.csv` as load mode writes it, level by level: each row is appended and flushed when its level ends, so
/// a stopped run keeps its finished levels. The energy columns are empty until pairing fills them with
/// [`write_load_csv`]: between them, the only two ways the file is written (datasets/SCHEMA.md).
pub struct LoadCsv {
    writer: csv::Writer<std::fs::File>,
}

impl LoadCsv {
    /// Creates `load.csv` in the run directory `dir`, with its header.
    pub fn create(dir: &Path) -> Result<LoadCsv, csv::Error> {
        let file = std::fs::File::create(dir.join(files::LOAD))?;
        let mut writer = csv::WriterBuilder::new().has_headers(false).from_writer(file);
        writer.write_record(LoadRecord::COLUMNS)?;
        writer.flush()?;
        Ok(LoadCsv { writer })
    }

    /// Appends a level's row and flushes it.
    pub fn append(&mut self, row: &LoadRecord) -> Result<(), csv::Error> {
        self.writer.serialize(row)?;
        Ok(self.writer.flush()?)
    }
}

/// Writes `load.csv` whole, atomically (a reader never sees half a file): pairing's rewrite with the energy
/// columns filled, the same rows in the same order.
pub fn write_load_csv(path: &Path, rows: &[LoadRecord]) -> Result<(), PairError> {
    fsio::write_atomically(path, |out| {
        let mut writer = csv::WriterBuilder::new().has_headers(false).from_writer(out);
        writer.write_record(LoadRecord::COLUMNS)?;
        for row in rows {
            writer.serialize(row)?;
        }
        writer.flush()?;
        Ok::<(), csv::Error>(())
    })
    .map_err(|e| PairError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// `load.csv` of a run directory, empty when the run has none.
pub fn read_load_csv(dir: &Path) -> Result<Vec<LoadRecord>, RunError> {
    let path = dir.join(files::LOAD);
    if path.is_file() {
        read_load_rows(&path)
    } else {
        Ok(Vec::new())
    }
}

#[cfg(test)]
#[path = "levels_tests.rs"]
mod tests;
