//! One request/response path to a STUN/TURN server over UDP, TCP or TLS, for the probe.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::turn_client::TurnTransport;

pub(super) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

pub(super) enum Conn {
    Udp(UdpSocket),
    Stream { io: Box<dyn Stream>, buf: Vec<u8> },
}

impl Conn {
    /// Opens a path to `server`; also returns how long TCP (and TLS) setup took.
    pub(super) async fn open(
        server: SocketAddr,
        transport: TurnTransport,
        host: &str,
        tls: Arc<rustls::ClientConfig>,
        local_ip: Option<std::net::IpAddr>,
    ) -> Result<(Conn, Duration), String> {
        let started = Instant::now();
        match transport {
            TurnTransport::Udp => {
                let ip = local_ip.unwrap_or(if server.is_ipv4() {
                    std::net::Ipv4Addr::UNSPECIFIED.into()
                } else {
                    std::net::Ipv6Addr::UNSPECIFIED.into()
                });
                let socket = UdpSocket::bind(SocketAddr::new(ip, 0))
                    .await
                    .map_err(|e| e.to_string())?;
                socket.connect(server).await.map_err(|e| e.to_string())?;
                Ok((Conn::Udp(socket), Duration::ZERO))
            }
            TurnTransport::Tcp | TurnTransport::Tls => {
                let tcp = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(server))
                    .await
                    .map_err(|_| format!("TCP connect to {server} timed out"))?
                    .map_err(|e| format!("TCP connect to {server}: {e}"))?;
                let _ = tcp.set_nodelay(true);
                let io: Box<dyn Stream> = if transport == TurnTransport::Tls {
                    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
                        .map_err(|e| e.to_string())?;
                    let s = tokio::time::timeout(
                        Duration::from_secs(5),
                        tokio_rustls::TlsConnector::from(tls).connect(name, tcp),
                    )
                    .await
                    .map_err(|_| "TLS handshake timed out".to_owned())?
                    .map_err(|e| format!("TLS: {e}"))?;
                    Box::new(s)
                } else {
                    Box::new(tcp)
                };
                Ok((
                    Conn::Stream {
                        io,
                        buf: Vec::new(),
                    },
                    started.elapsed(),
                ))
            }
        }
    }

    pub(super) fn reliable(&self) -> bool {
        matches!(self, Conn::Stream { .. })
    }

    pub(super) async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Conn::Udp(s) => s.send(bytes).await.map(|_| ()),
            Conn::Stream { io, .. } => io.write_all(bytes).await,
        }
    }

    /// The next datagram or frame, waiting at most until `deadline`.
    pub(super) async fn recv(&mut self, deadline: Instant) -> Option<Vec<u8>> {
        let wait = tokio::time::sleep_until(deadline.into());
        tokio::pin!(wait);
        match self {
            Conn::Udp(s) => {
                let mut buf = vec![0u8; 2048];
                tokio::select! {
                    r = s.recv(&mut buf) => r.ok().map(|n| buf[..n].to_vec()),
                    _ = &mut wait => None,
                }
            }
            Conn::Stream { io, buf } => loop {
                match stun::stream_frame_len(buf) {
                    Ok(Some(n)) => return Some(buf.drain(..n).collect()),
                    Ok(None) => {}
                    Err(()) => return None,
                }
                let mut chunk = [0u8; 4096];
                tokio::select! {
                    r = io.read(&mut chunk) => match r {
                        Ok(0) | Err(_) => return None,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    },
                    _ = &mut wait => return None,
                }
            },
        }
    }
}
