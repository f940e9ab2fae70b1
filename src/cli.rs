//! The command line. These definitions also generate `completions/` and `man/zcopy.1`.

use std::path::{Path, PathBuf};

use clap::{ArgAction, Parser};

#[cfg(target_os = "linux")]
use crate::bench::BenchOptions;
use crate::config::{self, EnvFile, Overrides, Reflink, VerifyMode};
use crate::engine::Method;
use crate::hash::Algorithm;
use crate::plan::{self, Entry, LinkMode, PlanOptions, Symlinks, UsageError};
use crate::preserve::Preserve;
use crate::report::Format;

macro_rules! environment_help {
    () => {
        "Environment (flags win over the environment, which wins over the .env file):
  ZERO_COPY_ENABLED        use kernel copy mechanisms (default true)
  ZERO_COPY_MIN_SIZE_MB    smallest file, in MB of 1,048,576 bytes, for copy_file_range and
                           sendfile; clones are tried at every size (1-1000, default 10)
  ZERO_COPY_VERIFY_COPY    check each copy before installing it (default true)
  ZERO_COPY_VERIFY_MODE    size or checksum (BLAKE3) (default size)
  ZERO_COPY_CHUNK_SIZE_MB  buffer of the chunk copy, in MB (1-512, default 64)
  ZERO_COPY_REFLINK        auto, always or never (default auto)
  ZERO_COPY_FSYNC          fsync each file and its directory (default false)
  ZERO_COPY_JOBS           files copied at once (1-256, default one per CPU, 2-16)
  ZERO_COPY_HASH           media hash read back from each copy: xxh64, xxh3, xxh128, md5,
                           sha1, c4 or none (default none)
  ZERO_COPY_WHOLE_TREE_MB  largest run, in MB, whose new directories are built hidden and
                           appear whole at the end (0-1048576, 0 never, default 1024)
  NO_COLOR                 any value: no colour unless --color=always"
    };
}

macro_rules! exit_status_help {
    () => {
        "Exit status: 0 all copied, 1 some files failed, 2 usage or configuration error,
130 interrupted, 141 whoever read the output went away (`| head`): stopped as on
Ctrl-C, without a word."
    };
}

const AFTER_HELP: &str = concat!(environment_help!(), "\n\n", exit_status_help!());

/// `--help` (and the man page) also describe the JSON output field by field.
const AFTER_LONG_HELP: &str = concat!(
    environment_help!(),
    "\n\n",
    "JSON (printed by --json, layout version 1):
  version                  layout version; changes only when a field changes meaning or goes away
  files[]                  files copied or made, in plan order: source, destination,
                           kind (copy, link, symlink, special, attributes), bytes,
                           method (clone, copy_file_range, sendfile, chunked; null unless
                           kind is copy), duration_sec, verified, backup (-b: where the
                           replaced destination was kept, or null), hashes (with --hash or
                           --mhl: {\"ALG\": \"HASH\"}, the source's, equal to the copy's
                           read-back)
  errors[]                 source, destination (or null), operation (stat_source, open_source,
                           create_temp, clone, copy_file_range, sendfile, read, write, verify,
                           check_source, rename, backup, create_link, create_symlink,
                           create_special, ...), error (the message), errno (or null)
  skipped[]                source, destination, reason (-n, -u, -i)
  mhl[]                    with --mhl: root (a destination folder), generation (the .mhl file
                           written), files, carried (generations brought from the source)
  interrupted              true after Ctrl-C or SIGTERM
  stats                    bytes_copied, zero_copy_count, fallback_count, total_duration_sec,
                           verification_failures, speed_mbps (MB of 1,048,576 bytes per second),
                           zero_copy_ratio (percent of files), methods (files per method)
  *_base64                 the exact bytes of a path that is not valid UTF-8 (which the
                           plain field shows with U+FFFD)
  --json-lines prints one object per line as files complete, \"type\": \"file\", \"error\"
  or \"skipped\" (and \"mhl\" for each generation written), then one \"summary\" object
  with the counts and stats.",
    "\n\n",
    exit_status_help!()
);

/// zcopy: copy large media files with the kernel's own mechanisms.
///
/// Each file is copied to a temporary file beside the destination with the fastest
/// mechanism that works (clone, copy_file_range, sendfile, then a buffered chunk copy),
/// verified, and renamed over the destination: a destination is never half-written.
///
/// Where zcopy differs from GNU cp on purpose (each for safety or for scripts):
/// (1) a replaced destination is a new file renamed into place, never rewritten in
/// place, so it is the old or the complete new file at every moment; other hard links
/// to the old file keep the old content, and the new file belongs to the user running
/// zcopy unless -p keeps the owner (it keeps the old group where that user may give
/// it, and setuid/setgid only with the old owner and group); replacing needs what a
/// rename needs (write permission on the directory, in a sticky one the file's or the
/// directory's ownership) and room for both files until the rename. (2) Each copy is
/// verified before it is installed.
/// (3) A failed copy leaves nothing under the destination's name (cp can leave a
/// partial or empty file). (4) Several files are copied at once (-j); results are
/// still reported in order. (5) A summary line on stderr (-q hides it). (6) Usage
/// errors exit 2, not 1. (7) A FIFO or device named without -r is refused, not read
/// (reading can block forever); -r recreates it as cp -r does. (8) A tree copied into
/// itself is refused before anything is copied. (9) -b keeps the old file as a hard
/// link before the new one is renamed over it, so the destination's name never goes
/// missing; a backup name already linked to the destination is kept (cp fails), and
/// a source that is the backup name through a symlink is refused (cp loses it).
/// (10) -v adds the method in brackets. (11) --parents and --files-from
/// refuse paths with '..', and a symlink where one of their directories goes (cp
/// follows it). (12) Into an existing FIFO or device the bytes are written
/// but not verified and no attributes are set (-p does not chmod /dev/null); a FIFO
/// without a reader is an error, not a wait. (13) -i does not read answers from a
/// stdin that is not a terminal: it refuses to start when there is something to ask.
/// A file literally named "doctor" is copied with "zcopy ./doctor DST" or
/// "zcopy -- doctor DST".
#[derive(Parser, Debug)]
#[command(
    name = "zcopy",
    args_conflicts_with_subcommands = true,
    // cp takes a repeated option, the later one winning (lists of --preserve add up).
    args_override_self = true,
    // cp's getopt takes any unambiguous beginning of a long option (--parent, --rem).
    infer_long_args = true,
    version,
    long_version = concat!(env!("CARGO_PKG_VERSION"), "\nmechanisms: ", mechanisms!()),
    about = "Copy large media files with the kernel's own mechanisms, atomically and verified",
    after_help = AFTER_HELP,
    after_long_help = AFTER_LONG_HELP,
    max_term_width = 100
)]
pub struct Cli {
    /// A tool instead of a copy.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Sources, then the destination: SRC DST, or SRC... DIR.
    #[arg(value_name = "PATH", value_hint = clap::ValueHint::AnyPath)]
    pub paths: Vec<PathBuf>,

