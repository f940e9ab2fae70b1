//! Destinations that are not copies of bytes: symbolic links (copied as links, or
//! `-s`), hard links (`-l`, `--preserve=links`) and special files (FIFOs, device nodes
//! and sockets recreated by `-r`).
//!
//! Each is made under a temporary name beside the destination and renamed over it, so
//! the destination's name holds the old entry or the new one, never nothing.

use std::fs::Metadata;
use std::io;
use std::path::{Path, PathBuf};

use crate::engine::CopyOptions;
use crate::error::{Cause, Error, Operation};
use crate::report::Kind;

/// What to make.
#[derive(Debug, Clone, Copy)]
pub enum What<'a> {
    /// A symbolic link holding `target`, made for `source`: a link copied as a link
    /// (whose own owner and times `-a` keeps), or the file `-s` points to.
    Symlink {
        /// What the new link points to.
        target: &'a Path,
        /// The entry of the plan it stands for.
        source: &'a Path,
        /// The source link's stat from before it was read (its atime unmoved).
        looked_at: Option<&'a Metadata>,
    },
    /// A hard link to an existing file.
    HardLink {
        /// The file it becomes another name of.
        existing: &'a Path,
        /// The entry of the plan it stands for (whose times `-u` compares).
        source: &'a Path,
    },
    /// A new node like this source (FIFO, device, socket).
    Special(&'a Path),
}

impl<'a> What<'a> {
    /// The source the entry is made for (the file a hard link gets another name of).
    fn source(self) -> &'a Path {
        match self {
            What::Symlink { source, .. } | What::Special(source) => source,
            What::HardLink { existing, .. } => existing,
        }
    }

    /// The record kind.
    pub fn kind(self) -> Kind {
        match self {
            What::Symlink { .. } => Kind::Symlink,
            What::HardLink { .. } => Kind::Link,
            What::Special(_) => Kind::Special,
        }
    }
}

/// The result of making one entry.
#[derive(Debug)]
pub enum Made {
    /// Made, with the backup of what was there.
    Done {
        /// Where the replaced destination was kept (`-b`).
        backup: Option<PathBuf>,
        /// Something was at the destination and was replaced.
        replaced: bool,
    },
    /// Left alone on purpose.
    Skipped(&'static str),
}

/// Makes `what` at `destination`. `explicit` is true for `-l`/`-s`, which, as in cp,
/// refuse an existing destination unless `-f`, `--remove-destination` or `-b`; links and
/// nodes of a copied tree replace what is there, as cp does.
pub fn make(
    what: What<'_>,
    destination: &Path,
    options: &CopyOptions,
    explicit: bool,
) -> Result<Made, Error> {
    let existing = match std::fs::symlink_metadata(destination) {
        Ok(meta) => Some(meta),
        Err(err) if err.kind() == io::ErrorKind::NotFound => None,
        Err(err) => return Err(Error::os(destination, Operation::StatDestination, err)),
    };
    if let (What::Symlink { source, .. }, Some(_)) = (what, &existing) {
        if refuse_link_onto_its_referent(source, destination)? {
            return Ok(Made::Done {
                backup: None,
                replaced: false,
            });
        }
    }
    if let Some(existing) = &existing {
        if let What::HardLink {
            existing: target, ..
        } = what
        {
            // Already this very file: nothing to do (cp -l run twice succeeds).
            if std::fs::symlink_metadata(target).is_ok_and(|meta| same_inode(&meta, existing)) {
                return Ok(Made::Done {
                    backup: None,
                    replaced: false,
                });
            }
        }
        if options.no_clobber {
            return Ok(Made::Skipped(crate::engine::EXISTS));
        }
        if options.update {
            // -u: as for files, only over an older destination (the entries' own
            // times: a link is not followed).
            // A hard link's: its own source's (cp -ul keeps a newer destination).
            let source = match what {
                What::Symlink { source, .. }
                | What::Special(source)
                | What::HardLink { source, .. } => source,
            };
            if let Ok(source) = std::fs::symlink_metadata(source) {
                if !older(existing, &source) {
                    return Ok(Made::Skipped(crate::engine::NOT_OLDER));
                }
            }
        }
        // After -n and -u, which skip a directory in the entry's place as cp's do.
        if existing.is_dir() {
            return Err(Error::new(
                destination,
                Operation::StatDestination,
                Cause::Invalid("cannot overwrite a directory with a non-directory".into()),
            ));
        }
        if explicit && !options.force && !options.remove_destination && options.backup.is_none() {
            return Err(Error::os(destination, what.operation(), exists_error()));
        }
        if let Some(backup) = &options.backup {
            let source = what.source();
            // The entry itself, and with -s also the file its link will point to.
            let looked = [
                std::fs::symlink_metadata(source).ok(),
                explicit.then(|| std::fs::metadata(source).ok()).flatten(),
            ];
            for metadata in looked.iter().flatten() {
                backup.takes_source_name(source, metadata, destination)?;
            }
        }
    }
    if options.no_clobber {
        // Made under its own name, which fails if anything appeared there since the
        // look above: -n never replaces, not even in a race.
        return match create(what, destination) {
            Ok(node) => {
                preserve_made(what, node, destination, destination, options)?;
                Ok(Made::Done {
                    backup: None,
                    replaced: false,
                })
            }
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                Ok(Made::Skipped(crate::engine::EXISTS))
            }
            Err(err) => Err(Error::os(destination, what.operation(), err)),
        };
    }
    let temporary = crate::atomic::temp_symlink_path(destination);
    let _ = std::fs::remove_file(&temporary);
    let node =
        create(what, &temporary).map_err(|err| Error::os(destination, what.operation(), err))?;
    if let Err(error) = preserve_made(what, node, &temporary, destination, options) {
        let _ = std::fs::remove_file(&temporary);
        return Err(error);
    }
    let backup = match (&options.backup, &existing) {
        (Some(backup), Some(_)) => match backup.make(destination) {
            Ok(path) => Some(path),
            Err(error) => {
                let _ = std::fs::remove_file(&temporary);
                return Err(error);
            }
        },
        _ => None,
    };
    if let Err(err) = rename_beside(&temporary, destination) {
        let _ = std::fs::remove_file(&temporary);
        return Err(Error::os(destination, Operation::Rename, err));
    }
    Ok(Made::Done {
        backup,
        replaced: existing.is_some(),
    })
}

