//! Secrets: generated with the OS random generator, stored only as SHA-256 digests, compared in
//! constant time.

use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// Length of a webhook code: 32 characters of 36 symbols is about 165 bits of entropy.
pub const WEBHOOK_CODE_LEN: usize = 32;

/// A fresh random code in the shape Bitrix24 webhook codes have (lower-case letters and digits).
pub fn generate_code(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// The SHA-256 digest under which a secret is stored.
pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Compares two digests without leaking where they differ.
pub fn digests_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.ct_eq(b).into()
}

/// The name under which the key application tokens are derived from is stored.
pub const EVENT_KEY: &str = "event_token_key";

/// An application's token: HMAC-SHA256(server key, client id), hex. Derived rather than stored, so
/// that the database keeps only its digest while the sender can still put it in payloads.
pub fn application_token(key: &[u8], client_id: &str) -> String {
    hmac_hex(key, client_id)
}

/// An outgoing webhook's token, derived like an application's from the handler id.
pub fn webhook_token(key: &[u8], handler_id: i64) -> String {
    hmac_hex(key, &format!("outgoing-webhook:{handler_id}"))
}

/// The name under which the key that signs file download and upload URLs is stored.
pub const DISK_KEY: &str = "disk_url_key";

/// The signature of a file URL (`disk.*`): HMAC-SHA256(server key, what the URL grants), hex.
/// It grants that one download or upload and nothing else: it is no credential for REST calls.
pub fn url_signature(key: &[u8], grant: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(grant.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `given` is the signature of `grant`, compared in constant time.
pub fn url_signature_valid(key: &[u8], grant: &str, given: &str) -> bool {
    url_signature(key, grant)
        .as_bytes()
        .ct_eq(given.as_bytes())
        .into()
}

fn hmac_hex(key: &[u8], message: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message.as_bytes());
    let bytes = mac.finalize().into_bytes();
    // 32 hex characters, the length of a real application token.
    hex::encode(&bytes[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_long_random_and_url_safe() {
        let a = generate_code(WEBHOOK_CODE_LEN);
        let b = generate_code(WEBHOOK_CODE_LEN);
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    }

    #[test]
    fn digests_compare_equal_only_for_the_same_secret() {
        assert!(digests_equal(&digest("x"), &digest("x")));
        assert!(!digests_equal(&digest("x"), &digest("y")));
    }
}
