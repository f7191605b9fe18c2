//! How a TURN client reaches its server: a UDP socket of its own, or a TCP or TLS connection
//! framed per RFC 8656 §12.5 (STUN messages and padded ChannelData back to back).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;

use super::NetInput;
use crate::turn_client::TurnTransport;

/// How long a TCP connect or TLS handshake to a TURN server may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Largest frame accepted from a stream: a STUN message or ChannelData never exceeds this.
const MAX_FRAME: usize = 65_536 + 20;

pub(super) enum Link {
    Udp(Arc<UdpSocket>),
    Stream {
        out: mpsc::UnboundedSender<Vec<u8>>,
        local: Option<SocketAddr>,
    },
}

impl Link {
    pub(super) async fn open(
        relay: usize,
        server: SocketAddr,
        transport: TurnTransport,
        host: &str,
        tls: Arc<rustls::ClientConfig>,
        input: mpsc::Sender<NetInput>,
    ) -> Result<Link, String> {
        match transport {
            TurnTransport::Udp => {
                let bind = if server.is_ipv4() {
                    SocketAddr::from(([0, 0, 0, 0], 0))
                } else {
                    SocketAddr::from(([0u16; 8], 0))
                };
                let socket = Arc::new(super::gather::bind_udp(bind).map_err(|e| e.to_string())?);
                spawn_udp_reader(socket.clone(), input, move |source, data| {
                    if source == server {
                        NetInput::Relay { relay, data }
                    } else {
                        // Only the server talks to this socket; anything else is noise.
                        NetInput::Relay {
                            relay,
                            data: Vec::new(),
                        }
                    }
                });
                Ok(Link::Udp(socket))
            }
            TurnTransport::Tcp | TurnTransport::Tls => {
                // A firewall that drops SYNs silently would otherwise hold up gathering for the
                // kernel's two-minute connect timeout.
                let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(server))
                    .await
                    .map_err(|_| {
                        format!("connecting to {server}: no answer in {CONNECT_TIMEOUT:?}")
                    })?
                    .map_err(|e| format!("connecting to {server}: {e}"))?;
                let _ = tcp.set_nodelay(true);
                let local = tcp.local_addr().ok();
                let (out, rx) = mpsc::unbounded_channel();
                if transport == TurnTransport::Tls {
                    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
                        .map_err(|e| format!("server name {host}: {e}"))?;
                    let handshake = tokio_rustls::TlsConnector::from(tls).connect(name, tcp);
                    let stream = tokio::time::timeout(CONNECT_TIMEOUT, handshake)
                        .await
                        .map_err(|_| {
                            format!("TLS with {server}: no answer in {CONNECT_TIMEOUT:?}")
                        })?
                        .map_err(|e| format!("TLS with {server}: {e}"))?;
                    tokio::spawn(pump_stream(stream, relay, rx, input));
                } else {
                    tokio::spawn(pump_stream(tcp, relay, rx, input));
                }
                Ok(Link::Stream { out, local })
            }
        }
    }

    pub(super) fn send(&self, bytes: &[u8], server: SocketAddr) {
        match self {
            Link::Udp(socket) => {
                if let Err(e) = socket.try_send_to(bytes, server) {
                    tracing::trace!("send to TURN server {server}: {e}");
                }
            }
            Link::Stream { out, .. } => {
                let _ = out.send(bytes.to_vec());
            }
        }
    }

    pub(super) fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            Link::Udp(s) => s.local_addr().ok(),
            Link::Stream { local, .. } => *local,
        }
    }
}

/// Reads datagrams until the socket fails or the driver is gone.
pub(super) fn spawn_udp_reader<F>(socket: Arc<UdpSocket>, input: mpsc::Sender<NetInput>, wrap: F)
where
    F: Fn(SocketAddr, Vec<u8>) -> NetInput + Send + 'static,
{
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        loop {
            match socket.recv_from(&mut buf).await {
                Ok((n, source)) => {
                    if input.send(wrap(source, buf[..n].to_vec())).await.is_err() {
                        return;
                    }
                }
                // ICMP errors surface here on Linux (ECONNREFUSED); the socket is still fine.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => continue,
                Err(e) => {
                    tracing::debug!("UDP socket closed: {e}");
                    return;
                }
            }
        }
    });
}

/// Writes queued frames and splits the incoming byte stream into frames.
async fn pump_stream<S>(
    stream: S,
    relay: usize,
    mut out: mpsc::UnboundedReceiver<Vec<u8>>,
    input: mpsc::Sender<NetInput>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut buf: Vec<u8> = Vec::with_capacity(MAX_FRAME);
    let mut chunk = vec![0u8; 65_536];
    let reason = loop {
        tokio::select! {
            frame = out.recv() => {
                let Some(frame) = frame else { break "closed".to_owned() };
                if let Err(e) = wr.write_all(&frame).await {
                    break format!("write: {e}");
                }
            }
            n = rd.read(&mut chunk) => {
                let n = match n {
                    Ok(0) => break "server closed the connection".to_owned(),
                    Ok(n) => n,
                    Err(e) => break format!("read: {e}"),
                };
                buf.extend_from_slice(&chunk[..n]);
                let mut bad = false;
                loop {
                    match stun::stream_frame_len(&buf) {
                        Ok(Some(len)) => {
                            let frame: Vec<u8> = buf.drain(..len).collect();
                            if input.send(NetInput::Relay { relay, data: frame }).await.is_err() {
                                return;
                            }
                        }
                        Ok(None) if buf.len() <= MAX_FRAME => break,
                        _ => {
                            bad = true;
                            break;
                        }
                    }
                }
                if bad {
                    break "the server sent something that is not STUN or ChannelData".to_owned();
                }
            }
        }
    };
    let _ = input.send(NetInput::RelayClosed { relay, reason }).await;
}
