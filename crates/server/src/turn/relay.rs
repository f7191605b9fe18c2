//! Relay sockets: UDP relays (peer datagrams framed in place and sent to the client), and
//! RFC 6062 TCP relays (inbound peer connections, outbound connects).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ::turn::server::{ConnectionId, RelayId, PEER_HEADROOM, PEER_TAILROOM};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::AbortHandle;

use super::redact::Redacted;
use super::sockets;
use super::state::Shared;

/// Largest UDP payload.
const MAX_DATAGRAM: usize = 65535;

/// Receive peer datagrams on a relay socket. The buffer is allocated once; each datagram is
/// read after `PEER_HEADROOM` bytes so the core can write the ChannelData or Data
/// indication header in place. Errors from the socket (ICMP unreachable reported as
/// ECONNREFUSED and the like) are ignored: they never end the allocation.
pub fn spawn_udp(shared: Arc<Shared>, relay: RelayId, socket: Arc<UdpSocket>) -> AbortHandle {
    tokio::spawn(async move {
        let mut buf = vec![0u8; PEER_HEADROOM + MAX_DATAGRAM + PEER_TAILROOM];
        loop {
            let (len, peer) = match socket
                .recv_from(&mut buf[PEER_HEADROOM..PEER_HEADROOM + MAX_DATAGRAM])
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::trace!(error = %e, "relay receive error ignored");
                    if !super::udp::is_transient(&e) {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    continue;
                }
            };
            let now = Instant::now();
            let mut st = shared.lock();
            if let Some(out) = st.core.handle_peer(now, relay, peer, &mut buf, len) {
                if !st.send_to_client(&out.client, &buf[out.range]) {
                    shared.send_failed();
                }
            }
        }
    })
    .abort_handle()
}

/// RFC 6062 §5.3: accept peer connections on a TCP relay; the core decides (permission)
/// whether the client hears of them.
pub fn spawn_tcp_accept(shared: Arc<Shared>, relay: RelayId, listener: TcpListener) -> AbortHandle {
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let now = Instant::now();
            let mut st = shared.lock();
            match st.core.handle_peer_accepted(now, relay, peer) {
                Some(id) => {
                    tracing::debug!(peer = %Redacted(peer), "peer connection offered to client");
                    st.peer_streams.insert(id, stream);
                }
                None => drop(stream),
            }
            st.drain(&shared, now);
        }
    })
    .abort_handle()
}

/// RFC 6062 §5.2: connect from the relayed address to `peer` and tell the core.
pub fn spawn_connect(
    shared: Arc<Shared>,
    connection: ConnectionId,
    local: SocketAddr,
    peer: SocketAddr,
) {
    tokio::spawn(async move {
        let result = tokio::time::timeout(
            Duration::from_secs(30),
            sockets::tcp_connect_from(local, peer),
        )
        .await;
        let now = Instant::now();
        let mut st = shared.lock();
        match result {
            Ok(Ok(stream)) => {
                st.peer_streams.insert(connection, stream);
                st.core.handle_peer_connected(now, connection, true);
            }
            Ok(Err(e)) => {
                tracing::debug!(peer = %Redacted(peer), error = %e, "TCP relay connect failed");
                st.core.handle_peer_connected(now, connection, false);
            }
            Err(_) => st.core.handle_peer_connected(now, connection, false),
        }
        st.drain(&shared, now);
    });
}
