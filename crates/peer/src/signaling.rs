//! WebSocket client for the signaling protocol (`docs/protocol.md`): join a room, then exchange
//! `signal` messages carrying SDP descriptions and trickled ICE candidates.
//!
//! The connection runs in its own task; [`Signaling`] is the handle: [`Signaling::signal`] queues a
//! message, [`Signaling::recv`] yields what the server said.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use signal::message::Join;
use signal::{ClientMessage, PeerId, Role, ServerMessage, SignalData};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::PeerError;

/// How often the client sends `ping` so that idle connections survive proxies.
const PING_INTERVAL: Duration = Duration::from_secs(15);

/// Where the signaling server is: `http://host:port` (or `https://`, `ws://`, `wss://`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    pub secure: bool,
    pub host: String,
    pub port: u16,
}

impl ServerUrl {
    pub fn parse(url: &str) -> Result<ServerUrl, PeerError> {
        let bad = || PeerError::Signaling(format!("server URL {url:?}: expected http://host:port"));
        let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
        let secure = match scheme.to_ascii_lowercase().as_str() {
            "http" | "ws" => false,
            "https" | "wss" => true,
            _ => return Err(bad()),
        };
        let authority = rest.split('/').next().unwrap_or_default();
        let default_port = if secure { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(bad)?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| bad())?,
                None => default_port,
            };
            (h.to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), p.parse().map_err(|_| bad())?),
                None => (authority.to_owned(), default_port),
            }
        };
        if host.is_empty() {
            return Err(bad());
        }
        Ok(ServerUrl { secure, host, port })
    }

    /// `host:port` with IPv6 hosts in brackets.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    fn ws_url(&self) -> String {
        let scheme = if self.secure { "wss" } else { "ws" };
        format!("{scheme}://{}/ws", self.authority())
    }
}

/// What the server said, reduced to what a peer acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalEvent {
    Joined(signal::Joined),
    PeerJoined(signal::PeerInfo),
    PeerLeft(PeerId),
    Signal {
        from: PeerId,
        data: PeerSignal,
    },
    Error(signal::ErrorMessage),
    /// The WebSocket closed; no more events follow.
    Closed(String),
}

/// `signal.data` as the web client and the native peer exchange it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PeerSignal {
    Description {
        description: Description,
    },
    /// `"candidate": null` marks the end of candidates (the field itself is required).
    Candidate {
        #[serde(deserialize_with = "Option::deserialize")]
        candidate: Option<CandidateInit>,
    },
}

/// RTCSessionDescriptionInit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Description {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub sdp: String,
}

/// RTCIceCandidateInit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CandidateInit {
    pub candidate: String,
    #[serde(default)]
    pub sdp_mid: Option<String>,
    #[serde(default)]
    pub sdp_m_line_index: Option<u16>,
    #[serde(default)]
    pub username_fragment: Option<String>,
}

/// The client side of one signaling connection.
#[derive(Debug)]
pub struct Signaling {
    out: mpsc::UnboundedSender<ClientMessage>,
    events: mpsc::UnboundedReceiver<SignalEvent>,
    closed: bool,
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

impl Signaling {
    /// Connects, sends `join` and returns; `joined` arrives through [`Signaling::recv`].
    pub async fn connect(
        server: &ServerUrl,
        room: &str,
        role: Role,
        token: Option<String>,
        tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    ) -> Result<Signaling, PeerError> {
        let tcp = TcpStream::connect((server.host.as_str(), server.port))
            .await
            .map_err(|e| {
                PeerError::Signaling(format!("connecting to {}: {e}", server.authority()))
            })?;
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn Stream> = if server.secure {
            let config = tls.ok_or_else(|| PeerError::Tls("no TLS configuration".into()))?;
            let name = rustls::pki_types::ServerName::try_from(server.host.clone())
                .map_err(|e| PeerError::Tls(e.to_string()))?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(|e| PeerError::Tls(format!("{}: {e}", server.authority())))?;
            Box::new(tls)
        } else {
            Box::new(tcp)
        };
        let (ws, _) = tokio_tungstenite::client_async(server.ws_url(), stream)
            .await
            .map_err(|e| PeerError::Signaling(format!("WebSocket handshake: {e}")))?;
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        out_tx
            .send(ClientMessage::Join(Join {
                room: room.to_owned(),
                role,
                token,
                resume: None,
            }))
            .map_err(|_| PeerError::Signaling("connection task ended".into()))?;
        tokio::spawn(pump(ws, out_rx, ev_tx));
        Ok(Signaling {
            out: out_tx,
            events: ev_rx,
            closed: false,
        })
    }

    /// A handle for a connection that is gone: sends go nowhere, `recv` never returns.
    pub fn closed() -> Signaling {
        let (out, _) = mpsc::unbounded_channel();
        let (_, events) = mpsc::unbounded_channel();
        Signaling {
            out,
            events,
            closed: true,
        }
    }

