//! zcopy copies large media files with the kernel's own mechanisms — clone
//! (`FICLONE`), `copy_file_range`, `sendfile` — and falls back to a buffered chunk copy.
//! Every file is written to a temporary file beside its destination, verified, and
//! renamed into place, so a destination is never half-written.
//!
//! The library reads top-down: [`config`] (the `ZERO_COPY_*` settings) -> [`plan`]
//! (sources to (source, destination) pairs) -> [`engine`] (one file, atomically) ->
//! [`report`] (summary or JSON). [`batch`] runs a plan with workers and ties them
//! together; [`error`] is the one error type all of them report. For camera-card
//! offloads, [`hash`] holds the ASC MHL hash algorithms and the read-back from the
//! device, [`mhl`] the ASC MHL histories, and [`offload`] ties them to a batch
//! (`--mhl`, `--resume`) and to `zcopy verify`. Several destinations at once:
//! [`plan::for_destinations`] merges one plan per destination, and the batch copies
//! each file to all of them through [`engine::copy_to_destinations`], which reads the
//! source once.
//!
//! ```no_run
//! use zcopy::{config::Config, engine, plan, Batch};
//!
//! let config = Config::default();
//! let options = plan::PlanOptions::default();
//! let entries = plan::from_arguments(&["master.mkv".into(), "/backup/".into()], &options)?;
//! let batch = Batch::new(&config, false);
//! let report = zcopy::run(entries, &batch);
//! println!("{}", report.summary());
//! assert_eq!(report.exit_code(), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// Lists of byte ranges (a file's data segments) often hold a single range; that is
// what this lint flags.
#![allow(clippy::single_range_in_vec_init)]

/// The copy mechanisms of this build, as a string literal (for `concat!`).
#[cfg(target_os = "linux")]
macro_rules! mechanisms {
    () => {
        "FICLONE, copy_file_range, sendfile, buffered chunks"
    };
}
#[cfg(target_os = "macos")]
macro_rules! mechanisms {
    () => {
        "fclonefileat, fcopyfile, buffered chunks"
    };
}
#[cfg(windows)]
macro_rules! mechanisms {
    () => {
        "CopyFileExW, buffered chunks"
    };
}
#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
macro_rules! mechanisms {
    () => {
        "buffered chunks"
    };
}

#[cfg(unix)]
pub mod at;
pub mod atomic;
pub mod backup;
pub mod batch;
#[cfg(target_os = "linux")]
pub mod bench;
pub mod buffer;
pub mod cli;
pub mod config;
pub mod doctor;
pub mod engine;
pub mod error;
pub mod hash;
pub mod interrupt;
pub mod make;
pub mod mhl;
pub mod offload;
pub mod output;
pub mod plan;
pub mod preserve;
pub mod progress;
pub mod report;
pub mod stats;

pub use batch::{run, Batch};
