//! The ICE server list handed to clients in `joined.ice_servers` and by `/api/ice-servers`
//! (`docs/protocol.md` §10): our STUN and TURN URLs with ephemeral TURN REST credentials
//! (draft-uberti-behave-turn-rest-00 §2.2), plus any `--ice-url`.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use signal::IceServer;

use crate::{SignalConfig, TurnConfig};

/// Everything needed to build an ICE server list; built once at startup.
#[derive(Debug, Clone)]
pub struct IcePlan {
    /// `--public-host` or `--external-ip`, normalised (IPv6 in brackets).
    fixed_host: Option<String>,
    turn_running: bool,
    stun_only: bool,
    port: u16,
    tls_port: u16,
    tls: bool,
    /// The first TURN REST secret: it signs every credential handed out.
    secret: Option<Vec<u8>>,
    ttl: Duration,
    extra_urls: Vec<String>,
}

impl IcePlan {
    /// `turn_running == false` is `--no-turn`: only `--ice-url` entries are listed.
    /// `tls` says whether a certificate is loaded, i.e. whether `turns:` is served.
    pub fn new(cfg: &SignalConfig, turn: &TurnConfig, turn_running: bool, tls: bool) -> Self {
        let fixed_host = cfg
            .public_host
            .as_deref()
            .and_then(normalise_host)
            .or_else(|| turn.external_ip.map(ip_host));
        IcePlan {
            fixed_host,
            turn_running,
            stun_only: turn.stun_only,
            port: turn.port,
            tls_port: turn.tls_port,
            tls,
            secret: turn
                .static_auth_secrets
                .first()
                .map(|s| s.as_bytes().to_vec()),
            ttl: cfg.ice_ttl,
            extra_urls: cfg.extra_ice_urls.clone(),
        }
    }

    /// Seconds the credentials stay valid.
    pub fn ttl_secs(&self) -> u64 {
        self.ttl.as_secs()
    }

    /// The list for `user` (the TURN REST user id: a peer id), reached through `request_host`
    /// (the request's `Host`, used when no public host is configured), at `now_unix`.
    pub fn servers(&self, request_host: Option<&str>, user: &str, now_unix: u64) -> Vec<IceServer> {
        let mut out = Vec::new();
        let credentials = self
            .secret
            .as_deref()
            .map(|s| turn::rest::issue(s, user, now_unix, self.ttl.as_secs()));
        let host = self
            .fixed_host
            .clone()
            .or_else(|| request_host.and_then(host_of_authority));
        if let (true, Some(host)) = (self.turn_running, host) {
            out.push(IceServer {
                urls: vec![format!("stun:{host}:{}", self.port)],
                username: None,
                credential: None,
            });
            if let (false, Some(c)) = (self.stun_only, &credentials) {
                let mut urls = vec![
                    format!("turn:{host}:{}?transport=udp", self.port),
                    format!("turn:{host}:{}?transport=tcp", self.port),
                ];
                if self.tls {
                    urls.push(format!("turns:{host}:{}?transport=tcp", self.tls_port));
                }
                out.push(IceServer {
                    urls,
                    username: Some(c.username.clone()),
                    credential: Some(c.password.clone()),
                });
            }
        }
        let (turn_urls, stun_urls): (Vec<String>, Vec<String>) = self
            .extra_urls
            .iter()
            .cloned()
            .partition(|u| u.starts_with("turn:") || u.starts_with("turns:"));
        if !stun_urls.is_empty() {
            out.push(IceServer {
                urls: stun_urls,
                username: None,
                credential: None,
            });
        }
        if !turn_urls.is_empty() {
            // An external TURN server given with --ice-url shares the REST secret.
            out.push(IceServer {
                urls: turn_urls,
                username: credentials.as_ref().map(|c| c.username.clone()),
                credential: credentials.as_ref().map(|c| c.password.clone()),
            });
        }
        out
    }
}

fn ip_host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// A configured host name or IP, as it goes into a URL; `None` when it is not a plausible host.
fn normalise_host(host: &str) -> Option<String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(ip_host(ip));
    }
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().ok().map(|ip| format!("[{ip}]"));
    }
    let plausible = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_');
    plausible.then(|| host.to_ascii_lowercase())
}

