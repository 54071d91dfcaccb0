//! WASI command workloads in containers: the command's static native twin in an image `FROM scratch`
//! ([`docker_engine::ensure_command_image`]: `/command`, the module directory's files in `/work`, its working
//! directory, and `/keepalive`).
//!
//! Cold: create + attach + start a container running `/command <args>`, write the input on its stdin and close
//! it, read stdout and stderr to the end, wait for the exit code. Warm: a command has no serve loop, so the warm
//! container runs `/keepalive --serve` (the static `noop` workload, idle on its stdin) and each request is a
//! fresh `/command` process started in it by `docker exec`: the container, its namespaces and cgroup are warm,
//! the process is not. The command's phases are inside its process: `compile` is the create call, `startup` the
//! attach and start (cold), `instantiate` the exec's create and start (warm).

use super::{Attached, ContainerRuntime, remove};
use crate::artifacts::{CommandArtifacts, WorkloadArtifacts};
use crate::runtime::wasi::command::{self as wasi_command, Ended};
use crate::runtime::wasi::output::{self, Capture};
use crate::runtime::{Outcome, span};
use bollard::container::LogOutput;
use bollard::exec::StartExecResults;
use bollard::models::{ContainerCreateBody, ExecConfig};
use futures_util::{Stream, StreamExt};
use harness_data::{Phases, Status};
use harness_probes::clock::monotonic_ns;
use std::pin::Pin;
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Where the image holds the command, and the process that keeps a warm container up.
pub const COMMAND_PATH: &str = "/command";
pub const KEEPALIVE_PATH: &str = "/keepalive";
pub const WORK_DIR: &str = "/work";

/// The warm container: the keep-alive process, idle until the harness closes its stdin.
pub(super) fn keepalive_config(runtime: &ContainerRuntime, image: &str) -> ContainerCreateBody {
    runtime.config_running(image, vec!["--serve".into()], Some(vec![KEEPALIVE_PATH.into()]))
}

type Output = Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;

/// What a container's command wrote: its streams, or that they passed the output cap (reading stopped there).
enum Collected {
    Streams(Vec<u8>, Vec<u8>),
    OverCap,
}

/// Writes `input` to the process's stdin and closes it, while reading its stdout and stderr to their end (both
/// at once, so a command that writes before it has read everything cannot block on a full pipe), or to the
/// output cap.
async fn feed_and_collect(
    stdin: &mut Pin<Box<dyn AsyncWrite + Send>>,
    output: &mut Output,
    input: &[u8],
) -> Result<Collected, String> {
    let feed = async {
        // A command may exit without reading all of its input: a closed stdin is not its failure.
        let _ = stdin.write_all(input).await;
        let _ = stdin.shutdown().await;
    };
    let collect = async {
        let capture = Capture::default();
        while let Some(item) = output.next().await {
            let kept = match item {
                Ok(LogOutput::StdOut { message }) => capture.write(output::Stream::Stdout, &message),
                Ok(LogOutput::StdErr { message }) => capture.write(output::Stream::Stderr, &message),
                Ok(_) => true,
                Err(e) => return Err(format!("attach stream: {e}")),
            };
            if !kept {
                return Ok(Collected::OverCap);
            }
        }
        let (stdout, stderr) = capture.take();
        Ok(Collected::Streams(stdout, stderr))
    };
    let ((), collected) = futures_util::future::join(feed, collect).await;
    collected
}

/// The row of a command that wrote past the output cap; its container is removed by the caller.
fn over_cap(phases: Phases) -> Outcome {
    Outcome::failed(phases, Status::Error, output::over_cap_message())
}

fn timed_out(timeout: Duration, phases: Phases) -> Outcome {
    Outcome::failed(
        phases,
        Status::Timeout,
        format!("container stopped after the {} ms deadline", timeout.as_millis()),
    )
}

