//! New trees built out of sight: a directory tree the run creates is made under a
//! hidden name beside its own (`.NAME.XXXXXX.zcopy-tmp`), filled with files created
//! under their own names, and renamed into place once, when the run ends.
//!
//! Each file's atomic install is otherwise a second step in the kernel, and the
//! costliest one for a small file: the link that names an `O_TMPFILE` file takes it
//! off the unlinked list and adds its name in a second transaction on XFS (17 us a
//! file), and adds then deletes an orphan item on btrfs (40 us), measured with `perf`
//! on 30,000 files of 1 KiB. A tree nobody can see until it is complete needs no
//! per-file install at all, and keeps the safety contract: until the rename the final
//! name is absent, afterwards every file in it is complete (a failed or interrupted
//! copy is removed from the hidden tree first).
//!
//! Only runs of at most `ZERO_COPY_WHOLE_TREE_MB` (1 GiB by default, a few seconds of
//! small files on a disk) are staged: the time a run stays invisible grows with its
//! size, and a killed run leaves its work in the hidden tree (`zcopy --clean` removes
//! it) rather than in place, where `-n` or `-u` would let a rerun skip it. Nor with
//! `--json-lines`, whose records announce each file as it is made; `--fsync`, which
//! promises each file durable once reported; `-i`; or an offload (`--mhl`,
//! `--resume`), which is resumed clip by clip.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use crate::error::{Cause, Error, Operation};
use crate::plan::below;

/// The trees this run is building under hidden names.
#[derive(Debug, Default)]
pub struct Staged {
    trees: Vec<Tree>,
}

/// One tree: the directory as the plan names it, and where it is being built.
#[derive(Debug)]
struct Tree {
    source: PathBuf,
    shown: PathBuf,
    hidden: PathBuf,
    /// Its directory, open while the run builds it so that `zcopy --clean` leaves it
    /// alone (see `atomic::hold`).
    _held: Option<std::fs::File>,
}

impl Staged {
    /// True if `destination` is a directory to build hidden: it does not exist, and it
    /// is not already inside a tree built hidden. The name itself is looked at: `dg/`
    /// with a trailing separator is what `dg` leads to, which for a dangling symlink is
    /// nothing, so the name looked free, the tree was built hidden and its rename then
    /// failed (mkdir refuses `dg/` at once, as cp's does).
    pub fn wants(&self, destination: &Path) -> bool {
        !ends_in_dots(destination)
            && !self.contains(destination)
            && std::fs::symlink_metadata(without_trailing_separators(destination))
                .is_err_and(|err| err.kind() == std::io::ErrorKind::NotFound)
    }

    /// Creates the directory `destination` (the copy of `source`) under a hidden name
    /// beside it, with `mode` given to mkdir as for every directory the run makes;
    /// returns where.
    pub fn create(
        &mut self,
        source: &Path,
        destination: &Path,
        mode: u32,
    ) -> Result<PathBuf, Error> {
        let name = destination.file_name().ok_or_else(|| {
            Error::new(
                destination,
                Operation::CreateDir,
                Cause::Invalid("destination has no file name".to_string()),
            )
        })?;
        let made = tempfile::Builder::new()
            .prefix(&crate::atomic::temp_prefix(name))
            .suffix(crate::atomic::TEMP_SUFFIX)
            .rand_bytes(6)
            .make_in(absolute_parent(destination), |path| {
                create_dir_with_mode(path, mode)
            })
            .map_err(|err| Error::os(destination, Operation::CreateDir, err))?;
        // A directory: nothing for tempfile to remove when `made` goes.
        let hidden = made
            .into_temp_path()
            .keep()
            .map_err(|err| Error::os(destination, Operation::CreateDir, err.error))?;
        let held = std::fs::File::open(&hidden).ok();
        if let Some(directory) = &held {
            crate::atomic::hold(directory);
        }
        self.trees.push(Tree {
            source: source.to_path_buf(),
            shown: destination.to_path_buf(),
            hidden: hidden.clone(),
            _held: held,
        });
        Ok(hidden)
    }

    /// True if `path` is in a tree built hidden (or is one).
    pub fn contains(&self, path: &Path) -> bool {
        self.trees
            .iter()
            .any(|tree| below(path, &tree.shown).is_some())
    }

