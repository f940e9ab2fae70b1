//! What to copy where: command-line sources, `-r` trees and `--files-from` lists become
//! an ordered list of entries, before any byte moves.
//!
//! Problems that concern one source (missing, a directory without `-r`, a tree copied
//! into itself) become failed entries, so that the other sources are still copied.
//! Problems that make the whole command meaningless (no destination, several sources
//! into something that is not a directory) are a [`UsageError`]: exit 2, nothing copied.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::Read;
use std::ops::Bound;
use std::path::{Component, Path, PathBuf};

use crate::error::{quoted, shown, Cause, Error, Operation};

mod sizes;

/// One file to copy.
#[derive(Debug, Clone)]
pub struct Job {
    /// The file to read.
    pub source: PathBuf,
    /// Where its copy goes.
    pub destination: PathBuf,
    /// Its size when planned (for progress totals).
    pub size: u64,
    /// The stat the plan made of it, which the copy takes as its look before opening
    /// the file (the open then checks it is still that file) instead of a stat of its own.
    /// `None` for a file a walk found to be regular by its directory entry alone (see
    /// [`PlanOptions::stat_every_file`]). Boxed, as the stat in [`Entry::Symlink`]: a
    /// stat is three quarters of an entry's size otherwise, and the batch moves tens
    /// of thousands of entries around (memcpy and fresh pages were half of its setup
    /// for a tree of small files).
    pub metadata: Option<Box<std::fs::Metadata>>,
    /// Set by the batch when it made the destination's directory itself; see
    /// [`crate::engine::Target::directory_is_new`].
    pub directory_is_new: bool,
    /// Set by the batch when that directory is in a tree it builds hidden; see
    /// [`crate::engine::Target::in_hidden_tree`].
    pub in_hidden_tree: bool,
}

/// One step of a batch, in the order they run.
#[derive(Debug)]
pub enum Entry {
    /// Copy a file.
    File(Job),
    /// Create a directory of a copied tree.
    Dir {
        /// The directory copied (for a `--files-from` parent: the listed path needing it).
        source: PathBuf,
        /// The directory to create.
        destination: PathBuf,
        /// The source's (device, inode) when the walk came to it, before it listed it
        /// (none for a parent made for `--parents` or `--files-from`).
        walked: Option<(u64, u64)>,
    },
    /// Recreate a symbolic link found inside a copied tree (links are not followed
    /// inside trees, so a link loop cannot make the walk endless).
    Symlink {
        /// The link copied.
        source: PathBuf,
        /// The link to create.
        destination: PathBuf,
        /// What it points to, unchanged.
        target: PathBuf,
        /// The link's own stat, taken before it was read: reading a link moves its
        /// access time, which `-a` keeps as it was (as cp does). None for `-s`.
        looked_at: Option<Box<std::fs::Metadata>>,
    },
    /// Make `destination` a hard link to `existing`: the source itself (`-l`), or the
    /// destination of an earlier source that is the same file (`--preserve=links`).
    /// Run after every file is copied, so that `existing` is in place.
    Link {
        /// The source this stands for.
        source: PathBuf,
        /// The link to create.
        destination: PathBuf,
        /// The file to link to.
        existing: PathBuf,
    },
    /// Recreate a FIFO, device node or socket (`-r`): mknod, never opened.
    Special {
        /// The node copied.
        source: PathBuf,
        /// The node to create.
        destination: PathBuf,
    },
    /// A source that cannot be copied; the reason names the path and the operation.
    Failed {
        /// The source as given.
        source: PathBuf,
        /// Where it would have gone, when known.
        destination: Option<PathBuf>,
        /// Why not.
        error: Error,
    },
}

impl Entry {
    /// The file, link or node this entry makes; `None` for a directory or a failure.
    pub fn made_path(&self) -> Option<&Path> {
        match self {
            Entry::File(Job { destination, .. })
            | Entry::Symlink { destination, .. }
            | Entry::Link { destination, .. }
            | Entry::Special { destination, .. } => Some(destination),
            Entry::Dir { .. } | Entry::Failed { .. } => None,
        }
    }
}

/// A command line that cannot be carried out at all.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// How symbolic links among the sources are treated (cp's `-H`, `-L`, `-P`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Symlinks {
    /// Links named on the command line are followed; links inside trees are copied as
    /// links (cp's `-H`).
    #[default]
    FollowCommandLine,
    /// Every link is followed (`-L`); a link loop is reported by the walk, not followed.
    FollowAll,
    /// No link is followed, even on the command line (`-P`, implied by `-a`).
    FollowNone,
}

/// What each file of the plan becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LinkMode {
    /// A copy of its bytes.
    #[default]
    Copy,
    /// A hard link to the source (`-l`).
    Hard,
    /// A symbolic link to the source (`-s`).
    Symbolic,
}

/// What the command line asks of the plan.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Copies, hard links or symbolic links.
    pub link_mode: LinkMode,
    /// Sources that are hard links to one file stay hard links to one file
    /// (`--preserve=links`).
    pub preserve_links: bool,
    /// Each source goes to its full path as given under the destination directory
    /// (`--parents`).
    pub parents: bool,
    /// With `-r`, special files are read like regular files instead of recreated
    /// (`--copy-contents`).
    pub copy_contents: bool,
    /// Copy directories (`-r`).
    pub recursive: bool,
    /// How symlinks are treated.
    pub symlinks: Symlinks,
    /// Every path is a source; this is the directory they go into (`-t DIR`).
    pub target_directory: Option<PathBuf>,
    /// The destination is never a directory to copy into (`-T`).
    pub no_target_directory: bool,
    /// Stat every file of a tree while planning, for the progress bars' totals.
    /// Without it, a file the walk's directory entry says is regular is stat'ed by its
    /// copy, on a worker: half of the walk's time (which nothing else overlaps) was
    /// that stat.
    pub stat_every_file: bool,
    /// Learn the size of each file a walk finds regular, by a stat relative to its
    /// directory on a thread beside the walk, while the files planned so far come to
    /// at most this many bytes (0: never). Enough for the batch to know whether the
    /// run stays within `ZERO_COPY_WHOLE_TREE_MB` (see `batch::staged`) without
    /// planning every file of a large run with a stat.
    pub size_files_up_to: u64,
}

