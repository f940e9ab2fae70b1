//! Runs a plan: directories first, then files and links on `-j` workers, results
//! reported in plan order whatever order they finish in.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::config::Config;
use crate::engine::{self, CopyOptions, Observer, Outcome};
use crate::error::{Cause, Error, Operation};
use crate::plan::{Entry, Job};
use crate::progress::Progress;
use crate::report::{self, Endpoints, ErrorRecord, FileRecord, Report, SkipRecord};
use crate::stats::Stats;
use crate::{atomic, interrupt, preserve};

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
    /// Files copied at once (`-j`).
    pub jobs: usize,
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
            jobs: 1,
        }
    }
}

/// Feeds the engine's progress and notes to worker `slot`'s bar, and the interrupt
/// flag back.
struct FileObserver<'a> {
    progress: &'a Progress,
    slot: usize,
    verbose: bool,
}

impl Observer for FileObserver<'_> {
    fn progress(&self, copied: u64) {
        self.progress.set_copied(self.slot, copied);
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

/// What became of one entry of the plan.
enum Done {
    Copied(Job, engine::Copied),
    Skipped(Job, &'static str),
    Failed {
        source: PathBuf,
        destination: Option<PathBuf>,
        error: Error,
    },
    /// A directory created or a link made: nothing to report.
    Made,
}

/// Runs a planned batch with `batch.jobs` workers: directories first, in plan order,
/// then files and links, up to `jobs` at a time. Errors never stop the batch; only an
/// interruption does. Results are reported in plan order whatever order they finish
/// in: errors on stderr and `--json-lines` records as soon as every earlier entry is
/// done, the report at the end.
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
    // -i asks questions one at a time.
    let jobs = if batch.interactive {
        1
    } else {
        batch.jobs.max(1)
    };
    let work_items = entries
        .iter()
        .filter(|entry| matches!(entry, Entry::File(_) | Entry::Symlink { .. }))
        .count();
    let workers = jobs.min(work_items.max(1));
    let progress = Progress::new(batch.show_progress, files_total, bytes_total, workers);
    if batch.verbose {
        progress.println(&format!(
            "zcopy: mechanisms in this build: {}",
            engine::MECHANISMS
        ));
    }
    let stats = Stats::default();
    let started = Instant::now();
    let mut reporter = Reporter::new(batch, &progress, &stats, entries.len());

    // Directories first: every file below them needs them, and creating them costs
    // next to nothing. Failures found while planning need no work either.
    let mut directories = Vec::new();
    let mut work = Vec::new();
    for (index, entry) in entries.into_iter().enumerate() {
        match entry {
            Entry::Dir {
                source,
                destination,
            } => {
                let done = match create_dir(&destination) {
                    Ok(()) => {
                        directories.push((source, destination));
                        Done::Made
                    }
                    Err(error) => Done::Failed {
                        source,
                        destination: Some(destination),
                        error,
                    },
                };
                reporter.add(index, done);
            }
            Entry::Failed {
                source,
                destination,
                error,
            } => reporter.add(
                index,
                Done::Failed {
                    source,
                    destination,
                    error,
                },
            ),
            other => work.push((index, other)),
        }
    }

    // Each worker reports what it finishes itself, under a lock held for a few
    // microseconds: handing results to another thread cost a wakeup per file, a fifth
    // of the time of a tree of small files.
    let next = AtomicUsize::new(0);
    let reporter = Mutex::new(reporter);
    std::thread::scope(|scope| {
        for slot in 0..workers {
            let (next, progress, reporter, work) = (&next, &progress, &reporter, &work);
            scope.spawn(move || {
                let observer = FileObserver {
                    progress,
                    slot,
                    verbose: batch.verbose,
                };
                while !interrupt::requested() {
                    let Some((index, entry)) = work.get(next.fetch_add(1, Ordering::Relaxed))
                    else {
                        break;
                    };
                    let done = carry_out(entry, batch, &observer);
                    reporter
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .add(*index, done);
                }
            });
        }
    });
    let reporter = reporter
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());

    let mut report = reporter.finish();
    // Directory attributes last: copying into a directory changes its times. Deepest
    // first, so a parent is done after its children.
    if batch.options.preserve.any() && !report.interrupted {
        for (source, destination) in directories.iter().rev() {
            if source.is_dir() {
                if let Err(error) =
                    preserve::apply_to_directory(source, destination, batch.options.preserve)
                {
                    progress.println(&batch.painter.error(&error.to_string()));
                    report
                        .errors
                        .push(ErrorRecord::new(source, Some(destination), &error));
                }
            }
        }
    }
    progress.finish();
    report.interrupted |= interrupt::requested();
    report.stats = stats.snapshot(started.elapsed());
    report
}

