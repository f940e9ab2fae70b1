//! zcopy held against GNU cp: each case builds the same input tree twice, runs
//! `/bin/cp` on one and zcopy on the other with the same options (as root, and as an
//! unprivileged user through setpriv), and compares what each left behind: file types,
//! contents, modes with the setuid bits, owners and groups, timestamps (of symlinks too),
//! link targets, hard-link structure, device numbers, POSIX ACLs and other xattrs,
//! what a FIFO's reader got, and the exit code.
//!
//! Adding a case: a row in [`CASES`] with a shell script that builds the input (it runs
//! as root in the case's directory; `$U` and `$G` are the runner's uid and gid), the
//! arguments (relative paths), who runs them, and the differences allowed on purpose;
//! `zcopy_only` adds options cp does not have (-j, --verify), `ramfs` a filesystem
//! without xattrs, `fifo_readers` a reader on a FIFO destination.
//!
//! Differences normalised everywhere, and why:
//! - zcopy runs with `-q`: its summary line on stderr is not cp's (stderr text is never
//!   compared; only that a failure says something).
//! - Times set by the run itself are compared as "fresh", not to the nanosecond: the
//!   two commands run at different moments. Every input is dated in 2001 first, so a
//!   time that was carried over is compared exactly.
//! - Inode numbers are not compared; which paths share an inode is.
//! - An access time that one command kept from the input and the other moved is not
//!   compared: a clone or an in-kernel copy need not read the source, and cp -p
//!   carries over the source's access time as it is after cp read it.
//!
//! Differences a case may allow on purpose ([`Allowed`]), each with its reason there.

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

/// Who runs both commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runner {
    Root,
    /// `nobody` (65534) with these supplementary groups, through setpriv.
    Nobody {
        groups: &'static [u32],
    },
}

const NOBODY: u32 = 65534;
/// A group nobody is not in by default, that `Runner::Nobody { groups: &[USERS] }` adds.
const USERS: u32 = 100;

impl Runner {
    fn uid(self) -> u32 {
        match self {
            Runner::Root => 0,
            Runner::Nobody { .. } => NOBODY,
        }
    }
    fn gid(self) -> u32 {
        match self {
            Runner::Root => 0,
            Runner::Nobody { .. } => NOBODY,
        }
    }
}

const BOTH: &[Runner] = &[Runner::Root, Runner::Nobody { groups: &[] }];
const ROOT: &[Runner] = &[Runner::Root];
const NOBODY_ONLY: &[Runner] = &[Runner::Nobody { groups: &[] }];

/// A difference from cp that zcopy has on purpose, for one path.
#[derive(Debug, Clone, Copy)]
enum Allowed {
    /// When a file fails, zcopy leaves its destination exactly as it was (the copy is
    /// staged and only installed once complete, verified and with its attributes set);
    /// cp may leave a copy with partial attributes. zcopy's entry must equal the input;
    /// cp's, and the mtime of the directory cp wrote it in, are not compared.
    UntouchedOnFailure(&'static str),
    /// A replaced destination is a new inode renamed into place (atomic): other hard
    /// links to the old file keep the old content, and the new file belongs to the user
    /// who ran zcopy; the rename also dates the directory. Link structure and owner of
    /// this path, its directory's mtime, and the other names the old file had (which
    /// keep the old content with zcopy), are not compared.
    NewInode(&'static str),
    /// zcopy exits 2 for command lines it cannot carry out at all (cp exits 1).
    UsageExit2,
}

struct Case {
    name: &'static str,
    /// Builds the input, as root, in the case's directory (owned by the runner).
    setup: &'static str,
    args: &'static [&'static str],
    runners: &'static [Runner],
    /// FIFOs (relative paths) that get a reader while the command runs; what it read
    /// is compared.
    fifo_readers: &'static [&'static str],
    /// Options only zcopy has (-j, --verify...), put before zcopy's arguments: the
    /// outcome must still be cp's.
    zcopy_only: &'static [&'static str],
    /// What both commands get on stdin (not a terminal).
    stdin: &'static str,
    /// A directory (relative path) made a ramfs mount before the setup: a filesystem
    /// without xattrs. Unmounted when the case is done, even when it fails.
    ramfs: Option<&'static str>,
    allowed: &'static [Allowed],
}

const CASE: Case = Case {
    name: "",
    setup: "",
    args: &[],
    runners: BOTH,
    fifo_readers: &[],
    zcopy_only: &[],
    stdin: "",
    ramfs: None,
    allowed: &[],
};

