//! The JSON messages of the signaling protocol (`docs/protocol.md` §4 and §5).
//!
//! Every WebSocket text frame carries one JSON object with a `type`. Parsing happens once, at the
//! edge ([`ClientMessage::parse`], [`ServerMessage::parse`]); each failure maps to a stable
//! [`ErrorCode`] through [`ParseError::code`]. Unknown fields are ignored so that either side can
//! add optional fields without a version bump; duplicate fields are rejected.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::ErrorCode;

/// The protocol version this crate speaks, sent as `joined.v`.
pub const PROTOCOL_VERSION: u32 = 1;

/// Longest room name, in bytes of UTF-8.
pub const MAX_ROOM_BYTES: usize = 128;

/// What a participant does in its room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A member of a mesh room: sees and may signal every other peer.
    Peer,
    /// The one sender of a broadcast room: sees and may signal every viewer.
    Publisher,
    /// A receiver in a broadcast room: sees and may signal only the publisher.
    Viewer,
}

impl Role {
    /// The role named by its wire text.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "peer" => Some(Role::Peer),
            "publisher" => Some(Role::Publisher),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }

    /// The wire text, e.g. `"viewer"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Peer => "peer",
            Role::Publisher => "publisher",
            Role::Viewer => "viewer",
        }
    }
}

/// A role name that is not `peer`, `publisher` or `viewer`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}; expected peer, publisher or viewer")]
pub struct UnknownRole(pub String);

impl std::str::FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Role, UnknownRole> {
        Role::parse(s).ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A participant id, chosen by the server and unique among live participants of the server.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PeerId(String);

impl PeerId {
    pub fn new(id: impl Into<String>) -> Self {
        PeerId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::borrow::Borrow<str> for PeerId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// The opaque payload of a `signal`: any JSON value except `null`, forwarded byte for byte.
#[derive(Clone, Serialize)]
#[serde(transparent)]
pub struct SignalData(Box<RawValue>);

impl SignalData {
    /// Wraps JSON text; fails when it is not exactly one JSON value or is `null`.
    pub fn from_json(json: &str) -> Result<SignalData, ParseError> {
        let raw = RawValue::from_string(json.to_owned()).map_err(|e| ParseError::from_serde(&e))?;
        if raw.get() == "null" {
            return Err(ParseError::BadMessage(
                "signal.data must not be null".into(),
            ));
        }
        Ok(SignalData(raw))
    }

    /// The JSON text exactly as the sender wrote it.
    pub fn json(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for SignalData {
    fn eq(&self, other: &Self) -> bool {
        self.json() == other.json()
    }
}

impl Eq for SignalData {}

impl fmt::Debug for SignalData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignalData({})", self.json())
    }
}

/// `join`: enter a room, or come back to it with a resume token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Join {
    pub room: String,
    pub role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume: Option<String>,
}

/// A message from a client to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ClientMessage {
    Join(Join),
    Signal { to: PeerId, data: SignalData },
    Leave,
    Ping,
}

/// One participant as others see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    pub id: PeerId,
    pub role: Role,
}

/// One entry of `RTCConfiguration.iceServers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// `joined`: the answer to a successful `join` (fresh or resumed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Joined {
    /// Protocol version ([`PROTOCOL_VERSION`]).
    pub v: u32,
    pub id: PeerId,
    pub room: String,
    pub role: Role,
    /// The participants this one can see, in the order they joined.
    pub peers: Vec<PeerInfo>,
    /// Left empty by [`crate::Hub`]: ICE servers depend on the Host the client used and on the
    /// wall clock, so the driver fills them in just before the message is written.
    pub ice_servers: Vec<IceServer>,
    /// Seconds the TURN credentials in `ice_servers` stay valid.
    pub ice_ttl: u64,
    /// Token for `join.resume` after a disconnect; single use.
    pub resume: String,
}

/// `error`: a request failed; nothing else changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorMessage {
    pub code: ErrorCode,
    pub message: String,
    /// What the error is about: the `to` of a failed signal, the unknown `type`, the bad role.
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// A message from the server to a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ServerMessage {
    Joined(Joined),
    PeerJoined { peer: PeerInfo },
    PeerLeft { id: PeerId },
    Signal { from: PeerId, data: SignalData },
    Pong,
    Error(ErrorMessage),
}

/// Why a frame could not be parsed; [`ParseError::code`] is what goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    #[error("not valid JSON: {0}")]
    BadJson(String),
    #[error("{0}")]
    BadMessage(String),
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    #[error("unknown role {0:?}; expected peer, publisher or viewer")]
    BadRole(String),
}

