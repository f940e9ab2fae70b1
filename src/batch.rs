//! Runs a plan: directories first, then files and links on `-j` workers, results
//! reported in plan order whatever order they finish in.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::IsTerminal;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use crate::config::Config;
use crate::engine::{self, CopyOptions, Observer, Outcome};
use crate::error::{quoted, shown, Cause, Error, Operation};
use crate::make::{self, Made, What};
use crate::plan::{Entry, Job};
use crate::progress::Progress;
use crate::report::{self, Endpoints, ErrorRecord, FileRecord, Kind, Report, SkipRecord};
use crate::stats::Stats;
use crate::{interrupt, output, preserve};

mod lanes;
mod staged;
use lanes::Lanes;
use staged::Staged;

/// How a batch runs: the per-file options, the progress bars, `-v`, and the output.
pub struct Batch {
    /// Options handed to the engine for each file.
    pub options: CopyOptions,
    /// Draw progress bars.
    pub show_progress: bool,
    /// Log mechanism choices (`-vv`).
    pub verbose: bool,
    /// Print cp's `'SRC' -> 'DST'` line for each file, link and directory made (`-v`):
    /// on stdout, or on stderr when stdout carries JSON.
    pub list: bool,
    /// How results are printed; `JsonLines` prints each record as it happens.
    pub format: report::Format,
    /// Colours for error lines.
    pub painter: report::Painter,
    /// Ask before replacing an existing destination (`-i`; needs a terminal).
    pub interactive: bool,
    /// Files copied at once (`-j`).
    pub jobs: usize,
    /// The plan's links are ones the user asked for (`-l`, `-s`): like cp, they do not
    /// replace an existing file without `-f`, `--remove-destination` or `-b`.
    pub explicit_links: bool,
    /// The destination directories when there are several (`-t DIR` repeated; empty
    /// with one): each file's copies to them run side by side, and every record names
    /// its destination root.
    pub destinations: Vec<PathBuf>,
    /// The most bytes a run may copy for its new trees to be built hidden and appear
    /// whole at the end (`ZERO_COPY_WHOLE_TREE_MB`; see [`staged`]); 0: never.
    pub whole_tree_bytes: u64,
}