/// Plans `SRC DST`, `SRC... DIR` or `-t DIR SRC...`.
pub fn from_arguments(paths: &[PathBuf], options: &PlanOptions) -> Result<Vec<Entry>, UsageError> {
    let (destination, sources, into_directory) = match &options.target_directory {
        Some(directory) => {
            if paths.is_empty() {
                return Err(UsageError(format!(
                    "missing source to copy into {}",
                    quoted(directory)
                )));
            }
            if !is_directory(directory) {
                return Err(UsageError(format!(
                    "target {} is not a directory",
                    quoted(directory)
                )));
            }
            (directory.as_path(), paths, true)
        }
        None => {
            let Some((destination, sources)) = paths
                .split_last()
                .filter(|(_, sources)| !sources.is_empty())
            else {
                return Err(UsageError(match paths.first() {
                    Some(path) => format!("missing destination after {}", quoted(path)),
                    None => {
                        "missing source and destination (usage: zcopy SRC DST, zcopy SRC... DIR)"
                            .to_string()
                    }
                }));
            };
            if options.no_target_directory && sources.len() > 1 {
                return Err(UsageError(format!(
                    "-T takes one source and one destination, not {} sources",
                    sources.len()
                )));
            }
            let into_directory = !options.no_target_directory && is_directory(destination);
            (destination.as_path(), sources, into_directory)
        }
    };
    if !into_directory && !options.no_target_directory && sources.len() > 1 {
        return Err(UsageError(format!(
            "target {} is not a directory (several sources need one)",
            quoted(destination)
        )));
    }
    // `new/` names a directory: fine for a tree (cp -r makes it), not for a file (cp:
    // "Not a directory"), with -T too. One source is left here.
    let no_directory_there =
        !into_directory && ends_with_separator(destination) && !is_directory(destination);
    if no_directory_there && !(options.recursive && is_tree(&sources[0], options)) {
        // The name itself, not what a symlink there leads to (nothing, if it dangles).
        let named = destination.components().as_path();
        return Err(UsageError(if std::fs::symlink_metadata(named).is_ok() {
            format!("target {} is not a directory", quoted(destination))
        } else {
            format!("target directory {} does not exist", quoted(destination))
        }));
    }
    let mut planner = Planner::new(options);
    if options.parents && !into_directory {
        return Err(UsageError(format!(
            "with --parents, the destination must be a directory ({} is not one)",
            quoted(destination)
        )));
    }
    for source in sources {
        if options.parents {
            match relative_form(source) {
                Some(relative) => {
                    planner.add_source_parents(source, destination, &relative);
                    planner.add(source, &destination.join(relative));
                }
                None => planner.fail(
                    source,
                    None,
                    Operation::Plan,
                    "a --parents path may not contain '..' or be empty",
                ),
            }
        } else if into_directory {
            match base_name(source) {
                Some(name) => planner.add(source, &destination.join(name)),
                None => planner.fail(
                    source,
                    None,
                    Operation::Plan,
                    "has no file name to copy into a directory",
                ),
            }
        } else {
            planner.add(source, destination);
        }
    }
    Ok(planner.finish())
}

/// Plans `--files-from LIST DIR`: each listed path is copied to the same relative path
/// under `DIR` (an absolute path loses its leading `/`), as rsync's `--files-from` does,
/// so files with the same name in different folders never overwrite each other.
pub fn from_list(
    list: &[PathBuf],
    destination: &Path,
    options: &PlanOptions,
) -> Result<Vec<Entry>, UsageError> {
    if !is_directory(destination) {
        return Err(UsageError(format!(
            "--files-from needs an existing destination directory; {} is not one",
            quoted(destination)
        )));
    }
    let mut planner = Planner::new(options);
    for source in list {
        match relative_form(source) {
            Some(relative) => {
                planner.add_parents(source, destination, &relative);
                planner.add(source, &destination.join(relative));
            }
            // `.` (as `find .` lists it first) is the current directory, whose relative
            // place is `DIR` itself: with -r its tree goes into `DIR` (what is listed
            // of it too is copied once), without it is a directory not copied.
            None if is_current_directory(source) => planner.add(source, destination),
            None => planner.fail(
                source,
                None,
                Operation::Plan,
                "a --files-from path may not contain '..' or be empty",
            ),
        }
    }
    Ok(planner.finish())
}

/// Reads a `--files-from` list: one path per line, or NUL-separated with `-0`. `-` is
/// standard input. Empty entries are ignored; bytes are kept as they are (names need
/// not be UTF-8).
pub fn read_list(list: &Path, nul_separated: bool) -> Result<Vec<PathBuf>, UsageError> {
    let mut bytes = Vec::new();
    let result = if list == Path::new("-") {
        std::io::stdin().lock().read_to_end(&mut bytes)
    } else {
        std::fs::File::open(list).and_then(|mut file| file.read_to_end(&mut bytes))
    };
    result.map_err(|err| UsageError(format!("{}: read --files-from list: {err}", shown(list))))?;
    let separator = if nul_separated { b'\0' } else { b'\n' };
    Ok(bytes
        .split(|&byte| byte == separator)
        .filter(|entry| !entry.is_empty())
        .map(|entry| PathBuf::from(os_string(entry.to_vec())))
        .collect())
}

