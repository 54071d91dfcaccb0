//! aes-gcm: AES-256-GCM encryption of the input blob under a fixed key and nonce, then decryption and a check
//! that the plaintext came back (RustCrypto `aes-gcm`). Output: the ciphertext with its tag.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};

const KEY: [u8; 32] = *b"harness-energy-study-key-32bytes";
const NONCE: [u8; 12] = *b"unique-nonce";

pub fn run(input: &[u8]) -> Result<Vec<u8>, String> {
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&KEY));
    let nonce = Nonce::from_slice(&NONCE);
    let sealed = cipher.encrypt(nonce, input).map_err(|e| format!("encrypt: {e}"))?;
    let opened = cipher
        .decrypt(nonce, sealed.as_slice())
        .map_err(|e| format!("decrypt: {e}"))?;
    if opened != input {
        return Err("decrypted text differs from the input".into());
    }
    Ok(sealed)
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips_and_adds_a_tag() {
        let out = super::run(&[7u8; 100]).unwrap();
        assert_eq!(out.len(), 116);
    }
}
