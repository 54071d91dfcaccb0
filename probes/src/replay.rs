//! `replay`: plays a recorded `samples.csv` onto a run, for re-analysis and tests.
//!
//! Each recorded sample is emitted once its (shifted) time has come, with that time as its timestamp, so a
//! replayed trace keeps its own timing. `align = "start"` moves the trace so its first sample falls on the
//! first poll; `"absolute"` keeps recorded times (same machine, same boot). `shift_ms` adds a fixed offset.

use crate::ProbeError;
use crate::source::{Reading, Source, TimedReading};
use harness_data::{ChannelInfo, SampleKind, SampleRecord};
use std::collections::BTreeMap;
use std::path::Path;

pub const KIND: &str = "replay";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Align {
    #[default]
    Start,
    Absolute,
}

pub struct ReplaySource {
    channels: Vec<ChannelInfo>,
    /// (recorded t, channel index, reading), sorted by time.
    trace: Vec<(u64, usize, Reading)>,
    next: usize,
    align: Align,
    shift_ns: i64,
    offset: Option<i64>,
    path: String,
}

/// Reads a samples file; errors name the file and the line.
pub fn read_samples(path: &Path) -> Result<Vec<SampleRecord>, ProbeError> {
    let malformed = |message: String| ProbeError::Malformed {
        probe: KIND,
        path: path.into(),
        message,
    };
    let mut reader = csv::Reader::from_path(path).map_err(|e| malformed(e.to_string()))?;
    let mut rows = Vec::new();
    for (i, row) in reader.deserialize::<SampleRecord>().enumerate() {
        // Line 1 is the header.
        rows.push(row.map_err(|e| malformed(format!("line {}: {e}", i + 2)))?);
    }
    Ok(rows)
}

impl ReplaySource {
    pub fn open(path: &Path, align: Align, shift_ms: f64) -> Result<ReplaySource, ProbeError> {
        let rows = read_samples(path)?;
        if rows.is_empty() {
            return Err(ProbeError::Malformed {
                probe: KIND,
                path: path.into(),
                message: "no samples to replay".into(),
            });
        }
        let recorded = recorded_channels(path);
        let mut index: BTreeMap<(String, String), usize> = BTreeMap::new();
        let mut channels: Vec<ChannelInfo> = Vec::new();
        let mut trace = Vec::with_capacity(rows.len());
        for row in rows {
            let key = (row.probe.clone(), row.channel.clone());
            let channel = *index.entry(key).or_insert_with(|| {
                let declared = recorded
                    .iter()
                    .find(|c| (&c.probe, &c.channel) == (&row.probe, &row.channel));
                channels.push(ChannelInfo {
                    probe: KIND.into(),
                    channel: format!("{}/{}", row.probe, row.channel),
                    unit: row.unit,
                    kind: if row.kind == SampleKind::Gap {
                        SampleKind::Power
                    } else {
                        row.kind
                    },
                    // What the recording run declared survives the replay: estimated, scope, resolution.
                    // Without the recording's manifest, a model's trace is still an estimate.
                    resolution: declared.map_or(0.0, |c| c.resolution),
                    update_period_ns: 0,
                    estimated: declared.map_or_else(
                        || row.probe == crate::model::KIND || row.probe.starts_with("model-"),
                        |c| c.estimated,
                    ),
                    scope: declared.map_or(harness_data::Scope::Machine, |c| c.scope),
                });
                channels.len() - 1
            });
            // A gap row's unit and kind say nothing; the first real row decides.
            if row.kind != SampleKind::Gap && channels[channel].update_period_ns == 0 {
                channels[channel].kind = row.kind;
                channels[channel].unit = row.unit;
            }
            let reading = match (row.kind, row.value) {
                (SampleKind::Gap, _) | (_, None) => Reading::Gap("gap in the replayed trace".into()),
                (_, Some(v)) => Reading::Value(v),
            };
            trace.push((row.t_ns, channel, reading));
        }
        trace.sort_by_key(|(t, c, _)| (*t, *c));
        // Each channel's update period: the median spacing of its samples.
        for (c, info) in channels.iter_mut().enumerate() {
            let times: Vec<u64> = trace.iter().filter(|(_, ch, _)| *ch == c).map(|(t, _, _)| *t).collect();
            let mut gaps: Vec<u64> = times.windows(2).map(|w| w[1] - w[0]).collect();
            gaps.sort_unstable();
            info.update_period_ns = gaps.get(gaps.len() / 2).copied().unwrap_or(0);
        }
        Ok(ReplaySource {
            channels,
            trace,
            next: 0,
            align,
            shift_ns: (shift_ms * 1e6) as i64,
            offset: None,
            path: path.display().to_string(),
        })
    }
}

