//! Ctrl-C and SIGTERM: the first asks the run to stop after cleaning up the file in
//! flight (its temporary file is removed, completed files stay, the report prints);
//! a second one terminates at once. A closed stdout or stderr (see [`crate::output`])
//! stops the run the same way.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

fn flag() -> &'static Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

/// Installs the handlers. Call once, early in `main`.
pub fn install() -> std::io::Result<()> {
    #[cfg(unix)]
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Registered first, so it sees the flag as the previous signal left it: set
        // means this is the second signal, and the default action (terminate) runs.
        signal_hook::flag::register_conditional_default(signal, Arc::clone(flag()))?;
        signal_hook::flag::register(signal, Arc::clone(flag()))?;
    }
    // A write past the file size limit (`ulimit -f`) raises SIGXFSZ, whose default
    // action kills the process: the batch abandoned, the temporary file left behind.
    // Ignored, the write fails with EFBIG instead, an error like ENOSPC: that file
    // fails and is cleaned up, the others go on.
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to SIG_IGN touches no other state.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    Ok(())
}

/// True once a stop was requested: by a signal, or by the reader of stdout or stderr
/// going away.
pub fn requested() -> bool {
    flag().load(Ordering::Relaxed) || crate::output::closed()
}
