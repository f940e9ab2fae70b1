//! Parallel batches (`-j`): the same results, errors, statistics and JSON order as one
//! worker, on real filesystems.

mod common;

use std::path::Path;

use common::*;

/// A tree of small and large files with holes in the batch: missing sources and a
/// directory without -r.
fn make_batch(root: &Path) -> Vec<String> {
    let mut args = Vec::new();
    for index in 0..120u64 {
        let name = format!("f{index:03}");
        let size = match index % 10 {
            0 => 11 * MIB + index,
            1 => 0,
            _ => 1000 + index * 517,
        };
        write_pattern(&root.join(&name), size, index);
        args.push(name);
        if index % 37 == 5 {
            args.push(format!("missing{index}"));
        }
    }
    std::fs::create_dir(root.join("a dir")).unwrap();
    args.insert(60, "a dir".to_string());
    args
}

fn run_with_jobs(root: &Path, args: &[String], jobs: &str, out: &str) -> (i32, Value) {
    std::fs::create_dir(root.join(out)).unwrap();
    let output = zcopy(root)
        .args(["--json", "-j", jobs])
        .args(args)
        .arg(out)
        .output()
        .unwrap();
    (output.status.code().unwrap(), parse_json(&output))
}

/// Everything but timings, for comparing two runs.
fn without_timings(json: &Value) -> Value {
    let mut json = json.clone();
    for file in json["files"].as_array_mut().unwrap() {
        file.as_object_mut().unwrap().remove("duration_sec");
    }
    let stats = json["stats"].as_object_mut().unwrap();
    for key in ["total_duration_sec", "speed_mbps"] {
        stats.remove(key);
    }
    json
}

fn parallel_matches_serial(root: &Path) {
    let args = make_batch(root);
    let (serial_code, serial) = run_with_jobs(root, &args, "1", "serial");
    let (parallel_code, parallel) = run_with_jobs(root, &args, "8", "parallel");
    assert_eq!((serial_code, parallel_code), (1, 1));
    let serial = serde_json::to_string(&without_timings(&serial))
        .unwrap()
        .replace("serial/", "OUT/");
    let parallel = serde_json::to_string(&without_timings(&parallel))
        .unwrap()
        .replace("parallel/", "OUT/");
    assert_eq!(
        serial, parallel,
        "-j 8 must report exactly what -j 1 does, in the same order"
    );
    let json: Value = serde_json::from_str(&parallel).unwrap();
    assert_eq!(json["files"].as_array().unwrap().len(), 120);
    assert_eq!(json["errors"].as_array().unwrap().len(), 5);
    for name in args.iter().filter(|name| name.starts_with('f')) {
        assert_same_content(&root.join(name), &root.join("parallel").join(name));
    }
    assert_no_debris(&root.join("parallel"));
}

#[test]
fn parallel_batches_report_like_serial_ones_in_the_temp_dir() {
    let dir = tempfile::tempdir().unwrap();
    parallel_matches_serial(dir.path());
}

#[test]
fn parallel_batches_report_like_serial_ones_on_btrfs() {
    let Some(mounts) = mounts("parallel_btrfs") else {
        return;
    };
    let dir = dir_on(&mounts.btrfs);
    parallel_matches_serial(dir.path());
}

#[test]
fn json_lines_keep_plan_order_with_workers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut names = Vec::new();
    // Big files first, so later small ones finish earlier.
    for index in 0..12u64 {
        let name = format!("g{index:02}");
        write_pattern(
            &d.join(&name),
            if index < 3 { 30 * MIB } else { 100 },
            index,
        );
        names.push(name);
    }
    std::fs::create_dir(d.join("out")).unwrap();
    let output = zcopy(d)
        .args(["--json-lines", "-j4", "--no-zero-copy"])
        .args(&names)
        .arg("out")
        .output()
        .unwrap();
    assert!(output.status.success());
    let sources: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|record| record["type"] == "file")
        .map(|record| record["source"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sources, names);
}

#[test]
fn jobs_are_configured_like_every_setting() {
    let dir = tempfile::tempdir().unwrap();
    let output = zcopy(dir.path())
        .env("ZERO_COPY_JOBS", "0")
        .args(["a", "b"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains("ZERO_COPY_JOBS (from environment): expected a whole number from 1 to 256"));
    let output = zcopy(dir.path())
        .env("ZERO_COPY_JOBS", "7")
        .args(["-j", "3", "--print-config"])
        .output()
        .unwrap();
    assert!(String::from_utf8(output.stdout)
        .unwrap()
        .contains("ZERO_COPY_JOBS=3 (flag -j/--jobs)"));
}
