//! Windows rung (compiled, not tested here): `CopyFileExW`, which clones on ReFS with
//! block cloning and copies server-side on SMB shares.

use std::io;
use std::os::windows::ffi::OsStrExt;
use std::path::Path;

use windows_sys::Win32::Storage::FileSystem::CopyFileExW;

use super::{classify, Operation, RungResult};
use crate::atomic::TempDest;

fn wide(path: &Path) -> Vec<u16> {
    path.as_os_str()
        .encode_wide()
        .chain(std::iter::once(0))
        .collect()
}

/// Copies `source` over the temporary file's path.
pub(crate) fn copy_file_ex(source: &Path, temp: &mut TempDest) -> RungResult {
    let from = wide(source);
    let result = temp.rewrite_path(|path| {
        let to = wide(path);
        // SAFETY: NUL-terminated wide strings outlive the call; no progress routine.
        let ok = unsafe {
            CopyFileExW(
                from.as_ptr(),
                to.as_ptr(),
                None,
                std::ptr::null(),
                std::ptr::null_mut(),
                0,
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    });
    result
        .and_then(|()| temp.file().metadata())
        .map(|metadata| metadata.len())
        .map_err(|err| classify(Operation::CopyFileRange, err))
}