impl Batch {
    /// A batch for `config`, drawing progress bars or not; quiet, summary output, no
    /// colour. The other fields are public to adjust.
    pub fn new(config: &Config, show_progress: bool) -> Self {
        Batch {
            options: CopyOptions::from_config(config, show_progress),
            show_progress,
            verbose: false,
            list: false,
            format: report::Format::Summary,
            painter: report::Painter::new(false),
            interactive: false,
            jobs: 1,
            explicit_links: false,
            destinations: Vec::new(),
            whole_tree_bytes: config.whole_tree_mb.saturating_mul(crate::config::MB),
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

    fn wants_notes(&self) -> bool {
        self.verbose
    }

    fn interrupted(&self) -> bool {
        interrupt::requested()
    }
}

/// What became of one entry of the plan.
enum Done {
    /// A file copied, linked or made.
    Made(FileRecord),
    Skipped {
        source: PathBuf,
        destination: PathBuf,
        reason: &'static str,
    },
    Failed {
        source: PathBuf,
        destination: Option<PathBuf>,
        error: Error,
    },
    /// A directory created: only `-v` tells.
    Directory {
        source: PathBuf,
        destination: PathBuf,
    },
    /// Nothing to report (an existing directory).
    Nothing,
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
        .filter(|entry| !matches!(entry, Entry::Dir { .. } | Entry::Failed { .. }))
        .count();
    let workers = jobs.min(work_items.max(1));
    // A bar per destination of each worker.
    let fan = batch.destinations.len().max(1);
    let progress = Progress::new(batch.show_progress, files_total, bytes_total, workers * fan);
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
    // Hard links last: --preserve=links links to a file copied earlier in the plan.
    let mut work = Vec::with_capacity(entries.len());
    let mut links = Vec::new();
    let mut staged = Staged::default();
    let stage = stages(batch, bytes_total);
    // A directory that could not be made holds nothing of the run: what the plan puts
    // below it is not tried (nor does cp go on below it), so nothing is written through
    // whatever is in its way, such as a symlink to a directory elsewhere.
    let mut not_made: HashSet<PathBuf> = HashSet::new();
    for (index, entry) in entries.into_iter().enumerate() {
        let destination = match &entry {
            Entry::Dir { destination, .. } => Some(destination.as_path()),
            other => other.made_path(),
        };
        // (Hashing every path only once some directory failed.)
        let below_not_made = !not_made.is_empty()
            && destination
                .and_then(Path::parent)
                .is_some_and(|parent| not_made.contains(parent));
        if below_not_made {
            if let Entry::Dir { destination, .. } = entry {
                not_made.insert(destination);
            }
            reporter.add(index, Done::Nothing);
            continue;
        }
        match entry {
            Entry::Dir {
                source,
                destination,
                walked,
            } => {
                // What the source is now, before anything is copied into its copy: its
                // name may name something else by the end.
                let looked_at = std::fs::metadata(&source).ok();
                // And what the walk listed was this directory: swapped for a symlink
                // since, what it names now is neither copied nor listed.
                let now = looked_at.as_ref().map(crate::plan::inode);
                if walked.is_some_and(|walked| now.is_some_and(|now| now != walked)) {
                    let error = Error::new(
                        &source,
                        Operation::StatSource,
                        Cause::SourceChanged("its path names another directory now"),
                    );
                    not_made.insert(destination.clone());
                    reporter.add(
                        index,
                        Done::Failed {
                            source,
                            destination: Some(destination),
                            error,
                        },
                    );
                    continue;
                }
                let mode = DirectoryMode::new(looked_at.as_ref(), &batch.options);
                let created = if stage && staged.wants(&destination) {
                    staged
                        .create(&source, &destination, mode.mkdir)
                        .and_then(|hidden| mode.settle(&hidden))
                } else {
                    create_dir(&staged.path(&destination), &mode)
                        .map_err(|error| staged.shown(error))
                };
                let done = match created {
                    Ok(settled) => {
                        let identity = looked_at
                            .as_ref()
                            .filter(|metadata| metadata.is_dir())
                            .map(crate::plan::inode);
                        // What is read and made below these two from now on must be
                        // read from and made in them (see `at`).
                        #[cfg(unix)]
                        {
                            if let Some(identity) = identity {
                                crate::at::know(&source, identity);
                            }
                            crate::at::know(&staged.path(&destination), settled.identity);
                        }
                        let made = settled.made;
                        directories.push(MadeDirectory {
                            source: source.clone(),
                            destination: destination.clone(),
                            identity,
                            copy: settled,
                        });
                        if made {
                            Done::Directory {
                                source,
                                destination,
                            }
                        } else {
                            Done::Nothing
                        }
                    }
                    Err(error) => {
                        not_made.insert(destination.clone());
                        Done::Failed {
                            source,
                            destination: Some(destination),
                            error,
                        }
                    }
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
            link @ Entry::Link { .. } => links.push((index, link)),
            other => work.push((index, other)),
        }
    }
    // Nothing can be in a directory this run made but what the run puts there.
    let made: HashSet<&Path> = directories
        .iter()
        .filter(|made| made.copy.made)
        .map(|made| made.destination.as_path())
        .collect();
    for (_, entry) in &mut work {
        if let Entry::File(job) = entry {
            job.directory_is_new = crate::plan::directory_and_name(&job.destination)
                .is_some_and(|(parent, _)| made.contains(parent));
            job.in_hidden_tree = job.directory_is_new && staged.contains(&job.destination);
        }
    }
    drop(made);

    let mut first_copies = first_copies(&work, &links);
    let reporter = Mutex::new(reporter);
    let run_all = |work: &[Indexed]| {
        let groups = groups(work, batch);
        run_workers(work, &groups, workers, batch, &staged, &progress, &reporter);
    };
    run_all(&work);
    drop(work);
    // Then the links. One to a copy the run did not make is a copy again, and a later
    // link to the same file links to that copy once it is made: a round each.
    while !links.is_empty() && !interrupt::requested() {
        let (copies, rest) = {
            let reporter = reporter
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            copies_for_links_to_uncopied(links, &mut first_copies, |index| reporter.in_place(index))
        };
        if copies.is_empty() {
            run_all(&rest);
            break;
        }
        run_all(&copies);
        links = rest;
    }
    let reporter = reporter
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    #[cfg(unix)]
    crate::at::forget_known();

    let mut report = reporter.finish();
    // Every file of a hidden tree is complete or removed, also after an interruption.
    let not_installed = staged.install();
    for (source, error) in &not_installed {
        progress.println(&batch.painter.error(&error.to_string()));
        report
            .errors
            .push(ErrorRecord::new(source, Some(&error.path), error));
    }
    if !not_installed.is_empty() {
        // The copies of a tree that could not be put in place are where they were
        // made, which the error names: so do their records.
        let records = report.files.iter_mut().map(|record| &mut record.paths);
        for paths in records.chain(report.skipped.iter_mut().map(|record| &mut record.paths)) {
            if let Some(planned) = paths.destination_path() {
                if let Cow::Owned(made_at) = staged.path(&planned) {
                    paths.set_destination(&made_at);
                }
            }
        }
    }
    // Directory attributes last: copying into a directory changes its times. Deepest
    // first, so a parent is done after its children. New directories get back what
    // was withheld from their modes while they filled, also after an interruption.
    // With -p the source's attributes, where its name still names it; otherwise, and
    // where it no longer does, the mode the directory was to get when it was made.
    let preserve = batch.options.preserve;
    let interrupted = report.interrupted;
    let mut failed = |made: &MadeDirectory, error: Error| {
        progress.println(&batch.painter.error(&error.to_string()));
        report.errors.push(ErrorRecord::new(
            &made.source,
            Some(&made.destination),
            &error,
        ));
    };
    for made in directories.iter().rev() {
        let made_at = staged.path(&made.destination);
        let wanted = preserve.any() && !interrupted && made.source.is_dir();
        if !wanted && made.copy.end_mode.is_none() {
            continue;
        }
        // Its name may name something else by now, which gets nothing.
        let copy = match open_copy_directory(&made_at, made.copy.identity) {
            Ok(copy) => copy,
            Err(error) => {
                failed(made, error);
                continue;
            }
        };
        let mut preserved = false;
        if wanted {
            let applied = preserve::apply_to_directory(
                (&made.source, made.identity),
                (&made_at, &copy),
                preserve,
            );
            match applied {
                Ok(()) => preserved = true,
                Err(error) => failed(made, error),
            }
        }
        let Some(mode) = made.copy.end_mode else {
            continue;
        };
        if preserved && preserve.mode {
            continue;
        }
        if let Err(error) = set_mode(&copy, mode)
            .map_err(|err| Error::os(made_at.as_ref(), Operation::SetMetadata, err))
        {
            failed(made, error);
        }
    }
    progress.finish();
    report.interrupted |= interrupt::requested();
    report.stats = stats.snapshot(started.elapsed());
    report
}

/// The plan index of each file that a `--preserve=links` link names as its first
/// copy, by that copy's destination.
fn first_copies(work: &[Indexed], links: &[Indexed]) -> HashMap<PathBuf, usize> {
    let named: HashSet<&Path> = links
        .iter()
        .filter_map(|(_, entry)| match entry {
            Entry::Link { existing, .. } => Some(existing.as_path()),
            _ => None,
        })
        .collect();
    if named.is_empty() {
        return HashMap::new();
    }
    work.iter()
        .filter_map(|(index, entry)| match entry {
            Entry::File(job) if named.contains(job.destination.as_path()) => {
                Some((job.destination.clone(), *index))
            }
            _ => None,
        })
        .collect()
}

/// A plan entry with its index in the plan.
type Indexed = (usize, Entry);

/// A link to an earlier file's copy stands for a copy of that file only if that copy
/// is in place: one skipped by `-n` or failed leaves whatever was there, which the
/// link would repeat under a new name. cp copies the file again then; so does this.
/// (A destination `-u` kept as up to date is in place.)
/// Splits `links` into the copies made instead (the first link to each such file) and
/// the rest, whose later links to the same file now name the first one's copy.
fn copies_for_links_to_uncopied(
    links: Vec<Indexed>,
    first_copies: &mut HashMap<PathBuf, usize>,
    in_place: impl Fn(usize) -> bool,
) -> (Vec<Indexed>, Vec<Indexed>) {
    let mut copies = Vec::new();
    let mut rest = Vec::new();
    let mut copied_instead: HashMap<PathBuf, PathBuf> = HashMap::new();
    for (index, entry) in links {
        let Entry::Link {
            source,
            destination,
            existing,
        } = entry
        else {
            rest.push((index, entry));
            continue;
        };
        let existing = match copied_instead.get(&existing) {
            Some(copy) => copy.clone(),
            None if first_copies
                .get(&existing)
                .is_none_or(|&first| in_place(first)) =>
            {
                existing
            }
            None => {
                copied_instead.insert(existing, destination.clone());
                first_copies.insert(destination.clone(), index);
                copies.push((
                    index,
                    Entry::File(copy_instead_of_link(source, destination)),
                ));
                continue;
            }
        };
        rest.push((
            index,
            Entry::Link {
                source,
                destination,
                existing,
            },
        ));
    }
    (copies, rest)
}

/// The job copying `source` where a link to another copy of it was planned.
fn copy_instead_of_link(source: PathBuf, destination: PathBuf) -> Job {
    let size = std::fs::metadata(&source).map_or(0, |metadata| metadata.len());
    Job {
        source,
        destination,
        size,
        metadata: None,
        // Not known to be new: the copy looks at what is there first.
        directory_is_new: false,
        in_hidden_tree: false,
    }
}

/// Runs `work` on `workers` threads. Each worker reports what it finishes itself,
/// under a lock held for a few microseconds: handing results to another thread cost a
/// wakeup per file, a fifth of the time of a tree of small files. Nothing to do starts
/// no thread, and one worker runs on the calling thread: a thread (and its malloc
/// arena) costs a fifth of a millisecond, which a single file's copy notices.
fn run_workers(
    work: &[(usize, Entry)],
    groups: &[Range<usize>],
    workers: usize,
    batch: &Batch,
    staged: &Staged,
    progress: &Progress,
    reporter: &Mutex<Reporter<'_>>,
) {
    // A lane is a run of groups whose first entry goes into one directory.
    let lanes = Lanes::new(groups.iter().map(|group| {
        let made_path = work[group.start].1.made_path();
        made_path
            .and_then(crate::plan::directory_and_name)
            .map(|(parent, _)| parent)
    }));
    let pieces = Pieces {
        work,
        groups,
        lanes,
    };
    let work_loop = |worker: usize| worker_loop(worker, &pieces, batch, staged, progress, reporter);
    match workers.min(groups.len()) {
        0 => {}
        1 => work_loop(0),
        workers => std::thread::scope(|scope| {
            for worker in 0..workers {
                scope.spawn(move || work_loop(worker));
            }
        }),
    }
}

/// The work the workers share: the entries, cut into groups, in lanes.
struct Pieces<'a> {
    work: &'a [(usize, Entry)],
    groups: &'a [Range<usize>],
    lanes: Lanes,
}

/// What worker number `worker` does: takes its next group of the work until none is
/// left or a stop is requested, and reports each result.
fn worker_loop(
    worker: usize,
    pieces: &Pieces<'_>,
    batch: &Batch,
    staged: &Staged,
    progress: &Progress,
    reporter: &Mutex<Reporter<'_>>,
) {
    let fan = batch.destinations.len().max(1);
    let observers: Vec<FileObserver<'_>> = (0..fan)
        .map(|destination| FileObserver {
            progress,
            slot: worker * fan + destination,
            verbose: batch.verbose,
        })
        .collect();
    let mut lane = lanes::Worker::default();
    while !interrupt::requested() {
        let Some(group) = pieces.lanes.next(&mut lane) else {
            break;
        };
        let group = &pieces.work[pieces.groups[group].clone()];
        if let [(index, entry)] = group {
            let done = carry_out(entry, batch, staged, &observers[0]);
            reporter
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .add(*index, done);
            continue;
        }
        let dones = copy_to_destinations(group, batch, staged, &observers);
        let mut reporter = reporter
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for ((index, _), done) in group.iter().zip(dones) {
            reporter.add(*index, done);
        }
    }
    // The directories it kept open (the last worker runs on the calling thread).
    #[cfg(unix)]
    crate::at::forget();
}

/// The work split into what one worker does at a time: one entry, or with several
/// destinations, the copies of one file to each of them (consecutive in the plan).
fn groups(work: &[(usize, Entry)], batch: &Batch) -> Vec<Range<usize>> {
    let mut groups: Vec<Range<usize>> = Vec::new();
    for (position, (_, entry)) in work.iter().enumerate() {
        let joins = batch.destinations.len() > 1
            && groups.last().is_some_and(|group| {
                let (_, Entry::File(first)) = &work[group.start] else {
                    return false;
                };
                let Entry::File(job) = entry else {
                    return false;
                };
                group.len() < batch.destinations.len()
                    && job.source == first.source
                    && work[group.clone()].iter().all(|(_, other)| {
                        matches!(other, Entry::File(other) if other.destination != job.destination)
                    })
            });
        match groups.last_mut() {
            Some(group) if joins => group.end = position + 1,
            _ => groups.push(position..position + 1),
        }
    }
    groups
}

/// Copies one file to several destinations side by side (the source read once), each
/// with the bar of its own.
fn copy_to_destinations(
    group: &[(usize, Entry)],
    batch: &Batch,
    staged: &Staged,
    observers: &[FileObserver<'_>],
) -> Vec<Done> {
    let jobs: Vec<&Job> = group
        .iter()
        .map(|(_, entry)| match entry {
            Entry::File(job) => job,
            _ => unreachable!("groups of several are files"),
        })
        .collect();
    let mut dones: Vec<Option<Done>> = jobs.iter().map(|_| None).collect();
    let made_at: Vec<_> = jobs
        .iter()
        .map(|job| staged.path(&job.destination))
        .collect();
    let mut targets = Vec::new();
    let mut placed = Vec::new();
    for (position, job) in jobs.iter().enumerate() {
        let observer = &observers[position];
        if let Some(root) = destination_root(batch, &job.destination) {
            observer.progress.set_label(observer.slot, &shown(root));
        }
        observer
            .progress
            .start_file(observer.slot, &job.source, job.size);
        if batch.interactive && !confirm_overwrite(observer.progress, &job.destination) {
            dones[position] = Some(Done::Skipped {
                source: job.source.clone(),
                destination: job.destination.clone(),
                reason: "not confirmed (-i)",
            });
            continue;
        }
        targets.push(engine::Target {
            destination: &made_at[position],
            observer,
            directory_is_new: job.directory_is_new,
            in_hidden_tree: job.in_hidden_tree,
        });
        placed.push(position);
    }
    let first = jobs[0];
    let outcomes =
        engine::copy_to_destinations(&first.source, known(first), &targets, &batch.options);
    for (position, outcome) in placed.into_iter().zip(outcomes) {
        dones[position] = Some(done(jobs[position], outcome, batch, staged));
    }
    for (position, job) in jobs.iter().enumerate() {
        let observer = &observers[position];
        observer.progress.finish_file(observer.slot, job.size);
    }
    dones
        .into_iter()
        .map(|done| done.expect("every destination has an outcome"))
        .collect()
}

/// What the plan knows of a job's source, for the engine.
fn known(job: &Job) -> engine::Known<'_> {
    match &job.metadata {
        Some(metadata) => engine::Known::Stat(metadata),
        None => engine::Known::RegularEntry,
    }
}

/// The destination root (of several) that `destination` is in: the deepest that holds it.
pub fn destination_root<'a>(batch: &'a Batch, destination: &Path) -> Option<&'a Path> {
    batch
        .destinations
        .iter()
        .filter(|root| destination.starts_with(root))
        .max_by_key(|root| root.components().count())
        .map(PathBuf::as_path)
}

/// Does one entry (a file or a link; directories are made before).
fn carry_out(entry: &Entry, batch: &Batch, staged: &Staged, observer: &FileObserver<'_>) -> Done {
    let hard_link_to;
    let (source, destination, what) = match entry {
        Entry::File(job) => return copy(job, batch, staged, observer),
        Entry::Symlink {
            source,
            destination,
            target,
            looked_at,
        } => (
            source,
            destination,
            What::Symlink {
                target,
                source,
                looked_at: looked_at.as_deref(),
            },
        ),
        Entry::Link {
            source,
            destination,
            existing,
        } => {
            hard_link_to = staged.path(existing);
            let what = What::HardLink {
                existing: &hard_link_to,
                source,
            };
            (source, destination, what)
        }
        Entry::Special {
            source,
            destination,
        } => (source, destination, What::Special(source)),
        Entry::Dir { .. } | Entry::Failed { .. } => {
            unreachable!("handled before the workers start")
        }
    };
    // -i asks before anything existing is replaced; a yes lets -l and -s replace it.
    if batch.interactive && !confirm_overwrite(observer.progress, destination) {
        return Done::Skipped {
            source: source.clone(),
            destination: destination.clone(),
            reason: "not confirmed (-i)",
        };
    }
    // Links the user asked for (-l, -s) refuse to replace a file, as in cp; links and
    // nodes of a copied tree replace what is there.
    let explicit = batch.explicit_links && !batch.interactive && !matches!(what, What::Special(_));
    match make::make(what, &staged.path(destination), &batch.options, explicit) {
        Ok(Made::Done { backup, replaced }) => Done::Made(FileRecord {
            paths: Endpoints::new(source, Some(destination)),
            kind: what.kind(),
            bytes: 0,
            method: None,
            duration_sec: 0.0,
            verified: false,
            removed: replaced && backup.is_none() && batch.options.remove_destination,
            backup: backup.as_deref().map(report::path_text),
            hashes: Default::default(),
        }),
        Ok(Made::Skipped(reason)) => Done::Skipped {
            source: source.clone(),
            destination: destination.clone(),
            reason,
        },
        Err(error) => Done::Failed {
            source: source.clone(),
            destination: Some(destination.clone()),
            error: staged.shown(error),
        },
    }
}

/// Copies one file of the plan (asking first with `-i`).
fn copy(job: &Job, batch: &Batch, staged: &Staged, observer: &FileObserver<'_>) -> Done {
    observer
        .progress
        .start_file(observer.slot, &job.source, job.size);
    let outcome = if batch.interactive && !confirm_overwrite(observer.progress, &job.destination) {
        Ok(Outcome::Skipped("not confirmed (-i)"))
    } else {
        let made_at = staged.path(&job.destination);
        let target = engine::Target {
            destination: &made_at,
            observer,
            directory_is_new: job.directory_is_new,
            in_hidden_tree: job.in_hidden_tree,
        };
        if batch.options.hash.is_some() {
            // The source's hash on a thread of its own, overlapping the copy.
            engine::copy_to_destinations(&job.source, known(job), &[target], &batch.options)
                .pop()
                .expect("one outcome per destination")
        } else {
            engine::copy_planned_file(&job.source, known(job), &target, &batch.options)
        }
    };
    observer.progress.finish_file(observer.slot, job.size);
    done(job, outcome, batch, staged)
}

/// What a file's outcome becomes in the report.
fn done(job: &Job, outcome: Result<Outcome, Error>, batch: &Batch, staged: &Staged) -> Done {
    match outcome {
        Ok(Outcome::Copied(copied)) => Done::Made(file_record(job, &copied, batch)),
        Ok(Outcome::Skipped(reason)) => Done::Skipped {
            source: job.source.clone(),
            destination: job.destination.clone(),
            reason,
        },
        Err(error) => Done::Failed {
            source: job.source.clone(),
            destination: Some(job.destination.clone()),
            error: staged.shown(error),
        },
    }
}

/// Whether new trees are built hidden (see [`staged`]): a run of at most
/// [`Batch::whole_tree_bytes`] whose files are not announced one by one
/// (`--json-lines`) nor promised durable one by one (`--fsync`), and not asked about
/// (`-i`). Unix only: Windows refuses to rename a directory while anything in it is
/// open.
fn stages(batch: &Batch, bytes_total: u64) -> bool {
    cfg!(unix)
        && batch.whole_tree_bytes > 0
        && bytes_total <= batch.whole_tree_bytes
        && batch.format != report::Format::JsonLines
        && !batch.options.fsync
        && !batch.interactive
}

/// Puts results back in plan order: each is reported once every earlier entry has
/// been, so stderr, `--json-lines` and the report read in the order of the plan.
struct Reporter<'a> {
    batch: &'a Batch,
    progress: &'a Progress,
    stats: &'a Stats,
    /// Results that finished before an earlier entry's, by plan index: about
    /// `lanes::LOOKAHEAD` of them at most, not a slot for every entry of the plan (a
    /// slot is the size of a file's record).
    pending: BTreeMap<usize, Done>,
    /// By plan index, whether the entry's destination is the source's copy: made by
    /// the run, or kept by `--update` as up to date.
    in_place: Vec<bool>,
    next: usize,
    report: Report,
    /// Whether the report keeps every file's record: for the JSON document, and for
    /// the ASC MHL generations written after the run, which read the hashes (`--hash`).
    keep_records: bool,
}

