//! The opened meter: one request and one answer per poll, stamped at their midpoint.

use super::rdtech_um::{self, Scan};
use super::{FrameError, KIND, Model, ModelChoice, UmModel, UsbMeterOptions, open_error, tc66c};
use crate::clock::monotonic_ns;
use crate::{ProbeError, Reading, Source, TimedReading};
use harness_data::{ChannelInfo, SampleKind};
use serialport::{ClearBuffer, SerialPort, TTYPort};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One good answer.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Answer {
    model: Model,
    power_w: f64,
    /// Midpoint of request and answer.
    t_ns: u64,
    round_trip_ns: u64,
    /// Stray bytes skipped before the frame.
    skipped: usize,
}

#[derive(Debug)]
enum ExchangeError {
    /// The port works but the answer was bad, short or absent: resync and try again next poll.
    Frame { error: FrameError, timed_out: bool },
    /// The port itself failed (unplugged, hung up): close it and reopen later.
    Port(std::io::Error),
}

impl std::fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExchangeError::Frame {
                error: FrameError::NoFrame { got: 0, .. },
                timed_out: true,
            } => write!(f, "no answer (stalled meter?)"),
            ExchangeError::Frame { error, timed_out } => {
                write!(f, "{error}{}", if *timed_out { " when the wait ran out" } else { "" })
            }
            ExchangeError::Port(e) => write!(f, "port error: {e}"),
        }
    }
}

fn open_port(path: &Path, baud: u32) -> serialport::Result<TTYPort> {
    let port = serialport::new(path.to_string_lossy(), baud)
        .timeout(Duration::from_millis(100))
        .open_native()?;
    // Whatever the meter sent before we asked is stale.
    let _ = port.clear(ClearBuffer::Input);
    Ok(port)
}

