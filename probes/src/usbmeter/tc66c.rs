//! RDTech TC66C: the host sends ASCII `getva`, the meter answers 192 bytes encrypted with AES-256-ECB under a
//! fixed key. Decrypted, three 64-byte blocks each end in a u32 little-endian CRC-16/MODBUS of their first 60
//! bytes; all values are u32 little-endian.

use super::FrameError;
use super::rdtech_um::Scan;
use aes::Aes256;
use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit, generic_array::GenericArray};

pub const REQUEST: &[u8] = b"getva";
pub const ANSWER_LEN: usize = 192;
const BLOCK: usize = 64;

/// The fixed key every TC66C uses (sensors.md).
pub const KEY: [u8; 32] = [
    0x58, 0x21, 0xfa, 0x56, 0x01, 0xb2, 0xf0, 0x26, 0x87, 0xff, 0x12, 0x04, 0x62, 0x2a, 0x4f, 0xb0, 0x86, 0xf4, 0x02,
    0x60, 0x81, 0x6f, 0x9a, 0x0b, 0xa7, 0xf1, 0x06, 0x61, 0x9a, 0xb8, 0x72, 0x88,
];

/// CRC-16/MODBUS: init 0xFFFF, reflected polynomial 0xA001, no final XOR.
pub fn crc16_modbus(data: &[u8]) -> u16 {
    let mut crc = 0xFFFFu16;
    for &byte in data {
        crc ^= u16::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xA001 } else { crc >> 1 };
        }
    }
    crc
}

fn cipher() -> Aes256 {
    Aes256::new(GenericArray::from_slice(&KEY))
}

/// Decrypts whole 16-byte blocks of `data` in place (ECB: each block alone).
pub fn decrypt_in_place(data: &mut [u8]) {
    let aes = cipher();
    for block in data.chunks_exact_mut(16) {
        aes.decrypt_block(GenericArray::from_mut_slice(block));
    }
}

