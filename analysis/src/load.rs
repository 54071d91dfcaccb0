//! Reading run directories: `manifest.json`, `invocations.csv`, `paired.csv` when the run had energy probes,
//! and `load.csv` when it served load levels. Every error names the file, and for CSV the line.

use harness_data::{EnergyQuality, InvocationRecord, LoadRecord, Manifest, PairedRecord, RunStatus, files};
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The `manifest.json` format this reader knows. (`results.json`, the report's output, has its own version.)
pub use harness_data::manifest::MANIFEST_FORMAT_VERSION;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(
        "{path}: not a run directory (no {missing}); a run directory holds manifest.json and invocations.csv (or load.csv)"
    )]
    NotARun { path: PathBuf, missing: &'static str },
    #[error("{path}: invalid manifest: {message}")]
    Manifest { path: PathBuf, message: String },
    #[error("{path}:{line}: {message}")]
    Csv { path: PathBuf, line: u64, message: String },
}

/// One run directory as read from disk.
#[derive(Debug, Clone)]
pub struct Run {
    pub dir: PathBuf,
    /// The directory's own name (the `run` column of an export).
    pub name: String,
    pub manifest: Manifest,
    pub invocations: Vec<InvocationRecord>,
    /// `None` for a latency-only run.
    pub paired: Option<Vec<PairedRecord>>,
    /// One row per load level (`load.csv`); empty when the run served none.
    pub load: Vec<LoadRecord>,
    /// What the reader found and worked around or wants the user to know: a torn final row dropped from a
    /// partial run, a probe that produced no valid sample. `report` and `export` print them.
    pub notes: Vec<String>,
}

pub fn load_run(dir: &Path) -> Result<Run, LoadError> {
    let manifest_path = dir.join(files::MANIFEST);
    if !manifest_path.is_file() {
        return Err(LoadError::NotARun {
            path: dir.to_path_buf(),
            missing: files::MANIFEST,
        });
    }
    let bytes = std::fs::read(&manifest_path).map_err(|source| LoadError::Io {
        path: manifest_path.clone(),
        source,
    })?;
    check_format_version(&manifest_path, &bytes)?;
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| LoadError::Manifest {
        path: manifest_path.clone(),
        message: e.to_string(),
    })?;
    let mut notes = Vec::new();
    let invocations_path = dir.join(files::INVOCATIONS);
    let load_path = dir.join(files::LOAD);
    let invocations = if invocations_path.is_file() {
        let rows = read_run_csv(
            &invocations_path,
            &manifest,
            &mut notes,
            "sequence",
            |r: &InvocationRecord| r.sequence,
        )?;
        // A complete run's manifest counts its rows: a file cut at a line end (or appended to) shows here.
        if manifest.status == RunStatus::Complete && rows.len() as u64 != manifest.recorded_invocations {
            return Err(LoadError::Csv {
                path: invocations_path,
                line: rows.len() as u64 + 1,
                message: format!(
                    "{} rows, but the manifest says the run is complete with {} invocations recorded: the file \
                     was cut or appended to after the run; restore it or measure again",
                    rows.len(),
                    manifest.recorded_invocations
                ),
            });
        }
        rows
    } else {
        read_invocations(dir, &manifest, &mut notes)?
    };
    let load = if load_path.is_file() {
        read_csv(&load_path)?
    } else {
        Vec::new()
    };
    let paired_path = dir.join(files::PAIRED);
    let paired = if paired_path.is_file() {
        let mut channels = Channels::default();
        let rows = read_run_csv(
            &paired_path,
            &manifest,
            &mut notes,
            "sequence, probe and channel",
            |r: &PairedRecord| (r.sequence, channels.index(&r.probe, &r.channel)),
        )?;
        notes.extend(probes_without_a_valid_sample(&paired_path, &rows));
        Some(rows)
    } else {
        None
    };
    let name = dir
        .canonicalize()
        .unwrap_or_else(|_| dir.to_path_buf())
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string());
    Ok(Run {
        dir: dir.to_path_buf(),
        name,
        manifest,
        invocations,
        paired,
        load,
        notes,
    })
}

