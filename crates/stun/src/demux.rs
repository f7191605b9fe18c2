//! RFC 7983 first-byte demultiplexing and TCP stream framing.

use crate::types::MAGIC_COOKIE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    /// 0..=3
    Stun,
    /// 16..=19 (RFC 9443 moves ZRTP to 16..19; we treat 16..19 as ZRTP)
    Zrtp,
    /// 20..=63
    Dtls,
    /// 64..=79
    ChannelData,
    /// 128..=191
    Rtp,
    Unknown,
}

/// RFC 7983 §7 (as updated by RFC 9443): classify a datagram by its first byte.
pub fn demux(first_byte: u8) -> PacketKind {
    match first_byte {
        0..=3 => PacketKind::Stun,
        16..=19 => PacketKind::Zrtp,
        20..=63 => PacketKind::Dtls,
        64..=79 => PacketKind::ChannelData,
        128..=191 => PacketKind::Rtp,
        _ => PacketKind::Unknown,
    }
}

/// For a TCP/TLS byte stream (RFC 8656 §12.5): Ok(Some(n)) when the next frame (STUN or
/// ChannelData padded to 4) is `n` bytes and fully in `buf`; Ok(None) when more bytes are
/// needed; Err(()) when the stream is not STUN/ChannelData (close the connection).
#[allow(clippy::result_unit_err)]
pub fn stream_frame_len(buf: &[u8]) -> Result<Option<usize>, ()> {
    match stream_frame_size(buf)? {
        Some(n) if n <= buf.len() => Ok(Some(n)),
        _ => Ok(None),
    }
}

/// Like [`stream_frame_len`], but gives the frame size as soon as its header shows it, even
/// when the frame is not yet fully in `buf` (so a reader can size its next read).
///
/// STUN frames are 20 + the header length (a multiple of 4, with the magic cookie, once 8
/// bytes are there); ChannelData frames are 4 + the length rounded up to 4. Anything else,
/// including a STUN length that is not a multiple of 4 or a wrong cookie, is `Err(())`.
#[allow(clippy::result_unit_err)]
pub fn stream_frame_size(buf: &[u8]) -> Result<Option<usize>, ()> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let kind = demux(first);
    if !matches!(kind, PacketKind::Stun | PacketKind::ChannelData) {
        return Err(());
    }
    let [_, _, l0, l1, ..] = *buf else {
        return Ok(None);
    };
    let len = usize::from(u16::from_be_bytes([l0, l1]));
    match kind {
        PacketKind::Stun => {
            if !len.is_multiple_of(4) {
                return Err(());
            }
            if let Some(cookie) = buf.get(4..8) {
                if cookie != MAGIC_COOKIE.to_be_bytes() {
                    return Err(());
                }
            }
            Ok(Some(20 + len))
        }
        _ => Ok(Some((4 + len + 3) & !3)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demux_ranges_from_rfc7983() {
        let expect = |range: std::ops::RangeInclusive<u8>, kind| {
            for b in range {
                assert_eq!(demux(b), kind, "byte {b}");
            }
        };
        expect(0..=3, PacketKind::Stun);
        expect(4..=15, PacketKind::Unknown);
        expect(16..=19, PacketKind::Zrtp);
        expect(20..=63, PacketKind::Dtls);
        expect(64..=79, PacketKind::ChannelData);
        expect(80..=127, PacketKind::Unknown);
        expect(128..=191, PacketKind::Rtp);
        expect(192..=255, PacketKind::Unknown);
    }

    #[test]
    fn stun_frames() {
        let mut m = vec![0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42];
        m.extend_from_slice(&[0; 12 + 8]);
        assert_eq!(stream_frame_len(&m), Ok(Some(28)));
        assert_eq!(stream_frame_len(&m[..27]), Ok(None));
        assert_eq!(stream_frame_size(&m[..27]), Ok(Some(28)));
        assert_eq!(stream_frame_len(&m[..3]), Ok(None));
        assert_eq!(stream_frame_len(&[]), Ok(None));
        // Two frames back to back: only the first is reported.
        let mut two = m.clone();
        two.extend_from_slice(&m);
        assert_eq!(stream_frame_len(&two), Ok(Some(28)));
        // Unaligned length and wrong cookie are not STUN.
        assert_eq!(stream_frame_len(&[0x00, 0x01, 0x00, 0x06]), Err(()));
        assert_eq!(
            stream_frame_len(&[0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x43]),
            Err(())
        );
    }

    #[test]
    fn channel_data_frames_are_padded() {
        let frame = [0x40, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5, 0, 0, 0];
        assert_eq!(stream_frame_len(&frame), Ok(Some(12)));
        assert_eq!(stream_frame_len(&frame[..9]), Ok(None));
        assert_eq!(stream_frame_size(&frame[..9]), Ok(Some(12)));
        assert_eq!(stream_frame_len(&[0x4f, 0xff, 0x00, 0x00]), Ok(Some(4)));
    }

    #[test]
    fn other_first_bytes_close_the_stream() {
        for b in [4u8, 22, 0x50, 0x80, 0xff] {
            assert_eq!(stream_frame_len(&[b, 0, 0, 0]), Err(()), "byte {b}");
        }
        // A TLS ClientHello on a plain TURN port. (Plain HTTP is not caught here: "GET"
        // starts with 0x47, a valid ChannelData first byte.)
        assert_eq!(stream_frame_len(&[0x16, 0x03, 0x01, 0x02, 0x00]), Err(()));
    }
}
