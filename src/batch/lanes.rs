//! Which piece of work each worker takes next.
//!
//! Workers creating files in one directory wait for each other: on XFS both take the
//! same allocation group's buffers (its inodes live in the directory's group), on
//! btrfs and ext4 the directory's lock for every link. Handing out the plan file by
//! file put every worker in the same directory. So the plan is cut into lanes, runs
//! of consecutive pieces going into one directory, and each worker keeps to a lane of
//! its own, opening the next one when its lane is done.
//!
//! Results are reported in plan order, so a worker far ahead of the others holds its
//! records back (`--json-lines` would go quiet). A worker therefore opens a lane only
//! if it starts within [`LOOKAHEAD`] pieces of the earliest piece not yet taken;
//! otherwise it helps with the earliest lane. A tree of one big directory is shared
//! piece by piece, as before. One worker takes the pieces in plan order.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How far (in pieces) a worker may run ahead of the earliest piece not yet taken.
/// Bounds the records held back to about this many, a fraction of a second of small
/// files.
pub const LOOKAHEAD: usize = 512;

/// The pieces of a plan, in lanes.
pub struct Lanes {
    /// Each lane's pieces.
    lanes: Vec<Range<usize>>,
    /// The next piece of each lane to hand out (past its end once all are).
    next: Vec<AtomicUsize>,
    /// How many lanes have been opened; they open in order.
    opened: AtomicUsize,
    /// Every lane before this one has handed out all its pieces.
    earliest: AtomicUsize,
}

/// What one worker is doing.
#[derive(Debug, Default)]
pub struct Worker {
    /// The lane it takes pieces from.
    lane: Option<usize>,
    /// It opened that lane (rather than helping with someone else's).
    own: bool,
}

impl Lanes {
    /// Lanes for pieces whose keys (the directory each goes into) are `keys`, in plan
    /// order: consecutive pieces with equal keys share a lane.
    pub fn new<K: PartialEq>(keys: impl IntoIterator<Item = K>) -> Self {
        let mut lanes: Vec<Range<usize>> = Vec::new();
        let mut last = None;
        for (piece, key) in keys.into_iter().enumerate() {
            match lanes.last_mut() {
                Some(lane) if last.as_ref() == Some(&key) => lane.end = piece + 1,
                _ => lanes.push(piece..piece + 1),
            }
            last = Some(key);
        }
        Lanes {
            next: lanes
                .iter()
                .map(|lane| AtomicUsize::new(lane.start))
                .collect(),
            lanes,
            opened: AtomicUsize::new(0),
            earliest: AtomicUsize::new(0),
        }
    }

    /// The next piece for `worker`, or `None` when every piece has been handed out.
    pub fn next(&self, worker: &mut Worker) -> Option<usize> {
        loop {
            if let (Some(lane), true) = (worker.lane, worker.own) {
                if let Some(piece) = self.take(lane) {
                    return Some(piece);
                }
            }
            let earliest = self.earliest_open();
            let opened = self.opened.load(Ordering::Acquire);
            let may_open = opened < self.lanes.len()
                && earliest.is_none_or(|(_, piece)| {
                    self.lanes[opened].start.saturating_sub(piece) <= LOOKAHEAD
                });
            if may_open {
                if self
                    .opened
                    .compare_exchange(opened, opened + 1, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    *worker = Worker {
                        lane: Some(opened),
                        own: true,
                    };
                }
                continue;
            }
            // Nothing left to open nearby: help with the earliest lane, one piece at a
            // time, looking again before each.
            let (lane, _) = earliest?;
            *worker = Worker {
                lane: Some(lane),
                own: false,
            };
            if let Some(piece) = self.take(lane) {
                return Some(piece);
            }
        }
    }

    fn take(&self, lane: usize) -> Option<usize> {
        let piece = self.next[lane].fetch_add(1, Ordering::Relaxed);
        (piece < self.lanes[lane].end).then_some(piece)
    }

    /// The earliest opened lane with pieces left, and its next piece: the earliest
    /// piece of the plan not yet taken.
    fn earliest_open(&self) -> Option<(usize, usize)> {
        let opened = self.opened.load(Ordering::Acquire);
        let mut lane = self.earliest.load(Ordering::Relaxed);
        while lane < opened {
            let piece = self.next[lane].load(Ordering::Relaxed);
            if piece < self.lanes[lane].end {
                self.earliest.fetch_max(lane, Ordering::Relaxed);
                return Some((lane, piece));
            }
            lane += 1;
        }
        self.earliest.fetch_max(lane, Ordering::Relaxed);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Directory names for pieces: `sizes[i]` pieces into directory i.
    fn keys(sizes: &[usize]) -> Vec<usize> {
        sizes
            .iter()
            .enumerate()
            .flat_map(|(dir, &size)| std::iter::repeat_n(dir, size))
            .collect()
    }

    #[test]
    fn one_worker_takes_the_plan_in_order() {
        let lanes = Lanes::new(keys(&[3, 1, 700, 2]));
        let mut worker = Worker::default();
        let taken: Vec<usize> = std::iter::from_fn(|| lanes.next(&mut worker)).collect();
        assert_eq!(taken, (0..706).collect::<Vec<_>>());
    }

    #[test]
    fn two_workers_keep_to_different_directories_and_take_each_piece_once() {
        let dirs = keys(&[100; 6]);
        let lanes = Lanes::new(dirs.iter().copied());
        let (mut a, mut b) = (Worker::default(), Worker::default());
        let mut taken = Vec::new();
        let mut same_directory = 0;
        // Alternate, as two equally fast workers would.
        loop {
            let (x, y) = (lanes.next(&mut a), lanes.next(&mut b));
            if let (Some(x), Some(y)) = (x, y) {
                same_directory += usize::from(dirs[x] == dirs[y]);
            }
            if x.is_none() && y.is_none() {
                break;
            }
            taken.extend(x.into_iter().chain(y));
        }
        taken.sort_unstable();
        assert_eq!(taken, (0..600).collect::<Vec<_>>());
        assert_eq!(same_directory, 0);
    }

    #[test]
    fn a_worker_does_not_run_further_ahead_than_the_lookahead() {
        // One big directory, then small ones: the second worker must not copy the
        // small ones while the first is still early in the big one.
        let sizes = [3 * LOOKAHEAD, 10, 10];
        let lanes = Lanes::new(keys(&sizes));
        let (mut a, mut b) = (Worker::default(), Worker::default());
        let mut earliest_untaken = 0;
        let mut taken = vec![false; sizes.iter().sum()];
        while let Some(x) = lanes.next(&mut a) {
            taken[x] = true;
            if let Some(y) = lanes.next(&mut b) {
                taken[y] = true;
                while earliest_untaken < taken.len() && taken[earliest_untaken] {
                    earliest_untaken += 1;
                }
                assert!(
                    y <= earliest_untaken + LOOKAHEAD,
                    "piece {y} taken while {earliest_untaken} was not"
                );
            }
        }
        while let Some(y) = lanes.next(&mut b) {
            taken[y] = true;
        }
        assert!(taken.iter().all(|&taken| taken));
    }

    #[test]
    fn workers_share_a_single_directory() {
        let lanes = Lanes::new(keys(&[50]));
        let (mut a, mut b) = (Worker::default(), Worker::default());
        assert_eq!(lanes.next(&mut a), Some(0));
        assert_eq!(lanes.next(&mut b), Some(1));
        assert_eq!(lanes.next(&mut a), Some(2));
    }
}
