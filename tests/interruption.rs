//! Interruption: Ctrl-C and SIGTERM abandon the file in flight cleanly and still
//! report; SIGKILL at any moment leaves the destination old, absent or complete, and
//! `zcopy --clean` removes what a kill left behind. The fault shim slows each read and
//! write so that the signals land mid-copy.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// zcopy with the fault shim and `args`, its output discarded: a run to kill.
fn spawn_quietly(d: &Path, shim: &Path, faults: &[(&str, String)], args: &[&str]) -> Child {
    zcopy_with_faults_std(d, shim, faults)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_child(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            panic!("zcopy did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// How many files below `dir` process `pid` has open (new copies are unnamed
/// O_TMPFILE files there, visible only through /proc).
fn files_open_in(pid: u32, dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|entry| std::fs::read_link(entry.path()).ok())
        .filter(|target| target.starts_with(dir))
        .count()
}

/// Starts a copy with `spawn` and SIGKILLs it at a pseudo-random moment between 0 and
/// `spread` times `full` (how long an uncut copy takes), the next of the xorshift
/// sequence in `seed`; returns when the kill came, once the process is gone.
fn kill_at_random_moment(
    seed: &mut u64,
    full: Duration,
    spread: f64,
    spawn: impl Fn() -> Child,
) -> Duration {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    let delay = full.mul_f64((*seed % 1000) as f64 / 1000.0 * spread);
    let mut child = spawn();
    std::thread::sleep(delay);
    let _ = child.kill();
    let _ = child.wait();
    delay
}

fn temp_files(dir: &Path) -> Vec<String> {
    list(dir)
        .into_iter()
        .filter(|name| name.ends_with(".zcopy-tmp"))
        .collect()
}

/// Three 6 MiB files at about a second each, one at a time; the signal comes while the
/// second is in flight, over an existing destination.
fn interrupted_batch(signal: Signal) {
    let Some(shim) = fault_shim("interrupted_batch") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (index, name) in ["one", "two", "three"].iter().enumerate() {
        write_pattern(&d.join(name), 6 * MIB, index as u64);
    }
    std::fs::create_dir(d.join("out")).unwrap();
    write_pattern(&d.join("out/two"), MIB, 42);
    let old_two = std::fs::read(d.join("out/two")).unwrap();

    let faults = [("ZCOPY_FAULT_DELAY_US", "80000".to_string())];
    let mut command = zcopy_with_faults_std(d, shim, &faults);
    let mut child = command
        .args([
            "--json",
            "-j1",
            "--no-zero-copy",
            "--chunk-size-mb=1",
            "one",
            "two",
            "three",
            "out",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the first copy", Duration::from_secs(30), || {
        d.join("out/one").exists()
    });
    wait_for("the second copy to start", Duration::from_secs(30), || {
        !temp_files(&d.join("out")).is_empty()
    });
    kill(Pid::from_raw(child.id() as i32), signal).unwrap();
    let status = wait_child(&mut child, Duration::from_secs(30));
    let output = child.wait_with_output().unwrap();
    let json = parse_json(&output);

    assert_eq!(
        status.code(),
        Some(130),
        "{signal}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(json["interrupted"], true);
    assert_eq!(json["files"].as_array().unwrap().len(), 1);
    assert_eq!(json["files"][0]["source"], "one");
    assert_eq!(json["errors"][0]["source"], "two");
    assert!(json["errors"][0]["error"]
        .as_str()
        .unwrap()
        .ends_with(": interrupted"));
    assert_eq!(
        json["errors"].as_array().unwrap().len(),
        1,
        "three was never started"
    );
    assert_same_content(&d.join("one"), &d.join("out/one"));
    assert_eq!(
        std::fs::read(d.join("out/two")).unwrap(),
        old_two,
        "existing destination intact"
    );
    assert!(!d.join("out/three").exists());
    assert_no_debris(&d.join("out"));
}

#[test]
fn ctrl_c_abandons_the_file_in_flight_cleanly_and_reports() {
    interrupted_batch(Signal::SIGINT);
}

#[test]
fn sigterm_abandons_the_file_in_flight_cleanly_and_reports() {
    interrupted_batch(Signal::SIGTERM);
}

/// With several workers, an interruption abandons every file in flight: each one is
/// reported as interrupted, nothing half-written is left, and whatever was installed
/// is complete.
#[test]
fn ctrl_c_with_several_workers_leaves_only_complete_files() {
    let Some(shim) = fault_shim("interrupted_workers") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let names: Vec<String> = (0..8).map(|i| format!("clip{i}")).collect();
    for (index, name) in names.iter().enumerate() {
        write_pattern(&d.join(name), (2 + index as u64) * MIB, index as u64);
    }
    std::fs::create_dir(d.join("out")).unwrap();
    let faults = [("ZCOPY_FAULT_DELAY_US", "60000".to_string())];
    let mut child = zcopy_with_faults_std(d, shim, &faults)
        .args(["--json", "-j3", "--no-zero-copy", "--chunk-size-mb=1"])
        .args(&names)
        .arg("out")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("a finished copy", Duration::from_secs(30), || {
        list(&d.join("out"))
            .iter()
            .any(|n| !n.ends_with(".zcopy-tmp"))
    });
    let out = std::fs::canonicalize(d.join("out")).unwrap();
    // All three workers in flight: one of them may finish between this look and the
    // signal (seen once in a whole-suite run), and at least two are still cut short.
    wait_for("copies in flight", Duration::from_secs(30), || {
        files_open_in(child.id(), &out) >= 3
    });
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let status = wait_child(&mut child, Duration::from_secs(30));
    let output = child.wait_with_output().unwrap();
    let json = parse_json(&output);
    assert_eq!(status.code(), Some(130));
    assert_eq!(json["interrupted"], true);
    let copied: Vec<&str> = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["source"].as_str().unwrap())
        .collect();
    assert!(!copied.is_empty());
    for name in &copied {
        assert_same_content(&d.join(name), &d.join("out").join(name));
    }
    let interrupted = json["errors"].as_array().unwrap();
    assert!(interrupted.len() >= 2, "{json}");
    assert!(interrupted
        .iter()
        .all(|e| e["error"].as_str().unwrap().ends_with(": interrupted")));
    let mut installed = list(&d.join("out"));
    installed.sort();
    let mut expected: Vec<String> = copied.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(
        installed, expected,
        "only completed files are in place, and no temporary file"
    );
}

/// SIGKILL cannot be caught: the guarantee comes from rename alone. Fifty kills at
/// random moments of a copy over an existing file; after each, the destination is the
/// old file or the complete new one. Leftover temporary files are removed by
/// `zcopy --clean`.
#[test]
fn sigkill_at_random_moments_never_leaves_a_partial_destination() {
    let Some(shim) = fault_shim("sigkill") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_pattern(&d.join("new"), 4 * MIB, 1);
    let new = std::fs::read(d.join("new")).unwrap();
    write_pattern(&d.join("old"), 3 * MIB, 2);
    let old = std::fs::read(d.join("old")).unwrap();
    std::fs::create_dir(d.join("out")).unwrap();
    let faults = [("ZCOPY_FAULT_DELAY_US", "3000".to_string())];
    let spawn = || {
        spawn_quietly(
            d,
            shim,
            &faults,
            &["--no-zero-copy", "--chunk-size-mb=1", "new", "out/dest"],
        )
    };

    // How long one uncut copy takes here, to spread the kills over it.
    let started = Instant::now();
    let mut child = spawn();
    assert!(wait_child(&mut child, Duration::from_secs(60)).success());
    let full = started.elapsed();

    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let (mut saw_old, mut saw_new) = (0, 0);
    for _ in 0..50 {
        std::fs::write(d.join("out/dest"), &old).unwrap();
        let delay = kill_at_random_moment(&mut seed, full, 1.2, spawn);
        let now = std::fs::read(d.join("out/dest")).unwrap();
        if now == old {
            saw_old += 1;
        } else if now == new {
            saw_new += 1;
        } else {
            panic!(
                "after a kill at {delay:?} the destination is neither old nor new ({} bytes)",
                now.len()
            );
        }
    }
    let found = temp_files(&d.join("out"));
    eprintln!(
        "50 kills: {saw_old} left the old file, {saw_new} the new one, {} temporary files",
        found.len()
    );
    assert!(
        saw_old > 0,
        "no kill landed before the rename: the test proves nothing"
    );
    assert!(
        found.len() <= saw_old,
        "only a kill before the rename can leave a temporary file"
    );
    let output = zcopy(d).args(["--clean", "out"]).output().unwrap();
    assert!(output.status.success());
    let printed = String::from_utf8(output.stdout).unwrap();
    assert_eq!(printed.lines().count(), found.len(), "{printed}");
    assert!(temp_files(&d.join("out")).is_empty());
    assert_eq!(
        list(&d.join("out")),
        ["dest"],
        "--clean removes only temporary files"
    );
}

/// New destinations installed one by one (`--whole-tree-mb=0`) are unnamed (O_TMPFILE)
/// until linked in whole, with linkat(AT_EMPTY_PATH) or through /proc: after a SIGKILL
/// at any moment, on every filesystem kind, each name in the destination tree is a
/// complete copy, and no temporary name exists at all.
#[test]
fn sigkill_never_leaves_a_partial_new_file_on_any_filesystem() {
    let Some(shim) = fault_shim("sigkill_new_files") else {
        return;
    };
    let Some(mounts) = mounts("sigkill_new_files") else {
        return;
    };
    let faults = [("ZCOPY_FAULT_DELAY_US", "2000".to_string())];
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut cut_short = 0;
    for (kind, root) in mounts.all() {
        let dir = dir_on(root);
        let d = dir.path();
        std::fs::create_dir(d.join("src")).unwrap();
        // One file written in several chunks (a kill can land between them), and
        // small ones written in one call each.
        write_pattern(&d.join("src/big"), 4 * MIB, 7);
        for index in 0..12 {
            write_pattern(&d.join(format!("src/small{index:02}")), 64 * 1024, index);
        }
        let spawn = || {
            spawn_quietly(
                d,
                shim,
                &faults,
                &[
                    "-r",
                    "-j",
                    "2",
                    "--no-zero-copy",
                    "--chunk-size-mb=1",
                    "--whole-tree-mb=0",
                    "src",
                    "out",
                ],
            )
        };
        let started = Instant::now();
        let mut child = spawn();
        assert!(wait_child(&mut child, Duration::from_secs(60)).success());
        let full = started.elapsed();
        for _ in 0..8 {
            // A kill before the directory was made leaves none.
            let _ = std::fs::remove_dir_all(d.join("out"));
            let delay = kill_at_random_moment(&mut seed, full, 1.0, spawn);
            let Ok(copied) = std::fs::read_dir(d.join("out")) else {
                cut_short += 1;
                continue;
            };
            let names: Vec<String> = copied
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            if names.len() < 13 {
                cut_short += 1;
            }
            for name in names {
                assert!(
                    !name.ends_with(".zcopy-tmp"),
                    "{kind}: a temporary name after a kill at {delay:?}: {name}"
                );
                let copy = std::fs::read(d.join("out").join(&name)).unwrap();
                let source = std::fs::read(d.join("src").join(&name)).unwrap();
                assert!(
                    copy == source,
                    "{kind}: {name} is partial after a kill at {delay:?} ({} of {} bytes)",
                    copy.len(),
                    source.len()
                );
            }
        }
    }
    assert!(
        cut_short > 0,
        "no kill landed before the copy ended: the test proves nothing"
    );
}

/// Every file below `root`, by its path relative to it.
fn files_below(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut directories = vec![root.to_path_buf()];
    while let Some(directory) = directories.pop() {
        for entry in std::fs::read_dir(&directory).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                directories.push(path);
            } else {
                files.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    files.sort();
    files
}

/// The hidden trees a run left in `dir` (`.out.XXXXXX.zcopy-tmp`).
fn hidden_trees(dir: &Path) -> Vec<String> {
    temp_files(dir)
        .into_iter()
        .filter(|name| dir.join(name).is_dir())
        .collect()
}

/// A small run builds a new tree hidden and renames it into place whole: after a
/// SIGKILL at any moment, `out` is absent or holds every file of the source complete.
/// What a kill leaves is one hidden directory, which `zcopy --clean` removes.
#[test]
fn sigkill_leaves_a_new_tree_absent_or_whole() {
    let Some(shim) = fault_shim("sigkill_whole_tree") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("src/a")).unwrap();
    std::fs::create_dir_all(d.join("src/b/c")).unwrap();
    write_pattern(&d.join("src/big"), 4 * MIB, 7);
    for index in 0..12u64 {
        let sub = ["a", "b/c"][index as usize % 2];
        write_pattern(&d.join(format!("src/{sub}/f{index}")), 64 * 1024, index);
    }
    let expected = files_below(&d.join("src"));
    let faults = [("ZCOPY_FAULT_DELAY_US", "2000".to_string())];
    let args = [
        "-r",
        "-j",
        "2",
        "--no-zero-copy",
        "--chunk-size-mb=1",
        "src",
        "out",
    ];
    let started = Instant::now();
    let mut child = spawn_quietly(d, shim, &faults, &args);
    assert!(wait_child(&mut child, Duration::from_secs(60)).success());
    let full = started.elapsed();
    assert!(
        hidden_trees(d).is_empty(),
        "a finished run leaves nothing hidden"
    );

    let mut seed = 0xD1B5_4A32_D192_ED03u64;
    let (mut absent, mut whole, mut left_hidden) = (0, 0, 0);
    for _ in 0..12 {
        let _ = std::fs::remove_dir_all(d.join("out"));
        let spawn = || spawn_quietly(d, shim, &faults, &args);
        let delay = kill_at_random_moment(&mut seed, full, 1.1, spawn);
        if d.join("out").exists() {
            whole += 1;
            assert_eq!(files_below(&d.join("out")), expected, "kill at {delay:?}");
            for file in &expected {
                assert_same_content(&d.join("src").join(file), &d.join("out").join(file));
            }
        } else {
            absent += 1;
        }
        let hidden = hidden_trees(d);
        assert!(hidden.len() <= 1, "{hidden:?}");
        left_hidden += hidden.len();
        let output = zcopy(d).args(["--clean", "."]).output().unwrap();
        assert!(output.status.success());
        let printed = String::from_utf8(output.stdout).unwrap();
        assert_eq!(printed.lines().count(), hidden.len(), "{printed}");
        assert!(hidden_trees(d).is_empty());
        assert!(
            d.join("src/big").exists(),
            "--clean removes only what zcopy made"
        );
    }
    eprintln!(
        "12 kills: {absent} left no tree ({left_hidden} hidden ones), {whole} the whole tree"
    );
    assert!(
        absent > 0,
        "no kill landed before the rename: the test proves nothing"
    );
}

/// Ctrl-C in a run building a new tree hidden: the file in flight is removed, and the
/// files already copied are put in place (as when each file is installed on its own),
/// complete; nothing hidden is left.
#[test]
fn ctrl_c_puts_a_new_tree_in_place_with_only_its_complete_files() {
    let Some(shim) = fault_shim("interrupted_whole_tree") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("src")).unwrap();
    for (index, name) in ["one", "two", "three"].iter().enumerate() {
        write_pattern(&d.join("src").join(name), 6 * MIB, index as u64);
    }
    let faults = [("ZCOPY_FAULT_DELAY_US", "80000".to_string())];
    let mut child = zcopy_with_faults_std(d, shim, &faults)
        .args([
            "--json",
            "-r",
            "-j1",
            "--no-zero-copy",
            "--chunk-size-mb=1",
            "src",
            "out",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the hidden tree", Duration::from_secs(30), || {
        hidden_trees(d).len() == 1
    });
    let hidden = d.join(&hidden_trees(d)[0]);
    wait_for("the second copy to start", Duration::from_secs(30), || {
        list(&hidden).len() >= 2
    });
    assert!(!d.join("out").exists(), "nothing in place before the end");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let status = wait_child(&mut child, Duration::from_secs(30));
    let output = child.wait_with_output().unwrap();
    let json = parse_json(&output);
    assert_eq!(status.code(), Some(130));
    assert_eq!(json["interrupted"], true);
    let copied: Vec<&str> = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["destination"].as_str().unwrap())
        .collect();
    assert_eq!(copied.len(), 1, "{json}");
    let errors = json["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{json}");
    let error = errors[0]["error"].as_str().unwrap();
    let in_flight = errors[0]["destination"].as_str().unwrap();
    assert!(
        error.starts_with(&format!("{in_flight}: ")) && error.ends_with(": interrupted"),
        "the error names the planned path: {error}"
    );
    let name = copied[0].strip_prefix("out/").unwrap();
    assert_same_content(&d.join("src").join(name), &d.join(copied[0]));
    assert_eq!(list(&d.join("out")), [name]);
    assert!(hidden_trees(d).is_empty());
}

