//! The sizes of the files a walk finds, learnt on a thread of their own.
//!
//! The batch needs them to know whether a run stays within `ZERO_COPY_WHOLE_TREE_MB`
//! before it makes its first directory (see `batch::staged`), and nothing is copied
//! before the plan is complete. Stat'ing each file in the walk's thread was half of
//! the planning time of a tree of small files (perf, 30,000 files of 1 KiB on XFS
//! and tmpfs), all of it before any work starts. Here the stats run beside the walk,
//! on another core; the walk's thread joins in once it is done walking (the stats
//! take longer than the walk), and the sizes are matched to the plan's entries.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

/// Files handed over at a time: one wakeup per file would cost the walk a futex call
/// each, about what the stat it hands over costs.
const BATCH: usize = 256;

/// Files to size, each with the index of its entry in the plan.
type Batch = Vec<(usize, PathBuf)>;

/// Counts the bytes of the planned files until they pass `limit`; files past it are
/// not looked at (their size stays unknown, 0).
pub struct Sizes {
    limit: u64,
    /// Bytes of the files sized so far, by either thread or from the plan's own stats.
    counted: Arc<AtomicU64>,
    pending: Batch,
    /// The batches not yet taken, shared with the thread once it is started.
    queue: Arc<Queue>,
    thread: Option<JoinHandle<Vec<(usize, u64)>>>,
    started: bool,
}

/// Batches waiting to be sized, and whether more may come.
#[derive(Default)]
struct Queue {
    state: Mutex<Waiting>,
    ready: Condvar,
}

#[derive(Default)]
struct Waiting {
    batches: VecDeque<Batch>,
    closed: bool,
}

impl Queue {
    fn push(&self, batch: Batch) {
        self.lock().batches.push_back(batch);
        self.ready.notify_one();
    }

    /// No more batches will come.
    fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    /// The next batch; `None` once none is left. With `wait`, waits for one while
    /// more may come.
    fn take(&self, wait: bool) -> Option<Batch> {
        let mut waiting = self.lock();
        loop {
            if let Some(batch) = waiting.batches.pop_front() {
                return Some(batch);
            }
            if waiting.closed || !wait {
                return None;
            }
            waiting = self
                .ready
                .wait(waiting)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Sizes {
    /// Sizes up to `limit` bytes of files; 0 sizes none.
    pub fn new(limit: u64) -> Self {
        Sizes {
            limit,
            counted: Arc::new(AtomicU64::new(0)),
            pending: Vec::new(),
            queue: Arc::default(),
            thread: None,
            started: false,
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
            if !self.started {
                self.start();
            }
            self.queue.push(std::mem::take(&mut self.pending));
        }
    }

    /// The sizes learnt, by entry, once every file asked about is sized. The walk's
    /// thread, done walking, sizes the batches the other has not taken yet (or all of
    /// them, if no thread could be started: RLIMIT_NPROC, say).
    pub fn finish(mut self) -> Vec<(usize, u64)> {
        if !self.pending.is_empty() {
            self.queue.push(std::mem::take(&mut self.pending));
        }
        self.queue.close();
        let mut sizes = Vec::new();
        while let Some(batch) = self.queue.take(false) {
            size_batch(batch, &self.counted, self.limit, &mut sizes);
        }
        // The source directories it kept open while sizing, as the thread does.
        #[cfg(unix)]
        crate::at::forget();
        match self.thread.take().map(JoinHandle::join) {
            None => {}
            Some(Ok(sized)) => sizes.extend(sized),
            Some(Err(panic)) => std::panic::resume_unwind(panic),
        }
        sizes
    }

    /// Starts the thread that sizes the queued batches, if one can be.
    fn start(&mut self) {
        self.started = true;
        let (queue, counted, limit) = (
            Arc::clone(&self.queue),
            Arc::clone(&self.counted),
            self.limit,
        );
        self.thread = std::thread::Builder::new()
            .name("zcopy-sizes".to_string())
            .spawn(move || {
                let mut sizes = Vec::new();
                while let Some(batch) = queue.take(true) {
                    size_batch(batch, &counted, limit, &mut sizes);
                }
                #[cfg(unix)]
                crate::at::forget();
                sizes
            })
            .ok();
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
