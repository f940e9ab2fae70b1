//! The per-file procedure: refuse what must not be copied, stage the copy beside the
//! destination, run the ladder, check the source did not change, verify, preserve
//! attributes, install.

use std::fs::{File, Metadata};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::fanout::Shared;
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

/// Where one copy of a file goes.
pub struct Target<'a> {
    /// Where the copy goes.
    pub destination: &'a Path,
    /// Its progress and notes; it is asked about interruptions.
    pub observer: &'a (dyn Observer + Sync),
    /// The destination's directory was made by this run (so it was empty, and private
    /// to its owner): nothing is looked for at the destination before the copy. A file
    /// that appears there meanwhile is still not overwritten in place: the link that
    /// installs the copy fails with EEXIST and the copy replaces it atomically, as for
    /// any file that appears after the look. Saves a stat of a missing name per file,
    /// which on XFS and btrfs searches the directory's blocks.
    pub directory_is_new: bool,
    /// The destination's directory is in a tree this run made under a hidden name and
    /// renames into place when it ends (see `batch::staged`); implies
    /// `directory_is_new`. The copy is written under its own name there: no one can see
    /// it before it is complete, and a failed copy is removed.
    pub in_hidden_tree: bool,
}

/// Copies one regular file from `source` to `destination`, atomically.
pub fn copy_file(
    source: &Path,
    destination: &Path,
    options: &CopyOptions,
    observer: &(dyn Observer + Sync),
) -> Result<Outcome, Error> {
    let target = Target {
        destination,
        observer,
        directory_is_new: false,
        in_hidden_tree: false,
    };
    copy_planned_file(source, Known::Nothing, &target, options)
}

/// What the plan knows about a source before it is copied.
#[derive(Clone, Copy)]
pub enum Known<'a> {
    /// Nothing: the copy stats the source before opening it.
    Nothing,
    /// The plan's stat of it (its walk's): the copy takes it as its look before the
    /// open, which then checks that the path still names that file. Saves a stat.
    Stat(&'a Metadata),
    /// The directory entry a walk found says regular file; nobody stat'ed it. Into a
    /// directory the run made, with nothing there to skip or to compare with, the copy
    /// opens it without looking first (not following a link) and refuses whatever
    /// else the open finds; elsewhere it stats it first as for `Nothing`.
    RegularEntry,
}

/// [`copy_file`] for a source the plan already knows something about.
pub fn copy_planned_file(
    source: &Path,
    known: Known<'_>,
    target: &Target<'_>,
    options: &CopyOptions,
) -> Result<Outcome, Error> {
    copy_shared(source, known, target, options, Shared::default())
}

