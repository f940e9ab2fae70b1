//! One source, several destinations (`-t DIR` repeated): a small per-file coordinator
//! runs the engine's per-file procedure for each destination side by side, each with
//! its own ladder, temporary file, verification and install, and shares what must read
//! the source so that it is read once per file, not once per destination:
//!
//! - the source's media hash (`--hash`) is computed on its own thread, started before
//!   the copies so that it overlaps them; each destination compares its read-back
//!   with it ([`SourceHash`]);
//! - so is the source's BLAKE3 for `--verify=checksum`;
//! - the destinations whose ladder comes down to the buffered chunk copy share one
//!   read loop ([`Fanout`]): each buffer is read once and written to each of their
//!   temporary files.
//!
//! One destination failing (full, unplugged, read-only) fails its own copy only.
//!
//! The shared read loop serves the Linux ladder; the macOS and Windows ladders copy
//! each destination on its own (their platform calls read the source themselves).

#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

use std::fs::{File, Metadata};
use std::io;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::chunked::{buffer_size, read_at, write_all_at};
use super::file::{Known, Target};
use super::{Cause, CopyOptions, Error, Observer, Operation, Outcome};
use super::{RungError, RungResult};
use crate::hash::{self, Algorithm};

/// What the destinations of one source share, handed to each destination's per-file
/// procedure.
#[derive(Clone, Copy, Default)]
pub(crate) struct Shared<'a> {
    /// The source's media hash, computed once (`--hash`).
    pub source_hash: Option<&'a SourceHash>,
    /// The source's BLAKE3 for `--verify=checksum`, computed once.
    pub source_checksum: Option<&'a SourceHash>,
    /// The chunk copy's read loop, and this destination's place in it.
    pub fanout: Option<(&'a Fanout, usize)>,
}

/// Files from this size on have their source hashed on a thread of its own while a
/// single destination is copied; below it a thread costs more than the overlap saves.
const OVERLAP_HASH_MIN: u64 = 1 << 20;