    /// Where the plan's `path` is made: its place in the hidden tree, if it is in one.
    pub fn path<'a>(&self, path: &'a Path) -> Cow<'a, Path> {
        for tree in &self.trees {
            if let Some(rest) = below(path, &tree.shown) {
                return Cow::Owned(crate::plan::joined(&tree.hidden, rest));
            }
        }
        Cow::Borrowed(path)
    }

    /// `error` naming the plan's path instead of its place in a hidden tree, which
    /// means nothing to the user and is gone after the run.
    pub fn shown(&self, mut error: Error) -> Error {
        for tree in &self.trees {
            if let Ok(rest) = error.path.strip_prefix(&tree.hidden) {
                error.path = tree.shown.join(rest);
                break;
            }
        }
        error
    }

    /// Renames each tree into place, and returns each that could not be with its
    /// source: then its copy stays complete under the hidden name, which the error
    /// gives. A name that appeared meanwhile is never replaced. The trees left are
    /// those: [`Staged::path`] still names their directories' hidden places, so that
    /// their modes and times go to the copy, not to whatever took the name.
    pub fn install(&mut self) -> Vec<(PathBuf, Error)> {
        let mut failed = Vec::new();
        self.trees.retain(|tree| {
            let Err(err) = rename_no_replace(&tree.hidden, &tree.shown) else {
                return false;
            };
            let cause = Cause::NotInstalled {
                error: err,
                kept_in: tree.hidden.clone(),
            };
            let error = Error::new(&tree.shown, Operation::Rename, cause);
            failed.push((tree.source.clone(), error));
            true
        });
        failed
    }
}

/// True for `new/.` or `new/..`: no directory can be made under such a name (mkdir
/// says so, as cp does), and a tree built hidden for it could never be renamed there.
fn ends_in_dots(path: &Path) -> bool {
    let text = path.as_os_str().as_encoded_bytes();
    let last = text
        .rsplit(|&byte| std::path::is_separator(byte.into()))
        .next();
    matches!(last, Some(b"." | b".."))
}

/// `path` without the separators it ends with (`dg/` gives `dg`), so that a stat of
/// it looks at the name and not through a symlink there.
fn without_trailing_separators(path: &Path) -> Cow<'_, Path> {
    let ends_with_separator = path
        .as_os_str()
        .as_encoded_bytes()
        .last()
        .is_some_and(|&byte| std::path::is_separator(byte.into()));
    match (ends_with_separator, path.parent(), path.file_name()) {
        (true, Some(parent), Some(name)) => Cow::Owned(parent.join(name)),
        _ => Cow::Borrowed(path),
    }
}

/// The directory `destination` is in, absolute (the hidden name is given in messages,
/// and a worker may name it from another thread) and without `.` components.
fn absolute_parent(destination: &Path) -> PathBuf {
    let parent = match destination.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::path::absolute(parent).unwrap_or_else(|_| parent.to_path_buf())
}

/// mkdir(2) with `mode`, which the kernel reduces by the umask (or the parent's
/// default ACL) as for any directory. Made in its parent as [`crate::at`] opens it, so
/// not in whatever replaced a parent the run made; a path whose last component is
/// not a plain name (`new/.`, `new/`) goes to mkdir whole, which refuses or takes it
/// as cp's mkdir does.
#[cfg(unix)]
pub(crate) fn create_dir_with_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::DirBuilderExt;
    let plain_name = path
        .file_name()
        .is_some_and(|name| path.as_os_str().as_bytes().ends_with(name.as_bytes()));
    if !plain_name {
        return std::fs::DirBuilder::new().mode(mode).create(path);
    }
    crate::at::file(path, |directory, name| {
        // SAFETY: `name` is NUL-terminated and outlives the call.
        crate::at::checked(unsafe { libc::mkdirat(directory, name.as_ptr(), mode as libc::mode_t) })
    })
}

#[cfg(not(unix))]
pub(crate) fn create_dir_with_mode(path: &Path, _mode: u32) -> std::io::Result<()> {
    std::fs::create_dir(path)
}

/// rename(2) that fails with EEXIST rather than replace what is at `to`. Plain rename
/// where the filesystem does not know RENAME_NOREPLACE (EINVAL): it still refuses to
/// replace a directory that is not empty.
#[cfg(target_os = "linux")]
fn rename_no_replace(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = |path: &Path| {
        std::ffi::CString::new(path.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
    };
    let (from_c, to_c) = (c_path(from)?, c_path(to)?);
    // SAFETY: both paths are NUL-terminated and outlive the call.
    let renamed = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from_c.as_ptr(),
            libc::AT_FDCWD,
            to_c.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if renamed == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EINVAL) {
        return std::fs::rename(from, to);
    }
    Err(err)
}

