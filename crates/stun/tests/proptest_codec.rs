//! Property tests: every attribute variant survives encode -> decode and build -> parse, and no
//! input, random or mangled, makes the parsers panic.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use stun::{
    stream_frame_len, Attribute, AttributeType, ChannelData, Class, ErrorCode, ErrorCodeValue,
    Message, MessageBuilder, Method, PasswordAlgorithm, TransactionId,
};

/// An owned twin of [`Attribute`], so proptest can generate values the borrowing enum views.
#[derive(Debug, Clone)]
enum Owned {
    MappedAddress(SocketAddr),
    XorMappedAddress(SocketAddr),
    Username(String),
    Userhash([u8; 32]),
    MessageIntegrity([u8; 20]),
    MessageIntegritySha256(Vec<u8>),
    Fingerprint(u32),
    ErrorCode(u16, String),
    Realm(String),
    Nonce(Vec<u8>),
    PasswordAlgorithms(Vec<(u16, Vec<u8>)>),
    PasswordAlgorithm(u16, Vec<u8>),
    UnknownAttributes(Vec<u16>),
    Software(String),
    AlternateServer(SocketAddr),
    AlternateDomain(String),
    ChangeRequest(bool, bool),
    ResponseOrigin(SocketAddr),
    OtherAddress(SocketAddr),
    Padding(Vec<u8>),
    ResponsePort(u16),
    ChannelNumber(u16),
    Lifetime(u32),
    XorPeerAddress(SocketAddr),
    Data(Vec<u8>),
    XorRelayedAddress(SocketAddr),
    RequestedAddressFamily(u8),
    EvenPort(bool),
    RequestedTransport(u8),
    DontFragment,
    ReservationToken(u64),
    AdditionalAddressFamily(u8),
    AddressErrorCode(u8, u16, String),
    Icmp(u8, u8, u32),
    ConnectionId(u32),
    Priority(u32),
    UseCandidate,
    IceControlled(u64),
    IceControlling(u64),
    Unknown(u16, Vec<u8>),
}

impl Owned {
    fn view(&self) -> Attribute<'_> {
        match self {
            Owned::MappedAddress(a) => Attribute::MappedAddress(*a),
            Owned::XorMappedAddress(a) => Attribute::XorMappedAddress(*a),
            Owned::Username(s) => Attribute::Username(s),
            Owned::Userhash(h) => Attribute::Userhash(h),
            Owned::MessageIntegrity(h) => Attribute::MessageIntegrity(h),
            Owned::MessageIntegritySha256(h) => Attribute::MessageIntegritySha256(h),
            Owned::Fingerprint(x) => Attribute::Fingerprint(*x),
            Owned::ErrorCode(code, reason) => Attribute::ErrorCode(ErrorCodeValue {
                code: ErrorCode(*code),
                reason,
            }),
            Owned::Realm(s) => Attribute::Realm(s),
            Owned::Nonce(b) => Attribute::Nonce(b),
            Owned::PasswordAlgorithms(list) => Attribute::PasswordAlgorithms(
                list.iter()
                    .map(|(a, p)| (PasswordAlgorithm(*a), &p[..]))
                    .collect(),
            ),
            Owned::PasswordAlgorithm(a, p) => {
                Attribute::PasswordAlgorithm(PasswordAlgorithm(*a), p)
            }
            Owned::UnknownAttributes(list) => {
                Attribute::UnknownAttributes(list.iter().map(|t| AttributeType(*t)).collect())
            }
            Owned::Software(s) => Attribute::Software(s),
            Owned::AlternateServer(a) => Attribute::AlternateServer(*a),
            Owned::AlternateDomain(s) => Attribute::AlternateDomain(s),
            Owned::ChangeRequest(ip, port) => Attribute::ChangeRequest {
                change_ip: *ip,
                change_port: *port,
            },
            Owned::ResponseOrigin(a) => Attribute::ResponseOrigin(*a),
            Owned::OtherAddress(a) => Attribute::OtherAddress(*a),
            Owned::Padding(b) => Attribute::Padding(b),
            Owned::ResponsePort(p) => Attribute::ResponsePort(*p),
            Owned::ChannelNumber(c) => Attribute::ChannelNumber(*c),
            Owned::Lifetime(x) => Attribute::Lifetime(*x),
            Owned::XorPeerAddress(a) => Attribute::XorPeerAddress(*a),
            Owned::Data(b) => Attribute::Data(b),
            Owned::XorRelayedAddress(a) => Attribute::XorRelayedAddress(*a),
            Owned::RequestedAddressFamily(f) => Attribute::RequestedAddressFamily(*f),
            Owned::EvenPort(r) => Attribute::EvenPort { reserve: *r },
            Owned::RequestedTransport(p) => Attribute::RequestedTransport(*p),
            Owned::DontFragment => Attribute::DontFragment,
            Owned::ReservationToken(x) => Attribute::ReservationToken(*x),
            Owned::AdditionalAddressFamily(f) => Attribute::AdditionalAddressFamily(*f),
            Owned::AddressErrorCode(family, code, reason) => Attribute::AddressErrorCode {
                family: *family,
                code: ErrorCode(*code),
                reason,
            },
            Owned::Icmp(t, c, d) => Attribute::Icmp {
                icmp_type: *t,
                code: *c,
                data: *d,
            },
            Owned::ConnectionId(x) => Attribute::ConnectionId(*x),
            Owned::Priority(x) => Attribute::Priority(*x),
            Owned::UseCandidate => Attribute::UseCandidate,
            Owned::IceControlled(x) => Attribute::IceControlled(*x),
            Owned::IceControlling(x) => Attribute::IceControlling(*x),
            Owned::Unknown(t, v) => Attribute::Unknown {
                typ: AttributeType(*t),
                value: v,
            },
        }
    }

    /// Integrity and FINGERPRINT shape the message; they are round-tripped as values only.
    fn is_structural(&self) -> bool {
        matches!(
            self,
            Owned::MessageIntegrity(_) | Owned::MessageIntegritySha256(_) | Owned::Fingerprint(_)
        )
    }
}

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port)),
        (any::<[u8; 16]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port)),
    ]
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..=max)
}

