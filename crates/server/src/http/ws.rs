//! `GET /ws`: one task per WebSocket connection (RFC 6455).
//!
//! The task reads frames and hands them to the [`Switchboard`]; it writes what arrives on its
//! bounded queue, filling in the ICE servers of a `joined` on the way; it pings every
//! `ping_interval`; and it closes the connection with the code and reason the hub or the
//! switchboard gives.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use signal::{CloseReason, ErrorCode, Frame, ServerMessage};

use super::outbox::OutboxReceiver;
use super::switchboard::{unix_now, ConnectionPermit, Registration, Switchboard};
use super::AppState;

/// A write that takes longer than this means the peer stopped reading: give up on it.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a closing connection waits for the client's Close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(5);
const CLOSE_WAIT_AT_SHUTDOWN: Duration = Duration::from_secs(1);

/// Messages written per flush at most.
const MAX_BATCH: usize = 64;

/// `GET /ws`: checks the Origin and the connection limit, then upgrades.
pub(super) async fn upgrade(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !origin_allowed(&state.cfg.allowed_origins, &headers) {
        return (StatusCode::FORBIDDEN, "origin not allowed\n").into_response();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    let permit = state.switchboard.admit();
    ws.max_message_size(state.hard_frame_cap)
        .max_frame_size(state.hard_frame_cap)
        .on_upgrade(move |socket| async move {
            match permit {
                Some(permit) => run(socket, state, host, permit).await,
                None => refuse_full(socket, &state.switchboard).await,
            }
        })
}

/// An `Origin` is allowed when no list is configured, when the client sent none (not a
/// browser, which could send any Origin anyway), or when it is on the list.
pub(super) fn origin_allowed(allowed: &[String], headers: &HeaderMap) -> bool {
    if allowed.is_empty() {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let origin = origin.to_str().unwrap_or("");
    allowed
        .iter()
        .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

/// The server is at `max_connections`: say so, then close with 1013 (try again later).
async fn refuse_full(mut socket: WebSocket, switchboard: &Switchboard) {
    let error = ServerMessage::error(
        ErrorCode::SERVER_FULL,
        "the server is at its connection limit; try again later",
        None,
    );
    switchboard.metrics().signal_errors.fetch_add(1, Relaxed);
    let bye = async {
        socket.send(Message::Text(error.to_json().into())).await?;
        socket.send(close_message(CloseReason::ServerFull)).await
    };
    if let Ok(Ok(())) = tokio::time::timeout(WRITE_TIMEOUT, bye).await {
        // Briefly, as in `run`: let the client's Close arrive rather than reset the connection.
        let _ = tokio::time::timeout(CLOSE_WAIT_AT_SHUTDOWN, async {
            while let Some(Ok(_)) = socket.recv().await {}
        })
        .await;
    }
}

fn close_message(reason: CloseReason) -> Message {
    Message::Close(Some(CloseFrame {
        code: reason.code(),
        reason: Utf8Bytes::from_static(reason.as_str()),
    }))
}

/// How a connection's loop ended.
enum Ending {
    /// The client closed, or the transport failed: nothing more to send.
    Gone,
    /// The server closes, with this reason.
    Close(CloseReason),
}

struct Writer {
    sink: SplitSink<WebSocket, Message>,
    state: Arc<AppState>,
    host: Option<String>,
}

impl Writer {
    /// Writes one hub message; `false` when the connection is unusable.
    async fn message(&mut self, message: ServerMessage) -> bool {
        let frame = self.encode(message);
        let ok = self.raw(frame).await;
        if ok {
            let metrics = self.state.switchboard.metrics();
            metrics.signal_messages_out.fetch_add(1, Relaxed);
        }
        ok
    }

    /// Writes `first` and whatever else is already queued (up to [`MAX_BATCH`]) with a single
    /// flush, so a burst costs one write rather than one per message.
    async fn batch(&mut self, first: ServerMessage, queue: &mut OutboxReceiver) -> bool {
        let mut frames = vec![self.encode(first)];
        while frames.len() < MAX_BATCH {
            match queue.try_recv() {
                Some(m) => frames.push(self.encode(m)),
                None => break,
            }
        }
        let count = frames.len() as u64;
        let sink = &mut self.sink;
        let write = async move {
            for frame in frames {
                sink.feed(frame).await?;
            }
            sink.flush().await
        };
        let ok = matches!(tokio::time::timeout(WRITE_TIMEOUT, write).await, Ok(Ok(())));
        if ok {
            let metrics = self.state.switchboard.metrics();
            metrics.signal_messages_out.fetch_add(count, Relaxed);
        }
        ok
    }

    /// The frame for a hub message; a `joined` gets its ICE servers here, where the Host the
    /// client used and the wall clock are known.
    fn encode(&self, mut message: ServerMessage) -> Message {
        if let ServerMessage::Joined(joined) = &mut message {
            joined.ice_servers =
                self.state
                    .ice
                    .servers(self.host.as_deref(), joined.id.as_str(), unix_now());
        }
        if matches!(message, ServerMessage::Error(_)) {
            let metrics = self.state.switchboard.metrics();
            metrics.signal_errors.fetch_add(1, Relaxed);
        }
        Message::Text(message.to_json().into())
    }

    async fn raw(&mut self, message: Message) -> bool {
        matches!(
            tokio::time::timeout(WRITE_TIMEOUT, self.sink.send(message)).await,
            Ok(Ok(()))
        )
    }
}

/// The life of one admitted connection.
async fn run(
    socket: WebSocket,
    state: Arc<AppState>,
    host: Option<String>,
    permit: ConnectionPermit,
) {
    let _permit = permit;
    let switchboard = state.switchboard.clone();
    let Registration {
        conn,
        mut queue,
        mut close,
    } = switchboard.register(state.cfg.send_queue);
    let (sink, mut stream) = socket.split();
    let mut writer = Writer {
        sink,
        state: state.clone(),
        host,
    };
    let mut shutdown = state.shutdown.clone();
    // Zero turns pings off (the branch below is disabled); a day is as rare as they get.
    let ping_every = match state.cfg.ping_interval {
        d if d.is_zero() => Duration::from_secs(86_400),
        d => d.min(Duration::from_secs(86_400)),
    };
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    let ending = loop {
        tokio::select! {
            biased;
            reason = &mut close => break Ending::Close(reason.unwrap_or(CloseReason::Shutdown)),
            _ = super::wait_for_shutdown(&mut shutdown) => break Ending::Close(CloseReason::Shutdown),
            message = queue.recv() => match message {
                Some(m) => if !writer.batch(m, &mut queue).await { break Ending::Gone },
                None => break Ending::Gone,
            },
            frame = stream.next() => if let Some(ending) = read(&switchboard, conn, frame) {
                break ending;
            },
            _ = ping.tick(), if !state.cfg.ping_interval.is_zero() => {
                if !writer.raw(Message::Ping(Default::default())).await { break Ending::Gone }
            }
        }
    };
    switchboard.unregister(conn);
    if let Ending::Close(reason) = ending {
        if reason == CloseReason::TooLarge {
            let error = ServerMessage::error(
                ErrorCode::TOO_LARGE,
                format!(
                    "frame exceeds the hard limit of {} bytes",
                    state.hard_frame_cap
                ),
                None,
            );
            writer.message(error).await;
        }
        // What the hub said before closing (say, the error that explains it) goes first; a slow
        // consumer gets nothing more.
        if reason != CloseReason::SlowConsumer {
            while let Some(m) = queue.try_recv() {
                if !writer.message(m).await {
                    return;
                }
            }
        }
        writer.raw(close_message(reason)).await;
        // RFC 6455 §7.1.1: wait for the client's Close before dropping TCP. Reading meanwhile
        // also matters: data arriving at a fully closed socket makes the kernel send RST, and
        // an RST can destroy the close frame the client has not read yet. At shutdown the
        // wait is short, so that stopping the server stays quick.
        let wait = match reason {
            CloseReason::Shutdown => CLOSE_WAIT_AT_SHUTDOWN,
            _ => CLOSE_WAIT,
        };
        let _ = tokio::time::timeout(wait, async {
            while let Some(Ok(_)) = stream.next().await {}
        })
        .await;
    }
}

/// Handles one read; `Some` ends the connection.
fn read(
    switchboard: &Switchboard,
    conn: signal::ConnId,
    frame: Option<Result<Message, axum::Error>>,
) -> Option<Ending> {
    match frame {
        Some(Ok(Message::Text(text))) => switchboard.frame(conn, Frame::Text(text.as_str())),
        Some(Ok(Message::Binary(bytes))) => switchboard.frame(conn, Frame::Binary(&bytes)),
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => switchboard.frame(conn, Frame::Heartbeat),
        Some(Ok(Message::Close(_))) | None => return Some(Ending::Gone),
        Some(Err(e)) => return Some(read_error(e)),
    }
    None
}

fn read_error(e: axum::Error) -> Ending {
    if is_capacity_error(&e) {
        return Ending::Close(CloseReason::TooLarge);
    }
    tracing::debug!(error = %e, "websocket read failed");
    Ending::Gone
}

/// Whether a read failed because a message exceeded `max_message_size`. axum does not expose
/// tungstenite's error type, so this goes by its text ("Space limit exceeded: Message too
/// long: N > M"); `malformed_frames_get_errors_and_the_connection_survives` pins it down.
fn is_capacity_error(e: &axum::Error) -> bool {
    let text = e.to_string();
    text.contains("Space limit exceeded") || text.contains("Message too long")
}