#[cfg(unix)]
fn os_string(bytes: Vec<u8>) -> OsString {
    use std::os::unix::ffi::OsStringExt;
    OsString::from_vec(bytes)
}

#[cfg(not(unix))]
fn os_string(bytes: Vec<u8>) -> OsString {
    OsString::from(String::from_utf8_lossy(&bytes).into_owned())
}

struct Planner {
    recursive: bool,
    symlinks: Symlinks,
    link_mode: LinkMode,
    preserve_links: bool,
    copy_contents: bool,
    /// A regular file found by a walk is planned without a stat of its own.
    walked_type_is_enough: bool,
    /// The sizes of walked files, up to [`PlanOptions::size_files_up_to`].
    sizes: sizes::Sizes,
    entries: Vec<Entry>,
    /// Where each source named on the command line (or listed) goes.
    roots: BTreeSet<PathBuf>,
    /// Set once two roots are the same or nested: only then can two sources meet at
    /// one destination, and only then is each destination claimed.
    claiming: bool,
    /// The destinations claimed, each with the source it was claimed for.
    destinations: HashMap<PathBuf, PathBuf>,
    directories: HashSet<PathBuf>,
    /// The first destination planned for each multiply-linked source file (device,
    /// inode), for `--preserve=links`.
    linked: HashMap<(u64, u64), PathBuf>,
}

impl Planner {
    fn new(options: &PlanOptions) -> Self {
        Planner {
            recursive: options.recursive,
            symlinks: options.symlinks,
            link_mode: options.link_mode,
            preserve_links: options.preserve_links,
            copy_contents: options.copy_contents,
            // Hard links (-l) and --preserve=links need the inode, -L the stat of what
            // a link names.
            walked_type_is_enough: !options.stat_every_file
                && options.link_mode == LinkMode::Copy
                && !options.preserve_links
                && options.symlinks != Symlinks::FollowAll,
            sizes: sizes::Sizes::new(options.size_files_up_to),
            entries: Vec::new(),
            roots: BTreeSet::new(),
            claiming: false,
            destinations: HashMap::new(),
            directories: HashSet::new(),
            linked: HashMap::new(),
        }
    }

    /// `--parents`: plans the directories between `root` and `root/relative` as copies
    /// of the source's own directories (so -p carries their attributes over).
    fn add_source_parents(&mut self, source: &Path, root: &Path, relative: &Path) {
        let top = if source.is_absolute() {
            Path::new("/")
        } else {
            Path::new("")
        };
        self.plan_parents(root, relative, |partial| top.join(partial));
    }

    fn fail(
        &mut self,
        source: &Path,
        destination: Option<&Path>,
        operation: Operation,
        message: &str,
    ) {
        self.entries.push(Entry::Failed {
            source: source.to_path_buf(),
            destination: destination.map(Path::to_path_buf),
            error: Error::new(source, operation, Cause::Invalid(message.to_string())),
        });
    }

    /// Plans the directories between `root` and `root/relative`, once each, so that a
    /// listed `cam a/take 1.mov` lands in `DIR/cam a/`.
    fn add_parents(&mut self, source: &Path, root: &Path, relative: &Path) {
        self.plan_parents(root, relative, |_| source.to_path_buf());
    }

    /// Plans each directory between `root` and `root/relative` once, the source of each
    /// given by `source_of` from its path below `root`.
    fn plan_parents(&mut self, root: &Path, relative: &Path, source_of: impl Fn(&Path) -> PathBuf) {
        let mut partial = PathBuf::new();
        for component in relative.parent().into_iter().flat_map(Path::components) {
            partial.push(component);
            let destination = root.join(&partial);
            if self.directories.insert(destination.clone()) {
                self.entries.push(Entry::Dir {
                    source: source_of(&partial),
                    destination,
                    walked: None,
                });
            }
        }
    }

    /// Adds `source` (a file, or with `-r` a whole tree) to be copied to `destination`.
    fn add(&mut self, source: &Path, destination: &Path) {
        self.add_root(destination);
        // Sources named on the command line are followed if they are symlinks (the user
        // pointed at what the link names), unless -P says links are copied as links.
        if self.symlinks == Symlinks::FollowNone {
            let looked_at = std::fs::symlink_metadata(source).ok().map(Box::new);
            if let Ok(target) = std::fs::read_link(source) {
                self.add_symlink(source, destination, target, looked_at);
                return;
            }
        }
        // A link followed: what it names is what gets copied or linked to.
        let metadata = match std::fs::metadata(source) {
            Ok(metadata) => metadata,
            Err(err) => {
                self.entries.push(Entry::Failed {
                    source: source.to_path_buf(),
                    destination: Some(destination.to_path_buf()),
                    error: Error::os(source, Operation::StatSource, err),
                });
                return;
            }
        };
        if !metadata.is_dir() {
            self.add_non_directory(source, destination, &metadata, true);
            return;
        }
        if !self.recursive {
            self.fail(
                source,
                Some(destination),
                Operation::StatSource,
                "is a directory (use -r to copy directories)",
            );
            return;
        }
        if inside(destination, source) {
            self.fail(
                source,
                Some(destination),
                Operation::Plan,
                &format!(
                    "cannot copy a directory into itself ({})",
                    quoted(destination)
                ),
            );
            return;
        }
        self.add_tree(source, destination);
    }