/// [`copy_planned_file`] for one destination of several ([`super::fanout`]): the
/// source's media hash and the chunk copy's reads come from `shared` when it has them.
pub(crate) fn copy_shared(
    source: &Path,
    known: Known<'_>,
    target: &Target<'_>,
    options: &CopyOptions,
    shared: Shared<'_>,
) -> Result<Outcome, Error> {
    let started = Instant::now();
    let observer = target.observer;
    let looked = match known {
        Known::RegularEntry if target.directory_is_new => Looked::Copy {
            src: open_source(source, None)?,
            destination: target.destination.to_path_buf(),
            existing: None,
            replaced_as_new: false,
        },
        Known::Stat(metadata) => look_before_copy(source, Some(metadata), target, options)?,
        Known::Nothing | Known::RegularEntry => look_before_copy(source, None, target, options)?,
    };
    let (src, destination, existing, replaced_as_new) = match looked {
        Looked::Done(outcome) => return Ok(outcome),
        Looked::Copy {
            src,
            destination,
            existing,
            replaced_as_new,
        } => (src, destination, existing, replaced_as_new),
    };
    // A FIFO or device read for --copy-contents.
    let stream = is_stream(&src.metadata);
    if options.attributes_only {
        let hidden = target.in_hidden_tree;
        return attributes_only(
            &src,
            &destination,
            existing.as_ref(),
            replaced_as_new,
            hidden,
            options,
            started,
        );
    }
    if let Some(existing) = existing.as_ref().filter(|meta| meta.is_file()) {
        if existing.len() >= options.min_size {
            crate::atomic::release_cached_pages(&destination);
        }
    }

    // A replaced destination keeps its xattrs and, unless the source's are asked for,
    // its permission bits (cp writes into it), unless it is removed first (-b,
    // --remove-destination: cp makes a new file then).
    let written_into = existing.as_ref().filter(|existing| {
        !options.remove_destination
            && options.backup.is_none()
            && !replaced_as_new
            && !existing.is_symlink()
    });
    let keep_mode = written_into.is_some() && !options.preserve.mode;
    let mut temp = TempDest::create(
        &destination,
        &src.metadata,
        written_into.map(|existing| (existing, keep_mode)),
        target.in_hidden_tree,
    )?;
    if options.default_mode && !keep_mode {
        set_default_mode(&temp)?;
    }
    let (method, copied) = run_ladder(&src, &mut temp, options, observer, shared)?;
    // The source check comes first: a source truncated mid-copy is a changed source,
    // not a failed verification.
    if !stream {
        verify::source_unchanged(&src)?;
    }
    let verified = verify::check_against(
        &src,
        &temp,
        copied,
        options.verify,
        shared.source_checksum,
        observer,
    )?;
    let hash = match shared.source_hash {
        Some(source_hash) => {
            verify::media_hash_against(&src, &temp, options.hash, source_hash, observer)?
        }
        None => verify::media_hash(&src, &temp, options.hash, observer)?,
    };
    if options.preserve.any() {
        // After verification, which reads the copy and would move its access time.
        preserve::apply(
            (&src.file, &src.metadata),
            temp.file(),
            temp.destination(),
            options.preserve,
        )?;
    }
    let checked_content = verified && options.verify == Some(crate::config::VerifyMode::Checksum);
    if options.fsync {
        // Flushed before the last look at the source rather than in `install`:
        // flushing a large file takes seconds.
        temp.sync()?;
    }
    if (checked_content || hash.is_some() || options.fsync) && !stream {
        // Reading both files again (a checksum, a media hash) or flushing takes seconds
        // for a large file: long enough for an editor or a camera app to save a new
        // version over the source's name (a rename, which leaves our open file and its
        // size and mtime untouched). So look again just before installing. The rename(2) that installs cannot be
        // made conditional on the source path; the window left is microseconds.
        verify::source_unchanged(&src)?;
    }
    let backup = match (&options.backup, &existing) {
        (Some(backup), Some(_)) => Some(backup.make(&destination)?),
        _ => None,
    };
    let no_clobber = options.no_clobber && backup.is_none();
    match temp.install(no_clobber, options.fsync) {
        // The destination appeared since it was looked at (or, in a directory the run
        // made, was never looked for): -n keeps it, as it would have from the start.
        Err(error) if no_clobber && error.is_already_exists() => {
            return Ok(Outcome::Skipped(super::EXISTS));
        }
        installed => installed?,
    }
    Ok(Outcome::Copied(Copied {
        bytes: if src.size_is_exact {
            src.metadata.len()
        } else {
            copied
        },
        method,
        duration: started.elapsed(),
        verified: verified || hash.is_some(),
        backup,
        hash,
        replaced: existing.is_some(),
    }))
}

/// What the looks before a copy decided.
// One lives for a moment per file, on the stack; boxing the large variant would cost
// an allocation per file instead.
#[allow(clippy::large_enum_variant)]
enum Looked<'a> {
    /// Nothing more to do (skipped, or written into a FIFO or device).
    Done(Outcome),
    /// Copy the opened source to `destination` (a destination symlink resolved),
    /// replacing `existing` if there is one.
    Copy {
        src: Source<'a>,
        destination: PathBuf,
        existing: Option<Metadata>,
        /// The existing file is replaced by a new one (-f where it may not be written).
        replaced_as_new: bool,
    },
}

