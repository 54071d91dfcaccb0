//! `container`: the workload's static executable in a Docker container (image `FROM scratch`, built locally by
//! [`docker_engine::ensure_image`]), driven through bollard.
//!
//! Cold: create + attach + start a container running `/workload --serve --once`, send the request on its stdin,
//! and read the response from its stdout: timed from the create call to the response. `compile` is the create
//! call (the engine preparing the container from the image), `startup` from there to the workload's `main`
//! (attach, start, runc), read on the container's CLOCK_MONOTONIC, which is the host's.
//! Warm: one container per workload running `/workload --serve`, requests over the attached stdin/stdout.
//!
//! Cleanup: containers are created with `AutoRemove` and `StdinOnce`, so a container whose harness went away
//! (even by SIGKILL: the attach connection closes, its stdin reaches EOF and the workload exits, even in the
//! middle of a computation) is removed by the engine; warm containers are removed on drop, a timed-out or
//! broken one at once; and [`docker_engine::sweep`] removes what a crashed run still left.
//!
//! A container that exits before it answers (killed, out of memory) is a failure at once, not at the deadline;
//! the engine's `oom` events (one stream per runtime) tell an out-of-memory kill from a `docker kill`.

use crate::artifacts::{ContainerImage, Guest, WorkloadArtifacts};
use crate::runtime::served::{Response, encode_request};
use crate::runtime::{Limits, Outcome, Runtime, ServedBy, SharedEngine, span};
use bollard::Docker;
use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, EventsOptionsBuilder, RemoveContainerOptionsBuilder, WaitContainerOptionsBuilder,
};
use docker_engine::MANAGED_LABEL;
use futures_util::{Stream, StreamExt};
use harness_data::{Mode, Phases, RuntimeKind, Status, Teardown};
use harness_probes::clock::monotonic_ns;
use harness_probes::model::ContainerLedger;
use std::collections::HashMap;
use std::collections::HashSet;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::task::JoinHandle;

mod command;
pub mod docker_engine;

type OutputStream = Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;

/// A started container with its attached streams.
struct Attached {
    id: String,
    input: Pin<Box<dyn AsyncWrite + Send>>,
    output: OutputStream,
    /// Resolves to the exit code once the container exits (set up before the start, so no exit is missed).
    exit: JoinHandle<Option<i64>>,
    /// What `exit` resolved to, once it did (a finished join handle is not polled again).
    exit_code: Option<Option<i64>>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

pub struct ContainerRuntime {
    rt: tokio::runtime::Runtime,
    docker: Docker,
    /// `harness.owner` and its namespace and boot labels (see [`docker_engine::owner_labels`]).
    owner: Vec<(String, String)>,
    timeout: Duration,
    /// Memory limit per container (`HARNESS_CONTAINER_MEMORY_MB`), none by default.
    memory_bytes: Option<i64>,
    warm: HashMap<&'static str, Attached>,
    /// Ids of this harness's containers the engine reported `oom` for (its events stream, read in the
    /// background whenever the runtime is driven).
    oom_killed: Arc<Mutex<HashSet<String>>>,
    /// Where every container this runtime starts is recorded, for a harness-scoped model probe.
    ledger: ContainerLedger,
    /// In an open cold window (`Some`): the cold containers that answered, kept serving idle (their stdin
    /// open) until the window closed, then removed.
    cold_window: Option<Vec<Attached>>,
}

/// Why a request to a container got no response.
enum Failure {
    Timeout,
    /// The attach stream ended or failed; the container's exit code is still to be waited for.
    Ended(String),
    /// The container exited (its exit code, if the engine said) before it answered.
    Exited(Option<i64>),
}

/// The accepted values of `HARNESS_CONTAINER_MEMORY_MB` (Docker's smallest cap is 6 MiB; 1 TiB is beyond any
/// machine this runs on and far from overflowing a byte count).
const MEMORY_MB_RANGE: std::ops::RangeInclusive<u64> = 6..=1 << 20;

/// A container memory cap in MiB as bytes, or an error naming `source` and the accepted range.
fn memory_cap_bytes(source: &str, value: &str) -> anyhow::Result<i64> {
    let mb = value
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|mb| MEMORY_MB_RANGE.contains(mb));
    match mb {
        Some(mb) => Ok((mb << 20) as i64),
        None => anyhow::bail!(
            "{source} is `{value}`, and it must be a whole number of MiB from {} to {}: set it to such a number, \
             or unset it for containers without a memory cap",
            MEMORY_MB_RANGE.start(),
            MEMORY_MB_RANGE.end()
        ),
    }
}

