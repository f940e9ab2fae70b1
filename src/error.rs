//! The one error type of copies, plans and installs: what failed, on which path, and why.
//!
//! It sits below every module that reports errors (engine, atomic, preserve, plan, batch),
//! so their imports point one way.

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// The step of a copy that failed. Shown in messages and, in snake case, in the JSON
/// `operation` field, so scripts can tell a full disk while writing from a missing source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Looking at the source (stat) before opening it.
    StatSource,
    /// Opening the source for reading.
    OpenSource,
    /// Looking at the destination (stat) before writing.
    StatDestination,
    /// Opening an existing destination that is written in place (a FIFO or a device),
    /// or finding it may not be written.
    OpenDestination,
    /// Creating the temporary file beside the destination.
    CreateTemp,
    /// `ioctl(FICLONE)` or the platform's clone call.
    Clone,
    /// `copy_file_range(2)`.
    CopyFileRange,
    /// `sendfile(2)`.
    Sendfile,
    /// Reading the source in the buffered chunk copy.
    Read,
    /// Writing the temporary file in the buffered chunk copy.
    Write,
    /// Reserving the space of a large file's copy before its bytes are written
    /// (`fallocate(2)`).
    Allocate,
    /// Finding the data and holes of a sparse source (`lseek` with `SEEK_DATA`).
    MapHoles,
    /// Setting the final length, mode or timestamps of the temporary file.
    SetMetadata,
    /// `fsync(2)` of the file or of its directory.
    Fsync,
    /// Comparing the destination with the source after the copy.
    Verify,
    /// Checking that the source did not change while it was copied.
    CheckSource,
    /// Renaming the temporary file over the destination.
    Rename,
    /// Creating a directory of the destination tree (`-r`).
    CreateDir,
    /// Reading a directory of the source tree (`-r`).
    ReadDir,
    /// Recreating a symbolic link of the source tree (`-r`).
    CreateSymlink,
    /// Deciding what to copy where, before any byte moves.
    Plan,
    /// Removing a leftover temporary file (`--clean`).
    Remove,
    /// Keeping an existing destination under its backup name (`-b`).
    Backup,
    /// Making a hard link (`-l`, `--preserve=links`).
    CreateLink,
    /// Making a FIFO or device node (`-r` over special files).
    CreateSpecial,
    /// Hashing a file (`--hash`, `--mhl`, `zcopy verify`).
    Hash,
    /// Dropping a copy's cached pages before it is read back (`posix_fadvise`).
    DropCache,
    /// Reading or writing an ASC MHL history (`--mhl`, `zcopy verify`).
    Mhl,
}

