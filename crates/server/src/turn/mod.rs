//! The STUN/TURN driver: UDP, TCP and TLS listeners, RFC 5780 alternate sockets, relay
//! sockets, all feeding one sans-IO [`turn::Server`] core.
//!
//! Design notes:
//! - Sharding: `workers` cores (0 = one per CPU), each behind its own `std::sync::Mutex`
//!   held only for a core call and the non-blocking sends that follow (`try_send_to`), never
//!   across an await. Each shard has its own UDP socket on every listen address
//!   (SO_REUSEPORT: the kernel keeps a client on one socket, so on one shard) and its own
//!   timers; stream clients are assigned to a shard by IP address (RFC 6062 control and data
//!   connections meet in one core); RFC 5780 alternate sockets belong to shard 0 but every
//!   shard can send from them. Allocation quotas and the relay port pool (with its
//!   RESERVATION-TOKENs, which an RTP/RTCP pair may redeem on another shard) are shared
//!   objects touched only when allocations come and go, never per packet.
//! - UDP paths reuse one buffer per socket task: no allocation per datagram. Relay sockets
//!   receive at an offset so the core frames peer data in place. Stream clients get their
//!   bytes through a bounded queue (one copy per message).
//! - Relay address when listening on a wildcard address with no `relay_ip`: the local
//!   address the kernel routes towards the client (a connected-UDP route lookup per
//!   allocation), which is the address the client reached on a host with symmetric routing.
//! - RFC 5780 (`alt_ip`) needs a specific bind address of the same family: the primary and
//!   alternate addresses must both be real addresses to answer CHANGE-REQUEST.
//! - Logs show client addresses through [`Redacted`].

mod redact;
mod relay;
mod sockets;
mod state;
mod stream;
mod udp;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ::turn::server::{
    AllocationLedger, PeerPolicy, PolicyError, Quotas, RelayPorts, Rfc5780, Server, ServerConfig,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub use redact::{set_log_addresses, Redacted};
use state::Shared;

/// A running STUN/TURN server.
pub struct TurnHandle {
    /// UDP listener addresses (primary port; RFC 5780 alternates are not listed).
    pub udp: Vec<SocketAddr>,
    pub tcp: Vec<SocketAddr>,
    pub tls: Vec<SocketAddr>,
    shards: Vec<Arc<Shared>>,
    tasks: Vec<tokio::task::AbortHandle>,
}

/// Why the STUN/TURN server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TurnStartError {
    #[error("cannot bind {protocol} {addr}: {source}")]
    Bind {
        protocol: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("invalid peer range: {0}")]
    InvalidPeerRange(#[from] PolicyError),
    #[error("--alt-ip {0} needs a specific --bind address of the same address family")]
    AltIpNeedsBindAddress(IpAddr),
    #[error("no bind address configured")]
    NoBindAddress,
    #[error("relay port range {min}-{max} is empty")]
    EmptyPortRange { min: u16, max: u16 },
}

impl TurnHandle {
    /// Allocations held by each shard (for tests and diagnostics).
    pub fn shard_allocations(&self) -> Vec<usize> {
        self.shards
            .iter()
            .map(|s| s.lock().core.allocation_count())
            .collect()
    }