impl<'a> Reporter<'a> {
    fn new(batch: &'a Batch, progress: &'a Progress, stats: &'a Stats, entries: usize) -> Self {
        Reporter {
            batch,
            progress,
            stats,
            pending: BTreeMap::new(),
            in_place: vec![false; entries],
            next: 0,
            report: Report {
                version: report::JSON_VERSION,
                files: Vec::new(),
                errors: Vec::new(),
                skipped: Vec::new(),
                mhl: None,
                interrupted: false,
                destination_roots: batch
                    .destinations
                    .iter()
                    .map(|root| report::path_text(root))
                    .collect(),
                stats: stats.snapshot(Default::default()),
                counts: Default::default(),
            },
            keep_records: batch.format == report::Format::Json || batch.options.hash.is_some(),
        }
    }

    /// Whether entry `index`'s destination is its source's copy (see `in_place`).
    fn in_place(&self, index: usize) -> bool {
        self.in_place[index]
    }

    fn add(&mut self, index: usize, done: Done) {
        self.in_place[index] = match &done {
            Done::Made(_) => true,
            Done::Skipped { reason, .. } => *reason == engine::NOT_OLDER,
            _ => false,
        };
        if index != self.next {
            self.pending.insert(index, done);
            return;
        }
        self.next += 1;
        self.emit(done);
        while let Some(done) = self.pending.remove(&self.next) {
            self.next += 1;
            self.emit(done);
        }
    }

