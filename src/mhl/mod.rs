//! ASC Media Hash List (ASC MHL v2.0): the history model, its files, directory hashes,
//! new generations, and checking a folder against its history.
//!
//! A folder's history lives in its `ascmhl/` subfolder: one generation file per
//! session that hashed the folder (`0001_<folder>_<UTC date>_<time>Z.mhl`, the first
//! numbered one) and `ascmhl_chain.xml`, which lists every generation with the C4 id of its file,
//! so that a generation changed after the fact is detected. Everything here follows
//! the reference implementation (the `ascmhl` Python package): its file naming, its
//! element order, its directory hashes and its default ignore patterns, so that its
//! `ascmhl info`, `ascmhl diff` and `ascmhl create` read what zcopy writes, and zcopy
//! reads what they write.
//!
//! Directory hashes, as the reference computes them for each folder and each
//! algorithm: the *content* hash is the hash of the concatenated digest bytes of its
//! children's content hashes (files' hashes, subfolders' content hashes), sorted by
//! their text; the *structure* hash is the same over, for each child, the hash of its
//! UTF-8 name followed by the digest bytes of its hash (a file's content hash, a
//! subfolder's structure hash). The folder itself gets the root hash.

mod record;
pub mod verify;
pub mod xml;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

pub use record::{record_generation, Kept, RecordOptions, Recorded};

use crate::error::{Cause, Context, Error, Operation};
use crate::hash::Algorithm;

/// The history folder inside a recorded folder.
pub const FOLDER: &str = "ascmhl";
/// The chain file inside the history folder.
pub const CHAIN_FILE: &str = "ascmhl_chain.xml";

/// The patterns the reference implementation ignores unless a history says otherwise.
pub fn default_ignore_patterns() -> Vec<String> {
    [".DS_Store", "ascmhl", "ascmhl/"]
        .into_iter()
        .map(String::from)
        .collect()
}

/// What a generation says about a hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// First recorded here.
    Original,
    /// Matched the hash recorded before.
    Verified,
    /// Did not match the hash recorded before.
    Failed,
}

impl Action {
    /// The attribute value.
    pub fn name(self) -> &'static str {
        match self {
            Action::Original => "original",
            Action::Verified => "verified",
            Action::Failed => "failed",
        }
    }

    fn from_name(name: &str) -> Option<Action> {
        match name {
            "original" => Some(Action::Original),
            "verified" => Some(Action::Verified),
            "failed" => Some(Action::Failed),
            _ => None,
        }
    }
}

/// One hash of a file or folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashEntry {
    /// The algorithm (the element's name).
    pub algorithm: Algorithm,
    /// The hash as text.
    pub hash: String,
    /// Original, verified or failed (files only).
    pub action: Option<Action>,
    /// When it was computed (xs:dateTime).
    pub hash_date: Option<String>,
}

/// A `<hash>`: one file.
#[derive(Debug, Clone, Default)]
pub struct FileHash {
    /// Relative to the history's folder, with `/` separators.
    pub path: String,
    /// Bytes.
    pub size: Option<u64>,
    /// Modification time (xs:dateTime).
    pub last_modified: Option<String>,
    /// Its hashes.
    pub hashes: Vec<HashEntry>,
    /// The path it had before a rename.
    pub previous_path: Option<String>,
}

/// A `<directoryhash>` (or the `<roothash>`, whose path is empty).
#[derive(Debug, Clone, Default)]
pub struct DirectoryHash {
    /// Relative to the history's folder, with `/` separators.
    pub path: String,
    /// Modification time (xs:dateTime).
    pub last_modified: Option<String>,
    /// Content hashes, one per algorithm.
    pub content: Vec<HashEntry>,
    /// Structure hashes, one per algorithm.
    pub structure: Vec<HashEntry>,
}

/// An entry of `<hashes>`.
#[derive(Debug, Clone)]
pub enum Item {
    /// A file.
    File(FileHash),
    /// A subfolder.
    Directory(DirectoryHash),
}

