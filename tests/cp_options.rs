//! The cp options zcopy offers, held against GNU cp: each test builds the same input
//! twice, runs `/bin/cp` on one copy and zcopy on the other with the same arguments,
//! and compares what each left behind — file types, contents, modes, owners, times
//! (where they are preserved), symlink targets, hard links, device numbers — and the
//! exit codes. Some run as an unprivileged user through setpriv, where what cp may do
//! depends on it.

mod common;

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
    /// The umask both tools run with (the test's own when `None`).
    umask: Option<u32>,
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
    if let Some(mask) = case.umask {
        use std::os::unix::process::CommandExt;
        // SAFETY: umask(2) is async-signal-safe and touches nothing of the parent's.
        unsafe {
            command.pre_exec(move || {
                libc::umask(mask as libc::mode_t);
                Ok(())
            });
        }
    }
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

/// Compares each argument list with the defaults, as root.
fn compare_each(setup: &dyn Fn(&Path), arg_lists: &[&[&str]]) {
    for &args in arg_lists {
        compare(
            setup,
            Case {
                args,
                ..Case::default()
            },
        );
    }
}

/// Arguments for both tools, with environment variables for both.
type Run<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)]);

/// Compares each run, as root and as nobody.
fn compare_with_env_as_root_and_nobody(setup: &dyn Fn(&Path), runs: &[Run<'_>]) {
    for (args, env) in runs {
        for unprivileged in [false, true] {
            compare(
                setup,
                Case {
                    args,
                    env,
                    unprivileged,
                    ..Case::default()
                },
            );
        }
    }
}

/// Compares each argument list with the defaults, as root and then as nobody.
fn compare_as_root_and_nobody(setup: &dyn Fn(&Path), arg_lists: &[&[&str]]) {
    compare_each_as_root_and_nobody(setup, arg_lists, false);
}

/// [`compare_as_root_and_nobody`], comparing modification times too.
fn compare_with_times_as_root_and_nobody(setup: &dyn Fn(&Path), arg_lists: &[&[&str]]) {
    compare_each_as_root_and_nobody(setup, arg_lists, true);
}

fn compare_each_as_root_and_nobody(setup: &dyn Fn(&Path), arg_lists: &[&[&str]], times: bool) {
    for unprivileged in [false, true] {
        for &args in arg_lists {
            compare(
                setup,
                Case {
                    args,
                    unprivileged,
                    times,
                    ..Case::default()
                },
            );
        }
    }
}

/// Runs cp and zcopy on the same input; fails with both trees when they differ.
/// Returns both outcomes for extra checks.
fn compare(setup: &dyn Fn(&Path), case: Case<'_>) -> Option<(Outcome, Outcome)> {
    if case.unprivileged
        && !common::require_root(&format!("{:?} as nobody", case.args), "to switch users")
    {
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
    // On purpose: a usage error exits 2 in zcopy (1 in cp), as documented.
    assert!(
        cp.code == zcopy.code || (cp.code == 1 && zcopy.code == 2),
        "exit codes differ: {}",
        shown(&zcopy)
    );
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

/// Sets the times of the entry itself (a symlink or FIFO is neither followed nor opened).
fn set_link_time(path: &Path, seconds: i64) {
    let name = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    let time = libc::timespec {
        tv_sec: seconds,
        tv_nsec: 0,
    };
    let times = [time, time];
    assert_eq!(
        unsafe {
            libc::utimensat(
                libc::AT_FDCWD,
                name.as_ptr(),
                times.as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        },
        0
    );
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
    compare_as_root_and_nobody(
        &tree,
        &[
            &["-r", "src", "copy"][..],
            &["-r", "src", "existing"],
            &["-rT", "src", "existing"],
            &["-a", "src", "copy"],
            &["-r", "--preserve=mode", "src", "copy"],
        ],
    );
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
    compare_each(
        &tree,
        &[
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
            &["-d", "link-to-file", "copy"],
            &["-d", "dangling", "copy"],
            &["-dL", "link-to-file", "copy"],
            &["-Ld", "link-to-file", "copy"],
            &["-L", "-a", "link-to-dir", "copy"],
            &["-a", "-L", "link-to-dir", "copy"],
            &["-a", "-H", "link-to-dir", "copy"],
            &["-P", "-L", "-r", "link-to-dir", "copy"],
        ],
    );
}

/// A source named twice (however spelt) is copied once, with a warning, and the run
/// succeeds, as with cp; before, the second was an error for every file (exit 1).
#[test]
fn a_source_named_twice_is_copied_once() {
    let tree = |d: &Path| {
        flat_tree(d);
        std::fs::create_dir(d.join("dir")).unwrap();
    };
    compare_each(
        &tree,
        &[
            &["src/a.txt", "src/a.txt", "dir"][..],
            &["src/a.txt", "./src/a.txt", "src/sub/b.txt", "dir/"],
            &["-r", "src", "src/", "dir"],
            &["-a", "src", "./src", "dir"],
            &["-t", "dir", "src/sub/b.txt", "src/a.txt", "src//sub/b.txt"],
            &["--parents", "src/a.txt", "./src/a.txt", "dir"],
        ],
    );
    // With --parents a second spelling through a link is another destination: both
    // are copied (the second was dropped, with exit 0).
    let with_alias = |d: &Path| {
        tree(d);
        symlink("src", &d.join("alias"));
    };
    compare_each(
        &with_alias,
        &[&["--parents", "src/a.txt", "alias/a.txt", "dir"][..]],
    );
    // The warning (the comparison runs zcopy with -q, which leaves it out).
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    let output = StdCommand::new(env!("CARGO_BIN_EXE_zcopy"))
        .args(["--no-env-file", "src/a.txt", "./src/a.txt", "dir"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: source './src/a.txt' specified more than once"),
        "{stderr}"
    );
}

/// `new/` as the destination of a tree names the directory to make (cp -r makes it;
/// zcopy said it did not exist); for a file, or a link copied as a link, it is an
/// error in both.
#[test]
fn a_destination_with_a_trailing_slash_is_made_for_a_tree() {
    let tree = |d: &Path| {
        flat_tree(d);
        symlink("src", &d.join("link-to-dir"));
    };
    compare_as_root_and_nobody(&tree, &[&["-r", "src", "new/"], &["-a", "src", "new/"]]);
    compare_each(
        &tree,
        &[
            &["-r", "-H", "link-to-dir", "new/"][..],
            &["-r", "-L", "link-to-dir", "new/"],
            &["-r", "link-to-dir", "new/"],
            &["-r", "src/a.txt", "new/"],
            &["src/a.txt", "new/"],
            &["-rT", "src", "new/"],
        ],
    );
}

/// `dg/`, where `dg` is a dangling symlink, as a tree's destination: cp refuses it
/// ("cannot create directory 'dg/': File exists") and writes nothing. zcopy looked at
/// `dg/` through the link, found nothing there, built the whole tree under a hidden
/// name, failed to rename it and left it behind, its files reported as copied.
#[test]
fn a_dangling_symlink_with_a_trailing_slash_takes_no_tree() {
    let tree = |d: &Path| {
        flat_tree(d);
        symlink("nowhere", &d.join("dg"));
    };
    compare_as_root_and_nobody(
        &tree,
        &[
            &["-r", "src", "dg/"][..],
            &["-rT", "src", "dg/"],
            &["-a", "src", "dg//"],
        ],
    );
    let dir = prepared(&tree, false);
    let (code, json, stderr) = common::zcopy_json(
        dir.path(),
        &[common::os("-r"), common::os("src"), common::os("dg/")],
    );
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(json["files"].as_array().unwrap().len(), 0, "{json}");
    let error = &json["errors"][0];
    assert_eq!(error["destination"], "dg/", "{json}");
    assert_eq!(error["operation"], "create_dir", "{json}");
    assert_eq!(error["errno"], libc::EEXIST, "{json}");
    assert_eq!(
        common::list(dir.path()),
        ["dg", "src"],
        "nothing made, hidden or not"
    );
}

/// A file onto `NAME/` that is not a directory fails as in cp ("Not a directory"),
/// with -T too: -T skipped the check, and `-T f new/` made a file `new`. The message
/// says what is there: a file at `f/` is not a directory, where zcopy said that the
/// target directory did not exist.
#[test]
fn a_file_onto_a_name_with_a_trailing_slash_needs_a_directory_also_with_t() {
    let tree = |d: &Path| {
        flat_tree(d);
        write(&d.join("f"), "in the way\n");
        symlink("nowhere", &d.join("dg"));
        symlink("f", &d.join("fl"));
        symlink("src", &d.join("dl"));
    };
    compare_as_root_and_nobody(
        &tree,
        &[
            &["-T", "src/a.txt", "new/"][..],
            &["-rT", "src/a.txt", "new/"],
            &["-T", "src/a.txt", "f/"],
            &["-T", "src/a.txt", "dg/"],
            &["-T", "src/a.txt", "fl/"],
            &["-T", "src/a.txt", "dl/"],
            &["-rT", "src", "dl/"],
            &["src/a.txt", "dl/"],
        ],
    );
    for (destination, said) in [
        ("f/", "target 'f/' is not a directory"),
        ("dg/", "target 'dg/' is not a directory"),
        ("new/", "target directory 'new/' does not exist"),
    ] {
        for t in [&[][..], &["-T"]] {
            let args: Vec<&str> = t
                .iter()
                .chain(&["src/a.txt", destination])
                .copied()
                .collect();
            let (_, zcopy) = compare(
                &tree,
                Case {
                    args: &args,
                    ..Case::default()
                },
            )
            .unwrap();
            assert!(zcopy.stderr.contains(said), "{args:?}: {}", zcopy.stderr);
        }
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
    compare_each(
        &flat_tree,
        &[
            &["--recur", "src", "copy"][..],
            &["--preserve=mode", "--no-clob", "src/a.txt", "copy"],
            &["--no-target", "src/a.txt", "copy"],
            &["--target", "src/sub", "src/a.txt"],
        ],
    );
}

/// zcopy's `-v` lines without the method in brackets, sorted (cp walks a directory in
/// readdir order, zcopy in name order).
fn verbose_lines(stdout: &str, strip_method: bool) -> Vec<String> {
    let mut lines: Vec<String> = stdout
        .lines()
        .map(|line| {
            if !strip_method {
                return line.to_string();
            }
            match (line.find(" ["), line.find(']')) {
                (Some(start), Some(end)) if end > start => {
                    format!("{}{}", &line[..start], &line[end + 1..])
                }
                _ => line.to_string(),
            }
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn verbose_prints_cp_lines_with_the_method_in_brackets() {
    let tree = |d: &Path| {
        flat_tree(d);
        write(&d.join("old"), "old\n");
        std::fs::create_dir(d.join("dir")).unwrap();
    };
    for args in [
        &["-v", "src/a.txt", "copy"][..],
        &["-v", "src/a.txt", "src/sub/b.txt", "dir"],
        &["-rv", "src", "copy"],
        &["-av", "src", "dir"],
        &["-v", "-b", "src/a.txt", "old"],
        &["-v", "--backup=numbered", "src/a.txt", "old"],
        &["-v", "-s", "src/a.txt", "link"],
        &["-v", "-l", "src/a.txt", "link"],
        &["-v", "--remove-destination", "src/a.txt", "old"],
        &["-rv", "--remove-destination", "src", "dir"],
        &["-v", "--remove-destination", "-s", "src/a.txt", "old"],
    ] {
        let (cp, zcopy) = compare(
            &tree,
            Case {
                args,
                ..Case::default()
            },
        )
        .unwrap();
        assert_eq!(
            verbose_lines(&cp.stdout, false),
            verbose_lines(&zcopy.stdout, true),
            "{args:?}"
        );
    }
    // The method (or what was made) is in brackets.
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_zcopy"))
        .args([
            "--no-env-file",
            "-q",
            "-v",
            "src/a.txt",
            "src/latest",
            "dir",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        stdout,
        "'src/a.txt' -> 'dir/a.txt' [chunked]\n'src/latest' -> 'dir/latest' [chunked]\n"
    );
    // -vv adds the mechanism log on stderr; -v alone does not log it.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_zcopy"))
        .args(["--no-env-file", "-vv", "src/a.txt", "copy2"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("mechanisms"));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_zcopy"))
        .args(["--no-env-file", "-v", "src/a.txt", "copy3"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&output.stderr).contains("mechanisms"));
}

/// -f: a destination the user may not write is replaced; without it, refused as cp
/// refuses it. -l and -s replace existing files only with -f.
#[test]
fn force_replaces_what_cp_would_unlink_and_retry() {
    let tree = |d: &Path| {
        flat_tree(d);
        write(&d.join("readonly"), "old\n");
        chmod(&d.join("readonly"), 0o444);
        write(&d.join("taken"), "old\n");
    };
    compare_as_root_and_nobody(
        &tree,
        &[
            &["src/a.txt", "readonly"][..],
            &["-f", "src/a.txt", "readonly"],
            &["-l", "src/a.txt", "taken"],
            &["-lf", "src/a.txt", "taken"],
            &["-s", "src/a.txt", "taken"],
            &["-sf", "src/a.txt", "taken"],
            &["-f", "src/a.txt", "new"],
        ],
    );
}

#[test]
fn remove_destination_replaces_links_and_modes() {
    let tree = |d: &Path| {
        flat_tree(d);
        write(&d.join("target"), "target\n");
        symlink("target", &d.join("link"));
        write(&d.join("private"), "old\n");
        chmod(&d.join("private"), 0o600);
    };
    compare_as_root_and_nobody(
        &tree,
        &[
            &["src/a.txt", "link"][..],
            &["--remove-destination", "src/a.txt", "link"],
            &["src/a.txt", "private"],
            &["--remove-destination", "src/a.txt", "private"],
            &["--rem", "src/sub/b.txt", "private"],
            &["--remove-destination", "-s", "src/a.txt", "private"],
        ],
    );
}

#[test]
fn backups_follow_cp_naming() {
    let tree = |d: &Path| {
        flat_tree(d);
        write(&d.join("clip"), "old\n");
        write(&d.join("numbered"), "old\n");
        write(&d.join("numbered.~4~"), "older\n");
        symlink("clip", &d.join("link"));
        std::fs::create_dir_all(d.join("dest/src/sub")).unwrap();
        write(&d.join("dest/src/a.txt"), "old\n");
        symlink("old-target", &d.join("dest/src/latest"));
    };
    let runs: &[Run<'_>] = &[
        (&["-b", "src/a.txt", "clip"], &[]),
        (&["--backup", "src/a.txt", "clip"], &[]),
        (&["--backup=simple", "src/a.txt", "clip"], &[]),
        (&["--backup=never", "src/a.txt", "numbered"], &[]),
        (&["--backup=numbered", "src/a.txt", "clip"], &[]),
        (&["--backup=t", "src/a.txt", "numbered"], &[]),
        (&["--backup=existing", "src/a.txt", "numbered"], &[]),
        (&["--backup=nil", "src/a.txt", "clip"], &[]),
        (&["--backup=none", "src/a.txt", "clip"], &[]),
        (&["--backup=off", "src/a.txt", "clip"], &[]),
        (&["--backup=bogus", "src/a.txt", "clip"], &[]),
        (&["--suffix=.bak", "src/a.txt", "clip"], &[]),
        (&["-S", ".orig", "-b", "src/a.txt", "clip"], &[]),
        (
            &["-b", "src/a.txt", "clip"],
            &[("VERSION_CONTROL", "numbered")],
        ),
        (
            &["-b", "src/a.txt", "numbered"],
            &[("VERSION_CONTROL", "never")],
        ),
        (
            &["--backup=simple", "src/a.txt", "clip"],
            &[("VERSION_CONTROL", "t")],
        ),
        (
            &["-b", "src/a.txt", "clip"],
            &[("SIMPLE_BACKUP_SUFFIX", ".old")],
        ),
        (&["-b", "src/a.txt", "new"], &[]),
        (&["-b", "-n", "src/a.txt", "clip"], &[]),
        (&["--backup=none", "-n", "src/a.txt", "clip"], &[]),
        (&["-b", "src/a.txt", "link"], &[]),
        (&["-b", "-l", "src/a.txt", "clip"], &[]),
        (&["-b", "-s", "src/a.txt", "clip"], &[]),
        (&["-rb", "src", "dest"], &[]),
        (&["-rb", "--backup=t", "src", "dest"], &[]),
    ];
    compare_with_env_as_root_and_nobody(&tree, runs);
}

// An empty -S made the destination its own "backup": the old content survived only
// under the temporary name (which --clean removes). cp takes '~' for a suffix that is
// empty or has a '/' before its last other character, from -S or SIMPLE_BACKUP_SUFFIX.
#[test]
fn unusable_backup_suffixes_fall_back_to_a_tilde() {
    let tree = |d: &Path| {
        write(&d.join("new"), "new\n");
        write(&d.join("clip"), "old precious\n");
    };
    let runs: &[Run<'_>] = &[
        (&["-S", "", "new", "clip"], &[]),
        (&["-b", "--suffix=", "new", "clip"], &[]),
        (&["-S", "/x", "new", "clip"], &[]),
        (&["-b", "-S", "a/b", "new", "clip"], &[]),
        (&["-b", "-S", "/", "new", "clip"], &[]),
        (
            &["-S", "", "new", "clip"],
            &[("SIMPLE_BACKUP_SUFFIX", ".env")],
        ),
        (&["-b", "new", "clip"], &[("SIMPLE_BACKUP_SUFFIX", "")]),
        (&["-b", "new", "clip"], &[("SIMPLE_BACKUP_SUFFIX", "/x")]),
        // Only a '/' before another character disqualifies a suffix: a trailing one
        // is kept, and the backup's rename to that name fails (ENOTDIR).
        (&["-b", "new", "clip"], &[("SIMPLE_BACKUP_SUFFIX", "x/")]),
        (&["-b", "-S", "x//", "new", "clip"], &[]),
        (&["-b", "-S", "a/b/", "new", "clip"], &[]),
        (&["-b", "-S", "//", "new", "clip"], &[]),
    ];
    compare_with_env_as_root_and_nobody(&tree, runs);
}

// -b with a source named as the destination's backup: the backup took the source's
// name (d~ then held the old destination). cp refuses ("backing up 'd' might destroy
// source") whenever the simple backup name is the source, under any path to it, for
// every CONTROL but numbered, also for -l and -s (with -s the source's only content
// was lost: d~ held the old file, d a link to it); another hard link of it is copied.
#[test]
fn a_backup_never_takes_the_name_of_the_source() {
    let tree = |d: &Path| {
        write(&d.join("clip~"), "source\n");
        write(&d.join("clip"), "old\n");
        write(&d.join("clip.bak"), "source\n");
        write(&d.join("taken"), "old\n");
        write(&d.join("taken.~1~"), "older\n");
        write(&d.join("taken~"), "source\n");
        std::fs::create_dir(d.join("other")).unwrap();
        write(&d.join("other/clip~"), "elsewhere\n");
        std::fs::hard_link(d.join("clip~"), d.join("also")).unwrap();
    };
    compare_as_root_and_nobody(
        &tree,
        &[
            &["-b", "clip~", "clip"],
            &["--backup=simple", "./clip~", "clip"],
            &["-S", ".bak", "clip.bak", "clip"],
            &["--backup=existing", "taken~", "taken"],
            &["--backup=numbered", "clip~", "clip"],
            &["-b", "other/clip~", "clip"],
            &["-b", "also", "clip"],
            &["-b", "-l", "clip~", "clip"],
            &["-b", "-s", "clip~", "clip"],
            &["-b", "-l", "also", "clip"],
        ],
    );
}

/// Through a symlink to the backup name cp loses the source (it renames the
/// destination over it, then skips the file as replaced); zcopy refuses as for the
/// name itself.
#[test]
fn a_backup_never_takes_the_name_of_a_source_reached_through_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(&d.join("clip~"), "source\n");
    write(&d.join("clip"), "old\n");
    symlink("clip~", &d.join("latest"));
    let output = common::zcopy_std(d)
        .args(["--no-env-file", "-q", "-b", "latest", "clip"])
        .env_remove("VERSION_CONTROL")
        .env_remove("SIMPLE_BACKUP_SUFFIX")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("clip: back up:") && stderr.contains("clip~"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("clip~")).unwrap(),
        "source\n"
    );
    assert_eq!(std::fs::read_to_string(d.join("clip")).unwrap(), "old\n");
    assert_eq!(common::list(d), ["clip", "clip~", "latest"]);
}

// -f onto a symlink to another user's file the user may not write: zcopy replaced the
// link's target (another user's file, in a directory the user may write) with its
// own; cp -f unlinks the link and makes the file in its place.
#[test]
fn force_replaces_a_link_to_a_file_it_may_not_write_not_the_file() {
    let tree = |d: &Path| {
        std::fs::create_dir(d.join("mine")).unwrap();
        std::fs::create_dir(d.join("shared")).unwrap();
        chmod(&d.join("shared"), 0o777);
        write(&d.join("shared/report"), "theirs\n");
        chmod(&d.join("shared/report"), 0o644);
        // daemon's: not root's, which the comparison gives to nobody.
        std::os::unix::fs::chown(d.join("shared/report"), Some(1), Some(1)).unwrap();
        write(&d.join("mine/s"), "new\n");
        symlink("../shared/report", &d.join("mine/link"));
    };
    // As nobody; root may write the file, and cp then writes into it where zcopy
    // replaces it (a new file, root's unless -p: "Copying", difference 1).
    for (args, unprivileged) in [
        (&["-f", "mine/s", "mine/link"][..], true),
        (&["mine/s", "mine/link"], true),
        (&["-f", "-p", "mine/s", "mine/link"], true),
        (&["-f", "-p", "mine/s", "mine/link"], false),
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

// A rerun with -a over an old copy where a file's name is a symlink to a file with
// other hard links: cp replaces the link (its copy_internal unlinks it when links are
// preserved and the file it leads to has more than one), where zcopy wrote through it
// into that file, shared with other names (found by an audit). With one link both
// write through it, as they do without -a (where zcopy's write is a new file renamed
// over it, difference 1, so the file's other names keep the old content). (Inside the tree the outcome can
// still differ: zcopy replaces a file by a rename, so a file of the old copy that had
// two names has one once its copy is in place.)
#[test]
fn a_preserved_tree_replaces_a_symlink_to_a_shared_file_instead_of_writing_into_it() {
    let tree = |d: &Path| {
        write(&d.join("outside"), "precious\n");
        std::fs::hard_link(d.join("outside"), d.join("outside.bak")).unwrap();
        write(&d.join("alone"), "alone\n");
        std::fs::create_dir(d.join("s")).unwrap();
        write(&d.join("s/clip"), "clip v2\n");
        write(&d.join("s/other"), "other v2\n");
        std::fs::create_dir(d.join("old")).unwrap();
        symlink("../outside", &d.join("old/clip"));
        symlink("../alone", &d.join("old/other"));
    };
    compare_as_root_and_nobody(
        &tree,
        &[
            &["-a", "s/.", "old/"][..],
            &["-a", "-u", "s/.", "old/"],
            &["-r", "-d", "s/.", "old/"],
        ],
    );
}

// -b in a sticky directory, over a file neither the user nor the directory's owner
// is: the backup's temporary hard link (owned, as the file, by another user) could
// neither be renamed to the backup name nor removed (EPERM), and stayed. cp fails to
// rename the destination away and leaves nothing.
#[test]
fn a_refused_backup_in_a_sticky_directory_leaves_nothing() {
    let tree = |d: &Path| {
        write(&d.join("new"), "new\n");
        std::fs::create_dir(d.join("tmp")).unwrap();
        write(&d.join("tmp/theirs"), "theirs\n");
        write(&d.join("tmp/mine"), "mine\n");
        write(&d.join("tmp/theirs-backed~"), "older\n");
        write(&d.join("tmp/theirs-backed"), "theirs\n");
        // daemon's (root's would be given to nobody): a sticky /tmp of another user.
        for name in [
            "tmp",
            "tmp/theirs",
            "tmp/theirs-backed~",
            "tmp/theirs-backed",
        ] {
            std::os::unix::fs::chown(d.join(name), Some(1), Some(1)).unwrap();
        }
        for name in ["tmp/theirs", "tmp/theirs-backed~", "tmp/theirs-backed"] {
            chmod(&d.join(name), 0o666);
        }
        chmod(&d.join("tmp"), 0o1777);
    };
    compare_as_root_and_nobody(
        &tree,
        &[
            &["-b", "new", "tmp/theirs"],
            &["--backup=numbered", "new", "tmp/theirs"],
            &["-b", "new", "tmp/mine"],
            &["-b", "new", "tmp/theirs-backed"],
        ],
    );
}

// A file of another user in a sticky directory (/tmp), which the user may write: cp
// writes into it in place; zcopy replaces files by a rename, which the sticky bit
// refuses (EPERM). It was found out after the whole copy; now before anything is
// written, with a message that says why, and the file is left as it was. (A
// difference from cp, README difference 1.)
#[test]
fn a_file_a_sticky_directory_will_not_let_go_is_refused_before_the_copy() {
    if !common::require_root(
        "a_file_a_sticky_directory_will_not_let_go_is_refused_before_the_copy",
        "runs zcopy as nobody over a file daemon owns",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    chmod(d, 0o755);
    write(&d.join("new"), "new\n");
    std::fs::create_dir(d.join("tmp")).unwrap();
    write(&d.join("tmp/theirs"), "theirs\n");
    std::os::unix::fs::chown(d.join("tmp/theirs"), Some(1), Some(1)).unwrap();
    chmod(&d.join("tmp/theirs"), 0o666);
    chmod(&d.join("tmp"), 0o1777);
    for args in [&["new", "tmp/theirs"][..], &["-f", "new", "tmp/theirs"]] {
        let output = StdCommand::new("setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_zcopy"))
            .args(["--no-env-file", "-q"])
            .args(args)
            .current_dir(d)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            "zcopy: tmp/theirs: rename: a sticky directory lets only the file's owner or its \
             own replace it\n",
            "{args:?}"
        );
        assert_eq!(
            std::fs::read_to_string(d.join("tmp/theirs")).unwrap(),
            "theirs\n"
        );
        assert_eq!(common::list(&d.join("tmp")), ["theirs"], "{args:?}");
    }
    // Root may (CAP_FOWNER), and the user may replace its own file there.
    common::zcopy(d)
        .args(["new", "tmp/theirs"])
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(d.join("tmp/theirs")).unwrap(),
        "new\n"
    );
}

// -b over a destination the user may not write, in a directory it may: zcopy refused
// it as cp without -b does ("open destination: Permission denied"); cp -b renames it
// to the backup name and makes a new file.
#[test]
fn a_backup_replaces_a_destination_the_user_may_not_write() {
    let tree = |d: &Path| {
        write(&d.join("new"), "new\n");
        write(&d.join("clip"), "old\n");
        chmod(&d.join("clip"), 0o444);
        write(&d.join("theirs"), "theirs\n");
        chmod(&d.join("theirs"), 0o444);
        std::os::unix::fs::chown(d.join("theirs"), Some(1), Some(1)).unwrap();
        std::fs::create_dir(d.join("closed")).unwrap();
        write(&d.join("closed/clip"), "old\n");
        chmod(&d.join("closed/clip"), 0o444);
        std::os::unix::fs::chown(d.join("closed"), Some(1), Some(1)).unwrap();
        chmod(&d.join("closed"), 0o755);
    };
    compare_as_root_and_nobody(
        &tree,
        &[
            &["-b", "new", "clip"],
            &["--backup=numbered", "new", "clip"],
            &["-S", ".bak", "new", "clip"],
            &["-b", "new", "theirs"],
            &["-b", "new", "closed/clip"],
            &["new", "clip"],
        ],
    );
}

/// When the backup name is already a hard link of the destination, renaming the
/// temporary link onto it does nothing (rename(2) between two links of one file
/// succeeds without removing either): the temporary link must still go. cp fails here
/// ("cannot create regular file: File exists", after its rename did nothing); zcopy
/// keeps the old file as the backup and installs the new one.
#[test]
fn a_backup_name_already_linked_to_the_destination_leaves_no_temporary_link() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(&d.join("new"), "new\n");
    write(&d.join("clip"), "old\n");
    std::fs::hard_link(d.join("clip"), d.join("clip~")).unwrap();
    let output = common::zcopy_std(d)
        .args(["--no-env-file", "-q", "-b", "new", "clip"])
        .env_remove("VERSION_CONTROL")
        .env_remove("SIMPLE_BACKUP_SUFFIX")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(std::fs::read_to_string(d.join("clip")).unwrap(), "new\n");
    assert_eq!(std::fs::read_to_string(d.join("clip~")).unwrap(), "old\n");
    assert_eq!(common::list(d), ["clip", "clip~", "new"]);
}

#[test]
fn hard_and_symbolic_links_instead_of_copies() {
    let tree = |d: &Path| {
        flat_tree(d);
        std::fs::create_dir(d.join("dir")).unwrap();
        symlink("sub", &d.join("src/link-to-dir"));
        symlink("src/a.txt", &d.join("top-link"));
    };
    let absolute = tempfile::tempdir().unwrap();
    let source_tree = absolute.path().join("src");
    flat_tree(absolute.path());
    let absolute_source = source_tree.to_str().unwrap();
    let absolute_file = format!("{absolute_source}/a.txt");
    for args in [
        &["-l", "src/a.txt", "copy"][..],
        &["-l", "src/a.txt", "src/sub/b.txt", "dir"],
        &["-l", "src/a.txt", "src/a.txt"],
        &["-rl", "src", "copy"],
        &["-l", "top-link", "copy"],
        &["-Pl", "top-link", "copy"],
        &["-s", "src/a.txt", "copy"],
        &["-s", "src/a.txt", "dir"],
        &["-s", "src/a.txt", "dir/x"],
        &["-rs", "src", "copy"],
        &["-rs", absolute_source, "copy"],
        &["-s", &absolute_file, "dir/x"],
        &["-s", "-l", "src/a.txt", "copy"],
        &["-n", "-l", "src/a.txt", "src/sub/b.txt"],
    ] {
        for jobs in ["-j1", "-j8"] {
            compare(
                &tree,
                Case {
                    args,
                    zcopy_args: &[jobs],
                    ..Case::default()
                },
            );
        }
    }
}

/// Hard links inside a copied set stay hard links with --preserve=links, -a and -d;
/// without, each name gets its own copy.
#[test]
fn preserve_links_keeps_hard_links_as_hard_links() {
    let tree = |d: &Path| {
        flat_tree(d);
        std::fs::hard_link(d.join("src/a.txt"), d.join("src/sub/same.txt")).unwrap();
        std::fs::hard_link(d.join("src/a.txt"), d.join("src/zz.txt")).unwrap();
        write(&d.join("other"), "other\n");
        std::fs::hard_link(d.join("other"), d.join("other-link")).unwrap();
        std::fs::create_dir(d.join("dir")).unwrap();
        std::fs::create_dir(d.join("links")).unwrap();
        write(&d.join("links/f"), "one\n");
        symlink("f", &d.join("links/l1"));
        symlink("f", &d.join("links/l2"));
        symlink("links", &d.join("links2"));
    };
    for args in [
        &["-r", "src", "copy"][..],
        &["-a", "src", "copy"],
        &["-rd", "src", "copy"],
        &["-r", "--preserve=links", "src", "copy"],
        &["-a", "--no-preserve=links", "src", "copy"],
        &["--preserve=links", "other", "other-link", "dir"],
        &["-d", "other", "other-link", "dir"],
        &["other", "other-link", "dir"],
        &["-rL", "--preserve=links", "links", "copy"],
        &["-aL", "links", "copy"],
        &["-rH", "--preserve=links", "links", "links2", "dir"],
        &["-r", "--preserve=links", "links", "copy"],
    ] {
        for jobs in ["-j1", "-j8"] {
            compare(
                &tree,
                Case {
                    args,
                    zcopy_args: &[jobs],
                    times: true,
                    ..Case::default()
                },
            );
        }
    }
}

/// A replaced destination keeps its extended attributes, as cp's in-place write does;
/// with --preserve=xattr the source's win where both have one.
#[test]
fn a_replaced_destination_keeps_its_extended_attributes() {
    // With -p and -a too: the source's mode replaces the old one's, not its xattrs.
    for args in [
        &["src", "dest"][..],
        &["--preserve=xattr", "src", "dest"],
        &["-p", "src", "dest"],
        &["--preserve=mode", "src", "dest"],
        &["-a", "src", "dest"],
    ] {
        let mut results = Vec::new();
        for tool in [Path::new("/bin/cp"), Path::new(env!("CARGO_BIN_EXE_zcopy"))] {
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path();
            write(&d.join("src"), "new\n");
            write(&d.join("dest"), "old\n");
            if xattr::set(d.join("dest"), "user.tag", b"old").is_err() {
                eprintln!("skipped: no user xattrs on this filesystem");
                return;
            }
            xattr::set(d.join("dest"), "user.kept", b"dest's").unwrap();
            xattr::set(d.join("src"), "user.tag", b"source's").unwrap();
            let status = StdCommand::new(tool)
                .args(args)
                .current_dir(d)
                .status()
                .unwrap();
            assert!(status.success(), "{tool:?} {args:?}");
            assert_eq!(std::fs::read(d.join("dest")).unwrap(), b"new\n");
            let get = |name: &str| xattr::get(d.join("dest"), name).unwrap();
            results.push((get("user.tag"), get("user.kept")));
        }
        assert_eq!(results[0], results[1], "cp, then zcopy, {args:?}");
        assert_eq!(results[1].1.as_deref(), Some(&b"dest's"[..]), "{args:?}");
    }
}

/// New directories get their modes as cp's mkdir gives them: a parent's default ACL
/// (not the umask) decides, a setgid parent's bit is inherited, a sticky bit is kept,
/// and what the umask allows of group and other write comes back at the end.
#[test]
fn new_directories_get_their_modes_as_cp_makes_them() {
    let tree = |d: &Path| {
        std::fs::create_dir_all(d.join("src/sub")).unwrap();
        write(&d.join("src/sub/f"), "x\n");
        std::fs::create_dir_all(d.join("sticky/pub")).unwrap();
        chmod(&d.join("sticky/pub"), 0o1777);
        std::fs::create_dir_all(d.join("open/sub")).unwrap();
        chmod(&d.join("open/sub"), 0o777);
        std::fs::create_dir(d.join("acl")).unwrap();
        let status = StdCommand::new("setfacl")
            .args(["-d", "-m", "g::---,o::---"])
            .arg(d.join("acl"))
            .status()
            .expect("setfacl (package acl) is installed");
        assert!(status.success());
        std::fs::create_dir(d.join("grp")).unwrap();
        std::os::unix::fs::chown(d.join("grp"), None, Some(NOBODY)).unwrap();
        chmod(&d.join("grp"), 0o2775);
    };
    if !common::require_root("directory modes", "to give a directory away") {
        return;
    }
    for umask in [0o022, 0o002, 0o000, 0o077] {
        for args in [
            &["-r", "src", "acl"][..],
            &["-r", "src", "grp"],
            &["-a", "src", "grp"],
            &["-r", "sticky", "copy"],
            &["-r", "open", "copy"],
            &["-a", "sticky", "copy"],
            &["-r", "--no-preserve=mode", "sticky", "copy"],
        ] {
            compare(
                &tree,
                Case {
                    args,
                    umask: Some(umask),
                    ..Case::default()
                },
            );
        }
    }
}

/// A symlink to a directory where a copied directory goes is not gone into: cp refuses
/// ("cannot overwrite non-directory"), and so does zcopy, for the whole tree below it.
/// Followed, a link planted in a destination tree would send files, modes and owners
/// into any directory.
#[test]
fn a_symlink_where_a_directory_goes_is_not_followed() {
    let tree = |d: &Path| {
        std::fs::create_dir_all(d.join("src/sub")).unwrap();
        write(&d.join("src/f"), "new\n");
        write(&d.join("src/sub/g"), "new\n");
        std::fs::create_dir_all(d.join("dst/deeper/src")).unwrap();
        std::fs::create_dir(d.join("victim")).unwrap();
        write(&d.join("victim/f"), "precious\n");
        chmod(&d.join("victim"), 0o700);
        symlink("../victim", &d.join("dst/src"));
        symlink("../../../victim", &d.join("dst/deeper/src/sub"));
        symlink("victim", &d.join("lnk"));
    };
    for args in [
        &["-r", "src", "dst"][..],
        &["-a", "src", "dst"],
        &["-rT", "src", "lnk"],
        &["-r", "src", "dst/deeper"],
        &["-rf", "src", "dst"],
        &["-r", "--remove-destination", "src", "dst"],
    ] {
        for unprivileged in [false, true] {
            let outcomes = compare(
                &tree,
                Case {
                    args,
                    unprivileged,
                    ..Case::default()
                },
            );
            if let Some((_, zcopy)) = outcomes {
                assert_ne!(zcopy.code, 0, "{args:?}");
                assert_eq!(zcopy.tree["victim/f"].body, "precious\n", "{args:?}");
                assert_eq!(zcopy.tree["victim"].mode, "700", "{args:?}");
            }
        }
    }
}

/// A hard link is kept as a link only to a copy that is in place: where -n skips the
/// first name (its destination holds other content), the next name gets the source's
/// content, not a link to whatever the destination held; cp copies it again, and links
/// the third name to that copy. A destination -u keeps as up to date is in place: cp
/// links the other names to it.
///
/// The two directories are given in order on the command line: inside a tree cp visits
/// entries in an order of the filesystem's (ext4: by inode number, and the Orlov
/// allocator may place `c` before `a`), and when cp meets `c/h2` first, `-u` does not
/// stop it from linking the newer `a/h1` to the new copy.
#[test]
fn preserve_links_never_links_to_a_file_the_run_did_not_copy() {
    let tree = |d: &Path| {
        std::fs::create_dir_all(d.join("hl/a")).unwrap();
        std::fs::create_dir_all(d.join("hl/c")).unwrap();
        write(&d.join("hl/a/h1"), "new\n");
        std::fs::hard_link(d.join("hl/a/h1"), d.join("hl/c/h2")).unwrap();
        std::fs::hard_link(d.join("hl/a/h1"), d.join("hl/c/h3")).unwrap();
        std::fs::create_dir_all(d.join("dest/hl/a")).unwrap();
        write(&d.join("dest/hl/a/h1"), "old\n");
        // Newer than the source, so that -u keeps it.
        set_time(&d.join("dest/hl/a/h1"), INPUT_TIME + 100);
    };
    for args in [
        &["-an", "hl/a", "hl/c", "dest/hl"][..],
        &["-au", "hl/a", "hl/c", "dest/hl"],
        &["-rn", "--preserve=links", "hl/a", "hl/c", "dest/hl"],
    ] {
        for jobs in ["-j1", "-j8"] {
            let outcomes = compare(
                &tree,
                Case {
                    args,
                    zcopy_args: &[jobs],
                    times: true,
                    ..Case::default()
                },
            );
            if let Some((_, zcopy)) = outcomes {
                let no_clobber = args[0].contains('n');
                let linked = if no_clobber { "new\n" } else { "old\n" };
                assert_eq!(zcopy.tree["dest/hl/c/h2"].body, linked, "{args:?}");
                assert_eq!(zcopy.tree["dest/hl/a/h1"].body, "old\n", "{args:?}");
            }
        }
    }
}

#[test]
fn no_preserve_removes_attributes() {
    for unprivileged in [false, true] {
        for args in [
            &["-a", "--no-preserve=mode", "src", "copy"][..],
            &["-a", "--no-preserve=timestamps", "src", "copy"],
            &["-a", "--no-preserve=mode,timestamps", "src", "copy"],
            &["-p", "--no-preserve=all", "src/a.txt", "copy"],
            &[
                "--preserve=mode",
                "--no-preserve=ownership",
                "src/a.txt",
                "copy",
            ],
            &["--no-preserve=mode", "-p", "src/a.txt", "copy"],
            &["--no-preserve=all", "-a", "src", "copy"],
            &[
                "-a",
                "--no-preserve=all",
                "--preserve=timestamps",
                "src",
                "copy",
            ],
            &[
                "--no-preserve=timestamps",
                "--preserve",
                "src/a.txt",
                "copy",
            ],
        ] {
            compare(
                &small_tree,
                Case {
                    args,
                    unprivileged,
                    times: true,
                    ..Case::default()
                },
            );
        }
    }
}

#[test]
fn parents_copies_sources_to_their_whole_path() {
    let tree = |d: &Path| {
        small_tree(d);
        std::fs::create_dir(d.join("dir")).unwrap();
    };
    compare_each(
        &tree,
        &[
            &["--parents", "src/private/b.txt", "dir"][..],
            &["--parents", "src/a.txt", "src/private/b.txt", "dir"],
            &["--parent", "-p", "src/private/b.txt", "dir"],
            &["--parents", "-r", "src/private", "dir"],
            &["--parents", "src/a.txt", "src/a.txt"],
            &["--parents", "src/a.txt", "missing"],
        ],
    );
}

/// -r and -a recreate FIFOs and device nodes; as an unprivileged user a device node
/// cannot be made (EPERM) and both tools fail, and a FIFO can.
#[test]
fn recursive_copies_recreate_special_files() {
    let tree = |d: &Path| {
        flat_tree(d);
        nix_mkfifo(&d.join("src/pipe"), 0o640);
        if root() {
            nix_mknod_char(&d.join("src/null"), 0o620, 1, 3);
        }
    };
    for unprivileged in [false, true] {
        for args in [
            &["-r", "src", "copy"][..],
            &["-a", "src", "copy"],
            &["-R", "src/pipe", "copy"],
            &["-a", "src/pipe", "src/pipe2"],
        ] {
            compare(
                &tree,
                Case {
                    args,
                    unprivileged,
                    times: true,
                    ..Case::default()
                },
            );
        }
    }
}

fn nix_mkfifo(path: &Path, mode: u32) {
    let name = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), mode) }, 0);
    chmod(path, mode);
}

fn nix_mknod_char(path: &Path, mode: u32, major: u32, minor: u32) {
    let name = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    let device = libc::makedev(major, minor);
    assert_eq!(
        unsafe { libc::mknod(name.as_ptr(), libc::S_IFCHR | mode, device) },
        0
    );
    chmod(path, mode);
}

#[test]
fn attributes_only_copies_no_data() {
    let tree = |d: &Path| {
        small_tree(d);
        write(&d.join("existing"), "keep me\n");
    };
    for args in [
        &["--attributes-only", "src/a.txt", "copy"][..],
        &["--attributes-only", "-p", "src/a.txt", "copy"],
        &["--attributes-only", "-p", "src/a.txt", "existing"],
        &["--attributes-only", "src/a.txt", "existing"],
        &["-a", "--attributes-only", "src", "copy"],
    ] {
        compare(
            &tree,
            Case {
                args,
                times: true,
                ..Case::default()
            },
        );
    }
}

// --attributes-only with --remove-destination, or -f on a destination the user may not
// write: zcopy set the attributes on the existing file and kept its data (or, as
// nobody on a read-only file, changed nothing and exited 0); cp unlinks it and makes a
// new empty file, with the source's mode. Without those options cp keeps the data and
// changes only the attributes; -b makes a new file too.
#[test]
fn attributes_only_makes_a_new_file_where_cp_removes_the_destination() {
    let tree = |d: &Path| {
        write(&d.join("a"), "aaa\n");
        chmod(&d.join("a"), 0o640);
        old_times(&d.join("a"));
        write(&d.join("t"), "old\n");
        chmod(&d.join("t"), 0o644);
        write(&d.join("ro"), "old\n");
        chmod(&d.join("ro"), 0o444);
        // daemon's (root's would be given to nobody), read-only.
        write(&d.join("theirs"), "old\n");
        chmod(&d.join("theirs"), 0o444);
        std::os::unix::fs::chown(d.join("theirs"), Some(1), Some(1)).unwrap();
        write(&d.join("target"), "old\n");
        symlink("target", &d.join("link"));
    };
    compare_with_times_as_root_and_nobody(
        &tree,
        &[
            &["--attributes-only", "--remove-destination", "a", "t"][..],
            &["--attributes-only", "--remove-destination", "a", "ro"],
            &["--attributes-only", "--remove-destination", "a", "theirs"],
            &["--attributes-only", "--remove-destination", "a", "link"],
            &["--attributes-only", "--remove-destination", "-p", "a", "t"],
            &["--attributes-only", "-f", "a", "ro"],
            &["--attributes-only", "-f", "a", "theirs"],
            &["--attributes-only", "-f", "-p", "a", "ro"],
            &["--attributes-only", "-f", "a", "link"],
            &["--attributes-only", "-b", "a", "t"],
            &["--attributes-only", "-b", "a", "theirs"],
            &["--attributes-only", "a", "t"],
            &["--attributes-only", "-p", "a", "t"],
            &["--attributes-only", "a", "ro"],
            &["--attributes-only", "a", "link"],
        ],
    );
}

// --attributes-only --no-preserve=mode: the new empty file had the source's mode; cp
// gives it the default one (0666 less the umask), as to any new file. An existing file
// kept in place keeps its mode.
#[test]
fn attributes_only_gives_new_files_the_default_mode_without_preserve_mode() {
    let tree = |d: &Path| {
        write(&d.join("a"), "aaa\n");
        chmod(&d.join("a"), 0o600);
        old_times(&d.join("a"));
        write(&d.join("t"), "old\n");
        chmod(&d.join("t"), 0o640);
    };
    compare_with_times_as_root_and_nobody(
        &tree,
        &[
            &["--attributes-only", "--no-preserve=mode", "a", "new"][..],
            &["--attributes-only", "-a", "--no-preserve=mode", "a", "new"],
            &[
                "--attributes-only",
                "--no-preserve=mode",
                "--remove-destination",
                "a",
                "t",
            ],
            &[
                "--attributes-only",
                "-a",
                "--no-preserve=mode",
                "-b",
                "a",
                "t",
            ],
            &["--attributes-only", "-a", "--no-preserve=mode", "a", "t"],
        ],
    );
}

/// Every new kind of result is told apart in the JSON, with -j8 as with -j1, and the
/// flags work on --files-from lists too.
#[test]
fn json_records_say_what_was_made_with_jobs_and_lists() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    flat_tree(d);
    nix_mkfifo(&d.join("src/pipe"), 0o644);
    std::fs::hard_link(d.join("src/a.txt"), d.join("src/sub/same.txt")).unwrap();
    let zcopy_json = |args: &[&str], stdin: &str| {
        let output = assert_cmd::Command::new(env!("CARGO_BIN_EXE_zcopy"))
            .args(["--no-env-file", "--json"])
            .args(args)
            .current_dir(d)
            .write_stdin(stdin)
            .output()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut made: Vec<(String, String, String)> = json["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|file| {
                (
                    file["destination"].as_str().unwrap().to_string(),
                    file["kind"].as_str().unwrap().to_string(),
                    file["backup"].as_str().unwrap_or("-").to_string(),
                )
            })
            .collect();
        made.sort();
        made
    };
    let owned = |rows: &[(&str, &str, &str)]| -> Vec<(String, String, String)> {
        rows.iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect()
    };
    for jobs in ["-j1", "-j8"] {
        let tree = format!("tree{jobs}");
        assert_eq!(
            zcopy_json(&[jobs, "-a", "src", &tree], ""),
            owned(&[
                (&format!("{tree}/a.txt"), "copy", "-"),
                (&format!("{tree}/latest"), "symlink", "-"),
                (&format!("{tree}/pipe"), "special", "-"),
                (&format!("{tree}/sub/b.txt"), "copy", "-"),
                (&format!("{tree}/sub/same.txt"), "link", "-"),
            ])
        );
        let out = format!("out{jobs}");
        std::fs::create_dir(d.join(&out)).unwrap();
        let copied = format!("{out}/src/a.txt");
        assert_eq!(
            zcopy_json(&[jobs, "-b", "--files-from=-", &out], "src/a.txt\n"),
            owned(&[(&copied, "copy", "-")])
        );
        assert_eq!(
            zcopy_json(&[jobs, "-b", "--files-from=-", &out], "src/a.txt\n"),
            owned(&[(&copied, "copy", &format!("{copied}~"))])
        );
        let listed = format!("listed{jobs}");
        std::fs::create_dir(d.join(&listed)).unwrap();
        assert_eq!(
            zcopy_json(
                &[jobs, "-l", "--files-from=-", &listed],
                "src/a.txt\nsrc/sub/b.txt\n"
            ),
            owned(&[
                (&format!("{listed}/src/a.txt"), "link", "-"),
                (&format!("{listed}/src/sub/b.txt"), "link", "-"),
            ])
        );
        let symbolic = format!("{}/sym{jobs}", d.display());
        let source = format!("{}/src/a.txt", d.display());
        assert_eq!(
            zcopy_json(&[jobs, "-s", &source, &symbolic], ""),
            owned(&[(&symbolic, "symlink", "-")])
        );
        assert_eq!(std::fs::read_link(&symbolic).unwrap(), Path::new(&source));
    }
}

/// A backup is made while the destination's name keeps the old file: watched from
/// outside, the destination never disappears during a -b copy.
#[test]
fn a_backup_never_leaves_the_destination_missing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(&d.join("new"), "new\n");
    write(&d.join("clip"), "old\n");
    for round in 0..30 {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_zcopy"))
            .args(["--no-env-file", "-q", "--backup=numbered", "new", "clip"])
            .current_dir(d)
            .spawn()
            .unwrap();
        loop {
            let finished = child.try_wait().unwrap().is_some();
            assert!(
                d.join("clip").exists(),
                "round {round}: the destination went missing"
            );
            if finished {
                break;
            }
        }
        assert!(child.wait().unwrap().success());
    }
    let names = std::fs::read_dir(d).unwrap().count();
    assert_eq!(names, 2 + 30, "new, clip and 30 numbered backups");
    assert_eq!(
        std::fs::read_to_string(d.join("clip.~1~")).unwrap(),
        "old\n"
    );
    assert!(!std::fs::read_dir(d).unwrap().any(|entry| entry
        .unwrap()
        .file_name()
        .to_string_lossy()
        .contains("zcopy-tmp")));
}

/// --sparse: the copies hold the same bytes as cp's and the same number of allocated
/// blocks (holes kept, made of zero blocks, or filled).
#[test]
fn sparse_modes_allocate_what_cp_allocates() {
    use std::io::{Seek, SeekFrom, Write};
    let tree = |d: &Path| {
        let mut sparse = std::fs::File::create(d.join("sparse")).unwrap();
        sparse.seek(SeekFrom::Start(1 << 20)).unwrap();
        sparse.write_all(&[7u8; 8192]).unwrap();
        sparse.set_len(3 << 20).unwrap();
        let mut zeros = std::fs::File::create(d.join("zeros")).unwrap();
        zeros.write_all(&vec![0u8; 1 << 20]).unwrap();
        zeros.write_all(&[9u8; 4096]).unwrap();
        zeros.write_all(&vec![0u8; 1 << 20]).unwrap();
        zeros.sync_all().unwrap();
    };
    for args in [
        &["sparse", "copy"][..],
        &["--sparse=auto", "sparse", "copy"],
        &["--sparse=always", "sparse", "copy"],
        &["--sparse=never", "sparse", "copy"],
        &["--sparse=always", "zeros", "copy"],
        &["--sparse=never", "zeros", "copy"],
        &["--sparse=always", "--reflink=always", "sparse", "copy"],
    ] {
        let cp_dir = prepared(&tree, false);
        let zcopy_dir = prepared(&tree, false);
        let case = Case {
            args,
            ..Case::default()
        };
        let cp = run_tool(Path::new("/bin/cp"), &[], cp_dir.path(), &case);
        let zcopy = run_tool(
            Path::new(env!("CARGO_BIN_EXE_zcopy")),
            &["--no-env-file", "-q"],
            zcopy_dir.path(),
            &case,
        );
        assert_eq!(cp.tree, zcopy.tree, "{args:?}");
        assert_eq!(cp.code == 0, zcopy.code == 0, "{args:?}: {}", zcopy.stderr);
        if cp.code == 0 {
            let blocks = |dir: &Path| {
                let file = std::fs::File::open(dir.join("copy")).unwrap();
                file.sync_all().unwrap();
                file.metadata().unwrap().blocks()
            };
            assert_eq!(
                blocks(cp_dir.path()),
                blocks(zcopy_dir.path()),
                "{args:?}: allocated 512-byte blocks"
            );
        }
    }
}

/// --copy-contents: with -r, a device node or FIFO is read like a file instead of
/// recreated.
#[test]
fn copy_contents_reads_special_files() {
    if !root() {
        eprintln!("SKIPPED copy_contents_reads_special_files: mknod needs root");
        return;
    }
    let tree = |d: &Path| {
        flat_tree(d);
        nix_mknod_char(&d.join("src/null"), 0o644, 1, 3);
    };
    compare_each(
        &tree,
        &[
            &["-r", "--copy-contents", "src", "copy"][..],
            &["-a", "--copy-contents", "src", "copy"],
            &["--copy-contents", "src/null", "copy"],
        ],
    );
    // A FIFO: read until its writer closes it.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    std::fs::create_dir(d.join("src")).unwrap();
    nix_mkfifo(&d.join("src/pipe"), 0o644);
    let writer = {
        let pipe = d.join("src/pipe");
        std::thread::spawn(move || std::fs::write(pipe, "fed through a pipe\n").unwrap())
    };
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_zcopy"))
        .args([
            "--no-env-file",
            "-q",
            "-r",
            "--copy-contents",
            "src",
            "copy",
        ])
        .current_dir(&d)
        .output()
        .unwrap();
    writer.join().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(d.join("copy/pipe")).unwrap(),
        "fed through a pipe\n"
    );
}

