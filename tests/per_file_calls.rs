//! What zcopy asks the kernel for each file of a tree, traced with strace: the lean
//! path skips only the looks that cannot find anything.

mod common;

use std::path::Path;
use std::process::Command as StdCommand;

use common::*;

/// The calls of a run of zcopy with `args` in `cwd` that name a path, traced with
/// strace (one log for every thread, `-f`; each descriptor shown with its path, `-y`,
/// since zcopy names a file by its directory's descriptor and its last component).
fn traced_calls(cwd: &Path, args: &[&str]) -> Vec<String> {
    let log = cwd.join("calls.log");
    let output = StdCommand::new("strace")
        .args(["-f", "-qq", "-y", "-e", "trace=%file", "-o"])
        .arg(&log)
        .arg(env!("CARGO_BIN_EXE_zcopy"))
        .args(["--no-env-file", "-q"])
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let calls = std::fs::read_to_string(&log).unwrap();
    std::fs::remove_file(&log).unwrap();
    calls.lines().map(str::to_string).collect()
}

/// True for a rename call's line (`[pid N] ` may come first).
fn is_rename(call: &str) -> bool {
    let call = call.rsplit("] ").next().unwrap_or(call);
    let call = call.trim_start_matches(|c: char| c.is_ascii_digit() || c == ' ');
    call.starts_with("rename")
}

/// A tree of `files` small files in two directories.
fn small_tree(root: &Path, files: u64) {
    for index in 0..files {
        let directory = root.join(format!("d{}", index % 2));
        std::fs::create_dir_all(&directory).unwrap();
        write_pattern(&directory.join(format!("f{index}")), 1000 + index, index);
    }
}

/// Checks that file `index` of [`small_tree`] was copied from `src` to under `root`,
/// and returns the traced calls that name its destination.
fn calls_naming_copy<'a>(
    cwd: &Path,
    calls: &'a [String],
    root: &str,
    index: u64,
) -> Vec<&'a String> {
    let relative = format!("d{}/f{index}", index % 2);
    let destination = format!("{root}/{relative}");
    assert_same_content(&cwd.join("src").join(&relative), &cwd.join(&destination));
    // By its path, or by its directory's descriptor (`7</tmp/x/new/d1>, "f3"`).
    let by_path = format!("\"{destination}\"");
    let by_directory = format!("/{root}/d{}>, \"f{index}\"", index % 2);
    calls
        .iter()
        .filter(|call| call.contains(&by_path) || call.contains(&by_directory))
        .collect()
}

