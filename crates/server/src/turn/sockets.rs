//! Socket construction (socket2: buffer sizes, address reuse) and route lookups.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};

/// Kernel buffer sizes asked for on listener and relay sockets (the kernel may clamp them).
const LISTENER_BUFFER: usize = 4 << 20;
const RELAY_BUFFER: usize = 1 << 20;

fn domain(addr: &SocketAddr) -> Domain {
    if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    }
}

/// A UDP socket bound to `addr`, non-blocking, with large buffers. IPv6 sockets are
/// IPv6-only so that an IPv4 listener on the same port can coexist.
pub fn udp(addr: SocketAddr, listener: bool) -> io::Result<tokio::net::UdpSocket> {
    let s = Socket::new(domain(&addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    let size = if listener {
        LISTENER_BUFFER
    } else {
        RELAY_BUFFER
    };
    let _ = s.set_recv_buffer_size(size);
    let _ = s.set_send_buffer_size(size);
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    tokio::net::UdpSocket::from_std(s.into())
}

/// A TCP listener on `addr`. `reuse` lets outbound connections bind the same address
/// (RFC 6062 relays connect from the relayed address).
pub fn tcp_listener(addr: SocketAddr, reuse: bool) -> io::Result<tokio::net::TcpListener> {
    let s = Socket::new(domain(&addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    if reuse {
        s.set_reuse_port(true)?;
    }
    s.set_nodelay(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    tokio::net::TcpListener::from_std(s.into())
}

/// Connect to `peer` from `local` (the relayed address of a TCP allocation).
pub async fn tcp_connect_from(
    local: SocketAddr,
    peer: SocketAddr,
) -> io::Result<tokio::net::TcpStream> {
    let s = Socket::new(domain(&local), Type::STREAM, Some(Protocol::TCP))?;
    if local.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.set_nodelay(true)?;
    s.set_nonblocking(true)?;
    s.bind(&local.into())?;
    let socket = tokio::net::TcpSocket::from_std_stream(s.into());
    socket.connect(peer).await
}

/// The local address the kernel would use to reach `remote` (no packet is sent). Used when
/// listening on a wildcard address: the relay binds where the client's packets arrive.
pub fn local_ip_towards(remote: SocketAddr) -> io::Result<IpAddr> {
    let any: SocketAddr = if remote.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let s = std::net::UdpSocket::bind(any)?;
    s.connect(remote)?;
    Ok(s.local_addr()?.ip())
}
