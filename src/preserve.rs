//! `-p`, `--preserve=LIST`, `-a`: carrying the source's mode, ownership, timestamps and
//! extended attributes over to the copy, as cp does. Applied to the temporary file
//! before the rename, so the destination appears with them already in place.

use std::fs::{File, Metadata, Permissions};
use std::io;
use std::path::Path;

use crate::error::{Cause, Context, Error, Operation};

/// Which attributes to carry over.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Preserve {
    /// Permission bits, including setuid, setgid and sticky.
    pub mode: bool,
    /// Owner and group (needs root to give away; silently kept otherwise, as cp does).
    pub ownership: bool,
    /// Access and modification times.
    pub timestamps: bool,
    /// Extended attributes.
    pub xattr: bool,
    /// Failures to carry xattrs over are ignored (`all`: cp does not diagnose them).
    pub xattr_best_effort: bool,
    /// Sources that are hard links to one file stay hard links to one file (`links`;
    /// decided by the plan, not applied to a file).
    pub links: bool,
}

impl Preserve {
    /// What `cp -p` keeps: mode, ownership, timestamps.
    pub const CP_P: Preserve = Preserve {
        mode: true,
        ownership: true,
        timestamps: true,
        xattr: false,
        xattr_best_effort: false,
        links: false,
    };

    /// `--preserve=all` (and `-a`).
    pub const ALL: Preserve = Preserve {
        mode: true,
        ownership: true,
        timestamps: true,
        xattr: true,
        xattr_best_effort: true,
        links: true,
    };

    /// Parses cp's list: `mode`, `ownership`, `timestamps`, `xattr`, `all`, comma-separated.
    pub fn parse(list: &str) -> Result<Preserve, String> {
        let mut preserve = Preserve::default();
        for word in list.split(',').map(str::trim) {
            match word {
                "mode" => preserve.mode = true,
                "ownership" => preserve.ownership = true,
                "timestamps" => preserve.timestamps = true,
                "xattr" => {
                    preserve.xattr = true;
                    preserve.xattr_best_effort = false;
                }
                "links" => preserve.links = true,
                "all" => {
                    // An xattr asked for by name stays required (cp: "xattr,all").
                    let required = preserve.xattr && !preserve.xattr_best_effort;
                    preserve = Preserve::ALL;
                    preserve.xattr_best_effort = !required;
                }
                other => {
                    return Err(format!(
                        "unknown attribute '{other}' (expected mode, ownership, timestamps, links, xattr or all)"
                    ))
                }
            }
        }
        Ok(preserve)
    }

    /// Both lists together, as cp adds up repeated `--preserve` options. An attribute
    /// asked for explicitly in either list keeps its failures fatal.
    pub fn union(self, other: Preserve) -> Preserve {
        let best_effort = |p: Preserve| !p.xattr || p.xattr_best_effort;
        Preserve {
            mode: self.mode || other.mode,
            ownership: self.ownership || other.ownership,
            timestamps: self.timestamps || other.timestamps,
            xattr: self.xattr || other.xattr,
            xattr_best_effort: (self.xattr || other.xattr)
                && best_effort(self)
                && best_effort(other),
            links: self.links || other.links,
        }
    }

    /// These attributes without those of `removed` (`--no-preserve=LIST`).
    pub fn without(self, removed: Preserve) -> Preserve {
        Preserve {
            mode: self.mode && !removed.mode,
            ownership: self.ownership && !removed.ownership,
            timestamps: self.timestamps && !removed.timestamps,
            xattr: self.xattr && !removed.xattr,
            xattr_best_effort: self.xattr_best_effort,
            links: self.links && !removed.links,
        }
    }

    /// True when anything is to be preserved.
    pub fn any(self) -> bool {
        self.mode || self.ownership || self.timestamps || self.xattr
    }
}