    /// Notes where a named source goes. Inside one source's tree each destination is
    /// a different path below its root, so two sources can meet only where their roots
    /// are the same or nested. Until two are, no destination is claimed: hashing every
    /// path of the walk was 40% of its own time on a tree of 30,000 files. When two
    /// are, every destination planned so far is claimed, then each new one.
    fn add_root(&mut self, root: &Path) {
        if self.claiming {
            return;
        }
        // Paths order by component, so whatever lies below `root` sorts right after it.
        let nested = root.ancestors().any(|above| self.roots.contains(above))
            || self
                .roots
                .range::<Path, _>((Bound::Excluded(root), Bound::Unbounded))
                .next()
                .is_some_and(|next| next.starts_with(root));
        if !nested {
            self.roots.insert(root.to_path_buf());
            return;
        }
        self.claiming = true;
        self.roots.clear();
        let planned = self.entries.iter().filter_map(|entry| {
            let made = entry.made_path()?;
            match entry {
                Entry::File(Job { source, .. })
                | Entry::Symlink { source, .. }
                | Entry::Link { source, .. }
                | Entry::Special { source, .. } => Some((made.to_path_buf(), source.clone())),
                Entry::Dir { .. } | Entry::Failed { .. } => None,
            }
        });
        self.destinations.extend(planned);
    }

    /// Takes `destination` for `source`; a second source for it fails (cp: "will not
    /// overwrite just-created"), whatever kind either is, so no copy silently wins.
    /// The same source reached again (listed and inside a listed directory, as in
    /// `find DIR | zcopy -r --files-from - DEST`) is planned once: false, no failure.
    fn claim(&mut self, source: &Path, destination: &Path) -> bool {
        if !self.claiming {
            return true;
        }
        let claimant = match self.destinations.entry(destination.to_path_buf()) {
            std::collections::hash_map::Entry::Vacant(vacant) => {
                vacant.insert(source.to_path_buf());
                return true;
            }
            std::collections::hash_map::Entry::Occupied(occupied) => occupied.get().clone(),
        };
        if same_source(&claimant, source) {
            return false;
        }
        self.fail(
            source,
            Some(destination),
            Operation::Plan,
            &format!(
                "{} is also the destination of another source",
                quoted(destination)
            ),
        );
        false
    }

    /// A symlink kept as a link (not followed): copied as a link, or with `-l`/`-s`
    /// linked to, as cp does.
    fn add_symlink(
        &mut self,
        source: &Path,
        destination: &Path,
        target: PathBuf,
        looked_at: Option<Box<std::fs::Metadata>>,
    ) {
        if !self.claim(source, destination) {
            return;
        }
        let entry = match self.link_mode {
            LinkMode::Copy => Entry::Symlink {
                source: source.to_path_buf(),
                destination: destination.to_path_buf(),
                target,
                looked_at,
            },
            LinkMode::Hard => Entry::Link {
                source: source.to_path_buf(),
                destination: destination.to_path_buf(),
                existing: source.to_path_buf(),
            },
            LinkMode::Symbolic => match symbolic_target(source, destination) {
                Ok(target) => Entry::Symlink {
                    source: source.to_path_buf(),
                    destination: destination.to_path_buf(),
                    target,
                    looked_at: None,
                },
                Err(error) => Entry::Failed {
                    source: source.to_path_buf(),
                    destination: Some(destination.to_path_buf()),
                    error,
                },
            },
        };
        self.entries.push(entry);
    }

    /// A file, or a special file, found at `source` (`followed`: through a symlink
    /// that was followed, when `source` is one).
    fn add_non_directory(
        &mut self,
        source: &Path,
        destination: &Path,
        metadata: &std::fs::Metadata,
        followed: bool,
    ) {
        match self.link_mode {
            LinkMode::Hard => {
                if !self.claim(source, destination) {
                    return;
                }
                // link(2) does not follow a symlink; the file it names is meant.
                let existing = if followed && source.is_symlink() {
                    std::fs::canonicalize(source).unwrap_or_else(|_| source.to_path_buf())
                } else {
                    source.to_path_buf()
                };
                self.entries.push(Entry::Link {
                    source: source.to_path_buf(),
                    destination: destination.to_path_buf(),
                    existing,
                });
                return;
            }
            LinkMode::Symbolic => {
                return self.add_symlink(source, destination, source.to_path_buf(), None);
            }
            LinkMode::Copy => {}
        }
        // As cp: a file reached through a followed link is remembered too, so two
        // links to one file stay one file (-L --preserve=links).
        let through_link = followed && self.symlinks != Symlinks::FollowNone;
        if self.preserve_links && (hard_linked(metadata) || through_link) {
            if let Some(first) = self.linked.get(&inode(metadata)).cloned() {
                if self.claim(source, destination) {
                    self.entries.push(Entry::Link {
                        source: source.to_path_buf(),
                        destination: destination.to_path_buf(),
                        existing: first,
                    });
                }
                return;
            }
            self.linked
                .insert(inode(metadata), destination.to_path_buf());
        }
        if self.recursive && !self.copy_contents && is_special(metadata) {
            if self.claim(source, destination) {
                self.entries.push(Entry::Special {
                    source: source.to_path_buf(),
                    destination: destination.to_path_buf(),
                });
            }
            return;
        }
        self.sizes.count(metadata.len());
        let looked_at = Box::new(metadata.clone());
        self.add_file(
            source.to_path_buf(),
            destination.to_path_buf(),
            Some(looked_at),
            metadata.len(),
        );
    }

    /// The entries planned, with the sizes learnt of walked files.
    fn finish(mut self) -> Vec<Entry> {
        for (entry, size) in self.sizes.finish() {
            if let Some(Entry::File(job)) = self.entries.get_mut(entry) {
                job.size = size;
            }
        }
        self.entries
    }

    /// Plans a file copy; false if its destination was claimed already.
    fn add_file(
        &mut self,
        source: PathBuf,
        destination: PathBuf,
        metadata: Option<Box<std::fs::Metadata>>,
        size: u64,
    ) -> bool {
        if !self.claim(&source, &destination) {
            return false;
        }
        self.entries.push(Entry::File(Job {
            source,
            destination,
            size,
            metadata,
            directory_is_new: false,
            in_hidden_tree: false,
        }));
        true
    }

