//! Faults injected at the syscall boundary by the LD_PRELOAD shim (`tests/shim/fault.c`):
//! kernel paths refused, errors after some bytes, sources changed mid-copy, corrupted
//! writes, and the fsyncs `--fsync` promises.

mod common;

use std::path::Path;
use std::process::Command as StdCommand;

use common::*;

const EPERM: i32 = 1;
const EIO: i32 = 5;
const EXDEV: i32 = 18;
const EINVAL: i32 = 22;
const ENOSPC: i32 = 28;
const ENOSYS: i32 = 38;
const EOPNOTSUPP: i32 = 95;

/// Runs zcopy under the shim with `--json -vv`; returns (exit code, JSON, stderr).
fn run(dir: &Path, shim: &Path, faults: &[(&str, String)], args: &[&str]) -> (i32, Value, String) {
    let output = zcopy_with_faults(dir, shim, faults)
        .args(["--json", "-vv"])
        .args(args)
        .output()
        .unwrap();
    let json = parse_json(&output);
    (
        output.status.code().unwrap(),
        json,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The shim's faults that replace `path` (moved to `PATH.swapped`) by a symlink to
/// `target`, at the first open of `when_opening` (else of `path` itself).
fn swap_for_symlink(
    path: &str,
    target: &Path,
    when_opening: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut faults = vec![
        ("ZCOPY_FAULT_SWAP_PATH", path.to_string()),
        (
            "ZCOPY_FAULT_SWAP_TO",
            format!("symlink-to:{}", target.display()),
        ),
    ];
    if let Some(when_opening) = when_opening {
        faults.push(("ZCOPY_FAULT_SWAP_WHEN_OPENING", when_opening.to_string()));
    }
    faults
}

#[test]
fn refused_kernel_paths_fall_to_the_next_rung() {
    let Some(shim) = fault_shim("refused_kernel_paths") else {
        return;
    };
    let mounts = mounts("refused_kernel_paths");
    let temp = tempfile::tempdir().unwrap();
    let btrfs_dir = mounts.map(|m| dir_on(&m.btrfs));
    for errno in [ENOSYS, EPERM, EXDEV, EOPNOTSUPP, EINVAL] {
        let errno_text = errno.to_string();
        // (where, refused mechanisms, the rung that must run)
        let mut cases: Vec<(&Path, Vec<&str>, &str)> = vec![
            (
                temp.path(),
                vec!["ZCOPY_FAULT_FICLONE", "ZCOPY_FAULT_COPY_FILE_RANGE"],
                "sendfile",
            ),
            (
                temp.path(),
                vec![
                    "ZCOPY_FAULT_FICLONE",
                    "ZCOPY_FAULT_COPY_FILE_RANGE",
                    "ZCOPY_FAULT_SENDFILE",
                ],
                "chunked",
            ),
        ];
        if let Some(dir) = &btrfs_dir {
            cases.push((dir.path(), vec!["ZCOPY_FAULT_FICLONE"], "copy_file_range"));
        }
        for (dir, refused, expected) in cases {
            let source = dir.join("src.mkv");
            if !source.exists() {
                write_pattern(&source, 12 * MIB + 5, 1);
            }
            let faults: Vec<(&str, String)> = refused
                .iter()
                .map(|key| (*key, errno_text.clone()))
                .collect();
            let (code, json, stderr) = run(dir, shim, &faults, &["src.mkv", "dst.mkv"]);
            assert_eq!(code, 0, "errno {errno}, {refused:?}: {stderr}");
            assert_eq!(
                only_method(&json),
                expected,
                "errno {errno}, {refused:?}: {stderr}"
            );
            assert!(stderr.contains(&format!("trying {expected}")), "{stderr}");
            assert_same_content(&source, &dir.join("dst.mkv"));
            std::fs::remove_file(dir.join("dst.mkv")).unwrap();
            assert_no_debris(dir);
        }
    }
}

/// ENOSYS means the syscall does not exist: asked once, then skipped for later files.
#[test]
fn enosys_is_remembered_for_the_rest_of_the_run() {
    let Some(shim) = fault_shim("enosys_is_remembered") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for name in ["a", "b", "c"] {
        write_pattern(&dir.path().join(name), 11 * MIB, name.len() as u64);
    }
    std::fs::create_dir(dir.path().join("out")).unwrap();
    let faults = [("ZCOPY_FAULT_COPY_FILE_RANGE", ENOSYS.to_string())];
    // One worker: "later" files are those copied after the first. With several, the
    // first files run at once and each may ask before any answer is remembered (this
    // test failed about one run in six that way).
    let (code, json, stderr) = run(
        dir.path(),
        shim,
        &faults,
        &["-j", "1", "a", "b", "c", "out"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["stats"]["methods"]["sendfile"], 3);
    assert_eq!(
        stderr.matches("copy_file_range not usable here").count(),
        1,
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("skipping copy_file_range").count(),
        2,
        "{stderr}"
    );
}

/// "Not supported here" belongs to one pair of filesystems: EOPNOTSUPP is remembered
/// for later files between the same two filesystems (and said so, not blamed on the
/// kernel); EINVAL can be about one file, so every file asks again.
#[test]
fn refusals_are_remembered_per_filesystem_pair_or_not_at_all() {
    let Some(shim) = fault_shim("refusals_per_pair") else {
        return;
    };
    for (errno, asked, skipped) in [(EOPNOTSUPP, 1, 2), (EINVAL, 3, 0)] {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a", "b", "c"] {
            write_pattern(&dir.path().join(name), 11 * MIB, name.len() as u64);
        }
        std::fs::create_dir(dir.path().join("out")).unwrap();
        let faults = [("ZCOPY_FAULT_COPY_FILE_RANGE", errno.to_string())];
        // One worker: with several, all three may ask before the first answer is kept.
        let args = ["-j", "1", "a", "b", "c", "out"];
        let (code, json, stderr) = run(dir.path(), shim, &faults, &args);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(json["stats"]["methods"]["sendfile"], 3);
        assert_eq!(
            stderr.matches("copy_file_range not usable here").count(),
            asked,
            "errno {errno}: {stderr}"
        );
        assert_eq!(
            stderr
                .matches("skipping copy_file_range: these filesystems refused it")
                .count(),
            skipped,
            "errno {errno}: {stderr}"
        );
        assert!(!stderr.contains("kernel does not provide"), "{stderr}");
    }
}

/// EIO or ENOSPC after some bytes: the file fails with that errno on the rung that was
/// running, nothing lower is tried, no temporary file stays, and the existing
/// destination is untouched.
#[test]
fn late_errors_fail_the_file_without_retry_or_debris() {
    let Some(shim) = fault_shim("late_errors") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_pattern(&d.join("src.mkv"), 12 * MIB, 1);
    let cases: [(&[&str], i32, &str, &str); 6] = [
        (&[], EIO, "copy_file_range", "trying sendfile"),
        (&[], ENOSPC, "copy_file_range", "trying sendfile"),
        (&["--reflink=never"], EIO, "sendfile", "trying chunked"),
        (&["--reflink=never"], ENOSPC, "sendfile", "trying chunked"),
        (
            &["--no-zero-copy", "--chunk-size-mb=1"],
            EIO,
            "write",
            "trying",
        ),
        (
            &["--no-zero-copy", "--chunk-size-mb=1"],
            ENOSPC,
            "write",
            "trying",
        ),
    ];
    for (flags, errno, operation, retry) in cases {
        write_pattern(&d.join("dst.mkv"), 3 * MIB, 99);
        let old = std::fs::read(d.join("dst.mkv")).unwrap();
        let faults = [
            ("ZCOPY_FAULT_AFTER_BYTES", (5 * MIB).to_string()),
            ("ZCOPY_FAULT_LATE_ERRNO", errno.to_string()),
        ];
        let args: Vec<&str> = flags
            .iter()
            .copied()
            .chain(["src.mkv", "dst.mkv"])
            .collect();
        let (code, json, stderr) = run(d, shim, &faults, &args);
        assert_eq!(code, 1, "{flags:?} {errno}: {stderr}");
        assert_eq!(json["errors"][0]["errno"], errno, "{flags:?}: {stderr}");
        assert_eq!(
            json["errors"][0]["operation"], operation,
            "{flags:?}: {stderr}"
        );
        assert!(
            !stderr.contains(retry),
            "{flags:?} {errno}: retried:\n{stderr}"
        );
        assert_eq!(
            std::fs::read(d.join("dst.mkv")).unwrap(),
            old,
            "{flags:?}: destination changed"
        );
        assert_no_debris(d);
    }
}

/// A source truncated, appended to or replaced while it is read: an error naming the
/// source, and the destination is not installed.
#[test]
fn a_source_changed_during_the_copy_is_not_installed() {
    let Some(shim) = fault_shim("source_changed") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for action in ["truncate", "append", "replace"] {
        for flags in [
            &[][..],
            &["--no-zero-copy", "--chunk-size-mb=1"][..],
            &["--reflink=never"][..],
        ] {
            write_pattern(&d.join("src.mkv"), 12 * MIB, 1);
            write_pattern(&d.join("dst.mkv"), MIB, 2);
            let old = std::fs::read(d.join("dst.mkv")).unwrap();
            let faults = [
                (
                    "ZCOPY_FAULT_SOURCE_PATH",
                    d.join("src.mkv").display().to_string(),
                ),
                ("ZCOPY_FAULT_SOURCE_ACTION", action.to_string()),
            ];
            let args: Vec<&str> = flags
                .iter()
                .copied()
                .chain(["src.mkv", "dst.mkv"])
                .collect();
            let (code, json, stderr) = run(d, shim, &faults, &args);
            assert_eq!(code, 1, "{action} {flags:?}: {stderr}");
            assert_eq!(
                json["errors"][0]["operation"], "check_source",
                "{action} {flags:?}: {stderr}"
            );
            assert!(
                stderr.contains("src.mkv: check source: source changed during the copy"),
                "{stderr}"
            );
            assert_eq!(
                std::fs::read(d.join("dst.mkv")).unwrap(),
                old,
                "{action} {flags:?}"
            );
            assert_no_debris(d);
        }
    }
}

/// A source replaced by rename (an editor or a camera app saving a new version over the
/// name) after its bytes were copied but while the copy is still being checked
/// (`--verify=checksum` and `--hash` read both files again) or flushed (`--fsync`): the copy holds
/// the old version, so it is an error and nothing is installed.
#[test]
fn a_source_replaced_while_the_copy_is_checked_or_flushed_is_not_installed() {
    let Some(shim) = fault_shim("source_replaced_late") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (when, flags) in [
        (
            "read",
            &["--method=copy-file-range", "--verify=checksum"][..],
        ),
        ("read", &["--method=copy-file-range", "--hash", "xxh64"][..]),
        ("fsync", &["--fsync"][..]),
        ("fsync", &["--fsync", "--no-zero-copy"][..]),
    ] {
        for existing in [false, true] {
            let source = d.join("src.mkv");
            let destination = d.join("dst.mkv");
            write_pattern(&source, 12 * MIB, 1);
            let _ = std::fs::remove_file(&destination);
            if existing {
                write_pattern(&destination, MIB, 2);
            }
            let old = std::fs::read(&destination).ok();
            let faults = [
                ("ZCOPY_FAULT_SOURCE_PATH", source.display().to_string()),
                ("ZCOPY_FAULT_SOURCE_ACTION", "replace".to_string()),
                ("ZCOPY_FAULT_SOURCE_WHEN", when.to_string()),
            ];
            let args: Vec<&str> = flags
                .iter()
                .copied()
                .chain(["src.mkv", "dst.mkv"])
                .collect();
            let (code, json, stderr) = run(d, shim, &faults, &args);
            let case = format!("replaced at the first {when}, {flags:?}, existing: {existing}");
            assert_eq!(
                std::fs::read(&source).unwrap(),
                b"replacement",
                "{case}: the shim did not replace the source"
            );
            assert_eq!(code, 1, "{case}: {stderr}");
            // With --hash the source's hash is read on a thread of its own, beside the
            // copy: its first read can replace the source before the copy opens it,
            // which the open's own check then finds. Either way the change is caught.
            let operation = json["errors"][0]["operation"].as_str().unwrap();
            let caught_at_open = flags.contains(&"--hash") && operation == "open_source";
            if !caught_at_open {
                assert_eq!(operation, "check_source", "{case}");
            }
            let shown = if caught_at_open {
                "open source"
            } else {
                "check source"
            };
            assert!(
                stderr.contains(&format!("src.mkv: {shown}: source changed during the copy")),
                "{case}: {stderr}"
            );
            assert_eq!(std::fs::read(&destination).ok(), old, "{case}");
            assert_no_debris(d);
        }
    }
}

/// A write that silently corrupts a byte keeps the size right: only the checksum
/// catches it. Caught, counted in verification_failures, and not installed.
#[test]
fn checksum_verification_catches_a_corrupted_copy() {
    let Some(shim) = fault_shim("checksum") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_pattern(&d.join("src.mkv"), 3 * MIB, 1);
    let corrupt = [("ZCOPY_FAULT_CORRUPT_WRITE", "1".to_string())];

    let (code, json, stderr) = run(
        d,
        shim,
        &corrupt,
        &["--verify=checksum", "src.mkv", "a.mkv"],
    );
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(json["errors"][0]["operation"], "verify");
    assert!(
        stderr.contains("checksum mismatch: source has BLAKE3 "),
        "{stderr}"
    );
    assert_eq!(json["stats"]["verification_failures"], 1);
    assert!(!d.join("a.mkv").exists());
    assert_no_debris(d);

    let output = zcopy_with_faults(d, shim, &corrupt)
        .env("ZERO_COPY_VERIFY_MODE", "checksum")
        .args(["--json", "src.mkv", "b.mkv"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(parse_json(&output)["stats"]["verification_failures"], 1);
    assert!(!d.join("b.mkv").exists());

    // What the size check alone lets through, and why the checksum mode exists.
    let (code, _, _) = run(d, shim, &corrupt, &["src.mkv", "c.mkv"]);
    assert_eq!(code, 0);
    assert_ne!(
        std::fs::read(d.join("src.mkv")).unwrap(),
        std::fs::read(d.join("c.mkv")).unwrap()
    );

    // An honest copy passes the checksum on every rung.
    for method in ["copy-file-range", "sendfile", "chunked"] {
        let flag = format!("--method={method}");
        let (code, json, stderr) = run(
            d,
            shim,
            &[],
            &["--verify=checksum", &flag, "src.mkv", "d.mkv"],
        );
        assert_eq!(code, 0, "{method}: {stderr}");
        assert_eq!(json["files"][0]["verified"], true);
        assert_same_content(&d.join("src.mkv"), &d.join("d.mkv"));
    }
}

/// `--fsync` (and ZERO_COPY_FSYNC) flush the file before the rename and its directory
/// after it; without it, zcopy does not fsync at all.
#[test]
fn fsync_flushes_the_file_and_its_directory() {
    let Some(shim) = fault_shim("fsync") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_pattern(&d.join("src.mkv"), MIB, 1);
    std::fs::create_dir(d.join("out")).unwrap();
    let out = std::fs::canonicalize(d.join("out")).unwrap();
    let log = d.join("sync.log");
    let faults = [("ZCOPY_FAULT_LOG", log.display().to_string())];

    for (flags, env) in [
        (&["--fsync"][..], None),
        (&[][..], Some(("ZERO_COPY_FSYNC", "true"))),
    ] {
        let _ = std::fs::remove_file(&log);
        let mut command = zcopy_with_faults(d, shim, &faults);
        if let Some((key, value)) = env {
            command.env(key, value);
        }
        command
            .args(flags)
            .args(["src.mkv", "out/a.mkv"])
            .assert()
            .success();
        let lines = std::fs::read_to_string(&log).unwrap_or_default();
        // The copy is fsynced while still unnamed (O_TMPFILE: "/dir/#123 (deleted)") or
        // under its temporary name: either way a file in `out`, before the directory.
        let file_synced = lines
            .lines()
            .any(|line| line.starts_with(&format!("fsync {}/", out.display())));
        let dir_synced = lines
            .lines()
            .any(|line| line == format!("fsync {}", out.display()));
        assert!(file_synced && dir_synced, "{flags:?} {env:?}:\n{lines}");
    }

    let _ = std::fs::remove_file(&log);
    zcopy_with_faults(d, shim, &faults)
        .args(["src.mkv", "out/b.mkv"])
        .assert()
        .success();
    assert!(
        !log.exists(),
        "fsync without --fsync: {}",
        std::fs::read_to_string(&log).unwrap()
    );
}

/// A kernel path that copies nothing and says so with 0 (as on files whose size is a
/// lie) must hand over to the next rung, never produce an empty copy.
#[test]
fn a_kernel_path_that_returns_nothing_hands_over_instead_of_an_empty_copy() {
    let Some(shim) = fault_shim("zero_return") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_pattern(&d.join("src.mkv"), 11 * MIB, 1);
    let cases: [(&[&str], &str); 2] = [
        (&["ZCOPY_FAULT_COPY_FILE_RANGE_EOF"], "sendfile"),
        (
            &[
                "ZCOPY_FAULT_COPY_FILE_RANGE_EOF",
                "ZCOPY_FAULT_SENDFILE_EOF",
            ],
            "chunked",
        ),
    ];
    for (faults, expected) in cases {
        let faults: Vec<(&str, String)> =
            faults.iter().map(|key| (*key, "1".to_string())).collect();
        let (code, json, stderr) = run(d, shim, &faults, &["src.mkv", "dst.mkv"]);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(only_method(&json), expected, "{stderr}");
        assert!(
            stderr.contains("returned no data for a non-empty file"),
            "{stderr}"
        );
        assert_same_content(&d.join("src.mkv"), &d.join("dst.mkv"));
    }
}

/// A write that reports more than it wrote leaves the copy short: the size check
/// (the spec's verification) catches it, names both paths and sizes, counts it, and
/// the copy is not installed. With verification off, the short copy would be kept.
#[test]
fn size_verification_catches_a_short_copy() {
    let Some(shim) = fault_shim("size_verification") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_pattern(&d.join("src.mkv"), 3 * MIB, 1);
    let lie = [("ZCOPY_FAULT_LYING_WRITE", "1".to_string())];
    let (code, json, stderr) = run(d, shim, &lie, &["--chunk-size-mb=1", "src.mkv", "dst.mkv"]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(json["errors"][0]["operation"], "verify");
    assert_eq!(
        json["errors"][0]["error"],
        "dst.mkv: verify: size mismatch: source src.mkv has 3145728 bytes, copy has 2621440 bytes"
    );
    assert_eq!(json["stats"]["verification_failures"], 1);
    assert!(!d.join("dst.mkv").exists());
    assert_no_debris(d);

    let (code, _, _) = run(
        d,
        shim,
        &lie,
        &["--no-verify", "--chunk-size-mb=1", "src.mkv", "dst.mkv"],
    );
    assert_eq!(code, 0);
    assert_eq!(std::fs::metadata(d.join("dst.mkv")).unwrap().len(), 2621440);
}

#[test]
fn a_refused_direct_link_falls_back_to_the_link_through_proc() {
    let Some(shim) = fault_shim("refused_direct_link") else {
        return;
    };
    // linkat(AT_EMPTY_PATH) names the unnamed copy without /proc, but needs
    // CAP_DAC_READ_SEARCH before Linux 6.10 (ENOENT without it); a seccomp filter may
    // answer EPERM. Either way every file must still be installed, and the refusal
    // remembered after the first file. (Each file installed on its own: a tree built
    // hidden links nothing.)
    for errno in [2, EPERM] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("src")).unwrap();
        for (index, size) in [0, 1024, 65536, 3 * MIB].into_iter().enumerate() {
            write_pattern(&d.join(format!("src/f{index}")), size, index as u64);
        }
        let log = d.join("faults.log");
        let faults = [
            ("ZCOPY_FAULT_REFUSE_EMPTY_PATH", errno.to_string()),
            ("ZCOPY_FAULT_LOG", log.display().to_string()),
        ];
        let args = ["-r", "-j", "1", "--whole-tree-mb=0", "src", "out"];
        let (code, json, stderr) = run(d, shim, &faults, &args);
        assert_eq!(code, 0, "errno {errno}: {stderr}");
        assert_eq!(json["files"].as_array().unwrap().len(), 4, "{json}");
        for index in 0..4 {
            assert_same_content(
                &d.join(format!("src/f{index}")),
                &d.join(format!("out/f{index}")),
            );
        }
        let refusals = std::fs::read_to_string(&log).unwrap_or_default();
        assert_eq!(
            refusals
                .lines()
                .filter(|line| *line == "linkat-empty-path refused")
                .count(),
            1,
            "errno {errno}: refused once, then not asked again:\n{refusals}"
        );
        assert_no_debris(&d.join("out"));
    }
}

/// -n into a directory the run made: a file that appears there before its copy is
/// put in place is kept, and the copy reported skipped, as when it was there first.
#[test]
fn no_clobber_keeps_a_file_that_appears_during_the_copy() {
    let Some(shim) = fault_shim("appears_during_copy") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("src")).unwrap();
    for name in ["a", "b"] {
        write_pattern(&d.join("src").join(name), 4096, 3);
    }
    let faults = [
        ("ZCOPY_FAULT_SWAP_PATH", "out/b".to_string()),
        ("ZCOPY_FAULT_SWAP_TO", "symlink-to:theirs".to_string()),
        ("ZCOPY_FAULT_SWAP_WHEN_OPENING", "src/b".to_string()),
    ];
    // Each file put in place as it is done (a tree built hidden has no out/b to take).
    let args = ["-rn", "-j", "1", "--whole-tree-mb", "0", "src", "out"];
    let (code, json, stderr) = run(d, shim, &faults, &args);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        std::fs::read_link(d.join("out/b")).unwrap(),
        Path::new("theirs"),
        "the file that appeared is kept"
    );
    let skipped = json["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{json}");
    assert_eq!(skipped[0]["source"], "src/b", "{json}");
    assert_same_content(&d.join("src/a"), &d.join("out/a"));
    assert_no_debris(&d.join("out"));
}

/// A tree built hidden whose name is taken before the run ends stays where it was
/// built, which the error says; the JSON records of its files name that place, where
/// they are, not the planned paths, where nothing of theirs is.
#[test]
fn a_hidden_tree_left_in_place_is_where_its_records_say() {
    let Some(shim) = fault_shim("hidden_tree_left") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("src/sub")).unwrap();
    for name in ["a", "b", "sub/c"] {
        write_pattern(&d.join("src").join(name), 4096, 7);
    }
    std::fs::create_dir(d.join("theirs")).unwrap();
    let faults = swap_for_symlink("out", &d.join("theirs"), Some("src/b"));
    let (code, json, stderr) = run(d, shim, &faults, &["-r", "-j", "1", "src", "out"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("the copy is complete in"), "{stderr}");
    // The rename's errno is kept, as every OS error's is: it was null beside a message
    // ending "(os error 17)".
    let errors = json["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{json}");
    assert_eq!(errors[0]["operation"], "rename", "{json}");
    assert_eq!(errors[0]["errno"], libc::EEXIST, "{json}");
    assert!(
        std::fs::read_dir(d.join("theirs"))
            .unwrap()
            .next()
            .is_none(),
        "nothing goes into the name taken"
    );
    let files = json["files"].as_array().unwrap();
    assert_eq!(files.len(), 3, "{json}");
    for file in files {
        let destination = Path::new(file["destination"].as_str().unwrap());
        let source = d.join(file["source"].as_str().unwrap());
        assert!(
            !destination.starts_with("out"),
            "a record names where its copy is: {json}"
        );
        assert_same_content(&source, &d.join(destination));
    }
}

/// With -a, the other names of a hard-linked file become links to its first name's
/// copy. When that copy fails (ENOSPC) and the destination's old file stays, they must
/// not become links to the old file, reported as made: they are copied (and fail too).
#[test]
fn links_to_a_failed_copy_are_not_made_to_the_old_file() {
    let Some(shim) = fault_shim("links_to_failed_copy") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("hl/a")).unwrap();
    std::fs::create_dir_all(d.join("hl/c")).unwrap();
    write_pattern(&d.join("hl/a/h1"), 64 * 1024, 1);
    std::fs::hard_link(d.join("hl/a/h1"), d.join("hl/c/h2")).unwrap();
    std::fs::hard_link(d.join("hl/a/h1"), d.join("hl/c/h3")).unwrap();
    std::fs::create_dir_all(d.join("dest/hl/a")).unwrap();
    std::fs::write(d.join("dest/hl/a/h1"), b"old").unwrap();
    let faults = [
        ("ZCOPY_FAULT_AFTER_BYTES", "1000".to_string()),
        ("ZCOPY_FAULT_LATE_ERRNO", ENOSPC.to_string()),
    ];
    let (code, json, stderr) = run(d, shim, &faults, &["-a", "hl", "dest"]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(std::fs::read(d.join("dest/hl/a/h1")).unwrap(), b"old");
    for name in ["h2", "h3"] {
        assert!(
            std::fs::symlink_metadata(d.join("dest/hl/c").join(name)).is_err(),
            "{name} is no link to the old file: {json}"
        );
    }
    let failed: Vec<&str> = json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["source"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["hl/a/h1", "hl/c/h2", "hl/c/h3"], "{json}");
    assert!(json["files"].as_array().unwrap().is_empty(), "{json}");
}

/// With -a a copied directory gets its source's attributes once its files are in. If
/// by then the source's name is a symlink to another directory (here world-writable,
/// as /tmp), that directory's mode, owner and times must not go to the copy: cp takes
/// them from the stat it made before copying into it. zcopy reports the change and
/// gives the copy the mode it was made for.
#[test]
fn a_source_directory_swapped_during_the_copy_gives_its_copy_no_attributes_of_another() {
    use std::os::unix::fs::PermissionsExt;
    let Some(shim) = fault_shim("directory_swapped") else {
        return;
    };
    for staged in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("src/private")).unwrap();
        write_pattern(&d.join("src/private/clip"), 4096, 1);
        std::fs::set_permissions(d.join("src/private"), PermissionsExt::from_mode(0o700)).unwrap();
        std::fs::create_dir(d.join("open")).unwrap();
        std::fs::set_permissions(d.join("open"), PermissionsExt::from_mode(0o1777)).unwrap();
        let faults = swap_for_symlink("src/private", &d.join("open"), Some("src/private/clip"));
        let whole_tree = if staged { "1024" } else { "0" };
        let (code, json, stderr) = run(
            d,
            shim,
            &faults,
            &["-a", "--whole-tree-mb", whole_tree, "src", "out"],
        );
        assert!(
            d.join("src/private.swapped").is_dir(),
            "the shim swapped: {stderr}"
        );
        assert_eq!(code, 1, "staged {staged}: {stderr}");
        let errors = json["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "staged {staged}: {json}");
        assert_eq!(errors[0]["source"], "src/private", "{json}");
        assert!(
            stderr.contains("src/private") && stderr.contains("source changed"),
            "{stderr}"
        );
        let mode = std::fs::metadata(d.join("out/private"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o7777,
            0o700,
            "staged {staged}: the copy keeps its own source's mode"
        );
        assert_same_content(
            &d.join("src/private.swapped/clip"),
            &d.join("out/private/clip"),
        );
    }
}

/// A directory the run made, swapped mid-run for a symlink to another directory
/// (here a private one holding a directory of the same name as the tree's): the
/// files still to copy must not be made in the other directory, nor its mode changed
/// to the copy's. The directories are opened by path, so each is checked to be the
/// one the run made; cp, path-based, writes through the link.
#[test]
fn a_destination_directory_swapped_for_a_symlink_gets_nothing_written_through_it() {
    use std::os::unix::fs::PermissionsExt;
    let Some(shim) = fault_shim("destination_directory_swapped") else {
        return;
    };
    for args in [&["-r"][..], &["-a"]] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("src/sub")).unwrap();
        for name in ["a", "b", "sub/c"] {
            write_pattern(&d.join("src").join(name), 4096, 5);
        }
        // Links are made last, through the same directories.
        std::os::unix::fs::symlink("c", d.join("src/sub/l")).unwrap();
        std::fs::set_permissions(d.join("src"), PermissionsExt::from_mode(0o777)).unwrap();
        std::fs::create_dir_all(d.join("victim/sub")).unwrap();
        std::fs::set_permissions(d.join("victim"), PermissionsExt::from_mode(0o700)).unwrap();
        let faults = swap_for_symlink("out", &d.join("victim"), Some("src/b"));
        // Each file put in place as it is done: a tree built hidden has no `out` yet.
        // One worker: the files in plan order, the swap between the first and the rest.
        let mut all = vec!["-j", "1", "--whole-tree-mb", "0"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["src", "out"]);
        let (code, json, stderr) = run(d, shim, &faults, &all);
        assert!(d.join("out.swapped").is_dir(), "the shim swapped: {stderr}");
        assert_eq!(code, 1, "{args:?}: {stderr}");
        assert!(
            stderr.contains("out/sub was replaced during the run"),
            "{args:?}: {stderr}"
        );
        let mut made: Vec<_> = walkdir::WalkDir::new(d.join("victim"))
            .into_iter()
            .map(|entry| entry.unwrap().path().strip_prefix(d).unwrap().to_path_buf())
            .collect();
        made.sort();
        assert_eq!(
            made,
            [Path::new("victim"), Path::new("victim/sub")],
            "{args:?}: nothing made in the other directory: {json}"
        );
        let mode = std::fs::metadata(d.join("victim"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o700, "{args:?}: its mode is its own");
        assert_same_content(&d.join("src/a"), &d.join("out.swapped/a"));
    }
}