/// Printable Unicode text well inside every RFC byte limit (40 chars x 4 bytes = 160).
fn text() -> impl Strategy<Value = String> {
    "\\PC{0,40}"
}

fn unknown_type() -> impl Strategy<Value = u16> {
    any::<u16>().prop_filter("a type the codec decodes", |t| {
        !AttributeType::KNOWN.contains(&AttributeType(*t))
    })
}

fn owned_attribute() -> impl Strategy<Value = Owned> {
    prop_oneof![
        socket_addr().prop_map(Owned::MappedAddress),
        socket_addr().prop_map(Owned::XorMappedAddress),
        text().prop_map(Owned::Username),
        any::<[u8; 32]>().prop_map(Owned::Userhash),
        any::<[u8; 20]>().prop_map(Owned::MessageIntegrity),
        (4usize..=8, bytes(32)).prop_map(|(words, mut b)| {
            b.resize(words * 4, 0xa5);
            Owned::MessageIntegritySha256(b)
        }),
        any::<u32>().prop_map(Owned::Fingerprint),
        (300u16..700, text()).prop_map(|(c, r)| Owned::ErrorCode(c, r)),
        text().prop_map(Owned::Realm),
        bytes(64).prop_map(Owned::Nonce),
        prop::collection::vec((any::<u16>(), bytes(9)), 0..4).prop_map(Owned::PasswordAlgorithms),
        (any::<u16>(), bytes(9)).prop_map(|(a, p)| Owned::PasswordAlgorithm(a, p)),
        prop::collection::vec(any::<u16>(), 0..6).prop_map(Owned::UnknownAttributes),
        text().prop_map(Owned::Software),
        socket_addr().prop_map(Owned::AlternateServer),
        "[a-z0-9.-]{0,60}".prop_map(Owned::AlternateDomain),
        (any::<bool>(), any::<bool>()).prop_map(|(a, b)| Owned::ChangeRequest(a, b)),
        socket_addr().prop_map(Owned::ResponseOrigin),
        socket_addr().prop_map(Owned::OtherAddress),
        bytes(64).prop_map(Owned::Padding),
        any::<u16>().prop_map(Owned::ResponsePort),
        any::<u16>().prop_map(Owned::ChannelNumber),
        any::<u32>().prop_map(Owned::Lifetime),
        socket_addr().prop_map(Owned::XorPeerAddress),
        bytes(200).prop_map(Owned::Data),
        socket_addr().prop_map(Owned::XorRelayedAddress),
        any::<u8>().prop_map(Owned::RequestedAddressFamily),
        any::<bool>().prop_map(Owned::EvenPort),
        any::<u8>().prop_map(Owned::RequestedTransport),
        Just(Owned::DontFragment),
        any::<u64>().prop_map(Owned::ReservationToken),
        any::<u8>().prop_map(Owned::AdditionalAddressFamily),
        (any::<u8>(), 300u16..700, text()).prop_map(|(f, c, r)| Owned::AddressErrorCode(f, c, r)),
        (any::<u8>(), any::<u8>(), any::<u32>()).prop_map(|(t, c, d)| Owned::Icmp(t, c, d)),
        any::<u32>().prop_map(Owned::ConnectionId),
        any::<u32>().prop_map(Owned::Priority),
        Just(Owned::UseCandidate),
        any::<u64>().prop_map(Owned::IceControlled),
        any::<u64>().prop_map(Owned::IceControlling),
        (unknown_type(), bytes(40)).prop_map(|(t, v)| Owned::Unknown(t, v)),
    ]
}

