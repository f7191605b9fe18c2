//! Typed attributes: decode from a [`RawAttribute`](crate::RawAttribute) and encode into a builder.
//!
//! Decoding is strict about lengths and value ranges (a malformed value is an
//! [`AttributeError`], never a panic) and lenient about reserved bits, which RFC 8489 and
//! RFC 8656 say receivers ignore. Text attributes must be UTF-8 within the RFC's byte limits.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::types::{AttributeType, ErrorCode, PasswordAlgorithm, TransactionId, MAGIC_COOKIE};

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

/// Address family numbers of (XOR-)MAPPED-ADDRESS and friends (RFC 8489 §14.1).
pub const FAMILY_IPV4: u8 = 0x01;
/// See [`FAMILY_IPV4`].
pub const FAMILY_IPV6: u8 = 0x02;

/// RFC 8489 §14.3: USERNAME MUST be fewer than 509 bytes.
pub const MAX_USERNAME_LEN: usize = 508;
/// RFC 8489 §14.9/§14.10/§14.14/§14.8: REALM, NONCE, SOFTWARE and the ERROR-CODE reason phrase
/// are fewer than 128 characters, which "can be as long as 763 bytes when decoding them".
pub const MAX_TEXT_LEN: usize = 763;
/// RFC 8489 §14.16: ALTERNATE-DOMAIN is a domain name, at most 255 bytes.
pub const MAX_DOMAIN_LEN: usize = 255;

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

/// RFC 5780 §7.2: CHANGE-REQUEST flag bits.
const CHANGE_IP: u32 = 0x4;
const CHANGE_PORT: u32 = 0x2;
/// RFC 8656 §18.8: the R bit of EVEN-PORT.
const EVEN_PORT_RESERVE: u8 = 0x80;

