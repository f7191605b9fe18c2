//! Stateless expiring nonces (RFC 8489 §9.2.3): the server keeps no per-client state; a nonce
//! carries its own expiry and a MAC over that expiry and the client's IP address.
//!
//! Layout: `obMatJos2` `AAAB` (RFC 8489 §9.2: nonce cookie + security feature "password
//! algorithms"), 8 hex digits of expiry (seconds since the core started), then 16 base64url
//! characters of HMAC-SHA256(key, expiry || client IP) truncated to 96 bits.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

const COOKIE: &[u8] = b"obMatJos2AAAB";
const NONCE_LEN: usize = COOKIE.len() + 8 + 16;

/// Why a nonce was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NonceError {
    #[error("nonce is malformed or was not issued to this address")]
    Invalid,
    #[error("nonce has expired")]
    Expired,
}

/// Issues and checks nonces with a key drawn at startup.
pub struct NonceSigner {
    key: [u8; 32],
    epoch: Instant,
    lifetime: Duration,
}

impl NonceSigner {
    pub fn new(key: [u8; 32], epoch: Instant, lifetime: Duration) -> NonceSigner {
        NonceSigner {
            key,
            epoch,
            lifetime: lifetime.max(Duration::from_secs(1)),
        }
    }

    /// Whether the nonce advertises the RFC 8489 password-algorithms security feature.
    pub fn has_feature_cookie(nonce: &[u8]) -> bool {
        nonce.starts_with(COOKIE)
    }

    /// A fresh nonce for `client`, valid for the configured lifetime from `now`.
    pub fn issue(&self, now: Instant, client: IpAddr) -> [u8; NONCE_LEN] {
        let expiry = now
            .saturating_duration_since(self.epoch)
            .saturating_add(self.lifetime)
            .as_secs()
            .min(u64::from(u32::MAX)) as u32;
        let mut out = [0u8; NONCE_LEN];
        out[..COOKIE.len()].copy_from_slice(COOKIE);
        let hex = format_hex(expiry);
        out[COOKIE.len()..COOKIE.len() + 8].copy_from_slice(&hex);
        let mac = self.mac(expiry, client);
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode_slice(mac, &mut out[COOKIE.len() + 8..])
            .expect("16 characters fit");
        out
    }

    /// RFC 8489 §9.2.4: Ok when `nonce` was issued by us to `client` and has not expired.
    pub fn check(&self, now: Instant, client: IpAddr, nonce: &[u8]) -> Result<(), NonceError> {
        if nonce.len() != NONCE_LEN || !nonce.starts_with(COOKIE) {
            return Err(NonceError::Invalid);
        }
        let expiry =
            parse_hex(&nonce[COOKIE.len()..COOKIE.len() + 8]).ok_or(NonceError::Invalid)?;
        let mut mac = [0u8; 12];
        let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode_slice(&nonce[COOKIE.len() + 8..], &mut mac)
            .map_err(|_| NonceError::Invalid)?;
        if decoded != 12 || !bool::from(mac.ct_eq(&self.mac(expiry, client))) {
            return Err(NonceError::Invalid);
        }
        let age = now.saturating_duration_since(self.epoch).as_secs();
        if age >= u64::from(expiry) {
            return Err(NonceError::Expired);
        }
        Ok(())
    }

    fn mac(&self, expiry: u32, client: IpAddr) -> [u8; 12] {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(&expiry.to_be_bytes());
        match client {
            IpAddr::V4(a) => mac.update(&a.octets()),
            IpAddr::V6(a) => mac.update(&a.octets()),
        }
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; 12];
        out.copy_from_slice(&full[..12]);
        out
    }
}

fn format_hex(v: u32) -> [u8; 8] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 8];
    for (i, o) in out.iter_mut().enumerate() {
        *o = DIGITS[((v >> (28 - 4 * i)) & 0xf) as usize];
    }
    out
}

fn parse_hex(s: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in s {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => return None,
        };
        v = (v << 4) | u32::from(d);
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_nonce_checks_until_it_expires() {
        let t0 = Instant::now();
        let s = NonceSigner::new([7; 32], t0, Duration::from_secs(600));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let n = s.issue(t0, a);
        assert!(NonceSigner::has_feature_cookie(&n));
        assert_eq!(s.check(t0 + Duration::from_secs(599), a, &n), Ok(()));
        assert_eq!(
            s.check(t0 + Duration::from_secs(600), a, &n),
            Err(NonceError::Expired)
        );
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(s.check(t0, other, &n), Err(NonceError::Invalid));
        let mut forged = n;
        forged[COOKIE.len() + 7] = b'f';
        assert_eq!(s.check(t0, a, &forged), Err(NonceError::Invalid));
        assert_eq!(s.check(t0, a, b"short"), Err(NonceError::Invalid));
        let other_key = NonceSigner::new([8; 32], t0, Duration::from_secs(600));
        assert_eq!(other_key.check(t0, a, &n), Err(NonceError::Invalid));
    }

    proptest::proptest! {
        #[test]
        fn garbage_never_panics_and_never_passes(bytes: Vec<u8>) {
            let t0 = Instant::now();
            let s = NonceSigner::new([1; 32], t0, Duration::from_secs(600));
            proptest::prop_assert!(s.check(t0, "::1".parse().unwrap(), &bytes).is_err());
        }
    }
}
