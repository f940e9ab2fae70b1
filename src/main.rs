//! The `zcopy` binary: parse, configure, plan, run, report, exit.

use std::io::IsTerminal;
use std::process::ExitCode;

use zcopy::cli::{Cli, ColorChoice, Command};
use zcopy::config::Config;
use zcopy::error::{quoted, shown};
use zcopy::interrupt;
use zcopy::output::{self, EXIT_CLOSED};
use zcopy::report::{Format, Painter, PathRecord};

/// Usage and configuration errors: nothing was copied.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse_ordered();
    let code = match run(&cli) {
        Ok(code) => code,
        Err(err) => {
            output::stderr_line(&Painter::new(color_enabled(cli.color)).error(&format!("{err:#}")));
            EXIT_USAGE
        }
    };
    ExitCode::from(if output::closed() {
        EXIT_CLOSED
    } else if output::failed() {
        code.max(1)
    } else {
        code
    })
}

/// Does what the command line asks; returns the exit status (before a closed or failed
/// output is taken into account, in `main`).
fn run(cli: &Cli) -> anyhow::Result<u8> {
    if cli.clean {
        return clean(cli);
    }
    let painter = Painter::new(color_enabled(cli.color));
    let (mut config, warnings) = Config::load(&cli.overrides(), &cli.env_file())?;
    if cli.mhl && cli.hash_none() {
        anyhow::bail!("--mhl records hashes: it cannot work with --hash none");
    }
    if cli.mhl && cli.attributes_only {
        anyhow::bail!(
            "--mhl records the data copied: it cannot work with --attributes-only, which copies none"
        );
    }
    if cli.mhl && config.hash.is_none() {
        config.hash = Some(zcopy::hash::Algorithm::Xxh64);
    }
    if !cli.quiet {
        for warning in warnings {
            output::stderr_line(&painter.warning(&warning));
        }
    }
    if let Some(Command::Doctor {
        source,
        destination,
        json,
    }) = &cli.command
    {
        let source = source.clone().unwrap_or_else(|| ".".into());
        let destination = destination.clone().unwrap_or_else(|| source.clone());
        let diagnosis =
            zcopy::doctor::diagnose(&source, &destination, &config).map_err(anyhow::Error::msg)?;
        if *json {
            output::stdout_line(&serde_json::to_string_pretty(&diagnosis).expect("serializes"));
        } else {
            output::stdout(&diagnosis.render());
        }
        return Ok(0);
    }
    if let Some(command @ Command::Bench { .. }) = &cli.command {
        return bench(&config, command);
    }
    if let Some(Command::Verify {
        directories,
        json,
        jobs,
        verbose,
    }) = &cli.command
    {
        interrupt::install()?;
        let jobs = jobs.unwrap_or(config.jobs) as usize;
        let show = zcopy::offload::Show {
            json: *json,
            verbose: *verbose,
            quiet: cli.quiet,
        };
        return Ok(zcopy::offload::verify_command(
            directories,
            jobs,
            show,
            &painter,
        ));
    }
    if cli.print_config {
        print_config(&config, cli.json || cli.json_lines);
        return Ok(0);
    }
    if !cli.quiet {
        for position in cli.repeated_sources() {
            let path = quoted(&cli.paths[position]);
            output::stderr_line(
                &painter.warning(&format!("source {path} specified more than once")),
            );
        }
    }
    let entries = cli.plan(cli.whole_tree_bytes(&config))?;
    // -i needs a terminal only when there is something to ask about.
    if cli.interactive && !std::io::stdin().is_terminal() {
        if let Some(existing) = zcopy::batch::first_existing_destination(&entries) {
            anyhow::bail!(
                "-i would ask before replacing {}, but stdin is not a terminal; use -n to keep existing files, or leave out -i to replace them",
                quoted(existing)
            );
        }
    }
    if cli.no_clobber && (cli.backup.is_some() || cli.suffix.is_some()) {
        anyhow::bail!("options --backup and --no-clobber are mutually exclusive");
    }
    let backup = cli.backup().map_err(anyhow::Error::msg)?;
    if cli.sparse != zcopy::engine::Sparse::Auto && config.reflink == zcopy::config::Reflink::Always
    {
        anyhow::bail!("--reflink=always can be used only with --sparse=auto");
    }
    // --method names one mechanism; one that --reflink rules out would either break its
    // promise (a clone, or copy_file_range's silent one, under never) or fail every file
    // (anything but a clone under always).
    if let Some(method) = cli.method {
        use zcopy::cli::MethodChoice;
        use zcopy::config::Reflink;
        let contradicts = match config.reflink {
            Reflink::Never => matches!(method, MethodChoice::Clone | MethodChoice::CopyFileRange),
            Reflink::Always => method != MethodChoice::Clone,
            Reflink::Auto => false,
        };
        if contradicts {
            anyhow::bail!(
                "--method {} cannot be used with --reflink={} (ZERO_COPY_REFLINK): {}",
                value_name(&method),
                value_name(&config.reflink),
                if config.reflink == Reflink::Never {
                    "it may share blocks"
                } else {
                    "it is not a clone"
                }
            );
        }
    }
    if cli.verbose > 1 {
        for line in config.describe() {
            output::stderr_line(&format!("zcopy: {line}"));
        }
    }

    interrupt::install()?;
    let format = cli.format();
    let show_progress = cli.show_progress();
    let mut batch = cli.batch(&config, show_progress, backup, painter);
    if cli.target_directory.len() > 1 {
        batch.destinations = cli.target_directory.clone();
    }
    let offload = zcopy::offload::Offload {
        mhl: cli.mhl,
        resume: cli.resume,
        quiet: cli.quiet,
    };
    // A refused offload copied nothing: its problems are on stderr already, and only
    // the JSON forms, which promise a document, print its report.
    let (report, ran) = match zcopy::offload::run(entries, &batch, offload) {
        zcopy::offload::Outcome::Ran(report) => (report, true),
        zcopy::offload::Outcome::Refused(report) => (report, false),
    };
    match format {
        Format::Json => output::stdout_line(&report.to_json()),
        Format::JsonLines => output::stdout_line(&report.final_json_line()),
        Format::Summary if ran && !cli.quiet => output::stderr_line(&report.summary()),
        Format::Summary => {}
    }
    Ok(report.exit_code() as u8)
}

