//! One module per subcommand, each with its clap `Args` struct and a `run` that returns an [`Outcome`].
//!
//! `bench`, `bench-energy` and `fit-model` keep their `Args` and `run` in the library
//! (`harness::bench`, `harness::bench_energy`, `harness::fit_model`); `main.rs` dispatches to them directly.
//!
//! The exit-code policy lives here, and only here:
//!
//! | code | when |
//! |---|---|
//! | 0 | the subcommand completed ([`Outcome::Complete`]) |
//! | 1 | it failed: `run` returned an error, printed as `Error: {err:?}` (the cause chain) on stderr |
//! | 2 | the command line did not parse (clap's own exit, before any subcommand runs) |
//! | 130 | `measure` was interrupted by Ctrl-C (SIGINT) and wrote a partial run ([`Outcome::Interrupted`]); a second signal exits at once |
//! | 143 | the same for SIGTERM (what `timeout`, systemd and CI send) |
//! | 129 | the same for SIGHUP (the terminal closed) |

mod child_engine;
pub mod export;
pub mod invoke_once;
pub mod measure;
pub mod pair;
pub mod probes;
pub mod report;
pub mod run;
pub mod serve_wasm;
pub mod workloads;

use std::process::ExitCode;

/// How a subcommand that did not fail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything asked for was done.
    Complete,
    /// Stopped early by Ctrl-C, SIGTERM or SIGHUP; what was measured is on disk.
    Interrupted,
}

/// The word that opens a run's closing line.
fn status_word(status: harness_data::RunStatus) -> &'static str {
    match status {
        harness_data::RunStatus::Complete => "complete",
        harness_data::RunStatus::Partial => "partial",
        harness_data::RunStatus::Failed => "FAILED",
    }
}

/// The precision rounds' summary of the run in `out`, on stderr, where it had a precision target.
fn print_precision(out: &std::path::Path) {
    if let Ok(manifest) = harness_analysis::run::read_manifest(out)
        && let Some(precision) = &manifest.precision
    {
        eprintln!("{}", harness::glance::precision_summary(precision));
    }
}

/// How a measuring subcommand ends: a partial run says why and exits with its signal's code, a failed one
/// is an error.
fn run_outcome(status: harness_data::RunStatus, reason: Option<String>) -> anyhow::Result<Outcome> {
    match status {
        harness_data::RunStatus::Complete => Ok(Outcome::Complete),
        harness_data::RunStatus::Partial => {
            eprintln!("{}", reason.unwrap_or_default());
            Ok(Outcome::Interrupted)
        }
        harness_data::RunStatus::Failed => anyhow::bail!("{}", reason.unwrap_or_default()),
    }
}

impl From<()> for Outcome {
    /// A subcommand that returns nothing on success completed.
    fn from((): ()) -> Self {
        Outcome::Complete
    }
}

/// The process exit code of a subcommand's result (see the table above). An error is printed to stderr here,
/// in the same form Rust's `main() -> Result` prints it.
pub fn exit_code(result: anyhow::Result<Outcome>) -> ExitCode {
    match result {
        Ok(Outcome::Complete) => ExitCode::SUCCESS,
        // 128 + the signal, as a shell reports a process the signal killed.
        Ok(Outcome::Interrupted) => ExitCode::from(harness::stop_signals::exit_code(
            harness::stop_signals::received().unwrap_or(libc::SIGINT),
        )),
        Err(err) => {
            eprintln!("Error: {}", user_message(&err));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes as anyhow's `{:?}` writes them, without the stack backtrace `{:?}` adds where
/// RUST_BACKTRACE is set: a user's error is a message, never a backtrace.
fn user_message(err: &anyhow::Error) -> String {
    let mut text = err.to_string();
    let causes: Vec<String> = err.chain().skip(1).map(ToString::to_string).collect();
    match causes.as_slice() {
        [] => {}
        [only] => text.push_str(&format!("\n\nCaused by:\n    {only}")),
        many => {
            text.push_str("\n\nCaused by:");
            for (i, cause) in many.iter().enumerate() {
                text.push_str(&format!("\n    {i}: {cause}"));
            }
        }
    }
    text
}

/// Load run directories for `report` and `export`; a run given twice is refused, and so are runs of one plan
/// that disagree on a digest (naming both devices).
fn load_runs(dirs: &[std::path::PathBuf]) -> anyhow::Result<Vec<harness_analysis::run::Run>> {
    let runs = dirs
        .iter()
        .map(|dir| harness_analysis::run::read_run(dir).map_err(anyhow::Error::from))
        .collect::<anyhow::Result<Vec<_>>>()?;
    harness_analysis::export::check_distinct_runs(&runs)?;
    harness_analysis::digests::check_digests_agree(&runs)?;
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::user_message;

    #[test]
    fn a_user_error_is_its_message_and_causes_never_a_backtrace() {
        // SAFETY: the only test of this binary's unit tests that reads the environment.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "1") };
        let err = anyhow::anyhow!("no such file").context("reading plans/x.toml");
        assert_eq!(
            user_message(&err),
            "reading plans/x.toml\n\nCaused by:\n    no such file"
        );
        let err = err.context("measuring");
        assert_eq!(
            user_message(&err),
            "measuring\n\nCaused by:\n    0: reading plans/x.toml\n    1: no such file"
        );
        assert_eq!(user_message(&anyhow::anyhow!("bad plan")), "bad plan");
    }
}
