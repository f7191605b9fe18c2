//! The relay hot path (RFC 8656 §10, §12): client data to peers and peer data to clients.
//! Every step is an O(1) lookup; nothing allocates; peer data is framed in place in the
//! driver's buffer.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use rand::RngCore;
use stun::{Attribute, AttributeType, ChannelData, Message, MAGIC_COOKIE};

use super::allocation::Family;
use super::types::{FiveTuple, RelayId, ToClient, ToPeer};
use super::Server;

/// Bytes the driver leaves free before a peer payload: enough for the largest header the
/// core writes in front of it (a Data indication to an IPv6 peer: 20 + 24 + 4).
pub const PEER_HEADROOM: usize = 48;
/// Bytes the driver leaves free after a peer payload for padding to 4.
pub const PEER_TAILROOM: usize = 4;

/// Largest payload that still fits a ChannelData length field and a Data indication.
const MAX_PAYLOAD: usize = 65535 - PEER_HEADROOM;

/// Channel numbers accepted in ChannelBind and ChannelData. RFC 8656 §12 narrowed the range
/// to 0x4000-0x4FFF; RFC 5766 allowed 0x4000-0x7FFF, and clients written to it (coturn's,
/// among others) pick numbers from the whole old range, so those are still honoured.
pub const CHANNEL_NUMBERS: std::ops::RangeInclusive<u16> = 0x4000..=0x7FFF;

/// Whether a first byte starts ChannelData (0x40-0x7F, see [`CHANNEL_NUMBERS`]).
pub fn is_channel_data(first_byte: u8) -> bool {
    (0x40..=0x7F).contains(&first_byte)
}

/// A ChannelData frame: (channel, payload range). Trailing bytes (padding) are ignored.
pub fn parse_channel_data(buf: &[u8]) -> Option<(u16, std::ops::Range<usize>)> {
    let [c0, c1, l0, l1, ..] = *buf else {
        return None;
    };
    let channel = u16::from_be_bytes([c0, c1]);
    let len = usize::from(u16::from_be_bytes([l0, l1]));
    (CHANNEL_NUMBERS.contains(&channel) && buf.len() >= 4 + len).then_some((channel, 4..4 + len))
}

/// TCP/TLS framing (RFC 8656 §12.5) over the whole channel range: `Ok(Some(n))` when the
/// next frame is `n` bytes and complete in `buf`, `Ok(None)` when more is needed, `Err(())`
/// when the stream is neither STUN nor ChannelData.
#[allow(clippy::result_unit_err)]
pub fn stream_frame_len(buf: &[u8]) -> Result<Option<usize>, ()> {
    match buf {
        [first, _, l0, l1, ..] if is_channel_data(*first) => {
            let n = (4 + usize::from(u16::from_be_bytes([*l0, *l1])) + 3) & !3;
            Ok((buf.len() >= n).then_some(n))
        }
        [first, ..] if is_channel_data(*first) => Ok(None),
        _ => stun::stream_frame_len(buf),
    }
}

impl Server {
    /// RFC 8656 §10.2 Send indication: needs an allocation on this 5-tuple, XOR-PEER-ADDRESS
    /// and DATA, a relay of the peer's family and a permission for the peer's IP; anything
    /// else is silently discarded (indications are never answered).
    pub(super) fn handle_send(
        &mut self,
        now: Instant,
        from: FiveTuple,
        msg: &Message<'_>,
    ) -> Option<ToPeer> {
        // RFC 8489 §6.3: an indication with unknown comprehension-required attributes is
        // discarded (an empty Vec does not allocate).
        if !msg.unknown_required(super::request::TURN_KNOWN).is_empty() {
            return self.drop_packet();
        }
        let peer = match msg.attribute(AttributeType::XOR_PEER_ADDRESS) {
            Some(Ok(Attribute::XorPeerAddress(p))) => p,
            _ => return self.drop_packet(),
        };
        let Some(data) = msg.get(AttributeType::DATA) else {
            return self.drop_packet();
        };
        let start = data.offset + 4;
        let payload = start..start + data.value.len();
        self.relay_to_peer(now, from, peer, payload)
    }

    /// RFC 8656 §12.4 ChannelData from a client: a live channel on this 5-tuple's allocation
    /// and a live permission for its peer.
    pub(super) fn handle_channel_data(
        &mut self,
        now: Instant,
        from: FiveTuple,
        packet: &[u8],
    ) -> Option<ToPeer> {
        let Some((channel, payload)) = parse_channel_data(packet) else {
            return self.drop_packet();
        };
        let Some(&key) = self.by_five_tuple.get(&from) else {
            return self.drop_packet();
        };
        let peer = self
            .allocations
            .get(key.index, key.generation)
            .and_then(|a| a.channels.get(&channel))
            .filter(|c| c.active && c.expires > now)
            .map(|c| c.peer);
        let Some(peer) = peer else {
            return self.drop_packet();
        };
        self.relay_to_peer(now, from, peer, payload)
    }

    fn relay_to_peer(
        &mut self,
        now: Instant,
        from: FiveTuple,
        peer: SocketAddr,
        payload: std::ops::Range<usize>,
    ) -> Option<ToPeer> {
        let Some(&key) = self.by_five_tuple.get(&from) else {
            return self.drop_packet();
        };
        let Some(alloc) = self.allocations.get_mut(key.index, key.generation) else {
            return self.drop_packet();
        };
        if alloc.pending.is_some() || !alloc.permitted(peer.ip(), now) {
            return self.drop_packet();
        }
        let Some(relay) = alloc.relay(Family::of(&peer)).map(|r| r.id) else {
            return self.drop_packet();
        };
        if !alloc.charge(now, payload.len()) {
            return self.drop_packet();
        }
        self.stats.relayed_packets += 1;
        self.stats.relayed_bytes += payload.len() as u64;
        Some(ToPeer {
            relay,
            peer,
            payload,
        })
    }

