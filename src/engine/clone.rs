//! Rung 1 on Linux: `ioctl(FICLONE)`, a whole-file clone that shares the source's
//! blocks (btrfs, XFS with reflink, bcachefs, and OCFS2). O(1) in the file's size.

use std::fs::File;
use std::os::fd::AsRawFd;

use super::{classify, Operation, RungResult};

/// Makes `destination` (empty) share all of `source`'s blocks.
///
/// ext4 and tmpfs answer EOPNOTSUPP (or ENOTTY through some layers), different
/// filesystems EXDEV: all "try the next rung". ENOSPC can happen on a nearly full CoW
/// filesystem (metadata for the shared extents) and is a real failure.
pub(crate) fn clone(source: &File, destination: &File, size: u64) -> RungResult {
    // SAFETY: FICLONE takes the source descriptor as its integer argument; both
    // descriptors are open for as long as the borrows last.
    let result = unsafe { libc::ioctl(destination.as_raw_fd(), libc::FICLONE, source.as_raw_fd()) };
    if result == -1 {
        return Err(classify(Operation::Clone, std::io::Error::last_os_error()));
    }
    Ok(size)
}