/// -i asks before -l or -s replaces a file (a yes replaces it, as cp's does), and
/// before a link of a copied tree replaces one.
#[test]
fn interactive_asks_before_links_replace_files() {
    if !Path::new("/usr/bin/script").exists() {
        eprintln!("SKIPPED interactive_asks_before_links_replace_files: script(1) is missing");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    flat_tree(d);
    write(&d.join("taken"), "old\n");
    let on_terminal =
        |answer: &str, args: &str| common::zcopy_answering(d, answer, &format!("-q -i {args}"));
    let said = on_terminal("n", "-l src/a.txt taken");
    assert!(said.contains("overwrite 'taken'?"), "{said}");
    assert_eq!(std::fs::read_to_string(d.join("taken")).unwrap(), "old\n");
    on_terminal("y", "-l src/a.txt taken");
    let (a, taken) = (
        std::fs::metadata(d.join("src/a.txt")).unwrap(),
        std::fs::metadata(d.join("taken")).unwrap(),
    );
    assert_eq!(
        (a.dev(), a.ino()),
        (taken.dev(), taken.ino()),
        "a hard link now"
    );
    let said = on_terminal("n", "-P src/latest taken");
    assert!(said.contains("overwrite 'taken'?"), "{said}");
    assert!(!d.join("taken").is_symlink());
}

/// `--files-from LIST DIR` puts each listed path where `cp --parents PATH... DIR` does:
/// so every option, with -j8 and a list, is held against cp --parents.
#[test]
fn options_work_the_same_through_files_from_and_jobs() {
    let tree = |d: &Path| {
        small_tree(d);
        std::fs::hard_link(d.join("src/a.txt"), d.join("src/private/same.txt")).unwrap();
        std::fs::create_dir_all(d.join("dir/src/private")).unwrap();
        write(&d.join("dir/src/a.txt"), "old\n");
        write(
            &d.join("list"),
            "src/a.txt\nsrc/private/b.txt\nsrc/private/same.txt\n",
        );
    };
    let sources = ["src/a.txt", "src/private/b.txt", "src/private/same.txt"];
    for options in [
        &[][..],
        &["-p"],
        &["-b"],
        &["--backup=numbered"],
        &["-l", "-f"],
        &["--remove-destination"],
        &["--preserve=links"],
        &["--attributes-only", "-p"],
        &["--sparse=never"],
        &["-n"],
        &["-u"],
    ] {
        let cp_args: Vec<&str> = ["--parents"]
            .iter()
            .chain(options)
            .chain(&sources)
            .chain(&["dir"])
            .copied()
            .collect();
        let zcopy_args: Vec<&str> = ["-j8", "--files-from=list"]
            .iter()
            .chain(options)
            .chain(&["dir"])
            .copied()
            .collect();
        let cp_dir = prepared(&tree, false);
        let zcopy_dir = prepared(&tree, false);
        let cp = run_tool(
            Path::new("/bin/cp"),
            &[],
            cp_dir.path(),
            &Case {
                args: &cp_args,
                times: true,
                ..Case::default()
            },
        );
        let zcopy = run_tool(
            Path::new(env!("CARGO_BIN_EXE_zcopy")),
            &["--no-env-file", "-q"],
            zcopy_dir.path(),
            &Case {
                args: &zcopy_args,
                times: true,
                ..Case::default()
            },
        );
        // cp --parents gives the directories it makes the source's modes; --files-from
        // makes them as new directories (0777 less the umask).
        let without_parents = |tree: &Snapshot| -> Snapshot {
            tree.iter()
                .filter(|(path, node)| !(node.kind == "dir" && path.starts_with("dir/")))
                .map(|(path, node)| (path.clone(), node.clone()))
                .collect()
        };
        assert_eq!(
            without_parents(&cp.tree),
            without_parents(&zcopy.tree),
            "{options:?}: cp {}\nzcopy {}",
            cp.stderr,
            zcopy.stderr
        );
        assert_eq!(cp.code, zcopy.code, "{options:?}: {}", zcopy.stderr);
    }
}

/// -u over links and nodes of a tree: replaced only when older, as files are.
#[test]
fn update_applies_to_links_of_a_tree() {
    let tree = |d: &Path| {
        std::fs::create_dir_all(d.join("src")).unwrap();
        std::fs::create_dir_all(d.join("dest/src")).unwrap();
        symlink("new-target", &d.join("src/newer"));
        symlink("new-target", &d.join("src/older"));
        symlink("old-target", &d.join("dest/src/newer"));
        symlink("old-target", &d.join("dest/src/older"));
        set_link_time(&d.join("src/newer"), 1_200_000_000);
        set_link_time(&d.join("dest/src/newer"), 1_300_000_000);
        set_link_time(&d.join("src/older"), 1_300_000_000);
        set_link_time(&d.join("dest/src/older"), 1_200_000_000);
    };
    for args in [&["-ru", "src", "dest"][..], &["-r", "src", "dest"]] {
        compare(
            &tree,
            Case {
                args,
                ..Case::default()
            },
        );
    }
}

/// `-u` with `-l`: a destination not older than the source is kept, as cp -ul keeps
/// it; an older one is still not replaced without -f (cp: "File exists").
#[test]
fn update_keeps_a_newer_destination_of_a_hard_link() {
    let tree = |d: &Path| {
        write(&d.join("a"), "new\n");
        write(&d.join("b"), "new\n");
        std::fs::create_dir(d.join("dir")).unwrap();
        write(&d.join("newer"), "old\n");
        write(&d.join("older"), "old\n");
        write(&d.join("dir/b"), "old\n");
        set_time(&d.join("newer"), INPUT_TIME + 100);
        set_time(&d.join("dir/b"), INPUT_TIME + 100);
        set_time(&d.join("older"), INPUT_TIME - 100);
    };
    compare_as_root_and_nobody(
        &tree,
        &[
            &["-ul", "a", "newer"],
            &["-ul", "a", "older"],
            &["-ul", "a", "b", "dir"],
            &["-ulf", "a", "older"],
        ],
    );
}

/// A replaced setuid or setgid file keeps those bits only where cp's write into it
/// keeps them: for root, and with the old file's owner and group (after -p's). zcopy's
/// copy belongs to its user: root replacing nobody's setuid program made it setuid
/// root. A write by anyone else clears them, as the kernel does for cp.
#[test]
fn a_replaced_setuid_file_keeps_its_bits_only_with_its_owner() {
    if !common::require_root("replaced_setuid", "gives files other owners") {
        return;
    }
    let tree = |source_owner: u32, old_owner: u32| {
        move |d: &Path| {
            write(&d.join("new"), "new build\n");
            write(&d.join("tool"), "old build\n");
            std::os::unix::fs::chown(d.join("new"), Some(source_owner), Some(source_owner))
                .unwrap();
            std::os::unix::fs::chown(d.join("tool"), Some(old_owner), Some(old_owner)).unwrap();
            std::fs::set_permissions(d.join("tool"), PermissionsExt::from_mode(0o6755)).unwrap();
        }
    };
    // -p's owner: kept bits where the owner stays, cleared where it changes.
    for (source_owner, old_owner) in [
        (0, NOBODY),
        (0, 0),
        (NOBODY, NOBODY),
        (NOBODY, 0),
        (1, NOBODY),
    ] {
        compare(
            &tree(source_owner, old_owner),
            Case {
                args: &["--preserve=ownership", "new", "tool"],
                ..Case::default()
            },
        );
    }
    // Root's own program replaced by root, and nobody's own by nobody (cleared).
    compare_each(&tree(0, 0), &[&["new", "tool"]]);
    compare(
        &tree(0, 0),
        Case {
            args: &["new", "tool"],
            unprivileged: true,
            ..Case::default()
        },
    );
    // nobody's program replaced by root: the copy is root's, so not setuid.
    let dir = tempfile::tempdir().unwrap();
    tree(0, NOBODY)(dir.path());
    common::zcopy(dir.path())
        .args(["-q", "new", "tool"])
        .assert()
        .success();
    let copy = std::fs::metadata(dir.path().join("tool")).unwrap();
    assert_eq!(
        (copy.mode() & 0o7777, copy.uid(), copy.gid()),
        (0o755, 0, NOBODY),
        "no setuid or setgid bit without the old owner; the old group kept"
    );
}

/// A source spelt with `.` or `..` last copies what is in it into the destination
/// itself (`cp -a src/. dst`, hidden files too), as cp: zcopy made `dst/src`.
#[test]
fn a_source_ending_in_a_dot_copies_its_contents() {
    let tree = |d: &Path| {
        flat_tree(d);
        write(&d.join("src/.hidden"), "dot file\n");
        std::fs::create_dir(d.join("dir")).unwrap();
        std::fs::set_permissions(d.join("dir"), PermissionsExt::from_mode(0o700)).unwrap();
    };
    compare_as_root_and_nobody(
        &tree,
        &[
            &["-r", "src/.", "dir"][..],
            &["-a", "src/.", "dir"],
            &["-a", "src/./", "dir/"],
            &["-r", "src/sub/..", "dir"],
            &["-r", "src/.", "new"],
            &["-r", "-t", "dir", "src/sub/.", "src/a.txt"],
        ],
    );
    // `.` itself, from inside the source.
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    common::zcopy(&dir.path().join("src"))
        .args(["-q", "-r", ".", "../dir"])
        .assert()
        .success();
    assert!(dir.path().join("dir/.hidden").is_file());
    assert!(dir.path().join("dir/sub/b.txt").is_file());
    assert!(!dir.path().join("dir/src").exists());
}

/// One comparison of `--files-from` with `cp --parents` naming the same paths.
struct Listed<'a> {
    /// The paths, as listed (one a line) and as given to cp.
    list: &'a [&'a str],
    /// Options given to both.
    options: &'a [&'a str],
    unprivileged: bool,
    /// Where both run, below the tree's root.
    cwd: &'a str,
    /// The destination directory, from `cwd`.
    destination: &'a str,
    /// Options given to zcopy only.
    zcopy_flags: &'a [&'a str],
}

