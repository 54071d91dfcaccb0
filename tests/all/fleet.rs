//! The Ansible fleet for real: two sshd on loopback addresses (127.0.0.2 and 127.0.0.3, keys of their own,
//! stopped at the end even on panic) play two devices; `deploy/ansible/measure.yml` installs the harness on
//! both, measures a small plan, fetches both runs and pools them into study.csv and report/. Also the refusal of
//! `report` and `export` to pool runs of one plan whose digests differ.
//!
//! Needs `ansible-playbook`, `sshd` and `ssh-keygen`: `scripts/setup-lab.sh` installs them (`scripts/setup.sh`
//! runs it); without them the test fails and says so.

use crate::common::*;
use harness_data::Manifest;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) const SSHD: &str = "/usr/sbin/sshd";
pub(crate) const HOSTS: [(&str, Ipv4Addr); 2] = [
    ("device-a", Ipv4Addr::new(127, 0, 0, 2)),
    ("device-b", Ipv4Addr::new(127, 0, 0, 3)),
];

/// `program` runs here, or the test fails naming the script that installs it.
pub(crate) fn require(program: &str) {
    let found = Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "{program} is not installed: run scripts/setup-lab.sh (scripts/setup.sh runs it) for ansible-core and openssh-server"
    );
}

/// The sshd of the fleet; killed with their sessions and waited for when dropped, a panic included.
pub(crate) struct SshDaemons(Vec<Child>);

