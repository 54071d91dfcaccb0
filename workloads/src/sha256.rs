//! sha256: SHA-256 of the input blob (the RustCrypto `sha2` crate). Output: the 32-byte hash.

use sha2::{Digest, Sha256};

pub fn run(input: &[u8]) -> Result<Vec<u8>, String> {
    Ok(Sha256::digest(input).to_vec())
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_vector() {
        let out = super::run(b"abc").unwrap();
        assert_eq!(out[..4], [0xba, 0x78, 0x16, 0xbf]);
    }
}