/// One generation file.
#[derive(Debug, Clone, Default)]
pub struct Generation {
    /// When it was written (xs:dateTime).
    pub creation_date: String,
    /// The machine it was written on.
    pub host_name: String,
    /// The tool that wrote it.
    pub tool_name: String,
    /// That tool's version.
    pub tool_version: String,
    /// `in-place` (hashed where it is), `transfer` (a copy) or `flatten`.
    pub process: String,
    /// The folder's own directory hashes.
    pub root_hash: Option<DirectoryHash>,
    /// Ignore patterns (gitignore syntax) in force when it was written.
    pub ignore: Vec<String>,
    /// Files and subfolders, in the reference implementation's order.
    pub items: Vec<Item>,
}

/// One `<hashlist>` of the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainEntry {
    /// The generation number.
    pub sequence: u32,
    /// The generation's file name inside `ascmhl/`.
    pub path: String,
    /// The C4 id of that file.
    pub c4: String,
}

/// A generation read from a history.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Its number (from the file name).
    pub sequence: u32,
    /// Its file name.
    pub file_name: String,
    /// Its content.
    pub generation: Generation,
}

/// A folder's history: the chain and every generation, oldest first.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// The folder the history records (the parent of `ascmhl/`).
    pub root: PathBuf,
    /// The chain file's entries.
    pub chain: Vec<ChainEntry>,
    /// The generations, by number.
    pub generations: Vec<Loaded>,
}

/// An error about an ASC MHL file.
fn invalid(path: &Path, message: impl Into<String>) -> Error {
    Error::new(path, Operation::Mhl, Cause::Invalid(message.into()))
}

/// The generation number of a file name like `0003_A001_2024-01-02_030405Z.mhl`.
fn generation_number(file_name: &str) -> Option<u32> {
    let stem = file_name.strip_suffix(".mhl")?;
    if stem.starts_with("._") {
        return None;
    }
    let digits: String = stem.chars().take_while(char::is_ascii_digit).collect();
    let rest = &stem[digits.len()..];
    (digits.len() >= 4 && (rest.is_empty() || (rest.starts_with('_') && rest.len() > 1)))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The error for a history folder without its chain file: with generation files it
/// is a history cut short (a write interrupted between a generation and its chain, or
/// a chain deleted), which no tool can check, and which zcopy must not add to.
fn missing_chain(folder: &Path, err: std::io::Error) -> Error {
    let mut generations: Vec<String> = std::fs::read_dir(folder)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| generation_number(name).is_some())
        .collect();
    generations.sort();
    if generations.is_empty() {
        return Error::os(folder.join(CHAIN_FILE), Operation::Mhl, err);
    }
    invalid(
        folder,
        format!(
            "holds {} generation file{} ({}) but no {CHAIN_FILE}, which lists the generations with their C4 ids: \
             the history is incomplete and cannot be checked or continued. Restore {CHAIN_FILE} from another \
             copy of this history (the source's, another destination's), or move {FOLDER}/ aside to start a new one",
            generations.len(),
            if generations.len() == 1 { "" } else { "s" },
            generations.join(", ")
        ),
    )
}

impl History {
    /// True when `root` has a history: an `ascmhl/` folder with a chain file or a
    /// generation file in it (or one that cannot be listed, for [`History::load`] to
    /// report). An empty one, or one holding only what a write cut short left (zcopy's
    /// temporary files), is no history: the next run writes the first generation there.
    pub fn exists(root: &Path) -> bool {
        let folder = root.join(FOLDER);
        if !folder.is_dir() {
            return false;
        }
        if std::fs::symlink_metadata(folder.join(CHAIN_FILE)).is_ok() {
            return true;
        }
        match std::fs::read_dir(&folder) {
            Ok(entries) => entries.flatten().any(|entry| {
                entry
                    .file_name()
                    .to_str()
                    .and_then(generation_number)
                    .is_some()
            }),
            Err(_) => true,
        }
    }