/// Refuses a manifest written in a format this reader does not know, before its fields are read: a newer
/// format may mean something else by the same fields.
fn check_format_version(path: &Path, bytes: &[u8]) -> Result<(), LoadError> {
    #[derive(serde::Deserialize)]
    struct Version {
        format_version: Option<u32>,
        harness_version: Option<String>,
    }
    let Ok(version) = serde_json::from_slice::<Version>(bytes) else {
        return Ok(()); // Not JSON with those fields: the full parse names what is wrong.
    };
    match version.format_version {
        Some(MANIFEST_FORMAT_VERSION) | None => Ok(()),
        Some(other) => Err(LoadError::Manifest {
            path: path.to_path_buf(),
            message: format!(
                "format_version {other}, but this harness ({}) reads format_version {MANIFEST_FORMAT_VERSION} only; \
                 the run was written by harness {}: read it with that version or a newer one",
                env!("CARGO_PKG_VERSION"),
                version.harness_version.as_deref().unwrap_or("unknown")
            ),
        }),
    }
}

/// A probe channel whose every paired row is a gap measured nothing (a counter unreadable or garbage from the
/// start): its energy is missing, not zero, and the run must say so rather than pass for a complete energy run.
fn probes_without_a_valid_sample(path: &Path, rows: &[PairedRecord]) -> Vec<String> {
    let mut per_channel: BTreeMap<(&str, &str), (usize, usize)> = BTreeMap::new();
    for row in rows {
        let (all, gaps) = per_channel.entry((&row.probe, &row.channel)).or_default();
        *all += 1;
        *gaps += usize::from(row.quality == EnergyQuality::Gap);
    }
    per_channel
        .into_iter()
        .filter(|(_, (all, gaps))| all == gaps)
        .map(|((probe, channel), (all, _))| {
            format!(
                "probe `{probe}` produced no valid sample on channel `{channel}`: all {all} of its rows in {} are \
                 gaps, so the run has no energy from it (missing, not zero); check the sensor with `harness \
                 probes` and measure again",
                path.display()
            )
        })
        .collect()
}

/// A CSV file of a run (`invocations.csv`, `paired.csv`), checked beyond its rows' syntax:
/// - a 0-byte file is an error, unless the run is `partial` (killed before its header reached the disk);
/// - a `partial` run's final row cut mid-write (no line end: the harness was SIGKILLed while writing it) is
///   dropped with a note; elsewhere, and in a `complete` run, a torn row is an error with its line;
/// - two rows with the same `key` (the `sequence`, and probe and channel for paired rows) are an error:
///   a repeated row doubles n and narrows the confidence intervals.
fn read_run_csv<T: DeserializeOwned, K: Hash + Eq>(
    path: &Path,
    manifest: &Manifest,
    notes: &mut Vec<String>,
    key_name: &str,
    mut key: impl FnMut(&T) -> K,
) -> Result<Vec<T>, LoadError> {
    let io = |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let partial = manifest.status == RunStatus::Partial;
    let mut file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len == 0 {
        if partial {
            notes.push(format!(
                "{} is empty (0 bytes): the partial run was stopped before its first row reached the disk",
                path.display()
            ));
            return Ok(Vec::new());
        }
        return Err(LoadError::Csv {
            path: path.to_path_buf(),
            line: 1,
            message: format!(
                "empty file (0 bytes, not even the header), but the manifest says the run is {} with {} \
                 invocations recorded: the file was cut or replaced; restore it or measure again",
                status_name(manifest.status),
                manifest.recorded_invocations
            ),
        });
    }
    let keep = complete_lines_len(&mut file, len).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    let mut first_line: HashMap<K, u64> = HashMap::new();
    let mut last_line = 1;
    let source = std::io::BufReader::with_capacity(1 << 16, file.take(keep));
    let rows = parse_csv(path, source, |row: &T, line| {
        last_line = line;
        if let Some(first) = first_line.insert(key(row), line) {
            return Err(format!(
                "this row repeats the row at line {first} (same {key_name}): a row counted twice doubles n and \
                 narrows the confidence intervals; remove the repeated row"
            ));
        }
        Ok(())
    })?;
    let torn_line = if keep == 0 { 1 } else { last_line + 1 };
    if keep < len && !partial {
        return Err(LoadError::Csv {
            path: path.to_path_buf(),
            line: torn_line,
            message: format!(
                "the final row is cut short (no line end), but the manifest says the run is {}: the file was \
                 damaged after the run; restore it or measure again",
                status_name(manifest.status)
            ),
        });
    }
    if keep < len {
        notes.push(format!(
            "{}:{}: dropped the torn final row (cut mid-write when the partial run was stopped); the rows before \
             it are kept",
            path.display(),
            torn_line
        ));
    }
    Ok(rows)
}

/// Small indices for (probe, channel) pairs, so the duplicate check of a long paired.csv keys on integers
/// instead of cloning two strings per row. A run has a handful of channels: a scan is cheaper than a hash.
#[derive(Default)]
struct Channels(Vec<(String, String)>);

