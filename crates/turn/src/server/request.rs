//! Request dispatch, the long-term credential gate (RFC 8489 §9.2.4) and response building.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use stun::{
    AttributeType, Class, ErrorCode, Message, MessageBuilder, Method, PasswordAlgorithm,
    TransactionId,
};

use super::allocation::{Integrity, PendingResponse};
use super::auth::Keys;
use super::types::{FiveTuple, ToPeer, Transmit};
use super::Server;

/// RFC 8489 §14.11 PASSWORD-ALGORITHMS as we send it: SHA-256 preferred, MD5 for older
/// clients, both without parameters.
pub(super) const PASSWORD_ALGORITHMS: [u8; 8] = [0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00];

/// Comprehension-required attributes understood in TURN requests.
pub(super) const TURN_KNOWN: &[AttributeType] = &[
    AttributeType::USERNAME,
    AttributeType::MESSAGE_INTEGRITY,
    AttributeType::MESSAGE_INTEGRITY_SHA256,
    AttributeType::REALM,
    AttributeType::NONCE,
    AttributeType::PASSWORD_ALGORITHM,
    AttributeType::USERHASH,
    AttributeType::CHANNEL_NUMBER,
    AttributeType::LIFETIME,
    AttributeType::XOR_PEER_ADDRESS,
    AttributeType::DATA,
    AttributeType::REQUESTED_ADDRESS_FAMILY,
    AttributeType::EVEN_PORT,
    AttributeType::REQUESTED_TRANSPORT,
    AttributeType::DONT_FRAGMENT,
    AttributeType::RESERVATION_TOKEN,
    AttributeType::CONNECTION_ID,
    AttributeType::PADDING,
];

/// A request that passed authentication.
#[derive(Debug, Clone)]
pub(super) struct Auth {
    pub username: Arc<str>,
    pub keys: Arc<Keys>,
    pub integrity: Integrity,
}

impl PendingResponse {
    pub(super) fn for_request(from: FiveTuple, msg: &Message<'_>, auth: Option<&Auth>) -> Self {
        PendingResponse {
            five_tuple: from,
            tid: msg.transaction_id(),
            integrity: auth.map(|a| (a.keys.clone(), a.integrity)),
            fingerprint: msg.has_fingerprint(),
        }
    }
}

impl Server {
    pub(super) fn handle_stun(
        &mut self,
        now: Instant,
        from: FiveTuple,
        packet: &[u8],
    ) -> Option<ToPeer> {
        let Ok(msg) = Message::parse(packet) else {
            self.stats.dropped_packets += 1;
            return None;
        };
        match (msg.class(), msg.method()) {
            (Class::Request, Method::BINDING) => self.handle_binding(from, &msg),
            (Class::Indication, Method::SEND) if !self.config.stun_only => {
                return self.handle_send(now, from, &msg)
            }
            (Class::Request, method) => {
                self.stats.turn_requests += 1;
                let reply = PendingResponse::for_request(from, &msg, None);
                let is_turn = matches!(
                    method,
                    Method::ALLOCATE
                        | Method::REFRESH
                        | Method::CREATE_PERMISSION
                        | Method::CHANNEL_BIND
                        | Method::CONNECT
                        | Method::CONNECTION_BIND
                );
                if !is_turn || self.config.stun_only {
                    self.respond_error(&reply, method, ErrorCode::BAD_REQUEST);
                    return None;
                }
                let auth = self.authenticate(now, from, &msg)?;
                let reply = PendingResponse::for_request(from, &msg, Some(&auth));
                let unknown = msg.unknown_required(TURN_KNOWN);
                if !unknown.is_empty() {
                    self.respond_unknown(&reply, method, &unknown);
                    return None;
                }
                match method {
                    Method::ALLOCATE => self.handle_allocate(now, reply, &msg, auth),
                    Method::REFRESH => self.handle_refresh(now, reply, &msg, &auth),
                    Method::CREATE_PERMISSION => {
                        self.handle_create_permission(now, reply, &msg, &auth)
                    }
                    Method::CHANNEL_BIND => self.handle_channel_bind(now, reply, &msg, &auth),
                    Method::CONNECT => self.handle_connect(now, reply, &msg, &auth),
                    _ => self.handle_connection_bind(now, reply, &msg, &auth),
                }
            }
            _ => self.stats.dropped_packets += 1,
        }
        None
    }

