//! The local Docker engine, for the `container` runtime: connecting with errors that say how to fix them, the
//! images (built locally `FROM scratch` around the workload's static executable, never pulled), and the sweep
//! of containers an earlier crashed run left behind.
//!
//! Every container the harness creates carries the labels `harness.managed=true`, `harness.owner=<pid>:<start
//! time of that process>`, `harness.owner.pidns=<inode of its PID namespace>` and `harness.owner.boot=<boot
//! id>`; the sweep removes the containers whose owner is provably gone: same PID namespace, same boot, and no
//! process with that pid and start time. An owner in another namespace (a harness in another container, or on
//! another host sharing the engine), of another boot, or with labels missing is left alone. (`harness.owner`
//! keeps its old form so that an older harness's sweep still sees a live owner.)

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

mod command_image;
pub use command_image::ensure_command_image;

pub const MANAGED_LABEL: &str = "harness.managed";
pub const OWNER_LABEL: &str = "harness.owner";
pub const OWNER_PIDNS_LABEL: &str = "harness.owner.pidns";
pub const OWNER_BOOT_LABEL: &str = "harness.owner.boot";
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

/// Where the engine listens, from `$DOCKER_HOST` (`unix:///path`, `tcp://host:port`, `http://host:port`) or the
/// default socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(String),
    /// `host:port`, plain HTTP (no TLS).
    Tcp(String),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "socket {path}"),
            Endpoint::Tcp(addr) => write!(f, "tcp://{addr}"),
        }
    }
}

/// The engine's endpoint, or an error for a `DOCKER_HOST` the harness cannot use.
pub fn endpoint() -> anyhow::Result<Endpoint> {
    let host = match std::env::var("DOCKER_HOST") {
        Ok(host) if !host.is_empty() => host,
        _ => return Ok(Endpoint::Unix("/var/run/docker.sock".to_string())),
    };
    if let Some(path) = host.strip_prefix("unix://") {
        return Ok(Endpoint::Unix(path.to_string()));
    }
    if host.starts_with('/') {
        return Ok(Endpoint::Unix(host));
    }
    if let Some(addr) = host.strip_prefix("tcp://").or_else(|| host.strip_prefix("http://")) {
        let addr = addr.trim_end_matches('/');
        if addr.is_empty() {
            bail!("DOCKER_HOST is `{host}`, with no host:port: set it to tcp://HOST:PORT or unix:///PATH");
        }
        if std::env::var("DOCKER_TLS_VERIFY").is_ok_and(|v| !v.is_empty() && v != "0") {
            bail!(
                "DOCKER_HOST is `{host}` with DOCKER_TLS_VERIFY set, and the harness speaks plain HTTP to a tcp \
                 engine only: use the engine's unix socket (DOCKER_HOST=unix:///var/run/docker.sock) or an \
                 endpoint without TLS"
            );
        }
        return Ok(Endpoint::Tcp(addr.to_string()));
    }
    bail!(
        "DOCKER_HOST is `{host}`, and the harness reaches the Docker engine over unix:///PATH or tcp://HOST:PORT \
         (plain HTTP) only: set DOCKER_HOST to one of those, or unset it for /var/run/docker.sock"
    )
}

/// Connects and pings the engine, so a missing or forbidden engine is reported before any workload runs.
pub fn connect(rt: &tokio::runtime::Runtime) -> anyhow::Result<Docker> {
    let endpoint = endpoint()?;
    let docker = match &endpoint {
        Endpoint::Unix(socket) => connect_unix(socket)?,
        Endpoint::Tcp(addr) => {
            // A plain connect first, for an error that names the address (bollard's hides the io::Error).
            if let Err(e) = std::net::TcpStream::connect(addr.as_str()) {
                bail!(
                    "the container runtime needs the Docker engine, and nothing answers at tcp://{addr} \
                     (DOCKER_HOST): {e}; start the engine listening there (`dockerd -H tcp://{addr}`), or point \
                     DOCKER_HOST at its socket (unix:///var/run/docker.sock)"
                );
            }
            Docker::connect_with_http(addr, 120, &API_VERSION)
                .with_context(|| format!("connecting to the Docker engine at tcp://{addr}"))?
        }
    };
    let ping = rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), docker.ping()).await });
    match ping {
        Ok(Ok(_)) => Ok(docker),
        Ok(Err(e)) => bail!("the Docker engine at {endpoint} does not answer: {e}"),
        Err(_) => bail!("the Docker engine at {endpoint} did not answer a ping within 10 s: is dockerd healthy?"),
    }
}

