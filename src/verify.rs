//! Checks after the copy and before the rename: the copy has the source's size
//! (`ZERO_COPY_VERIFY_COPY`), and the source did not change while it was read.

use std::time::SystemTime;

use crate::atomic::TempDest;
use crate::engine::{Cause, Context, Error, Operation, Source};

/// Compares the copy's size with the source's. Returns `true` when the check ran.
///
/// For pseudo files (procfs, sysfs) `stat` does not give the content's size, so the
/// copy is compared with the bytes actually read instead.
pub(crate) fn check(
    source: &Source<'_>,
    temp: &TempDest,
    copied: u64,
    enabled: bool,
) -> Result<bool, Error> {
    if !enabled {
        return Ok(false);
    }
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
    Ok(true)
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
