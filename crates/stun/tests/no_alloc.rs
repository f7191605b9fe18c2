//! The hot paths allocate nothing once their buffers are warm: parse, read, verify, derive an
//! ASCII long-term key, build into a reused buffer, and frame ChannelData.
//!
//! A counting global allocator counts allocations made by the current thread only, so tests
//! running in parallel do not disturb each other.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use stun::{
    long_term_key_md5, stream_frame_len, Attribute, AttributeType, ChannelData, Class, Message,
    MessageBuilder, Method, TransactionId,
};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn request_response_cycle_does_not_allocate() {
    let tid = TransactionId([4; 12]);
    let peer = "203.0.113.9:40000".parse().unwrap();
    let mut request = Vec::with_capacity(1500);
    let mut response = Vec::with_capacity(1500);
    // Warm up: the first build may grow the buffers.
    for _ in 0..2 {
        let key = long_term_key_md5("alice", "example.org", "pw");
        let mut b = MessageBuilder::new(&mut request, Class::Request, Method::ALLOCATE, tid);
        b.add(&Attribute::RequestedTransport(17))
            .add(&Attribute::Username("alice"))
            .add(&Attribute::Realm("example.org"))
            .add(&Attribute::Nonce(b"nonce"))
            .message_integrity(&key)
            .fingerprint();
        b.finish();
    }

    let n = allocations_during(|| {
        for _ in 0..100 {
            let msg = Message::parse(&request).unwrap();
            let username = msg.username().unwrap();
            let realm = msg.realm().unwrap();
            assert_eq!(msg.requested_transport(), Some(17));
            assert_eq!(msg.nonce(), Some(&b"nonce"[..]));
            assert_eq!(msg.attributes().count(), 6);
            let key = long_term_key_md5(username, realm, "pw");
            assert_eq!(msg.verify_integrity(&key), Ok(()));

            let mut b = MessageBuilder::new(
                &mut response,
                Class::SuccessResponse,
                Method::ALLOCATE,
                msg.transaction_id(),
            );
            b.xor_address(AttributeType::XOR_RELAYED_ADDRESS, peer)
                .xor_address(AttributeType::XOR_MAPPED_ADDRESS, peer)
                .add(&Attribute::Lifetime(600))
                .message_integrity(&key)
                .fingerprint();
            let len = b.finish();
            let reply = Message::parse(&response[..len]).unwrap();
            assert_eq!(reply.xor_mapped_address(), Some(peer));
            assert_eq!(reply.xor_relayed_addresses().next(), Some(peer));
        }
    });
    assert_eq!(n, 0, "allocations on the request/response path");
}

#[test]
fn channel_data_relay_path_does_not_allocate() {
    let payload = [0xabu8; 1200];
    let mut out = Vec::with_capacity(2048);
    ChannelData::encode(0x4001, &payload, true, &mut out);
    let n = allocations_during(|| {
        for _ in 0..100 {
            ChannelData::encode(0x4001, &payload, true, &mut out);
            assert_eq!(stream_frame_len(&out), Ok(Some(out.len())));
            let cd = ChannelData::parse(&out).unwrap();
            assert_eq!(cd.data.len(), payload.len());
        }
    });
    assert_eq!(n, 0, "allocations on the ChannelData path");
}

#[test]
fn the_counter_counts() {
    // Guards against the test above passing because nothing is counted.
    let n = allocations_during(|| {
        let v: Vec<u8> = Vec::with_capacity(10);
        std::hint::black_box(v);
    });
    assert_eq!(n, 1);
}