const TID: TransactionId = TransactionId([0x5a, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Attribute::decode(typ, encode_value(attr)) == attr, for every variant.
    #[test]
    fn value_round_trip(owned in owned_attribute(), tid in any::<[u8; 12]>()) {
        let tid = TransactionId(tid);
        let attr = owned.view();
        let mut value = Vec::new();
        attr.encode_value(&tid, &mut value);
        prop_assert_eq!(Attribute::decode(attr.typ(), &value, &tid), Ok(attr));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// build(attrs) then parse gives back the same attributes, in order, and the integrity
    /// and fingerprint the builder computed verify.
    #[test]
    fn message_round_trip(
        attrs in prop::collection::vec(owned_attribute(), 0..12),
        mi in any::<bool>(),
        mi256 in any::<bool>(),
        fp in any::<bool>(),
        key in bytes(40),
        tid in any::<[u8; 12]>(),
    ) {
        let tid = TransactionId(tid);
        let attrs: Vec<Owned> = attrs.into_iter().filter(|a| !a.is_structural()).collect();
        let mut buf = Vec::new();
        let mut b = MessageBuilder::new(&mut buf, Class::Indication, Method::SEND, tid);
        for a in &attrs {
            b.add(&a.view());
        }
        if mi {
            b.message_integrity(&key);
        }
        if mi256 {
            b.message_integrity_sha256(&key);
        }
        if fp {
            b.fingerprint();
        }
        let len = b.try_finish().unwrap();
        prop_assert_eq!(len, buf.len());

        let msg = Message::parse(&buf).unwrap();
        prop_assert_eq!(msg.class(), Class::Indication);
        prop_assert_eq!(msg.method(), Method::SEND);
        prop_assert_eq!(msg.transaction_id(), tid);
        let raws: Vec<_> = msg.attributes().collect();
        let expected = attrs.len() + usize::from(mi) + usize::from(mi256) + usize::from(fp);
        prop_assert_eq!(raws.len(), expected);
        for (raw, a) in raws.iter().zip(&attrs) {
            prop_assert_eq!(Attribute::decode(raw.typ, raw.value, &tid), Ok(a.view()));
        }
        prop_assert_eq!(msg.has_fingerprint(), fp);
        if mi || mi256 {
            prop_assert_eq!(msg.verify_integrity(&key), Ok(()));
            let mut other = key.clone();
            other.push(1);
            prop_assert_eq!(msg.verify_integrity(&other), Err(stun::IntegrityError::Mismatch));
        } else {
            prop_assert_eq!(msg.verify_integrity(&key), Err(stun::IntegrityError::Missing));
        }
        if mi {
            prop_assert_eq!(msg.verify_message_integrity(&key), Ok(()));
        }
    }

    /// Arbitrary bytes: parse, and if it parses, everything a server would call.
    #[test]
    fn parse_never_panics_on_random_bytes(buf in bytes(300)) {
        exercise(&buf);
        let _ = ChannelData::parse(&buf);
        let _ = stream_frame_len(&buf);
        let _ = stun::stream_frame_size(&buf);
    }

    /// A valid header with an arbitrary attribute soup: framing passes often, so decoders
    /// see hostile values of every known type.
    #[test]
    fn parse_never_panics_on_attribute_soup(
        attrs in prop::collection::vec(
            (
                prop_oneof![
                    prop::sample::select(AttributeType::KNOWN).prop_map(|t| t.0),
                    any::<u16>(),
                ],
                bytes(40),
                0usize..4,
            ),
            0..10,
        ),
        fix_length in any::<bool>(),
    ) {
        let mut buf = vec![0x00, 0x01, 0, 0, 0x21, 0x12, 0xa4, 0x42];
        buf.extend_from_slice(&[9; 12]);
        for (typ, value, slack) in &attrs {
            buf.extend_from_slice(&typ.to_be_bytes());
            // Sometimes lie about the length by a few bytes.
            let claimed = if fix_length { value.len() } else { value.len() + slack };
            buf.extend_from_slice(&(claimed as u16).to_be_bytes());
            buf.extend_from_slice(value);
            buf.resize(buf.len() + (4 - value.len() % 4) % 4, 0);
        }
        let len = (buf.len() - 20) as u16;
        buf[2..4].copy_from_slice(&len.to_be_bytes());
        let parsed = exercise(&buf);
        if fix_length && !attrs.iter().any(|(t, _, _)| *t == AttributeType::FINGERPRINT.0) {
            prop_assert!(parsed, "well-framed soup must parse");
        }
    }

    /// Built messages mangled: truncated, bytes overwritten.
    #[test]
    fn parse_never_panics_on_mangled_messages(
        attrs in prop::collection::vec(owned_attribute(), 0..6),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut buf = Vec::new();
        let mut b = MessageBuilder::new(&mut buf, Class::Request, Method::ALLOCATE, TID);
        for a in attrs.iter().filter(|a| !a.is_structural()) {
            b.add(&a.view());
        }
        b.message_integrity(b"k").fingerprint();
        b.try_finish().unwrap();
        for (at, byte) in edits {
            let i = at.index(buf.len());
            buf[i] = byte;
        }
        if truncate {
            buf.truncate(cut.index(buf.len() + 1));
        }
        exercise(&buf);
    }

    #[test]
    fn channel_data_round_trip(channel in 0x4000u16..=0x4fff, data in bytes(300), pad in any::<bool>()) {
        let mut out = Vec::new();
        ChannelData::encode(channel, &data, pad, &mut out);
        prop_assert_eq!(out.len() % 4 == 0, pad || (4 + data.len()) % 4 == 0);
        prop_assert_eq!(ChannelData::parse(&out), Ok(ChannelData { channel, data: &data }));
        if pad {
            prop_assert_eq!(stream_frame_len(&out), Ok(Some(out.len())));
        }
    }
}

/// Parse `buf` and, if it parses, call every read-only method. Returns whether it parsed.
fn exercise(buf: &[u8]) -> bool {
    let Ok(msg) = Message::parse(buf) else {
        return false;
    };
    let tid = msg.transaction_id();
    for raw in msg.all_attributes() {
        let _ = Attribute::decode(raw.typ, raw.value, &tid);
    }
    for t in AttributeType::KNOWN {
        let _ = msg.attribute(*t);
    }
    let _ = msg.verify_integrity(b"key");
    let _ = msg.verify_message_integrity(b"key");
    let _ = msg.verify_message_integrity_sha256(b"key");
    let _ = msg.check_padding();
    let _ = (
        msg.class(),
        msg.method(),
        msg.fingerprint(),
        msg.integrity_boundary(),
    );
    let _ = (
        msg.username(),
        msg.realm(),
        msg.nonce(),
        msg.userhash(),
        msg.software(),
    );
    let _ = (
        msg.xor_mapped_address(),
        msg.mapped_address(),
        msg.error_code(),
    );
    let _ = (
        msg.lifetime(),
        msg.data(),
        msg.channel_number(),
        msg.requested_transport(),
    );
    let _ = (
        msg.even_port(),
        msg.reservation_token(),
        msg.dont_fragment(),
    );
    let _ = (
        msg.password_algorithm(),
        msg.password_algorithms(),
        msg.change_request(),
    );
    let _ = (
        msg.response_port(),
        msg.connection_id(),
        msg.requested_address_family(),
    );
    let _ = msg.additional_address_family();
    let _ = msg.xor_peer_addresses().count() + msg.xor_relayed_addresses().count();
    let _ = msg.unknown_required(&[]);
    true
}

/// The generator covers every attribute type the codec knows (and unknown ones), so the round
/// trips above are "for every variant".
#[test]
fn generator_covers_every_known_type() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = owned_attribute();
    let mut seen = BTreeSet::new();
    let mut unknown = false;
    for _ in 0..20_000 {
        let owned = strategy.new_tree(&mut runner).unwrap().current();
        let typ = owned.view().typ();
        if AttributeType::KNOWN.contains(&typ) {
            seen.insert(typ);
        } else {
            unknown = true;
        }
    }
    let known: BTreeSet<_> = AttributeType::KNOWN.iter().copied().collect();
    assert_eq!(seen, known);
    assert!(unknown);
}
