//! Chromium, headless, spoken to over the DevTools protocol on a pipe (`--remote-debugging-pipe`: the browser
//! reads commands on fd 3 and writes answers on fd 4, each a JSON message ended by a NUL byte), so nothing
//! listens on a port. Each launch gets a fresh profile directory (compiled Wasm is cached per profile), leads
//! its own process group listed with the group guard (so the browser, its zygotes, renderers, GPU and utility
//! processes die with a deadline, a stop or the harness), and is killed whole when dropped.

use crate::runtime::child;
use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The Chromium executable: `$HARNESS_CHROMIUM`, else `chromium` or `chromium-browser` on the PATH.
pub fn chromium_binary() -> anyhow::Result<PathBuf> {
    super::browser_binary("HARNESS_CHROMIUM", &["chromium", "chromium-browser"], "chromium")
}

/// One headless Chromium and the page it has open.
pub struct Chromium {
    pid: libc::pid_t,
    process: Option<std::process::Child>,
    commands: File,
    answers: File,
    pending: Vec<u8>,
    next_id: u64,
    session: Option<String>,
    profile: tempfile::TempDir,
}

impl Chromium {
    /// Starts the browser with a fresh profile; returns once it answers on its pipe.
    pub fn launch(binary: &Path, deadline: Instant) -> anyhow::Result<Chromium> {
        let profile = tempfile::Builder::new()
            .prefix("harness-chromium-")
            .tempdir()
            .context("creating a browser profile")?;
        let (commands_read, commands_write) = pipe()?;
        let (answers_read, answers_write) = pipe()?;
        let mut command = Command::new(binary);
        command
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            // Its crash handler keeps its database under $XDG_CONFIG_HOME/chromium whatever the profile: inside
            // the profile, it goes with it rather than into the user's ~/.config.
            .env("XDG_CONFIG_HOME", profile.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(File::create(profile.path().join("stderr.log"))?));
        // SAFETY: getuid has no preconditions.
        if unsafe { libc::getuid() } == 0 {
            // Chromium refuses to start as root with its sandbox on.
            command.arg("--no-sandbox");
        }
        command.arg("about:blank");
        let (read_fd, write_fd) = (commands_read.as_raw_fd(), answers_write.as_raw_fd());
        // SAFETY: between fork and exec only fcntl and dup2 run (async-signal-safe): the pipe ends are first
        // moved above 10 (either may sit at 3 or 4), then placed at the fds the DevTools pipe expects (3:
        // commands in, 4: answers out), without close-on-exec.
        unsafe {
            command.pre_exec(move || {
                let read_high = libc::fcntl(read_fd, libc::F_DUPFD, 10);
                let write_high = libc::fcntl(write_fd, libc::F_DUPFD, 10);
                if read_high < 0 || write_high < 0 || libc::dup2(read_high, 3) < 0 || libc::dup2(write_high, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        child::die_with_harness(&mut command);
        let process = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let pid = process.id() as libc::pid_t;
        child::guard_group(pid);
        drop((commands_read, answers_write));
        let mut browser = Chromium {
            pid,
            process: Some(process),
            commands: File::from(commands_write),
            answers: File::from(answers_read),
            pending: Vec::new(),
            next_id: 0,
            session: None,
            profile,
        };
        browser
            .call("Browser.getVersion", json!({}), deadline)
            .map_err(|e| e.context(browser.stderr_tail()))?;
        Ok(browser)
    }

    /// Opens `url` in a new page and attaches to it; later calls evaluate there.
    pub fn open(&mut self, url: &str, deadline: Instant) -> anyhow::Result<()> {
        let target = self.call("Target.createTarget", json!({ "url": url }), deadline)?;
        let target_id = target["targetId"].as_str().context("no targetId")?.to_string();
        let attached = self.call(
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
            deadline,
        )?;
        self.session = Some(attached["sessionId"].as_str().context("no sessionId")?.to_string());
        Ok(())
    }

    /// Evaluates `expression` in the page, awaiting a promise; its value as JSON.
    pub fn evaluate(&mut self, expression: &str, deadline: Instant) -> anyhow::Result<Value> {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "awaitPromise": true, "returnByValue": true }),
            deadline,
        )?;
        if let Some(details) = result.get("exceptionDetails") {
            let text = details["exception"]["description"]
                .as_str()
                .or_else(|| details["text"].as_str())
                .unwrap_or("an exception");
            bail!("the page threw: {text}");
        }
        Ok(result["result"]["value"].clone())
    }

    /// Sends one command (to the page once attached) and waits for its answer until `deadline`.
    fn call(&mut self, method: &str, params: Value, deadline: Instant) -> anyhow::Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = &self.session
            && !method.starts_with("Target.")
            && !method.starts_with("Browser.")
        {
            message["sessionId"] = json!(session);
        }
        let mut bytes = serde_json::to_vec(&message)?;
        bytes.push(0);
        self.commands
            .write_all(&bytes)
            .with_context(|| format!("sending {method} to chromium"))?;
        loop {
            while let Some(end) = self.pending.iter().position(|&b| b == 0) {
                let frame: Vec<u8> = self.pending.drain(..=end).collect();
                let answer: Value =
                    serde_json::from_slice(&frame[..end]).context("a DevTools message that is not JSON")?;
                if answer["id"].as_u64() == Some(id) {
                    if let Some(error) = answer.get("error") {
                        bail!("{method}: {}", error["message"].as_str().unwrap_or("an error"));
                    }
                    return Ok(answer["result"].clone());
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!(DeadlinePassed(method.to_string()));
            }
            if !child::readable_within(self.answers.as_raw_fd(), left.min(Duration::from_millis(100)))? {
                if crate::stop_signals::received().is_some() {
                    bail!("the harness was asked to stop while chromium ran {method}");
                }
                continue;
            }
            let mut chunk = [0u8; 64 << 10];
            let n = self.answers.read(&mut chunk)?;
            if n == 0 {
                bail!(
                    "chromium closed its DevTools pipe during {method}: {}",
                    self.stderr_tail()
                );
            }
            self.pending.extend_from_slice(&chunk[..n]);
        }
    }

    /// The browser's process group leader.
    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(self.profile.path().join("stderr.log")).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(3).collect();
        format!(
            "chromium said: {}",
            tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
        )
    }
}

impl Drop for Chromium {
    /// Kills the whole group (browser, zygotes, renderers, GPU and utility processes) and reaps the browser.
    fn drop(&mut self) {
        if let Some(process) = self.process.take() {
            child::kill_group(process);
        }
    }
}

/// The deadline passed while waiting for the browser: the invocation is a timeout.
#[derive(Debug, thiserror::Error)]
#[error("no answer to {0} before the deadline")]
pub struct DeadlinePassed(pub String);

/// The flags of every launch: headless, no first-run work, no network beyond the loopback page (every host
/// name but 127.0.0.1 resolves to nothing), no background traffic.
const FLAGS: &[&str] = &[
    "--headless",
    "--remote-debugging-pipe",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--disable-breakpad",
    "--mute-audio",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
];

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array we own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: two new descriptors, ours alone.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}
