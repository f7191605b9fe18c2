//! STUN codec: parse (+ verify) and build, our codec side by side with `stun_codec` (crates.io)
//! in the same run, on three messages:
//!
//! - (a) a Binding request (header only, what browsers send to a STUN server);
//! - (b) a Binding success response with XOR-MAPPED-ADDRESS and FINGERPRINT;
//! - (c) an Allocate request with REQUESTED-TRANSPORT, USERNAME, REALM, NONCE and
//!   MESSAGE-INTEGRITY under a long-term (MD5) key.
//!
//! Both codecs do the same work per iteration: parsing (b) checks FINGERPRINT; parsing (c)
//! reads the attributes, derives the long-term key from username/realm/password (stun_codec
//! has no way to verify with a precomputed key) and checks the HMAC; building (c) derives the
//! key too. A `cached_key` row shows ours with the key derived once, as a server caching
//! keys per user does. Before timing, each case checks that both codecs build identical bytes
//! and parse each other's output.
//!
//! Run: `cargo bench -p rendezvous-stun --bench codec -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::net::SocketAddr;

use bytecodec::{DecodeExt, EncodeExt};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

const TID: [u8; 12] = [
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
];
const USERNAME: &str = "1700000000:alice";
const REALM: &str = "rendezvous.example";
const NONCE: &str = "obMatJos2AAABd2h5IG5vdCB6ZXJvLWNvcHk";
const PASSWORD: &str = "0rW4Wl5jTzHZ2pHsbYJr1Ymz0pA=";
const UDP: u8 = 17;

fn mapped() -> SocketAddr {
    "198.51.100.7:54321".parse().unwrap()
}

/// Our codec.
mod ours {
    use super::*;
    use stun::{
        long_term_key_md5, Attribute, AttributeType, Class, Message, MessageBuilder, Method,
        TransactionId,
    };

    pub fn build_binding_request(buf: &mut Vec<u8>) -> usize {
        MessageBuilder::new(buf, Class::Request, Method::BINDING, TransactionId(TID)).finish()
    }

    pub fn parse_binding_request(bytes: &[u8]) -> (Method, TransactionId) {
        let msg = Message::parse(bytes).unwrap();
        (msg.method(), msg.transaction_id())
    }

    pub fn build_binding_response(buf: &mut Vec<u8>, addr: SocketAddr) -> usize {
        let mut b = MessageBuilder::new(
            buf,
            Class::SuccessResponse,
            Method::BINDING,
            TransactionId(TID),
        );
        b.xor_address(AttributeType::XOR_MAPPED_ADDRESS, addr)
            .fingerprint();
        b.finish()
    }

    pub fn parse_binding_response(bytes: &[u8]) -> SocketAddr {
        Message::parse(bytes).unwrap().xor_mapped_address().unwrap()
    }

    pub fn build_allocate(buf: &mut Vec<u8>) -> usize {
        let key = long_term_key_md5(USERNAME, REALM, PASSWORD);
        build_allocate_with_key(buf, &key)
    }

    pub fn build_allocate_with_key(buf: &mut Vec<u8>, key: &[u8]) -> usize {
        let mut b = MessageBuilder::new(buf, Class::Request, Method::ALLOCATE, TransactionId(TID));
        b.add(&Attribute::RequestedTransport(UDP))
            .add(&Attribute::Username(USERNAME))
            .add(&Attribute::Realm(REALM))
            .add(&Attribute::Nonce(NONCE.as_bytes()))
            .message_integrity(key);
        b.finish()
    }

    /// Parse, read what a TURN server reads, derive the key, verify.
    pub fn parse_verify_allocate(bytes: &[u8]) -> bool {
        let msg = Message::parse(bytes).unwrap();
        let transport = msg.requested_transport().unwrap();
        let username = msg.username().unwrap();
        let realm = msg.realm().unwrap();
        let _nonce = msg.nonce().unwrap();
        let key = long_term_key_md5(username, realm, PASSWORD);
        transport == UDP && msg.verify_integrity(&key).is_ok()
    }

