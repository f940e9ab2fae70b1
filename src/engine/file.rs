//! The per-file procedure: refuse what must not be copied, stage the copy beside the
//! destination, run the ladder, check the source did not change, verify, preserve
//! attributes, install.

use std::fs::{File, Metadata};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::ladder::run_ladder;
use super::verify;
use super::{Cause, Copied, CopyOptions, Error, Observer, Operation, Outcome};
use crate::atomic::TempDest;
use crate::error::Context;
use crate::preserve;

/// The facts about a source the ladder and the checks need.
pub(crate) struct Source<'a> {
    pub path: &'a Path,
    pub file: File,
    pub metadata: Metadata,
    /// The size `stat` reports may not be the content's (procfs reports 0, sysfs 4096):
    /// such a file is read until end of file and verified against what was read.
    pub size_is_exact: bool,
}

/// Copies one regular file from `source` to `destination`, atomically.
pub fn copy_file(
    source: &Path,
    destination: &Path,
    options: &CopyOptions,
    observer: &dyn Observer,
) -> Result<Outcome, Error> {
    copy_planned_file(source, None, destination, options, observer)
}

/// [`copy_file`] for a source already stat'ed (by the plan's walk): `looked_at` stands
/// in for the stat before the open, which then checks that the path still names that
/// file. Saves one stat per file of a tree.
pub fn copy_planned_file(
    source: &Path,
    looked_at: Option<&Metadata>,
    destination: &Path,
    options: &CopyOptions,
    observer: &dyn Observer,
) -> Result<Outcome, Error> {
    let started = Instant::now();
    // Everything that can refuse or skip the file is decided from stats, before the
    // source is opened: a -n or -u run over a tree that is already copied opens nothing.
    let source_metadata = match looked_at {
        Some(metadata) => regular(source, metadata.clone())?,
        None => regular(source, stat_source(source)?)?,
    };
    let (destination, existing) = inspect_destination(destination)?;
    if let Some(existing) = &existing {
        if same_file(&source_metadata, existing) {
            return Err(Error::new(
                &destination,
                Operation::StatDestination,
                Cause::SameFile,
            ));
        }
        if existing.is_dir() {
            return Err(Error::new(
                &destination,
                Operation::StatDestination,
                Cause::Invalid("is a directory".to_string()),
            ));
        }
        if options.no_clobber {
            return Ok(Outcome::Skipped("destination exists (--no-clobber)"));
        }
        if options.update && !older(existing, &source_metadata) {
            return Ok(Outcome::Skipped(
                "destination is not older than the source (--update)",
            ));
        }
    }
    let src = open_source(source, &source_metadata)?;
    if let Some(existing) = existing.as_ref().filter(|meta| meta.is_file()) {
        if existing.len() >= options.min_size {
            crate::atomic::release_cached_pages(&destination);
        }
    }

    // A replaced destination keeps its permission bits, unless the source's are asked for.
    let keep_mode_of = existing.as_ref().filter(|_| !options.preserve.mode);
    let mut temp = TempDest::create(&destination, &src.metadata, keep_mode_of)?;
    let (method, copied) = run_ladder(&src, &mut temp, options, observer)?;
    // The source check comes first: a source truncated mid-copy is a changed source,
    // not a failed verification.
    verify::source_unchanged(&src)?;
    let verified = verify::check(&src, &temp, copied, options.verify, observer)?;
    if options.preserve.any() {
        // After verification, which reads the copy and would move its access time.
        preserve::apply(
            (&src.file, &src.metadata),
            temp.file(),
            temp.destination(),
            options.preserve,
        )?;
    }
    temp.install(options.no_clobber, options.fsync)?;
    Ok(Outcome::Copied(Copied {
        bytes: if src.size_is_exact {
            src.metadata.len()
        } else {
            copied
        },
        method,
        duration: started.elapsed(),
        verified,
    }))
}

/// True when `destination` was modified before `source` (`-u` copies then).
fn older(destination: &Metadata, source: &Metadata) -> bool {
    match (destination.modified(), source.modified()) {
        (Ok(destination), Ok(source)) => destination < source,
        _ => true,
    }
}

/// Makes sure the source is a regular file before anything opens it: a FIFO opened
/// for reading blocks until a writer appears, and opening some devices has effects
/// (tape drives rewind). The open that follows also uses O_NONBLOCK, which regular
/// files ignore, in case the path changes in between.
fn stat_source(path: &Path) -> Result<Metadata, Error> {
    std::fs::metadata(path).op(path, Operation::StatSource)
}

