//! Client addresses in logs: masked unless the operator asks for them (`--log-addresses`,
//! which calls [`set_log_addresses`], or `RENDEZVOUS_LOG_ADDRESSES=1`), so that logs can be
//! shared. IPv4 keeps its first three octets (`203.0.113.x`), IPv6 its first 48 bits
//! (`2001:db8:1::x`); the port is kept (it tells flows apart without identifying anyone).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::OnceLock;

static FULL_BY_FLAG: AtomicBool = AtomicBool::new(false);

/// Show client addresses in full in logs from now on (or mask them again).
pub fn set_log_addresses(full: bool) {
    FULL_BY_FLAG.store(full, Relaxed);
}

/// Displays a socket address, redacted unless the operator asked for full addresses.
pub struct Redacted(pub SocketAddr);

fn show_full() -> bool {
    static FULL: OnceLock<bool> = OnceLock::new();
    FULL_BY_FLAG.load(Relaxed)
        || *FULL.get_or_init(|| {
            std::env::var("RENDEZVOUS_LOG_ADDRESSES").is_ok_and(|v| v == "1" || v == "true")
        })
}

impl fmt::Display for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if show_full() {
            return write!(f, "{}", self.0);
        }
        write_masked(f, self.0)
    }
}

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn write_masked(f: &mut fmt::Formatter<'_>, addr: SocketAddr) -> fmt::Result {
    match addr.ip() {
        IpAddr::V4(ip) => {
            let o = ip.octets();
            write!(f, "{}.{}.{}.x:{}", o[0], o[1], o[2], addr.port())
        }
        IpAddr::V6(ip) => {
            let s = ip.segments();
            write!(f, "[{:x}:{:x}:{:x}::x]:{}", s[0], s[1], s[2], addr.port())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Masked(SocketAddr);
    impl fmt::Display for Masked {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write_masked(f, self.0)
        }
    }

    #[test]
    fn masks_the_host_part() {
        assert_eq!(
            Masked("203.0.113.77:5000".parse().unwrap()).to_string(),
            "203.0.113.x:5000"
        );
        assert_eq!(
            Masked("[2001:db8:1:2::5]:9".parse().unwrap()).to_string(),
            "[2001:db8:1::x]:9"
        );
    }
}
