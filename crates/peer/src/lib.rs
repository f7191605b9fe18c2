//! The Rendezvous native WebRTC peer, on str0m.
//!
//! Entry points, one per CLI subcommand, each taking an options struct that derives
//! [`clap::Args`]:
//!
//! | subcommand | function | options | result |
//! |---|---|---|---|
//! | `send` | [`send::run`] | [`SendOptions`] | [`TransferReport`] |
//! | `receive` | [`receive::run`] | [`ReceiveOptions`] | [`TransferReport`] |
//! | `stream` | [`stream::run`] | [`StreamOptions`] | [`StreamReport`] |
//! | `record` | [`record::run`] | [`RecordOptions`] | [`RecordReport`] |
//! | `probe` | [`probe::run`] | [`ProbeOptions`] | [`ProbeReport`] |
//!
//! Layers: [`binding`] and [`turn_client`] are sans-IO (STUN Binding and a TURN client state
//! machine); `net` gathers candidates and routes datagrams between sockets, TURN allocations
//! and str0m; `session` is one peer connection with perfect negotiation; `runner` is the event
//! loop the subcommands share.

pub mod binding;
mod error;
pub mod file;
pub mod ice_server;
pub mod media;
pub mod net;
pub mod probe;
pub mod report;
pub mod runner;
mod session;
pub mod signaling;
pub mod tls;
pub mod transaction;
pub mod turn_client;

pub use error::PeerError;
pub use file::receive::{self as receive, ReceiveOptions};
pub use file::send::{self as send, SendOptions};
pub use file::{FileReport, TransferReport};
pub use media::record::{self as record, RecordOptions, RecordReport};
pub use media::stream::{self as stream, StreamOptions, StreamReport};
pub use probe::{ProbeOptions, ProbeReport};
pub use runner::ConnectOptions;