impl<'a> Attribute<'a> {
    /// Decode a value of type `typ`. XOR addresses need the transaction id.
    pub fn decode(
        typ: AttributeType,
        value: &'a [u8],
        tid: &TransactionId,
    ) -> Result<Self, AttributeError> {
        use AttributeType as T;
        let v = value;
        Ok(match typ {
            T::MAPPED_ADDRESS => Self::MappedAddress(decode_address(typ, v)?),
            T::XOR_MAPPED_ADDRESS => Self::XorMappedAddress(decode_xor_address(typ, v, tid)?),
            T::USERNAME => Self::Username(text(typ, v, MAX_USERNAME_LEN)?),
            T::USERHASH => Self::Userhash(exact(typ, v)?),
            T::MESSAGE_INTEGRITY => Self::MessageIntegrity(exact(typ, v)?),
            T::MESSAGE_INTEGRITY_SHA256 => {
                // RFC 8489 §14.6: at least 16 bytes, a multiple of 4, at most the full 32.
                if !(16..=32).contains(&v.len()) || !v.len().is_multiple_of(4) {
                    return Err(AttributeError::BadLength(typ));
                }
                Self::MessageIntegritySha256(v)
            }
            T::FINGERPRINT => Self::Fingerprint(u32::from_be_bytes(*exact(typ, v)?)),
            T::ERROR_CODE => {
                let (code, reason) = decode_error_code(typ, v)?;
                Self::ErrorCode(ErrorCodeValue { code, reason })
            }
            T::REALM => Self::Realm(text(typ, v, MAX_TEXT_LEN)?),
            T::NONCE => {
                if v.len() > MAX_TEXT_LEN {
                    return Err(AttributeError::BadLength(typ));
                }
                Self::Nonce(v)
            }
            T::PASSWORD_ALGORITHMS => Self::PasswordAlgorithms(decode_algorithms(typ, v)?),
            T::PASSWORD_ALGORITHM => {
                let (alg, params, rest) = decode_algorithm_entry(typ, v)?;
                if !rest.is_empty() {
                    return Err(AttributeError::BadLength(typ));
                }
                Self::PasswordAlgorithm(alg, params)
            }
            T::UNKNOWN_ATTRIBUTES => {
                if !v.len().is_multiple_of(2) {
                    return Err(AttributeError::BadLength(typ));
                }
                Self::UnknownAttributes(
                    v.chunks_exact(2)
                        .map(|c| AttributeType(u16::from_be_bytes([c[0], c[1]])))
                        .collect(),
                )
            }
            T::SOFTWARE => Self::Software(text(typ, v, MAX_TEXT_LEN)?),
            T::ALTERNATE_SERVER => Self::AlternateServer(decode_address(typ, v)?),
            T::ALTERNATE_DOMAIN => Self::AlternateDomain(text(typ, v, MAX_DOMAIN_LEN)?),
            T::CHANGE_REQUEST => {
                let flags = u32::from_be_bytes(*exact(typ, v)?);
                Self::ChangeRequest {
                    change_ip: flags & CHANGE_IP != 0,
                    change_port: flags & CHANGE_PORT != 0,
                }
            }
            T::RESPONSE_ORIGIN => Self::ResponseOrigin(decode_address(typ, v)?),
            T::OTHER_ADDRESS => Self::OtherAddress(decode_address(typ, v)?),
            T::PADDING => Self::Padding(v),
            T::RESPONSE_PORT => match v {
                // RFC 5780 §7.5: a port followed by two bytes of padding; a bare 2-byte
                // port is accepted too.
                [a, b] | [a, b, _, _] => Self::ResponsePort(u16::from_be_bytes([*a, *b])),
                _ => return Err(AttributeError::BadLength(typ)),
            },
            T::CHANNEL_NUMBER => {
                // RFC 8656 §18.1: channel number and 16 RFFU bits.
                let [a, b, _, _] = *exact(typ, v)?;
                Self::ChannelNumber(u16::from_be_bytes([a, b]))
            }
            T::LIFETIME => Self::Lifetime(u32::from_be_bytes(*exact(typ, v)?)),
            T::XOR_PEER_ADDRESS => Self::XorPeerAddress(decode_xor_address(typ, v, tid)?),
            T::DATA => Self::Data(v),
            T::XOR_RELAYED_ADDRESS => Self::XorRelayedAddress(decode_xor_address(typ, v, tid)?),
            T::REQUESTED_ADDRESS_FAMILY => Self::RequestedAddressFamily(exact::<4>(typ, v)?[0]),
            T::EVEN_PORT => Self::EvenPort {
                reserve: exact::<1>(typ, v)?[0] & EVEN_PORT_RESERVE != 0,
            },
            // RFC 8656 §18.9: protocol number and 24 RFFU bits.
            T::REQUESTED_TRANSPORT => Self::RequestedTransport(exact::<4>(typ, v)?[0]),
            T::DONT_FRAGMENT => {
                exact::<0>(typ, v)?;
                Self::DontFragment
            }
            T::RESERVATION_TOKEN => Self::ReservationToken(u64::from_be_bytes(*exact(typ, v)?)),
            T::ADDITIONAL_ADDRESS_FAMILY => Self::AdditionalAddressFamily(exact::<4>(typ, v)?[0]),
            T::ADDRESS_ERROR_CODE => {
                // RFC 8656 §18.12: Family (8) | Rsvd (13) | Class (3) | Number (8) | Reason.
                let family = *v.first().ok_or(AttributeError::BadLength(typ))?;
                let (code, reason) = decode_error_code(typ, v)?;
                Self::AddressErrorCode {
                    family,
                    code,
                    reason,
                }
            }
            T::ICMP => {
                // RFC 8656 §18.13: Reserved (16) | ICMP Type (8) | ICMP Code (8) | Error Data (32).
                let b = exact::<8>(typ, v)?;
                Self::Icmp {
                    icmp_type: b[2],
                    code: b[3],
                    data: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
                }
            }
            T::CONNECTION_ID => Self::ConnectionId(u32::from_be_bytes(*exact(typ, v)?)),
            T::PRIORITY => Self::Priority(u32::from_be_bytes(*exact(typ, v)?)),
            T::USE_CANDIDATE => {
                exact::<0>(typ, v)?;
                Self::UseCandidate
            }
            T::ICE_CONTROLLED => Self::IceControlled(u64::from_be_bytes(*exact(typ, v)?)),
            T::ICE_CONTROLLING => Self::IceControlling(u64::from_be_bytes(*exact(typ, v)?)),
            _ => Self::Unknown { typ, value },
        })
    }