    fn emit(&mut self, done: Done) {
        match done {
            Done::Made(mut record) => {
                self.tag(&mut record.paths);
                if let Some(method) = record.method {
                    self.stats.record_copy(method, record.bytes);
                }
                if self.batch.list {
                    self.list(&record.verbose_line());
                }
                if self.batch.list || self.batch.verbose {
                    for (algorithm, hash) in &record.hashes {
                        self.progress.println(&format!(
                            "zcopy: {}: {algorithm} {hash} (source, and copy read back)",
                            shown(&record.paths.destination_path().unwrap_or_default())
                        ));
                    }
                }
                stream(self.batch, "file", &record);
                self.report.add_file(record, self.keep_records);
            }
            Done::Skipped {
                source,
                destination,
                reason,
            } => {
                if self.batch.verbose {
                    self.progress.println(&format!(
                        "zcopy: {}: skipped: {reason}",
                        shown(&destination)
                    ));
                }
                let mut record = SkipRecord {
                    paths: Endpoints::new(&source, Some(&destination)),
                    reason,
                };
                self.tag(&mut record.paths);
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
                let mut record = ErrorRecord::new(&source, destination.as_deref(), &error);
                self.tag(&mut record.paths);
                stream(self.batch, "error", &record);
                self.report.errors.push(record);
            }
            Done::Directory {
                source,
                destination,
            } => {
                if self.batch.list {
                    self.list(&format!("{} -> {}", quoted(&source), quoted(&destination)));
                }
            }
            Done::Nothing => {}
        }
    }

