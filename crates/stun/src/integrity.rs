//! Keys and integrity checks (RFC 8489 §9, §14.5, §14.6, §14.7).
//!
//! # OpaqueString
//!
//! RFC 8489 prepares realms and passwords with the PRECIS OpaqueString profile (RFC 8265),
//! RFC 5389 used SASLprep (RFC 4013). [`opaque_string`] implements the practical subset:
//!
//! - ASCII passes through unchanged (no allocation): this is what browsers, coturn and
//!   TURN REST credentials use.
//! - Non-ASCII space characters (Unicode Zs) become U+0020, the profile's additional mapping
//!   rule.
//! - Not done: NFC normalisation (the input is taken to be NFC already, as keyboards and
//!   browsers produce it), the disallowed-character checks (these functions cannot fail), and
//!   SASLprep's NFKC and "mapped to nothing" steps. So RFC 5769 §2.4's password
//!   `"The\u{AD}M\u{AA}tr\u{2168}"` must be given in its prepared form `"TheMatrIX"`.

use std::borrow::Cow;

use hmac::{Hmac, Mac};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::message::HEADER_LEN;
use crate::types::PasswordAlgorithm;

/// Length of the MESSAGE-INTEGRITY value (HMAC-SHA1).
pub const SHA1_LEN: usize = 20;
/// Length of the full MESSAGE-INTEGRITY-SHA256 value.
pub const SHA256_LEN: usize = 32;
/// RFC 8489 §14.7: the CRC-32 is XORed with this ("STUN").
pub const FINGERPRINT_XOR: u32 = 0x5354_554e;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IntegrityError {
    #[error("no MESSAGE-INTEGRITY or MESSAGE-INTEGRITY-SHA256")]
    Missing,
    #[error("message integrity does not match")]
    Mismatch,
    #[error("malformed integrity attribute")]
    Malformed,
}

/// The practical OpaqueString subset described in the [module docs](self).
pub fn opaque_string(s: &str) -> Cow<'_, str> {
    if s.is_ascii() || !s.chars().any(is_non_ascii_space) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| if is_non_ascii_space(c) { ' ' } else { c })
            .collect(),
    )
}

/// Unicode general category Zs other than U+0020.
fn is_non_ascii_space(c: char) -> bool {
    matches!(
        c,
        '\u{00A0}' | '\u{1680}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}'
    )
}

/// RFC 8489 §9.2.2: key = MD5(username ":" OpaqueString(realm) ":" OpaqueString(password)).
pub fn long_term_key_md5(username: &str, realm: &str, password: &str) -> [u8; 16] {
    let mut h = Md5::new();
    feed_credentials(&mut h, username, realm, password);
    h.finalize().into()
}

/// RFC 8489 §9.2.2: key = SHA-256(username ":" OpaqueString(realm) ":" OpaqueString(password)).
pub fn long_term_key_sha256(username: &str, realm: &str, password: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    feed_credentials(&mut h, username, realm, password);
    h.finalize().into()
}

/// The long-term key for a PASSWORD-ALGORITHM (RFC 8489 §18.5); `None` for algorithms this
/// codec does not implement. MD5 keys are 16 bytes, SHA-256 keys 32.
pub fn long_term_key(
    algorithm: PasswordAlgorithm,
    username: &str,
    realm: &str,
    password: &str,
) -> Option<LongTermKey> {
    match algorithm {
        PasswordAlgorithm::MD5 => Some(LongTermKey::Md5(long_term_key_md5(
            username, realm, password,
        ))),
        PasswordAlgorithm::SHA256 => Some(LongTermKey::Sha256(long_term_key_sha256(
            username, realm, password,
        ))),
        _ => None,
    }
}

/// A long-term key without allocation; `as_ref()` gives the HMAC key bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum LongTermKey {
    Md5([u8; 16]),
    Sha256([u8; 32]),
}

impl AsRef<[u8]> for LongTermKey {
    fn as_ref(&self) -> &[u8] {
        match self {
            LongTermKey::Md5(k) => k,
            LongTermKey::Sha256(k) => k,
        }
    }
}

impl std::fmt::Debug for LongTermKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys are secrets: never print them.
        match self {
            LongTermKey::Md5(_) => f.write_str("LongTermKey::Md5(..)"),
            LongTermKey::Sha256(_) => f.write_str("LongTermKey::Sha256(..)"),
        }
    }
}

fn feed_credentials(h: &mut impl Digest, username: &str, realm: &str, password: &str) {
    h.update(username.as_bytes());
    h.update(b":");
    h.update(opaque_string(realm).as_bytes());
    h.update(b":");
    h.update(opaque_string(password).as_bytes());
}

/// RFC 8489 §9.1.1: key = OpaqueString(password).
pub fn short_term_key(password: &str) -> Vec<u8> {
    opaque_string(password).into_owned().into_bytes()
}

/// RFC 8489 §14.4: userhash = SHA-256(OpaqueString(username) ":" OpaqueString(realm)).
pub fn userhash(username: &str, realm: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(opaque_string(username).as_bytes());
    h.update(b":");
    h.update(opaque_string(realm).as_bytes());
    h.finalize().into()
}

/// HMAC over `prefix` (a message header and the attributes before the integrity attribute)
/// with the header's length field replaced by `length`.
fn hmac_prefix<M: Mac + hmac::digest::KeyInit>(key: &[u8], prefix: &[u8], length: u16) -> M {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <M as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    let mut header = [0u8; HEADER_LEN];
    let n = prefix.len().min(HEADER_LEN);
    header[..n].copy_from_slice(&prefix[..n]);
    header[2..4].copy_from_slice(&length.to_be_bytes());
    mac.update(&header);
    mac.update(prefix.get(HEADER_LEN..).unwrap_or_default());
    mac
}