/// Carries the attributes of `source` over to `target` (an open file or directory).
/// `path` names the destination in errors. Order matters, as in cp: ownership first
/// (a change of owner clears setuid/setgid and file capabilities), then xattrs, then the
/// mode with its POSIX ACLs, then the times (nothing may write to the file after them).
pub(crate) fn apply(
    source: (&File, &Metadata),
    target: &File,
    path: &Path,
    preserve: Preserve,
) -> Result<(), Error> {
    let (source_file, metadata) = source;
    #[allow(unused_mut)] // set on Unix only
    let mut owner_kept = true;
    #[cfg(unix)]
    if preserve.ownership {
        owner_kept = set_owner(target, metadata).op(path, Operation::SetMetadata)?;
    }
    if preserve.xattr {
        let copied = copy_xattrs(source_file, target);
        if !preserve.xattr_best_effort {
            copied.op(path, Operation::SetMetadata)?;
        }
    }
    if preserve.mode {
        let mut permissions = full_permissions(metadata);
        if !owner_kept {
            // A copy that could not be given the source's owner must not carry its
            // setuid, setgid or sticky bit (cp clears all three): a setuid program of
            // root's would otherwise become a setuid program of the copier's.
            permissions = without_special_bits(permissions);
        }
        #[cfg(unix)]
        if metadata.is_dir() {
            permissions =
                with_inherited_setgid(permissions, target).op(path, Operation::SetMetadata)?;
        }
        set_mode_and_acls(source_file, target, metadata.is_dir(), permissions)
            .op(path, Operation::SetMetadata)?;
    }
    if preserve.timestamps {
        let mut times = std::fs::FileTimes::new();
        if let Ok(accessed) = metadata.accessed() {
            times = times.set_accessed(accessed);
        }
        if let Ok(modified) = metadata.modified() {
            times = times.set_modified(modified);
        }
        target.set_times(times).op(path, Operation::SetMetadata)?;
    }
    Ok(())
}

/// Gives `target` the owner and group of `source`. Returns false when that is not
/// allowed (only root may give a file away): like cp, the group is then still kept
/// when the user is a member of it, and nothing is reported. Root being refused (a
/// root-squashed NFS export, an unmapped id in a user namespace) is an error.
#[cfg(unix)]
fn set_owner(target: &File, source: &Metadata) -> io::Result<bool> {
    use std::os::unix::fs::{fchown, MetadataExt};
    let current = target.metadata()?;
    if (current.uid(), current.gid()) == (source.uid(), source.gid()) {
        return Ok(true);
    }
    match fchown(target, Some(source.uid()), Some(source.gid())) {
        Ok(()) => Ok(true),
        // EPERM: not ours to give away; EINVAL: an id this namespace cannot map.
        Err(err) if matches!(err.raw_os_error(), Some(libc::EPERM | libc::EINVAL)) => {
            if is_root() {
                return Err(err);
            }
            let _ = fchown(target, None, Some(source.gid()));
            Ok(false)
        }
        Err(err) => Err(err),
    }
}

/// Whether this process runs as root (the effective user id).
#[cfg(unix)]
pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The POSIX ACLs, as the kernel stores them: extended attributes in the "system"
/// namespace whose value format (version 2 entries of tag, permissions and id) is a
/// stable ABI, read and written whole. The access ACL's entries are tied to the mode
/// bits, so they are copied with the mode, never with the other xattrs (cp does the
/// same).
#[cfg(unix)]
const ACCESS_ACL: &str = "system.posix_acl_access";
/// A directory's default ACL, inherited by what is created in it.
#[cfg(unix)]
const DEFAULT_ACL: &str = "system.posix_acl_default";

/// Makes `target`'s permissions the source's: its ACLs (or none, when the source has
/// none, though the destination's directory gave the new file one by inheritance),
/// then the mode. The ACL goes first because setting it rewrites the rwx bits, and may
/// clear setgid; the chmod after it restores the special bits and leaves the ACL as
/// it is (the source's group bits are its mask). A source with an ACL that the
/// destination's filesystem cannot store is an error, as in cp: dropping the ACL
/// would leave the group class with the mask's permissions, wider than intended.
#[cfg(unix)]
fn set_mode_and_acls(
    source: &File,
    target: &File,
    is_dir: bool,
    permissions: Permissions,
) -> io::Result<()> {
    use xattr::FileExt;
    let names: &[&str] = if is_dir {
        &[ACCESS_ACL, DEFAULT_ACL]
    } else {
        &[ACCESS_ACL]
    };
    for name in names {
        match source.get_xattr(name) {
            Ok(Some(acl)) => target.set_xattr(name, &acl)?,
            Ok(None) => remove_acl(target, name)?,
            Err(err) if unsupported(&err) => remove_acl(target, name)?,
            Err(err) => return Err(err),
        }
    }
    target.set_permissions(permissions)
}