    /// With several destinations: names the record's destination root.
    fn tag(&self, paths: &mut Endpoints) {
        if let Some(destination) = &paths.destination {
            paths.destination_root =
                destination_root(self.batch, Path::new(destination)).map(report::path_text);
        }
    }

    /// A `-v` line: on stdout, unless stdout carries JSON.
    fn list(&self, line: &str) {
        if self.batch.format == report::Format::Summary {
            self.progress.suspend(|| output::stdout_line(line));
        } else {
            self.progress.println(line);
        }
    }

    /// The report; after an interruption, whatever finished past a gap too.
    fn finish(mut self) -> Report {
        for done in std::mem::take(&mut self.pending).into_values() {
            self.emit(done);
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
        output::stderr(&format!("zcopy: overwrite {}? [y/N] ", quoted(destination)));
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).is_ok()
            && matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
    })
}

/// With `--json-lines`, prints a record the moment it exists.
fn stream(batch: &Batch, kind: &str, record: &impl serde::Serialize) {
    if batch.format == report::Format::JsonLines {
        output::stdout_line(&report::json_line(kind, record));
    }
}

fn file_record(job: &Job, copied: &engine::Copied, batch: &Batch) -> FileRecord {
    let attributes_only = batch.options.attributes_only;
    FileRecord {
        paths: Endpoints::new(&job.source, Some(&job.destination)),
        kind: if attributes_only {
            Kind::Attributes
        } else {
            Kind::Copy
        },
        bytes: copied.bytes,
        method: (!attributes_only).then_some(copied.method),
        duration_sec: copied.duration.as_secs_f64(),
        verified: copied.verified,
        removed: copied.replaced && copied.backup.is_none() && batch.options.remove_destination,
        backup: copied.backup.as_deref().map(report::path_text),
        hashes: copied
            .hash
            .iter()
            .map(|(algorithm, hash)| (algorithm.name().to_string(), hash.clone()))
            .collect(),
    }
}

