//! The last rung, on every platform: buffered reads and writes through one buffer of
//! `ZERO_COPY_CHUNK_SIZE_MB`. Also the path for files below `ZERO_COPY_MIN_SIZE_MB`,
//! with zero-copy disabled, and for pseudo files whose size `stat` cannot tell.

use std::fs::File;
use std::io;
use std::ops::Range;

use super::{Observer, Operation, RungError, RungResult};

/// One segment from offset 0 to the end of file, for sources whose size is unknown.
const UNTIL_EOF: &[Range<u64>] = &[0..u64::MAX];

/// Copies a source of unknown size (procfs, sysfs) until its end of file.
pub(crate) fn copy_until_eof(
    source: &File,
    destination: &File,
    chunk_size: usize,
    observer: &dyn Observer,
) -> RungResult {
    copy(source, destination, UNTIL_EOF, chunk_size, observer)
}

/// The read size for pseudo files: what cat uses.
const PSEUDO_FILE_BUFFER: usize = 128 * 1024;

/// Copies the `segments` of `source` to the same offsets of `destination`, each until
/// its end or the source's end of file, whichever comes first. A segment ending at
/// `u64::MAX` means "until end of file" (procfs and sysfs files).
pub(crate) fn copy(
    source: &File,
    destination: &File,
    segments: &[Range<u64>],
    chunk_size: usize,
    observer: &dyn Observer,
) -> RungResult {
    let buffer_size = buffer_size(segments, chunk_size);
    BUFFER.with_borrow_mut(|buffer| {
        // Page-aligned (see crate::buffer): in zcopy a buffer from malloc made small
        // copies 3x slower or not, with the heap's layout from build to build.
        buffer.grow_to(buffer_size);
        copy_with(
            source,
            destination,
            segments,
            &mut buffer[..buffer_size],
            observer,
            write_all_at,
        )
    })
}

/// The buffer a chunk copy of `segments` needs. Small files get a small buffer: a 64
/// MiB allocation per thumbnail would cost more than the copy. Files of unknown size
/// (UNTIL_EOF) are pseudo files, read with cat's buffer size: procfs sysctl files
/// allocate the requested count in the kernel and answer a 64 MiB read with ENOMEM.
pub(super) fn buffer_size(segments: &[Range<u64>], chunk_size: usize) -> usize {
    if segments == UNTIL_EOF {
        return PSEUDO_FILE_BUFFER.min(chunk_size);
    }
    let wanted: u64 = segments
        .iter()
        .map(|segment| segment.end - segment.start)
        .fold(0, u64::saturating_add);
    usize::try_from(wanted).map_or(chunk_size, |n| n.clamp(1, chunk_size))
}

/// The granularity of `--sparse=always`: blocks of this size that hold only zeros are
/// not written (cp checks each st_blksize block, 4 KiB on the usual filesystems).
#[cfg(target_os = "linux")]
const HOLE_BLOCK: usize = 4096;

/// Like [`copy`], but an all-zero block of [`HOLE_BLOCK`] bytes is skipped instead of
/// written, leaving a hole (`--sparse=always`). The caller sets the final length.
/// Linux only: elsewhere the copy is a platform call or a plain chunk copy.
#[cfg(target_os = "linux")]
pub(crate) fn copy_making_holes(
    source: &File,
    destination: &File,
    segments: &[Range<u64>],
    chunk_size: usize,
    observer: &dyn Observer,
) -> RungResult {
    let buffer_size = chunk_size.clamp(HOLE_BLOCK, 1 << 20);
    let mut buffer = crate::buffer::IoBuffer::new(buffer_size);
    copy_with(
        source,
        destination,
        segments,
        &mut buffer,
        observer,
        write_skipping_zero_blocks,
    )
}

/// Writes `data` at `offset` except its all-zero [`HOLE_BLOCK`]s, which stay holes.
#[cfg(target_os = "linux")]
fn write_skipping_zero_blocks(destination: &File, data: &[u8], offset: u64) -> io::Result<()> {
    for (index, block) in data.chunks(HOLE_BLOCK).enumerate() {
        if block.iter().any(|&byte| byte != 0) {
            write_all_at(destination, block, offset + (index * HOLE_BLOCK) as u64)?;
        }
    }
    Ok(())
}

thread_local! {
    /// Each worker's copy buffer, kept between files: allocating and zeroing a fresh
    /// one per file showed in copies of many small files. It grows to the largest
    /// buffer a file has needed (at most the chunk size).
    static BUFFER: std::cell::RefCell<crate::buffer::IoBuffer> =
        const { std::cell::RefCell::new(crate::buffer::IoBuffer::empty()) };
}

/// Reads each segment into `buffer` and hands what was read to `write` at the same
/// offset, until the segment's end or the source's end of file.
fn copy_with(
    source: &File,
    destination: &File,
    segments: &[Range<u64>],
    buffer: &mut [u8],
    observer: &dyn Observer,
    write: impl Fn(&File, &[u8], u64) -> io::Result<()>,
) -> RungResult {
    let mut copied = 0u64;
    for segment in segments {
        let mut offset = segment.start;
        while offset < segment.end {
            if observer.interrupted() {
                return Err(RungError::Interrupted);
            }
            let want = usize::try_from(segment.end - offset)
                .map_or(buffer.len(), |left| left.min(buffer.len()));
            let read = match read_at(source, &mut buffer[..want], offset) {
                Ok(0) => return Ok(copied),
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(RungError::Failed(Operation::Read, err)),
            };
            write(destination, &buffer[..read], offset)
                .map_err(|err| RungError::Failed(Operation::Write, err))?;
            offset += read as u64;
            copied += read as u64;
            observer.progress(offset);
        }
    }
    Ok(copied)
}

// Positional reads and writes: no seeks, and no file position left behind by an
// earlier rung (sendfile moves the destination's) to reason about.
#[cfg(unix)]
pub(super) fn read_at(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<usize> {
    match std::os::unix::fs::FileExt::read_at(file, buffer, offset) {
        // A FIFO or character device (--copy-contents) has no offsets (ESPIPE): it is
        // read in order, which is the order the copy asks in.
        Err(err) if err.raw_os_error() == Some(libc::ESPIPE) => read_stream(file, buffer),
        other => other,
    }
}

/// A read of a FIFO (opened non-blocking, see file::open_stream) that waits for data
/// at most a short slice: when none came, Interrupted, so that the caller retries after
/// checking for an interruption. 0 is the end of file: no writer is left.
#[cfg(unix)]
fn read_stream(file: &File, buffer: &mut [u8]) -> io::Result<usize> {
    match io::Read::read(&mut &*file, buffer) {
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
            #[cfg(target_os = "linux")]
            super::file::wait_readable(file)?;
            Err(io::Error::new(io::ErrorKind::Interrupted, "no data yet"))
        }
        other => other,
    }
}

#[cfg(unix)]
pub(super) fn write_all_at(file: &File, buffer: &[u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buffer, offset)
}

#[cfg(windows)]
pub(super) fn read_at(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buffer, offset)
}

#[cfg(windows)]
pub(super) fn write_all_at(file: &File, mut buffer: &[u8], mut offset: u64) -> io::Result<()> {
    while !buffer.is_empty() {
        let written = std::os::windows::fs::FileExt::seek_write(file, buffer, offset)?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        buffer = &buffer[written..];
        offset += written as u64;
    }
    Ok(())
}
