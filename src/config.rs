//! The `ZERO_COPY_*` settings: parsing, validation and precedence.
//!
//! A value comes from, in order of precedence: a command-line flag, the process
//! environment, a `.env` file, the default. Every value is validated the same way
//! whatever its origin, and a bad one is an error that names the variable, where the
//! value came from, the value, and what is allowed.
//!
//! `.env` files are read without touching the process environment (dotenvy's iterator,
//! never `dotenvy::dotenv()`), and only `ZERO_COPY_*` keys are taken from them: a stray
//! `.env` in a working directory changes nothing but zcopy's own settings.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::hash::Algorithm;

/// One megabyte as the `ZERO_COPY_*_MB` settings mean it: 1,048,576 bytes.
pub const MB: u64 = 1024 * 1024;

/// Files copied at once unless `ZERO_COPY_JOBS` or `-j` say otherwise: one per CPU
/// this process may run on, from 2 to 16.
///
/// Copying small files is CPU work in the filesystem (inode allocation, the journal,
/// the directory's lock), so a worker per CPU keeps every CPU busy; more workers than
/// CPUs only wait for each other's locks (on btrfs, two already spin on the lock of the
/// directory they link into). On 2 CPUs,
/// 3,000 files of 1 KiB (synced, medians of 5): 2 workers took 0.090 s on tmpfs, 0.219
/// on XFS and 0.291 on btrfs, 4 workers 0.117, 0.270 and 0.341, and on ext4 the two
/// were within the noise (see the README's performance section). At least 2, so that
/// one file's wait for the disk overlaps another's copy; past 16 the directory lock
/// they share is the limit, and every worker has its own progress bar. One large file
/// is one worker's job whatever the value.
pub fn default_jobs() -> u64 {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    (cpus as u64).clamp(2, 16)
}

/// Prefix shared by every setting's environment variable.
pub const ENV_PREFIX: &str = "ZERO_COPY_";

/// When to clone instead of copying blocks (cp's `--reflink`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Reflink {
    /// Clone where the filesystem can, copy otherwise.
    Auto,
    /// Clone or fail: never spend the time and space of a block copy.
    Always,
    /// Never share blocks: skip FICLONE and copy_file_range (which clones on CoW filesystems).
    Never,
}

/// How a copy is checked before it replaces the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum VerifyMode {
    /// The copy has the source's size: catches a short copy (a full disk, a source that
    /// shrank) for the cost of one fstat.
    Size,
    /// The copy's BLAKE3 hash equals the source's (reads both files once more).
    Checksum,
}

/// Parses a word as one of a `ValueEnum`'s values, in any case.
fn parse_choice<T: clap::ValueEnum>(word: &str) -> Option<T> {
    T::from_str(word, true).ok()
}