impl Channels {
    fn index(&mut self, probe: &str, channel: &str) -> usize {
        match self.0.iter().position(|(p, c)| p == probe && c == channel) {
            Some(i) => i,
            None => {
                self.0.push((probe.to_owned(), channel.to_owned()));
                self.0.len() - 1
            }
        }
    }
}

fn status_name(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Complete => "complete",
        RunStatus::Partial => "partial",
        RunStatus::Failed => "failed",
    }
}

/// Length of the file up to and including its last line end: the whole file when it ends with one.
fn complete_lines_len(file: &mut std::fs::File, len: u64) -> std::io::Result<u64> {
    let mut end = len;
    let mut chunk = vec![0u8; 64 << 10];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let buf = &mut chunk[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(buf)?;
        if let Some(i) = buf.iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// `invocations.csv` of a run directory, by the same rules as [`load_run`] (a torn final row of a partial
/// run is dropped with a note in `notes`; repeated rows are errors). A run that served load levels only may
/// lack it: with `load.csv` present, a missing `invocations.csv` reads as no invocations.
pub fn read_invocations(
    dir: &Path,
    manifest: &Manifest,
    notes: &mut Vec<String>,
) -> Result<Vec<InvocationRecord>, LoadError> {
    let path = dir.join(files::INVOCATIONS);
    if path.is_file() {
        read_run_csv(&path, manifest, notes, "sequence", |r: &InvocationRecord| r.sequence)
    } else if dir.join(files::LOAD).is_file() {
        Ok(Vec::new())
    } else {
        Err(LoadError::NotARun {
            path: dir.to_path_buf(),
            missing: files::INVOCATIONS,
        })
    }
}

/// Every row of a CSV file with a header; a row that does not parse is an error naming its line (1-based,
/// the header being line 1), and so is an `inf` or `NaN` in a numeric column: it was once dropped silently.
pub fn read_csv<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, LoadError> {
    let file = std::fs::File::open(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_csv(
        path,
        std::io::BufReader::with_capacity(1 << 16, file),
        |_: &T, _| Ok(()),
    )
}

/// Columns of free text, where `inf` or `nan` may be a legitimate value (a plan input, an error message).
const TEXT_COLUMNS: [&str; 8] = [
    "workload", "input", "runtime", "probe", "channel", "error", "device", "run",
];

fn parse_csv<T: DeserializeOwned>(
    path: &Path,
    source: impl Read,
    mut check: impl FnMut(&T, u64) -> Result<(), String>,
) -> Result<Vec<T>, LoadError> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(source);
    let headers = reader.headers().map_err(|e| csv_error(path, e))?.clone();
    let numeric: Vec<bool> = headers.iter().map(|h| !TEXT_COLUMNS.contains(&h)).collect();
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(csv_error(path, e)),
        }
        let line = record.position().map_or(0, |p| p.line());
        let at_line = |message: String| LoadError::Csv {
            path: path.to_path_buf(),
            line,
            message,
        };
        if let Some((i, field)) = record
            .iter()
            .enumerate()
            .find(|(i, field)| numeric.get(*i) == Some(&true) && not_finite(field))
        {
            return Err(at_line(format!(
                "column {} ({}): `{field}` is not a finite number; a measurement cannot be infinite or NaN, so \
                 the file is damaged: fix or remove the row",
                i + 1,
                headers.get(i).unwrap_or("?")
            )));
        }
        let row = record
            .deserialize(Some(&headers))
            .map_err(|e| at_line(describe_csv_error(&e, &headers, Some(&record))))?;
        check(&row, line).map_err(at_line)?;
        rows.push(row);
    }
    Ok(rows)
}

/// `inf`, `-Infinity`, `NaN` and the like; cheap for ordinary numbers, which start with a digit.
fn not_finite(field: &str) -> bool {
    let field = field.trim();
    field
        .bytes()
        .find(|b| *b != b'+' && *b != b'-')
        .is_some_and(|b| matches!(b, b'i' | b'I' | b'n' | b'N'))
        && field.parse::<f64>().is_ok_and(|v| !v.is_finite())
}

fn csv_error(path: &Path, error: csv::Error) -> LoadError {
    if let csv::ErrorKind::Io(_) = error.kind() {
        let csv::ErrorKind::Io(source) = error.into_kind() else {
            unreachable!()
        };
        return LoadError::Io {
            path: path.to_path_buf(),
            source,
        };
    }
    LoadError::Csv {
        path: path.to_path_buf(),
        line: error.position().map_or(0, |p| p.line()),
        message: describe_csv_error(&error, &csv::StringRecord::new(), None),
    }
}

