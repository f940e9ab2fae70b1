//! Camera-card offload around a batch: `--mhl` (check a source's ASC MHL history
//! before the copy, record each copied folder in a new generation after it) and
//! `zcopy verify` (check folders against their histories).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{shown, Cause, Error, Operation};
use crate::hash::Algorithm;
use crate::mhl::{self, verify::FolderResult, History, RecordOptions};
use crate::output;
use crate::plan::Entry;
use crate::report::{Endpoints, ErrorRecord, Painter, Report, SkipRecord};

/// A folder of the plan copied as a whole: the history goes into `destination`.
#[derive(Debug, Clone)]
pub struct Root {
    /// The folder copied.
    pub source: PathBuf,
    /// Its copy.
    pub destination: PathBuf,
}

/// The folders of a plan that are not inside another copied folder.
pub fn roots(entries: &[Entry]) -> Vec<Root> {
    let destinations: std::collections::HashSet<&Path> = entries
        .iter()
        .filter_map(|entry| match entry {
            Entry::Dir { destination, .. } => Some(destination.as_path()),
            _ => None,
        })
        .collect();
    entries
        .iter()
        .filter_map(|entry| match entry {
            Entry::Dir {
                source,
                destination,
                ..
            } if !destination
                .parent()
                .is_some_and(|parent| destinations.contains(parent)) =>
            {
                Some(Root {
                    source: source.clone(),
                    destination: destination.clone(),
                })
            }
            _ => None,
        })
        .collect()
}