    /// Reads the history of `root`: the chain, each generation it lists (which must
    /// exist and have the C4 id the chain gives), and every generation file.
    pub fn load(root: &Path) -> Result<History, Error> {
        let folder = root.join(FOLDER);
        let chain_path = folder.join(CHAIN_FILE);
        let chain_text = match std::fs::read_to_string(&chain_path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(missing_chain(&folder, err))
            }
            Err(err) => return Err(Error::os(&chain_path, Operation::Mhl, err)),
        };
        let chain = xml::read_chain(&chain_text).map_err(|err| invalid(&chain_path, err))?;
        // The generations are the ones the chain lists, each read once: the bytes whose
        // C4 id is checked are the bytes parsed.
        let mut generations = Vec::new();
        for (position, entry) in chain.iter().enumerate() {
            let path = folder.join(&entry.path);
            let listed = |message: String| {
                invalid(
                    &path,
                    format!(
                        "generation {} listed in the chain: {message}",
                        entry.sequence
                    ),
                )
            };
            // Numbered 1, 2, 3... as written: a gap is a generation removed together
            // with its line in the chain.
            if entry.sequence as usize != position + 1
                || generation_number(&entry.path) != Some(entry.sequence)
            {
                return Err(listed(format!(
                    "the chain's generation {} is {}, where generations are numbered from 1 \
                     without gaps, each in a file starting with its number",
                    position + 1,
                    entry.path
                )));
            }
            let bytes = std::fs::read(&path).map_err(|err| listed(err.to_string()))?;
            let c4 = Algorithm::C4.hash_bytes(&bytes);
            if c4 != entry.c4 {
                return Err(invalid(
                    &path,
                    format!(
                        "generation {} was changed after it was written: the chain records C4 {}, the file has {c4}",
                        entry.sequence, entry.c4
                    ),
                ));
            }
            let text = String::from_utf8(bytes).map_err(|err| listed(err.to_string()))?;
            let generation = xml::read_generation(&text).map_err(|err| invalid(&path, err))?;
            generations.push(Loaded {
                sequence: entry.sequence,
                file_name: entry.path.clone(),
                generation,
            });
        }
        // A generation file the chain does not list has no C4 id to check it by: it may
        // say anything, so the history is not trusted with it.
        for dir_entry in std::fs::read_dir(&folder).op(&folder, Operation::ReadDir)? {
            let dir_entry = dir_entry.op(&folder, Operation::ReadDir)?;
            let name = dir_entry.file_name();
            let Some(name) = name.to_str() else {
                continue;
            };
            if generation_number(name).is_some() && !chain.iter().any(|entry| entry.path == name) {
                return Err(invalid(
                    &dir_entry.path(),
                    format!(
                        "a generation file that {CHAIN_FILE} does not list, so nothing proves what \
                         it records (a write cut short, or a file put there): move it out of \
                         {FOLDER}/ to use this history"
                    ),
                ));
            }
        }
        generations.sort_by_key(|loaded| loaded.sequence);
        Ok(History {
            root: root.to_path_buf(),
            chain,
            generations,
        })
    }

    /// The highest generation number (0 for none).
    pub fn latest_sequence(&self) -> u32 {
        let files = self.generations.iter().map(|loaded| loaded.sequence);
        let chain = self.chain.iter().map(|entry| entry.sequence);
        files.chain(chain).max().unwrap_or(0)
    }

    /// The ignore patterns of the latest generation, or the default ones.
    pub fn ignore_patterns(&self) -> Vec<String> {
        match self.generations.last() {
            Some(latest) if !latest.generation.ignore.is_empty() => {
                latest.generation.ignore.clone()
            }
            _ => default_ignore_patterns(),
        }
    }

    /// Every recorded file with, per algorithm, the first hash any generation recorded
    /// for it (the reference implementation verifies against that one), in the order
    /// of first appearance.
    pub fn records(&self) -> BTreeMap<String, Vec<HashEntry>> {
        let mut records: BTreeMap<String, Vec<HashEntry>> = BTreeMap::new();
        for loaded in &self.generations {
            for item in &loaded.generation.items {
                let Item::File(file) = item else { continue };
                let entries = records.entry(file.path.clone()).or_default();
                if let Some(previous) = &file.previous_path {
                    // A renamed file: its earlier hashes count under the new name.
                    let earlier: Vec<HashEntry> = self
                        .generations
                        .iter()
                        .flat_map(|loaded| &loaded.generation.items)
                        .filter_map(|item| match item {
                            Item::File(old) if &old.path == previous => Some(old.hashes.clone()),
                            _ => None,
                        })
                        .flatten()
                        .collect();
                    for entry in earlier {
                        if !entries.iter().any(|e| e.algorithm == entry.algorithm) {
                            entries.push(entry);
                        }
                    }
                }
                for entry in &file.hashes {
                    if !entries.iter().any(|e| e.algorithm == entry.algorithm) {
                        entries.push(entry.clone());
                    }
                }
            }
        }
        // Paths renamed away are no longer expected under their old name.
        for loaded in &self.generations {
            for item in &loaded.generation.items {
                if let Item::File(FileHash {
                    previous_path: Some(previous),
                    ..
                }) = item
                {
                    records.remove(previous);
                }
            }
        }
        records
    }
}

