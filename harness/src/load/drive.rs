//! The three ways a level offers load, each handing every request it sent to the level's log
//! ([`super::log`]), on the run's clock. Each starts all its threads before any request is sent; when the host
//! refuses a thread, the ones started are let go and the level ends with an error saying which limit to raise.
//!
//! - Closed loop: one harness thread per client, each owning one warm instance, sends its next request when
//!   its last one is answered.
//! - Open loop: one generator thread sends requests at seeded Poisson arrival times onto a dispatch queue;
//!   the instances' worker threads take them in order. Latency counts from the *intended* send time, so a
//!   late generator or a full pool shows as latency, not as fewer requests (no coordinated omission).
//! - Burst: `n` threads, each with a fresh runtime and nothing warm, released at one instant; each request's
//!   latency includes starting its instance.

use super::log::{LogSender, Outbox, no_thread};
use super::monitor::thread_cpu_ns;
use super::output::ExpectedOutput;
use super::summary::RawRequest;
use crate::artifacts::WorkloadArtifacts;
use crate::runtime::{Outcome, Runtime, ServedBy};
use harness_data::{Mode, Status};
use harness_probes::clock::monotonic_ns;
use rand::{Rng, SeedableRng};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::thread::{Scope, ScopedJoinHandle};
use std::time::Duration;

/// What a level's driver did (its requests went to the log).
#[derive(Debug, Default)]
pub struct Driven {
    /// CPU time the harness spent offering the load: the generator, and client or worker threads outside the
    /// runtime (all of it for out-of-process runtimes, whose work happens in other processes).
    pub dispatch_cpu_ns: u64,
    /// Stopped by Ctrl-C before its end.
    pub interrupted: bool,
}

/// What every request of a level runs.
pub struct Target<'a> {
    pub artifacts: &'a WorkloadArtifacts,
    pub input: &'a [u8],
    /// The runtime works in this process's threads (native, wasmtime, wasmi): its CPU time inside `invoke`
    /// is serving, not dispatch.
    pub in_process: bool,
    pub timeout_ns: u64,
    pub expected: &'a ExpectedOutput,
}

/// The processes or containers of each instance, kept current as instances are replaced (the monitor reads
/// them while the level runs).
pub type Servers = Mutex<Vec<Vec<ServedBy>>>;

/// Error texts are kept short: a failing level repeats the same one thousands of times.
fn short(error: String) -> String {
    const MAX: usize = 300;
    if error.len() <= MAX {
        return error;
    }
    let mut end = MAX;
    while !error.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &error[..end])
}

/// One instance serving one request; returns the finished request and the thread CPU spent inside `invoke`.
fn serve(
    runtime: &mut dyn Runtime,
    target: &Target,
    mode: Mode,
    instance: u32,
    intended_ns: u64,
    sent_ns: u64,
) -> (RawRequest, u64) {
    // Cold starts spawn processes from the harness's thread (fork, exec, container create): that is the
    // platform starting an instance, not the harness offering load.
    let inside_counts = target.in_process || mode == Mode::Cold;
    let cpu0 = if inside_counts { thread_cpu_ns() } else { 0 };
    let start_ns = monotonic_ns();
    let outcome: Outcome = runtime.invoke(mode, target.artifacts, target.input);
    let end_ns = monotonic_ns();
    let inside = if inside_counts { thread_cpu_ns() - cpu0 } else { 0 };
    let (status, error) = match outcome.status() {
        Status::Ok => match target.expected.check(&outcome.output) {
            Ok(()) => (Status::Ok, String::new()),
            Err(why) => (Status::Error, why),
        },
        status => (status, short(outcome.error)),
    };
    (
        RawRequest {
            instance,
            intended_ns,
            sent_ns,
            start_ns,
            end_ns,
            status,
            error,
        },
        inside,
    )
}

/// What one client or worker thread does with its requests (hands them to the log), and the CPU it spent
/// outside the runtime.
struct WorkerLog<'a> {
    outbox: Outbox<'a>,
    cpu_start: u64,
    serving_cpu: u64,
}

