//! Media files: VP8 in IVF, Opus in Ogg.

pub mod ivf;
pub mod ogg;
pub mod record;
pub mod stream;
