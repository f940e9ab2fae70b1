//! Progress bars on stderr: the current file (bytes, rate, ETA) and the batch (files
//! and bytes). Drawn only when stderr is a terminal, unless forced either way; the
//! hidden bars cost next to nothing, so the engine reports progress unconditionally.

use std::path::Path;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The two bars of a run, and the channel for `-v` lines (printed above the bars so
/// they do not tear them).
pub struct Progress {
    multi: MultiProgress,
    batch: ProgressBar,
    file: ProgressBar,
    visible: bool,
}

impl Progress {
    /// Bars for a batch of `files` files and `bytes` bytes. `visible` decides drawing.
    pub fn new(visible: bool, files: u64, bytes: u64) -> Self {
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
        let file = multi.add(ProgressBar::new(0));
        file.set_style(
            ProgressStyle::with_template(
                "{prefix:>12} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta} {wide_msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        file.set_prefix("file");
        if visible {
            file.enable_steady_tick(Duration::from_millis(200));
        }
        Progress {
            multi,
            batch,
            file,
            visible,
        }
    }

    /// True when the bars are drawn.
    pub fn visible(&self) -> bool {
        self.visible
    }

    /// A new file starts.
    pub fn start_file(&self, path: &Path, size: u64) {
        self.file.reset();
        self.file.set_length(size);
        self.file.set_message(path.display().to_string());
    }

    /// Bytes of the current file copied so far.
    pub fn set_copied(&self, copied: u64) {
        self.file.set_position(copied);
    }

    /// The current file is done (copied, skipped or failed).
    pub fn finish_file(&self, size: u64, files_done: u64, files_total: u64) {
        self.batch.inc(size);
        self.batch
            .set_message(format!("{files_done}/{files_total} files"));
    }

    /// Prints a line on stderr without tearing the bars.
    pub fn println(&self, line: &str) {
        if self.visible {
            self.multi.suspend(|| eprintln!("{line}"));
        } else {
            eprintln!("{line}");
        }
    }

    /// Runs `work` (a question on the terminal) with the bars out of the way.
    pub fn suspend<T>(&self, work: impl FnOnce() -> T) -> T {
        self.multi.suspend(work)
    }

    /// Removes the bars before the summary is printed.
    pub fn finish(&self) {
        self.file.finish_and_clear();
        self.batch.finish_and_clear();
        let _ = self.multi.clear();
    }
}
