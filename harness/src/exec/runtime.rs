//! A command as a runtime of the run: every invocation a cold start of its process, the hooks run untimed
//! around it, a failure that hyperfine would stop on kept as a row and then stopping the run.

use super::process::{self, Finished, RunSettings};
use super::spec::BenchCommand;
use crate::artifacts::WorkloadArtifacts;
use crate::runtime::{Outcome, Runtime, ServedBy, SharedEngine};
use harness_data::{Mode, Phases, RuntimeKind, Status, Teardown};
use std::sync::Arc;

pub struct CommandRuntime {
    command: BenchCommand,
    argv: Vec<String>,
    settings: Arc<RunSettings>,
    ignore_failure: bool,
    set_up: bool,
    /// Why the run must stop (a failed run without `-i`, a failed hook), once it happened.
    failure: Option<String>,
}

impl CommandRuntime {
    /// The command ready to run; an error says why its line cannot be run at all.
    pub fn new(command: BenchCommand, settings: Arc<RunSettings>, ignore_failure: bool) -> Result<Self, String> {
        let argv = settings.shell.argv(&command.command)?;
        for hook in [
            &command.hooks.setup,
            &command.hooks.prepare,
            &command.hooks.conclude,
            &command.hooks.cleanup,
        ]
        .into_iter()
        .flatten()
        {
            settings.shell.argv(hook)?;
        }
        Ok(CommandRuntime {
            command,
            argv,
            settings,
            ignore_failure,
            set_up: false,
            failure: None,
        })
    }

    pub fn command(&self) -> &BenchCommand {
        &self.command
    }

    /// `--setup` (the first time) and `--prepare`.
    fn hooks_before(&mut self) {
        if !self.set_up {
            self.set_up = true;
            self.hook("setup", self.command.hooks.setup.clone());
        }
        self.hook("prepare", self.command.hooks.prepare.clone());
    }

    /// One run outside the recorder (the run count's estimate), with its hooks; its wall time.
    pub fn trial(&mut self) -> Result<std::time::Duration, String> {
        self.hooks_before();
        if let Some(why) = &self.failure {
            return Err(why.clone());
        }
        let start = std::time::Instant::now();
        let outcome = self.run();
        let elapsed = start.elapsed();
        self.after_slot();
        match (outcome.status(), &self.failure) {
            (_, Some(why)) => Err(why.clone()),
            (Status::Ok, None) => Ok(elapsed),
            (_, None) => Err(outcome.error),
        }
    }

    /// A hook, untimed: its failure stops the run, as hyperfine stops.
    fn hook(&mut self, which: &str, line: Option<String>) {
        let Some(line) = line else { return };
        if self.failure.is_some() {
            return;
        }
        let settings = RunSettings {
            input: None,
            stop_on_signal: false,
            ..(*self.settings).clone()
        };
        let result = self
            .settings
            .shell
            .argv(&line)
            .map_err(|e| e.to_string())
            .and_then(|argv| process::run_once(&argv, &settings).map_err(|e| format!("cannot start it: {e}")));
        let why = match result {
            Ok(f) if f.success() => return,
            Ok(f) if f.timed_out => "was killed at the --timeout".to_string(),
            Ok(f) => format!("ended with {}", f.describe()),
            Err(e) => e,
        };
        self.failure = Some(format!(
            "the {which} command `{line}` of `{}` {why}; append ` || true` to it if that can be ignored",
            self.command.name
        ));
    }

    fn run(&mut self) -> Outcome {
        let finished = match process::run_once(&self.argv, &self.settings) {
            Ok(finished) => finished,
            Err(e) => {
                let why = if e.kind() == std::io::ErrorKind::NotFound && !self.argv.is_empty() {
                    format!("cannot start `{}`: it was not found (is it on PATH?)", self.argv[0])
                } else {
                    format!("cannot start `{}`: {e}", self.command.command)
                };
                self.failure = Some(why.clone());
                return Outcome::failed(Phases::default(), Status::Error, why);
            }
        };
        let mut outcome = self.judge(&finished);
        outcome.usage = Some(finished.usage);
        outcome
    }

    /// The run's status: hyperfine counts every exit with `-i`; a deadline or a stop never counts.
    fn judge(&mut self, finished: &Finished) -> Outcome {
        let name = &self.command.name;
        if finished.stopped {
            return Outcome::failed(
                Phases::default(),
                Status::Error,
                "killed: the harness was asked to stop during this run",
            );
        }
        if finished.timed_out {
            let why = format!(
                "killed at the --timeout of {:.3} s",
                self.settings.timeout.unwrap_or_default().as_secs_f64()
            );
            if !self.ignore_failure {
                self.failure = Some(format!(
                    "`{name}` ran past the --timeout and was killed (with every process it started): raise \
                     --timeout, or add -i/--ignore-failure to record such runs as timeouts and go on"
                ));
            }
            return Outcome::failed(Phases::default(), Status::Timeout, why);
        }
        if finished.success() || self.ignore_failure {
            return Outcome::ok(Phases::default(), Vec::new());
        }
        let how = finished.describe();
        let ended = match finished.usage.exit_code {
            Some(_) => format!("terminated with {how}"),
            None => format!("was {how}"),
        };
        let hint = if finished.usage.exit_code == Some(127) && matches!(self.settings.shell, process::Shell::Program(_))
        {
            " (the shell's code for a command it could not find)"
        } else {
            ""
        };
        self.failure = Some(format!(
            "`{name}` {ended}{hint}: use -i/--ignore-failure to measure it anyway, or --show-output to see what went \
             wrong"
        ));
        let status = if finished.usage.signal.is_some() {
            Status::Trap
        } else {
            Status::Error
        };
        Outcome::failed(Phases::default(), status, how)
    }
}

impl Runtime for CommandRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Exec
    }

    fn prepare_warm(&mut self, _: &WorkloadArtifacts) -> anyhow::Result<()> {
        anyhow::bail!("a command has no warm invocations: every run is a fresh process")
    }

    fn invoke(&mut self, _mode: Mode, _: &WorkloadArtifacts, _input: &[u8]) -> Outcome {
        self.run()
    }

    fn served_by(&self) -> Vec<ServedBy> {
        Vec::new()
    }

    fn shared_engine(&mut self) -> Option<&mut dyn SharedEngine> {
        None
    }

    fn defer_teardown(&mut self, _: &WorkloadArtifacts) -> (Teardown, &'static str) {
        (
            Teardown::InWindow,
            "each run is a whole process, its exit inside the window (as hyperfine times it)",
        )
    }

    fn finish_teardown(&mut self) {}

    fn before_slot(&mut self, _: &WorkloadArtifacts) {
        self.hooks_before();
    }

    fn after_slot(&mut self) {
        self.hook("conclude", self.command.hooks.conclude.clone());
    }

    fn batchable(&self) -> bool {
        !self.command.hooks.between_runs()
    }

    fn failure(&self) -> Option<String> {
        self.failure.clone()
    }

    fn close(&mut self) -> Option<String> {
        if !self.set_up {
            return None;
        }
        // Cleanup runs after a failure too: what the setup made is undone either way.
        let before = self.failure.take();
        self.hook("cleanup", self.command.hooks.cleanup.clone());
        let failed = self.failure.take();
        self.failure = before.or_else(|| failed.clone());
        failed
    }
}
