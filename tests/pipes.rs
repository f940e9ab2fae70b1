//! zcopy in shell pipelines whose reader goes away: `zcopy --json ... | true`,
//! `zcopy --json-lines ... | head -1`. No panic, no message, no temporary file, the
//! batch stopped as on Ctrl-C, exit status 141 (what a shell shows for SIGPIPE).
//!
//! Most cases close the reader's end of the pipe before zcopy starts (zcopy waits for a
//! marker file the reader creates after closing its stdin), so that zcopy's first write
//! meets a closed pipe whatever the timing; one runs a real `head -1`.

mod common;

use std::path::Path;
use std::process::Command as StdCommand;

use common::*;

/// The pipeline's result: zcopy's exit status (from bash's PIPESTATUS), what the
/// pipeline printed on stdout and stderr.
struct Pipeline {
    status: i32,
    stdout: String,
    stderr: String,
}

/// Runs `script` with bash in `dir`, with `$ZCOPY` the binary under test and `$SHIM`
/// the fault shim (when given). The script must end with `echo "${PIPESTATUS[0]}" >
/// status`.
fn pipeline(dir: &Path, shim: Option<&Path>, script: &str) -> Pipeline {
    let mut command = StdCommand::new("bash");
    command
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("ZCOPY", env!("CARGO_BIN_EXE_zcopy"))
        .env("SHIM", shim.unwrap_or(Path::new("")));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ZERO_COPY_") {
            command.env_remove(key);
        }
    }
    let output = command.output().expect("bash runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "bash failed: {stderr}");
    let status = std::fs::read_to_string(dir.join("status"))
        .unwrap_or_else(|err| panic!("no status file ({err}); stderr:\n{stderr}"));
    let _ = std::fs::remove_file(dir.join("status"));
    Pipeline {
        status: status.trim().parse().expect("a number"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr,
    }
}

/// `zcopy ARGS | READER` where READER has closed its end before zcopy starts.
fn into_closed_pipe(args: &str) -> String {
    format!(
        r#"rm -f reader-gone
{{ while [ ! -e reader-gone ]; do sleep 0.01; done; exec $ZCOPY {args}; }} | {{ exec 0<&-; : > reader-gone; }}
echo "${{PIPESTATUS[0]}}" > status"#
    )
}

fn assert_silent_141(result: &Pipeline, what: &str) {
    assert_eq!(result.status, 141, "{what}: stderr:\n{}", result.stderr);
    assert!(
        !result.stderr.contains("panicked"),
        "{what}: {}",
        result.stderr
    );
    assert_eq!(result.stderr, "", "{what}: zcopy said something");
}

/// `--json` prints once, at the end: the copy is complete and installed, then the
/// report meets the closed pipe.
#[test]
fn json_into_a_closed_pipe_exits_141_without_a_word() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_pattern(&d.join("a.mov"), 3 * MIB, 1);
    std::fs::create_dir(d.join("dir")).unwrap();
    let result = pipeline(d, None, &into_closed_pipe("--json a.mov dir/"));
    assert_silent_141(&result, "--json a.mov dir/");
    assert_same_content(&d.join("a.mov"), &d.join("dir/a.mov"));
    assert_no_debris(&d.join("dir"));
}

/// `--json-lines` with one worker: the first record meets the closed pipe, and the batch
/// stops there, after one file of 200, as after Ctrl-C.
#[test]
fn json_lines_into_a_closed_pipe_stop_after_the_first_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("many")).unwrap();
    for index in 0..200 {
        std::fs::write(d.join(format!("many/f{index:03}")), index.to_string()).unwrap();
    }
    let result = pipeline(d, None, &into_closed_pipe("--json-lines -j 1 -r many out"));
    assert_silent_141(&result, "--json-lines -j 1");
    assert_eq!(list(&d.join("out")).len(), 1, "the batch did not stop");
    assert_no_debris(&d.join("out"));
}

/// cp's `-v` lines go to stdout too: `zcopy -v -r ... | head` stops the same way.
#[test]
fn verbose_lines_into_a_closed_pipe_stop_after_the_first_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("many")).unwrap();
    for index in 0..200 {
        std::fs::write(d.join(format!("many/f{index:03}")), index.to_string()).unwrap();
    }
    let result = pipeline(d, None, &into_closed_pipe("-v -j 1 -r many out"));
    assert_silent_141(&result, "-v -j 1");
    assert!(
        list(&d.join("out")).len() <= 1,
        "the batch did not stop: {} files copied",
        list(&d.join("out")).len()
    );
    assert_no_debris(&d.join("out"));
}

