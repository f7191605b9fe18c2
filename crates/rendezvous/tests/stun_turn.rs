//! `rendezvous serve` as a whole, driven by clients nobody here wrote (coturn's tools): STUN
//! Binding, and TURN allocations with the credentials the signaling server hands out.

mod common;

use common::{coturn_tool, number_after, Server};

/// The `ice_servers` TURN entry from /api/ice-servers: (username, credential).
fn ice_credentials(server: &Server) -> (String, String) {
    let (status, body) = server.get("/api/ice-servers");
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("ice-servers JSON");
    let servers = json["ice_servers"].as_array().expect("ice_servers array");
    let turn = servers
        .iter()
        .find(|s| s["username"].is_string())
        .unwrap_or_else(|| panic!("no TURN entry with credentials in {body}"));
    let urls = turn["urls"].as_array().unwrap();
    assert!(
        urls.iter()
            .any(|u| u.as_str().unwrap().starts_with("turn:")),
        "{body}"
    );
    (
        turn["username"].as_str().unwrap().into(),
        turn["credential"].as_str().unwrap().into(),
    )
}

fn uclient(server: &Server, user: &str, pass: &str, peer_port: u16, extra: &[&str]) -> String {
    let port = server.udp[0].port();
    let mut args: Vec<String> = ["-n", "20", "-l", "120", "-z", "5", "-c"]
        .map(String::from)
        .to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(
        [
            "-u",
            user,
            "-w",
            pass,
            "-e",
            "127.0.0.1",
            "-r",
            &peer_port.to_string(),
            "-p",
            &port.to_string(),
            "127.0.0.1",
        ]
        .map(String::from),
    );
    coturn_tool("turnutils_uclient", 60, &args)
}

struct EchoPeer(std::process::Child);
impl Drop for EchoPeer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn echo_peer() -> (EchoPeer, u16) {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new("turnutils_peer")
        .args(["-L", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("turnutils_peer (install coturn)");
    std::thread::sleep(std::time::Duration::from_millis(300));
    (EchoPeer(child), port)
}

#[test]
fn stunclient_learns_its_reflexive_address_from_serve() {
    let server = Server::start(&[]);
    let out = coturn_tool(
        "turnutils_stunclient",
        20,
        &[
            "-p".into(),
            server.udp[0].port().to_string(),
            "127.0.0.1".into(),
        ],
    );
    assert!(out.contains("UDP reflexive addr: 127.0.0.1:"), "{out}");
}

#[test]
fn credentials_from_the_signaling_server_allocate_on_the_builtin_turn() {
    let server = Server::start(&["--allow-peer", "127.0.0.0/8"]);
    let (user, pass) = ice_credentials(&server);
    let (_peer, peer_port) = echo_peer();
    let out = uclient(&server, &user, &pass, peer_port, &[]);
    assert_eq!(number_after(&out, "tot_send_msgs="), Some(20), "{out}");
    assert_eq!(number_after(&out, "tot_recv_msgs="), Some(20), "{out}");
    assert_eq!(number_after(&out, "Total lost packets "), Some(0), "{out}");

    // A wrong password is refused: nothing is echoed.
    let out = uclient(&server, &user, "not-the-password", peer_port, &[]);
    assert_ne!(
        number_after(&out, "tot_recv_msgs=").unwrap_or(0),
        20,
        "{out}"
    );
}

#[test]
fn expired_ice_credentials_are_refused() {
    let server = Server::start(&["--allow-peer", "127.0.0.0/8", "--ice-ttl", "1"]);
    let (user, pass) = ice_credentials(&server);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let (_peer, peer_port) = echo_peer();
    let out = uclient(&server, &user, &pass, peer_port, &[]);
    assert_eq!(
        number_after(&out, "tot_recv_msgs=").unwrap_or(0),
        0,
        "expired credentials relayed: {out}"
    );
}
