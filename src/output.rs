//! Writing to stdout and stderr when whoever reads them may have gone away
//! (`zcopy --json-lines ... | head -1`).
//!
//! Rust's runtime ignores SIGPIPE, so a write to a pipe whose reader has exited fails
//! with EPIPE instead of killing the process, and `println!` would turn that into a
//! panic. zcopy instead stops as on Ctrl-C (the files in flight are abandoned and their
//! temporary files removed, no new file is started), says nothing more, and exits with
//! [`EXIT_CLOSED`]. Dying of SIGPIPE, as C tools do, would leave a replaced file's named
//! temporary file behind.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// The exit status after the reader of stdout or stderr went away: 128 + SIGPIPE (13),
/// what a shell reports for a process killed by SIGPIPE.
pub const EXIT_CLOSED: u8 = 141;

static CLOSED: AtomicBool = AtomicBool::new(false);
static FAILED: AtomicBool = AtomicBool::new(false);

/// True once a write found stdout's or stderr's reader gone (EPIPE).
pub fn closed() -> bool {
    CLOSED.load(Ordering::Relaxed)
}

/// True once writing to stdout failed for another reason (a full disk under
/// `> report.json`, EIO). The error was reported on stderr once; the copies go on, as
/// GNU cp's do, and the exit status is at least 1.
pub fn failed() -> bool {
    FAILED.load(Ordering::Relaxed)
}

/// Writes `text` to stdout as it is (add the newline yourself). Once a write failed,
/// writes nothing: what follows would not parse without what was lost.
pub fn stdout(text: &str) {
    if closed() || failed() {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    let result = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
    if let Err(err) = result {
        if err.kind() == std::io::ErrorKind::BrokenPipe {
            CLOSED.store(true, Ordering::Relaxed);
        } else if !FAILED.swap(true, Ordering::Relaxed) {
            stderr(&format!("zcopy: standard output: write: {err}\n"));
        }
    }
}

/// [`stdout`] with a newline.
pub fn stdout_line(line: &str) {
    stdout(&format!("{line}\n"));
}

/// Writes `text` to stderr as it is. Once stdout or stderr is closed, writes nothing:
/// what would be said is a consequence of the stop, and there may be no one to read it.
pub fn stderr(text: &str) {
    if closed() {
        return;
    }
    // Stderr is unbuffered: one write_all is one message, not interleaved with other
    // workers' lines by more than the kernel does for any write.
    if let Err(err) = std::io::stderr().lock().write_all(text.as_bytes()) {
        if err.kind() == std::io::ErrorKind::BrokenPipe {
            CLOSED.store(true, Ordering::Relaxed);
        }
        // Any other failure has nowhere to be reported.
    }
}

/// [`stderr`] with a newline.
pub fn stderr_line(line: &str) {
    stderr(&format!("{line}\n"));
}
