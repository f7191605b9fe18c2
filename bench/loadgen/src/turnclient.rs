//! A minimal TURN client for load generation: Allocate with the long-term credential
//! mechanism (RFC 8656 §7.1, RFC 8489 §9.2), then ChannelBind (RFC 8656 §11), over a tokio UDP
//! socket connected to the server. Requests are retransmitted on a fixed timer; that is enough
//! on loopback.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use stun::{Attribute, Class, ErrorCode, Message, MessageBuilder, Method, TransactionId};
use tokio::net::UdpSocket;

/// REQUESTED-TRANSPORT protocol number for UDP (RFC 8656 §18.6).
const UDP: u8 = 17;

/// Long-term credentials of one user.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::str::FromStr for Credentials {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        let (u, p) = s
            .split_once(':')
            .ok_or_else(|| anyhow!("expected NAME:PASSWORD"))?;
        Ok(Credentials {
            username: u.to_owned(),
            password: p.to_owned(),
        })
    }
}

/// What a 401 taught the client: realm, nonce and the derived key.
#[derive(Debug, Clone)]
pub struct Auth {
    pub username: String,
    pub realm: String,
    pub nonce: Vec<u8>,
    pub key: [u8; 16],
}

/// How requests are retransmitted.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub timeout: Duration,
    pub tries: u32,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            timeout: Duration::from_millis(500),
            tries: 6,
        }
    }
}

pub fn random_tid() -> TransactionId {
    TransactionId::new(rand::random())
}

/// A Binding request (header only, RFC 8489 §6.1) into `buf`.
pub fn binding_request(buf: &mut Vec<u8>, tid: TransactionId) {
    MessageBuilder::new(buf, Class::Request, Method::BINDING, tid).finish();
}

fn add_auth(b: &mut MessageBuilder<'_>, auth: &Auth) {
    b.add(&Attribute::Username(&auth.username))
        .add(&Attribute::Realm(&auth.realm))
        .add(&Attribute::Nonce(&auth.nonce))
        .message_integrity(&auth.key);
}

/// Allocate (RFC 8656 §7.1): UDP relay, authenticated when `auth` is given.
pub fn allocate_request(buf: &mut Vec<u8>, tid: TransactionId, auth: Option<&Auth>) {
    let mut b = MessageBuilder::new(buf, Class::Request, Method::ALLOCATE, tid);
    b.add(&Attribute::RequestedTransport(UDP));
    if let Some(auth) = auth {
        add_auth(&mut b, auth);
    }
    b.finish();
}

/// ChannelBind (RFC 8656 §11.1) of `channel` to `peer`; also installs the permission.
pub fn channel_bind_request(
    buf: &mut Vec<u8>,
    tid: TransactionId,
    channel: u16,
    peer: SocketAddr,
    auth: &Auth,
) {
    let mut b = MessageBuilder::new(buf, Class::Request, Method::CHANNEL_BIND, tid);
    b.add(&Attribute::ChannelNumber(channel))
        .add(&Attribute::XorPeerAddress(peer));
    add_auth(&mut b, auth);
    b.finish();
}

/// Send the request `build` writes and wait for the response with its transaction id,
/// retransmitting per `retry`. Other datagrams are ignored. Returns the response bytes.
pub async fn transact(
    sock: &UdpSocket,
    retry: Retry,
    mut build: impl FnMut(&mut Vec<u8>, TransactionId),
) -> Result<Vec<u8>> {
    let tid = random_tid();
    let mut req = Vec::with_capacity(256);
    build(&mut req, tid);
    let mut buf = vec![0u8; 2048];
    for _ in 0..retry.tries {
        sock.send(&req).await?;
        let deadline = tokio::time::Instant::now() + retry.timeout;
        loop {
            let n = match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
                Err(_) => break, // timed out: retransmit
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    bail!("server port unreachable")
                }
                Ok(r) => r?,
            };
            if let Ok(m) = Message::parse(&buf[..n]) {
                if m.transaction_id() == tid && m.class().is_response() {
                    return Ok(buf[..n].to_vec());
                }
            }
        }
    }
    bail!("no response after {} tries", retry.tries)
}

