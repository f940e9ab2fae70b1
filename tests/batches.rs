//! Batches: several sources into a directory, `-r` trees, `--files-from` lists with odd
//! names, and failures that must not stop the rest of the batch.

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use common::*;

#[test]
fn several_sources_go_into_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (index, name) in ["a.mkv", "b.mov", "c.wav"].iter().enumerate() {
        write_pattern(&d.join(name), (index as u64 + 1) * 3 * MIB, index as u64);
    }
    std::fs::create_dir(d.join("out")).unwrap();
    zcopy(d)
        .args(["a.mkv", "b.mov", "c.wav", "out"])
        .assert()
        .success();
    for name in ["a.mkv", "b.mov", "c.wav"] {
        assert_same_content(&d.join(name), &d.join("out").join(name));
    }
    assert_eq!(list(&d.join("out")), ["a.mkv", "b.mov", "c.wav"]);
}

#[test]
fn several_sources_need_an_existing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_pattern(&d.join("a"), 10, 1);
    write_pattern(&d.join("b"), 10, 2);
    zcopy(d)
        .args(["a", "b", "nowhere"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "target 'nowhere' is not a directory",
        ));
    zcopy(d)
        .args(["a", "nowhere/"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "target directory 'nowhere/' does not exist",
        ));
    zcopy(d)
        .args(["a"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("missing destination"));
    assert_eq!(list(d), ["a", "b"]);
}

#[test]
fn recursive_copies_a_tree_with_its_links() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tree = d.join("shoot");
    std::fs::create_dir_all(tree.join("day1/cam a")).unwrap();
    std::fs::create_dir_all(tree.join("empty")).unwrap();
    write_pattern(&tree.join("day1/cam a/clip 001.mxf"), 12 * MIB, 1);
    write_pattern(&tree.join("day1/notes.txt"), 100, 2);
    write_pattern(&tree.join("top.bin"), 0, 3);
    std::os::unix::fs::symlink("day1/notes.txt", tree.join("latest")).unwrap();
    // A link loop: must be copied as a link, not followed forever.
    std::os::unix::fs::symlink("..", tree.join("day1/loop")).unwrap();

    let (code, json, stderr) = zcopy_json(
        d,
        &[OsStr::new("-r"), OsStr::new("shoot"), OsStr::new("backup")],
    );
    assert_eq!(code, 0, "{stderr}");
    let kinds: Vec<&str> = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|file| file["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.iter().filter(|kind| **kind == "copy").count(), 3);
    assert_eq!(
        kinds.iter().filter(|kind| **kind == "symlink").count(),
        2,
        "the links are recorded as made"
    );
    let backup = d.join("backup");
    assert_same_content(
        &tree.join("day1/cam a/clip 001.mxf"),
        &backup.join("day1/cam a/clip 001.mxf"),
    );
    assert_same_content(&tree.join("day1/notes.txt"), &backup.join("day1/notes.txt"));
    assert_same_content(&tree.join("top.bin"), &backup.join("top.bin"));
    assert!(backup.join("empty").is_dir());
    assert_eq!(
        std::fs::read_link(backup.join("latest")).unwrap(),
        Path::new("day1/notes.txt")
    );
    assert_eq!(
        std::fs::read_link(backup.join("day1/loop")).unwrap(),
        Path::new("..")
    );

    // Into an existing directory, the tree keeps its name.
    std::fs::create_dir(d.join("archive")).unwrap();
    zcopy(d).args(["-r", "shoot", "archive"]).assert().success();
    assert_same_content(
        &tree.join("day1/notes.txt"),
        &d.join("archive/shoot/day1/notes.txt"),
    );
}

