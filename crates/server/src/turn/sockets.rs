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
    udp_shared(addr, listener, false)
}

/// Like [`udp`]; with `reuse_port`, several sockets share the address and the kernel spreads
/// clients across them by their address (SO_REUSEPORT), one socket per shard.
pub fn udp_shared(
    addr: SocketAddr,
    listener: bool,
    reuse_port: bool,
) -> io::Result<tokio::net::UdpSocket> {
    let s = Socket::new(domain(&addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    if reuse_port {
        s.set_reuse_port(true)?;
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

/// RFC 8656 §7.2 DONT-FRAGMENT: datagrams from this relay carry the DF bit (path MTU
/// discovery "do"), so an oversized one fails instead of being fragmented.
#[cfg(target_os = "linux")]
pub fn set_dont_fragment(socket: &tokio::net::UdpSocket, ipv6: bool) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let (level, name, value) = if ipv6 {
        (
            libc::IPPROTO_IPV6,
            libc::IPV6_MTU_DISCOVER,
            libc::IPV6_PMTUDISC_DO,
        )
    } else {
        (
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
            libc::IP_PMTUDISC_DO,
        )
    };
    // SAFETY: a valid descriptor owned by `socket`, and a c_int option value of the right size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Elsewhere the request is honoured on a best-effort basis: the OS default applies.
#[cfg(not(target_os = "linux"))]
pub fn set_dont_fragment(_socket: &tokio::net::UdpSocket, _ipv6: bool) -> io::Result<()> {
    Ok(())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dont_fragment_is_set() {
        let s = udp("127.0.0.1:0".parse().unwrap(), false).unwrap();
        set_dont_fragment(&s, false).unwrap();
        let mut value: libc::c_int = -1;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        use std::os::fd::AsRawFd;
        // SAFETY: valid descriptor and output buffer of the declared size.
        let rc = unsafe {
            libc::getsockopt(
                s.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_MTU_DISCOVER,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0);
        assert_eq!(value, libc::IP_PMTUDISC_DO);
    }
}
