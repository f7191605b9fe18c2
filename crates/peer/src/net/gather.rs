//! Host candidate addresses and socket setup.

use std::net::{IpAddr, SocketAddr};

use tokio::net::UdpSocket;

/// Socket buffers large enough for a burst of a fast transfer.
const SOCKET_BUFFER: usize = 4 << 20;

/// RFC 8445 §5.1.1.1: addresses of the usable interfaces. Loopback is left out unless asked
/// for or unless nothing else exists; IPv6 link-local addresses (which need a scope) and
/// unspecified addresses are never used.
pub fn host_ips(include_loopback: bool) -> Vec<IpAddr> {
    let all: Vec<IpAddr> = if_addrs::get_if_addrs()
        .map(|v| v.into_iter().map(|i| i.ip()).collect())
        .unwrap_or_default();
    select(all, include_loopback)
}

fn select(all: Vec<IpAddr>, include_loopback: bool) -> Vec<IpAddr> {
    let usable = |ip: &IpAddr| match ip {
        IpAddr::V4(v4) => !v4.is_unspecified() && !v4.is_link_local() && !v4.is_multicast(),
        IpAddr::V6(v6) => {
            !v6.is_unspecified() && !v6.is_multicast() && (v6.segments()[0] & 0xffc0) != 0xfe80
        }
    };
    let mut ips: Vec<IpAddr> = Vec::new();
    for ip in all.into_iter().filter(usable) {
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    let has_other = ips.iter().any(|ip| !ip.is_loopback());
    if has_other && !include_loopback {
        ips.retain(|ip| !ip.is_loopback());
    }
    ips
}

/// A non-blocking UDP socket with enlarged buffers.
pub(super) fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    // Best effort: the kernel caps these at net.core.{r,w}mem_max.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(v: &[&str]) -> Vec<IpAddr> {
        v.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn loopback_only_when_alone_or_asked() {
        assert_eq!(
            select(ips(&["127.0.0.1", "::1"]), false),
            ips(&["127.0.0.1", "::1"])
        );
        assert_eq!(
            select(ips(&["127.0.0.1", "192.0.2.4"]), false),
            ips(&["192.0.2.4"])
        );
        assert_eq!(
            select(ips(&["127.0.0.1", "192.0.2.4"]), true),
            ips(&["127.0.0.1", "192.0.2.4"])
        );
    }

    #[test]
    fn drops_link_local_and_duplicates() {
        assert_eq!(
            select(
                ips(&["fe80::1", "169.254.1.1", "2001:db8::5", "2001:db8::5"]),
                false
            ),
            ips(&["2001:db8::5"])
        );
    }
}