    pub fn parse_verify_allocate_cached_key(bytes: &[u8], key: &[u8]) -> bool {
        let msg = Message::parse(bytes).unwrap();
        let transport = msg.requested_transport().unwrap();
        let _ = (
            msg.username().unwrap(),
            msg.realm().unwrap(),
            msg.nonce().unwrap(),
        );
        transport == UDP && msg.verify_integrity(key).is_ok()
    }
}

/// `stun_codec` 0.4 with the attributes these messages use.
mod theirs {
    use super::*;
    use stun_codec::rfc5389::attributes::{
        Fingerprint, MessageIntegrity, Nonce, Realm, Username, XorMappedAddress,
    };
    use stun_codec::rfc5389::methods::BINDING;
    use stun_codec::rfc5766::attributes::RequestedTransport;
    use stun_codec::rfc5766::methods::ALLOCATE;
    use stun_codec::{
        define_attribute_enums, Message, MessageClass, MessageDecoder, MessageEncoder,
        TransactionId,
    };

    define_attribute_enums!(
        Attribute,
        AttributeDecoder,
        AttributeEncoder,
        [
            Username,
            MessageIntegrity,
            Realm,
            Nonce,
            XorMappedAddress,
            Fingerprint,
            RequestedTransport
        ]
    );

    pub struct Codec {
        decoder: MessageDecoder<Attribute>,
        encoder: MessageEncoder<Attribute>,
    }

    impl Codec {
        pub fn new() -> Self {
            Codec {
                decoder: MessageDecoder::new(),
                encoder: MessageEncoder::new(),
            }
        }

        fn decode(&mut self, bytes: &[u8]) -> Message<Attribute> {
            self.decoder.decode_from_bytes(bytes).unwrap().unwrap()
        }

        pub fn build_binding_request(&mut self) -> Vec<u8> {
            let msg =
                Message::<Attribute>::new(MessageClass::Request, BINDING, TransactionId::new(TID));
            self.encoder.encode_into_bytes(msg).unwrap()
        }

        pub fn parse_binding_request(&mut self, bytes: &[u8]) -> TransactionId {
            self.decode(bytes).transaction_id()
        }

        pub fn build_binding_response(&mut self, addr: SocketAddr) -> Vec<u8> {
            let mut msg = Message::<Attribute>::new(
                MessageClass::SuccessResponse,
                BINDING,
                TransactionId::new(TID),
            );
            msg.add_attribute(XorMappedAddress::new(addr));
            let fingerprint = Fingerprint::new(&msg).unwrap();
            msg.add_attribute(fingerprint);
            self.encoder.encode_into_bytes(msg).unwrap()
        }

        pub fn parse_binding_response(&mut self, bytes: &[u8]) -> SocketAddr {
            let msg = self.decode(bytes);
            msg.get_attribute::<XorMappedAddress>().unwrap().address()
        }

        pub fn build_allocate(&mut self) -> Vec<u8> {
            let mut msg =
                Message::<Attribute>::new(MessageClass::Request, ALLOCATE, TransactionId::new(TID));
            let username = Username::new(USERNAME.to_owned()).unwrap();
            let realm = Realm::new(REALM.to_owned()).unwrap();
            msg.add_attribute(RequestedTransport::new(UDP));
            msg.add_attribute(username.clone());
            msg.add_attribute(realm.clone());
            msg.add_attribute(Nonce::new(NONCE.to_owned()).unwrap());
            let mi = MessageIntegrity::new_long_term_credential(&msg, &username, &realm, PASSWORD)
                .unwrap();
            msg.add_attribute(mi);
            self.encoder.encode_into_bytes(msg).unwrap()
        }

        pub fn parse_verify_allocate(&mut self, bytes: &[u8]) -> bool {
            let msg = self.decode(bytes);
            let transport = msg
                .get_attribute::<RequestedTransport>()
                .unwrap()
                .protocol();
            let username = msg.get_attribute::<Username>().unwrap();
            let realm = msg.get_attribute::<Realm>().unwrap();
            let _nonce = msg.get_attribute::<Nonce>().unwrap();
            let mi = msg.get_attribute::<MessageIntegrity>().unwrap();
            transport == UDP
                && mi
                    .check_long_term_credential(username, realm, PASSWORD)
                    .is_ok()
        }
    }
}

