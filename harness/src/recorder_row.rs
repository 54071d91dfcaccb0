//! One `invocations.csv` row as the writer formats it, and the digests it does not compute twice.
//!
//! Rows are formatted by hand rather than field by field through a CSV writer: numbers and fixed words need no
//! quoting, and a cell's four text fields are quoted once per cell ([`cell_prefix`]). The writer thread shares
//! the machine with the measurement (on a 2-core machine, the other core), and its CPU per row is what it takes
//! from it.

use super::{CellLabel, Measured};

/// The most output bytes of one invocation [`Digests`] keeps to compare the next output with.
const COMPARED_OUTPUT: usize = 64 << 10;

/// The cell's four leading fields (workload, input, runtime, mode), CSV-quoted where they need it, each followed
/// by its comma.
pub(super) fn cell_prefix(label: &CellLabel) -> Vec<u8> {
    let mut prefix = Vec::new();
    for text in [&label.key.workload, &label.key.input, &label.key.runtime] {
        prefix.extend_from_slice(&csv_field(text));
        prefix.push(b',');
    }
    prefix.extend_from_slice(label.key.mode.as_str().as_bytes());
    prefix.push(b',');
    prefix
}

/// `text` as one field among others, quoted (its quotes doubled) where it needs it, as the csv crate writes it.
fn csv_field(text: &str) -> Vec<u8> {
    if text.is_empty() {
        // Only a record of one empty field is written as `""`; among others, an empty field is nothing.
        return Vec::new();
    }
    let mut writer = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    // A whole record, so a quoted field gets its closing quote; into memory, nothing can fail.
    let _ = writer.write_record([text]);
    let mut field = writer.into_inner().unwrap_or_default();
    field.pop();
    field
}

impl Measured {
    /// Appends this invocation as one whole row, in [`harness_data::InvocationRecord::COLUMNS`] order, after
    /// its cell's `prefix`.
    pub(super) fn write_row(&self, out: &mut Vec<u8>, prefix: &[u8], digest: &str) {
        let mut numbers = itoa::Buffer::new();
        let mut number = |out: &mut Vec<u8>, n: Option<u64>| {
            if let Some(n) = n {
                out.extend_from_slice(numbers.format(n).as_bytes());
            }
            out.push(b',');
        };
        let phases = &self.outcome.phases;
        out.extend_from_slice(prefix);
        number(out, Some(u64::from(self.slot.iteration)));
        out.extend_from_slice(if self.slot.warmup { b"true," } else { b"false," });
        number(out, Some(self.slot.sequence));
        number(out, self.slot.batch);
        number(out, Some(self.start_ns));
        number(out, Some(self.end_ns));
        number(out, Some(self.end_ns.saturating_sub(self.start_ns)));
        for phase in [
            phases.startup_ns,
            phases.compile_ns,
            phases.instantiate_ns,
            phases.input_ns,
            phases.execute_ns,
            phases.output_ns,
        ] {
            number(out, phase);
        }
        number(out, Some(self.input_bytes));
        number(out, Some(self.outcome.output.len() as u64));
        out.extend_from_slice(self.outcome.status().as_str().as_bytes());
        out.push(b',');
        out.extend_from_slice(digest.as_bytes());
        out.push(b',');
        if !self.outcome.error.is_empty() {
            out.extend_from_slice(&csv_field(&self.outcome.error));
        }
        out.push(b'\n');
    }
}

/// The last output of each digest group and its digest: an output equal to it has that digest without being
/// hashed again (a memory compare instead of SHA-256: the outputs of a group must all be equal anyway, and a
/// warm noop's row took a quarter of the writer's CPU to hash).
#[derive(Default)]
pub(super) struct Digests {
    last: Vec<Option<Last>>,
}

struct Last {
    /// `None` for an output over [`COMPARED_OUTPUT`], which is hashed every time.
    output: Option<Vec<u8>>,
    digest: String,
}

impl Digests {
    /// Whether `output` is the last output of `group`, whose digest [`Digests::last`] gives.
    pub(super) fn is_last(&self, group: usize, output: &[u8]) -> bool {
        matches!(self.last.get(group), Some(Some(Last { output: Some(last), .. })) if last == output)
    }

    /// Keeps `output` (if small enough) and its `digest` as `group`'s last.
    pub(super) fn keep(&mut self, group: usize, output: &[u8], digest: String) {
        if self.last.len() <= group {
            self.last.resize_with(group + 1, || None);
        }
        let output = (output.len() <= COMPARED_OUTPUT).then(|| output.to_vec());
        self.last[group] = Some(Last { output, digest });
    }

    /// The digest of `group`'s last output (empty before the first).
    pub(super) fn last(&self, group: usize) -> &str {
        match self.last.get(group) {
            Some(Some(last)) => &last.digest,
            _ => "",
        }
    }
}

/// `usage.csv`: each process's usage (`harness run`), by `sequence`, created with the first row that has one
/// and written with the rows of `invocations.csv`, whole rows only.
pub(super) struct UsageFile {
    path: std::path::PathBuf,
    file: Option<super::RowFile>,
    rows: Vec<u8>,
}

impl UsageFile {
    pub(super) fn new(path: std::path::PathBuf) -> UsageFile {
        UsageFile {
            path,
            file: None,
            rows: Vec::new(),
        }
    }

    pub(super) fn push(&mut self, sequence: u64, usage: &harness_data::ProcessUsage) {
        let mut numbers = itoa::Buffer::new();
        for n in [sequence, usage.user_ns, usage.sys_ns, usage.max_rss_bytes] {
            self.rows.extend_from_slice(numbers.format(n).as_bytes());
            self.rows.push(b',');
        }
        if let Some(code) = usage.exit_code {
            self.rows.extend_from_slice(numbers.format(code).as_bytes());
        }
        self.rows.push(b',');
        if let Some(signal) = usage.signal {
            self.rows.extend_from_slice(numbers.format(signal).as_bytes());
        }
        self.rows.push(b'\n');
    }

    /// Appends the rows pushed since the last write; an error names the file.
    pub(super) fn write(&mut self) -> Result<(), String> {
        use super::Sink;
        if self.rows.is_empty() {
            return Ok(());
        }
        if self.file.is_none() {
            let mut file = std::fs::File::create(&self.path)
                .map(super::RowFile::new)
                .map_err(|e| format!("creating {}: {e}", self.path.display()))?;
            let header = format!("{}\n", harness_data::UsageRecord::COLUMNS.join(","));
            file.append(header.as_bytes())
                .map_err(|e| format!("writing {}: {e}", self.path.display()))?;
            self.file = Some(file);
        }
        let file = self.file.as_mut().expect("created above");
        let written = file.append(&self.rows);
        self.rows.clear();
        written.map_err(|e| format!("writing {}: {e}", self.path.display()))
    }
}
