//! Writing a new generation of a folder's history: every file hashed (or its hash
//! taken from the copy's read-back), checked against what earlier generations
//! recorded, directory hashes, the generation file and the extended chain.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{
    directory_hashes, format_date, format_hash_date, generation_file_name, hash_files, invalid,
    walk, Action, ChainEntry, DirectoryHash, FileHash, Generation, HashEntry, History, Ignore,
    Item, Node, CHAIN_FILE, FOLDER,
};
use crate::error::{Context, Error, Operation};
use crate::hash::Algorithm;

/// What to record.
pub struct RecordOptions<'a> {
    /// The algorithm of the new hashes and of the directory hashes.
    pub algorithm: Algorithm,
    /// Hashes already known in `algorithm`, by full path (a copy's read-back): these
    /// files are not read again.
    pub known: &'a HashMap<PathBuf, String>,
    /// `transfer` for a copy, `in-place` for a folder hashed where it is.
    pub process: &'a str,
    /// The folder copied from: its history, if it has one, travels with the copy.
    pub carry_from: Option<&'a Path>,
    /// Files of the folder that this run did not write (kept by `-n`, `-u`, `-i`), by
    /// full path: each is recorded only if it has its source's hash.
    pub kept: &'a HashMap<PathBuf, Kept>,
    /// Files hashed at once.
    pub jobs: usize,
    /// Asked between reads.
    pub interrupted: &'a (dyn Fn() -> bool + Sync),
}

/// A file the copy left as it found it, and its source's hash in the generation's
/// algorithm, or why the source could not be hashed.
#[derive(Debug, Clone)]
pub struct Kept {
    /// Why it was kept (the skip's reason).
    pub reason: &'static str,
    /// The source's hash.
    pub source_hash: Result<String, String>,
}

/// A generation written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Recorded {
    /// The folder recorded.
    pub root: String,
    /// The generation file written.
    pub generation: String,
    /// Its number.
    pub sequence: u32,
    /// Files it lists.
    pub files: usize,
    /// Generations brought along from the source's history.
    pub carried: usize,
}

fn host_name() -> String {
    #[cfg(unix)]
    {
        nix::unistd::gethostname()
            .ok()
            .and_then(|name| name.into_string().ok())
            .unwrap_or_else(|| "unknown".to_string())
    }
    #[cfg(not(unix))]
    {
        std::env::var("COMPUTERNAME").unwrap_or_else(|_| "unknown".to_string())
    }
}

/// What a generation's write has made so far, undone on drop unless [`Undo::keep`] was
/// called: a write that fails (a full disk, an interruption, an error reading a file)
/// leaves the history as it was before the run, not half a history that every later
/// run and the reference implementation refuse.
#[derive(Default)]
struct Undo {
    /// The `ascmhl/` folder, when this run created it.
    folder: Option<PathBuf>,
    /// Files this run created there (none existed under those names).
    files: Vec<PathBuf>,
    kept: bool,
}

impl Undo {
    /// Creates the history folder `folder` if it is missing, remembering that it did.
    fn create_folder(&mut self, folder: &Path) -> Result<(), Error> {
        if std::fs::symlink_metadata(folder).is_err() {
            std::fs::create_dir_all(folder).op(folder, Operation::CreateDir)?;
            self.folder = Some(folder.to_path_buf());
        }
        Ok(())
    }

    /// Writes a file that must not exist yet (see [`write_file`]), to be removed on undo.
    fn write_new_file(&mut self, path: &Path, bytes: &[u8]) -> Result<(), Error> {
        write_file(path, bytes, false)?;
        self.files.push(path.to_path_buf());
        Ok(())
    }

    /// The write is complete: nothing is undone.
    fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        for file in self.files.iter().rev() {
            let _ = std::fs::remove_file(file);
        }
        // Only when empty: ENOTEMPTY keeps whatever someone else put there.
        let removed = self
            .folder
            .as_deref()
            .filter(|folder| std::fs::remove_dir(folder).is_ok());
        // The removals made durable, as the writes were: a crash must not bring back a
        // generation without its chain.
        let changed = match removed {
            Some(folder) => folder.parent(),
            None => self.files.first().and_then(|file| file.parent()),
        };
        if let Some(Ok(directory)) = changed.map(std::fs::File::open) {
            let _ = directory.sync_all();
        }
    }
}

