//! TURN requests: what each carries on the wire (RFC 8656 §7-§12) and the long-term
//! credential state that signs them (RFC 8489 §9.2).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use stun::{Attribute, AttributeType, Class, MessageBuilder, Method, TransactionId};

/// RFC 8656 §18.7 REQUESTED-TRANSPORT: UDP.
const PROTOCOL_UDP: u8 = 17;

/// A TURN username and password (long-term, or REST ephemeral credentials).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// RFC 8489 §9.2: the realm and nonce learned from the server, and the key derived from them.
#[derive(Debug)]
pub(super) struct Auth {
    credentials: Credentials,
    realm: String,
    nonce: Vec<u8>,
    key: Option<[u8; 16]>,
}

impl Auth {
    pub(super) fn new(credentials: Credentials) -> Self {
        Auth {
            credentials,
            realm: String::new(),
            nonce: Vec::new(),
            key: None,
        }
    }

    pub(super) fn has_nonce(&self) -> bool {
        !self.nonce.is_empty()
    }

    pub(super) fn key(&self) -> Option<&[u8]> {
        self.key.as_ref().map(|k| k.as_slice())
    }

    /// RFC 8489 §9.2.3: key = MD5(username ":" OpaqueString(realm) ":" OpaqueString(password)).
    pub(super) fn challenge(&mut self, realm: &str, nonce: &[u8]) {
        if self.key.is_none() || self.realm != realm {
            self.key = Some(stun::long_term_key_md5(
                &self.credentials.username,
                realm,
                &self.credentials.password,
            ));
            self.realm = realm.to_owned();
        }
        self.nonce = nonce.to_vec();
    }
}

/// The requests the client makes; `*Retry` is the same request sent again after a 401/438.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RequestKind {
    Allocate,
    AllocateRetry,
    Refresh { lifetime: u32 },
    RefreshRetry { lifetime: u32 },
    CreatePermission { ip: IpAddr },
    CreatePermissionRetry { ip: IpAddr },
    ChannelBind { peer: SocketAddr, number: u16 },
    ChannelBindRetry { peer: SocketAddr, number: u16 },
}

impl RequestKind {
    pub(super) fn method(&self) -> Method {
        match self {
            RequestKind::Allocate | RequestKind::AllocateRetry => Method::ALLOCATE,
            RequestKind::Refresh { .. } | RequestKind::RefreshRetry { .. } => Method::REFRESH,
            RequestKind::CreatePermission { .. } | RequestKind::CreatePermissionRetry { .. } => {
                Method::CREATE_PERMISSION
            }
            RequestKind::ChannelBind { .. } | RequestKind::ChannelBindRetry { .. } => {
                Method::CHANNEL_BIND
            }
        }
    }

    pub(super) fn retried(&self) -> bool {
        matches!(
            self,
            RequestKind::AllocateRetry
                | RequestKind::RefreshRetry { .. }
                | RequestKind::CreatePermissionRetry { .. }
                | RequestKind::ChannelBindRetry { .. }
        )
    }

    pub(super) fn retry(&self) -> RequestKind {
        match *self {
            RequestKind::Allocate | RequestKind::AllocateRetry => RequestKind::AllocateRetry,
            RequestKind::Refresh { lifetime } | RequestKind::RefreshRetry { lifetime } => {
                RequestKind::RefreshRetry { lifetime }
            }
            RequestKind::CreatePermission { ip } | RequestKind::CreatePermissionRetry { ip } => {
                RequestKind::CreatePermissionRetry { ip }
            }
            RequestKind::ChannelBind { peer, number }
            | RequestKind::ChannelBindRetry { peer, number } => {
                RequestKind::ChannelBindRetry { peer, number }
            }
        }
    }
}

/// Writes `kind` as a request into `buf`, signed when a nonce is known.
pub(super) fn encode(
    buf: &mut Vec<u8>,
    tid: TransactionId,
    kind: &RequestKind,
    auth: &Auth,
) -> usize {
    let mut b = MessageBuilder::new(buf, Class::Request, kind.method(), tid);
    match *kind {
        // RFC 8656 §7.1: REQUESTED-TRANSPORT is required; LIFETIME is a wish.
        RequestKind::Allocate | RequestKind::AllocateRetry => {
            b.add(&Attribute::RequestedTransport(PROTOCOL_UDP));
            b.add(&Attribute::Lifetime(super::REQUESTED_LIFETIME));
        }
        RequestKind::Refresh { lifetime } | RequestKind::RefreshRetry { lifetime } => {
            b.add(&Attribute::Lifetime(lifetime));
        }
        // RFC 8656 §10.1: XOR-PEER-ADDRESS; the port is ignored by the server.
        RequestKind::CreatePermission { ip } | RequestKind::CreatePermissionRetry { ip } => {
            b.xor_address(AttributeType::XOR_PEER_ADDRESS, SocketAddr::new(ip, 0));
        }
        // RFC 8656 §12.1: CHANNEL-NUMBER and XOR-PEER-ADDRESS.
        RequestKind::ChannelBind { peer, number }
        | RequestKind::ChannelBindRetry { peer, number } => {
            b.add(&Attribute::ChannelNumber(number));
            b.xor_address(AttributeType::XOR_PEER_ADDRESS, peer);
        }
    }
    if let Some(key) = &auth.key {
        b.add(&Attribute::Username(&auth.credentials.username));
        b.add(&Attribute::Realm(&auth.realm));
        b.add(&Attribute::Nonce(&auth.nonce));
        b.message_integrity(key);
    }
    b.finish()
}

/// RFC 8656 §11.1: a Send indication with XOR-PEER-ADDRESS and DATA (never authenticated).
pub(super) fn send_indication(
    buf: &mut Vec<u8>,
    tid: TransactionId,
    peer: SocketAddr,
    data: &[u8],
) -> usize {
    let mut b = MessageBuilder::new(buf, Class::Indication, Method::SEND, tid);
    b.xor_address(AttributeType::XOR_PEER_ADDRESS, peer);
    b.add(&Attribute::Data(data));
    b.finish()
}
