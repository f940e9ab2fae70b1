//! Checks after the copy and before the rename: the source did not change while it
//! was read, and the copy matches it (`ZERO_COPY_VERIFY_COPY`, `ZERO_COPY_VERIFY_MODE`).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use super::file::Source;
use super::Observer;
use crate::atomic::TempDest;
use crate::config::VerifyMode;
use crate::error::{Cause, Context, Error, Operation};
use crate::hash::{self, Algorithm};

/// Compares the copy with the source. Returns `true` when a check ran.
///
/// `Size` compares lengths. For pseudo files (procfs, sysfs) `stat` does not give the
/// content's size, so the copy is compared with the bytes actually read instead.
/// `Checksum` also compares the content by BLAKE3 (see [`compare_content`]); pseudo
/// files, whose content may differ on every read, get the size check only.
///
/// With `source_checksum`, the source's BLAKE3 (of its data segments) is the one
/// computed once for all the destinations of a source ([`super::fanout`]).
pub(crate) fn check_against(
    source: &Source<'_>,
    temp: &TempDest,
    copied: u64,
    mode: Option<VerifyMode>,
    source_checksum: Option<&super::fanout::SourceHash>,
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
        .op(temp.destination(), Operation::Verify)?
        .len();
    if actual != expected {
        return Err(Error::new(
            temp.destination(),
            Operation::Verify,
            Cause::SizeMismatch {
                source: source.path.to_path_buf(),
                expected,
                actual,
            },
        ));
    }
    if mode == VerifyMode::Checksum && source.size_is_exact {
        compare_content(source, temp, source_checksum, observer)?;
    }
    Ok(true)
}

/// Compares the content of source and copy by BLAKE3, in time proportional to the
/// data rather than the apparent size (a sparse terabyte must not take an hour):
/// the source's data segments are hashed in both files, and wherever the source has a
/// hole the copy must have a hole too or read as zeros.
fn compare_content(
    source: &Source<'_>,
    temp: &TempDest,
    source_checksum: Option<&super::fanout::SourceHash>,
    observer: &dyn Observer,
) -> Result<(), Error> {
    let data =
        super::data_segments(&source.file, &source.metadata).op(source.path, Operation::Verify)?;
    let source_hash = match source_checksum {
        Some(_) => None,
        None => Some(blake3_of(&source.file, source.path, &data, observer)?),
    };
    // The copy is read back from the device, not from the pages just written.
    hash::drop_cached_pages(temp.file(), temp.destination())?;
    let copy_hash = blake3_of(temp.file(), temp.destination(), &data, observer)?
        .to_hex()
        .to_string();
    let source_hash = match (source_hash, source_checksum) {
        (Some(hash), _) => hash.to_hex().to_string(),
        (None, Some(shared)) => shared.wait()?,
        (None, None) => unreachable!("one or the other"),
    };
    if source_hash != copy_hash {
        return Err(Error::new(
            temp.destination(),
            Operation::Verify,
            Cause::ChecksumMismatch {
                source: source_hash,
                copy: copy_hash,
            },
        ));
    }
    let copy_metadata = temp
        .file()
        .metadata()
        .op(temp.destination(), Operation::Verify)?;
    let copy_data = super::data_segments(temp.file(), &copy_metadata)
        .op(temp.destination(), Operation::Verify)?;
    for extra in outside(&copy_data, &data) {
        if !reads_as_zeros(temp.file(), temp.destination(), extra.clone(), observer)? {
            return Err(Error::new(
                temp.destination(),
                Operation::Verify,
                Cause::HoleFilled {
                    start: extra.start,
                    end: extra.end,
                },
            ));
        }
    }
    Ok(())
}

/// Files from this size on are hashed on two threads, source and copy at once.
const PARALLEL_HASH_MIN: u64 = 1 << 20;

