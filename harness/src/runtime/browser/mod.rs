//! The browser runtimes: a workload's Wasm module (`chromium-wasm`, `firefox-wasm`) or its JavaScript port
//! (`chromium-js`, `firefox-js`) in a headless browser page served from the harness's loopback server
//! ([`server`]), Chromium driven over the DevTools protocol on a pipe ([`cdp`]), Firefox over WebDriver BiDi
//! ([`bidi`]).
//!
//! | mode | what one invocation is |
//! |---|---|
//! | cold | a fresh browser and profile: launch, open the page, compile the module (or load the port), one call on a fresh instance; the browser is killed after (outside a cold window) |
//! | warm | one page kept up with the module compiled once; a fresh instance per call, as `node-wasm` does |
//!
//! Phases come from the page's `performance.now()`, mapped onto CLOCK_MONOTONIC by a handshake (the page's
//! reading between two harness readings; the closest of five, its half-width recorded as the bound).

pub mod bidi;
pub mod cdp;
pub mod server;

use super::{Limits, Outcome, Runtime, ServedBy, SharedEngine, child};
use crate::artifacts::WorkloadArtifacts;
use anyhow::Context;
use base64::Engine;
use bidi::Firefox;
use cdp::{Chromium, DeadlinePassed};
use harness_data::{Mode, Phases, RuntimeKind, Status, Teardown};
use harness_probes::clock::monotonic_ns;
use serde::Deserialize;
use server::{PageServer, Served};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A browser's executable: `$<env>` where set, else the first of `names` on the PATH.
fn browser_binary(env: &str, names: &[&str], package: &str) -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Ok(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    names
        .iter()
        .find_map(|name| std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file()))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{} is not installed: run scripts/setup-browser.sh (Debian's `{package}`), or set {env}",
                names[0].trim_end_matches("-esr")
            )
        })
}

/// How long a browser brought up for the idle span settles after its page loaded, before the span starts.
const IDLE_SETTLE: Duration = Duration::from_secs(1);

/// How long a warm browser resumed from its freeze settles before its slot (untimed): the timers that fell due
/// while it was stopped run here, not in the invocation. Measured on this 2-core VM (15 warm calls each,
/// fibonacci 20 and sha256 16 KiB): resumed with no settle, firefox-js's median call took 9-11 ms against 3-4 ms
/// never frozen, the extra all in the protocol's round trip; with 20 ms the medians matched the never-frozen ones.
const THAW_SETTLE: Duration = Duration::from_millis(20);

/// What the page runs: the module or the port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Wasm,
    Js,
}

impl Flavor {
    fn as_str(self) -> &'static str {
        match self {
            Flavor::Wasm => "wasm",
            Flavor::Js => "js",
        }
    }
}

/// Which browser, and how it is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Browser {
    Chromium,
    Firefox,
}

/// A launched browser, whichever protocol it speaks.
enum Driver {
    Chromium(Chromium),
    Firefox(Firefox),
}

impl Driver {
    fn launch(browser: Browser, binary: &std::path::Path, deadline: Instant) -> anyhow::Result<Driver> {
        Ok(match browser {
            Browser::Chromium => Driver::Chromium(Chromium::launch(binary, deadline)?),
            Browser::Firefox => Driver::Firefox(Firefox::launch(binary, deadline)?),
        })
    }

    fn open(&mut self, url: &str, deadline: Instant) -> anyhow::Result<()> {
        match self {
            Driver::Chromium(b) => b.open(url, deadline),
            Driver::Firefox(b) => b.open(url, deadline),
        }
    }

    fn evaluate(&mut self, expression: &str, deadline: Instant) -> anyhow::Result<serde_json::Value> {
        match self {
            Driver::Chromium(b) => b.evaluate(expression, deadline),
            Driver::Firefox(b) => b.evaluate(expression, deadline),
        }
    }

    fn pid(&self) -> u32 {
        match self {
            Driver::Chromium(b) => b.pid(),
            Driver::Firefox(b) => b.pid(),
        }
    }

    /// Stops every process of the browser (nothing it does while stopped is lost: it resumes where it was).
    fn freeze(&self) {
        child::signal_group(self.pid(), libc::SIGSTOP);
    }

    fn thaw(&self) {
        child::signal_group(self.pid(), libc::SIGCONT);
    }
}

/// The page's clock against the run's: `monotonic = page_ms * 1e6 + offset_ns`, within `bound_ns`.
#[derive(Debug, Clone, Copy)]
struct ClockMap {
    offset_ns: f64,
    bound_ns: u64,
}