impl<'a> WorkerLog<'a> {
    fn start(log: &'a LogSender) -> WorkerLog<'a> {
        WorkerLog {
            outbox: Outbox::new(log),
            cpu_start: thread_cpu_ns(),
            serving_cpu: 0,
        }
    }

    /// Logs a served request; after a failure, the instance may have been replaced: `servers` is refreshed.
    fn served(
        &mut self,
        (request, inside): (RawRequest, u64),
        servers: &Servers,
        instance: usize,
        runtime: &dyn Runtime,
    ) {
        self.serving_cpu += inside;
        if request.status != Status::Ok {
            refresh(servers, instance, runtime);
        }
        self.outbox.push(request);
    }

    /// Hands the last requests over; returns the CPU spent outside the runtime.
    fn finish(mut self) -> u64 {
        self.outbox.flush();
        (thread_cpu_ns() - self.cpu_start).saturating_sub(self.serving_cpu)
    }
}

impl Driven {
    /// The threads' dispatch CPU together, with `dispatch_cpu_ns` of the caller's own (the generator's).
    fn gather(cpus: Vec<u64>, dispatch_cpu_ns: u64, stop: &AtomicBool) -> Driven {
        Driven {
            dispatch_cpu_ns: dispatch_cpu_ns + cpus.iter().sum::<u64>(),
            interrupted: stop.load(Ordering::Relaxed),
        }
    }
}

/// A worker's stack: room for the largest Wasm stack a plan may give the engines, beside the harness's own
/// frames (reserved, not committed: only what a guest uses is touched).
const WORKER_STACK_BYTES: usize = (harness_data::plan::WasmStack::MAX_KIB as usize + 2048) * 1024;

/// Spawns `f` on a named thread of `scope`, or says why the host would not.
fn spawn<'scope, T: Send + 'scope>(
    scope: &'scope Scope<'scope, '_>,
    what: String,
    f: impl FnOnce() -> T + Send + 'scope,
) -> anyhow::Result<ScopedJoinHandle<'scope, T>> {
    std::thread::Builder::new()
        .stack_size(WORKER_STACK_BYTES)
        .spawn_scoped(scope, f)
        .map_err(|e| no_thread(&what, e))
}

/// Where a level's threads wait until all of them are started: opened to let them go, or closed to send them
/// home when one could not be started (a barrier would leave them waiting forever).
#[derive(Default)]
struct Gate {
    state: Mutex<GateState>,
    arrived_changed: Condvar,
    decided: Condvar,
}

#[derive(Default)]
struct GateState {
    arrived: usize,
    /// `Some(true)` opened, `Some(false)` closed for good.
    open: Option<bool>,
}

