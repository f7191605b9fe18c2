//! TURN REST ephemeral credentials (draft-uberti-behave-turn-rest-00 §2.2): username
//! `expiry:userid`, password base64(HMAC-SHA1(secret, username)).

use base64::Engine;
use hmac::{Hmac, Mac};

/// A username/password pair valid until `expires_at` (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EphemeralCredentials {
    pub username: String,
    pub password: String,
    pub expires_at: u64,
}

/// The password for a REST username under `secret`.
pub fn rest_password(secret: &[u8], username: &str) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Credentials for `user_id` that expire `ttl_secs` after `now_unix`.
pub fn issue(secret: &[u8], user_id: &str, now_unix: u64, ttl_secs: u64) -> EphemeralCredentials {
    let expires_at = now_unix.saturating_add(ttl_secs);
    let username = if user_id.is_empty() {
        expires_at.to_string()
    } else {
        format!("{expires_at}:{user_id}")
    };
    let password = rest_password(secret, &username);
    EphemeralCredentials {
        username,
        password,
        expires_at,
    }
}

/// The expiry encoded in a REST username (`expiry` or `expiry:userid`), if it has one.
pub fn expiry_of(username: &str) -> Option<u64> {
    username.split(':').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_matches_coturn_formula() {
        // HMAC-SHA1("secret", "1700000000:alice") computed independently with openssl:
        // printf '1700000000:alice' | openssl dgst -sha1 -hmac secret -binary | base64
        let p = rest_password(b"secret", "1700000000:alice");
        assert_eq!(p, "d8soP47RbdIKLDUOpnJPVQyq5Ts=");
        let c = issue(b"secret", "alice", 1_699_999_000, 1000);
        assert_eq!(c.username, "1700000000:alice");
        assert_eq!(c.password, p);
        assert_eq!(expiry_of(&c.username), Some(1_700_000_000));
        assert_eq!(expiry_of("alice"), None);
    }
}