/// The name of a `ValueEnum` value as users write it.
fn choice_name<T: clap::ValueEnum>(value: T) -> String {
    value
        .to_possible_value()
        .map(|possible| possible.get_name().to_string())
        .unwrap_or_default()
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Nobody set it.
    Default,
    /// A `.env` file, and the line the key is on.
    EnvFile {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// The process environment.
    Environment,
    /// A command-line flag.
    Flag(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::EnvFile { path, line } => write!(f, "{}, line {line}", path.display()),
            Origin::Environment => f.write_str("environment"),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// The kinds of value a setting takes, with their allowed ranges.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Bool,
    Int { min: u64, max: u64 },
    Reflink,
    VerifyMode,
    Hash,
}

impl Kind {
    fn allowed(self) -> String {
        match self {
            Kind::Bool => "true/false, 1/0, yes/no or on/off".to_string(),
            Kind::Int { min, max } => format!("a whole number from {min} to {max}"),
            Kind::Reflink => "auto, always or never".to_string(),
            Kind::VerifyMode => "size or checksum".to_string(),
            Kind::Hash => "xxh64, xxh3, xxh128, md5, sha1, c4 or none".to_string(),
        }
    }
}

/// A parsed value of any kind.
#[derive(Debug, Clone, Copy)]
enum Value {
    Bool(bool),
    Int(u64),
    Reflink(Reflink),
    VerifyMode(VerifyMode),
    Hash(Option<Algorithm>),
}

/// A setting: its variable, the flag that overrides it, its kind and default.
struct Setting {
    env: &'static str,
    flag: &'static str,
    kind: Kind,
    default: Value,
}

/// Every setting zcopy knows. The first four are the original `ZERO_COPY_*` definition
/// (see the README): their names, defaults and meaning stay as they were, so that an
/// existing `.env` file keeps meaning what it meant.
const SETTINGS: &[Setting] = &[
    Setting {
        env: "ZERO_COPY_ENABLED",
        flag: "--zero-copy/--no-zero-copy",
        kind: Kind::Bool,
        default: Value::Bool(true),
    },
    Setting {
        env: "ZERO_COPY_MIN_SIZE_MB",
        flag: "--min-size-mb",
        kind: Kind::Int { min: 1, max: 1000 },
        default: Value::Int(10),
    },
    Setting {
        env: "ZERO_COPY_VERIFY_COPY",
        flag: "--verify/--no-verify",
        kind: Kind::Bool,
        default: Value::Bool(true),
    },
    Setting {
        env: "ZERO_COPY_VERIFY_MODE",
        flag: "--verify[=MODE]",
        kind: Kind::VerifyMode,
        default: Value::VerifyMode(VerifyMode::Size),
    },
    Setting {
        env: "ZERO_COPY_CHUNK_SIZE_MB",
        flag: "--chunk-size-mb",
        kind: Kind::Int { min: 1, max: 512 },
        default: Value::Int(64),
    },
    Setting {
        env: "ZERO_COPY_REFLINK",
        flag: "--reflink",
        kind: Kind::Reflink,
        default: Value::Reflink(Reflink::Auto),
    },
    Setting {
        env: "ZERO_COPY_JOBS",
        flag: "-j/--jobs",
        kind: Kind::Int { min: 1, max: 256 },
        // Replaced by default_jobs() when a Config is made: it depends on the machine.
        default: Value::Int(4),
    },
    Setting {
        env: "ZERO_COPY_FSYNC",
        flag: "--fsync/--no-fsync",
        kind: Kind::Bool,
        default: Value::Bool(false),
    },
    Setting {
        env: "ZERO_COPY_HASH",
        flag: "--hash",
        kind: Kind::Hash,
        default: Value::Hash(None),
    },
    Setting {
        env: "ZERO_COPY_WHOLE_TREE_MB",
        flag: "--whole-tree-mb",
        kind: Kind::Int {
            min: 0,
            max: 1_048_576,
        },
        default: Value::Int(1024),
    },
];

/// The names of every `ZERO_COPY_*` variable zcopy reads.
pub fn known_variables() -> impl Iterator<Item = &'static str> {
    SETTINGS.iter().map(|setting| setting.env)
}

/// Values given on the command line; `None` means "not given".
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--zero-copy` / `--no-zero-copy`.
    pub enabled: Option<bool>,
    /// `--min-size-mb`.
    pub min_size_mb: Option<u64>,
    /// `--verify` / `--no-verify`.
    pub verify_copy: Option<bool>,
    /// `--verify=MODE`.
    pub verify_mode: Option<VerifyMode>,
    /// `--chunk-size-mb`.
    pub chunk_size_mb: Option<u64>,
    /// `--reflink`.
    pub reflink: Option<Reflink>,
    /// `--fsync` / `--no-fsync`.
    pub fsync: Option<bool>,
    /// `-j`.
    pub jobs: Option<u64>,
    /// `--hash ALG` (`Some(None)` for `--hash none`).
    pub hash: Option<Option<Algorithm>>,
    /// `--whole-tree-mb`.
    pub whole_tree_mb: Option<u64>,
}

impl Overrides {
    fn get(&self, env: &str) -> Option<Value> {
        match env {
            "ZERO_COPY_ENABLED" => self.enabled.map(Value::Bool),
            "ZERO_COPY_MIN_SIZE_MB" => self.min_size_mb.map(Value::Int),
            "ZERO_COPY_VERIFY_COPY" => self.verify_copy.map(Value::Bool),
            "ZERO_COPY_VERIFY_MODE" => self.verify_mode.map(Value::VerifyMode),
            "ZERO_COPY_CHUNK_SIZE_MB" => self.chunk_size_mb.map(Value::Int),
            "ZERO_COPY_REFLINK" => self.reflink.map(Value::Reflink),
            "ZERO_COPY_FSYNC" => self.fsync.map(Value::Bool),
            "ZERO_COPY_JOBS" => self.jobs.map(Value::Int),
            "ZERO_COPY_HASH" => self.hash.map(Value::Hash),
            "ZERO_COPY_WHOLE_TREE_MB" => self.whole_tree_mb.map(Value::Int),
            _ => None,
        }
    }
}

/// Which `.env` file to read.
#[derive(Debug, Clone)]
pub enum EnvFile {
    /// `./.env` if it exists.
    Default,
    /// These files, which must exist, read in order: a later one wins (`--env-file`,
    /// given once or more).
    Paths(Vec<PathBuf>),
    /// No file (`--no-env-file`).
    Skip,
}

/// The validated configuration of a run.
#[derive(Debug, Clone)]
pub struct Config {
    /// `ZERO_COPY_ENABLED`: use the kernel's copy mechanisms at all.
    pub enabled: bool,
    /// `ZERO_COPY_MIN_SIZE_MB`: files smaller than this many MB use the chunk copy.
    pub min_size_mb: u64,
    /// `ZERO_COPY_VERIFY_COPY`: compare destination and source sizes after each copy.
    pub verify_copy: bool,
    /// `ZERO_COPY_VERIFY_MODE`: what the verification compares.
    pub verify_mode: VerifyMode,
    /// `ZERO_COPY_CHUNK_SIZE_MB`: the buffer of the chunk copy, in MB.
    pub chunk_size_mb: u64,
    /// `ZERO_COPY_REFLINK`: when to clone.
    pub reflink: Reflink,
    /// `ZERO_COPY_FSYNC`: make each installed file durable before reporting it.
    pub fsync: bool,
    /// `ZERO_COPY_JOBS`: files copied at once.
    pub jobs: u64,
    /// `ZERO_COPY_HASH`: the media hash computed from the source and from the copy read
    /// back from the device; `None` computes none.
    pub hash: Option<Algorithm>,
    /// `ZERO_COPY_WHOLE_TREE_MB`: the largest run, in MB, whose new directory trees are
    /// built hidden and appear whole when it ends (see `batch::staged`); 0: never.
    pub whole_tree_mb: u64,
    /// Where each variable's value came from, by variable name.
    pub origins: BTreeMap<&'static str, Origin>,
}

impl Default for Config {
    fn default() -> Self {
        let mut config = Config {
            enabled: true,
            min_size_mb: 0,
            verify_copy: true,
            verify_mode: VerifyMode::Size,
            chunk_size_mb: 0,
            reflink: Reflink::Auto,
            fsync: false,
            jobs: 0,
            hash: None,
            whole_tree_mb: 0,
            origins: BTreeMap::new(),
        };
        for setting in SETTINGS {
            let default = match setting.env {
                "ZERO_COPY_JOBS" => Value::Int(default_jobs()),
                _ => setting.default,
            };
            config.set(setting.env, default, Origin::Default);
        }
        config
    }
}

impl Config {
    /// What each copy is checked for before it replaces the destination; `None` when
    /// `ZERO_COPY_VERIFY_COPY` is false.
    pub fn verification(&self) -> Option<VerifyMode> {
        self.verify_copy.then_some(self.verify_mode)
    }

    /// Files of at least this many bytes take the kernel paths.
    pub fn min_size_bytes(&self) -> u64 {
        self.min_size_mb * MB
    }

    /// The chunk copy's buffer size in bytes.
    pub fn chunk_size_bytes(&self) -> u64 {
        self.chunk_size_mb * MB
    }

    fn set(&mut self, env: &'static str, value: Value, origin: Origin) {
        match (env, value) {
            ("ZERO_COPY_ENABLED", Value::Bool(v)) => self.enabled = v,
            ("ZERO_COPY_MIN_SIZE_MB", Value::Int(v)) => self.min_size_mb = v,
            ("ZERO_COPY_VERIFY_COPY", Value::Bool(v)) => self.verify_copy = v,
            ("ZERO_COPY_VERIFY_MODE", Value::VerifyMode(v)) => self.verify_mode = v,
            ("ZERO_COPY_CHUNK_SIZE_MB", Value::Int(v)) => self.chunk_size_mb = v,
            ("ZERO_COPY_REFLINK", Value::Reflink(v)) => self.reflink = v,
            ("ZERO_COPY_FSYNC", Value::Bool(v)) => self.fsync = v,
            ("ZERO_COPY_JOBS", Value::Int(v)) => self.jobs = v,
            ("ZERO_COPY_HASH", Value::Hash(v)) => self.hash = v,
            ("ZERO_COPY_WHOLE_TREE_MB", Value::Int(v)) => self.whole_tree_mb = v,
            _ => unreachable!("setting {env} given a value of the wrong kind"),
        }
        self.origins.insert(env, origin);
    }

    /// Builds the configuration from flags, the process environment and a `.env` file.
    ///
    /// Returns the configuration and warnings (unknown `ZERO_COPY_*` keys).
    pub fn load(
        overrides: &Overrides,
        env_file: &EnvFile,
    ) -> Result<(Config, Vec<String>), ConfigError> {
        let environment: Vec<(OsString, OsString)> = std::env::vars_os()
            .filter(|(key, _)| key.to_string_lossy().starts_with(ENV_PREFIX))
            .collect();
        let dotenvs = read_env_files(env_file)?;
        Config::resolve(overrides, &environment, &dotenvs)
    }

    /// Applies the precedence rules to already-gathered sources. Separate from
    /// [`Config::load`] so that it can be used without touching the real environment.
    pub fn resolve(
        overrides: &Overrides,
        environment: &[(OsString, OsString)],
        dotenvs: &[DotEnv],
    ) -> Result<(Config, Vec<String>), ConfigError> {
        let mut config = Config::default();
        let mut warnings = Vec::new();

        for dotenv in dotenvs {
            for entry in &dotenv.entries {
                let origin = Origin::EnvFile {
                    path: dotenv.path.clone(),
                    line: entry.line,
                };
                match setting(&entry.key) {
                    // A bad value is an error also where a later line sets the key
                    // again, as it is where another source overrides it: a line the
                    // user edited may not be the one in effect.
                    // The unknown key's last line warns.
                    None if entry.overridden_by.is_some() => {}
                    Some(setting) => {
                        let value = parse(setting, &entry.value, &origin)?;
                        config.set(setting.env, value, origin);
                    }
                    None => warnings.push(format!(
                        "unknown variable {} in {origin} (known: {})",
                        entry.key,
                        known_variables().collect::<Vec<_>>().join(", ")
                    )),
                }
            }
        }

        for (key, value) in environment {
            let key_text = key.to_string_lossy();
            let Some(setting) = setting(&key_text) else {
                warnings.push(format!(
                    "unknown variable {key_text} in the environment (known: {})",
                    known_variables().collect::<Vec<_>>().join(", ")
                ));
                continue;
            };
            let value = value.to_str().ok_or_else(|| ConfigError::Invalid {
                variable: setting.env,
                origin: Origin::Environment,
                value: value.to_string_lossy().into_owned(),
                allowed: setting.kind.allowed(),
            })?;
            let parsed = parse(setting, value, &Origin::Environment)?;
            config.set(setting.env, parsed, Origin::Environment);
        }

        for setting in SETTINGS {
            if let Some(value) = overrides.get(setting.env) {
                config.set(setting.env, value, Origin::Flag(setting.flag));
            }
        }

        if config.reflink == Reflink::Always && !config.enabled {
            return Err(ConfigError::Conflict(format!(
                "ZERO_COPY_REFLINK=always ({}) needs zero-copy, but ZERO_COPY_ENABLED=false ({})",
                config.origins["ZERO_COPY_REFLINK"], config.origins["ZERO_COPY_ENABLED"]
            )));
        }
        Ok((config, warnings))
    }

    /// The current value of a setting.
    fn value(&self, env: &str) -> Value {
        match env {
            "ZERO_COPY_ENABLED" => Value::Bool(self.enabled),
            "ZERO_COPY_MIN_SIZE_MB" => Value::Int(self.min_size_mb),
            "ZERO_COPY_VERIFY_COPY" => Value::Bool(self.verify_copy),
            "ZERO_COPY_VERIFY_MODE" => Value::VerifyMode(self.verify_mode),
            "ZERO_COPY_CHUNK_SIZE_MB" => Value::Int(self.chunk_size_mb),
            "ZERO_COPY_REFLINK" => Value::Reflink(self.reflink),
            "ZERO_COPY_FSYNC" => Value::Bool(self.fsync),
            "ZERO_COPY_JOBS" => Value::Int(self.jobs),
            "ZERO_COPY_HASH" => Value::Hash(self.hash),
            "ZERO_COPY_WHOLE_TREE_MB" => Value::Int(self.whole_tree_mb),
            _ => unreachable!("unknown setting {env}"),
        }
    }

    /// Each setting as `{"VARIABLE": {"value": ..., "origin": "..."}}`.
    pub fn to_json(&self) -> serde_json::Value {
        let object = SETTINGS
            .iter()
            .map(|setting| {
                let value = match self.value(setting.env) {
                    Value::Bool(v) => serde_json::Value::from(v),
                    Value::Int(v) => serde_json::Value::from(v),
                    other => serde_json::Value::from(other.to_string()),
                };
                let origin = self.origins[setting.env].to_string();
                (
                    setting.env.to_string(),
                    serde_json::json!({"value": value, "origin": origin}),
                )
            })
            .collect();
        serde_json::Value::Object(object)
    }

    /// One line per setting: `VARIABLE=value (origin)`.
    pub fn describe(&self) -> Vec<String> {
        SETTINGS
            .iter()
            .map(|setting| {
                format!(
                    "{}={} ({})",
                    setting.env,
                    self.value(setting.env),
                    self.origins[setting.env]
                )
            })
            .collect()
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Value::Bool(v) => write!(f, "{v}"),
            Value::Int(v) => write!(f, "{v}"),
            Value::Reflink(v) => f.write_str(&choice_name(v)),
            Value::VerifyMode(v) => f.write_str(&choice_name(v)),
            Value::Hash(Some(v)) => f.write_str(v.name()),
            Value::Hash(None) => f.write_str("none"),
        }
    }
}

fn setting(env: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|setting| setting.env == env)
}

/// A whole number in `min..=max`, as the environment, `.env` files and flags all take it.
fn parse_whole_number(word: &str, min: u64, max: u64) -> Option<u64> {
    word.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
}

/// A clap value parser for a flag that takes a whole number in `min..=max`. It refuses
/// what the environment refuses, in the same words (`expected a whole number from 1
/// to 512`), so a mistake reads the same wherever it was made.
pub fn whole_number(
    min: u64,
    max: u64,
) -> impl Fn(&str) -> Result<u64, String> + Clone + Send + Sync + 'static {
    move |word| {
        parse_whole_number(word, min, max)
            .ok_or_else(|| format!("expected {}", Kind::Int { min, max }.allowed()))
    }
}

