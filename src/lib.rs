//! zcopy copies large media files with the kernel's own mechanisms — clone
//! (`FICLONE`), `copy_file_range`, `sendfile` — and falls back to a buffered chunk copy.
//! Every file is written to a temporary file beside its destination, verified, and
//! renamed into place, so a destination is never half-written.
//!
//! The library reads top-down: [`config`] (the `ZERO_COPY_*` settings) -> [`plan`]
//! (sources to (source, destination) pairs) -> [`engine`] (one file, atomically) ->
//! [`report`] (summary or JSON). [`run`] ties them together for a batch.
//!
//! ```no_run
//! use zcopy::{config::Config, engine, plan, Batch};
//!
//! let config = Config::default();
//! let entries = plan::from_arguments(&["master.mkv".into(), "/backup/".into()], false)?;
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

pub mod atomic;
pub mod cli;
pub mod config;
pub mod doctor;
pub mod engine;
pub mod interrupt;
pub mod plan;
pub mod preserve;
pub mod progress;
pub mod report;
pub mod stats;
mod verify;

use std::path::Path;
use std::time::Instant;

use config::Config;
use engine::{CopyOptions, Error, Observer, Operation, Outcome};
use plan::{Entry, Job};
use progress::Progress;
use report::{Endpoints, ErrorRecord, FileRecord, Report, SkipRecord};
use stats::Stats;

/// How a batch runs: the per-file options, the progress bars, `-v`, and the output.
pub struct Batch {
    /// Options handed to the engine for each file.
    pub options: CopyOptions,
    /// Draw progress bars.
    pub show_progress: bool,
    /// Log mechanism choices (`-v`).
    pub verbose: bool,
    /// How results are printed; `JsonLines` prints each record as it happens.
    pub format: report::Format,
    /// Colours for error lines.
    pub painter: report::Painter,
    /// Ask before replacing an existing destination (`-i`; needs a terminal).
    pub interactive: bool,
}

impl Batch {
    /// A batch for `config`, drawing progress bars or not; quiet, summary output, no
    /// colour. The other fields are public to adjust.
    pub fn new(config: &Config, show_progress: bool) -> Self {
        Batch {
            options: CopyOptions::from_config(config, show_progress),
            show_progress,
            verbose: false,
            format: report::Format::Summary,
            painter: report::Painter::new(false),
            interactive: false,
        }
    }
}

/// Feeds the engine's progress and notes to the bars, and the interrupt flag back.
struct FileObserver<'a> {
    progress: &'a Progress,
    verbose: bool,
}

impl Observer for FileObserver<'_> {
    fn progress(&self, copied: u64) {
        self.progress.set_copied(copied);
    }

    fn note(&self, message: &str) {
        if self.verbose {
            self.progress.println(&format!("zcopy: {message}"));
        }
    }

    fn interrupted(&self) -> bool {
        interrupt::requested()
    }
}

