//! Firefox (Debian's `firefox-esr`), headless, spoken to over WebDriver BiDi, which it serves itself on a
//! loopback websocket (`--remote-debugging-port=0`; the port it picked is read from its stderr): no geckodriver,
//! nothing downloaded. The websocket client is the small one below (text frames, masked as a client must, pings
//! answered). Each launch gets a fresh profile whose `user.js` turns off every background connection, leads its
//! own process group listed with the group guard, and is killed whole when dropped.

use super::cdp::DeadlinePassed;
use crate::runtime::child;
use anyhow::{Context, bail};
use base64::Engine;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The Firefox executable: `$HARNESS_FIREFOX`, else `firefox-esr` or `firefox` on the PATH.
pub fn firefox_binary() -> anyhow::Result<PathBuf> {
    super::browser_binary("HARNESS_FIREFOX", &["firefox-esr", "firefox"], "firefox-esr")
}

/// Prefs of every profile: no update, telemetry, remote settings, safe browsing, captive portal or connectivity
/// checks, and every connection but loopback sent to a closed proxy port.
const USER_JS: &str = r#"user_pref("app.update.enabled", false);
user_pref("app.normandy.enabled", false);
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("browser.safebrowsing.downloads.enabled", false);
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("datareporting.healthreport.uploadEnabled", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("services.settings.server", "http://127.0.0.1:9/");
user_pref("extensions.update.enabled", false);
user_pref("network.proxy.type", 1);
user_pref("network.proxy.http", "127.0.0.1");
user_pref("network.proxy.http_port", 9);
user_pref("network.proxy.ssl", "127.0.0.1");
user_pref("network.proxy.ssl_port", 9);
user_pref("network.proxy.no_proxies_on", "127.0.0.1");
user_pref("network.proxy.allow_hijacking_localhost", false);
"#;

pub struct Firefox {
    pid: libc::pid_t,
    process: Option<std::process::Child>,
    socket: WebSocket,
    next_id: u64,
    context: Option<String>,
    profile: tempfile::TempDir,
}

impl Firefox {
    pub fn launch(binary: &Path, deadline: Instant) -> anyhow::Result<Firefox> {
        let profile = tempfile::Builder::new()
            .prefix("harness-firefox-")
            .tempdir()
            .context("creating a browser profile")?;
        std::fs::write(profile.path().join("user.js"), USER_JS)?;
        let log = profile.path().join("stderr.log");
        let mut command = Command::new(binary);
        command
            .args(["--headless", "--no-remote", "--remote-debugging-port=0", "--profile"])
            .arg(profile.path())
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&log)?));
        child::die_with_harness(&mut command);
        let process = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let pid = process.id() as libc::pid_t;
        child::guard_group(pid);
        let mut launched = Launched { process: Some(process) };
        let address = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(line) = text.lines().find(|l| l.contains("WebDriver BiDi listening on ws://")) {
                break line.split("ws://").nth(1).unwrap_or_default().trim().to_string();
            }
            if Instant::now() >= deadline {
                bail!(DeadlinePassed("firefox's BiDi address".into()));
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let socket = WebSocket::connect(&address, "/session", deadline)?;
        let mut firefox = Firefox {
            pid,
            process: launched.process.take(),
            socket,
            next_id: 0,
            context: None,
            profile,
        };
        firefox.call("session.new", json!({ "capabilities": {} }), deadline)?;
        Ok(firefox)
    }

    /// Navigates the first tab to `url`, waiting for its load.
    pub fn open(&mut self, url: &str, deadline: Instant) -> anyhow::Result<()> {
        let tree = self.call("browsingContext.getTree", json!({}), deadline)?;
        let context = tree["contexts"][0]["context"]
            .as_str()
            .context("firefox has no browsing context")?
            .to_string();
        self.call(
            "browsingContext.navigate",
            json!({ "context": context, "url": url, "wait": "complete" }),
            deadline,
        )?;
        self.context = Some(context);
        Ok(())
    }

    /// Evaluates `expression` in the page, awaiting a promise; its value as plain JSON.
    pub fn evaluate(&mut self, expression: &str, deadline: Instant) -> anyhow::Result<Value> {
        let context = self.context.clone().context("no page open")?;
        let result = self.call(
            "script.evaluate",
            json!({
                "expression": expression,
                "target": { "context": context },
                "awaitPromise": true,
                "resultOwnership": "none",
            }),
            deadline,
        )?;
        if result["type"] == "exception" {
            let text = result["exceptionDetails"]["text"].as_str().unwrap_or("an exception");
            bail!("the page threw: {text}");
        }
        Ok(plain(&result["result"]))
    }

    fn call(&mut self, method: &str, params: Value, deadline: Instant) -> anyhow::Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let message = json!({ "id": id, "method": method, "params": params });
        self.socket.send(&serde_json::to_string(&message)?)?;
        loop {
            let text = self
                .socket
                .receive(deadline)
                .with_context(|| format!("waiting for {method}"))?;
            let answer: Value = serde_json::from_str(&text).context("a BiDi message that is not JSON")?;
            if answer["id"].as_u64() == Some(id) {
                if answer["type"] == "error" {
                    bail!(
                        "{method}: {}: {}",
                        answer["error"].as_str().unwrap_or("error"),
                        answer["message"].as_str().unwrap_or("")
                    );
                }
                return Ok(answer["result"].clone());
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    pub fn profile(&self) -> &Path {
        self.profile.path()
    }
}

/// A BiDi remote value as plain JSON: strings, numbers, booleans (what the page's runner returns).
fn plain(remote: &Value) -> Value {
    match remote["type"].as_str() {
        Some("string" | "number" | "boolean") => remote["value"].clone(),
        _ => Value::Null,
    }
}

/// A launched process killed whole if the launch fails before [`Firefox`] owns it.
struct Launched {
    process: Option<std::process::Child>,
}

impl Drop for Launched {
    fn drop(&mut self) {
        if let Some(process) = self.process.take() {
            child::kill_group(process);
        }
    }
}

impl Drop for Firefox {
    fn drop(&mut self) {
        if let Some(process) = self.process.take() {
            child::kill_group(process);
        }
    }
}

/// A websocket client, as much as BiDi needs: text messages (fragmented or not), pings answered.
struct WebSocket {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl WebSocket {
    fn connect(address: &str, path: &str, deadline: Instant) -> anyhow::Result<WebSocket> {
        let mut stream = TcpStream::connect(address).with_context(|| format!("connecting to firefox at {address}"))?;
        stream.set_nodelay(true)?;
        let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>());
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )?;
        let mut socket = WebSocket {
            stream,
            buffer: Vec::new(),
        };
        let head_end = loop {
            if let Some(end) = socket.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            socket.fill(deadline)?;
        };
        let head = String::from_utf8_lossy(&socket.buffer[..head_end]).into_owned();
        if !head.starts_with("HTTP/1.1 101") {
            bail!("firefox refused the websocket: {}", head.lines().next().unwrap_or(""));
        }
        socket.buffer.drain(..head_end);
        Ok(socket)
    }

    /// Reads more bytes, waiting at most until `deadline` (and giving up when the harness is asked to stop).
    fn fill(&mut self, deadline: Instant) -> anyhow::Result<()> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!(DeadlinePassed("firefox's answer".into()));
            }
            if crate::stop_signals::received().is_some() {
                bail!("the harness was asked to stop while firefox ran");
            }
            self.stream
                .set_read_timeout(Some(left.min(Duration::from_millis(100))))?;
            let mut chunk = [0u8; 64 << 10];
            match self.stream.read(&mut chunk) {
                Ok(0) => bail!("firefox closed its BiDi connection"),
                Ok(n) => {
                    self.buffer.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn send(&mut self, text: &str) -> anyhow::Result<()> {
        self.frame(0x1, text.as_bytes())
    }

    /// One final frame, masked (a client's frames must be).
    fn frame(&mut self, opcode: u8, payload: &[u8]) -> anyhow::Result<()> {
        let mut frame = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= 0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask: [u8; 4] = rand::random();
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame)?;
        Ok(())
    }

    /// The next text message.
    fn receive(&mut self, deadline: Instant) -> anyhow::Result<String> {
        let mut message = Vec::new();
        loop {
            let (fin, opcode, payload) = self.next_frame(deadline)?;
            match opcode {
                0x1 | 0x0 => {
                    message.extend_from_slice(&payload);
                    if fin {
                        return Ok(String::from_utf8_lossy(&message).into_owned());
                    }
                }
                0x9 => self.frame(0xA, &payload)?,
                0x8 => bail!("firefox closed its BiDi connection"),
                _ => {}
            }
        }
    }

    fn next_frame(&mut self, deadline: Instant) -> anyhow::Result<(bool, u8, Vec<u8>)> {
        loop {
            if let Some((fin, opcode, start, len)) = frame_at(&self.buffer) {
                let payload = self.buffer[start..start + len].to_vec();
                self.buffer.drain(..start + len);
                return Ok((fin, opcode, payload));
            }
            self.fill(deadline)?;
        }
    }
}

/// A whole server frame at the start of `buffer`: (fin, opcode, payload start, payload length).
fn frame_at(buffer: &[u8]) -> Option<(bool, u8, usize, usize)> {
    let [first, second, ..] = *buffer else { return None };
    let (len, start) = match second & 0x7f {
        126 => (u16::from_be_bytes(buffer.get(2..4)?.try_into().ok()?) as usize, 4),
        127 => (u64::from_be_bytes(buffer.get(2..10)?.try_into().ok()?) as usize, 10),
        n => (n as usize, 2),
    };
    (buffer.len() >= start + len).then_some((first & 0x80 != 0, first & 0x0f, start, len))
}

#[cfg(test)]
mod tests {
    #[test]
    fn frames_are_read_whole_only() {
        assert_eq!(super::frame_at(&[0x81, 2, b'h', b'i']), Some((true, 1, 2, 2)));
        assert_eq!(super::frame_at(&[0x81, 3, b'h', b'i']), None);
        let mut long = vec![0x01, 126, 0x01, 0x00];
        long.extend(std::iter::repeat_n(b'x', 256));
        assert_eq!(super::frame_at(&long), Some((false, 1, 4, 256)));
    }
}
