//! Wire newtypes: unknown values survive and print in hex.

use std::fmt;

/// RFC 8489 §5: the fixed magic cookie.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;

/// RFC 8489 §5: message class, encoded in bits C0/C1 of the message type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    Request,
    Indication,
    SuccessResponse,
    ErrorResponse,
}

impl Class {
    /// The two class bits (C1 C0) as a number 0..=3.
    const fn bits(self) -> u16 {
        match self {
            Class::Request => 0b00,
            Class::Indication => 0b01,
            Class::SuccessResponse => 0b10,
            Class::ErrorResponse => 0b11,
        }
    }

    const fn from_bits(bits: u16) -> Class {
        match bits & 0b11 {
            0b00 => Class::Request,
            0b01 => Class::Indication,
            0b10 => Class::SuccessResponse,
            _ => Class::ErrorResponse,
        }
    }

    /// True for success and error responses.
    pub const fn is_response(self) -> bool {
        matches!(self, Class::SuccessResponse | Class::ErrorResponse)
    }
}

/// RFC 8489 §5: the 14-bit message type interleaves the method bits M0-M11 with the class
/// bits C0 (bit 4) and C1 (bit 8):
///
/// ```text
///  0                 1
///  2  3  4 5 6 7 8 9 0 1 2 3 4 5
/// +--+--+-+-+-+-+-+-+-+-+-+-+-+-+
/// |M |M |M|M|M|C|M|M|M|C|M|M|M|M|
/// |11|10|9|8|7|1|6|5|4|0|3|2|1|0|
/// +--+--+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
pub const fn message_type(class: Class, method: Method) -> u16 {
    let m = method.0 & 0x0FFF;
    let c = class.bits();
    (m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2) | ((c & 0b01) << 4) | ((c & 0b10) << 7)
}

/// Splits a message type (the first 16 bits of the header, top two bits ignored) into class
/// and method; the inverse of [`message_type`].
pub const fn split_message_type(typ: u16) -> (Class, Method) {
    let method = (typ & 0x000F) | ((typ >> 1) & 0x0070) | ((typ >> 2) & 0x0F80);
    let class = ((typ >> 4) & 0b01) | ((typ >> 7) & 0b10);
    (Class::from_bits(class), Method(method))
}

/// RFC 8489 §5: the 12-bit method.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Method(pub u16);

impl Method {
    pub const BINDING: Method = Method(0x001);
    pub const ALLOCATE: Method = Method(0x003);
    pub const REFRESH: Method = Method(0x004);
    pub const SEND: Method = Method(0x006);
    pub const DATA: Method = Method(0x007);
    pub const CREATE_PERMISSION: Method = Method(0x008);
    pub const CHANNEL_BIND: Method = Method(0x009);
    /// RFC 6062
    pub const CONNECT: Method = Method(0x00A);
    pub const CONNECTION_BIND: Method = Method(0x00B);
    pub const CONNECTION_ATTEMPT: Method = Method(0x00C);
}

impl fmt::Debug for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            Method::BINDING => "Binding",
            Method::ALLOCATE => "Allocate",
            Method::REFRESH => "Refresh",
            Method::SEND => "Send",
            Method::DATA => "Data",
            Method::CREATE_PERMISSION => "CreatePermission",
            Method::CHANNEL_BIND => "ChannelBind",
            Method::CONNECT => "Connect",
            Method::CONNECTION_BIND => "ConnectionBind",
            Method::CONNECTION_ATTEMPT => "ConnectionAttempt",
            _ => return write!(f, "Method({:#05x})", self.0),
        };
        f.write_str(name)
    }
}

/// A STUN attribute type (RFC 8489 §18.3 registry).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttributeType(pub u16);

