//! The flags zcopy shares with cp behave as cp's do.

mod common;

use std::ffi::OsStr;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime};

use common::*;

fn set_mtime(path: &Path, seconds_ago: u64) {
    let time = SystemTime::now() - Duration::from_secs(seconds_ago);
    let file = std::fs::File::open(path).unwrap();
    file.set_times(
        std::fs::FileTimes::new()
            .set_modified(time)
            .set_accessed(time),
    )
    .unwrap();
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn preserve_keeps_mode_timestamps_ownership_and_xattrs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_pattern(&d.join("src"), 12 * MIB, 1);
    std::fs::set_permissions(d.join("src"), std::fs::Permissions::from_mode(0o640)).unwrap();
    set_mtime(&d.join("src"), 86_400 * 400);
    xattr::set(d.join("src"), "user.zcopy.test", b"take 3").unwrap();
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        std::os::unix::fs::chown(d.join("src"), Some(4321), Some(4322)).unwrap();
    }

    // Without -p: a new file gets the mode less the umask, a new mtime, no xattrs.
    zcopy(d).args(["src", "plain"]).assert().success();
    let (src, plain) = (
        std::fs::metadata(d.join("src")).unwrap(),
        std::fs::metadata(d.join("plain")).unwrap(),
    );
    assert_ne!(plain.mtime(), src.mtime());
    assert!(xattr::get(d.join("plain"), "user.zcopy.test")
        .unwrap()
        .is_none());

    zcopy(d).args(["-p", "src", "kept"]).assert().success();
    let kept = std::fs::metadata(d.join("kept")).unwrap();
    assert_eq!(mode(&d.join("kept")), 0o640);
    assert_eq!(
        (kept.mtime(), kept.mtime_nsec()),
        (src.mtime(), src.mtime_nsec())
    );
    if root {
        assert_eq!((kept.uid(), kept.gid()), (4321, 4322));
    }
    assert!(
        xattr::get(d.join("kept"), "user.zcopy.test")
            .unwrap()
            .is_none(),
        "-p does not copy xattrs"
    );

    zcopy(d)
        .args(["--preserve=xattr", "src", "with-xattr"])
        .assert()
        .success();
    assert_eq!(
        xattr::get(d.join("with-xattr"), "user.zcopy.test")
            .unwrap()
            .unwrap(),
        b"take 3"
    );

    zcopy(d)
        .args(["--preserve=mode,bogus", "src", "x"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("'bogus'"));
}

#[test]
fn archive_copies_a_tree_with_links_as_links_and_times_kept() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("shoot/day1")).unwrap();
    write_pattern(&d.join("shoot/day1/a.mov"), 1000, 1);
    std::os::unix::fs::symlink("day1/a.mov", d.join("shoot/latest")).unwrap();
    std::fs::set_permissions(d.join("shoot/day1"), std::fs::Permissions::from_mode(0o750)).unwrap();
    set_mtime(&d.join("shoot/day1/a.mov"), 1000);
    set_mtime(&d.join("shoot/day1"), 5000);
    std::os::unix::fs::symlink("shoot", d.join("link-to-shoot")).unwrap();

    zcopy(d).args(["-a", "shoot", "copy"]).assert().success();
    let times = |path: &str| std::fs::metadata(d.join(path)).unwrap().mtime();
    assert_eq!(
        times("copy/day1"),
        times("shoot/day1"),
        "directory times kept after their contents"
    );
    assert_eq!(times("copy/day1/a.mov"), times("shoot/day1/a.mov"));
    assert_eq!(mode(&d.join("copy/day1")), 0o750);
    assert_eq!(
        std::fs::read_link(d.join("copy/latest")).unwrap(),
        Path::new("day1/a.mov")
    );

    // -a implies -P: a symlink named on the command line is copied as a link.
    zcopy(d)
        .args(["-a", "link-to-shoot", "link-copy"])
        .assert()
        .success();
    assert_eq!(
        std::fs::read_link(d.join("link-copy")).unwrap(),
        Path::new("shoot")
    );
}

