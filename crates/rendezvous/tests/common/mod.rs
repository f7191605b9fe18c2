//! Starts the real `rendezvous` binary on ephemeral loopback ports and finds out where it listens
//! from its startup log.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running `rendezvous serve`, killed (by PID, it is our child) when dropped.
pub struct Server {
    child: Child,
    pub udp: Vec<SocketAddr>,
    pub tcp: Vec<SocketAddr>,
    pub tls: Vec<SocketAddr>,
    pub http: Option<SocketAddr>,
    pub log: mpsc::Receiver<String>,
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_rendezvous")
}

fn addr_after(line: &str, marker: &str) -> Option<SocketAddr> {
    let rest = &line[line.find(marker)? + marker.len()..];
    let token: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"')
        .collect();
    token.trim_end_matches('/').parse().ok()
}

impl Server {
    /// `serve` on 127.0.0.1 with ephemeral ports plus `extra` arguments.
    pub fn start(extra: &[&str]) -> Server {
        let mut args = vec![
            "serve",
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--http",
            "127.0.0.1:0",
        ];
        args.extend_from_slice(extra);
        Self::start_raw(&args)
    }

    pub fn start_raw(args: &[&str]) -> Server {
        Self::start_env(args, &[])
    }

    pub fn start_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(bin())
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn rendezvous");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            child,
            udp: vec![],
            tcp: vec![],
            tls: vec![],
            http: None,
            log: rx,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match server.log.recv_timeout(left) {
                Ok(l) => l,
                Err(_) => panic!(
                    "rendezvous did not become ready within 30 s (exit: {:?})",
                    server.child.try_wait()
                ),
            };
            eprintln!("server: {line}");
            if let Some(a) = addr_after(&line, "listening on udp ") {
                server.udp.push(a);
            } else if let Some(a) = addr_after(&line, "listening on tcp ") {
                server.tcp.push(a);
            } else if let Some(a) = addr_after(&line, "listening on tls ") {
                server.tls.push(a);
            } else if let Some(a) = addr_after(&line, "pages on http://") {
                server.http = Some(a);
            } else if line.contains("ready") {
                return server;
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// HTTP GET on the server; returns (status, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(self.http.expect("signaling is running"), path)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 GET (Connection: close).
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect http");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read http response");
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    let body = if text
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(&body)
    } else {
        body
    };
    (status, body)
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

/// Run a coturn tool under `timeout`, returning stdout+stderr. Fails the test, with an
/// instruction, when the tool is not installed.
pub fn coturn_tool(tool: &str, secs: u32, args: &[String]) -> String {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "{tool} not found: install coturn (scripts/test does it)"
    );
    let out = Command::new("timeout")
        .arg(secs.to_string())
        .arg(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {tool}: {e}"));
    let mut text = String::from_utf8_lossy(&out.stdout).to_string();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    text
}

/// The number after `key` in coturn output, e.g. `tot_recv_msgs=` → 20.
pub fn number_after(text: &str, key: &str) -> Option<u64> {
    let rest = &text[text.rfind(key)? + key.len()..];
    rest.trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect::<String>()
        .parse()
        .ok()
}