/// Runs `cp --parents OPTIONS LIST... DEST` and `zcopy --files-from=LIST OPTIONS DEST`
/// in `cwd` of a fresh copy of `tree` (the list written at its root as `list`);
/// returns both outcomes, each with the snapshot of the whole tree.
fn listed_and_cp_parents(tree: &dyn Fn(&Path), listed: Listed<'_>) -> (Outcome, Outcome) {
    let depth = Path::new(listed.cwd)
        .components()
        .filter(|component| matches!(component, std::path::Component::Normal(_)))
        .count();
    let up = "../".repeat(depth);
    let files_from = format!("--files-from={up}list");
    let cp_args: Vec<&str> = ["--parents"]
        .iter()
        .chain(listed.options)
        .chain(listed.list)
        .chain(&[listed.destination])
        .copied()
        .collect();
    let zcopy_args: Vec<&str> = listed
        .zcopy_flags
        .iter()
        .copied()
        .chain([files_from.as_str()])
        .chain(listed.options.iter().copied())
        .chain([listed.destination])
        .collect();
    let with_list = |d: &Path| {
        tree(d);
        write(&d.join("list"), &(listed.list.join("\n") + "\n"));
    };
    let run = |program: &Path, extra: &[&str], args: &[&str]| {
        let dir = prepared(&with_list, listed.unprivileged);
        let case = Case {
            args,
            unprivileged: listed.unprivileged,
            ..Case::default()
        };
        let outcome = run_tool(program, extra, &dir.path().join(listed.cwd), &case);
        Outcome {
            tree: snapshot(dir.path(), false),
            ..outcome
        }
    };
    (
        run(Path::new("/bin/cp"), &[], &cp_args),
        run(
            Path::new(env!("CARGO_BIN_EXE_zcopy")),
            &["--no-env-file"],
            &zcopy_args,
        ),
    )
}

