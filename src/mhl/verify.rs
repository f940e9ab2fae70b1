//! Checking a folder against its ASC MHL history (`zcopy verify`, and a source's own
//! history before `--mhl` copies it): every recorded file is hashed again and compared
//! with the first hash its history recorded (as the reference implementation does), in
//! that hash's algorithm, whichever it is. Histories of subfolders (their own
//! `ascmhl/`) count for the files below them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{hash_files, invalid, walk, HashEntry, History, Ignore, Node};
use crate::error::Error;
use crate::hash::Algorithm;

/// A file whose content no longer has its recorded hash.
#[derive(Debug, Clone, Serialize)]
pub struct Mismatch {
    /// Relative to the folder.
    pub path: String,
    /// The algorithm compared.
    pub algorithm: &'static str,
    /// The hash the history recorded first.
    pub recorded: String,
    /// The hash of the file now.
    pub actual: String,
}

/// The result for one folder.
#[derive(Debug, Clone, Serialize)]
pub struct FolderResult {
    /// The folder.
    pub root: String,
    /// Generations in its history (subfolders' histories included).
    pub generations: usize,
    /// Files whose hash matches.
    pub verified: usize,
    /// Files whose hash differs.
    pub mismatched: Vec<Mismatch>,
    /// Recorded files that are not there.
    pub missing: Vec<String>,
    /// Files that no generation recorded.
    pub new: Vec<String>,
    /// Files that could not be read.
    pub errors: Vec<String>,
    /// The verified files, for `-v`.
    #[serde(skip)]
    pub verified_paths: Vec<String>,
}

impl FolderResult {
    /// True when nothing is mismatched, missing or unreadable.
    pub fn ok(&self) -> bool {
        self.mismatched.is_empty() && self.missing.is_empty() && self.errors.is_empty()
    }

    /// `DIR: N verified, N mismatched, N missing, N new (N generations)`.
    pub fn summary(&self) -> String {
        format!(
            "{}: {} verified, {} mismatched, {} missing, {} new{} ({} generation{})",
            crate::error::shown(Path::new(&self.root)),
            self.verified,
            self.mismatched.len(),
            self.missing.len(),
            self.new.len(),
            if self.errors.is_empty() {
                String::new()
            } else {
                format!(", {} unreadable", self.errors.len())
            },
            self.generations,
            if self.generations == 1 { "" } else { "s" },
        )
    }
}

/// A folder ready to be checked: its history read, its files listed.
pub struct Plan {
    root: PathBuf,
    generations: usize,
    /// Files to hash: relative path, full path, the recorded entry to compare with.
    checks: Vec<(String, PathBuf, HashEntry)>,
    missing: Vec<String>,
    new: Vec<String>,
    bytes: u64,
}

impl Plan {
    /// Reads the history of `root` and lists what to check. Fails when there is no
    /// history, or when a generation file does not match the chain.
    pub fn new(root: &Path) -> Result<Plan, Error> {
        if !History::exists(root) {
            return Err(invalid(root, "no ASC MHL history here (no ascmhl/ folder)"));
        }
        let history = History::load(root)?;
        // A history that records nothing proves nothing: every file would pass as new.
        if history.generations.is_empty() {
            return Err(invalid(
                root,
                "its history lists no generation: nothing to verify against",
            ));
        }
        let mut generations = history.generations.len();
        let mut records: BTreeMap<String, Vec<HashEntry>> = history.records();
        let ignore = Ignore::new(root, &history.ignore_patterns())?;
        let nodes = walk(root, &ignore)?;
        // A file recorded by several histories is checked against the deepest one, as
        // the reference does: a parent's older hash must not mask a subfolder's
        // mismatch. `walk` lists a folder after its subfolders, so depth decides; the
        // top history's files (depth 0) are not in the map, and any nested one wins.
        let mut depths: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for node in &nodes {
            if let Node::Directory { relative, path, .. } = node {
                if !relative.is_empty() && History::exists(path) {
                    let nested = History::load(path)?;
                    generations += nested.generations.len();
                    let depth = relative.split('/').count();
                    for (file, entries) in nested.records() {
                        let file = format!("{relative}/{file}");
                        if depths.get(&file).is_none_or(|&recorded| recorded < depth) {
                            depths.insert(file.clone(), depth);
                            records.insert(file, entries);
                        }
                    }
                }
            }
        }
        let mut checks = Vec::new();
        let mut new = Vec::new();
        let mut bytes = 0;
        let mut present = std::collections::HashSet::new();
        for node in nodes {
            let Node::File {
                relative,
                path,
                metadata,
            } = node
            else {
                continue;
            };
            match records.get(&relative).and_then(|entries| entries.first()) {
                Some(entry) => {
                    bytes += metadata.len();
                    present.insert(relative.clone());
                    checks.push((relative, path, entry.clone()));
                }
                None => new.push(relative),
            }
        }
        let missing = records
            .keys()
            .filter(|path| !present.contains(*path))
            .filter(|path| !ignore.is_ignored(Path::new(path), false))
            .cloned()
            .collect();
        Ok(Plan {
            root: root.to_path_buf(),
            generations,
            checks,
            missing,
            new,
            bytes,
        })
    }

    /// Bytes that will be read.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Hashes every recorded file on up to `jobs` threads and compares.
    pub fn run(
        self,
        jobs: usize,
        interrupted: &(dyn Fn() -> bool + Sync),
        progress: &(dyn Fn(u64) + Sync),
    ) -> FolderResult {
        let files: Vec<(PathBuf, Vec<Algorithm>)> = self
            .checks
            .iter()
            .map(|(_, path, entry)| (path.clone(), vec![entry.algorithm]))
            .collect();
        let results = hash_files(&files, jobs, interrupted, progress);
        let mut result = FolderResult {
            root: self.root.display().to_string(),
            generations: self.generations,
            verified: 0,
            mismatched: Vec::new(),
            missing: self.missing,
            new: self.new,
            errors: Vec::new(),
            verified_paths: Vec::new(),
        };
        for ((relative, _, entry), hashed) in self.checks.into_iter().zip(results) {
            match hashed {
                Ok(hashes) => {
                    let actual = &hashes[0].1;
                    if actual.eq_ignore_ascii_case(&entry.hash) {
                        result.verified += 1;
                        result.verified_paths.push(relative);
                    } else {
                        result.mismatched.push(Mismatch {
                            path: relative,
                            algorithm: entry.algorithm.name(),
                            recorded: entry.hash,
                            actual: actual.clone(),
                        });
                    }
                }
                Err(err) => result.errors.push(err.to_string()),
            }
        }
        result
    }
}
