//! `completions/` and the man pages in `man/` (`zcopy.1`, and one page per subcommand:
//! `zcopy-doctor.1`, `zcopy-bench.1`) are generated from the clap definitions in
//! `src/cli.rs` and committed. This test fails when they are stale; regenerate with
//! `ZCOPY_BLESS=1 cargo test --test generated`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use clap::CommandFactory;
use clap_complete::Shell;
use roff::{bold, roman, Roff};
use zcopy::cli::Cli;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn rendered() -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for (shell, name) in [
        (Shell::Bash, "zcopy.bash"),
        (Shell::Zsh, "_zcopy"),
        (Shell::Fish, "zcopy.fish"),
    ] {
        let mut text = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "zcopy", &mut text);
        files.push((root().join("completions").join(name), text));
    }
    for (name, page) in man_pages() {
        files.push((root().join("man").join(name), page.into_bytes()));
    }
    files
}

/// The man pages, by file name: `zcopy.1`, then one page per subcommand.
///
/// clap_mangen renders each command; on top of that every page gets `.nh` and `.ad l`
/// (no hyphenation, ragged right: option names and numbers must not be split or
/// stretched), the after-help text becomes real sections (ENVIRONMENT, JSON, EXIT
/// STATUS) whose tables are tagged paragraphs that wrap within their column, and a
/// SEE ALSO section names the other pages. `zcopy help` has no page: it prints what
/// `--help` prints, so it is left out of the pages.
fn man_pages() -> Vec<(String, String)> {
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    let subcommands: Vec<clap::Command> = command.get_subcommands().cloned().collect();
    let page_name = |command: &clap::Command| {
        command
            .get_display_name()
            .unwrap_or(command.get_name())
            .to_string()
    };
    let mut names = vec![page_name(&command)];
    names.extend(subcommands.iter().map(page_name));

    let mut pages = Vec::new();
    for command in std::iter::once(command.clone()).chain(subcommands) {
        let name = page_name(&command);
        let see_also: Vec<&str> = names
            .iter()
            .map(String::as_str)
            .filter(|other| *other != name)
            .collect();
        let after_help = command
            .get_after_long_help()
            .or(command.get_after_help())
            .map(|text| text.to_string());
        let mut page = Vec::new();
        clap_mangen::Man::new(command)
            .source(format!("zcopy {}", env!("CARGO_PKG_VERSION")))
            .render(&mut page)
            .expect("man page renders");
        let page = String::from_utf8(page).expect("man page is UTF-8");
        let page = finish_page(&page, after_help.as_deref(), &see_also);
        pages.push((format!("{name}.1"), page));
    }
    pages
}

/// `roff` rendered without the preamble that [`Roff::render`] puts before every
/// document (a definition of the apostrophe string): the page has it already.
fn without_preamble(roff: &Roff) -> String {
    let text = roff.render();
    text.lines()
        .skip_while(|line| line.starts_with(".ie \\n(.g") || line.starts_with(".el .ds Aq"))
        .map(|line| format!("{line}\n"))
        .collect()
}

/// clap_mangen's `page` with the additions described at [`man_pages`]; `after_help` is
/// the command's text that clap_mangen put in its EXTRA section.
fn finish_page(page: &str, after_help: Option<&str>, see_also: &[&str]) -> String {
    let (head, body) = page
        .split_once("\n.SH NAME\n")
        .expect("the page has a NAME section");
    // clap_mangen writes a short-only flag as `[-p ]`, which can break between the two.
    let body = body.replace(" \\fR]", "\\fR]");
    let mut page = format!("{head}\n.nh\n.ad l\n.SH NAME\n{body}");
    if let (Some(start), Some(after_help)) = (page.find(".SH EXTRA\n"), after_help) {
        let end = page[start + 1..]
            .find("\n.SH ")
            .map_or(page.len(), |offset| start + 1 + offset + 1);
        page.replace_range(
            start..end,
            &without_preamble(&after_help_sections(after_help)),
        );
    }
    assert!(
        !page.contains(".SH EXTRA"),
        "an EXTRA section was left as it was"
    );
    let mut roff = Roff::new();
    roff.control("SH", ["SEE ALSO"]);
    let mut references = Vec::new();
    for (index, name) in see_also.iter().enumerate() {
        if index > 0 {
            references.push(roman(", "));
        }
        references.push(bold(*name));
        references.push(roman("(1)"));
    }
    roff.text(references);
    page.push_str(&without_preamble(&roff));
    page
}

