//! Room tokens (`docs/protocol.md` §8): a JSON Web Token (RFC 7519) signed with HMAC-SHA256
//! (JWS `HS256`, RFC 7515 §A.1) whose claims are `room`, `role` and `exp` (Unix seconds).
//!
//! Being a plain HS256 JWT, a token can be minted by any application backend with an ordinary
//! JWT library and the shared `--signal-secret`. Verification accepts any of several secrets so
//! that secrets can be rotated: the first one signs, all of them verify.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::Role;

/// Longest token accepted, in bytes; bounds the work an unauthenticated client can cause.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// `base64url({"alg":"HS256","typ":"JWT"})`, the only header this module writes.
const HEADER_B64: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

/// What a valid token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub room: String,
    pub role: Role,
    /// Unix seconds after which the token is refused.
    pub expires_at: u64,
}

/// Why a token was refused. The wire only ever says `bad-token`; the variant goes to the
/// human-readable message and the logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    #[error("token is not a well-formed HS256 JWT")]
    Malformed,
    #[error("token signature does not verify with any configured secret")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("token is not yet valid")]
    NotYetValid,
    #[error("token is for another room")]
    WrongRoom,
    #[error("token is for another role")]
    WrongRole,
}

#[derive(Serialize)]
struct OutClaims<'a> {
    room: &'a str,
    role: Role,
    exp: u64,
}

#[derive(Deserialize)]
struct InHeader {
    alg: String,
}

#[derive(Deserialize)]
struct InClaims {
    room: String,
    role: String,
    exp: u64,
    nbf: Option<u64>,
}

fn mac(secret: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length")
}

/// A token for `role` in `room` under `secret`, valid until `expires_at_unix`.
pub fn mint(secret: &[u8], room: &str, role: Role, expires_at_unix: u64) -> String {
    let claims = OutClaims {
        room,
        role,
        exp: expires_at_unix,
    };
    let payload = serde_json::to_vec(&claims).expect("claims always serialize");
    let mut token = format!("{HEADER_B64}.{}", URL_SAFE_NO_PAD.encode(payload));
    let mut m = mac(secret);
    m.update(token.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    token.push('.');
    token.push_str(&sig);
    token
}

/// Checks the signature (constant time, against each secret) and the time window, and returns
/// the claims. Does not check room or role: see [`verify_for`].
pub fn verify<S: AsRef<[u8]>>(
    secrets: &[S],
    token: &str,
    now_unix: u64,
) -> Result<Claims, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    // RFC 7515 §5.2: the signature covers `header "." payload` exactly as transmitted.
    let signed = &token[..header_b64.len() + 1 + payload_b64.len()];
    let header = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| TokenError::Malformed)?;
    let header: InHeader = serde_json::from_slice(&header).map_err(|_| TokenError::Malformed)?;
    // RFC 8725 §3.1: accept only the algorithm we expect; never "none", never another key type.
    if header.alg != "HS256" {
        return Err(TokenError::Malformed);
    }
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| TokenError::Malformed)?;
    let mut ok = false;
    for secret in secrets {
        let mut m = mac(secret.as_ref());
        m.update(signed.as_bytes());
        // `verify_slice` compares in constant time.
        ok |= m.verify_slice(&sig).is_ok();
    }
    if !ok {
        return Err(TokenError::BadSignature);
    }
    let payload = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| TokenError::Malformed)?;
    let claims: InClaims = serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
    let role = Role::parse(&claims.role).ok_or(TokenError::Malformed)?;
    if now_unix >= claims.exp {
        return Err(TokenError::Expired);
    }
    if claims.nbf.is_some_and(|nbf| now_unix < nbf) {
        return Err(TokenError::NotYetValid);
    }
    Ok(Claims {
        room: claims.room,
        role,
        expires_at: claims.exp,
    })
}

