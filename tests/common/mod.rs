//! Fixtures shared by the integration tests: the real binary, real files, and real
//! filesystems (ext4, XFS and btrfs loop mounts and a tmpfs) made for the test run.
//!
//! Tests that need the mounts call [`mounts`], which returns `None` (after printing
//! why) when the tests do not run as root or mkfs.btrfs/mkfs.xfs are missing; tests
//! that need the LD_PRELOAD fault shim call [`fault_shim`], which needs a C compiler.
//! With `ZCOPY_REQUIRE_ROOT_TESTS=1` (set by `.ci/run`) both panic instead, so CI
//! cannot pass by skipping.
#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::sync::{Mutex, OnceLock};

pub use assert_cmd::Command;
pub use serde_json::Value;

/// One mebibyte.
pub const MIB: u64 = 1024 * 1024;

/// The zcopy binary, run in `cwd` with no `ZERO_COPY_*` variable inherited from the
/// environment of the test run.
pub fn zcopy(cwd: &Path) -> Command {
    Command::from_std(zcopy_std(cwd))
}

/// [`zcopy`] as a plain `std::process::Command`, for tests that spawn and signal it.
pub fn zcopy_std(cwd: &Path) -> StdCommand {
    let mut command = StdCommand::new(env!("CARGO_BIN_EXE_zcopy"));
    command.current_dir(cwd);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ZERO_COPY_") {
            command.env_remove(key);
        }
    }
    command
}

/// Runs zcopy with `--json` and returns (exit code, parsed JSON, stderr).
pub fn zcopy_json(cwd: &Path, args: &[&std::ffi::OsStr]) -> (i32, Value, String) {
    let output = zcopy(cwd)
        .arg("--json")
        .args(args)
        .output()
        .expect("zcopy runs");
    let stdout = String::from_utf8(output.stdout).expect("JSON is UTF-8");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let json: Value = serde_json::from_str(&stdout).unwrap_or_else(|err| {
        panic!("stdout is not one JSON document ({err}):\n{stdout}\nstderr:\n{stderr}")
    });
    (output.status.code().expect("exited normally"), json, stderr)
}

/// Writes `size` bytes of a pattern that depends on `seed` and on the offset, so that
/// misplaced, repeated or missing blocks never compare equal: one pseudo-random MiB per
/// seed, with every 4 KiB page stamped with its offset.
pub fn write_pattern(path: &Path, size: u64, seed: u64) {
    let mut file =
        File::create(path).unwrap_or_else(|err| panic!("create {}: {err}", path.display()));
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut block = vec![0u8; MIB as usize];
    for word in block.chunks_exact_mut(8) {
        // xorshift64: fast, and plenty for telling blocks apart.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        word.copy_from_slice(&state.to_le_bytes());
    }
    let mut offset = 0u64;
    while offset < size {
        for (index, page) in block.chunks_exact_mut(4096).enumerate() {
            page[..8].copy_from_slice(&(offset + index as u64 * 4096).to_le_bytes());
        }
        let n = (size - offset).min(MIB) as usize;
        file.write_all(&block[..n]).unwrap();
        offset += n as u64;
    }
}

/// Fails with the first differing offset unless `a` and `b` have the same bytes.
pub fn assert_same_content(a: &Path, b: &Path) {
    let open = |path: &Path| {
        File::open(path).unwrap_or_else(|err| panic!("open {}: {err}", path.display()))
    };
    let (mut fa, mut fb) = (open(a), open(b));
    let (la, lb) = (fa.metadata().unwrap().len(), fb.metadata().unwrap().len());
    assert_eq!(
        la,
        lb,
        "{} has {la} bytes, {} has {lb}",
        a.display(),
        b.display()
    );
    let mut ba = vec![0u8; MIB as usize];
    let mut bb = vec![0u8; MIB as usize];
    let mut offset = 0u64;
    loop {
        let n = fa.read(&mut ba).unwrap();
        if n == 0 {
            break;
        }
        fb.read_exact(&mut bb[..n]).unwrap();
        if ba[..n] != bb[..n] {
            let at = ba[..n]
                .iter()
                .zip(&bb[..n])
                .position(|(x, y)| x != y)
                .unwrap();
            panic!(
                "{} and {} differ at byte {}",
                a.display(),
                b.display(),
                offset + at as u64
            );
        }
        offset += n as u64;
    }
}

