//! The cp options zcopy offers, held against GNU cp: each test builds the same input
//! twice, runs `/bin/cp` on one copy and zcopy on the other with the same arguments,
//! and compares what each left behind — file types, contents, modes, owners, times
//! (where they are preserved), symlink targets, hard links, device numbers — and the
//! exit codes. Some run as an unprivileged user through setpriv, where what cp may do
//! depends on it.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command as StdCommand;

/// One entry of a tree as the comparison sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    kind: &'static str,
    /// Permission bits in octal.
    mode: String,
    owner: (u32, u32),
    /// File content, symlink target, or device number.
    body: String,
    /// The first path (in sorted order) of the tree sharing this inode, if not this one.
    hard_link_of: Option<String>,
    /// Modification time, when the comparison includes times.
    mtime: Option<(i64, i64)>,
}

/// Every input entry gets this modification time unless its setup chose an older one,
/// so that the two copies of the input are alike.
const INPUT_TIME: i64 = 1_500_000_000;

/// Later than every time the inputs carry: a time the copy set.
const RECENT_AFTER: i64 = 1_600_000_000;

/// nobody and nogroup.
const NOBODY: u32 = 65534;

/// What a run leaves: every entry below the directory, keyed by relative path.
type Snapshot = BTreeMap<String, Node>;

/// How a comparison runs.
#[derive(Clone, Default)]
struct Case<'a> {
    args: &'a [&'a str],
    /// Compare modification times (for options that preserve them).
    times: bool,
    /// Run both tools as `nobody` (the tree is made world-writable first).
    unprivileged: bool,
    /// Environment variables for both tools.
    env: &'a [(&'a str, &'a str)],
    /// Arguments for zcopy only (e.g. `-j8`), before `args`.
    zcopy_args: &'a [&'a str],
    /// Entries left out of cp's result when cp fails: what cp leaves where zcopy, on
    /// purpose, leaves nothing (a partial file). zcopy's result must lack them.
    cp_leftovers: &'a [&'a str],
}

/// What one tool did.
#[derive(Debug)]
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
    tree: Snapshot,
}

fn snapshot(root: &Path, times: bool) -> Snapshot {
    let mut inodes: BTreeMap<(u64, u64), String> = BTreeMap::new();
    let mut tree = Snapshot::new();
    let walk = walkdir::WalkDir::new(root)
        .min_depth(1)
        .follow_links(false)
        .sort_by_file_name();
    for item in walk {
        let item = item.unwrap();
        let relative = item
            .path()
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let meta = item.path().symlink_metadata().unwrap();
        let kind = meta.file_type();
        let (kind_name, body) = if kind.is_symlink() {
            (
                "symlink",
                std::fs::read_link(item.path())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            )
        } else if kind.is_dir() {
            ("dir", String::new())
        } else if kind.is_file() {
            (
                "file",
                String::from_utf8_lossy(&std::fs::read(item.path()).unwrap()).into_owned(),
            )
        } else {
            use std::os::unix::fs::FileTypeExt;
            let name = if kind.is_fifo() {
                "fifo"
            } else if kind.is_char_device() {
                "char"
            } else if kind.is_block_device() {
                "block"
            } else {
                "socket"
            };
            (name, format!("rdev {:x}", meta.rdev()))
        };
        let hard_link_of = if !kind.is_dir() && meta.nlink() > 1 {
            let first = inodes
                .entry((meta.dev(), meta.ino()))
                .or_insert_with(|| relative.clone());
            (*first != relative).then(|| first.clone())
        } else {
            None
        };
        // Times set by the copy itself ("now") differ between the two runs by a few
        // milliseconds: they compare as "recent"; kept times compare exactly.
        let mtime = (times && !kind.is_symlink()).then(|| {
            if meta.mtime() > RECENT_AFTER {
                (-1, 0)
            } else {
                (meta.mtime(), meta.mtime_nsec())
            }
        });
        tree.insert(
            relative,
            Node {
                kind: kind_name,
                mode: if kind.is_symlink() {
                    String::new()
                } else {
                    format!("{:o}", meta.mode() & 0o7777)
                },
                owner: (meta.uid(), meta.gid()),
                body,
                hard_link_of,
                mtime,
            },
        );
    }
    tree
}

