//! `serve` options: one struct that clap fills from flags and environment variables and serde
//! fills from the TOML file, so a setting has the same name everywhere: `--max-port 60000`,
//! `RENDEZVOUS_MAX_PORT=60000`, `max-port = 60000`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::Args;
use serde::Deserialize;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    Text,
    Json,
}

/// Every `serve` setting. `None` / empty means "not given here": the command line (and the
/// environment) wins over the file, and the file wins over the embedded default.
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ServeOptions {
    // --- logs ---
    /// Log format: readable text (default) or one JSON object per line.
    #[arg(long, env = "RENDEZVOUS_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter, e.g. `info` or `rendezvous=debug,server=debug` (RUST_LOG syntax).
    #[arg(long, env = "RENDEZVOUS_LOG_LEVEL")]
    pub log_level: Option<String>,
    /// Print client IP addresses in logs in full (by default the last part is masked).
    #[arg(long, env = "RENDEZVOUS_LOG_ADDRESSES")]
    #[serde(default)]
    pub log_addresses: bool,

    // --- STUN / TURN ---
    /// Do not run STUN/TURN in this process (signaling and pages only).
    #[arg(long, env = "RENDEZVOUS_NO_TURN")]
    #[serde(default)]
    pub no_turn: bool,
    /// Answer STUN Binding only; refuse TURN allocations.
    #[arg(long, env = "RENDEZVOUS_STUN_ONLY")]
    #[serde(default)]
    pub stun_only: bool,
    /// Address to listen on for STUN/TURN (repeatable). Default 0.0.0.0.
    #[arg(long, env = "RENDEZVOUS_BIND", value_delimiter = ',')]
    #[serde(default)]
    pub bind: Vec<IpAddr>,
    /// STUN/TURN port, UDP and TCP. Default 3478.
    #[arg(long, env = "RENDEZVOUS_PORT")]
    pub port: Option<u16>,
    /// TURN over TLS (turns:) port, used when a certificate is configured. Default 5349.
    #[arg(long, env = "RENDEZVOUS_TLS_PORT")]
    pub tls_port: Option<u16>,
    /// Second IP address for RFC 5780 NAT behaviour discovery (OTHER-ADDRESS, CHANGE-REQUEST).
    #[arg(long, env = "RENDEZVOUS_ALT_IP")]
    pub alt_ip: Option<IpAddr>,
    /// Second port for RFC 5780. Default: --port + 1.
    #[arg(long, env = "RENDEZVOUS_ALT_PORT")]
    pub alt_port: Option<u16>,
    /// Realm for long-term credentials. Default "rendezvous".
    #[arg(long, env = "RENDEZVOUS_REALM")]
    pub realm: Option<String>,
    /// Public address to advertise in relayed addresses when the server sits behind 1:1 NAT.
    #[arg(long, env = "RENDEZVOUS_EXTERNAL_IP")]
    pub external_ip: Option<IpAddr>,
    /// Local IPv4 address relay sockets bind to. Default: the address the client reached.
    #[arg(long, env = "RENDEZVOUS_RELAY_IP")]
    pub relay_ip: Option<IpAddr>,
    /// Local IPv6 address for IPv6 relays (REQUESTED-ADDRESS-FAMILY IPv6).
    #[arg(long, env = "RENDEZVOUS_RELAY_IP6")]
    pub relay_ip6: Option<IpAddr>,
    /// Lowest relay port. Default 49152.
    #[arg(long, env = "RENDEZVOUS_MIN_PORT")]
    pub min_port: Option<u16>,
    /// Highest relay port. Default 65535.
    #[arg(long, env = "RENDEZVOUS_MAX_PORT")]
    pub max_port: Option<u16>,
    /// Long-term TURN user as NAME:PASSWORD (repeatable).
    #[arg(long = "user", env = "RENDEZVOUS_USERS", value_delimiter = ',')]
    #[serde(default, rename = "user")]
    pub users: Vec<String>,
    /// File of long-term users, one NAME:PASSWORD per line (# comments allowed).
    #[arg(long, env = "RENDEZVOUS_USERS_FILE")]
    pub users_file: Option<PathBuf>,
    /// Shared secret for TURN REST ephemeral credentials (repeatable for rotation: the first
    /// signs new credentials, all are accepted). Default: a random secret made at startup.
    #[arg(long, env = "RENDEZVOUS_STATIC_AUTH_SECRET", value_delimiter = ',')]
    #[serde(default)]
    pub static_auth_secret: Vec<String>,
    /// Allow relaying to this peer range despite the default deny list (CIDR, repeatable).
    #[arg(long, env = "RENDEZVOUS_ALLOW_PEER", value_delimiter = ',')]
    #[serde(default)]
    pub allow_peer: Vec<String>,
    /// Also refuse relaying to this peer range (CIDR, repeatable).
    #[arg(long, env = "RENDEZVOUS_DENY_PEER", value_delimiter = ',')]
    #[serde(default)]
    pub deny_peer: Vec<String>,
    /// Most allocations in total. Default 100000.
    #[arg(long, env = "RENDEZVOUS_MAX_ALLOCATIONS")]
    pub max_allocations: Option<usize>,
    /// Most allocations per user. Default 100.
    #[arg(long, env = "RENDEZVOUS_MAX_ALLOCATIONS_PER_USER")]
    pub max_allocations_per_user: Option<usize>,
    /// Most permissions per allocation. Default 64.
    #[arg(long, env = "RENDEZVOUS_MAX_PERMISSIONS")]
    pub max_permissions: Option<usize>,
    /// Bandwidth limit per allocation in bytes per second (0: none). Default 0.
    #[arg(long, env = "RENDEZVOUS_MAX_BPS")]
    pub max_bps: Option<u64>,
    /// Longest allocation lifetime a client may ask for, in seconds. Default 3600.
    #[arg(long, env = "RENDEZVOUS_MAX_LIFETIME")]
    pub max_lifetime: Option<u64>,
    /// Send this SOFTWARE attribute in responses (none by default: it helps attackers).
    #[arg(long, env = "RENDEZVOUS_SOFTWARE")]
    pub software: Option<String>,
    /// Relay worker threads (0: one per core). Default 0.
    #[arg(long, env = "RENDEZVOUS_WORKERS")]
    pub workers: Option<usize>,

    // --- TLS ---
    /// PEM certificate chain for turns: and https:.
    #[arg(long, env = "RENDEZVOUS_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "RENDEZVOUS_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Generate a self-signed certificate at startup (for testing on a LAN; browsers warn).
    #[arg(long, env = "RENDEZVOUS_SELF_SIGNED")]
    #[serde(default)]
    pub self_signed: bool,

    // --- signaling and pages ---
    /// Do not run signaling and the web pages in this process (STUN/TURN only).
    #[arg(long, env = "RENDEZVOUS_NO_SIGNAL")]
    #[serde(default)]
    pub no_signal: bool,
    /// HTTP address for signaling (/ws), the API and the pages. Default 0.0.0.0:8080.
    #[arg(long, env = "RENDEZVOUS_HTTP")]
    pub http: Option<SocketAddr>,
    /// HTTPS address, used when a certificate is configured. Default 0.0.0.0:8443.
    #[arg(long, env = "RENDEZVOUS_HTTPS")]
    pub https: Option<SocketAddr>,
    /// Require signed room tokens (`rendezvous token`) to join; repeatable for rotation.
    #[arg(long, env = "RENDEZVOUS_SIGNAL_SECRET", value_delimiter = ',')]
    #[serde(default)]
    pub signal_secret: Vec<String>,
    /// Lifetime of the TURN credentials handed to peers, in seconds. Default 3600.
    #[arg(long, env = "RENDEZVOUS_ICE_TTL")]
    pub ice_ttl: Option<u64>,
    /// Host name or IP clients use to reach STUN/TURN (in ICE server URLs). Default: the host
    /// the client used for HTTP.
    #[arg(long, env = "RENDEZVOUS_PUBLIC_HOST")]
    pub public_host: Option<String>,
    /// Extra ICE server URL handed to peers, e.g. an external TURN sharing the secret (repeatable).
    #[arg(long, env = "RENDEZVOUS_ICE_URL", value_delimiter = ',')]
    #[serde(default)]
    pub ice_url: Vec<String>,
    /// Allowed Origin for WebSocket connections (repeatable). Default: any.
    #[arg(long, env = "RENDEZVOUS_ALLOWED_ORIGIN", value_delimiter = ',')]
    #[serde(default)]
    pub allowed_origin: Vec<String>,
    /// Largest signaling message in bytes. Default 65536.
    #[arg(long, env = "RENDEZVOUS_MAX_MESSAGE_BYTES")]
    pub max_message_bytes: Option<usize>,
    /// Messages per second per connection. Default 50.
    #[arg(long, env = "RENDEZVOUS_MAX_MESSAGES_PER_SECOND")]
    pub max_messages_per_second: Option<u32>,
    /// Peers per room. Default 16.
    #[arg(long, env = "RENDEZVOUS_MAX_PEERS_PER_ROOM")]
    pub max_peers_per_room: Option<usize>,
    /// Viewers per broadcast. Default 500.
    #[arg(long, env = "RENDEZVOUS_MAX_VIEWERS")]
    pub max_viewers: Option<usize>,
    /// Signaling connections in total. Default 20000.
    #[arg(long, env = "RENDEZVOUS_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Messages queued per connection before a slow reader is disconnected. Default 256.
    #[arg(long, env = "RENDEZVOUS_SEND_QUEUE")]
    pub send_queue: Option<usize>,
    /// Seconds a disconnected peer keeps its id for `resume`. Default 30.
    #[arg(long, env = "RENDEZVOUS_RESUME_GRACE")]
    pub resume_grace: Option<u64>,
    /// Seconds between keepalive pings. Default 15.
    #[arg(long, env = "RENDEZVOUS_PING_INTERVAL")]
    pub ping_interval: Option<u64>,
}

