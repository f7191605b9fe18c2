//! The NAT lab (network namespaces): what coturn's independent clients and `rendezvous` itself
//! see from behind each kind of router. Needs root.

mod common;
mod lab;

use std::time::Duration;

use lab::{Lab, Nat, SERVER_ALT_IP, SERVER_IP};

/// Start `rendezvous serve` in the lab's server namespace with both addresses.
fn start_server(lab: &mut Lab, extra: &[&str]) {
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
    lab.spawn(&server, &args);
    // Wait until the server answers STUN from inside its namespace.
    for _ in 0..100 {
        let out = server
            .command("timeout")
            .args(["1", "turnutils_stunclient", "-p", "3478", SERVER_IP])
            .output()
            .expect("turnutils_stunclient (install coturn)");
        if String::from_utf8_lossy(&out.stdout).contains("reflexive addr") {
            return;
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
