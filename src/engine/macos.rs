//! macOS rungs (compiled, not tested here): APFS clones with `fclonefileat`, then
//! `fcopyfile`. Never sendfile: macOS `sendfile(2)` only sends a file to a socket.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;

use super::{classify, Operation, RungResult};
use crate::atomic::TempDest;

/// Clones `source` onto the temporary file's path. `fclonefileat` creates its target
/// and refuses an existing one (EEXIST), so the empty placeholder is removed first.
pub(crate) fn clone(source: &File, temp: &mut TempDest, size: u64) -> RungResult {
    let result = temp.rewrite_path(|path| {
        std::fs::remove_file(path)?;
        let target = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: valid descriptor and NUL-terminated path for the duration of the call.
        let rc =
            unsafe { libc::fclonefileat(source.as_raw_fd(), libc::AT_FDCWD, target.as_ptr(), 0) };
        if rc == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    });
    result
        .map(|()| size)
        .map_err(|err| classify(Operation::Clone, err))
}

/// Copies the data with `fcopyfile(3)`.
pub(crate) fn fcopyfile(source: &File, destination: &File, size: u64) -> RungResult {
    // SAFETY: both descriptors are open; a null state is allowed.
    let rc = unsafe {
        libc::fcopyfile(
            source.as_raw_fd(),
            destination.as_raw_fd(),
            std::ptr::null_mut(),
            libc::COPYFILE_DATA,
        )
    };
    if rc == -1 {
        return Err(classify(
            Operation::CopyFileRange,
            io::Error::last_os_error(),
        ));
    }
    Ok(size)
}