    /// Copy directories and everything in them; symbolic links are copied as links,
    /// also those named on the command line (unless -H or -L).
    #[arg(short = 'r', long, visible_short_alias = 'R', help_heading = "Copy")]
    pub recursive: bool,

    /// Read source paths from FILE ('-' for stdin), one per line; the destination
    /// directory is the one PATH, or -t DIR. Relative paths keep their place under it.
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
    #[arg(
        short = 'n',
        long,
        overrides_with = "interactive",
        help_heading = "Copy"
    )]
    pub no_clobber: bool,

    /// Ask before replacing an existing destination (refused when there is one to ask
    /// about and stdin is not a terminal).
    #[arg(
        short = 'i',
        long,
        overrides_with = "no_clobber",
        help_heading = "Copy"
    )]
    pub interactive: bool,

    /// Copy only when the destination is missing or older than the source.
    #[arg(short = 'u', long, help_heading = "Copy")]
    pub update: bool,

    /// Continue an interrupted copy: skip each file whose destination has the source's
    /// size and modification time (keep times with -p or -a) and, with --hash or --mhl,
    /// the source's hash (both are read).
    #[arg(long, help_heading = "Copy")]
    pub resume: bool,

    /// Copy every source into DIR (all PATHs are sources). May be repeated: every file
    /// then goes to every DIR, the copies written side by side, each verified on its
    /// own, the source read once.
    #[arg(short = 't', long, value_name = "DIR", action = clap::ArgAction::Append, conflicts_with = "no_target_directory", help_heading = "Copy", value_hint = clap::ValueHint::DirPath)]
    pub target_directory: Vec<PathBuf>,

    /// Treat the destination as a plain name, never as a directory to copy into.
    #[arg(short = 'T', long, help_heading = "Copy")]
    pub no_target_directory: bool,

    /// Follow every symbolic link among the sources, also inside trees.
    #[arg(
        short = 'L',
        long,
        overrides_with_all = ["no_dereference", "command_line_links"],
        help_heading = "Copy"
    )]
    pub dereference: bool,

    /// Follow no symbolic link: copy links as links, also on the command line (the
    /// default with -r).
    #[arg(
        short = 'P',
        long,
        overrides_with_all = ["dereference", "command_line_links"],
        help_heading = "Copy"
    )]
    pub no_dereference: bool,

    /// Follow symbolic links named on the command line; copy those inside trees as links.
    #[arg(
        short = 'H',
        overrides_with_all = ["dereference", "no_dereference"],
        help_heading = "Copy"
    )]
    pub command_line_links: bool,

    /// Copy links as links and keep hard links (= --no-dereference --preserve=links).
    #[arg(short = 'd', help_heading = "Copy")]
    pub no_dereference_preserve_links: bool,

    /// Replace an existing destination even when it may not be written, and let -l
    /// and -s replace existing files (cp's "remove it and try again").
    #[arg(short = 'f', long, help_heading = "Copy")]
    pub force: bool,

    /// Replace an existing destination as a new file: a symlink is replaced rather
    /// than written through, and the copy gets the source's mode, not the old file's.
    #[arg(long, help_heading = "Copy")]
    pub remove_destination: bool,

    /// Keep each replaced destination under a backup name: CONTROL none/off (no
    /// backups), numbered/t (NAME.~N~), existing/nil (numbered if such backups exist,
    /// else simple; the default), simple/never (NAME~) [env: VERSION_CONTROL]
    #[arg(
        short = 'b',
        long,
        value_name = "CONTROL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "",
        help_heading = "Copy"
    )]
    pub backup: Option<String>,

    /// The suffix of simple backups (default ~; implies -b) [env: SIMPLE_BACKUP_SUFFIX]
    #[arg(short = 'S', long, value_name = "SUFFIX", help_heading = "Copy")]
    pub suffix: Option<std::ffi::OsString>,

    /// Make hard links to the sources instead of copies.
    #[arg(
        short = 'l',
        long,
        conflicts_with = "symbolic_link",
        help_heading = "Copy"
    )]
    pub link: bool,

    /// Make symbolic links to the sources instead of copies (a relative source only
    /// into the current directory).
    #[arg(short = 's', long, help_heading = "Copy")]
    pub symbolic_link: bool,

    /// Copy each source to its whole path, as given, under the destination directory
    /// (zcopy --parents a/b/c dir makes dir/a/b/c).
    #[arg(long, help_heading = "Copy")]
    pub parents: bool,

    /// With -r, read FIFOs and devices like files instead of recreating them (a FIFO
    /// is waited on until its writer closes it, as with cp).
    #[arg(long, help_heading = "Copy")]
    pub copy_contents: bool,

    /// Holes in copies: auto (keep the source's), always (also make holes of zero
    /// blocks; uses the chunk copy), never (write every byte; no clone).
    #[arg(
        long,
        value_name = "WHEN",
        value_enum,
        default_value = "auto",
        help_heading = "Copy"
    )]
    pub sparse: crate::engine::Sparse,

    /// Copy no data: only the attributes kept by -p, --preserve or -a (a missing
    /// destination is created empty).
    #[arg(long, help_heading = "Copy")]
    pub attributes_only: bool,

    /// Keep mode, ownership and timestamps (= --preserve=mode,ownership,timestamps).
    #[arg(short = 'p', help_heading = "Copy")]
    pub preserve_default: bool,

    /// Keep these attributes: mode, ownership, timestamps, xattr, all (comma-separated).
    #[arg(
        long,
        value_name = "ATTR_LIST",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "mode,ownership,timestamps",
        value_parser = parse_preserve,
        action = ArgAction::Append,
        help_heading = "Copy"
    )]
    pub preserve: Vec<Preserve>,

    /// Do not keep these attributes (as in --preserve); in order with -a, -p, -d and
    /// --preserve, as cp (a later one adds them back).
    #[arg(
        long,
        value_name = "ATTR_LIST",
        value_parser = parse_preserve,
        action = ArgAction::Append,
        help_heading = "Copy"
    )]
    pub no_preserve: Vec<Preserve>,

    /// Archive: -r -P --preserve=all (links included).
    #[arg(short = 'a', long, help_heading = "Copy")]
    pub archive: bool,

    /// Use clone, copy_file_range and sendfile [env: ZERO_COPY_ENABLED]
    #[arg(long, overrides_with = "no_zero_copy", help_heading = "Zero-copy")]
    zero_copy: bool,

    /// Copy every file with the buffered chunk copy.
    #[arg(long, overrides_with = "zero_copy", help_heading = "Zero-copy")]
    no_zero_copy: bool,

    /// Smallest file (in MB of 1,048,576 bytes, 1-1000) for copy_file_range and sendfile;
    /// smaller files are cloned where the filesystem can, else copied in chunks
    /// [env: ZERO_COPY_MIN_SIZE_MB] [default: 10]
    #[arg(long, value_name = "MB", value_parser = config::setting_number("ZERO_COPY_MIN_SIZE_MB"), help_heading = "Zero-copy")]
    pub min_size_mb: Option<u64>,

    /// Buffer of the chunk copy, in MB (1-512) [env: ZERO_COPY_CHUNK_SIZE_MB] [default: 64]
    #[arg(long, value_name = "MB", value_parser = config::setting_number("ZERO_COPY_CHUNK_SIZE_MB"), help_heading = "Zero-copy")]
    pub chunk_size_mb: Option<u64>,

    /// Clone blocks: auto (when possible), always (or fail; also --reflink alone), never
    /// (independent copies) [env: ZERO_COPY_REFLINK] [default: auto]
    #[arg(
        long,
        value_name = "WHEN",
        value_enum,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "always",
        help_heading = "Zero-copy"
    )]
    pub reflink: Option<Reflink>,

    /// Copy up to N files at once (1-256) [env: ZERO_COPY_JOBS] [default: one per CPU, 2-16]
    #[arg(short = 'j', long, value_name = "N", value_parser = config::setting_number("ZERO_COPY_JOBS"), help_heading = "Copy")]
    pub jobs: Option<u64>,

    /// Use only this mechanism, whatever the file's size and the zero-copy settings; a
    /// file it cannot copy fails, and one that --reflink rules out is refused. For
    /// benchmarks and diagnosis.
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

    /// Hash each source and its copy read back from the device (not the page cache), and
    /// install the copy only when the two match: ALG is xxh64, xxh3, xxh128, md5, sha1, c4
    /// or none [env: ZERO_COPY_HASH] [default: none]
    #[arg(long, value_name = "ALG", value_parser = parse_hash_choice, help_heading = "Safety")]
    hash: Option<HashChoice>,

    /// Record each copied folder in an ASC MHL history (its ascmhl/ folder: a new
    /// generation and the chain), after verifying a source's own history; implies
    /// --hash xxh64 unless --hash names another algorithm.
    #[arg(long, help_heading = "Safety")]
    pub mhl: bool,

    /// Install copies without checking them first.
    #[arg(long, overrides_with = "verify", help_heading = "Safety")]
    no_verify: bool,

    /// fsync each file and its directory before reporting it copied [env: ZERO_COPY_FSYNC]
    #[arg(long, overrides_with = "no_fsync", help_heading = "Safety")]
    fsync: bool,

    /// Do not fsync (the default).
    #[arg(long, overrides_with = "fsync", help_heading = "Safety")]
    no_fsync: bool,

    /// A run copying at most this many MB builds each directory it creates under a
    /// hidden name (.NAME.XXXXXX.zcopy-tmp) and renames it into place at the end, so the
    /// tree appears whole (after Ctrl-C, with the files finished by then), and its files
    /// need no install each (much faster for small files); 0: each file appears as it is
    /// done. Not with --mhl or --resume, whose
    /// clips go in place one by one (0-1048576) [env: ZERO_COPY_WHOLE_TREE_MB] [default:
    /// 1024]
    #[arg(long, value_name = "MB", value_parser = config::setting_number("ZERO_COPY_WHOLE_TREE_MB"), help_heading = "Safety")]
    pub whole_tree_mb: Option<u64>,

    /// Remove the temporary files (.NAME.XXXXXX.zcopy-tmp) and hidden trees that a
    /// killed zcopy left in the PATH directories (with -r, also below them), print them,
    /// and exit. What a running zcopy holds (its hidden tree, the temporary file it
    /// writes) is left as it is, with a note on stderr.
    #[arg(long, conflicts_with = "files_from", help_heading = "Safety")]
    pub clean: bool,

    /// Read ZERO_COPY_* settings from this file instead of ./.env; give it more than once
    /// to layer files (a later file wins).
    #[arg(long, global = true, value_name = "PATH", conflicts_with = "no_env_file", help_heading = "Configuration", value_hint = clap::ValueHint::FilePath)]
    pub env_file: Vec<PathBuf>,

    /// Do not read any .env file.
    #[arg(long, global = true, help_heading = "Configuration")]
    pub no_env_file: bool,

    /// Print one JSON document on stdout instead of the summary.
    #[arg(long, conflicts_with = "json_lines", help_heading = "Output")]
    pub json: bool,

    /// Print one JSON object per line on stdout: one per file as it completes
    /// ("type": "file", "error" or "skipped"), then one with the totals ("summary").
    #[arg(long, help_heading = "Output")]
    pub json_lines: bool,

    /// Print no summary and no warnings (errors are still printed).
    #[arg(short = 'q', long, global = true, help_heading = "Output")]
    pub quiet: bool,

    /// Colour error and warning prefixes: auto (when stderr is a terminal and NO_COLOR
    /// is not set), always or never.
    #[arg(
        long,
        global = true,
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

    /// Print 'SRC' -> 'DST' [method] for each file, link and directory made, as cp -v
    /// (on stdout; on stderr with --json). Twice (-vv): also log which mechanisms are
    /// available and which one each file used, and why.
    #[arg(short = 'v', long, action = ArgAction::Count, help_heading = "Output")]
    pub verbose: u8,

    /// The flags that decide how links are followed (-L, -H, -P, -d, -a), in command
    /// line order: as in cp, the last one wins. Filled by [`Cli::parse_ordered`].
    #[arg(skip)]
    pub link_flags: Vec<char>,

    /// True when `link_flags` and `preserve_in_order` were filled.
    #[arg(skip)]
    pub ordered: bool,

    /// -a, -p, -d, --preserve and --no-preserve applied in command line order, as cp
    /// does (--no-preserve=mode -p keeps the mode). Filled by [`Cli::parse_ordered`].
    #[arg(skip)]
    pub preserve_in_order: Preserve,
}