/// The same swap while the directories are made: a directory made below the swapped
/// one goes into what the run made (moved aside), not into the other directory, and
/// nothing below it is made there either.
#[test]
fn a_destination_directory_swapped_while_directories_are_made_gets_nothing() {
    let Some(shim) = fault_shim("destination_swapped_at_mkdir") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("src/sub/deeper")).unwrap();
    for name in ["a", "sub/deeper/f"] {
        write_pattern(&d.join("src").join(name), 4096, 8);
    }
    std::fs::create_dir_all(d.join("victim/sub")).unwrap();
    let faults = swap_for_symlink("out", &d.join("victim"), Some("out/sub/deeper"));
    let args = ["-r", "-j", "1", "--whole-tree-mb", "0", "src", "out"];
    let (code, json, stderr) = run(d, shim, &faults, &args);
    assert!(d.join("out.swapped").is_dir(), "the shim swapped: {stderr}");
    assert_eq!(code, 1, "{stderr}");
    assert!(
        !d.join("victim/sub/deeper").exists(),
        "nothing made in the other directory: {json}"
    );
    assert!(d.join("out.swapped/sub/deeper").is_dir(), "{stderr}");
    assert_same_content(&d.join("src/a"), &d.join("out.swapped/a"));
}

/// `-a -n` makes a FIFO of the tree under its final name; its owner, mode and times
/// are then given through the directory it was made in. With that directory swapped
/// for a symlink to another one between the two, a file of the same name there kept
/// what it had: given by the whole path, it became the source's owner's, mode 0666.
#[test]
fn a_directory_swapped_after_a_node_is_made_gives_the_other_file_nothing() {
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    if !require_root("node_attributes_after_swap", "gives the FIFO another owner") {
        return;
    }
    let Some(shim) = fault_shim("node_attributes_after_swap") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("src/sub")).unwrap();
    nix::unistd::mkfifo(
        &d.join("src/sub/pipe"),
        nix::sys::stat::Mode::from_bits_truncate(0o666),
    )
    .unwrap();
    std::fs::set_permissions(d.join("src/sub/pipe"), PermissionsExt::from_mode(0o666)).unwrap();
    std::os::unix::fs::lchown(d.join("src/sub/pipe"), Some(65534), Some(65534)).unwrap();
    std::fs::create_dir_all(d.join("victim/sub")).unwrap();
    std::fs::write(d.join("victim/sub/pipe"), "private\n").unwrap();
    std::fs::set_permissions(d.join("victim/sub/pipe"), PermissionsExt::from_mode(0o600)).unwrap();
    let mut faults = swap_for_symlink("out", &d.join("victim"), None);
    faults.push(("ZCOPY_FAULT_SWAP_AFTER_MAKING", "out/sub/pipe".to_string()));
    let args = ["-a", "-n", "-j", "1", "--whole-tree-mb", "0", "src", "out"];
    let (_, json, stderr) = run(d, shim, &faults, &args);
    assert!(d.join("out.swapped").is_dir(), "the shim swapped: {stderr}");
    let other = std::fs::metadata(d.join("victim/sub/pipe")).unwrap();
    assert_eq!(
        (other.uid(), other.mode() & 0o7777),
        (0, 0o600),
        "the other directory's file keeps its owner and mode: {json}"
    );
    assert_eq!(
        std::fs::read(d.join("victim/sub/pipe")).unwrap(),
        b"private\n"
    );
    let made = std::fs::symlink_metadata(d.join("out.swapped/sub/pipe")).unwrap();
    assert!(made.file_type().is_fifo(), "{stderr}");
    assert_eq!(
        (made.uid(), made.mode() & 0o7777),
        (65534, 0o666),
        "the FIFO made gets them: {stderr}"
    );
}

