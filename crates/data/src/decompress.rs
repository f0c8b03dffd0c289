//! Reading a stream that may or may not be gzip-compressed.
//!
//! The format is told by the gzip magic bytes `1f 8b`, never by the file name: a user who
//! gunzipped a file but kept the `.gz` name (or the reverse) should not get a confusing error.

use std::io::{self, Chain, Cursor, Read, Take};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::error::DataError;

/// The first two bytes of every gzip stream (RFC 1952).
pub(crate) const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The two bytes peeked to detect gzip, put back in front of the rest of the input.
type Peeked<R> = Chain<Take<Cursor<[u8; 2]>>, R>;

/// The decompressed bytes of an input, whichever format it was in.
pub(crate) enum Decompressed<R: Read> {
    /// The input was not gzip: its bytes as they are.
    Raw(Peeked<R>),
    /// The input was gzip: its decompressed bytes, every member of it. RFC 1952 lets a
    /// file be several gzip members one after another (`cat a.gz b.gz`, `pigz`, `bgzip`),
    /// meaning their contents concatenated; a single-member decoder would stop after the
    /// first and call a valid file truncated.
    Gzip(Box<MultiGzDecoder<Peeked<R>>>),
}

impl<R: Read> Decompressed<R> {
    /// Peeks at the first two bytes of `input` to choose between raw and gzip.
    pub(crate) fn new(mut input: R) -> io::Result<Self> {
        let mut head = [0u8; 2];
        let n = read_full(&mut input, &mut head)?;
        let is_gzip = n == head.len() && head == GZIP_MAGIC;
        let peeked = Cursor::new(head).take(n as u64).chain(input);
        Ok(if is_gzip {
            Decompressed::Gzip(Box::new(MultiGzDecoder::new(peeked)))
        } else {
            Decompressed::Raw(peeked)
        })
    }

    /// Whether the input is gzip-compressed.
    pub(crate) fn is_gzip(&self) -> bool {
        matches!(self, Decompressed::Gzip(_))
    }

    /// Turns a read error from this input into a [`DataError`] naming `path`.
    pub(crate) fn error(&self, path: &Path, error: io::Error) -> DataError {
        read_error(self.is_gzip(), path, error)
    }
}

/// Turns a read error into a [`DataError`] naming `path`.
///
/// In a gzip stream, invalid or missing data means the compressed file is damaged; other errors
/// (permissions, a disk failing) are I/O errors in either format.
pub(crate) fn read_error(is_gzip: bool, path: &Path, error: io::Error) -> DataError {
    let corrupt = matches!(
        error.kind(),
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::UnexpectedEof
    );
    if is_gzip && corrupt {
        DataError::CorruptGzip {
            path: path.to_path_buf(),
            source: error,
        }
    } else {
        DataError::io(path, error)
    }
}

impl<R: Read> Read for Decompressed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decompressed::Raw(reader) => reader.read(buf),
            Decompressed::Gzip(reader) => reader.read(buf),
        }
    }
}

/// Reads until `buf` is full or the input ends, and returns how many bytes were read.
///
/// Unlike `read_exact`, a short input is not an error here: the caller wants to report how
/// many bytes there were, and a real error from the decoder must stay distinguishable from a
/// clean end of input.
pub(crate) fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