impl ContainerRuntime {
    /// Connects to the engine (a clear error if it is not there) and sweeps leftovers of crashed runs.
    pub fn new(limits: Limits, ledger: ContainerLedger) -> anyhow::Result<ContainerRuntime> {
        let rt = docker_engine::tokio_runtime()?;
        let docker = docker_engine::connect(&rt)?;
        let removed = docker_engine::sweep(&rt, &docker)?;
        if removed > 0 {
            eprintln!("removed {removed} container(s) left behind by an earlier harness run");
        }
        let owner = docker_engine::owner_labels();
        // The plan's `memory_mb` (load mode), else the environment's cap for every container.
        let memory_bytes = match (limits.memory_mb, std::env::var("HARNESS_CONTAINER_MEMORY_MB")) {
            (Some(mb), _) => Some(memory_cap_bytes("the plan's memory_mb", &mb.to_string())?),
            (None, Ok(value)) => Some(memory_cap_bytes("HARNESS_CONTAINER_MEMORY_MB", &value)?),
            (None, Err(std::env::VarError::NotPresent)) => None,
            (None, Err(e)) => anyhow::bail!("HARNESS_CONTAINER_MEMORY_MB: {e}"),
        };
        let oom_killed = Arc::new(Mutex::new(HashSet::new()));
        rt.spawn(watch_oom(docker.clone(), owner.clone(), Arc::clone(&oom_killed)));
        Ok(ContainerRuntime {
            rt,
            docker,
            owner,
            timeout: Duration::from_millis(limits.timeout_ms),
            memory_bytes,
            warm: HashMap::new(),
            cold_window: None,
            oom_killed,
            ledger,
        })
    }

    fn image(workload: &WorkloadArtifacts) -> Result<&ContainerImage, String> {
        workload.container_image.get().ok_or_else(|| {
            format!(
                "no container image for `{}`: `harness measure` builds it before measuring",
                workload.name
            )
        })
    }

    fn config(&self, image: &str, once: bool) -> ContainerCreateBody {
        let mut cmd = vec!["--serve".to_string()];
        if once {
            cmd.push("--once".into());
        }
        self.config_running(image, cmd, None)
    }

