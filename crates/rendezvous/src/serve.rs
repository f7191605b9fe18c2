//! `rendezvous serve`: start the drivers the configuration asks for, report where they listen,
//! and shut them down cleanly on Ctrl-C or SIGTERM.

use std::sync::Arc;

use anyhow::{Context, Result};
use rand::RngCore;
use server::{Config, Metrics};
use tracing::{info, warn};

pub async fn run(mut config: Config) -> Result<()> {
    server::turn::set_log_addresses(config.log_addresses);
    if config.turn.static_auth_secrets.is_empty() {
        let mut bytes = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut bytes);
        config
            .turn
            .static_auth_secrets
            .push(bytes.iter().map(|b| format!("{b:02x}")).collect());
        info!(
            "no --static-auth-secret given: generated one for this process; TURN accepts only \
             credentials handed out by this process's signaling server and /api/ice-servers"
        );
    }
    if config.signal.enabled && config.signal.signal_secrets.is_empty() {
        warn!(
            "rooms are open to anyone who knows their name (set --signal-secret to require tokens)"
        );
    }

    let names: Vec<String> = config
        .signal
        .public_host
        .iter()
        .cloned()
        .chain(config.turn.external_ip.map(|ip| ip.to_string()))
        .collect();
    let tls = server::tls::load(&config.tls, &names).context("TLS configuration")?;
    if let Some(id) = &tls {
        if id.self_signed {
            warn!("serving a self-signed certificate: browsers will warn; use --tls-cert in production");
        }
    }
    let tls_config = tls.as_ref().map(|id| id.server_config.clone());
    let metrics = Arc::new(Metrics::default());

    let turn = if config.turn.enabled {
        let handle = server::turn::start(&config.turn, tls_config.clone(), metrics.clone())
            .await
            .context("starting STUN/TURN")?;
        for a in &handle.udp {
            info!(target: "rendezvous", "STUN/TURN listening on udp {a}");
        }
        for a in &handle.tcp {
            info!(target: "rendezvous", "STUN/TURN listening on tcp {a}");
        }
        for a in &handle.tls {
            info!(target: "rendezvous", "TURN listening on tls {a}");
        }
        Some(handle)
    } else {
        None
    };

    let http = if config.signal.enabled {
        let handle = server::http::start(
            &config.signal,
            &config.turn,
            turn.is_some(),
            tls_config.clone(),
            metrics.clone(),
        )
        .await
        .context("starting the signaling server")?;
        info!(target: "rendezvous", "signaling and pages on http://{}", handle.http);
        if let Some(a) = handle.https {
            info!(target: "rendezvous", "signaling and pages on https://{a}");
        }
        Some(handle)
    } else {
        None
    };
    info!(target: "rendezvous", "ready");

    shutdown_signal().await;
    info!(target: "rendezvous", "shutting down");
    if let Some(h) = http {
        h.shutdown().await;
    }
    if let Some(t) = turn {
        t.shutdown().await;
    }
    info!(target: "rendezvous", "stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