/// A replaced destination's access rights hold from the first byte written to its
/// copy, as cp's write into the old file keeps them all along. Its POSIX ACL was given
/// at the install: while the copy was written, its group class had the ACL mask's
/// rights (here rw for a group the ACL gave nothing). And where the user may not give
/// the copy the old group (nobody is not in daemon), the copy's own group gets no more
/// than everyone else had, before anything is written.
#[test]
fn a_replaced_destination_s_access_rights_hold_while_its_copy_is_written() {
    use std::os::unix::fs::PermissionsExt;
    if !require_root("rights_while_written", "gives files other owners")
        || !require_tool("rights_while_written", "setfacl")
    {
        return;
    }
    let Some(shim) = fault_shim("rights_while_written") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::set_permissions(d, PermissionsExt::from_mode(0o777)).unwrap();
    write_pattern(&d.join("new"), 64 * 1024, 3);
    std::os::unix::fs::chown(d.join("new"), Some(65534), Some(65534)).unwrap();
    let first_write = |old_setup: &str, as_nobody: bool| -> String {
        let _ = std::fs::remove_file(d.join("old"));
        std::fs::write(d.join("old"), "old\n").unwrap();
        let status = StdCommand::new("sh")
            .arg("-c")
            .arg(format!("chown nobody:daemon old && {old_setup}"))
            .current_dir(d)
            .status()
            .unwrap();
        assert!(status.success(), "{old_setup}");
        let log = d.join("rights.log");
        let _ = std::fs::remove_file(&log);
        let faults = [
            ("ZCOPY_FAULT_LOG", log.display().to_string()),
            ("ZCOPY_FAULT_LOG_FIRST_WRITE", "1".to_string()),
        ];
        let zcopy = zcopy_with_faults_std(d, shim, &faults);
        let mut command = if as_nobody {
            let mut setpriv = StdCommand::new("setpriv");
            setpriv
                .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
                .arg(zcopy.get_program());
            for (key, value) in zcopy.get_envs() {
                match value {
                    Some(value) => setpriv.env(key, value),
                    None => setpriv.env_remove(key),
                };
            }
            setpriv.current_dir(d);
            setpriv
        } else {
            zcopy
        };
        let output = command
            .args(["-q", "--method", "chunked", "new", "old"])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::fs::read_to_string(&log).unwrap_or_default()
    };
    // As root: the old group and the ACL (mode 0660 shows its mask).
    let logged = first_write("chmod 600 old && setfacl -m u:daemon:rw,g::--- old", false);
    assert!(
        logged.contains("first-write mode=660 gid=1 acl=1"),
        "the ACL and group are the copy's before its first byte: {logged}"
    );
    // As nobody, not a member of daemon: its own group, with the others' rights (none).
    let logged = first_write("chmod 640 old", true);
    assert!(
        logged.contains("first-write mode=600 gid=65534 acl=0"),
        "no rights for a group the old file did not name: {logged}"
    );
    // With an ACL: its entry for the owning group is narrowed, the named ones stay.
    let logged = first_write("chmod 600 old && setfacl -m u:daemon:rw,g::r old", true);
    assert!(
        logged.contains("gid=65534 acl=1"),
        "the ACL before the first byte: {logged}"
    );
    let acl = StdCommand::new("getfacl")
        .args(["-c", "old"])
        .current_dir(d)
        .output()
        .unwrap();
    let acl = String::from_utf8_lossy(&acl.stdout);
    assert!(
        acl.contains("group::---") && acl.contains("user:daemon:rw-"),
        "{acl}"
    );
}