impl Drop for SshDaemons {
    fn drop(&mut self) {
        for child in &mut self.0 {
            // Ansible's persistent connections keep a session process per host: those die with their daemon.
            for session in descendants(child.id()) {
                // SAFETY: kill(2) on a process this test's sshd forked; no memory is involved.
                unsafe { libc::kill(session as libc::pid_t, libc::SIGKILL) };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Every process below `pid`, from /proc/*/stat's parent field.
fn descendants(pid: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // The parent is the second field after the command, which is in parentheses and may hold spaces.
        if let Some(parent) = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok())
        {
            parents.push((parent, child));
        }
    }
    let mut found = vec![pid];
    let mut next = 0;
    while next < found.len() {
        let parent = found[next];
        found.extend(parents.iter().filter(|(p, _)| *p == parent).map(|(_, c)| *c));
        next += 1;
    }
    found.split_off(1)
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen runs (scripts/setup-lab.sh installs openssh)");
    assert!(status.success(), "ssh-keygen -f {}", path.display());
}

/// A port free on both loopback addresses.
pub(crate) fn free_port() -> u16 {
    for _ in 0..20 {
        let port = TcpListener::bind(SocketAddrV4::new(HOSTS[0].1, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if HOSTS
            .iter()
            .all(|(_, ip)| TcpListener::bind(SocketAddrV4::new(*ip, port)).is_ok())
        {
            return port;
        }
    }
    panic!("no port free on both 127.0.0.2 and 127.0.0.3");
}

/// Starts one sshd per host on `port`, accepting the client key in `dir`, and waits until each listens.
pub(crate) fn start_sshd(dir: &Path, port: u16) -> SshDaemons {
    keygen(&dir.join("host_key"));
    keygen(&dir.join("client_key"));
    std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).unwrap();
    // sshd run as root wants its privilege separation directory; Debian makes it only when the service starts.
    if running_as_root() {
        std::fs::create_dir_all("/run/sshd").unwrap();
    }
    let mut daemons = SshDaemons(Vec::new());
    for (name, ip) in HOSTS {
        let config = dir.join(format!("sshd-{name}.conf"));
        std::fs::write(
            &config,
            format!(
                "ListenAddress {ip}:{port}\nHostKey {host_key}\nAuthorizedKeysFile {keys}\nPidFile {pid}\n\
                 StrictModes no\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nSubsystem sftp internal-sftp\nLogLevel ERROR\n",
                host_key = dir.join("host_key").display(),
                keys = dir.join("authorized_keys").display(),
                pid = dir.join(format!("sshd-{name}.pid")).display(),
            ),
        )
        .unwrap();
        // Its log (-e: to stderr) goes to a file in `dir`: the readiness probes below make it complain.
        let log = std::fs::File::create(dir.join(format!("sshd-{name}.log"))).unwrap();
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{SSHD}: {e}; run scripts/setup-lab.sh (it installs openssh-server)"));
        daemons.0.push(child);
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    for (name, ip) in HOSTS {
        while TcpStream::connect(SocketAddrV4::new(ip, port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd of {name} does not listen on {ip}:{port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    daemons
}

/// Whether the test runs as root (sshd then needs /run/sshd), read from the environment's `id -u`.
fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// An inventory of the two devices, each with its own harness_home under `dir`.
pub(crate) fn write_inventory(dir: &Path, port: u16) -> PathBuf {
    let mut text = String::from("[harness]\n");
    for (name, ip) in HOSTS {
        text += &format!(
            "{name} ansible_host={ip} ansible_port={port} harness_home={}\n",
            dir.join(format!("home-{name}")).display()
        );
    }
    text += &format!(
        "[harness:vars]\nansible_user={}\nansible_ssh_private_key_file={}\n\
         ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'\n",
        user(),
        dir.join("client_key").display()
    );
    let path = dir.join("inventory.ini");
    std::fs::write(&path, text).unwrap();
    path
}

pub(crate) fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs the playbook into `results` with `extra` variables; returns its output, asserting success.
fn play(dir: &Path, inventory: &Path, plan: &Path, results: &Path, extra: &[(&str, &str)]) -> String {
    // This machine's build stands in for the controller's: the test's binary, whatever CARGO_TARGET_DIR is.
    let build = serde_json::json!({
        "binary": env!("CARGO_BIN_EXE_harness"),
        "artifacts": artifacts(),
    });
    let mut variables = serde_json::json!({
        "harness_plan": plan,
        "harness_results": results,
        "harness_builds": { std::env::consts::ARCH: build },
    });
    for (key, value) in extra {
        variables[key] = (*value).into();
    }
    let output = Command::new("ansible-playbook")
        .arg("-i")
        .arg(inventory)
        .arg(repository().join("deploy/ansible/measure.yml"))
        .arg("-e")
        .arg(variables.to_string())
        .env("ANSIBLE_HOST_KEY_CHECKING", "False")
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_RETRY_FILES_ENABLED", "False")
        .env("ANSIBLE_PYTHON_INTERPRETER", "auto_silent")
        .env("ANSIBLE_LOCAL_TEMP", dir.join("ansible-tmp"))
        // No persistent ssh connections: their background masters would outlive the test.
        .env("ANSIBLE_SSH_ARGS", "-o ControlMaster=no")
        .output()
        .expect("ansible-playbook runs: scripts/setup-lab.sh installs ansible-core");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "ansible-playbook failed:\n{text}");
    text
}

/// The run window of a fetched run, from its manifest (start and end, Unix ns).
fn window(manifest: &Manifest) -> (u128, u128) {
    (
        manifest.started_unix_ns,
        manifest.finished_unix_ns.expect("a finished run"),
    )
}

#[test]
fn the_playbook_measures_two_devices_and_pools_them_and_serial_measures_one_at_a_time() {
    // The playbook starts the harness, not `harness()`.
    machine::share();
    require("ansible-playbook");
    require("ssh-keygen");
    assert!(
        Path::new(SSHD).is_file(),
        "{SSHD} is missing: run scripts/setup-lab.sh (it installs openssh-server)"
    );
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _sshd = start_sshd(dir.path(), port);
    let inventory = write_inventory(dir.path(), port);
    let plan = PlanBuilder::new()
        .seed(13)
        .repetitions(3)
        .warmup(1)
        .runtimes(&["native", "wasmtime-jit"])
        .modes(&["cold", "warm"])
        .workload("fibonacci", &["20"])
        .write(dir.path(), "fleet.toml");

    let parallel = dir.path().join("results-parallel");
    play(dir.path(), &inventory, &plan, &parallel, &[]);
    for (name, _) in HOSTS {
        let run = parallel.join(name);
        let manifest = manifest(&run);
        assert_eq!(manifest.host.device.as_deref(), Some(name), "{}", run.display());
        // 3 repetitions x 2 runtimes x 2 modes, plus one warm-up per cell.
        assert_eq!(rows(&run).len(), 16, "{}", run.display());
        // Each device measured under its own harness_home.
        assert!(
            dir.path()
                .join(format!("home-{name}/runs/results-parallel/{name}/manifest.json"))
                .is_file()
        );
    }
    let study: Vec<harness_analysis::export::ExportRecord> = csv_rows(&parallel.join("study.csv"));
    for (name, _) in HOSTS {
        assert_eq!(
            study.iter().filter(|r| r.device == name && r.run == name).count(),
            12,
            "study.csv rows of {name}"
        );
    }
    assert!(parallel.join("report/report.md").is_file());
    let report = std::fs::read_to_string(parallel.join("report/report.md")).unwrap();
    assert!(report.contains("device-a") && report.contains("device-b"), "{report}");
    assert!(!parallel.join(".ship").exists(), "the staging folder is removed");

    // A second fleet run into the same results folder would mix two studies: refused before measuring.
    let again = Command::new("ansible-playbook")
        .arg("-i")
        .arg(&inventory)
        .arg(repository().join("deploy/ansible/measure.yml"))
        .arg("-e")
        .arg(
            serde_json::json!({
                "harness_plan": plan, "harness_results": parallel,
                "harness_builds": { std::env::consts::ARCH: { "binary": env!("CARGO_BIN_EXE_harness"), "artifacts": artifacts() } },
            })
            .to_string(),
        )
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_SSH_ARGS", "-o ControlMaster=no")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(!again.status.success());
    assert!(text.contains("already holds a run"), "{text}");

    let serial = dir.path().join("results-serial");
    play(dir.path(), &inventory, &plan, &serial, &[("harness_serial", "1")]);
    let mut windows: Vec<_> = HOSTS
        .iter()
        .map(|(name, _)| window(&manifest(&serial.join(name))))
        .collect();
    windows.sort();
    assert!(
        windows[0].1 <= windows[1].0,
        "with harness_serial=1 one device measures after the other: {windows:?}"
    );
    let study: Vec<harness_analysis::export::ExportRecord> = csv_rows(&serial.join("study.csv"));
    assert!(HOSTS.iter().all(|(name, _)| study.iter().any(|r| r.device == *name)));
}

/// A copy of the committed reference run as device `device`, its digests replaced by `digest` when given.
fn reference_copy(dir: &Path, device: &str, shift_ns: u128, digest: Option<&str>) -> PathBuf {
    let reference = repository().join("datasets/reference/vm-spine");
    let run = dir.join(device);
    std::fs::create_dir_all(&run).unwrap();
    let mut manifest: Manifest =
        serde_json::from_slice(&std::fs::read(reference.join("manifest.json")).unwrap()).unwrap();
    manifest.host.device = Some(device.into());
    // Another run, not a copy of one: its own start.
    manifest.started_unix_ns += shift_ns;
    manifest.anchor.unix_ns += shift_ns;
    std::fs::write(run.join("manifest.json"), serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    let rows = std::fs::read_to_string(reference.join("invocations.csv")).unwrap();
    let original = rows.lines().nth(1).unwrap().split(',').nth(20).unwrap().to_owned();
    let rows = match digest {
        Some(digest) => rows.replace(&original, digest),
        None => rows,
    };
    std::fs::write(run.join("invocations.csv"), rows).unwrap();
    run
}

#[test]
fn report_and_export_refuse_runs_of_one_plan_whose_digests_differ_naming_both_devices() {
    let dir = tempfile::tempdir().unwrap();
    let xeon = reference_copy(dir.path(), "xeon", 0, None);
    let orin = reference_copy(dir.path(), "orin", 1, Some("00000000deadbeef"));
    let original = rows(&xeon)[0].digest.clone();

    // Agreeing runs of two devices pool.
    let same = reference_copy(dir.path(), "pi5", 2, None);
    let pooled = harness()
        .args(["export"])
        .args([&xeon, &same])
        .arg("--out")
        .arg(dir.path().join("ok.csv"))
        .output()
        .unwrap();
    assert!(pooled.status.success(), "{}", stderr(&pooled));

    let out = dir.path().join("out");
    for args in [
        vec![
            "export".into(),
            xeon.clone(),
            orin.clone(),
            "--out".into(),
            out.join("study.csv"),
        ],
        vec![
            "report".into(),
            xeon.clone(),
            orin.clone(),
            "--baseline".into(),
            "native".into(),
            "--out".into(),
            out.join("report"),
        ],
    ] {
        let output = harness().args(&args).output().unwrap();
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{text}");
        for needle in [
            "device xeon".to_owned(),
            format!("run {}", xeon.display()),
            original.clone(),
            "device orin".to_owned(),
            format!("run {}", orin.display()),
            "00000000deadbeef".to_owned(),
            "workload fibonacci input \"25\"".to_owned(),
        ] {
            assert!(text.contains(&needle), "{:?}: {needle:?} missing from: {text}", args[0]);
        }
        assert!(!out.exists(), "nothing written");
    }
}

#[test]
fn a_device_name_that_is_empty_or_holds_control_characters_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["", "  ", "orin\n1"] {
        let output = harness()
            .args(["measure", "--plan"])
            .arg(spine_plan())
            .arg("--out")
            .arg(dir.path().join("run"))
            .args(["--device", name])
            .output()
            .unwrap();
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{name:?}: {text}");
        assert!(
            text.contains("a device name must be non-empty text"),
            "{name:?}: {text}"
        );
        assert!(!dir.path().join("run").exists(), "{name:?}: nothing measured");
    }
}
