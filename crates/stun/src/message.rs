//! The borrowing view over one STUN message.

use std::net::SocketAddr;

use crate::attribute::{decode_xor_address, padding_len};
use crate::integrity::{self, IntegrityError};
use crate::types::{
    split_message_type, AttributeType, Class, Method, PasswordAlgorithm, TransactionId,
    MAGIC_COOKIE,
};
use crate::{Attribute, AttributeError, ErrorCodeValue};

/// RFC 8489 §5: every message starts with a 20-byte header.
pub const HEADER_LEN: usize = 20;

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
    /// Only from the opt-in [`Message::check_padding`]; [`Message::parse`] ignores padding
    /// content as RFC 8489 §14 tells receivers to.
    #[error("non-zero padding after attribute {0:?}")]
    BadPadding(AttributeType),
    #[error("attribute {0:?} after FINGERPRINT")]
    AfterFingerprint(AttributeType),
    /// FINGERPRINT is not 4 bytes or its CRC does not match.
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
/// `parse` checks: header, cookie, length, attribute framing, nothing after FINGERPRINT, and
/// the FINGERPRINT value when present. Padding *content* is not checked (RFC 8489 §14: padding
/// "MUST be ignored by the receiver"; RFC 5769's own vectors pad with spaces); padding
/// *length* is, since every attribute must fit whole. [`Message::check_padding`] is the strict
/// opt-in.
///
/// Attributes after MESSAGE-INTEGRITY (other than MESSAGE-INTEGRITY-SHA256 and FINGERPRINT) are
/// still iterable via [`Message::all_attributes`] but [`Message::attributes`] skips them
/// (RFC 8489 §14.5: they MUST be ignored; §14.6: after MESSAGE-INTEGRITY-SHA256 only
/// FINGERPRINT counts). Every accessor goes through `attributes`.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    buf: &'a [u8],
    /// Offsets of the attribute headers that count (see [`Visibility`]).
    message_integrity: Option<usize>,
    message_integrity_sha256: Option<usize>,
    fingerprint: Option<usize>,
}