/// `tree` without the modes of the directories below `z/` when `made` by
/// `--files-from`: cp --parents gives the directories it makes the source's modes,
/// `--files-from` makes them as new ones (as in
/// options_work_the_same_through_files_from_and_jobs).
fn parents_unmoded(tree: &Snapshot, made: bool) -> Snapshot {
    let mut tree = tree.clone();
    for (path, node) in tree.iter_mut() {
        if made && node.kind == "dir" && path.starts_with("z/") {
            node.mode.clear();
        }
    }
    tree
}

/// A file reached twice from one spelling of its path — listed, and inside a listed
/// directory, as `find DIR | zcopy -r --files-from - DEST` lists it — is copied once,
/// as `cp -r --parents` does: every such file failed as "also the destination of
/// another source" (exit 1). Another file onto that destination is still refused.
#[test]
fn a_file_listed_and_inside_a_listed_directory_is_copied_once() {
    let tree = |d: &Path| {
        std::fs::create_dir_all(d.join("p/x/y")).unwrap();
        write(&d.join("p/x/y/f"), "1\n");
        write(&d.join("p/g"), "2\n");
        symlink("g", &d.join("p/x/link"));
        chmod(&d.join("p/x"), 0o750);
        std::fs::create_dir(d.join("z")).unwrap();
    };
    // The list as `find p` prints it, parents before what they hold, and the reverse.
    let found = ["p", "p/g", "p/x", "p/x/link", "p/x/y", "p/x/y/f"];
    let reversed: Vec<&str> = found.iter().rev().copied().collect();
    let respelt = ["p/x/y/f", "./p/x/y/f", "p/x", "./p/g", "p"];
    compare_as_root_and_nobody(
        &tree,
        &[
            &["-r", "--parents", "p/x/y/f", "p/x", "z"][..],
            &["-r", "--parents", "p/x", "p/x/y/f", "z"],
            &["-a", "--parents", "p/x/y/f", "./p/x/y/f", "p/x", "z"],
        ],
    );
    for unprivileged in [false, true] {
        for (list, options) in [
            (&found[..], &["-r"][..]),
            (&found, &["-a"]),
            (&reversed, &["-r"]),
            (&respelt, &["-rP"]),
        ] {
            let (cp, zcopy) = listed_and_cp_parents(
                &tree,
                Listed {
                    list,
                    options,
                    unprivileged,
                    cwd: ".",
                    destination: "z",
                    zcopy_flags: &["-j8", "-q"],
                },
            );
            let parents_unmoded = |tree: &Snapshot| parents_unmoded(tree, true);
            assert_eq!(
                (zcopy.code, parents_unmoded(&zcopy.tree)),
                (cp.code, parents_unmoded(&cp.tree)),
                "{list:?} {options:?} unprivileged {unprivileged}: cp {}\nzcopy {}",
                cp.stderr,
                zcopy.stderr
            );
        }
    }
    // Two files onto one destination: still the second refused, as by cp.
    let two_files = |d: &Path| {
        tree(d);
        std::fs::create_dir(d.join("q")).unwrap();
        std::fs::hard_link(d.join("p/g"), d.join("q/g")).unwrap();
    };
    let (_, zcopy) = compare(
        &two_files,
        Case {
            args: &["-r", "p", "q/g", "p/g", "z"],
            ..Case::default()
        },
    )
    .unwrap();
    assert_eq!(zcopy.code, 1, "{}", zcopy.stderr);
    assert!(
        zcopy.stderr.contains("also the destination"),
        "{}",
        zcopy.stderr
    );
}