    pub fn typ(&self) -> AttributeType {
        use AttributeType as T;
        match self {
            Self::MappedAddress(_) => T::MAPPED_ADDRESS,
            Self::XorMappedAddress(_) => T::XOR_MAPPED_ADDRESS,
            Self::Username(_) => T::USERNAME,
            Self::Userhash(_) => T::USERHASH,
            Self::MessageIntegrity(_) => T::MESSAGE_INTEGRITY,
            Self::MessageIntegritySha256(_) => T::MESSAGE_INTEGRITY_SHA256,
            Self::Fingerprint(_) => T::FINGERPRINT,
            Self::ErrorCode(_) => T::ERROR_CODE,
            Self::Realm(_) => T::REALM,
            Self::Nonce(_) => T::NONCE,
            Self::PasswordAlgorithms(_) => T::PASSWORD_ALGORITHMS,
            Self::PasswordAlgorithm(..) => T::PASSWORD_ALGORITHM,
            Self::UnknownAttributes(_) => T::UNKNOWN_ATTRIBUTES,
            Self::Software(_) => T::SOFTWARE,
            Self::AlternateServer(_) => T::ALTERNATE_SERVER,
            Self::AlternateDomain(_) => T::ALTERNATE_DOMAIN,
            Self::ChangeRequest { .. } => T::CHANGE_REQUEST,
            Self::ResponseOrigin(_) => T::RESPONSE_ORIGIN,
            Self::OtherAddress(_) => T::OTHER_ADDRESS,
            Self::Padding(_) => T::PADDING,
            Self::ResponsePort(_) => T::RESPONSE_PORT,
            Self::ChannelNumber(_) => T::CHANNEL_NUMBER,
            Self::Lifetime(_) => T::LIFETIME,
            Self::XorPeerAddress(_) => T::XOR_PEER_ADDRESS,
            Self::Data(_) => T::DATA,
            Self::XorRelayedAddress(_) => T::XOR_RELAYED_ADDRESS,
            Self::RequestedAddressFamily(_) => T::REQUESTED_ADDRESS_FAMILY,
            Self::EvenPort { .. } => T::EVEN_PORT,
            Self::RequestedTransport(_) => T::REQUESTED_TRANSPORT,
            Self::DontFragment => T::DONT_FRAGMENT,
            Self::ReservationToken(_) => T::RESERVATION_TOKEN,
            Self::AdditionalAddressFamily(_) => T::ADDITIONAL_ADDRESS_FAMILY,
            Self::AddressErrorCode { .. } => T::ADDRESS_ERROR_CODE,
            Self::Icmp { .. } => T::ICMP,
            Self::ConnectionId(_) => T::CONNECTION_ID,
            Self::Priority(_) => T::PRIORITY,
            Self::UseCandidate => T::USE_CANDIDATE,
            Self::IceControlled(_) => T::ICE_CONTROLLED,
            Self::IceControlling(_) => T::ICE_CONTROLLING,
            Self::Unknown { typ, .. } => *typ,
        }
    }

