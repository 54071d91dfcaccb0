//! RDTech UM24C / UM25C / UM34C: the host sends one byte `0xF0`, the meter answers 130 big-endian bytes.
//!
//! Pure functions over byte slices: parsing, validation (end marker, or the UM34C checksum), scanning a
//! buffer for a frame after stray bytes, and building frames (for the emulator and the tests).

use super::FrameError;

pub const REQUEST: u8 = 0xF0;
pub const FRAME_LEN: usize = 130;
/// The last two bytes of a UM24C / UM25C frame.
pub const END_MARKER: u16 = 0xFFF1;
/// Bytes whose XOR the UM34C sends as its last byte (sensors.md; unverified against hardware).
pub const UM34C_CHECKSUM_OFFSETS: [usize; 32] = [
    1, 3, 7, 9, 15, 17, 19, 23, 31, 39, 41, 45, 49, 53, 55, 57, 59, 63, 67, 69, 73, 79, 83, 89, 97, 99, 109, 111, 113,
    119, 121, 127,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UmModel {
    Um24c,
    Um25c,
    Um34c,
}

impl UmModel {
    pub const ALL: [UmModel; 3] = [UmModel::Um24c, UmModel::Um25c, UmModel::Um34c];

    /// The model id at offset 0 of every frame.
    pub fn id(self) -> u16 {
        match self {
            UmModel::Um24c => 0x0963,
            UmModel::Um25c => 0x09C9,
            UmModel::Um34c => 0x0D4C,
        }
    }

    pub fn from_id(id: u16) -> Option<UmModel> {
        UmModel::ALL.into_iter().find(|m| m.id() == id)
    }

    pub fn name(self) -> &'static str {
        match self {
            UmModel::Um24c => "um24c",
            UmModel::Um25c => "um25c",
            UmModel::Um34c => "um34c",
        }
    }

    /// Raw counts per volt and per ampere: the UM25C has ten times the resolution of the others.
    fn scale(self) -> (f64, f64) {
        match self {
            UmModel::Um25c => (1000.0, 10_000.0),
            UmModel::Um24c | UmModel::Um34c => (100.0, 1000.0),
        }
    }
}

/// The raw fields the harness uses, as the meter sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UmFields {
    pub voltage: u16,
    pub current: u16,
    /// Milliwatts on every model.
    pub power_mw: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UmReading {
    pub model: UmModel,
    pub fields: UmFields,
    pub voltage_v: f64,
    pub current_a: f64,
    /// The meter's own power field. Division (not multiplication by 0.001) gives the double nearest the
    /// decimal value the meter shows, so 5057 mW is exactly `5.057`.
    pub power_w: f64,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

pub fn um34c_checksum(frame: &[u8]) -> u8 {
    UM34C_CHECKSUM_OFFSETS.iter().fold(0, |x, &i| x ^ frame[i])
}

/// Parses and validates one frame (exactly the first 130 bytes of `frame` are used).
pub fn parse(frame: &[u8]) -> Result<UmReading, FrameError> {
    if frame.len() < FRAME_LEN {
        return Err(FrameError::Short {
            got: frame.len(),
            want: FRAME_LEN,
        });
    }
    let id = be16(frame, 0);
    let model = UmModel::from_id(id).ok_or(FrameError::UnknownModel(id))?;
    match model {
        UmModel::Um34c => {
            let computed = um34c_checksum(frame);
            if frame[129] != computed {
                return Err(FrameError::Checksum {
                    found: frame[129],
                    computed,
                });
            }
        }
        UmModel::Um24c | UmModel::Um25c => {
            let found = be16(frame, 128);
            if found != END_MARKER {
                return Err(FrameError::EndMarker { found });
            }
        }
    }
    let fields = UmFields {
        voltage: be16(frame, 2),
        current: be16(frame, 4),
        power_mw: be32(frame, 6),
    };
    let (per_volt, per_amp) = model.scale();
    Ok(UmReading {
        model,
        fields,
        voltage_v: f64::from(fields.voltage) / per_volt,
        current_a: f64::from(fields.current) / per_amp,
        power_w: f64::from(fields.power_mw) / 1000.0,
    })
}

/// What a buffer of received bytes holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Scan<R> {
    /// A valid frame starting at this offset (bytes before it were stray).
    Found(usize, R),
    /// Nothing valid yet; more bytes may complete a frame. The error says what is wrong so far.
    Wait(FrameError),
    /// Nothing valid, and no frame can start in what was received: stop reading.
    Fail(FrameError),
}