/// Writes `bytes` to `path`, which must not exist yet unless `replace`: through a
/// temporary file in the same folder, fsynced, then renamed into place, so a reader
/// never sees half a file. The temporary file is named as zcopy's others
/// (`.NAME.XXXXXX.zcopy-tmp`) and held while it exists, so that `zcopy --clean` removes
/// one a killed run left and leaves one a running zcopy writes.
fn write_file(path: &Path, bytes: &[u8], replace: bool) -> Result<(), Error> {
    if !replace && std::fs::symlink_metadata(path).is_ok() {
        return Err(invalid(
            path,
            "exists already; a generation is never rewritten",
        ));
    }
    let folder = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default();
    // make_in (not tempfile_in): our own open, whose errors keep their errno (ENOSPC,
    // EACCES); tempfile's own open and its Write wrap them in a type that hides it.
    let temporary = tempfile::Builder::new()
        .prefix(&crate::atomic::temp_prefix(name))
        .suffix(crate::atomic::TEMP_SUFFIX)
        .rand_bytes(6)
        .make_in(folder, |temporary| {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            // Created as any new file is (0666 less the umask, as `ascmhl create`
            // does), not with tempfile's 0600: others must be able to verify.
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o666);
            }
            options.open(temporary)
        })
        .op(folder, Operation::CreateTemp)?;
    let (mut file, temporary) = temporary.into_parts();
    crate::atomic::hold(&file);
    file.write_all(bytes).op(path, Operation::Write)?;
    file.sync_all().op(path, Operation::Fsync)?;
    temporary
        .persist(path)
        .map_err(|err| Error::os(path, Operation::Rename, err.error))?;
    if let Ok(directory) = std::fs::File::open(folder) {
        let _ = directory.sync_all();
    }
    Ok(())
}