#[test]
fn a_directory_needs_r_and_cannot_go_into_itself() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("tree")).unwrap();
    write_pattern(&d.join("tree/file"), 10, 1);
    write_pattern(&d.join("loose"), 10, 2);
    std::fs::create_dir(d.join("out")).unwrap();

    let (code, json, _) = zcopy_json(
        d,
        &[OsStr::new("tree"), OsStr::new("loose"), OsStr::new("out")],
    );
    assert_eq!(code, 1);
    assert!(json["errors"][0]["error"]
        .as_str()
        .unwrap()
        .contains("use -r"));
    assert_eq!(
        list(&d.join("out")),
        ["loose"],
        "the other source is still copied"
    );

    let (code, json, _) = zcopy_json(
        d,
        &[OsStr::new("-r"), OsStr::new("tree"), OsStr::new("tree/sub")],
    );
    assert_eq!(code, 1);
    assert!(
        json["errors"][0]["error"]
            .as_str()
            .unwrap()
            .contains("into itself"),
        "{json}"
    );
    assert_eq!(list(&d.join("tree")), ["file"]);
}

#[test]
fn files_from_keeps_relative_paths_and_odd_names() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("cam a")).unwrap();
    std::fs::create_dir_all(d.join("cam b")).unwrap();
    let names = ["cam a/take 1.mov", "cam b/take 1.mov", "-dash.wav"];
    for (index, name) in names.iter().enumerate() {
        write_pattern(&d.join(name), 1000 + index as u64, index as u64);
    }
    std::fs::write(
        d.join("list.txt"),
        "cam a/take 1.mov\ncam b/take 1.mov\n\n-dash.wav\n",
    )
    .unwrap();
    std::fs::create_dir(d.join("out")).unwrap();
    zcopy(d)
        .args(["--files-from", "list.txt", "out"])
        .assert()
        .success();
    for name in names {
        assert_same_content(&d.join(name), &d.join("out").join(name));
    }
    // The destination may also come from -t, as with cp -t.
    std::fs::create_dir(d.join("out-t")).unwrap();
    zcopy(d)
        .args(["--files-from", "list.txt", "-t", "out-t"])
        .assert()
        .success();
    for name in names {
        assert_same_content(&d.join(name), &d.join("out-t").join(name));
    }
    // Both is one destination too many.
    zcopy(d)
        .args(["--files-from", "list.txt", "-t", "out-t", "out"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "--files-from takes the destination",
        ));

    // NUL-separated from stdin, with a newline and non-UTF-8 bytes in names.
    let newline = OsStr::from_bytes(b"line\nbreak.mov");
    let latin1 = OsStr::from_bytes(b"caf\xe9.mov");
    write_pattern(&d.join(newline), 10, 7);
    write_pattern(&d.join(latin1), 20, 8);
    let mut list = newline.as_bytes().to_vec();
    list.push(0);
    list.extend_from_slice(latin1.as_bytes());
    list.push(0);
    std::fs::create_dir(d.join("out0")).unwrap();
    zcopy(d)
        .args(["--files-from", "-", "-0", "out0"])
        .write_stdin(list)
        .assert()
        .success();
    assert_same_content(&d.join(newline), &d.join("out0").join(newline));
    assert_same_content(&d.join(latin1), &d.join("out0").join(latin1));
}

#[test]
fn files_from_refuses_parent_dirs_and_needs_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_pattern(&d.join("ok"), 10, 1);
    std::fs::write(d.join("list"), "ok\n../escape\n").unwrap();
    std::fs::create_dir(d.join("out")).unwrap();
    let (code, json, _) = zcopy_json(
        d,
        &[
            OsStr::new("--files-from"),
            OsStr::new("list"),
            OsStr::new("out"),
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(json["errors"][0]["source"], "../escape");
    assert_eq!(list(&d.join("out")), ["ok"]);
    zcopy(d)
        .args(["--files-from", "list", "ok"])
        .assert()
        .code(2);
}

/// One file the process may not read, among others: those are copied, the bad one is
/// reported with its path and operation, and the exit code is 1. As root, reading is
/// refused by dropping the capabilities that bypass file permissions.
#[test]
fn one_unreadable_file_does_not_stop_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for name in ["a", "b", "c"] {
        write_pattern(&d.join(name), 2 * MIB, name.len() as u64);
    }
    std::fs::set_permissions(d.join("b"), std::fs::Permissions::from_mode(0o000)).unwrap();
    std::fs::create_dir(d.join("out")).unwrap();
    let mut command = if unsafe { libc::geteuid() } == 0 {
        let mut command = Command::new("setpriv");
        command
            .args([
                "--inh-caps=-all",
                "--bounding-set=-dac_override,-dac_read_search",
                "--",
            ])
            .arg(env!("CARGO_BIN_EXE_zcopy"))
            .current_dir(d);
        command
    } else {
        zcopy(d)
    };
    let output = command
        .args(["--json", "a", "b", "c", "out"])
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(json["files"].as_array().unwrap().len(), 2);
    assert_eq!(json["errors"][0]["source"], "b");
    assert_eq!(json["errors"][0]["operation"], "open_source");
    assert_eq!(json["errors"][0]["errno"], 13);
    assert_eq!(list(&d.join("out")), ["a", "c"]);
    assert_no_debris(&d.join("out"));
}

