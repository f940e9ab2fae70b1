//! `completions/` and `man/zcopy.1` are generated from the clap definitions in
//! `src/cli.rs` and committed. This test fails when they are stale; regenerate with
//! `ZCOPY_BLESS=1 cargo test --test generated`.

use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;
use zcopy::cli::Cli;

fn rendered() -> Vec<(PathBuf, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for (shell, name) in [
        (Shell::Bash, "zcopy.bash"),
        (Shell::Zsh, "_zcopy"),
        (Shell::Fish, "zcopy.fish"),
    ] {
        let mut text = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "zcopy", &mut text);
        files.push((root.join("completions").join(name), text));
    }
    let mut man = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut man)
        .expect("man page renders");
    files.push((root.join("man/zcopy.1"), man));
    files
}

#[test]
fn committed_completions_and_man_page_are_current() {
    let bless = std::env::var_os("ZCOPY_BLESS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for (path, text) in rendered() {
        if bless {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read(&path).ok().as_ref() != Some(&text) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "stale generated files {stale:?}: run `ZCOPY_BLESS=1 cargo test --test generated` and commit them"
    );
}

#[test]
fn the_man_page_documents_every_flag_and_variable() {
    let mut man = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut man)
        .unwrap();
    let man = String::from_utf8(man).unwrap();
    for word in [
        "\\-\\-reflink",
        "\\-\\-files\\-from",
        "\\-\\-no\\-zero\\-copy",
        "\\-\\-json",
    ] {
        assert!(man.contains(word), "man page lacks {word}");
    }
    for variable in zcopy::config::known_variables() {
        assert!(man.contains(variable), "man page lacks {variable}");
    }
    assert!(man.contains("130"), "man page lacks the exit codes");
}
