//! Keys and integrity checks (RFC 8489 §9, §14.5, §14.6).

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

/// RFC 8489 §9.2.2: key = MD5(username ":" OpaqueString(realm) ":" OpaqueString(password)).
pub fn long_term_key_md5(_username: &str, _realm: &str, _password: &str) -> [u8; 16] {
    todo!()
}

/// RFC 8489 §9.2.2: key = SHA-256(username ":" OpaqueString(realm) ":" OpaqueString(password)).
pub fn long_term_key_sha256(_username: &str, _realm: &str, _password: &str) -> [u8; 32] {
    todo!()
}

/// RFC 8489 §9.1.1: key = OpaqueString(password).
pub fn short_term_key(_password: &str) -> Vec<u8> {
    todo!()
}