/// Sends the model's request (or, for `None`, the UM request while the model is unknown) and reads until a
/// valid answer, a port error, or `timeout_ns`.
fn exchange(port: &mut TTYPort, protocol: Protocol, timeout_ns: u64) -> Result<Answer, ExchangeError> {
    // Drain what a late answer to an earlier request left, so it is not taken for this one.
    port.clear(ClearBuffer::Input)
        .map_err(|e| ExchangeError::Port(std::io::Error::other(e)))?;
    let sent = monotonic_ns();
    let request: &[u8] = match protocol {
        Protocol::Um(_) => &[rdtech_um::REQUEST],
        Protocol::Tc66c => tc66c::REQUEST,
    };
    port.write_all(request).map_err(ExchangeError::Port)?;
    let deadline = sent + timeout_ns;
    let mut buf: Vec<u8> = Vec::with_capacity(256);
    let mut chunk = [0u8; 256];
    let mut pending = FrameError::NoFrame {
        got: 0,
        expected: "an answer",
    };
    loop {
        let now = monotonic_ns();
        if now >= deadline {
            return Err(ExchangeError::Frame {
                error: pending,
                timed_out: true,
            });
        }
        let _ = port.set_timeout(Duration::from_nanos(deadline - now));
        let n = match port.read(&mut chunk) {
            Ok(0) => return Err(ExchangeError::Port(std::io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
            Err(e) => return Err(ExchangeError::Port(e)),
        };
        let received = monotonic_ns();
        buf.extend_from_slice(&chunk[..n]);
        let scan = match protocol {
            Protocol::Um(expect) => match rdtech_um::scan(&buf, expect) {
                Scan::Found(at, r) => Scan::Found(at, (Model::Um(r.model), r.power_w)),
                Scan::Wait(e) => Scan::Wait(e),
                Scan::Fail(e) => Scan::Fail(e),
            },
            Protocol::Tc66c => match tc66c::scan(&buf) {
                Scan::Found(at, r) => Scan::Found(at, (Model::Tc66c, r.power_w)),
                Scan::Wait(e) => Scan::Wait(e),
                Scan::Fail(e) => Scan::Fail(e),
            },
        };
        match scan {
            Scan::Found(skipped, (model, power_w)) => {
                return Ok(Answer {
                    model,
                    power_w,
                    t_ns: sent + (received - sent) / 2,
                    round_trip_ns: received - sent,
                    skipped,
                });
            }
            Scan::Wait(e) => pending = e,
            Scan::Fail(error) => {
                return Err(ExchangeError::Frame {
                    error,
                    timed_out: false,
                });
            }
        }
    }
}

/// What to send and what to accept.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Protocol {
    /// The UM request; accept this model only, or any UM model while detecting.
    Um(Option<UmModel>),
    Tc66c,
}

impl From<Model> for Protocol {
    fn from(model: Model) -> Protocol {
        match model {
            Model::Um(m) => Protocol::Um(Some(m)),
            Model::Tc66c => Protocol::Tc66c,
        }
    }
}

/// Asks up to `tries` times; returns the first good answer or the last error.
fn ask(port: &mut TTYPort, protocol: Protocol, timeout_ns: u64, tries: u32) -> Result<Answer, ExchangeError> {
    let mut last = None;
    for _ in 0..tries {
        match exchange(port, protocol, timeout_ns) {
            Ok(answer) => return Ok(answer),
            Err(e @ ExchangeError::Port(_)) => return Err(e),
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("tries > 0"))
}

/// Finds out which meter answers, checking a named model against the frame's id.
fn identify(port: &mut TTYPort, options: &UsbMeterOptions) -> Result<(Model, String), ProbeError> {
    let timeout_ns = (options.timeout_ms * 1e6) as u64;
    let path = options.port.display();
    let no_answer = |tried: &str, e: &ExchangeError| ProbeError::Unavailable {
        probe: KIND,
        reason: format!(
            "no valid answer on {path} to {tried} ({e}): is the meter on and connected (Bluetooth UM meters: paired and bound with `rfcomm bind`), is another program reading it, is `model` right, and `baud` (UM meters: 9600, TC66C: 115200)?"
        ),
    };
    match options.model {
        ModelChoice::Named(Model::Tc66c) => {
            ask(port, Protocol::Tc66c, timeout_ns, 3).map_err(|e| no_answer("`getva` (TC66C)", &e))?;
            Ok((
                Model::Tc66c,
                "model tc66c (from the plan; the answer decrypted with valid CRCs)".into(),
            ))
        }
        ModelChoice::Named(Model::Um(named)) => {
            let answer =
                ask(port, Protocol::Um(None), timeout_ns, 3).map_err(|e| no_answer("0xF0 (UM24C/UM25C/UM34C)", &e))?;
            if answer.model != Model::Um(named) {
                return Err(ProbeError::Option {
                    probe: KIND,
                    message: format!(
                        "the plan says model = \"{}\" but the meter on {path} answers as a {} (id 0x{:04X}): set model = \"{}\" or \"auto\" (the models scale voltage and current differently)",
                        named.name(),
                        answer.model.name().to_uppercase(),
                        match answer.model {
                            Model::Um(m) => m.id(),
                            Model::Tc66c => 0,
                        },
                        answer.model.name()
                    ),
                });
            }
            Ok((
                answer.model,
                format!(
                    "model {} (from the plan; the frame's id 0x{:04X} agrees)",
                    named.name(),
                    named.id()
                ),
            ))
        }
        ModelChoice::Auto => match ask(port, Protocol::Um(None), timeout_ns, 2) {
            Ok(Answer {
                model: Model::Um(m), ..
            }) => Ok((
                Model::Um(m),
                format!("model {} (auto: id 0x{:04X} in the first frame)", m.name(), m.id()),
            )),
            Ok(_) => unreachable!("the UM protocol yields UM models"),
            Err(e @ ExchangeError::Port(_)) => Err(no_answer("0xF0", &e)),
            Err(um) => match ask(port, Protocol::Tc66c, timeout_ns, 2) {
                Ok(_) => Ok((
                    Model::Tc66c,
                    "model tc66c (auto: no UM frame to 0xF0; `getva` answered with valid CRCs)".into(),
                )),
                Err(tc) => Err(ProbeError::Unavailable {
                    probe: KIND,
                    reason: format!(
                        "model = \"auto\": no valid answer on {path} to 0xF0 (UM24C/UM25C/UM34C: {um}) nor to `getva` (TC66C: {tc}): is the meter on and connected (Bluetooth UM meters: paired and bound with `rfcomm bind`), is another program reading it, is `baud` right (UM meters: 9600, TC66C: 115200)?"
                    ),
                }),
            },
        },
    }
}

/// A USB power meter, polled once per sampler tick.
pub struct UsbMeterSource {
    port: Option<TTYPort>,
    path: PathBuf,
    baud: u32,
    model: Model,
    timeout_ns: u64,
    channels: Vec<ChannelInfo>,
    notes: Vec<String>,
    round_trips_ns: Vec<u64>,
    bad_frames: u64,
    timeouts: u64,
    port_errors: u64,
    reopens: u64,
    resyncs: u64,
}

impl UsbMeterSource {
    pub(super) fn open(options: &UsbMeterOptions) -> Result<UsbMeterSource, ProbeError> {
        let first_baud = match options.model {
            ModelChoice::Named(m) => m.default_baud(),
            ModelChoice::Auto => 9600,
        };
        let baud = options.baud.unwrap_or(first_baud);
        let mut port = open_port(&options.port, baud).map_err(|e| open_error(&options.port, &e))?;
        let (model, how) = identify(&mut port, options)?;
        let channels = vec![ChannelInfo {
            probe: KIND.into(),
            channel: model.name().into(),
            unit: harness_data::Unit::Watt,
            kind: SampleKind::Power,
            resolution: model.power_resolution_w(),
            update_period_ns: (options.interval_ms * 1e6) as u64,
            estimated: false,
            scope: harness_data::Scope::Machine,
        }];
        let notes = vec![
            how,
            format!(
                "port {} at {baud} baud, polled every {} ms, answer timeout {} ms",
                options.port.display(),
                options.interval_ms,
                options.timeout_ms
            ),
            "power is the meter's own power field; each sample is stamped at the midpoint of request and answer on the run's clock".into(),
        ];
        Ok(UsbMeterSource {
            port: Some(port),
            path: options.port.clone(),
            baud,
            model,
            timeout_ns: (options.timeout_ms * 1e6) as u64,
            channels,
            notes,
            round_trips_ns: Vec::new(),
            bad_frames: 0,
            timeouts: 0,
            port_errors: 0,
            reopens: 0,
            resyncs: 0,
        })
    }

    pub fn model(&self) -> Model {
        self.model
    }

    /// Round trips of the good answers so far, in nanoseconds.
    pub fn round_trips_ns(&self) -> &[u64] {
        &self.round_trips_ns
    }

    fn read_once(&mut self) -> Result<Answer, String> {
        if self.port.is_none() {
            match open_port(&self.path, self.baud) {
                Ok(port) => {
                    self.reopens += 1;
                    self.port = Some(port);
                }
                Err(e) => {
                    return Err(format!(
                        "port {} is gone ({e}); reopening on the next polls",
                        self.path.display()
                    ));
                }
            }
        }
        let port = self.port.as_mut().expect("opened above");
        match exchange(port, self.model.into(), self.timeout_ns) {
            Ok(answer) => Ok(answer),
            Err(e) => {
                match &e {
                    ExchangeError::Port(_) => {
                        self.port_errors += 1;
                        self.port = None;
                    }
                    ExchangeError::Frame { timed_out: true, .. } => self.timeouts += 1,
                    ExchangeError::Frame { .. } => self.bad_frames += 1,
                }
                Err(format!("{}: {e}", self.path.display()))
            }
        }
    }
}

impl Source for UsbMeterSource {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn channels(&self) -> &[ChannelInfo] {
        &self.channels
    }

    fn poll(&mut self, now_ns: u64, out: &mut Vec<TimedReading>) {
        let (t_ns, reading) = match self.read_once() {
            Ok(answer) => {
                self.round_trips_ns.push(answer.round_trip_ns);
                if answer.skipped > 0 {
                    self.resyncs += 1;
                }
                (answer.t_ns, Reading::Value(answer.power_w))
            }
            Err(why) => (now_ns, Reading::Gap(why)),
        };
        out.push(TimedReading {
            channel: 0,
            t_ns,
            reading,
        });
    }

    fn notes(&self) -> Vec<String> {
        let mut notes = self.notes.clone();
        if !self.round_trips_ns.is_empty() {
            let mut sorted = self.round_trips_ns.clone();
            sorted.sort_unstable();
            let ms = |ns: u64| ns as f64 * 1e-6;
            notes.push(format!(
                "round trip over {} answers: min {:.3} ms, median {:.3} ms, max {:.3} ms",
                sorted.len(),
                ms(sorted[0]),
                ms(sorted[sorted.len() / 2]),
                ms(sorted[sorted.len() - 1])
            ));
        }
        let troubles = self.bad_frames + self.timeouts + self.port_errors + self.resyncs;
        if troubles > 0 {
            notes.push(format!(
                "{} bad or short answers, {} timeouts, {} port errors (reopened {} times), {} answers found after stray bytes",
                self.bad_frames, self.timeouts, self.port_errors, self.reopens, self.resyncs
            ));
        }
        notes
    }
}

#[cfg(test)]
#[path = "meter_tests.rs"]
mod tests;