/// The after-help text as man sections. It is made of blocks separated by blank lines:
/// a heading, `Name (note):` or `Name: text`, then rows `  KEY   description` (a
/// description may continue on lines indented further) and plain lines.
fn after_help_sections(text: &str) -> Roff {
    let mut roff = Roff::new();
    for block in text.split("\n\n") {
        let mut lines = block.lines();
        let heading = lines.next().expect("a block has a heading");
        let Some(heading) = heading.strip_suffix(':') else {
            // `Name: text`, the text going on over the block's other lines.
            let (name, text) = heading
                .split_once(": ")
                .expect("a heading is `Name:` or `Name: text`");
            let text: Vec<&str> = std::iter::once(text).chain(lines.map(str::trim)).collect();
            roff.control("SH", [name.to_uppercase().as_str()]);
            roff.text([roman(sentence(&text.join(" ")))]);
            continue;
        };
        let (name, note) = match heading.split_once(" (") {
            Some((name, note)) => (name, sentence(note.trim_end_matches(')'))),
            None => (heading, String::new()),
        };
        roff.control("SH", [name.to_uppercase().as_str()]);
        if !note.is_empty() {
            roff.text([roman(note)]);
        }
        let mut rows: Vec<(String, String)> = Vec::new();
        let mut paragraph = Vec::new();
        for line in lines {
            let indent = line.len() - line.trim_start().len();
            let content = line.trim();
            match content.split_once("  ") {
                Some((key, description)) if indent == 2 => {
                    rows.push((key.to_string(), description.trim().to_string()))
                }
                _ if indent > 2 && paragraph.is_empty() && !rows.is_empty() => {
                    let description = &mut rows.last_mut().expect("a row").1;
                    description.push(' ');
                    description.push_str(content);
                }
                _ => paragraph.push(content),
            }
        }
        let width = rows.iter().map(|(key, _)| key.len()).max().unwrap_or(0) + 2;
        for (index, (key, description)) in rows.iter().enumerate() {
            if index == 1 {
                // A table: no blank line between its rows.
                roff.control("PD", ["0"]);
            }
            roff.control("TP", [format!("{width}n").as_str()]);
            roff.text([bold(key.as_str())]);
            roff.text([roman(description.as_str())]);
        }
        if rows.len() > 1 {
            roff.control("PD", []);
        }
        if !paragraph.is_empty() {
            roff.control("PP", []);
            roff.text([roman(paragraph.join(" "))]);
        }
    }
    roff
}

/// `flags win over ...` as a sentence: `Flags win over ....`
fn sentence(text: &str) -> String {
    let mut chars = text.trim().chars();
    let mut sentence: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !sentence.ends_with(['.', '!', '?']) {
        sentence.push('.');
    }
    sentence
}

#[test]
fn committed_completions_and_man_pages_are_current() {
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
    let generated: Vec<String> = man_pages().into_iter().map(|(name, _)| name).collect();
    for entry in std::fs::read_dir(root().join("man")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            generated.contains(&name),
            "man/{name} is not generated any more: remove it"
        );
    }
}

#[test]
fn the_man_page_documents_every_flag_and_variable() {
    let pages = man_pages();
    let man = &pages
        .iter()
        .find(|(name, _)| name == "zcopy.1")
        .expect("zcopy.1 is generated")
        .1;
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
    for section in [".SH ENVIRONMENT", ".SH \"EXIT STATUS\"", ".SH \"SEE ALSO\""] {
        assert!(man.contains(section), "man page lacks {section}");
    }
    assert!(man.contains("130"), "man page lacks the exit codes");
}

/// The page references (`name(1)`) in a page's roff source, with the section each is in.
fn references(page: &str) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    let mut section = String::new();
    for line in page.lines() {
        if let Some(heading) = line.strip_prefix(".SH ") {
            section = heading.trim_matches('"').to_string();
            continue;
        }
        let plain = line
            .replace("\\fB", "")
            .replace("\\fR", "")
            .replace("\\fI", "")
            .replace("\\-", "-");
        let mut rest = plain.as_str();
        while let Some(open) = rest.find('(') {
            let name_start = rest[..open]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                .map_or(0, |index| index + 1);
            let name = &rest[name_start..open];
            let after = &rest[open + 1..];
            let number: String = after.chars().take_while(char::is_ascii_digit).collect();
            if !name.is_empty() && !number.is_empty() && after[number.len()..].starts_with(')') {
                found.push((section.clone(), name.to_string(), number));
            }
            rest = after;
        }
    }
    found
}

