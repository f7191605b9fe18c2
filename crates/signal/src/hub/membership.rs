//! Joining, resuming and leaving rooms (`docs/protocol.md` §6).

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::{Rng, RngCore};
use subtle::ConstantTimeEq;

use super::room::{sees, Room, RoomKind};
use super::{CloseReason, ConnId, Event, Hub, Peer};
use crate::message::{Join, Joined, PeerId, PeerInfo, ServerMessage, PROTOCOL_VERSION};
use crate::{token, ErrorCode};

/// Participant ids: 12 characters of `[0-9a-z]` (62 bits).
const ID_ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
const ID_LEN: usize = 12;

impl<R: RngCore> Hub<R> {
    /// `join`: checks, in order, that the connection is not joined yet, the resume token or the
    /// room token, the role against the room's kind, and the room's limits; then admits the
    /// participant, answers `joined` and tells everyone who sees it `peer-joined`.
    pub(super) fn on_join(&mut self, conn: ConnId, join: Join, unix: u64) {
        if self.conns.get(&conn).is_some_and(|c| c.peer.is_some()) {
            self.error(conn, ErrorCode::ALREADY_JOINED, "leave first", None);
            return;
        }
        if let Some(resume) = &join.resume {
            let resume = resume.clone();
            self.on_resume(conn, join, &resume);
            return;
        }
        if let Err(message) = self.check_token(&join, unix) {
            self.error(conn, ErrorCode::BAD_TOKEN, message, None);
            return;
        }
        if let Err((code, message)) = self.check_admission(&join) {
            self.error(conn, code, message, None);
            return;
        }

        let id = self.new_id();
        let seq = self.next_seq;
        self.next_seq += 1;
        let room_name: Arc<str> = match self.rooms.get_key_value(join.room.as_str()) {
            Some((name, _)) => name.clone(),
            None => Arc::from(join.room.as_str()),
        };
        let room = self
            .rooms
            .entry(room_name.clone())
            .or_insert_with(|| Room::new(RoomKind::for_role(join.role)));
        room.insert(seq, id.clone(), join.role);
        let visible = room.visible_to(join.role, seq);
        let resume_secret = self.new_secret();
        self.peers.insert(
            id.clone(),
            Peer {
                room: room_name,
                role: join.role,
                seq,
                conn: Some(conn),
                resume_secret: resume_secret.clone(),
                grace: None,
            },
        );
        if let Some(c) = self.conns.get_mut(&conn) {
            c.peer = Some(id.clone());
        }
        self.send_joined(conn, &id, join.room, join.role, &visible, &resume_secret);
        let announcement = ServerMessage::PeerJoined {
            peer: PeerInfo {
                id,
                role: join.role,
            },
        };
        for (other, _) in &visible {
            self.send_to_connected(other, announcement.clone());
        }
    }