/// A real `head -1`: it prints the first record and exits; zcopy stops at its next
/// write. The shim's delay makes the 200 files take seconds, so the stop is well
/// before the end.
#[test]
fn json_lines_into_head_stop_early_and_quietly() {
    let Some(shim) = fault_shim("json_lines_into_head") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("many")).unwrap();
    for index in 0..200 {
        write_pattern(&d.join(format!("many/f{index:03}")), 4096, index);
    }
    let result = pipeline(
        d,
        Some(shim),
        r#"ZCOPY_FAULT_DELAY_US=20000 LD_PRELOAD="$SHIM" $ZCOPY --json-lines -j 1 -r many out | head -1
echo "${PIPESTATUS[0]}" > status"#,
    );
    assert_silent_141(&result, "--json-lines | head -1");
    let first: Value = serde_json::from_str(result.stdout.trim()).unwrap();
    assert_eq!(first["type"], "file", "{first}");
    let copied = list(&d.join("out"));
    assert!(copied.len() < 200, "all {} files were copied", copied.len());
    for name in &copied {
        assert_same_content(&d.join("many").join(name), &d.join("out").join(name));
    }
    assert_no_debris(&d.join("out"));
}

/// With four workers, three files are in flight when the first record meets the closed
/// pipe: each is abandoned, its temporary file removed, and the destination it was
/// replacing left as it was.
#[test]
fn files_in_flight_are_abandoned_cleanly_when_the_pipe_closes() {
    let Some(shim) = fault_shim("pipe_closes_in_flight") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("src")).unwrap();
    std::fs::create_dir_all(d.join("dst")).unwrap();
    let names: Vec<String> = (0..8).map(|index| format!("clip{index}.mov")).collect();
    for (index, name) in names.iter().enumerate() {
        write_pattern(&d.join("src").join(name), 4 * MIB, index as u64);
        write_pattern(&d.join("dst").join(name), MIB, 100 + index as u64);
    }
    let old: Vec<Vec<u8>> = names
        .iter()
        .map(|name| std::fs::read(d.join("dst").join(name)).unwrap())
        .collect();
    let result = pipeline(
        d,
        Some(shim),
        &into_closed_pipe(
            r#"--json-lines -j 4 --no-zero-copy --chunk-size-mb=1 src/clip0.mov src/clip1.mov src/clip2.mov src/clip3.mov src/clip4.mov src/clip5.mov src/clip6.mov src/clip7.mov dst/"#,
        )
        .replace(
            "exec $ZCOPY",
            r#"ZCOPY_FAULT_DELAY_US=30000 LD_PRELOAD="$SHIM" exec $ZCOPY"#,
        ),
    );
    assert_silent_141(&result, "--json-lines -j 4");
    let mut replaced = 0;
    for (name, old) in names.iter().zip(&old) {
        let now = std::fs::read(d.join("dst").join(name)).unwrap();
        if now != *old {
            assert_same_content(&d.join("src").join(name), &d.join("dst").join(name));
            replaced += 1;
        }
    }
    assert!(
        (1..8).contains(&replaced),
        "{replaced} of 8 destinations replaced: the batch did not stop"
    );
    assert_no_debris(&d.join("dst"));
}

/// Stderr is a pipe too (`2>&1 >/dev/null | ...`, or a log reader that died): the same
/// quiet stop, where println-style printing panics (-vv logs each file there).
#[test]
fn a_closed_stderr_pipe_stops_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("many")).unwrap();
    for index in 0..20 {
        std::fs::write(d.join(format!("many/f{index:02}")), index.to_string()).unwrap();
    }
    let result = pipeline(
        d,
        None,
        &into_closed_pipe("-vv -r many out 2>&1 >/dev/null"),
    );
    assert_silent_141(&result, "-vv with stderr into a closed pipe");
    assert!(
        !d.join("out").exists() || list(&d.join("out")).is_empty(),
        "copies went on: {:?}",
        list(&d.join("out"))
    );
}

/// Closed descriptors (`>&- 2>&-`) are not closed pipes: the runtime opens /dev/null
/// on them, and zcopy copies and exits as usual (1 here, for the missing file), with no
/// message written into a file that took descriptor 2.
#[test]
fn closed_descriptors_are_not_a_closed_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_pattern(&d.join("a.mov"), MIB, 3);
    std::fs::create_dir(d.join("dir")).unwrap();
    let result = pipeline(
        d,
        None,
        r#"$ZCOPY --json missing a.mov dir/ >&- 2>&-
echo "$?" > status"#,
    );
    assert_eq!(result.status, 1, "{}", result.stderr);
    assert_same_content(&d.join("a.mov"), &d.join("dir/a.mov"));
    assert_eq!(list(&d.join("dir")), ["a.mov"]);
}

/// cp's `-v` lines go to stdout: a reader that went away stops the batch as for
/// `--json-lines`, quietly, exit 141.
#[test]
fn verbose_lines_into_a_closed_pipe_stop_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("many")).unwrap();
    for index in 0..20 {
        std::fs::write(d.join(format!("many/f{index:02}")), index.to_string()).unwrap();
    }
    let result = pipeline(d, None, &into_closed_pipe("-v -j1 -r many out"));
    assert_silent_141(&result, "-v into a closed pipe");
    assert!(
        !d.join("out").exists() || list(&d.join("out")).len() < 20,
        "copies went on: {:?}",
        list(&d.join("out"))
    );
}