    fn add_tree(&mut self, root: &Path, destination: &Path) {
        // In name order, compared as whole paths' bytes: siblings share their parent's
        // spelling, so that is the order of their names, without finding each name
        // in its path again at every comparison (sort_by_file_name does; it was a
        // tenth of the walk of a tree of small files).
        let walk = walkdir::WalkDir::new(root)
            .follow_links(self.symlinks == Symlinks::FollowAll)
            .sort_by(|a, b| a.path().as_os_str().cmp(b.path().as_os_str()));
        for item in walk {
            let item = match item {
                Ok(item) => item,
                Err(err) => {
                    let path = err.path().unwrap_or(root).to_path_buf();
                    let error = walk_error(path.clone(), err);
                    self.entries.push(Entry::Failed {
                        source: path,
                        destination: None,
                        error,
                    });
                    continue;
                }
            };
            let relative = below(item.path(), root).unwrap_or(Path::new(""));
            let target = if relative.as_os_str().is_empty() {
                destination.to_path_buf()
            } else {
                joined(destination, relative)
            };
            let kind = item.file_type();
            // The root was followed if it is a link (walkdir's entry still says link).
            if kind.is_dir() || item.depth() == 0 {
                // Looked at before the walk lists it (on its next step): whatever its
                // name names when it is listed, and later copied from, must be this.
                let walked = if item.depth() == 0 {
                    std::fs::metadata(item.path())
                } else {
                    item.metadata().map_err(std::io::Error::from)
                };
                self.entries.push(Entry::Dir {
                    source: item.path().to_path_buf(),
                    destination: target,
                    walked: walked.ok().map(|metadata| inode(&metadata)),
                });
            } else if kind.is_symlink() && self.link_mode == LinkMode::Symbolic {
                self.add_symlink(item.path(), &target, item.path().to_path_buf(), None);
            } else if kind.is_symlink() {
                // walkdir does not follow links here: its metadata is the link's lstat.
                let looked_at = item.metadata().ok().map(Box::new);
                match std::fs::read_link(item.path()) {
                    Ok(link_target) => {
                        self.add_symlink(item.path(), &target, link_target, looked_at)
                    }
                    Err(err) => self.entries.push(Entry::Failed {
                        source: item.path().to_path_buf(),
                        destination: Some(target),
                        error: Error::os(item.path(), Operation::ReadDir, err),
                    }),
                }
            } else if kind.is_file() && self.walked_type_is_enough {
                let entry = self.entries.len();
                if self.add_file(item.into_path(), target, None, 0) {
                    if let Some(Entry::File(job)) = self.entries.last() {
                        self.sizes.ask(entry, &job.source);
                    }
                }
            } else {
                match item.metadata() {
                    Ok(metadata) => {
                        let followed = self.symlinks == Symlinks::FollowAll;
                        self.add_non_directory(item.path(), &target, &metadata, followed)
                    }
                    Err(err) => {
                        let io_error = err
                            .into_io_error()
                            .unwrap_or_else(|| std::io::Error::other("stat failed"));
                        self.entries.push(Entry::Failed {
                            source: item.path().to_path_buf(),
                            destination: Some(target),
                            error: Error::os(item.path(), Operation::StatSource, io_error),
                        })
                    }
                }
            }
        }
    }
}

/// What a walk could not do at `path`, said as cp says it. With `-L` a link that leads
/// back to a directory it is in would make the walk endless (cp: "cannot copy cyclic
/// symbolic link"), and a link that names nothing cannot be looked at (cp: "cannot
/// stat"): neither is a directory that could not be read.
fn walk_error(path: PathBuf, err: walkdir::Error) -> Error {
    if let Some(ancestor) = err.loop_ancestor() {
        let message = format!(
            "a symbolic link loop: it leads back to {}, which holds it; not copied",
            quoted(ancestor)
        );
        return Error::new(path, Operation::StatSource, Cause::Invalid(message));
    }
    let is_link = std::fs::symlink_metadata(&path).is_ok_and(|meta| meta.file_type().is_symlink());
    let operation = if is_link {
        Operation::StatSource
    } else {
        Operation::ReadDir
    };
    let io_error = err
        .into_io_error()
        .unwrap_or_else(|| std::io::Error::other("walk failed"));
    Error::os(path, operation, io_error)
}

/// Whether two spellings name one directory entry, as cp's `same_name` decides a
/// source was "specified more than once": the same path, or the same file under the
/// same name in the same directory (`p/f`, `./p/f`, `q/../p/f`). A link to its
/// directory (`alias/f`) or another hard link (`q/f`) is another source, as for cp.
fn same_source(first: &Path, second: &Path) -> bool {
    if first == second {
        return true;
    }
    let entry = |path: &Path| -> Option<((u64, u64), (u64, u64))> {
        let directory = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let file = std::fs::symlink_metadata(path).ok()?;
        let directory = std::fs::symlink_metadata(directory).ok()?;
        Some((inode(&file), inode(&directory)))
    };
    first.file_name() == second.file_name()
        && entry(first).is_some_and(|found| entry(second) == Some(found))
}

/// `base.join(rest)`, allocated once at its length: `Path::join` copies `base` to a
/// buffer of its exact size, then grows it for `rest`, two allocations where one does,
/// for every file of a tree.
pub(crate) fn joined(base: &Path, rest: &Path) -> PathBuf {
    let mut path = PathBuf::with_capacity(base.as_os_str().len() + 1 + rest.as_os_str().len());
    path.push(base);
    path.push(rest);
    path
}