    fn check_token(&self, join: &Join, unix: u64) -> Result<(), String> {
        if self.cfg.token_secrets.is_empty() {
            return Ok(());
        }
        let Some(t) = &join.token else {
            return Err("this server requires a room token".into());
        };
        token::verify_for(&self.cfg.token_secrets, t, &join.room, join.role, unix)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn check_admission(&self, join: &Join) -> Result<(), (ErrorCode, String)> {
        let Some(room) = self.rooms.get(join.room.as_str()) else {
            return Ok(());
        };
        if room.kind != RoomKind::for_role(join.role) {
            let kind = match room.kind {
                RoomKind::Mesh => "a peer room",
                RoomKind::Broadcast => "a broadcast room",
            };
            return Err((
                ErrorCode::ROLE_CONFLICT,
                format!("{kind} does not take role {}", join.role),
            ));
        }
        match join.role {
            crate::Role::Peer if room.len() >= self.cfg.max_peers_per_room => Err((
                ErrorCode::ROOM_FULL,
                format!("room has {} peers", room.len()),
            )),
            crate::Role::Publisher if room.has_publisher() => Err((
                ErrorCode::PUBLISHER_EXISTS,
                "this broadcast already has a publisher".into(),
            )),
            crate::Role::Viewer if room.viewers() >= self.cfg.max_viewers_per_broadcast => Err((
                ErrorCode::BROADCAST_FULL,
                format!("broadcast has {} viewers", room.viewers()),
            )),
            _ => Ok(()),
        }
    }

    /// `join` with `resume`: the token is `<id>.<secret>` from the last `joined`. The room
    /// token is not checked again: the secret proves the participant was admitted. A
    /// participant whose old connection is still open takes over from it (the old one is
    /// closed with `replaced`).
    fn on_resume(&mut self, conn: ConnId, join: Join, resume: &str) {
        let Some((id, secret)) = resume.split_once('.') else {
            self.error(conn, ErrorCode::BAD_RESUME, "malformed resume token", None);
            return;
        };
        let valid = self.peers.get(id).is_some_and(|p| {
            let secret_ok: bool = p.resume_secret.as_bytes().ct_eq(secret.as_bytes()).into();
            secret_ok && *p.room == *join.room && p.role == join.role
        });
        if !valid {
            self.error(
                conn,
                ErrorCode::BAD_RESUME,
                "unknown or expired resume token, or another room or role; join afresh",
                None,
            );
            return;
        }
        let id = PeerId::new(id);
        let new_secret = self.new_secret();
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let old_conn = peer.conn.replace(conn);
        let queued = peer.grace.take().map(|g| g.queue).unwrap_or_default();
        peer.resume_secret = new_secret.clone();
        let (role, seq, room_name) = (peer.role, peer.seq, peer.room.clone());
        if let Some(old) = old_conn {
            self.conns.remove(&old);
            self.events.push_back(Event::Close {
                conn: old,
                reason: CloseReason::Replaced,
            });
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.peer = Some(id.clone());
        }
        let visible = self
            .rooms
            .get(&room_name)
            .map(|r| r.visible_to(role, seq))
            .unwrap_or_default();
        self.send_joined(conn, &id, join.room, role, &visible, &new_secret);
        // Signals from participants who left meanwhile are dropped: `joined.peers` no longer
        // lists them, so an answer could go nowhere.
        for (from, data) in queued {
            let still_here = self
                .peers
                .get(&from)
                .is_some_and(|p| p.room == room_name && sees(role, p.role));
            if still_here {
                self.send(conn, ServerMessage::Signal { from, data });
            }
        }
    }

    /// `leave`: the participant is gone at once (no grace period); the connection stays open
    /// and may join again.
    pub(super) fn on_leave(&mut self, conn: ConnId) {
        let Some(id) = self.conns.get_mut(&conn).and_then(|c| c.peer.take()) else {
            self.error(conn, ErrorCode::NOT_JOINED, "not in a room", None);
            return;
        };
        self.remove_peer(&id);
    }

    /// Removes a participant for good and tells everyone who saw it `peer-left`.
    pub(super) fn remove_peer(&mut self, id: &PeerId) {
        let Some(peer) = self.peers.remove(id) else {
            return;
        };
        if let Some(c) = peer.conn.and_then(|c| self.conns.get_mut(&c)) {
            c.peer = None;
        }
        let Some(room) = self.rooms.get_mut(&peer.room) else {
            return;
        };
        room.remove(peer.seq);
        let visible = room.visible_to(peer.role, peer.seq);
        if room.is_empty() {
            self.rooms.remove(&peer.room);
        }
        let gone = ServerMessage::PeerLeft { id: id.clone() };
        for (other, _) in &visible {
            self.send_to_connected(other, gone.clone());
        }
    }

    fn send_joined(
        &mut self,
        conn: ConnId,
        id: &PeerId,
        room: String,
        role: crate::Role,
        visible: &[(PeerId, crate::Role)],
        resume_secret: &str,
    ) {
        let joined = Joined {
            v: PROTOCOL_VERSION,
            id: id.clone(),
            room,
            role,
            peers: visible
                .iter()
                .map(|(id, role)| PeerInfo {
                    id: id.clone(),
                    role: *role,
                })
                .collect(),
            ice_servers: Vec::new(),
            ice_ttl: self.cfg.ice_ttl.as_secs(),
            resume: format!("{id}.{resume_secret}"),
        };
        self.send(conn, ServerMessage::Joined(joined));
    }

    /// Membership news goes only to connected participants: one in its grace period gets the
    /// current list in `joined` when it resumes.
    fn send_to_connected(&mut self, id: &PeerId, message: ServerMessage) {
        if let Some(conn) = self.peers.get(id).and_then(|p| p.conn) {
            self.send(conn, message);
        }
    }

    fn new_id(&mut self) -> PeerId {
        loop {
            let id: String = (0..ID_LEN)
                .map(|_| char::from(ID_ALPHABET[self.rng.gen_range(0..ID_ALPHABET.len())]))
                .collect();
            let id = PeerId::new(id);
            if !self.peers.contains_key(&id) {
                return id;
            }
        }
    }

    /// 128 random bits, base64url.
    fn new_secret(&mut self) -> String {
        let mut bytes = [0u8; 16];
        self.rng.fill_bytes(&mut bytes);
        URL_SAFE_NO_PAD.encode(bytes)
    }
}
