//! What a run did: the per-file results, the errors, and the statistics, as a summary
//! for people (stderr) or one JSON document for scripts (stdout).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::engine::Method;
use crate::error::{quoted, shown, Error};
use crate::stats::StatsSnapshot;

/// A size as zcopy shows it everywhere (summary, progress bars, doctor, bench): binary
/// units with two decimals, `512 B`, `85.00 MiB`, `1.00 GiB`. It is the progress bars'
/// own format (indicatif's `HumanBytes`, which a test holds it to), so a figure on a bar and in the summary
/// after it read alike, and the bars do not change width as digits come and go.
pub fn human_bytes(bytes: u64) -> String {
    if bytes < 1024 {
        // Whole bytes have no decimals ("512 B", not "512.00 B").
        return format!("{bytes} B");
    }
    let options = humansize::FormatSizeOptions::from(humansize::BINARY)
        .decimal_places(2)
        .decimal_zeroes(2);
    humansize::format_size(bytes, options)
}

/// How the results of a run are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One summary line on stderr.
    Summary,
    /// One JSON document on stdout at the end.
    Json,
    /// One JSON object per line on stdout: one per file as it completes, then totals.
    JsonLines,
}

/// Colours the `zcopy:` prefix of errors (red) and warnings (yellow) when enabled.
#[derive(Debug, Clone, Copy)]
pub struct Painter {
    color: bool,
}

impl Painter {
    /// A painter that colours when `color` is true.
    pub fn new(color: bool) -> Self {
        Painter { color }
    }

    /// `zcopy: MESSAGE`, the prefix red.
    pub fn error(&self, message: &str) -> String {
        format!("{}: {message}", self.paint("zcopy", console::Color::Red))
    }

    /// `zcopy: warning: MESSAGE`, the prefix yellow.
    pub fn warning(&self, message: &str) -> String {
        format!(
            "{}: {message}",
            self.paint("zcopy: warning", console::Color::Yellow)
        )
    }

    fn paint(&self, text: &str, color: console::Color) -> String {
        if self.color {
            console::Style::new()
                .fg(color)
                .bold()
                .force_styling(true)
                .apply_to(text)
                .to_string()
        } else {
            text.to_string()
        }
    }
}

/// One line of `--json-lines`: the record with a `"type"` field in front.
pub fn json_line(kind: &str, record: &impl Serialize) -> String {
    let mut object = serde_json::Map::new();
    object.insert("type".to_string(), kind.into());
    if let serde_json::Value::Object(fields) =
        serde_json::to_value(record).expect("records serialize")
    {
        object.extend(fields);
    }
    serde_json::Value::Object(object).to_string()
}

/// The version of the JSON document's layout; it changes when a field changes meaning
/// or disappears (new fields may appear without it changing).
pub const JSON_VERSION: u32 = 1;

/// The source and destination of a record, as JSON text. A name that is not valid
/// UTF-8 is shown with U+FFFD in place of the invalid bytes, and its exact bytes are
/// given too, base64-encoded, in `source_base64` / `destination_base64` (present only
/// then), so no name is ever lost.
#[derive(Debug, Clone, Serialize)]
pub struct Endpoints {
    /// The source path.
    pub source: String,
    /// The source's exact bytes, when `source` could not show them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_base64: Option<String>,
    /// The destination path, when known.
    pub destination: Option<String>,
    /// The destination's exact bytes, when `destination` could not show them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_base64: Option<String>,
    /// With several destinations (`-t DIR` repeated): the one this record is about, as
    /// given on the command line. Absent with one destination.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_root: Option<String>,
}

impl Endpoints {
    /// The JSON form of `source` -> `destination`.
    pub fn new(source: &Path, destination: Option<&Path>) -> Self {
        let (source, source_base64) = path_forms(source);
        let (destination, destination_base64) = destination.map(path_forms).unzip();
        Endpoints {
            source,
            source_base64,
            destination,
            destination_base64: destination_base64.flatten(),
            destination_root: None,
        }
    }

    /// The source as a path again: exactly, from its base64 form when the text could
    /// not show it.
    pub fn source_path(&self) -> std::path::PathBuf {
        exact_path(&self.source, self.source_base64.as_deref())
    }

    /// The destination as a path again: exactly, from its base64 form when the text
    /// could not show it.
    pub fn destination_path(&self) -> Option<std::path::PathBuf> {
        let destination = self.destination.as_deref()?;
        Some(exact_path(destination, self.destination_base64.as_deref()))
    }

    /// Names `destination` as the record's destination.
    pub fn set_destination(&mut self, destination: &Path) {
        let (text, base64) = path_forms(destination);
        self.destination = Some(text);
        self.destination_base64 = base64;
    }
}