/// `-a`, `-P -p`: a link copied as a link keeps its own owner and times, a recreated
/// node its owner, mode, xattrs and times; a link made by `-s` is new and keeps
/// nothing. `made` is what was made for `what` at `destination`; `node`, for a node,
/// the look at its source that it was made from.
#[cfg(unix)]
fn preserve_made(
    what: What<'_>,
    node: Option<Metadata>,
    made: &Path,
    destination: &Path,
    options: &CopyOptions,
) -> Result<(), Error> {
    use crate::error::Context;
    if !options.preserve.any() {
        return Ok(());
    }
    let (source, metadata) = match what {
        What::Symlink {
            source, looked_at, ..
        } => match looked_at {
            Some(metadata) => (source, metadata.clone()),
            None => (
                source,
                std::fs::symlink_metadata(source).op(source, Operation::StatSource)?,
            ),
        },
        What::Special(source) => match node {
            Some(metadata) => (source, metadata),
            None => (
                source,
                std::fs::symlink_metadata(source).op(source, Operation::StatSource)?,
            ),
        },
        What::HardLink { .. } => return Ok(()),
    };
    // (A -s link's source is a file: it keeps nothing of it.)
    if matches!(what, What::Symlink { .. }) && !metadata.file_type().is_symlink() {
        return Ok(());
    }
    crate::preserve::apply_to_entry((source, &metadata), made, destination, options.preserve)
}

#[cfg(not(unix))]
fn preserve_made(
    _: What<'_>,
    _: Option<Metadata>,
    _: &Path,
    _: &Path,
    _: &CopyOptions,
) -> Result<(), Error> {
    Ok(())
}

#[cfg(unix)]
/// cp's rule for a link copied as a link: putting it over the file it points to would
/// leave a link to itself and lose the file ("are the same file"), and so would putting
/// it over itself. Returns true when there is nothing to do: the destination is the
/// source link under another name (a hard link of it).
fn refuse_link_onto_its_referent(source: &Path, destination: &Path) -> Result<bool, Error> {
    use std::os::unix::fs::MetadataExt;
    let same =
        |a: &std::fs::Metadata, b: &std::fs::Metadata| a.dev() == b.dev() && a.ino() == b.ino();
    let existing = match std::fs::symlink_metadata(destination) {
        Ok(existing) => existing,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(err) => return Err(Error::os(destination, Operation::StatDestination, err)),
    };
    let same_file = || Error::new(destination, Operation::StatDestination, Cause::SameFile);
    let link = std::fs::symlink_metadata(source)
        .map_err(|err| Error::os(source, Operation::StatSource, err))?;
    if existing.file_type().is_symlink() {
        if !same(&link, &existing) {
            return Ok(false);
        }
        // The same inode: one directory entry (an error, as in cp), or two names of
        // one hard-linked link (already what the copy would make).
        let entry = |path: &Path| {
            let parent = match path.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent,
                _ => Path::new("."),
            };
            (
                std::fs::canonicalize(parent).ok(),
                path.file_name().map(|n| n.to_os_string()),
            )
        };
        return if entry(source) == entry(destination) {
            Err(same_file())
        } else {
            Ok(true)
        };
    }
    match std::fs::metadata(source) {
        Ok(referent) if same(&referent, &existing) => Err(same_file()),
        _ => Ok(false),
    }
}