/// Decides from stats whether and where `source` is copied, before opening it.
fn look_before_copy<'a>(
    source: &'a Path,
    looked_at: Option<&Metadata>,
    target: &Target<'_>,
    options: &CopyOptions,
) -> Result<Looked<'a>, Error> {
    let destination = target.destination;
    // Everything that can refuse or skip the file is decided from stats, before the
    // source is opened: a -n or -u run over a tree that is already copied opens nothing.
    // --copy-contents reads FIFOs and devices like files (a FIFO blocks until written,
    // as with cp); everything else must be a regular file.
    let looked_at = match looked_at {
        Some(metadata) => metadata.clone(),
        None => stat_source(source)?,
    };
    let stream = options.copy_contents && is_stream(&looked_at);
    let source_metadata = if stream {
        looked_at
    } else {
        regular(source, looked_at)?
    };
    // -b and --remove-destination replace a destination symlink itself, as cp (which
    // renames or unlinks it) does; otherwise its target gets the new content.
    let given = destination;
    let (mut destination, mut existing) = if target.directory_is_new {
        (destination.to_path_buf(), None)
    } else if options.remove_destination || options.backup.is_some() {
        (destination.to_path_buf(), destination_entry(destination)?)
    } else {
        match inspect_destination(destination, options.preserve.links)? {
            Destination::Path(path, existing) => (path, existing),
            Destination::DanglingLink if options.no_clobber => {
                return Ok(Looked::Done(Outcome::Skipped(super::EXISTS)));
            }
            // -f: cp removes the link and creates the file in its place.
            Destination::DanglingLink if options.force => {
                (destination.to_path_buf(), destination_entry(destination)?)
            }
            Destination::DanglingLink => {
                // cp refuses too: the file would be created wherever the link points,
                // possibly outside the destination tree, under a name nobody chose.
                return Err(Error::new(
                    destination,
                    Operation::StatDestination,
                    Cause::Invalid("not writing through a dangling symlink".to_string()),
                ));
            }
        }
    };
    let mut replaced_as_new = false;
    if let Some(existing) = &existing {
        if same_file(&source_metadata, existing) {
            return Err(Error::new(
                &destination,
                Operation::StatDestination,
                Cause::SameFile,
            ));
        }
        // -n and -u skip before the kinds are compared, as cp's do: a directory in the
        // file's place is kept, or (-u) kept when not older, without an error.
        if options.no_clobber {
            return Ok(Looked::Done(Outcome::Skipped(super::EXISTS)));
        }
        if options.update && !older(existing, &source_metadata) {
            return Ok(Looked::Done(Outcome::Skipped(super::NOT_OLDER)));
        }
        if existing.is_dir() {
            return Err(Error::new(
                &destination,
                Operation::StatDestination,
                Cause::Invalid("is a directory".to_string()),
            ));
        }
        if let Some(backup) = &options.backup {
            backup.takes_source_name(source, &source_metadata, &destination)?;
        }
        // FIFOs and devices are written into, not replaced, unless the user asked for
        // the destination to be removed or kept aside first (as cp does then).
        #[cfg(unix)]
        if !options.remove_destination && options.backup.is_none() {
            if let Some(kind) = Special::of(existing) {
                return write_into_special(
                    source,
                    &source_metadata,
                    &destination,
                    kind,
                    target.observer,
                )
                .map(Looked::Done);
            }
        }
        // cp opens an existing destination for writing and fails when it may not
        // (unless -f, which unlinks it and tries again: the copy is a new file then);
        // the rename would not notice. With -b cp renames it away first and makes a
        // new file: whether it may be written does not matter.
        if !options.remove_destination && options.backup.is_none() && !existing.is_symlink() {
            if let Err(error) = may_write(&destination) {
                if !options.force {
                    return Err(error);
                }
                replaced_as_new = true;
            }
        }
        // The copy is renamed over the old name (-f's unlink and -b's rename would be
        // refused the same way), which a sticky directory refuses with EPERM unless
        // the file or the directory is the user's: said now, not after the whole copy.
        // cp writes into such a file in place instead (difference 1 in the README).
        #[cfg(unix)]
        if crate::atomic::sticky_directory_forbids_replacing(
            &destination,
            std::os::unix::fs::MetadataExt::uid(existing),
        ) {
            return Err(Error::new(
                &destination,
                Operation::Rename,
                Cause::Invalid(
                    "a sticky directory lets only the file's owner or its own replace it"
                        .to_string(),
                ),
            ));
        }
    }
    if replaced_as_new && destination != given {
        // cp -f unlinks the name it was given: the symlink, not the file it points to,
        // which is not the user's to replace (it may not even write it).
        destination = given.to_path_buf();
        existing = destination_entry(given)?;
    }
    let src = if stream {
        open_stream(source, target.observer)?
    } else {
        open_source(source, Some(&source_metadata))?
    };
    Ok(Looked::Copy {
        src,
        destination,
        existing,
        replaced_as_new,
    })
}

