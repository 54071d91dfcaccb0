//! `usb-meter`: USB power meters on a serial port: RDTech UM24C / UM25C / UM34C (Bluetooth RFCOMM, one-byte
//! request `0xF0`, 130-byte big-endian answer) and RDTech TC66C (USB CDC, `getva`, AES-encrypted answer).
//!
//! The meters keep no time: each answer is stamped at the midpoint of request and answer on the run's clock,
//! and the round trips are recorded. A bad frame, a stalled meter or a vanished port is a gap, never the end
//! of the run; the port is reopened on later polls.

#[cfg(any(test, feature = "testing"))]
pub mod emulator;
mod meter;
pub mod rdtech_um;
pub mod tc66c;

pub use meter::UsbMeterSource;
pub use rdtech_um::UmModel;

use crate::{Discovery, ProbeError, Source};
use std::path::{Path, PathBuf};

pub const KIND: &str = "usb-meter";

/// Meters answer at most about 10 times a second.
pub const MIN_INTERVAL_MS: f64 = 50.0;
pub const DEFAULT_INTERVAL_MS: f64 = 100.0;
pub const DEFAULT_TIMEOUT_MS: f64 = 500.0;

pub const PERMISSION_FIX: &str = "serial ports belong to the `dialout` group: `sudo usermod -aG dialout $USER` and log in again, or add a udev rule such as `SUBSYSTEM==\"tty\", ATTRS{idVendor}==\"0483\", MODE=\"0660\", GROUP=\"plugdev\"` (TC66C) / `KERNEL==\"rfcomm[0-9]*\", GROUP=\"dialout\", MODE=\"0660\"` (Bluetooth UM meters)";

/// A meter model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    Um(UmModel),
    Tc66c,
}

impl Model {
    pub fn name(self) -> &'static str {
        match self {
            Model::Um(m) => m.name(),
            Model::Tc66c => "tc66c",
        }
    }

    /// The step of the power value, in W.
    pub fn power_resolution_w(self) -> f64 {
        match self {
            Model::Um(_) => 0.001,
            Model::Tc66c => 0.0001,
        }
    }

    /// 9600 for the UM meters (ignored over RFCOMM), 115200 for the TC66C.
    pub fn default_baud(self) -> u32 {
        match self {
            Model::Um(_) => 9600,
            Model::Tc66c => 115_200,
        }
    }
}

/// The plan's `model`: a named one, or `auto` (detected from the first answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelChoice {
    Auto,
    Named(Model),
}

impl ModelChoice {
    pub fn parse(text: &str) -> Result<ModelChoice, ProbeError> {
        Ok(match text.to_ascii_lowercase().as_str() {
            "auto" => ModelChoice::Auto,
            "um24c" => ModelChoice::Named(Model::Um(UmModel::Um24c)),
            "um25c" => ModelChoice::Named(Model::Um(UmModel::Um25c)),
            "um34c" => ModelChoice::Named(Model::Um(UmModel::Um34c)),
            "tc66c" => ModelChoice::Named(Model::Tc66c),
            other => {
                return Err(ProbeError::Option {
                    probe: KIND,
                    message: format!("unknown model `{other}`; valid models: auto, um24c, um25c, um34c, tc66c"),
                });
            }
        })
    }
}

/// Why one answer could not be used. Each becomes a gap with this text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FrameError {
    #[error("short read: {got} of {want} bytes")]
    Short { got: usize, want: usize },
    #[error("unknown model id 0x{0:04X}")]
    UnknownModel(u16),
    #[error("bad end marker 0x{found:04X} (expected 0xFFF1)")]
    EndMarker { found: u16 },
    #[error("bad UM34C checksum 0x{found:02X} (computed 0x{computed:02X})")]
    Checksum { found: u8, computed: u8 },
    #[error("bad CRC in block {block}: 0x{found:08X} (computed 0x{computed:04X})")]
    Crc { block: usize, found: u32, computed: u16 },
    #[error("{got} bytes without {expected}")]
    NoFrame { got: usize, expected: &'static str },
}

