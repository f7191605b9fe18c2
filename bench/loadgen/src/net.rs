//! Sockets with large buffers, so that the load generator's own queues are not where packets
//! are lost.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use anyhow::Result;
use socket2::{Domain, Protocol, Socket, Type};

/// Ask for `bytes` of receive and send buffer, beyond `net.core.rmem_max` when running as root
/// (SO_RCVBUFFORCE); without the privilege the ordinary capped request stands.
fn force_buffers(sock: &Socket, bytes: usize) {
    let _ = sock.set_recv_buffer_size(bytes);
    let _ = sock.set_send_buffer_size(bytes);
    let value = bytes.min(i32::MAX as usize) as libc::c_int;
    for opt in [libc::SO_RCVBUFFORCE, libc::SO_SNDBUFFORCE] {
        // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from a valid c_int on a socket
        // this function borrows; failure is reported through the return value, ignored here.
        unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                &value as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}

/// A bound UDP socket (blocking) with buffers of `bytes`.
pub fn udp_socket(addr: SocketAddr, bytes: usize) -> Result<Socket> {
    let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    force_buffers(&sock, bytes);
    sock.bind(&addr.into())?;
    Ok(sock)
}

/// The same as a non-blocking tokio socket; needs a running runtime.
pub fn tokio_udp(addr: SocketAddr, bytes: usize) -> Result<tokio::net::UdpSocket> {
    let sock = udp_socket(addr, bytes)?;
    sock.set_nonblocking(true)?;
    Ok(tokio::net::UdpSocket::from_std(sock.into())?)
}

/// The `index`-th client source address: 127.1.0.1, 127.1.0.2, ... 127.1.0.250, 127.1.1.1, ...
/// (all loopback). Servers limit unauthenticated requests per source IP, as they should
/// against floods; many sources make the load look like many hosts, as real clients are.
pub fn source(index: usize, sources: usize) -> SocketAddr {
    let i = index % sources.max(1);
    let (hi, lo) = ((i / 250) % 250, i % 250 + 1);
    SocketAddr::from(([127, 1, hi as u8, lo as u8], 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_distinct_loopback_addresses() {
        let addrs: std::collections::HashSet<_> = (0..1000).map(|i| source(i, 1000)).collect();
        assert_eq!(addrs.len(), 1000);
        assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 0));
        assert_eq!(source(0, 4), source(4, 4));
        assert_eq!(source(250, 1000).to_string(), "127.1.1.1:0");
    }
}