impl<'a> Message<'a> {
    /// Parse and validate the framing of one whole message (`buf` is exactly the message, as a
    /// UDP datagram is, or one frame cut by [`stream_frame_len`](crate::stream_frame_len)).
    pub fn parse(buf: &'a [u8]) -> Result<Message<'a>, ParseError> {
        if buf.len() < HEADER_LEN {
            return Err(ParseError::TruncatedHeader(buf.len()));
        }
        if buf[0] & 0xC0 != 0 {
            return Err(ParseError::NotStun);
        }
        let cookie = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        if cookie != MAGIC_COOKIE {
            return Err(ParseError::WrongCookie(cookie));
        }
        let declared = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
        if !declared.is_multiple_of(4) {
            return Err(ParseError::UnalignedLength(declared));
        }
        if HEADER_LEN + declared != buf.len() {
            return Err(ParseError::BadLength {
                declared,
                available: buf.len() - HEADER_LEN,
            });
        }

        let mut msg = Message {
            buf,
            message_integrity: None,
            message_integrity_sha256: None,
            fingerprint: None,
        };
        let mut visibility = Visibility::default();
        let mut offset = HEADER_LEN;
        while offset < buf.len() {
            // The body length is a multiple of 4 and so is every padded attribute, so at
            // least 4 bytes remain here.
            let typ = AttributeType(u16::from_be_bytes([buf[offset], buf[offset + 1]]));
            let len = usize::from(u16::from_be_bytes([buf[offset + 2], buf[offset + 3]]));
            if msg.fingerprint.is_some() {
                return Err(ParseError::AfterFingerprint(typ));
            }
            let end = offset + 4 + len + padding_len(len);
            if end > buf.len() {
                return Err(ParseError::TruncatedAttribute { attr: typ, offset });
            }
            if visibility.admit(typ) {
                match typ {
                    AttributeType::MESSAGE_INTEGRITY => msg.message_integrity = Some(offset),
                    AttributeType::MESSAGE_INTEGRITY_SHA256 => {
                        msg.message_integrity_sha256 = Some(offset)
                    }
                    AttributeType::FINGERPRINT => msg.fingerprint = Some(offset),
                    _ => {}
                }
            }
            offset = end;
        }

        if let Some(at) = msg.fingerprint {
            // RFC 8489 §14.7: CRC-32 of the message up to the attribute, XOR 0x5354554e. The
            // header length already counts FINGERPRINT because it is last.
            let expected = integrity::fingerprint(&buf[..at]).to_be_bytes();
            if msg.value_at(at) != Some(&expected[..]) {
                return Err(ParseError::BadFingerprint);
            }
        }
        Ok(msg)
    }

    /// The whole message as received.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// The 16-bit message type (class and method interleaved).
    pub fn message_type(&self) -> u16 {
        u16::from_be_bytes([self.buf[0], self.buf[1]])
    }

    pub fn class(&self) -> Class {
        split_message_type(self.message_type()).0
    }

    pub fn method(&self) -> Method {
        split_message_type(self.message_type()).1
    }

    /// Always [`MAGIC_COOKIE`] once parsed (RFC 3489 messages without it are rejected).
    pub fn magic_cookie(&self) -> u32 {
        u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]])
    }

    pub fn transaction_id(&self) -> TransactionId {
        let mut id = [0u8; 12];
        id.copy_from_slice(&self.buf[8..HEADER_LEN]);
        TransactionId(id)
    }

    /// Attributes up to (and including) MESSAGE-INTEGRITY / -SHA256 and FINGERPRINT;
    /// others after integrity are skipped.
    pub fn attributes(&self) -> Attributes<'a> {
        Attributes {
            buf: self.buf,
            offset: HEADER_LEN,
            visibility: Some(Visibility::default()),
        }
    }

    /// Every attribute in wire order, including those after integrity.
    pub fn all_attributes(&self) -> Attributes<'a> {
        Attributes {
            buf: self.buf,
            offset: HEADER_LEN,
            visibility: None,
        }
    }

    /// First attribute of the type (respecting the integrity boundary).
    pub fn get(&self, typ: AttributeType) -> Option<RawAttribute<'a>> {
        self.attributes().find(|a| a.typ == typ)
    }

    /// Decode the first attribute of the type.
    pub fn attribute(&self, typ: AttributeType) -> Option<Result<Attribute<'a>, AttributeError>> {
        let raw = self.get(typ)?;
        Some(Attribute::decode(
            raw.typ,
            raw.value,
            &self.transaction_id(),
        ))
    }

    /// Comprehension-required attribute types that `known` does not list (for 420), each once,
    /// in wire order.
    pub fn unknown_required(&self, known: &[AttributeType]) -> Vec<AttributeType> {
        let mut unknown = Vec::new();
        for a in self.attributes() {
            if a.typ.is_comprehension_required()
                && !known.contains(&a.typ)
                && !unknown.contains(&a.typ)
            {
                unknown.push(a.typ);
            }
        }
        unknown
    }

    pub fn has_fingerprint(&self) -> bool {
        self.fingerprint.is_some()
    }

    /// The FINGERPRINT value (already checked by `parse`).
    pub fn fingerprint(&self) -> Option<u32> {
        let v = self.value_at(self.fingerprint?)?;
        Some(u32::from_be_bytes(v.try_into().ok()?))
    }

    /// The integrity attribute [`Message::verify_integrity`] checks:
    /// MESSAGE-INTEGRITY-SHA256 when present, else MESSAGE-INTEGRITY.
    pub fn integrity_type(&self) -> Option<AttributeType> {
        if self.message_integrity_sha256.is_some() {
            Some(AttributeType::MESSAGE_INTEGRITY_SHA256)
        } else if self.message_integrity.is_some() {
            Some(AttributeType::MESSAGE_INTEGRITY)
        } else {
            None
        }
    }

    /// Offset of the header of the attribute `verify_integrity` checks; the HMAC covers
    /// `as_bytes()[..offset]` (with the header length adjusted).
    pub fn integrity_boundary(&self) -> Option<usize> {
        self.message_integrity_sha256.or(self.message_integrity)
    }

    /// RFC 8489 §14.5/§14.6: verify MESSAGE-INTEGRITY-SHA256 if present, else MESSAGE-INTEGRITY,
    /// with `key`, in constant time. Err(Missing) when neither is present.
    ///
    /// RFC 8489 §9.2.4: a request carrying both is judged by MESSAGE-INTEGRITY-SHA256 alone.
    pub fn verify_integrity(&self, key: &[u8]) -> Result<(), IntegrityError> {
        if self.message_integrity_sha256.is_some() {
            self.verify_message_integrity_sha256(key)
        } else {
            self.verify_message_integrity(key)
        }
    }

    /// RFC 8489 §14.5: HMAC-SHA1 over the message up to MESSAGE-INTEGRITY, the header length
    /// set as if MESSAGE-INTEGRITY were the last attribute.
    pub fn verify_message_integrity(&self, key: &[u8]) -> Result<(), IntegrityError> {
        let at = self.message_integrity.ok_or(IntegrityError::Missing)?;
        let value = self.value_at(at).ok_or(IntegrityError::Malformed)?;
        if value.len() != integrity::SHA1_LEN {
            return Err(IntegrityError::Malformed);
        }
        let prefix = &self.buf[..at];
        let tag = integrity::hmac_sha1(key, prefix, body_len_through(at, value.len()));
        integrity::constant_time_eq(&tag, value)
    }

    /// RFC 8489 §14.6: HMAC-SHA256 likewise; a value truncated to 16..=32 bytes (a multiple of
    /// 4) is compared against the same prefix of the HMAC.
    pub fn verify_message_integrity_sha256(&self, key: &[u8]) -> Result<(), IntegrityError> {
        let at = self
            .message_integrity_sha256
            .ok_or(IntegrityError::Missing)?;
        let value = self.value_at(at).ok_or(IntegrityError::Malformed)?;
        if !(16..=integrity::SHA256_LEN).contains(&value.len()) || !value.len().is_multiple_of(4) {
            return Err(IntegrityError::Malformed);
        }
        let prefix = &self.buf[..at];
        let tag = integrity::hmac_sha256(key, prefix, body_len_through(at, value.len()));
        integrity::constant_time_eq(&tag[..value.len()], value)
    }

    /// Strict check that every padding byte is zero (RFC 8489 §14: senders MUST zero it).
    /// `parse` does not require it; use this where a peer is known to follow the rule.
    pub fn check_padding(&self) -> Result<(), ParseError> {
        for a in self.all_attributes() {
            let start = a.offset + 4 + a.value.len();
            let padding = self
                .buf
                .get(start..start + padding_len(a.value.len()))
                .unwrap_or_default();
            if padding.iter().any(|&b| b != 0) {
                return Err(ParseError::BadPadding(a.typ));
            }
        }
        Ok(())
    }

    fn value_at(&self, offset: usize) -> Option<&'a [u8]> {
        let len = usize::from(u16::from_be_bytes([
            *self.buf.get(offset + 2)?,
            *self.buf.get(offset + 3)?,
        ]));
        self.buf.get(offset + 4..offset + 4 + len)
    }

    fn decoded<T>(
        &self,
        typ: AttributeType,
        pick: impl Fn(Attribute<'a>) -> Option<T>,
    ) -> Option<T> {
        self.attribute(typ)?.ok().and_then(pick)
    }

    fn xor_addresses(&self, typ: AttributeType) -> impl Iterator<Item = SocketAddr> + 'a {
        let tid = self.transaction_id();
        self.attributes()
            .filter(move |a| a.typ == typ)
            .filter_map(move |a| decode_xor_address(typ, a.value, &tid).ok())
    }

    // Typed accessors (None when absent or malformed).
    pub fn username(&self) -> Option<&'a str> {
        self.decoded(AttributeType::USERNAME, |a| match a {
            Attribute::Username(s) => Some(s),
            _ => None,
        })
    }
    pub fn userhash(&self) -> Option<&'a [u8; 32]> {
        self.decoded(AttributeType::USERHASH, |a| match a {
            Attribute::Userhash(h) => Some(h),
            _ => None,
        })
    }
    pub fn realm(&self) -> Option<&'a str> {
        self.decoded(AttributeType::REALM, |a| match a {
            Attribute::Realm(s) => Some(s),
            _ => None,
        })
    }
    pub fn nonce(&self) -> Option<&'a [u8]> {
        self.decoded(AttributeType::NONCE, |a| match a {
            Attribute::Nonce(s) => Some(s),
            _ => None,
        })
    }
    pub fn software(&self) -> Option<&'a str> {
        self.decoded(AttributeType::SOFTWARE, |a| match a {
            Attribute::Software(s) => Some(s),
            _ => None,
        })
    }
    pub fn xor_mapped_address(&self) -> Option<SocketAddr> {
        self.xor_addresses(AttributeType::XOR_MAPPED_ADDRESS).next()
    }
    pub fn mapped_address(&self) -> Option<SocketAddr> {
        self.decoded(AttributeType::MAPPED_ADDRESS, |a| match a {
            Attribute::MappedAddress(s) => Some(s),
            _ => None,
        })
    }
    /// RFC 8656 §9.3: a CreatePermission request may carry several.
    pub fn xor_peer_addresses(&self) -> impl Iterator<Item = SocketAddr> + 'a {
        self.xor_addresses(AttributeType::XOR_PEER_ADDRESS)
    }
    /// RFC 8656 §7.3: up to two (one per family) in an Allocate success response.
    pub fn xor_relayed_addresses(&self) -> impl Iterator<Item = SocketAddr> + 'a {
        self.xor_addresses(AttributeType::XOR_RELAYED_ADDRESS)
    }
    pub fn error_code(&self) -> Option<ErrorCodeValue<'a>> {
        self.decoded(AttributeType::ERROR_CODE, |a| match a {
            Attribute::ErrorCode(e) => Some(e),
            _ => None,
        })
    }
    pub fn lifetime(&self) -> Option<u32> {
        self.decoded(AttributeType::LIFETIME, |a| match a {
            Attribute::Lifetime(s) => Some(s),
            _ => None,
        })
    }
    pub fn data(&self) -> Option<&'a [u8]> {
        self.decoded(AttributeType::DATA, |a| match a {
            Attribute::Data(s) => Some(s),
            _ => None,
        })
    }
    pub fn channel_number(&self) -> Option<u16> {
        self.decoded(AttributeType::CHANNEL_NUMBER, |a| match a {
            Attribute::ChannelNumber(s) => Some(s),
            _ => None,
        })
    }
    /// REQUESTED-TRANSPORT protocol number (17 UDP, 6 TCP).
    pub fn requested_transport(&self) -> Option<u8> {
        self.decoded(AttributeType::REQUESTED_TRANSPORT, |a| match a {
            Attribute::RequestedTransport(s) => Some(s),
            _ => None,
        })
    }
    pub fn requested_address_family(&self) -> Option<u8> {
        self.decoded(AttributeType::REQUESTED_ADDRESS_FAMILY, |a| match a {
            Attribute::RequestedAddressFamily(s) => Some(s),
            _ => None,
        })
    }
    pub fn additional_address_family(&self) -> Option<u8> {
        self.decoded(AttributeType::ADDITIONAL_ADDRESS_FAMILY, |a| match a {
            Attribute::AdditionalAddressFamily(s) => Some(s),
            _ => None,
        })
    }
    /// EVEN-PORT's R bit, when the attribute is present.
    pub fn even_port(&self) -> Option<bool> {
        self.decoded(AttributeType::EVEN_PORT, |a| match a {
            Attribute::EvenPort { reserve } => Some(reserve),
            _ => None,
        })
    }
    pub fn reservation_token(&self) -> Option<u64> {
        self.decoded(AttributeType::RESERVATION_TOKEN, |a| match a {
            Attribute::ReservationToken(s) => Some(s),
            _ => None,
        })
    }
    pub fn dont_fragment(&self) -> bool {
        self.get(AttributeType::DONT_FRAGMENT).is_some()
    }
    pub fn connection_id(&self) -> Option<u32> {
        self.decoded(AttributeType::CONNECTION_ID, |a| match a {
            Attribute::ConnectionId(s) => Some(s),
            _ => None,
        })
    }
    pub fn password_algorithm(&self) -> Option<(PasswordAlgorithm, &'a [u8])> {
        self.decoded(AttributeType::PASSWORD_ALGORITHM, |a| match a {
            Attribute::PasswordAlgorithm(alg, params) => Some((alg, params)),
            _ => None,
        })
    }
    pub fn password_algorithms(&self) -> Option<Vec<(PasswordAlgorithm, &'a [u8])>> {
        self.decoded(AttributeType::PASSWORD_ALGORITHMS, |a| match a {
            Attribute::PasswordAlgorithms(list) => Some(list),
            _ => None,
        })
    }
    /// RFC 5780 §7.2: (change IP, change port).
    pub fn change_request(&self) -> Option<(bool, bool)> {
        self.decoded(AttributeType::CHANGE_REQUEST, |a| match a {
            Attribute::ChangeRequest {
                change_ip,
                change_port,
            } => Some((change_ip, change_port)),
            _ => None,
        })
    }
    pub fn response_port(&self) -> Option<u16> {
        self.decoded(AttributeType::RESPONSE_PORT, |a| match a {
            Attribute::ResponsePort(s) => Some(s),
            _ => None,
        })
    }
}