/// Learn realm and nonce from a 401 or 438 error response.
pub fn auth_from_challenge(resp: &Message<'_>, creds: &Credentials) -> Result<Auth> {
    let realm = resp.realm().ok_or_else(|| {
        anyhow!(
            "expected a challenge with REALM, got {:?} {:?}",
            resp.class(),
            resp.error_code()
        )
    })?;
    let nonce = resp
        .nonce()
        .ok_or_else(|| anyhow!("challenge without NONCE"))?;
    Ok(Auth {
        username: creds.username.clone(),
        realm: realm.to_owned(),
        nonce: nonce.to_vec(),
        key: stun::long_term_key_md5(&creds.username, realm, &creds.password),
    })
}

fn error_code(m: &Message<'_>) -> Option<ErrorCode> {
    m.error_code().map(|e| e.code)
}

/// An allocation made by [`allocate`].
#[derive(Debug, Clone)]
pub struct Allocation {
    pub relayed: SocketAddr,
    pub auth: Auth,
}

/// Allocate with the long-term mechanism: unauthenticated request, 401, authenticated request
/// (again on 438 Stale Nonce).
pub async fn allocate(sock: &UdpSocket, creds: &Credentials, retry: Retry) -> Result<Allocation> {
    let first = transact(sock, retry, |b, t| allocate_request(b, t, None)).await?;
    let first = Message::parse(&first)?;
    if first.class() == Class::SuccessResponse {
        bail!("server allocated without authentication");
    }
    let mut auth = auth_from_challenge(&first, creds)?;
    for _ in 0..3 {
        let resp = transact(sock, retry, |b, t| allocate_request(b, t, Some(&auth))).await?;
        let m = Message::parse(&resp)?;
        match m.class() {
            Class::SuccessResponse => {
                let relayed = m
                    .xor_relayed_addresses()
                    .next()
                    .ok_or_else(|| anyhow!("Allocate success without XOR-RELAYED-ADDRESS"))?;
                return Ok(Allocation { relayed, auth });
            }
            _ if error_code(&m) == Some(ErrorCode::STALE_NONCE) => {
                auth = auth_from_challenge(&m, creds)?;
            }
            _ => bail!("Allocate refused: {:?}", m.error_code()),
        }
    }
    bail!("Allocate: stale nonce three times")
}

/// ChannelBind `channel` to `peer` (again with a fresh nonce on 438).
pub async fn channel_bind(
    sock: &UdpSocket,
    alloc: &mut Allocation,
    creds: &Credentials,
    channel: u16,
    peer: SocketAddr,
    retry: Retry,
) -> Result<()> {
    for _ in 0..3 {
        let resp = transact(sock, retry, |b, t| {
            channel_bind_request(b, t, channel, peer, &alloc.auth)
        })
        .await?;
        let m = Message::parse(&resp)?;
        match m.class() {
            Class::SuccessResponse => return Ok(()),
            _ if error_code(&m) == Some(ErrorCode::STALE_NONCE) => {
                alloc.auth = auth_from_challenge(&m, creds)?;
            }
            _ => bail!("ChannelBind refused: {:?}", m.error_code()),
        }
    }
    bail!("ChannelBind: stale nonce three times")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_parse() {
        let c: Credentials = "bench:secret:x".parse().unwrap();
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("bench", "secret:x")
        );
        assert!("nopassword".parse::<Credentials>().is_err());
    }

    #[test]
    fn requests_parse_back_and_verify() {
        let auth = Auth {
            username: "bench".into(),
            realm: "rv".into(),
            nonce: b"n0nce".to_vec(),
            key: stun::long_term_key_md5("bench", "rv", "pw"),
        };
        let mut buf = Vec::new();
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        channel_bind_request(&mut buf, random_tid(), 0x4000, peer, &auth);
        let m = Message::parse(&buf).unwrap();
        assert_eq!(m.method(), Method::CHANNEL_BIND);
        assert_eq!(m.channel_number(), Some(0x4000));
        assert_eq!(m.xor_peer_addresses().next(), Some(peer));
        m.verify_message_integrity(&auth.key).unwrap();

        allocate_request(&mut buf, random_tid(), None);
        let m = Message::parse(&buf).unwrap();
        assert_eq!(
            (m.method(), m.requested_transport()),
            (Method::ALLOCATE, Some(UDP))
        );
        assert!(m.username().is_none());
    }
}
