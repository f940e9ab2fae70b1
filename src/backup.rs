//! `-b`/`--backup[=CONTROL]` and `--suffix`: an existing destination is kept under a
//! backup name before it is replaced, with cp's naming rules (`VERSION_CONTROL`,
//! `SIMPLE_BACKUP_SUFFIX`).
//!
//! Unlike cp, which renames the destination away and then creates the new file (so the
//! name is missing in between), the backup is made as a hard link to the destination
//! under a temporary name, renamed to the backup name; the new file then replaces the
//! destination by rename, so the destination's name always holds the old or the new
//! file. Where hard links are impossible (EPERM on filesystems without them, or a
//! protected_hardlinks refusal), the destination is renamed away as cp does.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::{Cause, Error, Operation};

/// cp's version-control methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// `none`, `off`: never make backups (even with `-b`).
    Off,
    /// `numbered`, `t`: `NAME.~N~`, one more than the highest existing.
    Numbered,
    /// `existing`, `nil`: numbered if a numbered backup exists, simple otherwise.
    Existing,
    /// `simple`, `never`: `NAME` + suffix, replacing an older backup.
    Simple,
}

impl Control {
    /// Parses a CONTROL word (cp also takes any unambiguous beginning of one).
    pub fn parse(word: &str) -> Result<Control, String> {
        const WORDS: &[(&str, Control)] = &[
            ("none", Control::Off),
            ("off", Control::Off),
            ("numbered", Control::Numbered),
            ("t", Control::Numbered),
            ("existing", Control::Existing),
            ("nil", Control::Existing),
            ("simple", Control::Simple),
            ("never", Control::Simple),
        ];
        if let Some((_, control)) = WORDS.iter().find(|(name, _)| *name == word) {
            return Ok(*control);
        }
        let matching: Vec<Control> = WORDS
            .iter()
            .filter(|(name, _)| !word.is_empty() && name.starts_with(word))
            .map(|(_, control)| *control)
            .collect();
        match matching.as_slice() {
            [first, rest @ ..] if rest.iter().all(|other| other == first) => Ok(*first),
            _ => Err(format!(
                "invalid backup type '{word}' (valid: none, off, numbered, t, existing, nil, simple, never)"
            )),
        }
    }
}

/// What `-b` does for this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// How backup names are chosen.
    pub control: Control,
    /// The simple backup suffix (`~` unless `--suffix` or `SIMPLE_BACKUP_SUFFIX`).
    pub suffix: OsString,
}

impl Backup {
    /// The backup settings from the flags and the environment, as cp decides them:
    /// `--backup=CONTROL` wins, else `VERSION_CONTROL`, else `existing`; `--suffix`
    /// wins over `SIMPLE_BACKUP_SUFFIX`. `None` when no backups are made.
    pub fn from_flags(
        wanted: bool,
        control: Option<&str>,
        suffix: Option<&OsString>,
    ) -> Result<Option<Backup>, String> {
        if !wanted {
            return Ok(None);
        }
        let control = match control {
            Some(word) => Control::parse(word)?,
            None => match std::env::var("VERSION_CONTROL") {
                Ok(word) if !word.is_empty() => {
                    Control::parse(&word).map_err(|err| format!("{err}, from VERSION_CONTROL"))?
                }
                _ => Control::Existing,
            },
        };
        if control == Control::Off {
            return Ok(None);
        }
        // As cp (gnulib's set_simple_backup_suffix): a suffix that is empty (the backup
        // would be the destination itself) or has a '/' before its last character
        // that is not one (it would be in another directory) is replaced by '~', from
        // --suffix or the variable alike; a --suffix, even an unusable one, means the
        // variable is not read. Trailing '/' are kept: see `make`.
        let usable = |suffix: &OsString| {
            let suffix = suffix.to_string_lossy();
            let name = suffix.trim_end_matches('/');
            !name.is_empty() && !name.contains('/')
        };
        let suffix = suffix
            .cloned()
            .or_else(|| std::env::var_os("SIMPLE_BACKUP_SUFFIX"))
            .filter(usable)
            .unwrap_or_else(|| OsString::from("~"));
        Ok(Some(Backup { control, suffix }))
    }

    /// The name the backup of `destination` gets now.
    pub fn name_for(&self, destination: &Path) -> PathBuf {
        let name = destination.file_name().unwrap_or_default();
        let simple = || self.simple_name(destination);
        let numbered = |highest: u64| {
            let mut numbered = name.to_os_string();
            numbered.push(format!(".~{}~", highest + 1));
            destination.with_file_name(numbered)
        };
        match self.control {
            Control::Simple | Control::Off => simple(),
            Control::Numbered => numbered(highest_number(destination).unwrap_or(0)),
            Control::Existing => match highest_number(destination) {
                Some(highest) => numbered(highest),
                None => simple(),
            },
        }
    }