/// A path from its JSON forms: `text`, or its exact bytes when `base64` has them.
fn exact_path(text: &str, base64: Option<&str>) -> std::path::PathBuf {
    #[cfg(unix)]
    if let Some(encoded) = base64 {
        use base64::Engine;
        use std::os::unix::ffi::OsStrExt;
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(encoded) {
            return std::ffi::OsStr::from_bytes(&bytes).into();
        }
    }
    #[cfg(not(unix))]
    let _ = base64;
    text.into()
}

/// What a file record's destination became.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A copy of the source's bytes.
    Copy,
    /// A hard link (`-l`, or `--preserve=links` inside a copied set).
    Link,
    /// A symbolic link: a link copied as a link (`-P`, `-r`), or `-s`.
    Symlink,
    /// A FIFO, device node or socket recreated (`-r`, `-a`).
    Special,
    /// Attributes only (`--attributes-only`): no data copied.
    Attributes,
}

impl Kind {
    /// The word used in JSON and in `-v` lines.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Copy => "copy",
            Kind::Link => "link",
            Kind::Symlink => "symlink",
            Kind::Special => "special",
            Kind::Attributes => "attributes",
        }
    }
}

/// A file that was copied (or linked, or recreated: see `kind`).
#[derive(Debug, Clone, Serialize)]
pub struct FileRecord {
    /// Where from, where to.
    #[serde(flatten)]
    pub paths: Endpoints,
    /// What the destination became.
    pub kind: Kind,
    /// Its size in bytes (0 unless `kind` is `copy`).
    pub bytes: u64,
    /// The mechanism that moved the bytes; `null` unless `kind` is `copy`.
    pub method: Option<Method>,
    /// Seconds from opening the source to the rename.
    pub duration_sec: f64,
    /// True when the size check ran and passed; false when verification is off.
    pub verified: bool,
    /// Where the replaced destination was kept (`-b`), or `null`.
    pub backup: Option<String>,
    /// With `--hash`: `{"ALG": "HASH"}`, the source's hash, which the copy read back
    /// from the device matched.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub hashes: std::collections::BTreeMap<String, String>,
    /// The destination was removed first (`--remove-destination`): `-v` says so, as
    /// cp does.
    #[serde(skip)]
    pub removed: bool,
}

impl FileRecord {
    /// cp's `-v` line: `'SRC' -> 'DST'`, then what was done in brackets (the method
    /// for a copy) and the backup as cp shows it. Names are [`quoted`] as cp quotes
    /// them.
    pub fn verbose_line(&self) -> String {
        let what = match (self.kind, self.method) {
            (Kind::Copy, Some(method)) => method.name(),
            (kind, _) => kind.name(),
        };
        let destination = quoted(&self.paths.destination_path().unwrap_or_default());
        let mut line = String::new();
        if self.removed {
            line.push_str(&format!("removed {destination}\n"));
        }
        line += &format!(
            "{} -> {destination} [{what}]",
            quoted(&self.paths.source_path())
        );
        if let Some(backup) = &self.backup {
            line.push_str(&format!(" (backup: {})", quoted(Path::new(backup))));
        }
        line
    }
}

/// A file (or directory) that could not be copied.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorRecord {
    /// Where from, where to (when known).
    #[serde(flatten)]
    pub paths: Endpoints,
    /// The step that failed, e.g. `open_source`, `copy_file_range`, `verify`.
    pub operation: crate::error::Operation,
    /// The whole message: path, operation, cause.
    pub error: String,
    /// The OS error number, when there is one.
    pub errno: Option<i32>,
}

impl ErrorRecord {
    /// A record of `error` for `source` -> `destination`.
    pub fn new(source: &Path, destination: Option<&Path>, error: &Error) -> Self {
        ErrorRecord {
            paths: Endpoints::new(source, destination),
            operation: error.operation,
            error: error.to_string(),
            errno: error.errno(),
        }
    }
}

/// A file left alone on purpose.
#[derive(Debug, Clone, Serialize)]
pub struct SkipRecord {
    /// Where from, and the destination that was kept.
    #[serde(flatten)]
    pub paths: Endpoints,
    /// Why.
    pub reason: &'static str,
}

