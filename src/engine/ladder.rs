//! The copy ladder: which rungs to try for a file, in which order, and how one gives
//! way to the next.
//!
//! A rung gives way only for "not supported here" errors ([`RungError::Unsupported`]);
//! whatever it wrote is truncated away first. Anything else ends the copy of the file.

use std::io;

use super::fanout::Shared;
use super::file::Source;
use super::*;
use crate::atomic::TempDest;
use crate::error::Context;

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

/// The rungs to try for this file, best first.
///
/// A clone is tried at every size: the threshold (`min_size`) exists because sendfile's
/// overhead outweighs its benefit for small files, and a clone moves no bytes at all.
/// Below the threshold the byte-copying kernel rungs give way to the chunk copy.
fn rungs(src: &Source<'_>, options: &CopyOptions) -> &'static [Method] {
    rungs_for(src.metadata.len(), src.size_is_exact, options)
}

/// True when the ladder for a regular file of this size can only clone or copy through
/// a buffer: the destinations of one source that do not clone then share one read
/// loop ([`super::fanout`]).
pub(crate) fn copies_in_user_space(metadata: &std::fs::Metadata, options: &CopyOptions) -> bool {
    let rungs = rungs_for(metadata.len(), true, options);
    options.sparse != Sparse::Always
        && rungs.contains(&Method::Chunked)
        && rungs
            .iter()
            .all(|method| matches!(method, Method::Clone | Method::Chunked))
}

/// [`rungs`] from the size alone (`size_is_exact`: false for procfs-like files).
fn rungs_for(size: u64, size_is_exact: bool, options: &CopyOptions) -> &'static [Method] {
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
    if !options.zero_copy || !size_is_exact || options.sparse == Sparse::Always {
        return &[Method::Chunked];
    }
    if options.sparse == Sparse::Never {
        // A clone shares the source's holes, and copy_file_range may clone too.
        if size < options.min_size {
            return &[Method::Chunked];
        }
        return platform_rungs(Reflink::Never);
    }
    if size < options.min_size {
        return small_file_rungs(options.reflink);
    }
    platform_rungs(options.reflink)
}