/// The clap value parser for the flag of the numeric setting `env`: the setting's range
/// and message, defined once in [`SETTINGS`].
///
/// # Panics
///
/// When `env` is not a numeric setting (a mistake in the flag definitions, caught by
/// any test that builds the command line).
pub fn setting_number(
    env: &str,
) -> impl Fn(&str) -> Result<u64, String> + Clone + Send + Sync + 'static {
    match setting(env).map(|setting| setting.kind) {
        Some(Kind::Int { min, max }) => whole_number(min, max),
        _ => panic!("{env} is not a numeric setting"),
    }
}

fn parse(setting: &Setting, raw: &str, origin: &Origin) -> Result<Value, ConfigError> {
    let invalid = || ConfigError::Invalid {
        variable: setting.env,
        origin: origin.clone(),
        value: raw.to_string(),
        allowed: setting.kind.allowed(),
    };
    let word = raw.trim();
    match setting.kind {
        Kind::Bool => parse_bool(word).map(Value::Bool).ok_or_else(invalid),
        Kind::Int { min, max } => parse_whole_number(word, min, max)
            .map(Value::Int)
            .ok_or_else(invalid),
        Kind::Reflink => parse_choice(word).map(Value::Reflink).ok_or_else(invalid),
        Kind::VerifyMode => parse_choice(word)
            .map(Value::VerifyMode)
            .ok_or_else(invalid),
        Kind::Hash => parse_hash(word).map(Value::Hash).ok_or_else(invalid),
    }
}