/// `--attributes-only`: an existing destination keeps its content and gets the
/// preserved attributes; a missing one is created empty with them (atomically), and so
/// is one cp removes first (`--remove-destination`, `-b`, or `-f` where it may not be
/// written: `replaced_as_new`), whose new empty file replaces it atomically.
fn attributes_only(
    src: &Source<'_>,
    destination: &Path,
    existing: Option<&Metadata>,
    replaced_as_new: bool,
    in_hidden_tree: bool,
    options: &CopyOptions,
    started: Instant,
) -> Result<Outcome, Error> {
    let done = |backup| {
        Ok(Outcome::Copied(Copied {
            bytes: 0,
            method: super::Method::Chunked,
            duration: started.elapsed(),
            verified: false,
            backup,
            hash: None,
            replaced: existing.is_some(),
        }))
    };
    // cp opens an existing file for writing and changes only its attributes, unless it
    // unlinks it first: then the copy is a new, empty file, as for a missing one.
    let kept = !options.remove_destination && options.backup.is_none() && !replaced_as_new;
    if let Some(existing) = existing.filter(|meta| kept && meta.is_file()) {
        let target = open_kept(destination, existing)?;
        preserve::apply(
            (&src.file, &src.metadata),
            &target,
            destination,
            options.preserve,
        )?;
        return done(None);
    }
    let temp = TempDest::create(destination, &src.metadata, None, in_hidden_tree)?;
    if options.default_mode {
        set_default_mode(&temp)?;
    }
    if options.preserve.any() {
        preserve::apply(
            (&src.file, &src.metadata),
            temp.file(),
            temp.destination(),
            options.preserve,
        )?;
    }
    let backup = match (&options.backup, existing) {
        (Some(backup), Some(_)) => Some(backup.make(destination)?),
        _ => None,
    };
    temp.install(options.no_clobber && backup.is_none(), options.fsync)?;
    done(backup)
}

/// The existing file `--attributes-only` changes in place, opened without following
/// a link and checked to be the file looked at: a name swapped for a symlink meanwhile
/// must not hand its target the source's owner and mode (`-p`, as root).
fn open_kept(destination: &Path, looked_at: &Metadata) -> Result<File, Error> {
    let mut open = std::fs::OpenOptions::new();
    open.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        open.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = open
        .open(destination)
        .op(destination, Operation::SetMetadata)?;
    let opened = file.metadata().op(destination, Operation::SetMetadata)?;
    if !same_file(&opened, looked_at) {
        return Err(Error::new(
            destination,
            Operation::SetMetadata,
            Cause::Invalid("it was replaced while it was looked at".to_string()),
        ));
    }
    Ok(file)
}

/// `--no-preserve=mode`: a new file gets 0666 less the umask, as any new file.
#[cfg(unix)]
fn set_default_mode(temp: &TempDest) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    let mode = 0o666 & !crate::atomic::umask();
    temp.file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .op(temp.destination(), Operation::SetMetadata)
}

#[cfg(not(unix))]
fn set_default_mode(_temp: &TempDest) -> Result<(), Error> {
    Ok(())
}

