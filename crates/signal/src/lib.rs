//! Signaling for Rendezvous: the JSON messages exchanged over the `/ws` WebSocket, room tokens,
//! and [`Hub`], the sans-IO state machine that owns every room.
//!
//! The protocol is specified in `docs/protocol.md`; this crate is its reference implementation.
//! Nothing here does I/O, reads a clock or uses a global RNG: the driver passes frames, the
//! current [`std::time::Instant`] (and Unix seconds where tokens carry wall-clock expiries) and
//! an RNG, and drains what the hub wants sent with [`Hub::poll_transmit`] and
//! [`Hub::poll_event`].

mod error_code;
pub mod hub;
mod limits;
pub mod message;
pub mod token;

pub use error_code::ErrorCode;
pub use hub::{CloseReason, ConnId, Event, Frame, Hub, HubConfig, Transmit};
pub use message::{
    ClientMessage, ErrorMessage, IceServer, Joined, ParseError, PeerId, PeerInfo, Role,
    ServerMessage, SignalData, UnknownRole, PROTOCOL_VERSION,
};