/// Header length field for a message that ends with an integrity attribute at `offset` whose
/// value is `value_len` bytes (RFC 8489 §14.5: the length "points to the end of" it).
fn body_len_through(offset: usize, value_len: usize) -> u16 {
    // A parsed message is at most 20 + 65535 bytes, so this fits.
    (offset + 4 + value_len - HEADER_LEN) as u16
}

/// RFC 8489 §14.5/§14.6: which attributes count once an integrity attribute has been seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Visibility {
    #[default]
    Open,
    AfterMessageIntegrity,
    AfterMessageIntegritySha256,
}

impl Visibility {
    /// Whether an attribute of type `typ`, next in wire order, counts; advances the state.
    fn admit(&mut self, typ: AttributeType) -> bool {
        use AttributeType as T;
        match (*self, typ) {
            (_, T::FINGERPRINT) => true,
            (Self::Open, T::MESSAGE_INTEGRITY) => {
                *self = Self::AfterMessageIntegrity;
                true
            }
            (Self::Open | Self::AfterMessageIntegrity, T::MESSAGE_INTEGRITY_SHA256) => {
                *self = Self::AfterMessageIntegritySha256;
                true
            }
            (Self::Open, _) => true,
            _ => false,
        }
    }
}

/// Iterator over a parsed message's attributes; see [`Message::attributes`].
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    buf: &'a [u8],
    offset: usize,
    /// `None`: yield everything.
    visibility: Option<Visibility>,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = RawAttribute<'a>;

    fn next(&mut self) -> Option<RawAttribute<'a>> {
        loop {
            let offset = self.offset;
            let header = self.buf.get(offset..offset + 4)?;
            let typ = AttributeType(u16::from_be_bytes([header[0], header[1]]));
            let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
            let value = self.buf.get(offset + 4..offset + 4 + len)?;
            self.offset = offset + 4 + len + padding_len(len);
            let admitted = match &mut self.visibility {
                None => true,
                Some(v) => v.admit(typ),
            };
            if admitted {
                return Some(RawAttribute { typ, value, offset });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Header plus the given (type, value) attributes, zero padded, length filled in.
    fn message(attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut m = vec![0x00, 0x01, 0, 0, 0x21, 0x12, 0xa4, 0x42];
        m.extend_from_slice(&[7; 12]);
        for (t, v) in attrs {
            m.extend_from_slice(&t.to_be_bytes());
            m.extend_from_slice(&(v.len() as u16).to_be_bytes());
            m.extend_from_slice(v);
            m.resize(m.len() + padding_len(v.len()), 0);
        }
        let len = (m.len() - HEADER_LEN) as u16;
        m[2..4].copy_from_slice(&len.to_be_bytes());
        m
    }

    #[test]
    fn header_errors() {
        assert_eq!(
            Message::parse(&[0; 19]).unwrap_err(),
            ParseError::TruncatedHeader(19)
        );
        let good = message(&[]);
        let mut m = good.clone();
        m[0] = 0x40;
        assert_eq!(Message::parse(&m).unwrap_err(), ParseError::NotStun);
        let mut m = good.clone();
        m[4] = 0;
        assert_eq!(
            Message::parse(&m).unwrap_err(),
            ParseError::WrongCookie(0x0012_a442)
        );
        let mut m = good.clone();
        m[3] = 2;
        m.extend_from_slice(&[0, 0]);
        assert_eq!(
            Message::parse(&m).unwrap_err(),
            ParseError::UnalignedLength(2)
        );
        let mut m = good.clone();
        m[3] = 4;
        assert_eq!(
            Message::parse(&m).unwrap_err(),
            ParseError::BadLength {
                declared: 4,
                available: 0
            }
        );
        let mut m = good.clone();
        m.extend_from_slice(&[0; 4]);
        assert_eq!(
            Message::parse(&m).unwrap_err(),
            ParseError::BadLength {
                declared: 0,
                available: 4
            }
        );
        let msg = Message::parse(&good).unwrap();
        assert_eq!(msg.class(), Class::Request);
        assert_eq!(msg.method(), Method::BINDING);
        assert_eq!(msg.magic_cookie(), MAGIC_COOKIE);
        assert_eq!(msg.transaction_id(), TransactionId([7; 12]));
        assert_eq!(msg.attributes().count(), 0);
    }

    #[test]
    fn truncated_attribute_is_rejected() {
        // USERNAME claims 9 bytes (12 padded) but only 8 follow the header.
        let mut m = message(&[(0x0006, b"abcdefgh")]);
        m[22..24].copy_from_slice(&9u16.to_be_bytes());
        assert_eq!(
            Message::parse(&m).unwrap_err(),
            ParseError::TruncatedAttribute {
                attr: AttributeType::USERNAME,
                offset: 20
            }
        );
    }

    #[test]
    fn padding_content_is_ignored_unless_checked_strictly() {
        let mut m = message(&[(0x0006, b"abcde"), (0x8022, b"x")]);
        assert_eq!(Message::parse(&m).unwrap().check_padding(), Ok(()));
        m[29] = 0x20;
        let msg = Message::parse(&m).unwrap();
        assert_eq!(msg.username(), Some("abcde"));
        assert_eq!(msg.software(), Some("x"));
        assert_eq!(
            msg.check_padding(),
            Err(ParseError::BadPadding(AttributeType::USERNAME))
        );
    }

    #[test]
    fn attributes_after_message_integrity_are_ignored() {
        let m = message(&[
            (0x0006, b"alice"),
            (0x0008, &[0; 20]),
            (0x0014, b"sneaky-realm"),
            (0x0008, &[1; 20]),
            (0x001c, &[0; 32]),
            (0x0015, b"sneaky-nonce"),
            (0x0008, &[2; 20]),
        ]);
        let msg = Message::parse(&m).unwrap();
        let seen: Vec<u16> = msg.attributes().map(|a| a.typ.0).collect();
        assert_eq!(seen, [0x0006, 0x0008, 0x001c]);
        assert_eq!(msg.all_attributes().count(), 7);
        assert_eq!(msg.realm(), None);
        assert_eq!(msg.nonce(), None);
        assert_eq!(
            msg.integrity_type(),
            Some(AttributeType::MESSAGE_INTEGRITY_SHA256)
        );
        assert_eq!(msg.integrity_boundary(), Some(20 + 12 + 24 + 16 + 24));
    }

    #[test]
    fn nothing_may_follow_fingerprint() {
        let mut m = message(&[(0x8028, &[0; 4]), (0x0006, b"late")]);
        assert_eq!(
            Message::parse(&m).unwrap_err(),
            ParseError::AfterFingerprint(AttributeType::USERNAME)
        );
        // A wrong CRC and a wrong length are both a bad fingerprint.
        m.truncate(28);
        m[3] = 8;
        assert_eq!(Message::parse(&m).unwrap_err(), ParseError::BadFingerprint);
        let m = message(&[(0x8028, &[0; 8])]);
        assert_eq!(Message::parse(&m).unwrap_err(), ParseError::BadFingerprint);
        // A 3-byte FINGERPRINT whose value plus padding byte happen to equal the CRC.
        let mut m = message(&[(0x8028, &[0; 3])]);
        let crc = integrity::fingerprint(&m[..20]).to_be_bytes();
        m[24..28].copy_from_slice(&crc);
        assert_eq!(Message::parse(&m).unwrap_err(), ParseError::BadFingerprint);
        m[23] = 4;
        assert_eq!(
            Message::parse(&m).unwrap().fingerprint(),
            Some(u32::from_be_bytes(crc))
        );
    }

    #[test]
    fn integrity_missing_and_malformed() {
        let m = message(&[(0x0006, b"bob")]);
        let msg = Message::parse(&m).unwrap();
        assert_eq!(msg.verify_integrity(b"k"), Err(IntegrityError::Missing));
        let m = message(&[(0x0008, &[0; 16])]);
        let msg = Message::parse(&m).unwrap();
        assert_eq!(msg.verify_integrity(b"k"), Err(IntegrityError::Malformed));
        let m = message(&[(0x001c, &[0; 12])]);
        let msg = Message::parse(&m).unwrap();
        assert_eq!(msg.verify_integrity(b"k"), Err(IntegrityError::Malformed));
        let m = message(&[(0x0008, &[0; 20])]);
        let msg = Message::parse(&m).unwrap();
        assert_eq!(msg.verify_integrity(b"k"), Err(IntegrityError::Mismatch));
    }

    #[test]
    fn unknown_required_lists_each_type_once() {
        let m = message(&[
            (0x0006, b"u"),
            (0x0031, b""),
            (0x8031, b""),
            (0x0031, b""),
            (0x0032, b""),
        ]);
        let msg = Message::parse(&m).unwrap();
        assert_eq!(
            msg.unknown_required(&[AttributeType::USERNAME]),
            [AttributeType(0x0031), AttributeType(0x0032)]
        );
        assert_eq!(
            msg.unknown_required(AttributeType::KNOWN),
            [AttributeType(0x0031), AttributeType(0x0032)]
        );
    }

    #[test]
    fn malformed_typed_accessors_are_none() {
        let m = message(&[(0x000d, &[0, 0, 1]), (0x0020, &[0, 9, 0, 0, 0, 0, 0, 0])]);
        let msg = Message::parse(&m).unwrap();
        assert_eq!(msg.lifetime(), None);
        assert_eq!(
            msg.attribute(AttributeType::LIFETIME),
            Some(Err(AttributeError::BadLength(AttributeType::LIFETIME)))
        );
        assert_eq!(msg.xor_mapped_address(), None);
        assert_eq!(msg.attribute(AttributeType::DATA), None);
    }
}
