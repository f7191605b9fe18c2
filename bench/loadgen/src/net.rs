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

/// Datagrams moved per system call by [`echo_batch`].
pub const BATCH: usize = 64;

/// Receive up to [`BATCH`] datagrams with one `recvmmsg` (waiting for the first, up to the
/// socket's read timeout) and send each back to its source with one `sendmmsg`. Returns the
/// number echoed; 0 on timeout.
pub fn echo_batch(sock: &std::net::UdpSocket, bufs: &mut [[u8; 2048]; BATCH]) -> usize {
    // SAFETY: every pointer handed to the kernel points into `bufs`, `iov`, `addrs` or `msgs`,
    // all alive and exclusively borrowed for the duration of both calls; lengths match the
    // buffers; the kernel writes at most `msg_len`/`msg_namelen` bytes into them.
    unsafe {
        let mut addrs: [libc::sockaddr_storage; BATCH] = std::mem::zeroed();
        let mut iov: [libc::iovec; BATCH] = std::mem::zeroed();
        let mut msgs: [libc::mmsghdr; BATCH] = std::mem::zeroed();
        for i in 0..BATCH {
            iov[i].iov_base = bufs[i].as_mut_ptr() as *mut libc::c_void;
            iov[i].iov_len = bufs[i].len();
            msgs[i].msg_hdr.msg_iov = &mut iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_name = &mut addrs[i] as *mut _ as *mut libc::c_void;
            msgs[i].msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as u32;
        }
        let fd = sock.as_raw_fd();
        let n = libc::recvmmsg(
            fd,
            msgs.as_mut_ptr(),
            BATCH as u32,
            libc::MSG_WAITFORONE,
            std::ptr::null_mut(),
        );
        if n <= 0 {
            return 0;
        }
        let n = n as usize;
        for m in msgs.iter_mut().take(n) {
            // Send back exactly what arrived, to the address it came from.
            (*m.msg_hdr.msg_iov).iov_len = m.msg_len as usize;
        }
        let mut done = 0;
        while done < n {
            let sent = libc::sendmmsg(fd, msgs.as_mut_ptr().add(done), (n - done) as u32, 0);
            if sent <= 0 {
                break;
            }
            done += sent as usize;
        }
        done
    }
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
    fn echo_batch_returns_every_datagram_to_its_sender() {
        let echo = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        echo.set_read_timeout(Some(std::time::Duration::from_millis(500)))
            .unwrap();
        let addr = echo.local_addr().unwrap();
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for s in [&a, &b] {
            s.set_read_timeout(Some(std::time::Duration::from_secs(2)))
                .unwrap();
        }
        a.send_to(b"one", addr).unwrap();
        a.send_to(b"two!", addr).unwrap();
        b.send_to(b"three", addr).unwrap();
        let mut bufs = Box::new([[0u8; 2048]; BATCH]);
        let mut echoed = 0;
        for _ in 0..10 {
            if echoed == 3 {
                break;
            }
            echoed += echo_batch(&echo, &mut bufs);
        }
        assert_eq!(echoed, 3);
        let mut buf = [0u8; 64];
        let n = a.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"one");
        let n = a.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"two!");
        let n = b.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"three");
    }

    #[test]
    fn sources_are_distinct_loopback_addresses() {
        let addrs: std::collections::HashSet<_> = (0..1000).map(|i| source(i, 1000)).collect();
        assert_eq!(addrs.len(), 1000);
        assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 0));
        assert_eq!(source(0, 4), source(4, 4));
        assert_eq!(source(250, 1000).to_string(), "127.1.1.1:0");
    }
}