#[test]
fn dereference_flags_decide_what_a_link_becomes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("tree")).unwrap();
    write_pattern(&d.join("real.wav"), 100, 1);
    std::os::unix::fs::symlink(d.join("real.wav"), d.join("tree/link.wav")).unwrap();
    std::os::unix::fs::symlink("real.wav", d.join("top-link")).unwrap();

    // Default (cp -H): command-line links followed, links inside trees kept as links.
    zcopy(d).args(["top-link", "followed"]).assert().success();
    assert!(std::fs::symlink_metadata(d.join("followed"))
        .unwrap()
        .is_file());
    zcopy(d)
        .args(["-r", "tree", "tree-default"])
        .assert()
        .success();
    assert!(std::fs::symlink_metadata(d.join("tree-default/link.wav"))
        .unwrap()
        .is_symlink());
    // -L: followed everywhere.
    zcopy(d)
        .args(["-r", "-L", "tree", "tree-l"])
        .assert()
        .success();
    assert!(std::fs::symlink_metadata(d.join("tree-l/link.wav"))
        .unwrap()
        .is_file());
    assert_same_content(&d.join("real.wav"), &d.join("tree-l/link.wav"));
    // -P: not even on the command line.
    zcopy(d)
        .args(["-P", "top-link", "as-link"])
        .assert()
        .success();
    assert_eq!(
        std::fs::read_link(d.join("as-link")).unwrap(),
        Path::new("real.wav")
    );
}

#[test]
fn update_copies_only_over_older_destinations() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_pattern(&d.join("src"), 1000, 1);
    write_pattern(&d.join("newer"), 10, 2);
    write_pattern(&d.join("older"), 10, 3);
    set_mtime(&d.join("src"), 100);
    set_mtime(&d.join("older"), 1000);
    let (code, json, _) = zcopy_json(
        d,
        &[OsStr::new("-u"), OsStr::new("src"), OsStr::new("newer")],
    );
    assert_eq!(code, 0);
    assert_eq!(
        json["skipped"][0]["reason"],
        "destination is not older than the source (--update)"
    );
    assert_eq!(std::fs::metadata(d.join("newer")).unwrap().len(), 10);
    zcopy(d).args(["-u", "src", "older"]).assert().success();
    assert_same_content(&d.join("src"), &d.join("older"));
    zcopy(d).args(["-u", "src", "missing"]).assert().success();
    assert!(d.join("missing").exists());
}

#[test]
fn target_directory_flags() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_pattern(&d.join("a"), 10, 1);
    write_pattern(&d.join("b"), 20, 2);
    std::fs::create_dir(d.join("out")).unwrap();
    zcopy(d).args(["-t", "out", "a", "b"]).assert().success();
    assert_eq!(list(&d.join("out")), ["a", "b"]);
    zcopy(d).args(["-t", "nowhere", "a"]).assert().code(2);

    // -T: the destination is a name, never a directory to copy into.
    std::fs::create_dir(d.join("tree")).unwrap();
    write_pattern(&d.join("tree/inner"), 5, 3);
    zcopy(d)
        .args(["-T", "-r", "tree", "out"])
        .assert()
        .success();
    assert_eq!(
        list(&d.join("out")),
        ["a", "b", "inner"],
        "tree contents merged into out, not out/tree"
    );
    let (code, json, _) = zcopy_json(d, &[OsStr::new("-T"), OsStr::new("a"), OsStr::new("out")]);
    assert_eq!(code, 1);
    assert!(json["errors"][0]["error"]
        .as_str()
        .unwrap()
        .contains("is a directory"));
    zcopy(d).args(["-T", "a", "b", "out"]).assert().code(2);
}

#[test]
fn double_dash_allows_names_starting_with_a_dash() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_pattern(&d.join("-v"), 10, 1);
    zcopy(d).args(["--", "-v", "-copy"]).assert().success();
    assert_same_content(&d.join("-v"), &d.join("-copy"));
}

