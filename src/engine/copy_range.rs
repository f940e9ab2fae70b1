//! Rung 2 on Linux: `copy_file_range(2)`, an in-kernel copy. Within one filesystem it
//! may clone (btrfs, XFS) or copy server-side (NFS 4.2, SMB3); elsewhere it splices
//! page-cache pages without a trip through user space.

use std::fs::File;
use std::ops::Range;
use std::sync::atomic::AtomicBool;

use super::segments::copy_segments;
use super::{Observer, Operation, RungResult};

/// Set once copy_file_range answered ENOSYS in this process.
pub(crate) static UNAVAILABLE: AtomicBool = AtomicBool::new(false);

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
        segments,
        max_chunk,
        observer,
        Operation::CopyFileRange,
        |offset, len| {
            let mut off_in = offset as i64;
            let mut off_out = offset as i64;
            nix::fcntl::copy_file_range(
                source,
                Some(&mut off_in),
                destination,
                Some(&mut off_out),
                len,
            )
        },
    )
}