const CASES: &[Case] = &[
    Case {
        name: "regular file",
        setup: "echo hello >f; chmod 640 f",
        args: &["f", "g"],
        ..CASE
    },
    Case {
        name: "regular file -p",
        setup: "echo hello >f; chmod 640 f; chown $U:$G f",
        args: &["-p", "f", "g"],
        ..CASE
    },
    Case {
        name: "regular file over an existing one",
        setup: "echo hello >f; echo old-content >g; chmod 600 g; chown $U:$G g",
        args: &["f", "g"],
        allowed: &[Allowed::NewInode("g")],
        ..CASE
    },
    Case {
        name: "over a file with another hard link",
        setup: "echo hello >f; echo old >g; chown $U:$G g; ln g h",
        args: &["f", "g"],
        allowed: &[Allowed::NewInode("g")],
        ..CASE
    },
    Case {
        name: "over an existing file with an ACL",
        setup: "echo hello >f; echo old >g; chown $U:$G g; chmod 660 g; \
                setfacl -m u:bin:rw,g::-,m::rw g",
        args: &["f", "g"],
        allowed: &[Allowed::NewInode("g")],
        ..CASE
    },
    Case {
        name: "-p over an existing file with an ACL",
        setup: "echo hello >f; chown $U:$G f; echo old >g; chown $U:$G g; chmod 660 g; \
                setfacl -m u:bin:rw,g::-,m::rw g",
        args: &["-p", "f", "g"],
        allowed: &[Allowed::NewInode("g")],
        ..CASE
    },
    Case {
        name: "into a directory",
        setup: "echo a >a; echo b >b; mkdir d; chown $U:$G d",
        args: &["a", "b", "d"],
        ..CASE
    },
    // Issue 8, bug 1: a symlink copied as a link onto the file it points to.
    Case {
        name: "-P symlink onto its own target",
        setup: "echo XYZ >foo; chown $U:$G foo; ln -s foo sl",
        args: &["-P", "sl", "foo"],
        ..CASE
    },
    Case {
        name: "-a symlink onto its own target",
        setup: "echo XYZ >foo; chown $U:$G foo; ln -s foo sl",
        args: &["-a", "sl", "foo"],
        ..CASE
    },
    Case {
        name: "-P symlink onto itself",
        setup: "echo XYZ >foo; ln -s foo sl",
        args: &["-P", "sl", "sl"],
        ..CASE
    },
    Case {
        name: "-P symlink onto another link",
        setup: "echo XYZ >foo; ln -s foo sl; ln -s foo sl2",
        args: &["-P", "sl", "sl2"],
        ..CASE
    },
    Case {
        name: "file onto a symlink to itself",
        setup: "echo XYZ >foo; ln -s foo sl",
        args: &["foo", "sl"],
        ..CASE
    },
    Case {
        name: "file onto a symlink to another file",
        setup: "echo XYZ >foo; echo old >bar; chown $U:$G bar; ln -s bar sl",
        args: &["foo", "sl"],
        allowed: &[Allowed::NewInode("bar")],
        ..CASE
    },
    Case {
        name: "-n -P link over a file",
        setup: "echo XYZ >foo; ln -s foo sl; echo keep >g; chown $U:$G g",
        args: &["-n", "-P", "sl", "g"],
        ..CASE
    },
    Case {
        name: "-n -a tree over an existing tree",
        setup: "mkdir -p t u/t; echo new >t/a; ln -s a t/l; echo keep >u/t/l; echo keep >u/t/a; \
                chown -R $U:$G t u",
        args: &["-n", "-a", "t", "u"],
        ..CASE
    },
    Case {
        name: "-u -a tree over a tree as new",
        setup: "mkdir -p t u/t; echo new >t/a; ln -s a t/l; echo keep >u/t/l; \
                ln -s elsewhere u/t/a; chown -R $U:$G t u",
        args: &["-u", "-a", "t", "u"],
        ..CASE
    },
    // Bug 11.
    Case {
        name: "file onto a dangling symlink",
        setup: "echo XYZ >foo; ln -s nowhere sl",
        args: &["foo", "sl"],
        ..CASE
    },
    // Bug 5.
    Case {
        name: "-a keeps a symlink's own times",
        setup: "echo XYZ >foo; ln -s foo sl; touch -h -d @1234567890 sl",
        args: &["-a", "sl", "copy"],
        ..CASE
    },
    Case {
        name: "-P -p keeps a symlink's own times",
        setup: "echo XYZ >foo; ln -s foo sl; touch -h -d @1234567890 sl",
        args: &["-P", "-p", "sl", "copy"],
        ..CASE
    },
    Case {
        name: "-a tree with links, a dangling link and restrictive modes",
        setup: "mkdir -p t/sub; echo a >t/sub/a; ln -s sub/a t/la; ln -s gone t/dangling; \
                chmod 700 t/sub; chmod 600 t/sub/a; touch -h -d @1234567890 t/la; \
                chown -R $U:$G t",
        args: &["-a", "t", "copy"],
        ..CASE
    },
    Case {
        name: "-a tree with hard links",
        setup: "mkdir -p t/a t/b; echo x >t/a/one; ln t/a/one t/b/two; ln t/a/one t/three; \
                echo y >t/alone; chown -R $U:$G t",
        args: &["-a", "t", "copy"],
        ..CASE
    },
    Case {
        name: "-r tree with hard links",
        setup: "mkdir -p t; echo x >t/one; ln t/one t/two; chown -R $U:$G t",
        args: &["-r", "t", "copy"],
        ..CASE
    },
    Case {
        name: "-a tree with links, modes and ACLs, four at a time",
        setup: "mkdir -p t/d; for i in 1 2 3 4 5 6; do echo $i >t/d/f$i; done; \
                ln -s f1 t/d/l1; chmod 640 t/d/f2; chmod 700 t/d; chown -R $U:$G t; \
                setfacl -m u:bin:r t/d/f3",
        args: &["-a", "t", "copy"],
        zcopy_only: &["-j4", "--verify=checksum"],
        ..CASE
    },
    Case {
        name: "-a tree with setgid and sticky directories",
        setup: "mkdir -p t/shared t/drop; echo a >t/shared/a; chmod 2770 t/shared; \
                chmod 1777 t/drop; chown -R $U:$G t",
        args: &["-a", "t", "copy"],
        ..CASE
    },
    // Bugs 3 and 4.
    Case {
        name: "-p setuid file of another owner",
        setup: "echo x >c; chmod 6755 c",
        args: &["-p", "c", "c2"],
        ..CASE
    },
    Case {
        name: "-p setuid file of the runner",
        setup: "echo x >c; chown $U:$G c; chmod 6755 c",
        args: &["-p", "c", "c2"],
        ..CASE
    },
    Case {
        name: "-p sticky file of another owner",
        setup: "echo x >c; chmod 1755 c",
        args: &["-p", "c", "c2"],
        ..CASE
    },
    Case {
        name: "-p keeps a group the runner is in",
        setup: "echo x >c; chown 0:100 c; chmod 2755 c",
        args: &["-p", "c", "c2"],
        runners: &[Runner::Root, Runner::Nobody { groups: &[USERS] }],
        ..CASE
    },
    Case {
        name: "-p file of another owner and group",
        setup: "echo x >c; chown 4321:4322 c; chmod 640 c; chmod o+r c",
        args: &["-p", "c", "c2"],
        ..CASE
    },
    Case {
        name: "-a tree with a setuid program of another owner",
        setup: "mkdir -p t/bin; echo x >t/bin/prog; chmod 4755 t/bin/prog; chown $U:$G t t/bin",
        args: &["-a", "t", "copy"],
        ..CASE
    },
    Case {
        name: "--preserve=ownership alone on a setuid file",
        setup: "echo x >c; chmod 6755 c",
        args: &["--preserve=ownership", "c", "c2"],
        ..CASE
    },
    // As root only: as nobody, cp writes into root's file and then may not set its
    // times (exit 1), while zcopy's copy is a new file of nobody's, which it may.
    Case {
        name: "-p over a writable file of another owner",
        setup: "echo x >c; chown $U:$G c; chmod 4755 c; echo old >d; chmod 666 d",
        args: &["-p", "c", "d"],
        runners: ROOT,
        allowed: &[Allowed::NewInode("d")],
        ..CASE
    },
    // Bug 6.
    Case {
        name: "-p keeps an ACL",
        setup: "echo x >f; chown $U:$G f; setfacl -m u:bin:rw f; chmod g=r f; \
                setfacl -m m::rw f",
        args: &["-p", "f", "g"],
        ..CASE
    },
    Case {
        name: "-a keeps an ACL",
        setup: "echo x >f; chown $U:$G f; setfacl -m u:bin:rw,g::-,m::rw f",
        args: &["-a", "f", "g"],
        ..CASE
    },
    Case {
        name: "without -p an ACL is not copied",
        setup: "echo x >f; setfacl -m u:bin:rw,g::-,m::rw f",
        args: &["f", "g"],
        ..CASE
    },
    Case {
        name: "-p from a file without ACL into a directory with a default ACL",
        setup: "echo x >f; chown $U:$G f; mkdir d; chown $U:$G d; setfacl -d -m u:bin:rwx d",
        args: &["-p", "f", "d/f"],
        ..CASE
    },
    Case {
        name: "-a directory with access and default ACLs",
        setup: "mkdir d; echo x >d/f; chown -R $U:$G d; setfacl -m u:bin:rx d; \
                setfacl -d -m u:bin:r d",
        args: &["-a", "d", "copy"],
        ..CASE
    },
    Case {
        name: "--preserve=xattr does not copy an ACL",
        setup: "echo x >f; chown $U:$G f; setfacl -m u:bin:rw,g::-,m::rw f; \
                setfattr -n user.take -v 3 f",
        args: &["--preserve=xattr", "f", "g"],
        ..CASE
    },
    Case {
        name: "-a keeps user xattrs",
        setup: "echo x >f; chown $U:$G f; setfattr -n user.take -v 3 f",
        args: &["-a", "f", "g"],
        ..CASE
    },
    Case {
        name: "-a keeps file capabilities",
        setup: "echo x >f; setcap cap_net_raw+ep f",
        args: &["-a", "f", "g"],
        runners: ROOT,
        ..CASE
    },
    // Bug 8: xattrs onto a filesystem without them: -a tries, --preserve=xattr insists.
    Case {
        name: "-a onto a filesystem without xattrs",
        setup: "echo x >f; chown $U:$G f; setfattr -n user.take -v 3 f",
        args: &["-a", "f", "m/g"],
        ramfs: Some("m"),
        ..CASE
    },
    Case {
        name: "-a --preserve=xattr onto a filesystem without xattrs",
        setup: "echo x >f; chown $U:$G f; setfattr -n user.take -v 3 f",
        args: &["-a", "--preserve=xattr", "f", "m/g"],
        ramfs: Some("m"),
        allowed: &[Allowed::UntouchedOnFailure("m/g")],
        ..CASE
    },
    Case {
        name: "--preserve=xattr onto a filesystem without xattrs",
        setup: "echo x >f; chown $U:$G f; setfattr -n user.take -v 3 f",
        args: &["--preserve=xattr", "f", "m/g"],
        ramfs: Some("m"),
        allowed: &[Allowed::UntouchedOnFailure("m/g")],
        ..CASE
    },
    Case {
        name: "-p with an ACL onto a filesystem without ACLs",
        setup: "echo x >f; chown $U:$G f; setfacl -m u:bin:rw,g::-,m::rw f",
        args: &["-p", "f", "m/g"],
        ramfs: Some("m"),
        allowed: &[Allowed::UntouchedOnFailure("m/g")],
        ..CASE
    },
    // Bug 10: special files as destinations are written into, never replaced.
    Case {
        name: "onto a character device",
        setup: "echo XYZ >f; mknod null c 1 3; chmod 666 null",
        args: &["f", "null"],
        ..CASE
    },
    Case {
        name: "onto a FIFO with a reader",
        setup: "echo XYZ >f; mkfifo fifo; chmod 666 fifo",
        args: &["f", "fifo"],
        fifo_readers: &["fifo"],
        ..CASE
    },
    Case {
        name: "onto a symlink to a character device",
        setup: "echo XYZ >f; mknod null c 1 3; chmod 666 null; ln -s null sl",
        args: &["f", "sl"],
        ..CASE
    },
    // Bug 13: -i asks only when there is something to ask.
    Case {
        name: "-i onto a new name",
        setup: "echo XYZ >f",
        args: &["-i", "f", "g"],
        ..CASE
    },
    Case {
        name: "-i into a directory with nothing to replace",
        setup: "echo a >a; echo b >b; mkdir d; chown $U:$G d",
        args: &["-i", "a", "b", "d"],
        ..CASE
    },
    // Destinations a user may not write.
    Case {
        name: "over a read-only file of the runner",
        setup: "echo XYZ >f; echo old >g; chown $U:$G g; chmod 444 g",
        args: &["f", "g"],
        runners: NOBODY_ONLY,
        ..CASE
    },
    Case {
        name: "into a read-only directory",
        setup: "echo XYZ >f; mkdir d; chown $U:$G d; chmod 555 d",
        args: &["f", "d/"],
        runners: NOBODY_ONLY,
        ..CASE
    },
    Case {
        name: "missing destination",
        setup: "echo XYZ >f",
        args: &["f"],
        allowed: &[Allowed::UsageExit2],
        ..CASE
    },
    Case {
        name: "missing source",
        setup: "",
        args: &["nothing", "g"],
        ..CASE
    },
];