/// Copies `source` to every target, the targets side by side (each on a thread of its
/// own when there are several), and returns each target's outcome in their order.
/// `known` is what the plan knows of the source, as for
/// [`copy_planned_file`](super::copy_planned_file); without its stat, the source is
/// stat'ed once here for all the targets.
pub fn copy_to_destinations(
    source: &Path,
    known: Known<'_>,
    targets: &[Target<'_>],
    options: &CopyOptions,
) -> Vec<Result<Outcome, Error>> {
    let looked_at = match known {
        Known::Stat(metadata) => Some(metadata.clone()),
        Known::Nothing | Known::RegularEntry => std::fs::metadata(source).ok(),
    };
    let looked_at = match looked_at {
        Some(metadata) => metadata,
        // Each destination's own stat fails and says why.
        None => {
            return targets
                .iter()
                .map(|target| {
                    super::file::copy_shared(
                        source,
                        Known::Nothing,
                        target,
                        options,
                        Shared::default(),
                    )
                })
                .collect()
        }
    };
    if !looked_at.is_file() && options.copy_contents && targets.len() > 1 {
        // A FIFO or device (--copy-contents) yields its bytes once: readers side by
        // side would each get a part, and a second reader after the first would wait
        // for a writer forever.
        let mut outcomes = vec![super::file::copy_shared(
            source,
            Known::Stat(&looked_at),
            &targets[0],
            options,
            Shared::default(),
        )];
        outcomes.extend(targets[1..].iter().map(|target| {
            Err(Error::new(
                target.destination,
                Operation::OpenSource,
                Cause::Invalid(format!(
                    "{} is read once (not a regular file): it is copied to the first destination only",
                    crate::error::shown(source)
                )),
            ))
        }));
        return outcomes;
    }
    let regular = looked_at.is_file() && !options.attributes_only;
    let hash_shared = match options.hash {
        Some(_) if regular => targets.len() > 1 || looked_at.len() >= OVERLAP_HASH_MIN,
        _ => false,
    };
    let source_hash = hash_shared.then(SourceHash::default);
    let checksum_shared =
        regular && targets.len() > 1 && options.verify == Some(crate::config::VerifyMode::Checksum);
    let source_checksum = checksum_shared.then(SourceHash::default);
    let fanout = (cfg!(target_os = "linux")
        && regular
        && targets.len() > 1
        && super::ladder::copies_in_user_space(&looked_at, options))
    .then(|| Fanout::new(targets.len()));
    // Set once every destination is done: a source hash nobody waits for any more
    // (every destination failed before its read-back) stops instead of reading on.
    let finished = AtomicBool::new(false);
    let interrupted = || {
        finished.load(Ordering::Relaxed)
            || targets.iter().any(|target| target.observer.interrupted())
    };
    let copy_one = |index: usize, target: &Target<'_>| {
        let shared = Shared {
            source_hash: source_hash.as_ref(),
            source_checksum: source_checksum.as_ref(),
            fanout: fanout.as_ref().map(|fanout| (fanout, index)),
        };
        let outcome =
            super::file::copy_shared(source, Known::Stat(&looked_at), target, options, shared);
        // A destination that never reached the chunk copy (skipped, failed before it,
        // or copied by another rung) no longer holds the others back.
        if let Some(fanout) = &fanout {
            fanout.leave(index);
        }
        outcome
    };
    std::thread::scope(|scope| {
        if let (Some(shared), Some(algorithm)) = (&source_hash, options.hash) {
            let looked_at = &looked_at;
            let interrupted = &interrupted;
            scope.spawn(move || shared.compute(source, looked_at, algorithm, interrupted));
        }
        if let Some(shared) = &source_checksum {
            let looked_at = &looked_at;
            let interrupted = &interrupted;
            scope.spawn(move || {
                shared.set(
                    open_same(source, looked_at).and_then(|file| {
                        super::verify::source_checksum(&file, source, interrupted)
                    }),
                )
            });
        }
        let outcomes = if targets.len() == 1 {
            vec![copy_one(0, &targets[0])]
        } else {
            let copy_one = &copy_one;
            let handles: Vec<_> = targets
                .iter()
                .enumerate()
                .map(|(index, target)| scope.spawn(move || copy_one(index, target)))
                .collect();
            handles
                .into_iter()
                .map(|handle| {
                    handle
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        };
        finished.store(true, Ordering::Relaxed);
        outcomes
    })
}

/// The source's media hash, computed once on a thread of its own and awaited by each
/// destination's read-back.
#[derive(Default)]
pub(crate) struct SourceHash {
    result: Mutex<Option<Result<String, Error>>>,
    ready: Condvar,
}

impl SourceHash {
    /// Hashes the source, opened anew: the same file the plan looked at (same device
    /// and inode) or an error, as each destination's own open checks too.
    fn compute(
        &self,
        path: &Path,
        looked_at: &Metadata,
        algorithm: Algorithm,
        interrupted: &dyn Fn() -> bool,
    ) {
        self.set(
            open_same(path, looked_at)
                .and_then(|file| hash::hash_open_file(&file, path, algorithm, interrupted)),
        );
    }

    fn set(&self, result: Result<String, Error>) {
        *lock(&self.result) = Some(result);
        self.ready.notify_all();
    }

    /// Waits for the hash; an error is the source's (each destination gets its own
    /// copy of it).
    pub(crate) fn wait(&self) -> Result<String, Error> {
        let mut result = lock(&self.result);
        loop {
            match &*result {
                Some(Ok(hash)) => return Ok(hash.clone()),
                Some(Err(error)) => return Err(duplicate(error)),
                None => {
                    result = self
                        .ready
                        .wait(result)
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                }
            }
        }
    }
}

/// Opens `path` for reading (without blocking on a FIFO swapped in) and checks it is
/// the file the plan looked at.
fn open_same(path: &Path, looked_at: &Metadata) -> Result<File, Error> {
    let mut open = std::fs::OpenOptions::new();
    open.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        open.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = open
        .open(path)
        .map_err(|err| Error::os(path, Operation::OpenSource, err))?;
    let metadata = file
        .metadata()
        .map_err(|err| Error::os(path, Operation::StatSource, err))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if metadata.dev() != looked_at.dev() || metadata.ino() != looked_at.ino() {
            return Err(Error::new(
                path,
                Operation::OpenSource,
                Cause::SourceChanged("its path named another file when it was opened"),
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = (metadata, looked_at);
    Ok(file)
}

/// The same error again, for another destination (errors carry an `io::Error`, which
/// cannot be cloned: its errno or its text is kept).
fn duplicate(error: &Error) -> Error {
    let cause = match &error.cause {
        Cause::Os(err) => Cause::Os(match err.raw_os_error() {
            Some(code) => io::Error::from_raw_os_error(code),
            None => io::Error::new(err.kind(), err.to_string()),
        }),
        Cause::Interrupted => Cause::Interrupted,
        Cause::SourceChanged(what) => Cause::SourceChanged(what),
        Cause::NotRegularFile(kind) => Cause::NotRegularFile(kind),
        other => Cause::Invalid(other.to_string()),
    };
    Error::new(&error.path, error.operation, cause)
}

fn duplicate_io(err: &io::Error) -> io::Error {
    match err.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(err.kind(), err.to_string()),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The chunk copy of one source to the destinations that come down to it: each
/// destination either joins (its ladder reached the chunk copy) or leaves (it copied
/// otherwise, was skipped or failed); once every one has decided, one of those that
/// joined reads the source once, buffer by buffer, and writes each buffer to every
/// joined temporary file. The others wait, drawing their progress from the shared
/// offset. A destination whose write fails (ENOSPC, EIO) drops out with its error;
/// the rest go on.
pub(crate) struct Fanout {
    state: Mutex<FanoutState>,
    changed: Condvar,
}

struct FanoutState {
    /// Per destination: has it joined or left?
    decided: Vec<bool>,
    /// Those that joined, with a descriptor of their temporary file.
    members: Vec<Member>,
    /// The read loop has begun: a late comer copies on its own.
    started: bool,
    /// The read loop has ended; each member's result is in place.
    finished: bool,
    /// Where the loop is, for the waiting members' progress.
    offset: u64,
}

struct Member {
    index: usize,
    file: File,
    result: Option<RungResult>,
}

/// How often a waiting member draws its progress and asks about interruptions.
const WAIT_TICK: Duration = Duration::from_millis(100);

impl Fanout {
    fn new(destinations: usize) -> Self {
        Fanout {
            state: Mutex::new(FanoutState {
                decided: vec![false; destinations],
                members: Vec::new(),
                started: false,
                finished: false,
                offset: 0,
            }),
            changed: Condvar::new(),
        }
    }

    /// Destination `index` will not take part (idempotent; a no-op once it joined).
    pub(crate) fn leave(&self, index: usize) {
        let mut state = lock(&self.state);
        if !state.decided[index] {
            state.decided[index] = true;
            drop(state);
            self.changed.notify_all();
        }
    }

    /// Destination `index` copies `segments` of `source` into `destination` with the
    /// others that do. Returns `None` when the shared loop has already begun (or this
    /// destination cannot join): the caller copies on its own then.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn copy(
        &self,
        index: usize,
        source: &File,
        destination: &File,
        segments: &[Range<u64>],
        chunk_size: usize,
        observer: &dyn Observer,
    ) -> Option<RungResult> {
        let file = destination.try_clone().ok()?;
        let mut state = lock(&self.state);
        if state.started || state.decided[index] {
            return None;
        }
        state.decided[index] = true;
        state.members.push(Member {
            index,
            file,
            result: None,
        });
        self.changed.notify_all();
        loop {
            if state.finished {
                let member = state
                    .members
                    .iter_mut()
                    .find(|member| member.index == index)
                    .expect("a member stays a member");
                return Some(member.result.take().unwrap_or(Err(RungError::Interrupted)));
            }
            if !state.started && state.decided.iter().all(|&decided| decided) {
                state.started = true;
                let files: Vec<File> = state
                    .members
                    .iter()
                    .filter_map(|member| member.file.try_clone().ok())
                    .collect();
                let indexes: Vec<usize> = state.members.iter().map(|member| member.index).collect();
                drop(state);
                let results = self.lead(source, &files, segments, chunk_size, observer);
                state = lock(&self.state);
                for (member_index, result) in indexes.into_iter().zip(results) {
                    if let Some(member) = state
                        .members
                        .iter_mut()
                        .find(|member| member.index == member_index)
                    {
                        member.result = Some(result);
                    }
                }
                state.finished = true;
                self.changed.notify_all();
                continue;
            }
            let offset = state.offset;
            if state.started {
                observer.progress(offset);
            }
            state = self
                .changed
                .wait_timeout(state, WAIT_TICK)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }

    /// The read loop: each buffer read once from `source`, written to every file still
    /// in the copy. Returns each file's result.
    fn lead(
        &self,
        source: &File,
        files: &[File],
        segments: &[Range<u64>],
        chunk_size: usize,
        observer: &dyn Observer,
    ) -> Vec<RungResult> {
        let mut buffer = crate::buffer::IoBuffer::new(buffer_size(segments, chunk_size));
        let mut results: Vec<Option<RungResult>> = files.iter().map(|_| None).collect();
        let mut copied = 0u64;
        'segments: for segment in segments {
            let mut offset = segment.start;
            while offset < segment.end {
                if observer.interrupted() {
                    for result in results.iter_mut().filter(|result| result.is_none()) {
                        *result = Some(Err(RungError::Interrupted));
                    }
                    break 'segments;
                }
                let want = usize::try_from(segment.end - offset)
                    .map_or(buffer.len(), |left| left.min(buffer.len()));
                let read = match read_at(source, &mut buffer[..want], offset) {
                    Ok(0) => break 'segments,
                    Ok(n) => n,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                    Err(err) => {
                        for result in results.iter_mut().filter(|result| result.is_none()) {
                            *result =
                                Some(Err(RungError::Failed(Operation::Read, duplicate_io(&err))));
                        }
                        break 'segments;
                    }
                };
                let data = &buffer[..read];
                let active: Vec<usize> =
                    (0..files.len()).filter(|&i| results[i].is_none()).collect();
                if active.is_empty() {
                    break 'segments;
                }
                let outcomes: Vec<(usize, io::Result<()>)> =
                    if active.len() > 1 && read >= PARALLEL_WRITE_MIN {
                        // Each destination's writes on a thread of their own: a slow drive
                        // (or one throttled by the kernel's dirty-page limits) must not
                        // hold the others' writes back more than one buffer.
                        std::thread::scope(|scope| {
                            let handles: Vec<_> = active
                                .iter()
                                .map(|&i| {
                                    let file = &files[i];
                                    scope.spawn(move || (i, write_all_at(file, data, offset)))
                                })
                                .collect();
                            handles
                                .into_iter()
                                .map(|handle| {
                                    handle
                                        .join()
                                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                                })
                                .collect()
                        })
                    } else {
                        active
                            .iter()
                            .map(|&i| (i, write_all_at(&files[i], data, offset)))
                            .collect()
                    };
                for (i, outcome) in outcomes {
                    if let Err(err) = outcome {
                        results[i] = Some(Err(RungError::Failed(Operation::Write, err)));
                    }
                }
                offset += read as u64;
                copied += read as u64;
                observer.progress(offset);
                lock(&self.state).offset = offset;
            }
        }
        results
            .into_iter()
            .map(|result| result.unwrap_or(Ok(copied)))
            .collect()
    }
}

/// Buffers from this size on are written to the destinations in parallel.
const PARALLEL_WRITE_MIN: usize = 1 << 20;
