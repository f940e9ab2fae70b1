//! What a run did: the per-file results, the errors, and the statistics, as a summary
//! for people (stderr) or one JSON document for scripts (stdout).

use std::path::Path;

use humansize::{format_size, BINARY};
use serde::Serialize;

use crate::engine::{Error, Method};
use crate::stats::StatsSnapshot;

/// The version of the JSON document's layout; it changes when a field changes meaning
/// or disappears (new fields may appear without it changing).
pub const JSON_VERSION: u32 = 1;

/// A file that was copied.
#[derive(Debug, Clone, Serialize)]
pub struct FileRecord {
    /// The source path.
    pub source: String,
    /// The destination path.
    pub destination: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// The mechanism that moved the bytes.
    pub method: Method,
    /// Seconds from opening the source to the rename.
    pub duration_sec: f64,
    /// True when the size check ran and passed; false when verification is off.
    pub verified: bool,
}

/// A file (or directory) that could not be copied.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorRecord {
    /// The source path.
    pub source: String,
    /// The destination path, when known.
    pub destination: Option<String>,
    /// The step that failed, e.g. `open_source`, `copy_file_range`, `verify`.
    pub operation: crate::engine::Operation,
    /// The whole message: path, operation, cause.
    pub error: String,
    /// The OS error number, when there is one.
    pub errno: Option<i32>,
}

impl ErrorRecord {
    /// A record of `error` for `source` -> `destination`.
    pub fn new(source: &Path, destination: Option<&Path>, error: &Error) -> Self {
        ErrorRecord {
            source: path_text(source),
            destination: destination.map(path_text),
            operation: error.operation,
            error: error.to_string(),
            errno: error.errno(),
        }
    }
}

/// A file left alone on purpose.
#[derive(Debug, Clone, Serialize)]
pub struct SkipRecord {
    /// The source path.
    pub source: String,
    /// The destination that was kept.
    pub destination: String,
    /// Why.
    pub reason: &'static str,
}

/// Everything a run reports.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The layout version of this document.
    pub version: u32,
    /// Copied files, in plan order.
    pub files: Vec<FileRecord>,
    /// Failures, in plan order.
    pub errors: Vec<ErrorRecord>,
    /// Files skipped on purpose (`--no-clobber`).
    pub skipped: Vec<SkipRecord>,
    /// True when Ctrl-C or SIGTERM stopped the run early.
    pub interrupted: bool,
    /// The spec's statistics and the per-method counts.
    pub stats: StatsSnapshot,
}

impl Report {
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

    /// The human summary, e.g. `3 files, 4.2 GiB in 1.90 s, 2.2 GiB/s; 3 zero-copy
    /// (clone 2, copy_file_range 1), 0 fallback`.
    pub fn summary(&self) -> String {
        let stats = &self.stats;
        let files = self.files.len();
        let rate = if stats.total_duration_sec > 0.0 {
            format_size(
                (stats.bytes_copied as f64 / stats.total_duration_sec) as u64,
                BINARY,
            )
        } else {
            format_size(0u64, BINARY)
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
            format_size(stats.bytes_copied, BINARY),
            stats.total_duration_sec,
            stats.zero_copy_count,
            if kernel.is_empty() {
                String::new()
            } else {
                format!(" ({})", kernel.join(", "))
            },
            stats.fallback_count,
        );
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
        if self.interrupted {
            line.push_str("; interrupted");
        }
        line
    }
}

/// A path as JSON text. Names that are not valid UTF-8 are shown with U+FFFD in place
/// of the invalid bytes.
pub fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}