impl Operation {
    /// The words used in human messages ("open source", "copy_file_range").
    pub fn describe(self) -> &'static str {
        match self {
            Operation::StatSource => "stat source",
            Operation::OpenSource => "open source",
            Operation::StatDestination => "stat destination",
            Operation::OpenDestination => "open destination",
            Operation::CreateTemp => "create temporary file",
            Operation::Clone => "clone",
            Operation::CopyFileRange => "copy_file_range",
            Operation::Sendfile => "sendfile",
            Operation::Read => "read",
            Operation::Write => "write",
            Operation::Allocate => "allocate",
            Operation::MapHoles => "map holes",
            Operation::SetMetadata => "set metadata",
            Operation::Fsync => "fsync",
            Operation::Verify => "verify",
            Operation::CheckSource => "check source",
            Operation::Rename => "rename",
            Operation::CreateDir => "create directory",
            Operation::ReadDir => "read directory",
            Operation::CreateSymlink => "create symlink",
            Operation::Plan => "plan",
            Operation::Remove => "remove",
            Operation::Backup => "back up",
            Operation::CreateLink => "create hard link",
            Operation::CreateSpecial => "create special file",
            Operation::Hash => "hash",
            Operation::DropCache => "drop cached pages",
            Operation::Mhl => "ASC MHL",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// Why an operation failed.
#[derive(Debug)]
pub enum Cause {
    /// The operating system said no.
    Os(io::Error),
    /// Source and destination are the same file (same device and inode).
    SameFile,
    /// The source is not a regular file (a FIFO, device, socket or directory).
    NotRegularFile(&'static str),
    /// The copy has a different size than the source.
    SizeMismatch {
        /// The source compared with.
        source: PathBuf,
        /// Bytes the source has.
        expected: u64,
        /// Bytes the destination got.
        actual: u64,
    },
    /// The copy's content hash differs from the source's.
    ChecksumMismatch {
        /// BLAKE3 of the source, hex.
        source: String,
        /// BLAKE3 of the copy, hex.
        copy: String,
    },
    /// The copy read back from the device has another media hash (`--hash`) than the
    /// source.
    HashMismatch {
        /// The algorithm, e.g. `xxh64`.
        algorithm: &'static str,
        /// The source's hash.
        source: String,
        /// The copy's hash.
        copy: String,
    },
    /// The copy has data where the source has a hole, and it is not zeros.
    HoleFilled {
        /// First byte of the hole.
        start: u64,
        /// End of the hole.
        end: u64,
    },
    /// The source changed while it was being copied.
    SourceChanged(&'static str),
    /// The one mechanism the user demanded (`--reflink=always`, `--method`) cannot copy
    /// this file here.
    MechanismRefused {
        /// What was demanded, e.g. "cannot clone (--reflink=always)".
        demand: String,
        /// The mechanism's answer.
        error: io::Error,
    },
    /// A usage problem found while planning (directory without `-r`, a tree into itself).
    Invalid(String),
    /// A tree built under a hidden name could not be renamed into place: the OS's
    /// answer, and where the complete copy was left (see `batch::staged`).
    NotInstalled {
        /// What rename(2) said.
        error: io::Error,
        /// The hidden directory holding the copy.
        kept_in: PathBuf,
    },
    /// Ctrl-C or SIGTERM arrived while this file was in flight.
    Interrupted,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Os(err) => write!(f, "{err}"),
            Cause::SameFile => f.write_str("source and destination are the same file"),
            Cause::NotRegularFile(kind) => write!(f, "not a regular file ({kind})"),
            Cause::SizeMismatch {
                source,
                expected,
                actual,
            } => write!(
                f,
                "size mismatch: source {} has {expected} bytes, copy has {actual} bytes",
                shown(source)
            ),
            Cause::ChecksumMismatch { source, copy } => write!(
                f,
                "checksum mismatch: source has BLAKE3 {source}, copy has {copy}"
            ),
            Cause::HashMismatch {
                algorithm,
                source,
                copy,
            } => write!(
                f,
                "checksum mismatch: source has {algorithm} {source}, copy read back has {copy}"
            ),
            Cause::HoleFilled { start, end } => write!(
                f,
                "content mismatch: the source has a hole at bytes {start}..{end}, the copy has data there"
            ),
            Cause::SourceChanged(what) => write!(f, "source changed during the copy ({what})"),
            Cause::MechanismRefused { demand, error } => write!(f, "{demand}: {error}"),
            Cause::Invalid(message) => f.write_str(message),
            Cause::NotInstalled { error, kept_in } => {
                write!(f, "{error}; the copy is complete in {}", shown(kept_in))
            }
            Cause::Interrupted => f.write_str("interrupted"),
        }
    }
}

/// A failed copy step: the path it failed on, the operation, and the cause.
///
/// Displays like ripgrep's messages: `PATH: OPERATION: CAUSE`.
#[derive(Debug)]
pub struct Error {
    /// The path the operation failed on.
    pub path: PathBuf,
    /// What was being done.
    pub operation: Operation,
    /// Why it failed.
    pub cause: Cause,
}

impl Error {
    /// An error with an explicit cause.
    pub fn new(path: impl Into<PathBuf>, operation: Operation, cause: Cause) -> Self {
        Error {
            path: path.into(),
            operation,
            cause,
        }
    }

    /// An operating-system error.
    pub fn os(path: impl Into<PathBuf>, operation: Operation, err: io::Error) -> Self {
        Error::new(path, operation, Cause::Os(err))
    }

    /// The OS error number, when the cause carries one.
    pub fn errno(&self) -> Option<i32> {
        match &self.cause {
            Cause::Os(err)
            | Cause::MechanismRefused { error: err, .. }
            | Cause::NotInstalled { error: err, .. } => err.raw_os_error(),
            _ => None,
        }
    }

    /// True when the copy was abandoned because the user interrupted it.
    pub fn is_interrupted(&self) -> bool {
        matches!(self.cause, Cause::Interrupted)
    }

    /// True when the OS said the name is taken (EEXIST).
    pub fn is_already_exists(&self) -> bool {
        matches!(&self.cause, Cause::Os(err) if err.kind() == io::ErrorKind::AlreadyExists)
    }

    /// True when this is a failed verification (counted in `verification_failures`).
    pub fn is_verification_failure(&self) -> bool {
        matches!(
            self.cause,
            Cause::SizeMismatch { .. }
                | Cause::ChecksumMismatch { .. }
                | Cause::HashMismatch { .. }
                | Cause::HoleFilled { .. }
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}",
            shown(&self.path),
            self.operation,
            self.cause
        )
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.cause {
            Cause::Os(err)
            | Cause::MechanismRefused { error: err, .. }
            | Cause::NotInstalled { error: err, .. } => Some(err),
            _ => None,
        }
    }
}

/// A path as a line for people shows it (messages, `-v`, notes, progress bars):
/// as it is, unless it holds a control character (newline, ESC, DEL, C1), a line or
/// paragraph separator, or bytes that are not UTF-8. Written raw, those would move the
/// cursor, retitle the terminal or forge lines of a log; such a path is shown instead
/// as GNU cp and ls show it, in the shell's quoting, the troublesome bytes escaped:
/// `'a'$'\n''b'`, `'clip'$'\033'']0'`, `''$'\377'`. That form brings its own quotes,
/// and pasted into a shell it names the file exactly.
pub fn shown(path: &Path) -> Cow<'_, str> {
    match shell_escaped(path) {
        Some(escaped) => Cow::Owned(escaped),
        None => path.to_string_lossy(),
    }
}