/// A directory of the plan at the destination, made or found.
struct Settled {
    /// Made by this run (not there before).
    made: bool,
    /// The mode to give it at the end, if any.
    end_mode: Option<u32>,
    /// Its (device, inode).
    identity: (u64, u64),
}

/// Creates a directory of a copied tree (see [`DirectoryMode`]); an existing directory
/// is fine and keeps its mode, as with cp.
fn create_dir(destination: &Path, mode: &DirectoryMode) -> Result<Settled, Error> {
    match staged::create_dir_with_mode(destination, mode.mkdir) {
        Ok(()) => mode.settle(destination),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            // Not followed: a symlink there, even to a directory, is not one the copy
            // goes into (cp: "cannot overwrite non-directory with directory"), or a
            // link planted in a destination tree would send files anywhere.
            match std::fs::symlink_metadata(destination) {
                Ok(existing) if existing.is_dir() => Ok(Settled {
                    made: false,
                    end_mode: None,
                    identity: crate::plan::inode(&existing),
                }),
                Ok(existing) if existing.is_symlink() => Err(Error::new(
                    destination,
                    Operation::CreateDir,
                    Cause::Invalid(
                        "a symbolic link is in the way: a directory is not copied into \
                         where it points"
                            .to_string(),
                    ),
                )),
                _ => Err(Error::os(destination, Operation::CreateDir, err)),
            }
        }
        Err(err) => Err(Error::os(destination, Operation::CreateDir, err)),
    }
}