impl ClockMap {
    fn at(&self, page_ms: f64) -> u64 {
        (page_ms * 1e6 + self.offset_ns).max(0.0) as u64
    }
}

/// What the page said of its timer when it got ready.
#[derive(Debug, Clone, Deserialize)]
pub struct TimerFacts {
    pub isolated: bool,
    pub step_ms: f64,
}

/// A page ready to serve a workload: its browser and its clock.
struct OpenPage {
    browser: Driver,
    clock: ClockMap,
}

pub struct BrowserRuntime {
    kind: RuntimeKind,
    flavor: Flavor,
    browser: Browser,
    binary: PathBuf,
    limits: Limits,
    server: Option<PageServer>,
    /// Workloads whose files the server has.
    served: Vec<&'static str>,
    /// One page per workload prepared for warm invocations.
    warm: BTreeMap<&'static str, OpenPage>,
    /// Cold starts' browsers kept until the cold window closes.
    deferred: Vec<Driver>,
    defer: bool,
    /// The last page's timer and clock bound, for the manifest.
    last_timer: Option<(TimerFacts, u64)>,
    /// The browser kept up idle for the run's idle span, and the span once measured.
    idle: Option<Driver>,
    idle_span: Option<([u64; 2], Option<harness_data::IdleLoad>)>,
}

impl BrowserRuntime {
    pub fn new(kind: RuntimeKind, limits: Limits) -> anyhow::Result<BrowserRuntime> {
        let (browser, flavor) = match kind {
            RuntimeKind::ChromiumWasm => (Browser::Chromium, Flavor::Wasm),
            RuntimeKind::ChromiumJs => (Browser::Chromium, Flavor::Js),
            RuntimeKind::FirefoxWasm => (Browser::Firefox, Flavor::Wasm),
            RuntimeKind::FirefoxJs => (Browser::Firefox, Flavor::Js),
            other => anyhow::bail!("{other} is not a browser runtime"),
        };
        let binary = match browser {
            Browser::Chromium => cdp::chromium_binary()?,
            Browser::Firefox => bidi::firefox_binary()?,
        };
        Ok(BrowserRuntime {
            kind,
            flavor,
            browser,
            binary,
            limits,
            server: None,
            served: Vec::new(),
            warm: BTreeMap::new(),
            deferred: Vec::new(),
            defer: false,
            last_timer: None,
            idle: None,
            idle_span: None,
        })
    }

    /// The loopback server's page address (the server started at the first use).
    fn page_url(&mut self) -> anyhow::Result<String> {
        if self.server.is_none() {
            let js = super::node::js_dir()?;
            let routes = BTreeMap::from([("/harness.js".to_string(), Served::File(js.join("browser.js")))]);
            self.server = Some(PageServer::start(routes).context("starting the loopback page server")?);
        }
        Ok(self.server.as_ref().expect("started above").url())
    }

    /// The loopback server's page address, its routes holding `workload`'s files.
    fn server_for(&mut self, workload: &WorkloadArtifacts) -> anyhow::Result<String> {
        self.page_url()?;
        let server = self.server.as_ref().expect("started by page_url");
        if !self.served.contains(&workload.name) {
            let routes = match self.flavor {
                Flavor::Wasm => BTreeMap::from([(
                    format!("/wasm/{}.wasm", workload.name),
                    Served::File(workload.wasm.clone()),
                )]),
                Flavor::Js => BTreeMap::from([
                    (
                        "/js/common.js".to_string(),
                        Served::File(super::node::js_dir()?.join("common.js")),
                    ),
                    (
                        format!("/js/{}.js", workload.name),
                        Served::File(super::node::js_port(workload.name)?),
                    ),
                ]),
            };
            server.add(routes);
            self.served.push(workload.name);
        }
        Ok(server.url())
    }

    /// A fresh browser with the page open and the workload prepared; the startup and compile phases.
    fn open(&mut self, workload: &WorkloadArtifacts, deadline: Instant) -> anyhow::Result<(OpenPage, u64, u64)> {
        let url = self.server_for(workload)?;
        let start = monotonic_ns();
        let mut browser = Driver::launch(self.browser, &self.binary, deadline)?;
        browser.open(&url, deadline)?;
        wait_for_runner(&mut browser, deadline)?;
        let ready = monotonic_ns();
        let facts = browser.evaluate(
            &format!("harnessPrepare({:?}, {:?})", self.flavor.as_str(), workload.name),
            deadline,
        )?;
        let prepared = monotonic_ns();
        let timer: TimerFacts =
            serde_json::from_str(facts.as_str().unwrap_or("{}")).context("the page's timer facts")?;
        let clock = handshake(&mut browser, deadline)?;
        self.last_timer = Some((timer, clock.bound_ns));
        let page = OpenPage { browser, clock };
        Ok((page, ready - start, prepared - ready))
    }

