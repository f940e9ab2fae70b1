//! Progress bars on stderr: one per worker for the file it is copying (bytes, rate,
//! ETA) and one for the batch (files and bytes). Drawn only when stderr is a terminal,
//! unless forced either way; hidden bars cost next to nothing, so the engine reports
//! progress unconditionally.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bars of a run, and the channel for `-v` lines (printed above the bars so they
/// do not tear them).
pub struct Progress {
    multi: MultiProgress,
    batch: ProgressBar,
    /// One bar per worker, shown from the worker's first file on: a worker without a
    /// file has nothing to show, and an empty bar would read `0 B/0 B`.
    files: Vec<ProgressBar>,
    shown: Vec<Once>,
    /// Bytes of finished files, and of each worker's file in flight: the batch bar
    /// shows their sum, which stays right when a rung gives way and starts over.
    finished_bytes: AtomicU64,
    in_flight: Vec<AtomicU64>,
    finished_files: AtomicU64,
    total_files: u64,
    visible: bool,
}

impl Progress {
    /// Bars for `workers` workers copying `files` files of `bytes` bytes in all.
    /// `visible` decides drawing.
    pub fn new(visible: bool, files: u64, bytes: u64, workers: usize) -> Self {
        let target = if visible {
            // Forced on: draw to stderr even when it is not a terminal (indicatif's
            // own stderr target hides itself then).
            ProgressDrawTarget::term_like(Box::new(console::Term::buffered_stderr()))
        } else {
            ProgressDrawTarget::hidden()
        };
        let multi = MultiProgress::with_draw_target(target);
        let batch = multi.add(ProgressBar::new(bytes));
        batch.set_style(
            ProgressStyle::with_template(
                "{prefix:>12} [{bar:30}] {binary_bytes}/{binary_total_bytes} {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        batch.set_prefix("total");
        batch.set_message(format!("0/{files} files"));
        let file_style = ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta} {wide_msg}",
        )
        .expect("valid template")
        .progress_chars("=> ");
        let file_bars = (0..workers.max(1))
            .map(|_| {
                let bar = ProgressBar::hidden();
                bar.set_style(file_style.clone());
                bar.set_prefix("file");
                bar
            })
            .collect();
        Progress {
            multi,
            batch,
            files: file_bars,
            shown: (0..workers.max(1)).map(|_| Once::new()).collect(),
            finished_bytes: AtomicU64::new(0),
            in_flight: (0..workers.max(1)).map(|_| AtomicU64::new(0)).collect(),
            finished_files: AtomicU64::new(0),
            total_files: files,
            visible,
        }
    }

    /// Names what bar `slot` copies to (a destination root, when there are several),
    /// in place of `file`.
    pub fn set_label(&self, slot: usize, label: &str) {
        const WIDTH: usize = 24;
        let characters: Vec<char> = label.chars().collect();
        let label = if characters.len() > WIDTH {
            let tail: String = characters[characters.len() - (WIDTH - 1)..]
                .iter()
                .collect();
            format!("…{tail}")
        } else {
            label.to_string()
        };
        self.files[slot].set_prefix(label);
    }

    /// Worker `slot` starts a file.
    pub fn start_file(&self, slot: usize, path: &Path, size: u64) {
        if !self.visible {
            // Hidden bars still lock, format the path and update their estimates: with
            // -q over small files that was a tenth of zcopy's user time. Nor are the
            // counters kept, which only the bars read: two workers adding to one
            // counter per file pass its cache line back and forth.
            return;
        }
        self.in_flight[slot].store(0, Ordering::Relaxed);
        let bar = &self.files[slot];
        bar.set_length(size);
        bar.reset();
        bar.set_message(crate::error::shown(path).into_owned());
        // Joined to the others only now that it has a file and its size to show.
        self.shown[slot].call_once(|| {
            self.multi.add(bar.clone());
            if self.visible {
                bar.enable_steady_tick(Duration::from_millis(200));
            }
        });
    }

    /// Bytes of worker `slot`'s file copied so far.
    pub fn set_copied(&self, slot: usize, copied: u64) {
        if !self.visible {
            return;
        }
        self.in_flight[slot].store(copied, Ordering::Relaxed);
        self.files[slot].set_position(copied);
        self.update_batch();
    }

    /// Worker `slot`'s file is done (copied, skipped or failed).
    pub fn finish_file(&self, slot: usize, size: u64) {
        if !self.visible {
            return;
        }
        self.in_flight[slot].store(0, Ordering::Relaxed);
        self.finished_bytes.fetch_add(size, Ordering::Relaxed);
        let done = self.finished_files.fetch_add(1, Ordering::Relaxed) + 1;
        self.batch
            .set_message(format!("{done}/{} files", self.total_files));
        self.update_batch();
    }

    fn update_batch(&self) {
        let in_flight: u64 = self
            .in_flight
            .iter()
            .map(|bytes| bytes.load(Ordering::Relaxed))
            .sum();
        self.batch
            .set_position(self.finished_bytes.load(Ordering::Relaxed) + in_flight);
    }

    /// Prints a line on stderr without tearing the bars.
    pub fn println(&self, line: &str) {
        if self.visible {
            self.multi.suspend(|| crate::output::stderr_line(line));
        } else {
            crate::output::stderr_line(line);
        }
    }

    /// Runs `work` (a question on the terminal) with the bars out of the way.
    pub fn suspend<T>(&self, work: impl FnOnce() -> T) -> T {
        self.multi.suspend(work)
    }

    /// Removes the bars before the summary is printed.
    pub fn finish(&self) {
        for bar in &self.files {
            bar.finish_and_clear();
        }
        self.batch.finish_and_clear();
        let _ = self.multi.clear();
    }
}