/// What is at `destination` itself (a symlink is not followed).
fn destination_entry(destination: &Path) -> Result<Option<Metadata>, Error> {
    match std::fs::symlink_metadata(destination) {
        Ok(meta) => Ok(Some(meta)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(Error::os(destination, Operation::StatDestination, err)),
    }
}

/// Fails as cp does when the user may not write an existing destination (EACCES):
/// access(2) with the effective ids; root may write anything.
#[cfg(unix)]
fn may_write(destination: &Path) -> Result<(), Error> {
    use std::os::unix::ffi::OsStrExt;
    let Ok(name) = std::ffi::CString::new(destination.as_os_str().as_bytes()) else {
        return Ok(());
    };
    // SAFETY: `name` is NUL-terminated and lives across the call.
    let allowed =
        unsafe { libc::faccessat(libc::AT_FDCWD, name.as_ptr(), libc::W_OK, libc::AT_EACCESS) };
    if allowed == -1 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EACCES) {
            return Err(Error::os(destination, Operation::OpenDestination, err));
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn may_write(_destination: &Path) -> Result<(), Error> {
    Ok(())
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

/// Opens the source `stat_source` looked at, making sure it is still that file; or,
/// with no look (`None`: a walk found a regular file there, see
/// [`Known::RegularEntry`]), not following a link put there since (ELOOP). O_NONBLOCK:
/// a FIFO put there does not block the open. Whatever is not a regular file is refused
/// after the open, before anything is read.
fn open_source<'a>(path: &'a Path, looked_at: Option<&Metadata>) -> Result<Source<'a>, Error> {
    #[cfg(unix)]
    let file = {
        let no_follow = if looked_at.is_none() {
            libc::O_NOFOLLOW
        } else {
            0
        };
        let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY | no_follow;
        crate::at::file(path, |directory, name| {
            crate::at::open(directory, name, flags, 0)
        })
        .op(path, Operation::OpenSource)?
    };
    #[cfg(not(unix))]
    let file = std::fs::File::open(path).op(path, Operation::OpenSource)?;
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
    if looked_at.is_some_and(|looked_at| !same_file(&metadata, looked_at)) {
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

/// True for a FIFO or a character or block device (what `--copy-contents` reads).
#[cfg(unix)]
fn is_stream(metadata: &Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    let kind = metadata.file_type();
    kind.is_fifo() || kind.is_char_device() || kind.is_block_device()
}

#[cfg(not(unix))]
fn is_stream(_metadata: &Metadata) -> bool {
    false
}

/// Opens a FIFO or device for `--copy-contents`, read until end of file like a pseudo
/// file. A FIFO is waited on until a writer opens it, as cp's blocking open does, but
/// the wait ends when the run is interrupted: a blocking open (and read) of a FIFO
/// sleeps through SIGINT and SIGTERM (SA_RESTART, and std retries EINTR).
fn open_stream<'a>(path: &'a Path, observer: &dyn Observer) -> Result<Source<'a>, Error> {
    let mut open = std::fs::OpenOptions::new();
    open.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK: opening a FIFO for reading returns at once instead of waiting for
        // a writer; the wait is done below, in slices that check for an interruption.
        #[cfg(target_os = "linux")]
        open.custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK);
        #[cfg(not(target_os = "linux"))]
        open.custom_flags(libc::O_NOCTTY);
    }
    let file = open.open(path).op(path, Operation::OpenSource)?;
    let metadata = file.metadata().op(path, Operation::StatSource)?;
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::FileTypeExt;
        if metadata.file_type().is_fifo() {
            // Stays non-blocking: reads wait in interruptible slices (chunked::read_at).
            wait_for_writer(&file, observer).map_err(|err| match err.kind() {
                io::ErrorKind::Interrupted => {
                    Error::new(path, Operation::OpenSource, Cause::Interrupted)
                }
                _ => Error::os(path, Operation::OpenSource, err),
            })?;
        } else {
            // Devices are read as before: blocking.
            nix::fcntl::fcntl(
                &file,
                nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()),
            )
            .map_err(io::Error::from)
            .op(path, Operation::OpenSource)?;
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = observer;
    Ok(Source {
        path,
        file,
        metadata,
        size_is_exact: false,
    })
}

