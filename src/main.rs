//! The `zcopy` binary: parse, configure, plan, run, report, exit.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use zcopy::cli::Cli;
use zcopy::config::Config;
use zcopy::{interrupt, plan, Batch};

/// Usage and configuration errors: nothing was copied.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("zcopy: {err:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    if cli.clean {
        return clean(cli);
    }
    let (config, warnings) = Config::load(&cli.overrides(), &cli.env_file())?;
    for warning in warnings {
        eprintln!("zcopy: warning: {warning}");
    }
    let entries = match &cli.files_from {
        Some(list) => {
            let [destination] = cli.paths.as_slice() else {
                anyhow::bail!("--files-from takes exactly one PATH: the destination directory");
            };
            plan::from_list(
                &plan::read_list(list, cli.null)?,
                destination,
                cli.recursive,
            )?
        }
        None => plan::from_arguments(&cli.paths, cli.recursive)?,
    };
    if cli.verbose > 0 {
        for line in config.describe() {
            eprintln!("zcopy: {line}");
        }
    }

    interrupt::install()?;
    let show_progress = cli
        .progress()
        .unwrap_or_else(|| !cli.json && std::io::stderr().is_terminal());
    let mut batch = Batch::new(&config, cli.no_clobber, show_progress, cli.verbose > 0);
    batch.options.forced_method = cli.method.map(Into::into);
    let report = zcopy::run(entries, &batch);

    if cli.json {
        println!("{}", report.to_json());
    } else {
        eprintln!("{}", report.summary());
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