/// Names of the entries of `dir`, sorted.
pub fn list(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Fails if `dir` holds a zcopy temporary file.
pub fn assert_no_debris(dir: &Path) {
    let debris: Vec<String> = list(dir)
        .into_iter()
        .filter(|name| name.contains(".zcopy-tmp"))
        .collect();
    assert!(
        debris.is_empty(),
        "temporary files left in {}: {debris:?}",
        dir.display()
    );
}

/// True when CI demands that no test skip for want of root or a system tool.
fn skips_forbidden() -> bool {
    std::env::var_os("ZCOPY_REQUIRE_ROOT_TESTS").is_some_and(|v| v == "1")
}

/// Skips (returns `None` after saying why) or, in CI, fails. The SKIPPED line also goes
/// to the file `ZCOPY_SKIP_LOG` names, if set: `.ci/test` sets it and lists the skips
/// after the suite, where they are seen (cargo test shows a passing test's stderr only
/// with --nocapture).
fn unavailable<T>(test: &str, reason: &str) -> Option<T> {
    if skips_forbidden() {
        panic!("{test}: {reason} (ZCOPY_REQUIRE_ROOT_TESTS=1 forbids skipping)");
    }
    let line = format!("SKIPPED {test}: {reason}\n");
    eprint!("{line}");
    if let Some(log) = std::env::var_os("ZCOPY_SKIP_LOG") {
        // One O_APPEND write per line: test processes running side by side do not
        // interleave their lines.
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .and_then(|mut file| file.write_all(line.as_bytes()));
    }
    None
}

/// True when the tests run as root; otherwise skips (or, in CI, fails), saying `why`
/// root is needed.
pub fn require_root(test: &str, why: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    root || unavailable::<()>(test, &format!("needs root {why}")).is_some()
}

/// True when `tool` is on the PATH; otherwise skips (or, in CI, fails).
pub fn require_tool(test: &str, tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()));
    found || unavailable::<()>(test, &format!("{tool} is not installed")).is_some()
}