    /// `destination`'s name with the suffix.
    fn simple_name(&self, destination: &Path) -> PathBuf {
        let mut simple = destination.file_name().unwrap_or_default().to_os_string();
        simple.push(&self.suffix);
        destination.with_file_name(simple)
    }

    /// The refusal when backing up `destination` would take the name of the source
    /// (`source`, whose file `source_metadata` describes): the backup renames the old
    /// file over it. As cp ("backing up 'd' might destroy source"), checked on the
    /// simple backup name for every CONTROL but numbered (whose name is always new),
    /// and when that name is the source's file through any path to it; beyond cp, also
    /// through a symlink (cp then loses the source) or as its only name. A source that
    /// is another hard link of that file keeps its own name and is copied.
    pub fn takes_source_name(
        &self,
        source: &Path,
        source_metadata: &std::fs::Metadata,
        destination: &Path,
    ) -> Result<(), Error> {
        if self.control == Control::Numbered {
            return Ok(());
        }
        let simple = self.simple_name(destination);
        let Ok(there) = std::fs::symlink_metadata(&simple) else {
            return Ok(());
        };
        let source_keeps_its_name = || {
            source.file_name() != simple.file_name()
                && links(source_metadata) > 1
                && std::fs::symlink_metadata(source).is_ok_and(|meta| !meta.is_symlink())
        };
        if !same_file(&there, source_metadata) || source_keeps_its_name() {
            return Ok(());
        }
        Err(Error::new(
            destination,
            Operation::Backup,
            Cause::Invalid(format!(
                "its backup {} would replace the source {}; not copied",
                crate::error::quoted(&simple),
                crate::error::quoted(source)
            )),
        ))
    }

    /// Keeps the file now at `destination` under its backup name, leaving it also at
    /// `destination` where hard links allow (see the module's comment). Returns the
    /// backup's path.
    pub fn make(&self, destination: &Path) -> Result<PathBuf, Error> {
        let backup = self.name_for(destination);
        if backup.to_string_lossy().ends_with('/') {
            // A suffix ending in '/' names a directory, which cp's rename of a file to
            // it refuses with ENOTDIR; the path's last component would drop the '/'.
            return Err(Error::os(&backup, Operation::Backup, not_a_directory()));
        }
        // Named after the backup: the destination's own temporary name may be in use
        // by the new link or node waiting to replace it.
        let temporary = crate::atomic::temp_symlink_path(&backup);
        keep_beside(destination, &temporary, &backup)
            .map_err(|err| Error::os(&backup, Operation::Backup, err))?;
        Ok(backup)
    }
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(unix)]
fn links(metadata: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    metadata.nlink()
}

#[cfg(not(unix))]
fn same_file(_a: &std::fs::Metadata, _b: &std::fs::Metadata) -> bool {
    false
}

#[cfg(not(unix))]
fn links(_metadata: &std::fs::Metadata) -> u64 {
    1
}

#[cfg(unix)]
fn not_a_directory() -> std::io::Error {
    std::io::Error::from_raw_os_error(libc::ENOTDIR)
}

#[cfg(not(unix))]
fn not_a_directory() -> std::io::Error {
    std::io::Error::from(std::io::ErrorKind::NotADirectory)
}

/// Links the file at `destination` to `temporary` and renames that to `backup`, all
/// three in one directory; where hard links are impossible (EPERM, EMLINK...) renames
/// the file itself to `backup`, as cp. In the directory as [`crate::at`] opens it: not
/// in whatever replaced a directory of the run.
#[cfg(unix)]
fn keep_beside(destination: &Path, temporary: &Path, backup: &Path) -> std::io::Result<()> {
    use crate::at::checked;
    let (temporary, backup) = (crate::at::c_name(temporary)?, crate::at::c_name(backup)?);
    crate::at::file(destination, |directory, name| {
        // SAFETY (every call below): the names are NUL-terminated and outlive the calls.
        let linked = if second_name_removable(directory, name) {
            checked(unsafe {
                libc::linkat(directory, name.as_ptr(), directory, temporary.as_ptr(), 0)
            })
        } else {
            Err(std::io::Error::from_raw_os_error(libc::EPERM))
        };
        if linked.is_err() {
            return checked(unsafe {
                libc::renameat(directory, name.as_ptr(), directory, backup.as_ptr())
            });
        }
        let renamed = checked(unsafe {
            libc::renameat(directory, temporary.as_ptr(), directory, backup.as_ptr())
        });
        // On failure the temporary link is left; on success too when the backup name
        // already was a link of the destination: rename(2) between two links of one
        // file does nothing and succeeds. ENOENT (the usual case) is no error here.
        unsafe { libc::unlinkat(directory, temporary.as_ptr(), 0) };
        renamed
    })
}