/// zcopy's tools.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Diagnose copying between two directories: which mechanisms work there (probed on
    /// small temporary files), the filesystems and mounts involved, whether a clone
    /// would share blocks, the effective configuration, and advice.
    Doctor {
        /// A directory on the filesystem copied from (default: the current directory).
        #[arg(value_name = "SRC_DIR", value_hint = clap::ValueHint::DirPath)]
        source: Option<PathBuf>,
        /// A directory on the filesystem copied to (default: SRC_DIR).
        #[arg(value_name = "DST_DIR", value_hint = clap::ValueHint::DirPath)]
        destination: Option<PathBuf>,
        /// Print one JSON document instead of the report.
        #[arg(long)]
        json: bool,
    },
    /// Measure every copy mechanism, and the tools installed beside zcopy (cp, xcp, fcp,
    /// cpz, rsync), on this disk: large files, a tree of small files, a cold start, and
    /// peak memory. Medians of interleaved rounds, with ratios to zcopy's default.
    Bench {
        /// Where to make the test files: a directory on the disk to measure
        /// (default: the system's temporary directory). The trees are also measured in
        /// every further DIR (one per filesystem to compare).
        #[arg(value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
        directories: Vec<PathBuf>,
        /// A smaller run that finishes in under a minute.
        #[arg(long)]
        quick: bool,
        /// Sizes of the large files, e.g. 100M,1G,10G (replaces the defaults).
        #[arg(long, value_name = "SIZES", value_parser = parse_sizes)]
        sizes: Option<Sizes>,
        /// Rounds per contender (default 5, --quick 3).
        #[arg(long, value_name = "N", value_parser = config::whole_number(1, 100))]
        rounds: Option<u64>,
        /// Files in the small-file tree (default 10000, --quick 2000); the tree of
        /// 1 KiB files has ten times as many (default 100000, --quick 10000).
        #[arg(long, value_name = "N", value_parser = config::whole_number(1, 1_000_000))]
        files: Option<u64>,
        /// Frames of 12 MiB in the image sequence (default 300, --quick 30).
        #[arg(long, value_name = "N", value_parser = config::whole_number(1, 100_000))]
        frames: Option<u64>,
        /// Print one JSON document instead of the tables.
        #[arg(long)]
        json: bool,
    },
    /// Check folders against their ASC MHL histories (the ascmhl/ folder that zcopy
    /// --mhl, the ascmhl tool or an offload application wrote): every file is hashed
    /// again and compared with the hash its history recorded first, in any of the ASC
    /// MHL formats. Reports verified, mismatched, missing and new files; exit status 1
    /// on any mismatched or missing file.
    Verify {
        /// Folders holding an ascmhl/ history.
        #[arg(value_name = "DIR", required = true, value_hint = clap::ValueHint::DirPath)]
        directories: Vec<PathBuf>,
        /// Print one JSON document instead of the summary.
        #[arg(long)]
        json: bool,
        /// Files hashed at once (1-256) [default: 4].
        #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=256))]
        jobs: Option<u64>,
        /// List every file with its result, not only the problems.
        #[arg(short = 'v', long)]
        verbose: bool,
    },
}