/// The LD_PRELOAD fault shim (`tests/shim/fault.c`), compiled once per test process.
pub fn fault_shim(test: &str) -> Option<&'static Path> {
    static SHIM: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = SHIM.get_or_init(|| {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/shim/fault.c");
        let library = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("libzcopyfault-{}.so", std::process::id()));
        let output = StdCommand::new("cc")
            .args(["-shared", "-fPIC", "-O2", "-Wall", "-o"])
            .arg(&library)
            .arg(&source)
            .arg("-ldl")
            .output()
            .map_err(|err| format!("cannot run cc to build the fault shim: {err}"))?;
        if !output.status.success() {
            return Err(format!(
                "cc failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(library)
    });
    match built {
        Ok(library) => Some(library),
        Err(reason) => unavailable(test, reason),
    }
}

/// zcopy with the fault shim preloaded and the given `ZCOPY_FAULT_*` settings.
pub fn zcopy_with_faults(cwd: &Path, shim: &Path, faults: &[(&str, String)]) -> Command {
    Command::from_std(zcopy_with_faults_std(cwd, shim, faults))
}

/// [`zcopy_with_faults`] as a plain `std::process::Command`.
pub fn zcopy_with_faults_std(cwd: &Path, shim: &Path, faults: &[(&str, String)]) -> StdCommand {
    let mut command = zcopy_std(cwd);
    command.env("LD_PRELOAD", shim);
    for (key, value) in faults {
        command.env(key, value);
    }
    command
}

/// Parses zcopy's `--json` output.
pub fn parse_json(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "stdout is not one JSON document ({err}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The filesystems made for this test process.
pub struct Mounts {
    /// A loop-mounted ext4 image.
    pub ext4: PathBuf,
    /// A loop-mounted XFS image with reflink.
    pub xfs: PathBuf,
    /// A loop-mounted btrfs image.
    pub btrfs: PathBuf,
    /// A 1 GiB tmpfs.
    pub tmpfs: PathBuf,
    /// A 4 MiB tmpfs, for running out of space.
    pub tiny_tmpfs: PathBuf,
}

impl Mounts {
    /// (name, mount point) of the four general-purpose filesystems.
    pub fn all(&self) -> [(&'static str, &Path); 4] {
        [
            ("ext4", &self.ext4),
            ("xfs", &self.xfs),
            ("btrfs", &self.btrfs),
            ("tmpfs", &self.tmpfs),
        ]
    }
}

/// Every name the fixtures give in the temporary directory starts with this, so that
/// `.ci/check-fixtures` can find what a test run left mounted or on disk.
pub const FIXTURE_PREFIX: &str = "zcopy-fixture-";

/// A directory for a test's own mounts, named with [`FIXTURE_PREFIX`]; removed when
/// dropped (after the mounts' guards, which must be declared after it).
pub fn fixture_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(FIXTURE_PREFIX)
        .tempdir()
        .unwrap()
}

/// What is mounted for the tests and not yet released.
/// The guards take their entry out when they release it; at exit, [`release_all`]
/// releases what is left (the shared [`mounts`], which live in a static and are never
/// dropped, and anything whose guard was leaked).
static LIVE: Mutex<Vec<Mounted>> = Mutex::new(Vec::new());
static BASE: OnceLock<PathBuf> = OnceLock::new();

fn live() -> std::sync::MutexGuard<'static, Vec<Mounted>> {
    // A test that panicked while holding the lock must not stop the cleanup.
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A filesystem mounted for one test: unmounted, its loop device detached and its
/// image deleted when dropped, also when the test fails or panics, and also when a file
/// on it is still open (then the unmount is lazy: the mount disappears from the tree at
/// once and the kernel frees the filesystem, and the loop device, when the last file is
/// closed, at the latest when the test process exits).
#[derive(Debug)]
pub struct MountGuard(Mounted);

/// One mount made for the tests.
#[derive(Debug, Clone, PartialEq)]
struct Mounted {
    point: PathBuf,
    /// The loop image behind it, deleted on release.
    image: Option<PathBuf>,
    /// The fixtures made the mount point, and remove it on release.
    made_point: bool,
}

impl MountGuard {
    fn new(mounted: Mounted) -> Self {
        live().push(mounted.clone());
        MountGuard(mounted)
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.0.point
    }
}

impl std::ops::Deref for MountGuard {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0.point
    }
}

impl Drop for MountGuard {
    fn drop(&mut self) {
        live().retain(|mounted| mounted != &self.0);
        release(&self.0);
    }
}

/// Unmounts (lazily if the mount is busy), detaches the loop device of the image and
/// deletes it, and removes the mount point if the fixtures made it. Says on stderr
/// what it had to force.
fn release(mounted: &Mounted) {
    let point = &mounted.point;
    let unmounted = quiet(StdCommand::new("umount").arg(point));
    if !unmounted && is_mounted(point) {
        eprintln!(
            "fixture: {} is busy (a file on it is still open): unmounting it lazily",
            point.display()
        );
        quiet(StdCommand::new("umount").arg("-l").arg(point));
    }
    if let Some(image) = &mounted.image {
        // `mount -o loop` sets autoclear, so a plain unmount already detached the
        // device. After a lazy one it is still attached: LOOP_CLR_FD on a busy device
        // only sets autoclear, so the device goes when the filesystem is freed.
        for device in loop_devices_of(image) {
            quiet(StdCommand::new("losetup").arg("-d").arg(&device));
        }
        let _ = std::fs::remove_file(image);
    }
    if mounted.made_point {
        let _ = std::fs::remove_dir(point);
    }
}

/// Runs a command with its output discarded; true when it succeeded.
fn quiet(command: &mut StdCommand) -> bool {
    command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// True when `point` is a mount point now (`/proc/self/mountinfo`, field 5).
pub fn is_mounted(point: &Path) -> bool {
    mount_points().iter().any(|mounted| mounted == point)
}

/// Every mount point of this mount namespace.
pub fn mount_points() -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|escaped| PathBuf::from(unescape_mount_path(escaped)))
        .collect()
}

/// mountinfo writes space, tab, newline and backslash in paths as octal escapes.
fn unescape_mount_path(escaped: &str) -> String {
    let mut path = String::new();
    let mut rest = escaped;
    while let Some(at) = rest.find('\\') {
        path.push_str(&rest[..at]);
        let code = rest.get(at + 1..at + 4).unwrap_or("");
        match u8::from_str_radix(code, 8) {
            Ok(byte) if code.len() == 3 => {
                path.push(byte as char);
                rest = &rest[at + 4..];
            }
            _ => {
                path.push('\\');
                rest = &rest[at + 1..];
            }
        }
    }
    path.push_str(rest);
    path
}

