//! ChannelData parsing and TCP stream framing: parse, re-encode (padded and not), and check
//! that stream framing agrees with the parsers.

#![no_main]

use libfuzzer_sys::fuzz_target;
use stun::{ChannelData, PacketKind};

fuzz_target!(|data: &[u8]| {
    if let Ok(cd) = ChannelData::parse(data) {
        assert!((0x4000..=0x4fff).contains(&cd.channel));
        let mut out = Vec::new();
        for pad in [false, true] {
            ChannelData::encode(cd.channel, cd.data, pad, &mut out);
            assert_eq!(out.len(), ChannelData::frame_len(cd.data.len(), pad));
            assert_eq!(ChannelData::parse(&out), Ok(cd));
        }
        assert_eq!(stun::stream_frame_len(&out), Ok(Some(out.len())));
    }

    match stun::stream_frame_len(data) {
        Ok(Some(n)) => {
            assert!(n <= data.len());
            let frame = &data[..n];
            match stun::demux(data[0]) {
                // A ChannelData first byte always means a channel number in 0x4000-0x4FFF.
                PacketKind::ChannelData => {
                    ChannelData::parse(frame).expect("framed ChannelData parses");
                }
                PacketKind::Stun => {
                    // Framing only promises the header: length, alignment and cookie.
                    match stun::Message::parse(frame) {
                        Ok(_) => {}
                        Err(e) => assert!(
                            !matches!(
                                e,
                                stun::ParseError::BadLength { .. }
                                    | stun::ParseError::WrongCookie(_)
                                    | stun::ParseError::UnalignedLength(_)
                                    | stun::ParseError::TruncatedHeader(_)
                            ),
                            "{e:?}"
                        ),
                    }
                }
                other => panic!("framed a {other:?} packet"),
            }
        }
        Ok(None) => {}
        Err(()) => assert!(!matches!(stun::demux(data[0]), PacketKind::ChannelData)),
    }
});