/// Does one entry (a file or a link; directories are made before).
fn carry_out(entry: &Entry, batch: &Batch, observer: &FileObserver<'_>) -> Done {
    match entry {
        Entry::File(job) => {
            observer
                .progress
                .start_file(observer.slot, &job.source, job.size);
            let outcome =
                if batch.interactive && !confirm_overwrite(observer.progress, &job.destination) {
                    Ok(Outcome::Skipped("not confirmed (-i)"))
                } else {
                    engine::copy_file(&job.source, &job.destination, &batch.options, observer)
                };
            observer.progress.finish_file(observer.slot, job.size);
            match outcome {
                Ok(Outcome::Copied(copied)) => Done::Copied(job.clone(), copied),
                Ok(Outcome::Skipped(reason)) => Done::Skipped(job.clone(), reason),
                Err(error) => Done::Failed {
                    source: job.source.clone(),
                    destination: Some(job.destination.clone()),
                    error,
                },
            }
        }
        Entry::Symlink {
            source,
            destination,
            ..
        } if batch.interactive && !confirm_overwrite(observer.progress, destination) => {
            Done::Skipped(
                Job {
                    source: source.clone(),
                    destination: destination.clone(),
                    size: 0,
                },
                "not confirmed (-i)",
            )
        }
        Entry::Symlink {
            source,
            destination,
            target,
        } => match create_symlink(source, target, destination, &batch.options) {
            Ok(true) => Done::Made,
            Ok(false) => Done::Skipped(
                Job {
                    source: source.clone(),
                    destination: destination.clone(),
                    size: 0,
                },
                "destination exists (--no-clobber)",
            ),
            Err(error) => Done::Failed {
                source: source.clone(),
                destination: Some(destination.clone()),
                error,
            },
        },
        Entry::Dir { .. } | Entry::Failed { .. } => {
            unreachable!("handled before the workers start")
        }
    }
}

/// Puts results back in plan order: each is reported once every earlier entry has
/// been, so stderr, `--json-lines` and the report read in the order of the plan.
struct Reporter<'a> {
    batch: &'a Batch,
    progress: &'a Progress,
    stats: &'a Stats,
    pending: Vec<Option<Done>>,
    next: usize,
    report: Report,
}

impl<'a> Reporter<'a> {
    fn new(batch: &'a Batch, progress: &'a Progress, stats: &'a Stats, entries: usize) -> Self {
        Reporter {
            batch,
            progress,
            stats,
            pending: (0..entries).map(|_| None).collect(),
            next: 0,
            report: Report {
                version: report::JSON_VERSION,
                files: Vec::new(),
                errors: Vec::new(),
                skipped: Vec::new(),
                interrupted: false,
                stats: stats.snapshot(Default::default()),
            },
        }
    }

    fn add(&mut self, index: usize, done: Done) {
        self.pending[index] = Some(done);
        while let Some(done) = self.pending.get_mut(self.next).and_then(Option::take) {
            self.next += 1;
            self.emit(done);
        }
    }

    fn emit(&mut self, done: Done) {
        match done {
            Done::Copied(job, copied) => {
                self.stats.record_copy(copied.method, copied.bytes);
                let record = file_record(&job, &copied);
                stream(self.batch, "file", &record);
                self.report.files.push(record);
            }
            Done::Skipped(job, reason) => {
                if self.batch.verbose {
                    self.progress.println(&format!(
                        "zcopy: {}: skipped: {reason}",
                        job.destination.display()
                    ));
                }
                let record = SkipRecord {
                    paths: Endpoints::new(&job.source, Some(&job.destination)),
                    reason,
                };
                stream(self.batch, "skipped", &record);
                self.report.skipped.push(record);
            }
            Done::Failed {
                source,
                destination,
                error,
            } => {
                self.progress
                    .println(&self.batch.painter.error(&error.to_string()));
                if error.is_verification_failure() {
                    self.stats.record_verification_failure();
                }
                if error.is_interrupted() {
                    self.report.interrupted = true;
                }
                let record = ErrorRecord::new(&source, destination.as_deref(), &error);
                stream(self.batch, "error", &record);
                self.report.errors.push(record);
            }
            Done::Made => {}
        }
    }