impl AttributeType {
    pub const MAPPED_ADDRESS: Self = Self(0x0001);
    pub const CHANGE_REQUEST: Self = Self(0x0003);
    pub const USERNAME: Self = Self(0x0006);
    pub const MESSAGE_INTEGRITY: Self = Self(0x0008);
    pub const ERROR_CODE: Self = Self(0x0009);
    pub const UNKNOWN_ATTRIBUTES: Self = Self(0x000A);
    pub const CHANNEL_NUMBER: Self = Self(0x000C);
    pub const LIFETIME: Self = Self(0x000D);
    pub const XOR_PEER_ADDRESS: Self = Self(0x0012);
    pub const DATA: Self = Self(0x0013);
    pub const REALM: Self = Self(0x0014);
    pub const NONCE: Self = Self(0x0015);
    pub const XOR_RELAYED_ADDRESS: Self = Self(0x0016);
    pub const REQUESTED_ADDRESS_FAMILY: Self = Self(0x0017);
    pub const EVEN_PORT: Self = Self(0x0018);
    pub const REQUESTED_TRANSPORT: Self = Self(0x0019);
    pub const DONT_FRAGMENT: Self = Self(0x001A);
    pub const MESSAGE_INTEGRITY_SHA256: Self = Self(0x001C);
    pub const PASSWORD_ALGORITHM: Self = Self(0x001D);
    pub const USERHASH: Self = Self(0x001E);
    pub const XOR_MAPPED_ADDRESS: Self = Self(0x0020);
    pub const RESERVATION_TOKEN: Self = Self(0x0022);
    pub const PRIORITY: Self = Self(0x0024);
    pub const USE_CANDIDATE: Self = Self(0x0025);
    pub const PADDING: Self = Self(0x0026);
    pub const RESPONSE_PORT: Self = Self(0x0027);
    pub const CONNECTION_ID: Self = Self(0x002A);
    pub const ADDITIONAL_ADDRESS_FAMILY: Self = Self(0x8000);
    pub const ADDRESS_ERROR_CODE: Self = Self(0x8001);
    pub const PASSWORD_ALGORITHMS: Self = Self(0x8002);
    pub const ALTERNATE_DOMAIN: Self = Self(0x8003);
    pub const ICMP: Self = Self(0x8004);
    pub const SOFTWARE: Self = Self(0x8022);
    pub const ALTERNATE_SERVER: Self = Self(0x8023);
    pub const RESPONSE_ORIGIN: Self = Self(0x802B);
    pub const OTHER_ADDRESS: Self = Self(0x802C);
    pub const FINGERPRINT: Self = Self(0x8028);
    pub const ICE_CONTROLLED: Self = Self(0x8029);
    pub const ICE_CONTROLLING: Self = Self(0x802A);

    /// Every type [`Attribute`](crate::Attribute) decodes into a named variant.
    pub const KNOWN: &'static [AttributeType] = &[
        Self::MAPPED_ADDRESS,
        Self::CHANGE_REQUEST,
        Self::USERNAME,
        Self::MESSAGE_INTEGRITY,
        Self::ERROR_CODE,
        Self::UNKNOWN_ATTRIBUTES,
        Self::CHANNEL_NUMBER,
        Self::LIFETIME,
        Self::XOR_PEER_ADDRESS,
        Self::DATA,
        Self::REALM,
        Self::NONCE,
        Self::XOR_RELAYED_ADDRESS,
        Self::REQUESTED_ADDRESS_FAMILY,
        Self::EVEN_PORT,
        Self::REQUESTED_TRANSPORT,
        Self::DONT_FRAGMENT,
        Self::MESSAGE_INTEGRITY_SHA256,
        Self::PASSWORD_ALGORITHM,
        Self::USERHASH,
        Self::XOR_MAPPED_ADDRESS,
        Self::RESERVATION_TOKEN,
        Self::PRIORITY,
        Self::USE_CANDIDATE,
        Self::PADDING,
        Self::RESPONSE_PORT,
        Self::CONNECTION_ID,
        Self::ADDITIONAL_ADDRESS_FAMILY,
        Self::ADDRESS_ERROR_CODE,
        Self::PASSWORD_ALGORITHMS,
        Self::ALTERNATE_DOMAIN,
        Self::ICMP,
        Self::SOFTWARE,
        Self::ALTERNATE_SERVER,
        Self::RESPONSE_ORIGIN,
        Self::OTHER_ADDRESS,
        Self::FINGERPRINT,
        Self::ICE_CONTROLLED,
        Self::ICE_CONTROLLING,
    ];

    /// RFC 8489 §14: types 0x0000-0x7FFF are comprehension-required.
    pub fn is_comprehension_required(self) -> bool {
        self.0 < 0x8000
    }
}

impl fmt::Debug for AttributeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AttributeType({:#06x})", self.0)
    }
}

/// RFC 8489 §14.8 / RFC 8656 §19: error codes as a newtype with named constants.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ErrorCode(pub u16);

