//! STUN Binding (RFC 8489 §6.3) with the RFC 5780 NAT behaviour discovery extensions.

use std::net::SocketAddr;

use stun::{Attribute, AttributeType, ErrorCode, Message, Method};

use super::allocation::PendingResponse;
use super::types::{FiveTuple, Transport};
use super::Server;

/// Comprehension-required attributes a Binding request may carry without RFC 5780.
const BINDING_KNOWN: &[AttributeType] = &[
    AttributeType::USERNAME,
    AttributeType::MESSAGE_INTEGRITY,
    AttributeType::MESSAGE_INTEGRITY_SHA256,
    AttributeType::PRIORITY,
    AttributeType::USE_CANDIDATE,
    AttributeType::REALM,
    AttributeType::NONCE,
    AttributeType::PADDING,
];

/// With RFC 5780 configured, CHANGE-REQUEST and RESPONSE-PORT are understood as well.
const BINDING_KNOWN_5780: &[AttributeType] = &[
    AttributeType::USERNAME,
    AttributeType::MESSAGE_INTEGRITY,
    AttributeType::MESSAGE_INTEGRITY_SHA256,
    AttributeType::PRIORITY,
    AttributeType::USE_CANDIDATE,
    AttributeType::REALM,
    AttributeType::NONCE,
    AttributeType::PADDING,
    AttributeType::CHANGE_REQUEST,
    AttributeType::RESPONSE_PORT,
];

impl Server {
    /// RFC 8489 §6.3.1 + §14.2: answer with XOR-MAPPED-ADDRESS (the request's source); 420
    /// with UNKNOWN-ATTRIBUTES for unknown comprehension-required attributes; FINGERPRINT
    /// when the request had one. No authentication.
    ///
    /// RFC 5780 §6.1 when a second address is configured: OTHER-ADDRESS (the address that
    /// differs in both IP and port from the one reached) and RESPONSE-ORIGIN; CHANGE-REQUEST
    /// sends the response from the other IP and/or port; RESPONSE-PORT sends it to another
    /// port of the client. Both only over UDP.
    pub(super) fn handle_binding(&mut self, from: FiveTuple, msg: &Message<'_>) {
        self.stats.binding_requests += 1;
        let reply = PendingResponse::for_request(from, msg, None);
        let rfc5780 = self.config.rfc5780;
        let known = if rfc5780.is_some() {
            BINDING_KNOWN_5780
        } else {
            BINDING_KNOWN
        };
        let unknown = msg.unknown_required(known);
        if !unknown.is_empty() {
            self.respond(
                &reply,
                Method::BINDING,
                Some(ErrorCode::UNKNOWN_ATTRIBUTE),
                |b| {
                    b.add(&Attribute::UnknownAttributes(unknown));
                },
            );
            return;
        }
        let mut local = from.local;
        let mut to = from.client;
        let mut other = None;
        if let Some(alt) = rfc5780 {
            if let (Some(ip), Some(port)) = (alt.other_ip(local.ip()), alt.other_port(local.port()))
            {
                other = Some(SocketAddr::new(ip, port));
            }
            if from.transport == Transport::Udp {
                match msg.attribute(AttributeType::CHANGE_REQUEST) {
                    None => {}
                    Some(Ok(Attribute::ChangeRequest {
                        change_ip,
                        change_port,
                    })) => {
                        if change_ip {
                            match alt.other_ip(local.ip()) {
                                Some(ip) => local.set_ip(ip),
                                None => {
                                    return self.respond_error(
                                        &reply,
                                        Method::BINDING,
                                        ErrorCode::BAD_REQUEST,
                                    )
                                }
                            }
                        }
                        if change_port {
                            match alt.other_port(local.port()) {
                                Some(port) => local.set_port(port),
                                None => {
                                    return self.respond_error(
                                        &reply,
                                        Method::BINDING,
                                        ErrorCode::BAD_REQUEST,
                                    )
                                }
                            }
                        }
                    }
                    Some(_) => {
                        return self.respond_error(&reply, Method::BINDING, ErrorCode::BAD_REQUEST)
                    }
                }
                match msg.attribute(AttributeType::RESPONSE_PORT) {
                    None => {}
                    Some(Ok(Attribute::ResponsePort(port))) if port != 0 => to.set_port(port),
                    Some(_) => {
                        return self.respond_error(&reply, Method::BINDING, ErrorCode::BAD_REQUEST)
                    }
                }
            }
        }
        let mapped = from.client;
        self.respond_from(&reply, Method::BINDING, None, local, to, |b| {
            b.xor_address(AttributeType::XOR_MAPPED_ADDRESS, mapped);
            if let Some(other) = other {
                b.add(&Attribute::OtherAddress(other));
                b.add(&Attribute::ResponseOrigin(local));
            }
        });
    }
}
