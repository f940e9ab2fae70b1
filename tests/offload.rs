//! Camera-card offload: media hashes checked against reference tools, the read-back
//! from the device, ASC MHL histories checked by xmllint against the schemas and read
//! by the reference implementation (`ascmhl`), and `zcopy verify` on histories the
//! reference wrote.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::sync::OnceLock;

use common::*;

/// The ASC MHL schemas (from the reference implementation, MIT licensed).
fn schema(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/ascmhl")
        .join(name)
}

/// A small card: clips in nested folders, an empty file, names with spaces.
fn make_card(root: &Path) {
    std::fs::create_dir_all(root.join("Clips/A001C002")).unwrap();
    write_pattern(&root.join("Clips/A001C001.mov"), 3 * MIB + 17, 1);
    write_pattern(&root.join("Clips/A001C002/frame 0001.dng"), 200_000, 2);
    write_pattern(&root.join("Clips/A001C002/frame 0002.dng"), 200_001, 3);
    std::fs::write(root.join("Clips/empty.txt"), b"").unwrap();
    std::fs::write(root.join("notes.txt"), b"scene 12, take 3\n").unwrap();
}

/// The text of the first `<ALG>` element after `<path ...>PATH</path>` in a generation.
fn recorded_hash(generation: &Path, path: &str, algorithm: &str) -> String {
    let text = std::fs::read_to_string(generation).unwrap();
    let at = text
        .find(&format!(">{path}</path>"))
        .unwrap_or_else(|| panic!("{path} not in {text}"));
    let open = format!("<{algorithm}");
    let start = at + text[at..].find(&open).unwrap();
    let start = start + text[start..].find('>').unwrap() + 1;
    let end = start + text[start..].find('<').unwrap();
    text[start..end].to_string()
}

