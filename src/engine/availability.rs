//! What the run has learnt about which mechanisms work where.
//!
//! Only ENOSYS (the syscall does not exist) holds for the whole process. "Not supported
//! here" answers (EOPNOTSUPP, ENOTTY, EXDEV) belong to one pair of filesystems: a run
//! whose destinations span tmpfs and btrfs must still clone onto btrfs after tmpfs
//! refused. Those are remembered per (source device, destination device). Anything
//! else (EINVAL, EPERM, EBADF, ETXTBSY) can be about one file (btrfs refuses to clone a
//! nodatacow file into a datacow one; an append-only file refuses copy_file_range), so
//! it is not remembered at all.
//!
//! The destination's device is not known without a stat, so the directory cache below
//! is consulted only once some pair was refused: a run where every rung works pays
//! nothing, and a run onto ext4 pays one stat per destination directory instead of a
//! refused syscall per file.

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};

use super::Method;

/// Where a refusal holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// Off Unix no errno is classified, so only `File` is ever made there.
#[cfg_attr(not(unix), allow(dead_code))]
pub(crate) enum Scope {
    /// The whole process: the syscall does not exist (ENOSYS).
    Process,
    /// One pair of filesystems (EOPNOTSUPP, ENOTSUP, ENOTTY, EXDEV).
    FilesystemPair,
    /// This file only.
    File,
}

/// How far a "not supported here" error of a rung reaches. The raw errno decides:
/// std maps both ENOSYS and EOPNOTSUPP to `ErrorKind::Unsupported`.
#[cfg(unix)]
pub(crate) fn scope(err: &io::Error) -> Scope {
    match err.raw_os_error() {
        Some(libc::ENOSYS) => Scope::Process,
        Some(errno)
            if errno == libc::EOPNOTSUPP
                || errno == libc::ENOTSUP
                || errno == libc::ENOTTY
                || errno == libc::EXDEV =>
        {
            Scope::FilesystemPair
        }
        _ => Scope::File,
    }
}

#[cfg(not(unix))]
pub(crate) fn scope(_err: &io::Error) -> Scope {
    Scope::File
}

/// One mechanism's record.
struct Record {
    /// ENOSYS seen: never ask again.
    missing: AtomicBool,
    /// Set as soon as `refused_pairs` has an entry: lets the common case skip the lock.
    any_pair_refused: AtomicBool,
    /// (source device, destination device) pairs that refused.
    refused_pairs: RwLock<BTreeSet<(u64, u64)>>,
}

impl Record {
    const fn new() -> Self {
        Record {
            missing: AtomicBool::new(false),
            any_pair_refused: AtomicBool::new(false),
            refused_pairs: RwLock::new(BTreeSet::new()),
        }
    }
}

static CLONE: Record = Record::new();
static COPY_FILE_RANGE: Record = Record::new();
static SENDFILE: Record = Record::new();

/// Devices of destination directories, looked up once each and only after a refusal.
static DIRECTORY_DEVICES: Mutex<Option<HashMap<PathBuf, u64>>> = Mutex::new(None);

fn record(method: Method) -> Option<&'static Record> {
    match method {
        Method::Clone => Some(&CLONE),
        Method::CopyFileRange => Some(&COPY_FILE_RANGE),
        Method::Sendfile => Some(&SENDFILE),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// Why `method` is known not to work for a copy from `source_device` into the
/// directory of `destination`, if it is.
pub(crate) fn unavailable(
    method: Method,
    source_device: u64,
    destination: &Path,
) -> Option<&'static str> {
    let record = record(method)?;
    if record.missing.load(Ordering::Relaxed) {
        return Some("the kernel does not provide it (ENOSYS seen earlier in this run)");
    }
    if !record.any_pair_refused.load(Ordering::Relaxed) {
        return None;
    }
    let destination_device = directory_device(destination)?;
    let refused = record
        .refused_pairs
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .contains(&(source_device, destination_device));
    refused.then_some("these filesystems refused it earlier in this run")
}

/// Remembers that `method` answered `err`, for as far as that answer reaches.
/// `destination_device` is the device the temporary file is on.
pub(crate) fn remember(
    method: Method,
    err: &io::Error,
    source_device: u64,
    destination: &Path,
    destination_device: impl FnOnce() -> Option<u64>,
) {
    let Some(record) = record(method) else {
        return;
    };
    match scope(err) {
        Scope::Process => record.missing.store(true, Ordering::Relaxed),
        Scope::FilesystemPair => {
            let Some(destination_device) = destination_device() else {
                return;
            };
            if let Some(directory) = destination.parent() {
                devices()
                    .get_or_insert_with(HashMap::new)
                    .insert(directory.to_path_buf(), destination_device);
            }
            record
                .refused_pairs
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert((source_device, destination_device));
            record.any_pair_refused.store(true, Ordering::Relaxed);
        }
        Scope::File => {}
    }
}

fn devices() -> std::sync::MutexGuard<'static, Option<HashMap<PathBuf, u64>>> {
    DIRECTORY_DEVICES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The device of the directory `destination` goes into; `None` if it cannot be
/// stat'ed (the rung is then simply tried).
#[cfg(unix)]
fn directory_device(destination: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    let directory =
        crate::plan::directory_and_name(destination).map_or(Path::new("."), |(parent, _)| parent);
    thread_local! {
        /// This worker's last answer: the files of a tree come directory by directory,
        /// and comparing the bytes of one path is cheaper than hashing it (by its
        /// components) and taking the shared lock, per file.
        static LAST: std::cell::RefCell<Option<(PathBuf, u64)>> =
            const { std::cell::RefCell::new(None) };
    }
    let last = LAST.with_borrow(|last| match last {
        Some((path, device)) if path.as_os_str() == directory.as_os_str() => Some(*device),
        _ => None,
    });
    if last.is_some() {
        return last;
    }
    let known = devices()
        .as_ref()
        .and_then(|map| map.get(directory))
        .copied();
    let device = match known {
        Some(device) => device,
        None => {
            // Outside the lock: a stat can take long on a network filesystem.
            let device = std::fs::metadata(directory).ok()?.dev();
            devices()
                .get_or_insert_with(HashMap::new)
                .insert(directory.to_path_buf(), device);
            device
        }
    };
    LAST.set(Some((directory.to_path_buf(), device)));
    Some(device)
}

#[cfg(not(unix))]
fn directory_device(_destination: &Path) -> Option<u64> {
    None
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn only_enosys_holds_for_the_process() {
        let err = |errno| io::Error::from_raw_os_error(errno);
        assert_eq!(scope(&err(libc::ENOSYS)), Scope::Process);
        for errno in [libc::EOPNOTSUPP, libc::ENOTSUP, libc::ENOTTY, libc::EXDEV] {
            assert_eq!(scope(&err(errno)), Scope::FilesystemPair, "errno {errno}");
        }
        for errno in [libc::EINVAL, libc::EPERM, libc::EBADF, libc::ETXTBSY] {
            assert_eq!(scope(&err(errno)), Scope::File, "errno {errno}");
        }
        // std reports EOPNOTSUPP with the same kind as ENOSYS: the kind must not decide.
        assert_eq!(
            err(libc::EOPNOTSUPP).kind(),
            io::ErrorKind::Unsupported,
            "premise of this module"
        );
    }
}
