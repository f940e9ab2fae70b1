//! Where a sparse source keeps its data, so that holes stay holes in the copy.
//!
//! copy_file_range (outside CoW filesystems), sendfile and read/write all turn a hole
//! into written zeros. Copying only the data segments that `lseek(SEEK_DATA/SEEK_HOLE)`
//! reports, at the same offsets, and setting the final length leaves the holes unwritten.

use std::fs::{File, Metadata};
use std::io;
use std::ops::Range;
use std::os::unix::fs::MetadataExt;

use nix::errno::Errno;
use nix::unistd::{lseek, Whence};

use super::{classify, Observer, Operation, RungError, RungResult};

/// The byte ranges of `file` that hold data. A file with no fewer allocated blocks than
/// its size cannot have holes, and is one segment without asking the kernel.
pub(crate) fn data_segments(file: &File, metadata: &Metadata) -> io::Result<Vec<Range<u64>>> {
    let size = metadata.len();
    // st_blocks counts 512-byte units whatever the filesystem's block size.
    let allocated = metadata.blocks().saturating_mul(512);
    if size == 0 || allocated >= size {
        return Ok(vec![0..size]);
    }
    let mut segments = Vec::new();
    let mut offset = 0u64;
    while offset < size {
        let start = match lseek(file, to_off(offset)?, Whence::SeekData) {
            Ok(start) => start as u64,
            // ENXIO: no data at or after `offset`; the rest is a hole.
            Err(Errno::ENXIO) => break,
            // EINVAL/EOPNOTSUPP: the filesystem cannot tell. Treat the rest as data.
            Err(Errno::EINVAL | Errno::EOPNOTSUPP) => {
                segments.push(offset..size);
                break;
            }
            Err(errno) => return Err(errno.into()),
        };
        if start >= size {
            break;
        }
        let end = match lseek(file, to_off(start)?, Whence::SeekHole) {
            Ok(end) => (end as u64).min(size),
            Err(Errno::ENXIO) => size,
            Err(errno) => return Err(errno.into()),
        };
        segments.push(start..end);
        offset = end;
    }
    Ok(segments)
}

/// Gives the copy its full length when the source ends in a hole, which no rung
/// writes. Only then: extending after a short copy would hide it from the size check.
pub(crate) fn extend_over_trailing_hole(
    file: &File,
    segments: &[Range<u64>],
    size: u64,
) -> io::Result<()> {
    let data_end = segments.last().map_or(0, |segment| segment.end);
    if data_end < size {
        file.set_len(size)?;
    }
    Ok(())
}

fn to_off(offset: u64) -> io::Result<i64> {
    i64::try_from(offset).map_err(|_| io::Error::from_raw_os_error(libc::EOVERFLOW))
}

/// The loop shared by the kernel rungs: calls `step(offset, len)` over every segment in
/// requests of at most `max_chunk` bytes, until each is done.
///
/// Short counts are normal and simply continue. A first call that copies nothing from
/// a source that is not empty means the mechanism cannot read this file (overlay and
/// FUSE files that report a size but give nothing to splice): "unsupported", so the
/// chunk copy reads it instead of leaving a silently empty copy. A later 0 means the
/// source ended early; the check after the copy reports it as a changed source.
///
/// An EIO from the kernel call may be either file's: `source` is read where the copy
/// stopped to tell which ([`source_fails_at`]).
pub(crate) fn copy_segments(
    source: &File,
    segments: &[Range<u64>],
    max_chunk: usize,
    observer: &dyn Observer,
    operation: Operation,
    mut step: impl FnMut(u64, usize) -> nix::Result<usize>,
) -> RungResult {
    let mut copied = 0u64;
    for segment in segments {
        let mut offset = segment.start;
        while offset < segment.end {
            if observer.interrupted() {
                return Err(RungError::Interrupted);
            }
            let len =
                usize::try_from(segment.end - offset).map_or(max_chunk, |left| left.min(max_chunk));
            match step(offset, len) {
                Ok(0) if copied == 0 => {
                    return Err(RungError::Unsupported(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "{} returned no data for a non-empty file",
                            operation.describe()
                        ),
                    )))
                }
                Ok(0) => return Ok(copied),
                Ok(n) => {
                    offset += n as u64;
                    copied += n as u64;
                    observer.progress(offset);
                }
                Err(Errno::EINTR) => continue,
                Err(Errno::EIO) => {
                    return Err(match source_fails_at(source, offset) {
                        Some(err) => RungError::Failed(Operation::Read, err),
                        None => RungError::Failed(operation, Errno::EIO.into()),
                    })
                }
                Err(errno) => return Err(classify(operation, errno.into())),
            }
        }
    }
    Ok(copied)
}

/// How far past the offset a kernel call stopped at [`source_fails_at`] reads: the
/// calls move data in batches of a pipe's worth (64 KiB) or a few, and one that fails
/// partway returns what came before, so the page that failed is near its start.
const PROBE_LEN: usize = 1 << 20;

/// The source's read error at `offset`, if reading it fails with EIO there: then an
/// EIO of copy_file_range or sendfile, which does not say which side failed, was the
/// source's, and is reported as a read of it (as the chunk copy and cp report it)
/// instead of suggesting that the destination's drive is failing. `None` when the
/// source reads fine there: the write side failed.
fn source_fails_at(source: &File, offset: u64) -> Option<io::Error> {
    use std::os::unix::fs::FileExt;
    let mut buffer = vec![0u8; 64 * 1024];
    let mut read = 0;
    while read < PROBE_LEN {
        match source.read_at(&mut buffer, offset + read as u64) {
            Ok(0) => return None,
            Ok(n) => read += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) if err.raw_os_error() == Some(libc::EIO) => return Some(err),
            Err(_) => return None,
        }
    }
    None
}
