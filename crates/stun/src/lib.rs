//! Zero-copy STUN codec shared by the Rendezvous STUN/TURN server, the TURN client and the native peer.
//!
//! API CONTRACT (other crates code against these names; bodies are being filled in):
//!
//! - [`Message::parse`] borrows a datagram and validates header + attribute framing once.
//! - [`MessageBuilder`] writes into a caller-owned `Vec<u8>` (cleared, capacity reused).
//! - [`Attribute`] is the typed view of every known attribute; unknown ones are kept as `Unknown`.
//! - [`channel_data`] frames ChannelData; [`demux`] classifies first bytes per RFC 7983;
//!   [`stream_frame_len`] splits a TCP byte stream into STUN / ChannelData frames.

pub mod attribute;
pub mod builder;
pub mod channel_data;
pub mod demux;
pub mod integrity;
pub mod message;
pub mod types;

pub use attribute::{Attribute, AttributeError, ErrorCodeValue};
pub use builder::{BuildError, MessageBuilder};
pub use channel_data::{ChannelData, ChannelDataError};
pub use demux::{demux, stream_frame_len, PacketKind};
pub use integrity::{long_term_key_md5, long_term_key_sha256, short_term_key, IntegrityError};
pub use message::{Message, ParseError, RawAttribute};
pub use types::{
    AttributeType, Class, ErrorCode, Method, PasswordAlgorithm, TransactionId, MAGIC_COOKIE,
};