/// The mode of a directory the run makes, given as cp gives it. mkdir gets the
/// source's mode bits less those withheld while the directory fills: group and other
/// write, or with -p (whose owner is set only at the end) everything for the group and
/// others. The kernel then applies the umask, or the parent's default ACL instead, and
/// the parent's setgid, as for any mkdir; at the end the withheld bits the umask allows
/// are given back. (Made private and chmod'ed to the source's bits less the umask, a
/// copy lost a parent's setgid and a sticky bit, and was readable by others where a
/// default ACL said not.)
// Off Unix mkdir takes no mode and nothing is settled.
#[cfg_attr(not(unix), allow(dead_code))]
struct DirectoryMode {
    /// What mkdir is asked for.
    mkdir: u32,
    /// Withheld until the end.
    withheld: u32,
    /// --no-preserve=mode: read, write and search for all less the umask at the end,
    /// whatever mkdir gave (its special bits stay, as with cp).
    default: bool,
}

impl DirectoryMode {
    fn new(source: Option<&std::fs::Metadata>, options: &engine::CopyOptions) -> Self {
        let bits = match source {
            Some(metadata) if metadata.is_dir() => mode_bits(metadata),
            // A parent made for --files-from, whose source is a file.
            _ => 0o777,
        };
        let withheld = bits
            & if options.preserve.ownership {
                0o077
            } else {
                0o022
            };
        DirectoryMode {
            mkdir: bits & !withheld,
            withheld,
            default: options.default_mode,
        }
    }