/// Looks for a valid frame at every offset where a model id starts (`expect`'s id only, once the model is
/// known), so an answer after stray bytes is still found, and a false id inside garbage is skipped.
pub fn scan(buf: &[u8], expect: Option<UmModel>) -> Scan<UmReading> {
    let is_id = |id: u16| match expect {
        Some(m) => m.id() == id,
        None => UmModel::from_id(id).is_some(),
    };
    let is_id_start = |b: u8| match expect {
        Some(m) => m.id().to_be_bytes()[0] == b,
        None => UmModel::ALL.iter().any(|m| m.id().to_be_bytes()[0] == b),
    };
    let mut first_error = None;
    for start in 0..buf.len().saturating_sub(1) {
        if !is_id(be16(buf, start)) {
            continue;
        }
        if buf.len() - start < FRAME_LEN {
            // Later candidates are shorter still: wait for the rest of this one.
            return Scan::Wait(first_error.unwrap_or(FrameError::Short {
                got: buf.len() - start,
                want: FRAME_LEN,
            }));
        }
        match parse(&buf[start..]) {
            Ok(reading) => return Scan::Found(start, reading),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let error = first_error.unwrap_or(FrameError::NoFrame {
        got: buf.len(),
        expected: expect.map_or("a UM24C/UM25C/UM34C id", |m| match m {
            UmModel::Um24c => "the UM24C id 0x0963",
            UmModel::Um25c => "the UM25C id 0x09C9",
            UmModel::Um34c => "the UM34C id 0x0D4C",
        }),
    });
    // The last byte may be the first half of an id.
    let tail_may_start = buf.last().is_some_and(|&b| is_id_start(b));
    if buf.len() >= FRAME_LEN && !tail_may_start {
        Scan::Fail(error)
    } else {
        Scan::Wait(error)
    }
}

/// A valid frame with these fields (the other fields hold plausible constants).
pub fn build_frame(model: UmModel, fields: UmFields) -> [u8; FRAME_LEN] {
    let mut f = [0u8; FRAME_LEN];
    f[0..2].copy_from_slice(&model.id().to_be_bytes());
    f[2..4].copy_from_slice(&fields.voltage.to_be_bytes());
    f[4..6].copy_from_slice(&fields.current.to_be_bytes());
    f[6..10].copy_from_slice(&fields.power_mw.to_be_bytes());
    f[10..12].copy_from_slice(&31u16.to_be_bytes()); // 31 C
    f[12..14].copy_from_slice(&88u16.to_be_bytes()); // 88 F
    f[96..98].copy_from_slice(&60u16.to_be_bytes()); // D+ 0.60 V
    f[98..100].copy_from_slice(&59u16.to_be_bytes());
    f[120..122].copy_from_slice(&5u16.to_be_bytes()); // brightness
    f[122..126].copy_from_slice(&51u32.to_be_bytes()); // 5.1 ohm
    match model {
        UmModel::Um34c => f[129] = um34c_checksum(&f),
        UmModel::Um24c | UmModel::Um25c => f[128..130].copy_from_slice(&END_MARKER.to_be_bytes()),
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: UmFields = UmFields {
        voltage: 5120,
        current: 9876,
        power_mw: 5057,
    };

    #[test]
    fn um25c_frame_scales_at_its_own_resolution() {
        let r = parse(&build_frame(UmModel::Um25c, FIELDS)).unwrap();
        assert_eq!(r.model, UmModel::Um25c);
        assert_eq!(r.voltage_v, 5.12);
        assert_eq!(r.current_a, 0.9876);
        assert_eq!(r.power_w, 5.057);
        assert_eq!(r.fields, FIELDS);
    }

    #[test]
    fn um24c_and_um34c_use_the_coarser_scale() {
        let fields = UmFields {
            voltage: 512,
            current: 988,
            power_mw: 5057,
        };
        for model in [UmModel::Um24c, UmModel::Um34c] {
            let r = parse(&build_frame(model, fields)).unwrap();
            assert_eq!(r.model, model);
            assert_eq!(r.voltage_v, 5.12);
            assert_eq!(r.current_a, 0.988);
            assert_eq!(r.power_w, 5.057);
        }
    }

    #[test]
    fn a_hand_built_frame_parses_big_endian_fields() {
        // Written byte by byte, not with build_frame, so a symmetric mistake in both cannot hide.
        let mut f = [0u8; FRAME_LEN];
        f[0] = 0x09;
        f[1] = 0xC9;
        f[2] = 0x14; // 0x1400 = 5120
        f[3] = 0x00;
        f[4] = 0x26; // 0x2694 = 9876
        f[5] = 0x94;
        f[6..10].copy_from_slice(&[0x00, 0x00, 0x13, 0xC1]); // 5057
        f[128] = 0xFF;
        f[129] = 0xF1;
        let r = parse(&f).unwrap();
        assert_eq!((r.voltage_v, r.current_a, r.power_w), (5.12, 0.9876, 5.057));
    }

    #[test]
    fn um34c_checksum_is_the_xor_of_the_listed_odd_offsets() {
        let mut f = [0u8; FRAME_LEN];
        f[0..2].copy_from_slice(&[0x0D, 0x4C]);
        f[3] = 0x01; // offset 3
        f[9] = 0x80; // offset 9
        f[127] = 0x10; // offset 127
        f[8] = 0xFF; // offset 8 is not in the list
        assert_eq!(um34c_checksum(&f), 0x4C ^ 0x01 ^ 0x80 ^ 0x10);
        f[129] = 0x4C ^ 0x01 ^ 0x80 ^ 0x10;
        assert!(parse(&f).is_ok());
        f[129] ^= 0x01;
        assert_eq!(
            parse(&f).unwrap_err(),
            FrameError::Checksum {
                found: 0x4C ^ 0x80 ^ 0x10,
                computed: 0x4C ^ 0x01 ^ 0x80 ^ 0x10
            }
        );
        // A changed byte covered by the checksum is caught; one it does not cover is not (a known limit).
        let mut g = build_frame(UmModel::Um34c, FIELDS);
        g[7] ^= 0x04;
        assert!(matches!(parse(&g), Err(FrameError::Checksum { .. })));
        let mut h = build_frame(UmModel::Um34c, FIELDS);
        h[6] ^= 0x04;
        assert!(parse(&h).is_ok());
    }

    #[test]
    fn bad_end_marker_unknown_id_and_short_frames_are_errors() {
        let mut f = build_frame(UmModel::Um25c, FIELDS);
        f[129] = 0xF2;
        assert_eq!(parse(&f).unwrap_err(), FrameError::EndMarker { found: 0xFFF2 });
        let mut g = build_frame(UmModel::Um25c, FIELDS);
        g[0] = 0x12;
        assert_eq!(parse(&g).unwrap_err(), FrameError::UnknownModel(0x12C9));
        assert_eq!(
            parse(&g[..40]).unwrap_err(),
            FrameError::Short {
                got: 40,
                want: FRAME_LEN
            }
        );
    }

    #[test]
    fn scan_finds_a_frame_after_stray_bytes_and_skips_a_false_id() {
        let frame = build_frame(UmModel::Um25c, FIELDS);
        // Garbage that contains the UM25C id itself: that candidate fails its end marker, the real one wins.
        let mut buf = vec![0x00, 0x09, 0xC9, 0x77, 0x55];
        buf.extend_from_slice(&frame);
        match scan(&buf, Some(UmModel::Um25c)) {
            Scan::Found(start, r) => {
                assert_eq!(start, 5);
                assert_eq!(r.power_w, 5.057);
            }
            other => panic!("{other:?}"),
        }
        // Only part of it so far: wait.
        assert!(matches!(
            scan(&buf[..100], Some(UmModel::Um25c)),
            Scan::Wait(FrameError::Short { got: 99, .. })
        ));
        assert!(matches!(
            scan(&[], None),
            Scan::Wait(FrameError::NoFrame { got: 0, .. })
        ));
    }

    #[test]
    fn scan_gives_up_on_garbage_and_on_a_corrupt_whole_frame() {
        assert!(matches!(
            scan(&[0x55; 200], Some(UmModel::Um25c)),
            Scan::Fail(FrameError::NoFrame { got: 200, .. })
        ));
        let mut f = build_frame(UmModel::Um25c, FIELDS);
        f[128] = 0x00;
        assert!(matches!(
            scan(&f, Some(UmModel::Um25c)),
            Scan::Fail(FrameError::EndMarker { found: 0x00F1 })
        ));
        // Once the model is known, another model's frame is not taken for it.
        let other = build_frame(UmModel::Um24c, FIELDS);
        assert!(matches!(scan(&other, Some(UmModel::Um25c)), Scan::Fail(_)));
        assert!(matches!(scan(&other, None), Scan::Found(0, r) if r.model == UmModel::Um24c));
        // A last byte that may begin an id keeps the reader waiting.
        let mut tail = vec![0x55; FRAME_LEN];
        tail.push(0x09);
        assert!(matches!(scan(&tail, Some(UmModel::Um25c)), Scan::Wait(_)));
    }
}
