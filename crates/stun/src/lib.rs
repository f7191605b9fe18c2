//! Zero-copy STUN codec shared by the Rendezvous STUN/TURN server, the TURN client and the
//! native peer.
//!
//! - [`Message::parse`] borrows a datagram and validates header + attribute framing once
//!   (RFC 8489 §5, §14), including FINGERPRINT; it never panics on any input.
//! - [`MessageBuilder`] writes into a caller-owned `Vec<u8>` (cleared, capacity reused) and
//!   fills in lengths, MESSAGE-INTEGRITY(-SHA256) and FINGERPRINT.
//! - [`Attribute`] is the typed view of every known attribute; unknown ones are kept as
//!   `Unknown`.
//! - [`integrity`] derives short-term, long-term (MD5, SHA-256) keys and USERHASH.
//! - [`channel_data`] frames ChannelData (RFC 8656 §12); [`demux`](mod@demux) classifies first bytes per
//!   RFC 7983; [`stream_frame_len`] splits a TCP byte stream into STUN / ChannelData frames.
//!
//! ```
//! use stun::{long_term_key_md5, Attribute, Class, Message, MessageBuilder, Method, TransactionId};
//!
//! let key = long_term_key_md5("alice", "example.org", "secret");
//! let mut buf = Vec::new();
//! let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::ALLOCATE, TransactionId([7; 12]));
//! b.add(&Attribute::RequestedTransport(17))
//!     .add(&Attribute::Username("alice"))
//!     .add(&Attribute::Realm("example.org"))
//!     .add(&Attribute::Nonce(b"n0nce"))
//!     .message_integrity(&key)
//!     .fingerprint();
//! let len = b.finish();
//!
//! let msg = Message::parse(&buf[..len]).unwrap();
//! assert_eq!(msg.method(), Method::ALLOCATE);
//! assert_eq!(msg.username(), Some("alice"));
//! assert_eq!(msg.verify_integrity(&key), Ok(()));
//! ```

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
pub use demux::{demux, stream_frame_len, stream_frame_size, PacketKind};
pub use integrity::{
    long_term_key, long_term_key_md5, long_term_key_sha256, opaque_string, short_term_key,
    userhash, IntegrityError, LongTermKey,
};
pub use message::{Attributes, Message, ParseError, RawAttribute};
pub use types::{
    message_type, split_message_type, AttributeType, Class, ErrorCode, Method, PasswordAlgorithm,
    TransactionId, MAGIC_COOKIE,
};