/// Below the threshold: a clone where the platform has one, then the chunk copy.
fn small_file_rungs(reflink: Reflink) -> &'static [Method] {
    let can_clone = cfg!(any(target_os = "linux", target_os = "macos"));
    match reflink {
        Reflink::Auto | Reflink::Always if can_clone => &[Method::Clone, Method::Chunked],
        _ => &[Method::Chunked],
    }
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
pub(super) fn run_ladder(
    src: &Source<'_>,
    temp: &mut TempDest,
    options: &CopyOptions,
    observer: &dyn Observer,
    shared: Shared<'_>,
) -> Result<(Method, u64), Error> {
    // Whatever the ladder ends in, the other destinations of this source no longer
    // wait for this one to join their chunk copy.
    let _decided = Decided(shared.fanout);
    let rungs = rungs(src, options);
    let source_device = device(&src.metadata);
    for (index, &method) in rungs.iter().enumerate() {
        // A demanded method is always tried: its refusal must be the error reported.
        let known = options
            .demand()
            .is_none()
            .then(|| availability::unavailable(method, source_device, temp.destination()))
            .flatten();
        if let Some(reason) = known {
            if observer.wants_notes() {
                observer.note(&format!(
                    "{}: skipping {}: {reason}",
                    crate::error::shown(src.path),
                    method.name()
                ));
            }
            continue;
        }
        match run_rung(method, src, temp, options, observer, shared) {
            Ok(bytes) => {
                if observer.wants_notes() {
                    observer.note(&format!(
                        "{}: copied {bytes} bytes with {}",
                        crate::error::shown(src.path),
                        method.name()
                    ));
                }
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
                availability::remember(method, &err, source_device, temp.destination(), || {
                    temp.file().metadata().ok().as_ref().map(device)
                });
                if observer.wants_notes() {
                    observer.note(&format!(
                        "{}: {} not usable here ({err}); trying {}",
                        crate::error::shown(src.path),
                        method.name(),
                        rungs
                            .get(index + 1)
                            .map_or("nothing else", |next| next.name())
                    ));
                }
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
    shared: Shared<'_>,
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
    let data = if options.sparse == Sparse::Never {
        // Holes are read as zeros and written as data.
        vec![0..size]
    } else {
        segments::data_segments(&src.file, &src.metadata)
            .map_err(|err| RungError::Failed(Operation::MapHoles, err))?
    };
    if options.sparse == Sparse::Always && method == Method::Chunked {
        let copied = chunked::copy_making_holes(
            &src.file,
            temp.file(),
            &data,
            options.chunk_size,
            observer,
        )?;
        temp.file()
            .set_len(size)
            .map_err(|err| RungError::Failed(Operation::SetMetadata, err))?;
        return Ok(copied);
    }
    if matches!(method, Method::Sendfile | Method::Chunked) && options.sparse != Sparse::Always {
        reserve(temp.file(), &data, size)?;
    }
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
        _ => match shared.fanout.and_then(|(fanout, index)| {
            fanout.copy(
                index,
                &src.file,
                temp.file(),
                &data,
                options.chunk_size,
                observer,
            )
        }) {
            Some(result) => result?,
            None => chunked::copy(&src.file, temp.file(), &data, options.chunk_size, observer)?,
        },
    };
    segments::extend_over_trailing_hole(temp.file(), &data, size)
        .map_err(|err| RungError::Failed(Operation::SetMetadata, err))?;
    Ok(copied)
}

/// Files from this size on have their space reserved before their bytes are copied
/// ([`reserve`]). Below it the extra syscall per file would show in copies of many
/// small files (a tree of thousands of 1 KiB files), and what it protects is small:
/// with one file in flight per worker, files this small leave at most a few MiB per
/// worker half-written when the disk runs full. 4 MiB is also below the smallest
/// `ZERO_COPY_MIN_SIZE_MB` (1), so every file the kernel rungs copy byte by byte is
/// covered whatever the threshold, and so are large files of the chunk copy.
#[cfg(target_os = "linux")]
const RESERVE_MIN: u64 = 4 << 20;

/// Reserves the space of a copy of `size` bytes whose `data` will all be written,
/// before a rung writes them: on a nearly full disk, the workers' files in flight
/// would otherwise each fill their own temporary file until all of them run out of
/// space together, leaving no file copied where one at a time (cp, `-j1`) copies
/// what fits. With the space reserved, a file that does not fit fails at once, with
/// ENOSPC as its write would, and the others complete.
///
/// Only before the rungs that surely write every byte, sendfile and the chunk copy
/// (the caller's choice): a clone needs no data space, and reserving before one would
/// make a clone that fits fail. copy_file_range is left out too because it may clone
/// without saying so: btrfs and XFS remap within one filesystem, and NFS and SMB hand
/// it to the server, which may clone (Samba on btrfs does) even where the client's
/// FICLONE was refused, so a refused FICLONE does not prove that it will write. Its
/// refusals across filesystems (EXDEV) fall to sendfile, which reserves; a copy
/// within one filesystem that cannot clone (ext4, tmpfs) is left unreserved.
///
/// Not for sources with holes (`data` is not one segment over the whole file): their
/// holes stay holes in the copy, and `--sparse=always` (also left out by the caller)
/// makes more. FALLOC_FL_KEEP_SIZE leaves the copy's length to the bytes written, so
/// that a copy that stops short is still a size mismatch, and a rung giving way with
/// nothing written keeps the reservation for the next. A filesystem that cannot
/// reserve (EOPNOTSUPP, ENOSYS: exFAT, some FUSE) and any error other than running
/// out of space leave the copy as it was without one: the writes report real trouble.
#[cfg(target_os = "linux")]
fn reserve(
    file: &std::fs::File,
    data: &[std::ops::Range<u64>],
    size: u64,
) -> Result<(), RungError> {
    use std::os::fd::AsRawFd;
    if size < RESERVE_MIN || data != [0..size] {
        return Ok(());
    }
    let Ok(length) = libc::off_t::try_from(size) else {
        return Ok(());
    };
    // One reservation at a time: fallocate is not atomic (tmpfs and ext4 allocate block
    // by block, and tmpfs gives back what it took when it runs out), so two files
    // reserving side by side could each take part of the space and both fail, which
    // is what the reservation is there to prevent. A reservation takes milliseconds.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let result = {
        let _turn = ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // SAFETY: plain syscall on a descriptor open for the duration of the borrow.
        unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, 0, length) }
    };
    if result == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::ENOSPC | libc::EDQUOT | libc::EFBIG) => {
            Err(RungError::Failed(Operation::Allocate, err))
        }
        _ => Ok(()),
    }
}

#[cfg(target_os = "macos")]
fn run_rung(
    method: Method,
    src: &Source<'_>,
    temp: &mut TempDest,
    options: &CopyOptions,
    observer: &dyn Observer,
    _shared: Shared<'_>,
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
    _shared: Shared<'_>,
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
    _shared: Shared<'_>,
) -> RungResult {
    chunked::copy_until_eof(&src.file, temp.file(), options.chunk_size, observer)
}

/// Leaves a destination's place in a shared chunk copy when dropped.
struct Decided<'a>(Option<(&'a super::fanout::Fanout, usize)>);

impl Drop for Decided<'_> {
    fn drop(&mut self) {
        if let Some((fanout, index)) = self.0 {
            fanout.leave(index);
        }
    }
}

#[cfg(unix)]
fn device(metadata: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    metadata.dev()
}

#[cfg(not(unix))]
fn device(_metadata: &std::fs::Metadata) -> u64 {
    0
}
