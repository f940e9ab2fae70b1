//! Progress bars: drawn on a terminal, never when piped or with --json, unless forced.

mod common;

use std::path::Path;

use common::*;

fn stderr_of(dir: &Path, args: &[&str]) -> String {
    let output = zcopy(dir).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stderr).unwrap()
}

/// A 30 MiB copy in 1 MiB chunks: thirty progress updates, so a visible bar draws.
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_pattern(&dir.path().join("in"), 30 * MIB, 1);
    dir
}

const SLOW: [&str; 4] = ["--method", "chunked", "--chunk-size-mb", "1"];

#[test]
fn piped_stderr_gets_no_bars_unless_forced() {
    let dir = setup();
    let plain = stderr_of(dir.path(), &[&SLOW[..], &["in", "a"]].concat());
    assert!(!plain.contains("ETA"), "{plain}");
    assert!(plain.starts_with("1 file, 30.00 MiB in "), "{plain}");

    let forced = stderr_of(
        dir.path(),
        &[&SLOW[..], &["--progress", "in", "b"]].concat(),
    );
    assert!(
        forced.contains("ETA") && forced.contains("files"),
        "{forced}"
    );
}

/// A worker without a file draws no bar: four workers and two files show two file
/// bars, never an empty one reading `0 B/0 B`. Sizes on the bars and in the summary
/// after them are in one format.
#[test]
fn idle_workers_draw_no_empty_bars() {
    let dir = setup();
    std::fs::write(dir.path().join("small"), "slate notes\n").unwrap();
    std::fs::create_dir(dir.path().join("out")).unwrap();
    let drawn = stderr_of(
        dir.path(),
        &[&SLOW[..], &["--progress", "-j", "4", "in", "small", "out"]].concat(),
    );
    assert!(drawn.contains("ETA"), "{drawn}");
    assert!(
        !drawn.contains("0 B/0 B"),
        "an empty bar was drawn:\n{drawn}"
    );
    assert!(drawn.contains("/30.00 MiB"), "{drawn}");
    assert!(drawn.contains("2 files, 30.00 MiB in "), "{drawn}");
}

#[test]
fn json_output_stays_clean_even_with_forced_bars() {
    let dir = setup();
    let output = zcopy(dir.path())
        .args(SLOW)
        .args(["--json", "--progress", "in", "c"])
        .output()
        .unwrap();
    let _: Value =
        serde_json::from_slice(&output.stdout).expect("stdout is only the JSON document");
    assert!(String::from_utf8_lossy(&output.stderr).contains("ETA"));
}

/// On a terminal (a pseudo-terminal made by script(1)) bars are drawn by default and
/// `--no-progress` turns them off.
#[test]
fn a_terminal_gets_bars_by_default() {
    if !require_tool("a_terminal_gets_bars_by_default", "script") {
        return;
    }
    let dir = setup();
    let on_terminal = |extra: &str| -> String {
        let command = format!(
            "{} --no-env-file --method chunked --chunk-size-mb 1 {extra} in out{}",
            env!("CARGO_BIN_EXE_zcopy"),
            extra.len()
        );
        let output = std::process::Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let drawn = on_terminal("");
    assert!(drawn.contains("ETA"), "{drawn}");
    let quiet = on_terminal("--no-progress");
    assert!(
        !quiet.contains("ETA") && quiet.contains("1 file, 30.00 MiB"),
        "{quiet}"
    );
}