    /// A container of `image` running `cmd` (after `entrypoint`, else the image's), stdin attached.
    fn config_running(&self, image: &str, cmd: Vec<String>, entrypoint: Option<Vec<String>>) -> ContainerCreateBody {
        ContainerCreateBody {
            image: Some(image.to_string()),
            entrypoint,
            cmd: Some(cmd),
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            open_stdin: Some(true),
            stdin_once: Some(true),
            network_disabled: Some(true),
            labels: Some(
                std::iter::once((MANAGED_LABEL.to_string(), "true".to_string()))
                    .chain(self.owner.iter().cloned())
                    .collect(),
            ),
            host_config: Some(HostConfig {
                auto_remove: Some(true),
                network_mode: Some("none".into()),
                memory: self.memory_bytes,
                memory_swap: self.memory_bytes,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// Creates, attaches and starts a container; returns it and the clock reading when the create returned.
    fn start(&self, image: &str, once: bool) -> anyhow::Result<(Attached, u64)> {
        self.start_config(self.config(image, once))
    }

    fn start_config(&self, config: ContainerCreateBody) -> anyhow::Result<(Attached, u64)> {
        let docker = &self.docker;
        self.rt.block_on(async {
            let created = docker.create_container(None, config).await?;
            let created_ns = monotonic_ns();
            let id = created.id;
            // A harness-scoped model reads the container's cgroup.
            self.ledger.record(RuntimeKind::Container.as_str(), &id);
            let attach = AttachContainerOptionsBuilder::new()
                .stdin(true)
                .stdout(true)
                .stderr(true)
                .stream(true)
                .build();
            let attached = match docker.attach_container(&id, Some(attach)).await {
                Ok(a) => a,
                Err(e) => {
                    remove(docker, &id).await;
                    return Err(e.into());
                }
            };
            let waiter = docker.clone();
            let wait_id = id.clone();
            let exit = tokio::spawn(async move {
                let options = WaitContainerOptionsBuilder::new().condition("next-exit").build();
                match waiter.wait_container(&wait_id, Some(options)).next().await {
                    Some(Ok(r)) => Some(r.status_code),
                    Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Some(code),
                    _ => None,
                }
            });
            // Let the wait request reach the engine before the container can exit.
            tokio::task::yield_now().await;
            if let Err(e) = docker.start_container(&id, None).await {
                remove(docker, &id).await;
                return Err(e.into());
            }
            Ok((
                Attached {
                    id,
                    input: attached.input,
                    output: attached.output,
                    exit,
                    exit_code: None,
                    stdout: Vec::new(),
                    stderr: Vec::new(),
                },
                created_ns,
            ))
        })
    }

    /// Sends one request and reads its response, within the deadline. A container that exits first (killed,
    /// out of memory) ends the wait at once: its exit is not a timeout.
    fn exchange(&self, container: &mut Attached, input: &[u8]) -> (u64, Result<Response, Failure>, u64) {
        let frame = encode_request(input);
        let timeout = self.timeout;
        let sent_ns = monotonic_ns();
        let Attached {
            input: stdin,
            output,
            exit,
            stdout,
            stderr,
            exit_code,
            ..
        } = container;
        let result = self.rt.block_on(async {
            if let Err(e) = stdin.write_all(&frame).await {
                return Err(Failure::Ended(format!("writing the request: {e}")));
            }
            let _ = stdin.flush().await;
            let deadline = tokio::time::Instant::now() + timeout;
            // Once the container has exited, what it wrote before may still be on its way: a short grace.
            let mut exited_by: Option<tokio::time::Instant> = None;
            loop {
                if let Some((response, used)) = Response::parse(stdout) {
                    stdout.drain(..used);
                    return Ok(response);
                }
                let until = exited_by.unwrap_or(deadline).min(deadline);
                let next = async {
                    if exit_code.is_none() {
                        let both = futures_util::future::select(output.next(), &mut *exit).await;
                        match both {
                            futures_util::future::Either::Left((item, _)) => Some(item),
                            futures_util::future::Either::Right((code, _)) => {
                                *exit_code = Some(code.ok().flatten());
                                None
                            }
                        }
                    } else {
                        Some(output.next().await)
                    }
                };
                match tokio::time::timeout_at(until, next).await {
                    Err(_) => {
                        return Err(match exit_code {
                            Some(code) => Failure::Exited(*code),
                            None => Failure::Timeout,
                        });
                    }
                    Ok(None) => exited_by = Some(tokio::time::Instant::now() + EXIT_GRACE),
                    Ok(Some(Some(Ok(LogOutput::StdOut { message })))) => stdout.extend_from_slice(&message),
                    Ok(Some(Some(Ok(LogOutput::StdErr { message })))) => {
                        // Only the tail is kept, for error messages.
                        stderr.extend_from_slice(&message);
                        let excess = stderr.len().saturating_sub(4096);
                        stderr.drain(..excess);
                    }
                    Ok(Some(Some(Ok(_)))) => {}
                    Ok(Some(Some(Err(e)))) => return Err(Failure::Ended(format!("attach stream: {e}"))),
                    Ok(Some(None)) => {
                        return Err(match exit_code {
                            Some(code) => Failure::Exited(*code),
                            None => Failure::Ended(String::new()),
                        });
                    }
                }
            }
        });
        (sent_ns, result, monotonic_ns())
    }

    /// Whether the engine reported `container` out of memory. Its `oom` event precedes the exit, but the
    /// events stream is read only while the runtime is driven: give it a moment. The subscription itself may
    /// not be in place yet when a container dies within its first milliseconds (a fresh runtime's first cold
    /// start), so the container's own state (`State.OOMKilled`, which the engine sets from the same event
    /// whether or not anyone listens) is asked as well.
    fn was_oom_killed(&self, id: &str) -> bool {
        let seen = || self.oom_killed.lock().unwrap_or_else(|p| p.into_inner()).contains(id);
        self.rt.block_on(async {
            for _ in 0..50 {
                if seen() {
                    return true;
                }
                if self
                    .docker
                    .inspect_container(id, None::<bollard::query_parameters::InspectContainerOptions>)
                    .await
                    .ok()
                    .and_then(|c| c.state)
                    .and_then(|state| state.oom_killed)
                    == Some(true)
                {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            seen()
        })
    }

    /// The outcome of a request that got no response; the container is removed (it is gone or useless).
    fn failed(&self, container: Attached, phases: Phases, failure: Failure) -> Outcome {
        let docker = &self.docker;
        let (status, message) = match failure {
            Failure::Timeout => {
                self.rt.block_on(remove(docker, &container.id));
                container.exit.abort();
                (
                    Status::Timeout,
                    format!("container stopped after the {} ms deadline", self.timeout.as_millis()),
                )
            }
            Failure::Ended(_) | Failure::Exited(_) => {
                let (code, detail) = match failure {
                    Failure::Exited(code) => (code, String::new()),
                    Failure::Ended(detail) => {
                        let code = container.exit_code.flatten().or_else(|| {
                            self.rt.block_on(async {
                                tokio::time::timeout(Duration::from_secs(5), container.exit)
                                    .await
                                    .ok()
                                    .and_then(|r| r.ok())
                                    .flatten()
                            })
                        });
                        (code, detail)
                    }
                    Failure::Timeout => unreachable!("handled above"),
                };
                let oom = code == Some(137) && self.was_oom_killed(&container.id);
                self.rt.block_on(remove(docker, &container.id));
                let why = match (code, self.memory_bytes) {
                    (Some(137), Some(cap)) if oom => format!(
                        "exit code 137: out of memory, killed by the kernel's OOM killer at the {} MiB cap (the \
                         engine reported oom)",
                        cap >> 20
                    ),
                    (Some(137), None) if oom => {
                        "exit code 137: out of memory, killed by the kernel's OOM killer (the engine reported oom)"
                            .to_string()
                    }
                    (Some(137), _) => "exit code 137: killed by SIGKILL (`docker kill`, or the kernel)".to_string(),
                    (Some(c), _) => format!("exit code {c}"),
                    (None, _) => "exit code unknown".to_string(),
                };
                let stderr = String::from_utf8_lossy(&container.stderr);
                let stderr = stderr.trim();
                (
                    Status::Trap,
                    format!("container ended without answering ({why}) {detail} {stderr}")
                        .trim()
                        .to_string(),
                )
            }
        };
        Outcome::failed(phases, status, message)
    }

    fn cold(&mut self, workload: &WorkloadArtifacts, input: &[u8]) -> Outcome {
        let image = match Self::image(workload) {
            Ok(i) => i.tag.clone(),
            Err(e) => return Outcome::failed(Phases::default(), Status::Error, e),
        };
        let t_create = monotonic_ns();
        // In a cold window the container is not told to exit after its answer (`--once`): it waits, idle,
        // for its removal after the window.
        let once = self.cold_window.is_none();
        let (mut container, created_ns) = match self.start(&image, once) {
            Ok(c) => c,
            Err(e) => {
                return Outcome::failed(
                    Phases::default(),
                    Status::Error,
                    format!("starting a container of {image}: {e:#}"),
                );
            }
        };
        let (sent_ns, result, answered_ns) = self.exchange(&mut container, input);
        match result {
            Ok(response) => {
                // The container exits after its one answer and the engine removes it (AutoRemove). Measured
                // alone, its exit is part of the invocation: waited for here, so the engine's work lands in
                // this window. In a cold window both come after the window.
                if let Some(kept) = &mut self.cold_window {
                    kept.push(container);
                } else if container.exit_code.is_none() {
                    let exit = container.exit;
                    let wait = self.timeout;
                    self.rt.block_on(async {
                        let _ = tokio::time::timeout(wait, exit).await;
                    });
                }
                let main_ns = response.main_ns;
                let mut outcome = response.outcome(Some(t_create), sent_ns, answered_ns, false);
                outcome.phases.compile_ns = span(t_create, created_ns);
                outcome.phases.startup_ns = span(created_ns, main_ns);
                outcome
            }
            Err(failure) => {
                let phases = Phases {
                    compile_ns: span(t_create, created_ns),
                    ..Default::default()
                };
                self.failed(container, phases, failure)
            }
        }
    }

    fn warm(&mut self, workload: &WorkloadArtifacts, input: &[u8]) -> Outcome {
        if !self.warm.contains_key(workload.name)
            && let Err(e) = self.prepare_warm(workload)
        {
            return Outcome::failed(Phases::default(), Status::Error, format!("{e:#}"));
        }
        let mut container = self.warm.remove(workload.name).expect("prepared above");
        let (sent_ns, result, answered_ns) = self.exchange(&mut container, input);
        match result {
            Ok(response) => {
                self.warm.insert(workload.name, container);
                response.outcome(None, sent_ns, answered_ns, false)
            }
            // A fresh container now, inside this failed invocation, so later ones do not pay for it.
            Err(failure) => {
                let outcome = self.failed(container, Phases::default(), failure);
                let _ = self.prepare_warm(workload);
                outcome
            }
        }
    }
}

/// How long a response may still arrive on the attach stream after the container's exit was seen.
const EXIT_GRACE: Duration = Duration::from_millis(500);

/// Collects the ids of the containers with the `owner` labels that the engine reports `oom` for, resubscribing
/// if the stream ends.
async fn watch_oom(docker: Docker, owner: Vec<(String, String)>, oom_killed: Arc<Mutex<HashSet<String>>>) {
    let filters = HashMap::from([
        ("type", vec!["container".to_string()]),
        ("event", vec!["oom".to_string()]),
        ("label", owner.iter().map(|(k, v)| format!("{k}={v}")).collect()),
    ]);
    loop {
        let options = EventsOptionsBuilder::new().filters(&filters).build();
        let mut events = docker.events(Some(options));
        while let Some(Ok(event)) = events.next().await {
            if let Some(id) = event.actor.and_then(|a| a.id) {
                oom_killed.lock().unwrap_or_else(|p| p.into_inner()).insert(id);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn remove(docker: &Docker, id: &str) {
    let force = RemoveContainerOptionsBuilder::new().force(true).build();
    let _ = docker.remove_container(id, Some(force)).await;
}

impl Runtime for ContainerRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Container
    }

    fn prepare_warm(&mut self, workload: &WorkloadArtifacts) -> anyhow::Result<()> {
        if let Some(old) = self.warm.remove(workload.name) {
            self.rt.block_on(remove(&self.docker, &old.id));
        }
        let image = Self::image(workload).map_err(anyhow::Error::msg)?.tag.clone();
        let (container, _) = match &workload.guest {
            Guest::Command(_) => self.start_config(command::keepalive_config(self, &image))?,
            Guest::Builtin(_) => self.start(&image, false)?,
        };
        self.warm.insert(workload.name, container);
        Ok(())
    }

    fn invoke(&mut self, mode: Mode, workload: &WorkloadArtifacts, input: &[u8]) -> Outcome {
        match (&workload.guest, mode) {
            (Guest::Command(wasi), Mode::Cold) => command::cold(self, workload, wasi, input),
            (Guest::Command(wasi), Mode::Warm) => command::warm(self, workload, wasi, input),
            (Guest::Builtin(_), Mode::Cold) => self.cold(workload, input),
            (Guest::Builtin(_), Mode::Warm) => self.warm(workload, input),
        }
    }

    fn served_by(&self) -> Vec<ServedBy> {
        self.warm.values().map(|c| ServedBy::Container(c.id.clone())).collect()
    }

    fn shared_engine(&mut self) -> Option<&mut dyn SharedEngine> {
        // Each instance is its own container, already idle between requests.
        None
    }

    fn defer_teardown(&mut self, workload: &WorkloadArtifacts) -> (Teardown, &'static str) {
        match workload.guest {
            // A command ends with its exit (its exit code is part of the outcome); AutoRemove follows it.
            Guest::Command(_) => (
                Teardown::InWindow,
                "in the window: each command container's exit (its exit code ends the invocation) and the \
                 engine's removal of it",
            ),
            Guest::Builtin(_) => {
                self.cold_window = Some(Vec::new());
                (
                    Teardown::Deferred,
                    "deferred: each cold container answers and then idles (no --once); it is stopped and removed \
                     after the window",
                )
            }
        }
    }

    fn finish_teardown(&mut self) {
        let kept = self.cold_window.take().unwrap_or_default();
        for container in &kept {
            container.exit.abort();
        }
        let docker = &self.docker;
        self.rt.block_on(futures_util::future::join_all(
            kept.iter().map(|c| remove(docker, &c.id)),
        ));
    }
}

impl Drop for ContainerRuntime {
    fn drop(&mut self) {
        self.finish_teardown();
        for (_, container) in self.warm.drain() {
            container.exit.abort();
            self.rt.block_on(remove(&self.docker, &container.id));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_caps_parse_strictly() {
        assert_eq!(super::memory_cap_bytes("X", "32").unwrap(), 32 << 20);
        for bad in ["lots", "", "-5", "0", "5", "99999999999999999999", "2000000"] {
            let err = super::memory_cap_bytes("HARNESS_CONTAINER_MEMORY_MB", bad)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("HARNESS_CONTAINER_MEMORY_MB") && err.contains("from 6 to 1048576"),
                "{bad}: {err}"
            );
        }
    }
}
