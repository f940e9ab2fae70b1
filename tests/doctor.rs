//! `zcopy doctor`: the mechanisms it reports are the ones that work, probed for real.

mod common;

use std::path::Path;

use common::*;

fn doctor_json(cwd: &Path, args: &[&Path]) -> Value {
    let output = zcopy(cwd)
        .arg("doctor")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    parse_json(&output)
}

fn works(json: &Value, method: &str) -> bool {
    json["mechanisms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|probe| probe["method"] == method)
        .unwrap_or_else(|| panic!("no probe for {method}: {json:#}"))["works"]
        .as_bool()
        .unwrap()
}

#[test]
fn doctor_reports_what_works_in_the_temp_dir_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let json = doctor_json(dir.path(), &[]);
    assert!(works(&json, "copy_file_range") && works(&json, "sendfile") && works(&json, "chunked"));
    assert_eq!(json["same_filesystem"], true);
    for key in [
        "source",
        "destination",
        "mechanisms",
        "default_method",
        "clone_shares_blocks",
        "configuration",
        "advice",
    ] {
        assert!(json.get(key).is_some(), "missing {key}");
    }
    assert_eq!(json["configuration"]["ZERO_COPY_MIN_SIZE_MB"]["value"], 10);
    assert!(json["advice"].as_array().unwrap().iter().any(|a| a
        .as_str()
        .unwrap()
        .contains("files below 10.00 MiB will use the chunk copy")));
    assert!(
        list(dir.path()).is_empty(),
        "probe files left: {:?}",
        list(dir.path())
    );
}

#[test]
fn doctor_sees_clones_and_cross_filesystem_limits() {
    let Some(mounts) = mounts("doctor_clones") else {
        return;
    };
    let btrfs = dir_on(&mounts.btrfs);
    let json = doctor_json(btrfs.path(), &[]);
    assert_eq!(json["source"]["filesystem"], "btrfs");
    assert!(works(&json, "clone"));
    assert_eq!(json["clone_shares_blocks"], true);
    assert_eq!(json["default_method"], "clone");

    let tmpfs = dir_on(&mounts.tmpfs);
    let json = doctor_json(btrfs.path(), &[btrfs.path(), tmpfs.path()]);
    assert_eq!(json["destination"]["filesystem"], "tmpfs");
    assert_eq!(json["same_filesystem"], false);
    assert!(!works(&json, "clone"));
    assert_eq!(json["default_method"], "sendfile");
    assert!(json["advice"].to_string().contains("different filesystems"));
    assert!(list(btrfs.path()).is_empty() && list(tmpfs.path()).is_empty());
}

#[test]
fn doctor_reads_the_configuration_and_says_what_follows() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "ZERO_COPY_MIN_SIZE_MB=200\nZERO_COPY_REFLINK=always\n",
    )
    .unwrap();
    let output = zcopy(dir.path()).arg("doctor").output().unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("ZERO_COPY_MIN_SIZE_MB=200 (.env, line 1)"),
        "{text}"
    );
    assert!(
        text.contains("files below 200.00 MiB will use the chunk copy"),
        "{text}"
    );
    assert!(
        text.contains("ZERO_COPY_REFLINK=always fails every file here"),
        "{text}"
    );
    assert!(text.contains("copy_file_range  works"), "{text}");
}

#[test]
fn doctor_probes_a_read_only_source_with_a_file_already_there() {
    if mounts("doctor_read_only").is_none() {
        return;
    }
    let dir = fixture_dir();
    let d = dir.path();
    std::fs::create_dir(d.join("card")).unwrap();
    write_pattern(&d.join("card/clip.mxf"), 4096, 1);
    let card = d.join("card");
    let json = {
        let read_only = mount_for_test(&["--bind", "-o", "ro", card.to_str().unwrap()], &card);
        let output = zcopy(d)
            .arg("doctor")
            .arg(&card)
            .arg(d)
            .arg("--json")
            .output()
            .unwrap();
        drop(read_only);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        parse_json(&output)
    };
    assert!(json["probe"].as_str().unwrap().ends_with("card/clip.mxf"));
    assert!(works(&json, "copy_file_range") || works(&json, "sendfile"));
}