/// `--hash`: hashes the source and, at the same time, the copy read back from the
/// device ([`hash::read_back`]); a difference fails the copy with both hashes. Pseudo
/// files (procfs, sysfs), whose content may change between two reads, get no hash.
pub(crate) fn media_hash(
    source: &Source<'_>,
    temp: &TempDest,
    algorithm: Option<Algorithm>,
    observer: &dyn Observer,
) -> Result<Option<(Algorithm, String)>, Error> {
    let Some(algorithm) = algorithm else {
        return Ok(None);
    };
    if !source.size_is_exact {
        return Ok(None);
    }
    let interrupted = || observer.interrupted();
    let (source_hash, copy_hash) = if source.metadata.len() < PARALLEL_HASH_MIN {
        // Small files: a thread would cost more than the second read it overlaps.
        (
            hash::hash_open_file(&source.file, source.path, algorithm, &interrupted),
            hash::read_back(temp.file(), temp.destination(), algorithm, &interrupted),
        )
    } else {
        // The observer need not be shareable between threads: this thread hashes the
        // source and relays an interruption to the read-back through a flag.
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let (done, finished) = std::sync::mpsc::channel();
            let stop = &stop;
            scope.spawn(move || {
                let hash = hash::read_back(temp.file(), temp.destination(), algorithm, &|| {
                    stop.load(Ordering::Relaxed)
                });
                let _ = done.send(hash);
            });
            let source_hash = hash::hash_open_file(&source.file, source.path, algorithm, &|| {
                observer.interrupted()
            });
            if source_hash.is_err() {
                stop.store(true, Ordering::Relaxed);
            }
            let copy_hash = loop {
                match finished.recv_timeout(std::time::Duration::from_millis(20)) {
                    Ok(hash) => break hash,
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                        if observer.interrupted() {
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                        unreachable!("the read-back thread sends before it ends, or panics")
                    }
                }
            };
            (source_hash, copy_hash)
        })
    };
    compare_media_hashes(temp, algorithm, source_hash, copy_hash, observer)
}

/// [`media_hash`] with the source's hash computed elsewhere, once for all its
/// destinations ([`super::fanout`]): the copy is read back from the device on this
/// thread, then compared with the source's hash when that is ready.
pub(crate) fn media_hash_against(
    source: &Source<'_>,
    temp: &TempDest,
    algorithm: Option<Algorithm>,
    source_hash: &super::fanout::SourceHash,
    observer: &dyn Observer,
) -> Result<Option<(Algorithm, String)>, Error> {
    let Some(algorithm) = algorithm else {
        return Ok(None);
    };
    if !source.size_is_exact {
        return Ok(None);
    }
    let copy_hash = hash::read_back(temp.file(), temp.destination(), algorithm, &|| {
        observer.interrupted()
    });
    let source_hash = source_hash.wait();
    compare_media_hashes(temp, algorithm, source_hash, copy_hash, observer)
}

/// The end of a media hash check: an interruption, a failed read on either side, or
/// two hashes that differ fail it; equal hashes are the copy's hash.
fn compare_media_hashes(
    temp: &TempDest,
    algorithm: Algorithm,
    source_hash: Result<String, Error>,
    copy_hash: Result<String, Error>,
    observer: &dyn Observer,
) -> Result<Option<(Algorithm, String)>, Error> {
    if observer.interrupted() {
        return Err(Error::new(
            temp.destination(),
            Operation::Verify,
            Cause::Interrupted,
        ));
    }
    let (source_hash, copy_hash) = (source_hash?, copy_hash?);
    if source_hash != copy_hash {
        return Err(Error::new(
            temp.destination(),
            Operation::Verify,
            Cause::HashMismatch {
                algorithm: algorithm.name(),
                source: source_hash,
                copy: copy_hash,
            },
        ));
    }
    Ok(Some((algorithm, source_hash)))
}

/// The parts of `ranges` not covered by `covered` (both sorted and disjoint).
fn outside(ranges: &[Range<u64>], covered: &[Range<u64>]) -> Vec<Range<u64>> {
    let mut result = Vec::new();
    for range in ranges {
        let mut start = range.start;
        for cover in covered
            .iter()
            .filter(|c| c.end > range.start && c.start < range.end)
        {
            if cover.start > start {
                result.push(start..cover.start);
            }
            start = start.max(cover.end);
        }
        if start < range.end {
            result.push(start..range.end);
        }
    }
    result
}