/// The same swap while the walk lists the tree: the walk looks at each directory
/// before it lists it, so what it lists through the symlink is not copied; the
/// directory is reported as changed and nothing below it is tried.
#[test]
fn a_source_directory_swapped_as_the_walk_lists_it_is_not_copied() {
    let Some(shim) = fault_shim("source_swapped_at_listing") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("src/sub")).unwrap();
    for name in ["a", "sub/c"] {
        write_pattern(&d.join("src").join(name), 4096, 9);
    }
    std::fs::create_dir(d.join("private")).unwrap();
    std::fs::write(d.join("private/c"), "secret").unwrap();
    // At the walk's opendir of src/sub.
    let faults = swap_for_symlink("src/sub", &d.join("private"), None);
    let (code, json, stderr) = run(d, shim, &faults, &["-r", "src", "out"]);
    assert!(
        d.join("src/sub.swapped").is_dir(),
        "the shim swapped: {stderr}"
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("src/sub: stat source: source changed"),
        "{stderr}"
    );
    assert!(
        !d.join("out/sub/c").exists(),
        "nothing listed through the link is copied: {json}"
    );
    assert_same_content(&d.join("src/a"), &d.join("out/a"));
}

/// A directory of the source swapped mid-run for a symlink to a private directory
/// holding files of the same names: nothing of the private directory is copied (cp,
/// path-based, copies it), and the copy of the directory is reported as failed.
#[test]
fn a_source_directory_swapped_for_a_symlink_is_not_read_through() {
    let Some(shim) = fault_shim("source_directory_swapped") else {
        return;
    };
    for args in [&["-r"][..], &["-a"], &["-r", "--whole-tree-mb", "0"]] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("src/sub")).unwrap();
        for name in ["a", "b", "sub/c"] {
            write_pattern(&d.join("src").join(name), 4096, 6);
        }
        std::fs::create_dir(d.join("private")).unwrap();
        std::fs::write(d.join("private/c"), "secret").unwrap();
        let faults = swap_for_symlink("src/sub", &d.join("private"), Some("src/b"));
        let mut all = vec!["-j", "1"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["src", "out"]);
        let (code, json, stderr) = run(d, shim, &faults, &all);
        assert!(
            d.join("src/sub.swapped").is_dir(),
            "the shim swapped: {stderr}"
        );
        assert_eq!(code, 1, "{args:?}: {stderr}");
        assert!(
            stderr.contains("src/sub/c: open source: src/sub was replaced during the run"),
            "{args:?}: {stderr}"
        );
        assert!(
            !d.join("out/sub/c").exists(),
            "{args:?}: nothing read through the link: {json}"
        );
        for name in ["a", "b"] {
            assert_same_content(&d.join("src").join(name), &d.join("out").join(name));
        }
    }
}

