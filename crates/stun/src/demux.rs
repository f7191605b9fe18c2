//! RFC 7983 first-byte demultiplexing and TCP stream framing.

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

pub fn demux(_first_byte: u8) -> PacketKind {
    todo!()
}

/// For a TCP/TLS byte stream (RFC 8656 §12.5): Ok(Some(n)) when the next frame (STUN or
/// ChannelData padded to 4) is `n` bytes and fully in `buf`; Ok(None) when more bytes are
/// needed; Err(()) when the stream is not STUN/ChannelData (close the connection).
#[allow(clippy::result_unit_err)]
pub fn stream_frame_len(_buf: &[u8]) -> Result<Option<usize>, ()> {
    todo!()
}