impl Gate {
    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Arrives and waits for the decision: whether to go on.
    fn arrive_and_wait(&self) -> bool {
        let mut state = self.lock();
        state.arrived += 1;
        self.arrived_changed.notify_one();
        while state.open.is_none() {
            state = self.decided.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        state.open == Some(true)
    }

    /// Waits until `n` threads have arrived.
    fn wait_for(&self, n: usize) {
        let mut state = self.lock();
        while state.arrived < n {
            state = self.arrived_changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn decide(&self, open: bool) {
        self.lock().open = Some(open);
        self.decided.notify_all();
    }
}

/// Joins `handles`; a thread that panicked counts as having spent nothing.
fn join_all<T: Default>(handles: Vec<ScopedJoinHandle<'_, T>>) -> Vec<T> {
    handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
}

/// Refreshes an instance's entry in `servers` (after a failure, it may have been replaced).
fn refresh(servers: &Servers, instance: usize, runtime: &dyn Runtime) {
    let mut all = servers.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(slot) = all.get_mut(instance) {
        *slot = runtime.served_by();
    }
}

/// Closed loop: client `i` drives instance `i` until `until_ns` (or Ctrl-C).
pub fn closed_loop(
    pool: &mut [Box<dyn Runtime>],
    target: &Target,
    until_ns: u64,
    stop: &AtomicBool,
    servers: &Servers,
    log: &LogSender,
) -> anyhow::Result<Driven> {
    let gate = Gate::default();
    let n = pool.len();
    std::thread::scope(|scope| {
        let gate = &gate;
        let mut handles = Vec::with_capacity(n);
        for (i, runtime) in pool.iter_mut().enumerate() {
            let client = spawn(scope, format!("client thread {} of {n}", i + 1), move || {
                if !gate.arrive_and_wait() {
                    return 0;
                }
                let mut worker = WorkerLog::start(log);
                // One reading decides and stamps: read twice, a request could be intended just past
                // the window it was let into, and fall outside the level's count.
                loop {
                    let now = monotonic_ns();
                    if now >= until_ns || stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let served = serve(runtime.as_mut(), target, Mode::Warm, i as u32, now, now);
                    worker.served(served, servers, i, runtime.as_ref());
                }
                worker.finish()
            });
            match client {
                Ok(handle) => handles.push(handle),
                Err(e) => {
                    gate.decide(false);
                    join_all(handles);
                    return Err(e);
                }
            }
        }
        gate.decide(true);
        Ok(Driven::gather(join_all(handles), 0, stop))
    })
}

/// A request waiting for an instance.
struct Queued {
    intended_ns: u64,
    sent_ns: u64,
}

/// The open loop's dispatch queue: the generator pushes, workers pop in arrival order.
#[derive(Default)]
struct DispatchQueue {
    state: Mutex<(VecDeque<Queued>, bool)>,
    ready: Condvar,
}

impl DispatchQueue {
    fn push(&self, request: Queued) {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .push_back(request);
        self.ready.notify_one();
    }

    fn close(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).1 = true;
        self.ready.notify_all();
    }

    /// The next request, or `None` once closed and empty.
    fn pop(&self) -> Option<Queued> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(request) = state.0.pop_front() {
                return Some(request);
            }
            if state.1 {
                return None;
            }
            state = self.ready.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// Seeded Poisson arrival times in `[start_ns, until_ns)` at `rate` per second.
pub fn poisson_arrivals(rate: f64, start_ns: u64, until_ns: u64, seed: u64) -> Vec<u64> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut arrivals = Vec::with_capacity(((until_ns - start_ns) as f64 * rate / 1e9 * 1.1) as usize + 16);
    let mut t = start_ns as f64;
    loop {
        // Inverse-CDF exponential gap; 1 - u is in (0, 1], so the log is finite.
        let u: f64 = rng.random();
        t += -(1.0 - u).ln() / rate * 1e9;
        if t >= until_ns as f64 {
            return arrivals;
        }
        arrivals.push(t as u64);
    }
}

/// Last stretch before an arrival that the generator spins instead of sleeping: a sleep wakes up late by
/// the scheduler's latency, a spin does not.
const SPIN_NS: u64 = 100_000;

/// Waits until the clock reaches `t_ns`; returns the reading that passed it.
fn wait_until(t_ns: u64) -> u64 {
    loop {
        let now = monotonic_ns();
        if now >= t_ns {
            return now;
        }
        let left = t_ns - now;
        if left > SPIN_NS {
            std::thread::sleep(Duration::from_nanos(left - SPIN_NS));
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Sets this thread's timer slack (ns) and returns the old one: the kernel's default of 50 us would make
/// every sleep of the generator late by that much.
fn set_timer_slack(ns: u64) -> u64 {
    // SAFETY: prctl with PR_GET/PR_SET_TIMERSLACK only reads or sets a value of the calling thread.
    unsafe {
        let old = libc::prctl(libc::PR_GET_TIMERSLACK, 0, 0, 0, 0);
        libc::prctl(libc::PR_SET_TIMERSLACK, ns as libc::c_ulong, 0, 0, 0);
        if old > 0 { old as u64 } else { 50_000 }
    }
}

/// Open loop: Poisson arrivals at `rate` from `start_ns` to `until_ns`, served by the pool's instances in
/// arrival order. A request still queued `timeout_ns` after its intended time, or when the level has ended
/// and drained for `drain_ns`, is not run: it is recorded as timed out.
#[allow(clippy::too_many_arguments)]
pub fn open_loop(
    pool: &mut [Box<dyn Runtime>],
    target: &Target,
    rate: f64,
    start_ns: u64,
    until_ns: u64,
    drain_ns: u64,
    seed: u64,
    stop: &AtomicBool,
    servers: &Servers,
    log: &LogSender,
) -> anyhow::Result<Driven> {
    let arrivals = poisson_arrivals(rate, start_ns, until_ns, seed);
    let queue = DispatchQueue::default();
    let abandon_after = until_ns + drain_ns;
    let n = pool.len();
    std::thread::scope(|scope| {
        let queue = &queue;
        let mut handles = Vec::with_capacity(n);
        for (i, runtime) in pool.iter_mut().enumerate() {
            let worker = spawn(scope, format!("worker thread {} of {n}", i + 1), move || {
                let mut log = WorkerLog::start(log);
                while let Some(queued) = queue.pop() {
                    if stop.load(Ordering::Relaxed) {
                        continue; // Interrupted: what is still queued was never served; drain and go.
                    }
                    let now = monotonic_ns();
                    let expired = now > queued.intended_ns + target.timeout_ns;
                    if expired || now > abandon_after {
                        let why = if expired {
                            format!(
                                "not served within the timeout: waited {} ms for an instance",
                                (now - queued.sent_ns) / 1_000_000
                            )
                        } else {
                            "still queued when the level ended".to_string()
                        };
                        log.outbox.push(RawRequest {
                            instance: i as u32,
                            intended_ns: queued.intended_ns,
                            sent_ns: queued.sent_ns,
                            start_ns: now,
                            end_ns: now,
                            status: Status::Timeout,
                            error: why,
                        });
                        continue;
                    }
                    let served = serve(
                        runtime.as_mut(),
                        target,
                        Mode::Warm,
                        i as u32,
                        queued.intended_ns,
                        queued.sent_ns,
                    );
                    log.served(served, servers, i, runtime.as_ref());
                }
                log.finish()
            });
            match worker {
                Ok(handle) => handles.push(handle),
                Err(e) => {
                    // The workers started take nothing from a closed, empty queue: they end at once.
                    queue.close();
                    join_all(handles);
                    return Err(e);
                }
            }
        }
        let slack = set_timer_slack(1);
        let cpu_start = thread_cpu_ns();
        for &intended_ns in &arrivals {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let sent_ns = wait_until(intended_ns);
            queue.push(Queued { intended_ns, sent_ns });
        }
        queue.close();
        let generator_cpu = thread_cpu_ns() - cpu_start;
        set_timer_slack(slack);
        Ok(Driven::gather(join_all(handles), generator_cpu, stop))
    })
}

/// Makes one fresh runtime for a burst request (inside its thread, before the release).
pub type MakeRuntime<'a> = &'a (dyn Fn() -> anyhow::Result<Box<dyn Runtime>> + Sync);

/// Burst: `n` cold requests released at once, each on its own fresh instance. Returns the release instant
/// with what was driven.
pub fn burst(
    make: MakeRuntime,
    target: &Target,
    n: u32,
    stop: &AtomicBool,
    log: &LogSender,
) -> anyhow::Result<(u64, Driven)> {
    // Every runtime is made before the release, and the release instant is taken before the gate opens; no
    // thread spins for it (on 2 cores, threads spinning for the release would starve the releaser).
    let gate = Gate::default();
    let release = AtomicU64::new(0);
    std::thread::scope(|scope| {
        let (gate, release) = (&gate, &release);
        let mut handles = Vec::with_capacity(n as usize);
        for i in 0..n {
            let request = spawn(scope, format!("burst thread {} of {n}", i + 1), move || {
                let made = make();
                if !gate.arrive_and_wait() {
                    return 0;
                }
                let cpu_start = thread_cpu_ns();
                let intended_ns = release.load(Ordering::Acquire);
                let (request, cpu) = match made {
                    Ok(mut runtime) => {
                        let (request, inside) =
                            serve(runtime.as_mut(), target, Mode::Cold, i, intended_ns, intended_ns);
                        // Tearing the runtime down is not dispatch either.
                        let cpu = thread_cpu_ns() - cpu_start;
                        drop(runtime);
                        (request, cpu.saturating_sub(inside))
                    }
                    Err(e) => {
                        let now = monotonic_ns();
                        let request = RawRequest {
                            instance: i,
                            intended_ns,
                            sent_ns: intended_ns,
                            start_ns: now,
                            end_ns: now,
                            status: Status::Error,
                            error: short(format!("creating the runtime: {e:#}")),
                        };
                        (request, thread_cpu_ns() - cpu_start)
                    }
                };
                let _ = log.send(vec![request]);
                cpu
            });
            match request {
                Ok(handle) => handles.push(handle),
                Err(e) => {
                    gate.decide(false);
                    join_all(handles);
                    return Err(e);
                }
            }
        }
        gate.wait_for(n as usize);
        release.store(monotonic_ns(), Ordering::Release);
        gate.decide(true);
        let cpus = join_all(handles);
        Ok((release.load(Ordering::Acquire), Driven::gather(cpus, 0, stop)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_arrivals_are_seeded_and_average_the_rate() {
        let a = poisson_arrivals(1000.0, 0, 10_000_000_000, 7);
        assert_eq!(a, poisson_arrivals(1000.0, 0, 10_000_000_000, 7));
        assert_ne!(a, poisson_arrivals(1000.0, 0, 10_000_000_000, 8));
        // 10 s at 1000/s: 10,000 expected, sd 100.
        assert!((9_600..=10_400).contains(&a.len()), "{}", a.len());
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
        // Exponential gaps: their coefficient of variation is 1.
        let gaps: Vec<f64> = a.windows(2).map(|w| (w[1] - w[0]) as f64).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let sd = (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64).sqrt();
        assert!((0.9..1.1).contains(&(sd / mean)), "cv {}", sd / mean);
    }

    #[test]
    fn the_queue_hands_out_in_order_and_ends_when_closed() {
        let queue = DispatchQueue::default();
        for t in [1, 2, 3] {
            queue.push(Queued {
                intended_ns: t,
                sent_ns: t,
            });
        }
        queue.close();
        let order: Vec<u64> = std::iter::from_fn(|| queue.pop()).map(|q| q.intended_ns).collect();
        assert_eq!(order, vec![1, 2, 3]);
    }

    #[test]
    fn long_errors_are_cut_at_a_char_boundary() {
        let cut = short("é".repeat(400));
        assert!(cut.ends_with("...") && cut.len() < 310);
    }
}
