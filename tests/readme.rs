//! Every `sh` example in README.md runs, as written, and succeeds. Blocks marked
//! `sh install` (the quick start) run from the checkout with a private install root;
//! `sh no-run` marks the test command itself, which is this suite.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use common::*;

struct Example {
    line: usize,
    kind: String,
    script: String,
}

fn examples() -> Vec<Example> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let mut examples = Vec::new();
    let mut current: Option<Example> = None;
    for (index, line) in readme.lines().enumerate() {
        match (&mut current, line.strip_prefix("```")) {
            (None, Some(info)) if info == "sh" || info.starts_with("sh ") => {
                current = Some(Example {
                    line: index + 1,
                    kind: info.trim_start_matches("sh").trim().to_string(),
                    script: String::new(),
                })
            }
            (Some(_), Some("")) => examples.push(current.take().unwrap()),
            (Some(example), _) => {
                example.script.push_str(line);
                example.script.push('\n');
            }
            _ => {}
        }
    }
    assert!(current.is_none(), "unclosed code block in README.md");
    examples
}

/// A directory holding `zcopy` (the binary under test) to put first on PATH.
fn bin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_zcopy"), dir.path().join("zcopy")).unwrap();
    dir
}

fn path_with(dir: &Path) -> std::ffi::OsString {
    let mut paths = vec![dir.to_path_buf()];
    paths.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(paths).unwrap()
}

fn run(example: &Example, cwd: &Path, path: &std::ffi::OsStr, home: &Path) {
    let mut command = StdCommand::new("bash");
    command
        .args(["-euo", "pipefail", "-c", &example.script])
        .current_dir(cwd)
        .env("PATH", path)
        .env("HOME", home)
        .env("ZCOPY_REPO", env!("CARGO_MANIFEST_DIR"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ZERO_COPY_") {
            command.env_remove(key);
        }
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "README.md line {}: the example failed ({}):\n{}\nstdout:\n{}\nstderr:\n{}",
        example.line,
        output.status,
        example.script,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn every_readme_example_runs() {
    if !require_tool("every_readme_example_runs", "jq") {
        return;
    }
    let bin = bin_dir();
    let path = path_with(bin.path());
    let examples: Vec<Example> = examples()
        .into_iter()
        .filter(|e| e.kind.is_empty())
        .collect();
    assert!(
        examples.len() >= 5,
        "found only {} examples",
        examples.len()
    );
    for example in &examples {
        let cwd = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        run(example, cwd.path(), &path, home.path());
    }
}

#[test]
fn the_test_command_in_the_readme_is_what_ci_runs() {
    let no_run: Vec<Example> = examples()
        .into_iter()
        .filter(|e| e.kind == "no-run")
        .collect();
    assert_eq!(no_run.len(), 1, "only the test command may be left unrun");
    assert_eq!(no_run[0].script.trim(), "bash .ci/test");
    let ci =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/run")).unwrap();
    let lines: Vec<&str> = ci.lines().map(str::trim).collect();
    let test = lines
        .iter()
        .position(|line| line.starts_with("bash .ci/test"))
        .expect(".ci/run must call the README's test command");
    assert!(
        lines[test..]
            .iter()
            .any(|line| line.starts_with("bash .ci/check-fixtures")),
        ".ci/run must check after the suite that the fixtures released everything"
    );
}

/// Every jq filter in the README is quoted: unquoted, `.files[0].method` is a glob to
/// zsh ("no matches found") and to bash when a file matches it.
#[test]
fn every_jq_filter_in_the_readme_is_quoted() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let mut in_code = false;
    let mut filters = 0;
    for (index, line) in readme.lines().enumerate() {
        if line.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if !in_code {
            continue;
        }
        for (at, _) in line.match_indices("jq ") {
            if at > 0 && !line[..at].ends_with([' ', '|']) {
                continue;
            }
            let filter = line[at + 3..]
                .split_whitespace()
                .find(|word| !word.starts_with('-'))
                .unwrap_or("");
            assert!(
                filter.starts_with('\'') || filter.starts_with('"'),
                "README.md line {}: unquoted jq filter {filter:?}: {line}",
                index + 1
            );
            filters += 1;
        }
    }
    assert!(filters >= 5, "found only {filters} jq filters");
}

/// The quick start as a new user runs it: `cargo install --path .` into a private
/// root, then the sample copy with the installed binary.
#[test]
fn the_quick_start_installs_and_runs() {
    let install: Vec<Example> = examples()
        .into_iter()
        .filter(|e| e.kind == "install")
        .collect();
    assert_eq!(install.len(), 1);
    let root = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let demo = repo.join("zcopy-demo");
    let _ = std::fs::remove_dir_all(&demo);
    let mut example = Example {
        line: install[0].line,
        kind: String::new(),
        script: install[0].script.clone(),
    };
    // Same command; only where cargo puts things differs, through cargo's own
    // variables, so the test neither touches ~/.cargo nor rebuilds from nothing twice.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("readme-install");
    example.script = format!(
        "export CARGO_INSTALL_ROOT='{}' CARGO_TARGET_DIR='{}'\n{}",
        root.path().display(),
        target.display(),
        example.script
    );
    run(
        &example,
        &repo,
        &path_with(&root.path().join("bin")),
        home.path(),
    );
    assert_same_content(&demo.join("master.mkv"), &demo.join("copy.mkv"));
    std::fs::remove_dir_all(&demo).unwrap();
}
