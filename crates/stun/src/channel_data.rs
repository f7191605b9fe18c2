//! ChannelData framing (RFC 8656 §12).

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelDataError {
    #[error("ChannelData shorter than its 4-byte header")]
    TruncatedHeader,
    #[error("channel number {0:#06x} outside 0x4000-0x4FFF")]
    BadChannel(u16),
    #[error("ChannelData length {declared} exceeds the {available} bytes available")]
    BadLength { declared: usize, available: usize },
}

/// A borrowed ChannelData message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelData<'a> {
    pub channel: u16,
    pub data: &'a [u8],
}

impl<'a> ChannelData<'a> {
    /// Parse; trailing bytes (UDP padding) are allowed and ignored.
    pub fn parse(_buf: &'a [u8]) -> Result<Self, ChannelDataError> {
        todo!()
    }
    /// Write the 4-byte header into `header` for a payload of `len` bytes.
    pub fn write_header(_header: &mut [u8; 4], _channel: u16, _len: u16) {
        todo!()
    }
    /// Encode into `out` (cleared); `pad` rounds up to 4 bytes (required over TCP/TLS).
    pub fn encode(_channel: u16, _data: &[u8], _pad: bool, _out: &mut Vec<u8>) {
        todo!()
    }
}
