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

/// Names with a newline, a terminal escape sequence or bytes that are not UTF-8:
/// `(name, how GNU cp 9.1 shows it)`. cp's forms are also compared with cp itself.
const TROUBLESOME: [(&[u8], &str); 3] = [
    (b"new\nline.mov", r"'new'$'\n''line.mov'"),
    (
        b"clip\x1b]0;pwned\x07.mov",
        r"'clip'$'\033'']0;pwned'$'\a''.mov'",
    ),
    (b"caf\xff.mov", r"'caf'$'\377''.mov'"),
];

/// Runs `cp ARGS` in `cwd` in the C locale (its quoting depends on the locale);
/// returns (stdout, stderr).
fn cp_output(cwd: &std::path::Path, args: &[&std::ffi::OsStr]) -> (String, String) {
    let output = std::process::Command::new("cp")
        .env("LC_ALL", "C")
        .current_dir(cwd)
        .args(args)
        .output()
        .expect("cp runs");
    (
        String::from_utf8(output.stdout).expect("cp's output is UTF-8"),
        String::from_utf8(output.stderr).expect("cp's output is UTF-8"),
    )
}

/// What a human-facing stream may hold: UTF-8 text with no control character but the
/// line ends (and, in progress bars, the ESC of their own CSI sequences, `ESC [`).
/// None of the troublesome names appears raw in it.
fn assert_shows_no_raw_name(stream: &[u8], what: &str) {
    let text = std::str::from_utf8(stream)
        .unwrap_or_else(|err| panic!("{what}: not UTF-8 ({err}): {stream:?}"));
    for (index, c) in text.char_indices() {
        let csi = c == '\x1b' && text[index + 1..].starts_with('[');
        assert!(
            !c.is_control() || c == '\n' || c == '\r' || csi,
            "{what}: raw control character {c:?} at byte {index} in {text:?}"
        );
    }
    for (name, _) in TROUBLESOME {
        assert!(
            !stream.windows(name.len()).any(|window| window == name),
            "{what}: the name {name:?} appears raw in {text:?}"
        );
    }
}