    /// Sends `data` to peer `to`.
    pub fn signal(&self, to: &PeerId, data: &PeerSignal) {
        let json = serde_json::to_string(data).expect("signal payloads always serialize");
        match SignalData::from_json(&json) {
            Ok(data) => {
                let _ = self.out.send(ClientMessage::Signal {
                    to: to.clone(),
                    data,
                });
            }
            Err(e) => tracing::warn!("dropping a signal that is not JSON: {e}"),
        }
    }

    /// Leaves the room (the connection then closes).
    pub fn leave(&self) {
        let _ = self.out.send(ClientMessage::Leave);
    }

    /// The next event; [`SignalEvent::Closed`] once the connection is gone.
    pub async fn recv(&mut self) -> SignalEvent {
        if self.closed {
            return std::future::pending().await;
        }
        self.events
            .recv()
            .await
            .unwrap_or_else(|| SignalEvent::Closed("connection task ended".into()))
    }
}

async fn pump<S>(
    ws: tokio_tungstenite::WebSocketStream<S>,
    mut out: mpsc::UnboundedReceiver<ClientMessage>,
    events: mpsc::UnboundedSender<SignalEvent>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut sink, mut stream) = ws.split();
    let mut ping = tokio::time::interval(PING_INTERVAL);
    ping.tick().await;
    let reason = loop {
        tokio::select! {
            msg = out.recv() => {
                let Some(msg) = msg else {
                    let _ = sink.close().await;
                    break "closed by the peer".to_owned();
                };
                let leaving = msg == ClientMessage::Leave;
                if let Err(e) = sink.send(WsMessage::text(msg.to_json())).await {
                    break format!("send failed: {e}");
                }
                if leaving {
                    let _ = sink.close().await;
                    break "left the room".to_owned();
                }
            }
            _ = ping.tick() => {
                if let Err(e) = sink.send(WsMessage::text(ClientMessage::Ping.to_json())).await {
                    break format!("send failed: {e}");
                }
            }
            frame = stream.next() => {
                let text = match frame {
                    Some(Ok(WsMessage::Text(t))) => t,
                    Some(Ok(WsMessage::Close(c))) => {
                        break c.map(|c| format!("server closed: {} {}", c.code, c.reason))
                            .unwrap_or_else(|| "server closed".into());
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => break format!("WebSocket error: {e}"),
                    None => break "server closed the connection".to_owned(),
                };
                if let Some(ev) = translate(text.as_str()) {
                    if events.send(ev).is_err() {
                        break "handle dropped".to_owned();
                    }
                }
            }
        }
    };
    let _ = events.send(SignalEvent::Closed(reason));
}

fn translate(text: &str) -> Option<SignalEvent> {
    let msg = match ServerMessage::parse(text) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!("ignoring a server message: {e}");
            return None;
        }
    };
    Some(match msg {
        ServerMessage::Joined(j) => SignalEvent::Joined(j),
        ServerMessage::PeerJoined { peer } => SignalEvent::PeerJoined(peer),
        ServerMessage::PeerLeft { id } => SignalEvent::PeerLeft(id),
        ServerMessage::Signal { from, data } => match serde_json::from_str(data.json()) {
            Ok(data) => SignalEvent::Signal { from, data },
            Err(_) => {
                tracing::debug!("ignoring an application signal from {from}");
                return None;
            }
        },
        ServerMessage::Error(e) => SignalEvent::Error(e),
        ServerMessage::Pong => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls() {
        let u = ServerUrl::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(u.ws_url(), "ws://127.0.0.1:8080/ws");
        let u = ServerUrl::parse("https://[::1]/x").unwrap();
        assert_eq!(
            (u.secure, u.port, u.ws_url()),
            (true, 443, "wss://[::1]:443/ws".to_owned())
        );
        assert!(ServerUrl::parse("ftp://x").is_err());
        assert!(ServerUrl::parse("http://:80").is_err());
        assert!(ServerUrl::parse("http://h:x").is_err());
    }

    #[test]
    fn signal_payloads_match_the_web_client() {
        let d: PeerSignal =
            serde_json::from_str(r#"{"description":{"type":"offer","sdp":"v=0"}}"#).unwrap();
        assert_eq!(
            d,
            PeerSignal::Description {
                description: Description {
                    kind: "offer".into(),
                    sdp: "v=0".into()
                }
            }
        );
        let c: PeerSignal = serde_json::from_str(
            r#"{"candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"u"}}"#,
        )
        .unwrap();
        let PeerSignal::Candidate {
            candidate: Some(init),
        } = &c
        else {
            panic!("{c:?}")
        };
        assert_eq!(init.sdp_mid.as_deref(), Some("0"));
        let json = serde_json::to_string(&c).unwrap();
        assert!(
            json.contains("\"sdpMLineIndex\":0") && json.contains("usernameFragment"),
            "{json}"
        );
        let end: PeerSignal = serde_json::from_str(r#"{"candidate":null}"#).unwrap();
        assert_eq!(end, PeerSignal::Candidate { candidate: None });
        assert!(serde_json::from_str::<PeerSignal>(r#"{"hello":1}"#).is_err());
    }
}