#[test]
fn a_walked_file_swapped_before_its_copy_is_refused_not_followed() {
    let Some(shim) = fault_shim("walked_file_swapped") else {
        return;
    };
    // The walk plans a regular file by its directory entry alone, and into a directory
    // the run made the copy opens it without a stat first: what is there by then must
    // be refused at the open (a FIFO without blocking, a symlink without following it),
    // and the other files copied.
    for kind in ["fifo", "symlink"] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("src")).unwrap();
        for (index, name) in ["a", "b", "c"].into_iter().enumerate() {
            write_pattern(&d.join("src").join(name), 4096, index as u64);
        }
        let faults = [
            ("ZCOPY_FAULT_SWAP_PATH", "src/b".to_string()),
            ("ZCOPY_FAULT_SWAP_TO", kind.to_string()),
        ];
        let (code, json, stderr) = run(d, shim, &faults, &["-r", "-j", "1", "src", "out"]);
        assert_eq!(code, 1, "{kind}: {stderr}");
        assert!(
            d.join("src/b.swapped").is_file(),
            "{kind}: the shim swapped"
        );
        let errors = json["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{kind}: {json}");
        assert_eq!(errors[0]["source"], "src/b", "{kind}: {json}");
        assert_eq!(errors[0]["operation"], "open_source", "{kind}: {json}");
        assert!(stderr.contains("src/b"), "{kind}: {stderr}");
        for name in ["a", "c"] {
            assert_same_content(&d.join("src").join(name), &d.join("out").join(name));
        }
        assert!(
            std::fs::symlink_metadata(d.join("out/b")).is_err(),
            "{kind}: nothing made for the swapped file"
        );
        assert_no_debris(&d.join("out"));
    }
}