/// Whether this process could rename or remove a second name of the file `name` in
/// `directory` (the temporary link, which has the file's owner). In a sticky directory
/// (/tmp) only the file's owner, the directory's, or a process with CAP_FOWNER may
/// (EPERM otherwise): a link made there could not be removed again, so the file is
/// renamed away as cp does, which fails the same way and leaves nothing.
#[cfg(unix)]
fn second_name_removable(directory: std::os::unix::io::RawFd, name: &std::ffi::CStr) -> bool {
    let (Ok(folder), Ok(file)) = (
        crate::at::lstat(directory, c"."),
        crate::at::lstat(directory, name),
    ) else {
        return false;
    };
    crate::atomic::sticky_lets_go(file.st_uid, || {
        Some((folder.st_mode & libc::S_ISVTX != 0, folder.st_uid))
    })
}

#[cfg(not(unix))]
fn keep_beside(destination: &Path, temporary: &Path, backup: &Path) -> std::io::Result<()> {
    match std::fs::hard_link(destination, temporary) {
        Ok(()) => {
            let renamed = std::fs::rename(temporary, backup);
            let _ = std::fs::remove_file(temporary);
            renamed
        }
        Err(_) => std::fs::rename(destination, backup),
    }
}

/// The highest N of the `NAME.~N~` files beside `destination`, if there are any.
fn highest_number(destination: &Path) -> Option<u64> {
    let name = destination.file_name()?.to_string_lossy().into_owned();
    let directory = match destination.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let prefix = format!("{name}.~");
    std::fs::read_dir(directory)
        .ok()?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let other = entry.file_name().to_string_lossy().into_owned();
            let number = other.strip_prefix(&prefix)?.strip_suffix('~')?;
            (!number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()))
                .then(|| number.parse::<u64>().ok())
                .flatten()
        })
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cp_control_words_and_their_abbreviations() {
        assert_eq!(Control::parse("t").unwrap(), Control::Numbered);
        assert_eq!(Control::parse("nil").unwrap(), Control::Existing);
        assert_eq!(Control::parse("never").unwrap(), Control::Simple);
        assert_eq!(Control::parse("off").unwrap(), Control::Off);
        assert_eq!(Control::parse("num").unwrap(), Control::Numbered);
        assert_eq!(Control::parse("si").unwrap(), Control::Simple);
        assert!(Control::parse("n").is_err(), "none, numbered, nil, never");
        assert!(Control::parse("bogus").is_err());
    }

    #[test]
    fn an_empty_suffix_or_one_with_a_slash_is_a_tilde() {
        for given in ["", "/x", "a/b", "/", "//", "a/b/"] {
            let backup = Backup::from_flags(true, Some("simple"), Some(&given.into()))
                .unwrap()
                .unwrap();
            assert_eq!(backup.suffix, "~", "--suffix={given:?}");
        }
        for given in [".orig", "x/"] {
            let backup = Backup::from_flags(true, Some("simple"), Some(&given.into()))
                .unwrap()
                .unwrap();
            assert_eq!(backup.suffix, given);
        }
    }

    /// In a directory of the run replaced by a symlink, no backup is made: not of the
    /// other directory's file, under a name beside it.
    #[cfg(target_os = "linux")]
    #[test]
    fn no_backup_is_made_through_a_replaced_directory() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let ours = dir.path().join("ours");
        std::fs::create_dir(&ours).unwrap();
        std::fs::write(ours.join("clip"), "old").unwrap();
        let backup = Backup {
            control: Control::Simple,
            suffix: "~".into(),
        };
        let made = std::fs::metadata(&ours).unwrap();
        crate::at::know(&ours, (made.dev(), made.ino()));
        crate::at::forget();
        assert_eq!(backup.make(&ours.join("clip")).unwrap(), ours.join("clip~"));
        assert_eq!(std::fs::read(ours.join("clip~")).unwrap(), b"old");
        assert_eq!(std::fs::read(ours.join("clip")).unwrap(), b"old");
        crate::at::forget();
        std::fs::rename(&ours, dir.path().join("moved")).unwrap();
        std::fs::create_dir(dir.path().join("theirs")).unwrap();
        std::fs::write(dir.path().join("theirs/clip"), "theirs").unwrap();
        std::os::unix::fs::symlink(dir.path().join("theirs"), &ours).unwrap();
        let err = backup.make(&ours.join("clip")).unwrap_err();
        assert!(
            err.to_string().contains("was replaced during the run"),
            "{err}"
        );
        let theirs: Vec<_> = std::fs::read_dir(dir.path().join("theirs"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(theirs, ["clip"]);
        crate::at::forget();
        crate::at::forget_known_directory(&ours);
    }

    #[test]
    fn numbered_backups_count_up_from_the_highest() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("clip");
        let backup = Backup {
            control: Control::Existing,
            suffix: "~".into(),
        };
        assert_eq!(backup.name_for(&target), dir.path().join("clip~"));
        std::fs::write(dir.path().join("clip.~7~"), "").unwrap();
        std::fs::write(dir.path().join("clip.~x~"), "").unwrap();
        assert_eq!(backup.name_for(&target), dir.path().join("clip.~8~"));
    }
}
