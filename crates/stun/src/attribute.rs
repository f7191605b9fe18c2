//! Typed attributes: decode from a [`RawAttribute`](crate::RawAttribute) and encode into a builder.

use std::net::SocketAddr;

use crate::types::{AttributeType, ErrorCode, PasswordAlgorithm, TransactionId};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttributeError {
    #[error("attribute {0:?} has a bad length")]
    BadLength(AttributeType),
    #[error("attribute {0:?} has an unknown address family")]
    BadFamily(AttributeType),
    #[error("attribute {0:?} is not valid UTF-8")]
    NotUtf8(AttributeType),
    #[error("attribute {0:?} has an invalid value")]
    Invalid(AttributeType),
}

/// ERROR-CODE value (RFC 8489 §14.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCodeValue<'a> {
    pub code: ErrorCode,
    pub reason: &'a str,
}

/// Every attribute the codec knows, borrowing from the message. Unknown types are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Attribute<'a> {
    MappedAddress(SocketAddr),
    XorMappedAddress(SocketAddr),
    Username(&'a str),
    Userhash(&'a [u8; 32]),
    MessageIntegrity(&'a [u8; 20]),
    MessageIntegritySha256(&'a [u8]),
    Fingerprint(u32),
    ErrorCode(ErrorCodeValue<'a>),
    Realm(&'a str),
    Nonce(&'a [u8]),
    /// Each entry: algorithm and its parameters.
    PasswordAlgorithms(Vec<(PasswordAlgorithm, &'a [u8])>),
    PasswordAlgorithm(PasswordAlgorithm, &'a [u8]),
    UnknownAttributes(Vec<AttributeType>),
    Software(&'a str),
    AlternateServer(SocketAddr),
    AlternateDomain(&'a str),
    // RFC 5780
    ChangeRequest {
        change_ip: bool,
        change_port: bool,
    },
    ResponseOrigin(SocketAddr),
    OtherAddress(SocketAddr),
    Padding(&'a [u8]),
    ResponsePort(u16),
    // RFC 8656
    ChannelNumber(u16),
    Lifetime(u32),
    XorPeerAddress(SocketAddr),
    Data(&'a [u8]),
    XorRelayedAddress(SocketAddr),
    /// 0x01 IPv4, 0x02 IPv6
    RequestedAddressFamily(u8),
    EvenPort {
        reserve: bool,
    },
    /// Protocol number: 17 UDP, 6 TCP
    RequestedTransport(u8),
    DontFragment,
    ReservationToken(u64),
    AdditionalAddressFamily(u8),
    AddressErrorCode {
        family: u8,
        code: ErrorCode,
        reason: &'a str,
    },
    Icmp {
        icmp_type: u8,
        code: u8,
        data: u32,
    },
    // RFC 6062
    ConnectionId(u32),
    // RFC 8445
    Priority(u32),
    UseCandidate,
    IceControlled(u64),
    IceControlling(u64),
    Unknown {
        typ: AttributeType,
        value: &'a [u8],
    },
}

impl<'a> Attribute<'a> {
    /// Decode a value of type `typ`. XOR addresses need the transaction id.
    pub fn decode(
        _typ: AttributeType,
        _value: &'a [u8],
        _tid: &TransactionId,
    ) -> Result<Self, AttributeError> {
        todo!()
    }
    pub fn typ(&self) -> AttributeType {
        todo!()
    }
}
