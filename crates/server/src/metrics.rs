//! Process-wide counters, rendered in the Prometheus text format at `/metrics`.
//! Owned by the driver and passed in (no global registry).

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

/// Counters and gauges shared by the STUN/TURN and signaling drivers.
#[derive(Debug, Default)]
pub struct Metrics {
    // STUN/TURN
    pub stun_binding_requests: AtomicU64,
    pub turn_requests: AtomicU64,
    pub turn_error_responses: AtomicU64,
    pub turn_auth_failures: AtomicU64,
    pub turn_allocations: AtomicI64,
    pub turn_allocations_total: AtomicU64,
    pub turn_relayed_packets: AtomicU64,
    pub turn_relayed_bytes: AtomicU64,
    pub turn_dropped_packets: AtomicU64,
    pub turn_tcp_connections: AtomicI64,
    // Signaling
    pub signal_connections: AtomicI64,
    pub signal_rooms: AtomicI64,
    pub signal_peers: AtomicI64,
    pub signal_messages_in: AtomicU64,
    pub signal_messages_out: AtomicU64,
    pub signal_errors: AtomicU64,
    pub signal_slow_consumers: AtomicU64,
}

impl Metrics {
    /// Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let mut gauge = |name: &str, help: &str, kind: &str, v: i64| {
            let _ = writeln!(out, "# HELP rendezvous_{name} {help}");
            let _ = writeln!(out, "# TYPE rendezvous_{name} {kind}");
            let _ = writeln!(out, "rendezvous_{name} {v}");
        };
        let c = |a: &AtomicU64| a.load(Relaxed) as i64;
        let g = |a: &AtomicI64| a.load(Relaxed);
        gauge(
            "stun_binding_requests_total",
            "STUN Binding requests answered.",
            "counter",
            c(&self.stun_binding_requests),
        );
        gauge(
            "turn_requests_total",
            "TURN requests received.",
            "counter",
            c(&self.turn_requests),
        );
        gauge(
            "turn_error_responses_total",
            "STUN/TURN error responses sent.",
            "counter",
            c(&self.turn_error_responses),
        );
        gauge(
            "turn_auth_failures_total",
            "TURN requests refused for bad credentials.",
            "counter",
            c(&self.turn_auth_failures),
        );
        gauge(
            "turn_allocations",
            "Current TURN allocations.",
            "gauge",
            g(&self.turn_allocations),
        );
        gauge(
            "turn_allocations_total",
            "TURN allocations created.",
            "counter",
            c(&self.turn_allocations_total),
        );
        gauge(
            "turn_relayed_packets_total",
            "Packets relayed in either direction.",
            "counter",
            c(&self.turn_relayed_packets),
        );
        gauge(
            "turn_relayed_bytes_total",
            "Payload bytes relayed in either direction.",
            "counter",
            c(&self.turn_relayed_bytes),
        );
        gauge(
            "turn_dropped_packets_total",
            "Packets dropped (no permission, quota, bad framing).",
            "counter",
            c(&self.turn_dropped_packets),
        );
        gauge(
            "turn_tcp_connections",
            "Open client TCP/TLS connections.",
            "gauge",
            g(&self.turn_tcp_connections),
        );
        gauge(
            "signal_connections",
            "Open signaling WebSocket connections.",
            "gauge",
            g(&self.signal_connections),
        );
        gauge(
            "signal_rooms",
            "Rooms with at least one peer.",
            "gauge",
            g(&self.signal_rooms),
        );
        gauge(
            "signal_peers",
            "Peers joined to a room.",
            "gauge",
            g(&self.signal_peers),
        );
        gauge(
            "signal_messages_in_total",
            "Signaling messages received.",
            "counter",
            c(&self.signal_messages_in),
        );
        gauge(
            "signal_messages_out_total",
            "Signaling messages sent.",
            "counter",
            c(&self.signal_messages_out),
        );
        gauge(
            "signal_errors_total",
            "Signaling error messages sent.",
            "counter",
            c(&self.signal_errors),
        );
        gauge(
            "signal_slow_consumers_total",
            "Connections closed because their send queue was full.",
            "counter",
            c(&self.signal_slow_consumers),
        );
        out
    }
}
