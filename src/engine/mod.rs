//! The copy engine: one file at a time, synchronously.
//!
//! For each file: check the source is a regular file and not the destination, copy
//! into a temporary file beside the destination ([`crate::atomic`]) with the first rung
//! of the ladder that works, check the source did not change, verify, then put the
//! copy in place under the destination's name.
//!
//! The ladder on Linux is FICLONE -> copy_file_range -> sendfile -> buffered chunks.
//! A rung gives way to the next only for "not supported here" errors
//! ([`RungError::Unsupported`]); whatever it wrote is truncated away first, so a lower
//! rung never builds on bytes a higher one left behind. Anything else (ENOSPC, EIO, EDQUOT,
//! EFBIG...) ends the copy of that file: retrying a full disk on a slower rung only
//! wastes time and hides the problem.

mod chunked;
#[cfg(target_os = "linux")]
mod clone;
#[cfg(target_os = "linux")]
mod copy_range;
mod error;
#[cfg(target_os = "macos")]
mod macos;
#[cfg(target_os = "linux")]
mod segments;
#[cfg(target_os = "linux")]
mod sendfile;
#[cfg(windows)]
mod windows;

use std::fs::{File, Metadata};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub(crate) use error::Context;
pub use error::{Cause, Error, Operation};

use crate::atomic::TempDest;
use crate::config::{Config, Reflink, VerifyMode};
use crate::preserve::{self, Preserve};
use crate::verify;

/// The mechanism that moved a file's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// A whole-file clone: FICLONE on Linux, `fclonefileat` on macOS. Shares blocks.
    Clone,
    /// `copy_file_range(2)`: an in-kernel copy (which may itself clone or copy server-side).
    CopyFileRange,
    /// `sendfile(2)`: an in-kernel copy through the page cache.
    Sendfile,
    /// `fcopyfile(3)` on macOS.
    #[cfg(target_os = "macos")]
    Fcopyfile,
    /// `CopyFileExW` on Windows.
    #[cfg(windows)]
    CopyFileEx,
    /// Buffered reads and writes of `ZERO_COPY_CHUNK_SIZE_MB`.
    Chunked,
}

impl Method {
    /// Every method this build can use, best first.
    pub const ALL: &'static [Method] = &[
        Method::Clone,
        Method::CopyFileRange,
        Method::Sendfile,
        #[cfg(target_os = "macos")]
        Method::Fcopyfile,
        #[cfg(windows)]
        Method::CopyFileEx,
        Method::Chunked,
    ];

    /// The name used in JSON and messages.
    pub fn name(self) -> &'static str {
        match self {
            Method::Clone => "clone",
            Method::CopyFileRange => "copy_file_range",
            Method::Sendfile => "sendfile",
            #[cfg(target_os = "macos")]
            Method::Fcopyfile => "fcopyfile",
            #[cfg(windows)]
            Method::CopyFileEx => "copy_file_ex",
            Method::Chunked => "chunked",
        }
    }

    /// True for the mechanisms the spec counts as zero-copy: the bytes never pass
    /// through a user-space buffer of ours.
    pub fn is_zero_copy(self) -> bool {
        !matches!(self, Method::Chunked)
    }

    fn operation(self) -> Operation {
        match self {
            Method::Clone => Operation::Clone,
            Method::CopyFileRange => Operation::CopyFileRange,
            Method::Sendfile => Operation::Sendfile,
            #[cfg(target_os = "macos")]
            Method::Fcopyfile => Operation::CopyFileRange,
            #[cfg(windows)]
            Method::CopyFileEx => Operation::CopyFileRange,
            Method::Chunked => Operation::Write,
        }
    }
}

/// How a rung failed.
#[derive(Debug)]
pub(crate) enum RungError {
    /// The mechanism cannot copy this file here (ENOSYS, EOPNOTSUPP, EXDEV, EINVAL...);
    /// the next rung may.
    Unsupported(io::Error),
    /// A real failure (ENOSPC, EIO...): the copy of this file ends.
    Failed(Operation, io::Error),
    /// The user interrupted the run.
    Interrupted,
}

/// What a rung returns: the bytes it copied, or why it did not.
pub(crate) type RungResult = Result<u64, RungError>;