/// Waits, as a blocking open of a FIFO for reading does, until a writer has had it
/// open since `fifo` was opened; an interruption ends the wait (ErrorKind::Interrupted).
#[cfg(target_os = "linux")]
fn wait_for_writer(fifo: &File, observer: &dyn Observer) -> io::Result<()> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // tee(2) into a scratch pipe tells, without consuming anything, whether a writer is
    // there now: EAGAIN (empty, writer present), > 0 (data), or 0 (empty, no writer). A
    // plain read of 0 could not tell "no writer yet" from "writer gone".
    let mut ends = [0; 2];
    // SAFETY: pipe2 fills `ends` with two new descriptors, owned below.
    if unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptors from pipe2, owned by nothing else.
    let (_scratch_read, scratch_write) =
        unsafe { (OwnedFd::from_raw_fd(ends[0]), OwnedFd::from_raw_fd(ends[1])) };
    loop {
        // SAFETY: plain syscall on two open descriptors.
        let teed = unsafe {
            libc::tee(
                fifo.as_raw_fd(),
                scratch_write.as_raw_fd(),
                1,
                libc::SPLICE_F_NONBLOCK,
            )
        };
        if teed > 0 {
            return Ok(());
        }
        if teed < 0 {
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EAGAIN) => return Ok(()),
                Some(libc::EINTR) => {}
                _ => return Err(err),
            }
        }
        if observer.interrupted() {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
        }
        // Data, or POLLHUP: Linux reports it once a writer that came after our open has
        // gone again (never for "no writer yet").
        if wait_readable(fifo)? {
            return Ok(());
        }
    }
}

/// Polls `file` for reading for at most a short slice, so that the caller can check
/// for an interruption between slices. True when it is readable or hung up.
#[cfg(target_os = "linux")]
pub(super) fn wait_readable(file: &File) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    const SLICE_MS: libc::c_int = 100;
    let mut poll = libc::pollfd {
        fd: file.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    match unsafe { libc::poll(&mut poll, 1, SLICE_MS) } {
        n if n < 0 => {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINTR) {
                Ok(false)
            } else {
                Err(err)
            }
        }
        0 => Ok(false),
        _ => Ok(poll.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0),
    }
}

fn not_regular(metadata: &Metadata) -> Option<&'static str> {
    if metadata.is_dir() {
        return Some("a directory; use -r to copy directories");
    }
    crate::error::not_a_regular_file(metadata)
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

/// What a destination path turned out to be.
enum Destination {
    /// The path to write (a symlink's target when it names an existing file), and what
    /// is there now.
    Path(PathBuf, Option<Metadata>),
    /// A symlink to nothing.
    DanglingLink,
}

/// The path to write and what is there now, with one lstat in the common case. A
/// destination that is a symlink to an existing file is written through, as cp does:
/// the link stays and its target gets the new content. Except, with links preserved
/// (`-a`, `-d`, `--preserve=links`), where that file has other hard links: then the
/// link itself is replaced, as cp replaces it (`preserve_links && 1 < st_nlink` in its
/// copy_internal), so that a rerun over an old copy does not write into a file other
/// names share, inside the tree or outside it.
fn inspect_destination(destination: &Path, preserve_links: bool) -> Result<Destination, Error> {
    let stat_error = |err| Error::os(destination, Operation::StatDestination, err);
    match std::fs::symlink_metadata(destination) {
        Ok(meta) if meta.file_type().is_symlink() => match std::fs::canonicalize(destination) {
            Ok(target) => {
                let existing = std::fs::metadata(&target).map_err(stat_error)?;
                if preserve_links && existing.is_file() && shared(&existing) {
                    return Ok(Destination::Path(destination.to_path_buf(), Some(meta)));
                }
                Ok(Destination::Path(target, Some(existing)))
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(Destination::DanglingLink),
            Err(err) => Err(stat_error(err)),
        },
        Ok(meta) => Ok(Destination::Path(destination.to_path_buf(), Some(meta))),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            Ok(Destination::Path(destination.to_path_buf(), None))
        }
        Err(err) => Err(stat_error(err)),
    }
}

