//! The borrowing view over one STUN message.

use crate::types::{AttributeType, Class, Method, TransactionId};
use crate::{Attribute, AttributeError, IntegrityError};

/// Why a datagram is not a well-formed STUN message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    #[error("truncated header: {0} bytes, need 20")]
    TruncatedHeader(usize),
    #[error("first two bits are not zero")]
    NotStun,
    #[error("wrong magic cookie {0:#010x}")]
    WrongCookie(u32),
    #[error("message length {declared} does not match the {available} bytes after the header")]
    BadLength { declared: usize, available: usize },
    #[error("message length {0} is not a multiple of 4")]
    UnalignedLength(usize),
    #[error("attribute {attr:?} truncated at offset {offset}")]
    TruncatedAttribute { attr: AttributeType, offset: usize },
    #[error("non-zero padding after attribute {0:?}")]
    BadPadding(AttributeType),
    #[error("attribute {0:?} after FINGERPRINT")]
    AfterFingerprint(AttributeType),
    #[error("FINGERPRINT does not match")]
    BadFingerprint,
}

/// One attribute as it sits in the message: type and unpadded value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawAttribute<'a> {
    pub typ: AttributeType,
    pub value: &'a [u8],
    /// Offset of the attribute header from the start of the message.
    pub offset: usize,
}

/// A parsed STUN message borrowing the datagram (no copy).
///
/// `parse` checks: header, cookie, length, attribute framing and padding, nothing after
/// FINGERPRINT, and the FINGERPRINT value when present. Attributes after MESSAGE-INTEGRITY
/// (other than MESSAGE-INTEGRITY-SHA256 and FINGERPRINT) are still iterable via
/// [`Message::all_attributes`] but [`Message::attributes`] stops at the integrity boundary
/// (RFC 8489 §14.5: they MUST be ignored).
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    _buf: &'a [u8],
}

impl<'a> Message<'a> {
    pub fn parse(_buf: &'a [u8]) -> Result<Message<'a>, ParseError> {
        todo!()
    }
    pub fn as_bytes(&self) -> &'a [u8] {
        todo!()
    }
    pub fn class(&self) -> Class {
        todo!()
    }
    pub fn method(&self) -> Method {
        todo!()
    }
    pub fn transaction_id(&self) -> TransactionId {
        todo!()
    }
    /// Attributes up to (and including) MESSAGE-INTEGRITY / -SHA256 and FINGERPRINT;
    /// others after integrity are skipped.
    pub fn attributes(&self) -> impl Iterator<Item = RawAttribute<'a>> + 'a {
        std::iter::empty()
    }
    /// Every attribute in wire order, including those after integrity.
    pub fn all_attributes(&self) -> impl Iterator<Item = RawAttribute<'a>> + 'a {
        std::iter::empty()
    }
    /// First attribute of the type (respecting the integrity boundary).
    pub fn get(&self, _typ: AttributeType) -> Option<RawAttribute<'a>> {
        todo!()
    }
    /// Decode the first attribute of the type.
    pub fn attribute(&self, _typ: AttributeType) -> Option<Result<Attribute<'a>, AttributeError>> {
        todo!()
    }
    /// Comprehension-required attribute types that `known` does not list (for 420).
    pub fn unknown_required(&self, _known: &[AttributeType]) -> Vec<AttributeType> {
        todo!()
    }
    pub fn has_fingerprint(&self) -> bool {
        todo!()
    }
    /// RFC 8489 §14.5/§14.6: verify MESSAGE-INTEGRITY-SHA256 if present, else MESSAGE-INTEGRITY,
    /// with `key`, in constant time. Err(Missing) when neither is present.
    pub fn verify_integrity(&self, _key: &[u8]) -> Result<(), IntegrityError> {
        todo!()
    }

    // Typed accessors (None when absent or malformed).
    pub fn username(&self) -> Option<&'a str> {
        todo!()
    }
    pub fn realm(&self) -> Option<&'a str> {
        todo!()
    }
    pub fn nonce(&self) -> Option<&'a [u8]> {
        todo!()
    }
    pub fn xor_mapped_address(&self) -> Option<std::net::SocketAddr> {
        todo!()
    }
    pub fn xor_peer_addresses(&self) -> impl Iterator<Item = std::net::SocketAddr> + 'a {
        std::iter::empty()
    }
    pub fn xor_relayed_addresses(&self) -> impl Iterator<Item = std::net::SocketAddr> + 'a {
        std::iter::empty()
    }
    pub fn error_code(&self) -> Option<crate::ErrorCodeValue<'a>> {
        todo!()
    }
    pub fn lifetime(&self) -> Option<u32> {
        todo!()
    }
    pub fn data(&self) -> Option<&'a [u8]> {
        todo!()
    }
    pub fn channel_number(&self) -> Option<u16> {
        todo!()
    }
}