#[cfg(not(unix))]
fn refuse_link_onto_its_referent(_source: &Path, _destination: &Path) -> Result<bool, Error> {
    Ok(false)
}

impl What<'_> {
    fn operation(self) -> Operation {
        match self {
            What::Symlink { .. } => Operation::CreateSymlink,
            What::HardLink { .. } => Operation::CreateLink,
            What::Special(_) => Operation::CreateSpecial,
        }
    }
}

/// Renames `temporary` to `destination`, its name in the same directory, as
/// [`crate::at`] opens that directory: not in whatever replaced a directory of the run.
#[cfg(unix)]
fn rename_beside(temporary: &Path, destination: &Path) -> io::Result<()> {
    let from = crate::at::c_name(temporary)?;
    crate::at::file(destination, |directory, name| {
        // SAFETY: both names are NUL-terminated and outlive the call.
        crate::at::checked(unsafe {
            libc::renameat(directory, from.as_ptr(), directory, name.as_ptr())
        })
    })
}

#[cfg(not(unix))]
fn rename_beside(temporary: &Path, destination: &Path) -> io::Result<()> {
    std::fs::rename(temporary, destination)
}

/// Makes the link or node at `path`, in its directory as [`crate::at`] opens it; for a
/// node, returns the look at its source it was made from (its attributes come from it).
#[cfg(unix)]
fn create(what: What<'_>, path: &Path) -> io::Result<Option<Metadata>> {
    use crate::at::checked;
    match what {
        What::Symlink { target, .. } => {
            let target = crate::at::c_string(target.as_os_str())?;
            crate::at::file(path, |directory, name| {
                // SAFETY: both strings are NUL-terminated and outlive the call.
                checked(unsafe { libc::symlinkat(target.as_ptr(), directory, name.as_ptr()) })
            })
            .map(|()| None)
        }
        // cp -l follows a symlink it links to (the source was already followed when
        // it had to be: a link kept as a link is a Symlink entry). linkat without
        // AT_SYMLINK_FOLLOW, as std::fs::hard_link on Linux. The file linked to is
        // named through its checked directory too: not a file of whatever replaced it.
        What::HardLink { existing, .. } => crate::at::file(existing, |target_directory, target| {
            crate::at::file(path, |directory, name| {
                // SAFETY: both names are NUL-terminated and outlive the call.
                checked(unsafe {
                    libc::linkat(
                        target_directory,
                        target.as_ptr(),
                        directory,
                        name.as_ptr(),
                        0,
                    )
                })
            })
        })
        .map(|()| None),
        What::Special(source) => {
            let looked_at = std::fs::symlink_metadata(source)?;
            make_node(path, &looked_at)?;
            Ok(Some(looked_at))
        }
    }
}

#[cfg(not(unix))]
fn create(_what: What<'_>, _path: &Path) -> io::Result<Option<Metadata>> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "links and special files are made on Unix only",
    ))
}

/// mknod(2) a node of `source`'s type and device number, with its permission bits less
/// the umask (the kernel applies it).
#[cfg(unix)]
fn make_node(path: &Path, source: &Metadata) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    // S_IFMT is a u16 on macOS and a u32 on Linux.
    #[allow(clippy::useless_conversion)]
    let mode = source.mode() & (u32::from(libc::S_IFMT) | 0o777);
    crate::at::file(path, |directory, name| {
        // SAFETY: `name` is NUL-terminated and lives across the call.
        crate::at::checked(unsafe {
            libc::mknodat(
                directory,
                name.as_ptr(),
                mode as libc::mode_t,
                source.rdev() as libc::dev_t,
            )
        })
    })
}

#[cfg(unix)]
fn same_inode(a: &Metadata, b: &Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_inode(_a: &Metadata, _b: &Metadata) -> bool {
    false
}

/// EEXIST, as cp reports a destination that -l or -s may not replace.
fn exists_error() -> io::Error {
    #[cfg(unix)]
    {
        io::Error::from_raw_os_error(libc::EEXIST)
    }
    #[cfg(not(unix))]
    {
        io::ErrorKind::AlreadyExists.into()
    }
}

/// True when `destination` was modified before `source`.
fn older(destination: &Metadata, source: &Metadata) -> bool {
    match (destination.modified(), source.modified()) {
        (Ok(destination), Ok(source)) => destination < source,
        _ => true,
    }
}