/// Gitignore-style patterns (the reference implementation's "gitwildmatch"), matched
/// against paths relative to the history's folder.
pub struct Ignore {
    matcher: ignore::gitignore::Gitignore,
}

impl Ignore {
    /// A matcher for `patterns` rooted at `root`.
    pub fn new(root: &Path, patterns: &[String]) -> Result<Ignore, Error> {
        let mut builder = ignore::gitignore::GitignoreBuilder::new(root);
        for pattern in patterns {
            builder
                .add_line(None, pattern)
                .map_err(|err| invalid(root, format!("ignore pattern {pattern:?}: {err}")))?;
        }
        let matcher = builder
            .build()
            .map_err(|err| invalid(root, format!("ignore patterns: {err}")))?;
        Ok(Ignore { matcher })
    }

    /// True when `relative` (a file, or a folder when `is_dir`) is ignored.
    pub fn is_ignored(&self, relative: &Path, is_dir: bool) -> bool {
        self.matcher.matched(relative, is_dir).is_ignore()
    }
}

/// A file or folder of a recorded folder, in the order the reference implementation
/// lists them: in each folder, its subfolders' entries (in name order), then its
/// files (in name order), then the folder itself. The recorded folder comes last,
/// with an empty relative path.
#[derive(Debug, Clone)]
pub enum Node {
    /// A file (or a symlink to one, hashed through the link).
    File {
        /// Relative path with `/`.
        relative: String,
        /// Full path.
        path: PathBuf,
        /// Its metadata (through a link).
        metadata: std::fs::Metadata,
    },
    /// A folder.
    Directory {
        /// Relative path with `/` (empty for the recorded folder).
        relative: String,
        /// Full path.
        path: PathBuf,
        /// Its metadata.
        metadata: std::fs::Metadata,
        /// Names of its files and subfolders that count (not ignored), with `true` for
        /// folders, in name order.
        children: Vec<(String, bool)>,
    },
}