    fn deadline(&self) -> Instant {
        Instant::now() + Duration::from_millis(self.limits.timeout_ms)
    }

    fn cold(&mut self, workload: &WorkloadArtifacts, input: &[u8]) -> Outcome {
        let deadline = self.deadline();
        let (mut page, startup, compile) = match self.open(workload, deadline) {
            Ok(opened) => opened,
            Err(e) => return failure(e, "opening the page"),
        };
        let mut outcome = call(&mut page, input, deadline);
        outcome.phases.startup_ns = Some(startup);
        outcome.phases.compile_ns = Some(compile);
        // Killed after the invocation (after the slot, or after the cold window), not inside its time; frozen
        // at once, so a cold window holding K starts does not also hold K - 1 idle browsers.
        page.browser.freeze();
        self.deferred.push(page.browser);
        outcome
    }

    fn warm(&mut self, workload: &WorkloadArtifacts, input: &[u8]) -> Outcome {
        let deadline = self.deadline();
        if !self.warm.contains_key(workload.name) {
            // Prepared outside the timed window (`prepare_warm`); here only after a timeout took the page down.
            match self.open(workload, deadline) {
                Ok((page, _, _)) => {
                    self.warm.insert(workload.name, page);
                }
                Err(e) => return failure(e, "opening the warm page"),
            }
        }
        let page = self.warm.get_mut(workload.name).expect("opened above");
        let outcome = call(page, input, deadline);
        if outcome.status() == Status::Timeout {
            // A page past its deadline may still compute: the next invocation starts a fresh browser.
            self.warm.remove(workload.name);
        }
        outcome
    }
}