    /// Append the value (without the 4-byte attribute header and without trailing padding)
    /// to `out`. XOR addresses are obfuscated with `tid`.
    ///
    /// Values the wire format cannot carry are clamped, and `debug_assert!`ed: an ERROR-CODE
    /// outside 300-699, a reason phrase or list longer than an attribute can hold.
    pub fn encode_value(&self, tid: &TransactionId, out: &mut Vec<u8>) {
        match self {
            Self::MappedAddress(a)
            | Self::AlternateServer(a)
            | Self::ResponseOrigin(a)
            | Self::OtherAddress(a) => encode_address(*a, out),
            Self::XorMappedAddress(a) | Self::XorPeerAddress(a) | Self::XorRelayedAddress(a) => {
                encode_xor_address(*a, tid, out)
            }
            Self::Username(s) | Self::Realm(s) | Self::Software(s) | Self::AlternateDomain(s) => {
                out.extend_from_slice(s.as_bytes())
            }
            Self::Userhash(b) => out.extend_from_slice(&b[..]),
            Self::MessageIntegrity(b) => out.extend_from_slice(&b[..]),
            Self::MessageIntegritySha256(b)
            | Self::Nonce(b)
            | Self::Padding(b)
            | Self::Data(b)
            | Self::Unknown { value: b, .. } => out.extend_from_slice(b),
            Self::Fingerprint(x)
            | Self::Lifetime(x)
            | Self::ConnectionId(x)
            | Self::Priority(x) => out.extend_from_slice(&x.to_be_bytes()),
            Self::ErrorCode(e) => encode_error_code(0, e.code, e.reason, out),
            Self::PasswordAlgorithms(list) => {
                for (alg, params) in list {
                    encode_algorithm_entry(*alg, params, out);
                    out.resize(out.len() + padding_len(params.len()), 0);
                }
            }
            Self::PasswordAlgorithm(alg, params) => encode_algorithm_entry(*alg, params, out),
            Self::UnknownAttributes(list) => {
                for t in list {
                    out.extend_from_slice(&t.0.to_be_bytes());
                }
            }
            Self::ChangeRequest {
                change_ip,
                change_port,
            } => {
                let flags = if *change_ip { CHANGE_IP } else { 0 }
                    | if *change_port { CHANGE_PORT } else { 0 };
                out.extend_from_slice(&flags.to_be_bytes());
            }
            Self::ResponsePort(p) => {
                out.extend_from_slice(&p.to_be_bytes());
                out.extend_from_slice(&[0, 0]);
            }
            Self::ChannelNumber(c) => {
                out.extend_from_slice(&c.to_be_bytes());
                out.extend_from_slice(&[0, 0]);
            }
            Self::RequestedAddressFamily(f)
            | Self::RequestedTransport(f)
            | Self::AdditionalAddressFamily(f) => out.extend_from_slice(&[*f, 0, 0, 0]),
            Self::EvenPort { reserve } => {
                out.push(if *reserve { EVEN_PORT_RESERVE } else { 0 });
            }
            Self::DontFragment | Self::UseCandidate => {}
            Self::ReservationToken(x) | Self::IceControlled(x) | Self::IceControlling(x) => {
                out.extend_from_slice(&x.to_be_bytes())
            }
            Self::AddressErrorCode {
                family,
                code,
                reason,
            } => encode_error_code(*family, *code, reason, out),
            Self::Icmp {
                icmp_type,
                code,
                data,
            } => {
                out.extend_from_slice(&[0, 0, *icmp_type, *code]);
                out.extend_from_slice(&data.to_be_bytes());
            }
        }
    }
}

/// Bytes of padding after a value of `len` bytes (RFC 8489 §14: 32-bit alignment).
pub const fn padding_len(len: usize) -> usize {
    (4 - len % 4) % 4
}

fn exact<const N: usize>(typ: AttributeType, v: &[u8]) -> Result<&[u8; N], AttributeError> {
    v.try_into().map_err(|_| AttributeError::BadLength(typ))
}

fn text(typ: AttributeType, v: &[u8], max: usize) -> Result<&str, AttributeError> {
    if v.len() > max {
        return Err(AttributeError::BadLength(typ));
    }
    std::str::from_utf8(v).map_err(|_| AttributeError::NotUtf8(typ))
}

