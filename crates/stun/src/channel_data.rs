//! ChannelData framing (RFC 8656 §12).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Channel Number        |            Length             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! /                       Application Data                        /
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

/// Bytes before the application data.
pub const HEADER_LEN: usize = 4;
/// RFC 8656 §12: the channel numbers a client may bind.
pub const CHANNEL_RANGE: std::ops::RangeInclusive<u16> = 0x4000..=0x4FFF;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelDataError {
    #[error("ChannelData shorter than its 4-byte header")]
    TruncatedHeader,
    #[error("channel number {0:#06x} outside 0x4000-0x4FFF")]
    BadChannel(u16),
    #[error("ChannelData length {declared} exceeds the {available} bytes available")]
    BadLength { declared: usize, available: usize },
    /// Only from [`ChannelData::try_encode`]: the length field is 16 bits.
    #[error("ChannelData payload of {0} bytes does not fit the 16-bit length")]
    TooLong(usize),
}

/// A borrowed ChannelData message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelData<'a> {
    pub channel: u16,
    pub data: &'a [u8],
}

impl<'a> ChannelData<'a> {
    /// Parse; trailing bytes (UDP padding) are allowed and ignored.
    ///
    /// RFC 8656 §12.4/§12.6: numbers outside 0x4000-0x4FFF are not ChannelData we accept
    /// (0x5000-0x7FFF are reserved), and a length beyond the datagram is discarded.
    pub fn parse(buf: &'a [u8]) -> Result<Self, ChannelDataError> {
        let [c0, c1, l0, l1, ..] = *buf else {
            return Err(ChannelDataError::TruncatedHeader);
        };
        let channel = u16::from_be_bytes([c0, c1]);
        if !CHANNEL_RANGE.contains(&channel) {
            return Err(ChannelDataError::BadChannel(channel));
        }
        let declared = usize::from(u16::from_be_bytes([l0, l1]));
        let data = buf[HEADER_LEN..]
            .get(..declared)
            .ok_or(ChannelDataError::BadLength {
                declared,
                available: buf.len() - HEADER_LEN,
            })?;
        Ok(ChannelData { channel, data })
    }

    /// Write the 4-byte header into `header` for a payload of `len` bytes.
    pub fn write_header(header: &mut [u8; 4], channel: u16, len: u16) {
        header[..2].copy_from_slice(&channel.to_be_bytes());
        header[2..].copy_from_slice(&len.to_be_bytes());
    }

    /// Bytes on the wire for a `data_len`-byte payload; `pad` rounds up to 4 (RFC 8656 §12.5:
    /// required over TCP and TLS, optional over UDP).
    pub const fn frame_len(data_len: usize, pad: bool) -> usize {
        let len = HEADER_LEN + data_len;
        if pad {
            (len + 3) & !3
        } else {
            len
        }
    }

    /// Encode into `out` (cleared); `pad` rounds up to 4 bytes (required over TCP/TLS).
    ///
    /// A payload over 65535 bytes cannot be framed: `out` is left empty (and this
    /// `debug_assert!`s); [`ChannelData::try_encode`] reports it instead. A UDP payload always
    /// fits.
    pub fn encode(channel: u16, data: &[u8], pad: bool, out: &mut Vec<u8>) {
        let result = Self::try_encode(channel, data, pad, out);
        debug_assert!(result.is_ok(), "{result:?}");
    }

    /// Like [`ChannelData::encode`], reporting a payload too long for the length field.
    pub fn try_encode(
        channel: u16,
        data: &[u8],
        pad: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), ChannelDataError> {
        out.clear();
        let len = u16::try_from(data.len()).map_err(|_| ChannelDataError::TooLong(data.len()))?;
        let mut header = [0u8; HEADER_LEN];
        Self::write_header(&mut header, channel, len);
        out.extend_from_slice(&header);
        out.extend_from_slice(data);
        out.resize(Self::frame_len(data.len(), pad), 0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_trailing_padding() {
        let buf = [0x40, 0x00, 0x00, 0x03, b'a', b'b', b'c', 0x00];
        assert_eq!(
            ChannelData::parse(&buf),
            Ok(ChannelData {
                channel: 0x4000,
                data: b"abc"
            })
        );
        assert_eq!(
            ChannelData::parse(&[0x4f, 0xff, 0, 0]),
            Ok(ChannelData {
                channel: 0x4fff,
                data: b""
            })
        );
    }

    #[test]
    fn parse_errors() {
        assert_eq!(
            ChannelData::parse(&[0x40, 0x00, 0x00]),
            Err(ChannelDataError::TruncatedHeader)
        );
        assert_eq!(
            ChannelData::parse(&[0x3f, 0xff, 0, 0]),
            Err(ChannelDataError::BadChannel(0x3fff))
        );
        assert_eq!(
            ChannelData::parse(&[0x50, 0x00, 0, 0]),
            Err(ChannelDataError::BadChannel(0x5000))
        );
        assert_eq!(
            ChannelData::parse(&[0x40, 0x01, 0x00, 0x05, 1, 2, 3, 4]),
            Err(ChannelDataError::BadLength {
                declared: 5,
                available: 4
            })
        );
    }

    #[test]
    fn encode_with_and_without_padding() {
        let mut out = vec![9; 3];
        ChannelData::encode(0x4001, b"hello", false, &mut out);
        assert_eq!(out, [0x40, 0x01, 0x00, 0x05, b'h', b'e', b'l', b'l', b'o']);
        ChannelData::encode(0x4001, b"hello", true, &mut out);
        assert_eq!(
            out,
            [0x40, 0x01, 0x00, 0x05, b'h', b'e', b'l', b'l', b'o', 0, 0, 0]
        );
        assert_eq!(ChannelData::parse(&out).unwrap().data, b"hello");
        ChannelData::encode(0x4001, b"four", true, &mut out);
        assert_eq!(out.len(), 8);
        assert_eq!(
            ChannelData::try_encode(0x4001, &vec![0; 65_536], false, &mut out),
            Err(ChannelDataError::TooLong(65_536))
        );
        assert!(out.is_empty());
    }

    #[test]
    fn header_in_place() {
        let mut frame = [0u8; 4 + 2];
        frame[4..].copy_from_slice(b"hi");
        let header: &mut [u8; 4] = (&mut frame[..4]).try_into().unwrap();
        ChannelData::write_header(header, 0x4abc, 2);
        assert_eq!(
            ChannelData::parse(&frame),
            Ok(ChannelData {
                channel: 0x4abc,
                data: b"hi"
            })
        );
    }
}
