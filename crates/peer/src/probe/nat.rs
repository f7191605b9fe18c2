//! RFC 5780 §4.3 (mapping) and §4.4 (filtering) behaviour discovery over UDP.

use std::net::SocketAddr;
use std::time::Instant;

use serde::Serialize;
use tokio::net::UdpSocket;

use crate::binding::{self, BindingResponse};
use crate::transaction::{Retransmit, Transaction};

/// Sends of a test request before it counts as unanswered.
const TEST_SENDS: u32 = 3;

/// RFC 4787 §4.1 mapping behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mapping {
    /// The mapped address equals the local address.
    NoNat,
    EndpointIndependent,
    AddressDependent,
    AddressAndPortDependent,
    /// The server has no second address (no OTHER-ADDRESS), or a test went unanswered.
    Unknown,
}

/// RFC 4787 §5 filtering behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Filtering {
    EndpointIndependent,
    AddressDependent,
    AddressAndPortDependent,
    Unknown,
}

impl Mapping {
    pub fn as_str(self) -> &'static str {
        match self {
            Mapping::NoNat => "none (public address)",
            Mapping::EndpointIndependent => "endpoint-independent",
            Mapping::AddressDependent => "address-dependent",
            Mapping::AddressAndPortDependent => "address-and-port-dependent",
            Mapping::Unknown => "unknown (server has one address)",
        }
    }
}

impl Filtering {
    pub fn as_str(self) -> &'static str {
        match self {
            Filtering::EndpointIndependent => "endpoint-independent",
            Filtering::AddressDependent => "address-dependent",
            Filtering::AddressAndPortDependent => "address-and-port-dependent",
            Filtering::Unknown => "unknown (server has one address)",
        }
    }
}

/// The result of the behaviour tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NatBehaviour {
    pub mapping: Mapping,
    pub filtering: Filtering,
    pub other_address: Option<SocketAddr>,
}

/// One Binding transaction from `socket` to `server` (retransmitted over UDP).
pub(super) async fn binding(
    socket: &UdpSocket,
    server: SocketAddr,
    change: Option<(bool, bool)>,
) -> Result<BindingResponse, String> {
    let tid = stun::TransactionId(rand::random());
    let mut buf = Vec::new();
    let n = binding::request(&mut buf, tid, change);
    let mut t = Transaction::new(tid, buf[..n].to_vec(), false, TEST_SENDS, Instant::now());
    socket
        .send_to(&t.request, server)
        .await
        .map_err(|e| e.to_string())?;
    let mut rx = vec![0u8; 2048];
    loop {
        let wait = tokio::time::sleep_until(t.deadline().into());
        tokio::select! {
            r = socket.recv_from(&mut rx) => {
                let Ok((len, _from)) = r else { continue };
                // With CHANGE-REQUEST the answer comes from another address: match on the id.
                if let Ok(resp) = binding::parse_response(&rx[..len], tid) {
                    return Ok(resp);
                }
            }
            _ = wait => match t.handle_timeout(Instant::now()) {
                Retransmit::Resend => {
                    socket.send_to(&t.request, server).await.map_err(|e| e.to_string())?;
                }
                Retransmit::Wait => {}
                Retransmit::TimedOut => return Err("no Binding response".into()),
            },
        }
    }
}

/// RFC 5780 §4.3 and §4.4, given the answer to test I from the primary address.
pub(super) async fn classify(
    socket: &UdpSocket,
    primary: SocketAddr,
    first: BindingResponse,
) -> NatBehaviour {
    let local = socket.local_addr().ok();
    let Some(other) = first.other_address else {
        let mapping = if local == Some(first.mapped) {
            Mapping::NoNat
        } else {
            Mapping::Unknown
        };
        return NatBehaviour {
            mapping,
            filtering: Filtering::Unknown,
            other_address: None,
        };
    };
    // §4.3 test II: the alternate IP, the primary port.
    let mapping = if local == Some(first.mapped) {
        Mapping::NoNat
    } else {
        match binding(socket, SocketAddr::new(other.ip(), primary.port()), None).await {
            Ok(r2) if r2.mapped == first.mapped => Mapping::EndpointIndependent,
            // §4.3 test III: the alternate IP and port.
            Ok(r2) => match binding(socket, other, None).await {
                Ok(r3) if r3.mapped == r2.mapped => Mapping::AddressDependent,
                Ok(_) => Mapping::AddressAndPortDependent,
                Err(_) => Mapping::Unknown,
            },
            Err(_) => Mapping::Unknown,
        }
    };
    // §4.4 test II: ask for an answer from the other IP and port; test III: other port only.
    let filtering = match binding(socket, primary, Some((true, true))).await {
        Ok(_) => Filtering::EndpointIndependent,
        Err(_) => match binding(socket, primary, Some((false, true))).await {
            Ok(_) => Filtering::AddressDependent,
            Err(_) => Filtering::AddressAndPortDependent,
        },
    };
    NatBehaviour {
        mapping,
        filtering,
        other_address: Some(other),
    }
}