/// [`shown`] for messages that put a path in single quotes (cp's `'SRC' -> 'DST'`):
/// `'take 1.mov'` for an ordinary name, the escaped form (quoted already) for another.
pub fn quoted(path: &Path) -> String {
    shell_escaped(path).unwrap_or_else(|| format!("'{}'", path.to_string_lossy()))
}

/// True for a character a path may not show raw: C0, DEL and C1 controls, and the
/// Unicode line and paragraph separators, which some viewers break lines at.
fn is_troublesome(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// The path in gnulib's shell-escape-always quoting (cp's `quoteaf`), or `None` when it
/// holds nothing troublesome: `'...'` around the text, `'\''` for a quote, and each
/// run of troublesome bytes in `$'...'` as `\n`, `\t` and the like or three octal digits.
fn shell_escaped(path: &Path) -> Option<String> {
    let bytes = path.as_os_str().as_encoded_bytes();
    if std::str::from_utf8(bytes).is_ok_and(|text| !text.chars().any(is_troublesome)) {
        return None;
    }
    let mut out = String::from("'");
    // Inside a `$'...'` run: the next ordinary character first closes it and reopens
    // plain quotes.
    let mut escaping = false;
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if is_troublesome(c) {
                for &byte in c.encode_utf8(&mut [0; 4]).as_bytes() {
                    escape_byte(&mut out, &mut escaping, byte);
                }
            } else if c == '\'' {
                // Closes whichever quoting is open, either kind.
                out.push_str("'\\''");
                escaping = false;
            } else {
                if escaping {
                    out.push_str("''");
                    escaping = false;
                }
                out.push(c);
            }
        }
        for &byte in chunk.invalid() {
            escape_byte(&mut out, &mut escaping, byte);
        }
    }
    out.push('\'');
    Some(out)
}

