//! Atomic destinations: every copy is written to a temporary file in the destination's
//! directory and renamed over the destination only once it is complete and verified.
//!
//! rename(2) within one directory is atomic, so at any instant the destination's name
//! points at the old file (or nothing) or at the complete new one. The temporary file
//! is removed when the copy fails or is interrupted (its path is a [`tempfile::TempPath`],
//! deleted on drop); only SIGKILL or a crash can leave one behind, and its name says
//! what it is: `.NAME.XXXXXX.zcopy-tmp`.

use std::fs::{File, Metadata};
use std::path::{Path, PathBuf};

use tempfile::TempPath;

use crate::engine::{Cause, Context, Error, Operation};

/// The suffix of every temporary file zcopy creates.
pub const TEMP_SUFFIX: &str = ".zcopy-tmp";

/// Longest part of the destination's name kept in the temporary file's name, so that
/// prefix, random part and suffix stay under NAME_MAX (255 bytes) for any name.
const MAX_NAME_IN_TEMP: usize = 200;

/// A temporary file beside a destination, removed unless installed.
#[derive(Debug)]
pub struct TempDest {
    /// `None` only while a platform copy call (macOS, Windows) writes the path itself.
    file: Option<File>,
    path: TempPath,
    destination: PathBuf,
    /// The existing destination's permissions, which the new content keeps (as cp does
    /// when it overwrites).
    keep_permissions: Option<std::fs::Permissions>,
}

impl TempDest {
    /// Creates the temporary file for `destination`, with the source's permission bits
    /// (less the umask, as for any new file).
    pub fn create(
        destination: &Path,
        source: &Metadata,
        existing: Option<&Metadata>,
    ) -> Result<Self, Error> {
        let name = destination.file_name().ok_or_else(|| {
            Error::new(
                destination,
                Operation::CreateTemp,
                Cause::Invalid("destination has no file name".to_string()),
            )
        })?;
        let directory = absolute_parent(destination);
        let permissions = new_file_permissions(source);
        // make_in (not tempfile_in): our own open, whose errors keep their errno;
        // tempfile_in wraps them in a type that hides it.
        let temp = tempfile::Builder::new()
            .prefix(&temp_prefix(name))
            .suffix(TEMP_SUFFIX)
            .rand_bytes(6)
            .make_in(&directory, |path| create_new(path, &permissions))
            .op(shown_parent(destination), Operation::CreateTemp)?;
        let (file, path) = temp.into_parts();
        Ok(TempDest {
            file: Some(file),
            path,
            destination: destination.to_path_buf(),
            keep_permissions: existing.map(Metadata::permissions),
        })
    }

    /// The open temporary file.
    pub fn file(&self) -> &File {
        self.file
            .as_ref()
            .expect("the temporary file is open between platform copy calls")
    }

    /// Where the temporary file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The destination this file will replace: the path errors name, since the
    /// temporary name means nothing to the user and is gone after a failure.
    pub fn destination(&self) -> &Path {
        &self.destination
    }

    /// Lets a platform call that copies by path (macOS `fclonefileat`, Windows
    /// `CopyFileExW`) replace the temporary file: our handle is closed around the call
    /// and the file at the path reopened after it, whether the call worked or not.
    #[cfg(any(target_os = "macos", windows))]
    pub(crate) fn rewrite_path(
        &mut self,
        call: impl FnOnce(&Path) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        self.file = None;
        let result = call(&self.path);
        let reopened = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.path);
        self.file = Some(reopened?);
        result
    }

    /// Renames the temporary file over the destination (or, with `no_clobber`, only if
    /// there is still none: a file that appeared meanwhile is kept). With `fsync`, the
    /// data is flushed before the rename and the directory entry after it.
    pub fn install(self, no_clobber: bool, fsync: bool) -> Result<(), Error> {
        let file = self.file();
        if let Some(permissions) = &self.keep_permissions {
            file.set_permissions(permissions.clone())
                .op(&self.destination, Operation::SetMetadata)?;
        }
        if fsync {
            file.sync_all().op(&self.destination, Operation::Fsync)?;
        }
        let TempDest {
            path, destination, ..
        } = self;
        let persisted = if no_clobber {
            path.persist_noclobber(&destination)
        } else {
            path.persist(&destination)
        };
        // On failure the temporary path comes back inside the error and is removed
        // when the error is dropped.
        persisted.map_err(|err| Error::os(&destination, Operation::Rename, err.error))?;
        if fsync {
            sync_directory(&destination)?;
        }
        Ok(())
    }
}

