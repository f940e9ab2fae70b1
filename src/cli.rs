//! The command line. These definitions also generate `completions/` and `man/zcopy.1`.

use std::path::PathBuf;

use clap::{ArgAction, Parser};

use crate::config::{EnvFile, Overrides, Reflink, VerifyMode};
use crate::engine::Method;
use crate::report::Format;

const AFTER_HELP: &str = "\
Environment (flags win over the environment, which wins over the .env file):
  ZERO_COPY_ENABLED        use kernel copy mechanisms (default true)
  ZERO_COPY_MIN_SIZE_MB    smallest file, in MB of 1,048,576 bytes, for them (1-1000, default 10)
  ZERO_COPY_VERIFY_COPY    check each copy before installing it (default true)
  ZERO_COPY_VERIFY_MODE    size or checksum (BLAKE3) (default size)
  ZERO_COPY_CHUNK_SIZE_MB  buffer of the chunk copy, in MB (1-512, default 64)
  ZERO_COPY_REFLINK        auto, always or never (default auto)
  ZERO_COPY_FSYNC          fsync each file and its directory (default false)

Exit status: 0 all copied, 1 some files failed, 2 usage or configuration error,
130 interrupted.";

/// zcopy: copy large media files with the kernel's own mechanisms.
///
/// Each file is copied to a temporary file beside the destination with the fastest
/// mechanism that works (clone, copy_file_range, sendfile, then a buffered chunk copy),
/// verified, and renamed over the destination: a destination is never half-written.
#[derive(Parser, Debug)]
#[command(
    name = "zcopy",
    version,
    long_version = concat!(env!("CARGO_PKG_VERSION"), "\nmechanisms: ", mechanisms!()),
    about = "Copy large media files with the kernel's own mechanisms, atomically and verified",
    after_help = AFTER_HELP,
    max_term_width = 100
)]
pub struct Cli {
    /// Sources, then the destination: SRC DST, or SRC... DIR.
    #[arg(value_name = "PATH", value_hint = clap::ValueHint::AnyPath)]
    pub paths: Vec<PathBuf>,

    /// Copy directories and everything in them.
    #[arg(short = 'r', long, help_heading = "Copy")]
    pub recursive: bool,

    /// Read source paths from FILE ('-' for stdin), one per line; the last PATH is the
    /// destination directory. Relative paths keep their place under it.
    #[arg(long, value_name = "FILE", help_heading = "Copy", value_hint = clap::ValueHint::FilePath)]
    pub files_from: Option<PathBuf>,