/// Appends one troublesome byte, opening a `$'...'` run unless one is open.
fn escape_byte(out: &mut String, escaping: &mut bool, byte: u8) {
    if !*escaping {
        out.push_str("'$'");
        *escaping = true;
    }
    match byte {
        0x07 => out.push_str("\\a"),
        0x08 => out.push_str("\\b"),
        b'\t' => out.push_str("\\t"),
        b'\n' => out.push_str("\\n"),
        0x0b => out.push_str("\\v"),
        0x0c => out.push_str("\\f"),
        b'\r' => out.push_str("\\r"),
        _ => out.push_str(&format!("\\{byte:03o}")),
    }
}

/// Attaches a path and an operation to an `io::Result`.
pub(crate) trait Context<T> {
    fn op(self, path: &Path, operation: Operation) -> Result<T, Error>;
}

impl<T> Context<T> for io::Result<T> {
    fn op(self, path: &Path, operation: Operation) -> Result<T, Error> {
        self.map_err(|err| Error::os(path, operation, err))
    }
}

/// What a file that is not a regular file is, in words (`a FIFO`), for the messages
/// that refuse it.
pub fn not_a_regular_file(metadata: &std::fs::Metadata) -> Option<&'static str> {
    let kind = metadata.file_type();
    if kind.is_file() {
        return None;
    }
    if kind.is_dir() {
        return Some("a directory");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return Some("a FIFO");
        }
        if kind.is_socket() {
            return Some("a socket");
        }
        if kind.is_char_device() {
            return Some("a character device");
        }
        if kind.is_block_device() {
            return Some("a block device");
        }
    }
    Some("a special file")
}

#[cfg(all(test, unix))]
mod tests {
    use super::{quoted, shown};
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    fn path(bytes: &[u8]) -> &Path {
        Path::new(OsStr::from_bytes(bytes))
    }

    #[test]
    fn ordinary_names_are_shown_as_they_are() {
        for name in ["take 1.mov", "it's", "café/été.wav", "a\u{202e}b", "-x", ""] {
            assert_eq!(shown(Path::new(name)), name);
            assert_eq!(quoted(Path::new(name)), format!("'{name}'"));
        }
    }

    /// Each expected form is what `cp NAME /nonexistent/` printed for NAME (GNU cp 9.1,
    /// C.UTF-8), pasted.
    #[test]
    fn troublesome_names_are_escaped_as_cp_escapes_them() {
        let cases: [(&[u8], &str); 13] = [
            (b"a\nb", r"'a'$'\n''b'"),
            (b"\nb", r"''$'\n''b'"),
            (b"a\n", r"'a'$'\n'"),
            (
                b"clip\x1b]0;pwned\x07.mov",
                r"'clip'$'\033'']0;pwned'$'\a''.mov'",
            ),
            (b"\x1b[31mred", r"''$'\033''[31mred'"),
            (b"x\x7fy", r"'x'$'\177''y'"),
            (b"\xff", r"''$'\377'"),
            (b"a\xffb", r"'a'$'\377''b'"),
            (b"\r\x07\x08\x0c\x0b\t", r"''$'\r\a\b\f\v\t'"),
            (b"\xc2\x9b", r"''$'\302\233'"),
            ("a\u{2028}b".as_bytes(), r"'a'$'\342\200\250''b'"),
            (b"\n'", r"''$'\n'\'''"),
            (b"'\n", r"''\'''$'\n'"),
        ];
        for (name, expected) in cases {
            assert_eq!(shown(path(name)), expected, "{name:?}");
            assert_eq!(quoted(path(name)), expected, "{name:?}");
        }
    }
}