/// Lists `root` as the reference implementation walks it.
pub fn walk(root: &Path, ignore: &Ignore) -> Result<Vec<Node>, Error> {
    let mut nodes = Vec::new();
    walk_into(root, "", ignore, &mut nodes)?;
    Ok(nodes)
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

fn walk_into(
    directory: &Path,
    relative: &str,
    ignore: &Ignore,
    nodes: &mut Vec<Node>,
) -> Result<(), Error> {
    let metadata = std::fs::metadata(directory).op(directory, Operation::ReadDir)?;
    let mut names = Vec::new();
    for entry in std::fs::read_dir(directory).op(directory, Operation::ReadDir)? {
        let entry = entry.op(directory, Operation::ReadDir)?;
        let name = entry.file_name().into_string().map_err(|name| {
            invalid(
                &directory.join(name),
                "the name is not valid UTF-8, which ASC MHL cannot record",
            )
        })?;
        names.push(name);
    }
    names.sort();
    let mut children = Vec::new();
    let mut files = Vec::new();
    for name in names {
        let path = directory.join(&name);
        let child_relative = join(relative, &name);
        // Through symlinks, as the reference does (os.path.isdir follows them).
        let Ok(child_metadata) = std::fs::metadata(&path) else {
            continue; // a dangling symlink: nothing to hash
        };
        let is_dir = child_metadata.is_dir();
        if ignore.is_ignored(Path::new(&child_relative), is_dir) {
            continue;
        }
        if is_dir {
            let is_link = std::fs::symlink_metadata(&path)
                .map(|m| m.file_type().is_symlink())
                .unwrap_or(false);
            if is_link {
                // The reference does not descend into linked folders and cannot hash
                // them; zcopy leaves them out.
                continue;
            }
            walk_into(&path, &child_relative, ignore, nodes)?;
            children.push((name, true));
        } else if child_metadata.is_file() {
            files.push(Node::File {
                relative: child_relative,
                path,
                metadata: child_metadata,
            });
            children.push((name, false));
        }
    }
    nodes.extend(files);
    nodes.push(Node::Directory {
        relative: relative.to_string(),
        path: directory.to_path_buf(),
        metadata,
        children,
    });
    Ok(())
}

/// The hash of a list of hashes: their digest bytes, sorted by their text, hashed.
fn hash_of_hashes(algorithm: Algorithm, mut hashes: Vec<String>) -> String {
    hashes.sort();
    let mut hasher = algorithm.hasher();
    for hash in &hashes {
        hasher.update(&algorithm.digest_bytes(hash).unwrap_or_default());
    }
    hasher.finish()
}

/// The hash of a child's name followed by its hash's digest bytes.
fn named_hash(algorithm: Algorithm, name: &str, hash: &str) -> String {
    let mut bytes = name.as_bytes().to_vec();
    bytes.extend(algorithm.digest_bytes(hash).unwrap_or_default());
    algorithm.hash_bytes(&bytes)
}

/// Content and structure hashes of every folder in `nodes` (a [`walk`]), given the
/// files' hashes by relative path. Keyed by relative path (`""` for the root).
pub fn directory_hashes(
    nodes: &[Node],
    file_hashes: &HashMap<String, String>,
    algorithm: Algorithm,
) -> HashMap<String, (String, String)> {
    let mut folders: HashMap<String, (String, String)> = HashMap::new();
    for node in nodes {
        let Node::Directory {
            relative, children, ..
        } = node
        else {
            continue;
        };
        let mut content = Vec::new();
        let mut structure = Vec::new();
        for (name, is_dir) in children {
            let child = join(relative, name);
            if *is_dir {
                if let Some((child_content, child_structure)) = folders.get(&child) {
                    content.push(child_content.clone());
                    structure.push(named_hash(algorithm, name, child_structure));
                }
            } else if let Some(hash) = file_hashes.get(&child) {
                content.push(hash.clone());
                structure.push(named_hash(algorithm, name, hash));
            }
        }
        folders.insert(
            relative.clone(),
            (
                hash_of_hashes(algorithm, content),
                hash_of_hashes(algorithm, structure),
            ),
        );
    }
    folders
}

/// A date as ASC MHL writes it: local time with its UTC offset, whole seconds.
pub fn format_date(time: std::time::SystemTime) -> String {
    let local: chrono::DateTime<chrono::Local> = time.into();
    local.format("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

/// A hash date: local time with its offset and microseconds.
pub fn format_hash_date(time: std::time::SystemTime) -> String {
    let local: chrono::DateTime<chrono::Local> = time.into();
    local.format("%Y-%m-%dT%H:%M:%S%.6f%:z").to_string()
}

/// The file name of a new generation: `NNNN_<folder>_<UTC date>_<time>Z.mhl`.
pub fn generation_file_name(sequence: u32, folder: &str, time: std::time::SystemTime) -> String {
    let utc: chrono::DateTime<chrono::Utc> = time.into();
    format!(
        "{sequence:04}_{folder}_{}.mhl",
        utc.format("%Y-%m-%d_%H%M%SZ")
    )
}

/// Each algorithm's hash of one file, or why it could not be read.
pub type FileHashes = Result<Vec<(Algorithm, String)>, Error>;

/// Hashes `files` (each in its algorithms) on up to `jobs` threads; `progress` gets
/// bytes as they are read. Results in the order of `files`.
pub fn hash_files(
    files: &[(PathBuf, Vec<Algorithm>)],
    jobs: usize,
    interrupted: &(dyn Fn() -> bool + Sync),
    progress: &(dyn Fn(u64) + Sync),
) -> Vec<FileHashes> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<FileHashes>>> =
        Mutex::new((0..files.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, files.len().max(1)) {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some((path, algorithms)) = files.get(index) else {
                    break;
                };
                let result = crate::hash::hash_file(path, algorithms, interrupted, progress);
                results.lock().unwrap_or_else(|p| p.into_inner())[index] = Some(result);
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .map(|result| {
            result.unwrap_or_else(|| {
                Err(Error::new(
                    PathBuf::new(),
                    Operation::Hash,
                    Cause::Interrupted,
                ))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_numbers_come_from_file_names() {
        assert_eq!(
            generation_number("0001_A001_2024-01-02_030405Z.mhl"),
            Some(1)
        );
        assert_eq!(generation_number("0012.mhl"), Some(12));
        assert_eq!(generation_number("12_A.mhl"), None);
        assert_eq!(generation_number("._0001_A.mhl"), None);
        assert_eq!(generation_number("ascmhl_chain.xml"), None);
    }

    #[test]
    fn generation_file_names_are_utc() {
        let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        assert_eq!(
            generation_file_name(3, "A001", time),
            "0003_A001_2023-11-14_221320Z.mhl"
        );
    }

    #[test]
    fn generations_and_chains_read_back_what_was_written() {
        let generation = Generation {
            creation_date: "2024-01-02T03:04:05+00:00".into(),
            host_name: "host".into(),
            tool_name: "zcopy".into(),
            tool_version: "1".into(),
            process: "transfer".into(),
            root_hash: Some(DirectoryHash {
                content: vec![HashEntry {
                    algorithm: Algorithm::Xxh64,
                    hash: "0011223344556677".into(),
                    action: None,
                    hash_date: None,
                }],
                structure: vec![HashEntry {
                    algorithm: Algorithm::Xxh64,
                    hash: "8899aabbccddeeff".into(),
                    action: None,
                    hash_date: None,
                }],
                ..DirectoryHash::default()
            }),
            ignore: default_ignore_patterns(),
            items: vec![Item::File(FileHash {
                path: "Clips/a & b <c>.mov".into(),
                size: Some(12),
                last_modified: Some("2024-01-02T03:04:05+00:00".into()),
                hashes: vec![HashEntry {
                    algorithm: Algorithm::Md5,
                    hash: "d41d8cd98f00b204e9800998ecf8427e".into(),
                    action: Some(Action::Original),
                    hash_date: Some("2024-01-02T03:04:05.000001+00:00".into()),
                }],
                previous_path: None,
            })],
        };
        let text = String::from_utf8(xml::write_generation(&generation)).unwrap();
        let read = xml::read_generation(&text).unwrap();
        assert_eq!(read.process, "transfer");
        assert_eq!(read.ignore, default_ignore_patterns());
        assert_eq!(
            read.root_hash.unwrap().structure[0].hash,
            "8899aabbccddeeff"
        );
        let Item::File(file) = &read.items[0] else {
            panic!("{text}")
        };
        assert_eq!(file.path, "Clips/a & b <c>.mov");
        assert_eq!(file.size, Some(12));
        assert_eq!(file.hashes[0].action, Some(Action::Original));

        let chain = vec![ChainEntry {
            sequence: 1,
            path: "0001_A_2024-01-02_030405Z.mhl".into(),
            c4: Algorithm::C4.hash_bytes(b"x"),
        }];
        let text = String::from_utf8(xml::write_chain(&chain)).unwrap();
        assert_eq!(xml::read_chain(&text).unwrap(), chain);
    }
}