/// The loop devices backed by `image` (`losetup -j`).
pub fn loop_devices_of(image: &Path) -> Vec<String> {
    StdCommand::new("losetup")
        .arg("-j")
        .arg(image)
        .output()
        .map(|output| {
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .filter_map(|line| line.split(':').next())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The mounts, made on first use and released when the test process exits; `None`
/// (with the reason printed) when they cannot be made and CI does not require them.
pub fn mounts(test: &str) -> Option<&'static Mounts> {
    static MOUNTS: OnceLock<Result<Mounts, String>> = OnceLock::new();
    match MOUNTS.get_or_init(make_mounts) {
        Ok(mounts) => Some(mounts),
        Err(reason) => unavailable(
            test,
            &format!("{reason}; run as root with btrfs-progs and xfsprogs installed"),
        ),
    }
}

fn make_mounts() -> Result<Mounts, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("loop mounts need root".to_string());
    }
    for tool in [
        "mkfs.btrfs",
        "mkfs.xfs",
        "mkfs.ext4",
        "mount",
        "umount",
        "losetup",
    ] {
        if !tool_exists(tool) {
            return Err(format!("{tool} is not installed"));
        }
    }
    let base = tempfile::Builder::new()
        .prefix(FIXTURE_PREFIX)
        .tempdir()
        .map_err(|err| format!("temp dir: {err}"))?
        .keep();
    BASE.set(base.clone()).ok();
    // SAFETY: registering a plain extern "C" function; it runs at normal process exit,
    // which is also how the test harness exits when a test failed.
    unsafe { libc::atexit(release_all) };
    // The guards are forgotten: the shared mounts live as long as the process, and
    // release_all releases them through LIVE.
    let keep = |guard: MountGuard| {
        let point = guard.0.point.clone();
        std::mem::forget(guard);
        point
    };
    Ok(Mounts {
        ext4: keep(loop_mount(&base, "ext4", &["mkfs.ext4", "-q", "-F"], 6144)?),
        xfs: keep(loop_mount(
            &base,
            "xfs",
            &["mkfs.xfs", "-q", "-f", "-m", "reflink=1"],
            1536,
        )?),
        btrfs: keep(loop_mount(
            &base,
            "btrfs",
            &["mkfs.btrfs", "-q", "-f"],
            6144,
        )?),
        tmpfs: keep(tmpfs(&base, "tmpfs", "1g")?),
        tiny_tmpfs: keep(tmpfs(&base, "tiny", "4m")?),
    })
}

fn tool_exists(tool: &str) -> bool {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .any(|dir| Path::new(dir).join(tool).exists())
}

