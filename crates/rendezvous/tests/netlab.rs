//! The NAT lab (network namespaces): what coturn's independent clients and `rendezvous` itself
//! see from behind each kind of router. Needs root.

mod common;
mod lab;

use std::time::Duration;

use lab::{Lab, Nat, SERVER_ALT_IP, SERVER_IP};

/// Start `rendezvous serve` in the lab's server namespace with both addresses.
fn start_server(lab: &mut Lab, extra: &[&str]) -> u32 {
    let server = lab.server();
    let mut args = vec![
        common::bin(),
        "serve",
        "--bind",
        SERVER_IP,
        "--alt-ip",
        SERVER_ALT_IP,
        "--http",
        "203.0.113.10:8080",
        "--allow-peer",
        "203.0.113.0/24",
        "--static-auth-secret",
        "lab-secret",
    ];
    args.extend_from_slice(extra);
    let pid = lab.spawn(&server, &args);
    // Wait until the server answers STUN from inside its namespace.
    for _ in 0..100 {
        let out = server
            .command("timeout")
            .args(["1", "turnutils_stunclient", "-p", "3478", SERVER_IP])
            .output()
            .expect("turnutils_stunclient (install coturn)");
        if String::from_utf8_lossy(&out.stdout).contains("reflexive addr") {
            return pid;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the server in the lab did not answer STUN within 10 s");
}

fn natdiscovery(host: &lab::Host) -> String {
    let out = host
        .command("timeout")
        .args(["10", "turnutils_natdiscovery", "-m", "-f", SERVER_IP])
        .output()
        .expect("turnutils_natdiscovery");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn coturn_natdiscovery_classifies_each_home_through_rendezvous() {
    let mut lab = Lab::new();
    let cone = lab.home(Nat::PortRestrictedCone, 1);
    let symmetric = lab.home(Nat::Symmetric, 1);
    start_server(&mut lab, &["--no-signal"]);

    let out = natdiscovery(&cone.hosts[0]);
    assert!(
        out.contains("NAT with Endpoint Independent Mapping"),
        "cone mapping: {out}"
    );
    assert!(
        out.contains("NAT with Address and Port Dependent Filtering"),
        "cone filtering: {out}"
    );
    assert!(
        out.contains(&format!("reflexive addr: {}", cone.wan_ip)),
        "reflexive is the router: {out}"
    );

    let out = natdiscovery(&symmetric.hosts[0]);
    assert!(
        out.contains("NAT with Address and Port Dependent Mapping"),
        "symmetric mapping: {out}"
    );
}

#[test]
fn a_lab_leaves_no_namespace_behind_even_after_a_panic() {
    let tag = std::sync::Mutex::new(String::new());
    let result = std::panic::catch_unwind(|| {
        let mut lab = Lab::new();
        *tag.lock().unwrap() = lab.tag().to_string();
        lab.home(Nat::Symmetric, 2);
        assert_eq!(
            lab::leftover_namespaces(lab.tag()).len(),
            6,
            "inet, srv, router and two hosts"
        );
        panic!("a failing test");
    });
    assert!(result.is_err());
    let tag = tag.into_inner().unwrap();
    assert!(!tag.is_empty());
    assert_eq!(lab::leftover_namespaces(&tag), Vec::<String>::new());
}

/// What one native peer printed with `--json`: its exit status, the selected pair, any error.
#[derive(Debug, Default)]
struct PeerRun {
    ok: bool,
    local_type: String,
    remote_type: String,
    relay_protocol: String,
    sha256: String,
    error: String,
}

fn parse_run(out: std::process::Output) -> PeerRun {
    let mut run = PeerRun {
        ok: out.status.success(),
        ..Default::default()
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        match v["event"].as_str() {
            Some("connected") | Some("pair-changed") => {
                run.local_type = s("local_type");
                run.remote_type = s("remote_type");
                run.relay_protocol = s("relay_protocol");
            }
            Some("done") => run.sha256 = s("sha256"),
            _ => {}
        }
    }
    run.error = String::from_utf8_lossy(&out.stderr)
        .lines()
        .find(|l| l.starts_with("Error:"))
        .unwrap_or_else(|| {
            if out.status.code() == Some(124) {
                "killed by timeout"
            } else {
                ""
            }
        })
        .to_string();
    run
}

/// `receive` on `b`, `send` of `file` on `a`, in a fresh room; both bounded by `timeout`.
fn transfer(
    a: &lab::Host,
    b: &lab::Host,
    room: &str,
    file: &std::path::Path,
    secs: u32,
) -> (PeerRun, PeerRun) {
    let server = format!("http://{SERVER_IP}:8080");
    let out_dir = std::env::temp_dir().join(format!("rdv-lab-{}-{room}", std::process::id()));
    std::fs::create_dir_all(&out_dir).unwrap();
    let t = secs.to_string();
    let common_args = [
        "--room",
        room,
        "--server",
        &server,
        "--json",
        "--insecure",
        "--connect-timeout",
        "25",
    ];
    let mut receiver = b.command("timeout");
    receiver.env("RUST_BACKTRACE", "0");
    receiver
        .args([
            t.as_str(),
            common::bin(),
            "receive",
            "--out",
            out_dir.to_str().unwrap(),
        ])
        .args(common_args);
    let receiver = std::thread::spawn(move || receiver.output().expect("run receive"));
    std::thread::sleep(Duration::from_millis(500));
    let mut sender = a.command("timeout");
    sender.env("RUST_BACKTRACE", "0");
    sender
        .args([t.as_str(), common::bin(), "send", file.to_str().unwrap()])
        .args(common_args);
    let sent = parse_run(sender.output().expect("run send"));
    let received = parse_run(receiver.join().unwrap());
    let _ = std::fs::remove_dir_all(&out_dir);
    (sent, received)
}

fn is_direct(t: &str) -> bool {
    matches!(t, "host" | "srflx" | "prflx")
}

#[test]
fn native_peers_take_the_expected_path_for_every_pair_of_networks() {
    let mut lab = Lab::new();
    let cone_a = lab.home(Nat::PortRestrictedCone, 2);
    let cone_b = lab.home(Nat::PortRestrictedCone, 1);
    let sym_a = lab.home(Nat::Symmetric, 1);
    let sym_b = lab.home(Nat::Symmetric, 1);
    let office = lab.home(Nat::TcpOnly443, 1);
    let lossy = lab.home(Nat::PortRestrictedCone, 1);
    let lossy_sym = lab.home(Nat::Symmetric, 1);
    lab.add_loss(&lossy, 0.05);
    lab.add_loss(&lossy_sym, 0.05);
    let server_pid = start_server(
        &mut lab,
        &[
            "--tls-port",
            "443",
            "--self-signed",
            "--public-host",
            SERVER_IP,
        ],
    );

    let dir = std::env::temp_dir().join(format!("rdv-lab-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("payload.bin");
    let data: Vec<u8> = (0..1_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&file, &data).unwrap();

    type Check = fn(&PeerRun, &PeerRun) -> Result<(), String>;
    let cases: Vec<(&str, &lab::Host, &lab::Host, &str, Check)> = vec![
        (
            "same LAN",
            &cone_a.hosts[0],
            &cone_a.hosts[1],
            "host",
            |s, r| {
                (s.local_type == "host" && s.remote_type == "host" && r.local_type == "host")
                    .then_some(())
                    .ok_or("expected a host pair".into())
            },
        ),
        (
            "cone ↔ cone",
            &cone_a.hosts[0],
            &cone_b.hosts[0],
            "srflx (no relay)",
            |s, r| {
                let direct = is_direct(&s.local_type)
                    && is_direct(&s.remote_type)
                    && is_direct(&r.local_type);
                let reflexive = [&s.local_type, &s.remote_type, &r.local_type, &r.remote_type]
                    .iter()
                    .any(|t| *t == "srflx" || *t == "prflx");
                (direct && reflexive)
                    .then_some(())
                    .ok_or("expected a direct reflexive pair".into())
            },
        ),
        (
            "cone ↔ symmetric",
            &cone_b.hosts[0],
            &sym_a.hosts[0],
            "relay",
            |s, r| {
                (s.local_type == "relay" || s.remote_type == "relay" || r.local_type == "relay")
                    .then_some(())
                    .ok_or("expected a relay in the pair".into())
            },
        ),
        (
            "symmetric ↔ symmetric",
            &sym_a.hosts[0],
            &sym_b.hosts[0],
            "relay",
            |s, r| {
                (s.local_type == "relay" || s.remote_type == "relay" || r.local_type == "relay")
                    .then_some(())
                    .ok_or("expected a relay in the pair".into())
            },
        ),
        (
            "UDP-blocked office ↔ cone",
            &office.hosts[0],
            &cone_b.hosts[0],
            "relay over TLS on 443",
            |s, _| {
                (s.local_type == "relay" && s.relay_protocol == "tls")
                    .then_some(())
                    .ok_or("expected the office side on a relay reached over TLS".into())
            },
        ),
        (
            "cone ↔ symmetric, 5% loss at both routers",
            &lossy.hosts[0],
            &lossy_sym.hosts[0],
            "connects",
            |_, _| Ok(()),
        ),
    ];

    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for (i, (name, a, b, expected, check)) in cases.iter().enumerate() {
        let (s, r) = transfer(a, b, &format!("m{i}"), &file, 90);
        let verdict = if !(s.ok && r.ok) {
            Err(format!(
                "transfer failed: send: {} / receive: {}",
                s.error, r.error
            ))
        } else if s.sha256.is_empty() || s.sha256 != r.sha256 {
            Err(format!("hashes differ: {} vs {}", s.sha256, r.sha256))
        } else {
            check(&s, &r)
        };
        rows.push(format!(
            "| {name} | {expected} | {} / {} {} | {} / {} | {} |",
            s.local_type,
            s.remote_type,
            if s.relay_protocol.is_empty() {
                String::new()
            } else {
                format!("(relay over {})", s.relay_protocol)
            },
            r.local_type,
            r.remote_type,
            match &verdict {
                Ok(()) => "pass".to_string(),
                Err(e) => format!("FAIL: {e}"),
            }
        ));
        if let Err(e) = verdict {
            failures.push(format!("{name}: {e} (sender {s:?}, receiver {r:?})"));
        }
    }

    // Without TURN nothing can carry symmetric ↔ symmetric: the peers must say so clearly.
    lab.kill(server_pid);
    start_server(&mut lab, &["--stun-only"]);
    let (s, r) = transfer(&sym_a.hosts[0], &sym_b.hosts[0], "noturn", &file, 60);
    let clear = !s.ok && !r.ok && s.error.contains("no connection came up");
    rows.push(format!(
        "| symmetric ↔ symmetric, TURN off | clear failure | `{}` | `{}` | {} |",
        s.error.lines().last().unwrap_or_default(),
        r.error.lines().last().unwrap_or_default(),
        if clear { "pass" } else { "FAIL" }
    ));
    if !clear {
        failures.push(format!(
            "TURN off: expected a clear failure, got sender {s:?}, receiver {r:?}"
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);

    write_native_matrix(&rows);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Replace the native section of docs/nat-matrix.md with this run's rows.
fn write_native_matrix(rows: &[String]) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/nat-matrix.md");
    let table = format!(
        "<!-- native-matrix:start -->\n\
         Native peers (`rendezvous send` → `rendezvous receive`, 1 MB, SHA-256 checked), generated by \
         `cargo test -p rendezvous --test netlab` on {}.\n\n\
         | networks | expected | sender: local / remote | receiver: local / remote | result |\n\
         |---|---|---|---|---|\n{}\n<!-- native-matrix:end -->",
        std::process::Command::new("date").arg("-u").arg("+%Y-%m-%d").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default(),
        rows.join("\n")
    );
    let old = std::fs::read_to_string(&path).unwrap_or_else(|_| "# NAT matrix\n".into());
    let new = match (
        old.find("<!-- native-matrix:start -->"),
        old.find("<!-- native-matrix:end -->"),
    ) {
        (Some(a), Some(b)) if b > a => {
            format!(
                "{}{}{}",
                &old[..a],
                table,
                &old[b + "<!-- native-matrix:end -->".len()..]
            )
        }
        _ => format!("{}\n## Native peers\n\n{}\n", old.trim_end(), table),
    };
    std::fs::write(&path, new).expect("write docs/nat-matrix.md");
}