/// Waits until the page's runner script has loaded (until the page has a context, evaluating fails).
fn wait_for_runner(browser: &mut Driver, deadline: Instant) -> anyhow::Result<()> {
    loop {
        match browser.evaluate("typeof harnessPrepare === 'function'", deadline) {
            Ok(serde_json::Value::Bool(true)) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.downcast_ref::<DeadlinePassed>().is_some() => return Err(e),
            Err(e) if format!("{e}").contains("execution context") => {}
            Err(e) => return Err(e),
        }
        if Instant::now() >= deadline {
            anyhow::bail!(DeadlinePassed("loading the page".into()));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The page's clock read between two of the run's, five times; the tightest pair maps one onto the other.
fn handshake(browser: &mut Driver, deadline: Instant) -> anyhow::Result<ClockMap> {
    let mut best: Option<ClockMap> = None;
    for _ in 0..5 {
        let before = monotonic_ns();
        let page_ms = browser
            .evaluate("harnessNow()", deadline)?
            .as_f64()
            .context("harnessNow")?;
        let after = monotonic_ns();
        let map = ClockMap {
            offset_ns: (before as f64 + after as f64) / 2.0 - page_ms * 1e6,
            bound_ns: (after - before) / 2,
        };
        if best.is_none_or(|b| map.bound_ns < b.bound_ns) {
            best = Some(map);
        }
    }
    Ok(best.expect("five readings"))
}

#[derive(Deserialize)]
struct PageResult {
    status: u32,
    output: Option<String>,
    error: Option<String>,
    t: PageTimes,
}

#[derive(Deserialize)]
struct PageTimes {
    received: f64,
    ready: Option<f64>,
    input: Option<f64>,
    executed: Option<f64>,
}

/// One invocation on an open page, its phases on the run's clock.
fn call(page: &mut OpenPage, input: &[u8], deadline: Instant) -> Outcome {
    let sent = monotonic_ns();
    let encoded = base64::engine::general_purpose::STANDARD.encode(input);
    let answer = match page.browser.evaluate(&format!("harnessInvoke({encoded:?})"), deadline) {
        Ok(answer) => answer,
        Err(e) => return failure(e, "calling the page"),
    };
    let answered = monotonic_ns();
    let result: PageResult = match serde_json::from_str(answer.as_str().unwrap_or("")) {
        Ok(result) => result,
        Err(e) => return Outcome::failed(Phases::default(), Status::Error, format!("the page's answer: {e}")),
    };
    let t = &result.t;
    let at = |ms: Option<f64>| ms.map(|ms| page.clock.at(ms));
    // Each reading kept in order inside the call's own span: the mapping is good to its bound only.
    let received = page.clock.at(t.received).clamp(sent, answered);
    let ready = at(t.ready).unwrap_or(received).clamp(received, answered);
    let inputted = at(t.input).unwrap_or(ready).clamp(ready, answered);
    let executed = at(t.executed).unwrap_or(inputted).clamp(inputted, answered);
    let phases = Phases {
        instantiate_ns: Some(ready.saturating_sub(received)),
        input_ns: Some(received.saturating_sub(sent) + inputted.saturating_sub(ready)),
        execute_ns: Some(executed.saturating_sub(inputted)),
        output_ns: Some(answered.saturating_sub(executed)),
        ..Phases::default()
    };
    match (result.status, result.output) {
        (0, Some(output)) => match base64::engine::general_purpose::STANDARD.decode(output) {
            Ok(bytes) => Outcome::ok(phases, bytes),
            Err(_) => Outcome::failed(phases, Status::Error, "the page's output is not base64"),
        },
        (1, _) => Outcome::failed(phases, Status::Error, result.error.unwrap_or_default()),
        _ => Outcome::failed(phases, Status::Trap, result.error.unwrap_or_default()),
    }
}

/// A failure of the browser or the protocol as an outcome: past the deadline it is a timeout.
fn failure(e: anyhow::Error, doing: &str) -> Outcome {
    let status = if e.downcast_ref::<DeadlinePassed>().is_some() {
        Status::Timeout
    } else {
        Status::Error
    };
    Outcome::failed(Phases::default(), status, format!("{doing}: {e:#}"))
}

impl Runtime for BrowserRuntime {
    fn kind(&self) -> RuntimeKind {
        self.kind
    }

    fn prepare_warm(&mut self, workload: &WorkloadArtifacts) -> anyhow::Result<()> {
        let deadline = self.deadline();
        let (page, _, _) = self.open(workload, deadline)?;
        self.warm.insert(workload.name, page);
        Ok(())
    }

    fn invoke(&mut self, mode: Mode, workload: &WorkloadArtifacts, input: &[u8]) -> Outcome {
        match mode {
            Mode::Cold => self.cold(workload, input),
            Mode::Warm => self.warm(workload, input),
        }
    }

    fn served_by(&self) -> Vec<ServedBy> {
        self.warm.values().map(|p| ServedBy::Process(p.browser.pid())).collect()
    }

    fn shared_engine(&mut self) -> Option<&mut dyn SharedEngine> {
        None
    }

    fn defer_teardown(&mut self, _: &WorkloadArtifacts) -> (Teardown, &'static str) {
        self.defer = true;
        (
            Teardown::Deferred,
            "each cold start's browser (every process of it) is killed after the window",
        )
    }

    fn finish_teardown(&mut self) {
        self.defer = false;
        self.deferred.clear();
    }

    fn browser_facts(&self) -> Option<harness_data::BrowserFacts> {
        self.last_timer
            .as_ref()
            .map(|(timer, bound_ns)| harness_data::BrowserFacts {
                cross_origin_isolated: timer.isolated,
                timer_step_us: timer.step_ms * 1000.0,
                clock_bound_ns: *bound_ns,
                idle_span_ns: self.idle_span.as_ref().map(|(span, _)| *span),
                idle_load: self.idle_span.as_ref().and_then(|(_, load)| load.clone()),
            })
    }

    fn start_idle(&mut self) -> anyhow::Result<bool> {
        let deadline = self.deadline();
        let url = self.page_url()?;
        let mut browser = Driver::launch(self.browser, &self.binary, deadline)?;
        browser.open(&url, deadline)?;
        wait_for_runner(&mut browser, deadline)?;
        // A browser keeps starting up (caches, its first paint, background services) for a while after the
        // page loads: the span starts once that has settled, as a warm page's invocations do.
        std::thread::sleep(IDLE_SETTLE);
        self.idle = Some(browser);
        Ok(true)
    }

    fn stop_idle(&mut self, span_ns: [u64; 2], load: Option<harness_data::IdleLoad>) {
        self.idle = None;
        self.idle_span = Some((span_ns, load));
    }

    fn before_slot(&mut self, workload: &WorkloadArtifacts) {
        if let Some(page) = self.warm.get(workload.name) {
            page.browser.thaw();
            std::thread::sleep(THAW_SETTLE);
        }
    }

    fn after_slot(&mut self) {
        if !self.defer {
            self.deferred.clear();
        }
        for page in self.warm.values() {
            page.browser.freeze();
        }
    }
}
