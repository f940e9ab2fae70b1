//! The sizes of the files a walk finds, learnt on a thread of their own.
//!
//! The batch needs them to know whether a run stays within `ZERO_COPY_WHOLE_TREE_MB`
//! before it makes its first directory (see `batch::staged`), and nothing is copied
//! before the plan is complete. Stat'ing each file in the walk's thread was half of
//! the planning time of a tree of small files (perf, 30,000 files of 1 KiB on XFS
//! and tmpfs), all of it before any work starts. Here the stats run beside the walk,
//! on another core, and are matched to the plan's entries when the walk is done.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Files handed to the thread at a time: one wakeup per file would cost the walk a
/// futex call each, about what the stat it hands over costs.
const BATCH: usize = 256;

/// Files to size, each with the index of its entry in the plan.
type Batch = Vec<(usize, PathBuf)>;

/// Counts the bytes of the planned files until they pass `limit`; files past it are
/// not looked at (their size stays unknown, 0).
pub struct Sizes {
    limit: u64,
    /// Bytes of the files sized so far, by the thread or from the plan's own stats.
    counted: Arc<AtomicU64>,
    pending: Batch,
    sender: Option<Sender<Batch>>,
    thread: Option<JoinHandle<Vec<(usize, u64)>>>,
    /// Sizes learnt on the walk's own thread, when no other could be started.
    sized_here: Vec<(usize, u64)>,
}

impl Sizes {
    /// Sizes up to `limit` bytes of files; 0 sizes none.
    pub fn new(limit: u64) -> Self {
        Sizes {
            limit,
            counted: Arc::new(AtomicU64::new(0)),
            pending: Vec::new(),
            sender: None,
            thread: None,
            sized_here: Vec::new(),
        }
    }

    /// True while sizes are still wanted.
    pub fn wanted(&self) -> bool {
        self.limit > 0 && self.counted.load(Ordering::Relaxed) <= self.limit
    }

    /// Counts a size the plan learnt itself (from a stat it needed anyway).
    pub fn count(&self, bytes: u64) {
        self.counted.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Asks for the size of the regular file at `path`, planned as entry `entry`.
    pub fn ask(&mut self, entry: usize, path: &Path) {
        if !self.wanted() {
            return;
        }
        self.pending.push((entry, path.to_path_buf()));
        if self.pending.len() >= BATCH {
            self.send();
        }
    }

    /// The sizes learnt, by entry, once every file asked about is sized.
    pub fn finish(mut self) -> Vec<(usize, u64)> {
        self.send();
        self.sender = None;
        let mut sizes = std::mem::take(&mut self.sized_here);
        match self.thread.take().map(JoinHandle::join) {
            None => {}
            Some(Ok(sized)) => sizes.extend(sized),
            Some(Err(panic)) => std::panic::resume_unwind(panic),
        }
        sizes
    }

    fn send(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.pending);
        if self.sender.is_none() && !self.start() {
            // No thread to be had (RLIMIT_NPROC, say): the walk's thread sizes them.
            size_batch(batch, &self.counted, self.limit, &mut self.sized_here);
            return;
        }
        if let Some(sender) = &self.sender {
            // The thread ends only when the sender is dropped, so it is there to receive.
            let _ = sender.send(batch);
        }
    }

    /// Starts the thread that sizes the batches sent to it; false if none could be.
    fn start(&mut self) -> bool {
        let (sender, receiver) = mpsc::channel::<Batch>();
        let (counted, limit) = (Arc::clone(&self.counted), self.limit);
        let started = std::thread::Builder::new()
            .name("zcopy-sizes".to_string())
            .spawn(move || {
                let mut sizes = Vec::new();
                for batch in receiver {
                    size_batch(batch, &counted, limit, &mut sizes);
                }
                #[cfg(unix)]
                crate::at::forget();
                sizes
            });
        match started {
            Ok(thread) => {
                self.sender = Some(sender);
                self.thread = Some(thread);
                true
            }
            Err(_) => false,
        }
    }
}

/// Sizes the files of `batch` into `sizes` while `counted` is within `limit`.
fn size_batch(batch: Batch, counted: &AtomicU64, limit: u64, sizes: &mut Vec<(usize, u64)>) {
    for (entry, path) in batch {
        if counted.load(Ordering::Relaxed) > limit {
            return;
        }
        let size = size_of(&path);
        counted.fetch_add(size, Ordering::Relaxed);
        sizes.push((entry, size));
    }
}

/// The size of the file at `path`, 0 if it cannot be stat'ed: its copy will say why.
fn size_of(path: &Path) -> u64 {
    #[cfg(unix)]
    return crate::at::file(path, crate::at::stat)
        .map_or(0, |stat| u64::try_from(stat.st_size).unwrap_or(0));
    #[cfg(not(unix))]
    return std::fs::symlink_metadata(path).map_or(0, |metadata| metadata.len());
}