/// The host of an HTTP `Host` header (RFC 9110 §7.2: `uri-host [ ":" port ]`), port removed.
/// Anything that does not parse as a host is refused, so a client cannot inject text into the
/// URLs it is handed.
pub(crate) fn host_of_authority(authority: &str) -> Option<String> {
    let authority = authority.trim();
    if authority.starts_with('[') {
        let end = authority.find(']')?;
        let rest = &authority[end + 1..];
        if !(rest.is_empty() || rest.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        return normalise_host(&authority[..=end]);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if is_port(port) && !host.contains(':') => normalise_host(host),
        Some(_) => None,
        None => normalise_host(authority),
    }
}

fn is_port(s: &str) -> bool {
    !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(signal: SignalConfig, turn: TurnConfig, running: bool, tls: bool) -> IcePlan {
        IcePlan::new(&signal, &turn, running, tls)
    }

    fn turn_with_secret() -> TurnConfig {
        TurnConfig {
            static_auth_secrets: vec!["s1".into(), "s0".into()],
            ..TurnConfig::default()
        }
    }

    #[test]
    fn hosts_from_the_host_header() {
        assert_eq!(
            host_of_authority("example.com:8080").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            host_of_authority("Example.COM").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            host_of_authority("10.1.2.3:80").as_deref(),
            Some("10.1.2.3")
        );
        assert_eq!(host_of_authority("[::1]:8080").as_deref(), Some("[::1]"));
        assert_eq!(
            host_of_authority("[2001:db8::1]").as_deref(),
            Some("[2001:db8::1]")
        );
        for bad in [
            "", "a b", "x?y", "[::1", "[zz]:1", "h:port", "a:1:2", "[::1]x", "h/x",
        ] {
            assert_eq!(host_of_authority(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn full_list_with_tls_and_credentials_that_verify() {
        let p = plan(SignalConfig::default(), turn_with_secret(), true, true);
        let servers = p.servers(Some("rdv.example:8080"), "peer1", 1_000);
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[0].urls, ["stun:rdv.example:3478"]);
        assert_eq!(
            servers[1].urls,
            [
                "turn:rdv.example:3478?transport=udp",
                "turn:rdv.example:3478?transport=tcp",
                "turns:rdv.example:5349?transport=tcp",
            ]
        );
        let user = servers[1].username.clone().unwrap();
        assert_eq!(user, "4600:peer1");
        assert_eq!(
            servers[1].credential.as_deref(),
            Some(turn::rest::rest_password(b"s1", &user).as_str()),
            "the first secret signs"
        );
    }

    #[test]
    fn public_host_then_external_ip_then_host_header() {
        let turn = TurnConfig {
            external_ip: Some("2001:db8::7".parse().unwrap()),
            port: 3479,
            ..turn_with_secret()
        };
        let p = plan(SignalConfig::default(), turn.clone(), true, false);
        let s = p.servers(Some("ignored"), "u", 0);
        assert_eq!(s[0].urls, ["stun:[2001:db8::7]:3479"]);
        assert_eq!(s[1].urls.len(), 2, "no turns: without TLS");
        let cfg = SignalConfig {
            public_host: Some("turn.example.org".into()),
            ..SignalConfig::default()
        };
        let s = plan(cfg, turn, true, false).servers(None, "u", 0);
        assert_eq!(s[0].urls, ["stun:turn.example.org:3479"]);
        let s =
            plan(SignalConfig::default(), turn_with_secret(), true, false).servers(None, "u", 0);
        assert!(s.is_empty(), "no host known, no URL invented");
    }

    #[test]
    fn no_turn_lists_only_extra_urls_and_stun_only_has_no_relay() {
        let cfg = SignalConfig {
            extra_ice_urls: vec![
                "stun:stun.example.net:3478".into(),
                "turns:relay.example.net:443?transport=tcp".into(),
            ],
            ..SignalConfig::default()
        };
        let s = plan(cfg.clone(), turn_with_secret(), false, true).servers(Some("h"), "u", 0);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].urls, ["stun:stun.example.net:3478"]);
        assert_eq!(s[0].username, None);
        assert_eq!(s[1].urls, ["turns:relay.example.net:443?transport=tcp"]);
        assert!(s[1].credential.is_some(), "external TURN shares the secret");
        let turn = TurnConfig {
            stun_only: true,
            ..turn_with_secret()
        };
        let s = plan(SignalConfig::default(), turn, true, true).servers(Some("h"), "u", 0);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].urls, ["stun:h:3478"]);
    }
}
