//! Rung 2 on Linux: `copy_file_range(2)`, an in-kernel copy. Within one filesystem it
//! may clone (btrfs, XFS) or copy server-side (NFS 4.2, SMB3); elsewhere it splices
//! page-cache pages without a trip through user space.

use std::fs::File;
use std::ops::Range;
use std::os::fd::AsRawFd;

use nix::errno::Errno;

use super::segments::copy_segments;
use super::{Observer, Operation, RungResult};

/// Copies the `segments` of `source` to the same offsets of `destination`.
///
/// Explicit offsets on both sides leave both descriptors' file positions alone, so a
/// lower rung starting over needs no seek to undo this one.
pub(crate) fn copy(
    source: &File,
    destination: &File,
    segments: &[Range<u64>],
    max_chunk: usize,
    observer: &dyn Observer,
) -> RungResult {
    copy_segments(
        source,
        segments,
        max_chunk,
        observer,
        Operation::CopyFileRange,
        |offset, len| {
            let mut off_in = offset as libc::loff_t;
            let mut off_out = offset as libc::loff_t;
            // glibc's wrapper (2.27+) rather than a raw syscall(2) as nix does: the same
            // syscall, but interposable, which is how the tests inject faults into it.
            // SAFETY: both descriptors are open for the duration of the borrows, and the
            // offsets point at live locals.
            let copied = unsafe {
                libc::copy_file_range(
                    source.as_raw_fd(),
                    &mut off_in,
                    destination.as_raw_fd(),
                    &mut off_out,
                    len,
                    0,
                )
            };
            Errno::result(copied).map(|n| n as usize)
        },
    )
}
