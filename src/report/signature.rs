//! Per-device signatures: after a device's first report the server hands it a key (trust on
//! first use); the agent keeps it private and signs every later report with it, and the server
//! refuses an unsigned or wrongly signed report for a device it knows. The signature is
//! HMAC-SHA-256 of the exact request body, hex, in the [`HEADER`]; the key itself never travels
//! again.

use sha2::{Digest, Sha256};

/// The request header that carries the signature.
pub const HEADER: &str = "X-Device-Signature";

/// HMAC-SHA-256 (RFC 2104) of `body` under `key`, as lower-case hex.
pub fn sign(key: &str, body: &[u8]) -> String {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key.as_bytes()));
    } else {
        block[..key.len()].copy_from_slice(key.as_bytes());
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(body)
        .finalize();
    let outer = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4231_test_vectors() {
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            sign("key", b"The quick brown fox jumps over the lazy dog"),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
        // A key longer than the block is hashed first (Python's hmac agrees).
        assert_eq!(
            sign(&"k".repeat(131), b"x"),
            "5e7df641fef282dee7244c5dd15b5bd8cf84ca3483ca5685fc31cef5dd361622"
        );
    }
}