impl ParseError {
    /// The error code sent back for this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            ParseError::BadJson(_) => ErrorCode::BAD_JSON,
            ParseError::BadMessage(_) => ErrorCode::BAD_MESSAGE,
            ParseError::UnknownType(_) => ErrorCode::UNKNOWN_TYPE,
            ParseError::BadRole(_) => ErrorCode::BAD_ROLE,
        }
    }

    /// The `ref` of the error message: the offending type or role.
    pub fn reference(&self) -> Option<&str> {
        match self {
            ParseError::UnknownType(t) => Some(t),
            ParseError::BadRole(r) => Some(r),
            _ => None,
        }
    }

    fn from_serde(e: &serde_json::Error) -> ParseError {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ParseError::BadMessage(e.to_string()),
            Category::Syntax | Category::Eof | Category::Io => ParseError::BadJson(e.to_string()),
        }
    }
}

fn missing(kind: &str, field: &str) -> ParseError {
    ParseError::BadMessage(format!("{kind}: missing field `{field}`"))
}

/// Every field any client message has; which ones are required depends on `type`.
#[derive(Deserialize)]
struct ClientEnvelope {
    #[serde(rename = "type")]
    kind: Option<String>,
    room: Option<String>,
    role: Option<String>,
    token: Option<String>,
    resume: Option<String>,
    to: Option<String>,
    data: Option<Box<RawValue>>,
}

impl ClientMessage {
    /// Parses one text frame.
    pub fn parse(text: &str) -> Result<ClientMessage, ParseError> {
        let env: ClientEnvelope =
            serde_json::from_str(text).map_err(|e| ParseError::from_serde(&e))?;
        let kind = env.kind.ok_or_else(|| missing("message", "type"))?;
        match kind.as_str() {
            "join" => {
                let room = env.room.ok_or_else(|| missing("join", "room"))?;
                validate_room(&room)?;
                let role = env.role.ok_or_else(|| missing("join", "role"))?;
                let role = Role::parse(&role).ok_or(ParseError::BadRole(role))?;
                Ok(ClientMessage::Join(Join {
                    room,
                    role,
                    token: env.token,
                    resume: env.resume,
                }))
            }
            "signal" => {
                let to = env.to.ok_or_else(|| missing("signal", "to"))?;
                // serde maps `"data": null` to None, so null counts as missing.
                let data = env.data.ok_or_else(|| missing("signal", "data"))?;
                Ok(ClientMessage::Signal {
                    to: PeerId(to),
                    data: SignalData(data),
                })
            }
            "leave" => Ok(ClientMessage::Leave),
            "ping" => Ok(ClientMessage::Ping),
            _ => Err(ParseError::UnknownType(kind)),
        }
    }

    /// The JSON text of this message.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("client messages always serialize")
    }
}

/// A room name is 1 to [`MAX_ROOM_BYTES`] bytes without control characters.
fn validate_room(room: &str) -> Result<(), ParseError> {
    if room.is_empty() || room.len() > MAX_ROOM_BYTES {
        return Err(ParseError::BadMessage(format!(
            "join: room must be 1 to {MAX_ROOM_BYTES} bytes"
        )));
    }
    if room.chars().any(char::is_control) {
        return Err(ParseError::BadMessage(
            "join: room must not contain control characters".into(),
        ));
    }
    Ok(())
}

/// Every field any server message has.
#[derive(Deserialize)]
struct ServerEnvelope {
    #[serde(rename = "type")]
    kind: Option<String>,
    v: Option<u32>,
    id: Option<PeerId>,
    room: Option<String>,
    role: Option<Role>,
    peers: Option<Vec<PeerInfo>>,
    ice_servers: Option<Vec<IceServer>>,
    ice_ttl: Option<u64>,
    resume: Option<String>,
    peer: Option<PeerInfo>,
    from: Option<PeerId>,
    data: Option<Box<RawValue>>,
    code: Option<ErrorCode>,
    message: Option<String>,
    #[serde(rename = "ref")]
    reference: Option<String>,
}

