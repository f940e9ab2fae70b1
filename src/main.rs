//! The `zcopy` binary: parse, configure, plan, run, report, exit.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use zcopy::cli::{Cli, ColorChoice, Command};
use zcopy::config::Config;
use zcopy::report::{Format, Painter};
use zcopy::{interrupt, plan, Batch};

/// Usage and configuration errors: nothing was copied.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!(
                "{}",
                Painter::new(color_enabled(cli.color)).error(&format!("{err:#}"))
            );
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    if cli.clean {
        return clean(cli);
    }
    let painter = Painter::new(color_enabled(cli.color));
    let (config, warnings) = Config::load(&cli.overrides(), &cli.env_file())?;
    if !cli.quiet {
        for warning in warnings {
            eprintln!("{}", painter.warning(&warning));
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
            println!(
                "{}",
                serde_json::to_string_pretty(&diagnosis).expect("serializes")
            );
        } else {
            print!("{}", diagnosis.render());
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(command @ Command::Bench { .. }) = &cli.command {
        return bench(&config, command);
    }
    if cli.print_config {
        print_config(&config, cli.json);
        return Ok(ExitCode::SUCCESS);
    }
    let entries = match &cli.files_from {
        Some(list) => {
            let [destination] = cli.paths.as_slice() else {
                anyhow::bail!("--files-from takes exactly one PATH: the destination directory");
            };
            if cli.interactive && list.as_os_str() == "-" {
                anyhow::bail!(
                    "-i cannot ask questions on stdin while --files-from reads the list from it"
                );
            }
            plan::from_list(
                &plan::read_list(list, cli.null)?,
                destination,
                &cli.plan_options(),
            )?
        }
        None => plan::from_arguments(&cli.paths, &cli.plan_options())?,
    };
    if cli.interactive && !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "-i asks before replacing files, but stdin is not a terminal; use -n to keep existing files, or leave out -i to replace them"
        );
    }
    if cli.verbose > 0 {
        for line in config.describe() {
            eprintln!("zcopy: {line}");
        }
    }

    interrupt::install()?;
    let format = cli.format();
    let show_progress = cli.progress().unwrap_or_else(|| {
        format == Format::Summary && !cli.quiet && std::io::stderr().is_terminal()
    });
    let mut batch = Batch::new(&config, show_progress);
    batch.options.no_clobber = cli.no_clobber;
    batch.options.update = cli.update;
    batch.options.preserve = cli.preserve();
    batch.interactive = cli.interactive;
    batch.jobs = config.jobs as usize;
    batch.options.forced_method = cli.method.map(Into::into);
    batch.verbose = cli.verbose > 0;
    batch.format = format;
    batch.painter = painter;
    let report = zcopy::run(entries, &batch);

    match format {
        Format::Json => println!("{}", report.to_json()),
        Format::JsonLines => println!("{}", report.final_json_line()),
        Format::Summary if !cli.quiet => eprintln!("{}", report.summary()),
        Format::Summary => {}
    }
    Ok(ExitCode::from(report.exit_code() as u8))
}

/// `zcopy --clean DIR...`: removes leftover temporary files, prints each one removed.
fn clean(cli: &Cli) -> anyhow::Result<ExitCode> {
    if cli.paths.is_empty() {
        anyhow::bail!("--clean needs at least one directory");
    }
    let mut failed = false;
    for directory in &cli.paths {
        let (removed, errors) = zcopy::atomic::clean(directory, cli.recursive);
        for path in removed {
            println!("{}", path.display());
        }
        for error in errors {
            eprintln!("zcopy: {error}");
            failed = true;
        }
    }
    Ok(ExitCode::from(u8::from(failed)))
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
        println!(
            "{}",
            serde_json::to_string_pretty(&config.to_json()).expect("serializes")
        );
    } else {
        for line in config.describe() {
            println!("{line}");
        }
    }
}

/// `zcopy bench`: measures, prints the tables (or JSON), exits 0.
#[cfg(target_os = "linux")]
fn bench(config: &Config, command: &Command) -> anyhow::Result<ExitCode> {
    let Command::Bench {
        directories,
        quick,
        sizes,
        rounds,
        files,
        frames,
        json,
    } = command
    else {
        unreachable!("called for the bench subcommand")
    };
    let (quick, rounds, files, json) = (*quick, *rounds, *files, *json);
    let (directory, further) = match directories.split_first() {
        Some((first, further)) => (first.clone(), further.to_vec()),
        None => (std::env::temp_dir(), Vec::new()),
    };
    let mut options = zcopy::bench::BenchOptions::new(directory, quick, config.jobs as usize);
    options.tree_directories = further;
    if let Some(frames) = frames {
        options.frames = *frames as usize;
    }
    if let Some(sizes) = sizes {
        options.sizes = sizes.0.clone();
    }
    if let Some(rounds) = rounds {
        options.rounds = rounds as usize;
    }
    if let Some(files) = files {
        options.small_files = files as usize;
        options.tiny_files = 10 * files as usize;
    }
    interrupt::install()?;
    let report = match zcopy::bench::run(&options, &|line| eprintln!("zcopy bench: {line}")) {
        Ok(report) => report,
        Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {
            eprintln!("zcopy bench: interrupted; its files are removed");
            return Ok(ExitCode::from(130));
        }
        Err(err) => anyhow::bail!("{}: bench: {err}", options.directory.display()),
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serializes")
        );
    } else {
        print!("{}", report.render());
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(target_os = "linux"))]
fn bench(_config: &Config, _command: &Command) -> anyhow::Result<ExitCode> {
    anyhow::bail!("zcopy bench runs on Linux only")
}
