//! `GET /api/ice-servers` over a minimal HTTP/1.1 client (one request, `Connection: close`).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::ice_server::IceServer;
use crate::signaling::ServerUrl;
use crate::PeerError;

/// Largest response accepted.
const MAX_RESPONSE: usize = 1 << 20;

#[derive(serde::Deserialize)]
struct IceServersResponse {
    ice_servers: Vec<IceServer>,
}

/// The ICE servers (with fresh TURN credentials) the signaling server hands out.
pub(super) async fn ice_servers(
    server: &ServerUrl,
    tls: Arc<rustls::ClientConfig>,
) -> Result<Vec<IceServer>, PeerError> {
    let err = |m: String| PeerError::Signaling(format!("GET /api/ice-servers: {m}"));
    let tcp = tokio::time::timeout(
        Duration::from_secs(5),
        TcpStream::connect((server.host.as_str(), server.port)),
    )
    .await
    .map_err(|_| err("connect timed out".into()))?
    .map_err(|e| err(e.to_string()))?;
    let body = if server.secure {
        let name = rustls::pki_types::ServerName::try_from(server.host.clone())
            .map_err(|e| err(e.to_string()))?;
        let s = tokio_rustls::TlsConnector::from(tls)
            .connect(name, tcp)
            .await
            .map_err(|e| err(e.to_string()))?;
        get(s, server).await
    } else {
        get(tcp, server).await
    }
    .map_err(err)?;
    let parsed: IceServersResponse =
        serde_json::from_slice(&body).map_err(|e| err(e.to_string()))?;
    Ok(parsed.ice_servers)
}

async fn get<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    server: &ServerUrl,
) -> Result<Vec<u8>, String> {
    let req = format!(
        "GET /api/ice-servers HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
        server.authority()
    );
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    tokio::time::timeout(
        Duration::from_secs(5),
        (&mut s).take(MAX_RESPONSE as u64).read_to_end(&mut raw),
    )
    .await
    .map_err(|_| "response timed out".to_owned())?
    .map_err(|e| e.to_string())?;
    parse_response(&raw)
}

/// Status line, headers, then a body (plain or chunked).
fn parse_response(raw: &[u8]) -> Result<Vec<u8>, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| "incomplete response".to_owned())?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| "bad headers".to_owned())?;
    let body = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("server answered {status:?}"));
    }
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if !chunked {
        return Ok(body.to_vec());
    }
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| "bad chunk".to_owned())?;
        let size_text = std::str::from_utf8(&rest[..eol]).map_err(|_| "bad chunk".to_owned())?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| "bad chunk size".to_owned())?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if rest.len() < size + 2 {
            return Err("truncated chunk".into());
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_chunked_bodies() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(parse_response(plain).unwrap(), b"{}");
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap(), b"{\"a\":1}");
        assert!(parse_response(b"HTTP/1.1 404 Not Found\r\n\r\n").is_err());
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err()
        );
        assert!(parse_response(b"garbage").is_err());
    }
}