/// `zcopy --clean` beside a running copy leaves what that copy holds: the tree it builds
/// hidden (whose finished files it removed, while the run still put the tree in place
/// and said every file was copied) and the temporary file of a replaced destination.
#[test]
fn clean_leaves_what_a_running_copy_holds() {
    let Some(shim) = fault_shim("clean_beside_a_run") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("src/a")).unwrap();
    for index in 0..8u64 {
        write_pattern(&d.join(format!("src/a/f{index}")), 64 * 1024, index);
    }
    write_pattern(&d.join("big"), 4 * MIB, 9);
    std::fs::write(d.join("existing"), "old\n").unwrap();
    let expected = files_below(&d.join("src"));
    let faults = [("ZCOPY_FAULT_DELAY_US", "40000".to_string())];
    let slow = ["-j", "1", "--no-zero-copy", "--chunk-size-mb=1"];
    // Each run, and what shows it is under way.
    type Run<'a> = (&'a [&'a str], fn(&Path) -> bool);
    let runs: [Run; 2] = [
        (&["-r", "src", "out"], |d| {
            hidden_trees(d)
                .iter()
                .any(|tree| files_below(&d.join(tree)).len() >= 2)
        }),
        (&["big", "existing"], |d| !temp_files(d).is_empty()),
    ];
    for (args, started) in runs {
        let mut all = slow.to_vec();
        all.extend_from_slice(args);
        let mut child = spawn_quietly(d, shim, &faults, &all);
        wait_for("the run's temporary files", Duration::from_secs(60), || {
            started(d)
        });
        let output = zcopy(d).args(["--clean", "-r", "."]).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "",
            "{args:?}: nothing removed"
        );
        assert!(
            stderr.contains("in use by a running zcopy"),
            "{args:?}: {stderr}"
        );
        assert!(wait_child(&mut child, Duration::from_secs(120)).success());
    }
    assert_eq!(files_below(&d.join("out")), expected);
    for file in &expected {
        assert_same_content(&d.join("src").join(file), &d.join("out").join(file));
    }
    assert_same_content(&d.join("big"), &d.join("existing"));
    assert!(temp_files(d).is_empty(), "{:?}", temp_files(d));
}