/// RFC 8489 §14.1: 8 reserved bits (ignored), family, port, 32- or 128-bit address.
pub(crate) fn decode_address(typ: AttributeType, v: &[u8]) -> Result<SocketAddr, AttributeError> {
    let family = *v.get(1).ok_or(AttributeError::BadLength(typ))?;
    match (family, v.len()) {
        (FAMILY_IPV4, 8) => {
            let port = u16::from_be_bytes([v[2], v[3]]);
            let ip = Ipv4Addr::new(v[4], v[5], v[6], v[7]);
            Ok(SocketAddr::new(IpAddr::V4(ip), port))
        }
        (FAMILY_IPV6, 20) => {
            let port = u16::from_be_bytes([v[2], v[3]]);
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&v[4..20]);
            Ok(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(octets)), port))
        }
        (FAMILY_IPV4 | FAMILY_IPV6, _) => Err(AttributeError::BadLength(typ)),
        _ => Err(AttributeError::BadFamily(typ)),
    }
}

/// RFC 8489 §14.2: X-Port is the port XOR the cookie's top 16 bits; X-Address is the address
/// XOR the cookie (IPv4) or XOR the cookie followed by the transaction id (IPv6).
pub(crate) fn decode_xor_address(
    typ: AttributeType,
    v: &[u8],
    tid: &TransactionId,
) -> Result<SocketAddr, AttributeError> {
    Ok(xor_socket_addr(decode_address(typ, v)?, tid))
}

