//! ASC MHL histories when their writing fails or is cut short: a full disk, SIGKILL,
//! Ctrl-C or SIGTERM while the generations are written. A failed write leaves the
//! history as it was, what a killed one left neither blocks the next run nor survives
//! `zcopy --clean`, and an interruption ends the run with 130 and no generation begun.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Everything in `folder`, sorted (empty when it does not exist).
fn names(folder: &Path) -> Vec<String> {
    if folder.exists() {
        list(folder)
    } else {
        Vec::new()
    }
}

fn wait_for(what: &str, child: &mut Child, mut done: impl FnMut(u32) -> bool) {
    let started = Instant::now();
    while !done(child.id()) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "zcopy ended before {what}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no {what} in 120 s"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A tmpfs of `size` at `dir/name`, unmounted when the guard drops.
fn small_tmpfs(dir: &Path, name: &str, size: &str) -> (PathBuf, MountGuard) {
    let point = dir.join(name);
    std::fs::create_dir(&point).unwrap();
    let guard = mount_for_test(
        &["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"],
        &point,
    );
    (point, guard)
}

fn run(cwd: &Path, args: &[&str]) -> (i32, Value, String) {
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|arg| os(arg)).collect();
    zcopy_json(cwd, &args)
}

/// Checks `folder`'s history with zcopy and, where installed, the reference.
fn history_verifies(cwd: &Path, folder: &str) {
    let output = zcopy(cwd).args(["verify", folder]).output().unwrap();
    assert!(
        output.status.success(),
        "zcopy verify {folder}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    if require_tool("mhl_failures", "ascmhl") {
        tool(cwd, "ascmhl", &[os("diff"), os(folder)]);
    }
}

#[test]
fn a_full_disk_while_the_first_generation_is_written_leaves_no_history_behind() {
    let test = "a_full_disk_while_the_first_generation_is_written_leaves_no_history_behind";
    if !require_root(test, "to mount a small tmpfs") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("card/A001")).unwrap();
    std::fs::create_dir(d.join("raid")).unwrap();
    write_pattern(&d.join("card/A001/C001.mov"), 8192, 7);
    // The clip fills the 8 KiB tmpfs: there is no room for its generation.
    let (shuttle, _guard) = small_tmpfs(d, "shuttle", "8k");

    let args = [
        "-r",
        "-p",
        "--mhl",
        "-t",
        "raid",
        "-t",
        "shuttle",
        "card/A001",
    ];
    let (code, json, stderr) = run(d, &args);
    assert_eq!(code, 1, "{stderr}");
    let full = json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|error| error["error"].as_str().unwrap().contains(".mhl"))
        .unwrap_or_else(|| panic!("no error about the generation: {json:#}"));
    // The OS error number is kept, not hidden by the temporary file's wrapper.
    assert_eq!(full["errno"], 28, "{json:#}");
    assert_eq!(full["operation"], "write", "{json:#}");
    assert_eq!(json["mhl"].as_array().unwrap().len(), 1, "{json:#}");
    assert_eq!(json["mhl"][0]["root"], "raid/A001", "{json:#}");
    // No half-made history: the reference refuses an ascmhl/ without a chain.
    assert!(
        !shuttle.join("A001/ascmhl").exists(),
        "{:?}",
        names(&shuttle.join("A001/ascmhl"))
    );
    assert_eq!(names(&shuttle.join("A001")), ["C001.mov"]);

    // With room again, the run is resumed: the copies are there, the history is written.
    let status = std::process::Command::new("mount")
        .args(["-o", "remount,size=1m"])
        .arg(&shuttle)
        .status()
        .unwrap();
    assert!(status.success());
    let mut resumed = args.to_vec();
    resumed.push("--resume");
    let (code, json, stderr) = run(d, &resumed);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["skipped"].as_array().unwrap().len(), 2, "{json:#}");
    let sequences: Vec<(String, u64)> = json["mhl"]
        .as_array()
        .unwrap()
        .iter()
        .map(|recorded| {
            (
                recorded["root"].as_str().unwrap().to_string(),
                recorded["sequence"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        sequences,
        [
            ("raid/A001".to_string(), 2),
            ("shuttle/A001".to_string(), 1)
        ]
    );
    history_verifies(d, "shuttle/A001");
    history_verifies(d, "raid/A001");
}

#[test]
fn a_chain_that_cannot_be_written_takes_its_generation_back() {
    let test = "a_chain_that_cannot_be_written_takes_its_generation_back";
    if !require_root(test, "to mount a small tmpfs") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("card/A001")).unwrap();
    write_pattern(&d.join("card/A001/C001.mov"), 4096, 8);
    let (shuttle, _guard) = small_tmpfs(d, "shuttle", "1m");
    let args = ["-r", "-p", "--mhl", "--resume", "card/A001", "shuttle"];
    let (code, _, stderr) = run(d, &args);
    assert_eq!(code, 0, "{stderr}");
    let history = shuttle.join("A001/ascmhl");
    let before = names(&history);
    assert_eq!(before.len(), 2, "{before:?}");
    for name in &before {
        let size = std::fs::metadata(history.join(name)).unwrap().len();
        assert!(size < 4096, "{name} has {size} bytes: over a page");
    }

    // The filesystem filled up, then one page freed: the next generation (under a
    // page, as the first one) fits, the chain after it does not.
    let filler = shuttle.join("filler");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&filler).unwrap();
        let page = [0u8; 4096];
        loop {
            match file.write(&page) {
                Ok(4096) => {}
                Ok(_) => panic!("a short write to tmpfs"),
                Err(err) => {
                    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
                    break;
                }
            }
        }
        let length = file.metadata().unwrap().len();
        file.set_len(length - 4096).unwrap();
    }
    let (code, json, stderr) = run(d, &args);
    assert_eq!(code, 1, "{stderr}");
    let chain = json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|error| error["errno"] == 28)
        .unwrap_or_else(|| panic!("no ENOSPC: {json:#}"));
    assert!(
        chain["error"]
            .as_str()
            .unwrap()
            .contains("ascmhl_chain.xml"),
        "not the chain that failed: {json:#}"
    );
    assert_eq!(json["mhl"], serde_json::json!([]), "{json:#}");
    // The history as it was: no generation outside the chain.
    assert_eq!(names(&history), before);

    std::fs::remove_file(&filler).unwrap();
    let (code, json, stderr) = run(d, &args);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["mhl"][0]["sequence"], 2, "{json:#}");
    assert_eq!(generations(&shuttle.join("A001")).len(), 2);
    history_verifies(d, "shuttle/A001");
}