fn temp_prefix(name: &std::ffi::OsStr) -> std::ffi::OsString {
    let mut prefix = std::ffi::OsString::from(".");
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let bytes = name.as_bytes();
        prefix.push(std::ffi::OsStr::from_bytes(
            &bytes[..bytes.len().min(MAX_NAME_IN_TEMP)],
        ));
    }
    #[cfg(not(unix))]
    {
        let short: String = name
            .to_string_lossy()
            .chars()
            .take(MAX_NAME_IN_TEMP / 4)
            .collect();
        prefix.push(short);
    }
    prefix.push(".");
    prefix
}

/// The destination's directory as the user wrote it, for messages.
fn shown_parent(destination: &Path) -> &Path {
    match destination.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// The destination's directory as an absolute path. tempfile would otherwise ask for
/// the current directory once per file; it cannot change during a run, so ask once.
fn absolute_parent(destination: &Path) -> PathBuf {
    static CURRENT_DIR: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    let parent = shown_parent(destination);
    match CURRENT_DIR.get_or_init(|| std::env::current_dir().ok()) {
        Some(current) if parent.is_relative() => current.join(parent),
        _ => parent.to_path_buf(),
    }
}

/// Opens a new file for reading and writing, failing if the name exists. On Unix it
/// is created with `permissions` less the umask, as any new file.
fn create_new(path: &Path, permissions: &std::fs::Permissions) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(permissions.mode());
    }
    #[cfg(not(unix))]
    let _ = permissions;
    options.open(path)
}

#[cfg(unix)]
fn new_file_permissions(source: &Metadata) -> std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    // Only the rwx bits: setuid/setgid/sticky are not carried over, as with cp without -p.
    std::fs::Permissions::from_mode(source.permissions().mode() & 0o777)
}

#[cfg(not(unix))]
fn new_file_permissions(source: &Metadata) -> std::fs::Permissions {
    source.permissions()
}

/// Makes the rename durable: the directory entry lives in the directory's own blocks.
#[cfg(unix)]
fn sync_directory(destination: &Path) -> Result<(), Error> {
    let directory = match destination.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(directory)
        .and_then(|dir| dir.sync_all())
        .op(directory, Operation::Fsync)
}

#[cfg(not(unix))]
fn sync_directory(_destination: &Path) -> Result<(), Error> {
    // Windows has no handle-level directory fsync; MoveFileEx is journaled by NTFS.
    Ok(())
}

/// True for names zcopy gives its temporary files: `.NAME.XXXXXX.zcopy-tmp`.
pub fn is_temp_name(name: &std::ffi::OsStr) -> bool {
    let name = name.to_string_lossy();
    name.starts_with('.') && name.ends_with(TEMP_SUFFIX) && name.len() > 1 + TEMP_SUFFIX.len()
}

/// The temporary name used while a symlink of a copied tree is recreated.
pub fn temp_symlink_path(destination: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(destination.file_name().unwrap_or_default());
    name.push(format!(".{}{TEMP_SUFFIX}", std::process::id()));
    destination.with_file_name(name)
}

/// Removes the temporary files that a killed or crashed zcopy left in `directory`
/// (and, with `recursive`, below it). Only files and symlinks whose names match
/// [`is_temp_name`] are touched, never directories. Returns what was removed, and
/// the paths that could not be read or removed.
///
/// Do not run it on a directory that a running zcopy is copying into: its temporary
/// file would be removed under it (that copy then fails; no data is lost).
pub fn clean(directory: &Path, recursive: bool) -> (Vec<PathBuf>, Vec<Error>) {
    let mut removed = Vec::new();
    let mut errors = Vec::new();
    let walk = walkdir::WalkDir::new(directory)
        .follow_links(false)
        .max_depth(if recursive { usize::MAX } else { 1 })
        .sort_by_file_name();
    for item in walk {
        match item {
            Ok(item) if !item.file_type().is_dir() && is_temp_name(item.file_name()) => {
                match std::fs::remove_file(item.path()) {
                    Ok(()) => removed.push(item.path().to_path_buf()),
                    Err(err) => errors.push(Error::os(item.path(), Operation::Remove, err)),
                }
            }
            Ok(_) => {}
            Err(err) => {
                let path = err.path().unwrap_or(directory).to_path_buf();
                let err = err
                    .into_io_error()
                    .unwrap_or_else(|| std::io::Error::other("walk failed"));
                errors.push(Error::os(path, Operation::ReadDir, err));
            }
        }
    }
    (removed, errors)
}