/// What one command left behind.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    exit_code: i32,
    said_something: bool,
    tree: BTreeMap<String, Node>,
    fifo_data: BTreeMap<String, Vec<u8>>,
}

/// One path after the run.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    kind: String,
    mode: Option<u32>,
    owner: Option<(u32, u32)>,
    mtime: Time,
    atime: Time,
    content: Option<String>,
    /// Other paths of the tree sharing this inode.
    hard_links: Option<Vec<String>>,
    xattrs: BTreeMap<String, String>,
}

/// A timestamp: exact when it predates the run (carried over from the input), "fresh"
/// when the run set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Time {
    Exact(i64, i64),
    Fresh,
    NotCompared,
}

impl Time {
    /// When every input is dated (see [`INPUT_TIME`]).
    const INPUT: Time = Time::Exact(1_000_000_000, 0);
}

/// Where the inputs are dated: 2001-09-09, far from any run.
const INPUT_TIME: &str = "@1000000000";

#[test]
fn zcopy_matches_gnu_cp() {
    if !common::require_tool("zcopy_matches_gnu_cp", "setfacl")
        || !common::require_tool("zcopy_matches_gnu_cp", "setfattr")
        || !common::require_tool("zcopy_matches_gnu_cp", "setcap")
        || !common::require_tool("zcopy_matches_gnu_cp", "setpriv")
    {
        return;
    }
    if !Path::new("/bin/cp").exists() {
        common::require_tool("zcopy_matches_gnu_cp", "/bin/cp (GNU coreutils)");
        return;
    }
    if !common::require_root("zcopy_matches_gnu_cp", "to build the inputs (chown, mknod)") {
        return;
    }
    let only = std::env::var("ZCOPY_CP_CASE").ok();
    let base = make_base();
    let mut failures = Vec::new();
    let mut ran = 0;
    for case in CASES {
        if only
            .as_deref()
            .is_some_and(|only| !case.name.contains(only))
        {
            continue;
        }
        for &runner in case.runners {
            ran += 1;
            if let Err(report) = run_case(case, runner, base.path()) {
                failures.push(report);
            }
        }
    }
    assert!(ran > 0, "no case matched ZCOPY_CP_CASE={only:?}");
    assert!(
        failures.is_empty(),
        "{} of {ran} runs differ from GNU cp:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Sets a symbolic link's own times back to `meta`'s.
fn restore_link_times(link: &Path, meta: &std::fs::Metadata) {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(link.as_os_str().as_bytes()).unwrap();
    let times = [
        libc::timespec {
            tv_sec: meta.atime(),
            tv_nsec: meta.atime_nsec(),
        },
        libc::timespec {
            tv_sec: meta.mtime(),
            tv_nsec: meta.mtime_nsec(),
        },
    ];
    // SAFETY: a valid C string and two timespecs.
    let done = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            path.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(
        done,
        0,
        "{}: {}",
        link.display(),
        std::io::Error::last_os_error()
    );
}

/// A directory every runner can reach, holding a copy of zcopy they can run; removed
/// when dropped. In /tmp rather than $TMPDIR, which may be private to root.
fn make_base() -> tempfile::TempDir {
    let base = tempfile::Builder::new()
        .prefix("zcopy-cp-semantics-")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_zcopy"), base.path().join("zcopy")).unwrap();
    base
}

fn run_case(case: &Case, runner: Runner, base: &Path) -> Result<(), String> {
    let case_dir = tempfile::Builder::new()
        .prefix("case-")
        .tempdir_in(base)
        .unwrap();
    std::fs::set_permissions(case_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let title = format!("{} (as {runner:?}): {}", case.name, case.args.join(" "));
    let mut outcomes = Vec::new();
    let mut input = None;
    for tool in ["cp", "zcopy"] {
        let dir = case_dir.path().join(tool);
        std::fs::create_dir(&dir).unwrap();
        let _mount = setup(case, runner, &dir).map_err(|err| format!("{title}: setup: {err}"))?;
        if input.is_none() {
            input = Some(snapshot(&dir, None));
        }
        let started = SystemTime::now();
        let readers = open_fifo_readers(&dir, case.fifo_readers);
        let output = command(tool, case, runner, &dir, base)
            .output()
            .unwrap_or_else(|err| panic!("{title}: run {tool}: {err}"));
        let fifo_data = drain_fifo_readers(readers);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        outcomes.push((
            Outcome {
                exit_code: output.status.code().unwrap_or(-1),
                said_something: !stderr.trim().is_empty(),
                tree: snapshot(&dir, Some(started)),
                fifo_data,
            },
            stderr,
        ));
    }
    let (zcopy, zcopy_stderr) = outcomes.pop().unwrap();
    let (cp, cp_stderr) = outcomes.pop().unwrap();
    let (cp, zcopy) = normalise(case, input.unwrap(), cp, zcopy, &title)?;
    if cp == zcopy {
        // The same failure must also be explained by zcopy.
        return Ok(());
    }
    let mut report = format!(
        "{title}\n  cp exit {}, stderr: {}",
        cp.exit_code,
        cp_stderr.trim()
    );
    let _ = write!(
        report,
        "\n  zcopy exit {}, stderr: {}",
        zcopy.exit_code,
        zcopy_stderr.trim()
    );
    if cp.said_something != zcopy.said_something {
        let _ = write!(
            report,
            "\n  said something: cp {}, zcopy {}",
            cp.said_something, zcopy.said_something
        );
    }
    let paths: std::collections::BTreeSet<&String> =
        cp.tree.keys().chain(zcopy.tree.keys()).collect();
    for path in paths {
        let (a, b) = (cp.tree.get(path), zcopy.tree.get(path));
        if a != b {
            let _ = write!(report, "\n  {path:?}:\n    cp:    {a:?}\n    zcopy: {b:?}");
        }
    }
    if cp.fifo_data != zcopy.fifo_data {
        let _ = write!(
            report,
            "\n  FIFO readers got: cp {:?}, zcopy {:?}",
            cp.fifo_data, zcopy.fifo_data
        );
    }
    Err(report)
}

/// Applies the case's allowed differences.
fn normalise(
    case: &Case,
    input: BTreeMap<String, Node>,
    mut cp: Outcome,
    mut zcopy: Outcome,
    title: &str,
) -> Result<(Outcome, Outcome), String> {
    // Access times: a source's moves when it is read, and a clone or an in-kernel
    // copy may not read it; cp -p carries over the source's access time as it is after
    // cp read it, zcopy the one it had before. An access time that one side kept from
    // the input and the other moved is not a difference. Not so for a link made as a
    // copy: both take the source link's stat before reading it, so -a keeps its access
    // time exactly.
    for (path, a) in cp.tree.iter_mut() {
        if a.kind == "symlink" && !input.contains_key(path) {
            continue;
        }
        if let Some(b) = zcopy.tree.get_mut(path) {
            let kept_and_moved = |x: Time, y: Time| x == Time::INPUT && y == Time::Fresh;
            if kept_and_moved(a.atime, b.atime) || kept_and_moved(b.atime, a.atime) {
                a.atime = Time::NotCompared;
                b.atime = Time::NotCompared;
            }
        }
    }
    for allowed in case.allowed {
        match *allowed {
            Allowed::UntouchedOnFailure(path) => {
                if zcopy.exit_code != 0 {
                    let before = input.get(path).map(|node| Node {
                        atime: Time::NotCompared,
                        ..node.clone()
                    });
                    let after = zcopy.tree.get(path).map(|node| Node {
                        atime: Time::NotCompared,
                        ..node.clone()
                    });
                    if before != after {
                        return Err(format!(
                            "{title}\n  zcopy failed but changed {path:?}:\n    before: {before:?}\n    after:  {after:?}"
                        ));
                    }
                    // cp's partial copy is not compared, nor the date it gave its directory.
                    match zcopy.tree.get(path).cloned() {
                        Some(node) => cp.tree.insert(path.to_string(), node),
                        None => cp.tree.remove(path),
                    };
                    for outcome in [&mut cp, &mut zcopy] {
                        if let Some(node) = outcome.tree.get_mut(&parent_of(path)) {
                            node.mtime = Time::NotCompared;
                        }
                    }
                }
            }
            Allowed::NewInode(path) => {
                let parent = parent_of(path);
                let old_links = input
                    .get(path)
                    .and_then(|node| node.hard_links.clone())
                    .unwrap_or_default();
                for outcome in [&mut cp, &mut zcopy] {
                    if let Some(node) = outcome.tree.get_mut(path) {
                        node.hard_links = None;
                        node.owner = None;
                    }
                    if let Some(node) = outcome.tree.get_mut(&parent) {
                        node.mtime = Time::NotCompared;
                    }
                    for other in &old_links {
                        if let Some(node) = outcome.tree.get_mut(other) {
                            node.content = None;
                            node.mtime = Time::NotCompared;
                            node.atime = Time::NotCompared;
                            node.hard_links = None;
                        }
                    }
                }
            }
            Allowed::UsageExit2 => {
                if zcopy.exit_code == 2 && cp.exit_code == 1 {
                    zcopy.exit_code = 1;
                }
            }
        }
    }
    Ok((cp, zcopy))
}

/// A ramfs mounted for one case, unmounted when dropped.
struct RamfsMount(PathBuf);

impl Drop for RamfsMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// The directory of a relative path, as [`snapshot`] names it.
fn parent_of(path: &str) -> String {
    match Path::new(path).parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_string_lossy().into_owned(),
        _ => ".".to_string(),
    }
}

fn setup(case: &Case, runner: Runner, dir: &Path) -> Result<Option<RamfsMount>, String> {
    std::os::unix::fs::chown(dir, Some(runner.uid()), Some(runner.gid())).unwrap();
    let mount = match case.ramfs {
        Some(relative) => {
            let point = dir.join(relative);
            std::fs::create_dir(&point).unwrap();
            let status = Command::new("mount")
                .args(["-t", "ramfs", "ramfs"])
                .arg(&point)
                .status()
                .unwrap();
            if !status.success() {
                return Err(format!("mount ramfs on {}", point.display()));
            }
            std::os::unix::fs::chown(&point, Some(runner.uid()), Some(runner.gid())).unwrap();
            Some(RamfsMount(point))
        }
        None => None,
    };
    let output = Command::new("sh")
        .args(["-ec", case.setup])
        .current_dir(dir)
        .env("U", runner.uid().to_string())
        .env("G", runner.gid().to_string())
        .output()
        .unwrap();
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    // Date every input in the past (the directory itself too), without following links.
    let mut paths: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|entry| entry.unwrap().into_path())
        .collect();
    paths.reverse();
    let status = Command::new("touch")
        .args(["-h", "-d", INPUT_TIME, "--"])
        .args(&paths)
        .status()
        .unwrap();
    if !status.success() {
        return Err("touch failed".to_string());
    }
    Ok(mount)
}

fn command(tool: &str, case: &Case, runner: Runner, dir: &Path, base: &Path) -> Command {
    let program: PathBuf = if tool == "cp" {
        "/bin/cp".into()
    } else {
        base.join("zcopy")
    };
    let mut command = match runner {
        Runner::Root => Command::new(&program),
        Runner::Nobody { groups } => {
            let mut command = Command::new("setpriv");
            command.args([
                format!("--reuid={}", runner.uid()),
                format!("--regid={}", runner.gid()),
            ]);
            if groups.is_empty() {
                command.arg("--clear-groups");
            } else {
                let list: Vec<String> = groups.iter().map(u32::to_string).collect();
                command.arg(format!("--groups={}", list.join(",")));
            }
            command.arg("--").arg(&program);
            command
        }
    };
    if tool == "zcopy" {
        // Normalised on purpose: the summary line (see the module's doc).
        command.args(["-q", "--no-env-file"]).args(case.zcopy_only);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ZERO_COPY_") {
                command.env_remove(key);
            }
        }
    }
    command.args(case.args).current_dir(dir);
    command.env("LC_ALL", "C");
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    if case.stdin.is_empty() {
        command.stdin(Stdio::null());
    } else {
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, case.stdin.as_bytes()).unwrap();
        std::io::Seek::rewind(&mut file).unwrap();
        command.stdin(file);
    }
    command
}