fn run(command: &[&str]) -> Result<(), String> {
    let output = StdCommand::new(command[0])
        .args(&command[1..])
        .output()
        .map_err(|err| format!("{}: {err}", command[0]))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed: {}",
            command.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// A further loop mount for one test (after [`mounts`] succeeded), released when the
/// guard is dropped.
pub fn extra_loop_mount(name: &str, mkfs: &[&str], size_mib: u64) -> MountGuard {
    let base = BASE.get().expect("mounts() first");
    loop_mount(base, name, mkfs, size_mib).unwrap()
}

/// Runs `mount ARGS... POINT` for one test; the guard unmounts it.
pub fn mount_for_test(args: &[&str], point: &Path) -> MountGuard {
    let status = StdCommand::new("mount")
        .args(args)
        .arg(point)
        .status()
        .unwrap();
    assert!(status.success(), "mount {args:?} {}", point.display());
    MountGuard::new(Mounted {
        point: point.to_path_buf(),
        image: None,
        made_point: false,
    })
}

fn loop_mount(base: &Path, name: &str, mkfs: &[&str], size_mib: u64) -> Result<MountGuard, String> {
    let image = base.join(format!("{name}.img"));
    File::create(&image)
        .and_then(|file| file.set_len(size_mib * MIB))
        .map_err(|err| format!("create {}: {err}", image.display()))?;
    let image_text = image.to_str().unwrap().to_owned();
    let mut command = mkfs.to_vec();
    command.push(&image_text);
    if let Err(err) = run(&command) {
        let _ = std::fs::remove_file(&image);
        return Err(err);
    }
    let point = base.join(name);
    std::fs::create_dir(&point).map_err(|err| err.to_string())?;
    let mounted = Mounted {
        point,
        image: Some(image),
        made_point: true,
    };
    let point_text = mounted.point.to_str().unwrap();
    if let Err(err) = run(&["mount", "-o", "loop", &image_text, point_text]) {
        release(&mounted);
        return Err(err);
    }
    Ok(MountGuard::new(mounted))
}

fn tmpfs(base: &Path, name: &str, size: &str) -> Result<MountGuard, String> {
    let point = base.join(name);
    std::fs::create_dir(&point).map_err(|err| err.to_string())?;
    run(&[
        "mount",
        "-t",
        "tmpfs",
        "-o",
        &format!("size={size}"),
        "tmpfs",
        point.to_str().unwrap(),
    ])?;
    Ok(MountGuard::new(Mounted {
        point,
        image: None,
        made_point: true,
    }))
}

/// Releases whatever is still mounted, then the shared base directory, unless
/// something under it could not be unmounted (removing it would then delete inside a
/// mounted filesystem).
extern "C" fn release_all() {
    let left: Vec<_> = live().drain(..).collect();
    for mounted in left.iter().rev() {
        release(mounted);
    }
    if let Some(base) = BASE.get() {
        if mount_points().iter().any(|point| point.starts_with(base)) {
            eprintln!(
                "fixture: something under {} is still mounted; left in place",
                base.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(base);
        }
    }
}

/// A fresh directory on `root`, removed when dropped.
pub fn dir_on(root: &Path) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("t-")
        .tempdir_in(root)
        .unwrap()
}

/// Bytes used on the filesystem holding `path`, after flushing delayed allocation.
pub fn used_bytes(path: &Path) -> u64 {
    run(&["sync", "-f", path.to_str().unwrap()]).unwrap();
    let stat = nix::sys::statvfs::statvfs(path).unwrap();
    (stat.blocks() - stat.blocks_free()) as u64 * stat.fragment_size() as u64
}

/// The `method` of the only file in a zcopy JSON document.
pub fn only_method(json: &Value) -> &str {
    let files = json["files"].as_array().expect("files is an array");
    assert_eq!(files.len(), 1, "expected one copied file: {json:#}");
    files[0]["method"].as_str().unwrap()
}

/// A ramfs mount (a filesystem without extended attributes, so without ACLs) in a
/// fresh directory, unmounted and removed when dropped, even when the test fails.
pub struct Ramfs {
    dir: tempfile::TempDir,
}

impl Ramfs {
    /// Mounts one; `None` (after saying why) when not root, unless CI forbids skipping.
    pub fn mount(test: &str) -> Option<Ramfs> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return unavailable(test, "mounting a ramfs needs root");
        }
        let dir = tempfile::Builder::new()
            .prefix("zcopy-ramfs-")
            .tempdir()
            .unwrap();
        run(&[
            "mount",
            "-t",
            "ramfs",
            "ramfs",
            dir.path().to_str().unwrap(),
        ])
        .unwrap();
        Some(Ramfs { dir })
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Ramfs {
    fn drop(&mut self) {
        let _ = StdCommand::new("umount").arg(self.dir.path()).status();
    }
}

/// An argument for the `&[&OsStr]` lists the helpers take.
pub fn os(text: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(text)
}

/// Runs a tool in `cwd`; panics with its output unless it exits 0. Returns stdout.
pub fn tool(cwd: &Path, program: &str, args: &[&std::ffi::OsStr]) -> String {
    let output = StdCommand::new(program)
        .current_dir(cwd)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("{program}: {err}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The ASC MHL generation files of a copied folder's history, sorted (none without
/// a history).
pub fn generations(folder: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(folder.join("ascmhl")) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "mhl"))
        .collect();
    files.sort();
    files
}

/// Runs `zcopy --no-env-file ARGS` in `cwd` on a pseudo-terminal (`script`) with
/// `answer` typed at it, as someone answering -i's question; returns what it printed.
pub fn zcopy_answering(cwd: &Path, answer: &str, args: &str) -> String {
    let command = format!(
        "printf '{answer}\\n' | script -qec '{} --no-env-file {args}' /dev/null",
        env!("CARGO_BIN_EXE_zcopy")
    );
    let output = StdCommand::new("sh")
        .args(["-c", &command])
        .current_dir(cwd)
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}