/// A hash algorithm's name in any case, or `none`.
pub fn parse_hash(word: &str) -> Option<Option<Algorithm>> {
    let word = word.to_ascii_lowercase();
    if word == "none" {
        return Some(None);
    }
    Algorithm::from_name(&word).map(Some)
}

/// Booleans as people write them in shell and .env files, in any case.
pub fn parse_bool(word: &str) -> Option<bool> {
    match word.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// One `KEY=value` of a `.env` file, with its line number.
#[derive(Debug, Clone)]
pub struct DotEnvEntry {
    /// The variable name.
    pub key: String,
    /// The value after dotenvy's unquoting and substitution.
    pub value: String,
    /// 1-based line number of the key.
    pub line: usize,
    /// The line of a later assignment of the same key in the same file, whose value is
    /// used instead (the last one wins, as in dotenvy).
    pub overridden_by: Option<usize>,
}

/// The `ZERO_COPY_*` entries of a `.env` file.
#[derive(Debug, Clone)]
pub struct DotEnv {
    /// The file they came from.
    pub path: PathBuf,
    /// Its `ZERO_COPY_*` entries, in file order.
    pub entries: Vec<DotEnvEntry>,
}

/// Reads the `.env` files the user chose, in order.
pub fn read_env_files(choice: &EnvFile) -> Result<Vec<DotEnv>, ConfigError> {
    match choice {
        EnvFile::Skip => Ok(Vec::new()),
        EnvFile::Default => Ok(read_env_file(Path::new(".env"), false)?
            .into_iter()
            .collect()),
        EnvFile::Paths(paths) => paths
            .iter()
            .map(|path| {
                read_env_file(path, true)
                    .map(|dotenv| dotenv.expect("a required file is read or fails"))
            })
            .collect(),
    }
}

/// The most a `.env` file may hold. Settings take a few lines; the cap keeps a device
/// (`.env` linked to `/dev/zero`) or a large file under that name from filling memory.
const ENV_FILE_MAX: u64 = MB;

/// Reads one `.env` file; a missing one is `None` unless it is `required`.
///
/// Only a regular file (or a link to one) is read. The path is looked at before it is
/// opened, since opening a FIFO for reading waits for a writer and opening some devices
/// has effects (tape drives rewind); the open uses O_NONBLOCK, which regular files
/// ignore, and what it opened is checked again, in case the path changed in between.
fn read_env_file(path: &Path, required: bool) -> Result<Option<DotEnv>, ConfigError> {
    use std::io::Read;

    let failed = |message: String| ConfigError::EnvFile {
        path: path.to_path_buf(),
        line: None,
        message: format!("read settings: {message}"),
    };
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(err) if !required && err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(failed(err.to_string())),
    };
    // `.env` is also a common name for a Python virtual environment: a directory there
    // holds no settings, and a project folder with one must not stop zcopy.
    if !required && metadata.is_dir() {
        return Ok(None);
    }
    let regular = |metadata: &std::fs::Metadata| match crate::error::not_a_regular_file(metadata) {
        Some(kind) => Err(failed(format!("not a regular file ({kind})"))),
        None => Ok(()),
    };
    regular(&metadata)?;
    let mut open = std::fs::OpenOptions::new();
    open.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        open.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = open.open(path).map_err(|err| failed(err.to_string()))?;
    let metadata = file.metadata().map_err(|err| failed(err.to_string()))?;
    regular(&metadata)?;
    let too_large = || failed("too large: a settings file holds at most 1 MiB".to_string());
    if metadata.len() > ENV_FILE_MAX {
        return Err(too_large());
    }
    // Read one byte past the cap, so that a file that grew since the fstat is refused
    // rather than cut short.
    let mut bytes = Vec::new();
    file.take(ENV_FILE_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| failed(err.to_string()))?;
    if bytes.len() as u64 > ENV_FILE_MAX {
        return Err(too_large());
    }
    parse_env_file(path, &bytes).map(Some)
}

