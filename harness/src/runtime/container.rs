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
//! (even by SIGKILL: the attach connection closes, its stdin reaches EOF and the serve loop exits) is removed by
//! the engine; warm containers are removed on drop, a timed-out or broken one at once; and
//! [`docker_engine::sweep`] removes what a crashed run still left.

use super::docker_engine::{self, MANAGED_LABEL, OWNER_LABEL};
use super::served::{Response, encode_request};
use super::{Limits, Outcome, Runtime, ServedBy, span};
use crate::artifacts::ContainerImage;
use crate::artifacts::WorkloadArtifacts;
use bollard::Docker;
use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, RemoveContainerOptionsBuilder, WaitContainerOptionsBuilder,
};
use futures_util::{Stream, StreamExt};
use harness_data::{Mode, Phases, RuntimeKind, Status};
use harness_probes::clock::monotonic_ns;
use std::collections::HashMap;
use std::pin::Pin;
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::task::JoinHandle;

type OutputStream = Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;

/// A started container with its attached streams.
struct Attached {
    id: String,
    input: Pin<Box<dyn AsyncWrite + Send>>,
    output: OutputStream,
    /// Resolves to the exit code once the container exits (set up before the start, so no exit is missed).
    exit: JoinHandle<Option<i64>>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

pub struct ContainerRuntime {
    rt: tokio::runtime::Runtime,
    docker: Docker,
    owner: String,
    timeout: Duration,
    /// Memory limit per container (`HARNESS_CONTAINER_MEMORY_MB`), none by default.
    memory_bytes: Option<i64>,
    warm: HashMap<&'static str, Attached>,
}

/// Why a request to a container got no response.
enum Failure {
    Timeout,
    Ended(String),
}

impl ContainerRuntime {
    /// Connects to the engine (a clear error if it is not there) and sweeps leftovers of crashed runs.
    pub fn new(limits: Limits) -> anyhow::Result<ContainerRuntime> {
        let rt = docker_engine::tokio_runtime()?;
        let docker = docker_engine::connect(&rt)?;
        let removed = docker_engine::sweep(&rt, &docker)?;
        if removed > 0 {
            eprintln!("removed {removed} container(s) left behind by an earlier harness run");
        }
        let owner = docker_engine::owner_id(std::process::id()).unwrap_or_else(|| format!("{}:0", std::process::id()));
        // The plan's `memory_mb` (load mode), else the environment's cap for every container.
        let memory_bytes = limits
            .memory_mb
            .map(|mb| mb as i64)
            .or_else(|| {
                std::env::var("HARNESS_CONTAINER_MEMORY_MB")
                    .ok()
                    .and_then(|v| v.parse::<i64>().ok())
            })
            .map(|mb| mb << 20);
        Ok(ContainerRuntime {
            rt,
            docker,
            owner,
            timeout: Duration::from_millis(limits.timeout_ms),
            memory_bytes,
            warm: HashMap::new(),
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
        ContainerCreateBody {
            image: Some(image.to_string()),
            cmd: Some(cmd),
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            open_stdin: Some(true),
            stdin_once: Some(true),
            network_disabled: Some(true),
            labels: Some(HashMap::from([
                (MANAGED_LABEL.to_string(), "true".to_string()),
                (OWNER_LABEL.to_string(), self.owner.clone()),
            ])),
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
        let docker = &self.docker;
        let config = self.config(image, once);
        self.rt.block_on(async {
            let created = docker.create_container(None, config).await?;
            let created_ns = monotonic_ns();
            let id = created.id;
            // A harness-scoped model reads the container's cgroup.
            harness_probes::model::register_container(RuntimeKind::Container.as_str(), &id);
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
                    stdout: Vec::new(),
                    stderr: Vec::new(),
                },
                created_ns,
            ))
        })
    }

    /// Sends one request and reads its response, within the deadline.
    fn exchange(&self, container: &mut Attached, input: &[u8]) -> (u64, Result<Response, Failure>, u64) {
        let frame = encode_request(input);
        let timeout = self.timeout;
        let sent_ns = monotonic_ns();
        let result = self.rt.block_on(async {
            let talk = async {
                if let Err(e) = container.input.write_all(&frame).await {
                    return Err(Failure::Ended(format!("writing the request: {e}")));
                }
                let _ = container.input.flush().await;
                loop {
                    if let Some((response, used)) = Response::parse(&container.stdout) {
                        container.stdout.drain(..used);
                        return Ok(response);
                    }
                    match container.output.next().await {
                        Some(Ok(LogOutput::StdOut { message })) => container.stdout.extend_from_slice(&message),
                        Some(Ok(LogOutput::StdErr { message })) => {
                            // Only the tail is kept, for error messages.
                            container.stderr.extend_from_slice(&message);
                            let excess = container.stderr.len().saturating_sub(4096);
                            container.stderr.drain(..excess);
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => return Err(Failure::Ended(format!("attach stream: {e}"))),
                        None => return Err(Failure::Ended(String::new())),
                    }
                }
            };
            match tokio::time::timeout(timeout, talk).await {
                Ok(r) => r,
                Err(_) => Err(Failure::Timeout),
            }
        });
        (sent_ns, result, monotonic_ns())
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
            Failure::Ended(detail) => {
                let code = self.rt.block_on(async {
                    tokio::time::timeout(Duration::from_secs(5), container.exit)
                        .await
                        .ok()
                        .and_then(|r| r.ok())
                        .flatten()
                });
                self.rt.block_on(remove(docker, &container.id));
                let why = match (code, self.memory_bytes) {
                    (Some(137), Some(cap)) => format!(
                        "exit code 137: killed by SIGKILL (out of memory at the {} MiB cap, or `docker kill`)",
                        cap >> 20
                    ),
                    (Some(137), None) => {
                        "exit code 137: killed by SIGKILL (out of memory or `docker kill`)".to_string()
                    }
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
        let (mut container, created_ns) = match self.start(&image, true) {
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
                // The container exits after its one answer and the engine removes it (AutoRemove). Its exit is
                // part of the invocation: waited for here, so the engine's work lands in this window.
                let exit = container.exit;
                let wait = self.timeout;
                self.rt.block_on(async {
                    let _ = tokio::time::timeout(wait, exit).await;
                });
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
        let (container, _) = self.start(&image, false)?;
        self.warm.insert(workload.name, container);
        Ok(())
    }

    fn invoke(&mut self, mode: Mode, workload: &WorkloadArtifacts, input: &[u8]) -> Outcome {
        match mode {
            Mode::Cold => self.cold(workload, input),
            Mode::Warm => self.warm(workload, input),
        }
    }

    fn served_by(&self) -> Vec<ServedBy> {
        self.warm.values().map(|c| ServedBy::Container(c.id.clone())).collect()
    }
}

impl Drop for ContainerRuntime {
    fn drop(&mut self) {
        for (_, container) in self.warm.drain() {
            container.exit.abort();
            self.rt.block_on(remove(&self.docker, &container.id));
        }
    }
}