/// `--copy-contents` waits for a FIFO's writer as cp does, but Ctrl-C or SIGTERM ends
/// the wait (a blocking open or read of a FIFO slept through both): the run stops as
/// any interrupted run, with the FIFO's partial copy not put in place.
fn interrupted_while_waiting_on_a_fifo(with_silent_writer: bool) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("s")).unwrap();
    std::fs::write(d.join("s/a"), "a\n").unwrap();
    let fifo = d.join("s/p");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    let mut child = zcopy_std(d)
        .args(["--json", "-r", "-j2", "--copy-contents", "s", "d"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A writer that opens the FIFO and sends nothing: its open returns once zcopy has
    // opened the FIFO for reading.
    let (opened_tx, opened_rx) = std::sync::mpsc::channel();
    let writer = with_silent_writer.then(|| {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let file = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
            opened_tx.send(()).unwrap();
            file
        })
    });
    wait_for("the regular file's copy", Duration::from_secs(30), || {
        hidden_trees(d)
            .first()
            .is_some_and(|tree| d.join(tree).join("a").exists())
    });
    if with_silent_writer {
        opened_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    }
    // Precondition only (no timing is asserted): let the worker reach the FIFO's wait.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "zcopy waits on the FIFO"
    );
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    // A hang guard, not a speed claim.
    let status = wait_child(&mut child, Duration::from_secs(30));
    let output = child.wait_with_output().unwrap();
    drop(writer.map(|writer| writer.join().unwrap()));
    let json = parse_json(&output);
    assert_eq!(
        status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(json["interrupted"], true, "{json}");
    let errors = json["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{json}");
    assert_eq!(errors[0]["source"], "s/p", "{json}");
    assert!(
        errors[0]["error"]
            .as_str()
            .unwrap()
            .ends_with(": interrupted"),
        "{json}"
    );
    assert_eq!(list(&d.join("d")), ["a"], "the FIFO's copy is not in place");
    assert_no_debris(d);
    assert_no_debris(&d.join("d"));
}

#[test]
fn sigterm_ends_the_wait_for_a_fifo_writer() {
    interrupted_while_waiting_on_a_fifo(false);
}

#[test]
fn sigterm_ends_the_wait_for_a_silent_fifo_writer() {
    interrupted_while_waiting_on_a_fifo(true);
}