impl ErrorCode {
    pub const TRY_ALTERNATE: Self = Self(300);
    pub const BAD_REQUEST: Self = Self(400);
    pub const UNAUTHENTICATED: Self = Self(401);
    pub const FORBIDDEN: Self = Self(403);
    pub const MOBILITY_FORBIDDEN: Self = Self(405);
    pub const UNKNOWN_ATTRIBUTE: Self = Self(420);
    pub const ALLOCATION_MISMATCH: Self = Self(437);
    pub const STALE_NONCE: Self = Self(438);
    pub const ADDRESS_FAMILY_NOT_SUPPORTED: Self = Self(440);
    pub const WRONG_CREDENTIALS: Self = Self(441);
    pub const UNSUPPORTED_TRANSPORT_PROTOCOL: Self = Self(442);
    pub const PEER_ADDRESS_FAMILY_MISMATCH: Self = Self(443);
    pub const CONNECTION_ALREADY_EXISTS: Self = Self(446);
    pub const CONNECTION_TIMEOUT_OR_FAILURE: Self = Self(447);
    pub const ALLOCATION_QUOTA_REACHED: Self = Self(486);
    pub const ROLE_CONFLICT: Self = Self(487);
    pub const SERVER_ERROR: Self = Self(500);
    pub const INSUFFICIENT_CAPACITY: Self = Self(508);

    /// The RFC's recommended reason phrase.
    pub fn reason(self) -> &'static str {
        match self.0 {
            300 => "Try Alternate",
            400 => "Bad Request",
            401 => "Unauthenticated",
            403 => "Forbidden",
            405 => "Mobility Forbidden",
            420 => "Unknown Attribute",
            437 => "Allocation Mismatch",
            438 => "Stale Nonce",
            440 => "Address Family not Supported",
            441 => "Wrong Credentials",
            442 => "Unsupported Transport Protocol",
            443 => "Peer Address Family Mismatch",
            446 => "Connection Already Exists",
            447 => "Connection Timeout or Failure",
            486 => "Allocation Quota Reached",
            487 => "Role Conflict",
            500 => "Server Error",
            508 => "Insufficient Capacity",
            _ => "Error",
        }
    }
}

/// RFC 8489 §18.5: password algorithm numbers.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct PasswordAlgorithm(pub u16);

impl PasswordAlgorithm {
    pub const MD5: Self = Self(0x0001);
    pub const SHA256: Self = Self(0x0002);
}

/// The 96-bit transaction id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionId(pub [u8; 12]);

impl TransactionId {
    pub const fn new(bytes: [u8; 12]) -> Self {
        Self(bytes)
    }

    pub const fn as_bytes(&self) -> &[u8; 12] {
        &self.0
    }
}

impl From<[u8; 12]> for TransactionId {
    fn from(bytes: [u8; 12]) -> Self {
        Self(bytes)
    }
}

impl fmt::Debug for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TransactionId(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_type_examples_from_the_rfcs() {
        // RFC 8489 §5: Binding request 0x0001, success 0x0101, error 0x0111.
        assert_eq!(message_type(Class::Request, Method::BINDING), 0x0001);
        assert_eq!(
            message_type(Class::SuccessResponse, Method::BINDING),
            0x0101
        );
        assert_eq!(message_type(Class::ErrorResponse, Method::BINDING), 0x0111);
        assert_eq!(message_type(Class::Indication, Method::BINDING), 0x0011);
        // RFC 8656: Allocate request 0x0003, Send indication 0x0016, Data indication 0x0017.
        assert_eq!(message_type(Class::Request, Method::ALLOCATE), 0x0003);
        assert_eq!(message_type(Class::Indication, Method::SEND), 0x0016);
        assert_eq!(message_type(Class::Indication, Method::DATA), 0x0017);
        assert_eq!(message_type(Class::ErrorResponse, Method::ALLOCATE), 0x0113);
    }

    #[test]
    fn message_type_round_trips_every_class_and_method() {
        for m in 0..=0x0FFFu16 {
            for class in [
                Class::Request,
                Class::Indication,
                Class::SuccessResponse,
                Class::ErrorResponse,
            ] {
                let t = message_type(class, Method(m));
                assert_eq!(t & 0xC000, 0);
                assert_eq!(split_message_type(t), (class, Method(m)));
            }
        }
    }

    #[test]
    fn debug_prints_names_or_hex() {
        assert_eq!(format!("{:?}", Method::ALLOCATE), "Allocate");
        assert_eq!(format!("{:?}", Method(0x0FF)), "Method(0x0ff)");
        assert_eq!(
            format!("{:?}", AttributeType::FINGERPRINT),
            "AttributeType(0x8028)"
        );
        assert_eq!(
            format!("{:?}", TransactionId([0xab; 12])),
            "TransactionId(abababababababababababab)"
        );
    }
}