/// A write past the file size limit (`ulimit -f`) fails that file with EFBIG and the
/// batch goes on: the default action of the SIGXFSZ it raises killed zcopy (exit 153),
/// leaving the temporary file and the rest of the batch. With the default ladder and
/// each byte-copying method, into a new file and over an existing one, which stays as
/// it was.
#[test]
fn a_file_past_the_size_limit_fails_alone_and_leaves_nothing() {
    const LIMIT: u64 = 4 * MIB;
    const EFBIG: i64 = 27;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_pattern(&d.join("big"), 3 * LIMIT, 1);
    write_pattern(&d.join("small"), 1000, 2);
    let limited = |args: &[&str]| {
        use std::os::unix::process::CommandExt;
        let mut command = zcopy_std(d);
        command.args(["--json"]).args(args);
        // SAFETY: setrlimit is async-signal-safe and changes only the child.
        unsafe {
            command.pre_exec(|| {
                let limit = libc::rlimit {
                    rlim_cur: LIMIT,
                    rlim_max: LIMIT,
                };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let output = command.output().unwrap();
        (output.status.code(), parse_json(&output))
    };
    for method in [
        None,
        Some("copy-file-range"),
        Some("sendfile"),
        Some("chunked"),
    ] {
        let forced: Vec<&str> = method.iter().flat_map(|name| ["--method", name]).collect();
        std::fs::create_dir(d.join("out")).unwrap();
        let (code, json) = limited(&[&forced[..], &["big", "small", "out"]].concat());
        assert_eq!(code, Some(1), "{method:?}: {json:#}");
        assert_eq!(json["errors"].as_array().unwrap().len(), 1, "{json:#}");
        assert_eq!(json["errors"][0]["errno"], EFBIG, "{json:#}");
        assert_eq!(json["files"].as_array().unwrap().len(), 1, "{json:#}");
        assert_eq!(list(&d.join("out")), ["small"], "{method:?}");

        std::fs::write(d.join("out/big"), "old\n").unwrap();
        let (code, json) = limited(&[&forced[..], &["big", "out/big"]].concat());
        assert_eq!(code, Some(1), "{method:?}: {json:#}");
        assert_eq!(json["errors"][0]["errno"], EFBIG, "{json:#}");
        assert_eq!(std::fs::read(d.join("out/big")).unwrap(), b"old\n");
        assert_eq!(list(&d.join("out")), ["big", "small"], "{method:?}");
        std::fs::remove_dir_all(d.join("out")).unwrap();
    }
}

/// `--attributes-only` over an existing file changes it in place: a name swapped for
/// a symlink between zcopy's look and its open must not hand the link's target the
/// source's attributes. Seen failing on the old code (the target's mode became the
/// source's).
#[test]
fn attributes_only_never_follows_a_destination_swapped_for_a_symlink() {
    use std::os::unix::fs::PermissionsExt;
    let Some(shim) =
        fault_shim("attributes_only_never_follows_a_destination_swapped_for_a_symlink")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("a"), "source\n").unwrap();
    std::fs::set_permissions(d.join("a"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(d.join("d"), "kept\n").unwrap();
    std::fs::write(d.join("victim"), "victim\n").unwrap();
    std::fs::set_permissions(d.join("victim"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let faults = swap_for_symlink("d", &d.join("victim"), None);
    let (code, json, stderr) = run(
        d,
        shim,
        &faults,
        &["--attributes-only", "--preserve=mode", "a", "d"],
    );
    assert!(d.join("d.swapped").exists(), "the shim swapped: {stderr}");
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(json["errors"][0]["operation"], "set_metadata", "{json:#}");
    let victim = std::fs::metadata(d.join("victim")).unwrap();
    assert_eq!(victim.permissions().mode() & 0o7777, 0o644);
    assert_eq!(
        std::fs::read_to_string(d.join("victim")).unwrap(),
        "victim\n"
    );
}

/// An EIO from sendfile or copy_file_range does not say which side failed: zcopy reads
/// the source where the copy stopped, and names the source (operation "read", as the
/// chunk copy and cp do) when that read fails too, else the destination. A failing
/// card must not be reported as a failing backup drive, nor the other way round.
#[test]
fn an_eio_of_a_kernel_rung_names_the_side_that_failed() {
    let Some(shim) = fault_shim("eio_attribution") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_pattern(&d.join("clip.mov"), 12 * MIB, 74);
    let source = d.join("clip.mov").display().to_string();
    let rungs: [(&str, &[&str], &str); 2] = [
        ("ZCOPY_FAULT_COPY_FILE_RANGE", &[], "copy_file_range"),
        ("ZCOPY_FAULT_SENDFILE", &["--reflink=never"], "sendfile"),
    ];
    for (knob, flags, rung) in rungs {
        for source_fails in [false, true] {
            let mut faults = vec![(knob, EIO.to_string())];
            if source_fails {
                faults.push(("ZCOPY_FAULT_SOURCE_PATH", source.clone()));
                faults.push(("ZCOPY_FAULT_READ_ERRNO", EIO.to_string()));
            }
            let args: Vec<&str> = flags
                .iter()
                .copied()
                .chain(["clip.mov", "out.mov"])
                .collect();
            let (code, json, stderr) = run(d, shim, &faults, &args);
            assert_eq!(code, 1, "{rung} {source_fails}: {stderr}");
            let error = &json["errors"][0];
            assert_eq!(error["errno"], EIO, "{rung} {source_fails}: {stderr}");
            let (operation, named) = if source_fails {
                ("read", "clip.mov: read: ")
            } else {
                (rung, "out.mov: ")
            };
            assert_eq!(
                error["operation"], operation,
                "{rung} {source_fails}: {stderr}"
            );
            let message = error["error"].as_str().unwrap();
            assert!(
                message.starts_with(named),
                "{rung} {source_fails}: {message}"
            );
            assert!(stderr.contains(&format!("zcopy: {message}")), "{stderr}");
            assert!(!d.join("out.mov").exists());
            assert_no_debris(d);
        }
    }
}
