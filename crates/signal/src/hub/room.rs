//! A room's membership and who sees whom (`docs/protocol.md` §6).

use std::collections::BTreeMap;

use crate::{PeerId, Role};

/// What a room is for; fixed by the role of its first participant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RoomKind {
    /// `peer` participants only; everyone sees everyone.
    Mesh,
    /// One `publisher` and any number of `viewer`s; viewers see only the publisher.
    Broadcast,
}

impl RoomKind {
    pub(crate) fn for_role(role: Role) -> RoomKind {
        match role {
            Role::Peer => RoomKind::Mesh,
            Role::Publisher | Role::Viewer => RoomKind::Broadcast,
        }
    }
}

/// Whether a participant in `observer` role sees (is told about, and may signal) one in
/// `target` role. The relation is symmetric, which is what makes `peer-joined`, `peer-left`
/// and signal permission agree.
pub(crate) fn sees(observer: Role, target: Role) -> bool {
    matches!(
        (observer, target),
        (Role::Peer, Role::Peer)
            | (Role::Publisher, Role::Viewer)
            | (Role::Viewer, Role::Publisher)
    )
}

#[derive(Debug)]
pub(crate) struct Room {
    pub(crate) kind: RoomKind,
    /// Every participant, connected or in its resume grace period, keyed by join sequence so
    /// that iteration is in join order and removal is O(log n).
    members: BTreeMap<u64, (PeerId, Role)>,
    publisher: Option<(u64, PeerId)>,
    viewers: usize,
}

impl Room {
    pub(crate) fn new(kind: RoomKind) -> Self {
        Room {
            kind,
            members: BTreeMap::new(),
            publisher: None,
            viewers: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.members.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub(crate) fn has_publisher(&self) -> bool {
        self.publisher.is_some()
    }

    pub(crate) fn viewers(&self) -> usize {
        self.viewers
    }

    pub(crate) fn insert(&mut self, seq: u64, id: PeerId, role: Role) {
        match role {
            Role::Publisher => self.publisher = Some((seq, id.clone())),
            Role::Viewer => self.viewers += 1,
            Role::Peer => {}
        }
        self.members.insert(seq, (id, role));
    }

    pub(crate) fn remove(&mut self, seq: u64) {
        if let Some((_, role)) = self.members.remove(&seq) {
            match role {
                Role::Publisher => self.publisher = None,
                Role::Viewer => self.viewers -= 1,
                Role::Peer => {}
            }
        }
    }

    /// The participants a participant in `role` sees, in join order, without `except` (itself).
    /// Costs O(visible), so a viewer joining a room of thousands touches only the publisher.
    pub(crate) fn visible_to(&self, role: Role, except: u64) -> Vec<(PeerId, Role)> {
        match role {
            Role::Viewer => self
                .publisher
                .iter()
                .filter(|(seq, _)| *seq != except)
                .map(|(_, id)| (id.clone(), Role::Publisher))
                .collect(),
            Role::Peer | Role::Publisher => self
                .members
                .iter()
                .filter(|(seq, (_, r))| **seq != except && sees(role, *r))
                .map(|(_, m)| m.clone())
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visibility_follows_roles() {
        let mut b = Room::new(RoomKind::Broadcast);
        b.insert(1, PeerId::new("v1"), Role::Viewer);
        b.insert(2, PeerId::new("pub"), Role::Publisher);
        b.insert(3, PeerId::new("v2"), Role::Viewer);
        let names = |v: Vec<(PeerId, Role)>| -> Vec<String> {
            v.into_iter().map(|(id, _)| id.to_string()).collect()
        };
        assert_eq!(names(b.visible_to(Role::Viewer, 1)), ["pub"]);
        assert_eq!(names(b.visible_to(Role::Publisher, 2)), ["v1", "v2"]);
        assert_eq!(b.viewers(), 2);
        b.remove(2);
        assert!(!b.has_publisher());
        assert!(b.visible_to(Role::Viewer, 1).is_empty());

        let mut m = Room::new(RoomKind::Mesh);
        for (seq, id) in [(5, "a"), (6, "b"), (7, "c")] {
            m.insert(seq, PeerId::new(id), Role::Peer);
        }
        assert_eq!(names(m.visible_to(Role::Peer, 6)), ["a", "c"]);
        assert!(!sees(Role::Viewer, Role::Viewer));
        assert!(!sees(Role::Peer, Role::Viewer));
    }
}