/// A file name holding a newline, an escape sequence or bytes that are not UTF-8 could
/// forge lines of a log or retitle the terminal if printed raw: every line for people
/// (errors, `-v`, notes, skips, `--clean`, progress bars) shows it in the shell's
/// escaped quoting, as GNU cp does; ordinary names are shown as before, and the JSON
/// keeps the exact names.
#[test]
fn troublesome_names_are_shown_escaped_as_cp_shows_them() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    let Some(shim) = fault_shim("troublesome_names_are_shown_escaped_as_cp_shows_them") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (index, (name, escaped)) in TROUBLESOME.iter().enumerate() {
        let name = OsStr::from_bytes(name);
        let missing = OsStr::from_bytes(&[b"gone-", name.as_bytes()].concat()).to_owned();
        let missing_escaped = format!("'gone-{}", &escaped[1..]);

        // (a) An error naming the path: a missing source; cp says "cannot stat".
        let output = zcopy(d).arg(&missing).arg("out").output().unwrap();
        assert_eq!(output.status.code(), Some(1));
        assert_shows_no_raw_name(&output.stderr, "error for a missing source");
        let stderr = String::from_utf8(output.stderr).unwrap();
        let (_, cp_stderr) = cp_output(d, &[&missing, os("out")]);
        assert_eq!(
            cp_stderr,
            format!("cp: cannot stat {missing_escaped}: No such file or directory\n")
        );
        assert!(
            stderr.starts_with(&format!(
                "zcopy: {missing_escaped}: stat source: No such file or directory"
            )),
            "{stderr}"
        );

        // A directory without -r; cp says "omitting directory".
        std::fs::create_dir(d.join(name)).unwrap();
        let output = zcopy(d).arg(name).arg("out").output().unwrap();
        assert_eq!(output.status.code(), Some(1));
        assert_shows_no_raw_name(&output.stderr, "error for a directory without -r");
        let stderr = String::from_utf8(output.stderr).unwrap();
        let (_, cp_stderr) = cp_output(d, &[name, os("out")]);
        assert_eq!(
            cp_stderr,
            format!("cp: -r not specified; omitting directory {escaped}\n")
        );
        assert!(
            stderr.starts_with(&format!("zcopy: {escaped}: stat source: is a directory")),
            "{stderr}"
        );
        std::fs::remove_dir(d.join(name)).unwrap();

        // (b) `-v`: cp's `'SRC' -> 'DST'` lines, zcopy's with the method after them;
        // -vv adds the notes that name the file, and says a destination was kept (-n).
        write_pattern(&d.join(name), 1000 + index as u64, index as u64);
        std::fs::create_dir(d.join("by-cp")).unwrap();
        let (cp_stdout, _) = cp_output(d, &[os("-v"), name, os("by-cp")]);
        std::fs::remove_dir_all(d.join("by-cp")).unwrap();
        std::fs::create_dir(d.join("by-cp")).unwrap();
        let output = zcopy(d)
            .args(["-vv", "--method", "chunked"])
            .arg(name)
            .arg("by-cp")
            .output()
            .unwrap();
        assert!(output.status.success());
        assert_shows_no_raw_name(&output.stdout, "-v lines");
        assert_shows_no_raw_name(&output.stderr, "-vv notes");
        let stdout = String::from_utf8(output.stdout).unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stdout, cp_stdout.replace('\n', " [chunked]\n"));
        assert_eq!(
            cp_stdout,
            format!("{escaped} -> 'by-cp/{}\n", &escaped[1..])
        );
        assert!(
            stderr.contains(&format!("zcopy: {escaped}: copied ")),
            "{stderr}"
        );
        let output = zcopy(d)
            .args(["-vv", "-n"])
            .arg(name)
            .arg("by-cp")
            .output()
            .unwrap();
        assert_shows_no_raw_name(&output.stderr, "-v skip line");
        assert!(
            String::from_utf8(output.stderr)
                .unwrap()
                .contains(&format!("zcopy: 'by-cp/{}: skipped", &escaped[1..])),
            "{escaped}"
        );

        // The JSON keeps the exact name, not the escaped form.
        std::fs::remove_dir_all(d.join("by-cp")).unwrap();
        std::fs::create_dir(d.join("by-cp")).unwrap();
        let (code, json, _) = zcopy_json(d, &[name, os("by-cp")]);
        assert_eq!(code, 0);
        let record = &json["files"][0];
        let source = match record.get("source_base64") {
            Some(encoded) => {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD
                    .decode(encoded.as_str().unwrap())
                    .unwrap()
            }
            None => record["source"].as_str().unwrap().as_bytes().to_vec(),
        };
        assert_eq!(source, name.as_bytes());
        std::fs::remove_dir_all(d.join("by-cp")).unwrap();

        // `--clean` lists what it removed, one line each.
        let leftover =
            OsStr::from_bytes(&[b".", name.as_bytes(), b".a1b2c3.zcopy-tmp"].concat()).to_owned();
        std::fs::write(d.join(&leftover), "partial").unwrap();
        let output = zcopy(d).args(["--clean", "."]).output().unwrap();
        assert!(output.status.success());
        assert_shows_no_raw_name(&output.stdout, "--clean listing");
        assert_eq!(
            String::from_utf8(output.stdout).unwrap(),
            format!("'./.{}.a1b2c3.zcopy-tmp'\n", &escaped[1..escaped.len() - 1])
        );
        assert!(!d.join(&leftover).exists());

        // Progress bars (forced on the pipe) name the file in flight. The bars are
        // drawn at most every 50 ms, and a 12 MiB copy can end before one is: each of
        // its reads is slowed by 20 ms (the fault shim), so that it cannot.
        write_pattern(&d.join(name), 12 * MIB, index as u64);
        let output = zcopy_with_faults(d, shim, &[("ZCOPY_FAULT_DELAY_US", "20000".into())])
            .args(["--progress", "--method", "chunked", "--chunk-size-mb", "1"])
            .arg(name)
            .arg("bar-copy")
            .output()
            .unwrap();
        assert!(output.status.success());
        assert!(String::from_utf8_lossy(&output.stderr).contains("ETA"));
        assert_shows_no_raw_name(&output.stderr, "progress bars");
        std::fs::remove_file(d.join(name)).unwrap();
        std::fs::remove_file(d.join("bar-copy")).unwrap();
    }
}