/// Runs `program args` in `cwd` (as nobody when asked) and returns what it did to `cwd`.
fn run_tool(program: &Path, extra: &[&str], cwd: &Path, case: &Case<'_>) -> Outcome {
    let zcopy_args = if program.ends_with("zcopy") {
        case.zcopy_args
    } else {
        &[]
    };
    let mut command = if case.unprivileged {
        let mut command = StdCommand::new("setpriv");
        command
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .arg(program);
        command
    } else {
        StdCommand::new(program)
    };
    command
        .args(extra)
        .args(zcopy_args)
        .args(case.args)
        .current_dir(cwd);
    for (key, _) in std::env::vars_os() {
        let key_text = key.to_string_lossy();
        if key_text.starts_with("ZERO_COPY_")
            || key_text == "VERSION_CONTROL"
            || key_text == "SIMPLE_BACKUP_SUFFIX"
        {
            command.env_remove(&key);
        }
    }
    command.env("LC_ALL", "C");
    for (key, value) in case.env {
        command.env(key, value);
    }
    let output = command.output().expect("the tool runs");
    Outcome {
        code: output.status.code().expect("exited normally"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        tree: snapshot(cwd, case.times),
    }
}

/// A fresh directory (world-writable for unprivileged runs) holding `setup`'s tree.
fn prepared(setup: &dyn Fn(&Path), unprivileged: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    if unprivileged {
        assert!(root(), "unprivileged comparisons run from root");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    setup(dir.path());
    for item in walkdir::WalkDir::new(dir.path())
        .min_depth(1)
        .contents_first(true)
    {
        let item = item.unwrap();
        let meta = item.path().symlink_metadata().unwrap();
        if (meta.is_file() || meta.is_dir()) && meta.mtime() > RECENT_AFTER {
            set_time(item.path(), INPUT_TIME);
        }
        // An unprivileged user copies its own files.
        if unprivileged && meta.uid() == 0 {
            std::os::unix::fs::lchown(item.path(), Some(NOBODY), Some(NOBODY)).unwrap();
        }
    }
    dir
}

/// Runs cp and zcopy on the same input; fails with both trees when they differ.
/// Returns both outcomes for extra checks.
fn compare(setup: &dyn Fn(&Path), case: Case<'_>) -> Option<(Outcome, Outcome)> {
    if case.unprivileged && !root() {
        if std::env::var_os("ZCOPY_REQUIRE_ROOT_TESTS").is_some_and(|v| v == "1") {
            panic!("unprivileged comparisons need root to switch users");
        }
        eprintln!("SKIPPED {:?} as nobody: not running as root", case.args);
        return None;
    }
    if !Path::new("/bin/cp").exists() {
        panic!("GNU cp is the reference and must be installed");
    }
    let cp_dir = prepared(setup, case.unprivileged);
    let zcopy_dir = prepared(setup, case.unprivileged);
    let mut cp = run_tool(Path::new("/bin/cp"), &[], cp_dir.path(), &case);
    if cp.code != 0 {
        for leftover in case.cp_leftovers {
            cp.tree.remove(*leftover);
        }
    }
    let zcopy = run_tool(
        Path::new(env!("CARGO_BIN_EXE_zcopy")),
        &["--no-env-file", "-q"],
        zcopy_dir.path(),
        &case,
    );
    let shown = |outcome: &Outcome| {
        format!(
            "exit {}\nstdout: {}\nstderr: {}",
            outcome.code, outcome.stdout, outcome.stderr
        )
    };
    let differences: Vec<String> = cp
        .tree
        .keys()
        .chain(zcopy.tree.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|path| cp.tree.get(*path) != zcopy.tree.get(*path))
        .map(|path| {
            format!(
                "{path}:\n  cp:    {:?}\n  zcopy: {:?}",
                cp.tree.get(path),
                zcopy.tree.get(path)
            )
        })
        .collect();
    assert!(
        differences.is_empty() && (cp.code == 0) == (zcopy.code == 0),
        "cp {:?} and zcopy differ:\n{}\n--- cp ---\n{}\n--- zcopy ---\n{}",
        case.args,
        differences.join("\n"),
        shown(&cp),
        shown(&zcopy)
    );
    assert_eq!(cp.code, zcopy.code, "exit codes differ: {}", shown(&zcopy));
    if zcopy.code != 0 {
        assert!(
            zcopy.stderr.starts_with("zcopy: ") || zcopy.stderr.starts_with("error: "),
            "a failure is explained on stderr: {}",
            zcopy.stderr
        );
    }
    Some((cp, zcopy))
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn symlink(target: &str, path: &Path) {
    std::os::unix::fs::symlink(target, path).unwrap();
}

fn old_times(path: &Path) {
    set_time(path, 1_000_000_000);
}

fn set_time(path: &Path, seconds: i64) {
    let time = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(seconds as u64);
    std::fs::File::open(path)
        .unwrap()
        .set_times(
            std::fs::FileTimes::new()
                .set_modified(time)
                .set_accessed(time),
        )
        .unwrap();
}

fn root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// Two files and a link, one file with an old mtime.
fn flat_tree(d: &Path) {
    std::fs::create_dir_all(d.join("src/sub")).unwrap();
    write(&d.join("src/a.txt"), "take one\n");
    write(&d.join("src/sub/b.txt"), "take two\n");
    symlink("a.txt", &d.join("src/latest"));
    chmod(&d.join("src/a.txt"), 0o640);
    old_times(&d.join("src/a.txt"));
}

/// A small tree: a file with an old mtime, a private directory, a link inside.
fn small_tree(d: &Path) {
    std::fs::create_dir_all(d.join("src/private")).unwrap();
    write(&d.join("src/a.txt"), "take one\n");
    write(&d.join("src/private/b.txt"), "take two\n");
    symlink("a.txt", &d.join("src/latest"));
    chmod(&d.join("src/a.txt"), 0o640);
    chmod(&d.join("src/private"), 0o700);
    old_times(&d.join("src/a.txt"));
    old_times(&d.join("src/private/b.txt"));
}

// Issue 8, bug 9: repeated options were usage errors (exit 2); cp takes them, the
// later one winning and --preserve lists adding up.
#[test]
fn repeated_options_are_accepted_like_cp() {
    for args in [
        &["-p", "-p", "src/a.txt", "copy"][..],
        &["-r", "-r", "src", "copy"],
        &[
            "--preserve=mode",
            "--preserve=timestamps",
            "src/a.txt",
            "copy",
        ],
        &["--reflink=auto", "--reflink=never", "src/a.txt", "copy"],
        &["-n", "-n", "src/a.txt", "src/sub/b.txt"],
        &["-a", "-a", "src", "copy"],
    ] {
        compare(
            &flat_tree,
            Case {
                args,
                times: true,
                ..Case::default()
            },
        );
    }
}

// Issue 8, bug 7: -r copied a 700 directory as 755.
#[test]
fn recursive_copies_keep_restrictive_directory_modes() {
    let tree = |d: &Path| {
        small_tree(d);
        std::fs::create_dir(d.join("src/readonly")).unwrap();
        write(&d.join("src/readonly/c.txt"), "take three\n");
        chmod(&d.join("src/readonly"), 0o555);
        std::fs::create_dir(d.join("src/group")).unwrap();
        chmod(&d.join("src/group"), 0o2770);
        std::fs::create_dir(d.join("existing")).unwrap();
        chmod(&d.join("existing"), 0o750);
    };
    for unprivileged in [false, true] {
        for args in [
            &["-r", "src", "copy"][..],
            &["-r", "src", "existing"],
            &["-rT", "src", "existing"],
            &["-a", "src", "copy"],
            &["-r", "--preserve=mode", "src", "copy"],
        ] {
            compare(
                &tree,
                Case {
                    args,
                    unprivileged,
                    ..Case::default()
                },
            );
        }
    }
}

/// Watches a copy of a private tree while it runs: no directory of the copy may ever
/// be readable by others, not even before its final mode is set.
#[test]
fn a_private_tree_is_never_readable_by_others_mid_copy() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("src/private/deeper")).unwrap();
    for index in 0..200 {
        write(&d.join(format!("src/private/deeper/{index}")), "secret\n");
    }
    chmod(&d.join("src/private"), 0o700);
    chmod(&d.join("src/private/deeper"), 0o700);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_zcopy"))
        .args(["--no-env-file", "-q", "-j1", "-r", "src", "copy"])
        .current_dir(d)
        .spawn()
        .unwrap();
    let mut seen = 0;
    loop {
        let finished = child.try_wait().unwrap().is_some();
        for path in ["copy/private", "copy/private/deeper"] {
            if let Ok(meta) = std::fs::metadata(d.join(path)) {
                seen += 1;
                assert_eq!(
                    meta.mode() & 0o077,
                    0,
                    "{path} was readable by others mid-copy: {:o}",
                    meta.mode()
                );
            }
        }
        if finished {
            break;
        }
    }
    assert!(child.wait().unwrap().success());
    assert!(seen > 0);
    assert_eq!(
        std::fs::metadata(d.join("copy/private")).unwrap().mode() & 0o7777,
        0o700
    );
}

// Issue 8, bug 12: -r followed symlinks named on the command line; cp's -r copies
// them as links unless -H or -L.
#[test]
fn recursive_copies_command_line_links_as_links_unless_h_or_l() {
    let tree = |d: &Path| {
        flat_tree(d);
        symlink("src", &d.join("link-to-dir"));
        symlink("src/a.txt", &d.join("link-to-file"));
        symlink("missing", &d.join("dangling"));
    };
    for args in [
        &["-r", "link-to-dir", "copy"][..],
        &["-r", "link-to-file", "copy"],
        &["-R", "link-to-dir", "copy"],
        &["-r", "-H", "link-to-dir", "copy"],
        &["-r", "-L", "link-to-dir", "copy"],
        &["-r", "-L", "-H", "link-to-dir", "copy"],
        &["-r", "-H", "-P", "link-to-dir", "copy"],
        &["-r", "-H", "-L", "link-to-dir", "copy"],
        &["-r", "dangling", "copy"],
        &["-H", "link-to-file", "copy"],
        &["link-to-file", "copy"],
        &["-R", "src", "copy"],
    ] {
        compare(
            &tree,
            Case {
                args,
                ..Case::default()
            },
        );
    }
}

// Issue 8, bug 2: with -P, a link and a file onto one destination: one silently won.
#[test]
fn two_sources_onto_one_destination_refuse_the_second_also_for_links() {
    let tree = |d: &Path| {
        for name in ["a", "b", "c"] {
            std::fs::create_dir(d.join(name)).unwrap();
        }
        symlink("../t", &d.join("a/1"));
        write(&d.join("b/1"), "x\n");
    };
    for args in [
        &["-P", "b/1", "a/1", "c"][..],
        &["-P", "a/1", "b/1", "c"],
        &["-rP", "b/1", "a/1", "c"],
        &["-a", "a/1", "b/1", "c"],
    ] {
        for jobs in ["-j1", "-j8"] {
            let (_, zcopy) = compare(
                &tree,
                Case {
                    args,
                    zcopy_args: &[jobs],
                    ..Case::default()
                },
            )
            .unwrap();
            assert_eq!(zcopy.code, 1, "{jobs}");
            assert!(
                zcopy.stderr.contains("also the destination"),
                "{}",
                zcopy.stderr
            );
        }
    }
}

/// Bare `--reflink` means `always`, as in cp: on a filesystem that cannot clone both
/// fail and leave nothing; on btrfs both clone.
#[test]
fn bare_reflink_means_always() {
    for args in [
        &["--reflink", "src/a.txt", "copy"][..],
        &["--reflink=never", "--reflink", "src/a.txt", "copy"],
        &["--reflink", "--reflink=auto", "src/a.txt", "copy"],
    ] {
        // On purpose: cp leaves an empty 'copy' after the failed clone; zcopy leaves
        // nothing under the destination's name.
        compare(
            &flat_tree,
            Case {
                args,
                cp_leftovers: &["copy"],
                ..Case::default()
            },
        );
    }
}

/// Long options may be shortened while unambiguous, as cp's getopt allows.
#[test]
fn unambiguous_long_option_abbreviations_are_accepted() {
    for args in [
        &["--recur", "src", "copy"][..],
        &["--preserve=mode", "--no-clob", "src/a.txt", "copy"],
        &["--no-target", "src/a.txt", "copy"],
        &["--target", "src/sub", "src/a.txt"],
    ] {
        compare(
            &flat_tree,
            Case {
                args,
                ..Case::default()
            },
        );
    }
}