/// Opens each FIFO for reading without blocking, so that a writer's open succeeds; what
/// was written stays in the pipe (inputs are far below its 64 KiB) until drained.
fn open_fifo_readers(dir: &Path, fifos: &[&str]) -> Vec<(String, std::fs::File)> {
    use std::os::unix::fs::OpenOptionsExt;
    fifos
        .iter()
        .map(|fifo| {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(dir.join(fifo))
                .unwrap();
            (fifo.to_string(), file)
        })
        .collect()
}

fn drain_fifo_readers(readers: Vec<(String, std::fs::File)>) -> BTreeMap<String, Vec<u8>> {
    readers
        .into_iter()
        .map(|(name, mut file)| {
            let mut data = Vec::new();
            let mut buffer = [0u8; 4096];
            loop {
                match std::io::Read::read(&mut file, &mut buffer) {
                    Ok(0) => break,
                    Ok(n) => data.extend_from_slice(&buffer[..n]),
                    Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(err) => panic!("read FIFO {name}: {err}"),
                }
            }
            (name, data)
        })
        .collect()
}

/// Every path under `dir` (`.` for itself), without following links. Times at or after
/// `started` are "fresh".
fn snapshot(dir: &Path, started: Option<SystemTime>) -> BTreeMap<String, Node> {
    let fresh_after = started.map(|time| time.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64);
    let time = |seconds: i64, nanos: i64| match fresh_after {
        Some(after) if seconds >= after - 1 => Time::Fresh,
        _ => Time::Exact(seconds, nanos),
    };
    let mut tree = BTreeMap::new();
    let mut inodes: BTreeMap<(u64, u64), Vec<String>> = BTreeMap::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.unwrap();
        let relative = entry.path().strip_prefix(dir).unwrap();
        let name = if relative.as_os_str().is_empty() {
            ".".to_string()
        } else {
            relative.to_string_lossy().into_owned()
        };
        // Stat before reading: reading moves the access time.
        let meta = std::fs::symlink_metadata(entry.path()).unwrap();
        let kind = meta.file_type();
        let is_dir = kind.is_dir();
        let (kind_name, content) = if kind.is_symlink() {
            let target = std::fs::read_link(entry.path()).unwrap();
            // readlink moved the link's access time (relatime: it was not after its
            // mtime); put it back, or the tool run next would copy the harness's read.
            restore_link_times(entry.path(), &meta);
            (
                "symlink".to_string(),
                Some(target.to_string_lossy().into_owned()),
            )
        } else if kind.is_file() {
            let bytes = std::fs::read(entry.path()).unwrap();
            (
                "file".to_string(),
                Some(String::from_utf8_lossy(&bytes).into_owned()),
            )
        } else if is_dir {
            ("dir".to_string(), None)
        } else if kind.is_fifo() {
            ("fifo".to_string(), None)
        } else if kind.is_char_device() {
            (format!("char device {:#x}", meta.rdev()), None)
        } else if kind.is_block_device() {
            (format!("block device {:#x}", meta.rdev()), None)
        } else {
            ("socket".to_string(), None)
        };
        if !is_dir {
            inodes
                .entry((meta.dev(), meta.ino()))
                .or_default()
                .push(name.clone());
        }
        tree.insert(
            name,
            Node {
                kind: kind_name,
                mode: (!kind.is_symlink()).then_some(meta.mode() & 0o7777),
                owner: Some((meta.uid(), meta.gid())),
                // A directory's times move with every entry made in it, and reading
                // it moves its access time: its mtime is compared, not its atime.
                mtime: time(meta.mtime(), meta.mtime_nsec()),
                atime: if is_dir {
                    Time::NotCompared
                } else {
                    time(meta.atime(), meta.atime_nsec())
                },
                content,
                hard_links: None,
                xattrs: xattrs(entry.path()),
            },
        );
    }
    for names in inodes.values() {
        for name in names {
            let others: Vec<String> = names.iter().filter(|n| *n != name).cloned().collect();
            tree.get_mut(name).unwrap().hard_links = Some(others);
        }
    }
    tree
}

