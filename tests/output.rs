//! Output for pipelines and terminals: --json-lines, --print-config, --quiet, colour,
//! --version, layered --env-file.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use common::*;

/// --json-lines: one object per file as each completes (the first arrives while the
/// batch is still running), then one summary object; every line parses alone.
#[test]
fn json_lines_stream_one_object_per_file_then_the_totals() {
    let Some(shim) = fault_shim("json_lines") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for name in ["a", "b", "c"] {
        write_pattern(&d.join(name), 3 * MIB, name.len() as u64);
    }
    std::fs::create_dir(d.join("out")).unwrap();
    let faults = [("ZCOPY_FAULT_DELAY_US", "100000".to_string())];
    let mut child = zcopy_with_faults_std(d, shim, &faults)
        .args([
            "--json-lines",
            "--no-zero-copy",
            "--chunk-size-mb=1",
            "a",
            "missing",
            "b",
            "c",
            "out",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["type"], "file");
    assert_eq!(first["source"], "a");
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first line came only after the batch ended"
    );
    let rest: Vec<Value> = lines
        .map(|line| serde_json::from_str(&line.unwrap()).unwrap())
        .collect();
    assert_eq!(child.wait().unwrap().code(), Some(1));
    let kinds: Vec<&str> = rest.iter().map(|v| v["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["error", "file", "file", "summary"]);
    assert_eq!(rest[0]["source"], "missing");
    let summary = &rest[3];
    assert_eq!(
        (summary["files"].as_u64(), summary["errors"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(summary["stats"]["bytes_copied"], 9 * MIB);
    assert_eq!(summary["version"], 1);
}

#[test]
fn print_config_shows_values_and_origins_with_layered_env_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("site.env"),
        "ZERO_COPY_MIN_SIZE_MB=50\nZERO_COPY_CHUNK_SIZE_MB=16\n",
    )
    .unwrap();
    std::fs::write(d.join("job.env"), "ZERO_COPY_MIN_SIZE_MB=5\n").unwrap();
    let output = zcopy(d)
        .env("ZERO_COPY_FSYNC", "yes")
        .args([
            "--env-file",
            "site.env",
            "--env-file",
            "job.env",
            "--reflink=never",
            "--print-config",
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    for line in [
        "ZERO_COPY_MIN_SIZE_MB=5 (job.env, line 1)",
        "ZERO_COPY_CHUNK_SIZE_MB=16 (site.env, line 2)",
        "ZERO_COPY_FSYNC=true (environment)",
        "ZERO_COPY_REFLINK=never (flag --reflink)",
        "ZERO_COPY_ENABLED=true (default)",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
    let output = zcopy(d)
        .args(["--env-file", "site.env", "--print-config", "--json"])
        .output()
        .unwrap();
    let json = parse_json(&output);
    assert_eq!(
        json["ZERO_COPY_MIN_SIZE_MB"],
        serde_json::json!({"value": 50, "origin": "site.env, line 1"})
    );
}

#[test]
fn quiet_prints_errors_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_pattern(&d.join("a"), 10, 1);
    std::fs::write(d.join(".env"), "ZERO_COPY_TYPO=1\n").unwrap();
    let output = zcopy(d).args(["-q", "a", "b"]).output().unwrap();
    assert!(output.status.success());
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = zcopy(d).args(["-q", "missing", "c"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(output.stderr).unwrap(),
        "zcopy: missing: stat source: No such file or directory (os error 2)\n"
    );
}

/// The tools take the output and configuration flags too, after their name: a
/// script runs `zcopy verify -q DIR` and reads the exit status. (Before the name, a
/// word is a path to copy, as with cp: `zcopy -q verify DIR` copies a file "verify".)
#[test]
fn subcommands_take_quiet_colour_and_env_file_flags() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("card")).unwrap();
    write_pattern(&d.join("card/clip.mov"), 1000, 1);
    zcopy(d)
        .args(["-q", "-r", "--mhl", "card", "copy"])
        .assert()
        .success();
    std::fs::write(d.join(".env"), "ZERO_COPY_TYPO=1\n").unwrap();
    let quiet = zcopy(d)
        .args(["verify", "-q", "--no-env-file", "--color=never", "copy"])
        .output()
        .unwrap();
    assert!(quiet.status.success());
    assert!(
        quiet.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&quiet.stderr)
    );
    let loud = zcopy(d).args(["verify", "copy"]).output().unwrap();
    assert!(String::from_utf8_lossy(&loud.stderr).contains("1 verified"));
    // Quiet still reports what is wrong, and the status says so.
    std::fs::write(d.join("copy/clip.mov"), b"changed").unwrap();
    let failed = zcopy(d).args(["verify", "-q", "copy"]).output().unwrap();
    assert_eq!(failed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&failed.stderr).contains("clip.mov"));
    let doctor = zcopy(d)
        .args(["doctor", "--no-env-file", "-q", "--json", "card"])
        .output()
        .unwrap();
    assert!(
        doctor.status.success(),
        "{}",
        String::from_utf8_lossy(&doctor.stderr)
    );
}

#[test]
fn colour_follows_the_flag_and_no_color() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = |args: &[&str], no_color: bool| {
        let mut command = zcopy(dir.path());
        if no_color {
            command.env("NO_COLOR", "1");
        } else {
            command.env_remove("NO_COLOR");
        }
        String::from_utf8(
            command
                .args(args)
                .args(["missing", "x"])
                .output()
                .unwrap()
                .stderr,
        )
        .unwrap()
    };
    assert!(stderr(&["--color=always"], false).starts_with("\u{1b}["));
    assert!(
        stderr(&["--color=always"], true).starts_with("\u{1b}["),
        "--color=always beats NO_COLOR"
    );
    assert!(stderr(&["--color=never"], false).starts_with("zcopy: missing"));
    assert!(
        stderr(&[], false).starts_with("zcopy: missing"),
        "auto: stderr is not a terminal here"
    );
}

#[test]
fn version_names_the_mechanisms() {
    let dir = tempfile::tempdir().unwrap();
    let output = zcopy(dir.path()).arg("--version").output().unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.starts_with(&format!("zcopy {}", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    assert!(
        text.contains("mechanisms: FICLONE, copy_file_range, sendfile, buffered chunks"),
        "{text}"
    );
}

/// Piped stdout and stderr never carry terminal control sequences unless forced.
#[test]
fn piped_output_has_no_control_sequences() {
    let dir = tempfile::tempdir().unwrap();
    write_pattern(&dir.path().join("in"), 12 * MIB, 1);
    let output = zcopy(dir.path())
        .args(["--json", "in", "out"])
        .output()
        .unwrap();
    for stream in [&output.stdout, &output.stderr] {
        assert!(
            !stream.contains(&0x1b),
            "{}",
            String::from_utf8_lossy(stream)
        );
    }
}