/// `zcopy --clean DIR...`: removes leftover temporary files, prints each one removed.
fn clean(cli: &Cli) -> anyhow::Result<u8> {
    if cli.paths.is_empty() {
        anyhow::bail!("--clean needs at least one directory");
    }
    // --json and --json-lines: one document on stdout, and nothing else there.
    let json = cli.json || cli.json_lines;
    let mut document = zcopy::report::CleanReport {
        version: zcopy::report::JSON_VERSION,
        ..Default::default()
    };
    for directory in &cli.paths {
        let cleaned = zcopy::atomic::clean(directory, cli.recursive);
        for path in cleaned.removed {
            if json {
                document.removed.push(PathRecord::new(&path));
            } else {
                output::stdout_line(&shown(&path));
            }
        }
        for path in cleaned.in_use {
            output::stderr_line(&format!(
                "zcopy: {}: in use by a running zcopy; left as it is",
                shown(&path)
            ));
            document.in_use.push(PathRecord::new(&path));
        }
        for error in cleaned.errors {
            output::stderr_line(&format!("zcopy: {error}"));
            document
                .errors
                .push(zcopy::report::ErrorRecord::new(&error.path, None, &error));
        }
    }
    if json {
        output::stdout_line(&serde_json::to_string_pretty(&document).expect("serializes"));
    }
    Ok(u8::from(!document.errors.is_empty()))
}

/// How a choice is spelt on the command line (`copy-file-range`).
fn value_name(value: &impl clap::ValueEnum) -> String {
    value
        .to_possible_value()
        .map(|possible| possible.get_name().to_string())
        .unwrap_or_default()
}

/// `--color`, with `NO_COLOR` (any non-empty value) turning `auto` off.
fn color_enabled(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
                && std::io::stderr().is_terminal()
        }
    }
}

/// `--print-config`: each setting's value and where it came from.
fn print_config(config: &Config, json: bool) {
    if json {
        output::stdout_line(&serde_json::to_string_pretty(&config.to_json()).expect("serializes"));
    } else {
        for line in config.describe() {
            output::stdout_line(&line);
        }
    }
}

/// `zcopy bench`: measures, prints the tables (or JSON), exits 0.
#[cfg(target_os = "linux")]
fn bench(config: &Config, command: &Command) -> anyhow::Result<u8> {
    let (options, json) = command
        .bench_options(config)
        .expect("called for the bench subcommand");
    interrupt::install()?;
    let report = match zcopy::bench::run(&options, &|line| {
        output::stderr_line(&format!("zcopy bench: {line}"))
    }) {
        Ok(report) => report,
        Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {
            output::stderr_line("zcopy bench: interrupted; its files are removed");
            return Ok(130);
        }
        Err(err) => anyhow::bail!("{}: bench: {err}", shown(&options.directory)),
    };
    if json {
        output::stdout_line(&serde_json::to_string_pretty(&report).expect("serializes"));
    } else {
        output::stdout(&report.render());
    }
    Ok(0)
}

#[cfg(not(target_os = "linux"))]
fn bench(_config: &Config, _command: &Command) -> anyhow::Result<u8> {
    anyhow::bail!("zcopy bench runs on Linux only")
}