/// `find . | zcopy -r --files-from - DEST`: the `.` that find lists first is the
/// current directory, whose tree goes into DEST, as `cp -r --parents` copies it; each
/// file listed again is copied once. It failed as "a --files-from path may not
/// contain '..' or be empty" (exit 1). Without -r it is a directory not copied, as
/// the other listed directories are (cp: "omitting directory").
#[test]
fn a_listed_dot_is_the_current_directory() {
    let tree = |d: &Path| {
        std::fs::create_dir_all(d.join("p/x/y")).unwrap();
        write(&d.join("p/x/y/f"), "1\n");
        write(&d.join("p/g"), "2\n");
        write(&d.join("p/.hidden"), "3\n");
        symlink("../g", &d.join("p/x/link"));
        chmod(&d.join("p/x"), 0o750);
        std::fs::create_dir(d.join("z")).unwrap();
    };
    // As `find .` prints it, and the same with `./` and names without `./`.
    let found = [
        ".",
        "./.hidden",
        "./g",
        "./x",
        "./x/link",
        "./x/y",
        "./x/y/f",
    ];
    let respelt = ["./", "g", "x/y/f", ".hidden"];
    for unprivileged in [false, true] {
        if unprivileged && !root() {
            continue;
        }
        for (list, options) in [
            (&found[..], &["-r"][..]),
            (&found, &["-a"]),
            (&found, &[]),
            (&respelt, &["-r"]),
            (&respelt, &[]),
        ] {
            let (cp, zcopy) = listed_and_cp_parents(
                &tree,
                Listed {
                    list,
                    options,
                    unprivileged,
                    cwd: "p",
                    destination: "../z",
                    zcopy_flags: &["--json", "-q"],
                },
            );
            let (cp_tree, zcopy_tree) = (&cp.tree, &zcopy.tree);
            let context = format!(
                "{list:?} {options:?} unprivileged {unprivileged}: cp {}\nzcopy {}",
                cp.stderr, zcopy.stderr
            );
            // Directories copied as part of a listed tree get their modes from it.
            let parents_unmoded = |tree: &Snapshot| parents_unmoded(tree, options.is_empty());
            assert_eq!(
                (zcopy.code, parents_unmoded(zcopy_tree)),
                (cp.code, parents_unmoded(cp_tree)),
                "{context}"
            );
            let json: serde_json::Value = serde_json::from_str(&zcopy.stdout).unwrap();
            let mut made: Vec<&str> = json["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|file| file["destination"].as_str().unwrap())
                .collect();
            made.sort_unstable();
            // What cp made, each once.
            let expected: Vec<String> = cp_tree
                .iter()
                .filter(|(path, node)| path.starts_with("z/") && node.kind != "dir")
                .map(|(path, _)| format!("../{path}"))
                .collect();
            assert_eq!(made, expected, "each file once: {context}");
            let dot = json["errors"]
                .as_array()
                .unwrap()
                .iter()
                .find(|error| error["source"] == list[0]);
            if options.is_empty() {
                let dot = dot.unwrap_or_else(|| panic!("{context}"));
                let message = dot["error"].as_str().unwrap();
                assert!(message.contains("is a directory"), "{context}");
            } else {
                assert!(dot.is_none(), "{context}");
            }
        }
    }
}

/// With -L a link leading back to a directory that holds it, and a link naming nothing,
/// are said as such (cp: "cannot copy cyclic symbolic link", "cannot stat"), not as a
/// directory that could not be read ("read directory: walk failed", with no errno).
#[test]
fn a_link_loop_and_a_dangling_link_are_named_for_what_they_are() {
    let tree = |d: &Path| {
        flat_tree(d);
        symlink(".", &d.join("src/self"));
        symlink("nowhere", &d.join("src/dangling"));
    };
    let (_, zcopy) = compare(
        &tree,
        Case {
            args: &["-rL", "src", "out"],
            ..Case::default()
        },
    )
    .unwrap();
    assert_eq!(zcopy.code, 1);
    assert!(
        zcopy
            .stderr
            .contains("src/self: stat source: a symbolic link loop: it leads back to 'src'"),
        "{}",
        zcopy.stderr
    );
    assert!(
        zcopy
            .stderr
            .contains("src/dangling: stat source: No such file or directory"),
        "{}",
        zcopy.stderr
    );
}

/// A directory where a file's copy goes: cp -n skips the file, and cp -u skips it unless
/// the directory is older (equal times skip), before comparing the kinds; only then is
/// it "cannot overwrite directory with non-directory". zcopy failed with "stat
/// destination: is a directory" whatever -n or -u said. Links and FIFOs of a tree too.
#[test]
fn no_clobber_and_update_skip_a_directory_where_a_file_goes() {
    let tree = |d: &Path| {
        write(&d.join("a"), "new\n");
        set_time(&d.join("a"), 1_300_000_000);
        for (dest, seconds) in [
            ("newer", 1_400_000_000),
            ("same", 1_300_000_000),
            ("older", 1_200_000_000),
        ] {
            std::fs::create_dir_all(d.join(dest).join("a")).unwrap();
            set_time(&d.join(dest).join("a"), seconds);
        }
        std::fs::create_dir_all(d.join("s/x")).unwrap();
        write(&d.join("s/x/a"), "f\n");
        symlink("nowhere", &d.join("s/x/l"));
        nix_mkfifo(&d.join("s/x/p"), 0o644);
        for name in ["a", "l", "p"] {
            set_link_time(&d.join("s/x").join(name), 1_300_000_000);
        }
        for (dest, seconds) in [("t", 1_400_000_000), ("old", 1_200_000_000)] {
            for name in ["a", "l", "p"] {
                let directory = d.join(dest).join("s/x").join(name);
                std::fs::create_dir_all(&directory).unwrap();
                set_time(&directory, seconds);
            }
        }
        // The other way round: a directory where a file is. cp refuses it even with -n
        // or -u ("cannot overwrite non-directory with directory"); so does zcopy.
        std::fs::create_dir_all(d.join("dir")).unwrap();
        write(&d.join("dir/f"), "f\n");
        std::fs::create_dir_all(d.join("files")).unwrap();
        write(&d.join("files/dir"), "kept\n");
    };
    let cases: &[&[&str]] = &[
        &["-n", "a", "newer"],
        &["-n", "a", "older"],
        &["-u", "a", "newer"],
        &["-u", "a", "same"],
        &["-u", "a", "older"],
        &["-un", "a", "older"],
        &["-a", "-n", "a", "older"],
        &["-a", "-u", "a", "same"],
        &["-a", "-u", "a", "older"],
        &["-rn", "s", "t"],
        &["-ru", "s", "t"],
        &["-ru", "s", "old"],
        &["-an", "s", "old"],
        &["-au", "s", "t"],
        &["-au", "s", "old"],
        &["-rn", "dir", "files"],
        &["-ru", "dir", "files"],
    ];
    compare_as_root_and_nobody(&tree, cases);
    for &args in cases {
        compare(
            &tree,
            Case {
                args,
                zcopy_args: &["-j8"],
                ..Case::default()
            },
        );
    }

    // The skip is reported as -n's and -u's others are; through --files-from and to
    // several destinations too.
    let dir = prepared(&tree, false);
    let d = dir.path();
    write(&d.join("list"), "a\n");
    let skipped = |json: &serde_json::Value| -> Vec<(String, String)> {
        json["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| {
                (
                    entry["destination"].as_str().unwrap().to_string(),
                    entry["reason"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let os = common::os;
    for (args, code, skips, copies) in [
        (&["-n", "a", "newer"][..], 0, &["newer/a"][..], &[][..]),
        (&["-u", "a", "newer"], 0, &["newer/a"], &[]),
        (&["-u", "a", "older"], 1, &[], &[]),
        (
            &["-n", "--files-from=list", "-j8", "newer"],
            0,
            &["newer/a"],
            &[],
        ),
        (
            &["-n", "-t", "newer", "-t", "fresh", "a"],
            0,
            &["newer/a"],
            &["fresh/a"],
        ),
        (
            &["-u", "-t", "same", "-t", "older", "a"],
            1,
            &["same/a"],
            &[],
        ),
    ] {
        if args.contains(&"fresh") {
            std::fs::create_dir_all(d.join("fresh")).unwrap();
        }
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|arg| os(arg)).collect();
        let (exit, json, stderr) = common::zcopy_json(d, &args);
        assert_eq!(exit, code, "{args:?}: {stderr}");
        let reason = if args.contains(&os("-n")) {
            "destination exists (--no-clobber)"
        } else {
            "destination is not older than the source (--update)"
        };
        let expected: Vec<(String, String)> = skips
            .iter()
            .map(|path| (path.to_string(), reason.to_string()))
            .collect();
        assert_eq!(skipped(&json), expected, "{args:?}: {json}");
        let copied: Vec<&str> = json["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|file| file["destination"].as_str().unwrap())
            .collect();
        assert_eq!(copied, copies, "{args:?}: {json}");
        for kept in ["newer/a", "same/a", "older/a"] {
            assert!(d.join(kept).is_dir(), "{args:?}: {kept}");
        }
    }
    assert_eq!(std::fs::read_to_string(d.join("fresh/a")).unwrap(), "new\n");
}
