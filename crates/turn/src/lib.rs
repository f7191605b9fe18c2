//! Sans-IO STUN/TURN server core and TURN client core.

pub mod client;
pub mod rest;
pub mod server;

pub use client::Client;
pub use server::Server;
