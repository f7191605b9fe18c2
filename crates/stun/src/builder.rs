//! Builds a message into a caller-owned buffer; lengths, integrity and fingerprint filled in.

use std::net::SocketAddr;

use crate::types::{AttributeType, Class, ErrorCode, Method, TransactionId};
use crate::Attribute;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    #[error("message exceeds 65535 bytes of attributes")]
    TooLong,
    #[error("attribute added after FINGERPRINT")]
    AfterFingerprint,
}

/// Writes a STUN message into `buf` (cleared first; its capacity is reused, so a long-lived
/// buffer means no allocation per message).
///
/// ```ignore
/// let mut b = MessageBuilder::new(&mut buf, Class::SuccessResponse, Method::BINDING, tid);
/// b.xor_address(AttributeType::XOR_MAPPED_ADDRESS, peer);
/// b.fingerprint();
/// let len = b.finish();
/// ```
pub struct MessageBuilder<'b> {
    _buf: &'b mut Vec<u8>,
}

impl<'b> MessageBuilder<'b> {
    pub fn new(_buf: &'b mut Vec<u8>, _class: Class, _method: Method, _tid: TransactionId) -> Self {
        todo!()
    }
    /// Append a typed attribute.
    pub fn add(&mut self, _attr: &Attribute<'_>) -> &mut Self {
        todo!()
    }
    /// Append a raw attribute (padding added).
    pub fn raw(&mut self, _typ: AttributeType, _value: &[u8]) -> &mut Self {
        todo!()
    }
    /// XOR-MAPPED-ADDRESS / XOR-PEER-ADDRESS / XOR-RELAYED-ADDRESS.
    pub fn xor_address(&mut self, _typ: AttributeType, _addr: SocketAddr) -> &mut Self {
        todo!()
    }
    pub fn error(&mut self, _code: ErrorCode, _reason: &str) -> &mut Self {
        todo!()
    }
    /// MESSAGE-INTEGRITY over everything so far (HMAC-SHA1 with `key`).
    pub fn message_integrity(&mut self, _key: &[u8]) -> &mut Self {
        todo!()
    }
    /// MESSAGE-INTEGRITY-SHA256 over everything so far.
    pub fn message_integrity_sha256(&mut self, _key: &[u8]) -> &mut Self {
        todo!()
    }
    /// FINGERPRINT; must be last.
    pub fn fingerprint(&mut self) -> &mut Self {
        todo!()
    }
    /// Finalise the header length; returns the total length written.
    pub fn finish(self) -> usize {
        todo!()
    }
}
