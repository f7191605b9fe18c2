//! Turns [`ServeOptions`] (flags, environment, TOML file) into the server's [`Config`], checking
//! everything that can be checked before a socket is opened.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use server::Config;

use crate::options::ServeOptions;

/// Read `path` as a TOML file of serve options (same names as the flags).
pub fn read_file(path: &Path) -> Result<ServeOptions> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
}

/// Parse `NAME:PASSWORD`.
fn parse_user(entry: &str, origin: &str) -> Result<(String, String)> {
    match entry.split_once(':') {
        Some((name, password)) if !name.is_empty() && !password.is_empty() => {
            Ok((name.to_string(), password.to_string()))
        }
        _ => bail!("{origin}: user {entry:?} is not NAME:PASSWORD"),
    }
}

/// Read a users file: one `NAME:PASSWORD` per line, blank lines and `#` comments ignored.
pub fn read_users_file(path: &Path) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading users file {}", path.display()))?;
    text.lines()
        .enumerate()
        .map(|(i, line)| (i, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
        .map(|(i, line)| parse_user(line, &format!("{}:{}", path.display(), i + 1)))
        .collect()
}

/// Resolve options into a [`Config`]; defaults come from `Config::default()`.
pub fn resolve(o: ServeOptions) -> Result<Config> {
    let mut c = Config::default();
    let t = &mut c.turn;
    t.enabled = !o.no_turn;
    t.stun_only = o.stun_only;
    if !o.bind.is_empty() {
        t.bind = o.bind;
    }
    macro_rules! set {
        ($dst:expr, $src:expr) => {
            if let Some(v) = $src {
                $dst = v;
            }
        };
    }
    set!(t.port, o.port);
    set!(t.tls_port, o.tls_port);
    t.alt_ip = o.alt_ip;
    t.alt_port = o.alt_port;
    set!(t.realm, o.realm);
    t.external_ip = o.external_ip;
    t.relay_ip = o.relay_ip;
    t.relay_ip6 = o.relay_ip6;
    set!(t.min_port, o.min_port);
    set!(t.max_port, o.max_port);
    for u in &o.users {
        t.users.push(parse_user(u, "--user")?);
    }
    if let Some(path) = &o.users_file {
        t.users.extend(read_users_file(path)?);
    }
    t.static_auth_secrets = o.static_auth_secret;
    t.allow_peers = o.allow_peer;
    t.deny_peers = o.deny_peer;
    set!(t.max_allocations, o.max_allocations);
    set!(t.max_allocations_per_user, o.max_allocations_per_user);
    set!(t.max_permissions_per_allocation, o.max_permissions);
    set!(t.max_bps_per_allocation, o.max_bps);
    if let Some(s) = o.max_lifetime {
        t.max_lifetime = Duration::from_secs(s);
        t.default_lifetime = t.default_lifetime.min(t.max_lifetime);
    }
    t.software = o.software;
    set!(t.workers, o.workers);

    if t.min_port == 0 || t.min_port > t.max_port {
        bail!(
            "relay port range {}-{} is empty or starts at 0",
            t.min_port,
            t.max_port
        );
    }
    if t.realm.is_empty() {
        bail!("--realm must not be empty");
    }
    if t.static_auth_secrets.iter().any(|s| s.is_empty()) {
        bail!("--static-auth-secret must not be empty");
    }
    if let (Some(alt), Some(first)) = (t.alt_ip, t.bind.first()) {
        if alt == *first {
            bail!("--alt-ip {alt} must differ from the primary address");
        }
    }

    c.tls.cert = o.tls_cert;
    c.tls.key = o.tls_key;
    c.tls.self_signed = o.self_signed;
    if c.tls.self_signed && c.tls.cert.is_some() {
        bail!("--self-signed and --tls-cert are mutually exclusive");
    }

    let s = &mut c.signal;
    s.enabled = !o.no_signal;
    set!(s.http, o.http);
    set!(s.https, o.https);
    s.signal_secrets = o.signal_secret;
    if let Some(v) = o.ice_ttl {
        if v == 0 {
            bail!("--ice-ttl must be at least 1 second");
        }
        s.ice_ttl = Duration::from_secs(v);
    }
    s.public_host = o.public_host;
    s.extra_ice_urls = o.ice_url;
    s.allowed_origins = o.allowed_origin;
    set!(s.max_message_bytes, o.max_message_bytes);
    set!(s.max_messages_per_second, o.max_messages_per_second);
    set!(s.max_peers_per_room, o.max_peers_per_room);
    set!(s.max_viewers_per_broadcast, o.max_viewers);
    set!(s.max_connections, o.max_connections);
    set!(s.send_queue, o.send_queue);
    if let Some(v) = o.resume_grace {
        s.resume_grace = Duration::from_secs(v);
    }
    if let Some(v) = o.ping_interval {
        if v == 0 {
            bail!("--ping-interval must be at least 1 second");
        }
        s.ping_interval = Duration::from_secs(v);
    }
    if s.max_message_bytes < 1024 {
        bail!("--max-message-bytes must be at least 1024");
    }
    if s.send_queue == 0 || s.max_peers_per_room < 2 {
        bail!("--send-queue must be positive and --max-peers-per-room at least 2");
    }
    c.log_addresses = o.log_addresses;
    if !c.turn.enabled && !c.signal.enabled {
        bail!("--no-turn and --no-signal together leave nothing to serve");
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        o: ServeOptions,
    }

    fn parse(args: &[&str]) -> ServeOptions {
        Cli::try_parse_from(std::iter::once("serve").chain(args.iter().copied()))
            .unwrap()
            .o
    }

    #[test]
    fn defaults_need_no_configuration() {
        let c = resolve(ServeOptions::default()).unwrap();
        assert!(c.turn.enabled && c.signal.enabled);
        assert_eq!(c.turn.port, 3478);
        assert_eq!(c.signal.http.port(), 8080);
        assert!(c.turn.static_auth_secrets.is_empty());
    }

    #[test]
    fn command_line_wins_over_file_and_file_over_default() {
        let file: ServeOptions = toml::from_str(
            "port = 4000\nrealm = \"file.example\"\nuser = [\"a:1\"]\nallow-peer = [\"10.0.0.0/8\"]\nno-signal = true\n",
        )
        .unwrap();
        let cli = parse(&["--port", "5000", "--user", "b:2", "--user", "c:3"]);
        let c = resolve(cli.or_file(file)).unwrap();
        assert_eq!(c.turn.port, 5000);
        assert_eq!(c.turn.realm, "file.example");
        assert_eq!(
            c.turn.users,
            vec![("b".into(), "2".into()), ("c".into(), "3".into())]
        );
        assert_eq!(c.turn.allow_peers, vec!["10.0.0.0/8".to_string()]);
        assert!(!c.signal.enabled);
        assert_eq!(c.turn.min_port, 49152);
    }

    #[test]
    fn bad_values_fail_with_a_message() {
        let err = |args: &[&str]| resolve(parse(args)).unwrap_err().to_string();
        assert!(err(&["--user", "nopassword"]).contains("NAME:PASSWORD"));
        assert!(err(&["--min-port", "60000", "--max-port", "50000"]).contains("port range"));
        assert!(err(&["--no-turn", "--no-signal"]).contains("nothing to serve"));
        assert!(err(&["--ice-ttl", "0"]).contains("ice-ttl"));
        let unknown = toml::from_str::<ServeOptions>("prot = 1")
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("unknown field"), "{unknown}");
    }

    #[test]
    fn users_file_skips_comments_and_reports_line_numbers() {
        let dir = std::env::temp_dir().join(format!("rdv-users-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users");
        std::fs::write(&path, "# operators\nalice:s3cret\n\nbob:pw:with:colons\n").unwrap();
        let users = read_users_file(&path).unwrap();
        assert_eq!(users[0], ("alice".into(), "s3cret".into()));
        assert_eq!(users[1], ("bob".into(), "pw:with:colons".into()));
        std::fs::write(&path, "alice:ok\nbroken\n").unwrap();
        let e = read_users_file(&path).unwrap_err().to_string();
        assert!(e.contains(":2"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