/// Before an `--mhl` copy: each source folder with a history is checked against it
/// (a card offloaded before, a shuttle drive), and its `ascmhl/` folder is left out of
/// the plan: the history is carried over when the new generation is written, so that an
/// existing history at the destination is extended, never overwritten. Returns the
/// plan, or the problems found, each with the source folder it was found in (then
/// nothing is copied).
pub fn prepare(
    entries: Vec<Entry>,
    roots: &[Root],
    jobs: usize,
    interrupted: &(dyn Fn() -> bool + Sync),
    note: &dyn Fn(&str),
) -> Result<Vec<Entry>, Vec<(PathBuf, String)>> {
    let mut problems = Vec::new();
    // Every history in a copied folder, a subfolder's too (a card with a history per
    // clip folder): each outermost one is checked, and its check covers the histories
    // below it. With several destinations each source folder is a root once per
    // destination: it is checked once.
    let mut with_history: Vec<&Path> = entries
        .iter()
        .filter_map(|entry| match entry {
            Entry::Dir { source, .. }
                if roots.iter().any(|root| source.starts_with(&root.source))
                    && History::exists(source) =>
            {
                Some(source.as_path())
            }
            _ => None,
        })
        .collect();
    with_history.sort();
    with_history.dedup();
    let outermost: Vec<&Path> = with_history
        .iter()
        .copied()
        .filter(|folder| {
            !with_history
                .iter()
                .any(|other| other != folder && folder.starts_with(other))
        })
        .collect();
    for source in outermost {
        let result =
            mhl::verify::Plan::new(source).map(|plan| plan.run(jobs, interrupted, &|_| {}));
        match result {
            Ok(result) if result.ok() => note(&format!(
                "source checked against its ASC MHL history: {}",
                result.summary()
            )),
            Ok(result) => problems.extend(
                describe_problems(&result)
                    .into_iter()
                    .map(|problem| (source.to_path_buf(), problem)),
            ),
            Err(error) => problems.push((source.to_path_buf(), error.to_string())),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let histories: Vec<PathBuf> = roots
        .iter()
        .map(|root| root.source.join(mhl::FOLDER))
        .filter(|folder| folder.is_dir())
        .collect();
    Ok(entries
        .into_iter()
        .filter(|entry| {
            let source = match entry {
                Entry::File(job) => &job.source,
                Entry::Dir { source, .. }
                | Entry::Symlink { source, .. }
                | Entry::Link { source, .. }
                | Entry::Special { source, .. }
                | Entry::Failed { source, .. } => source,
            };
            !histories.iter().any(|folder| source.starts_with(folder))
        })
        .collect())
}

/// Before an `--mhl` copy into folders that already have a history (a card offloaded
/// there before): each source file that such a history records is hashed in every
/// algorithm the history recorded for it, and one that no longer has the recorded hash
/// (bit rot on the card, a changed clip) becomes a failure for that destination. The
/// history was checked after the copy only, when the copy had already replaced the
/// good, recorded one; now that copy stays as it was. Only re-offloads read more.
pub fn keep_recorded_copies(
    entries: Vec<Entry>,
    roots: &[Root],
    jobs: usize,
    interrupted: &(dyn Fn() -> bool + Sync),
) -> Vec<Entry> {
    // For each file of the plan recorded at its destination: the plan index, the
    // recorded entries, the destination's folder and the file's path in its history.
    let mut recorded: Vec<(usize, Vec<mhl::HashEntry>, PathBuf, String)> = Vec::new();
    for root in roots
        .iter()
        .filter(|root| History::exists(&root.destination))
    {
        // An unreadable history fails when the generation is written, as before.
        let Ok(history) = History::load(&root.destination) else {
            continue;
        };
        let records = history.records();
        for (index, entry) in entries.iter().enumerate() {
            let Entry::File(job) = entry else { continue };
            let Some(relative) = crate::plan::below(&job.destination, &root.destination)
                .and_then(|relative| relative.to_str())
            else {
                continue;
            };
            if let Some(hashes) = records.get(relative) {
                recorded.push((
                    index,
                    hashes.clone(),
                    root.destination.clone(),
                    relative.to_string(),
                ));
            }
        }
    }
    if recorded.is_empty() {
        return entries;
    }
    // Each source read once, in every algorithm any destination recorded.
    let mut files: Vec<(PathBuf, Vec<Algorithm>)> = Vec::new();
    let mut positions: HashMap<PathBuf, usize> = HashMap::new();
    for (index, hashes, _, _) in &recorded {
        let Entry::File(job) = &entries[*index] else {
            unreachable!("only files are recorded")
        };
        let position = *positions.entry(job.source.clone()).or_insert_with(|| {
            files.push((job.source.clone(), Vec::new()));
            files.len() - 1
        });
        for hash in hashes {
            if !files[position].1.contains(&hash.algorithm) {
                files[position].1.push(hash.algorithm);
            }
        }
    }
    let hashed = mhl::hash_files(&files, jobs, interrupted, &|_| {});
    let mut refused: HashMap<usize, Error> = HashMap::new();
    for (index, hashes, destination_root, relative) in recorded {
        let Entry::File(job) = &entries[index] else {
            unreachable!("only files are recorded")
        };
        // A source that cannot be read fails in the copy itself.
        let Ok(actual) = &hashed[positions[&job.source]] else {
            continue;
        };
        let differing = hashes.iter().find_map(|entry| {
            actual
                .iter()
                .find(|(algorithm, hash)| {
                    *algorithm == entry.algorithm && !hash.eq_ignore_ascii_case(&entry.hash)
                })
                .map(|(_, hash)| (entry, hash))
        });
        if let Some((entry, hash)) = differing {
            refused.entry(index).or_insert_with(|| {
                Error::new(
                    &job.source,
                    Operation::Mhl,
                    Cause::Invalid(format!(
                        "{} is {hash}, but the ASC MHL history of {} recorded {} for {relative}: not copied over the recorded copy",
                        entry.algorithm,
                        shown(&destination_root),
                        entry.hash
                    )),
                )
            });
        }
    }
    entries
        .into_iter()
        .enumerate()
        .map(|(index, entry)| match (refused.remove(&index), entry) {
            (Some(error), Entry::File(job)) => Entry::Failed {
                source: job.source,
                destination: Some(job.destination),
                error,
            },
            (_, entry) => entry,
        })
        .collect()
}

/// What `--resume` left out of a plan.
pub struct Resumed {
    /// The plan without the files already there.
    pub entries: Vec<Entry>,
    /// The files left out, as skipped.
    pub skipped: Vec<SkipRecord>,
    /// Their hashes (with `--hash`), by destination, for the ASC MHL generation.
    pub hashes: HashMap<PathBuf, String>,
}

/// Reason given for a file `--resume` found already copied.
const RESUMED: &str = "already copied: same size and modification time (--resume)";
/// The same, with the hashes compared.
const RESUMED_HASHED: &str = "already copied: same size, modification time and hash (--resume)";

/// `--resume`: leaves out of the plan each file whose destination is a regular file
/// (not a symlink, not the source's own inode) with the source's size and modification time (to the nanosecond the filesystem keeps;
/// a coarser one, like FAT's, means a new copy) and, given an algorithm, the source's
/// hash: both files are read, on `jobs` threads. Anything else is copied again.
pub fn resume(
    entries: Vec<Entry>,
    algorithm: Option<Algorithm>,
    jobs: usize,
    interrupted: &(dyn Fn() -> bool + Sync),
) -> Resumed {
    let same_size_and_time = |job: &crate::plan::Job| {
        // The destination by lstat: a symlink (to the source, say) is no copy, and
        // neither is the source itself under another name (a hard link, a symlinked
        // folder). Both go through the normal copy, which replaces the link or
        // refuses the same file as cp does.
        let (Ok(source), Ok(destination)) = (
            std::fs::metadata(&job.source),
            std::fs::symlink_metadata(&job.destination),
        ) else {
            return false;
        };
        destination.is_file()
            && !same_inode(&source, &destination)
            && source.len() == destination.len()
            && matches!((source.modified(), destination.modified()), (Ok(a), Ok(b)) if a == b)
    };
    let candidates: Vec<usize> = entries
        .iter()
        .enumerate()
        .filter(|(_, entry)| matches!(entry, Entry::File(job) if same_size_and_time(job)))
        .map(|(index, _)| index)
        .collect();
    let mut done: HashMap<usize, Option<String>> = HashMap::new();
    match algorithm {
        None => done.extend(candidates.into_iter().map(|index| (index, None))),
        Some(algorithm) => {
            // Each file to hash once: with several destinations a source is the
            // source of a candidate per destination.
            let mut files: Vec<(PathBuf, Vec<Algorithm>)> = Vec::new();
            let mut positions: HashMap<PathBuf, usize> = HashMap::new();
            let mut position_of = |path: &Path| {
                *positions.entry(path.to_path_buf()).or_insert_with(|| {
                    files.push((path.to_path_buf(), vec![algorithm]));
                    files.len() - 1
                })
            };
            let pairs: Vec<(usize, usize, usize)> = candidates
                .iter()
                .map(|&index| {
                    let Entry::File(job) = &entries[index] else {
                        unreachable!("only files are candidates")
                    };
                    (
                        index,
                        position_of(&job.source),
                        position_of(&job.destination),
                    )
                })
                .collect();
            let hashes = mhl::hash_files(&files, jobs, interrupted, &|_| {});
            for (index, source, destination) in pairs {
                if let (Ok(source), Ok(destination)) = (&hashes[source], &hashes[destination]) {
                    if source == destination {
                        done.insert(index, Some(source[0].1.clone()));
                    }
                }
            }
        }
    }
    let mut resumed = Resumed {
        entries: Vec::new(),
        skipped: Vec::new(),
        hashes: HashMap::new(),
    };
    for (index, entry) in entries.into_iter().enumerate() {
        match (done.remove(&index), entry) {
            (Some(hash), Entry::File(job)) => {
                resumed.skipped.push(SkipRecord {
                    paths: Endpoints::new(&job.source, Some(&job.destination)),
                    reason: if hash.is_some() {
                        RESUMED_HASHED
                    } else {
                        RESUMED
                    },
                });
                if let Some(hash) = hash {
                    resumed.hashes.insert(job.destination, hash);
                }
            }
            (_, entry) => resumed.entries.push(entry),
        }
    }
    resumed
}

/// Whether two files are one (same device and inode).
#[cfg(unix)]
fn same_inode(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

/// Without inode numbers two files cannot be told apart as one: the copy path checks.
#[cfg(not(unix))]
fn same_inode(_a: &std::fs::Metadata, _b: &std::fs::Metadata) -> bool {
    false
}

/// One line per problem of a checked folder.
pub fn describe_problems(result: &FolderResult) -> Vec<String> {
    let root = Path::new(&result.root);
    let mut lines = Vec::new();
    for mismatch in &result.mismatched {
        lines.push(format!(
            "{}: verify: {} mismatch: the history recorded {}, the file has {}",
            shown(&root.join(&mismatch.path)),
            mismatch.algorithm,
            mismatch.recorded,
            mismatch.actual
        ));
    }
    for missing in &result.missing {
        lines.push(format!(
            "{}: verify: recorded in the history, but missing",
            shown(&root.join(missing))
        ));
    }
    lines.extend(result.errors.iter().cloned());
    lines
}

/// After an `--mhl` copy: a new generation in each copied folder whose files all
/// copied, with the hashes read back from the copies (no file is read again unless its
/// hash is unknown; `known` adds hashes found otherwise, by destination). A folder
/// with failed files gets no generation and an error, and so does one where a file
/// kept by `-n`, `-u` or `-i` differs from its source (each such file an error).
pub fn finish(
    roots: &[Root],
    report: &mut Report,
    algorithm: Algorithm,
    mut known: HashMap<PathBuf, String>,
    jobs: usize,
    interrupted: &(dyn Fn() -> bool + Sync),
) {
    report.mhl.get_or_insert_with(Vec::new);
    if report.interrupted {
        return;
    }
    let copied: Vec<(PathBuf, String)> = report
        .files
        .iter()
        .filter_map(|file| {
            let destination = PathBuf::from(file.paths.destination.as_ref()?);
            let hash = file.hashes.get(algorithm.name())?;
            Some((destination, hash.clone()))
        })
        .collect();
    known.extend(copied);
    let kept = kept_sources(roots, report, algorithm, &known, jobs, interrupted);
    if interrupted() {
        report.interrupted = true;
        return;
    }
    for (index, root) in roots.iter().enumerate() {
        // After Ctrl-C or SIGTERM no generation is begun: the run ends with 130, each
        // folder left without one named.
        if interrupted() {
            report.interrupted = true;
            for root in &roots[index..] {
                push_not_written(report, root, "interrupted");
            }
            break;
        }
        let failed = report
            .errors
            .iter()
            .filter(|error| {
                error.paths.destination.as_ref().is_some_and(|destination| {
                    Path::new(destination).starts_with(&root.destination)
                })
            })
            .count();
        if failed > 0 {
            let error = Error::new(
                &root.destination,
                Operation::Mhl,
                Cause::Invalid(format!(
                    "no ASC MHL generation written: {failed} file{} of this folder failed",
                    if failed == 1 { "" } else { "s" }
                )),
            );
            report.errors.push(ErrorRecord::new(
                &root.source,
                Some(&root.destination),
                &error,
            ));
            continue;
        }
        let options = RecordOptions {
            algorithm,
            known: &known,
            process: "transfer",
            carry_from: Some(&root.source),
            kept: &kept,
            jobs,
            interrupted,
        };
        match mhl::record_generation(&root.destination, &options) {
            Ok((recorded, problems)) => {
                for problem in problems {
                    report.errors.push(ErrorRecord::new(
                        &root.source,
                        Some(&problem.path),
                        &problem,
                    ));
                }
                match recorded {
                    Some(recorded) => report.mhl.get_or_insert_with(Vec::new).push(recorded),
                    None => {
                        let error = Error::new(
                            &root.destination,
                            Operation::Mhl,
                            Cause::Invalid(
                                "no ASC MHL generation written: a file this run did not copy (-n, -u, -i) differs from its source"
                                    .to_string(),
                            ),
                        );
                        report.errors.push(ErrorRecord::new(
                            &root.source,
                            Some(&root.destination),
                            &error,
                        ));
                    }
                }
            }
            Err(error) if error.is_interrupted() => {
                report.interrupted = true;
                push_not_written(report, root, "interrupted");
            }
            Err(error) => report.errors.push(ErrorRecord::new(
                &root.source,
                Some(&root.destination),
                &error,
            )),
        }
    }
    // A generation completed while the signal came: the run still ends as interrupted.
    report.interrupted |= interrupted();
}

/// Records that `root` got no generation, and why.
fn push_not_written(report: &mut Report, root: &Root, why: &str) {
    let error = Error::new(
        &root.destination,
        Operation::Mhl,
        Cause::Invalid(format!("{why}: no ASC MHL generation written")),
    );
    report.errors.push(ErrorRecord::new(
        &root.source,
        Some(&root.destination),
        &error,
    ));
}

/// The files of the copied folders that the batch skipped (kept by `-n`, `-u`, `-i`)
/// and whose hash is not known otherwise (`--resume` hashed both sides), each with its
/// source's hash: a kept file goes into the generation only if it has that hash.
fn kept_sources(
    roots: &[Root],
    report: &Report,
    algorithm: Algorithm,
    known: &HashMap<PathBuf, String>,
    jobs: usize,
    interrupted: &(dyn Fn() -> bool + Sync),
) -> HashMap<PathBuf, mhl::Kept> {
    let mut kept = HashMap::new();
    let mut to_hash: Vec<(PathBuf, Vec<Algorithm>)> = Vec::new();
    let mut waiting: Vec<(PathBuf, &'static str)> = Vec::new();
    for skipped in &report.skipped {
        let Some(destination) = skipped.paths.destination_path() else {
            continue;
        };
        if known.contains_key(&destination)
            || !roots
                .iter()
                .any(|root| destination.starts_with(&root.destination))
        {
            continue;
        }
        let source = source_path(&skipped.paths);
        // Only a regular file is read: a FIFO or device would block or never end.
        if std::fs::metadata(&source).is_ok_and(|metadata| metadata.is_file()) {
            to_hash.push((source, vec![algorithm]));
            waiting.push((destination, skipped.reason));
        } else {
            kept.insert(
                destination,
                mhl::Kept {
                    reason: skipped.reason,
                    source_hash: Err("it is not a regular file".to_string()),
                },
            );
        }
    }
    let hashes = mhl::hash_files(&to_hash, jobs, interrupted, &|_| {});
    for ((destination, reason), hash) in waiting.into_iter().zip(hashes) {
        let source_hash = hash
            .map(|hashes| hashes[0].1.clone())
            .map_err(|error| error.to_string());
        kept.insert(
            destination,
            mhl::Kept {
                reason,
                source_hash,
            },
        );
    }
    kept
}

/// A record's source as a path again: exactly, from its base64 form when the text
/// could not show it.
fn source_path(paths: &Endpoints) -> PathBuf {
    #[cfg(unix)]
    if let Some(encoded) = &paths.source_base64 {
        use base64::Engine;
        use std::os::unix::ffi::OsStrExt;
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(encoded) {
            return std::ffi::OsStr::from_bytes(&bytes).into();
        }
    }
    PathBuf::from(&paths.source)
}

/// `zcopy verify`: checks each folder against its history, one folder after the other,
/// its files on `jobs` threads; `progress` gets the total bytes first, then bytes read.
pub fn verify_folders(
    folders: &[PathBuf],
    jobs: usize,
    interrupted: &(dyn Fn() -> bool + Sync),
    set_total: &dyn Fn(u64),
    progress: &(dyn Fn(u64) + Sync),
) -> Vec<Result<FolderResult, Error>> {
    let plans: Vec<Result<mhl::verify::Plan, Error>> = folders
        .iter()
        .map(|folder| mhl::verify::Plan::new(folder))
        .collect();
    set_total(plans.iter().flatten().map(|plan| plan.bytes()).sum());
    plans
        .into_iter()
        .map(|plan| plan.map(|plan| plan.run(jobs, interrupted, progress)))
        .collect()
}

/// What an offload adds to a batch.
#[derive(Debug, Clone, Copy, Default)]
pub struct Offload {
    /// Check sources against their ASC MHL histories, and record each copied folder
    /// in a new generation (`--mhl`; needs `batch.options.hash`).
    pub mhl: bool,
    /// Leave out the files already copied (`--resume`).
    pub resume: bool,
    /// No summary lines or warnings on stderr (`-q`).
    pub quiet: bool,
}

/// What [`run`] did.
#[derive(Debug)]
pub enum Outcome {
    /// The batch ran: its report, generations included.
    Ran(Report),
    /// A source did not match its ASC MHL history, or its check was interrupted
    /// (then `interrupted` is set): nothing was copied. The report has
    /// the problems as errors, already printed on stderr (and in `--json-lines`); it is
    /// for `--json` and the final `--json-lines` line only.
    Refused(Report),
}

/// Runs a batch with `--mhl` and `--resume` around it: checks the sources against
/// their histories (and copies nothing when one does not match), leaves out what is
/// already copied, copies, records the generations, and prints what it did on stderr
/// (and in `--json-lines`). Returns the report for the caller to print.
pub fn run(mut entries: Vec<Entry>, batch: &crate::Batch, offload: Offload) -> Outcome {
    use crate::report::Format;
    let painter = &batch.painter;
    let jobs = batch.jobs.max(1);
    let interrupted = &crate::interrupt::requested;
    let mhl = offload.mhl && batch.options.hash.is_some();
    let mhl_roots = if mhl { roots(&entries) } else { Vec::new() };
    if mhl {
        if mhl_roots.is_empty() && !offload.quiet {
            output::stderr_line(
                &painter.warning("--mhl records copied folders, and no folder is copied (-r?)"),
            );
        }
        let note = |line: &str| {
            if batch.list {
                output::stderr_line(&format!("zcopy: {line}"));
            }
        };
        match prepare(entries, &mhl_roots, jobs, interrupted, &note) {
            Ok(kept) => entries = keep_recorded_copies(kept, &mhl_roots, jobs, interrupted),
            Err(problems) => {
                let mut errors = Vec::new();
                for (source, problem) in problems {
                    output::stderr_line(&painter.error(&problem));
                    let record = ErrorRecord {
                        paths: Endpoints::new(&source, None),
                        operation: Operation::Verify,
                        error: problem,
                        errno: None,
                    };
                    if batch.format == Format::JsonLines {
                        output::stdout_line(&crate::report::json_line("error", &record));
                    }
                    errors.push(record);
                }
                // Ctrl-C or SIGTERM during the check: the files it did not finish are
                // the problems, not a source that differs from its history.
                let stopped = interrupted();
                output::stderr_line(&painter.error(if stopped {
                    "interrupted while a source was checked against its ASC MHL history; nothing copied"
                } else {
                    "a source does not match its ASC MHL history; nothing copied"
                }));
                return Outcome::Refused(Report {
                    version: crate::report::JSON_VERSION,
                    files: Vec::new(),
                    errors,
                    skipped: Vec::new(),
                    mhl: Some(Vec::new()),
                    interrupted: stopped,
                    destination_roots: batch
                        .destinations
                        .iter()
                        .map(|root| crate::report::path_text(root))
                        .collect(),
                    stats: crate::stats::Stats::default().snapshot(Default::default()),
                    counts: Default::default(),
                });
            }
        }
    }
    let mut resumed_hashes = HashMap::new();
    let mut resumed_skips = Vec::new();
    if offload.resume {
        if !batch.options.preserve.timestamps && !offload.quiet {
            output::stderr_line(&painter.warning(
                "--resume compares modification times, which copies keep only with -p or -a",
            ));
        }
        let resumed = resume(entries, batch.options.hash, jobs, interrupted);
        entries = resumed.entries;
        resumed_hashes = resumed.hashes;
        resumed_skips = resumed.skipped;
        if batch.list || (batch.format == Format::Summary && !offload.quiet) {
            output::stderr_line(&format!(
                "zcopy: --resume: {} file{} already copied, skipped",
                resumed_skips.len(),
                if resumed_skips.len() == 1 { "" } else { "s" }
            ));
        }
    }
    let mut report = crate::batch::run(entries, batch);
    for mut skipped in resumed_skips {
        skipped.paths.destination_root = skipped
            .paths
            .destination
            .as_deref()
            .and_then(|destination| crate::batch::destination_root(batch, Path::new(destination)))
            .map(crate::report::path_text);
        report.skipped.push(skipped);
    }
    if let (true, Some(algorithm)) = (mhl, batch.options.hash) {
        let before = report.errors.len();
        finish(
            &mhl_roots,
            &mut report,
            algorithm,
            resumed_hashes,
            jobs,
            interrupted,
        );
        for error in &mut report.errors[before..] {
            error.paths.destination_root = error
                .paths
                .destination
                .as_deref()
                .and_then(|destination| {
                    crate::batch::destination_root(batch, Path::new(destination))
                })
                .map(crate::report::path_text);
            output::stderr_line(&painter.error(&error.error));
            if batch.format == Format::JsonLines {
                output::stdout_line(&crate::report::json_line("error", error));
            }
        }
        if batch.format == Format::JsonLines {
            for recorded in report.mhl.iter().flatten() {
                output::stdout_line(&crate::report::json_line("mhl", recorded));
            }
        }
        if batch.format == Format::Summary && !offload.quiet {
            for recorded in report.mhl.iter().flatten() {
                output::stderr_line(&format!(
                    "zcopy: {}: ASC MHL generation {}, {} files{}",
                    shown(Path::new(&recorded.generation)),
                    recorded.sequence,
                    recorded.files,
                    if recorded.carried > 0 {
                        format!(", after {} carried from the source", recorded.carried)
                    } else {
                        String::new()
                    }
                ));
            }
        }
    }
    Outcome::Ran(report)
}

/// What `zcopy verify` prints.
#[derive(Debug, Clone, Copy)]
pub struct Show {
    /// One JSON document on stdout instead of the problems and summaries.
    pub json: bool,
    /// Every file with its result, not only the problems.
    pub verbose: bool,
    /// No summaries (problems are still printed).
    pub quiet: bool,
}

/// `zcopy verify DIR...`: each folder against its ASC MHL history, with a progress bar
/// on a terminal; returns the exit status: 1 on any mismatched, missing or unreadable
/// file or a folder without a usable history, 130 when interrupted. Call
/// [`crate::interrupt::install`] first for Ctrl-C to stop it.
pub fn verify_command(directories: &[PathBuf], jobs: usize, show: Show, painter: &Painter) -> u8 {
    use std::io::IsTerminal;
    let Show {
        json,
        verbose,
        quiet,
    } = show;
    let bar = if !json && !quiet && std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(0)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "verify {bar:30} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        )
        .expect("a valid template"),
    );
    let results = verify_folders(
        directories,
        jobs,
        &crate::interrupt::requested,
        &|total| bar.set_length(total),
        &|bytes| bar.inc(bytes),
    );
    bar.finish_and_clear();
    if crate::interrupt::requested() {
        output::stderr_line(&painter.error("interrupted"));
        return 130;
    }
    let mut failed = false;
    let mut folders = Vec::new();
    for (directory, result) in directories.iter().zip(results) {
        match result {
            Ok(result) => {
                failed |= !result.ok();
                if !json {
                    for line in describe_problems(&result) {
                        output::stderr_line(&painter.error(&line));
                    }
                    if verbose {
                        for path in &result.verified_paths {
                            output::stderr_line(&format!(
                                "zcopy: {}: verified",
                                shown(&directory.join(path))
                            ));
                        }
                        for path in &result.new {
                            output::stderr_line(&format!(
                                "zcopy: {}: new (not in the history)",
                                shown(&directory.join(path))
                            ));
                        }
                    }
                    if !quiet {
                        output::stderr_line(&result.summary());
                    }
                }
                folders.push(serde_json::to_value(&result).expect("serializes"));
            }
            Err(error) => {
                failed = true;
                if !json {
                    output::stderr_line(&painter.error(&error.to_string()));
                }
                folders.push(serde_json::json!({
                    "root": directory.display().to_string(),
                    "error": error.to_string(),
                }));
            }
        }
    }
    if json {
        let document = serde_json::json!({ "ok": !failed, "folders": folders });
        output::stdout_line(&serde_json::to_string_pretty(&document).expect("serializes"));
    }
    u8::from(failed)
}