/// `path`'s directory and last component, as [`Path::parent`] (`.` where that is empty)
/// and [`Path::file_name`] give them, or `None` if it has no last component to name
/// (`/`, `..`). Cut at the last `/` when that is unambiguous: parsing components from
/// the back, twice a call, was a tenth of zcopy's time in user space for a tree of
/// small files (perf), and each file's path is cut several times. The directory may be
/// spelt differently from [`Path::parent`]'s (`a//b` gives `a/`), which names the same
/// directory and is the same [`Path`] to compare and hash.
pub(crate) fn directory_and_name(path: &Path) -> Option<(&Path, &OsStr)> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let bytes = path.as_os_str().as_bytes();
        let (directory, name) = match bytes.iter().rposition(|&byte| byte == b'/') {
            Some(0) => (&b"/"[..], &bytes[1..]),
            Some(slash) => (&bytes[..slash], &bytes[slash + 1..]),
            None => (&b"."[..], bytes),
        };
        if !(name.is_empty() || name == b"." || name == b"..") {
            return Some((
                Path::new(OsStr::from_bytes(directory)),
                OsStr::from_bytes(name),
            ));
        }
    }
    let (name, directory) = (path.file_name()?, path.parent()?);
    let directory = if directory.as_os_str().is_empty() {
        Path::new(".")
    } else {
        directory
    };
    Some((directory, name))
}

/// What is left of `path` below `root`, if it is there. The plan spells every path of
/// a tree as its root's spelling and more, so the bytes are compared first; comparing
/// components (`strip_prefix`), which also sees that `a//b` is below `a/b`, parses
/// both paths, for each file of the run.
pub(crate) fn below<'a>(path: &'a Path, root: &Path) -> Option<&'a Path> {
    #[cfg(unix)]
    {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let root = root.as_os_str().as_bytes();
        if let Some(rest) = path.as_os_str().as_bytes().strip_prefix(root) {
            if rest.is_empty() || rest.starts_with(b"/") || root.ends_with(b"/") {
                let slashes = rest.iter().take_while(|&&byte| byte == b'/').count();
                return Some(Path::new(OsStr::from_bytes(&rest[slashes..])));
            }
        }
    }
    path.strip_prefix(root).ok()
}

/// The target of `-s`'s link: the source as given. As cp, a relative one only when the
/// link goes into the current directory, where it resolves to the source.
fn symbolic_target(source: &Path, destination: &Path) -> Result<PathBuf, Error> {
    if source.is_relative() {
        let parent = destination
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let same = |a: &Path, b: &Path| match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(a), Ok(b)) => inode(&a) == inode(&b),
            _ => false,
        };
        if !same(parent, Path::new(".")) {
            return Err(Error::new(
                destination,
                Operation::CreateSymlink,
                Cause::Invalid(
                    "can make relative symbolic links only in the current directory".into(),
                ),
            ));
        }
    }
    Ok(source.to_path_buf())
}

/// A file's (device, inode): what it is, whatever names it.
#[cfg(unix)]
pub(crate) fn inode(metadata: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (metadata.dev(), metadata.ino())
}

/// Off Unix no identity is known: every file compares equal.
#[cfg(not(unix))]
pub(crate) fn inode(_metadata: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}

#[cfg(unix)]
fn hard_linked(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    !metadata.is_dir() && metadata.nlink() > 1
}

#[cfg(not(unix))]
fn hard_linked(_metadata: &std::fs::Metadata) -> bool {
    false
}

/// FIFOs, devices and sockets.
fn is_special(metadata: &std::fs::Metadata) -> bool {
    let kind = metadata.file_type();
    !kind.is_file() && !kind.is_dir() && !kind.is_symlink()
}

fn is_directory(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|metadata| metadata.is_dir())
}

/// Whether `source` on the command line is copied as a directory.
fn is_tree(source: &Path, options: &PlanOptions) -> bool {
    if options.symlinks == Symlinks::FollowNone {
        std::fs::symlink_metadata(source).is_ok_and(|metadata| metadata.is_dir())
    } else {
        is_directory(source)
    }
}

fn ends_with_separator(path: &Path) -> bool {
    path.as_os_str()
        .to_string_lossy()
        .ends_with(std::path::MAIN_SEPARATOR)
}

/// The name a source gets inside a destination directory. A source spelt with `.` or
/// `..` last (`src/.`, `.`, `src/sub/..`) gets `.`: what is in it goes into the
/// destination itself, as with cp (`cp -a src/. dst` is how one copies a folder's
/// contents, hidden files too). `Path::components` drops a trailing `.`, so the
/// spelling is looked at.
fn base_name(source: &Path) -> Option<OsString> {
    let spelt = source.as_os_str().as_encoded_bytes();
    let is_separator = |byte: &u8| std::path::is_separator(char::from(*byte));
    let end = spelt
        .iter()
        .rposition(|byte| !is_separator(byte))
        .map_or(0, |last| last + 1);
    let last = spelt[..end].rsplit(is_separator).next().unwrap_or_default();
    if last == b"." || last == b".." {
        return Some(OsString::from("."));
    }
    match source.components().next_back() {
        Some(Component::Normal(name)) => Some(name.to_os_string()),
        _ => std::fs::canonicalize(source)
            .ok()
            .and_then(|real| real.file_name().map(|name| name.to_os_string())),
    }
}

/// True for `.`, `./`, `./.` and the like: the current directory, spelt without a name.
fn is_current_directory(source: &Path) -> bool {
    let mut components = source.components().peekable();
    components.peek().is_some() && components.all(|component| component == Component::CurDir)
}

