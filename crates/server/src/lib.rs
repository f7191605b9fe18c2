//! Tokio drivers for Rendezvous: STUN/TURN listeners and relay sockets, HTTP + WebSocket
//! signaling, metrics. They feed bytes to the sans-IO cores and do what the cores say.

pub mod config;
pub mod http;
pub mod metrics;
pub mod tls;
pub mod turn;

pub use config::{Config, SignalConfig, TlsConfig, TurnConfig};
pub use metrics::Metrics;