/// RFC 8489 §14.5: MESSAGE-INTEGRITY value.
pub(crate) fn hmac_sha1(key: &[u8], prefix: &[u8], length: u16) -> [u8; SHA1_LEN] {
    hmac_prefix::<Hmac<Sha1>>(key, prefix, length)
        .finalize()
        .into_bytes()
        .into()
}

/// RFC 8489 §14.6: full MESSAGE-INTEGRITY-SHA256 value.
pub(crate) fn hmac_sha256(key: &[u8], prefix: &[u8], length: u16) -> [u8; SHA256_LEN] {
    hmac_prefix::<Hmac<Sha256>>(key, prefix, length)
        .finalize()
        .into_bytes()
        .into()
}

/// RFC 8489 §14.7: CRC-32 of `prefix` XOR 0x5354554e.
pub(crate) fn fingerprint(prefix: &[u8]) -> u32 {
    crc32fast::hash(prefix) ^ FINGERPRINT_XOR
}

pub(crate) fn constant_time_eq(computed: &[u8], received: &[u8]) -> Result<(), IntegrityError> {
    if bool::from(computed.ct_eq(received)) {
        Ok(())
    } else {
        Err(IntegrityError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MATRIX_USER: &str = "\u{30DE}\u{30C8}\u{30EA}\u{30C3}\u{30AF}\u{30B9}";

    #[test]
    fn long_term_md5_key_of_rfc5769_vector() {
        // MD5("マトリックス:example.org:TheMatrIX"), the key RFC 5769 §2.4 is signed with.
        let key = long_term_key_md5(MATRIX_USER, "example.org", "TheMatrIX");
        let mut direct = Md5::new();
        direct.update(format!("{MATRIX_USER}:example.org:TheMatrIX").as_bytes());
        assert_eq!(key, <[u8; 16]>::from(direct.finalize()));
        assert_ne!(
            key,
            long_term_key_md5(MATRIX_USER, "example.org", "TheMatrix")
        );
    }

    #[test]
    fn long_term_key_by_algorithm() {
        let md5 = long_term_key(PasswordAlgorithm::MD5, "u", "r", "p").unwrap();
        let sha = long_term_key(PasswordAlgorithm::SHA256, "u", "r", "p").unwrap();
        assert_eq!(md5.as_ref(), long_term_key_md5("u", "r", "p"));
        assert_eq!(sha.as_ref(), long_term_key_sha256("u", "r", "p"));
        assert_eq!(long_term_key(PasswordAlgorithm(9), "u", "r", "p"), None);
        assert_eq!(format!("{md5:?}"), "LongTermKey::Md5(..)");
    }

    #[test]
    fn userhash_of_rfc8489_vector() {
        // RFC 8489 Appendix B.1 USERHASH value.
        assert_eq!(
            userhash(MATRIX_USER, "example.org"),
            [
                0x4a, 0x3c, 0xf3, 0x8f, 0xef, 0x69, 0x92, 0xbd, 0xa9, 0x52, 0xc6, 0x78, 0x04, 0x17,
                0xda, 0x0f, 0x24, 0x81, 0x94, 0x15, 0x56, 0x9e, 0x60, 0xb2, 0x05, 0xc4, 0x6e, 0x41,
                0x40, 0x7f, 0x17, 0x04,
            ]
        );
    }

    #[test]
    fn opaque_string_subset() {
        assert!(matches!(
            opaque_string("VOkJxbRl1RmTxUk/WvJxBt"),
            Cow::Borrowed(_)
        ));
        assert!(matches!(
            opaque_string("pässword"),
            Cow::Borrowed("pässword")
        ));
        assert_eq!(opaque_string("a\u{00A0}b\u{3000}c"), "a b c");
        assert_eq!(short_term_key("x\u{2003}y"), b"x y");
        // Documented limit: SASLprep's NFKC and mapped-to-nothing steps are not applied.
        assert_eq!(
            opaque_string("The\u{AD}M\u{AA}tr\u{2168}"),
            "The\u{AD}M\u{AA}tr\u{2168}"
        );
    }

    #[test]
    fn hmac_replaces_the_length_field_only() {
        let mut a = vec![0u8; 28];
        a[2] = 0xff;
        let mut b = a.clone();
        b[2] = 0x00;
        b[3] = 0x33;
        assert_eq!(hmac_sha1(b"k", &a, 8), hmac_sha1(b"k", &b, 8));
        assert_ne!(hmac_sha1(b"k", &a, 8), hmac_sha1(b"k", &a, 12));
        assert_eq!(hmac_sha256(b"k", &a, 8), hmac_sha256(b"k", &b, 8));
        b[27] = 1;
        assert_ne!(hmac_sha256(b"k", &a, 8), hmac_sha256(b"k", &b, 8));
    }

    #[test]
    fn constant_time_eq_needs_same_length() {
        assert_eq!(constant_time_eq(b"abcd", b"abcd"), Ok(()));
        assert_eq!(
            constant_time_eq(b"abcd", b"abce"),
            Err(IntegrityError::Mismatch)
        );
        assert_eq!(
            constant_time_eq(b"abcd", b"abc"),
            Err(IntegrityError::Mismatch)
        );
    }
}