/// Everything a run reports.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The layout version of this document.
    pub version: u32,
    /// Copied files, in plan order: only when something reads them after the run (see
    /// [`Report::add_file`]); the summary reads `counts`.
    pub files: Vec<FileRecord>,
    /// Failures, in plan order.
    pub errors: Vec<ErrorRecord>,
    /// Files skipped on purpose (`--no-clobber`).
    pub skipped: Vec<SkipRecord>,
    /// With `--mhl`: the ASC MHL generations written, one per copied folder (empty
    /// when none was). `None` without `--mhl`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mhl: Option<Vec<crate::mhl::Recorded>>,
    /// True when Ctrl-C or SIGTERM stopped the run early.
    pub interrupted: bool,
    /// The destination roots when there are several (`-t DIR` repeated): the summary
    /// gives a line for each.
    #[serde(skip)]
    pub destination_roots: Vec<String>,
    /// The statistics and the per-method counts.
    pub stats: StatsSnapshot,
    /// What the summary says of the files made, by destination root (`None` with one
    /// destination), counted as they are added, kept or not.
    #[serde(skip)]
    pub counts: BTreeMap<Option<String>, Counts>,
}

/// The files made for one destination root, as the summary counts them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Regular files copied.
    pub copies: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Copies by the mechanism that moved their bytes.
    pub methods: BTreeMap<&'static str, u64>,
    /// Copies whose size check ran and passed.
    pub verified: u64,
    /// Links and nodes made (not copies).
    pub made: u64,
}

impl Report {
    /// Counts a file the run made, and keeps its record when `keep`: a run whose
    /// records nobody reads after it (no JSON document, no ASC MHL generation to
    /// write) holds no record per file, which for 30,000 files of 1 KiB was 4.7 of
    /// zcopy's 27.7 MiB and 2,150 of its 7,020 page faults.
    pub fn add_file(&mut self, record: FileRecord, keep: bool) {
        let counts = self
            .counts
            .entry(record.paths.destination_root.clone())
            .or_default();
        if record.kind == Kind::Copy {
            counts.copies += 1;
            counts.bytes += record.bytes;
            if let Some(method) = record.method {
                *counts.methods.entry(method.name()).or_default() += 1;
            }
            counts.verified += u64::from(record.verified);
        } else {
            counts.made += 1;
        }
        if keep {
            self.files.push(record);
        }
    }

    /// Files copied, and links and nodes made, for every destination root together.
    fn totals(&self) -> (u64, u64) {
        self.counts.values().fold((0, 0), |(copies, made), counts| {
            (copies + counts.copies, made + counts.made)
        })
    }

    /// 0 all copied, 1 some failed, 130 interrupted.
    pub fn exit_code(&self) -> i32 {
        if self.interrupted {
            130
        } else if self.errors.is_empty() {
            0
        } else {
            1
        }
    }