    /// Looks at what mkdir made of `made` and says what it gets at the end, if
    /// anything. A directory its owner cannot search and write is opened up for the
    /// copy meanwhile (cp does too), and closed again at the end.
    #[cfg(unix)]
    fn settle(&self, made: &Path) -> Result<Settled, Error> {
        let umask = crate::atomic::umask();
        let stat = crate::at::file(made, crate::at::lstat)
            .map_err(|err| Error::os(made, Operation::SetMetadata, err))?;
        let identity = crate::at::identity(&stat);
        // (mode_t is a u16 on macOS.)
        #[allow(clippy::useless_conversion)]
        let given = u32::from(stat.st_mode) & 0o7777;
        let owner_locked_out = given & 0o700 != 0o700;
        if owner_locked_out {
            open_copy_directory(made, identity).and_then(|copy| {
                set_mode(&copy, given | 0o700)
                    .map_err(|err| Error::os(made, Operation::SetMetadata, err))
            })?;
        }
        let given_back = self.withheld & !umask;
        let end_mode = if self.default {
            Some(given & 0o7000 | 0o777 & !umask)
        } else if owner_locked_out || given_back & !given != 0 {
            Some(given | given_back)
        } else {
            None
        };
        Ok(Settled {
            made: true,
            end_mode,
            identity,
        })
    }

    #[cfg(not(unix))]
    fn settle(&self, _made: &Path) -> Result<Settled, Error> {
        Ok(Settled {
            made: true,
            end_mode: None,
            identity: (0, 0),
        })
    }
}

#[cfg(unix)]
fn mode_bits(metadata: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn mode_bits(_metadata: &std::fs::Metadata) -> u32 {
    0o777
}

/// A directory the run made or found, and what it is to get at the end.
struct MadeDirectory {
    source: PathBuf,
    destination: PathBuf,
    /// The source's (device, inode) when the copy was made.
    identity: Option<(u64, u64)>,
    /// The copy: made or found, its mode at the end, its (device, inode).
    copy: Settled,
}

/// Opens the directory copy at `made_at` to change its attributes, if it is still the
/// directory `identity` (device, inode) the run made or found: its name may name
/// something else by now, such as a symlink to a directory nothing must go to.
#[cfg(unix)]
fn open_copy_directory(made_at: &Path, identity: (u64, u64)) -> Result<std::fs::File, Error> {
    crate::at::open_same_directory(made_at, identity)
        .map_err(|err| Error::os(made_at, Operation::SetMetadata, err))
}

#[cfg(not(unix))]
fn open_copy_directory(made_at: &Path, _identity: (u64, u64)) -> Result<std::fs::File, Error> {
    std::fs::File::open(made_at).map_err(|err| Error::os(made_at, Operation::SetMetadata, err))
}

#[cfg(unix)]
fn set_mode(directory: &std::fs::File, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    directory.set_permissions(std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_directory: &std::fs::File, _mode: u32) -> std::io::Result<()> {
    Ok(())
}