/// Errors that mean "this mechanism does not work for this pair of files", after which
/// the next rung is tried (on a rewound temporary file). Which errno each mechanism
/// returns for what:
/// - ENOSYS: the syscall does not exist (old kernel, some sandboxes).
/// - EPERM: seccomp filters (Docker's default profile before 20.10) answer EPERM for
///   copy_file_range; a filter may do the same to any syscall.
/// - EOPNOTSUPP/ENOTSUP, ENOTTY: FICLONE on a filesystem without reflink (ext4, tmpfs).
/// - EXDEV: FICLONE and copy_file_range across filesystems (copy_file_range allows
///   that only within one filesystem type since Linux 5.19).
/// - EINVAL: FICLONE with unaligned sizes on some filesystems; copy_file_range or
///   sendfile on files that do not support them (some FUSE, procfs).
/// - EBADF: the descriptor type is not supported by the call (e.g. O_APPEND files).
/// - ETXTBSY: copy_file_range on a swap file or an executable being run.
///
/// ENOSPC, EDQUOT, EIO and EFBIG are not here: they are failures, never retried.
pub(crate) fn is_unsupported(err: &io::Error) -> bool {
    #[cfg(unix)]
    {
        matches!(
            err.raw_os_error(),
            Some(
                libc::ENOSYS
                    | libc::EPERM
                    | libc::EOPNOTSUPP
                    | libc::ENOTTY
                    | libc::EXDEV
                    | libc::EINVAL
                    | libc::EBADF
                    | libc::ETXTBSY
            )
        ) || err.raw_os_error() == Some(libc::ENOTSUP)
    }
    #[cfg(not(unix))]
    {
        err.kind() == io::ErrorKind::Unsupported
    }
}

/// Classifies an error of a rung: unsupported, or a failure of `operation`.
pub(crate) fn classify(operation: Operation, err: io::Error) -> RungError {
    if is_unsupported(&err) {
        RungError::Unsupported(err)
    } else {
        RungError::Failed(operation, err)
    }
}

/// What the engine needs from the caller while it copies.
pub trait Observer {
    /// Bytes of the current file copied so far (may go back to 0 when a rung gives way).
    fn progress(&self, _copied: u64) {}
    /// A line for `-v`: which rung ran, why one was skipped.
    fn note(&self, _message: &str) {}
    /// True once the user asked to stop (Ctrl-C, SIGTERM).
    fn interrupted(&self) -> bool {
        false
    }
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {}

/// Per-file options derived from the configuration.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Use the kernel paths at all.
    pub zero_copy: bool,
    /// Files smaller than this (in bytes) take the chunk copy.
    pub min_size: u64,
    /// The chunk copy's buffer, in bytes.
    pub chunk_size: usize,
    /// When to clone.
    pub reflink: Reflink,
    /// What to check before installing a copy; `None` checks nothing.
    pub verify: Option<VerifyMode>,
    /// fsync the file and its directory before reporting success.
    pub fsync: bool,
    /// Keep an existing destination (the file is skipped).
    pub no_clobber: bool,
    /// Copy only when the destination is missing or older than the source (`-u`).
    pub update: bool,
    /// Attributes carried over from the source (`-p`, `--preserve`, `-a`).
    pub preserve: Preserve,
    /// Use this mechanism and no other (`--method`, for benchmarks and diagnosis).
    pub forced_method: Option<Method>,
    /// Largest single request to the kernel paths. Smaller values make progress smoother
    /// and Ctrl-C quicker; larger ones save syscalls (1 GiB is where Linux caps a
    /// single copy_file_range anyway... minus a page for sendfile).
    pub kernel_chunk: usize,
}

impl CopyOptions {
    /// Options for a configuration; `kernel_chunk` shrinks to the chunk size when
    /// progress is drawn.
    pub fn from_config(config: &Config, show_progress: bool) -> Self {
        let chunk_size = usize::try_from(config.chunk_size_bytes()).unwrap_or(usize::MAX);
        CopyOptions {
            zero_copy: config.enabled,
            min_size: config.min_size_bytes(),
            chunk_size,
            reflink: config.reflink,
            verify: config.verification(),
            fsync: config.fsync,
            no_clobber: false,
            update: false,
            preserve: Preserve::default(),
            forced_method: None,
            kernel_chunk: if show_progress { chunk_size } else { 1 << 30 },
        }
    }
}

impl CopyOptions {
    /// What the user demanded when only one mechanism may run; its failure is then an
    /// error instead of a step down the ladder.
    fn demand(&self) -> Option<String> {
        match (self.forced_method, self.reflink) {
            (Some(method), _) => Some(format!(
                "cannot use {} (--method={})",
                method.name(),
                method.name().replace('_', "-")
            )),
            (None, Reflink::Always) => Some("cannot clone (--reflink=always)".to_string()),
            _ => None,
        }
    }
}

/// A file that was copied.
#[derive(Debug, Clone)]
pub struct Copied {
    /// Bytes in the installed file.
    pub bytes: u64,
    /// The mechanism that moved them.
    pub method: Method,
    /// From opening the source to renaming the copy into place.
    pub duration: Duration,
    /// True when verification ran and passed.
    pub verified: bool,
}