/// The csv crate's message, with the column where it is known. serde reports an unknown enum variant without
/// the field, so the column is then found by the value the message quotes.
fn describe_csv_error(error: &csv::Error, headers: &csv::StringRecord, record: Option<&csv::StringRecord>) -> String {
    match error.kind() {
        csv::ErrorKind::Deserialize { err, .. } => {
            let quoted = err.kind().to_string();
            let quoted = quoted.split('`').nth(1).map(str::to_owned);
            let column = err.field().map(|i| i as usize).or_else(|| {
                let value = quoted?;
                record?.iter().position(|field| field == value)
            });
            match column {
                Some(i) => format!("column {} ({}): {}", i + 1, headers.get(i).unwrap_or("?"), err.kind()),
                None => err.kind().to_string(),
            }
        }
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("{len} fields where the header has {expected_len}")
        }
        _ => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copy of the committed reference run (complete, 48 invocations), to damage.
    fn reference_copy(status: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/reference/vm-spine");
        for file in [files::MANIFEST, files::INVOCATIONS] {
            std::fs::copy(reference.join(file), dir.path().join(file)).unwrap();
        }
        let manifest = dir.path().join(files::MANIFEST);
        let text = std::fs::read_to_string(&manifest).unwrap();
        std::fs::write(&manifest, text.replace("\"complete\"", &format!("\"{status}\""))).unwrap();
        dir
    }

    fn invocations(dir: &Path) -> String {
        std::fs::read_to_string(dir.join(files::INVOCATIONS)).unwrap()
    }

    fn set_invocations(dir: &Path, text: &str) {
        std::fs::write(dir.join(files::INVOCATIONS), text).unwrap();
    }

    fn load_error(dir: &Path) -> String {
        load_run(dir).unwrap_err().to_string()
    }

    #[test]
    fn the_reference_run_loads_without_notes() {
        let dir = reference_copy("complete");
        let run = load_run(dir.path()).unwrap();
        assert_eq!(run.invocations.len(), 48);
        assert!(run.notes.is_empty(), "{:?}", run.notes);
    }

    /// Issue 11: a 0-byte invocations.csv was reported "complete 42259/42259".
    #[test]
    fn an_empty_invocations_file_of_a_complete_run_is_an_error() {
        let dir = reference_copy("complete");
        set_invocations(dir.path(), "");
        let msg = load_error(dir.path());
        assert!(msg.contains("invocations.csv:1:") && msg.contains("0 bytes"), "{msg}");
        let dir = reference_copy("partial");
        set_invocations(dir.path(), "");
        let run = load_run(dir.path()).unwrap();
        assert!(run.invocations.is_empty() && run.notes[0].contains("0 bytes"));
    }

    /// Issue 11: a repeated row (same sequence) doubled n.
    #[test]
    fn a_duplicated_row_is_an_error_naming_both_lines() {
        let dir = reference_copy("complete");
        let text = invocations(dir.path());
        let third = text.lines().nth(2).unwrap();
        set_invocations(dir.path(), &format!("{text}{third}\n"));
        let msg = load_error(dir.path());
        assert!(msg.contains("invocations.csv:50:") && msg.contains("line 3"), "{msg}");
    }

    /// Issue 11: SIGKILL mid-write leaves a torn final row; a partial run keeps the rows before it.
    #[test]
    fn a_torn_final_row_of_a_partial_run_is_dropped_with_a_note() {
        let dir = reference_copy("partial");
        let text = invocations(dir.path());
        let torn = &text[..text.len() - 30];
        set_invocations(dir.path(), torn);
        let run = load_run(dir.path()).unwrap();
        assert_eq!(run.invocations.len(), 47);
        assert!(
            run.notes[0].contains("invocations.csv:49: dropped the torn final row"),
            "{:?}",
            run.notes
        );
        // A torn numeric field parses: only the missing line end gives it away.
        let dir = reference_copy("partial");
        set_invocations(dir.path(), &text[..text.len() - 1]);
        assert_eq!(load_run(dir.path()).unwrap().invocations.len(), 47);
    }

    #[test]
    fn a_complete_run_with_rows_missing_at_a_line_end_is_an_error() {
        let dir = reference_copy("complete");
        let text = invocations(dir.path());
        let kept: Vec<&str> = text.lines().take(40).collect();
        set_invocations(dir.path(), &(kept.join("\n") + "\n"));
        let msg = load_error(dir.path());
        assert!(
            msg.contains("invocations.csv:40:") && msg.contains("48 invocations recorded"),
            "{msg}"
        );
    }

    #[test]
    fn a_torn_row_of_a_complete_run_or_in_the_middle_is_an_error() {
        let dir = reference_copy("complete");
        let text = invocations(dir.path());
        set_invocations(dir.path(), &text[..text.len() - 30]);
        let msg = load_error(dir.path());
        assert!(
            msg.contains("invocations.csv:49:") && msg.contains("cut short"),
            "{msg}"
        );
        let dir = reference_copy("partial");
        let mut lines: Vec<&str> = text.lines().collect();
        let cut = &lines[10][..40];
        lines[10] = cut;
        set_invocations(dir.path(), &(lines.join("\n") + "\n"));
        let msg = load_error(dir.path());
        assert!(msg.contains("invocations.csv:11:"), "{msg}");
    }

    /// Issue 11: `format_version` 2 was read as if it were 1.
    #[test]
    fn an_unknown_manifest_format_version_is_refused() {
        let dir = reference_copy("complete");
        let path = dir.path().join(files::MANIFEST);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("\"format_version\": 1", "\"format_version\": 2")).unwrap();
        let msg = load_error(dir.path());
        assert!(
            msg.contains("manifest.json") && msg.contains("format_version 2") && msg.contains("reads format_version 1"),
            "{msg}"
        );
    }

    /// Issue 11: inf and NaN in paired.csv or samples.csv values were dropped silently.
    #[test]
    fn non_finite_values_are_errors_with_their_line_but_not_in_text_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("samples.csv");
        let header = "probe,channel,t_ns,value,unit,kind\n";
        for bad in ["inf", "NaN", "-inf", "+Infinity", "nan"] {
            std::fs::write(
                &path,
                format!("{header}rapl,pkg,1,5,uJ,energy_counter\nrapl,pkg,2,{bad},uJ,energy_counter\n"),
            )
            .unwrap();
            let msg = read_csv::<harness_data::SampleRecord>(&path).unwrap_err().to_string();
            assert!(
                msg.contains("samples.csv:3:") && msg.contains("column 4 (value)"),
                "{bad}: {msg}"
            );
        }
        // A plan input may be `inf`: it is text.
        let dir = reference_copy("complete");
        let text = invocations(dir.path()).replace("fibonacci,25,", "fibonacci,inf,");
        set_invocations(dir.path(), &text);
        assert_eq!(load_run(dir.path()).unwrap().invocations[0].input, "inf");
    }

    /// Issue 11: a RAPL counter garbage from the start gave a "complete" run of gaps only.
    #[test]
    fn a_probe_of_gaps_only_is_noted() {
        let dir = reference_copy("complete");
        let run = load_run(dir.path()).unwrap();
        let row = |r: &InvocationRecord, quality| PairedRecord {
            workload: r.workload.clone(),
            input: r.input.clone(),
            runtime: r.runtime.clone(),
            mode: r.mode,
            iteration: r.iteration,
            sequence: r.sequence,
            count: 1,
            window_start_ns: r.start_ns,
            window_end_ns: r.end_ns,
            latency_ns: r.latency_ns as f64,
            probe: if quality == EnergyQuality::Gap { "rapl" } else { "model" }.into(),
            channel: "package-0".into(),
            gross_j: None,
            net_j: None,
            baseline_w: None,
            power_w: None,
            samples: 0,
            uncertainty_j: None,
            quality,
            estimated: false,
            scope: "machine".into(),
            busy_share: None,
            flag: None,
        };
        let mut writer = csv::Writer::from_path(dir.path().join(files::PAIRED)).unwrap();
        for r in &run.invocations {
            writer.serialize(row(r, EnergyQuality::Gap)).unwrap();
            writer.serialize(row(r, EnergyQuality::Ok)).unwrap();
        }
        writer.flush().unwrap();
        let run = load_run(dir.path()).unwrap();
        assert_eq!(run.notes.len(), 1, "{:?}", run.notes);
        // The same (sequence, probe, channel) twice is a repeated row; the other probe's row is not.
        let paired = dir.path().join(files::PAIRED);
        let text = std::fs::read_to_string(&paired).unwrap();
        let second = text.lines().nth(1).unwrap().to_owned();
        std::fs::write(&paired, format!("{text}{second}\n")).unwrap();
        let msg = load_error(dir.path());
        assert!(
            msg.contains("paired.csv:98:") && msg.contains("line 2 (same sequence, probe and channel)"),
            "{msg}"
        );
        std::fs::write(&paired, &text).unwrap();
        assert!(
            run.notes[0].contains("probe `rapl` produced no valid sample"),
            "{:?}",
            run.notes
        );
    }
}
