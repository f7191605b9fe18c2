//! Sans-IO STUN/TURN server core and TURN client core.

pub mod rest;
pub mod server;

pub use server::Server;
