//! The JSON document: exact keys, values that match what happened, counts that add up.

mod common;

use std::collections::BTreeSet;
use std::ffi::OsStr;

use common::*;

fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect()
}

#[test]
fn a_known_batch_reports_exactly_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_pattern(&d.join("big.mkv"), 11 * MIB, 1);
    write_pattern(&d.join("small.jpg"), 1000, 2);
    write_pattern(&d.join("never.mkv"), 10 * MIB, 3);
    std::fs::create_dir(d.join("out")).unwrap();

    // One batch: big.mkv by the kernel, small.jpg by chunks, a missing file.
    let (code, json, _) = zcopy_json(
        d,
        &[
            OsStr::new("big.mkv"),
            OsStr::new("small.jpg"),
            OsStr::new("missing.mkv"),
            OsStr::new("out"),
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(
        keys(&json),
        BTreeSet::from([
            "version",
            "files",
            "errors",
            "skipped",
            "interrupted",
            "stats"
        ])
    );
    assert_eq!(json["version"], 1);
    assert_eq!(json["interrupted"], false);

    let files = json["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    for file in files {
        assert_eq!(
            keys(file),
            BTreeSet::from([
                "source",
                "destination",
                "kind",
                "bytes",
                "method",
                "duration_sec",
                "verified",
                "backup"
            ])
        );
        assert!(file["duration_sec"].as_f64().unwrap() >= 0.0);
        assert_eq!(file["verified"], true);
        assert_eq!(file["kind"], "copy");
        assert_eq!(file["backup"], Value::Null);
    }
    assert_eq!(files[0]["source"], "big.mkv");
    assert_eq!(files[0]["destination"], "out/big.mkv");
    assert_eq!(files[0]["bytes"], 11 * MIB);
    assert_eq!(files[0]["method"], "copy_file_range");
    assert_eq!(files[1]["source"], "small.jpg");
    assert_eq!(files[1]["bytes"], 1000);
    assert_eq!(files[1]["method"], "chunked");

    let errors = json["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(
        keys(&errors[0]),
        BTreeSet::from(["source", "destination", "operation", "error", "errno"])
    );
    assert_eq!(errors[0]["source"], "missing.mkv");
    assert_eq!(errors[0]["destination"], "out/missing.mkv");
    assert_eq!(errors[0]["operation"], "stat_source");
    assert_eq!(errors[0]["errno"], 2);
    assert!(errors[0]["error"]
        .as_str()
        .unwrap()
        .starts_with("missing.mkv: stat source: "));

    let stats = &json["stats"];
    assert_eq!(
        keys(stats),
        BTreeSet::from([
            "bytes_copied",
            "zero_copy_count",
            "fallback_count",
            "total_duration_sec",
            "verification_failures",
            "speed_mbps",
            "zero_copy_ratio",
            "methods",
        ])
    );
    assert_eq!(stats["bytes_copied"], 11 * MIB + 1000);
    assert_eq!(stats["zero_copy_count"], 1);
    assert_eq!(stats["fallback_count"], 1);
    assert_eq!(stats["verification_failures"], 0);
    assert_eq!(stats["zero_copy_ratio"], 50.0);
    let duration = stats["total_duration_sec"].as_f64().unwrap();
    let speed = stats["speed_mbps"].as_f64().unwrap();
    let expected_speed = (11 * MIB + 1000) as f64 / MIB as f64 / duration;
    assert!(
        (speed - expected_speed).abs() < 1e-6 * expected_speed,
        "{speed} vs {expected_speed}"
    );
    assert_eq!(
        stats["methods"],
        serde_json::json!({"clone": 0, "copy_file_range": 1, "sendfile": 0, "chunked": 1})
    );

    // A second batch with the kernel path forced to sendfile, plus a skipped file.
    let (code, json, _) = zcopy_json(
        d,
        &[
            OsStr::new("--reflink=never"),
            OsStr::new("--no-clobber"),
            OsStr::new("never.mkv"),
            OsStr::new("small.jpg"),
            OsStr::new("out"),
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(json["files"][0]["method"], "sendfile");
    assert_eq!(json["skipped"][0]["source"], "small.jpg");
    assert_eq!(json["stats"]["zero_copy_ratio"], 100.0);
}

#[test]
fn method_counts_add_up_to_the_files_copied() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut args = Vec::new();
    for (index, size) in [0, 5, 10 * MIB, 3 * MIB, 10 * MIB + 1]
        .into_iter()
        .enumerate()
    {
        let name = format!("f{index}");
        write_pattern(&d.join(&name), size, index as u64);
        args.push(name);
    }
    args.push("out".to_string());
    std::fs::create_dir(d.join("out")).unwrap();
    let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    let (code, json, _) = zcopy_json(d, &args);
    assert_eq!(code, 0);
    let stats = &json["stats"];
    let files = json["files"].as_array().unwrap().len() as u64;
    let per_method: u64 = stats["methods"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    let zero_copy = stats["zero_copy_count"].as_u64().unwrap();
    let fallback = stats["fallback_count"].as_u64().unwrap();
    assert_eq!(files, 5);
    assert_eq!(per_method, files);
    assert_eq!(zero_copy + fallback, files);
    assert_eq!(fallback, stats["methods"]["chunked"].as_u64().unwrap());
    assert_eq!((zero_copy, fallback), (2, 3));
    assert_eq!(stats["zero_copy_ratio"], 40.0);
    let bytes: u64 = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(stats["bytes_copied"], bytes);
}

#[test]
fn nothing_copied_gives_zero_speed_and_ratio() {
    let dir = tempfile::tempdir().unwrap();
    let (code, json, _) = zcopy_json(dir.path(), &[OsStr::new("nothing-here"), OsStr::new("out")]);
    assert_eq!(code, 1);
    assert_eq!(json["stats"]["speed_mbps"], 0.0);
    assert_eq!(json["stats"]["zero_copy_ratio"], 0.0);
    assert_eq!(json["stats"]["bytes_copied"], 0);
}

#[test]
fn the_summary_goes_to_stderr_and_json_alone_to_stdout() {
    let dir = tempfile::tempdir().unwrap();
    write_pattern(&dir.path().join("a"), 10 * MIB, 1);
    let output = zcopy(dir.path()).args(["a", "b"]).output().unwrap();
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.starts_with("1 file, 10.00 MiB in "), "{stderr}");
    assert!(
        stderr.contains("1 zero-copy (copy_file_range 1), 0 fallback"),
        "{stderr}"
    );

    let output = zcopy(dir.path())
        .args(["--json", "a", "c"])
        .output()
        .unwrap();
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let _: Value =
        serde_json::from_slice(&output.stdout).expect("stdout is exactly one JSON document");
}