/// The result of one file.
#[derive(Debug)]
pub enum Outcome {
    /// Copied and installed.
    Copied(Copied),
    /// Left alone: `--no-clobber` and the destination exists.
    Skipped(&'static str),
}

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
    let started = Instant::now();
    // Everything that can refuse or skip the file is decided from stats, before the
    // source is opened: a -n or -u run over a tree that is already copied opens nothing.
    let source_metadata = stat_source(source)?;
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
    let metadata = std::fs::metadata(path).op(path, Operation::StatSource)?;
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

/// The rungs to try for this file, best first.
fn rungs(src: &Source<'_>, options: &CopyOptions) -> &'static [Method] {
    if let Some(forced) = options.forced_method {
        let index = Method::ALL
            .iter()
            .position(|&method| method == forced)
            .expect("every method is in ALL");
        return &Method::ALL[index..=index];
    }
    if options.reflink == Reflink::Always {
        return &[Method::Clone];
    }
    if !options.zero_copy || src.metadata.len() < options.min_size || !src.size_is_exact {
        return &[Method::Chunked];
    }
    platform_rungs(options.reflink)
}

#[cfg(target_os = "linux")]
fn platform_rungs(reflink: Reflink) -> &'static [Method] {
    match reflink {
        Reflink::Never => &[Method::Sendfile, Method::Chunked],
        _ => &[
            Method::Clone,
            Method::CopyFileRange,
            Method::Sendfile,
            Method::Chunked,
        ],
    }
}

#[cfg(target_os = "macos")]
fn platform_rungs(reflink: Reflink) -> &'static [Method] {
    // No sendfile: on macOS it only sends to sockets.
    match reflink {
        Reflink::Never => &[Method::Fcopyfile, Method::Chunked],
        _ => &[Method::Clone, Method::Fcopyfile, Method::Chunked],
    }
}

#[cfg(windows)]
fn platform_rungs(_reflink: Reflink) -> &'static [Method] {
    &[Method::CopyFileEx, Method::Chunked]
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
fn platform_rungs(_reflink: Reflink) -> &'static [Method] {
    &[Method::Chunked]
}

/// Tries each rung in turn; returns the method that copied and the bytes it copied.
fn run_ladder(
    src: &Source<'_>,
    temp: &mut TempDest,
    options: &CopyOptions,
    observer: &dyn Observer,
) -> Result<(Method, u64), Error> {
    let rungs = rungs(src, options);
    for (index, &method) in rungs.iter().enumerate() {
        if let Some(reason) = unavailable(method) {
            observer.note(&format!(
                "{}: skipping {}: {reason}",
                src.path.display(),
                method.name()
            ));
            continue;
        }
        match run_rung(method, src, temp, options, observer) {
            Ok(bytes) => {
                observer.note(&format!(
                    "{}: copied {bytes} bytes with {}",
                    src.path.display(),
                    method.name()
                ));
                return Ok((method, bytes));
            }
            Err(RungError::Interrupted) => {
                return Err(Error::new(
                    temp.destination(),
                    method.operation(),
                    Cause::Interrupted,
                ))
            }
            Err(RungError::Failed(operation, err)) => {
                let path = if operation == Operation::Read {
                    src.path
                } else {
                    temp.destination()
                };
                return Err(Error::os(path, operation, err));
            }
            Err(RungError::Unsupported(err)) => {
                if let Some(demand) = options.demand() {
                    return Err(Error::new(
                        src.path,
                        method.operation(),
                        Cause::MechanismRefused { demand, error: err },
                    ));
                }
                remember_unavailable(method, &err);
                observer.note(&format!(
                    "{}: {} not usable here ({err}); trying {}",
                    src.path.display(),
                    method.name(),
                    rungs
                        .get(index + 1)
                        .map_or("nothing else", |next| next.name())
                ));
                // Rewind: the next rung starts from an empty file, never from whatever
                // a half-done attempt left. Only when there is something to undo: on
                // ext4 a truncate to zero arms auto_da_alloc, which makes the close
                // wait for writeback (measured: +0.3 s on a 1 GiB copy after a refused
                // FICLONE).
                let written = temp
                    .file()
                    .metadata()
                    .op(temp.destination(), Operation::SetMetadata)?
                    .len();
                if written > 0 {
                    temp.file()
                        .set_len(0)
                        .op(temp.destination(), Operation::SetMetadata)?;
                }
                observer.progress(0);
            }
        }
    }
    Err(Error::new(
        src.path,
        Operation::Write,
        Cause::Invalid("no copy mechanism works for this file".to_string()),
    ))
}