impl ServeOptions {
    /// Fill what the command line left unset from `file`.
    pub fn or_file(mut self, file: ServeOptions) -> ServeOptions {
        macro_rules! opt {
            ($($f:ident),*) => { $( if self.$f.is_none() { self.$f = file.$f; } )* };
        }
        macro_rules! list {
            ($($f:ident),*) => { $( if self.$f.is_empty() { self.$f = file.$f; } )* };
        }
        macro_rules! flag {
            ($($f:ident),*) => { $( self.$f |= file.$f; )* };
        }
        opt!(
            log_format,
            log_level,
            port,
            tls_port,
            alt_ip,
            alt_port,
            realm,
            external_ip,
            relay_ip,
            relay_ip6,
            min_port,
            max_port,
            users_file,
            max_allocations,
            max_allocations_per_user,
            max_permissions,
            max_bps,
            max_lifetime,
            software,
            workers,
            tls_cert,
            tls_key,
            http,
            https,
            ice_ttl,
            public_host,
            max_message_bytes,
            max_messages_per_second,
            max_peers_per_room,
            max_viewers,
            max_connections,
            send_queue,
            resume_grace,
            ping_interval
        );
        list!(
            bind,
            users,
            static_auth_secret,
            allow_peer,
            deny_peer,
            signal_secret,
            ice_url,
            allowed_origin
        );
        flag!(log_addresses, no_turn, stun_only, self_signed, no_signal);
        self
    }
}
