//! Errors of the native peer's entry points.

/// Why a send, receive, stream, record or probe run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("signaling: {0}")]
    Signaling(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("WebRTC: {0}")]
    Rtc(String),
    #[error("ICE server: {0}")]
    IceServer(String),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("file transfer: {0}")]
    Transfer(String),
    #[error("media: {0}")]
    Media(String),
    #[error("{0}")]
    Usage(String),
}

impl From<str0m::RtcError> for PeerError {
    fn from(e: str0m::RtcError) -> Self {
        PeerError::Rtc(e.to_string())
    }
}