/// `metadata` if it is a regular file's, else the refusal naming what it is.
fn regular(path: &Path, metadata: Metadata) -> Result<Metadata, Error> {
    match not_regular(&metadata) {
        Some(kind) => Err(Error::new(
            path,
            Operation::StatSource,
            Cause::NotRegularFile(kind),
        )),
        None => Ok(metadata),
    }
}

/// Opens the source `stat_source` looked at, making sure it is still that file.
fn open_source<'a>(path: &'a Path, looked_at: &Metadata) -> Result<Source<'a>, Error> {
    let mut open = std::fs::OpenOptions::new();
    open.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        open.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = open.open(path).op(path, Operation::OpenSource)?;
    // The path may have been swapped (for a FIFO, or for the destination itself)
    // between the stat and the open.
    let metadata = file.metadata().op(path, Operation::StatSource)?;
    if let Some(kind) = not_regular(&metadata) {
        return Err(Error::new(
            path,
            Operation::OpenSource,
            Cause::NotRegularFile(kind),
        ));
    }
    if !same_file(&metadata, looked_at) {
        return Err(Error::new(
            path,
            Operation::OpenSource,
            Cause::SourceChanged("its path named another file when it was opened"),
        ));
    }
    let size_is_exact = size_is_exact(&file, &metadata);
    Ok(Source {
        path,
        file,
        metadata,
        size_is_exact,
    })
}

fn not_regular(metadata: &Metadata) -> Option<&'static str> {
    let kind = metadata.file_type();
    if kind.is_file() {
        return None;
    }
    if kind.is_dir() {
        return Some("a directory; use -r to copy directories");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return Some("a FIFO");
        }
        if kind.is_socket() {
            return Some("a socket");
        }
        if kind.is_char_device() {
            return Some("a character device");
        }
        if kind.is_block_device() {
            return Some("a block device");
        }
    }
    Some("a special file")
}

/// Pseudo filesystems whose `st_size` is not the length of what a read returns.
/// Their files never have allocated blocks, so a file that has some is real and the
/// fstatfs is saved (it shows in copies of many small files).
#[cfg(target_os = "linux")]
fn size_is_exact(file: &File, metadata: &Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    if metadata.blocks() > 0 {
        return true;
    }
    use nix::sys::statfs::{self, fstatfs};
    const PSEUDO: &[statfs::FsType] = &[
        statfs::PROC_SUPER_MAGIC,
        statfs::SYSFS_MAGIC,
        statfs::DEBUGFS_MAGIC,
        statfs::TRACEFS_MAGIC,
        statfs::SECURITYFS_MAGIC,
        statfs::CGROUP_SUPER_MAGIC,
        statfs::CGROUP2_SUPER_MAGIC,
    ];
    match fstatfs(file) {
        Ok(fs) => !PSEUDO.contains(&fs.filesystem_type()),
        Err(_) => true,
    }
}

#[cfg(not(target_os = "linux"))]
fn size_is_exact(_file: &File, _metadata: &Metadata) -> bool {
    true
}

/// The path to write and what is there now, with one lstat in the common case. A
/// destination that is a symlink to an existing file is written through, as cp does:
/// the link stays and its target gets the new content.
fn inspect_destination(destination: &Path) -> Result<(PathBuf, Option<Metadata>), Error> {
    let stat_error = |err| Error::os(destination, Operation::StatDestination, err);
    match std::fs::symlink_metadata(destination) {
        Ok(meta) if meta.file_type().is_symlink() => match std::fs::canonicalize(destination) {
            Ok(target) => {
                let existing = std::fs::metadata(&target).map_err(stat_error)?;
                Ok((target, Some(existing)))
            }
            // A dangling link: the new file is created where the name is.
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                Ok((destination.to_path_buf(), None))
            }
            Err(err) => Err(stat_error(err)),
        },
        Ok(meta) => Ok((destination.to_path_buf(), Some(meta))),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok((destination.to_path_buf(), None)),
        Err(err) => Err(stat_error(err)),
    }
}

#[cfg(unix)]
fn same_file(a: &Metadata, b: &Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(_a: &Metadata, _b: &Metadata) -> bool {
    // Windows: CopyFileExW refuses to copy a file onto itself (sharing violation), and
    // the rename-over step would fail too; nothing is lost either way.
    false
}