impl ServerMessage {
    /// Parses one text frame from a server (used by clients such as the native peer).
    pub fn parse(text: &str) -> Result<ServerMessage, ParseError> {
        let e: ServerEnvelope =
            serde_json::from_str(text).map_err(|e| ParseError::from_serde(&e))?;
        let kind = e.kind.ok_or_else(|| missing("message", "type"))?;
        Ok(match kind.as_str() {
            "joined" => ServerMessage::Joined(Joined {
                v: e.v.ok_or_else(|| missing("joined", "v"))?,
                id: e.id.ok_or_else(|| missing("joined", "id"))?,
                room: e.room.ok_or_else(|| missing("joined", "room"))?,
                role: e.role.ok_or_else(|| missing("joined", "role"))?,
                peers: e.peers.ok_or_else(|| missing("joined", "peers"))?,
                ice_servers: e.ice_servers.unwrap_or_default(),
                ice_ttl: e.ice_ttl.unwrap_or(0),
                resume: e.resume.ok_or_else(|| missing("joined", "resume"))?,
            }),
            "peer-joined" => ServerMessage::PeerJoined {
                peer: e.peer.ok_or_else(|| missing("peer-joined", "peer"))?,
            },
            "peer-left" => ServerMessage::PeerLeft {
                id: e.id.ok_or_else(|| missing("peer-left", "id"))?,
            },
            "signal" => ServerMessage::Signal {
                from: e.from.ok_or_else(|| missing("signal", "from"))?,
                data: SignalData(e.data.ok_or_else(|| missing("signal", "data"))?),
            },
            "pong" => ServerMessage::Pong,
            "error" => ServerMessage::Error(ErrorMessage {
                code: e.code.ok_or_else(|| missing("error", "code"))?,
                message: e.message.unwrap_or_default(),
                reference: e.reference,
            }),
            _ => return Err(ParseError::UnknownType(kind)),
        })
    }

