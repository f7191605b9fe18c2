//! The binary's command line: help, configuration errors, tokens, clean shutdown.

mod common;

use std::process::Command;

use common::{bin, Server};

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(bin())
        .args(args)
        .output()
        .expect("run rendezvous");
    let mut text = String::from_utf8_lossy(&out.stdout).to_string();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn serve_help_explains_every_flag() {
    let (ok, help) = run(&["serve", "--help"]);
    assert!(ok, "{help}");
    for flag in [
        "--bind",
        "--port",
        "--alt-ip",
        "--realm",
        "--external-ip",
        "--config",
        "--user",
        "--static-auth-secret",
        "--allow-peer",
        "--deny-peer",
        "--min-port",
        "--max-port",
        "--relay-ip",
        "--tls-cert",
        "--tls-key",
        "--http",
        "--no-turn",
        "--no-signal",
        "--signal-secret",
        "--log-format",
    ] {
        assert!(help.contains(flag), "serve --help does not mention {flag}");
    }
}

#[test]
fn an_invalid_peer_range_stops_startup_with_a_clear_message() {
    let (ok, text) = run(&[
        "serve",
        "--bind",
        "127.0.0.1",
        "--port",
        "0",
        "--http",
        "127.0.0.1:0",
        "--allow-peer",
        "10.0.0.0/33",
    ]);
    assert!(!ok, "startup should fail: {text}");
    assert!(
        text.contains("10.0.0.0/33"),
        "the message names the bad range: {text}"
    );
}

#[test]
fn a_bad_config_file_names_the_problem() {
    let dir = std::env::temp_dir().join(format!("rdv-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(&path, "prot = 3478\n").unwrap();
    let (ok, text) = run(&["serve", "--config", path.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        text.contains("unknown field") && text.contains("prot"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn settings_come_from_file_and_environment() {
    let dir = std::env::temp_dir().join(format!("rdv-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ok.toml");
    std::fs::write(
        &path,
        "bind = [\"127.0.0.1\"]\nport = 0\nhttp = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let server = Server::start_env(
        &["serve", "--config", path.to_str().unwrap()],
        &[("RENDEZVOUS_NO_TURN", "true")],
    );
    assert!(
        server.udp.is_empty(),
        "RENDEZVOUS_NO_TURN from the environment is honoured"
    );
    assert!(
        server.http.unwrap().ip().is_loopback(),
        "http from the file is honoured"
    );
    let (status, body) = server.get("/healthz");
    assert_eq!(status, 200, "{body}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn token_requires_a_secret_and_prints_one() {
    let (ok, text) = run(&["token", "--room", "r1", "--role", "viewer", "--secret", "k"]);
    assert!(ok, "{text}");
    assert!(!text.trim().is_empty() && !text.contains(' '));
    let (ok, text) = run(&["token", "--room", "r1"]);
    assert!(!ok);
    assert!(text.contains("secret"), "{text}");
    let (ok, text) = run(&["token", "--room", "r1", "--role", "king", "--secret", "k"]);
    assert!(!ok, "{text}");
}

#[cfg(unix)]
#[test]
fn sigterm_shuts_down_cleanly() {
    let server = Server::start(&[]);
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(server.pid().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match server
            .log
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
        {
            Ok(line) if line.contains("stopped") => break,
            Ok(_) => continue,
            Err(_) => panic!("no clean shutdown after SIGTERM"),
        }
    }
}