    /// The JSON document.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serializes")
    }

    /// The last line of `--json-lines`: totals, after the per-file lines.
    pub fn final_json_line(&self) -> String {
        let (copies, made) = self.totals();
        json_line(
            "summary",
            &serde_json::json!({
                "version": self.version,
                "files": copies + made,
                "errors": self.errors.len(),
                "skipped": self.skipped.len(),
                "interrupted": self.interrupted,
                "stats": self.stats,
            }),
        )
    }

    /// The human summary, e.g. `3 files, 4.20 GiB in 1.90 s, 2.21 GiB/s; 3 zero-copy
    /// (clone 2, copy_file_range 1), 0 fallback`; with several destinations, first a
    /// line for each ([`Report::destination_line`]).
    pub fn summary(&self) -> String {
        let mut lines: Vec<String> = self
            .destination_roots
            .iter()
            .map(|root| self.destination_line(root))
            .collect();
        lines.push(self.total_line());
        lines.join("\n")
    }

    /// One destination's line of the summary: `ROOT: 3 files, 4.20 GiB (clone 2,
    /// chunked 1)`, then what was skipped or failed there and its ASC MHL generation.
    pub fn destination_line(&self, root: &str) -> String {
        let here = |paths: &Endpoints| paths.destination_root.as_deref() == Some(root);
        let counts = self
            .counts
            .get(&Some(root.to_string()))
            .cloned()
            .unwrap_or_default();
        let methods: Vec<String> = counts
            .methods
            .iter()
            .map(|(name, count)| format!("{name} {count}"))
            .collect();
        let mut line = format!(
            "{}: {} {}, {}",
            shown(Path::new(root)),
            counts.copies,
            if counts.copies == 1 { "file" } else { "files" },
            human_bytes(counts.bytes)
        );
        if !methods.is_empty() {
            line.push_str(&format!(" ({})", methods.join(", ")));
        }
        if counts.made > 0 {
            line.push_str(&format!("; {} made", counts.made));
        }
        if counts.verified > 0 {
            line.push_str(&format!("; {} verified", counts.verified));
        }
        let skipped = self.skipped.iter().filter(|skip| here(&skip.paths)).count();
        if skipped > 0 {
            line.push_str(&format!("; {skipped} skipped"));
        }
        let failed = self
            .errors
            .iter()
            .filter(|error| here(&error.paths))
            .count();
        if failed > 0 {
            line.push_str(&format!("; {failed} failed"));
        }
        if let Some(recorded) = self
            .mhl
            .iter()
            .flatten()
            .find(|recorded| Path::new(&recorded.generation).starts_with(root))
        {
            line.push_str(&format!("; ASC MHL generation {}", recorded.sequence));
        }
        line
    }

    /// The summary's line for the whole run.
    fn total_line(&self) -> String {
        let stats = &self.stats;
        let (files, made) = self.totals();
        let rate = if stats.total_duration_sec > 0.0 {
            human_bytes((stats.bytes_copied as f64 / stats.total_duration_sec) as u64)
        } else {
            human_bytes(0)
        };
        let kernel: Vec<String> = stats
            .methods
            .iter()
            .filter(|(name, count)| **count > 0 && **name != Method::Chunked.name())
            .map(|(name, count)| format!("{name} {count}"))
            .collect();
        let mut line = format!(
            "{files} {}, {} in {:.2} s, {rate}/s; {} zero-copy{}, {} fallback",
            if files == 1 { "file" } else { "files" },
            human_bytes(stats.bytes_copied),
            stats.total_duration_sec,
            stats.zero_copy_count,
            if kernel.is_empty() {
                String::new()
            } else {
                format!(" ({})", kernel.join(", "))
            },
            stats.fallback_count,
        );
        if made > 0 {
            line.push_str(&format!(
                "; {made} {} made",
                if made == 1 {
                    "link or node"
                } else {
                    "links or nodes"
                }
            ));
        }
        if !self.skipped.is_empty() {
            line.push_str(&format!("; {} skipped", self.skipped.len()));
        }
        if !self.errors.is_empty() {
            line.push_str(&format!("; {} failed", self.errors.len()));
        }
        if stats.verification_failures > 0 {
            line.push_str(&format!(
                " ({} failed verification)",
                stats.verification_failures
            ));
        }
        let written = self.mhl.as_ref().map_or(0, Vec::len);
        if written > 0 {
            line.push_str(&format!(
                "; {written} ASC MHL generation{} written",
                if written == 1 { "" } else { "s" }
            ));
        }
        if self.interrupted {
            line.push_str("; interrupted");
        }
        line
    }
}

/// A path as JSON text; bytes that are not valid UTF-8 become U+FFFD.
pub fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// What `zcopy --clean --json` prints: one document for all the directories cleaned.
#[derive(Debug, Default, Serialize)]
pub struct CleanReport {
    /// The layout version of this document.
    pub version: u32,
    /// The temporary files and hidden trees removed.
    pub removed: Vec<PathRecord>,
    /// Those a running zcopy holds, left as they are.
    pub in_use: Vec<PathRecord>,
    /// What could not be read or removed (`source` names the path).
    pub errors: Vec<ErrorRecord>,
}

/// One path in JSON: its text, and its exact bytes in base64 when the text cannot show
/// them (as `source` and `source_base64` in the other records).
#[derive(Debug, Clone, Serialize)]
pub struct PathRecord {
    /// The path.
    pub path: String,
    /// Its exact bytes, when `path` could not show them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_base64: Option<String>,
}

impl PathRecord {
    /// The JSON form of `path`.
    pub fn new(path: &Path) -> Self {
        let (path, path_base64) = path_forms(path);
        PathRecord { path, path_base64 }
    }
}

/// A path's [`path_text`], and its exact bytes in base64 when that text cannot show
/// them; the UTF-8 is checked once, as a record is made for every file of a run.
fn path_forms(path: &Path) -> (String, Option<String>) {
    use base64::Engine;
    if let Some(text) = path.to_str() {
        return (text.to_owned(), None);
    }
    #[cfg(unix)]
    let bytes = {
        use std::os::unix::ffi::OsStrExt;
        path.as_os_str().as_bytes()
    };
    #[cfg(not(unix))]
    let bytes = path.as_os_str().as_encoded_bytes();
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    (path_text(path), Some(encoded))
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn sizes_read_as_on_the_progress_bars() {
        for bytes in [
            0,
            1,
            512,
            1023,
            1024,
            1536,
            89_128_960,
            1 << 30,
            (1 << 40) + 7,
        ] {
            assert_eq!(
                human_bytes(bytes),
                indicatif::HumanBytes(bytes).to_string(),
                "{bytes} bytes"
            );
        }
    }
}