    /// The JSON text of this message.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server messages always serialize")
    }

    /// An `error` message.
    pub fn error(code: ErrorCode, message: impl Into<String>, reference: Option<String>) -> Self {
        ServerMessage::Error(ErrorMessage {
            code,
            message: message.into(),
            reference,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_of(text: &str) -> ErrorCode {
        ClientMessage::parse(text).unwrap_err().code()
    }

    #[test]
    fn parses_every_client_message() {
        let join =
            ClientMessage::parse(r#"{"type":"join","room":"r1","role":"viewer","token":"t"}"#);
        assert_eq!(
            join,
            Ok(ClientMessage::Join(Join {
                room: "r1".into(),
                role: Role::Viewer,
                token: Some("t".into()),
                resume: None,
            }))
        );
        let sig =
            ClientMessage::parse(r#"{"type":"signal","to":"abc","data":{"x": [1, 2]}}"#).unwrap();
        let ClientMessage::Signal { to, data } = &sig else {
            panic!("not a signal: {sig:?}");
        };
        assert_eq!(to.as_str(), "abc");
        assert_eq!(
            data.json(),
            r#"{"x": [1, 2]}"#,
            "data is forwarded byte for byte"
        );
        assert_eq!(
            ClientMessage::parse(r#"{"type":"leave"}"#),
            Ok(ClientMessage::Leave)
        );
        assert_eq!(
            ClientMessage::parse(r#"{"type":"ping","extra":1}"#),
            Ok(ClientMessage::Ping)
        );
    }

    #[test]
    fn roles_parse_from_their_names() {
        assert_eq!("viewer".parse::<Role>(), Ok(Role::Viewer));
        assert_eq!(
            "admin".parse::<Role>().unwrap_err().to_string(),
            r#"unknown role "admin"; expected peer, publisher or viewer"#
        );
        for r in [Role::Peer, Role::Publisher, Role::Viewer] {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
    }

    #[test]
    fn client_messages_round_trip() {
        let msgs = [
            ClientMessage::Join(Join {
                room: "a".into(),
                role: Role::Publisher,
                token: None,
                resume: Some("x.y".into()),
            }),
            ClientMessage::Signal {
                to: PeerId::new("p"),
                data: SignalData::from_json(r#"{"candidate":null}"#).unwrap(),
            },
            ClientMessage::Leave,
            ClientMessage::Ping,
        ];
        for m in msgs {
            assert_eq!(ClientMessage::parse(&m.to_json()), Ok(m));
        }
    }

    #[test]
    fn each_parse_failure_has_its_code() {
        assert_eq!(code_of("{"), ErrorCode::BAD_JSON);
        assert_eq!(code_of("not json"), ErrorCode::BAD_JSON);
        assert_eq!(code_of(""), ErrorCode::BAD_JSON);
        assert_eq!(code_of("[1,2]"), ErrorCode::BAD_MESSAGE);
        assert_eq!(code_of("{}"), ErrorCode::BAD_MESSAGE);
        assert_eq!(code_of(r#"{"type":5}"#), ErrorCode::BAD_MESSAGE);
        assert_eq!(code_of(r#"{"type":"dance"}"#), ErrorCode::UNKNOWN_TYPE);
        assert_eq!(
            code_of(r#"{"type":"join","role":"peer"}"#),
            ErrorCode::BAD_MESSAGE
        );
        assert_eq!(
            code_of(r#"{"type":"join","room":"r"}"#),
            ErrorCode::BAD_MESSAGE
        );
        assert_eq!(
            code_of(r#"{"type":"join","room":"r","role":"king"}"#),
            ErrorCode::BAD_ROLE
        );
        assert_eq!(
            code_of(r#"{"type":"join","room":"","role":"peer"}"#),
            ErrorCode::BAD_MESSAGE
        );
        assert_eq!(
            code_of(r#"{"type":"join","room":"a\nb","role":"peer"}"#),
            ErrorCode::BAD_MESSAGE
        );
        let long = format!(
            r#"{{"type":"join","room":"{}","role":"peer"}}"#,
            "x".repeat(129)
        );
        assert_eq!(code_of(&long), ErrorCode::BAD_MESSAGE);
        assert_eq!(
            code_of(r#"{"type":"signal","to":"a"}"#),
            ErrorCode::BAD_MESSAGE
        );
        assert_eq!(
            code_of(r#"{"type":"signal","to":"a","data":null}"#),
            ErrorCode::BAD_MESSAGE
        );
        assert_eq!(
            code_of(r#"{"type":"signal","data":{}}"#),
            ErrorCode::BAD_MESSAGE
        );
        assert_eq!(
            code_of(r#"{"type":"ping","type":"leave"}"#),
            ErrorCode::BAD_MESSAGE,
            "duplicate fields are ambiguous and refused"
        );
        let e = ClientMessage::parse(r#"{"type":"dance"}"#).unwrap_err();
        assert_eq!(e.reference(), Some("dance"));
    }

    #[test]
    fn server_messages_match_the_documented_shapes() {
        let joined = ServerMessage::Joined(Joined {
            v: 1,
            id: PeerId::new("me"),
            room: "r".into(),
            role: Role::Peer,
            peers: vec![PeerInfo {
                id: PeerId::new("other"),
                role: Role::Peer,
            }],
            ice_servers: vec![IceServer {
                urls: vec!["stun:h:3478".into()],
                username: None,
                credential: None,
            }],
            ice_ttl: 3600,
            resume: "me.s".into(),
        });
        assert_eq!(
            joined.to_json(),
            r#"{"type":"joined","v":1,"id":"me","room":"r","role":"peer","peers":[{"id":"other","role":"peer"}],"ice_servers":[{"urls":["stun:h:3478"]}],"ice_ttl":3600,"resume":"me.s"}"#
        );
        let signal = ServerMessage::Signal {
            from: PeerId::new("a"),
            data: SignalData::from_json(r#"{"sdp": "v=0"}"#).unwrap(),
        };
        assert_eq!(
            signal.to_json(),
            r#"{"type":"signal","from":"a","data":{"sdp": "v=0"}}"#
        );
        let err = ServerMessage::error(ErrorCode::UNKNOWN_PEER, "gone", Some("x".into()));
        assert_eq!(
            err.to_json(),
            r#"{"type":"error","code":"unknown-peer","message":"gone","ref":"x"}"#
        );
        assert_eq!(ServerMessage::Pong.to_json(), r#"{"type":"pong"}"#);
        assert_eq!(
            ServerMessage::PeerLeft {
                id: PeerId::new("z")
            }
            .to_json(),
            r#"{"type":"peer-left","id":"z"}"#
        );
        for m in [
            joined,
            signal,
            err,
            ServerMessage::Pong,
            ServerMessage::PeerJoined {
                peer: PeerInfo {
                    id: PeerId::new("v"),
                    role: Role::Viewer,
                },
            },
        ] {
            assert_eq!(ServerMessage::parse(&m.to_json()), Ok(m));
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(text in ".{0,200}") {
            let _ = ClientMessage::parse(&text);
            let _ = ServerMessage::parse(&text);
        }

        #[test]
        fn signal_data_survives_any_json_string(s in ".{0,64}") {
            let data = serde_json::to_string(&serde_json::json!({ "s": s })).unwrap();
            let text = format!(r#"{{"type":"signal","to":"p","data":{data}}}"#);
            let ClientMessage::Signal { data: got, .. } = ClientMessage::parse(&text).unwrap() else {
                panic!("not a signal");
            };
            proptest::prop_assert_eq!(got.json(), data.as_str());
        }
    }
}