fn connect_unix(socket: &str) -> anyhow::Result<Docker> {
    let fix_missing = format!(
        "the container runtime needs the Docker engine, and nothing answers on its socket {socket}: start it \
         (`sudo systemctl start docker`, or `sudo dockerd &`), or point DOCKER_HOST at the socket (unix:///path)"
    );
    if !Path::new(socket).exists() {
        bail!("{fix_missing}");
    }
    // A plain connect first: its io::Error says precisely what is wrong (bollard's hides it).
    if let Err(e) = std::os::unix::net::UnixStream::connect(socket) {
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
    Docker::connect_with_unix(socket, 120, &API_VERSION)
        .with_context(|| format!("connecting to the Docker engine at {socket}"))
}

/// The engine's version (`20.10.24+dfsg1`), for the manifest.
pub fn engine_version() -> Option<String> {
    let rt = tokio_runtime().ok()?;
    let docker = connect(&rt).ok()?;
    rt.block_on(docker.version()).ok()?.version
}

/// A process as an owner label: the pid and its start time (so a reused pid is not mistaken for it).
pub fn owner_id(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22 (starttime) counts from the end of the parenthesized command name, which may hold spaces.
    let after_name = &stat[stat.rfind(')')? + 2..];
    let start = after_name.split_whitespace().nth(19)?;
    Some(format!("{pid}:{start}"))
}

/// The owner labels of this process: [`owner_id`], then the inode of its PID namespace and the boot id, so that
/// a pid from another namespace or an earlier boot, which the local `/proc` cannot speak for, is not mistaken
/// for a dead local one. A label that cannot be read is left out (and the sweep never removes the container).
pub fn owner_labels() -> Vec<(String, String)> {
    let pid = std::process::id();
    let owner = owner_id(pid).unwrap_or_else(|| format!("{pid}:0"));
    let mut labels = vec![(OWNER_LABEL.to_string(), owner)];
    if let Some(ns) = pid_namespace() {
        labels.push((OWNER_PIDNS_LABEL.to_string(), ns));
    }
    if let Some(boot) = boot_id() {
        labels.push((OWNER_BOOT_LABEL.to_string(), boot));
    }
    labels
}

/// The inode of this process's PID namespace (`/proc/self/ns/pid` -> `pid:[4026531836]`).
pub fn pid_namespace() -> Option<String> {
    let link = std::fs::read_link("/proc/self/ns/pid").ok()?;
    let link = link.to_str()?;
    Some(link.strip_prefix("pid:[")?.strip_suffix(']')?.to_string())
}

/// This boot's id (`/proc/sys/kernel/random/boot_id`).
pub fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(id.trim().to_string())
}

/// Whether the owner a container's labels name is provably a dead process: of this PID namespace and boot,
/// and no process with its pid and start time lives. Anything else (alive, another namespace or boot, labels
/// missing or of an unknown form) is not provably dead.
fn owner_provably_dead(labels: &HashMap<String, String>) -> bool {
    let label = |key: &str| labels.get(key).map(String::as_str);
    let (Some(owner), Some(ns), Some(boot)) = (label(OWNER_LABEL), label(OWNER_PIDNS_LABEL), label(OWNER_BOOT_LABEL))
    else {
        return false;
    };
    let Some((pid, start)) = owner.split_once(':') else {
        return false;
    };
    let (Ok(pid), Ok(_)) = (pid.parse::<u32>(), start.parse::<u64>()) else {
        return false;
    };
    if pid_namespace().as_deref() != Some(ns) || boot_id().as_deref() != Some(boot) {
        return false;
    }
    owner_id(pid).as_deref() != Some(owner)
}

