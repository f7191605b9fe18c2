//! A NAT lab on one machine, built from network namespaces by the test that uses it and torn down
//! when it is dropped (also when the test panics).
//!
//! ```text
//!                         internet (namespace "<p>inet", bridge br0, 203.0.113.0/24)
//!        ┌───────────────┬───────────┴─────┬──────────────────┬──────────────────┐
//!   server .10 + .11   router .21           router .22          router .23 ...
//!   (srv)              NAT kind per home    NAT kind per home   corporate firewall
//!                      LAN 192.168.N.0/24   ...                 (only TCP 443 out)
//!                      hosts .10, .11 ...
//! ```
//!
//! Every name is prefixed with a per-lab tag, so labs of parallel tests never collide, and every
//! address lives inside namespaces this lab created: no packet reaches another network.
#![allow(dead_code)]

use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// The public address of the STUN/TURN server and its RFC 5780 second address.
pub const SERVER_IP: &str = "203.0.113.10";
pub const SERVER_ALT_IP: &str = "203.0.113.11";

/// How a home router treats traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nat {
    /// Endpoint-independent mapping, address-and-port-dependent filtering (Linux MASQUERADE).
    PortRestrictedCone,
    /// Address-and-port-dependent mapping (MASQUERADE --random-fully).
    Symmetric,
    /// No NAT translation is involved in the path: UDP is dropped and only TCP to the server's
    /// port 443 leaves the network (a corporate firewall), with NAT.
    TcpOnly443,
}

pub struct Lab {
    tag: String,
    namespaces: Vec<String>,
    children: Vec<Child>,
    homes: u32,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn run(args: &[&str]) -> Output {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        args,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// True when this process may build namespaces (root); the lab tests need it.
pub fn require_root() {
    let uid = Command::new("id").arg("-u").output().expect("id -u");
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "the NAT lab needs root (network namespaces and iptables); run it via scripts/test as root"
    );
    for tool in ["ip", "iptables"] {
        let ok = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}"))
            .status()
            .unwrap();
        assert!(
            ok.success(),
            "{tool} is missing: apt-get install iproute2 iptables"
        );
    }
}

/// One host inside the lab.
#[derive(Debug, Clone)]
pub struct Host {
    pub ns: String,
    pub ip: String,
}

impl Host {
    /// A command that runs inside this host's namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns, program]);
        c
    }
}

/// A home network: its router and the hosts on its LAN.
#[derive(Debug, Clone)]
pub struct Home {
    pub router: Host,
    pub wan_ip: String,
    pub hosts: Vec<Host>,
}

impl Lab {
    /// The public segment with the server's namespace (two addresses, and a default route into
    /// a discarding interface as the real internet would have).
    pub fn new() -> Lab {
        require_root();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let tag = format!("rdv{}x{}", std::process::id() % 100_000, n);
        let mut lab = Lab {
            tag,
            namespaces: Vec::new(),
            children: Vec::new(),
            homes: 0,
        };
        let inet = lab.add_ns("inet");
        lab.ip(&inet, &["link", "add", "br0", "type", "bridge"]);
        lab.ip(&inet, &["link", "set", "br0", "up"]);
        let srv = lab.add_ns("srv");
        lab.link(&srv, "eth0", &inet, "srv");
        lab.ip(&inet, &["link", "set", "srv", "master", "br0", "up"]);
        lab.ip(
            &srv,
            &["addr", "add", &format!("{SERVER_IP}/24"), "dev", "eth0"],
        );
        lab.ip(
            &srv,
            &["addr", "add", &format!("{SERVER_ALT_IP}/24"), "dev", "eth0"],
        );
        lab.ip(&srv, &["link", "set", "eth0", "up"]);
        // The "rest of the internet": a veth pair whose far end is down, so sends succeed locally
        // and the packets vanish.
        lab.ip(
            &srv,
            &[
                "link", "add", "void", "type", "veth", "peer", "name", "void1",
            ],
        );
        lab.ip(&srv, &["link", "set", "void", "up"]);
        lab.ip(&srv, &["route", "add", "default", "dev", "void"]);
        lab
    }