/// `source` made relative: root and `.` components dropped; `None` if it climbs with `..`.
pub(crate) fn relative_form(source: &Path) -> Option<PathBuf> {
    let mut relative = PathBuf::new();
    for component in source.components() {
        match component {
            Component::Normal(part) => relative.push(part),
            Component::ParentDir => return None,
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    (!relative.as_os_str().is_empty()).then_some(relative)
}

/// True when `destination` is `directory` or somewhere beneath it, through any symlinks
/// or bind mounts. The destination may not exist yet: its nearest existing ancestor is
/// resolved.
fn inside(destination: &Path, directory: &Path) -> bool {
    let Ok(directory) = std::fs::canonicalize(directory) else {
        return false;
    };
    let absolute = std::path::absolute(destination).unwrap_or_else(|_| destination.to_path_buf());
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            // A bind mount shows the directory under a second path, which no comparison
            // of paths sees: what each ancestor is tells.
            let identity = std::fs::metadata(&directory).map(|metadata| inode(&metadata));
            let bound_inside = identity.is_ok_and(|identity| {
                real.ancestors().any(|ancestor| {
                    std::fs::metadata(ancestor).is_ok_and(|metadata| inode(&metadata) == identity)
                })
            });
            let resolved = rest
                .iter()
                .rev()
                .fold(real, |path: PathBuf, part| path.join(part));
            return bound_inside || resolved.starts_with(&directory);
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return false,
        }
    }
}

/// A further destination's plan while it is merged: its entries, taken out as they
/// are, where each source's files are in it, and how far it has been taken in order.
struct Pending {
    entries: Vec<Option<Entry>>,
    files: HashMap<PathBuf, Vec<usize>>,
    taken_to: usize,
}

impl Pending {
    /// Takes, in the plan's order, what it has before `index` not taken yet: above all
    /// the directories its file at `index` goes into.
    fn take_before(&mut self, index: usize, merged: &mut Vec<Entry>) {
        if index > self.taken_to {
            merged.extend(
                self.entries[self.taken_to..index]
                    .iter_mut()
                    .filter_map(Option::take),
            );
            self.taken_to = index;
        }
    }
}

