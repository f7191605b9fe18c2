//! Ogg (RFC 3533) pages carrying Opus (RFC 7845): enough to read the audio packets of an
//! `.ogg`/`.opus` file in order, with the duration of each (RFC 6716 §3.1).

use std::io::{self, Read};

/// Why an Ogg Opus file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OggError {
    #[error("I/O: {0}")]
    Io(#[from] io::Error),
    #[error("not an Ogg stream (capture pattern missing)")]
    CapturePattern,
    #[error("unsupported Ogg version {0}")]
    Version(u8),
    #[error("the first packet is not OpusHead")]
    NotOpus,
}

/// Reads Opus packets from the first logical stream of an Ogg file.
pub struct OggOpusReader<R> {
    inner: R,
    serial: Option<u32>,
    /// Lacing values of the current page not yet consumed, and the page body.
    segments: Vec<u8>,
    body: Vec<u8>,
    seg_index: usize,
    body_pos: usize,
    packet: Vec<u8>,
    eos: bool,
}

impl<R: Read> OggOpusReader<R> {
    /// Opens the stream and checks the RFC 7845 §5.1 identification header (OpusTags skipped).
    pub fn new(inner: R) -> Result<Self, OggError> {
        let mut r = OggOpusReader {
            inner,
            serial: None,
            segments: Vec::new(),
            body: Vec::new(),
            seg_index: 0,
            body_pos: 0,
            packet: Vec::new(),
            eos: false,
        };
        let head = r.next_raw()?.ok_or(OggError::NotOpus)?;
        if !head.starts_with(b"OpusHead") {
            return Err(OggError::NotOpus);
        }
        let tags = r.next_raw()?.ok_or(OggError::NotOpus)?;
        if !tags.starts_with(b"OpusTags") {
            return Err(OggError::NotOpus);
        }
        Ok(r)
    }

    /// The next audio packet, or `None` at the end.
    pub fn next_packet(&mut self) -> Result<Option<Vec<u8>>, OggError> {
        self.next_raw()
    }

    fn next_raw(&mut self) -> Result<Option<Vec<u8>>, OggError> {
        self.packet.clear();
        loop {
            while self.seg_index < self.segments.len() {
                let len = usize::from(self.segments[self.seg_index]);
                self.seg_index += 1;
                let end = (self.body_pos + len).min(self.body.len());
                self.packet
                    .extend_from_slice(&self.body[self.body_pos..end]);
                self.body_pos = end;
                // RFC 3533 §5: a lacing value under 255 ends the packet.
                if len < 255 {
                    return Ok(Some(std::mem::take(&mut self.packet)));
                }
            }
            if self.eos || !self.read_page()? {
                return Ok(None);
            }
        }
    }

    /// RFC 3533 §6: reads the next page of our stream; false at the end of the file.
    fn read_page(&mut self) -> Result<bool, OggError> {
        loop {
            let mut h = [0u8; 27];
            match self.inner.read_exact(&mut h) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
                Err(e) => return Err(e.into()),
            }
            if &h[0..4] != b"OggS" {
                return Err(OggError::CapturePattern);
            }
            if h[4] != 0 {
                return Err(OggError::Version(h[4]));
            }
            let header_type = h[5];
            let serial = u32::from_le_bytes([h[14], h[15], h[16], h[17]]);
            let n = usize::from(h[26]);
            let mut segments = vec![0u8; n];
            self.inner.read_exact(&mut segments)?;
            let body_len: usize = segments.iter().map(|&s| usize::from(s)).sum();
            let mut body = vec![0u8; body_len];
            self.inner.read_exact(&mut body)?;
            if *self.serial.get_or_insert(serial) != serial {
                continue;
            }
            self.segments = segments;
            self.body = body;
            self.seg_index = 0;
            self.body_pos = 0;
            self.eos = header_type & 0x04 != 0;
            return Ok(true);
        }
    }
}

/// RFC 6716 §3.1: the duration of an Opus packet in 48 kHz samples, from its TOC byte and
/// frame count; `None` for a malformed packet.
pub fn opus_packet_samples(packet: &[u8]) -> Option<u32> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    // Frame sizes in 48 kHz samples per configuration group (Table 2).
    let frame = match config {
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        12..=15 => [480, 960][usize::from(config % 2)],
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames = match toc & 0x03 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(*packet.get(1)? & 0x3f),
    };
    let total = frame * frames;
    // §3.2.5: a packet never exceeds 120 ms.
    (frames > 0 && total <= 5760).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn page(serial: u32, seq: u32, header_type: u8, packets: &[&[u8]]) -> Vec<u8> {
        let mut lacing = Vec::new();
        let mut body = Vec::new();
        for p in packets {
            let mut len = p.len();
            while len >= 255 {
                lacing.push(255);
                len -= 255;
            }
            lacing.push(len as u8);
            body.extend_from_slice(p);
        }
        let mut out = b"OggS".to_vec();
        out.push(0);
        out.push(header_type);
        out.extend_from_slice(&0u64.to_le_bytes());
        out.extend_from_slice(&serial.to_le_bytes());
        out.extend_from_slice(&seq.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes()); // CRC is not checked by the reader
        out.push(lacing.len() as u8);
        out.extend_from_slice(&lacing);
        out.extend_from_slice(&body);
        out
    }

    #[test]
    fn reads_packets_across_lacing() {
        let big = vec![0xfc; 600];
        let mut file = page(1, 0, 2, &[b"OpusHead\x01\x02"]);
        file.extend(page(9, 0, 2, &[b"other stream"]));
        file.extend(page(1, 1, 0, &[b"OpusTags"]));
        file.extend(page(1, 2, 4, &[&[0x78, 1, 2], &big]));
        let mut r = OggOpusReader::new(Cursor::new(file)).unwrap();
        assert_eq!(r.next_packet().unwrap(), Some(vec![0x78, 1, 2]));
        assert_eq!(r.next_packet().unwrap(), Some(big));
        assert_eq!(r.next_packet().unwrap(), None);
    }

    #[test]
    fn rejects_non_opus() {
        let file = page(1, 0, 2, &[b"\x01vorbis"]);
        assert!(matches!(
            OggOpusReader::new(Cursor::new(file)),
            Err(OggError::NotOpus)
        ));
        assert!(matches!(
            OggOpusReader::new(Cursor::new(b"RIFF....".repeat(10))),
            Err(OggError::CapturePattern)
        ));
    }

    #[test]
    fn packet_durations() {
        // config 31 (CELT FB 20 ms), code 0: one 960-sample frame.
        assert_eq!(opus_packet_samples(&[31 << 3]), Some(960));
        // config 15 (hybrid FB 20 ms), code 1: two frames.
        assert_eq!(opus_packet_samples(&[(15 << 3) | 1]), Some(1920));
        // config 3 (SILK NB 60 ms), code 3 with 2 frames.
        assert_eq!(opus_packet_samples(&[(3 << 3) | 3, 2]), Some(5760));
        assert_eq!(opus_packet_samples(&[(3 << 3) | 3, 3]), None, "over 120 ms");
        assert_eq!(opus_packet_samples(&[]), None);
    }
}
