//! TCP and TLS client connections (RFC 8656 §3.1, RFC 6062): STUN and ChannelData framed on
//! the byte stream (`stun::stream_frame_len`), responses and relayed data written from a
//! bounded queue; a ConnectionBind turns the connection into a byte pipe to its peer.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ::turn::server::{FiveTuple, Transport};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::redact::Redacted;
use super::state::{ClientConn, Outgoing, Shared, CLIENT_QUEUE};

/// Largest frame: a STUN message of 65535 + 20 bytes.
const MAX_FRAME: usize = 65535 + 20;
/// A connection that sends nothing for this long is closed (allocations are refreshed
/// far more often than this).
const IDLE_TIMEOUT: Duration = Duration::from_secs(3600);
/// Time allowed for a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The shard serving a stream client: by its IP address, so that an RFC 6062 client's
/// control and data connections meet in the same core.
fn shard_for(shards: &[Arc<Shared>], client: SocketAddr) -> Arc<Shared> {
    let key = match client.ip() {
        std::net::IpAddr::V4(ip) => u128::from(u32::from(ip)),
        std::net::IpAddr::V6(ip) => u128::from(ip),
    };
    shards[(key % shards.len() as u128) as usize].clone()
}

/// Accept TCP (and, with `tls`, TLS) clients on `listener`.
pub fn spawn_listener(
    shards: Vec<Arc<Shared>>,
    listener: TcpListener,
    local: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> tokio::task::AbortHandle {
    tokio::spawn(async move {
        loop {
            let (stream, client) = match listener.accept().await {
                Ok(s) => s,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let shared = shard_for(&shards, client);
            match tls.clone() {
                None => {
                    let ft = FiveTuple {
                        client,
                        local,
                        transport: Transport::Tcp,
                    };
                    tokio::spawn(serve(shared, stream, ft));
                }
                Some(acceptor) => {
                    tokio::spawn(async move {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                        {
                            Ok(Ok(tls)) => {
                                let ft = FiveTuple {
                                    client,
                                    local,
                                    transport: Transport::Tls,
                                };
                                serve(shared, tls, ft).await;
                            }
                            _ => {
                                tracing::debug!(client = %Redacted(client), "TLS handshake failed")
                            }
                        }
                    });
                }
            }
        }
    })
    .abort_handle()
}

/// Serve one client connection until it closes, then tell the core.
async fn serve<S>(shared: Arc<Shared>, stream: S, ft: FiveTuple)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel(CLIENT_QUEUE);
    shared.lock().clients.insert(ft, ClientConn { tx });
    shared.metrics.turn_tcp_connections.fetch_add(1, Relaxed);
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut buf = vec![0u8; MAX_FRAME + 4];
    let mut filled = 0usize;
    let mut splice = None;
    'conn: loop {
        tokio::select! {
            read = tokio::time::timeout(IDLE_TIMEOUT, rd.read(&mut buf[filled..])) => {
                let n = match read {
                    Ok(Ok(n)) if n > 0 => n,
                    _ => break 'conn,
                };
                filled += n;
                loop {
                    let len = match ::turn::server::stream_frame_len(&buf[..filled]) {
                        Ok(Some(len)) => len,
                        Ok(None) => break,
                        Err(()) => {
                            tracing::debug!(client = %Redacted(ft.client), "not STUN on the stream; closing");
                            break 'conn;
                        }
                    };
                    let now = Instant::now();
                    {
                        let mut st = shared.lock();
                        if let Some(out) = st.core.handle_client(now, ft, &buf[..len]) {
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
                        splice = st.pending_splices.remove(&ft);
                    }
                    buf.copy_within(len..filled, 0);
                    filled -= len;
                    if splice.is_some() {
                        break 'conn;
                    }
                }
            }
            msg = rx.recv() => match msg {
                Some(Outgoing::Data(bytes)) => {
                    if wr.write_all(&bytes).await.is_err() {
                        break 'conn;
                    }
                }
                Some(Outgoing::Close) | None => break 'conn,
            },
        }
    }
    if let Some((connection, mut peer)) = splice {
        // RFC 6062 §5.4: write the ConnectionBind response (already queued), pass on any
        // bytes that followed it, then pipe both ways until either side closes.
        while let Ok(msg) = rx.try_recv() {
            if let Outgoing::Data(bytes) = msg {
                let _ = wr.write_all(&bytes).await;
            }
        }
        let mut client = rd.unsplit(wr);
        let piped = async {
            peer.write_all(&buf[..filled]).await?;
            tokio::io::copy_bidirectional(&mut client, &mut peer).await
        };
        tokio::select! {
            r = piped => tracing::debug!(result = ?r.map(|_| ()), "TCP relay connection ended"),
            _ = wait_close(&mut rx) => {}
        }
        let now = Instant::now();
        let mut st = shared.lock();
        st.spliced.remove(&connection);
        st.core.handle_connection_closed(now, connection);
        st.drain(&shared, now);
    }
    shared.metrics.turn_tcp_connections.fetch_sub(1, Relaxed);
    let now = Instant::now();
    let mut st = shared.lock();
    st.clients.remove(&ft);
    st.pending_splices.remove(&ft);
    st.core.handle_client_closed(now, ft);
    st.drain(&shared, now);
}

async fn wait_close(rx: &mut mpsc::Receiver<Outgoing>) {
    loop {
        match rx.recv().await {
            Some(Outgoing::Close) | None => return,
            Some(Outgoing::Data(_)) => {}
        }
    }
}
