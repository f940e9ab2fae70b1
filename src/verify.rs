//! Checks after the copy and before the rename: the source did not change while it
//! was read, and the copy matches it (`ZERO_COPY_VERIFY_COPY`, `ZERO_COPY_VERIFY_MODE`).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::SystemTime;

use crate::atomic::TempDest;
use crate::config::VerifyMode;
use crate::engine::{Cause, Context, Error, Observer, Operation, Source};

/// Compares the copy with the source. Returns `true` when a check ran.
///
/// `Size` compares lengths. For pseudo files (procfs, sysfs) `stat` does not give the
/// content's size, so the copy is compared with the bytes actually read instead.
/// `Checksum` also compares BLAKE3 hashes of both files, read again from the start;
/// pseudo files, whose content may differ on every read, get the size check only.
pub(crate) fn check(
    source: &Source<'_>,
    temp: &TempDest,
    copied: u64,
    mode: Option<VerifyMode>,
    observer: &dyn Observer,
) -> Result<bool, Error> {
    let Some(mode) = mode else {
        return Ok(false);
    };
    let expected = if source.size_is_exact {
        source.metadata.len()
    } else {
        copied
    };
    let actual = temp
        .file()
        .metadata()
        .op(temp.path(), Operation::Verify)?
        .len();
    if actual != expected {
        return Err(Error::new(
            temp.path(),
            Operation::Verify,
            Cause::SizeMismatch { expected, actual },
        ));
    }
    if mode == VerifyMode::Checksum && source.size_is_exact {
        let source_hash = blake3_of(&source.file, source.path, observer)?;
        let copy_hash = blake3_of(temp.file(), temp.path(), observer)?;
        if source_hash != copy_hash {
            return Err(Error::new(
                temp.path(),
                Operation::Verify,
                Cause::ChecksumMismatch {
                    source: source_hash.to_hex().to_string(),
                    copy: copy_hash.to_hex().to_string(),
                },
            ));
        }
    }
    Ok(true)
}

/// BLAKE3 of a whole file, read from the start in 1 MiB pieces.
fn blake3_of(file: &File, path: &Path, observer: &dyn Observer) -> Result<blake3::Hash, Error> {
    let mut reader = file;
    reader
        .seek(SeekFrom::Start(0))
        .op(path, Operation::Verify)?;
    let mut hasher = blake3::Hasher::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        if observer.interrupted() {
            return Err(Error::new(path, Operation::Verify, Cause::Interrupted));
        }
        match reader.read(&mut buffer) {
            Ok(0) => return Ok(hasher.finalize()),
            Ok(n) => {
                hasher.update(&buffer[..n]);
            }
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(Error::os(path, Operation::Verify, err)),
        }
    }
}

/// Fails when the source was truncated, appended to, rewritten or replaced during the
/// copy: its size or modification time differ from when it was opened, or its path
/// now names another file.
pub(crate) fn source_unchanged(source: &Source<'_>) -> Result<(), Error> {
    let now = source
        .file
        .metadata()
        .op(source.path, Operation::CheckSource)?;
    let changed = |what| {
        Err(Error::new(
            source.path,
            Operation::CheckSource,
            Cause::SourceChanged(what),
        ))
    };
    if now.len() != source.metadata.len() {
        return changed("its size changed");
    }
    if modified(&now) != modified(&source.metadata) {
        return changed("it was modified");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match std::fs::metadata(source.path) {
            Ok(by_path) if by_path.dev() == now.dev() && by_path.ino() == now.ino() => {}
            Ok(_) => return changed("its path now names another file"),
            Err(err) => return Err(Error::os(source.path, Operation::CheckSource, err)),
        }
    }
    Ok(())
}

fn modified(metadata: &std::fs::Metadata) -> Option<SystemTime> {
    metadata.modified().ok()
}