/// XOR is its own inverse: the same function obfuscates and recovers.
fn xor_socket_addr(addr: SocketAddr, tid: &TransactionId) -> SocketAddr {
    let port = addr.port() ^ (MAGIC_COOKIE >> 16) as u16;
    let ip = match addr.ip() {
        IpAddr::V4(ip) => IpAddr::V4(Ipv4Addr::from(u32::from(ip) ^ MAGIC_COOKIE)),
        IpAddr::V6(ip) => {
            let mut key = [0u8; 16];
            key[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
            key[4..].copy_from_slice(&tid.0);
            let mut octets = ip.octets();
            for (o, k) in octets.iter_mut().zip(key) {
                *o ^= k;
            }
            IpAddr::V6(Ipv6Addr::from(octets))
        }
    };
    SocketAddr::new(ip, port)
}

pub(crate) fn encode_address(addr: SocketAddr, out: &mut Vec<u8>) {
    match addr.ip() {
        IpAddr::V4(ip) => {
            out.extend_from_slice(&[0, FAMILY_IPV4]);
            out.extend_from_slice(&addr.port().to_be_bytes());
            out.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.extend_from_slice(&[0, FAMILY_IPV6]);
            out.extend_from_slice(&addr.port().to_be_bytes());
            out.extend_from_slice(&ip.octets());
        }
    }
}

pub(crate) fn encode_xor_address(addr: SocketAddr, tid: &TransactionId, out: &mut Vec<u8>) {
    encode_address(xor_socket_addr(addr, tid), out);
}

/// RFC 8489 §14.8: 21 reserved bits, Class (3 bits, 3-6), Number (8 bits, 0-99), reason.
/// The first byte carries the family in ADDRESS-ERROR-CODE and is not looked at here.
fn decode_error_code(typ: AttributeType, v: &[u8]) -> Result<(ErrorCode, &str), AttributeError> {
    if v.len() < 4 {
        return Err(AttributeError::BadLength(typ));
    }
    let class = u16::from(v[2] & 0x07);
    let number = u16::from(v[3]);
    if !(3..=6).contains(&class) || number > 99 {
        return Err(AttributeError::Invalid(typ));
    }
    let reason = text(typ, &v[4..], MAX_TEXT_LEN)?;
    Ok((ErrorCode(class * 100 + number), reason))
}

fn encode_error_code(first: u8, code: ErrorCode, reason: &str, out: &mut Vec<u8>) {
    debug_assert!(
        (300..700).contains(&code.0),
        "ERROR-CODE {} is outside 300-699",
        code.0
    );
    let class = ((code.0 / 100) & 0x07) as u8;
    let number = (code.0 % 100) as u8;
    out.extend_from_slice(&[first, 0, class, number]);
    out.extend_from_slice(reason.as_bytes());
}

/// One PASSWORD-ALGORITHMS entry (RFC 8489 §14.11): algorithm, parameters length,
/// parameters. Returns the rest after the entry and its padding (padding may be cut short
/// at the end of the value, where the attribute's own padding takes over).
fn decode_algorithm_entry(
    typ: AttributeType,
    v: &[u8],
) -> Result<(PasswordAlgorithm, &[u8], &[u8]), AttributeError> {
    if v.len() < 4 {
        return Err(AttributeError::BadLength(typ));
    }
    let alg = PasswordAlgorithm(u16::from_be_bytes([v[0], v[1]]));
    let len = usize::from(u16::from_be_bytes([v[2], v[3]]));
    let body = &v[4..];
    let params = body.get(..len).ok_or(AttributeError::BadLength(typ))?;
    let skip = (len + padding_len(len)).min(body.len());
    Ok((alg, params, &body[skip..]))
}

fn decode_algorithms(
    typ: AttributeType,
    mut v: &[u8],
) -> Result<Vec<(PasswordAlgorithm, &[u8])>, AttributeError> {
    let mut list = Vec::new();
    while !v.is_empty() {
        let (alg, params, rest) = decode_algorithm_entry(typ, v)?;
        list.push((alg, params));
        v = rest;
    }
    Ok(list)
}

fn encode_algorithm_entry(alg: PasswordAlgorithm, params: &[u8], out: &mut Vec<u8>) {
    debug_assert!(params.len() <= usize::from(u16::MAX));
    let len = params.len().min(usize::from(u16::MAX));
    out.extend_from_slice(&alg.0.to_be_bytes());
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(&params[..len]);
}

#[cfg(test)]
mod tests {
    use super::*;

    const TID: TransactionId = TransactionId([
        0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
    ]);

    fn encode(a: &Attribute<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        a.encode_value(&TID, &mut out);
        out
    }

    #[test]
    fn xor_mapped_address_matches_rfc5769_ipv4_and_ipv6() {
        // RFC 5769 §2.2 and §2.3: 192.0.2.1:32853 and [2001:db8:1234:5678:11:2233:4455:6677]:32853.
        let v4: SocketAddr = "192.0.2.1:32853".parse().unwrap();
        let wire4 = [0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43];
        assert_eq!(encode(&Attribute::XorMappedAddress(v4)), wire4);
        assert_eq!(
            Attribute::decode(AttributeType::XOR_MAPPED_ADDRESS, &wire4, &TID),
            Ok(Attribute::XorMappedAddress(v4))
        );
        let v6: SocketAddr = "[2001:db8:1234:5678:11:2233:4455:6677]:32853"
            .parse()
            .unwrap();
        let wire6 = [
            0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa, 0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25,
            0xf4, 0xb5, 0xbe, 0xd2, 0xb9, 0xd9,
        ];
        assert_eq!(encode(&Attribute::XorMappedAddress(v6)), wire6);
        assert_eq!(
            Attribute::decode(AttributeType::XOR_MAPPED_ADDRESS, &wire6, &TID),
            Ok(Attribute::XorMappedAddress(v6))
        );
    }

    #[test]
    fn addresses_reject_bad_family_and_length() {
        let t = AttributeType::XOR_PEER_ADDRESS;
        let err = |v: &[u8]| Attribute::decode(t, v, &TID).unwrap_err();
        assert_eq!(err(&[0, 3, 0, 0, 1, 2, 3, 4]), AttributeError::BadFamily(t));
        assert_eq!(err(&[0, 1, 0, 0, 1, 2, 3]), AttributeError::BadLength(t));
        assert_eq!(err(&[0, 2, 0, 0, 1, 2, 3, 4]), AttributeError::BadLength(t));
        assert_eq!(err(&[0]), AttributeError::BadLength(t));
        assert_eq!(err(&[]), AttributeError::BadLength(t));
    }

    #[test]
    fn error_code_splits_class_and_number() {
        let a = Attribute::ErrorCode(ErrorCodeValue {
            code: ErrorCode::STALE_NONCE,
            reason: "Stale Nonce",
        });
        let wire = encode(&a);
        assert_eq!(&wire[..4], &[0, 0, 4, 38]);
        assert_eq!(&wire[4..], b"Stale Nonce");
        assert_eq!(Attribute::decode(a.typ(), &wire, &TID), Ok(a));
        let t = AttributeType::ERROR_CODE;
        // Class 2 and number 100 are out of range; reserved bits are ignored.
        assert_eq!(
            Attribute::decode(t, &[0, 0, 2, 0], &TID),
            Err(AttributeError::Invalid(t))
        );
        assert_eq!(
            Attribute::decode(t, &[0, 0, 4, 100], &TID),
            Err(AttributeError::Invalid(t))
        );
        assert_eq!(
            Attribute::decode(t, &[0xff, 0xff, 0xfc, 20], &TID),
            Ok(Attribute::ErrorCode(ErrorCodeValue {
                code: ErrorCode::UNKNOWN_ATTRIBUTE,
                reason: ""
            }))
        );
        assert_eq!(
            Attribute::decode(t, &[0, 0, 4, 1, 0xff], &TID),
            Err(AttributeError::NotUtf8(t))
        );
    }

    #[test]
    fn address_error_code_keeps_family() {
        let a = Attribute::AddressErrorCode {
            family: FAMILY_IPV6,
            code: ErrorCode::ADDRESS_FAMILY_NOT_SUPPORTED,
            reason: "no v6",
        };
        let wire = encode(&a);
        assert_eq!(&wire[..4], &[2, 0, 4, 40]);
        assert_eq!(Attribute::decode(a.typ(), &wire, &TID), Ok(a));
    }

    #[test]
    fn password_algorithms_pad_each_entry() {
        let params = [9u8, 8, 7];
        let a = Attribute::PasswordAlgorithms(vec![
            (PasswordAlgorithm::MD5, &[][..]),
            (PasswordAlgorithm(0x7777), &params[..]),
            (PasswordAlgorithm::SHA256, &[][..]),
        ]);
        let wire = encode(&a);
        assert_eq!(wire, [0, 1, 0, 0, 0x77, 0x77, 0, 3, 9, 8, 7, 0, 0, 2, 0, 0]);
        assert_eq!(Attribute::decode(a.typ(), &wire, &TID), Ok(a));
        // A parameter length running past the value is rejected.
        let t = AttributeType::PASSWORD_ALGORITHMS;
        assert_eq!(
            Attribute::decode(t, &[0, 1, 0, 5, 1, 2], &TID),
            Err(AttributeError::BadLength(t))
        );
        assert_eq!(
            Attribute::decode(t, &[0, 1, 0], &TID),
            Err(AttributeError::BadLength(t))
        );
    }

    #[test]
    fn password_algorithm_rejects_trailing_garbage() {
        let t = AttributeType::PASSWORD_ALGORITHM;
        assert_eq!(
            Attribute::decode(t, &[0, 2, 0, 0], &TID),
            Ok(Attribute::PasswordAlgorithm(PasswordAlgorithm::SHA256, &[]))
        );
        assert_eq!(
            Attribute::decode(t, &[0, 2, 0, 0, 1, 2, 3, 4], &TID),
            Err(AttributeError::BadLength(t))
        );
    }

    #[test]
    fn flags_and_small_fields() {
        let cases: Vec<(Attribute<'_>, Vec<u8>)> = vec![
            (
                Attribute::ChangeRequest {
                    change_ip: true,
                    change_port: false,
                },
                vec![0, 0, 0, 4],
            ),
            (
                Attribute::ChangeRequest {
                    change_ip: false,
                    change_port: true,
                },
                vec![0, 0, 0, 2],
            ),
            (Attribute::EvenPort { reserve: true }, vec![0x80]),
            (Attribute::EvenPort { reserve: false }, vec![0]),
            (Attribute::RequestedTransport(17), vec![17, 0, 0, 0]),
            (Attribute::RequestedAddressFamily(2), vec![2, 0, 0, 0]),
            (Attribute::ChannelNumber(0x4001), vec![0x40, 0x01, 0, 0]),
            (Attribute::ResponsePort(3478), vec![0x0d, 0x96, 0, 0]),
            (
                Attribute::Icmp {
                    icmp_type: 3,
                    code: 4,
                    data: 1400,
                },
                vec![0, 0, 3, 4, 0, 0, 0x05, 0x78],
            ),
            (Attribute::DontFragment, vec![]),
            (
                Attribute::UnknownAttributes(vec![AttributeType(0x0031), AttributeType(0x0032)]),
                vec![0, 0x31, 0, 0x32],
            ),
        ];
        for (attr, wire) in cases {
            assert_eq!(encode(&attr), wire, "{attr:?}");
            assert_eq!(Attribute::decode(attr.typ(), &wire, &TID), Ok(attr));
        }
    }

    #[test]
    fn reserved_bits_are_ignored_but_lengths_are_not() {
        assert_eq!(
            Attribute::decode(AttributeType::EVEN_PORT, &[0xff], &TID),
            Ok(Attribute::EvenPort { reserve: true })
        );
        assert_eq!(
            Attribute::decode(AttributeType::REQUESTED_TRANSPORT, &[6, 1, 2, 3], &TID),
            Ok(Attribute::RequestedTransport(6))
        );
        assert_eq!(
            Attribute::decode(AttributeType::RESPONSE_PORT, &[0x0d, 0x96], &TID),
            Ok(Attribute::ResponsePort(3478))
        );
        for (t, v) in [
            (AttributeType::EVEN_PORT, &[0u8, 0][..]),
            (AttributeType::REQUESTED_TRANSPORT, &[17][..]),
            (AttributeType::LIFETIME, &[0, 0, 1][..]),
            (AttributeType::DONT_FRAGMENT, &[0][..]),
            (AttributeType::MESSAGE_INTEGRITY, &[0; 19][..]),
            (AttributeType::MESSAGE_INTEGRITY_SHA256, &[0; 12][..]),
            (AttributeType::MESSAGE_INTEGRITY_SHA256, &[0; 18][..]),
            (AttributeType::MESSAGE_INTEGRITY_SHA256, &[0; 36][..]),
            (AttributeType::USERHASH, &[0; 31][..]),
            (AttributeType::UNKNOWN_ATTRIBUTES, &[0; 3][..]),
            (AttributeType::ICMP, &[0; 4][..]),
            (AttributeType::CHANNEL_NUMBER, &[0x40, 0][..]),
        ] {
            assert_eq!(
                Attribute::decode(t, v, &TID),
                Err(AttributeError::BadLength(t)),
                "{t:?}"
            );
        }
    }

    #[test]
    fn text_limits_and_utf8() {
        let long = [b'a'; MAX_USERNAME_LEN + 1];
        let t = AttributeType::USERNAME;
        assert_eq!(
            Attribute::decode(t, &long, &TID),
            Err(AttributeError::BadLength(t))
        );
        assert_eq!(
            Attribute::decode(t, &long[..MAX_USERNAME_LEN], &TID).map(|a| a.typ()),
            Ok(t)
        );
        assert_eq!(
            Attribute::decode(AttributeType::REALM, &[0xc3, 0x28], &TID),
            Err(AttributeError::NotUtf8(AttributeType::REALM))
        );
        assert_eq!(
            Attribute::decode(AttributeType::NONCE, &[0xff; 8], &TID),
            Ok(Attribute::Nonce(&[0xff; 8]))
        );
    }

    #[test]
    fn unknown_types_are_kept() {
        let t = AttributeType(0x7f01);
        assert_eq!(
            Attribute::decode(t, b"xyz", &TID),
            Ok(Attribute::Unknown {
                typ: t,
                value: b"xyz"
            })
        );
        assert_eq!(Attribute::Unknown { typ: t, value: b"" }.typ(), t);
    }
}