/// Every extended attribute of `path` (not following a link), POSIX ACLs decoded.
fn xattrs(path: &Path) -> BTreeMap<String, String> {
    let mut all = BTreeMap::new();
    let Ok(names) = xattr::list(path) else {
        return all;
    };
    for name in names {
        let name = name.to_string_lossy().into_owned();
        if name == "security.selinux" {
            continue;
        }
        let value = xattr::get(path, &name).ok().flatten().unwrap_or_default();
        let shown = if name.starts_with("system.posix_acl_") {
            decode_acl(&value)
        } else {
            format!("{value:?}")
        };
        all.insert(name, shown);
    }
    all
}

/// The kernel's POSIX ACL xattr (version 2: 4-byte header, then 8-byte entries of tag,
/// permissions and id) as getfacl-like text.
fn decode_acl(value: &[u8]) -> String {
    if value.len() < 4 {
        return format!("malformed {value:?}");
    }
    let mut text = Vec::new();
    for entry in value[4..].chunks(8) {
        if entry.len() < 8 {
            return format!("malformed {value:?}");
        }
        let tag = u16::from_le_bytes([entry[0], entry[1]]);
        let perm = u16::from_le_bytes([entry[2], entry[3]]);
        let id = u32::from_le_bytes([entry[4], entry[5], entry[6], entry[7]]);
        let tag = match tag {
            0x01 => "user:".to_string(),
            0x02 => format!("user:{id}"),
            0x04 => "group:".to_string(),
            0x08 => format!("group:{id}"),
            0x10 => "mask:".to_string(),
            0x20 => "other:".to_string(),
            other => format!("tag{other:#x}"),
        };
        let perm: String = [(4, 'r'), (2, 'w'), (1, 'x')]
            .iter()
            .map(|&(bit, c)| if perm & bit != 0 { c } else { '-' })
            .collect();
        text.push(format!("{tag}:{perm}"));
    }
    text.join(",")
}