/// Removes an ACL `target` may have inherited; none there, or no ACLs on this
/// filesystem at all, is fine.
#[cfg(unix)]
fn remove_acl(target: &File, name: &str) -> io::Result<()> {
    use xattr::FileExt;
    match target.remove_xattr(name) {
        Err(err) if err.raw_os_error() == Some(libc::ENODATA) || unsupported(&err) => Ok(()),
        other => other,
    }
}

#[cfg(unix)]
fn unsupported(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EOPNOTSUPP | libc::ENOSYS))
}

#[cfg(not(unix))]
fn set_mode_and_acls(
    _source: &File,
    target: &File,
    _is_dir: bool,
    permissions: Permissions,
) -> io::Result<()> {
    target.set_permissions(permissions)
}

/// The same for a link or node the run just made (`made`; `shown` names the
/// destination in errors), which is neither followed nor opened: opening a FIFO or a
/// device could block or have effects. Every call names it through its directory as
/// [`crate::at`] opens it, so that a directory of the run replaced meanwhile (a
/// symlink to `/etc` put in its place) has nothing of it changed: `-n` makes the node
/// under its final name, where a call by the whole path would give another file the
/// source's owner and mode. A link has no mode of its own and, on Linux, no user
/// xattrs; its times are its own (`AT_SYMLINK_NOFOLLOW`, as cp).
#[cfg(unix)]
pub(crate) fn apply_to_entry(
    (source, metadata): (&Path, &Metadata),
    made: &Path,
    shown: &Path,
    preserve: Preserve,
) -> Result<(), Error> {
    use crate::at::checked;
    use std::os::unix::fs::MetadataExt;
    let link = metadata.file_type().is_symlink();
    let at = |call: &dyn Fn(std::os::fd::RawFd, &std::ffi::CStr) -> io::Result<()>| {
        crate::at::file(made, |directory, name| call(directory, name))
            .op(shown, Operation::SetMetadata)
    };
    let mut owner_kept = true;
    if preserve.ownership {
        let chown = |directory, name: &std::ffi::CStr, uid: libc::uid_t| {
            // SAFETY: `name` is NUL-terminated and outlives the call.
            checked(unsafe {
                libc::fchownat(
                    directory,
                    name.as_ptr(),
                    uid,
                    metadata.gid() as libc::gid_t,
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            })
        };
        match at(&|directory, name| chown(directory, name, metadata.uid() as libc::uid_t)) {
            Ok(()) => {}
            // EPERM: not ours to give away; EINVAL: an id this namespace cannot map.
            // The group alone then, as for files (-1 leaves the owner as it is).
            Err(error)
                if matches!(error.errno(), Some(libc::EPERM | libc::EINVAL)) && !is_root() =>
            {
                owner_kept = false;
                let _ = at(&|directory, name| chown(directory, name, libc::uid_t::MAX));
            }
            Err(error) => return Err(error),
        }
    }
    if preserve.mode && !link {
        let mut mode = metadata.mode() & 0o7777;
        if !owner_kept {
            // As for files: no setuid, setgid or sticky bit without the owner.
            mode &= 0o777;
        }
        // glibc refuses a symlink here rather than following it (fchmodat2 where the
        // kernel has it, else an O_PATH descriptor checked not to be a link).
        at(&|directory, name| {
            // SAFETY: `name` is NUL-terminated and outlives the call.
            checked(unsafe {
                libc::fchmodat(
                    directory,
                    name.as_ptr(),
                    mode as libc::mode_t,
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            })
        })?;
    }
    if preserve.xattr && !link {
        if let Ok(names) = xattr::list(source) {
            for attribute in names {
                let Ok(Some(value)) = xattr::get(source, &attribute) else {
                    continue;
                };
                let set = at(&|directory, name| {
                    xattr::set(named_at(directory, name), &attribute, &value)
                });
                if !preserve.xattr_best_effort {
                    set?;
                }
            }
        }
    }
    if preserve.timestamps {
        let times = [
            libc::timespec {
                tv_sec: metadata.atime() as libc::time_t,
                tv_nsec: metadata.atime_nsec() as _,
            },
            libc::timespec {
                tv_sec: metadata.mtime() as libc::time_t,
                tv_nsec: metadata.mtime_nsec() as _,
            },
        ];
        at(&|directory, name| {
            // SAFETY: `name` is NUL-terminated and `times` holds two timespecs.
            checked(unsafe {
                libc::utimensat(
                    directory,
                    name.as_ptr(),
                    times.as_ptr(),
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            })
        })?;
    }
    Ok(())
}

/// A path naming `name` in the open directory `directory`, for the calls that take no
/// directory descriptor (the xattr calls): on Linux through `/proc/self/fd`, which
/// resolves to that very directory, not to whatever its path names now.
#[cfg(unix)]
fn named_at(directory: std::os::fd::RawFd, name: &std::ffi::CStr) -> std::path::PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let name = Path::new(std::ffi::OsStr::from_bytes(name.to_bytes()));
    if cfg!(target_os = "linux") && directory != libc::AT_FDCWD {
        Path::new(&format!("/proc/self/fd/{directory}")).join(name)
    } else {
        name.to_path_buf()
    }
}

/// The same for a directory of a copied tree, by path (after its contents are in).
/// `identity` is the (device, inode) the source had when its copy was made: the name
/// may name something else by now (a symlink to `/tmp` put in its place), whose mode,
/// owner and times must not go to the copy. `target` is the copy, opened at
/// `destination`.
pub fn apply_to_directory(
    (source, identity): (&Path, Option<(u64, u64)>),
    (destination, target): (&Path, &File),
    preserve: Preserve,
) -> Result<(), Error> {
    let source_file = File::open(source).op(source, Operation::StatSource)?;
    let metadata = source_file.metadata().op(source, Operation::StatSource)?;
    if identity.is_some_and(|identity| identity != crate::plan::inode(&metadata)) {
        return Err(Error::new(
            source,
            Operation::StatSource,
            Cause::SourceChanged("its path names another directory now"),
        ));
    }
    apply((&source_file, &metadata), target, destination, preserve)
}

#[cfg(unix)]
fn full_permissions(metadata: &Metadata) -> Permissions {
    use std::os::unix::fs::PermissionsExt;
    Permissions::from_mode(metadata.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn full_permissions(metadata: &Metadata) -> Permissions {
    metadata.permissions()
}

/// A directory made in a setgid directory inherits its setgid bit, so that what is
/// created in it keeps the group; cp -p keeps it when the source has no special bits
/// of its own (it writes the mode as an ACL, which leaves setgid alone).
#[cfg(unix)]
fn with_inherited_setgid(permissions: Permissions, target: &File) -> io::Result<Permissions> {
    use std::os::unix::fs::PermissionsExt;
    let mode = permissions.mode();
    if mode & 0o7000 != 0 {
        return Ok(permissions);
    }
    // S_ISGID (a u16 in macOS's libc).
    let inherited = target.metadata()?.permissions().mode() & 0o2000;
    Ok(Permissions::from_mode(mode | inherited))
}

#[cfg(unix)]
fn without_special_bits(permissions: Permissions) -> Permissions {
    use std::os::unix::fs::PermissionsExt;
    Permissions::from_mode(permissions.mode() & 0o777)
}

#[cfg(not(unix))]
fn without_special_bits(permissions: Permissions) -> Permissions {
    permissions
}

/// Copies every extended attribute but the ACLs (which go with the mode). A failure on
/// one does not stop the others; the first is returned at the end.
#[cfg(unix)]
fn copy_xattrs(source: &File, target: &File) -> io::Result<()> {
    use xattr::FileExt;
    let mut first_error = None;
    for name in source.list_xattr()? {
        if name == ACCESS_ACL || name == DEFAULT_ACL {
            continue;
        }
        let copied = source.get_xattr(&name).and_then(|value| match value {
            Some(value) => target.set_xattr(&name, &value),
            None => Ok(()),
        });
        if let Err(err) = copied {
            first_error.get_or_insert(err);
        }
    }
    first_error.map_or(Ok(()), Err)
}

#[cfg(not(unix))]
fn copy_xattrs(_source: &File, _target: &File) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "extended attributes are Unix-only",
    ))
}

#[cfg(test)]
mod tests {
    use super::Preserve;

    #[test]
    fn parses_cp_lists() {
        assert_eq!(
            Preserve::parse("mode,timestamps,ownership").unwrap(),
            Preserve::CP_P
        );
        assert_eq!(Preserve::parse("all").unwrap(), Preserve::ALL);
        assert!(Preserve::parse("mode,links").unwrap().links);
        assert!(!Preserve::parse("xattr,all").unwrap().xattr_best_effort);
        assert!(!Preserve::parse("all,xattr").unwrap().xattr_best_effort);
        assert!(Preserve::parse("mode,bogus")
            .unwrap_err()
            .contains("'bogus'"));
    }
}