/// Brings the history of `source` to `root`: into a folder without a history, its files
/// are copied (and their C4 ids checked against the chain); a folder with its own
/// history keeps it, and generations of the source it does not list are reported.
fn carry_history(
    source: &Path,
    root: &Path,
    undo: &mut Undo,
) -> Result<(usize, Vec<Error>), Error> {
    if !History::exists(source) {
        return Ok((0, Vec::new()));
    }
    let source_history = History::load(source)?;
    if History::exists(root) {
        let here = History::load(root)?;
        let known: HashSet<&str> = here.chain.iter().map(|entry| entry.c4.as_str()).collect();
        let foreign: Vec<String> = source_history
            .chain
            .iter()
            .filter(|entry| !known.contains(entry.c4.as_str()))
            .map(|entry| entry.path.clone())
            .collect();
        if foreign.is_empty() {
            return Ok((0, Vec::new()));
        }
        return Ok((
            0,
            vec![invalid(
                &root.join(FOLDER),
                format!(
                    "the destination has its own history, which lacks generations of the source's ({}); they were not merged",
                    foreign
                        .iter()
                        .map(|name| crate::error::shown(Path::new(name)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )],
        ));
    }
    let folder = root.join(FOLDER);
    undo.create_folder(&folder)?;
    for entry in &source_history.chain {
        let from = source.join(FOLDER).join(&entry.path);
        let bytes = std::fs::read(&from).op(&from, Operation::Read)?;
        if Algorithm::C4.hash_bytes(&bytes) != entry.c4 {
            return Err(invalid(&from, "changed while it was carried over"));
        }
        undo.write_new_file(&folder.join(&entry.path), &bytes)?;
    }
    let chain = std::fs::read(source.join(FOLDER).join(CHAIN_FILE))
        .op(&source.join(FOLDER).join(CHAIN_FILE), Operation::Read)?;
    undo.write_new_file(&folder.join(CHAIN_FILE), &chain)?;
    Ok((source_history.chain.len(), Vec::new()))
}

/// Adds a generation to the history of `root` (creating the history if there is none).
/// Also returns the problems found: files that do not match the hash an earlier
/// generation recorded (recorded as `failed`), files missing, histories not merged.
/// A kept file (`options.kept`) without its source's hash is a problem too, and then
/// no generation is written (`None`): it would claim the file as transferred.
///
/// Without a generation (an error, an interruption, `None`) the history is left as it
/// was: what this call carried over or wrote is removed again. An interruption before
/// the generation file is written stops it (`Cause::Interrupted`); once that write has
/// begun, it and the chain's are completed (two small files, fsynced: milliseconds).
pub fn record_generation(
    root: &Path,
    options: &RecordOptions<'_>,
) -> Result<(Option<Recorded>, Vec<Error>), Error> {
    let mut undo = Undo::default();
    let result = record(root, options, &mut undo);
    if let Ok((Some(_), _)) = &result {
        undo.keep();
    }
    result
}

fn record(
    root: &Path,
    options: &RecordOptions<'_>,
    undo: &mut Undo,
) -> Result<(Option<Recorded>, Vec<Error>), Error> {
    let mut problems = Vec::new();
    let mut differing = Vec::new();
    let carried = match options.carry_from {
        Some(source) => {
            let (carried, mut found) = carry_history(source, root, undo)?;
            problems.append(&mut found);
            carried
        }
        None => 0,
    };
    let history = if History::exists(root) {
        History::load(root)?
    } else {
        History {
            root: root.to_path_buf(),
            ..History::default()
        }
    };
    let patterns = history.ignore_patterns();
    let ignore = Ignore::new(root, &patterns)?;
    let nodes = walk(root, &ignore)?;
    let records = history.records();
    let algorithm = options.algorithm;

    // Which files must be read: those whose hash is not known, and those with hashes
    // recorded in other algorithms, which are verified too.
    let mut needed: HashMap<String, Vec<Algorithm>> = HashMap::new();
    let mut to_read = Vec::new();
    let mut read_index: HashMap<String, usize> = HashMap::new();
    for node in &nodes {
        let Node::File { relative, path, .. } = node else {
            continue;
        };
        let mut algorithms = vec![algorithm];
        for entry in records.get(relative).into_iter().flatten() {
            if !algorithms.contains(&entry.algorithm) {
                algorithms.push(entry.algorithm);
            }
        }
        let unknown: Vec<Algorithm> = algorithms
            .iter()
            .copied()
            .filter(|&a| a != algorithm || !options.known.contains_key(path))
            .collect();
        if !unknown.is_empty() {
            read_index.insert(relative.clone(), to_read.len());
            to_read.push((path.clone(), unknown));
        }
        needed.insert(relative.clone(), algorithms);
    }
    let read = hash_files(&to_read, options.jobs, options.interrupted, &|_| {});
    let now = SystemTime::now();
    let hash_date = format_hash_date(now);

    let mut items = Vec::new();
    let mut file_hashes: HashMap<String, String> = HashMap::new();
    let mut root_hash = None;
    let mut listed = HashSet::new();
    let mut files = 0;
    for node in &nodes {
        match node {
            Node::File {
                relative,
                path,
                metadata,
            } => {
                let mut hashes: HashMap<Algorithm, String> = HashMap::new();
                if let Some(hash) = options.known.get(path) {
                    hashes.insert(algorithm, hash.clone());
                }
                if let Some(&index) = read_index.get(relative) {
                    match &read[index] {
                        Ok(computed) => hashes.extend(computed.iter().cloned()),
                        // hash_file's io::ErrorKind::Interrupted, or a file never started.
                        Err(err) if err.is_interrupted() || (options.interrupted)() => {
                            return Err(Error::new(
                                root,
                                Operation::Mhl,
                                crate::error::Cause::Interrupted,
                            ))
                        }
                        Err(err) => {
                            return Err(Error::new(
                                path,
                                Operation::Hash,
                                crate::error::Cause::Invalid(err.cause.to_string()),
                            ))
                        }
                    }
                }
                let recorded = records.get(relative);
                let mut entries = Vec::new();
                let mut earlier_verified = true;
                for &each in &needed[relative] {
                    let hash = hashes[&each].clone();
                    let previous =
                        recorded.and_then(|entries| entries.iter().find(|e| e.algorithm == each));
                    let action = match (recorded, previous) {
                        (None, _) => Action::Original,
                        (Some(_), Some(previous)) if previous.hash == hash => Action::Verified,
                        (Some(_), Some(previous)) => {
                            earlier_verified = false;
                            problems.push(invalid(
                                path,
                                format!(
                                    "{each} is {hash}, but the history recorded {}",
                                    previous.hash
                                ),
                            ));
                            Action::Failed
                        }
                        // A new algorithm for a recorded file counts as verified once
                        // the recorded ones are.
                        (Some(_), None) if earlier_verified => Action::Verified,
                        (Some(_), None) => Action::Failed,
                    };
                    entries.push(HashEntry {
                        algorithm: each,
                        hash,
                        action: Some(action),
                        hash_date: Some(hash_date.clone()),
                    });
                }
                if let Some(kept) = options.kept.get(path) {
                    let hash = &hashes[&algorithm];
                    match &kept.source_hash {
                        Ok(source_hash) if source_hash == hash => {}
                        Ok(source_hash) => differing.push(Error::new(
                            path,
                            Operation::Mhl,
                            crate::error::Cause::Invalid(format!(
                                "{}, but it differs from the source ({algorithm} {hash}, the source's {source_hash}): not recorded as a copy",
                                kept.reason
                            )),
                        )),
                        Err(why) => differing.push(Error::new(
                            path,
                            Operation::Mhl,
                            crate::error::Cause::Invalid(format!(
                                "{}, and the source could not be hashed to compare ({why}): not recorded as a copy",
                                kept.reason
                            )),
                        )),
                    }
                }
                file_hashes.insert(relative.clone(), hashes[&algorithm].clone());
                listed.insert(relative.clone());
                files += 1;
                items.push(Item::File(FileHash {
                    path: relative.clone(),
                    size: Some(metadata.len()),
                    last_modified: metadata.modified().ok().map(format_date),
                    hashes: entries,
                    previous_path: None,
                }));
            }
            Node::Directory { .. } => {}
        }
    }
    // Directory hashes need every file's hash: computed once all are known, and
    // placed where the reference puts them.
    let folders = directory_hashes(&nodes, &file_hashes, algorithm);
    let mut ordered = Vec::new();
    let mut files_iter = items.into_iter();
    for node in &nodes {
        match node {
            Node::File { .. } => ordered.push(files_iter.next().expect("one item per file")),
            Node::Directory {
                relative, metadata, ..
            } => {
                let (content, structure) = folders[relative].clone();
                let entry = |hash: String| {
                    vec![HashEntry {
                        algorithm,
                        hash,
                        action: None,
                        hash_date: Some(hash_date.clone()),
                    }]
                };
                let directory = DirectoryHash {
                    path: relative.clone(),
                    last_modified: metadata.modified().ok().map(format_date),
                    content: entry(content),
                    structure: entry(structure),
                };
                if relative.is_empty() {
                    root_hash = Some(DirectoryHash {
                        last_modified: None,
                        ..directory
                    });
                } else {
                    ordered.push(Item::Directory(directory));
                }
            }
        }
    }
    for path in records.keys() {
        if !listed.contains(path) && !ignore.is_ignored(Path::new(path), false) {
            problems.push(invalid(
                &root.join(path),
                "recorded in the history, but missing",
            ));
        }
    }
    if !differing.is_empty() {
        problems.append(&mut differing);
        return Ok((None, problems));
    }

    let sequence = history.latest_sequence() + 1;
    let folder_name = root
        .canonicalize()
        .ok()
        .and_then(|path| {
            path.file_name()
                .map(|name| name.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "root".to_string());
    let generation = Generation {
        creation_date: format_date(now),
        host_name: host_name(),
        tool_name: "zcopy".to_string(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        process: options.process.to_string(),
        root_hash,
        ignore: patterns,
        items: ordered,
    };
    if (options.interrupted)() {
        return Err(Error::new(
            root,
            Operation::Mhl,
            crate::error::Cause::Interrupted,
        ));
    }
    let folder = root.join(FOLDER);
    undo.create_folder(&folder)?;
    let file_name = generation_file_name(sequence, &folder_name, now);
    let generation_path = folder.join(&file_name);
    let bytes = super::xml::write_generation(&generation);
    undo.write_new_file(&generation_path, &bytes)?;
    let mut chain = history.chain.clone();
    chain.push(ChainEntry {
        sequence,
        path: file_name,
        c4: Algorithm::C4.hash_bytes(&bytes),
    });
    write_file(
        &folder.join(CHAIN_FILE),
        &super::xml::write_chain(&chain),
        true,
    )?;
    Ok((
        Some(Recorded {
            root: root.display().to_string(),
            generation: generation_path.display().to_string(),
            sequence,
            files,
            carried,
        }),
        problems,
    ))
}
