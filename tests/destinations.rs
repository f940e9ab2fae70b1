//! Several destinations at once (`-t DIR` repeated): every file to every destination,
//! each with its own ladder and verification, across real filesystems; one destination
//! failing (full, read-only) never stops the others; `--mhl` and `--resume` per
//! destination; the source read once per file whatever the number of destinations.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use common::*;
use serde_json::Value;

/// A card: one clip above the zero-copy threshold, small frames in a folder, an empty
/// file.
fn make_card(root: &Path) -> Vec<&'static str> {
    std::fs::create_dir_all(root.join("Clips/A001C002")).unwrap();
    write_pattern(&root.join("Clips/A001C001.mov"), 12 * MIB + 17, 1);
    write_pattern(&root.join("Clips/A001C002/frame 0001.dng"), 300_000, 2);
    write_pattern(&root.join("Clips/A001C002/frame 0002.dng"), 300_001, 3);
    std::fs::write(root.join("Clips/empty.txt"), b"").unwrap();
    vec![
        "Clips/A001C001.mov",
        "Clips/A001C002/frame 0001.dng",
        "Clips/A001C002/frame 0002.dng",
        "Clips/empty.txt",
    ]
}

/// The file records of one destination root.
fn records_of<'a>(json: &'a Value, root: &Path) -> Vec<&'a Value> {
    json["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|file| file["destination_root"] == root.to_str().unwrap())
        .collect()
}

fn errors_of<'a>(json: &'a Value, root: &Path) -> Vec<&'a Value> {
    json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|error| error["destination_root"] == root.to_str().unwrap())
        .collect()
}

/// The method that copied `relative` to `root`.
fn method_of(json: &Value, root: &Path, relative: &str) -> String {
    let destination = root.join("A001").join(relative);
    let record = records_of(json, root)
        .into_iter()
        .find(|file| file["destination"] == destination.to_str().unwrap())
        .unwrap_or_else(|| panic!("no record of {}: {json:#}", destination.display()));
    record["method"].as_str().unwrap().to_string()
}