#[test]
fn special_and_identical_sources_are_refused_without_side_effects() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_pattern(&d.join("movie.mkv"), 11 * MIB, 1);
    std::fs::hard_link(d.join("movie.mkv"), d.join("hardlink.mkv")).unwrap();
    std::os::unix::fs::symlink("movie.mkv", d.join("symlink.mkv")).unwrap();
    nix::unistd::mkfifo(
        &d.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let before = std::fs::read(d.join("movie.mkv")).unwrap();

    for (source, destination, expected) in [
        ("movie.mkv", "movie.mkv", "same file"),
        ("movie.mkv", "hardlink.mkv", "same file"),
        ("symlink.mkv", "movie.mkv", "same file"),
        ("movie.mkv", "symlink.mkv", "same file"),
        ("fifo", "out.fifo", "not a regular file (a FIFO)"),
        (
            "/dev/zero",
            "zero",
            "not a regular file (a character device)",
        ),
        (
            "/dev/null",
            "null",
            "not a regular file (a character device)",
        ),
        ("nonexistent", "out", "No such file or directory"),
    ] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_zcopy"))
            .current_dir(d)
            .args(["--no-env-file", source, destination])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > Duration::from_secs(20) {
                child.kill().unwrap();
                panic!("zcopy {source} {destination} hung");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert_eq!(
            status.code(),
            Some(1),
            "{source} -> {destination}: {stderr}"
        );
        assert!(
            stderr.contains(expected),
            "{source} -> {destination}: {stderr}"
        );
        assert!(
            stderr.contains(source) || stderr.contains(destination),
            "{stderr}"
        );
    }
    assert_eq!(
        std::fs::read(d.join("movie.mkv")).unwrap(),
        before,
        "source untouched"
    );
    assert_eq!(
        list(d),
        ["fifo", "hardlink.mkv", "movie.mkv", "symlink.mkv"]
    );
}

#[test]
fn an_existing_destination_is_replaced_whole_and_keeps_its_mode() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_pattern(&d.join("new"), 3 * MIB, 1);
    // 0o666 and 0o777 are more than a create gives under the usual umask (022): the
    // copy must still end up with them.
    for mode in [0o666, 0o777, 0o600, 0o640] {
        write_pattern(&d.join("old"), 5 * MIB, 2);
        std::fs::set_permissions(d.join("old"), std::fs::Permissions::from_mode(mode)).unwrap();
        zcopy(d).args(["new", "old"]).assert().success();
        assert_same_content(&d.join("new"), &d.join("old"));
        let kept = std::fs::metadata(d.join("old"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777;
        assert_eq!(kept, mode, "{mode:o}");
    }

    // --no-clobber keeps it.
    write_pattern(&d.join("newer"), 1000, 3);
    let (code, json, _) = zcopy_json(
        d,
        &[OsStr::new("-n"), OsStr::new("newer"), OsStr::new("old")],
    );
    assert_eq!(code, 0);
    assert_eq!(json["skipped"][0]["destination"], "old");
    assert_same_content(&d.join("new"), &d.join("old"));
    assert_no_debris(d);
}