pub fn encrypt_in_place(data: &mut [u8]) {
    let aes = cipher();
    for block in data.chunks_exact_mut(16) {
        aes.encrypt_block(GenericArray::from_mut_slice(block));
    }
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The raw `pac1` fields the harness uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tc66Fields {
    /// 1e-4 V.
    pub voltage: u32,
    /// 1e-5 A.
    pub current: u32,
    /// 1e-4 W.
    pub power: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tc66Reading {
    pub fields: Tc66Fields,
    pub voltage_v: f64,
    pub current_a: f64,
    pub power_w: f64,
}

fn check_block(plain: &[u8], index: usize) -> Result<(), FrameError> {
    let block = &plain[index * BLOCK..(index + 1) * BLOCK];
    let computed = crc16_modbus(&block[..60]);
    let found = le32(block, 60);
    if found != u32::from(computed) {
        return Err(FrameError::Crc {
            block: index + 1,
            found,
            computed,
        });
    }
    Ok(())
}

/// Parses a decrypted answer, checking every block's CRC.
pub fn parse_plain(plain: &[u8]) -> Result<Tc66Reading, FrameError> {
    if plain.len() < ANSWER_LEN {
        return Err(FrameError::Short {
            got: plain.len(),
            want: ANSWER_LEN,
        });
    }
    for index in 0..3 {
        check_block(plain, index)?;
    }
    let fields = Tc66Fields {
        voltage: le32(plain, 48),
        current: le32(plain, 52),
        power: le32(plain, 56),
    };
    Ok(Tc66Reading {
        fields,
        voltage_v: f64::from(fields.voltage) / 10_000.0,
        current_a: f64::from(fields.current) / 100_000.0,
        power_w: f64::from(fields.power) / 10_000.0,
    })
}

/// Decrypts and parses the first 192 bytes of `cipher_text`.
pub fn parse(cipher_text: &[u8]) -> Result<Tc66Reading, FrameError> {
    if cipher_text.len() < ANSWER_LEN {
        return Err(FrameError::Short {
            got: cipher_text.len(),
            want: ANSWER_LEN,
        });
    }
    let mut plain = [0u8; ANSWER_LEN];
    plain.copy_from_slice(&cipher_text[..ANSWER_LEN]);
    decrypt_in_place(&mut plain);
    parse_plain(&plain)
}

/// Looks for a valid answer at every offset (the answer has no clear-text marker to search for; a CRC that
/// holds after decryption is the marker). Gives up once twice an answer has arrived with nothing valid.
pub fn scan(buf: &[u8]) -> Scan<Tc66Reading> {
    if buf.len() < ANSWER_LEN {
        return Scan::Wait(FrameError::Short {
            got: buf.len(),
            want: ANSWER_LEN,
        });
    }
    let mut first_error = None;
    for start in 0..=buf.len() - ANSWER_LEN {
        match parse(&buf[start..]) {
            Ok(reading) => return Scan::Found(start, reading),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let error = first_error.expect("at least one offset tried");
    if buf.len() >= 2 * ANSWER_LEN {
        Scan::Fail(error)
    } else {
        Scan::Wait(error)
    }
}

/// An encrypted answer with these fields and valid CRCs, as a TC66C sends it.
pub fn build_answer(fields: Tc66Fields) -> [u8; ANSWER_LEN] {
    let mut plain = [0u8; ANSWER_LEN];
    plain[0..4].copy_from_slice(b"pac1");
    plain[4..8].copy_from_slice(b"TC66");
    plain[8..12].copy_from_slice(b"1.15");
    plain[48..52].copy_from_slice(&fields.voltage.to_le_bytes());
    plain[52..56].copy_from_slice(&fields.current.to_le_bytes());
    plain[56..60].copy_from_slice(&fields.power.to_le_bytes());
    plain[64..68].copy_from_slice(b"pac2");
    plain[68..72].copy_from_slice(&51u32.to_le_bytes()); // 5.1 ohm
    plain[128..132].copy_from_slice(b"pac3");
    for index in 0..3 {
        let block = &mut plain[index * BLOCK..(index + 1) * BLOCK];
        let crc = crc16_modbus(&block[..60]);
        block[60..64].copy_from_slice(&u32::from(crc).to_le_bytes());
    }
    encrypt_in_place(&mut plain);
    plain
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: Tc66Fields = Tc66Fields {
        voltage: 51_200,
        current: 98_760,
        power: 50_565,
    };

    #[test]
    fn crc16_modbus_check_value() {
        assert_eq!(crc16_modbus(b"123456789"), 0x4B37);
        assert_eq!(crc16_modbus(b""), 0xFFFF);
    }

    #[test]
    fn aes256_matches_the_fips197_vector() {
        // FIPS-197 appendix C.3, so the key schedule and block order are the standard ones.
        let key: Vec<u8> = (0u8..32).collect();
        let aes = Aes256::new(GenericArray::from_slice(&key));
        let mut block = *b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff";
        aes.encrypt_block(GenericArray::from_mut_slice(&mut block));
        assert_eq!(
            block,
            [
                0x8e, 0xa2, 0xb7, 0xca, 0x51, 0x67, 0x45, 0xbf, 0xea, 0xfc, 0x49, 0x90, 0x4b, 0x49, 0x60, 0x89
            ]
        );
    }

    #[test]
    fn an_encrypted_answer_decrypts_and_scales() {
        let answer = build_answer(FIELDS);
        assert_ne!(&answer[0..4], b"pac1", "the wire bytes are encrypted");
        let r = parse(&answer).unwrap();
        assert_eq!(r.fields, FIELDS);
        assert_eq!((r.voltage_v, r.current_a, r.power_w), (5.12, 0.9876, 5.0565));
        let mut plain = answer;
        decrypt_in_place(&mut plain);
        assert_eq!(&plain[0..4], b"pac1");
        assert_eq!(&plain[64..68], b"pac2");
    }

    #[test]
    fn a_flipped_byte_fails_the_crc_of_its_block() {
        for (at, block) in [(5, 1), (70, 2), (191, 3)] {
            let mut answer = build_answer(FIELDS);
            answer[at] ^= 0x20;
            match parse(&answer) {
                Err(FrameError::Crc { block: b, .. }) => assert_eq!(b, block, "byte {at}"),
                other => panic!("byte {at}: {other:?}"),
            }
        }
        // A CRC whose upper half is not zero is wrong too.
        let mut plain = build_answer(FIELDS);
        decrypt_in_place(&mut plain);
        plain[63] = 1;
        assert!(matches!(parse_plain(&plain), Err(FrameError::Crc { block: 1, .. })));
    }

    #[test]
    fn scan_resyncs_after_stray_bytes_and_gives_up_on_garbage() {
        let mut buf = vec![0x42; 7];
        buf.extend_from_slice(&build_answer(FIELDS));
        assert!(matches!(scan(&buf), Scan::Found(7, r) if r.fields == FIELDS));
        assert!(matches!(
            scan(&buf[..150]),
            Scan::Wait(FrameError::Short { got: 150, .. })
        ));
        assert!(matches!(scan(&[0x42; 200]), Scan::Wait(FrameError::Crc { .. })));
        assert!(matches!(scan(&[0x42; 400]), Scan::Fail(FrameError::Crc { .. })));
        assert!(parse(&buf[..100]).is_err());
    }
}
