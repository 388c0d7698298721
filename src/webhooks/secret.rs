//! Signing secrets (Standard Webhooks 1.0): `whsec_` + base64 of 32 random bytes, and the
//! `v1,<base64 HMAC-SHA256>` signature of `id.timestamp.body` keyed with the decoded bytes.
//!
//! The bytes come from the operating system's generator through `getrandom` (the crate
//! `uuid`, `rand` and the RustCrypto crates already use for their own randomness); the MAC is
//! RustCrypto's `hmac` over `sha2` (both already built for jsonwebtoken and sqlx).

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// What every secret starts with.
pub const PREFIX: &str = "whsec_";
/// Random bytes in a secret.
const BYTES: usize = 32;

/// A new secret, or the generator's failure (the process cannot make one).
pub fn generate() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; BYTES];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{PREFIX}{}", STANDARD.encode(bytes)))
}

/// The key bytes of a secret; `None` for one this service did not make.
pub fn key(secret: &str) -> Option<Vec<u8>> {
    STANDARD.decode(secret.strip_prefix(PREFIX)?).ok()
}

/// The signature of one message: `v1,` and the base64 MAC of `id.timestamp.body`.
pub fn sign(key: &[u8], message_id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    mac.update(message_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_the_prefix_and_32_bytes() {
        let secret = generate().unwrap();
        assert!(secret.starts_with(PREFIX));
        assert_eq!(key(&secret).unwrap().len(), BYTES);
        assert_ne!(secret, generate().unwrap());
    }

    #[test]
    fn signs_as_the_specification_example() {
        // The example of the Standard Webhooks reference libraries.
        let key = key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}
