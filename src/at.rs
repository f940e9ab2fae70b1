//! System calls that name a file by its open directory and last component (`openat`,
//! `fstatat`, `linkat`) instead of by its whole path.
//!
//! A call naming `dir/name` makes the kernel walk every component of `dir` again, and
//! a copied file is named four times: the source's open and its last look, the
//! temporary file's directory and the link that installs it. Measured on 30,000 files
//! of 1 KiB on tmpfs (`/usr/bin/time`, medians of 7): with source and destination 12
//! components deep the copy took 1.33 s of CPU, 3 deep 1.12 s. A worker's consecutive
//! files share their directories (see `batch::lanes`), so each thread keeps the last
//! few directories it used open (`O_PATH`, which needs no read permission) and names
//! each file by its last component. `forget` closes them when the worker is done.
//!
//! A directory that cannot be opened is not an error here: the call is then made with
//! the whole path, so that what fails, and its errno, are the call's own. Off Linux
//! every call takes the whole path.
//!
//! A directory opened by its path is whatever the path names when it is opened, and a
//! directory of the tree swapped for a symlink while the run goes on would send the
//! reads and writes below it anywhere: files from a private directory copied out, new
//! files made in `/etc`. So the batch makes [`know`]n the (device, inode) of each
//! directory it walked or made, and a directory opened here that is another one is
//! refused; nothing is read or made through it. Nor is a known directory that cannot
//! be opened named by its whole path instead. (Linux only: elsewhere the whole path.)

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{CStr, CString, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

/// Directories kept open per thread: a source's and up to a few destinations' (one
/// per `-t`), and the next lane's.
const KEPT: usize = 6;

thread_local! {
    static OPEN: RefCell<Vec<(PathBuf, OwnedFd)>> = const { RefCell::new(Vec::new()) };
}

/// The (device, inode) of the run's directories by their paths, as spelt in the plan.
static KNOWN: RwLock<Option<HashMap<PathBuf, (u64, u64)>>> = RwLock::new(None);

/// Makes known that `directory` is the directory `identity` (device, inode): a
/// directory opened by that path later must be that one.
pub fn know(directory: &Path, identity: (u64, u64)) {
    KNOWN
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(directory.to_path_buf(), identity);
}

/// Forgets every directory made known by [`know`].
pub fn forget_known() {
    *KNOWN
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
}

/// Forgets one directory made known (tests share the process, and the map).
#[cfg(test)]
pub(crate) fn forget_known_directory(directory: &Path) {
    if let Some(known) = KNOWN
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .as_mut()
    {
        known.remove(directory);
    }
}

fn known(directory: &Path) -> Option<(u64, u64)> {
    KNOWN
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .as_ref()?
        .get(directory)
        .copied()
}

/// The error for a directory whose path names another one than the run knows.
fn replaced(directory: &Path) -> io::Error {
    io::Error::other(format!(
        "{} was replaced during the run (it is not the directory zcopy found or made \
         there); nothing is read or made through it",
        crate::error::shown(directory)
    ))
}

/// Opens `directory` (not following a symlink at its last component) for changing
/// its attributes, if it is the directory `identity` (device, inode).
pub fn open_same_directory(directory: &Path, identity: (u64, u64)) -> io::Result<File> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(directory);
    let opened = match opened {
        // ELOOP: a symlink is at the last component (ENOTDIR: something else is).
        Err(err) if matches!(err.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) => {
            return Err(replaced(directory));
        }
        other => other?,
    };
    let metadata = opened.metadata()?;
    if (metadata.dev(), metadata.ino()) != identity {
        return Err(replaced(directory));
    }
    Ok(opened)
}

/// Calls `call(dir, name)` so that it names the file `path`: `dir` an open descriptor
/// of its directory and `name` its last component, or `AT_FDCWD` and the whole path.
pub fn file<R>(path: &Path, call: impl FnOnce(RawFd, &CStr) -> io::Result<R>) -> io::Result<R> {
    let Some((directory, name)) = crate::plan::directory_and_name(path) else {
        return call(libc::AT_FDCWD, &c_string(path.as_os_str())?);
    };
    with_directory(directory, |opened| match opened {
        Some(directory) => with_c_name(name, |name| call(directory, name)),
        None => call(libc::AT_FDCWD, &c_string(path.as_os_str())?),
    })
}