    /// The prefix of every name this lab creates.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    pub fn server(&self) -> Host {
        Host {
            ns: self.name("srv"),
            ip: SERVER_IP.into(),
        }
    }

    fn name(&self, short: &str) -> String {
        format!("{}{}", self.tag, short)
    }

    fn add_ns(&mut self, short: &str) -> String {
        let ns = self.name(short);
        run(&["ip", "netns", "add", &ns]);
        self.namespaces.push(ns.clone());
        self.ip(&ns, &["link", "set", "lo", "up"]);
        ns
    }

    pub fn ip(&self, ns: &str, args: &[&str]) {
        let mut full = vec!["ip", "-n", ns];
        full.extend_from_slice(args);
        run(&full);
    }

    pub fn exec(&self, ns: &str, args: &[&str]) -> Output {
        let mut full = vec!["ip", "netns", "exec", ns];
        full.extend_from_slice(args);
        run(&full)
    }

    /// A veth pair: `a_if` inside `a`, `b_if` inside `b`.
    fn link(&self, a: &str, a_if: &str, b: &str, b_if: &str) {
        self.ip(
            a,
            &[
                "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", b,
            ],
        );
    }

    /// A home behind a router of the given kind, with `hosts` machines on its LAN.
    pub fn home(&mut self, nat: Nat, hosts: usize) -> Home {
        self.homes += 1;
        let h = self.homes;
        let inet = self.name("inet");
        let router = self.add_ns(&format!("r{h}"));
        let wan_ip = format!("203.0.113.{}", 20 + h);
        self.link(&router, "wan", &inet, &format!("r{h}"));
        self.ip(
            &inet,
            &["link", "set", &format!("r{h}"), "master", "br0", "up"],
        );
        self.ip(
            &router,
            &["addr", "add", &format!("{wan_ip}/24"), "dev", "wan"],
        );
        self.ip(&router, &["link", "set", "wan", "up"]);
        self.ip(&router, &["link", "add", "lan", "type", "bridge"]);
        self.ip(
            &router,
            &["addr", "add", &format!("192.168.{h}.1/24"), "dev", "lan"],
        );
        self.ip(&router, &["link", "set", "lan", "up"]);
        self.exec(&router, &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);

        let ipt = |args: &[&str]| {
            let mut full = vec!["iptables"];
            full.extend_from_slice(args);
            self.exec(&router, &full);
        };
        // A home router: forward lan->wan and replies back; nothing unsolicited from outside.
        ipt(&["-P", "FORWARD", "DROP"]);
        // With br_netfilter loaded, traffic between two hosts on the LAN bridge passes FORWARD
        // too; a home router switches it.
        ipt(&["-A", "FORWARD", "-i", "lan", "-o", "lan", "-j", "ACCEPT"]);
        ipt(&[
            "-A",
            "FORWARD",
            "-m",
            "conntrack",
            "--ctstate",
            "ESTABLISHED,RELATED",
            "-j",
            "ACCEPT",
        ]);
        ipt(&[
            "-A",
            "INPUT",
            "-i",
            "wan",
            "-m",
            "conntrack",
            "--ctstate",
            "ESTABLISHED,RELATED",
            "-j",
            "ACCEPT",
        ]);
        ipt(&["-A", "INPUT", "-i", "wan", "-j", "DROP"]);
        match nat {
            Nat::PortRestrictedCone => {
                ipt(&["-A", "FORWARD", "-i", "lan", "-o", "wan", "-j", "ACCEPT"]);
                ipt(&[
                    "-t",
                    "nat",
                    "-A",
                    "POSTROUTING",
                    "-o",
                    "wan",
                    "-j",
                    "MASQUERADE",
                ]);
            }
            Nat::Symmetric => {
                ipt(&["-A", "FORWARD", "-i", "lan", "-o", "wan", "-j", "ACCEPT"]);
                ipt(&[
                    "-t",
                    "nat",
                    "-A",
                    "POSTROUTING",
                    "-o",
                    "wan",
                    "-j",
                    "MASQUERADE",
                    "--random-fully",
                ]);
            }
            Nat::TcpOnly443 => {
                // TURN over TLS on 443, and the signaling server's HTTP port (an application's
                // web server is reachable from the office; its TURN traffic is what is at stake).
                for port in ["443", "8080"] {
                    ipt(&[
                        "-A", "FORWARD", "-i", "lan", "-o", "wan", "-p", "tcp", "-d", SERVER_IP,
                        "--dport", port, "-j", "ACCEPT",
                    ]);
                }
                ipt(&[
                    "-t",
                    "nat",
                    "-A",
                    "POSTROUTING",
                    "-o",
                    "wan",
                    "-j",
                    "MASQUERADE",
                ]);
            }
        }

        let mut home = Home {
            router: Host {
                ns: router.clone(),
                ip: wan_ip.clone(),
            },
            wan_ip,
            hosts: vec![],
        };
        for i in 0..hosts {
            let ns = self.add_ns(&format!("h{h}n{i}"));
            let ip = format!("192.168.{h}.{}", 10 + i);
            self.link(&ns, "eth0", &router, &format!("p{i}"));
            self.ip(
                &router,
                &["link", "set", &format!("p{i}"), "master", "lan", "up"],
            );
            self.ip(&ns, &["addr", "add", &format!("{ip}/24"), "dev", "eth0"]);
            self.ip(&ns, &["link", "set", "eth0", "up"]);
            self.ip(
                &ns,
                &["route", "add", "default", "via", &format!("192.168.{h}.1")],
            );
            home.hosts.push(Host { ns, ip });
        }
        home
    }

    /// Drop `percent`% of forwarded packets at a router, both ways (random loss).
    pub fn add_loss(&self, home: &Home, probability: f64) {
        let p = format!("{probability}");
        self.exec(
            &home.router.ns,
            &[
                "iptables",
                "-I",
                "FORWARD",
                "1",
                "-m",
                "statistic",
                "--mode",
                "random",
                "--probability",
                &p,
                "-j",
                "DROP",
            ],
        );
    }

    /// Start a process in a namespace; the lab kills it (by PID) when dropped.
    pub fn spawn(&mut self, host: &Host, args: &[&str]) -> u32 {
        let child = host
            .command(args[0])
            .args(&args[1..])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {args:?}: {e}"));
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// Stop a process this lab started.
    pub fn kill(&mut self, pid: u32) {
        let mut child = self.take_child(pid);
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Take a spawned child back (to read its output); the caller must wait for or kill it.
    pub fn take_child(&mut self, pid: u32) -> Child {
        let i = self
            .children
            .iter()
            .position(|c| c.id() == pid)
            .expect("a child of this lab");
        self.children.remove(i)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in self.namespaces.iter().rev() {
            // Deleting a namespace removes its interfaces, bridges and iptables rules.
            let _ = Command::new("ip").args(["netns", "delete", ns]).status();
        }
    }
}

/// The namespaces left whose names start with `tag` (for the leak check).
pub fn leftover_namespaces(tag: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(tag))
        .map(String::from)
        .collect()
}