    /// RFC 8489 §9.2.4, in order: no integrity -> 401; missing USERNAME/REALM/NONCE -> 400;
    /// stale or foreign nonce -> 438; PASSWORD-ALGORITHMS mismatch -> 400; unknown user or
    /// wrong integrity -> 401. Challenges carry REALM, NONCE and PASSWORD-ALGORITHMS and are
    /// rate-limited per source address.
    fn authenticate(&mut self, now: Instant, from: FiveTuple, msg: &Message<'_>) -> Option<Auth> {
        let reply = PendingResponse::for_request(from, msg, None);
        let method = msg.method();
        let sha256_hmac = msg.get(AttributeType::MESSAGE_INTEGRITY_SHA256).is_some();
        if !sha256_hmac && msg.get(AttributeType::MESSAGE_INTEGRITY).is_none() {
            self.challenge(now, &reply, method, ErrorCode::UNAUTHENTICATED);
            return None;
        }
        let (Some(username), Some(_realm), Some(nonce)) =
            (msg.username(), msg.realm(), msg.nonce())
        else {
            self.respond_error(&reply, method, ErrorCode::BAD_REQUEST);
            return None;
        };
        if self.nonces.check(now, from.client.ip(), nonce).is_err() {
            self.challenge(now, &reply, method, ErrorCode::STALE_NONCE);
            return None;
        }
        let sha256_key = match (
            msg.get(AttributeType::PASSWORD_ALGORITHMS),
            msg.get(AttributeType::PASSWORD_ALGORITHM),
        ) {
            (None, None) => false,
            (Some(list), Some(alg)) if list.value == PASSWORD_ALGORITHMS => {
                match alg
                    .value
                    .get(..2)
                    .map(|b| PasswordAlgorithm(u16::from_be_bytes([b[0], b[1]])))
                {
                    Some(PasswordAlgorithm::SHA256) => true,
                    Some(PasswordAlgorithm::MD5) => false,
                    _ => {
                        self.respond_error(&reply, method, ErrorCode::BAD_REQUEST);
                        return None;
                    }
                }
            }
            _ => {
                self.respond_error(&reply, method, ErrorCode::BAD_REQUEST);
                return None;
            }
        };
        let unix_now = self.unix_now(now);
        match self.credentials.verify(username, msg, sha256_key, unix_now) {
            Ok(keys) => Some(Auth {
                username: username.into(),
                keys,
                integrity: Integrity {
                    sha256_key,
                    sha256_hmac,
                },
            }),
            Err(e) => {
                tracing::debug!(error = %e, "authentication failed");
                self.stats.auth_failures += 1;
                self.challenge(now, &reply, method, ErrorCode::UNAUTHENTICATED);
                None
            }
        }
    }

    /// 401 or 438 with a fresh nonce, unless this source has had too many already.
    fn challenge(
        &mut self,
        now: Instant,
        reply: &PendingResponse,
        method: Method,
        code: ErrorCode,
    ) {
        if !self
            .unauthenticated
            .allow(now, reply.five_tuple.client.ip())
        {
            self.stats.dropped_packets += 1;
            return;
        }
        let nonce = self.nonces.issue(now, reply.five_tuple.client.ip());
        let realm = self.credentials.realm().to_owned();
        self.respond(reply, method, Some(code), |b| {
            b.add(&stun::Attribute::Realm(&realm));
            b.add(&stun::Attribute::Nonce(&nonce));
            b.raw(AttributeType::PASSWORD_ALGORITHMS, &PASSWORD_ALGORITHMS);
        });
    }

    pub(super) fn respond_error(
        &mut self,
        reply: &PendingResponse,
        method: Method,
        code: ErrorCode,
    ) {
        self.respond(reply, method, Some(code), |_| {});
    }

    fn respond_unknown(
        &mut self,
        reply: &PendingResponse,
        method: Method,
        unknown: &[AttributeType],
    ) {
        self.respond(reply, method, Some(ErrorCode::UNKNOWN_ATTRIBUTE), |b| {
            b.add(&stun::Attribute::UnknownAttributes(unknown.to_vec()));
        });
    }

    /// Build a response to `reply` (error when `code` is set), signed when the request was
    /// authenticated, with FINGERPRINT when the request had one, and queue it.
    pub(super) fn respond(
        &mut self,
        reply: &PendingResponse,
        method: Method,
        code: Option<ErrorCode>,
        fill: impl FnOnce(&mut MessageBuilder<'_>),
    ) {
        let to = reply.five_tuple.client;
        let local = reply.five_tuple.local;
        self.respond_from(reply, method, code, local, to, fill);
    }

    pub(super) fn respond_from(
        &mut self,
        reply: &PendingResponse,
        method: Method,
        code: Option<ErrorCode>,
        local: SocketAddr,
        to: SocketAddr,
        fill: impl FnOnce(&mut MessageBuilder<'_>),
    ) {
        let mut buf = self.outbox.buffer();
        let class = if code.is_some() {
            Class::ErrorResponse
        } else {
            Class::SuccessResponse
        };
        build(&mut buf, class, method, reply.tid, |b| {
            if let Some(code) = code {
                b.error(code, code.reason());
            }
            fill(b);
            if let Some(software) = &self.config.software {
                b.add(&stun::Attribute::Software(software));
            }
            if let Some((keys, integrity)) = &reply.integrity {
                let key: &[u8] = if integrity.sha256_key {
                    &keys.sha256
                } else {
                    &keys.md5
                };
                if integrity.sha256_hmac {
                    b.message_integrity_sha256(key);
                } else {
                    b.message_integrity(key);
                }
            }
            if reply.fingerprint {
                b.fingerprint();
            }
        });
        if code.is_some() {
            self.stats.error_responses += 1;
        }
        self.outbox.push(
            Transmit {
                local,
                to,
                transport: reply.five_tuple.transport,
            },
            buf,
        );
    }

    /// Queue an indication to a client.
    pub(super) fn indicate(
        &mut self,
        to: FiveTuple,
        method: Method,
        fill: impl FnOnce(&mut MessageBuilder<'_>),
    ) {
        let mut tid = [0u8; 12];
        rand::RngCore::fill_bytes(&mut self.rng, &mut tid);
        let mut buf = self.outbox.buffer();
        build(
            &mut buf,
            Class::Indication,
            method,
            TransactionId(tid),
            fill,
        );
        self.outbox.push(
            Transmit {
                local: to.local,
                to: to.client,
                transport: to.transport,
            },
            buf,
        );
    }
}

fn build(
    buf: &mut Vec<u8>,
    class: Class,
    method: Method,
    tid: TransactionId,
    fill: impl FnOnce(&mut MessageBuilder<'_>),
) {
    let mut b = MessageBuilder::new(buf, class, method, tid);
    fill(&mut b);
    b.finish();
}