/// Options of the `usb-meter` probe.
#[derive(Debug, Clone)]
pub struct UsbMeterOptions {
    pub model: ModelChoice,
    pub port: PathBuf,
    /// Default: the model's (9600 for UM meters and `auto`, 115200 for the TC66C).
    pub baud: Option<u32>,
    pub interval_ms: f64,
    /// How long to wait for a whole answer before calling the poll a gap.
    pub timeout_ms: f64,
}

impl UsbMeterOptions {
    pub fn new(model: &str, port: impl Into<PathBuf>) -> Result<UsbMeterOptions, ProbeError> {
        Ok(UsbMeterOptions {
            model: ModelChoice::parse(model)?,
            port: port.into(),
            baud: None,
            interval_ms: DEFAULT_INTERVAL_MS,
            timeout_ms: DEFAULT_TIMEOUT_MS,
        })
    }

    fn validate(&self) -> Result<(), ProbeError> {
        let bad = |message: String| Err(ProbeError::Option { probe: KIND, message });
        if !self.interval_ms.is_finite() || self.interval_ms < MIN_INTERVAL_MS {
            return bad(format!(
                "interval_ms = {} is too fast: these meters answer at most about 10 times a second; use {MIN_INTERVAL_MS} ms or more (default {DEFAULT_INTERVAL_MS})",
                self.interval_ms
            ));
        }
        if !(1.0..=10_000.0).contains(&self.timeout_ms) {
            return bad(format!(
                "timeout_ms = {} must be between 1 and 10000 (default {DEFAULT_TIMEOUT_MS})",
                self.timeout_ms
            ));
        }
        if self.baud == Some(0) {
            return bad("baud must be positive".into());
        }
        Ok(())
    }
}

/// Opens the port, identifies the meter (checking a named model against the id in its answer), and returns
/// the source. Fails when the port cannot be opened or nothing valid comes back.
pub fn open(options: &UsbMeterOptions) -> Result<Box<dyn Source>, ProbeError> {
    options.validate()?;
    Ok(Box::new(UsbMeterSource::open(options)?))
}

/// Turns an error opening `port` into one that says what to check.
pub(crate) fn open_error(port: &Path, error: &serialport::Error) -> ProbeError {
    use serialport::ErrorKind;
    match error.kind() {
        ErrorKind::Io(std::io::ErrorKind::PermissionDenied) => ProbeError::PermissionDenied {
            probe: KIND,
            path: port.into(),
            fix: PERMISSION_FIX.into(),
        },
        ErrorKind::Io(std::io::ErrorKind::NotFound) => ProbeError::Unavailable {
            probe: KIND,
            reason: format!(
                "port {} does not exist: is the meter plugged in and on? `ls /dev/ttyUSB* /dev/ttyACM* /dev/rfcomm*` lists the candidates; the TC66C shows up as /dev/ttyACM*; the Bluetooth UM24C/UM25C/UM34C need pairing and `sudo rfcomm bind 0 <MAC>` to appear as /dev/rfcomm0",
                port.display()
            ),
        },
        ErrorKind::NoDevice => ProbeError::Unavailable {
            probe: KIND,
            reason: format!(
                "port {} is busy or not a device ({error}): close other programs using it (`fuser {}`)",
                port.display(),
                port.display()
            ),
        },
        _ => ProbeError::Unavailable {
            probe: KIND,
            reason: format!("cannot open port {}: {error}", port.display()),
        },
    }
}

/// Serial ports a meter may sit on, under `root` (`/` on a real machine).
pub fn candidate_ports(root: &Path) -> Vec<PathBuf> {
    let mut ports: Vec<PathBuf> = std::fs::read_dir(root.join("dev"))
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    ["ttyUSB", "ttyACM", "rfcomm"]
                        .iter()
                        .any(|p| name.strip_prefix(p).is_some_and(|n| n.parse::<u32>().is_ok()))
                })
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    ports.sort();
    ports
}