/// Parses `.env` bytes, keeping only `ZERO_COPY_*` keys.
///
/// A `.env` file is often another tool's (Docker Compose, a web framework) with syntax
/// of its own, so the file is split into statements first and only those that set a
/// `ZERO_COPY_*` key must parse: any other line is ignored whatever it holds, invalid
/// UTF-8 included. A `ZERO_COPY_*` statement is read by dotenvy as before, a quoted
/// value running on over lines included, and one that does not parse is an error
/// naming its line. The other statements that dotenvy can read alone are read along
/// with them, so that a value can still name an earlier key of the file (`$NPROC`).
pub fn parse_env_file(path: &Path, bytes: &[u8]) -> Result<DotEnv, ConfigError> {
    // dotenvy's own loaders skip a byte order mark; its iterator, used here, does not.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let lines: Vec<&[u8]> = bytes.split_inclusive(|&byte| byte == b'\n').collect();
    let error = |line: usize, message: String| ConfigError::EnvFile {
        path: path.to_path_buf(),
        line: Some(line),
        message,
    };

    // The statements dotenvy reads: their first line (1-based), text, and whether they
    // set a ZERO_COPY_* key.
    let mut read: Vec<(usize, String, bool)> = Vec::new();
    let mut start = 0;
    while start < lines.len() {
        let first = String::from_utf8_lossy(lines[start]);
        let Some((key, value)) = statement_key(&first) else {
            start += 1;
            continue;
        };
        let ours = key.starts_with(ENV_PREFIX);
        // Where the statement ends: dotenvy's rule (an open quote anywhere runs on) for
        // ours, as before; for another tool's line only a value that starts with a quote
        // runs on, as in Docker Compose, and only if the quote closes: a stray quote
        // must not hide the lines after it.
        let end = if ours || value.starts_with(['"', '\'']) {
            match quoted_end(&lines, start) {
                Some(end) => end,
                None if ours => lines.len(),
                None => start + 1,
            }
        } else {
            start + 1
        };
        let line = start + 1;
        let first_line = first.trim().to_string();
        let bytes = lines[start..end].concat();
        start = end;
        let Ok(mut text) = String::from_utf8(bytes) else {
            if ours {
                return Err(error(line, "not valid UTF-8".to_string()));
            }
            continue;
        };
        if !text.ends_with('\n') {
            text.push('\n');
        }
        // Whether a statement parses does not depend on the values it substitutes, so
        // one that parses alone parses the same among the others.
        let alone: Vec<_> = dotenvy::from_read_iter(text.as_bytes()).collect();
        let parses = alone.len() == 1 && alone[0].is_ok();
        if parses {
            read.push((line, text, ours));
        } else if ours {
            return Err(error(
                line,
                format!(
                    "cannot read {first_line:?}: expected KEY=value, e.g. \
                     ZERO_COPY_JOBS=4 (quote a value that has spaces)"
                ),
            ));
        }
    }

    let text: String = read.iter().map(|(_, text, _)| text.as_str()).collect();
    let mut entries = Vec::new();
    for (item, (line, _, ours)) in dotenvy::from_read_iter(text.as_bytes()).zip(&read) {
        let (key, value) = item.map_err(|err| error(*line, err.to_string()))?;
        if *ours {
            entries.push(DotEnvEntry {
                key,
                value,
                line: *line,
                overridden_by: None,
            });
        }
    }
    // The last assignment of a key wins; the earlier ones learn which line that is.
    let mut last: BTreeMap<&str, usize> = BTreeMap::new();
    let mut overridden = vec![None; entries.len()];
    for (index, entry) in entries.iter().enumerate().rev() {
        match last.get(entry.key.as_str()) {
            Some(&line) => overridden[index] = Some(line),
            None => {
                last.insert(&entry.key, entry.line);
            }
        }
    }
    for (entry, overridden_by) in entries.iter_mut().zip(overridden) {
        entry.overridden_by = overridden_by;
    }
    Ok(DotEnv {
        path: path.to_path_buf(),
        entries,
    })
}