/// [`verify`], then checks that the token grants `role` in `room`.
pub fn verify_for<S: AsRef<[u8]>>(
    secrets: &[S],
    token: &str,
    room: &str,
    role: Role,
    now_unix: u64,
) -> Result<Claims, TokenError> {
    let claims = verify(secrets, token, now_unix)?;
    if claims.room != room {
        return Err(TokenError::WrongRoom);
    }
    if claims.role != role {
        return Err(TokenError::WrongRole);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_token_minted_elsewhere() {
        // Made with Python's hmac/base64 modules, independently of this code:
        //   h = b64url(b'{"alg":"HS256","typ":"JWT"}')
        //   p = b64url(b'{"room":"demo","role":"viewer","exp":2000000000}')
        //   s = b64url(hmac.new(b"s3cret", f"{h}.{p}".encode(), "sha256").digest())
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.\
                     eyJyb29tIjoiZGVtbyIsInJvbGUiOiJ2aWV3ZXIiLCJleHAiOjIwMDAwMDAwMDB9.\
                     0n_7WG1kwRx_aTw-HFIwaM5L10yUJM086ei0pW5Fuko";
        assert_eq!(
            verify(&[b"s3cret"], token, 1_900_000_000),
            Ok(Claims {
                room: "demo".into(),
                role: Role::Viewer,
                expires_at: 2_000_000_000
            })
        );
        assert_eq!(mint(b"s3cret", "demo", Role::Viewer, 2_000_000_000), token);
    }

    #[test]
    fn mint_then_verify_for() {
        let t = mint(b"k", "room 1", Role::Publisher, 100);
        assert!(verify_for(&[b"k"], &t, "room 1", Role::Publisher, 99).is_ok());
        assert_eq!(
            verify_for(&[b"k"], &t, "room 1", Role::Publisher, 100),
            Err(TokenError::Expired)
        );
        assert_eq!(
            verify_for(&[b"k"], &t, "room 2", Role::Publisher, 0),
            Err(TokenError::WrongRoom)
        );
        assert_eq!(
            verify_for(&[b"k"], &t, "room 1", Role::Viewer, 0),
            Err(TokenError::WrongRole)
        );
        assert_eq!(
            verify_for(&[b"other"], &t, "room 1", Role::Publisher, 0),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn any_configured_secret_verifies() {
        let old = mint(b"old", "r", Role::Peer, 10);
        let new = mint(b"new", "r", Role::Peer, 10);
        let secrets: [&[u8]; 2] = [b"new", b"old"];
        assert!(verify(&secrets, &old, 0).is_ok());
        assert!(verify(&secrets, &new, 0).is_ok());
        assert_eq!(
            verify(&secrets[..1], &old, 0),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn tampering_and_other_algorithms_are_refused() {
        let t = mint(b"k", "r", Role::Viewer, 10);
        let forged_claims = URL_SAFE_NO_PAD.encode(br#"{"room":"r","role":"publisher","exp":10}"#);
        let mut parts: Vec<&str> = t.split('.').collect();
        parts[1] = &forged_claims;
        assert_eq!(
            verify(&[b"k"], &parts.join("."), 0),
            Err(TokenError::BadSignature)
        );
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        let unsigned = format!("{none_header}.{}.", t.split('.').nth(1).unwrap());
        assert_eq!(verify(&[b"k"], &unsigned, 0), Err(TokenError::Malformed));
        for junk in ["", ".", "..", "a.b.c", "a.b.c.d", &"x".repeat(5000)] {
            assert!(verify(&[b"k"], junk, 0).is_err(), "{junk:?}");
        }
        let nbf = URL_SAFE_NO_PAD.encode(br#"{"room":"r","role":"peer","exp":10,"nbf":5}"#);
        let signed = format!("{HEADER_B64}.{nbf}");
        let mut m = mac(b"k");
        m.update(signed.as_bytes());
        let t = format!(
            "{signed}.{}",
            URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
        );
        assert_eq!(verify(&[b"k"], &t, 4), Err(TokenError::NotYetValid));
        assert!(verify(&[b"k"], &t, 5).is_ok());
    }

    proptest::proptest! {
        #[test]
        fn verify_never_panics(t in ".{0,300}") {
            let _ = verify(&[b"k"], &t, 0);
        }
    }
}
