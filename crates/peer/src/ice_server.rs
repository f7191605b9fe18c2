//! ICE server lists as the signaling server hands them out (`joined.ice_servers`,
//! `GET /api/ice-servers`), and their `stun:`/`turn:`/`turns:` URLs (RFC 7064, RFC 7065).

use crate::turn_client::TurnTransport;

pub use signal::IceServer;

/// A parsed ICE server URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IceUrl {
    /// RFC 7064: `stun:host[:port]`.
    Stun { host: String, port: u16 },
    /// RFC 7065: `turn:host[:port][?transport=udp|tcp]`, `turns:host[:port]` (TLS).
    Turn {
        host: String,
        port: u16,
        transport: TurnTransport,
    },
}

/// Why an ICE server URL was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IceUrlError {
    #[error("unknown scheme in {0:?} (expected stun:, stuns:, turn: or turns:)")]
    Scheme(String),
    #[error("no host in {0:?}")]
    NoHost(String),
    #[error("bad port in {0:?}")]
    Port(String),
    #[error("unsupported transport in {0:?}")]
    Transport(String),
}

impl IceUrl {
    pub fn parse(url: &str) -> Result<IceUrl, IceUrlError> {
        let (scheme, rest) = url
            .split_once(':')
            .ok_or_else(|| IceUrlError::Scheme(url.to_owned()))?;
        let (hostport, query) = match rest.split_once('?') {
            Some((h, q)) => (h, Some(q)),
            None => (rest, None),
        };
        let scheme = scheme.to_ascii_lowercase();
        let secure = matches!(scheme.as_str(), "stuns" | "turns");
        let default_port = if secure { 5349 } else { 3478 };
        let (host, port) = split_host_port(hostport, default_port, url)?;
        match scheme.as_str() {
            "stun" | "stuns" => Ok(IceUrl::Stun { host, port }),
            "turn" | "turns" => {
                let transport = match query.and_then(|q| q.strip_prefix("transport=")) {
                    None if secure => TurnTransport::Tls,
                    None => TurnTransport::Udp,
                    Some(t) if t.eq_ignore_ascii_case("tcp") && secure => TurnTransport::Tls,
                    Some(t) if t.eq_ignore_ascii_case("tcp") => TurnTransport::Tcp,
                    Some(t) if t.eq_ignore_ascii_case("udp") && !secure => TurnTransport::Udp,
                    Some(_) => return Err(IceUrlError::Transport(url.to_owned())),
                };
                Ok(IceUrl::Turn {
                    host,
                    port,
                    transport,
                })
            }
            _ => Err(IceUrlError::Scheme(url.to_owned())),
        }
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`.
fn split_host_port(s: &str, default_port: u16, url: &str) -> Result<(String, u16), IceUrlError> {
    let port = |p: &str| {
        p.parse::<u16>()
            .map_err(|_| IceUrlError::Port(url.to_owned()))
    };
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or_else(|| IceUrlError::NoHost(url.to_owned()))?;
        match after.strip_prefix(':') {
            Some(p) => (h, port(p)?),
            None if after.is_empty() => (h, default_port),
            None => return Err(IceUrlError::Port(url.to_owned())),
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, port(p)?),
            None => (s, default_port),
        }
    };
    if host.is_empty() {
        return Err(IceUrlError::NoHost(url.to_owned()));
    }
    Ok((host.to_owned(), port))
}

/// `--ice-server URL` with optional `--ice-username` / `--ice-credential`.
pub fn from_flags(
    urls: &[String],
    username: Option<&str>,
    credential: Option<&str>,
) -> Vec<IceServer> {
    if urls.is_empty() {
        return Vec::new();
    }
    vec![IceServer {
        urls: urls.to_vec(),
        username: username.map(str::to_owned),
        credential: credential.map(str::to_owned),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_urls_the_server_hands_out() {
        assert_eq!(
            IceUrl::parse("stun:127.0.0.1:3478"),
            Ok(IceUrl::Stun {
                host: "127.0.0.1".into(),
                port: 3478
            })
        );
        assert_eq!(
            IceUrl::parse("turn:example.org?transport=tcp"),
            Ok(IceUrl::Turn {
                host: "example.org".into(),
                port: 3478,
                transport: TurnTransport::Tcp
            })
        );
        assert_eq!(
            IceUrl::parse("turns:[::1]:5349?transport=tcp"),
            Ok(IceUrl::Turn {
                host: "::1".into(),
                port: 5349,
                transport: TurnTransport::Tls
            })
        );
        assert_eq!(
            IceUrl::parse("turns:h"),
            Ok(IceUrl::Turn {
                host: "h".into(),
                port: 5349,
                transport: TurnTransport::Tls
            })
        );
        assert_eq!(
            IceUrl::parse("turn:h:1?transport=udp"),
            Ok(IceUrl::Turn {
                host: "h".into(),
                port: 1,
                transport: TurnTransport::Udp
            })
        );
    }

    #[test]
    fn rejects_what_it_cannot_use() {
        assert!(matches!(
            IceUrl::parse("http://x"),
            Err(IceUrlError::Scheme(_))
        ));
        assert!(matches!(
            IceUrl::parse("stun:"),
            Err(IceUrlError::NoHost(_))
        ));
        assert!(matches!(
            IceUrl::parse("stun:h:99999"),
            Err(IceUrlError::Port(_))
        ));
        assert!(matches!(
            IceUrl::parse("turn:h?transport=sctp"),
            Err(IceUrlError::Transport(_))
        ));
        assert!(matches!(
            IceUrl::parse("nothing"),
            Err(IceUrlError::Scheme(_))
        ));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in ".{0,40}") {
            let _ = IceUrl::parse(&s);
        }
    }
}