    /// A datagram from `peer` arrived on relay `relay`. Its `len` bytes sit at
    /// `buf[PEER_HEADROOM..]`, and `buf` has at least [`PEER_TAILROOM`] bytes after them.
    /// RFC 8656 §10.3/§12.5: without a permission for the peer's IP it is dropped; with a
    /// channel bound to the peer it becomes ChannelData (padded over TCP/TLS), otherwise a
    /// Data indication. The header is written in place; the result says which bytes of
    /// `buf` to send to which client.
    pub fn handle_peer(
        &mut self,
        now: Instant,
        relay: RelayId,
        peer: SocketAddr,
        buf: &mut [u8],
        len: usize,
    ) -> Option<ToClient> {
        if len > MAX_PAYLOAD || buf.len() < PEER_HEADROOM + len + PEER_TAILROOM {
            return self.drop_packet();
        }
        let peer = normalise_peer(peer);
        let Some(entry) = self.relays.get(relay.index, relay.generation).copied() else {
            return self.drop_packet();
        };
        let Some(alloc) = self
            .allocations
            .get_mut(entry.alloc.index, entry.alloc.generation)
        else {
            return self.drop_packet();
        };
        if alloc.pending.is_some() || !alloc.permitted(peer.ip(), now) {
            return self.drop_packet();
        }
        if !alloc.charge(now, len) {
            return self.drop_packet();
        }
        let client = alloc.five_tuple;
        let channel = alloc
            .channel_by_peer
            .get(&peer)
            .and_then(|n| alloc.channels.get(n).map(|c| (*n, c)))
            .filter(|(_, c)| c.active && c.expires > now)
            .map(|(n, _)| n);
        let end = PEER_HEADROOM + len;
        let range = match channel {
            Some(number) => {
                let start = PEER_HEADROOM - 4;
                let mut header = [0u8; 4];
                ChannelData::write_header(&mut header, number, len as u16);
                buf[start..PEER_HEADROOM].copy_from_slice(&header);
                let mut stop = end;
                if client.transport.is_stream() {
                    let padded = (len + 3) & !3;
                    buf[end..PEER_HEADROOM + padded].fill(0);
                    stop = PEER_HEADROOM + padded;
                }
                start..stop
            }
            None => {
                let mut tid = [0u8; 12];
                self.rng.fill_bytes(&mut tid);
                write_data_indication(buf, peer, len, &tid)
            }
        };
        self.stats.relayed_packets += 1;
        self.stats.relayed_bytes += len as u64;
        Some(ToClient { client, range })
    }

    fn drop_packet<T>(&mut self) -> Option<T> {
        self.stats.dropped_packets += 1;
        None
    }
}

/// An IPv6 socket may report IPv4 peers as mapped addresses; permissions hold plain ones.
fn normalise_peer(peer: SocketAddr) -> SocketAddr {
    match peer.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), peer.port()),
            None => peer,
        },
        IpAddr::V4(_) => peer,
    }
}

/// Write a Data indication (RFC 8656 §10.3: XOR-PEER-ADDRESS, DATA) in front of the payload
/// at `buf[PEER_HEADROOM..PEER_HEADROOM + len]`, padding after it. Returns the message range.
fn write_data_indication(
    buf: &mut [u8],
    peer: SocketAddr,
    len: usize,
    tid: &[u8; 12],
) -> std::ops::Range<usize> {
    let addr_len = if peer.is_ipv4() { 8 } else { 20 };
    let start = PEER_HEADROOM - (20 + 4 + addr_len + 4);
    let padded = (len + 3) & !3;
    let total = 20 + 4 + addr_len + 4 + padded;
    let body = (total - 20) as u16;
    let mut w = start;
    let mut put = |bytes: &[u8]| {
        buf[w..w + bytes.len()].copy_from_slice(bytes);
        w += bytes.len();
    };
    // Header: Data indication (0x0017), length, magic cookie, transaction id.
    put(&0x0017u16.to_be_bytes());
    put(&body.to_be_bytes());
    put(&MAGIC_COOKIE.to_be_bytes());
    put(tid);
    // XOR-PEER-ADDRESS (RFC 8489 §14.2 encoding).
    put(&AttributeType::XOR_PEER_ADDRESS.0.to_be_bytes());
    put(&(addr_len as u16).to_be_bytes());
    let xport = peer.port() ^ (MAGIC_COOKIE >> 16) as u16;
    match peer.ip() {
        IpAddr::V4(ip) => {
            put(&[0, 0x01]);
            put(&xport.to_be_bytes());
            put(&(u32::from(ip) ^ MAGIC_COOKIE).to_be_bytes());
        }
        IpAddr::V6(ip) => {
            put(&[0, 0x02]);
            put(&xport.to_be_bytes());
            let mut mask = [0u8; 16];
            mask[..4].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
            mask[4..].copy_from_slice(tid);
            let mut o = ip.octets();
            for (b, m) in o.iter_mut().zip(mask) {
                *b ^= m;
            }
            put(&o);
        }
    }
    // DATA header; the payload is already in place.
    put(&AttributeType::DATA.0.to_be_bytes());
    put(&(len as u16).to_be_bytes());
    debug_assert_eq!(w, PEER_HEADROOM);
    let end = PEER_HEADROOM + len;
    buf[end..PEER_HEADROOM + padded].fill(0);
    start..start + total
}
