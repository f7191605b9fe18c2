//! The UDP listener loop: one reused buffer, one core call per datagram, relayed payloads sent
//! straight from that buffer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use ::turn::server::{FiveTuple, Transport};
use tokio::net::UdpSocket;

use super::state::Shared;

pub fn spawn(
    shared: Arc<Shared>,
    socket: Arc<UdpSocket>,
    local: SocketAddr,
) -> tokio::task::AbortHandle {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        loop {
            let (len, from) = match socket.recv_from(&mut buf).await {
                Ok(r) => r,
                Err(e) => {
                    // ICMP errors surface here on Linux and concern one client only; pause
                    // briefly on anything else so a persistent error cannot spin.
                    if !is_transient(&e) {
                        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    }
                    continue;
                }
            };
            let five_tuple = FiveTuple {
                client: from,
                local,
                transport: Transport::Udp,
            };
            let now = Instant::now();
            let mut st = shared.lock();
            if let Some(out) = st.core.handle_client(now, five_tuple, &buf[..len]) {
                let sent = st
                    .relays
                    .get(&out.relay)
                    .and_then(|r| r.udp.as_ref())
                    .map(|s| s.try_send_to(&buf[out.payload], out.peer).is_ok());
                if sent != Some(true) {
                    shared.send_failed();
                }
            }
            st.drain(&shared, now);
        }
    })
    .abort_handle()
}

/// Errors a UDP receive reports for one remote party (ICMP unreachable and the like).
pub fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionReset | Interrupted | WouldBlock
    )
}