/// The key a line of a `.env` file starts to set, as dotenvy reads it (after an
/// optional `export`), and what follows its `=` (empty without one); `None` for a
/// blank line, a comment, or a line that does not start with a key.
fn statement_key(line: &str) -> Option<(&str, &str)> {
    fn key(text: &str) -> Option<(&str, &str)> {
        if !text.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            return None;
        }
        let end = text
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(text.len());
        Some(text.split_at(end))
    }
    let (mut name, mut rest) = key(line.trim_start())?;
    if name == "export" && !rest.trim_start().starts_with('=') {
        (name, rest) = key(rest.trim_start())?;
    }
    let value = rest
        .trim_start()
        .strip_prefix('=')
        .map_or("", str::trim_start);
    Some((name, value))
}

/// Where dotenvy sees the statement that starts at `lines[start]` end: the index past
/// its last line, which is further on while a quote or a `\` is open at a line's end
/// (dotenvy's rule, from its `QuotedLines`); `None` if one is still open at the end of
/// the file.
fn quoted_end(lines: &[&[u8]], start: usize) -> Option<usize> {
    #[derive(Clone, Copy)]
    enum State {
        Complete,
        WhiteSpace,
        Escape,
        Strong,
        StrongEscape,
        Weak,
        WeakEscape,
    }
    let mut state = State::Complete;
    for (index, line) in lines.iter().enumerate().skip(start) {
        let mut text = String::from_utf8_lossy(line).into_owned();
        // The statement is handed to dotenvy with a newline at its end.
        if !text.ends_with('\n') {
            text.push('\n');
        }
        let mut comment = false;
        for c in text.chars() {
            state = match (state, c) {
                (State::WhiteSpace, '#') => {
                    comment = true;
                    break;
                }
                (State::Complete, c) if c.is_whitespace() && c != '\n' && c != '\r' => {
                    State::WhiteSpace
                }
                (State::Complete | State::WhiteSpace, '\\') => State::Escape,
                (State::Complete | State::WhiteSpace, '"') => State::Weak,
                (State::Complete | State::WhiteSpace, '\'') => State::Strong,
                (State::Complete | State::WhiteSpace | State::Escape, _) => State::Complete,
                (State::Weak, '\\') => State::WeakEscape,
                (State::Weak, '"') => State::Complete,
                (State::Weak | State::WeakEscape, _) => State::Weak,
                (State::Strong, '\\') => State::StrongEscape,
                (State::Strong, '\'') => State::Complete,
                (State::Strong | State::StrongEscape, _) => State::Strong,
            };
        }
        if comment || matches!(state, State::Complete) {
            return Some(index + 1);
        }
    }
    None
}

