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

impl fmt::Debug for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TransactionId(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}
