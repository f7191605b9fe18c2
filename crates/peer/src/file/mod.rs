//! File transfer over data channels: the wire protocol, and the `send` and `receive` runs.

pub mod protocol;
pub mod receive;
pub mod send;

use serde::Serialize;

use crate::report::SelectedPair;

/// One file a run sent or received.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileReport {
    pub name: String,
    /// Where it was written (receive) or read from (send).
    pub path: std::path::PathBuf,
    pub bytes: u64,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
    pub secs: f64,
    /// The receiver's hash matched the sender's.
    pub ok: bool,
}

/// What a `send` or `receive` run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransferReport {
    pub files: Vec<FileReport>,
    /// The candidate pair the transfer ran on.
    pub pair: Option<SelectedPair>,
}

/// SHA-256 of a file, hex, and its size.
pub fn hash_file(path: &std::path::Path) -> std::io::Result<(String, u64)> {
    use sha2::Digest;
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex::encode(h.finalize()), size))
}