/// The meter is never probed uninvited (a `0xF0` byte may upset another device): discovery lists the candidate
/// ports and says how to name one.
pub fn discover(root: &Path) -> Discovery {
    let ports = candidate_ports(root);
    let missing = if ports.is_empty() {
        format!(
            "no serial port under {}/dev (ttyUSB*, ttyACM*, rfcomm*): plug the meter in (TC66C: /dev/ttyACM*) or pair a Bluetooth UM24C/UM25C/UM34C and `sudo rfcomm bind 0 <MAC>`; then name it in the plan: [[probes]] kind = \"usb-meter\", model = \"auto\", port = \"/dev/rfcomm0\"",
            root.display().to_string().trim_end_matches('/')
        )
    } else {
        let list: Vec<String> = ports.iter().map(|p| p.display().to_string()).collect();
        format!(
            "not probed automatically; candidate ports: {}; name one in the plan: [[probes]] kind = \"usb-meter\", model = \"auto\", port = \"{}\"",
            list.join(", "),
            list[0]
        )
    };
    Discovery {
        kind: KIND,
        channels: Vec::new(),
        missing: Some(missing),
        notes: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_parse_and_bad_ones_list_the_valid_ones() {
        assert_eq!(
            ModelChoice::parse("UM25C").unwrap(),
            ModelChoice::Named(Model::Um(UmModel::Um25c))
        );
        assert_eq!(ModelChoice::parse("auto").unwrap(), ModelChoice::Auto);
        assert_eq!(ModelChoice::parse("tc66c").unwrap(), ModelChoice::Named(Model::Tc66c));
        let err = ModelChoice::parse("um26c").unwrap_err().to_string();
        assert!(err.contains("um26c") && err.contains("um25c, um34c, tc66c"), "{err}");
    }

    #[test]
    fn too_fast_an_interval_is_refused_with_the_limit() {
        let mut options = UsbMeterOptions::new("um25c", "/dev/null").unwrap();
        options.interval_ms = 20.0;
        let err = open(&options).err().unwrap().to_string();
        assert!(
            err.contains("interval_ms = 20") && err.contains("50 ms or more"),
            "{err}"
        );
        options.interval_ms = 100.0;
        options.timeout_ms = 0.0;
        assert!(open(&options).err().unwrap().to_string().contains("timeout_ms"));
    }

    #[test]
    fn a_missing_port_names_it_and_what_to_check() {
        let options = UsbMeterOptions::new("um25c", "/nonexistent/ttyUSB9").unwrap();
        let err = open(&options).err().unwrap().to_string();
        assert!(
            err.contains("/nonexistent/ttyUSB9") && err.contains("ls /dev/ttyUSB*") && err.contains("rfcomm bind"),
            "{err}"
        );
    }

    #[test]
    fn permission_denied_says_how_to_grant_access() {
        let err = open_error(
            Path::new("/dev/ttyUSB0"),
            &serialport::Error::new(
                serialport::ErrorKind::Io(std::io::ErrorKind::PermissionDenied),
                "Permission denied",
            ),
        )
        .to_string();
        assert!(
            err.contains("/dev/ttyUSB0") && err.contains("usermod -aG dialout"),
            "{err}"
        );
    }

    #[test]
    fn discovery_lists_candidate_ports_or_says_none() {
        let root = tempfile::tempdir().unwrap();
        let none = discover(root.path());
        assert!(none.missing.unwrap().contains("no serial port"));
        std::fs::create_dir(root.path().join("dev")).unwrap();
        for name in ["ttyUSB0", "rfcomm0", "ttyACM1", "ttyS0", "tty", "ttyUSBx"] {
            std::fs::write(root.path().join("dev").join(name), "").unwrap();
        }
        let some = discover(root.path()).missing.unwrap();
        assert!(
            some.contains("rfcomm0") && some.contains("ttyACM1") && some.contains("ttyUSB0"),
            "{some}"
        );
        assert!(!some.contains("ttyS0") && !some.contains("ttyUSBx"), "{some}");
    }
}