/// The summary is counted as files finish, without keeping a record per file (only the
/// JSON document and ASC MHL keep them): its figures are the JSON document's, for each
/// of two destinations, with copies, a symbolic link made and a file that failed.
#[test]
fn the_summary_counts_what_the_json_document_lists() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("card")).unwrap();
    for (index, size) in [0u64, 1, 700, 5000].iter().enumerate() {
        write_pattern(&d.join(format!("card/clip{index}")), *size, index as u64);
    }
    std::os::unix::fs::symlink("clip1", d.join("card/link")).unwrap();
    for root in ["raid", "shuttle"] {
        std::fs::create_dir_all(d.join(root).join("card")).unwrap();
    }
    // One file cannot be made on one side: a directory is where it goes.
    std::fs::create_dir(d.join("shuttle/card/clip2")).unwrap();
    let args = ["-r", "--no-env-file", "card", "-t", "raid", "-t", "shuttle"];
    let (code, json, _) = zcopy_json(d, &args.map(os));
    assert_eq!(code, 1, "{json:#}");
    for root in ["raid", "shuttle"] {
        std::fs::remove_dir_all(d.join(root).join("card")).unwrap();
        std::fs::create_dir_all(d.join(root).join("card")).unwrap();
    }
    std::fs::create_dir(d.join("shuttle/card/clip2")).unwrap();
    let output = zcopy(d).args(args).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let summary = String::from_utf8_lossy(&output.stderr);

    let files = json["files"].as_array().unwrap();
    for root in ["raid", "shuttle"] {
        let here: Vec<&Value> = files
            .iter()
            .filter(|file| file["destination_root"] == root)
            .collect();
        let copies: Vec<&&Value> = here.iter().filter(|file| file["kind"] == "copy").collect();
        let bytes: u64 = copies
            .iter()
            .map(|file| file["bytes"].as_u64().unwrap())
            .sum();
        let made = here.len() - copies.len();
        let verified = copies
            .iter()
            .filter(|file| file["verified"] == true)
            .count();
        let line = format!(
            "{root}: {} files, {}",
            copies.len(),
            zcopy::report::human_bytes(bytes)
        );
        let shown = summary
            .lines()
            .find(|shown| shown.starts_with(&format!("{root}: ")))
            .unwrap_or_else(|| panic!("no line for {root}: {summary}"));
        assert!(shown.starts_with(&line), "{shown:?} for {line:?}");
        assert!(shown.contains(&format!("; {made} made")), "{shown}");
        assert!(shown.contains(&format!("; {verified} verified")), "{shown}");
    }
    let copies = files.iter().filter(|file| file["kind"] == "copy").count();
    assert_eq!(copies, 7, "{json:#}");
    let total = summary.lines().last().unwrap();
    assert!(total.starts_with(&format!("{copies} files, ")), "{total}");
    assert!(total.contains("; 2 links or nodes made"), "{total}");
    assert!(total.contains("; 1 failed"), "{total}");
}

/// `--clean` and `--print-config` with `--json` or `--json-lines` print one JSON
/// document on stdout and nothing else there: `--clean` printed its list as text, and
/// `--print-config --json-lines` its KEY=value lines.
#[test]
fn clean_and_print_config_print_json_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for format in ["--json", "--json-lines"] {
        std::fs::create_dir(d.join("cl")).unwrap();
        std::fs::write(d.join("cl/.a.abc123.zcopy-tmp"), "partial").unwrap();
        std::fs::create_dir(d.join("cl/.t.xyz789.zcopy-tmp")).unwrap();
        std::fs::write(d.join("cl/kept"), "kept").unwrap();
        let output = zcopy(d).args(["--clean", format, "cl"]).output().unwrap();
        assert!(output.status.success(), "{format}");
        let json = parse_json(&output);
        let mut removed: Vec<&str> = json["removed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|record| record["path"].as_str().unwrap())
            .collect();
        removed.sort_unstable();
        assert_eq!(
            removed,
            ["cl/.a.abc123.zcopy-tmp", "cl/.t.xyz789.zcopy-tmp"],
            "{json:#}"
        );
        assert_eq!(json["errors"], serde_json::json!([]), "{json:#}");
        assert_eq!(list(&d.join("cl")), ["kept"]);
        std::fs::remove_dir_all(d.join("cl")).unwrap();

        let output = zcopy(d)
            .args(["--no-env-file", "--print-config", format])
            .output()
            .unwrap();
        assert!(output.status.success(), "{format}");
        assert_eq!(parse_json(&output)["ZERO_COPY_ENABLED"]["value"], true);
    }
}