impl Command {
    /// What `zcopy bench` is to measure, from its flags and the configuration's `-j`,
    /// and whether it prints JSON; None for the other tools.
    #[cfg(target_os = "linux")]
    pub fn bench_options(&self, config: &config::Config) -> Option<(BenchOptions, bool)> {
        let Command::Bench {
            directories,
            quick,
            sizes,
            rounds,
            files,
            frames,
            json,
        } = self
        else {
            return None;
        };
        let (directory, further) = match directories.split_first() {
            Some((first, further)) => (first.clone(), further.to_vec()),
            None => (std::env::temp_dir(), Vec::new()),
        };
        let mut options = BenchOptions::new(directory, *quick, config.jobs as usize);
        options.tree_directories = further;
        if let Some(frames) = frames {
            options.frames = *frames as usize;
        }
        if let Some(sizes) = sizes {
            options.sizes = sizes.0.clone();
        }
        if let Some(rounds) = rounds {
            options.rounds = *rounds as usize;
        }
        if let Some(files) = files {
            options.small_files = *files as usize;
            options.tiny_files = 10 * *files as usize;
        }
        Some((options, *json))
    }
}

/// The value of `--hash`: an algorithm, or none.
#[derive(Debug, Clone, Copy)]
pub struct HashChoice(pub Option<Algorithm>);

