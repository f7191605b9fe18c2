//! IVF, the simple container for VP8 frames: a 32-byte file header, then per frame a 12-byte
//! header (size, 64-bit timestamp) and the frame.
//!
//! ```text
//! 0  "DKIF"   4 version=0   6 header size=32   8 fourcc "VP80"   12 width   14 height
//! 16 timebase denominator (rate)   20 timebase numerator (scale)   24 frame count   28 unused
//! ```

use std::io::{self, Read, Seek, SeekFrom, Write};

const SIGNATURE: &[u8; 4] = b"DKIF";
const HEADER_LEN: usize = 32;
const FRAME_HEADER_LEN: usize = 12;
/// Frames larger than this are taken as a corrupt file rather than allocated.
const MAX_FRAME: u32 = 16 << 20;

/// Why an IVF file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IvfError {
    #[error("I/O: {0}")]
    Io(#[from] io::Error),
    #[error("not an IVF file")]
    Signature,
    #[error("codec {0:?} is not VP8")]
    Codec(String),
    #[error("bad timebase {0}/{1}")]
    Timebase(u32, u32),
    #[error("frame of {0} bytes is too large")]
    FrameTooLarge(u32),
}

/// The file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IvfHeader {
    pub fourcc: [u8; 4],
    pub width: u16,
    pub height: u16,
    /// Timestamps count `scale / rate` seconds.
    pub rate: u32,
    pub scale: u32,
    pub frames: u32,
}

/// One frame and its timestamp in timebase units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IvfFrame {
    pub timestamp: u64,
    pub data: Vec<u8>,
}

pub struct IvfReader<R> {
    inner: R,
    pub header: IvfHeader,
}

