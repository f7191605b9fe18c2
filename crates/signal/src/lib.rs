//! Signaling protocol types and the sans-IO room hub.