fn parse_hash_choice(word: &str) -> Result<HashChoice, String> {
    crate::config::parse_hash(word)
        .map(HashChoice)
        .ok_or_else(|| "expected xxh64, xxh3, xxh128, md5, sha1, c4 or none".to_string())
}

/// Byte sizes given to `bench --sizes`.
#[derive(Debug, Clone)]
pub struct Sizes(pub Vec<u64>);

fn parse_sizes(text: &str) -> Result<Sizes, String> {
    let mut sizes = Vec::new();
    for word in text.split(',').map(str::trim) {
        let split = word
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(word.len());
        let (number, unit) = word.split_at(split);
        let multiplier: u64 = match unit.to_ascii_uppercase().as_str() {
            "" | "B" => 1,
            "K" | "KIB" => 1 << 10,
            "M" | "MIB" => 1 << 20,
            "G" | "GIB" => 1 << 30,
            "T" | "TIB" => 1 << 40,
            _ => return Err(format!("'{word}': expected a size like 100M or 10G")),
        };
        match number.parse::<u64>() {
            Ok(n) if n > 0 => sizes.push(n * multiplier),
            _ => return Err(format!("'{word}': expected a size like 100M or 10G")),
        }
    }
    Ok(Sizes(sizes))
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

fn parse_preserve(list: &str) -> Result<Preserve, String> {
    Preserve::parse(list)
}

/// The attributes to keep, from -a, -p, -d, --preserve and --no-preserve taken in
/// command line order: each adds its attributes, each --no-preserve takes its away.
fn preserve_in_order(matches: &clap::ArgMatches) -> Preserve {
    let given = |id: &str| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
    let mut steps: Vec<(usize, Preserve, bool)> = Vec::new();
    for (id, attributes) in [
        ("archive", Preserve::ALL),
        ("preserve_default", Preserve::CP_P),
        (
            "no_dereference_preserve_links",
            Preserve {
                links: true,
                ..Preserve::default()
            },
        ),
    ] {
        if given(id) {
            if let Some(index) = matches.indices_of(id).and_then(Iterator::max) {
                steps.push((index, attributes, true));
            }
        }
    }
    for (id, adds) in [("preserve", true), ("no_preserve", false)] {
        if let (Some(values), Some(indices)) =
            (matches.get_many::<Preserve>(id), matches.indices_of(id))
        {
            for (value, index) in values.zip(indices) {
                steps.push((index, *value, adds));
            }
        }
    }
    steps.sort_by_key(|(index, _, _)| *index);
    steps
        .into_iter()
        .fold(Preserve::default(), |kept, (_, attributes, adds)| {
            if adds {
                kept.union(attributes)
            } else {
                kept.without(attributes)
            }
        })
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
    /// Parses the process's arguments, keeping the order of the flags where cp lets
    /// the last one win (-L, -H, -P, -d, -a); exits on a usage error as clap does.
    pub fn parse_ordered() -> Cli {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Cli::command().get_matches();
        let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
        let mut flags: Vec<(usize, char)> = [
            ("dereference", 'L'),
            ("command_line_links", 'H'),
            ("no_dereference", 'P'),
            ("no_dereference_preserve_links", 'd'),
            ("archive", 'a'),
        ]
        .into_iter()
        .filter_map(|(id, flag)| {
            let given = matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
            given
                .then(|| matches.indices_of(id).and_then(Iterator::max))
                .flatten()
                .map(|index| (index, flag))
        })
        .collect();
        flags.sort();
        cli.link_flags = flags.into_iter().map(|(_, flag)| flag).collect();
        cli.preserve_in_order = preserve_in_order(&matches);
        cli.ordered = true;
        cli
    }

    /// The positions in `paths` of sources named again after an earlier one: the same
    /// directory entry, however spelt (`a`, `./a`). cp copies such a source once and
    /// warns; so does zcopy (the copy would otherwise fail as a second source of one
    /// destination).
    pub fn repeated_sources(&self) -> Vec<usize> {
        if self.files_from.is_some() {
            return Vec::new();
        }
        let sources = if self.target_directory.is_empty() {
            self.paths.len().saturating_sub(1)
        } else {
            self.paths.len()
        };
        let mut seen = std::collections::HashSet::new();
        let mut repeated = Vec::new();
        for (position, path) in self.paths[..sources].iter().enumerate() {
            let key = if self.parents {
                // Copied to its path as spelt (less `./`): `real/f` and `alias/f` go to
                // two places, even where `alias` is a link to `real`.
                let Some(spelt) = plan::relative_form(path) else {
                    continue;
                };
                (None, spelt.into_os_string())
            } else {
                let Some(name) = path.file_name() else {
                    continue;
                };
                let parent = match path.parent() {
                    Some(parent) if !parent.as_os_str().is_empty() => parent,
                    _ => Path::new("."),
                };
                let Some(directory) = directory_key(parent) else {
                    continue;
                };
                (Some(directory), name.to_os_string())
            };
            if !seen.insert(key) {
                repeated.push(position);
            }
        }
        repeated
    }

    /// The plan of the copy the command line asks for: the PATHs (or `--files-from`)
    /// to the destination, or to each of several `-t` in turn. `whole_tree_bytes`: see
    /// [`Cli::whole_tree_bytes`].
    pub fn plan(&self, whole_tree_bytes: u64) -> Result<Vec<Entry>, UsageError> {
        let usage = |text: &str| Err(UsageError(text.to_string()));
        // Each source once (see `repeated_sources`), for every destination.
        let repeated = self.repeated_sources();
        let paths: Vec<PathBuf> = self
            .paths
            .iter()
            .enumerate()
            .filter(|(position, _)| !repeated.contains(position))
            .map(|(_, path)| path.clone())
            .collect();
        let plan_one = |destination: Option<&Path>| match &self.files_from {
            Some(list) => {
                // The destination: one -t (of several, the one being planned), or the
                // one PATH, as `cp -t DIR` or `cp ... DIR`.
                let target = destination.or(self.target_directory.first().map(PathBuf::as_path));
                let destination = match (target, self.paths.as_slice()) {
                    (Some(destination), []) => destination,
                    (None, [destination]) => destination.as_path(),
                    _ => return usage(
                        "--files-from takes the destination directory as its one PATH or from -t",
                    ),
                };
                if self.interactive && list.as_os_str() == "-" {
                    return usage(
                        "-i cannot ask questions on stdin while --files-from reads the list from it",
                    );
                }
                plan::from_list(
                    &plan::read_list(list, self.null)?,
                    destination,
                    &self.plan_options(whole_tree_bytes),
                )
            }
            None => {
                let mut options = self.plan_options(whole_tree_bytes);
                if let Some(destination) = destination {
                    options.target_directory = Some(destination.to_path_buf());
                }
                plan::from_arguments(&paths, &options)
            }
        };
        match self.target_directory.as_slice() {
            [_, _, ..] => {
                // The list is read once per destination.
                if self
                    .files_from
                    .as_ref()
                    .is_some_and(|list| list.as_os_str() == "-")
                {
                    return usage(
                        "--files-from - cannot be read once per destination (-t); list the files in a file",
                    );
                }
                plan::for_destinations(&self.target_directory, |destination| {
                    plan_one(Some(destination))
                })
            }
            _ => plan_one(None),
        }
    }

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
            jobs: self.jobs,
            whole_tree_mb: self.whole_tree_mb,
            hash: match (self.hash, self.mhl) {
                (Some(HashChoice(Some(algorithm))), _) => Some(Some(algorithm)),
                // --mhl needs a hash: xxh64, unless the configuration names another.
                (_, true) => None,
                (choice, false) => choice.map(|choice| choice.0),
            },
        }
    }

    /// True when `--hash none` was given (which `--mhl` cannot work with).
    pub fn hash_none(&self) -> bool {
        matches!(self.hash, Some(HashChoice(None)))
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

    /// What the plan needs from the flags; `whole_tree_bytes` as
    /// [`Cli::whole_tree_bytes`].
    pub fn plan_options(&self, whole_tree_bytes: u64) -> PlanOptions {
        // As cp: the last of -H, -L, -P, -d, -a decides; without one, -r copies links
        // as links and a plain copy follows them.
        // (-l with -r follows links: hard links go to what they name, as in cp.)
        let symlinks = match self.link_flags.last() {
            _ if !self.ordered => self.symlinks_unordered(),
            Some('L') => Symlinks::FollowAll,
            Some('H') => Symlinks::FollowCommandLine,
            Some(_) => Symlinks::FollowNone,
            None if self.recursive && !self.link => Symlinks::FollowNone,
            None => Symlinks::FollowAll,
        };
        PlanOptions {
            link_mode: if self.link {
                LinkMode::Hard
            } else if self.symbolic_link {
                LinkMode::Symbolic
            } else {
                LinkMode::Copy
            },
            preserve_links: self.preserve().links,
            parents: self.parents,
            copy_contents: self.copy_contents,
            recursive: self.recursive || self.archive,
            symlinks,
            target_directory: self.target_directory.first().cloned(),
            no_target_directory: self.no_target_directory,
            stat_every_file: self.show_progress(),
            size_files_up_to: whole_tree_bytes,
        }
    }

    /// Without the order of the flags (a `Cli` not made by [`Cli::parse_ordered`]):
    /// -P, then -L, then -H decide.
    fn symlinks_unordered(&self) -> Symlinks {
        if self.no_dereference {
            Symlinks::FollowNone
        } else if self.dereference {
            Symlinks::FollowAll
        } else if self.command_line_links {
            Symlinks::FollowCommandLine
        } else if self.archive
            || self.no_dereference_preserve_links
            || (self.recursive && !self.link)
        {
            Symlinks::FollowNone
        } else {
            Symlinks::FollowAll
        }
    }

    /// The attributes to carry over: `-a` means all, `-p` cp's three, `-d` links, plus
    /// `--preserve`, less `--no-preserve`.
    pub fn preserve(&self) -> Preserve {
        if self.ordered {
            return self.preserve_in_order;
        }
        let removed = self
            .no_preserve
            .iter()
            .fold(Preserve::default(), |all, list| all.union(*list));
        if self.archive {
            let mut preserve = Preserve::ALL.without(removed);
            // -a alone copies xattrs where it can, as cp; an explicit
            // --preserve=xattr makes a failure an error, also with -a.
            if self
                .preserve
                .iter()
                .any(|explicit| explicit.xattr && !explicit.xattr_best_effort)
            {
                preserve.xattr_best_effort = false;
            }
            return preserve;
        }
        let mut preserve = self
            .preserve
            .iter()
            .fold(Preserve::default(), |all, list| all.union(*list));
        if self.preserve_default {
            preserve.mode = true;
            preserve.ownership = true;
            preserve.timestamps = true;
        }
        if self.no_dereference_preserve_links {
            preserve.links = true;
        }
        preserve.without(removed)
    }

    /// `-b`, `--backup[=CONTROL]`, `--suffix` (which implies -b), with cp's variables.
    /// The batch these flags ask for, on top of `config`: the per-file options, `-i`,
    /// `-v`/`-vv`, the output format and the links `-l`/`-s` make.
    pub fn batch(
        &self,
        config: &crate::config::Config,
        show_progress: bool,
        backup: Option<crate::backup::Backup>,
        painter: crate::report::Painter,
    ) -> crate::Batch {
        let mut batch = crate::Batch::new(config, show_progress);
        batch.options.no_clobber = self.no_clobber;
        batch.options.update = self.update;
        batch.options.preserve = self.preserve();
        batch.options.forced_method = self.method.map(Into::into);
        batch.options.force = self.force;
        batch.options.remove_destination = self.remove_destination;
        batch.options.backup = backup;
        batch.options.attributes_only = self.attributes_only;
        batch.options.sparse = self.sparse;
        batch.options.copy_contents = self.copy_contents;
        batch.options.default_mode =
            self.no_preserve.iter().any(|removed| removed.mode) && !self.preserve().mode;
        batch.interactive = self.interactive;
        batch.jobs = config.jobs as usize;
        batch.verbose = self.verbose > 1;
        batch.list = self.verbose > 0;
        batch.explicit_links = self.link || self.symbolic_link;
        batch.format = self.format();
        batch.painter = painter;
        batch.whole_tree_bytes = self.whole_tree_bytes(config);
        batch
    }

    /// The most bytes a run may copy for its new trees to be built hidden
    /// (`ZERO_COPY_WHOLE_TREE_MB`); 0 for an offload, which is resumed clip by clip
    /// (--resume), so each clip goes in place as soon as it is copied and verified.
    pub fn whole_tree_bytes(&self, config: &crate::config::Config) -> u64 {
        if self.mhl || self.resume {
            0
        } else {
            config.whole_tree_mb.saturating_mul(crate::config::MB)
        }
    }

    pub fn backup(&self) -> Result<Option<crate::backup::Backup>, String> {
        crate::backup::Backup::from_flags(
            self.backup.is_some() || self.suffix.is_some(),
            self.backup.as_deref().filter(|word| !word.is_empty()),
            self.suffix.as_ref(),
        )
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

    /// Whether progress bars are drawn: `--progress`/`--no-progress`, else for the
    /// summary output on a terminal, unless `-q`.
    pub fn show_progress(&self) -> bool {
        self.progress().unwrap_or_else(|| {
            self.format() == Format::Summary
                && !self.quiet
                && std::io::IsTerminal::is_terminal(&std::io::stderr())
        })
    }
}

/// What tells one directory from another: its (device, inode), elsewhere than on Unix
/// its canonical path.
#[cfg(unix)]
fn directory_key(directory: &Path) -> Option<(u64, u64, PathBuf)> {
    let metadata = std::fs::metadata(directory).ok()?;
    let (device, inode) = plan::inode(&metadata);
    Some((device, inode, PathBuf::new()))
}

#[cfg(not(unix))]
fn directory_key(directory: &Path) -> Option<(u64, u64, PathBuf)> {
    Some((0, 0, std::fs::canonicalize(directory).ok()?))
}
