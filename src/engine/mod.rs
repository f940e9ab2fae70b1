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

mod availability;
mod chunked;
#[cfg(target_os = "linux")]
mod clone;
#[cfg(target_os = "linux")]
mod copy_range;
mod fanout;
mod file;
mod ladder;
#[cfg(target_os = "macos")]
mod macos;
#[cfg(target_os = "linux")]
mod segments;
#[cfg(target_os = "linux")]
mod sendfile;
mod verify;
#[cfg(windows)]
mod windows;

use std::fs::{File, Metadata};
use std::io;
use std::time::Duration;

pub use fanout::copy_to_destinations;
pub use file::{copy_file, copy_planned_file, Known, Target};
pub(crate) use ladder::{classify, RungError, RungResult};

use crate::config::{Config, Reflink, VerifyMode};
pub use crate::error::{Cause, Error, Operation};
use crate::hash::Algorithm;
use crate::preserve::Preserve;

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

    /// True for the mechanisms counted as zero-copy (`zero_copy_count`): the bytes never
    /// pass through a user-space buffer of ours.
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

/// How holes are made in copies (`--sparse=WHEN`, as cp).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Sparse {
    /// Keep the source's holes (found with SEEK_DATA), and clones share them.
    #[default]
    Auto,
    /// Also make a hole of every all-zero block of data (read through the chunk copy).
    Always,
    /// Make no holes: every byte of the copy is written (no clone or copy_file_range,
    /// which would share or keep holes).
    Never,
}

/// What the engine needs from the caller while it copies.
pub trait Observer {
    /// Bytes of the current file copied so far (may go back to 0 when a rung gives way).
    fn progress(&self, _copied: u64) {}
    /// A line for `-v`: which rung ran, why one was skipped.
    fn note(&self, _message: &str) {}
    /// False when [`Observer::note`] discards its lines: the engine then does not
    /// format them (per file, that showed in copies of many small files).
    fn wants_notes(&self) -> bool {
        true
    }
    /// True once the user asked to stop (Ctrl-C, SIGTERM).
    fn interrupted(&self) -> bool {
        false
    }
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {
    fn wants_notes(&self) -> bool {
        false
    }
}

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
    /// Replace an existing destination the user may not write (`-f`, as cp's unlink
    /// and retry); `-l`/`-s` replace an existing destination.
    pub force: bool,
    /// Replace a destination that is a symlink instead of writing through it, and
    /// give the copy the source's mode (`--remove-destination`).
    pub remove_destination: bool,
    /// Keep a replaced destination under a backup name (`-b`).
    pub backup: Option<crate::backup::Backup>,
    /// Copy no data: create an empty file or keep the existing one, and carry the
    /// preserved attributes over (`--attributes-only`).
    pub attributes_only: bool,
    /// New files and directories get the default mode (0666 or 0777 less the umask),
    /// not the source's (`--no-preserve=mode`).
    pub default_mode: bool,
    /// Holes in copies (`--sparse`).
    pub sparse: Sparse,
    /// Read FIFOs and devices like files (`--copy-contents`).
    pub copy_contents: bool,
    /// Largest single request to the kernel paths. Smaller values make progress smoother
    /// and Ctrl-C quicker; larger ones save syscalls (1 GiB is where Linux caps a
    /// single copy_file_range anyway... minus a page for sendfile).
    pub kernel_chunk: usize,
    /// Hash the source and the copy read back from the device with this algorithm, and
    /// install the copy only when they match (`--hash`).
    pub hash: Option<Algorithm>,
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
            force: false,
            remove_destination: false,
            backup: None,
            attributes_only: false,
            default_mode: false,
            sparse: Sparse::Auto,
            copy_contents: false,
            kernel_chunk: if show_progress { chunk_size } else { 1 << 30 },
            hash: config.hash,
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
    /// Where the replaced destination was kept (`-b`).
    pub backup: Option<std::path::PathBuf>,
    /// With `--hash`: the algorithm and the hash, the source's and the copy's read back.
    pub hash: Option<(Algorithm, String)>,
    /// Something was at the destination and was replaced.
    pub replaced: bool,
}

/// Why `--no-clobber` leaves a file alone.
pub const EXISTS: &str = "destination exists (--no-clobber)";

/// Why `--update` leaves a file alone. Its destination counts as the source's copy: a
/// later hard link to the same file (`--preserve=links`) links to it, as cp's does.
pub const NOT_OLDER: &str = "destination is not older than the source (--update)";

/// The result of one file.
#[derive(Debug)]
pub enum Outcome {
    /// Copied and installed.
    Copied(Copied),
    /// Left alone: `--no-clobber` and the destination exists.
    Skipped(&'static str),
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