    /// The report; after an interruption, whatever finished past a gap too.
    fn finish(mut self) -> Report {
        for index in self.next..self.pending.len() {
            if let Some(done) = self.pending[index].take() {
                self.emit(done);
            }
        }
        self.report
    }
}

/// The first destination of the plan that exists already: what `-i` would ask about.
pub fn first_existing_destination(entries: &[Entry]) -> Option<&Path> {
    entries.iter().find_map(|entry| match entry {
        Entry::File(Job { destination, .. }) | Entry::Symlink { destination, .. } => {
            std::fs::symlink_metadata(destination)
                .is_ok()
                .then_some(destination.as_path())
        }
        _ => None,
    })
}

/// `-i`: asks on the terminal before an existing destination is replaced. A question
/// that cannot be asked (the destination appeared after the run started, and stdin is
/// not a terminal) is answered no.
fn confirm_overwrite(progress: &Progress, destination: &Path) -> bool {
    if std::fs::symlink_metadata(destination).is_err() {
        return true;
    }
    if !std::io::stdin().is_terminal() {
        return false;
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

/// Recreates a symlink (of a copied tree, or named with `-P`), replacing an existing
/// one atomically: the new link is made under a temporary name, given the source
/// link's own owner and times when they are preserved, and renamed over the destination.
/// With `-n` it is made under its own name, which fails if anything is there (then it
/// returns false, as for a skipped file): no check-then-replace race.
#[cfg(unix)]
fn create_symlink(
    source: &Path,
    target: &Path,
    destination: &Path,
    options: &CopyOptions,
) -> Result<bool, Error> {
    if options.no_clobber {
        return match std::os::unix::fs::symlink(target, destination) {
            Ok(()) => {
                preserve::apply_to_symlink(source, destination, destination, options.preserve)
                    .map(|()| true)
            }
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(err) => Err(Error::os(destination, Operation::CreateSymlink, err)),
        };
    }
    if refuse_link_onto_its_referent(source, destination)? {
        return Ok(true);
    }
    let temporary = atomic::temp_symlink_path(destination);
    std::os::unix::fs::symlink(target, &temporary)
        .map_err(|err| Error::os(&temporary, Operation::CreateSymlink, err))?;
    let installed = preserve::apply_to_symlink(source, &temporary, destination, options.preserve)
        .and_then(|()| {
            std::fs::rename(&temporary, destination)
                .map_err(|err| Error::os(destination, Operation::Rename, err))
        });
    if installed.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    installed.map(|()| true)
}

/// cp's rule for a link copied as a link: putting it over the file it points to would
/// leave a link to itself and lose the file ("are the same file"), and so would putting
/// it over itself. Returns true when there is nothing to do: the destination is the
/// source link under another name (a hard link of it).
#[cfg(unix)]
fn refuse_link_onto_its_referent(source: &Path, destination: &Path) -> Result<bool, Error> {
    use std::os::unix::fs::MetadataExt;
    let same =
        |a: &std::fs::Metadata, b: &std::fs::Metadata| a.dev() == b.dev() && a.ino() == b.ino();
    let existing = match std::fs::symlink_metadata(destination) {
        Ok(existing) => existing,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(err) => return Err(Error::os(destination, Operation::StatDestination, err)),
    };
    let same_file = || Error::new(destination, Operation::StatDestination, Cause::SameFile);
    let link = std::fs::symlink_metadata(source)
        .map_err(|err| Error::os(source, Operation::StatSource, err))?;
    if existing.file_type().is_symlink() {
        if !same(&link, &existing) {
            return Ok(false);
        }
        // The same inode: one directory entry (an error, as in cp), or two names of
        // one hard-linked link (already what the copy would make).
        let entry = |path: &Path| {
            let parent = match path.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent,
                _ => Path::new("."),
            };
            (
                std::fs::canonicalize(parent).ok(),
                path.file_name().map(|n| n.to_os_string()),
            )
        };
        return if entry(source) == entry(destination) {
            Err(same_file())
        } else {
            Ok(true)
        };
    }
    match std::fs::metadata(source) {
        Ok(referent) if same(&referent, &existing) => Err(same_file()),
        _ => Ok(false),
    }
}

#[cfg(not(unix))]
fn create_symlink(
    _source: &Path,
    _target: &Path,
    destination: &Path,
    _options: &CopyOptions,
) -> Result<bool, Error> {
    Err(Error::new(
        destination,
        Operation::CreateSymlink,
        Cause::Invalid("copying symlinks inside trees is supported on Unix only".to_string()),
    ))
}