/// True for a file with more than one hard link.
#[cfg(unix)]
fn shared(metadata: &Metadata) -> bool {
    std::os::unix::fs::MetadataExt::nlink(metadata) > 1
}

#[cfg(not(unix))]
fn shared(_metadata: &Metadata) -> bool {
    false
}

/// An existing destination that is not a regular file, directory or symlink.
#[cfg(unix)]
#[derive(Clone, Copy, PartialEq, Eq)]
enum Special {
    Fifo,
    CharDevice,
    BlockDevice,
    Socket,
}

#[cfg(unix)]
impl Special {
    /// FIFOs and devices are written into, never replaced (cp writes into them too):
    /// renaming a file over /dev/null or over a FIFO a reader waits on would destroy
    /// the node. A socket cannot be opened at all.
    fn of(existing: &Metadata) -> Option<Special> {
        use std::os::unix::fs::FileTypeExt;
        let kind = existing.file_type();
        if kind.is_fifo() {
            Some(Special::Fifo)
        } else if kind.is_char_device() {
            Some(Special::CharDevice)
        } else if kind.is_block_device() {
            Some(Special::BlockDevice)
        } else if kind.is_socket() {
            Some(Special::Socket)
        } else {
            None
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Special::Fifo => "a FIFO",
            Special::CharDevice => "a character device",
            Special::BlockDevice => "a block device",
            Special::Socket => "a socket",
        }
    }
}

#[cfg(unix)]
fn write_into_special(
    source: &Path,
    source_metadata: &Metadata,
    destination: &Path,
    kind: Special,
    observer: &dyn Observer,
) -> Result<Outcome, Error> {
    use std::io::{Read, Write};
    use std::os::unix::fs::OpenOptionsExt;
    let started = Instant::now();
    if kind == Special::Socket {
        return Err(Error::new(
            destination,
            Operation::OpenDestination,
            Cause::Invalid("cannot write into a socket".to_string()),
        ));
    }
    let src = open_source(source, Some(source_metadata))?;
    // O_NONBLOCK: opening a FIFO that has no reader would wait forever; this way it
    // fails at once with ENXIO. No O_TRUNC (meaningless here) and no O_CREAT: if the
    // node went away meanwhile, nothing is created in its place.
    let mut target = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(destination)
        .map_err(|err| match err.raw_os_error() {
            Some(libc::ENXIO) => Error::new(
                destination,
                Operation::OpenDestination,
                Cause::Invalid(format!("{} with no reader", kind.describe())),
            ),
            _ => Error::os(destination, Operation::OpenDestination, err),
        })?;
    let opened = target
        .metadata()
        .op(destination, Operation::OpenDestination)?;
    if Special::of(&opened).is_none() {
        return Err(Error::new(
            destination,
            Operation::OpenDestination,
            Cause::Invalid(format!("was {}, is now another file", kind.describe())),
        ));
    }
    // Blocking writes from here: a slow reader is waited for, not an EAGAIN error.
    nix::fcntl::fcntl(
        &target,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()),
    )
    .map_err(io::Error::from)
    .op(destination, Operation::OpenDestination)?;
    let mut buffer = crate::buffer::IoBuffer::new(128 * 1024);
    let mut copied = 0u64;
    let mut reader = &src.file;
    loop {
        if observer.interrupted() {
            return Err(Error::new(
                destination,
                Operation::Write,
                Cause::Interrupted,
            ));
        }
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(Error::os(source, Operation::Read, err)),
        };
        target
            .write_all(&buffer[..n])
            .op(destination, Operation::Write)?;
        copied += n as u64;
        observer.progress(copied);
    }
    verify::source_unchanged(&src)?;
    Ok(Outcome::Copied(Copied {
        bytes: copied,
        method: super::Method::Chunked,
        duration: started.elapsed(),
        verified: false,
        backup: None,
        hash: None,
        // Written into, not replaced.
        replaced: false,
    }))
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
