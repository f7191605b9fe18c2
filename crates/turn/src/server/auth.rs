//! Long-term credentials (RFC 8489 §9.2): static users and TURN REST ephemeral users, with the
//! derived keys cached per username so the hot path never recomputes MD5/SHA-256.

use std::collections::HashMap;
use std::sync::Arc;

use stun::{long_term_key_md5, long_term_key_sha256, Message};

use crate::rest::{expiry_of, rest_password};

/// Keys derived from one username/realm/password.
#[derive(Clone, PartialEq, Eq)]
pub struct Keys {
    pub md5: [u8; 16],
    pub sha256: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

impl Keys {
    pub fn derive(username: &str, realm: &str, password: &str) -> Keys {
        Keys {
            md5: long_term_key_md5(username, realm, password),
            sha256: long_term_key_sha256(username, realm, password),
        }
    }
}

/// Why credentials were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    #[error("unknown user")]
    UnknownUser,
    #[error("ephemeral credentials have expired")]
    Expired,
    #[error("message integrity does not match")]
    BadIntegrity,
}

const CACHE_LIMIT: usize = 50_000;

/// The users the server knows.
pub struct Credentials {
    realm: String,
    users: HashMap<String, Arc<Keys>>,
    rest_secrets: Vec<Vec<u8>>,
    /// REST username -> keys under the secret that last verified it.
    rest_cache: HashMap<Box<str>, Arc<Keys>>,
}

impl Credentials {
    pub fn new(realm: &str, users: &[(String, String)], rest_secrets: &[String]) -> Credentials {
        Credentials {
            realm: realm.to_owned(),
            users: users
                .iter()
                .map(|(u, p)| (u.clone(), Arc::new(Keys::derive(u, realm, p))))
                .collect(),
            rest_secrets: rest_secrets.iter().map(|s| s.as_bytes().to_vec()).collect(),
            rest_cache: HashMap::new(),
        }
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// RFC 8489 §9.2.4: find the user's keys and check the request's integrity with them.
    /// `sha256_key` selects the key derivation (PASSWORD-ALGORITHM SHA-256). `unix_now`
    /// decides whether a REST username has expired.
    pub fn verify(
        &mut self,
        username: &str,
        msg: &Message<'_>,
        sha256_key: bool,
        unix_now: u64,
    ) -> Result<Arc<Keys>, AuthError> {
        let check = |k: &Keys| {
            let key: &[u8] = if sha256_key { &k.sha256 } else { &k.md5 };
            msg.verify_integrity(key).is_ok()
        };
        if let Some(keys) = self.users.get(username) {
            return if check(keys) {
                Ok(keys.clone())
            } else {
                Err(AuthError::BadIntegrity)
            };
        }
        if self.rest_secrets.is_empty() {
            return Err(AuthError::UnknownUser);
        }
        let expiry = expiry_of(username).ok_or(AuthError::UnknownUser)?;
        if expiry <= unix_now {
            return Err(AuthError::Expired);
        }
        if let Some(keys) = self.rest_cache.get(username) {
            if check(keys) {
                return Ok(keys.clone());
            }
        }
        for secret in &self.rest_secrets {
            let password = rest_password(secret, username);
            let keys = Keys::derive(username, &self.realm, &password);
            if check(&keys) {
                let keys = Arc::new(keys);
                if self.rest_cache.len() >= CACHE_LIMIT {
                    self.rest_cache.clear();
                }
                self.rest_cache.insert(username.into(), keys.clone());
                return Ok(keys);
            }
        }
        Err(AuthError::BadIntegrity)
    }
}