#[test]
fn interactive_is_refused_without_a_terminal_when_it_must_ask_and_asks_on_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_pattern(&d.join("new"), 1000, 1);
    write_pattern(&d.join("old"), 10, 2);
    zcopy(d)
        .args(["-i", "new", "old"])
        .write_stdin("y\n")
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "-i would ask before replacing 'old', but stdin is not a terminal",
        ));
    assert_eq!(std::fs::metadata(d.join("old")).unwrap().len(), 10);
    // Issue 8, bug 13: nothing to ask, nothing refused (as cp), with files and links.
    zcopy(d)
        .args(["-i", "new", "fresh"])
        .write_stdin("")
        .assert()
        .success();
    assert_same_content(&d.join("new"), &d.join("fresh"));
    std::os::unix::fs::symlink("new", d.join("link")).unwrap();
    zcopy(d)
        .args(["-i", "-P", "link", "link-copy"])
        .write_stdin("")
        .assert()
        .success();
    // An existing link is asked about too.
    zcopy(d)
        .args(["-i", "-P", "link", "link-copy"])
        .write_stdin("y\n")
        .assert()
        .code(2)
        .stderr(predicates::str::contains("replacing 'link-copy'"));

    if !require_tool(
        "interactive_is_refused_without_a_terminal_and_asks_on_one (the terminal half)",
        "script",
    ) {
        return;
    }
    let on_terminal = |answer: &str| zcopy_answering(d, answer, "-i new old");
    let said = on_terminal("n");
    assert!(said.contains("overwrite 'old'?"), "{said}");
    assert_eq!(
        std::fs::metadata(d.join("old")).unwrap().len(),
        10,
        "n keeps the file"
    );
    on_terminal("y");
    assert_same_content(&d.join("new"), &d.join("old"));
}

/// Issue 8, bug 1: `-P sl foo` with `sl -> foo` used to make foo a link to itself and
/// lose its content. cp refuses: the two are the same file.
#[test]
fn a_link_copied_as_a_link_onto_its_referent_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("foo"), "XYZ\n").unwrap();
    std::os::unix::fs::symlink("foo", d.join("sl")).unwrap();
    for flag in ["-P", "-a"] {
        zcopy(d)
            .args([flag, "sl", "foo"])
            .assert()
            .code(1)
            .stderr(predicates::str::contains(
                "foo: stat destination: source and destination are the same file",
            ));
        assert!(std::fs::symlink_metadata(d.join("foo")).unwrap().is_file());
        assert_eq!(std::fs::read(d.join("foo")).unwrap(), b"XYZ\n");
    }
    // A link onto itself is the same file too; onto another link it is a copy.
    zcopy(d).args(["-P", "sl", "sl"]).assert().code(1);
    std::os::unix::fs::symlink("elsewhere", d.join("other")).unwrap();
    zcopy(d).args(["-P", "sl", "other"]).assert().success();
    assert_eq!(
        std::fs::read_link(d.join("other")).unwrap(),
        Path::new("foo")
    );
    assert_no_debris(d);
}

/// Issue 8, bug 5: `-a` and `-P -p` keep a link's own times (utimensat with
/// AT_SYMLINK_NOFOLLOW), on the command line and inside a tree.
#[test]
fn preserving_copies_keep_a_links_own_times() {
    use nix::sys::stat::{utimensat, UtimensatFlags};
    use nix::sys::time::TimeSpec;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("tree")).unwrap();
    std::fs::write(d.join("tree/file"), "x").unwrap();
    std::os::unix::fs::symlink("file", d.join("tree/link")).unwrap();
    let (atime, mtime) = (
        TimeSpec::new(1_111_111_111, 5),
        TimeSpec::new(1_234_567_890, 7),
    );
    utimensat(
        nix::fcntl::AT_FDCWD,
        &d.join("tree/link"),
        &atime,
        &mtime,
        UtimensatFlags::NoFollowSymlink,
    )
    .unwrap();
    zcopy(d).args(["-a", "tree", "archive"]).assert().success();
    zcopy(d)
        .args(["-P", "-p", "tree/link", "link-p"])
        .assert()
        .success();
    zcopy(d)
        .args(["-P", "tree/link", "link-plain"])
        .assert()
        .success();
    let times = |path: &str| {
        let meta = std::fs::symlink_metadata(d.join(path)).unwrap();
        assert!(meta.is_symlink(), "{path} is a link");
        // Not the access time: reading the link (to copy it) moves that.
        (meta.mtime(), meta.mtime_nsec())
    };
    let kept = (1_234_567_890, 7);
    assert_eq!(times("archive/link"), kept);
    assert_eq!(times("link-p"), kept);
    assert_ne!(times("link-plain").0, kept.0, "without -p a link is new");
}

