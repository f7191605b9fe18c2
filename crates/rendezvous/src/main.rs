//! `rendezvous`: STUN, TURN and WebRTC signaling in one program.

mod options;
mod serve;
mod settings;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::options::{LogFormat, ServeOptions};

#[derive(Parser)]
#[command(
    name = "rendezvous",
    version,
    about = "STUN, TURN and WebRTC signaling in one program",
    long_about = "Rendezvous gives WebRTC applications everything outside the browser: a STUN \
                  server, a TURN relay, a signaling server with rooms over WebSocket, and web \
                  pages for calls, broadcasts, file sharing and ICE diagnostics.\n\n\
                  Every serve flag can also be set in a TOML file (--config, same names without \
                  the dashes prefix, e.g. `max-port = 60000`) and in an environment variable \
                  (RENDEZVOUS_MAX_PORT=60000). Flags win over the environment, which wins over \
                  the file."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at startup: the size of the serve variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the STUN/TURN server and the signaling server (with the web pages).
    Serve {
        /// TOML file with serve settings (same names as the flags).
        #[arg(long, env = "RENDEZVOUS_CONFIG")]
        config: Option<PathBuf>,
        #[command(flatten)]
        options: ServeOptions,
    },
    /// Send files to the first peer in a room (a browser on the Share page or `receive`).
    Send(peer::SendOptions),
    /// Receive files from a room and check their SHA-256.
    Receive(peer::ReceiveOptions),
    /// Broadcast a VP8 (IVF) video and Opus (Ogg) audio file to a room's viewers.
    Stream(peer::StreamOptions),
    /// Watch a broadcast and save its video to an IVF file.
    Record(peer::RecordOptions),
    /// Diagnose the network: candidates by type, NAT behaviour, TURN over UDP, TCP and TLS.
    Probe(peer::ProbeOptions),
    /// Print a room token for servers run with --signal-secret.
    Token {
        /// Room the token admits to.
        #[arg(long)]
        room: String,
        /// Role the token admits as: peer, publisher or viewer.
        #[arg(long, default_value = "peer")]
        role: String,
        /// Seconds the token stays valid.
        #[arg(long, default_value_t = 86_400)]
        ttl: u64,
        /// The server's --signal-secret (first one, if it has several).
        #[arg(long, env = "RENDEZVOUS_SIGNAL_SECRET", value_delimiter = ',')]
        secret: Vec<String>,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config, options } => {
            let options = match &config {
                Some(path) => options.or_file(settings::read_file(path)?),
                None => options,
            };
            init_logs(
                options.log_format.unwrap_or(LogFormat::Text),
                options.log_level.as_deref(),
            );
            let config = settings::resolve(options)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(serve::run(config))
        }
        Command::Send(o) => peer_command(|| async { peer::send::run(o).await.map(drop) }),
        Command::Receive(o) => peer_command(|| async { peer::receive::run(o).await.map(drop) }),
        Command::Stream(o) => peer_command(|| async { peer::stream::run(o).await.map(drop) }),
        Command::Record(o) => peer_command(|| async { peer::record::run(o).await.map(drop) }),
        Command::Probe(o) => peer_command(|| async { peer::probe::run(o).await.map(drop) }),
        Command::Token {
            room,
            role,
            ttl,
            secret,
        } => {
            let secret = secret
                .first()
                .context("--secret (or RENDEZVOUS_SIGNAL_SECRET) is required")?;
            let role: signal::Role = role.parse().map_err(|e| anyhow::anyhow!("--role: {e}"))?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .context("system clock before 1970")?
                .as_secs();
            println!(
                "{}",
                signal::token::mint(secret.as_bytes(), &room, role, now + ttl)
            );
            Ok(())
        }
    }
}

/// Run a native-peer command on a runtime; its own output goes to stdout (text or `--json`),
/// failures to stderr with a non-zero exit status.
fn peer_command<F, Fut>(f: F) -> Result<()>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<(), peer::PeerError>>,
{
    init_logs(LogFormat::Text, Some("warn"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(f()).map_err(anyhow::Error::from)
}

fn init_logs(format: LogFormat, level: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    let filter = match level {
        Some(l) => EnvFilter::new(l),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
