//! Hostile inputs: each gets a clear error naming the path and the operation, nothing
//! is created or changed, and the rest of the batch is still copied.

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use base64::Engine;
use common::*;

/// The same file reached through a bind mount has another path but the same device
/// and inode: refused before the destination is opened, source untouched.
#[test]
fn the_same_file_through_a_bind_mount_is_refused() {
    if mounts("same_file_bind_mount").is_none() {
        return;
    }
    let dir = fixture_dir();
    let d = dir.path();
    std::fs::create_dir(d.join("a")).unwrap();
    std::fs::create_dir(d.join("b")).unwrap();
    write_pattern(&d.join("a/movie.mkv"), 11 * MIB, 1);
    let before = std::fs::read(d.join("a/movie.mkv")).unwrap();
    let _bound = mount_for_test(&["--bind", d.join("a").to_str().unwrap()], &d.join("b"));
    let (code, json, stderr) =
        zcopy_json(d, &[OsStr::new("a/movie.mkv"), OsStr::new("b/movie.mkv")]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        json["errors"][0]["error"],
        "b/movie.mkv: stat destination: source and destination are the same file"
    );
    assert_eq!(std::fs::read(d.join("a/movie.mkv")).unwrap(), before);
    assert_eq!(list(&d.join("a")), ["movie.mkv"]);
}

/// A tree copied into itself through a bind mount of it (another path, the same
/// directory) is refused before anything is copied, as cp refuses it.
#[test]
fn a_tree_into_itself_through_a_bind_mount_is_refused() {
    if mounts("tree_into_itself_bind_mount").is_none() {
        return;
    }
    let dir = fixture_dir();
    let d = dir.path();
    std::fs::create_dir_all(d.join("b/d")).unwrap();
    std::fs::create_dir(d.join("b/e")).unwrap();
    write_pattern(&d.join("b/d/clip"), 4096, 1);
    let _bound = mount_for_test(&["--bind", d.join("b/d").to_str().unwrap()], &d.join("b/e"));
    let (code, json, stderr) = zcopy_json(
        d,
        &[OsStr::new("-r"), OsStr::new("b/d"), OsStr::new("b/e/sub")],
    );
    assert_eq!(code, 1, "{stderr}");
    let error = json["errors"][0]["error"].as_str().unwrap();
    assert!(error.contains("into itself"), "{json}");
    assert_eq!(list(&d.join("b/d")), ["clip"], "nothing copied");
}

#[test]
fn a_read_only_destination_is_an_error_that_names_it() {
    if mounts("read_only_destination").is_none() {
        return;
    }
    let dir = fixture_dir();
    let d = dir.path();
    write_pattern(&d.join("movie.mkv"), MIB, 1);
    std::fs::create_dir(d.join("ro")).unwrap();
    let _ro = mount_for_test(&["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs"], &d.join("ro"));
    let (code, json, _) = zcopy_json(d, &[OsStr::new("movie.mkv"), OsStr::new("ro/movie.mkv")]);
    assert_eq!(code, 1);
    assert_eq!(json["errors"][0]["operation"], "create_temp");
    assert_eq!(
        json["errors"][0]["errno"], 30,
        "EROFS: {}",
        json["errors"][0]
    );
    assert!(json["errors"][0]["error"]
        .as_str()
        .unwrap()
        .starts_with("ro: create temporary file: "));
    assert!(list(&d.join("ro")).is_empty());
}

/// One batch full of bad sources and destinations, with two good files among them:
/// the good ones are copied, every bad one has its own error, exit code 1.
#[test]
fn a_batch_of_hostile_inputs_still_copies_the_good_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_pattern(&d.join("good1.mkv"), 11 * MIB, 1);
    write_pattern(&d.join("good2.wav"), 1000, 2);
    std::fs::create_dir(d.join("a dir")).unwrap();
    nix::unistd::mkfifo(
        &d.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(d.join("socket")).unwrap();
    std::fs::create_dir(d.join("out")).unwrap();

    let output = zcopy(d)
        .args([
            "--json",
            "good1.mkv",
            "fifo",
            "socket",
            "a dir",
            "/dev/zero",
            "/dev/null",
            "missing",
            "good2.wav",
            "out",
        ])
        .timeout(std::time::Duration::from_secs(30))
        .output()
        .unwrap();
    let json = parse_json(&output);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(list(&d.join("out")), ["good1.mkv", "good2.wav"]);
    let errors: Vec<(String, String)> = json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["source"].as_str().unwrap().to_string(),
                e["error"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        ("fifo", "fifo: stat source: not a regular file (a FIFO)"),
        (
            "socket",
            "socket: stat source: not a regular file (a socket)",
        ),
        (
            "a dir",
            "a dir: stat source: is a directory (use -r to copy directories)",
        ),
        (
            "/dev/zero",
            "/dev/zero: stat source: not a regular file (a character device)",
        ),
        (
            "/dev/null",
            "/dev/null: stat source: not a regular file (a character device)",
        ),
        (
            "missing",
            "missing: stat source: No such file or directory (os error 2)",
        ),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(errors, expected);
}

#[test]
fn a_missing_destination_directory_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_pattern(&d.join("movie.mkv"), MIB, 1);
    let (code, json, _) = zcopy_json(
        d,
        &[OsStr::new("movie.mkv"), OsStr::new("no/such/dir/movie.mkv")],
    );
    assert_eq!(code, 1);
    assert_eq!(json["errors"][0]["operation"], "create_temp");
    assert_eq!(json["errors"][0]["errno"], 2);
    assert_eq!(list(d), ["movie.mkv"]);
}

/// Names with spaces, newlines and bytes that are not UTF-8 are copied exactly, and
/// the JSON stays valid and gives their exact bytes in `*_base64`.
#[test]
fn odd_names_copy_exactly_and_json_keeps_their_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let names: [&[u8]; 4] = [
        b"with space.mkv",
        b"new\nline.mkv",
        b"caf\xe9.mkv",
        b"\xff\xfe.wav",
    ];
    std::fs::create_dir(d.join("out")).unwrap();
    for (index, name) in names.iter().enumerate() {
        let name = OsStr::from_bytes(name);
        write_pattern(&d.join(name), 100 + index as u64, index as u64);
        let destination = Path::new("out").join(name);
        let (code, json, stderr) = zcopy_json(d, &[name, destination.as_os_str()]);
        assert_eq!(code, 0, "{stderr}");
        assert_same_content(&d.join(name), &d.join(&destination));
        let record = &json["files"][0];
        let decode = |field: &str, text_field: &str| -> Vec<u8> {
            match record.get(field) {
                Some(encoded) => base64::engine::general_purpose::STANDARD
                    .decode(encoded.as_str().unwrap())
                    .unwrap(),
                None => record[text_field].as_str().unwrap().as_bytes().to_vec(),
            }
        };
        assert_eq!(decode("source_base64", "source"), name.as_bytes());
        assert_eq!(
            decode("destination_base64", "destination"),
            destination.as_os_str().as_bytes()
        );
        let is_utf8 = std::str::from_utf8(name.as_bytes()).is_ok();
        assert_eq!(record.get("source_base64").is_none(), is_utf8);
    }
}