/// The channels declared in the manifest.json beside a recorded samples file, if there is one and this
/// harness reads its format.
fn recorded_channels(samples: &Path) -> Vec<ChannelInfo> {
    let Some(dir) = samples.parent() else { return Vec::new() };
    let Ok(bytes) = std::fs::read(dir.join(harness_data::files::MANIFEST)) else {
        return Vec::new();
    };
    harness_data::Manifest::from_json(&bytes)
        .map(|m| m.probes.into_iter().flat_map(|p| p.channels).collect())
        .unwrap_or_default()
}

impl Source for ReplaySource {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn channels(&self) -> &[ChannelInfo] {
        &self.channels
    }

    fn poll(&mut self, now_ns: u64, out: &mut Vec<TimedReading>) {
        let first = self.trace[0].0;
        let offset = *self.offset.get_or_insert_with(|| match self.align {
            Align::Start => now_ns as i64 - first as i64,
            Align::Absolute => 0,
        }) + self.shift_ns;
        while let Some((t, channel, reading)) = self.trace.get(self.next) {
            let shifted = (*t as i64 + offset).max(0) as u64;
            if shifted > now_ns {
                break;
            }
            out.push(TimedReading {
                channel: *channel,
                t_ns: shifted,
                reading: reading.clone(),
            });
            self.next += 1;
        }
    }

    fn notes(&self) -> Vec<String> {
        vec![format!(
            "replaying {} ({:?} alignment, shift {} ns)",
            self.path, self.align, self.shift_ns
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_in_recorded_time_shifted_to_the_first_poll() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samples.csv");
        std::fs::write(
            &path,
            "probe,channel,t_ns,value,unit,kind\nrapl,package-0,1000,5,uJ,energy_counter\nrapl,package-0,2000,9,uJ,energy_counter\nrapl,package-0,2500,,uJ,gap\nrapl,package-0,3000,12,uJ,energy_counter\n",
        )
        .unwrap();
        let mut source = ReplaySource::open(&path, Align::Start, 0.0).unwrap();
        assert_eq!(source.channels()[0].channel, "rapl/package-0");
        assert_eq!(source.channels()[0].kind, SampleKind::EnergyCounter);
        assert_eq!(source.channels()[0].update_period_ns, 500);
        let mut out = Vec::new();
        source.poll(100_000, &mut out);
        assert_eq!(
            out,
            vec![TimedReading {
                channel: 0,
                t_ns: 100_000,
                reading: Reading::Value(5.0)
            }]
        );
        source.poll(101_600, &mut out);
        assert_eq!(out.len(), 3);
        assert!(matches!(out[2].reading, Reading::Gap(_)));
        assert_eq!(out[2].t_ns, 101_500);
        source.poll(1_000_000, &mut out);
        assert_eq!(
            out[3],
            TimedReading {
                channel: 0,
                t_ns: 102_000,
                reading: Reading::Value(12.0)
            }
        );
    }

    #[test]
    fn a_replayed_model_trace_stays_estimated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samples.csv");
        std::fs::write(
            &path,
            "probe,channel,t_ns,value,unit,kind\nmodel,cpu-estimate,1000,0,J,energy_counter\nrapl,package-0,1000,5,uJ,energy_counter\nmodel,cpu-estimate,2000,0.5,J,energy_counter\n",
        )
        .unwrap();
        let source = ReplaySource::open(&path, Align::Start, 0.0).unwrap();
        let estimated: Vec<(String, bool)> = source
            .channels()
            .iter()
            .map(|c| (c.channel.clone(), c.estimated))
            .collect();
        assert_eq!(
            estimated,
            vec![("model/cpu-estimate".into(), true), ("rapl/package-0".into(), false)]
        );
    }

    #[test]
    fn a_corrupt_row_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samples.csv");
        std::fs::write(
            &path,
            "probe,channel,t_ns,value,unit,kind\nrapl,p,1,2,uJ,energy_counter\nrapl,p,notanumber,2,uJ,energy_counter\n",
        )
        .unwrap();
        let err = ReplaySource::open(&path, Align::Start, 0.0).err().unwrap().to_string();
        assert!(err.contains("line 3"), "{err}");
    }
}
