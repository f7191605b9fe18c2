//! Builds a message into a caller-owned buffer; lengths, integrity and fingerprint filled in.

use std::net::SocketAddr;

use crate::attribute::{encode_xor_address, padding_len, ErrorCodeValue};
use crate::integrity::{self, SHA1_LEN, SHA256_LEN};
use crate::message::HEADER_LEN;
use crate::types::{
    message_type, AttributeType, Class, ErrorCode, Method, TransactionId, MAGIC_COOKIE,
};
use crate::Attribute;

/// The header's 16-bit length field bounds the attributes.
const MAX_BODY_LEN: usize = u16::MAX as usize;

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
/// ```
/// # use stun::{AttributeType, Class, Message, MessageBuilder, Method, TransactionId};
/// let mut buf = Vec::with_capacity(1500);
/// let tid = TransactionId([1; 12]);
/// let peer = "192.0.2.1:32853".parse().unwrap();
/// let mut b = MessageBuilder::new(&mut buf, Class::SuccessResponse, Method::BINDING, tid);
/// b.xor_address(AttributeType::XOR_MAPPED_ADDRESS, peer);
/// b.fingerprint();
/// let len = b.finish();
/// assert_eq!(Message::parse(&buf[..len]).unwrap().xor_mapped_address(), Some(peer));
/// ```
///
/// # Misuse and limits
///
/// - An attribute added after FINGERPRINT is a programming error: `debug_assert!` in debug
///   builds; in release builds it is not written and [`MessageBuilder::try_finish`] returns
///   [`BuildError::AfterFingerprint`].
/// - An attribute that would push the body past 65535 bytes (its value past 65535, or the sum)
///   is not written and `try_finish` returns [`BuildError::TooLong`]. This never asserts, since
///   sizes can come from peers (a Data indication carries a relayed datagram): use
///   `try_finish` wherever a value's size is not bounded by the caller.
/// - [`MessageBuilder::finish`] `debug_assert!`s that neither happened.
/// - [`MessageBuilder::add`] writes attribute values as given: `Attribute::MessageIntegrity`
///   or `Attribute::Fingerprint` are copied, not computed; use the dedicated methods for that.
#[derive(Debug)]
pub struct MessageBuilder<'b> {
    buf: &'b mut Vec<u8>,
    tid: TransactionId,
    fingerprinted: bool,
    error: Option<BuildError>,
}

