//! The resolved configuration `serve` runs with. The binary builds it from flags, environment
//! variables and an optional TOML file; every field has an embedded default so that no
//! configuration is needed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Everything `serve` needs.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub turn: TurnConfig,
    pub signal: SignalConfig,
    pub tls: TlsConfig,
    /// Print client addresses in logs in full (`--log-addresses`); masked by default.
    pub log_addresses: bool,
}

/// STUN and TURN listeners, relays, authentication and quotas.
#[derive(Debug, Clone)]
pub struct TurnConfig {
    /// Run STUN/TURN at all (`--no-turn` turns both off).
    pub enabled: bool,
    /// Serve only STUN Binding; refuse TURN methods (`--stun-only`).
    pub stun_only: bool,
    /// Addresses to listen on (`--bind`, repeatable). Default: 0.0.0.0 and, when available, ::.
    pub bind: Vec<IpAddr>,
    /// STUN/TURN port over UDP and TCP (`--port`, default 3478).
    pub port: u16,
    /// TURN over TLS port (`--tls-port`, default 5349); only when a certificate is available.
    pub tls_port: u16,
    /// RFC 5780 second address (`--alt-ip`); enables OTHER-ADDRESS and CHANGE-REQUEST.
    pub alt_ip: Option<IpAddr>,
    /// RFC 5780 second port (`--alt-port`, default port + 1).
    pub alt_port: Option<u16>,
    /// Long-term credential realm (`--realm`, default "rendezvous").
    pub realm: String,
    /// Address advertised in XOR-RELAYED-ADDRESS when behind 1:1 NAT (`--external-ip`).
    pub external_ip: Option<IpAddr>,
    /// Address relay sockets bind to (`--relay-ip`). Default: the listener address the
    /// client reached (or the first non-wildcard bind address).
    pub relay_ip: Option<IpAddr>,
    /// IPv6 relay address (`--relay-ip6`) used for REQUESTED-ADDRESS-FAMILY IPv6.
    pub relay_ip6: Option<IpAddr>,
    /// Relay port range (`--min-port`, `--max-port`, default 49152-65535).
    pub min_port: u16,
    pub max_port: u16,
    /// Long-term users (`--user name:password`, repeatable).
    pub users: Vec<(String, String)>,
    /// TURN REST shared secrets (`--static-auth-secret`, repeatable; first one signs new
    /// credentials, all are accepted). When empty, `serve` generates one at startup so that the
    /// signaling server can still hand out working credentials.
    pub static_auth_secrets: Vec<String>,
    /// Extra allowed peer ranges (`--allow-peer CIDR`), checked before the deny list.
    pub allow_peers: Vec<String>,
    /// Extra denied peer ranges (`--deny-peer CIDR`).
    pub deny_peers: Vec<String>,
    /// Quotas.
    pub max_allocations: usize,
    pub max_allocations_per_user: usize,
    pub max_permissions_per_allocation: usize,
    /// Bytes per second per allocation (0 = unlimited).
    pub max_bps_per_allocation: u64,
    /// Default and maximum allocation lifetime.
    pub default_lifetime: Duration,
    pub max_lifetime: Duration,
    /// Nonce validity.
    pub nonce_lifetime: Duration,
    /// Add SOFTWARE to responses (`--software`, off by default).
    pub software: Option<String>,
    /// Data-plane worker shards (SO_REUSEPORT); 0 = number of cores.
    pub workers: usize,
}

/// HTTP, WebSocket signaling and the web pages.
#[derive(Debug, Clone)]
pub struct SignalConfig {
    /// Run signaling and the web pages (`--no-signal` turns them off).
    pub enabled: bool,
    /// HTTP listen address (`--http`, default 0.0.0.0:8080).
    pub http: SocketAddr,
    /// HTTPS listen address (`--https`, default 0.0.0.0:8443), only when a certificate is available.
    pub https: SocketAddr,
    /// Room tokens: when set, `join` needs an HMAC token (`--signal-secret`, repeatable).
    pub signal_secrets: Vec<String>,
    /// Lifetime of the TURN credentials handed out in `ice_servers` (`--ice-ttl`, default 1 h).
    pub ice_ttl: Duration,
    /// Host name or IP put in the stun:/turn: URLs (`--public-host`); default: the Host the
    /// client used to reach the HTTP server.
    pub public_host: Option<String>,
    /// Extra ICE servers (`--ice-url`), e.g. an external TURN sharing the secret.
    pub extra_ice_urls: Vec<String>,
    /// Allowed Origins for the WebSocket (`--allowed-origin`, repeatable; empty = any).
    pub allowed_origins: Vec<String>,
    pub max_message_bytes: usize,
    pub max_messages_per_second: u32,
    pub max_peers_per_room: usize,
    pub max_viewers_per_broadcast: usize,
    pub max_connections: usize,
    /// Per-connection send queue bound: a connection whose queue holds this many messages and
    /// that has taken none for a second, or that holds four times this many, is closed as a slow
    /// consumer (close code 4000) without delaying anyone else.
    pub send_queue: usize,
    /// How long a disconnected peer keeps its id for `resume`.
    pub resume_grace: Duration,
    /// Keepalive: the server pings this often and drops a peer silent for 3 intervals.
    pub ping_interval: Duration,
}

/// Certificates for `turns:` and `https:`.
#[derive(Debug, Clone, Default)]
pub struct TlsConfig {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Generate a self-signed certificate for these names (`--self-signed`).
    pub self_signed: bool,
}

impl Default for TurnConfig {
    fn default() -> Self {
        TurnConfig {
            enabled: true,
            stun_only: false,
            bind: vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED)],
            port: 3478,
            tls_port: 5349,
            alt_ip: None,
            alt_port: None,
            realm: "rendezvous".into(),
            external_ip: None,
            relay_ip: None,
            relay_ip6: None,
            min_port: 49152,
            max_port: 65535,
            users: Vec::new(),
            static_auth_secrets: Vec::new(),
            allow_peers: Vec::new(),
            deny_peers: Vec::new(),
            max_allocations: 100_000,
            max_allocations_per_user: 100,
            max_permissions_per_allocation: 64,
            max_bps_per_allocation: 0,
            default_lifetime: Duration::from_secs(600),
            max_lifetime: Duration::from_secs(3600),
            nonce_lifetime: Duration::from_secs(600),
            software: None,
            workers: 0,
        }
    }
}

impl Default for SignalConfig {
    fn default() -> Self {
        SignalConfig {
            enabled: true,
            http: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 8080)),
            https: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 8443)),
            signal_secrets: Vec::new(),
            ice_ttl: Duration::from_secs(3600),
            public_host: None,
            extra_ice_urls: Vec::new(),
            allowed_origins: Vec::new(),
            max_message_bytes: 64 * 1024,
            max_messages_per_second: 50,
            max_peers_per_room: 16,
            max_viewers_per_broadcast: 500,
            max_connections: 20_000,
            send_queue: 256,
            resume_grace: Duration::from_secs(30),
            ping_interval: Duration::from_secs(15),
        }
    }
}