/// Issue 8, bugs 3 and 4: `-p` as a user who cannot give the copy the source's owner
/// clears setuid, setgid and sticky (as cp), and keeps the group when the user is in it.
#[test]
fn preserve_as_a_user_drops_special_bits_and_keeps_a_group_it_may() {
    if !require_root("preserve_as_a_user", "to make files of other owners") {
        return;
    }
    if !require_tool("preserve_as_a_user", "setpriv") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::write(d.join("c"), "x").unwrap();
    std::os::unix::fs::chown(d.join("c"), Some(0), Some(100)).unwrap();
    std::fs::set_permissions(d.join("c"), std::fs::Permissions::from_mode(0o6755)).unwrap();
    let as_nobody = |groups: &str, copy: &str| {
        let status = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", groups, "--"])
            .arg(env!("CARGO_BIN_EXE_zcopy"))
            .args(["-q", "--no-env-file", "-p", "c", copy])
            .current_dir(d)
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::metadata(d.join(copy)).unwrap()
    };
    let outsider = as_nobody("--clear-groups", "c-outsider");
    assert_eq!(outsider.mode() & 0o7777, 0o755, "special bits cleared");
    assert_eq!((outsider.uid(), outsider.gid()), (65534, 65534));
    let member = as_nobody("--groups=100", "c-member");
    assert_eq!(member.mode() & 0o7777, 0o755);
    assert_eq!(
        (member.uid(), member.gid()),
        (65534, 100),
        "the group is kept"
    );
    // Root keeps all of it.
    zcopy(d).args(["-p", "c", "c-root"]).assert().success();
    let root = std::fs::metadata(d.join("c-root")).unwrap();
    assert_eq!(root.mode() & 0o7777, 0o6755);
    assert_eq!((root.uid(), root.gid()), (0, 100));
}

/// Issue 8, bug 6: `-p` keeps POSIX ACLs (copied as the system.posix_acl_access xattr,
/// as cp does) and so does not widen the group's access to the mask; a source without
/// one gives a copy without one, whatever the directory would have it inherit. Onto a
/// filesystem that cannot store the ACL, the file fails and nothing is installed.
#[test]
fn preserve_keeps_acls_exactly() {
    if !require_tool("preserve_keeps_acls_exactly", "setfacl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("f"), "x").unwrap();
    let sh = |script: &str| {
        let status = std::process::Command::new("sh")
            .args(["-ec", script])
            .current_dir(d)
            .status()
            .unwrap();
        assert!(status.success(), "{script}");
    };
    sh("setfacl -m u:bin:rw,g::r,m::rw f; mkdir inherit; setfacl -d -m u:bin:rwx inherit; echo y >plain");
    let acl = |path: &str| xattr::get(d.join(path), "system.posix_acl_access").unwrap();
    zcopy(d).args(["-p", "f", "g"]).assert().success();
    assert!(acl("g").is_some());
    assert_eq!(acl("g"), acl("f"));
    assert_eq!(mode(&d.join("g")), mode(&d.join("f")));
    zcopy(d).args(["f", "no-p"]).assert().success();
    assert!(acl("no-p").is_none(), "without -p no ACL is copied");
    zcopy(d)
        .args(["-p", "plain", "inherit/plain"])
        .assert()
        .success();
    assert!(acl("inherit/plain").is_none(), "the source has no ACL");
    assert_eq!(mode(&d.join("inherit/plain")), mode(&d.join("plain")));

    let Some(ramfs) = Ramfs::mount("preserve_keeps_acls_exactly") else {
        return;
    };
    zcopy(d)
        .arg("-p")
        .arg("f")
        .arg(ramfs.path().join("g"))
        .assert()
        .code(1)
        .stderr(predicates::str::contains("set metadata"));
    assert_eq!(list(ramfs.path()), Vec::<String>::new());
    zcopy(d)
        .arg("-p")
        .arg("plain")
        .arg(ramfs.path().join("plain"))
        .assert()
        .success();
}

/// Issue 8, bug 11: a dangling symlink as destination is refused, as cp refuses it
/// ("not writing through dangling symlink"); with -n it is an existing destination.
#[test]
fn a_dangling_link_destination_is_not_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("f"), "XYZ\n").unwrap();
    std::os::unix::fs::symlink("nowhere", d.join("sl")).unwrap();
    zcopy(d)
        .args(["f", "sl"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "sl: stat destination: not writing through a dangling symlink",
        ));
    zcopy(d).args(["-n", "f", "sl"]).assert().success();
    assert_eq!(
        std::fs::read_link(d.join("sl")).unwrap(),
        Path::new("nowhere")
    );
    assert_eq!(list(d), ["f", "sl"]);
}