impl<R: Read> IvfReader<R> {
    pub fn new(mut inner: R) -> Result<Self, IvfError> {
        let mut h = [0u8; HEADER_LEN];
        inner.read_exact(&mut h)?;
        if &h[0..4] != SIGNATURE {
            return Err(IvfError::Signature);
        }
        let u16_at = |i: usize| u16::from_le_bytes([h[i], h[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let header_len = usize::from(u16_at(6));
        let header = IvfHeader {
            fourcc: [h[8], h[9], h[10], h[11]],
            width: u16_at(12),
            height: u16_at(14),
            rate: u32_at(16),
            scale: u32_at(20),
            frames: u32_at(24),
        };
        if !header.fourcc.eq_ignore_ascii_case(b"VP80") {
            return Err(IvfError::Codec(
                String::from_utf8_lossy(&header.fourcc).into_owned(),
            ));
        }
        if header.rate == 0 || header.scale == 0 {
            return Err(IvfError::Timebase(header.scale, header.rate));
        }
        // Skip a longer header than ours, if a writer made one.
        if header_len > HEADER_LEN {
            io::copy(
                &mut (&mut inner).take((header_len - HEADER_LEN) as u64),
                &mut io::sink(),
            )?;
        }
        Ok(IvfReader { inner, header })
    }

    /// The next frame, or `None` at the end of the file.
    pub fn next_frame(&mut self) -> Result<Option<IvfFrame>, IvfError> {
        let mut h = [0u8; FRAME_HEADER_LEN];
        match self.inner.read_exact(&mut h) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        let size = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        if size > MAX_FRAME {
            return Err(IvfError::FrameTooLarge(size));
        }
        let timestamp = u64::from_le_bytes([h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11]]);
        let mut data = vec![0u8; size as usize];
        self.inner.read_exact(&mut data)?;
        Ok(Some(IvfFrame { timestamp, data }))
    }

    /// Microseconds from the start for a timestamp.
    pub fn micros(&self, timestamp: u64) -> u64 {
        let scale = u128::from(self.header.scale);
        let rate = u128::from(self.header.rate);
        (u128::from(timestamp) * scale * 1_000_000 / rate).min(u128::from(u64::MAX)) as u64
    }
}

/// Writes VP8 frames; the header's size and frame count are fixed up by [`IvfWriter::finish`].
pub struct IvfWriter<W: Write + Seek> {
    inner: W,
    header: IvfHeader,
}

impl<W: Write + Seek> IvfWriter<W> {
    /// Timestamps count `1 / rate` seconds.
    pub fn new(mut inner: W, width: u16, height: u16, rate: u32) -> io::Result<Self> {
        let header = IvfHeader {
            fourcc: *b"VP80",
            width,
            height,
            rate,
            scale: 1,
            frames: 0,
        };
        inner.write_all(&encode_header(&header))?;
        Ok(IvfWriter { inner, header })
    }

    pub fn set_size(&mut self, width: u16, height: u16) {
        self.header.width = width;
        self.header.height = height;
    }

    pub fn write_frame(&mut self, timestamp: u64, data: &[u8]) -> io::Result<()> {
        let size = u32::try_from(data.len()).map_err(|_| io::Error::other("frame too large"))?;
        self.inner.write_all(&size.to_le_bytes())?;
        self.inner.write_all(&timestamp.to_le_bytes())?;
        self.inner.write_all(data)?;
        self.header.frames += 1;
        Ok(())
    }

    pub fn frames(&self) -> u32 {
        self.header.frames
    }

    /// Rewrites the header with the final frame count and size, and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        let end = self.inner.stream_position()?;
        self.inner.seek(SeekFrom::Start(0))?;
        self.inner.write_all(&encode_header(&self.header))?;
        self.inner.seek(SeekFrom::Start(end))?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

fn encode_header(h: &IvfHeader) -> [u8; HEADER_LEN] {
    let mut b = [0u8; HEADER_LEN];
    b[0..4].copy_from_slice(SIGNATURE);
    b[6..8].copy_from_slice(&(HEADER_LEN as u16).to_le_bytes());
    b[8..12].copy_from_slice(&h.fourcc);
    b[12..14].copy_from_slice(&h.width.to_le_bytes());
    b[14..16].copy_from_slice(&h.height.to_le_bytes());
    b[16..20].copy_from_slice(&h.rate.to_le_bytes());
    b[20..24].copy_from_slice(&h.scale.to_le_bytes());
    b[24..28].copy_from_slice(&h.frames.to_le_bytes());
    b
}

/// RFC 6386 §9.1: a key frame has the P bit (bit 0 of the first byte) clear.
pub fn vp8_is_keyframe(frame: &[u8]) -> bool {
    frame.first().is_some_and(|b| b & 1 == 0)
}

/// RFC 6386 §9.1: width and height from a key frame (start code 9d 01 2a at byte 3).
pub fn vp8_keyframe_size(frame: &[u8]) -> Option<(u16, u16)> {
    if !vp8_is_keyframe(frame) || frame.len() < 10 || frame[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let w = u16::from_le_bytes([frame[6], frame[7]]) & 0x3fff;
    let h = u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff;
    Some((w, h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn write_then_read() {
        let mut w = IvfWriter::new(Cursor::new(Vec::new()), 0, 0, 90_000).unwrap();
        let key = [
            0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00, 0xaa,
        ];
        assert!(vp8_is_keyframe(&key));
        assert_eq!(vp8_keyframe_size(&key), Some((320, 240)));
        w.set_size(320, 240);
        w.write_frame(0, &key).unwrap();
        w.write_frame(3000, &[0x11, 0x22]).unwrap();
        let bytes = w.finish().unwrap().into_inner();
        let mut r = IvfReader::new(Cursor::new(bytes)).unwrap();
        assert_eq!(
            (r.header.width, r.header.height, r.header.frames),
            (320, 240, 2)
        );
        let f1 = r.next_frame().unwrap().unwrap();
        assert_eq!(f1.data, key);
        let f2 = r.next_frame().unwrap().unwrap();
        assert_eq!((f2.timestamp, r.micros(f2.timestamp)), (3000, 33_333));
        assert!(!vp8_is_keyframe(&f2.data));
        assert!(r.next_frame().unwrap().is_none());
    }

    #[test]
    fn rejects_other_files() {
        assert!(matches!(
            IvfReader::new(Cursor::new(vec![0u8; 32])),
            Err(IvfError::Signature)
        ));
        let mut h = encode_header(&IvfHeader {
            fourcc: *b"VP90",
            width: 1,
            height: 1,
            rate: 1,
            scale: 1,
            frames: 0,
        });
        assert!(matches!(
            IvfReader::new(Cursor::new(h.to_vec())),
            Err(IvfError::Codec(_))
        ));
        h[8..12].copy_from_slice(b"VP80");
        h[16..20].copy_from_slice(&0u32.to_le_bytes());
        assert!(matches!(
            IvfReader::new(Cursor::new(h.to_vec())),
            Err(IvfError::Timebase(..))
        ));
    }

    #[test]
    fn truncated_frame_is_an_error() {
        let mut w = IvfWriter::new(Cursor::new(Vec::new()), 1, 1, 30).unwrap();
        w.write_frame(0, &[1, 2, 3, 4]).unwrap();
        let mut bytes = w.finish().unwrap().into_inner();
        bytes.truncate(bytes.len() - 2);
        let mut r = IvfReader::new(Cursor::new(bytes)).unwrap();
        assert!(r.next_frame().is_err());
    }
}
