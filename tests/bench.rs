//! `zcopy bench` runs end to end and reports every section. (A smoke test with tiny
//! sizes: what it measures is for people to read, never asserted here.)

mod common;

use common::*;

#[test]
fn bench_runs_and_reports_every_section() {
    let dir = tempfile::tempdir().unwrap();
    let output = zcopy(dir.path())
        .args([
            "bench", "--quick", "--sizes", "4M", "--files", "50", "--frames", "2", "--rounds", "1",
            "--json",
        ])
        .arg(dir.path())
        .timeout(std::time::Duration::from_secs(300))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json = parse_json(&output);
    let titles: Vec<&str> = json["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        [
            "4.00 MiB file",
            "50 files of 64.00 KiB",
            "500 files of 1.00 KiB",
            "2 frames of 12.00 MiB (image sequence)",
            "one 4.00 KiB file (cold start)",
            "verifying a 8.00 MiB folder (ASC MHL, xxh64)",
            "4.00 MiB file to one destination, then to two (the ratio is the second's cost)"
        ]
    );
    let destinations = json["tables"][6]["rows"].as_array().unwrap();
    assert_eq!(destinations.len(), 2);
    assert!(destinations[1]["contender"]
        .as_str()
        .unwrap()
        .contains("two directories on"));
    assert!(
        destinations[1]["rate"].as_f64().unwrap() > 0.0,
        "{destinations:?}"
    );
    // zcopy verify checked the history zcopy --mhl wrote, and the floor ran too.
    let verifying = json["tables"][5]["rows"].as_array().unwrap();
    assert_eq!(verifying[0]["contender"], "zcopy verify");
    assert!(
        verifying[0]["rate"].as_f64().unwrap() > 0.0,
        "{verifying:?}"
    );
    assert!(verifying
        .iter()
        .any(|r| r["contender"] == "read every file once" && r["rate"].as_f64().unwrap() > 0.0));
    // Every media hash and BLAKE3 are timed, beside the memory's own read speed.
    let hashing = &json["hashing"];
    assert!(hashing["memory_read_gbps"].as_f64().unwrap() > 0.0);
    let algorithms: Vec<&str> = hashing["rates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["algorithm"].as_str().unwrap())
        .collect();
    assert_eq!(
        algorithms,
        ["c4", "md5", "sha1", "xxh128", "xxh3", "xxh64", "blake3"]
    );
    // Every run is timed up to syncfs as well, which can only take longer.
    for table in json["tables"].as_array().unwrap() {
        for row in table["rows"].as_array().unwrap() {
            if let (Some(page_cache), Some(synced)) =
                (row["seconds"].as_f64(), row["synced_seconds"].as_f64())
            {
                assert!(synced >= page_cache, "{row}");
            }
        }
    }
    // With strace installed, zcopy and cp are counted, new and replacing.
    if std::path::Path::new("/usr/bin/strace").exists() {
        let counts = json["syscalls"].as_array().unwrap();
        assert_eq!(counts.len(), 4, "{counts:?}");
        assert!(counts.iter().all(|c| c["per_file"].as_f64().unwrap() > 1.0));
    }
    let large = &json["tables"][0]["rows"];
    assert_eq!(large[0]["contender"], "zcopy (default)");
    assert_eq!(large[0]["ratio"], 1.0);
    let row = |name: &str| {
        large
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["contender"] == name)
            .unwrap()
            .clone()
    };
    assert!(row("zcopy chunked")["rate"].as_f64().unwrap() > 0.0);
    assert!(row("zcopy --hash xxh64")["rate"].as_f64().unwrap() > 0.0);
    assert!(row("zcopy --hash xxh3")["ratio"].as_f64().unwrap() > 0.0);
    // The temp dir cannot clone here: the row says why instead of showing a number.
    if row("zcopy clone")["rate"].is_null() {
        assert!(row("zcopy clone")["failed"]
            .as_str()
            .unwrap()
            .contains("clone"));
    }
    let small = json["tables"][1]["rows"].as_array().unwrap();
    assert!(small.iter().any(|r| r["contender"]
        .as_str()
        .unwrap()
        .starts_with("raw copy_file_range loop")));
    assert_eq!(json["peak_rss_mib"].as_array().unwrap().len(), 2);
    // The kernel path's peak is zcopy's own, not the bench's: a child's ru_maxrss
    // starts from its parent's high-water mark, which the in-memory hashing raised
    // to its buffer's size when it ran first.
    let kernel_path_mib = json["peak_rss_mib"][0][1].as_f64().unwrap();
    assert!(kernel_path_mib < 64.0, "{kernel_path_mib} MiB");
    assert!(
        list(dir.path()).is_empty(),
        "bench files left: {:?}",
        list(dir.path())
    );

    let text = zcopy(dir.path())
        .args([
            "bench", "--quick", "--sizes", "1M", "--files", "10", "--frames", "1", "--rounds", "1",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    for heading in [
        "1.00 MiB file",
        "10 files of 64.00 KiB",
        "100 files of 1.00 KiB",
        "1 frames of 12.00 MiB (image sequence)",
        "one 4.00 KiB file (cold start)",
        "to one destination, then to two",
        "verifying a 2.00 MiB folder",
        "hashing on one core",
        "peak RSS",
    ] {
        assert!(text.contains(heading), "{text}");
    }
}