/// Reads `ranges` of `file` through `visit`, 1 MiB at a time.
fn read_ranges(
    file: &File,
    path: &Path,
    ranges: &[Range<u64>],
    observer: &dyn Observer,
    mut visit: impl FnMut(&[u8]) -> bool,
) -> Result<(), Error> {
    let mut reader = file;
    let mut buffer = crate::buffer::IoBuffer::new(1 << 20);
    for range in ranges {
        reader
            .seek(SeekFrom::Start(range.start))
            .op(path, Operation::Verify)?;
        let mut left = range.end - range.start;
        while left > 0 {
            if observer.interrupted() {
                return Err(Error::new(path, Operation::Verify, Cause::Interrupted));
            }
            let want = usize::try_from(left).map_or(buffer.len(), |n| n.min(buffer.len()));
            match reader.read(&mut buffer[..want]) {
                Ok(0) => break,
                Ok(n) => {
                    if !visit(&buffer[..n]) {
                        return Ok(());
                    }
                    left -= n as u64;
                }
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(err) => return Err(Error::os(path, Operation::Verify, err)),
            }
        }
    }
    Ok(())
}

/// BLAKE3 (hex) of a source's data segments, what [`compare_content`] compares a copy
/// with, for [`super::fanout`] to compute once for all destinations.
pub(crate) fn source_checksum(
    file: &File,
    path: &Path,
    interrupted: &dyn Fn() -> bool,
) -> Result<String, Error> {
    struct Asking<'a>(&'a dyn Fn() -> bool);
    impl Observer for Asking<'_> {
        fn interrupted(&self) -> bool {
            (self.0)()
        }
    }
    let metadata = file.metadata().op(path, Operation::Verify)?;
    let data = super::data_segments(file, &metadata).op(path, Operation::Verify)?;
    Ok(blake3_of(file, path, &data, &Asking(interrupted))?
        .to_hex()
        .to_string())
}

/// BLAKE3 of the bytes of `file` in `ranges`.
fn blake3_of(
    file: &File,
    path: &Path,
    ranges: &[Range<u64>],
    observer: &dyn Observer,
) -> Result<blake3::Hash, Error> {
    let mut hasher = blake3::Hasher::new();
    read_ranges(file, path, ranges, observer, |bytes| {
        hasher.update(bytes);
        true
    })?;
    Ok(hasher.finalize())
}

fn reads_as_zeros(
    file: &File,
    path: &Path,
    range: Range<u64>,
    observer: &dyn Observer,
) -> Result<bool, Error> {
    let mut zeros = true;
    read_ranges(file, path, &[range], observer, |bytes| {
        zeros = bytes.iter().all(|&b| b == 0);
        zeros
    })?;
    Ok(zeros)
}

/// Fails when the source was truncated, appended to, rewritten or replaced during the
/// copy: its path now names another file, or its size or modification time differ
/// from when it was opened.
///
/// One stat of the path does both on Unix: when the path still names the opened file
/// (same device and inode), what it reports is that file's current size and time.
pub(crate) fn source_unchanged(source: &Source<'_>) -> Result<(), Error> {
    let changed = |what| {
        Err(Error::new(
            source.path,
            Operation::CheckSource,
            Cause::SourceChanged(what),
        ))
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let before = &source.metadata;
        let now = crate::at::file(source.path, crate::at::stat)
            .op(source.path, Operation::CheckSource)?;
        if (now.st_dev as u64, now.st_ino as u64) != (before.dev(), before.ino()) {
            return changed("its path now names another file");
        }
        if now.st_size as u64 != before.len() {
            return changed("its size changed");
        }
        if (now.st_mtime as i64, now.st_mtime_nsec as i64) != (before.mtime(), before.mtime_nsec())
        {
            return changed("it was modified");
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        let now = source
            .file
            .metadata()
            .op(source.path, Operation::CheckSource)?;
        if now.len() != source.metadata.len() {
            return changed("its size changed");
        }
        if now.modified().ok() != source.metadata.modified().ok() {
            return changed("it was modified");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::outside;

    #[test]
    fn outside_subtracts_covered_ranges() {
        assert_eq!(
            outside(&[0..100], &[10..20, 50..60]),
            vec![0..10, 20..50, 60..100]
        );
        assert_eq!(outside(&[0..100], &[0..100]), vec![]);
        assert_eq!(
            outside(&[5..10, 30..40], &[0..7, 35..50]),
            vec![7..10, 30..35]
        );
        assert_eq!(outside(&[], &[0..10]), vec![]);
    }
}