    /// Stop every listener, relay and connection task.
    pub async fn shutdown(self) {
        for t in &self.tasks {
            t.abort();
        }
        for shared in &self.shards {
            let (relays, clients) = {
                let mut st = shared.lock();
                st.peer_streams.clear();
                st.pending_splices.clear();
                let relays: Vec<_> = st.relays.drain().map(|(_, r)| r.task).collect();
                let clients: Vec<_> = st.clients.drain().map(|(_, c)| c.tx).collect();
                (relays, clients)
            };
            for t in relays {
                t.abort();
            }
            for c in clients {
                let _ = c.try_send(state::Outgoing::Close);
            }
            shared
                .held
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
        }
        // Let aborted tasks observe cancellation (and drop their sockets).
        tokio::task::yield_now().await;
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The core's configuration from the server's.
fn core_config(
    cfg: &crate::TurnConfig,
    rfc5780: Option<Rfc5780>,
    relay_ports: Arc<RelayPorts>,
    ledger: Arc<AllocationLedger>,
) -> Result<ServerConfig, TurnStartError> {
    let policy = PeerPolicy::new(&cfg.allow_peers, &cfg.deny_peers)?;
    let specified = |v4: bool| {
        cfg.bind
            .iter()
            .copied()
            .find(|ip| ip.is_ipv4() == v4 && !ip.is_unspecified())
    };
    let relay_ipv4 = match cfg.relay_ip {
        Some(IpAddr::V4(ip)) => Some(ip),
        _ => match specified(true) {
            Some(IpAddr::V4(ip)) => Some(ip),
            _ => None,
        },
    };
    let relay_ipv6 = match (cfg.relay_ip6, cfg.relay_ip) {
        (Some(IpAddr::V6(ip)), _) | (_, Some(IpAddr::V6(ip))) => Some(ip),
        _ => match specified(false) {
            Some(IpAddr::V6(ip)) => Some(ip),
            _ => None,
        },
    };
    let (external_ipv4, external_ipv6) = match cfg.external_ip {
        Some(IpAddr::V4(ip)) => (Some(ip), None),
        Some(IpAddr::V6(ip)) => (None, Some(ip)),
        None => (None, None),
    };
    Ok(ServerConfig {
        realm: cfg.realm.clone(),
        software: cfg.software.clone(),
        stun_only: cfg.stun_only,
        users: cfg.users.clone(),
        rest_secrets: cfg.static_auth_secrets.clone(),
        policy,
        rfc5780,
        relay_ipv4,
        relay_ipv6,
        external_ipv4,
        external_ipv6,
        min_port: cfg.min_port,
        max_port: cfg.max_port,
        quotas: Quotas {
            max_allocations: cfg.max_allocations,
            max_allocations_per_user: cfg.max_allocations_per_user,
            max_permissions_per_allocation: cfg.max_permissions_per_allocation,
            max_bps_per_allocation: cfg.max_bps_per_allocation,
            ..Quotas::default()
        },
        default_lifetime: cfg.default_lifetime,
        max_lifetime: cfg.max_lifetime,
        nonce_lifetime: cfg.nonce_lifetime,
        ledger: Some(ledger),
        relay_ports: Some(relay_ports),
    })
}

/// Sockets bound for one port choice.
struct Bound {
    /// Per listen address, one socket per shard.
    udp: Vec<(SocketAddr, Vec<tokio::net::UdpSocket>)>,
    alt_udp: Vec<(SocketAddr, tokio::net::UdpSocket)>,
    tcp: Vec<(SocketAddr, tokio::net::TcpListener)>,
    port: u16,
    alt_port: u16,
}

fn bind_all(
    cfg: &crate::TurnConfig,
    port: u16,
    alt: Option<(IpAddr, IpAddr)>,
    shards: usize,
) -> Result<Bound, TurnStartError> {
    let bind_err = |protocol, addr, source| TurnStartError::Bind {
        protocol,
        addr,
        source,
    };
    let mut b = Bound {
        udp: Vec::new(),
        alt_udp: Vec::new(),
        tcp: Vec::new(),
        port,
        alt_port: 0,
    };
    let reuse = shards > 1;
    for ip in &cfg.bind {
        let mut group = Vec::with_capacity(shards);
        let mut local = SocketAddr::new(*ip, b.port);
        for _ in 0..shards {
            let s =
                sockets::udp_shared(local, true, reuse).map_err(|e| bind_err("UDP", local, e))?;
            local = s.local_addr().map_err(|e| bind_err("UDP", local, e))?;
            group.push(s);
        }
        b.port = local.port();
        b.udp.push((local, group));
    }
    for ip in &cfg.bind {
        let addr = SocketAddr::new(*ip, b.port);
        let l = sockets::tcp_listener(addr, false).map_err(|e| bind_err("TCP", addr, e))?;
        b.tcp.push((addr, l));
    }
    if let Some((primary, alternate)) = alt {
        b.alt_port = cfg.alt_port.unwrap_or(b.port.wrapping_add(1));
        for addr in [
            SocketAddr::new(primary, b.alt_port),
            SocketAddr::new(alternate, b.port),
            SocketAddr::new(alternate, b.alt_port),
        ] {
            let s = sockets::udp(addr, true).map_err(|e| bind_err("UDP", addr, e))?;
            b.alt_udp.push((addr, s));
        }
    }
    Ok(b)
}

/// Start the STUN/TURN server: bind every listener, then serve until [`TurnHandle::shutdown`].
/// `cfg.port == 0` picks an ephemeral port shared by UDP and TCP (and, without `alt_port`,
/// the RFC 5780 alternate port is the next one); the handle reports the real addresses.
pub async fn start(
    cfg: &crate::TurnConfig,
    tls: Option<Arc<rustls::ServerConfig>>,
    metrics: Arc<crate::Metrics>,
) -> Result<TurnHandle, TurnStartError> {
    if !cfg.enabled {
        return Ok(TurnHandle {
            udp: Vec::new(),
            tcp: Vec::new(),
            tls: Vec::new(),
            shards: Vec::new(),
            tasks: Vec::new(),
        });
    }
    if cfg.bind.is_empty() {
        return Err(TurnStartError::NoBindAddress);
    }
    if cfg.min_port > cfg.max_port {
        return Err(TurnStartError::EmptyPortRange {
            min: cfg.min_port,
            max: cfg.max_port,
        });
    }
    // Validate the peer ranges before binding anything.
    PeerPolicy::new(&cfg.allow_peers, &cfg.deny_peers)?;
    let alt = match cfg.alt_ip {
        None => None,
        Some(alt_ip) => {
            let primary = cfg
                .bind
                .iter()
                .copied()
                .find(|ip| ip.is_ipv4() == alt_ip.is_ipv4() && !ip.is_unspecified())
                .ok_or(TurnStartError::AltIpNeedsBindAddress(alt_ip))?;
            Some((primary, alt_ip))
        }
    };
    let shards = shard_count(cfg);
    let bound = if cfg.port != 0 {
        bind_all(cfg, cfg.port, alt, shards)?
    } else {
        // An ephemeral UDP port may be taken on TCP (or port + 1 on UDP): try a few.
        let mut last = None;
        let mut ok = None;
        for _ in 0..32 {
            match bind_all(cfg, 0, alt, shards) {
                Ok(b) => {
                    ok = Some(b);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        match ok {
            Some(b) => b,
            None => return Err(last.unwrap_or(TurnStartError::NoBindAddress)),
        }
    };
    let rfc5780 = alt.map(|(primary, alternate)| Rfc5780 {
        primary,
        alternate,
        ports: (bound.port, bound.alt_port),
    });
    let ledger = AllocationLedger::new(cfg.max_allocations, cfg.max_allocations_per_user);
    let relay_ports = RelayPorts::new(cfg.min_port, cfg.max_port, StdRng::from_seed(random_seed()));
    let now = Instant::now();
    let held = state::HeldPorts::default();
    let mut shard_list = Vec::with_capacity(shards);
    for _ in 0..shards {
        let core_cfg = core_config(cfg, rfc5780, relay_ports.clone(), ledger.clone())?;
        let core = Server::new(core_cfg, now, unix_now(), StdRng::from_seed(random_seed()));
        shard_list.push(Shared::new(core, metrics.clone(), held.clone()));
    }

    let mut handle = TurnHandle {
        udp: Vec::new(),
        tcp: Vec::new(),
        tls: Vec::new(),
        shards: shard_list.clone(),
        tasks: Vec::new(),
    };
    let mut tasks = Vec::new();
    for (local, group) in bound.udp {
        handle.udp.push(local);
        for (shard, socket) in shard_list.iter().zip(group) {
            let socket = Arc::new(socket);
            shard.lock().udp.insert(local, socket.clone());
            tasks.push(udp::spawn(shard.clone(), socket, local));
        }
    }
    for (local, socket) in bound.alt_udp {
        let socket = Arc::new(socket);
        for shard in &shard_list {
            shard.lock().udp.insert(local, socket.clone());
        }
        tasks.push(udp::spawn(shard_list[0].clone(), socket, local));
    }
    for (local, listener) in bound.tcp {
        tasks.push(stream::spawn_listener(
            shard_list.clone(),
            listener,
            local,
            None,
        ));
        handle.tcp.push(local);
    }
    if let Some(tls) = tls {
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        let mut tls_port = cfg.tls_port;
        for ip in &cfg.bind {
            let addr = SocketAddr::new(*ip, tls_port);
            let listener =
                sockets::tcp_listener(addr, false).map_err(|source| TurnStartError::Bind {
                    protocol: "TLS",
                    addr,
                    source,
                })?;
            let local = listener.local_addr().unwrap_or(addr);
            tls_port = local.port();
            tasks.push(stream::spawn_listener(
                shard_list.clone(),
                listener,
                local,
                Some(acceptor.clone()),
            ));
            handle.tls.push(local);
        }
    }
    for shard in &shard_list {
        tasks.push(spawn_timer(shard.clone()));
    }
    tasks.push(spawn_metrics(shard_list, metrics));
    handle.tasks = tasks;
    tracing::info!(udp = ?handle.udp, tcp = ?handle.tcp, tls = ?handle.tls, shards, "STUN/TURN listening");
    Ok(handle)
}

/// How many cores serve: `workers`, or one per CPU (at most 64).
fn shard_count(cfg: &crate::TurnConfig) -> usize {
    let wanted = if cfg.workers == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        cfg.workers
    };
    wanted.clamp(1, 64)
}

fn random_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    rand::thread_rng().fill(&mut seed);
    seed
}

/// Publish the shards' counters once a second.
fn spawn_metrics(
    shards: Vec<Arc<Shared>>,
    metrics: Arc<crate::Metrics>,
) -> tokio::task::AbortHandle {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            state::publish_metrics(&shards, &metrics);
        }
    })
    .abort_handle()
}

/// Drive the core's timers, re-anchor its wall clock and publish its counters.
fn spawn_timer(shared: Arc<Shared>) -> tokio::task::AbortHandle {
    tokio::spawn(async move {
        loop {
            let next = shared.lock().core.poll_timeout();
            let cap = Instant::now() + Duration::from_secs(1);
            let at = next.map_or(cap, |t| t.min(cap));
            tokio::time::sleep_until(at.into()).await;
            let now = Instant::now();
            let mut st = shared.lock();
            st.core.handle_timeout(now);
            st.core.set_unix_time(now, unix_now());
            st.drain(&shared, now);
        }
    })
    .abort_handle()
}