#[test]
fn files_in_directories_the_run_made_are_not_looked_for_first() {
    if !require_tool(
        "files_in_directories_the_run_made_are_not_looked_for_first",
        "strace",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    small_tree(&dir.path().join("src"), 20);
    // Each file installed on its own; a tree built hidden is the next test's.
    let calls = traced_calls(dir.path(), &["-r", "--whole-tree-mb=0", "src", "new"]);
    for index in 0..20 {
        let about = calls_naming_copy(dir.path(), &calls, "new", index);
        // The link that names the copy is the one call that names the destination.
        assert!(
            about.len() == 1 && about[0].contains("linkat("),
            "file {index}: {about:#?}"
        );
        // Each file is named by its directory's descriptor and last component: no call
        // walks the whole path of its source or destination again.
        let relative = format!("d{}/f{index}\"", index % 2);
        let by_whole_path: Vec<&String> = calls
            .iter()
            .filter(|call| call.contains(&relative))
            .collect();
        assert!(by_whole_path.is_empty(), "file {index}: {by_whole_path:#?}");
    }
}

#[test]
fn a_new_tree_built_hidden_creates_each_file_once_and_links_none() {
    if !require_tool(
        "a_new_tree_built_hidden_creates_each_file_once_and_links_none",
        "strace",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    small_tree(&dir.path().join("src"), 20);
    let calls = traced_calls(dir.path(), &["-r", "src", "new"]);
    // The one directory made under a hidden name, and renamed to `new` at the end.
    // (Made by path or in its parent's descriptor: `mkdirat(4</tmp/x>, ".new.…")`.)
    let made: Vec<&String> = calls
        .iter()
        .filter(|call| call.contains("mkdir") && call.contains(".new."))
        .collect();
    assert_eq!(made.len(), 3, "the tree and its two directories: {made:#?}");
    let hidden = made[0]
        .split('"')
        .nth(1)
        .expect("a quoted path")
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    assert!(
        hidden.starts_with(".new.") && hidden.ends_with(".zcopy-tmp"),
        "{hidden}"
    );
    let renamed: Vec<&String> = calls.iter().filter(|call| is_rename(call)).collect();
    assert_eq!(renamed.len(), 1, "{renamed:#?}");
    assert!(
        renamed[0].contains(&format!("/{hidden}\"")) && renamed[0].contains("\"new\""),
        "{}",
        renamed[0]
    );
    assert!(
        !calls
            .iter()
            .any(|call| call.contains("linkat(") || call.contains("O_TMPFILE")),
        "no file is linked in"
    );
    for index in 0..20 {
        let relative = format!("d{}/f{index}", index % 2);
        assert_same_content(
            &dir.path().join("src").join(&relative),
            &dir.path().join("new").join(&relative),
        );
        // Named by its directory's descriptor in the hidden tree, once: its create.
        let by_directory = format!("{hidden}/d{}>, \"f{index}\"", index % 2);
        let about: Vec<&String> = calls
            .iter()
            .filter(|call| call.contains(&by_directory))
            .collect();
        assert!(
            about.len() == 1 && about[0].contains("O_CREAT|O_EXCL"),
            "file {index}: {about:#?}"
        );
    }
}

#[test]
fn a_run_larger_than_the_whole_tree_limit_installs_file_by_file() {
    if !require_tool(
        "a_run_larger_than_the_whole_tree_limit_installs_file_by_file",
        "strace",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    small_tree(&dir.path().join("src"), 20);
    // 2 MiB against a limit of 1, found by the walk whether or not bars are drawn
    // (without them the walk stats no file for the bars' totals).
    write_pattern(&dir.path().join("src/d0/big"), 2 * MIB, 99);
    for args in [
        ["-r", "--whole-tree-mb=1", "--no-progress"],
        ["-r", "--whole-tree-mb=1", "--progress"],
    ] {
        let calls = traced_calls(dir.path(), &[&args[..], &["src", "new"]].concat());
        assert!(
            !calls.iter().any(|call| call.contains("/.new.")),
            "{args:?}: nothing hidden"
        );
        for index in 0..20 {
            let about = calls_naming_copy(dir.path(), &calls, "new", index);
            assert!(
                about.len() == 1 && about[0].contains("linkat("),
                "{args:?}, file {index}: {about:#?}"
            );
        }
        std::fs::remove_dir_all(dir.path().join("new")).unwrap();
    }
}

#[test]
fn files_in_existing_directories_are_looked_at_before_they_are_replaced() {
    if !require_tool(
        "files_in_existing_directories_are_looked_at_before_they_are_replaced",
        "strace",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    small_tree(&dir.path().join("src"), 6);
    std::fs::create_dir_all(dir.path().join("old/d0")).unwrap();
    std::fs::write(dir.path().join("old/d0/f0"), "kept").unwrap();
    // old/d1 is new in this run, old/d0 is not: -n keeps the file that was there.
    let calls = traced_calls(
        dir.path(),
        &["-r", "-n", "-T", "--whole-tree-mb=0", "src", "old"],
    );
    assert_eq!(
        std::fs::read(dir.path().join("old/d0/f0")).unwrap(),
        b"kept"
    );
    for index in 1..6 {
        let looked = calls_naming_copy(dir.path(), &calls, "old", index)
            .iter()
            .any(|call| !call.contains("linkat("));
        assert_eq!(looked, index % 2 == 0, "file {index}");
    }
}
