//! STUN message parsing: parse, walk every attribute, decode each, verify integrity with a
//! fixed key, call every accessor; then rebuild what decoded and check it decodes the same.

#![no_main]

use libfuzzer_sys::fuzz_target;
use stun::{Attribute, AttributeType, Message, MessageBuilder};

const KEY: &[u8] = b"rendezvous-fuzz-key";

fuzz_target!(|data: &[u8]| {
    let _ = stun::stream_frame_len(data);
    let _ = stun::demux(data.first().copied().unwrap_or(0));
    let Ok(msg) = Message::parse(data) else {
        return;
    };
    assert_eq!(msg.as_bytes(), data);
    let tid = msg.transaction_id();

    for raw in msg.all_attributes() {
        let _ = Attribute::decode(raw.typ, raw.value, &tid);
    }
    for t in AttributeType::KNOWN {
        let _ = msg.attribute(*t);
    }
    let _ = msg.verify_integrity(KEY);
    let _ = msg.verify_message_integrity(KEY);
    let _ = msg.verify_message_integrity_sha256(KEY);
    let _ = msg.check_padding();
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
    let _ = (
        msg.additional_address_family(),
        msg.fingerprint(),
        msg.integrity_boundary(),
    );
    let _ = msg.xor_peer_addresses().count() + msg.xor_relayed_addresses().count();
    let _ = msg.unknown_required(&[]);

    // Differential check: every attribute that decodes re-encodes to something that decodes
    // to the same value (integrity and FINGERPRINT excluded: they depend on the message).
    let decoded: Vec<Attribute<'_>> = msg
        .attributes()
        .filter(|raw| {
            !matches!(
                raw.typ,
                AttributeType::MESSAGE_INTEGRITY
                    | AttributeType::MESSAGE_INTEGRITY_SHA256
                    | AttributeType::FINGERPRINT
            )
        })
        .filter_map(|raw| Attribute::decode(raw.typ, raw.value, &tid).ok())
        .collect();
    let mut buf = Vec::new();
    let mut b = MessageBuilder::new(&mut buf, msg.class(), msg.method(), tid);
    for a in &decoded {
        b.add(a);
    }
    b.message_integrity(KEY).fingerprint();
    if b.try_finish().is_err() {
        // Re-encoding may pad a value the sender left unpadded; near 64 KiB that overflows.
        return;
    }
    let again = Message::parse(&buf).expect("a built message parses");
    assert_eq!(again.class(), msg.class());
    assert_eq!(again.method(), msg.method());
    assert_eq!(again.verify_integrity(KEY), Ok(()));
    let redecoded: Vec<Attribute<'_>> = again
        .attributes()
        .take(decoded.len())
        .map(|raw| Attribute::decode(raw.typ, raw.value, &tid).expect("re-encoded decodes"))
        .collect();
    assert_eq!(redecoded, decoded);
});