/// Plans a copy to several destination directories (`-t DIR` repeated): `plan_one`
/// plans the copy into one of them, and the plans are merged so that each file's
/// entries for every destination follow each other (the batch copies them side by
/// side, reading the source once). Each plan's own order is kept: the batch makes a
/// directory before what goes into it, and puts nothing below a directory it could
/// not make (a symlink in its way would lead the copies elsewhere). Each destination
/// keeps its own failures. The same directory given twice (by any path) is a usage
/// error.
pub fn for_destinations(
    directories: &[PathBuf],
    plan_one: impl Fn(&Path) -> Result<Vec<Entry>, UsageError>,
) -> Result<Vec<Entry>, UsageError> {
    // By its real path and by its (device, inode): a bind mount is the same directory
    // under another path, and two copies there would be one.
    // (as given, real path, identity)
    type Seen<'a> = (&'a Path, PathBuf, Option<(u64, u64)>);
    let mut seen: Vec<Seen> = Vec::new();
    for directory in directories {
        let real = std::fs::canonicalize(directory).map_err(|err| {
            UsageError(format!(
                "target {} is not a directory ({err})",
                quoted(directory)
            ))
        })?;
        let identity = std::fs::metadata(&real)
            .ok()
            .map(|metadata| inode(&metadata));
        let same = |(_, other, other_identity): &&Seen| {
            *other == real || (identity.is_some() && *other_identity == identity)
        };
        if let Some((first, ..)) = seen.iter().find(same) {
            return Err(UsageError(format!(
                "destination {} is given twice (-t {} names the same directory)",
                quoted(directory),
                quoted(first)
            )));
        }
        // One inside another: the outer one's copy would hold the inner one's, each
        // record would be counted for the inner one, and its history would cover both.
        if let Some((other, other_real, _)) = seen
            .iter()
            .find(|(_, other, _)| real.starts_with(other) || other.starts_with(&real))
        {
            let (inner, outer) = if real.starts_with(other_real) {
                (directory.as_path(), *other)
            } else {
                (*other, directory.as_path())
            };
            return Err(UsageError(format!(
                "destination {} is inside destination {}: give -t directories that do \
                 not hold one another",
                quoted(inner),
                quoted(outer)
            )));
        }
        seen.push((directory, real, identity));
    }
    let mut plans = directories
        .iter()
        .map(|directory| plan_one(directory))
        .collect::<Result<Vec<_>, _>>()?;
    if plans.len() <= 1 {
        return Ok(plans.pop().unwrap_or_default());
    }
    let first = plans.remove(0);
    let mut others: Vec<Pending> = plans
        .into_iter()
        .map(|plan| {
            let mut files: HashMap<PathBuf, Vec<usize>> = HashMap::new();
            for (index, entry) in plan.iter().enumerate().rev() {
                if let Entry::File(job) = entry {
                    files.entry(job.source.clone()).or_default().push(index);
                }
            }
            Pending {
                entries: plan.into_iter().map(Some).collect(),
                files,
                taken_to: 0,
            }
        })
        .collect();
    let mut merged = Vec::new();
    for entry in first {
        let Entry::File(job) = &entry else {
            merged.push(entry);
            continue;
        };
        let copies: Vec<Option<usize>> = others
            .iter_mut()
            .map(|other| other.files.get_mut(&job.source).and_then(Vec::pop))
            .collect();
        for (other, copy) in others.iter_mut().zip(&copies) {
            if let Some(index) = copy {
                other.take_before(*index, &mut merged);
            }
        }
        merged.push(entry);
        for (other, copy) in others.iter_mut().zip(copies) {
            if let Some(index) = copy {
                merged.extend(other.entries[index].take());
            }
        }
    }
    for other in others {
        merged.extend(other.entries.into_iter().flatten());
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_form_strips_roots_and_refuses_parent_dirs() {
        assert_eq!(
            relative_form(Path::new("/a/b.mkv")),
            Some(PathBuf::from("a/b.mkv"))
        );
        assert_eq!(
            relative_form(Path::new("./a/./b")),
            Some(PathBuf::from("a/b"))
        );
        assert_eq!(relative_form(Path::new("a/../b")), None);
        assert_eq!(relative_form(Path::new("/")), None);
    }

    #[test]
    fn only_dots_spell_the_current_directory() {
        for spelt in [".", "./", "./.", ".//./"] {
            assert!(is_current_directory(Path::new(spelt)), "{spelt}");
        }
        for spelt in ["", "/", "..", "./..", "./a", "/."] {
            assert!(!is_current_directory(Path::new(spelt)), "{spelt}");
        }
    }

    #[test]
    fn a_directory_contains_itself_and_its_future_children() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        std::fs::create_dir(&tree).unwrap();
        assert!(inside(&tree, &tree));
        assert!(inside(&tree.join("new/deeper"), &tree));
        assert!(!inside(&dir.path().join("other"), &tree));
    }

    /// The destinations refused as "also the destination of another source".
    fn refused(plan: &[Entry]) -> Vec<PathBuf> {
        plan.iter()
            .filter_map(|entry| match entry {
                Entry::Failed {
                    destination: Some(destination),
                    error,
                    ..
                } if error.to_string().contains("also the destination") => {
                    Some(destination.clone())
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn sources_meet_only_where_their_destinations_are_the_same_or_nested() {
        let dir = tempfile::tempdir().unwrap();
        let at = |path: &str| dir.path().join(path);
        for file in ["x/a/f", "x/a/g", "y/a/f", "y/b/f", "z/a/g"] {
            std::fs::create_dir_all(at(file).parent().unwrap()).unwrap();
            std::fs::write(at(file), file).unwrap();
        }
        std::fs::create_dir(at("dst")).unwrap();
        let recursive = PlanOptions {
            recursive: true,
            ..PlanOptions::default()
        };
        let plan = |sources: &[&str], options: &PlanOptions| {
            let mut paths: Vec<PathBuf> = sources.iter().map(|source| at(source)).collect();
            paths.push(at("dst"));
            from_arguments(&paths, options).unwrap()
        };
        // Different names under DIR: nothing can meet.
        assert!(refused(&plan(&["x/a", "y/b"], &recursive)).is_empty());
        // Two trees onto dst/a: the second's f and the third's g are refused, also the
        // first tree's files, planned before the roots were found to meet, were claimed.
        assert_eq!(
            refused(&plan(&["x/a", "y/b", "y/a", "z/a"], &recursive)),
            [at("dst/a/f"), at("dst/a/g")]
        );
        // --parents: a file below a tree named too is the same source, planned once
        // (as cp -r --parents copies it once).
        let parents = PlanOptions {
            parents: true,
            ..recursive
        };
        let relative = |path: &str| dir.path().strip_prefix("/").unwrap().join(path);
        let both = plan(&["x/a", "x/a/f"], &parents);
        assert!(refused(&both).is_empty());
        let copied = at("dst").join(relative("x/a/f"));
        let made = both.iter().filter_map(Entry::made_path);
        assert_eq!(made.filter(|path| *path == copied).count(), 1);
        assert!(refused(&plan(&["x/a/f", "y/a/f"], &parents)).is_empty());
    }

    #[test]
    fn a_walk_sizes_its_files_only_until_the_whole_tree_limit_is_passed() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a", "b", "c", "d"] {
            std::fs::create_dir_all(dir.path().join("src")).unwrap();
            std::fs::write(dir.path().join("src").join(name), [0u8; 10]).unwrap();
        }
        let sizes = |size_files_up_to: u64| -> Vec<u64> {
            let options = PlanOptions {
                recursive: true,
                size_files_up_to,
                ..PlanOptions::default()
            };
            let paths = [dir.path().join("src"), dir.path().join("dst")];
            from_arguments(&paths, &options)
                .unwrap()
                .iter()
                .filter_map(|entry| match entry {
                    Entry::File(job) => {
                        assert!(job.metadata.is_none(), "a size, not a stat to carry");
                        Some(job.size)
                    }
                    _ => None,
                })
                .collect()
        };
        assert_eq!(
            sizes(0),
            [0, 0, 0, 0],
            "no stat when nothing is built hidden"
        );
        assert_eq!(sizes(1000), [10, 10, 10, 10]);
        // Past the limit the rest are not looked at: what is known already exceeds it.
        let counted = sizes(15);
        assert_eq!(counted, [10, 10, 0, 0]);
        assert!(counted.iter().sum::<u64>() > 15);
    }

    #[test]
    fn a_walk_of_more_files_than_one_batch_sizes_them_on_both_threads() {
        // More than one batch (256) of files: the sizing thread takes some, the walk's
        // thread the rest; every size must come back to its own entry.
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir(&src).unwrap();
        for index in 0..700usize {
            std::fs::write(src.join(format!("{index:04}")), vec![0u8; index % 7]).unwrap();
        }
        let sizes = |size_files_up_to: u64| -> Vec<(String, u64)> {
            let options = PlanOptions {
                recursive: true,
                size_files_up_to,
                ..PlanOptions::default()
            };
            let paths = [src.clone(), dir.path().join("dst")];
            from_arguments(&paths, &options)
                .unwrap()
                .iter()
                .filter_map(|entry| match entry {
                    Entry::File(job) => Some((
                        job.source
                            .file_name()
                            .unwrap()
                            .to_str()
                            .unwrap()
                            .to_string(),
                        job.size,
                    )),
                    _ => None,
                })
                .collect()
        };
        let all = sizes(u64::MAX);
        assert_eq!(all.len(), 700);
        for (name, size) in &all {
            assert_eq!(*size, name.parse::<u64>().unwrap() % 7, "{name}");
        }
        // A limit passed early: what is known exceeds it, and files are left unsized.
        let some = sizes(100);
        assert!(some.iter().map(|(_, size)| size).sum::<u64>() > 100);
        assert!(some.iter().filter(|(_, size)| *size == 0).count() > 400);
    }
}