#[test]
fn two_and_three_destinations_across_filesystems() {
    let test = "two_and_three_destinations_across_filesystems";
    let Some(mounts) = mounts(test) else { return };
    // The card on btrfs: a destination on the same btrfs gets clones.
    let card_dir = dir_on(&mounts.btrfs);
    let card = card_dir.path().join("A001");
    let files = make_card(&card);
    let layouts: [&[&Path]; 2] = [
        &[&mounts.btrfs, &mounts.ext4],
        &[&mounts.xfs, &mounts.tmpfs, &mounts.btrfs],
    ];
    for filesystems in layouts {
        let dirs: Vec<tempfile::TempDir> = filesystems.iter().map(|fs| dir_on(fs)).collect();
        let roots: Vec<PathBuf> = dirs.iter().map(|dir| dir.path().to_path_buf()).collect();
        let mut args = vec![os("-r"), os("--hash"), os("xxh64")];
        for root in &roots {
            args.extend([os("-t"), root.as_os_str()]);
        }
        args.push(card.as_os_str());
        let (code, json, stderr) = zcopy_json(card_dir.path(), &args);
        assert_eq!(code, 0, "{stderr}\n{json:#}");
        assert_eq!(
            json["files"].as_array().unwrap().len(),
            files.len() * roots.len(),
            "{json:#}"
        );
        for (root, filesystem) in roots.iter().zip(filesystems) {
            let records = records_of(&json, root);
            assert_eq!(records.len(), files.len(), "{json:#}");
            for record in &records {
                assert_eq!(record["verified"], true, "{record:#}");
                assert!(record["hashes"]["xxh64"].is_string(), "{record:#}");
            }
            for relative in &files {
                assert_same_content(&card.join(relative), &root.join("A001").join(relative));
            }
            let clip = method_of(&json, root, "Clips/A001C001.mov");
            let frame = method_of(&json, root, "Clips/A001C002/frame 0001.dng");
            if *filesystem == mounts.btrfs.as_path() {
                assert_eq!(clip, "clone", "same filesystem as the card: {json:#}");
                assert_eq!(frame, "clone", "{json:#}");
            } else {
                assert_ne!(clip, "clone", "{json:#}");
                assert_ne!(frame, "clone", "{json:#}");
            }
            assert_no_debris(&root.join("A001"));
        }
        // The summary: one line per destination, then the total.
        let mut command = zcopy(card_dir.path());
        command.args(["-r", "-f"]);
        for root in &roots {
            command.arg("-t").arg(root);
        }
        let output = command.arg(&card).output().unwrap();
        assert!(output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        for root in &roots {
            let lines: Vec<&str> = stderr
                .lines()
                .filter(|line| line.starts_with(&format!("{}: ", root.display())))
                .collect();
            assert_eq!(lines.len(), 1, "{stderr}");
            assert!(lines[0].contains("4 files"), "{stderr}");
        }
        assert!(
            stderr.contains(&format!("{} files,", 4 * roots.len())),
            "{stderr}"
        );
    }
}

#[test]
fn a_destination_that_fills_up_fails_alone_and_the_others_get_their_history() {
    let test = "a_destination_that_fills_up_fails_alone_and_the_others_get_their_history";
    let Some(mounts) = mounts(test) else { return };
    if !require_tool(test, "xmllint") {
        return;
    }
    let fixture = fixture_dir();
    let small = fixture.path().join("small");
    std::fs::create_dir(&small).unwrap();
    let _small = mount_for_test(&["-t", "tmpfs", "-o", "size=16m", "tmpfs"], &small);
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("A001");
    std::fs::create_dir(&card).unwrap();
    // 24 MiB: the 16 MiB destination fills up part way through.
    for index in 0..6 {
        write_pattern(&card.join(format!("C{index}.mov")), 4 * MIB, index + 60);
    }
    let ext4 = dir_on(&mounts.ext4);
    let xfs = dir_on(&mounts.xfs);
    let (code, json, stderr) = zcopy_json(
        dir.path(),
        &[
            os("-r"),
            os("-j"),
            os("2"),
            os("--mhl"),
            os("-t"),
            ext4.path().as_os_str(),
            os("-t"),
            small.as_os_str(),
            os("-t"),
            xfs.path().as_os_str(),
            card.as_os_str(),
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    // The full one: ENOSPC, no generation, no temporary files, and whatever is under
    // a final name is complete.
    let full = errors_of(&json, &small);
    assert!(full.iter().any(|error| error["errno"] == 28), "{json:#}");
    assert!(
        full.iter().any(|error| error["operation"] == "mhl"),
        "{json:#}"
    );
    assert!(!small.join("A001/ascmhl").exists());
    assert_no_debris(&small.join("A001"));
    for name in list(&small.join("A001")) {
        assert_same_content(&card.join(&name), &small.join("A001").join(&name));
    }
    assert!(list(&small.join("A001")).len() < 6);
    // The others: every file, verified, and a history that validates.
    for root in [ext4.path(), xfs.path()] {
        assert!(errors_of(&json, root).is_empty(), "{json:#}");
        let records = records_of(&json, root);
        assert_eq!(records.len(), 6, "{json:#}");
        assert!(records.iter().all(|file| file["verified"] == true));
        for index in 0..6 {
            let name = format!("C{index}.mov");
            assert_same_content(&card.join(&name), &root.join("A001").join(&name));
        }
        let history = generations(&root.join("A001"));
        assert_eq!(history.len(), 1, "{}", root.display());
        let text = std::fs::read_to_string(&history[0]).unwrap();
        assert_eq!(text.matches("<hash>").count(), 6, "{text}");
        let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ascmhl/ASCMHL.xsd");
        tool(
            dir.path(),
            "xmllint",
            &[
                os("--noout"),
                os("--schema"),
                schema.as_os_str(),
                history[0].as_os_str(),
            ],
        );
        let output = zcopy(dir.path())
            .arg("verify")
            .arg(root.join("A001"))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let recorded = json["mhl"].as_array().unwrap();
    assert_eq!(recorded.len(), 2, "{json:#}");
}

#[test]
fn a_read_only_destination_fails_alone() {
    let test = "a_read_only_destination_fails_alone";
    if !require_root(test, "mounts a read-only tmpfs") {
        return;
    }
    let fixture = fixture_dir();
    let read_only = fixture.path().join("ro");
    std::fs::create_dir(&read_only).unwrap();
    let _mounted = mount_for_test(&["-t", "tmpfs", "-o", "ro,size=4m", "tmpfs"], &read_only);
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("A001");
    let files = make_card(&card);
    let good = dir.path().join("good");
    std::fs::create_dir(&good).unwrap();
    let (code, json, stderr) = zcopy_json(
        dir.path(),
        &[
            os("-r"),
            os("--hash"),
            os("xxh3"),
            os("-t"),
            read_only.as_os_str(),
            os("-t"),
            good.as_os_str(),
            card.as_os_str(),
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    let failed = errors_of(&json, &read_only);
    assert!(!failed.is_empty(), "{json:#}");
    assert!(
        failed.iter().any(|error| error["errno"] == libc::EROFS),
        "{json:#}"
    );
    assert_eq!(
        failed.len(),
        json["errors"].as_array().unwrap().len(),
        "{json:#}"
    );
    assert!(records_of(&json, &read_only).is_empty(), "{json:#}");
    assert!(errors_of(&json, &good).is_empty(), "{json:#}");
    assert_eq!(records_of(&json, &good).len(), files.len(), "{json:#}");
    for relative in &files {
        assert_same_content(&card.join(relative), &good.join("A001").join(relative));
    }
    assert!(stderr.contains(read_only.to_str().unwrap()), "{stderr}");
}

/// A symlink in the way of a copied folder on any destination, not only the first:
/// nothing is written through it (the folder's files come after its failure in the
/// plan, so none is tried), and the one error is the folder's, before anything below.
#[test]
fn a_symlink_in_the_way_on_a_further_destination_leads_nowhere() {
    for links_at in ["A001", "A001/Clips"] {
        for jobs in ["-j1", "-j4"] {
            let dir = tempfile::tempdir().unwrap();
            let card = dir.path().join("A001");
            make_card(&card);
            let (raid, shuttle, victim) = (
                dir.path().join("raid"),
                dir.path().join("shuttle"),
                dir.path().join("victim"),
            );
            for made in [&raid, &shuttle, &victim] {
                std::fs::create_dir(made).unwrap();
            }
            std::fs::write(victim.join("A001C001.mov"), "precious").unwrap();
            let link = shuttle.join(links_at);
            std::fs::create_dir_all(link.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(&victim, &link).unwrap();
            let (code, json, stderr) = zcopy_json(
                dir.path(),
                &[
                    os("-r"),
                    os(jobs),
                    os("-t"),
                    raid.as_os_str(),
                    os("-t"),
                    shuttle.as_os_str(),
                    card.as_os_str(),
                ],
            );
            let context = format!("{links_at} {jobs}: {stderr}\n{json:#}");
            assert_eq!(code, 1, "{context}");
            let mut in_victim: Vec<_> = std::fs::read_dir(&victim)
                .unwrap()
                .map(|item| item.unwrap().file_name())
                .collect();
            in_victim.sort();
            assert_eq!(in_victim, ["A001C001.mov"], "{context}");
            assert_eq!(
                std::fs::read(victim.join("A001C001.mov")).unwrap(),
                b"precious",
                "{context}"
            );
            assert!(records_of(&json, &shuttle).is_empty(), "{context}");
            let errors = errors_of(&json, &shuttle);
            assert_eq!(errors.len(), 1, "{context}");
            assert_eq!(
                errors[0]["destination"],
                link.to_str().unwrap(),
                "{context}"
            );
            assert_eq!(records_of(&json, &raid).len(), 4, "{context}");
        }
    }
}

#[test]
fn resume_copies_to_each_destination_only_what_it_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("A001");
    let files = make_card(&card);
    let (first, second) = (dir.path().join("raid"), dir.path().join("shuttle"));
    for root in [&first, &second] {
        std::fs::create_dir(root).unwrap();
        let output = zcopy(dir.path())
            .args(["-r", "-p", "-t"])
            .arg(root)
            .arg(&card)
            .output()
            .unwrap();
        assert!(output.status.success());
    }
    // The second destination was left part way: one file missing, one cut short.
    std::fs::remove_file(second.join("A001/Clips/A001C001.mov")).unwrap();
    let cut = second.join("A001/Clips/A001C002/frame 0002.dng");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&cut)
        .unwrap()
        .set_len(1000)
        .unwrap();
    let (code, json, stderr) = zcopy_json(
        dir.path(),
        &[
            os("-r"),
            os("-p"),
            os("--resume"),
            os("--hash"),
            os("xxh64"),
            os("-t"),
            first.as_os_str(),
            os("-t"),
            second.as_os_str(),
            card.as_os_str(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(records_of(&json, &first).is_empty(), "{json:#}");
    let copied: Vec<&str> = records_of(&json, &second)
        .iter()
        .map(|file| file["destination"].as_str().unwrap())
        .collect();
    assert_eq!(
        copied,
        [
            second.join("A001/Clips/A001C001.mov").to_str().unwrap(),
            cut.to_str().unwrap()
        ],
        "{json:#}"
    );
    let skipped = json["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 2 * files.len() - 2, "{json:#}");
    let skipped_first = skipped
        .iter()
        .filter(|skip| skip["destination_root"] == first.to_str().unwrap())
        .count();
    assert_eq!(skipped_first, files.len(), "{json:#}");
    for root in [&first, &second] {
        for relative in &files {
            assert_same_content(&card.join(relative), &root.join("A001").join(relative));
        }
    }
}

/// Bytes read from `source` (by read, pread64) in an `strace -y` log of one thread.
fn bytes_read_from(log: &str, source: &Path) -> u64 {
    let marker = format!("<{}>", source.display());
    log.lines()
        .filter(|line| {
            (line.contains("read(") || line.contains("pread64(")) && line.contains(&marker)
        })
        .filter_map(|line| line.rsplit("= ").next()?.trim().parse::<i64>().ok())
        .filter(|&bytes| bytes > 0)
        .map(|bytes| bytes as u64)
        .sum()
}

#[test]
fn the_source_is_read_once_whatever_the_number_of_destinations() {
    let test = "the_source_is_read_once_whatever_the_number_of_destinations";
    if !require_tool(test, "strace") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("clip.mov");
    let size = 6 * MIB + 5;
    write_pattern(&source, size, 9);
    let bin = env!("CARGO_BIN_EXE_zcopy");
    let read_with = |destinations: usize, extra: &[&str]| -> u64 {
        let run = format!("d{destinations}{}", extra.join(""));
        let roots: Vec<PathBuf> = (0..destinations)
            .map(|index| {
                let root = dir.path().join(format!("{run}-{index}"));
                std::fs::create_dir(&root).unwrap();
                root
            })
            .collect();
        // One log per thread (-ff): no call is split into "unfinished" and "resumed"
        // halves by another thread's.
        let logs = dir.path().join(format!("trace-{run}"));
        std::fs::create_dir(&logs).unwrap();
        let mut command = StdCommand::new("strace");
        command
            .args(["-ff", "-y", "-qq", "-e", "trace=read,pread64", "-o"])
            .arg(logs.join("log"))
            .arg(bin)
            // The chunk copy reads the source in user space: the path whose reads could
            // be repeated per destination. 1 MiB chunks: several reads per file.
            .args([
                "--no-env-file",
                "-q",
                "--method",
                "chunked",
                "--chunk-size-mb",
                "1",
                "--hash",
                "xxh64",
            ])
            .args(extra);
        for root in &roots {
            command.arg("-t").arg(root);
        }
        let output = command.arg(&source).output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        for root in &roots {
            assert_same_content(&source, &root.join("clip.mov"));
        }
        std::fs::read_dir(&logs)
            .unwrap()
            .map(|log| {
                bytes_read_from(
                    &std::fs::read_to_string(log.unwrap().path()).unwrap(),
                    &source,
                )
            })
            .sum()
    };
    let one = read_with(1, &[]);
    // Once for the media hash, once for the chunk copy.
    assert_eq!(one, 2 * size);
    assert_eq!(read_with(2, &[]), one);
    assert_eq!(read_with(3, &[]), one);
    // --verify=checksum reads the source once more (its BLAKE3), once in all.
    let checksum = ["--verify=checksum"];
    assert_eq!(read_with(1, &checksum), 3 * size);
    assert_eq!(read_with(3, &checksum), 3 * size);
}

#[test]
fn the_same_directory_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), b"a").unwrap();
    std::fs::create_dir(dir.path().join("out")).unwrap();
    std::os::unix::fs::symlink("out", dir.path().join("link")).unwrap();
    for second in ["out/", "link", "./out"] {
        let output = zcopy(dir.path())
            .args(["-t", "out", "-t", second, "a.txt"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{second}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!("destination '{second}' is given twice")),
            "{stderr}"
        );
        assert!(list(&dir.path().join("out")).is_empty());
    }
    // A bind mount of it: another path to the same directory, so one copy, not two.
    if !require_root("same_directory_bind_mounted", "mounts") {
        return;
    }
    std::fs::create_dir(dir.path().join("bound")).unwrap();
    let out = dir.path().join("out").display().to_string();
    let _bound = mount_for_test(&["--bind", &out], &dir.path().join("bound"));
    let output = zcopy(dir.path())
        .args(["-t", "out", "-t", "bound", "a.txt"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("destination 'bound' is given twice"),
        "{stderr}"
    );
    assert!(list(&dir.path().join("out")).is_empty());
}

/// One destination inside another is refused before anything is copied: the outer
/// one's copy would hold the inner one's, and every record would be counted for the
/// inner one (the deepest root that holds it).
#[test]
fn a_destination_inside_another_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("card/A001")).unwrap();
    std::fs::write(dir.path().join("card/A001/C001.mov"), b"clip").unwrap();
    std::fs::create_dir_all(dir.path().join("d1/A001")).unwrap();
    for (first, second, inner, outer) in [
        ("d1", "d1/A001", "d1/A001", "d1"),
        ("d1/A001", "d1", "d1/A001", "d1"),
        ("d1", "d1/A001/..//A001", "d1/A001/..//A001", "d1"),
    ] {
        let output = zcopy(dir.path())
            .args(["-r", "-t", first, "-t", second, "card/A001"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{first} {second}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "destination '{inner}' is inside destination '{outer}'"
            )),
            "{stderr}"
        );
        assert_eq!(list(&dir.path().join("d1")), ["A001"], "{first} {second}");
        assert!(list(&dir.path().join("d1/A001")).is_empty());
    }
}

#[test]
fn a_destination_inside_the_source_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("A001");
    let files = make_card(&card);
    let inside = card.join("Clips");
    let good = dir.path().join("good");
    std::fs::create_dir(&good).unwrap();
    let (code, json, stderr) = zcopy_json(
        dir.path(),
        &[
            os("-r"),
            os("-t"),
            inside.as_os_str(),
            os("-t"),
            good.as_os_str(),
            card.as_os_str(),
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot copy a directory into itself ('{}')",
            inside.join("A001").display()
        )),
        "{stderr}"
    );
    assert!(!inside.join("A001").exists());
    assert_eq!(records_of(&json, &good).len(), files.len(), "{json:#}");
}

#[test]
fn progress_shows_a_bar_per_destination() {
    let dir = tempfile::tempdir().unwrap();
    write_pattern(&dir.path().join("in"), 30 * MIB, 1);
    for root in ["raid", "shuttle"] {
        std::fs::create_dir(dir.path().join(root)).unwrap();
    }
    let output = zcopy(dir.path())
        .args(["--progress", "--method", "chunked", "--chunk-size-mb", "1"])
        .args(["-t", "raid", "-t", "shuttle", "in"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for root in ["raid", "shuttle"] {
        assert!(
            stderr.contains(&format!("{root} [")),
            "no bar for {root}:\n{stderr}"
        );
        assert_same_content(&dir.path().join("in"), &dir.path().join(root).join("in"));
    }
}

#[test]
fn no_clobber_backup_and_files_from_apply_per_destination() {
    let dir = tempfile::tempdir().unwrap();
    write_pattern(&dir.path().join("a.mov"), 200_000, 1);
    write_pattern(&dir.path().join("b.mov"), 300_000, 2);
    for root in ["one", "two"] {
        std::fs::create_dir(dir.path().join(root)).unwrap();
    }
    // Only the first destination has an a.mov already.
    std::fs::write(dir.path().join("one/a.mov"), b"older take").unwrap();
    let (code, json, stderr) = zcopy_json(
        dir.path(),
        &[
            os("-n"),
            os("-t"),
            os("one"),
            os("-t"),
            os("two"),
            os("a.mov"),
            os("b.mov"),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let skipped = json["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{json:#}");
    assert_eq!(skipped[0]["destination"], "one/a.mov");
    assert_eq!(skipped[0]["destination_root"], "one");
    assert_eq!(json["files"].as_array().unwrap().len(), 3, "{json:#}");
    assert_eq!(
        std::fs::read(dir.path().join("one/a.mov")).unwrap(),
        b"older take"
    );
    assert_same_content(&dir.path().join("a.mov"), &dir.path().join("two/a.mov"));

    // -b keeps each destination's replaced file beside it.
    let output = zcopy(dir.path())
        .args(["-b", "-t", "one", "-t", "two", "a.mov"])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(
        std::fs::read(dir.path().join("one/a.mov~")).unwrap(),
        b"older take"
    );
    assert_same_content(&dir.path().join("a.mov"), &dir.path().join("one/a.mov"));
    assert!(dir.path().join("two/a.mov~").exists());
    assert!(!dir.path().join("two/b.mov~").exists());

    // --files-from: each listed file to each destination, every record streamed with
    // its destination root.
    std::fs::write(dir.path().join("list"), "b.mov\n").unwrap();
    for root in ["three", "four"] {
        std::fs::create_dir(dir.path().join(root)).unwrap();
    }
    let output = zcopy(dir.path())
        .args(["--json-lines", "--files-from", "list"])
        .args(["-t", "three", "-t", "four"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let roots: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|record| record["type"] == "file")
        .map(|record| record["destination_root"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(roots, ["three", "four"]);
    for root in ["three", "four"] {
        assert_same_content(
            &dir.path().join("b.mov"),
            &dir.path().join(root).join("b.mov"),
        );
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

#[test]
fn ctrl_c_during_a_shared_chunk_copy_leaves_no_destination_half_written() {
    let test = "ctrl_c_during_a_shared_chunk_copy_leaves_no_destination_half_written";
    let Some(shim) = fault_shim(test) else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_pattern(&d.join("clip.mov"), 8 * MIB, 5);
    for root in ["raid", "shuttle"] {
        std::fs::create_dir(d.join(root)).unwrap();
    }
    // Each read and write waits 80 ms: the copy takes seconds, in 1 MiB chunks read
    // once and written to both.
    let faults = [("ZCOPY_FAULT_DELAY_US", "80000".to_string())];
    let mut child = zcopy_with_faults_std(d, shim, &faults)
        .args(["--json", "--no-zero-copy", "--chunk-size-mb=1"])
        .args(["-t", "raid", "-t", "shuttle", "clip.mov"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while files_open_in(child.id(), &d.join("raid")) == 0
        || files_open_in(child.id(), &d.join("shuttle")) == 0
    {
        assert!(started.elapsed().as_secs() < 30, "the copies never started");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let waited = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if waited.elapsed().as_secs() > 30 {
            let _ = child.kill();
            panic!("zcopy did not stop after Ctrl-C");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json = parse_json(&output);
    assert_eq!(json["interrupted"], true);
    assert!(json["files"].as_array().unwrap().is_empty(), "{json:#}");
    for root in ["raid", "shuttle"] {
        assert!(
            list(&d.join(root)).is_empty(),
            "{root}: {:?}",
            list(&d.join(root))
        );
    }
}

#[test]
fn a_source_history_is_checked_once_and_travels_to_every_destination() {
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("A001");
    make_card(&card);
    std::fs::create_dir(dir.path().join("shuttle")).unwrap();
    let first = zcopy(dir.path())
        .args(["-r", "--mhl", "A001", "shuttle"])
        .output()
        .unwrap();
    assert!(first.status.success());
    // The shuttle drive (generation 1) goes to two drives at once.
    for root in ["raid", "backup"] {
        std::fs::create_dir(dir.path().join(root)).unwrap();
    }
    let output = zcopy(dir.path())
        .args([
            "-r",
            "-v",
            "--mhl",
            "-t",
            "raid",
            "-t",
            "backup",
            "shuttle/A001",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(
        stderr
            .matches("source checked against its ASC MHL history")
            .count(),
        1,
        "{stderr}"
    );
    for root in ["raid", "backup"] {
        let copy = dir.path().join(root).join("A001");
        let history = generations(&copy);
        assert_eq!(history.len(), 2, "{root}: {history:?}");
        assert!(history[1]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("0002_A001_"));
        let verified = zcopy(dir.path()).arg("verify").arg(&copy).output().unwrap();
        assert!(
            verified.status.success(),
            "{}",
            String::from_utf8_lossy(&verified.stderr)
        );
    }
}
