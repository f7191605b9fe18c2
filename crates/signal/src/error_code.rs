//! The `code` of an `error` message: a stable, machine-readable string.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// An error code as it travels on the wire (`docs/protocol.md` §7).
///
/// A newtype rather than an enum so that a client built against this crate still parses codes a
/// newer server sends; the named constants are every code this version of the protocol defines.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ErrorCode(Cow<'static, str>);

impl ErrorCode {
    /// The text frame is not valid JSON.
    pub const BAD_JSON: ErrorCode = ErrorCode::new_static("bad-json");
    /// The `type` names no client message of this protocol version.
    pub const UNKNOWN_TYPE: ErrorCode = ErrorCode::new_static("unknown-type");
    /// A required field is missing or has the wrong JSON type, or a value is out of range.
    pub const BAD_MESSAGE: ErrorCode = ErrorCode::new_static("bad-message");
    /// `role` is not `peer`, `publisher` or `viewer`.
    pub const BAD_ROLE: ErrorCode = ErrorCode::new_static("bad-role");
    /// A binary WebSocket frame; the protocol is text only.
    pub const BINARY_UNSUPPORTED: ErrorCode = ErrorCode::new_static("binary-unsupported");
    /// The frame is larger than the server's message size limit.
    pub const TOO_LARGE: ErrorCode = ErrorCode::new_static("too-large");
    /// The connection sent more messages per second than allowed; the message was dropped.
    pub const RATE_LIMITED: ErrorCode = ErrorCode::new_static("rate-limited");
    /// `signal` or `leave` before a successful `join`.
    pub const NOT_JOINED: ErrorCode = ErrorCode::new_static("not-joined");
    /// `join` on a connection that is already in a room.
    pub const ALREADY_JOINED: ErrorCode = ErrorCode::new_static("already-joined");
    /// The room token is missing, malformed, forged, expired, or for another room or role.
    pub const BAD_TOKEN: ErrorCode = ErrorCode::new_static("bad-token");
    /// The resume token is unknown, its grace period is over, or room/role differ.
    pub const BAD_RESUME: ErrorCode = ErrorCode::new_static("bad-resume");
    /// A `peer` room already has `max_peers_per_room` peers.
    pub const ROOM_FULL: ErrorCode = ErrorCode::new_static("room-full");
    /// A broadcast room already has `max_viewers_per_broadcast` viewers.
    pub const BROADCAST_FULL: ErrorCode = ErrorCode::new_static("broadcast-full");
    /// A second `publisher` tried to join a broadcast room.
    pub const PUBLISHER_EXISTS: ErrorCode = ErrorCode::new_static("publisher-exists");
    /// `peer` joining a broadcast room, or `publisher`/`viewer` joining a `peer` room.
    pub const ROLE_CONFLICT: ErrorCode = ErrorCode::new_static("role-conflict");
    /// `signal.to` names no peer this connection may signal (unknown, gone, or not visible).
    pub const UNKNOWN_PEER: ErrorCode = ErrorCode::new_static("unknown-peer");
    /// The server is at its connection limit; the connection is closed after this error.
    pub const SERVER_FULL: ErrorCode = ErrorCode::new_static("server-full");

    const fn new_static(code: &'static str) -> Self {
        ErrorCode(Cow::Borrowed(code))
    }

    /// A code from its wire text (for codes received from a peer or a newer server).
    pub fn from_wire(code: impl Into<Cow<'static, str>>) -> Self {
        ErrorCode(code.into())
    }

    /// The wire text, e.g. `"room-full"`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ErrorCode({})", self.0)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_codes_round_trip() {
        let json = serde_json::to_string(&ErrorCode::ROOM_FULL).unwrap();
        assert_eq!(json, r#""room-full""#);
        let back: ErrorCode = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ErrorCode::ROOM_FULL);
        let newer: ErrorCode = serde_json::from_str(r#""from-the-future""#).unwrap();
        assert_eq!(newer.as_str(), "from-the-future");
        assert_ne!(newer, ErrorCode::BAD_JSON);
    }
}
