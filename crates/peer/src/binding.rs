//! STUN Binding (RFC 8489 §3) and the RFC 5780 attributes a NAT behaviour test reads.
//!
//! Only the codec work lives here: building a request and reading its response. Sending and
//! retransmission belong to the caller (see [`crate::transaction`]).

use std::net::SocketAddr;

use stun::{Attribute, AttributeType, Class, Message, MessageBuilder, Method, TransactionId};

/// What a Binding success response says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindingResponse {
    /// XOR-MAPPED-ADDRESS (or MAPPED-ADDRESS from an RFC 3489 server): the reflexive address.
    pub mapped: SocketAddr,
    /// RFC 5780 §7.4 OTHER-ADDRESS: the server's second address, when it has one.
    pub other_address: Option<SocketAddr>,
    /// RFC 5780 §7.3 RESPONSE-ORIGIN: the address the response was sent from.
    pub response_origin: Option<SocketAddr>,
}

/// Why a datagram is not the awaited Binding response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BindingError {
    #[error("not a STUN message: {0}")]
    Parse(#[from] stun::ParseError),
    #[error("transaction id does not match")]
    OtherTransaction,
    #[error("not a Binding response")]
    NotBindingResponse,
    #[error("error response {code}: {reason}")]
    ErrorResponse { code: u16, reason: String },
    #[error("success response without a mapped address")]
    NoMappedAddress,
}

/// Writes a Binding request into `buf`. With `change` = Some((ip, port)), RFC 5780 §7.2
/// CHANGE-REQUEST asks the server to answer from its other IP and/or port.
pub fn request(buf: &mut Vec<u8>, tid: TransactionId, change: Option<(bool, bool)>) -> usize {
    let mut b = MessageBuilder::new(buf, Class::Request, Method::BINDING, tid);
    if let Some((change_ip, change_port)) = change {
        b.add(&Attribute::ChangeRequest {
            change_ip,
            change_port,
        });
    }
    b.fingerprint();
    b.finish()
}

/// The transaction id of a STUN response, if `buf` is one; used to route datagrams that arrive
/// on a socket shared with ICE.
pub fn response_transaction(buf: &[u8]) -> Option<TransactionId> {
    let msg = Message::parse(buf).ok()?;
    msg.class()
        .is_response()
        .then(|| msg.transaction_id())
        .filter(|_| msg.method() == Method::BINDING)
}

/// RFC 8489 §6.3.1 / §6.3.3: reads the response to the request `tid`.
pub fn parse_response(buf: &[u8], tid: TransactionId) -> Result<BindingResponse, BindingError> {
    let msg = Message::parse(buf)?;
    if msg.transaction_id() != tid {
        return Err(BindingError::OtherTransaction);
    }
    if msg.method() != Method::BINDING || !msg.class().is_response() {
        return Err(BindingError::NotBindingResponse);
    }
    if msg.class() == Class::ErrorResponse {
        let (code, reason) = msg
            .error_code()
            .map(|e| (e.code.0, e.reason.to_owned()))
            .unwrap_or((0, String::new()));
        return Err(BindingError::ErrorResponse { code, reason });
    }
    let mapped = msg
        .xor_mapped_address()
        .or_else(|| msg.mapped_address())
        .ok_or(BindingError::NoMappedAddress)?;
    let address = |typ| match msg.attribute(typ) {
        Some(Ok(Attribute::OtherAddress(a))) | Some(Ok(Attribute::ResponseOrigin(a))) => Some(a),
        _ => None,
    };
    Ok(BindingResponse {
        mapped,
        other_address: address(AttributeType::OTHER_ADDRESS),
        response_origin: address(AttributeType::RESPONSE_ORIGIN),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(tid: TransactionId, mapped: SocketAddr, other: Option<SocketAddr>) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut b = MessageBuilder::new(&mut buf, Class::SuccessResponse, Method::BINDING, tid);
        b.xor_address(AttributeType::XOR_MAPPED_ADDRESS, mapped);
        if let Some(o) = other {
            b.add(&Attribute::OtherAddress(o));
        }
        let n = b.finish();
        buf.truncate(n);
        buf
    }

    #[test]
    fn reads_mapped_and_other_address() {
        let tid = TransactionId([3; 12]);
        let mapped: SocketAddr = "203.0.113.5:40000".parse().unwrap();
        let other: SocketAddr = "198.51.100.2:3479".parse().unwrap();
        let r = parse_response(&response(tid, mapped, Some(other)), tid).unwrap();
        assert_eq!(r.mapped, mapped);
        assert_eq!(r.other_address, Some(other));
        assert_eq!(r.response_origin, None);
    }

    #[test]
    fn rejects_another_transaction() {
        let mapped: SocketAddr = "[2001:db8::1]:9".parse().unwrap();
        let buf = response(TransactionId([3; 12]), mapped, None);
        assert_eq!(
            parse_response(&buf, TransactionId([4; 12])),
            Err(BindingError::OtherTransaction)
        );
        assert_eq!(response_transaction(&buf), Some(TransactionId([3; 12])));
    }

    #[test]
    fn request_carries_change_request() {
        let mut buf = Vec::new();
        let n = request(&mut buf, TransactionId([9; 12]), Some((true, false)));
        let msg = Message::parse(&buf[..n]).unwrap();
        assert_eq!(msg.method(), Method::BINDING);
        assert_eq!(msg.change_request(), Some((true, false)));
        assert!(
            response_transaction(&buf[..n]).is_none(),
            "a request is not a response"
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for len in 0..40 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37) as u8).collect();
            assert!(parse_response(&junk, TransactionId([0; 12])).is_err());
        }
    }
}
