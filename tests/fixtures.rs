//! The fixtures release what they mount, even when a test leaves a file open on a
//! mount or panics: this test runs a child test process that does both, then checks
//! that nothing it mounted is still mounted, no loop device holds its images, and
//! nothing is left in its temporary directory.

mod common;

use std::path::Path;
use std::process::Command as StdCommand;
use std::time::{Duration, Instant};

use common::*;

/// Set in the environment of the child; without it the child scenario does nothing.
const CHILD: &str = "ZCOPY_FIXTURE_LEAK_CHILD";

#[test]
fn mounts_are_released_even_when_a_test_holds_files_open_or_panics() {
    if mounts("fixtures_release").is_none() {
        return;
    }
    let tmp = fixture_dir();
    let output = StdCommand::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_that_holds_files_open_and_panics",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("child: panicking with a file open on a mount"),
        "the child did not get as far as the panic:\n{stdout}\n{stderr}"
    );
    assert_eq!(
        output.status.code(),
        Some(101),
        "the child's test should have failed:\n{stderr}"
    );

    let mounted: Vec<_> = mount_points()
        .into_iter()
        .filter(|point| point.starts_with(tmp.path()))
        .collect();
    assert!(
        mounted.is_empty(),
        "still mounted after the child exited: {mounted:?}\n{stderr}"
    );
    let left = list(tmp.path());
    assert!(left.is_empty(), "left in the temp dir: {left:?}\n{stderr}");
    // The kernel detaches a loop device whose lazily unmounted filesystem was freed
    // asynchronously (Linux 5.17+ queues the autoclear): wait for it, with a bound.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let attached = loop_devices_under(tmp.path());
        if attached.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "loop devices still attached to the child's images: {attached:?}\n{stderr}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `losetup -a` lines whose backing file is under `dir`.
fn loop_devices_under(dir: &Path) -> Vec<String> {
    let output = StdCommand::new("losetup").arg("-a").output().unwrap();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| line.contains(&format!("({}/", dir.display())))
        .map(str::to_string)
        .collect()
}

/// The child: leaves a file open on a shared mount until exit, releases an extra mount
/// while a file on it is open (what `a_clone_on_a_nearly_full_btrfs_fails_cleanly`
/// did), and panics while a file on another extra mount is open. Does nothing unless
/// run by the test above.
#[test]
fn child_that_holds_files_open_and_panics() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let mounts = mounts("fixtures_child").expect("the parent checked the mounts");
    let on_shared = std::fs::File::create(mounts.btrfs.join("held-until-exit")).unwrap();
    std::mem::forget(on_shared);

    let released_busy = extra_loop_mount("busy", &["mkfs.btrfs", "-q", "-f"], 128);
    let held = std::fs::File::create(released_busy.join("held")).unwrap();
    drop(released_busy);
    std::mem::forget(held);

    // The guard is dropped while the panic unwinds, with the file still open.
    let _panicking = extra_loop_mount("panicking", &["mkfs.ext4", "-q", "-F"], 64);
    std::mem::forget(std::fs::File::create(_panicking.join("held")).unwrap());
    eprintln!("child: panicking with a file open on a mount");
    panic!("the child panics on purpose");
}

/// A skipped test says so at the end of `.ci/test`, not only in output cargo test hides:
/// the skip is appended to `ZCOPY_SKIP_LOG` and `.ci/list-skips` prints it.
#[test]
fn skips_are_recorded_for_the_summary_after_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("skipped");
    let output = StdCommand::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_that_skips"])
        .env(CHILD, "1")
        .env("ZCOPY_SKIP_LOG", &log)
        .env_remove("ZCOPY_REQUIRE_ROOT_TESTS")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let summary = StdCommand::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/list-skips"))
        .arg(&log)
        .output()
        .unwrap();
    let summary = String::from_utf8_lossy(&summary.stdout);
    assert_eq!(
        summary,
        "Skipped (1):\n  SKIPPED child_that_skips: zcopy-no-such-tool is not installed\n"
    );
}

/// The child: needs a tool nobody has, so it skips. Does nothing unless run by the
/// test above.
#[test]
fn child_that_skips() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    assert!(!require_tool("child_that_skips", "zcopy-no-such-tool"));
}

/// `.ci/check-fixtures`, which `.ci/run` runs after the suite, fails on a fixture left
/// in the temporary directory and names it.
#[test]
fn the_ci_check_fails_on_a_fixture_left_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let left = tmp.path().join(format!("{FIXTURE_PREFIX}abc123"));
    std::fs::create_dir(&left).unwrap();
    std::fs::write(left.join("btrfs.img"), b"image").unwrap();
    let output = StdCommand::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/check-fixtures"))
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&left.display().to_string()), "{stderr}");
}