/// Both codecs must produce the same bytes and accept each other's output, or the comparison
/// would not be like for like.
fn check_equivalence(buf: &mut Vec<u8>, codec: &mut theirs::Codec) {
    ours::build_binding_request(buf);
    assert_eq!(*buf, codec.build_binding_request());
    assert_eq!(
        codec.parse_binding_request(buf).as_bytes(),
        &ours::parse_binding_request(buf).1 .0
    );

    ours::build_binding_response(buf, mapped());
    assert_eq!(*buf, codec.build_binding_response(mapped()));
    assert_eq!(codec.parse_binding_response(buf), mapped());
    assert_eq!(ours::parse_binding_response(buf), mapped());

    ours::build_allocate(buf);
    assert_eq!(*buf, codec.build_allocate());
    assert!(codec.parse_verify_allocate(buf));
    assert!(ours::parse_verify_allocate(buf));
}

fn codec(c: &mut Criterion) {
    let mut buf = Vec::with_capacity(1500);
    let mut theirs = theirs::Codec::new();
    check_equivalence(&mut buf, &mut theirs);

    let mut g = c.benchmark_group("a_binding_request");
    ours::build_binding_request(&mut buf);
    let bytes = buf.clone();
    g.bench_function(BenchmarkId::new("parse", "rendezvous"), |b| {
        b.iter(|| ours::parse_binding_request(black_box(&bytes)))
    });
    g.bench_function(BenchmarkId::new("parse", "stun_codec"), |b| {
        b.iter(|| theirs.parse_binding_request(black_box(&bytes)))
    });
    g.bench_function(BenchmarkId::new("build", "rendezvous"), |b| {
        b.iter(|| ours::build_binding_request(black_box(&mut buf)))
    });
    g.bench_function(BenchmarkId::new("build", "stun_codec"), |b| {
        b.iter(|| theirs.build_binding_request())
    });
    g.finish();

    let mut g = c.benchmark_group("b_binding_response");
    ours::build_binding_response(&mut buf, mapped());
    let bytes = buf.clone();
    let addr = mapped();
    g.bench_function(BenchmarkId::new("parse", "rendezvous"), |b| {
        b.iter(|| ours::parse_binding_response(black_box(&bytes)))
    });
    g.bench_function(BenchmarkId::new("parse", "stun_codec"), |b| {
        b.iter(|| theirs.parse_binding_response(black_box(&bytes)))
    });
    g.bench_function(BenchmarkId::new("build", "rendezvous"), |b| {
        b.iter(|| ours::build_binding_response(black_box(&mut buf), black_box(addr)))
    });
    g.bench_function(BenchmarkId::new("build", "stun_codec"), |b| {
        b.iter(|| theirs.build_binding_response(black_box(addr)))
    });
    g.finish();

    let mut g = c.benchmark_group("c_allocate_request");
    ours::build_allocate(&mut buf);
    let bytes = buf.clone();
    let key = stun::long_term_key_md5(USERNAME, REALM, PASSWORD);
    g.bench_function(BenchmarkId::new("parse_verify", "rendezvous"), |b| {
        b.iter(|| ours::parse_verify_allocate(black_box(&bytes)))
    });
    g.bench_function(BenchmarkId::new("parse_verify", "stun_codec"), |b| {
        b.iter(|| theirs.parse_verify_allocate(black_box(&bytes)))
    });
    g.bench_function(
        BenchmarkId::new("parse_verify_cached_key", "rendezvous"),
        |b| b.iter(|| ours::parse_verify_allocate_cached_key(black_box(&bytes), &key)),
    );
    g.bench_function(BenchmarkId::new("build", "rendezvous"), |b| {
        b.iter(|| ours::build_allocate(black_box(&mut buf)))
    });
    g.bench_function(BenchmarkId::new("build", "stun_codec"), |b| {
        b.iter(|| theirs.build_allocate())
    });
    g.bench_function(BenchmarkId::new("build_cached_key", "rendezvous"), |b| {
        b.iter(|| ours::build_allocate_with_key(black_box(&mut buf), &key))
    });
    g.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