/// Calls `call` with `name` NUL-terminated, on the stack when it fits a file name's
/// usual limit (255 bytes), saving an allocation a call.
fn with_c_name<R>(name: &OsStr, call: impl FnOnce(&CStr) -> io::Result<R>) -> io::Result<R> {
    let bytes = name.as_bytes();
    let mut buffer = [0u8; 256];
    if bytes.len() >= buffer.len() {
        return call(&c_string(name)?);
    }
    buffer[..bytes.len()].copy_from_slice(bytes);
    match CStr::from_bytes_with_nul(&buffer[..=bytes.len()]) {
        Ok(name) => call(name),
        Err(_) => call(&c_string(name)?),
    }
}

/// Calls `call(dir, name)` so that it names the directory `directory` itself: its open
/// descriptor and ".", or `AT_FDCWD` and its path.
pub fn directory<R>(
    directory: &Path,
    call: impl FnOnce(RawFd, &CStr) -> io::Result<R>,
) -> io::Result<R> {
    with_directory(directory, |opened| match opened {
        Some(directory) => call(directory, c"."),
        None => call(libc::AT_FDCWD, &c_string(directory.as_os_str())?),
    })
}

/// Closes the directories this thread kept open.
pub fn forget() {
    OPEN.with_borrow_mut(Vec::clear);
}