/// Removes the harness's containers whose owner is provably dead (a crashed or killed earlier run on this
/// host, namespace and boot); the containers of harness runs still going, here or in another PID namespace,
/// are left alone. Returns how many were removed.
pub fn sweep(rt: &tokio::runtime::Runtime, docker: &Docker) -> anyhow::Result<usize> {
    let filters = HashMap::from([("label", vec![format!("{MANAGED_LABEL}=true")])]);
    let options = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
    let containers = rt
        .block_on(docker.list_containers(Some(options)))
        .context("listing leftover harness containers")?;
    let mut removed = 0;
    for container in containers {
        let Some(labels) = container.labels.as_ref() else {
            continue;
        };
        if labels.get(MANAGED_LABEL).map(String::as_str) != Some("true") || !owner_provably_dead(labels) {
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
    build_unless_present(&tag, || build_context(&binary).map(BuildContext::Bytes))
}

/// An image's build context (a tar): small ones in memory, a command's directory streamed from a file.
enum BuildContext {
    Bytes(Vec<u8>),
    File(std::fs::File),
}

/// Builds `tag` from the context `context` makes unless the engine has it; returns its tag and size.
fn build_unless_present(
    tag: &str,
    context: impl FnOnce() -> anyhow::Result<BuildContext>,
) -> anyhow::Result<ContainerImage> {
    let tag = tag.to_string();
    let architecture = image_architecture(std::env::consts::ARCH);
    let rt = tokio_runtime()?;
    let docker = connect(&rt)?;
    if rt.block_on(docker.inspect_image(&tag)).is_err() {
        let context = context()?;
        let options = BuildImageOptionsBuilder::new()
            .dockerfile("Dockerfile")
            // The host's architecture, said in the image config: a Jetson's image is arm64, a server's amd64.
            .platform(&format!("linux/{architecture}"))
            .t(&tag)
            .rm(true)
            .forcerm(true)
            .build();
        let mut log = String::new();
        rt.block_on(async {
            let body = match context {
                BuildContext::Bytes(bytes) => bollard::body_full(bytes.into()),
                // Streamed in chunks, so an image of large files never sits in memory.
                BuildContext::File(file) => {
                    bollard::body_try_stream(futures_util::stream::unfold(file, |mut file| async move {
                        use std::io::Read;
                        let mut chunk = vec![0u8; 1 << 20];
                        match file.read(&mut chunk) {
                            Ok(0) => None,
                            Ok(n) => {
                                chunk.truncate(n);
                                Some((Ok(chunk.into()), file))
                            }
                            Err(e) => Some((Err(e), file)),
                        }
                    }))
                }
            };
            let mut stream = docker.build_image(options, None, Some(body));
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
    let built_for = inspect.architecture.unwrap_or_default();
    if built_for != architecture {
        bail!(
            "the image {tag} is for architecture {built_for:?}, but this host runs {architecture}: its workload \
             would run under emulation, if at all; remove it (docker rmi {tag}) and build the workloads for this \
             host (scripts/build-musl-workloads.sh)"
        );
    }
    Ok(ContainerImage {
        tag,
        size_bytes: inspect.size.unwrap_or(0).max(0) as u64,
        architecture: built_for,
    })
}

/// The image architecture (OCI / Go `GOARCH` names) of a Rust target architecture (`std::env::consts::ARCH`).
pub fn image_architecture(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "loongarch64" => "loong64",
        // arm, riscv64, s390x, mips64 have the same name in both.
        other => other,
    }
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
    use super::*;

    #[test]
    fn images_are_named_by_oci_architecture_names() {
        assert_eq!(image_architecture("x86_64"), "amd64");
        assert_eq!(image_architecture("aarch64"), "arm64");
        assert_eq!(image_architecture("riscv64"), "riscv64");
    }

    fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn this_process_is_its_own_live_owner() {
        let mine: HashMap<String, String> = owner_labels().into_iter().collect();
        assert!(mine[OWNER_LABEL].starts_with(&format!("{}:", std::process::id())));
        assert_eq!(mine.len(), 3);
        assert!(!owner_provably_dead(&mine));
    }

    #[test]
    fn only_a_dead_owner_of_this_namespace_and_boot_is_provably_dead() {
        let (ns, boot) = (pid_namespace().unwrap(), boot_id().unwrap());
        let pid = std::process::id();
        let dead = |owner: &str, ns: &str, boot: &str| {
            owner_provably_dead(&labels(&[
                (OWNER_LABEL, owner),
                (OWNER_PIDNS_LABEL, ns),
                (OWNER_BOOT_LABEL, boot),
            ]))
        };
        // Same pid, another start time: a reused pid, not us.
        assert!(dead(&format!("{pid}:1"), &ns, &boot));
        assert!(dead("999999999:1", &ns, &boot));
        // Another PID namespace or another boot: the local /proc cannot tell.
        assert!(!dead("999999999:1", "1", &boot));
        assert!(!dead("999999999:1", &ns, "00000000-0000-0000-0000-000000000000"));
        assert!(!dead("garbage", &ns, &boot));
        // Labels missing (an older harness's container): not provably dead.
        assert!(!owner_provably_dead(&labels(&[(OWNER_LABEL, "999999999:1")])));
        assert!(!owner_provably_dead(&labels(&[])));
    }

    #[test]
    fn docker_host_forms() {
        // One test for every form: DOCKER_HOST is process-wide.
        let with = |value: Option<&str>| {
            // SAFETY: only this test in this crate's unit tests touches DOCKER_HOST.
            unsafe {
                match value {
                    Some(v) => std::env::set_var("DOCKER_HOST", v),
                    None => std::env::remove_var("DOCKER_HOST"),
                }
            }
            endpoint()
        };
        assert_eq!(with(None).unwrap(), Endpoint::Unix("/var/run/docker.sock".into()));
        assert_eq!(
            with(Some("unix:///tmp/d.sock")).unwrap(),
            Endpoint::Unix("/tmp/d.sock".into())
        );
        assert_eq!(
            with(Some("tcp://127.0.0.1:2375")).unwrap(),
            Endpoint::Tcp("127.0.0.1:2375".into())
        );
        let err = with(Some("ssh://me@host")).unwrap_err().to_string();
        assert!(
            err.contains("ssh://me@host") && err.contains("tcp://HOST:PORT"),
            "{err}"
        );
        let _ = with(None);
    }
}
