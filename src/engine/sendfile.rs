//! Rung 3 on Linux: `sendfile(2)`, the mechanism of the original `ZERO_COPY_*`
//! definition. An in-kernel copy through the page cache that works between most pairs
//! of filesystems, and never shares blocks, which is why `--reflink=never` starts here.

use std::fs::File;
use std::ops::Range;
use std::os::fd::AsFd;

use nix::unistd::{lseek, Whence};

use super::segments::copy_segments;
use super::{Observer, Operation, RungResult};

/// Linux transfers at most this much per call (0x7ffff000, MAX_RW_COUNT) whatever the
/// count asked for; asking for no more keeps the arithmetic obvious.
const MAX_SENDFILE: usize = 0x7fff_f000;

/// Copies the `segments` of `source` to the same offsets of `destination`.
///
/// sendfile takes an explicit offset only on the input side; the output is written at
/// its file position, so each call seeks the destination to the matching offset first
/// (one lseek per chunk, negligible beside a chunk of megabytes).
pub(crate) fn copy(
    source: &File,
    destination: &File,
    segments: &[Range<u64>],
    max_chunk: usize,
    observer: &dyn Observer,
) -> RungResult {
    let max_chunk = max_chunk.min(MAX_SENDFILE);
    copy_segments(
        source,
        segments,
        max_chunk,
        observer,
        Operation::Sendfile,
        |offset, len| {
            let mut off_in = offset as libc::off64_t;
            lseek(destination.as_fd(), offset as i64, Whence::SeekSet)?;
            nix::sys::sendfile::sendfile64(destination, source, Some(&mut off_in), len)
        },
    )
}