#[test]
fn a_run_killed_while_writing_the_first_generation_is_cleaned_and_resumed() {
    let test = "a_run_killed_while_writing_the_first_generation_is_cleaned_and_resumed";
    let Some(shim) = fault_shim(test) else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("card/A001")).unwrap();
    std::fs::create_dir(d.join("shuttle")).unwrap();
    write_pattern(&d.join("card/A001/C001.mov"), 4096, 9);
    let history = d.join("shuttle/A001/ascmhl");
    // Each read and write waits 300 ms: the generation's temporary file stays long
    // enough before its write to be seen, and killed.
    let mut child = zcopy_with_faults_std(d, shim, &[("ZCOPY_FAULT_DELAY_US", "300000".into())])
        .args(["-r", "-p", "--mhl", "-t", "shuttle", "card/A001"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("a file in ascmhl/", &mut child, |_| {
        !names(&history).is_empty()
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let left = names(&history);
    assert!(
        left.len() == 1 && left[0].starts_with('.'),
        "the kill came after the generation's temporary file: {left:?}"
    );
    // A second folder in the same state, to be cleaned before any rerun.
    let status = std::process::Command::new("cp")
        .args(["-a", "shuttle/A001", "shuttle/A002"])
        .current_dir(d)
        .status()
        .unwrap();
    assert!(status.success());

    // What zcopy before 2026-11 named its MHL temporary files, and names that are the
    // user's: only the first goes.
    std::fs::create_dir_all(d.join("shuttle/A003/ascmhl")).unwrap();
    std::fs::write(d.join("shuttle/A003/ascmhl/.zcopy-mhl-Ab12Cd"), b"<?xml").unwrap();
    std::fs::write(d.join("shuttle/A003/.zcopy-mhl-Ab12Cd"), b"mine").unwrap();
    std::fs::write(d.join("shuttle/A001/ascmhl/.zcopy-mhl-notes"), b"mine").unwrap();

    // A history folder holding only a temporary file is no history: the run resumes.
    let args = [
        "-r",
        "-p",
        "--mhl",
        "--resume",
        "-t",
        "shuttle",
        "card/A001",
    ];
    let (code, json, stderr) = run(d, &args);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["mhl"][0]["sequence"], 1, "{json:#}");
    history_verifies(d, "shuttle/A001");

    // --clean removes what the kill left, and the folder it alone was in.
    let output = zcopy(d)
        .args(["--clean", "-r", "shuttle"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let kept = names(&history);
    assert_eq!(kept.len(), 3, "{kept:?}");
    assert_eq!(kept[0], ".zcopy-mhl-notes", "{kept:?}");
    assert!(
        kept[1..].iter().all(|name| !name.starts_with('.')),
        "{kept:?}"
    );
    assert_eq!(names(&d.join("shuttle/A003")), [".zcopy-mhl-Ab12Cd"]);
    assert!(
        !d.join("shuttle/A002/ascmhl").exists(),
        "{:?}",
        names(&d.join("shuttle/A002/ascmhl"))
    );
    history_verifies(d, "shuttle/A001");
}

#[test]
fn a_generation_without_its_chain_is_an_error_that_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("card/A001")).unwrap();
    write_pattern(&d.join("card/A001/C001.mov"), 4096, 10);
    std::fs::create_dir(d.join("raid")).unwrap();
    let (code, _, stderr) = run(d, &["-r", "-p", "--mhl", "card/A001", "raid"]);
    assert_eq!(code, 0, "{stderr}");
    std::fs::remove_file(d.join("raid/A001/ascmhl/ascmhl_chain.xml")).unwrap();
    let generation = generations(&d.join("raid/A001")).remove(0);
    let name = generation.file_name().unwrap().to_str().unwrap();

    let (code, json, stderr) = run(d, &["-r", "-p", "--mhl", "--resume", "card/A001", "raid"]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(json["mhl"], serde_json::json!([]), "{json:#}");
    for said in [
        name,
        "but no ascmhl_chain.xml",
        "Restore ascmhl_chain.xml",
        "move ascmhl/ aside",
    ] {
        assert!(stderr.contains(said), "{said:?} not in {stderr}");
    }
    let output = zcopy(d).args(["verify", "raid/A001"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("but no ascmhl_chain.xml"));
    // Nothing was added to it.
    assert_eq!(names(&d.join("raid/A001/ascmhl")), [name]);
}

/// A card and destinations where writing the generations takes long: each destination
/// holds four 40 MiB files the copy did not bring, which its generation must hash.
fn slow_generations(d: &Path, destinations: &[&str]) {
    std::fs::create_dir_all(d.join("card/A001")).unwrap();
    std::fs::write(d.join("card/A001/C001.mov"), b"clip\n").unwrap();
    for (index, destination) in destinations.iter().enumerate() {
        std::fs::create_dir_all(d.join(destination).join("A001")).unwrap();
        for extra in 0..4 {
            write_pattern(
                &d.join(destination).join(format!("A001/extra{extra}.mov")),
                40 * MIB,
                100 + index as u64 * 10 + extra,
            );
        }
    }
}

/// Runs `args` slowed down, sends `signal` once `ready` says so, and returns the exit
/// code and the JSON printed.
fn signalled(
    d: &Path,
    shim: &Path,
    delay_us: &str,
    args: &[&str],
    signal: Signal,
    ready: impl FnMut(u32) -> bool,
) -> (i32, Value, String) {
    let mut child = zcopy_with_faults_std(d, shim, &[("ZCOPY_FAULT_DELAY_US", delay_us.into())])
        .arg("--json")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the moment to signal", &mut child, ready);
    kill(Pid::from_raw(child.id() as i32), signal).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code().unwrap(), parse_json(&output), stderr)
}

/// True while process `pid` has a file below `dir` open.
fn has_open_below(pid: u32, dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    entries
        .flatten()
        .filter_map(|entry| std::fs::read_link(entry.path()).ok())
        .any(|target| target.starts_with(dir))
}

fn interrupted_while_hashing_for_a_generation(signal: Signal, destinations: &[&str]) {
    let test = "interrupted_while_hashing_for_a_generation";
    let Some(shim) = fault_shim(test) else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().canonicalize().unwrap();
    slow_generations(&d, destinations);
    let mut args = vec!["-r", "-p", "--mhl"];
    for destination in destinations {
        args.extend(["-t", destination]);
    }
    args.push("card/A001");
    let first_extra = d.join(destinations[0]).join("A001/extra0.mov");
    // The extra files are read only by the generation's hashing: once one is open,
    // the copy is over and the generations are being made.
    let (code, json, stderr) = signalled(&d, shim, "20000", &args, signal, |pid| {
        has_open_below(pid, &first_extra)
    });
    assert_eq!(code, 130, "{stderr}\n{json:#}");
    assert_eq!(json["interrupted"], true, "{json:#}");
    assert_eq!(json["mhl"], serde_json::json!([]), "{json:#}");
    assert_eq!(json["files"].as_array().unwrap().len(), destinations.len());
    for destination in destinations {
        let root = format!("{destination}/A001");
        assert!(
            !d.join(&root).join("ascmhl").exists(),
            "{root}: {:?}",
            names(&d.join(&root).join("ascmhl"))
        );
        assert!(
            json["errors"].as_array().unwrap().iter().any(|error| {
                error["destination"] == root.as_str()
                    && error["error"]
                        .as_str()
                        .unwrap()
                        .contains("interrupted: no ASC MHL generation written")
            }),
            "{root} not named: {json:#}"
        );
    }
}

#[test]
fn ctrl_c_while_generations_are_made_ends_with_130_and_no_generation() {
    interrupted_while_hashing_for_a_generation(Signal::SIGINT, &["raid", "shuttle"]);
}

#[test]
fn sigterm_while_a_generation_is_made_ends_with_130_and_no_generation() {
    interrupted_while_hashing_for_a_generation(Signal::SIGTERM, &["raid"]);
}

#[test]
fn ctrl_c_while_a_generation_file_is_written_completes_it_and_ends_with_130() {
    let test = "ctrl_c_while_a_generation_file_is_written_completes_it_and_ends_with_130";
    let Some(shim) = fault_shim(test) else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("card/A001")).unwrap();
    std::fs::create_dir(d.join("raid")).unwrap();
    write_pattern(&d.join("card/A001/C001.mov"), 4096, 11);
    let history = d.join("raid/A001/ascmhl");
    let args = ["-r", "-p", "--mhl", "-t", "raid", "card/A001"];
    // 300 ms before each write: the generation's temporary file is seen before its
    // bytes are written, and the signal comes then.
    let (code, json, stderr) = signalled(d, shim, "300000", &args, Signal::SIGINT, |_| {
        !names(&history).is_empty()
    });
    assert_eq!(code, 130, "{stderr}\n{json:#}");
    assert_eq!(json["interrupted"], true, "{json:#}");
    assert_eq!(json["mhl"][0]["sequence"], 1, "{json:#}");
    history_verifies(d, "raid/A001");
    assert!(
        names(&history).iter().all(|name| !name.starts_with('.')),
        "{:?}",
        names(&history)
    );
}

#[test]
fn ctrl_c_while_a_source_is_checked_against_its_history_ends_with_130() {
    let test = "ctrl_c_while_a_source_is_checked_against_its_history_ends_with_130";
    let Some(shim) = fault_shim(test) else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().canonicalize().unwrap();
    std::fs::create_dir_all(d.join("card/A001")).unwrap();
    std::fs::create_dir_all(d.join("shuttle")).unwrap();
    std::fs::create_dir_all(d.join("raid")).unwrap();
    for index in 0..3 {
        write_pattern(
            &d.join(format!("card/A001/C{index}.mov")),
            40 * MIB,
            200 + index,
        );
    }
    // A card offloaded before: its history is checked before anything is copied.
    let (code, _, stderr) = run(&d, &["-r", "-p", "--mhl", "card/A001", "raid"]);
    assert_eq!(code, 0, "{stderr}");
    let first = d.join("raid/A001/C0.mov");
    let args = ["-r", "-p", "--mhl", "raid/A001", "shuttle"];
    let (code, json, stderr) = signalled(&d, shim, "20000", &args, Signal::SIGINT, |pid| {
        has_open_below(pid, &first)
    });
    assert_eq!(code, 130, "{stderr}\n{json:#}");
    assert_eq!(json["interrupted"], true, "{json:#}");
    assert!(!stderr.contains("does not match"), "{stderr}");
    assert!(
        stderr.contains("interrupted while a source was checked against its ASC MHL history"),
        "{stderr}"
    );
    assert!(names(&d.join("shuttle")).is_empty());
}