#[cfg(target_os = "linux")]
fn run_rung(
    method: Method,
    src: &Source<'_>,
    temp: &mut TempDest,
    options: &CopyOptions,
    observer: &dyn Observer,
) -> RungResult {
    let size = src.metadata.len();
    if method == Method::Clone {
        return clone::clone(&src.file, temp.file(), size);
    }
    if !src.size_is_exact {
        // procfs and sysfs: only reads until end of file see the content.
        return match method {
            Method::Chunked => {
                chunked::copy_until_eof(&src.file, temp.file(), options.chunk_size, observer)
            }
            _ => Err(RungError::Unsupported(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the size of this file is unknown (procfs, sysfs): only reads can copy it",
            ))),
        };
    }
    let data = segments::data_segments(&src.file, &src.metadata)
        .map_err(|err| RungError::Failed(Operation::MapHoles, err))?;
    let copied = match method {
        Method::CopyFileRange => copy_range::copy(
            &src.file,
            temp.file(),
            &data,
            options.kernel_chunk,
            observer,
        )?,
        Method::Sendfile => sendfile::copy(
            &src.file,
            temp.file(),
            &data,
            options.kernel_chunk,
            observer,
        )?,
        _ => chunked::copy(&src.file, temp.file(), &data, options.chunk_size, observer)?,
    };
    segments::extend_over_trailing_hole(temp.file(), &data, size)
        .map_err(|err| RungError::Failed(Operation::SetMetadata, err))?;
    Ok(copied)
}

#[cfg(target_os = "macos")]
fn run_rung(
    method: Method,
    src: &Source<'_>,
    temp: &mut TempDest,
    options: &CopyOptions,
    observer: &dyn Observer,
) -> RungResult {
    let size = src.metadata.len();
    match method {
        Method::Clone => macos::clone(&src.file, temp, size),
        Method::Fcopyfile => macos::fcopyfile(&src.file, temp.file(), size),
        Method::Chunked => {
            chunked::copy_until_eof(&src.file, temp.file(), options.chunk_size, observer)
        }
        Method::CopyFileRange | Method::Sendfile => {
            Err(RungError::Unsupported(io::ErrorKind::Unsupported.into()))
        }
    }
}

#[cfg(windows)]
fn run_rung(
    method: Method,
    src: &Source<'_>,
    temp: &mut TempDest,
    options: &CopyOptions,
    observer: &dyn Observer,
) -> RungResult {
    match method {
        Method::CopyFileEx => windows::copy_file_ex(src.path, temp),
        Method::Chunked => {
            chunked::copy_until_eof(&src.file, temp.file(), options.chunk_size, observer)
        }
        _ => Err(RungError::Unsupported(io::ErrorKind::Unsupported.into())),
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
fn run_rung(
    _method: Method,
    src: &Source<'_>,
    temp: &mut TempDest,
    options: &CopyOptions,
    observer: &dyn Observer,
) -> RungResult {
    chunked::copy_until_eof(&src.file, temp.file(), options.chunk_size, observer)
}

/// The process-wide "this syscall does not exist" flag of a method, if it has one.
#[cfg(target_os = "linux")]
fn availability(method: Method) -> Option<&'static AtomicBool> {
    match method {
        Method::Clone => Some(&clone::UNAVAILABLE),
        Method::CopyFileRange => Some(&copy_range::UNAVAILABLE),
        Method::Sendfile => Some(&sendfile::UNAVAILABLE),
        Method::Chunked => None,
    }
}

#[cfg(not(target_os = "linux"))]
fn availability(_method: Method) -> Option<&'static AtomicBool> {
    None
}

/// Why a method is known not to work in this process, if it is.
fn unavailable(method: Method) -> Option<&'static str> {
    availability(method)
        .is_some_and(|flag| flag.load(Ordering::Relaxed))
        .then_some("the kernel does not provide it (ENOSYS seen earlier in this run)")
}

/// ENOSYS (which std reports as `Unsupported`) means the syscall does not exist at all:
/// no point asking again for every file.
fn remember_unavailable(method: Method, err: &io::Error) {
    if err.kind() == io::ErrorKind::Unsupported {
        if let Some(flag) = availability(method) {
            flag.store(true, Ordering::Relaxed);
        }
    }
}

/// The byte ranges of a file that hold data, in order: holes of sparse files left
/// out where the platform can tell (Linux), the whole file otherwise.
pub(crate) fn data_segments(
    file: &File,
    metadata: &Metadata,
) -> io::Result<Vec<std::ops::Range<u64>>> {
    #[cfg(target_os = "linux")]
    {
        segments::data_segments(file, metadata)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = file;
        Ok(vec![0..metadata.len()])
    }
}

/// The mechanisms this build can use, for `-v` and `--version`.
pub const MECHANISMS: &str = mechanisms!();