/// The root content and structure hashes of a generation, as text.
fn root_hashes(generation: &Path) -> String {
    let text = std::fs::read_to_string(generation).unwrap();
    let start = text.find("<roothash>").expect("a root hash");
    let end = text.find("</roothash>").unwrap();
    // Hash dates differ between runs; the hashes themselves must not.
    text[start..end]
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            line.find('>')
                .map(|gt| &line[gt + 1..])
                .and_then(|rest| rest.find('<').map(|lt| rest[..lt].to_string()))
        })
        .filter(|hash| !hash.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn every_hash_matches_its_reference_tool() {
    let test = "every_hash_matches_its_reference_tool";
    for needed in ["xxhsum", "md5sum", "sha1sum", "ascmhl"] {
        if !require_tool(test, needed) {
            return;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("card");
    std::fs::create_dir(&card).unwrap();
    // Sizes around the algorithms' block and stripe sizes, and an empty file.
    for (index, size) in [0u64, 1, 240, 1025, 3 * MIB + 5].into_iter().enumerate() {
        write_pattern(&card.join(format!("f{index}")), size, index as u64 + 7);
    }
    tool(
        dir.path(),
        "ascmhl",
        &[os("create"), os("-h"), os("c4"), os("card")],
    );
    let reference_generation = &generations(&card)[0];
    for index in 0..5 {
        let name = format!("f{index}");
        let file = card.join(&name);
        let first_word = |out: String| out.split_whitespace().next().unwrap().to_string();
        let references = [
            (
                "xxh64",
                first_word(tool(dir.path(), "xxhsum", &[os("-H1"), file.as_os_str()])),
            ),
            (
                "xxh128",
                first_word(tool(dir.path(), "xxhsum", &[os("-H2"), file.as_os_str()])),
            ),
            (
                "xxh3",
                tool(dir.path(), "xxhsum", &[os("-H3"), file.as_os_str()])
                    .split(" = ")
                    .nth(1)
                    .unwrap()
                    .trim()
                    .to_string(),
            ),
            (
                "md5",
                first_word(tool(dir.path(), "md5sum", &[file.as_os_str()])),
            ),
            (
                "sha1",
                first_word(tool(dir.path(), "sha1sum", &[file.as_os_str()])),
            ),
            ("c4", recorded_hash(reference_generation, &name, "c4")),
        ];
        for (algorithm, expected) in references {
            let copy = dir.path().join(format!("{name}.{algorithm}"));
            let (code, json, stderr) = zcopy_json(
                dir.path(),
                &[
                    os("--hash"),
                    os(algorithm),
                    file.as_os_str(),
                    copy.as_os_str(),
                ],
            );
            assert_eq!(code, 0, "{stderr}");
            assert_eq!(
                json["files"][0]["hashes"][algorithm], expected,
                "{algorithm} of {name}"
            );
        }
    }
}

#[test]
fn hash_setting_is_validated_like_the_others() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a"), b"a").unwrap();
    let output = zcopy(dir.path())
        .env("ZERO_COPY_HASH", "crc32")
        .args(["a", "b"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "invalid value \"crc32\" for ZERO_COPY_HASH (from environment): expected xxh64, xxh3, xxh128, md5, sha1, c4 or none"
        ),
        "{stderr}"
    );
    assert!(!dir.path().join("b").exists());
    // The flag wins over the environment, and -v shows the hash.
    let output = zcopy(dir.path())
        .env("ZERO_COPY_HASH", "md5")
        .args(["--hash", "sha1", "-v", "a", "b"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("sha1 86f7e437faa5a7fce15d1ddcb9eaeaea377667b8"),
        "{stderr}"
    );
}

#[test]
fn a_byte_flipped_on_the_write_path_is_a_mismatch_and_nothing_is_installed() {
    let test = "a_byte_flipped_on_the_write_path_is_a_mismatch_and_nothing_is_installed";
    let Some(shim) = fault_shim(test) else { return };
    let dir = tempfile::tempdir().unwrap();
    write_pattern(&dir.path().join("clip.mov"), 2 * MIB, 5);
    std::fs::write(dir.path().join("old.mov"), b"the previous version").unwrap();
    let output = zcopy_with_faults(
        dir.path(),
        shim,
        &[("ZCOPY_FAULT_CORRUPT_WRITE", "1".to_string())],
    )
    .args([
        "--json", "--hash", "xxh64", "--method", "chunked", "clip.mov", "old.mov",
    ])
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let json = parse_json(&output);
    let error = &json["errors"][0];
    assert_eq!(error["operation"], "verify", "{json:#}");
    let message = error["error"].as_str().unwrap();
    assert!(
        message.contains("checksum mismatch: source has xxh64 "),
        "{message}"
    );
    assert!(message.contains(", copy read back has "), "{message}");
    assert_eq!(json["stats"]["verification_failures"], 1);
    assert_eq!(
        std::fs::read(dir.path().join("old.mov")).unwrap(),
        b"the previous version"
    );
    assert_no_debris(dir.path());
}

/// The fincore probe (`tests/shim/fincore_probe.c`), built once.
fn fincore_probe(test: &str) -> Option<&'static Path> {
    static PROBE: OnceLock<Option<PathBuf>> = OnceLock::new();
    if !require_tool(test, "fincore") || !require_tool(test, "cc") {
        return None;
    }
    PROBE
        .get_or_init(|| {
            let library = Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("libzcopyfincore-{}.so", std::process::id()));
            let status = StdCommand::new("cc")
                .args(["-shared", "-fPIC", "-O2", "-Wall", "-o"])
                .arg(&library)
                .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/shim/fincore_probe.c"))
                .arg("-ldl")
                .status()
                .ok()?;
            status.success().then_some(library)
        })
        .as_deref()
}

#[test]
fn the_read_back_comes_from_the_device_not_the_page_cache() {
    let test = "the_read_back_comes_from_the_device_not_the_page_cache";
    let Some(mounts) = mounts(test) else { return };
    let Some(probe) = fincore_probe(test) else {
        return;
    };
    for (name, root) in [
        ("ext4", &mounts.ext4),
        ("xfs", &mounts.xfs),
        ("btrfs", &mounts.btrfs),
    ] {
        for verification in [["--hash", "xxh3"], ["--verify=checksum", "--no-fsync"]] {
            let source_dir = tempfile::tempdir().unwrap();
            let dir = dir_on(root);
            let source = source_dir.path().join("clip.mov");
            write_pattern(&source, 8 * MIB, 9);
            let log = dir.path().join("fincore.log");
            let output = zcopy(dir.path())
                .env("LD_PRELOAD", probe)
                .env("ZCOPY_FINCORE_LOG", &log)
                // The chunk copy writes through the page cache: every page of the copy
                // is cached until the read-back drops them.
                .args(["--method", "chunked"])
                .args(verification)
                .arg(&source)
                .arg("copy.mov")
                .output()
                .unwrap();
            assert!(output.status.success(), "{output:?}");
            let log = std::fs::read_to_string(&log).unwrap();
            let lines: Vec<&str> = log.lines().collect();
            assert_eq!(lines.len(), 2, "{name} {verification:?}: {log}");
            let bytes = |line: &str, when: &str| -> u64 {
                line.strip_prefix(when)
                    .unwrap_or_else(|| panic!("{log}"))
                    .trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("{log}"))
            };
            // Before: the pages just written are cached (the probe sees them), so
            // "after" showing none is the drop, not a probe that cannot see.
            assert!(bytes(lines[0], "before ") > 0, "{name}: {log}");
            assert_eq!(
                bytes(lines[1], "after "),
                0,
                "{name} {verification:?}: {log}"
            );
            assert_same_content(&source, &dir.path().join("copy.mov"));
        }
    }
}