#[cfg(not(target_os = "linux"))]
fn rename_no_replace(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::rename(from, to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_in_a_hidden_tree_are_made_there_and_shown_as_planned() {
        let dir = tempfile::tempdir().unwrap();
        let shown = dir.path().join("card");
        let mut staged = Staged::default();
        assert!(staged.wants(&shown));
        staged.create(Path::new("src"), &shown, 0o700).unwrap();
        assert!(!staged.wants(&shown), "a tree is staged once");
        assert!(
            !shown.exists(),
            "nothing under the final name before install"
        );

        let file = shown.join("A001/clip.mov");
        let hidden = staged.path(&file).into_owned();
        assert_ne!(hidden, file);
        assert!(hidden.starts_with(dir.path()));
        let hidden_root = hidden.parent().unwrap().parent().unwrap();
        let name = hidden_root.file_name().unwrap();
        assert!(crate::atomic::is_temp_name(name), "{name:?}");
        let outside = dir.path().join("cardigan/x");
        assert_eq!(
            staged.path(&outside),
            outside,
            "a longer name is not inside"
        );

        let error = Error::new(&hidden, Operation::Write, Cause::Invalid("full".into()));
        assert_eq!(staged.shown(error).path, file);

        std::fs::create_dir(hidden.parent().unwrap()).unwrap();
        std::fs::write(&hidden, b"x").unwrap();
        assert!(staged.install().is_empty());
        assert_eq!(staged.path(&file), file, "installed: the plan's path again");
        assert_eq!(std::fs::read(&file).unwrap(), b"x");
        assert!(!hidden_root.exists());
    }

    #[test]
    fn a_name_ending_in_dots_is_not_built_hidden() {
        let dir = tempfile::tempdir().unwrap();
        let staged = Staged::default();
        for name in ["new/.", "new/..", "new/./.", "."] {
            assert!(!staged.wants(&dir.path().join(name)), "{name}");
        }
        assert!(staged.wants(&dir.path().join("new")));
        assert!(staged.wants(&dir.path().join("new/.hidden")));
    }

    #[cfg(unix)]
    #[test]
    fn a_dangling_symlink_is_not_free_with_a_trailing_separator() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("nowhere", dir.path().join("dg")).unwrap();
        let staged = Staged::default();
        for name in ["dg", "dg/", "dg//"] {
            assert!(!staged.wants(&dir.path().join(name)), "{name}");
        }
        assert!(staged.wants(&dir.path().join("new/")));
    }

    #[test]
    fn below_agrees_with_strip_prefix_however_the_paths_are_spelt() {
        let cases = [
            ("out", "out"),
            ("out/a", "out"),
            ("out/a/b.mov", "out"),
            ("out//a", "out"),
            ("out/a", "out/"),
            ("out/./a", "out"),
            ("outer/a", "out"),
            ("out", "out/a"),
            ("./out/a", "out"),
            ("out/a", "./out"),
            ("/abs/out/a", "/abs/out"),
            ("/abs/out/a", "/abs/o"),
        ];
        for (path, root) in cases {
            let (path, root) = (Path::new(path), Path::new(root));
            // The same place: `out/./a` leaves `./a` where strip_prefix says `a`.
            fn place(rest: &Path) -> Vec<std::path::Component<'_>> {
                rest.components()
                    .filter(|component| *component != std::path::Component::CurDir)
                    .collect()
            }
            assert_eq!(
                below(path, root).map(place),
                path.strip_prefix(root).ok().map(place),
                "{path:?} below {root:?}"
            );
        }
    }

    #[test]
    fn a_name_that_appears_meanwhile_is_kept_and_the_copy_named() {
        let dir = tempfile::tempdir().unwrap();
        let shown = dir.path().join("card");
        let mut staged = Staged::default();
        staged.create(Path::new("src"), &shown, 0o700).unwrap();
        let hidden_file = staged.path(&shown.join("f")).into_owned();
        std::fs::write(&hidden_file, b"copy").unwrap();
        std::fs::create_dir(&shown).unwrap();
        std::fs::write(shown.join("theirs"), b"theirs").unwrap();

        let failed = staged.install();
        assert_eq!(failed.len(), 1);
        // Still mapped, so the directory's mode goes to the copy, not to theirs.
        assert_eq!(staged.path(&shown), hidden_file.parent().unwrap());
        let message = failed[0].1.to_string();
        assert!(message.contains("the copy is complete in"), "{message}");
        assert_eq!(std::fs::read(shown.join("theirs")).unwrap(), b"theirs");
        assert!(!shown.join("f").exists());
        assert_eq!(std::fs::read(&hidden_file).unwrap(), b"copy");
    }
}