pub(super) fn cold(
    runtime: &mut ContainerRuntime,
    workload: &WorkloadArtifacts,
    command: &CommandArtifacts,
    input: &[u8],
) -> Outcome {
    let image = match ContainerRuntime::image(workload) {
        Ok(i) => i.tag.clone(),
        Err(e) => return Outcome::failed(Phases::default(), Status::Error, e),
    };
    let t_create = monotonic_ns();
    let config = runtime.config_running(&image, command.args.clone(), None);
    let (container, created_ns) = match runtime.start_config(config) {
        Ok(c) => c,
        Err(e) => {
            return Outcome::failed(
                Phases::default(),
                Status::Error,
                format!("starting a container of {image}: {e:#}"),
            );
        }
    };
    let started_ns = monotonic_ns();
    let phases = Phases {
        compile_ns: span(t_create, created_ns),
        startup_ns: span(created_ns, started_ns),
        ..Phases::default()
    };
    let Attached {
        id,
        input: mut stdin,
        mut output,
        mut exit,
        ..
    } = container;
    let timeout = runtime.timeout;
    let result = runtime.rt.block_on(async {
        let collected = tokio::time::timeout(timeout, feed_and_collect(&mut stdin, &mut output, input)).await;
        let code = match &collected {
            // The exit is part of the invocation, as for built-ins: the engine's work lands in its window.
            Ok(Ok(Collected::Streams(..))) => tokio::time::timeout(timeout, &mut exit)
                .await
                .ok()
                .and_then(|r| r.ok())
                .flatten(),
            _ => None,
        };
        (collected, code)
    });
    match result {
        (Err(_), _) => {
            exit.abort();
            runtime.rt.block_on(remove(&runtime.docker, &id));
            timed_out(timeout, phases)
        }
        (Ok(Err(message)), _) => {
            runtime.rt.block_on(remove(&runtime.docker, &id));
            Outcome::failed(phases, Status::Trap, message)
        }
        (Ok(Ok(Collected::OverCap)), _) => {
            exit.abort();
            runtime.rt.block_on(remove(&runtime.docker, &id));
            over_cap(phases)
        }
        (Ok(Ok(Collected::Streams(stdout, stderr))), code) => {
            let ended = match code {
                Some(code) => Ended::Exit(code as i32),
                None => Ended::Failed(Status::Trap, "the container's exit code is unknown".into()),
            };
            wasi_command::outcome(command, phases, ended, stdout, &stderr)
        }
    }
}

pub(super) fn warm(
    runtime: &mut ContainerRuntime,
    workload: &WorkloadArtifacts,
    command: &CommandArtifacts,
    input: &[u8],
) -> Outcome {
    use crate::runtime::Runtime;
    if !runtime.warm.contains_key(workload.name)
        && let Err(e) = runtime.prepare_warm(workload)
    {
        return Outcome::failed(Phases::default(), Status::Error, format!("{e:#}"));
    }
    let id = runtime.warm[workload.name].id.clone();
    let exec = ExecConfig {
        cmd: Some(
            std::iter::once(COMMAND_PATH.to_string())
                .chain(command.args.iter().cloned())
                .collect(),
        ),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        working_dir: Some(WORK_DIR.into()),
        ..Default::default()
    };
    let (docker, timeout) = (runtime.docker.clone(), runtime.timeout);
    let t0 = monotonic_ns();
    let result = runtime.rt.block_on(async {
        let created = docker
            .create_exec(&id, exec)
            .await
            .map_err(|e| format!("docker exec: {e}"))?;
        let started = docker
            .start_exec(&created.id, None)
            .await
            .map_err(|e| format!("docker exec: {e}"))?;
        let StartExecResults::Attached {
            mut output,
            input: mut stdin,
        } = started
        else {
            return Err("docker exec started detached".to_string());
        };
        let started_ns = monotonic_ns();
        let collected = tokio::time::timeout(timeout, feed_and_collect(&mut stdin, &mut output, input)).await;
        let code = match &collected {
            Ok(Ok(_)) => docker.inspect_exec(&created.id).await.ok().and_then(|i| i.exit_code),
            _ => None,
        };
        Ok((started_ns, collected, code))
    });
    let mut phases = Phases::default();
    match result {
        Err(message) => Outcome::failed(phases, Status::Error, message),
        Ok((started_ns, collected, code)) => {
            phases.instantiate_ns = span(t0, started_ns);
            match collected {
                Err(_) => {
                    // The exec'd process cannot be stopped on its own: the container goes, a fresh one comes.
                    let outcome = timed_out(timeout, phases);
                    let _ = runtime.prepare_warm(workload);
                    outcome
                }
                Ok(Err(message)) => Outcome::failed(phases, Status::Trap, message),
                Ok(Ok(Collected::OverCap)) => {
                    // As at the deadline: the exec'd process cannot be stopped on its own.
                    let outcome = over_cap(phases);
                    let _ = runtime.prepare_warm(workload);
                    outcome
                }
                Ok(Ok(Collected::Streams(stdout, stderr))) => {
                    let ended = match code {
                        Some(code) => Ended::Exit(code as i32),
                        None => Ended::Failed(Status::Trap, "the exec's exit code is unknown".into()),
                    };
                    wasi_command::outcome(command, phases, ended, stdout, &stderr)
                }
            }
        }
    }
}