#[test]
fn mhl_history_validates_and_the_reference_implementation_verifies_it() {
    let test = "mhl_history_validates_and_the_reference_implementation_verifies_it";
    for needed in ["xmllint", "ascmhl"] {
        if !require_tool(test, needed) {
            return;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("A001");
    make_card(&card);
    std::fs::create_dir(dir.path().join("raid")).unwrap();
    let (code, json, stderr) =
        zcopy_json(dir.path(), &[os("-r"), os("--mhl"), os("A001"), os("raid")]);
    assert_eq!(code, 0, "{stderr}");
    let copy = dir.path().join("raid/A001");
    assert_eq!(json["mhl"][0]["sequence"], 1, "{json:#}");
    assert_eq!(json["mhl"][0]["files"], 5);
    assert_eq!(
        json["files"][0]["hashes"]["xxh64"].as_str().unwrap().len(),
        16
    );
    let files = generations(&copy);
    assert_eq!(files.len(), 1);
    let file_name = files[0].file_name().unwrap().to_str().unwrap().to_string();
    assert!(
        file_name.starts_with("0001_A001_") && file_name.ends_with("Z.mhl"),
        "{file_name}"
    );
    assert_eq!(
        json["mhl"][0]["generation"],
        format!("raid/A001/ascmhl/{file_name}")
    );
    tool(
        dir.path(),
        "xmllint",
        &[
            os("--noout"),
            os("--schema"),
            schema("ASCMHL.xsd").as_os_str(),
            files[0].as_os_str(),
        ],
    );
    tool(
        dir.path(),
        "xmllint",
        &[
            os("--noout"),
            os("--schema"),
            schema("ASCMHLDirectory.xsd").as_os_str(),
            copy.join("ascmhl/ascmhl_chain.xml").as_os_str(),
        ],
    );
    // The reference reads the history, finds every file and no extra one...
    tool(dir.path(), "ascmhl", &[os("diff"), copy.as_os_str()]);
    // ...and verifies every hash while it adds its own generation.
    tool(
        dir.path(),
        "ascmhl",
        &[os("create"), os("-h"), os("xxh64"), copy.as_os_str()],
    );
    assert_eq!(generations(&copy).len(), 2);
    let theirs = std::fs::read_to_string(&generations(&copy)[1]).unwrap();
    assert!(!theirs.contains("failed"), "{theirs}");
    // Directory hashes: the reference's, on the same folder, are zcopy's.
    assert_eq!(root_hashes(&files[0]), root_hashes(&generations(&copy)[1]));
    assert_eq!(root_hashes(&files[0]).split(' ').count(), 2);
}

#[test]
fn directory_hashes_equal_the_references_in_every_algorithm() {
    let test = "directory_hashes_equal_the_references_in_every_algorithm";
    if !require_tool(test, "ascmhl") {
        return;
    }
    for algorithm in ["xxh64", "xxh3", "xxh128", "md5", "sha1", "c4"] {
        let dir = tempfile::tempdir().unwrap();
        make_card(&dir.path().join("A001"));
        std::fs::create_dir(dir.path().join("zcopy")).unwrap();
        let output = zcopy(dir.path())
            .args(["-r", "--mhl", "--hash", algorithm, "A001", "zcopy"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        tool(
            dir.path(),
            "ascmhl",
            &[os("create"), os("-h"), os(algorithm), os("A001")],
        );
        let ours = &generations(&dir.path().join("zcopy/A001"))[0];
        let theirs = &generations(&dir.path().join("A001"))[0];
        assert_eq!(root_hashes(ours), root_hashes(theirs), "{algorithm}");
        for folder in ["Clips", "Clips/A001C002"] {
            assert_eq!(
                recorded_hash(ours, folder, algorithm),
                recorded_hash(theirs, folder, algorithm),
                "{algorithm} {folder}"
            );
        }
        assert_eq!(
            recorded_hash(ours, "Clips/A001C002/frame 0002.dng", algorithm),
            recorded_hash(theirs, "Clips/A001C002/frame 0002.dng", algorithm)
        );
    }
}

#[test]
fn a_second_offload_adds_a_generation_and_rewrites_none() {
    let test = "a_second_offload_adds_a_generation_and_rewrites_none";
    for needed in ["xmllint", "ascmhl"] {
        if !require_tool(test, needed) {
            return;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    make_card(&dir.path().join("A001"));
    std::fs::create_dir(dir.path().join("raid")).unwrap();
    let offload = || {
        let output = zcopy(dir.path())
            .args(["-r", "--mhl", "A001", "raid"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
    };
    offload();
    let copy = dir.path().join("raid/A001");
    let first = generations(&copy)[0].clone();
    let first_bytes = std::fs::read(&first).unwrap();
    // Generation files are named to the second.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    offload();
    let files = generations(&copy);
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(files[0], first);
    assert_eq!(std::fs::read(&first).unwrap(), first_bytes);
    assert!(files[1]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("0002_A001_"));
    let second = std::fs::read_to_string(&files[1]).unwrap();
    assert!(second.contains("action=\"verified\""), "{second}");
    assert!(!second.contains("action=\"original\""), "{second}");
    let chain = std::fs::read_to_string(copy.join("ascmhl/ascmhl_chain.xml")).unwrap();
    assert!(chain.contains("sequencenr=\"1\"") && chain.contains("sequencenr=\"2\""));
    tool(
        dir.path(),
        "xmllint",
        &[
            os("--noout"),
            os("--schema"),
            schema("ASCMHL.xsd").as_os_str(),
            files[1].as_os_str(),
        ],
    );
    tool(dir.path(), "ascmhl", &[os("diff"), copy.as_os_str()]);
    let output = zcopy(dir.path())
        .args(["verify"])
        .arg(&copy)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains("5 verified, 0 mismatched, 0 missing, 0 new (2 generations)"));
}

#[test]
fn a_source_history_is_checked_first_and_travels_with_the_copy() {
    let test = "a_source_history_is_checked_first_and_travels_with_the_copy";
    if !require_tool(test, "ascmhl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("A001");
    make_card(&card);
    tool(
        dir.path(),
        "ascmhl",
        &[os("create"), os("-h"), os("md5"), os("A001")],
    );
    let source_generation = generations(&card)[0].clone();
    std::fs::create_dir(dir.path().join("raid")).unwrap();
    let (code, json, stderr) =
        zcopy_json(dir.path(), &[os("-r"), os("--mhl"), os("A001"), os("raid")]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["mhl"][0]["carried"], 1);
    assert_eq!(json["mhl"][0]["sequence"], 2);
    let copy = dir.path().join("raid/A001");
    let files = generations(&copy);
    assert_eq!(files.len(), 2);
    assert_eq!(
        std::fs::read(&files[0]).unwrap(),
        std::fs::read(&source_generation).unwrap()
    );
    // The card's md5 is verified on the copy too, beside the new xxh64.
    let ours = std::fs::read_to_string(&files[1]).unwrap();
    assert!(ours.contains("<md5 action=\"verified\""), "{ours}");
    assert!(ours.contains("<xxh64 action=\"verified\""), "{ours}");
    tool(dir.path(), "ascmhl", &[os("diff"), copy.as_os_str()]);
    tool(
        dir.path(),
        "ascmhl",
        &[os("create"), os("-h"), os("md5"), copy.as_os_str()],
    );

    // A card that no longer matches its own history is not copied at all.
    std::fs::write(card.join("notes.txt"), b"scene 12, take 4\n").unwrap();
    std::fs::create_dir(dir.path().join("shuttle")).unwrap();
    let output = zcopy(dir.path())
        .args(["-r", "--mhl", "A001", "shuttle"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("A001/notes.txt: verify: md5 mismatch"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing copied"), "{stderr}");
    assert!(list(&dir.path().join("shuttle")).is_empty());
}

/// A card offloaded with `--mhl` into `raid`: the copy's folder.
fn offloaded_to_raid(dir: &Path) -> PathBuf {
    make_card(&dir.join("A001"));
    std::fs::create_dir(dir.join("raid")).unwrap();
    let output = zcopy(dir)
        .args(["-r", "-q", "--mhl", "A001", "raid"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    dir.join("raid/A001")
}

/// `zcopy verify --json folder`: its exit code and document.
fn verify_json(dir: &Path, folder: &str) -> (Option<i32>, Value) {
    let output = zcopy(dir)
        .args(["verify", "--json", folder])
        .output()
        .unwrap();
    (output.status.code(), parse_json(&output))
}

/// A history whose chain lists no generation proves nothing: verify fails it (as
/// `ascmhl diff` does, "Missing ASC MHL history") instead of passing every file as new.
#[test]
fn verify_fails_a_history_without_generations() {
    let dir = tempfile::tempdir().unwrap();
    let copy = offloaded_to_raid(dir.path());
    for generation in generations(&copy) {
        std::fs::remove_file(generation).unwrap();
    }
    std::fs::write(
        copy.join("ascmhl/ascmhl_chain.xml"),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <ascmhldirectory xmlns=\"urn:ASC:MHL:DIRECTORY:v2.0\">\n</ascmhldirectory>\n",
    )
    .unwrap();
    std::fs::write(copy.join("Clips/A001C001.mov"), b"corrupted").unwrap();
    let (code, json) = verify_json(dir.path(), "raid/A001");
    assert_eq!(code, Some(1), "{json:#}");
    assert_eq!(json["ok"], false, "{json:#}");
    let error = json["folders"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("lists no generation"), "{json:#}");
}

/// Only the generations the chain lists, each checked by its C4 id, are believed: a
/// generation file put beside them (here one recording the corrupted clip's hash, so
/// that it would pass) makes the history untrusted, for verify and for the next
/// offload, instead of being read as its first generation.
#[test]
fn a_generation_the_chain_does_not_list_is_not_believed() {
    let dir = tempfile::tempdir().unwrap();
    let copy = offloaded_to_raid(dir.path());
    let clip = copy.join("Clips/A001C001.mov");
    let recorded = std::fs::read_to_string(&generations(&copy)[0]).unwrap();
    std::fs::write(&clip, b"corrupted").unwrap();
    // What a forger writes: the first generation again, numbered 0, with the new hash.
    let forged_hash = {
        let (code, json) = verify_json(dir.path(), "raid/A001");
        assert_eq!(code, Some(1), "{json:#}");
        json["folders"][0]["mismatched"][0].clone()
    };
    let forged = recorded.replace(
        forged_hash["recorded"].as_str().unwrap(),
        forged_hash["actual"].as_str().unwrap(),
    );
    assert_ne!(forged, recorded);
    std::fs::write(copy.join("ascmhl/0000_A001_forged.mhl"), forged).unwrap();
    let (code, json) = verify_json(dir.path(), "raid/A001");
    assert_eq!(code, Some(1), "{json:#}");
    let error = json["folders"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("0000_A001_forged.mhl"), "{json:#}");
    assert!(error.contains("does not list"), "{json:#}");
    let output = zcopy(dir.path())
        .args(["-r", "-q", "--mhl", "A001", "raid"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(generations(&copy).len(), 2, "no generation added");
}

#[test]
fn verify_checks_histories_the_reference_wrote() {
    let test = "verify_checks_histories_the_reference_wrote";
    if !require_tool(test, "ascmhl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("A001");
    make_card(&card);
    tool(
        dir.path(),
        "ascmhl",
        &[os("create"), os("-h"), os("xxh128"), os("A001")],
    );
    let verify = |extra: &[&str]| {
        let output = zcopy(dir.path())
            .args(["verify", "--json"])
            .args(extra)
            .arg("A001")
            .output()
            .unwrap();
        (output.status.code().unwrap(), parse_json(&output))
    };
    let (code, json) = verify(&[]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(json["folders"][0]["verified"], 5);

    // A new file is reported, and is not a failure.
    std::fs::write(card.join("Clips/later.txt"), b"added").unwrap();
    let (code, json) = verify(&[]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(json["folders"][0]["new"][0], "Clips/later.txt");

    // An altered file is.
    let mut bytes = std::fs::read(card.join("Clips/A001C001.mov")).unwrap();
    bytes[1000] ^= 1;
    std::fs::write(card.join("Clips/A001C001.mov"), &bytes).unwrap();
    let (code, json) = verify(&["-j", "2"]);
    assert_eq!(code, 1);
    let mismatch = &json["folders"][0]["mismatched"][0];
    assert_eq!(mismatch["path"], "Clips/A001C001.mov");
    assert_eq!(mismatch["algorithm"], "xxh128");
    assert_ne!(mismatch["recorded"], mismatch["actual"]);
    assert_eq!(json["folders"][0]["verified"], 4);

    // So is a removed one.
    std::fs::remove_file(card.join("Clips/A001C002/frame 0001.dng")).unwrap();
    let (code, json) = verify(&[]);
    assert_eq!(code, 1);
    assert_eq!(
        json["folders"][0]["missing"][0],
        "Clips/A001C002/frame 0001.dng"
    );
    assert_eq!(json["ok"], false);

    // The summary names the problems.
    let output = zcopy(dir.path()).args(["verify", "A001"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("A001/Clips/A001C001.mov: verify: xxh128 mismatch"),
        "{stderr}"
    );
    assert!(
        stderr.contains("3 verified, 1 mismatched, 1 missing, 1 new (1 generation)"),
        "{stderr}"
    );

    // A generation changed after it was written breaks the chain.
    let generation = generations(&card)[0].clone();
    let text = std::fs::read_to_string(&generation).unwrap();
    std::fs::write(&generation, text.replace("<hostname>", "<hostname>x")).unwrap();
    let output = zcopy(dir.path()).args(["verify", "A001"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("was changed after it was written"));

    // A folder without a history is an error, not a pass.
    let output = zcopy(dir.path()).args(["verify", "."]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no ASC MHL history here"));
}

#[test]
fn an_offload_killed_midway_resumes_with_only_what_is_missing() {
    let test = "an_offload_killed_midway_resumes_with_only_what_is_missing";
    let Some(shim) = fault_shim(test) else { return };
    if !require_tool(test, "ascmhl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("A001");
    std::fs::create_dir_all(card.join("Clips")).unwrap();
    for index in 0..6 {
        write_pattern(
            &card.join(format!("Clips/C{index:03}.mov")),
            2 * MIB,
            index + 20,
        );
    }
    std::fs::create_dir(dir.path().join("raid")).unwrap();
    let copy = dir.path().join("raid/A001/Clips");
    // Slowed down (each read and write waits 50 ms), one file at a time, killed once two
    // clips are in place.
    let mut child = zcopy_with_faults_std(
        dir.path(),
        shim,
        &[("ZCOPY_FAULT_DELAY_US", "50000".to_string())],
    )
    .args([
        "-r",
        "-p",
        "-j",
        "1",
        "--mhl",
        "--method",
        "chunked",
        "--chunk-size-mb",
        "1",
    ])
    .args(["A001", "raid"])
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    let started = std::time::Instant::now();
    loop {
        let installed = std::fs::read_dir(&copy)
            .map(|entries| {
                entries
                    .filter(|entry| {
                        let name = entry.as_ref().unwrap().file_name();
                        !name.to_string_lossy().starts_with('.')
                    })
                    .count()
            })
            .unwrap_or(0);
        if installed >= 2 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "zcopy finished before it could be killed"
        );
        assert!(started.elapsed().as_secs() < 120, "no clip was installed");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!dir.path().join("raid/A001/ascmhl").exists());
    let done_before: Vec<String> = list(&copy)
        .into_iter()
        .filter(|name| !name.starts_with('.'))
        .collect();
    assert!(
        done_before.len() >= 2 && done_before.len() < 6,
        "{done_before:?}"
    );

    let (code, json, stderr) = zcopy_json(
        dir.path(),
        &[
            os("-r"),
            os("-p"),
            os("--resume"),
            os("--mhl"),
            os("A001"),
            os("raid"),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let skipped: Vec<&str> = json["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| record["reason"].as_str().unwrap())
        .collect();
    assert_eq!(skipped.len(), done_before.len(), "{json:#}");
    assert!(skipped
        .iter()
        .all(|reason| reason.contains("same size, modification time and hash")));
    assert_eq!(
        json["files"].as_array().unwrap().len(),
        6 - done_before.len()
    );
    assert_eq!(json["mhl"][0]["files"], 6);
    assert_no_debris(&copy);
    for index in 0..6 {
        let name = format!("Clips/C{index:03}.mov");
        assert_same_content(&card.join(&name), &dir.path().join("raid/A001").join(&name));
    }
    tool(dir.path(), "ascmhl", &[os("diff"), os("raid/A001")]);

    // A destination with the right size and time but other content is copied again.
    let victim = copy.join("C000.mov");
    let modified = std::fs::metadata(&victim).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[7] ^= 0xff;
    std::fs::write(&victim, &bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&victim)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    let (code, json, stderr) = zcopy_json(
        dir.path(),
        &[
            os("-r"),
            os("-p"),
            os("--resume"),
            os("--hash"),
            os("xxh64"),
            os("A001"),
            os("raid"),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["files"].as_array().unwrap().len(), 1, "{json:#}");
    assert_eq!(json["skipped"].as_array().unwrap().len(), 5);
    assert_same_content(&card.join("Clips/C000.mov"), &victim);
}

#[test]
fn a_destination_that_fills_up_gets_no_generation() {
    let test = "a_destination_that_fills_up_gets_no_generation";
    let Some(mounts) = mounts(test) else { return };
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("A001");
    std::fs::create_dir(&card).unwrap();
    for index in 0..3 {
        write_pattern(&card.join(format!("C{index}.mov")), 2 * MIB, index + 40);
    }
    let full = dir_on(&mounts.tiny_tmpfs);
    let (code, json, stderr) = zcopy_json(
        dir.path(),
        &[
            os("-r"),
            os("-j"),
            os("1"),
            os("--mhl"),
            card.as_os_str(),
            full.path().as_os_str(),
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    let errors = json["errors"].as_array().unwrap();
    assert!(errors.iter().any(|error| error["errno"] == 28), "{json:#}");
    let last = errors.last().unwrap();
    assert_eq!(last["operation"], "mhl", "{json:#}");
    assert!(last["error"]
        .as_str()
        .unwrap()
        .contains("no ASC MHL generation written"));
    // With --mhl the key is there, empty, when no generation is written.
    assert_eq!(json["mhl"], serde_json::json!([]), "{json:#}");
    assert!(!full.path().join("A001/ascmhl").exists());
    assert_no_debris(&full.path().join("A001"));
}

#[test]
fn mhl_refuses_hash_none() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("A001")).unwrap();
    let output = zcopy(dir.path())
        .args(["-r", "--mhl", "--hash", "none", "A001", "copy"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot work with --hash none"));
    assert!(!dir.path().join("copy").exists());
}

#[test]
fn resume_never_counts_the_source_itself_as_already_copied() {
    // A destination that is a symlink to the source, or a hard link of it, has the
    // source's size, time and hash: --resume must not skip it (cp and zcopy without
    // --resume refuse it: "same file"), and --mhl must not record it as a copy.
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("card/A001");
    std::fs::create_dir_all(&card).unwrap();
    std::fs::write(card.join("clip.mov"), b"REAL\n").unwrap();
    for link in ["symlink", "hard link"] {
        let out = dir.path().join(format!("out {link}"));
        std::fs::create_dir_all(out.join("A001")).unwrap();
        let destination = out.join("A001/clip.mov");
        match link {
            "symlink" => std::os::unix::fs::symlink(card.join("clip.mov"), &destination),
            _ => std::fs::hard_link(card.join("clip.mov"), &destination),
        }
        .unwrap();
        for extra in [&["--hash", "xxh64"][..], &["--mhl"][..]] {
            let output = zcopy(dir.path())
                .args(["-r", "-p", "--resume"])
                .args(extra)
                .arg(&card)
                .arg(&out)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(1), "{link} {extra:?}: {stderr}");
            assert!(stderr.contains("same file"), "{link} {extra:?}: {stderr}");
            assert!(
                !stderr.contains("1 file already copied"),
                "{link} {extra:?}: {stderr}"
            );
            assert!(!out.join("A001/ascmhl").exists(), "{link} {extra:?}");
            assert_eq!(std::fs::read(card.join("clip.mov")).unwrap(), b"REAL\n");
        }
    }
}

#[test]
fn mhl_records_a_file_kept_by_no_clobber_or_update_only_if_it_equals_the_source() {
    // -n and -u keep what is in the destination, as cp does; --mhl must not then
    // claim the kept file as a transfer of the source unless it has the source's hash.
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("card/A001");
    std::fs::create_dir_all(&card).unwrap();
    std::fs::write(card.join("clip.mov"), b"REAL\n").unwrap();
    std::fs::write(card.join("same.mov"), b"SAME\n").unwrap();
    // Older than the destinations, so that -u keeps them too.
    for name in ["clip.mov", "same.mov"] {
        std::fs::File::options()
            .write(true)
            .open(card.join(name))
            .unwrap()
            .set_modified(
                std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1 << 30),
            )
            .unwrap();
    }
    for option in ["-n", "-u"] {
        for (tool_name, program) in [("cp", "/bin/cp"), ("zcopy", env!("CARGO_BIN_EXE_zcopy"))] {
            let out = dir.path().join(format!("out {option} {tool_name}"));
            std::fs::create_dir_all(out.join("A001")).unwrap();
            std::fs::write(out.join("A001/clip.mov"), b"FAKE\n").unwrap();
            std::fs::write(out.join("A001/same.mov"), b"SAME\n").unwrap();
            let mut command = StdCommand::new(program);
            if tool_name == "zcopy" {
                command.args(["--no-env-file", "--mhl"]);
            }
            let output = command
                .current_dir(dir.path())
                .args(["-r", option])
                .arg(&card)
                .arg(&out)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            // What is kept is cp's business; the history is zcopy's.
            assert_eq!(std::fs::read(out.join("A001/clip.mov")).unwrap(), b"FAKE\n");
            if tool_name == "cp" {
                assert!(output.status.success(), "cp {option}: {stderr}");
                continue;
            }
            assert_eq!(output.status.code(), Some(1), "{option}: {stderr}");
            assert!(
                stderr.contains(&format!(
                    "{}: ASC MHL: destination",
                    out.join("A001/clip.mov").display()
                )) && stderr.contains("differs from the source"),
                "{option}: {stderr}"
            );
            assert!(
                !stderr.contains("same.mov"),
                "an equal kept file is no problem: {stderr}"
            );
            assert!(stderr.contains("no ASC MHL generation written"), "{stderr}");
            assert!(!out.join("A001/ascmhl").exists(), "{option}");
            let verify = zcopy(dir.path())
                .arg("verify")
                .arg(out.join("A001"))
                .output()
                .unwrap();
            assert_eq!(verify.status.code(), Some(1), "{option}: {verify:?}");

            // Once the kept file equals the source, the folder is recorded.
            std::fs::write(out.join("A001/clip.mov"), b"REAL\n").unwrap();
            let (code, json, stderr) = zcopy_json(
                dir.path(),
                &[
                    os("-r"),
                    os(option),
                    os("--mhl"),
                    card.as_os_str(),
                    out.as_os_str(),
                ],
            );
            assert_eq!(code, 0, "{option}: {stderr}");
            assert_eq!(json["mhl"][0]["files"], 2, "{json:#}");
            let verify = zcopy(dir.path())
                .arg("verify")
                .arg(out.join("A001"))
                .output()
                .unwrap();
            assert!(verify.status.success(), "{option}: {verify:?}");
        }
    }
}

#[test]
fn mhl_refuses_attributes_only() {
    // --attributes-only copies no data: a "transfer" generation would record empty
    // files (or stale ones) as the originals.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("A001")).unwrap();
    std::fs::write(dir.path().join("A001/clip.mov"), b"REAL\n").unwrap();
    let output = zcopy(dir.path())
        .args(["-r", "--mhl", "--attributes-only", "A001", "copy"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--mhl") && stderr.contains("--attributes-only"),
        "{stderr}"
    );
    assert!(!dir.path().join("copy").exists());
}

#[test]
fn mhl_files_are_created_like_any_new_file_under_the_umask() {
    // Other users must be able to read a history (zcopy verify, ascmhl diff): its files
    // get 0666 less the umask, as `touch` (or `ascmhl create`) would make them.
    use std::os::unix::fs::PermissionsExt;
    for umask in [0o002, 0o022, 0o077] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("A001")).unwrap();
        std::fs::write(dir.path().join("A001/clip.mov"), b"REAL\n").unwrap();
        let script = format!(
            "umask {umask:03o} && touch reference && \"$0\" --no-env-file -q -r --mhl A001 raid && \"$0\" --no-env-file -q -r --mhl raid shuttle"
        );
        let mut command = StdCommand::new("sh");
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ZERO_COPY_") {
                command.env_remove(key);
            }
        }
        let output = command
            .current_dir(dir.path())
            .args(["-c", &script, env!("CARGO_BIN_EXE_zcopy")])
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o7777;
        let expected = mode(&dir.path().join("reference"));
        assert_eq!(expected, 0o666 & !umask);
        for folder in ["raid/ascmhl", "shuttle/ascmhl"] {
            let files = list(&dir.path().join(folder));
            // shuttle/ carries raid/'s generation and adds its own.
            assert!(files.len() >= 2, "{files:?}");
            for name in files {
                let path = dir.path().join(folder).join(&name);
                assert_eq!(
                    mode(&path),
                    expected,
                    "{} under umask {umask:03o}",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn a_source_refused_by_its_history_still_prints_one_json_document() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("card/A001")).unwrap();
    std::fs::write(dir.path().join("card/A001/clip.mov"), b"REAL\n").unwrap();
    for folder in ["out", "out2"] {
        std::fs::create_dir(dir.path().join(folder)).unwrap();
    }
    let output = zcopy(dir.path())
        .args(["-q", "-r", "--mhl", "card/A001", "out/"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    std::fs::write(dir.path().join("out/A001/clip.mov"), b"REAL\nmore\n").unwrap();

    let (code, json, stderr) = zcopy_json(
        dir.path(),
        &[os("-r"), os("--mhl"), os("out/A001"), os("out2/")],
    );
    assert_eq!(code, 1, "{stderr}");
    let errors = json["errors"].as_array().unwrap();
    assert!(
        errors.iter().any(|error| error["error"]
            .as_str()
            .unwrap()
            .contains("out/A001/clip.mov: verify: xxh64 mismatch")),
        "{json:#}"
    );
    assert_eq!(json["files"].as_array().unwrap().len(), 0, "{json:#}");
    assert_eq!(json["mhl"], serde_json::json!([]), "{json:#}");
    assert!(list(&dir.path().join("out2")).is_empty());
    // Without --mhl there is no "mhl" at all.
    let (code, json, stderr) = zcopy_json(dir.path(), &[os("-r"), os("card/A001"), os("out2/")]);
    assert_eq!(code, 0, "{stderr}");
    assert!(json.get("mhl").is_none(), "{json:#}");
    std::fs::remove_dir_all(dir.path().join("out2/A001")).unwrap();

    let output = zcopy(dir.path())
        .args(["--json-lines", "-r", "--mhl", "out/A001", "out2/"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let lines: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(
        lines.iter().any(|line| line["type"] == "error"),
        "{lines:#?}"
    );
    let last = lines.last().expect("a summary line");
    assert_eq!(last["type"], "summary", "{lines:#?}");
    assert!(last["errors"].as_u64().unwrap() >= 1, "{lines:#?}");
}

/// Flips one byte in place, as bit rot on a card would (the size stays).
fn flip_byte(path: &Path, offset: u64) {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut byte = [0u8];
    file.seek(SeekFrom::Start(offset)).unwrap();
    file.read_exact(&mut byte).unwrap();
    file.seek(SeekFrom::Start(offset)).unwrap();
    file.write_all(&[!byte[0]]).unwrap();
}

#[test]
fn a_reoffload_never_replaces_a_recorded_copy_with_a_source_that_changed() {
    for extra in [None, Some("--resume"), Some("-u")] {
        let dir = tempfile::tempdir().unwrap();
        let card = dir.path().join("A001");
        std::fs::create_dir_all(card.join("Clips")).unwrap();
        write_pattern(&card.join("Clips/a.mov"), 100_000, 7);
        std::fs::write(card.join("b.txt"), b"take 1\n").unwrap();
        std::fs::create_dir(dir.path().join("raid")).unwrap();
        let output = zcopy(dir.path())
            .args(["-r", "-p", "--mhl", "-q", "A001", "raid"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        let copy = dir.path().join("raid/A001");
        let good = std::fs::read(copy.join("Clips/a.mov")).unwrap();
        let history_before: Vec<Vec<u8>> = generations(&copy)
            .iter()
            .map(|file| std::fs::read(file).unwrap())
            .collect();

        flip_byte(&card.join("Clips/a.mov"), 500);
        std::fs::write(card.join("c.txt"), b"take 2\n").unwrap();
        let mut args = vec!["-r", "-p", "--mhl", "A001", "raid"];
        if let Some(extra) = extra {
            args.insert(0, extra);
        }
        let output = zcopy(dir.path()).args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{extra:?}: {stderr}");
        assert!(
            std::fs::read(copy.join("Clips/a.mov")).unwrap() == good,
            "{extra:?}: the recorded copy was replaced: {stderr}"
        );
        assert!(
            stderr.contains("A001/Clips/a.mov: ASC MHL: xxh64 is ")
                && stderr.contains("but the ASC MHL history of raid/A001 recorded"),
            "{extra:?}: {stderr}"
        );
        // The other files of the run proceed; the history is left as it was.
        assert_eq!(std::fs::read(copy.join("c.txt")).unwrap(), b"take 2\n");
        let history_after: Vec<Vec<u8>> = generations(&copy)
            .iter()
            .map(|file| std::fs::read(file).unwrap())
            .collect();
        assert_eq!(history_after, history_before, "{extra:?}");
        assert_no_debris(&copy);
    }
}

#[test]
fn a_history_in_a_subfolder_of_the_card_is_checked_before_copying() {
    let test = "a_history_in_a_subfolder_of_the_card_is_checked_before_copying";
    if !require_tool(test, "ascmhl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let clips = dir.path().join("CARD/A001");
    std::fs::create_dir_all(&clips).unwrap();
    std::fs::write(clips.join("a.mov"), b"good\n").unwrap();
    tool(
        &clips,
        "ascmhl",
        &[os("create"), os("-h"), os("md5"), os(".")],
    );
    std::fs::write(clips.join("a.mov"), b"BAD!\n").unwrap();
    std::fs::create_dir(dir.path().join("dst")).unwrap();
    let output = zcopy(dir.path())
        .args(["-r", "--mhl", "CARD", "dst"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("CARD/A001/a.mov: verify: md5 mismatch"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing copied"), "{stderr}");
    assert!(list(&dir.path().join("dst")).is_empty());
}

#[test]
fn verify_checks_a_file_against_the_deepest_history_that_records_it() {
    let test = "verify_checks_a_file_against_the_deepest_history_that_records_it";
    if !require_tool(test, "ascmhl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("CARD/A001")).unwrap();
    std::fs::write(dir.path().join("CARD/A001/a.mov"), b"BAD!\n").unwrap();
    std::fs::create_dir(dir.path().join("dst")).unwrap();
    let output = zcopy(dir.path())
        .args(["-r", "--mhl", "-q", "CARD", "dst"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    // The top-level history records the file as it is; a subfolder's history records
    // it as it was: the subfolder's hash counts, as for the reference.
    let clips = dir.path().join("dst/CARD/A001");
    std::fs::write(clips.join("a.mov"), b"good\n").unwrap();
    tool(
        &clips,
        "ascmhl",
        &[os("create"), os("-h"), os("md5"), os(".")],
    );
    std::fs::write(clips.join("a.mov"), b"BAD!\n").unwrap();
    let reference = StdCommand::new("ascmhl")
        .current_dir(dir.path())
        .args(["create", "dst/CARD"])
        .output()
        .unwrap();
    assert!(!reference.status.success(), "the reference passes it");
    let output = zcopy(dir.path())
        .args(["verify", "dst/CARD"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("dst/CARD/A001/a.mov: verify: md5 mismatch"),
        "{stderr}"
    );
}
