//! The local Docker engine, for the `container` runtime: connecting with errors that say how to fix them, the
//! images (built locally `FROM scratch` around the workload's static executable, never pulled), and the sweep
//! of containers an earlier crashed run left behind.
//!
//! Every container the harness creates carries the label `harness.managed=true` and `harness.owner=<pid>:<start
//! time of that process>`; the sweep removes the containers whose owner process is gone.

use crate::artifacts::ContainerImage;
use anyhow::{Context, anyhow, bail};
use bollard::Docker;
use bollard::query_parameters::{
    BuildImageOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

pub const MANAGED_LABEL: &str = "harness.managed";
pub const OWNER_LABEL: &str = "harness.owner";
/// Docker 20.10 speaks API 1.41; newer engines accept it too.
const API_VERSION: bollard::ClientVersion = bollard::ClientVersion {
    major_version: 1,
    minor_version: 41,
};

/// A small current-thread tokio runtime: bollard is async, the harness is not.
pub fn tokio_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime for the Docker client")
}

/// The engine's socket: `$DOCKER_HOST` (unix://...) or the default one.
pub fn socket_path() -> String {
    match std::env::var("DOCKER_HOST") {
        Ok(host) if !host.is_empty() => host.trim_start_matches("unix://").to_string(),
        _ => "/var/run/docker.sock".to_string(),
    }
}

/// Connects and pings the engine, so a missing or forbidden engine is reported before any workload runs.
pub fn connect(rt: &tokio::runtime::Runtime) -> anyhow::Result<Docker> {
    let socket = socket_path();
    let fix_missing = format!(
        "the container runtime needs the Docker engine, and nothing answers on its socket {socket}: start it \
         (`sudo systemctl start docker`, or `sudo dockerd &`), or point DOCKER_HOST at the socket (unix:///path)"
    );
    if !Path::new(&socket).exists() {
        bail!("{fix_missing}");
    }
    // A plain connect first: its io::Error says precisely what is wrong (bollard's hides it).
    if let Err(e) = std::os::unix::net::UnixStream::connect(&socket) {
        match e.kind() {
            std::io::ErrorKind::PermissionDenied => bail!(
                "permission denied on the Docker engine socket {socket}: add your user to the `docker` group \
                 (`sudo usermod -aG docker $USER`, then log in again) or run the harness as a user who may use it"
            ),
            std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound => {
                bail!("{fix_missing} (connecting: {e})")
            }
            _ => bail!("cannot connect to the Docker engine socket {socket}: {e}"),
        }
    }
    let docker = Docker::connect_with_unix(&socket, 120, &API_VERSION)
        .with_context(|| format!("connecting to the Docker engine at {socket}"))?;
    let ping = rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), docker.ping()).await });
    match ping {
        Ok(Ok(_)) => Ok(docker),
        Ok(Err(e)) => bail!("the Docker engine at {socket} does not answer: {e}"),
        Err(_) => bail!("the Docker engine at {socket} did not answer a ping within 10 s: is dockerd healthy?"),
    }
}

/// The engine's version (`20.10.24+dfsg1`), for the manifest.
pub fn engine_version() -> Option<String> {
    let rt = tokio_runtime().ok()?;
    let docker = connect(&rt).ok()?;
    rt.block_on(docker.version()).ok()?.version
}

/// This process as an owner label: the pid and its start time (so a reused pid is not mistaken for it).
pub fn owner_id(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22 (starttime) counts from the end of the parenthesized command name, which may hold spaces.
    let after_name = &stat[stat.rfind(')')? + 2..];
    let start = after_name.split_whitespace().nth(19)?;
    Some(format!("{pid}:{start}"))
}

fn owner_alive(owner: &str) -> bool {
    let Some(pid) = owner.split(':').next().and_then(|p| p.parse::<u32>().ok()) else {
        return false;
    };
    owner_id(pid).as_deref() == Some(owner)
}

/// Removes the harness's containers whose owner process is gone (a crashed or killed earlier run); the
/// containers of harness runs still going are left alone. Returns how many were removed.
pub fn sweep(rt: &tokio::runtime::Runtime, docker: &Docker) -> anyhow::Result<usize> {
    let filters = HashMap::from([("label", vec![MANAGED_LABEL])]);
    let options = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
    let containers = rt
        .block_on(docker.list_containers(Some(options)))
        .context("listing leftover harness containers")?;
    let mut removed = 0;
    for container in containers {
        let owner = container
            .labels
            .as_ref()
            .and_then(|l| l.get(OWNER_LABEL))
            .cloned()
            .unwrap_or_default();
        if owner_alive(&owner) {
            continue;
        }
        if let Some(id) = container.id {
            let force = RemoveContainerOptionsBuilder::new().force(true).build();
            if rt.block_on(docker.remove_container(&id, Some(force))).is_ok() {
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// The image holding `executable` (static), tagged by its content hash; built if the engine lacks it.
pub fn ensure_image(workload: &str, executable: &Path) -> anyhow::Result<ContainerImage> {
    let binary = std::fs::read(executable).with_context(|| format!("reading {}", executable.display()))?;
    // The workloads' output digest (SHA-256, 16 hex digits) names the content.
    let hash = harness_workloads::digest(&binary);
    let tag = format!("harness-workload/{workload}:{hash}");
    let rt = tokio_runtime()?;
    let docker = connect(&rt)?;
    if rt.block_on(docker.inspect_image(&tag)).is_err() {
        let context = build_context(&binary)?;
        let options = BuildImageOptionsBuilder::new()
            .dockerfile("Dockerfile")
            .t(&tag)
            .rm(true)
            .forcerm(true)
            .build();
        let mut log = String::new();
        rt.block_on(async {
            let mut stream = docker.build_image(options, None, Some(bollard::body_full(context.into())));
            while let Some(item) = stream.next().await {
                let info = item.map_err(|e| anyhow!("building {tag}: {e}"))?;
                if let Some(detail) = info.error_detail {
                    bail!("building {tag}: {} {log}", detail.message.unwrap_or_default());
                }
                log.push_str(info.stream.as_deref().unwrap_or_default());
            }
            Ok(())
        })?;
    }
    let inspect = rt
        .block_on(docker.inspect_image(&tag))
        .with_context(|| format!("inspecting the image {tag} just built"))?;
    Ok(ContainerImage {
        tag,
        size_bytes: inspect.size.unwrap_or(0).max(0) as u64,
    })
}

/// A build context (tar) with a Dockerfile: an empty base, the executable, nothing else.
fn build_context(binary: &[u8]) -> anyhow::Result<Vec<u8>> {
    let dockerfile =
        format!("FROM scratch\nLABEL {MANAGED_LABEL}=true\nCOPY workload /workload\nENTRYPOINT [\"/workload\"]\n");
    let mut archive = tar::Builder::new(Vec::new());
    for (name, bytes, mode) in [
        ("Dockerfile", dockerfile.as_bytes(), 0o644),
        ("workload", binary, 0o755),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(mode);
        header.set_cksum();
        archive
            .append_data(&mut header, name, bytes)
            .context("writing the image build context")?;
    }
    archive.into_inner().context("writing the image build context")
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_process_is_its_own_live_owner() {
        let me = super::owner_id(std::process::id()).unwrap();
        assert!(me.starts_with(&format!("{}:", std::process::id())));
        assert!(super::owner_alive(&me));
        // Same pid, another start time: a reused pid, not us.
        let pid = std::process::id();
        assert!(!super::owner_alive(&format!("{pid}:1")));
        assert!(!super::owner_alive("garbage"));
    }
}
