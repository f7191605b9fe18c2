//! The HTTP driver: WebSocket signaling at `/ws` (`docs/protocol.md`), the ICE server API,
//! health and metrics endpoints, and the embedded web pages, over HTTP and (with a
//! certificate) HTTPS.
//!
//! All signaling state lives in one [`signal::Hub`]; this module only moves frames between
//! sockets and the hub, fills in ICE servers, and enforces the connection limit and Origin list.

mod api;
mod assets;
mod ice;
mod outbox;
mod switchboard;
mod tls;
mod ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use rand::rngs::StdRng;
use rand::SeedableRng;
use signal::{Hub, HubConfig};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use ice::IcePlan;
use switchboard::Switchboard;

use crate::{Metrics, SignalConfig, TurnConfig};

/// How long [`HttpHandle::shutdown`] waits for connections to close before dropping them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Why the HTTP driver could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpStartError {
    #[error("binding {scheme} listener on {addr}: {source}")]
    Bind {
        scheme: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// The running HTTP/HTTPS servers.
#[derive(Debug)]
pub struct HttpHandle {
    /// The HTTP address actually bound (port 0 in the configuration is resolved).
    pub http: SocketAddr,
    /// The HTTPS address, when a TLS configuration was given.
    pub https: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    switchboard: Arc<Switchboard>,
}

impl std::fmt::Debug for Switchboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Switchboard").finish_non_exhaustive()
    }
}

impl HttpHandle {
    /// Stops accepting, closes every WebSocket with 1001 (going away), and waits (a bounded
    /// time) for connections and tasks to finish.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, self.switchboard.all_closed()).await;
        for task in self.tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout(SHUTDOWN_GRACE, task).await.is_err() {
                abort.abort();
            }
        }
    }
}

/// Shared by every request handler.
pub(crate) struct AppState {
    cfg: SignalConfig,
    ice: IcePlan,
    switchboard: Arc<Switchboard>,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
    /// Frames up to this size are read (and refused with `too-large` if over
    /// `max_message_bytes`); a larger one closes the connection with 1009.
    hard_frame_cap: usize,
}

/// Starts the HTTP (and, with `tls`, HTTPS) server for signaling and the web pages.
///
/// `turn_running == false` means `--no-turn`: `ice_servers` then lists only `--ice-url`s.
/// `turn.static_auth_secrets` must already hold the secret TURN verifies credentials with.
pub async fn start(
    cfg: &SignalConfig,
    turn: &TurnConfig,
    turn_running: bool,
    tls: Option<Arc<rustls::ServerConfig>>,
    metrics: Arc<Metrics>,
) -> Result<HttpHandle, HttpStartError> {
    let hub = Hub::new(hub_config(cfg), StdRng::from_entropy());
    let switchboard = Arc::new(Switchboard::new(hub, cfg.max_connections, metrics.clone()));
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let state = Arc::new(AppState {
        cfg: cfg.clone(),
        ice: IcePlan::new(cfg, turn, turn_running, tls.is_some()),
        switchboard: switchboard.clone(),
        metrics,
        shutdown: shutdown_rx.clone(),
        hard_frame_cap: cfg.max_message_bytes.saturating_mul(2).max(64 * 1024),
    });
    let app = router(state);

    let bind = |scheme, addr| async move {
        TcpListener::bind(addr)
            .await
            .and_then(|l| Ok((l.local_addr()?, l)))
            .map_err(|source| HttpStartError::Bind {
                scheme,
                addr,
                source,
            })
    };
    let (http, http_listener) = bind("http", cfg.http).await?;
    let https_listener = match &tls {
        Some(_) => Some(bind("https", cfg.https).await?),
        None => None,
    };

    let mut tasks = Vec::new();
    let mut stop = shutdown_rx.clone();
    let serve_http = axum::serve(http_listener, app.clone())
        .with_graceful_shutdown(async move { wait_for_shutdown(&mut stop).await });
    tasks.push(tokio::spawn(async move {
        if let Err(e) = serve_http.await {
            tracing::error!(error = %e, "HTTP server failed");
        }
    }));
    let mut https = None;
    if let (Some(tls), Some((addr, listener))) = (tls, https_listener) {
        https = Some(addr);
        let listener = tls::TlsListener::spawn(listener, addr, tls, shutdown_rx.clone());
        let mut stop = shutdown_rx.clone();
        let serve_https = axum::serve(listener, app)
            .with_graceful_shutdown(async move { wait_for_shutdown(&mut stop).await });
        tasks.push(tokio::spawn(async move {
            if let Err(e) = serve_https.await {
                tracing::error!(error = %e, "HTTPS server failed");
            }
        }));
    }
    tasks.push(tokio::spawn(
        switchboard.clone().run_timers(shutdown_rx.clone()),
    ));
    tracing::info!(%http, https = ?https, "signaling and web pages listening");
    Ok(HttpHandle {
        http,
        https,
        shutdown: shutdown_tx,
        tasks,
        switchboard,
    })
}

fn hub_config(cfg: &SignalConfig) -> HubConfig {
    HubConfig {
        max_message_bytes: cfg.max_message_bytes,
        max_messages_per_second: cfg.max_messages_per_second,
        max_peers_per_room: cfg.max_peers_per_room,
        max_viewers_per_broadcast: cfg.max_viewers_per_broadcast,
        resume_grace: cfg.resume_grace,
        resume_queue: cfg.send_queue,
        // A peer silent for three ping intervals is gone (docs/protocol.md §11).
        idle_timeout: (!cfg.ping_interval.is_zero())
            .then(|| cfg.ping_interval.checked_mul(3))
            .flatten(),
        ice_ttl: cfg.ice_ttl,
        token_secrets: cfg
            .signal_secrets
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect(),
    }
}

/// Resolves once shutdown is signalled (or the handle is gone).
pub(crate) async fn wait_for_shutdown(rx: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`: drop it here, not in the caller's future.
    let _ = rx.wait_for(|down| *down).await;
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/ws", get(ws::upgrade))
        .route("/api/ice-servers", get(api::ice_servers))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(get(assets::serve))
        .with_state(state)
}

async fn healthz() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], "ok\n")
}

async fn metrics(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
) -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        state.metrics.render(),
    )
}