/// Runs a planned batch: every entry in order, errors collected, never stopping early
/// except when interrupted. Errors are also printed on stderr as they happen.
pub fn run(entries: Vec<Entry>, batch: &Batch) -> Report {
    let files_total = entries
        .iter()
        .filter(|entry| matches!(entry, Entry::File(_)))
        .count() as u64;
    let bytes_total = entries
        .iter()
        .map(|entry| match entry {
            Entry::File(job) => job.size,
            _ => 0,
        })
        .sum();
    let progress = Progress::new(batch.show_progress, files_total, bytes_total);
    let observer = FileObserver {
        progress: &progress,
        verbose: batch.verbose,
    };
    if batch.verbose {
        progress.println(&format!(
            "zcopy: mechanisms in this build: {}",
            engine::MECHANISMS
        ));
    }

    let stats = Stats::default();
    let mut report = Report {
        version: report::JSON_VERSION,
        files: Vec::new(),
        errors: Vec::new(),
        skipped: Vec::new(),
        interrupted: false,
        stats: stats.snapshot(Default::default()),
    };
    let fail = |report: &mut Report, source: &Path, destination: Option<&Path>, error: &Error| {
        progress.println(&batch.painter.error(&error.to_string()));
        if error.is_verification_failure() {
            stats.record_verification_failure();
        }
        let record = ErrorRecord::new(source, destination, error);
        stream(batch, "error", &record);
        report.errors.push(record);
    };

    let started = Instant::now();
    let mut files_done = 0;
    let mut directories = Vec::new();
    for entry in entries {
        if interrupt::requested() {
            report.interrupted = true;
            break;
        }
        match entry {
            Entry::File(job) => {
                progress.start_file(&job.source, job.size);
                let outcome =
                    if batch.interactive && !confirm_overwrite(&progress, &job.destination) {
                        Ok(Outcome::Skipped("not confirmed (-i)"))
                    } else {
                        engine::copy_file(&job.source, &job.destination, &batch.options, &observer)
                    };
                match outcome {
                    Ok(Outcome::Copied(copied)) => {
                        stats.record_copy(copied.method, copied.bytes);
                        let record = file_record(&job, &copied);
                        stream(batch, "file", &record);
                        report.files.push(record);
                    }
                    Ok(Outcome::Skipped(reason)) => {
                        observer.note(&format!("{}: skipped: {reason}", job.destination.display()));
                        let record = SkipRecord {
                            paths: Endpoints::new(&job.source, Some(&job.destination)),
                            reason,
                        };
                        stream(batch, "skipped", &record);
                        report.skipped.push(record);
                    }
                    Err(error) => {
                        if error.is_interrupted() {
                            report.interrupted = true;
                        }
                        fail(&mut report, &job.source, Some(&job.destination), &error);
                    }
                }
                files_done += 1;
                progress.finish_file(job.size, files_done, files_total);
            }
            Entry::Dir {
                source,
                destination,
            } => match create_dir(&destination) {
                Ok(()) => directories.push((source, destination)),
                Err(error) => fail(&mut report, &source, Some(&destination), &error),
            },
            Entry::Symlink {
                source,
                destination,
                target,
            } => {
                if let Err(error) = create_symlink(&target, &destination) {
                    fail(&mut report, &source, Some(&destination), &error);
                }
            }
            Entry::Failed {
                source,
                destination,
                error,
            } => fail(&mut report, &source, destination.as_deref(), &error),
        }
    }
    // Directory attributes last: copying into a directory changes its times. Deepest
    // first, so a parent is done after its children.
    if batch.options.preserve.any() && !report.interrupted {
        for (source, destination) in directories.iter().rev() {
            if source.is_dir() {
                if let Err(error) =
                    preserve::apply_to_directory(source, destination, batch.options.preserve)
                {
                    fail(&mut report, source, Some(destination), &error);
                }
            }
        }
    }
    progress.finish();
    report.stats = stats.snapshot(started.elapsed());
    report
}

/// `-i`: asks on the terminal before an existing destination is replaced.
fn confirm_overwrite(progress: &Progress, destination: &Path) -> bool {
    if std::fs::symlink_metadata(destination).is_err() {
        return true;
    }
    progress.suspend(|| {
        eprint!("zcopy: overwrite '{}'? [y/N] ", destination.display());
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).is_ok()
            && matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
    })
}

/// With `--json-lines`, prints a record the moment it exists.
fn stream(batch: &Batch, kind: &str, record: &impl serde::Serialize) {
    if batch.format == report::Format::JsonLines {
        println!("{}", report::json_line(kind, record));
    }
}

fn file_record(job: &Job, copied: &engine::Copied) -> FileRecord {
    FileRecord {
        paths: Endpoints::new(&job.source, Some(&job.destination)),
        bytes: copied.bytes,
        method: copied.method,
        duration_sec: copied.duration.as_secs_f64(),
        verified: copied.verified,
    }
}

/// Creates a directory of a copied tree; an existing directory is fine.
fn create_dir(destination: &Path) -> Result<(), Error> {
    match std::fs::create_dir(destination) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists && destination.is_dir() => {
            Ok(())
        }
        Err(err) => Err(Error::os(destination, Operation::CreateDir, err)),
    }
}

/// Recreates a symlink of a copied tree, replacing an existing one atomically: the
/// new link is made under a temporary name and renamed over the destination.
#[cfg(unix)]
fn create_symlink(target: &Path, destination: &Path) -> Result<(), Error> {
    let temporary = atomic::temp_symlink_path(destination);
    std::os::unix::fs::symlink(target, &temporary)
        .map_err(|err| Error::os(&temporary, Operation::CreateSymlink, err))?;
    std::fs::rename(&temporary, destination).map_err(|err| {
        let _ = std::fs::remove_file(&temporary);
        Error::os(destination, Operation::Rename, err)
    })
}

#[cfg(not(unix))]
fn create_symlink(_target: &Path, destination: &Path) -> Result<(), Error> {
    Err(Error::new(
        destination,
        Operation::CreateSymlink,
        engine::Cause::Invalid(
            "copying symlinks inside trees is supported on Unix only".to_string(),
        ),
    ))
}
