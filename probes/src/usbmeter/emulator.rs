//! A meter emulator on a pseudo-terminal pair, speaking the real byte protocol, for the tests: the probe opens
//! the slave side by its path (`/dev/pts/N`) exactly as it opens `/dev/rfcomm0`, and the emulator answers on
//! the master side. Switches make it send corrupt, short or stray bytes, stall, or vanish.

use super::Model;
use super::rdtech_um::{self, UmFields};
use super::tc66c::{self, Tc66Fields};
use serialport::{SerialPort, TTYPort};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

#[derive(Debug, Default)]
struct Behaviour {
    um: UmFields,
    tc66c: Tc66Fields,
    corrupt: u32,
    short: u32,
    garbage: Vec<u8>,
    stalled: bool,
    delay: Duration,
}

struct Shared {
    model: Model,
    behaviour: Mutex<Behaviour>,
    stop: AtomicBool,
    requests: AtomicU64,
    answered: AtomicU64,
}

pub struct MeterEmulator {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    path: PathBuf,
}

impl MeterEmulator {
    /// A meter of `model` answering with zero readings until told otherwise.
    pub fn start(model: Model) -> std::io::Result<MeterEmulator> {
        let (mut master, slave) = TTYPort::pair().map_err(std::io::Error::other)?;
        let path = PathBuf::from(
            slave
                .name()
                .ok_or_else(|| std::io::Error::other("the pty slave has no name"))?,
        );
        // `pair` leaves both descriptors inheritable: a child spawned meanwhile (the harness under test) would
        // keep the master open, and closing ours would not hang the port up.
        for fd in [master.as_raw_fd(), slave.as_raw_fd()] {
            // SAFETY: fcntl on descriptors these ports own.
            if unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        master
            .set_timeout(Duration::from_millis(20))
            .map_err(std::io::Error::other)?;
        let shared = Arc::new(Shared {
            model,
            behaviour: Mutex::new(Behaviour::default()),
            stop: AtomicBool::new(false),
            requests: AtomicU64::new(0),
            answered: AtomicU64::new(0),
        });
        let serving = Arc::clone(&shared);
        // The slave stays open here too: with no slave open, the master reads EIO before the probe connects.
        let thread = std::thread::Builder::new()
            .name("meter-emulator".into())
            .spawn(move || serve(master, slave, &serving))?;
        Ok(MeterEmulator {
            shared,
            thread: Some(thread),
            path,
        })
    }

    /// The port to give the probe.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with<R>(&self, f: impl FnOnce(&mut Behaviour) -> R) -> R {
        f(&mut self.shared.behaviour.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn set_um_fields(&self, fields: UmFields) {
        self.with(|b| b.um = fields);
    }

    pub fn set_tc66c_fields(&self, fields: Tc66Fields) {
        self.with(|b| b.tc66c = fields);
    }

    /// The next `n` answers fail validation (end marker, checksum or CRC).
    pub fn corrupt_next(&self, n: u32) {
        self.with(|b| b.corrupt = n);
    }

    /// The next `n` answers stop halfway.
    pub fn short_next(&self, n: u32) {
        self.with(|b| b.short = n);
    }

    /// Stray bytes sent before the next answer.
    pub fn garbage_before_next(&self, bytes: &[u8]) {
        self.with(|b| b.garbage = bytes.to_vec());
    }

    /// A stalled meter reads requests and answers nothing.
    pub fn set_stalled(&self, stalled: bool) {
        self.with(|b| b.stalled = stalled);
    }

    /// Time between reading a request and sending the answer.
    pub fn set_delay(&self, delay: Duration) {
        self.with(|b| b.delay = delay);
    }

    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    pub fn answered(&self) -> u64 {
        self.shared.answered.load(Ordering::SeqCst)
    }

    /// Closes both ends, as an unplugged meter does: the probe's reads fail, and the path goes away.
    pub fn vanish(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for MeterEmulator {
    fn drop(&mut self) {
        self.vanish();
    }
}

fn serve(mut master: TTYPort, slave: TTYPort, shared: &Shared) {
    let mut text: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 64];
    while !shared.stop.load(Ordering::SeqCst) {
        let n = match master.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
        };
        for &byte in &chunk[..n] {
            let asked = match shared.model {
                Model::Um(_) => byte == rdtech_um::REQUEST,
                Model::Tc66c => {
                    text.push(byte);
                    if text.len() > 16 {
                        text.remove(0);
                    }
                    let asked = text.ends_with(tc66c::REQUEST);
                    if asked {
                        text.clear();
                    }
                    asked
                }
            };
            if asked {
                shared.requests.fetch_add(1, Ordering::SeqCst);
                if let Some(bytes) = answer(shared) {
                    // A write error means the probe closed its side; the next request will come on a new open.
                    if master.write_all(&bytes).is_ok() {
                        shared.answered.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        }
    }
    drop(slave);
    drop(master);
}

/// The bytes to send for one request, or `None` when stalled.
fn answer(shared: &Shared) -> Option<Vec<u8>> {
    let (mut bytes, delay) = {
        let mut b = shared.behaviour.lock().unwrap_or_else(|p| p.into_inner());
        if b.stalled {
            return None;
        }
        let mut frame = match shared.model {
            Model::Um(m) => rdtech_um::build_frame(m, b.um).to_vec(),
            Model::Tc66c => tc66c::build_answer(b.tc66c).to_vec(),
        };
        if b.corrupt > 0 {
            b.corrupt -= 1;
            // The UM end marker / UM34C checksum, or a byte of the TC66C's first block.
            let at = match shared.model {
                Model::Um(_) => rdtech_um::FRAME_LEN - 1,
                Model::Tc66c => 10,
            };
            frame[at] ^= 0xFF;
        }
        if b.short > 0 {
            b.short -= 1;
            frame.truncate(frame.len() / 2);
        }
        let mut bytes = std::mem::take(&mut b.garbage);
        bytes.extend_from_slice(&frame);
        (bytes, b.delay)
    };
    if !delay.is_zero() {
        std::thread::sleep(delay);
    }
    bytes.shrink_to_fit();
    Some(bytes)
}