/// Every page named in SUBCOMMANDS or SEE ALSO, and every zcopy page named anywhere, is
/// a file in `man/`: no reference leads nowhere (`zcopy-help(1)` used to).
#[test]
fn every_page_the_man_pages_name_is_in_man() {
    let mut checked = 0;
    for (name, page) in man_pages() {
        assert!(
            root().join("man").join(&name).is_file(),
            "man/{name} is missing"
        );
        let mut see_also = 0;
        for (section, reference, number) in references(&page) {
            if section == "SEE ALSO" {
                see_also += 1;
            }
            if section == "SEE ALSO" || section == "SUBCOMMANDS" || reference.starts_with("zcopy") {
                let file = root().join("man").join(format!("{reference}.{number}"));
                assert!(
                    file.is_file(),
                    "man/{name}: {section} names {reference}({number}), but {} does not exist",
                    file.display()
                );
                checked += 1;
            }
        }
        assert!(see_also > 0, "man/{name} has no SEE ALSO entry");
    }
    assert!(checked >= 4, "only {checked} references checked");
}

/// `man -l` renders every page at 80 columns without a word broken by a hyphen (`de‐
/// fault`) and with the tables as tables: each variable on the same line as the start
/// of its description. groff's own warnings (`man --warnings`) must be silent.
#[test]
fn the_man_pages_render_without_broken_words() {
    if !common::require_tool("the_man_pages_render_without_broken_words", "man") {
        return;
    }
    for (name, _) in man_pages() {
        let output = StdCommand::new("man")
            .args(["--warnings", "-l"])
            .arg(root().join("man").join(&name))
            .env("MANWIDTH", "80")
            .env("LANG", "C.UTF-8")
            .env("LC_ALL", "C.UTF-8")
            .env_remove("MANPAGER")
            .env_remove("PAGER")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        let warnings = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "man -l man/{name}: {warnings}");
        assert!(warnings.trim().is_empty(), "man/{name}: {warnings}");
        for (number, line) in text.lines().enumerate() {
            assert!(
                !line.contains('\u{2010}'),
                "man/{name}, rendered line {}: a word broken by hyphenation: {line:?}",
                number + 1
            );
            assert!(
                line.chars().count() <= 80,
                "man/{name}, rendered line {} is wider than 80 columns: {line:?}",
                number + 1
            );
        }
        assert!(text.contains("SEE ALSO"), "man/{name} rendered as:\n{text}");
        if name == "zcopy.1" {
            for variable in zcopy::config::known_variables() {
                assert!(
                    text.lines().any(|line| {
                        line.trim_start()
                            .strip_prefix(variable)
                            .is_some_and(|rest| rest.starts_with("  ") && !rest.trim().is_empty())
                    }),
                    "{variable} is not a row of the ENVIRONMENT table:\n{text}"
                );
            }
        }
    }
}

/// What a user reads (`--help`, the README, `.env.example`, the man pages and
/// completions) says what a rule is in zcopy's own words, never "the spec's check":
/// a user has never seen a spec. Nor does it speak of the engine's "rungs".
#[test]
fn what_users_read_never_points_to_a_spec() {
    let mut texts = Vec::new();
    for args in [&["--help"][..], &["doctor", "--help"], &["bench", "--help"]] {
        let output = StdCommand::new(env!("CARGO_BIN_EXE_zcopy"))
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success());
        texts.push((
            format!("zcopy {}", args.join(" ")),
            String::from_utf8(output.stdout).unwrap(),
        ));
    }
    let mut files = vec![root().join("README.md"), root().join(".env.example")];
    for dir in ["man", "completions"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            files.push(entry.unwrap().path());
        }
    }
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        texts.push((file.display().to_string(), text));
    }
    for (origin, text) in texts {
        let words = text
            .split(|c: char| !(c.is_alphanumeric() || c == '\''))
            .map(|word| word.trim_matches('\'').to_lowercase());
        for word in words {
            assert!(
                !matches!(
                    word.as_str(),
                    "spec" | "spec's" | "specs" | "rung" | "rungs"
                ),
                "{origin} says {word:?}: say what the rule is instead"
            );
        }
    }
}