    /// Entries in --files-from are separated by NUL bytes, not newlines.
    #[arg(
        short = '0',
        long = "null",
        requires = "files_from",
        help_heading = "Copy"
    )]
    pub null: bool,

    /// Do not replace existing destinations (they are reported as skipped).
    #[arg(short = 'n', long, help_heading = "Copy")]
    pub no_clobber: bool,

    /// Use clone, copy_file_range and sendfile [env: ZERO_COPY_ENABLED]
    #[arg(long, overrides_with = "no_zero_copy", help_heading = "Zero-copy")]
    zero_copy: bool,

    /// Copy every file with the buffered chunk copy.
    #[arg(long, overrides_with = "zero_copy", help_heading = "Zero-copy")]
    no_zero_copy: bool,

    /// Smallest file (in MB of 1,048,576 bytes, 1-1000) for the kernel paths
    /// [env: ZERO_COPY_MIN_SIZE_MB] [default: 10]
    #[arg(long, value_name = "MB", value_parser = clap::value_parser!(u64).range(1..=1000), help_heading = "Zero-copy")]
    pub min_size_mb: Option<u64>,

    /// Buffer of the chunk copy, in MB (1-512) [env: ZERO_COPY_CHUNK_SIZE_MB] [default: 64]
    #[arg(long, value_name = "MB", value_parser = clap::value_parser!(u64).range(1..=512), help_heading = "Zero-copy")]
    pub chunk_size_mb: Option<u64>,

    /// Clone blocks: auto (when possible), always (or fail), never (independent copies)
    /// [env: ZERO_COPY_REFLINK] [default: auto]
    #[arg(long, value_name = "WHEN", value_enum, help_heading = "Zero-copy")]
    pub reflink: Option<Reflink>,

    /// Use only this mechanism, whatever the file's size and the settings; a file it
    /// cannot copy fails. For benchmarks and diagnosis.
    #[arg(long, value_name = "METHOD", value_enum, help_heading = "Zero-copy")]
    pub method: Option<MethodChoice>,

    /// Check each copy before it replaces the destination: MODE size (the default) or
    /// checksum (BLAKE3 of both files) [env: ZERO_COPY_VERIFY_COPY, ZERO_COPY_VERIFY_MODE]
    #[arg(
        long,
        value_name = "MODE",
        value_enum,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "size",
        overrides_with = "no_verify",
        help_heading = "Safety"
    )]
    verify: Option<VerifyMode>,

    /// Skip the size check after each copy.
    #[arg(long, overrides_with = "verify", help_heading = "Safety")]
    no_verify: bool,

    /// fsync each file and its directory before reporting it copied [env: ZERO_COPY_FSYNC]
    #[arg(long, overrides_with = "no_fsync", help_heading = "Safety")]
    fsync: bool,

    /// Do not fsync (the default).
    #[arg(long, overrides_with = "fsync", help_heading = "Safety")]
    no_fsync: bool,

    /// Remove the temporary files (.NAME.XXXXXX.zcopy-tmp) that a killed zcopy left in
    /// the PATH directories (with -r, also below them), print them, and exit. Not while
    /// a zcopy is copying into those directories.
    #[arg(long, conflicts_with = "files_from", help_heading = "Safety")]
    pub clean: bool,

    /// Read ZERO_COPY_* settings from this file instead of ./.env; give it more than once
    /// to layer files (a later file wins).
    #[arg(long, value_name = "PATH", conflicts_with = "no_env_file", help_heading = "Configuration", value_hint = clap::ValueHint::FilePath)]
    pub env_file: Vec<PathBuf>,

    /// Do not read any .env file.
    #[arg(long, help_heading = "Configuration")]
    pub no_env_file: bool,

    /// Print one JSON document on stdout instead of the summary.
    #[arg(long, conflicts_with = "json_lines", help_heading = "Output")]
    pub json: bool,

    /// Print one JSON object per line on stdout: one per file as it completes
    /// ("type": "file", "error" or "skipped"), then one with the totals ("summary").
    #[arg(long, help_heading = "Output")]
    pub json_lines: bool,

    /// Print no summary and no warnings (errors are still printed).
    #[arg(short = 'q', long, help_heading = "Output")]
    pub quiet: bool,

    /// Colour error and warning prefixes: auto (when stderr is a terminal and NO_COLOR
    /// is not set), always or never.
    #[arg(
        long,
        value_name = "WHEN",
        value_enum,
        default_value = "auto",
        help_heading = "Output"
    )]
    pub color: ColorChoice,

    /// Print the effective configuration, with where each value came from, and exit
    /// (as JSON with --json).
    #[arg(long, help_heading = "Configuration")]
    pub print_config: bool,

    /// Draw progress bars on stderr even when it is not a terminal.
    #[arg(long, overrides_with = "no_progress", help_heading = "Output")]
    progress: bool,

    /// Never draw progress bars.
    #[arg(long, overrides_with = "progress", help_heading = "Output")]
    no_progress: bool,

    /// Log which mechanisms are available and which one each file used, and why.
    #[arg(short = 'v', long, action = ArgAction::Count, help_heading = "Output")]
    pub verbose: u8,
}

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// When stderr is a terminal and NO_COLOR is not set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// The mechanisms `--method` can force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MethodChoice {
    /// ioctl(FICLONE) on Linux, fclonefileat on macOS.
    Clone,
    /// copy_file_range(2).
    CopyFileRange,
    /// sendfile(2).
    Sendfile,
    /// Buffered reads and writes.
    Chunked,
}

impl From<MethodChoice> for Method {
    fn from(choice: MethodChoice) -> Method {
        match choice {
            MethodChoice::Clone => Method::Clone,
            MethodChoice::CopyFileRange => Method::CopyFileRange,
            MethodChoice::Sendfile => Method::Sendfile,
            MethodChoice::Chunked => Method::Chunked,
        }
    }
}

/// Turns a `--x`/`--no-x` pair into "given as true", "given as false" or "not given".
fn pair(yes: bool, no: bool) -> Option<bool> {
    match (yes, no) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

impl Cli {
    /// The configuration values the flags override.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            enabled: pair(self.zero_copy, self.no_zero_copy),
            min_size_mb: self.min_size_mb,
            verify_copy: pair(self.verify.is_some(), self.no_verify),
            verify_mode: self.verify,
            chunk_size_mb: self.chunk_size_mb,
            reflink: self.reflink,
            fsync: pair(self.fsync, self.no_fsync),
        }
    }

    /// Which `.env` file to read.
    pub fn env_file(&self) -> EnvFile {
        if self.no_env_file {
            EnvFile::Skip
        } else if self.env_file.is_empty() {
            EnvFile::Default
        } else {
            EnvFile::Paths(self.env_file.clone())
        }
    }

    /// How results are printed.
    pub fn format(&self) -> Format {
        if self.json {
            Format::Json
        } else if self.json_lines {
            Format::JsonLines
        } else {
            Format::Summary
        }
    }

    /// `Some(true)`/`Some(false)` when progress bars were forced on or off.
    pub fn progress(&self) -> Option<bool> {
        pair(self.progress, self.no_progress)
    }
}
