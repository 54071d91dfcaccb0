//! Claiming a run directory: one `harness measure` per folder, and never into an older run's files.
//!
//! The claim is a file created with `O_EXCL` in a new or empty folder, so of two runs started into the same
//! `--out` exactly one proceeds; a folder with anything else in it (an older run's samples.csv or paired.csv)
//! is refused, as its files would be taken for this run's. The claim file also holds back a little disk space,
//! given back before the last manifest is written, so a run stopped by a full disk can still say so.

use anyhow::{Context, bail};
use std::io::Write;
use std::path::Path;

/// The claim file, kept in the run directory (empty once the run is closed).
pub const CLAIM: &str = ".harness-run";

/// Space the claim holds back for the final manifest and the last rows' bookkeeping on a full disk.
const RESERVE_BYTES: usize = 1 << 20;

/// Fails early, before any preparation, when `out` cannot hold a new run. [`claim`] decides for certain.
pub fn check_free(out: &Path) -> anyhow::Result<()> {
    match std::fs::read_dir(out) {
        Ok(entries) => refuse_if_used(out, entries.filter_map(Result::ok).map(|e| e.file_name())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            bail!("{} is a file, not a run directory: choose another --out", out.display())
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", out.display())),
    }
}

/// Creates `out` (or takes it if it is an empty folder) for this run alone, atomically.
pub fn claim(out: &Path) -> anyhow::Result<()> {
    match std::fs::create_dir_all(out) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("creating {}", out.display())),
    }
    let path = out.join(CLAIM);
    let mut file = match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!(
            "{} already holds a run, or another `harness measure` is writing into it: choose another --out, or delete the folder once no run writes into it",
            out.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("claiming {} for this run", out.display())),
    };
    // The claim is ours; anything else in the folder was there before, so release it and refuse.
    let others = std::fs::read_dir(out)
        .with_context(|| format!("reading {}", out.display()))?
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .filter(|name| name != CLAIM);
    if let Err(e) = refuse_if_used(out, others) {
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    if let Err(e) = file.write_all(&vec![0u8; RESERVE_BYTES]).and_then(|()| file.sync_all()) {
        let _ = std::fs::remove_file(&path);
        return Err(e).with_context(|| {
            format!(
                "{}: less than {} KiB free: free some space, or choose another --out",
                out.display(),
                RESERVE_BYTES >> 10
            )
        });
    }
    Ok(())
}

/// Gives the held-back space back (the claim itself stays), before the run's last writes.
pub fn release_reserve(out: &Path) {
    if let Ok(file) = std::fs::OpenOptions::new().write(true).open(out.join(CLAIM)) {
        let _ = file.set_len(0);
    }
}

fn refuse_if_used(out: &Path, names: impl Iterator<Item = std::ffi::OsString>) -> anyhow::Result<()> {
    let mut names: Vec<String> = names.map(|n| n.to_string_lossy().into_owned()).collect();
    if names.is_empty() {
        return Ok(());
    }
    names.sort();
    if names.iter().any(|n| n == CLAIM || n == harness_data::files::MANIFEST) {
        bail!(
            "{} already holds a run: choose another --out, or delete it first",
            out.display()
        );
    }
    let shown = names.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
    bail!(
        "{} is not empty (it holds {shown}{}): a run needs a new or empty folder, so that no older file is taken for this run's; choose another --out, or empty it first",
        out.display(),
        if names.len() > 3 { ", ..." } else { "" }
    )
}