/// A configuration that cannot be used; zcopy exits with code 2 and copies nothing.
#[derive(Debug)]
pub enum ConfigError {
    /// A value outside what a variable allows.
    Invalid {
        /// The variable.
        variable: &'static str,
        /// Where the value came from.
        origin: Origin,
        /// The value as given.
        value: String,
        /// What is allowed.
        allowed: String,
    },
    /// A `.env` file that cannot be read or parsed.
    EnvFile {
        /// The file.
        path: PathBuf,
        /// The offending line, when known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// Settings that contradict each other.
    Conflict(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Invalid {
                variable,
                origin,
                value,
                allowed,
            } => {
                let shown = if value.is_empty() { "" } else { value.as_str() };
                write!(
                    f,
                    "invalid value {shown:?} for {variable} (from {origin}): expected {allowed}"
                )
            }
            ConfigError::EnvFile {
                path,
                line: Some(line),
                message,
            } => write!(f, "{}, line {line}: {message}", crate::error::shown(path)),
            ConfigError::EnvFile {
                path,
                line: None,
                message,
            } => write!(f, "{}: {message}", crate::error::shown(path)),
            ConfigError::Conflict(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    #[test]
    fn defaults_are_the_original_definitions() {
        let (config, warnings) = Config::resolve(&Overrides::default(), &[], &[]).unwrap();
        assert!(config.enabled);
        assert_eq!(config.min_size_mb, 10);
        assert!(config.verify_copy);
        assert_eq!(config.chunk_size_mb, 64);
        assert_eq!(config.min_size_bytes(), 10 * 1_048_576);
        assert!(warnings.is_empty());
    }

    #[test]
    fn flag_beats_environment_beats_dotenv() {
        let dotenv = parse_env_file(
            Path::new("x.env"),
            b"ZERO_COPY_MIN_SIZE_MB=5\nZERO_COPY_CHUNK_SIZE_MB=8\nZERO_COPY_ENABLED=off\n",
        )
        .unwrap();
        let environment = env(&[
            ("ZERO_COPY_MIN_SIZE_MB", "6"),
            ("ZERO_COPY_CHUNK_SIZE_MB", "9"),
        ]);
        let overrides = Overrides {
            min_size_mb: Some(7),
            ..Overrides::default()
        };
        let (config, _) = Config::resolve(&overrides, &environment, &[dotenv]).unwrap();
        assert_eq!(config.min_size_mb, 7);
        assert_eq!(config.chunk_size_mb, 9);
        assert!(!config.enabled);
        assert_eq!(
            config.origins["ZERO_COPY_ENABLED"],
            Origin::EnvFile {
                path: "x.env".into(),
                line: 3
            }
        );
    }

    #[test]
    fn booleans_accept_common_words_in_any_case() {
        for (word, expected) in [("TRUE", true), ("Off", false), ("yes", true), ("0", false)] {
            assert_eq!(parse_bool(word), Some(expected), "{word}");
        }
        assert_eq!(parse_bool("maybe"), None);
        assert_eq!(parse_bool(""), None);
    }

    #[test]
    fn bad_values_name_variable_origin_value_and_range() {
        let dotenv = parse_env_file(
            Path::new("conf/.env"),
            b"# media\n\nZERO_COPY_CHUNK_SIZE_MB=513\n",
        )
        .unwrap();
        let err = Config::resolve(&Overrides::default(), &[], &[dotenv]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value \"513\" for ZERO_COPY_CHUNK_SIZE_MB (from conf/.env, line 3): \
             expected a whole number from 1 to 512"
        );
        let err = Config::resolve(
            &Overrides::default(),
            &env(&[("ZERO_COPY_ENABLED", "")]),
            &[],
        )
        .unwrap_err();
        assert!(err
            .to_string()
            .contains("\"\" for ZERO_COPY_ENABLED (from environment)"));
    }

    #[test]
    fn unknown_zero_copy_keys_warn_and_other_keys_are_ignored() {
        let dotenv =
            parse_env_file(Path::new(".env"), b"PATH=/nowhere\nZERO_COPY_MIN_SIZE=5\n").unwrap();
        let (config, warnings) = Config::resolve(&Overrides::default(), &[], &[dotenv]).unwrap();
        assert_eq!(config.min_size_mb, 10);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("ZERO_COPY_MIN_SIZE in .env, line 2"));
    }

    #[test]
    fn hash_takes_the_asc_mhl_names_or_none() {
        let (config, _) = Config::resolve(&Overrides::default(), &[], &[]).unwrap();
        assert_eq!(config.hash, None);
        let (config, _) = Config::resolve(
            &Overrides::default(),
            &env(&[("ZERO_COPY_HASH", "XXH3")]),
            &[],
        )
        .unwrap();
        assert_eq!(config.hash, Some(Algorithm::Xxh3));
        let overrides = Overrides {
            hash: Some(None),
            ..Overrides::default()
        };
        let (config, _) =
            Config::resolve(&overrides, &env(&[("ZERO_COPY_HASH", "md5")]), &[]).unwrap();
        assert_eq!(config.hash, None);
        let err = Config::resolve(
            &Overrides::default(),
            &env(&[("ZERO_COPY_HASH", "crc32")]),
            &[],
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value \"crc32\" for ZERO_COPY_HASH (from environment): \
             expected xxh64, xxh3, xxh128, md5, sha1, c4 or none"
        );
    }
}