/// Issue 8, bug 10: a FIFO or a device as destination is written into, never replaced
/// by a renamed file; a FIFO without a reader is an error at once, not a hang.
#[test]
fn special_destinations_are_written_into_not_replaced() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("f"), "XYZ\n").unwrap();
    nix::unistd::mkfifo(
        &d.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    zcopy(d)
        .args(["f", "fifo"])
        .timeout(Duration::from_secs(60))
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "fifo: open destination: a FIFO with no reader",
        ));
    // With a reader the bytes go into the pipe.
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(d.join("fifo"))
        .unwrap();
    let (code, json, _) = zcopy_json(d, &[OsStr::new("f"), OsStr::new("fifo")]);
    assert_eq!(code, 0);
    assert_eq!(json["files"][0]["bytes"], 4);
    assert_eq!(json["files"][0]["verified"], false);
    let mut got = String::new();
    std::io::Read::read_to_string(&mut &reader, &mut got).unwrap();
    assert_eq!(got, "XYZ\n");
    assert!(std::fs::symlink_metadata(d.join("fifo"))
        .unwrap()
        .file_type()
        .is_fifo());

    // A device: /dev/null's twin, so that a regression cannot replace the real one.
    if require_root(
        "special_destinations_are_written_into_not_replaced (device half)",
        "to make a device node",
    ) {
        nix::sys::stat::mknod(
            &d.join("null"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o666),
            nix::sys::stat::makedev(1, 3),
        )
        .unwrap();
        std::fs::set_permissions(d.join("null"), std::fs::Permissions::from_mode(0o666)).unwrap();
        zcopy(d).args(["-p", "f", "null"]).assert().success();
        let null = std::fs::symlink_metadata(d.join("null")).unwrap();
        assert!(null.file_type().is_char_device());
        assert_eq!(null.rdev(), nix::sys::stat::makedev(1, 3));
        assert_eq!(mode(&d.join("null")), 0o666, "-p does not chmod a device");
    }
    assert_no_debris(d);
}

/// Issue 8, bug 8: onto a filesystem without xattrs (ramfs), -a copies what it can
/// and says nothing, as cp; an explicit --preserve=xattr, with -a too, is an error and
/// the copy is not installed.
#[test]
fn explicit_xattr_preservation_fails_where_xattrs_cannot_be_stored() {
    let Some(ramfs) = Ramfs::mount("explicit_xattr_preservation_fails") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("f"), "x").unwrap();
    xattr::set(d.join("f"), "user.take", b"3").unwrap();
    zcopy(d)
        .arg("-a")
        .arg("f")
        .arg(ramfs.path().join("a"))
        .assert()
        .success();
    for flags in [
        &["-a", "--preserve=xattr"][..],
        &["--preserve=xattr,all"],
        &["--preserve=xattr"],
    ] {
        zcopy(d)
            .args(flags)
            .arg("f")
            .arg(ramfs.path().join("strict"))
            .assert()
            .code(1)
            .stderr(predicates::str::contains("strict: set metadata"));
    }
    assert_eq!(list(ramfs.path()), ["a"]);
}

/// `-n` keeps existing destinations from links too: `-a -n` over an existing tree used
/// to replace a file with the source's link of the same name.
#[test]
fn no_clobber_keeps_files_that_a_link_would_replace() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("t")).unwrap();
    std::fs::create_dir_all(d.join("u/t")).unwrap();
    std::fs::write(d.join("t/a"), "new").unwrap();
    std::os::unix::fs::symlink("a", d.join("t/l")).unwrap();
    std::fs::write(d.join("u/t/l"), "keep").unwrap();
    let (code, json, _) = zcopy_json(
        d,
        &[
            OsStr::new("-n"),
            OsStr::new("-a"),
            OsStr::new("t"),
            OsStr::new("u"),
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(std::fs::read(d.join("u/t/l")).unwrap(), b"keep");
    assert_eq!(json["skipped"][0]["destination"], "u/t/l");
    assert_eq!(
        json["skipped"][0]["reason"],
        "destination exists (--no-clobber)"
    );
    assert_eq!(std::fs::read(d.join("u/t/a")).unwrap(), b"new");
    // A new name still gets the link.
    zcopy(d)
        .args(["-n", "-P", "t/l", "fresh"])
        .assert()
        .success();
    assert_eq!(std::fs::read_link(d.join("fresh")).unwrap(), Path::new("a"));
    assert_no_debris(&d.join("u/t"));
}