impl<'b> MessageBuilder<'b> {
    pub fn new(buf: &'b mut Vec<u8>, class: Class, method: Method, tid: TransactionId) -> Self {
        buf.clear();
        buf.extend_from_slice(&message_type(class, method).to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        buf.extend_from_slice(&tid.0);
        MessageBuilder {
            buf,
            tid,
            fingerprinted: false,
            error: None,
        }
    }

    pub fn transaction_id(&self) -> TransactionId {
        self.tid
    }

    /// Append a typed attribute.
    pub fn add(&mut self, attr: &Attribute<'_>) -> &mut Self {
        if let Some(start) = self.begin(attr.typ()) {
            attr.encode_value(&self.tid, self.buf);
            self.end(start, 0);
        }
        self
    }

    /// Append a raw attribute (zero padding added).
    pub fn raw(&mut self, typ: AttributeType, value: &[u8]) -> &mut Self {
        self.raw_with_padding(typ, value, 0)
    }

    /// Append a raw attribute padded with `padding` bytes instead of zeros. RFC 8489 §14 says
    /// senders pad with zeros; this exists to reproduce messages byte for byte, such as the
    /// RFC 5769 vectors, which pad with spaces (0x20).
    pub fn raw_with_padding(&mut self, typ: AttributeType, value: &[u8], padding: u8) -> &mut Self {
        if let Some(start) = self.begin(typ) {
            self.buf.extend_from_slice(value);
            self.end(start, padding);
        }
        self
    }

    /// XOR-MAPPED-ADDRESS / XOR-PEER-ADDRESS / XOR-RELAYED-ADDRESS.
    pub fn xor_address(&mut self, typ: AttributeType, addr: SocketAddr) -> &mut Self {
        if let Some(start) = self.begin(typ) {
            encode_xor_address(addr, &self.tid, self.buf);
            self.end(start, 0);
        }
        self
    }

    /// ERROR-CODE (RFC 8489 §14.8); `code` must be 300-699.
    pub fn error(&mut self, code: ErrorCode, reason: &str) -> &mut Self {
        self.add(&Attribute::ErrorCode(ErrorCodeValue { code, reason }))
    }

    /// MESSAGE-INTEGRITY over everything so far (HMAC-SHA1 with `key`).
    ///
    /// RFC 8489 §14.5: the HMAC covers the header (its length counting this attribute) and
    /// every attribute before this one.
    pub fn message_integrity(&mut self, key: &[u8]) -> &mut Self {
        if let Some(start) = self.begin(AttributeType::MESSAGE_INTEGRITY) {
            let length = self.body_len_with(start, SHA1_LEN);
            let tag = integrity::hmac_sha1(key, &self.buf[..start], length);
            self.buf.extend_from_slice(&tag);
            self.end(start, 0);
        }
        self
    }

    /// MESSAGE-INTEGRITY-SHA256 over everything so far.
    pub fn message_integrity_sha256(&mut self, key: &[u8]) -> &mut Self {
        self.message_integrity_sha256_truncated(key, SHA256_LEN)
    }

    /// MESSAGE-INTEGRITY-SHA256 truncated to `len` bytes (RFC 8489 §14.6: a multiple of 4,
    /// 16 to 32; other values are rounded into that range, and `debug_assert!`ed).
    pub fn message_integrity_sha256_truncated(&mut self, key: &[u8], len: usize) -> &mut Self {
        debug_assert!(
            (16..=SHA256_LEN).contains(&len) && len.is_multiple_of(4),
            "MESSAGE-INTEGRITY-SHA256 length {len}"
        );
        let len = (len.clamp(16, SHA256_LEN) / 4) * 4;
        if let Some(start) = self.begin(AttributeType::MESSAGE_INTEGRITY_SHA256) {
            let length = self.body_len_with(start, len);
            let tag = integrity::hmac_sha256(key, &self.buf[..start], length);
            self.buf.extend_from_slice(&tag[..len]);
            self.end(start, 0);
        }
        self
    }

    /// FINGERPRINT; must be last.
    ///
    /// RFC 8489 §14.7: CRC-32 over the message so far, header length counting FINGERPRINT,
    /// XOR 0x5354554e.
    pub fn fingerprint(&mut self) -> &mut Self {
        if let Some(start) = self.begin(AttributeType::FINGERPRINT) {
            let length = self.body_len_with(start, 4);
            self.buf[2..4].copy_from_slice(&length.to_be_bytes());
            let crc = integrity::fingerprint(&self.buf[..start]);
            self.buf.extend_from_slice(&crc.to_be_bytes());
            self.end(start, 0);
            self.fingerprinted = true;
        }
        self
    }

    /// Finalise the header length; returns the total length written. See the type docs for
    /// what is `debug_assert!`ed; [`MessageBuilder::try_finish`] reports it instead.
    pub fn finish(mut self) -> usize {
        debug_assert!(self.error.is_none(), "STUN builder: {:?}", self.error);
        self.write_length();
        self.buf.len()
    }

    /// Like [`MessageBuilder::finish`], but reports an attribute that was not written.
    pub fn try_finish(mut self) -> Result<usize, BuildError> {
        self.write_length();
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.buf.len()),
        }
    }

    fn write_length(&mut self) {
        // `end` keeps the body within 65535 bytes.
        let length = (self.buf.len() - HEADER_LEN) as u16;
        self.buf[2..4].copy_from_slice(&length.to_be_bytes());
    }

    /// Header length if an attribute with a `value_len`-byte value starts at `start`.
    fn body_len_with(&self, start: usize, value_len: usize) -> u16 {
        let len = start + 4 + value_len + padding_len(value_len) - HEADER_LEN;
        u16::try_from(len).unwrap_or(u16::MAX)
    }

    /// Writes the attribute header with a placeholder length; `None` when the attribute must
    /// not be written.
    fn begin(&mut self, typ: AttributeType) -> Option<usize> {
        if self.fingerprinted {
            debug_assert!(false, "STUN builder: {typ:?} added after FINGERPRINT");
            self.error.get_or_insert(BuildError::AfterFingerprint);
            return None;
        }
        let start = self.buf.len();
        self.buf.extend_from_slice(&typ.0.to_be_bytes());
        self.buf.extend_from_slice(&[0, 0]);
        Some(start)
    }

    /// Fills in the value length and pads; rolls the attribute back if it does not fit.
    fn end(&mut self, start: usize, padding: u8) {
        let value_len = self.buf.len() - start - 4;
        let padded_end = self.buf.len() + padding_len(value_len);
        if value_len > usize::from(u16::MAX) || padded_end - HEADER_LEN > MAX_BODY_LEN {
            self.buf.truncate(start);
            self.error.get_or_insert(BuildError::TooLong);
            return;
        }
        self.buf[start + 2..start + 4].copy_from_slice(&(value_len as u16).to_be_bytes());
        self.buf.resize(padded_end, padding);
        self.write_length();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Message;

    const TID: TransactionId = TransactionId([3; 12]);

    #[test]
    fn builds_a_parseable_message_and_reuses_the_buffer() {
        let mut buf = Vec::with_capacity(256);
        let ptr = buf.as_ptr();
        for round in 0..3u32 {
            let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::ALLOCATE, TID);
            b.add(&Attribute::RequestedTransport(17))
                .add(&Attribute::Lifetime(600 + round))
                .raw(AttributeType::USERNAME, b"alice")
                .message_integrity(b"key")
                .fingerprint();
            let len = b.finish();
            assert_eq!(len, buf.len());
            let msg = Message::parse(&buf).unwrap();
            assert_eq!(msg.method(), Method::ALLOCATE);
            assert_eq!(msg.class(), Class::Request);
            assert_eq!(msg.lifetime(), Some(600 + round));
            assert_eq!(msg.username(), Some("alice"));
            assert_eq!(msg.verify_integrity(b"key"), Ok(()));
            assert_eq!(
                msg.verify_integrity(b"other"),
                Err(crate::IntegrityError::Mismatch)
            );
        }
        assert_eq!(buf.as_ptr(), ptr, "the buffer was reallocated");
    }

    #[test]
    fn error_response() {
        let mut buf = Vec::new();
        let mut b = MessageBuilder::new(&mut buf, Class::ErrorResponse, Method::ALLOCATE, TID);
        b.error(ErrorCode::ALLOCATION_MISMATCH, "Allocation Mismatch");
        b.finish();
        let msg = Message::parse(&buf).unwrap();
        assert_eq!(msg.class(), Class::ErrorResponse);
        let e = msg.error_code().unwrap();
        assert_eq!(e.code, ErrorCode::ALLOCATION_MISMATCH);
        assert_eq!(e.reason, "Allocation Mismatch");
    }

    #[test]
    fn truncated_sha256_integrity_verifies() {
        let mut buf = Vec::new();
        for len in [16, 20, 24, 28, 32] {
            let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::BINDING, TID);
            b.raw(AttributeType::USERNAME, b"bob")
                .message_integrity_sha256_truncated(b"secret", len);
            b.finish();
            let msg = Message::parse(&buf).unwrap();
            assert_eq!(
                msg.get(AttributeType::MESSAGE_INTEGRITY_SHA256)
                    .unwrap()
                    .value
                    .len(),
                len
            );
            assert_eq!(msg.verify_integrity(b"secret"), Ok(()));
            assert_eq!(
                msg.verify_integrity(b"secreT"),
                Err(crate::IntegrityError::Mismatch)
            );
        }
    }

    #[test]
    fn both_integrity_attributes_and_fingerprint() {
        let mut buf = Vec::new();
        let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::REFRESH, TID);
        b.add(&Attribute::Lifetime(0))
            .message_integrity(b"k1")
            .message_integrity_sha256(b"k1")
            .fingerprint();
        b.finish();
        let msg = Message::parse(&buf).unwrap();
        assert_eq!(msg.verify_message_integrity(b"k1"), Ok(()));
        assert_eq!(msg.verify_message_integrity_sha256(b"k1"), Ok(()));
        assert!(msg.has_fingerprint());
        // Any bit flipped before FINGERPRINT breaks the CRC.
        let mut bad = buf.clone();
        bad[21] ^= 1;
        assert_eq!(
            Message::parse(&bad).unwrap_err(),
            crate::ParseError::BadFingerprint
        );
    }

    #[test]
    fn too_long_is_reported_not_written() {
        let mut buf = Vec::new();
        // The body is at most 65532 bytes (65535 rounded down to a multiple of 4), so a DATA
        // value of 65529 bytes (65536 with header and padding) is one byte too many.
        let big = vec![0u8; 65_529];
        let mut b = MessageBuilder::new(&mut buf, Class::Indication, Method::DATA, TID);
        b.add(&Attribute::Data(&big));
        b.add(&Attribute::Lifetime(1));
        assert_eq!(b.try_finish(), Err(BuildError::TooLong));
        // The oversized attribute was rolled back; what remains parses.
        let msg = Message::parse(&buf).unwrap();
        assert_eq!(msg.data(), None);
        assert_eq!(msg.lifetime(), Some(1));

        let fits = vec![0u8; 65_528];
        let mut b = MessageBuilder::new(&mut buf, Class::Indication, Method::DATA, TID);
        b.add(&Attribute::Data(&fits));
        assert_eq!(b.try_finish(), Ok(20 + 4 + 65_528));
        assert_eq!(Message::parse(&buf).unwrap().data(), Some(&fits[..]));

        let huge = vec![0u8; 70_000];
        let mut b = MessageBuilder::new(&mut buf, Class::Indication, Method::DATA, TID);
        b.add(&Attribute::Data(&huge));
        assert_eq!(b.try_finish(), Err(BuildError::TooLong));
        assert_eq!(buf.len(), 20);
    }

    #[test]
    #[cfg(not(debug_assertions))]
    fn attribute_after_fingerprint_is_dropped_in_release() {
        let mut buf = Vec::new();
        let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::BINDING, TID);
        b.fingerprint().add(&Attribute::Lifetime(1));
        assert_eq!(b.try_finish(), Err(BuildError::AfterFingerprint));
        assert!(Message::parse(&buf).unwrap().has_fingerprint());
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "after FINGERPRINT")]
    fn attribute_after_fingerprint_asserts_in_debug() {
        let mut buf = Vec::new();
        let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::BINDING, TID);
        b.fingerprint().add(&Attribute::Lifetime(1));
    }
}