/// `openat(2)` with `O_CLOEXEC` added.
pub fn open(directory: RawFd, name: &CStr, flags: i32, mode: u32) -> io::Result<File> {
    // SAFETY: `name` is NUL-terminated and outlives the call.
    let fd = unsafe {
        libc::openat(
            directory,
            name.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    };
    if fd == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor just opened, owned by nothing else.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// `fstatat(2)`, following a symlink as `std::fs::metadata` does.
pub fn stat(directory: RawFd, name: &CStr) -> io::Result<libc::stat> {
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `name` is NUL-terminated; `stat` is written in full on success.
    if unsafe { libc::fstatat(directory, name.as_ptr(), stat.as_mut_ptr(), 0) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fstatat succeeded.
    Ok(unsafe { stat.assume_init() })
}

/// `fstatat(2)` of a symlink itself, as `std::fs::symlink_metadata` does.
pub fn lstat(directory: RawFd, name: &CStr) -> io::Result<libc::stat> {
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `name` is NUL-terminated; `stat` is written in full on success.
    let result = unsafe {
        libc::fstatat(
            directory,
            name.as_ptr(),
            stat.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if result == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fstatat succeeded.
    Ok(unsafe { stat.assume_init() })
}

/// The (device, inode) a stat names.
// (`as`: the fields' types are narrower than u64 on some Unixes, as in std's
// MetadataExt, which widens them the same way.)
#[allow(clippy::unnecessary_cast)]
pub fn identity(stat: &libc::stat) -> (u64, u64) {
    (stat.st_dev as u64, stat.st_ino as u64)
}

/// Runs `call` with this thread's open descriptor of `directory`, opening it if none
/// is kept; `None` if it cannot be opened. A directory opened that is not the one
/// [`know`]n by its path is an error.
fn with_directory<R>(
    directory: &Path,
    call: impl FnOnce(Option<RawFd>) -> io::Result<R>,
) -> io::Result<R> {
    // Taken out of the list for the call and put back last after it, so that the call
    // may name another file through here (`linkat`'s two), and the directories in use
    // are the last dropped.
    let kept = OPEN.with_borrow_mut(|open| {
        // Compared as bytes, as given: cheaper than by components, and a path spelt
        // differently only costs one more descriptor. Newest first: the directory a
        // call wants is mostly the one used last (a lane's source or destination).
        let position = open
            .iter()
            .rposition(|(path, _)| path.as_os_str() == directory.as_os_str())?;
        Some(open.remove(position))
    });
    let (path, fd) = match kept {
        Some(kept) => kept,
        None => match open_checked(directory)? {
            Some(fd) => (directory.to_path_buf(), fd),
            None => return call(None),
        },
    };
    let result = call(Some(fd.as_raw_fd()));
    OPEN.with_borrow_mut(|open| {
        if open.len() == KEPT {
            open.remove(0);
        }
        open.push((path, fd));
    });
    result
}

/// Opens `directory`, which must be the directory [`know`]n by its path if any;
/// `None` where it cannot be opened and its whole path may name it instead.
fn open_checked(directory: &Path) -> io::Result<Option<OwnedFd>> {
    let fd = match open_directory(directory) {
        Ok(fd) => fd,
        // A directory of the run that cannot be opened now is not named by its whole
        // path either: the path could lead through whatever replaced it by the time of
        // the call. (Short of descriptors, it can only be.)
        Err(err)
            if cfg!(target_os = "linux")
                && known(directory).is_some()
                && !matches!(err.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) =>
        {
            return Err(err);
        }
        Err(_) => return Ok(None),
    };
    if let Some(identity) = known(directory) {
        if identity_of(&fd)? != identity {
            return Err(replaced(directory));
        }
    }
    Ok(Some(fd))
}

#[cfg(target_os = "linux")]
fn open_directory(directory: &Path) -> io::Result<OwnedFd> {
    let path = c_string(directory.as_os_str())?;
    // SAFETY: `path` is NUL-terminated and outlives the call.
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor just opened, owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Off Linux every call takes the whole path (no `O_PATH`), unchecked.
#[cfg(not(target_os = "linux"))]
fn open_directory(_directory: &Path) -> io::Result<OwnedFd> {
    Err(io::ErrorKind::Unsupported.into())
}

/// The (device, inode) of an open descriptor (`O_PATH` ones too).
fn identity_of(fd: &OwnedFd) -> io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: `fd` stays open for the call, and ManuallyDrop leaves it to its owner.
    let file = std::mem::ManuallyDrop::new(unsafe { File::from_raw_fd(fd.as_raw_fd()) });
    let metadata = file.metadata()?;
    Ok((metadata.dev(), metadata.ino()))
}

/// `Ok` for a call's result other than -1, else the call's errno.
pub(crate) fn checked(result: libc::c_int) -> io::Result<()> {
    if result == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `path`'s last component, NUL-terminated: a second name in the directory a call
/// through [`file`] names (a temporary name, a backup's).
pub(crate) fn c_name(path: &Path) -> io::Result<CString> {
    c_string(path.file_name().unwrap_or_default())
}

pub(crate) fn c_string(path: &OsStr) -> io::Result<CString> {
    CString::new(path.as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "path contains an interior NUL byte",
        )
    })
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn size(path: &Path) -> io::Result<i64> {
        file(path, stat).map(|stat| stat.st_size)
    }

    #[test]
    fn a_kept_directory_names_the_file_until_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("a"), "abc").unwrap();
        assert_eq!(size(&sub.join("a")).unwrap(), 3);
        // Moved away: the path names nothing, the kept directory still holds the file.
        std::fs::rename(&sub, dir.path().join("moved")).unwrap();
        assert_eq!(size(&sub.join("a")).unwrap(), 3);
        forget();
        assert_eq!(
            size(&sub.join("a")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        // A directory that cannot be opened: the whole path's own error.
        forget();
        assert_eq!(
            size(&dir.path().join("nowhere/a")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        // No last component: the whole path.
        assert!(size(Path::new("/")).is_ok());
    }

    #[test]
    fn a_known_directory_replaced_by_another_is_refused_not_followed() {
        use std::os::unix::fs::MetadataExt;
        forget();
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let made = std::fs::metadata(&sub).unwrap();
        know(&sub, (made.dev(), made.ino()));
        std::fs::write(sub.join("a"), "abc").unwrap();
        assert_eq!(size(&sub.join("a")).unwrap(), 3);
        forget();
        // Replaced by a symlink to another directory holding a file of that name.
        std::fs::rename(&sub, dir.path().join("moved")).unwrap();
        std::fs::create_dir(dir.path().join("other")).unwrap();
        std::fs::write(dir.path().join("other/a"), "secret").unwrap();
        std::os::unix::fs::symlink(dir.path().join("other"), &sub).unwrap();
        let err = size(&sub.join("a")).unwrap_err();
        assert!(
            err.to_string().contains("was replaced during the run"),
            "{err}"
        );
        assert!(open_same_directory(&sub, (made.dev(), made.ino())).is_err());
        // Gone: the open's own error, not the whole path's call.
        std::fs::remove_file(&sub).unwrap();
        assert_eq!(
            size(&sub.join("a")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        // The directory itself, wherever it is named from, is fine.
        std::fs::rename(dir.path().join("moved"), &sub).unwrap();
        assert_eq!(size(&sub.join("a")).unwrap(), 3);
        assert!(open_same_directory(&sub, (made.dev(), made.ino())).is_ok());
        forget();
        forget_known_directory(&sub);
    }

    /// A call may name a second file through here (`linkat`'s target and link), in
    /// the same directory or another, each checked.
    #[test]
    fn a_call_may_name_another_file_inside() {
        forget();
        let dir = tempfile::tempdir().unwrap();
        for sub in ["one", "two"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        std::fs::write(dir.path().join("one/a"), "abc").unwrap();
        let link = |from: &str, to: &str| {
            file(&dir.path().join(from), |from_directory, from| {
                file(&dir.path().join(to), |to_directory, to| {
                    // SAFETY: both names are NUL-terminated and outlive the call.
                    checked(unsafe {
                        libc::linkat(from_directory, from.as_ptr(), to_directory, to.as_ptr(), 0)
                    })
                })
            })
        };
        link("one/a", "two/b").unwrap();
        link("one/a", "one/c").unwrap();
        link("two/b", "two/d").unwrap();
        for name in ["two/b", "one/c", "two/d"] {
            assert_eq!(size(&dir.path().join(name)).unwrap(), 3, "{name}");
        }
        OPEN.with_borrow(|open| assert!(open.len() <= KEPT));
        forget();
    }

    #[test]
    fn keeps_a_few_directories_and_drops_the_oldest() {
        forget();
        let dir = tempfile::tempdir().unwrap();
        for index in 0..=KEPT {
            let sub = dir.path().join(index.to_string());
            std::fs::create_dir(&sub).unwrap();
            std::fs::write(sub.join("f"), "x").unwrap();
            assert_eq!(size(&sub.join("f")).unwrap(), 1);
        }
        OPEN.with_borrow(|open| {
            assert_eq!(open.len(), KEPT);
            assert_eq!(open[0].0, dir.path().join("1"));
        });
        forget();
    }

    #[test]
    fn a_path_is_cut_into_the_directory_and_the_name_path_methods_give() {
        let cut = |path: &str| {
            crate::plan::directory_and_name(Path::new(path)).map(|(directory, name)| {
                (
                    directory.to_str().unwrap().to_string(),
                    name.to_str().unwrap().to_string(),
                )
            })
        };
        let pair = |directory: &str, name: &str| Some((directory.to_string(), name.to_string()));
        assert_eq!(cut("a/b/c.mov"), pair("a/b", "c.mov"));
        assert_eq!(cut("c.mov"), pair(".", "c.mov"));
        assert_eq!(cut("/c.mov"), pair("/", "c.mov"));
        assert_eq!(cut("./c.mov"), pair(".", "c.mov"));
        assert_eq!(cut("a//c.mov"), pair("a/", "c.mov"));
        // The cases only components can answer, as Path::file_name and Path::parent.
        assert_eq!(cut("a/b/"), pair("a", "b"));
        assert_eq!(cut("a/b/."), pair("a", "b"));
        assert_eq!(cut("/"), None);
        assert_eq!(cut(".."), None);
        assert_eq!(cut("a/.."), None);
        // A name with a NUL cannot be named: the call's own InvalidInput, also when
        // its directory opens and the name goes through the stack buffer.
        let err = file(Path::new("a/b\0c"), stat).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b"), "x").unwrap();
        let err = file(&dir.path().join("b\0c"), stat).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        forget();
    }
}
