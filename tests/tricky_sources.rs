//! Sources that look simple and are not: pseudo files whose size `stat` gets wrong,
//! and sparse files whose holes must stay holes.

mod common;

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use nix::unistd::{lseek, Whence};

/// procfs reports size 0 and sysfs 4096 whatever the content: the copy must hold what
/// `cat` prints, not an empty or padded file.
#[test]
fn procfs_and_sysfs_files_copy_what_cat_reads() {
    let dir = tempfile::tempdir().unwrap();
    for (index, source) in [
        "/proc/version",
        "/proc/filesystems",
        "/proc/sys/kernel/ostype",
        "/sys/kernel/uevent_seqnum",
    ]
    .iter()
    .enumerate()
    {
        if !Path::new(source).exists() {
            continue;
        }
        let destination = dir.path().join(format!("copy-{index}"));
        let (code, json, stderr) =
            zcopy_json(dir.path(), &[source.as_ref(), destination.as_os_str()]);
        assert_eq!(code, 0, "{source}: {stderr}");
        let cat = std::fs::read(source).unwrap();
        let copy = std::fs::read(&destination).unwrap();
        assert!(!cat.is_empty());
        // uevent_seqnum may move between the two reads; its length will not.
        if source.ends_with("seqnum") {
            assert_eq!(copy.len(), cat.len(), "{source}");
        } else {
            assert_eq!(copy, cat, "{source}");
        }
        assert_eq!(json["files"][0]["bytes"], copy.len() as u64, "{source}");
        assert_eq!(json["files"][0]["method"], "chunked");
    }
}

/// The data segments of a file, as `SEEK_DATA`/`SEEK_HOLE` report them.
fn data_map(path: &Path) -> Vec<(u64, u64)> {
    let file = File::open(path).unwrap();
    let size = file.metadata().unwrap().len();
    let mut map = Vec::new();
    let mut offset = 0i64;
    while (offset as u64) < size {
        let Ok(start) = lseek(&file, offset, Whence::SeekData) else {
            break;
        };
        let end = lseek(&file, start, Whence::SeekHole).unwrap();
        map.push((start as u64, end as u64));
        offset = end;
    }
    map
}

const TIB: u64 = 1 << 40;

/// A 1 TiB file holding three 1 MiB blocks of data.
fn make_sparse(path: &Path) -> Vec<u64> {
    let file = File::create(path).unwrap();
    file.set_len(TIB).unwrap();
    let offsets = vec![0, 500 << 30, TIB - MIB];
    let block: Vec<u8> = (0..MIB).map(|i| (i % 251) as u8 + 1).collect();
    for &offset in &offsets {
        file.write_all_at(&block, offset).unwrap();
    }
    offsets
}

/// Copies keep holes: the copy has the same apparent size, the same data map and the
/// same data, and allocates about as little as the source. The guard fails the test
/// if a copy would take minutes (writing 1 TiB of zeros), instead of letting it hang.
fn sparse_copy_keeps_holes(dir: &Path, flags: &[&str], expected_method: &str) {
    let source = dir.join("sparse.img");
    if !source.exists() {
        make_sparse(&source);
    }
    let destination = dir.join("sparse-copy.img");
    let started = Instant::now();
    let output = zcopy(dir)
        .args(["--json"])
        .args(flags)
        .arg(&source)
        .arg(&destination)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let json = parse_json(&output);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{flags:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(only_method(&json), expected_method);
    eprintln!(
        "1 TiB sparse copy with {expected_method}: {:?}",
        started.elapsed()
    );
    let copy = std::fs::metadata(&destination).unwrap();
    assert_eq!(copy.len(), TIB);
    let allocated = copy.blocks() * 512;
    assert!(
        allocated < 64 * MIB,
        "{flags:?}: the copy allocates {} MiB",
        allocated / MIB
    );
    let map = data_map(&source);
    assert_eq!(data_map(&destination), map, "{flags:?}");
    let (a, b) = (
        File::open(&source).unwrap(),
        File::open(&destination).unwrap(),
    );
    for (start, end) in map {
        let mut x = vec![0u8; (end - start) as usize];
        let mut y = vec![0u8; (end - start) as usize];
        a.read_exact_at(&mut x, start).unwrap();
        b.read_exact_at(&mut y, start).unwrap();
        assert!(x == y, "{flags:?}: data at {start} differs");
    }
    std::fs::remove_file(&destination).unwrap();
}

#[test]
fn a_sparse_terabyte_keeps_its_holes_on_every_rung() {
    let dir = tempfile::tempdir().unwrap();
    sparse_copy_keeps_holes(dir.path(), &[], "copy_file_range");
    sparse_copy_keeps_holes(dir.path(), &["--reflink=never"], "sendfile");
    sparse_copy_keeps_holes(dir.path(), &["--no-zero-copy"], "chunked");
    sparse_copy_keeps_holes(
        dir.path(),
        &["--verify=checksum", "--method=chunked"],
        "chunked",
    );
}

#[test]
fn a_sparse_terabyte_clones_on_btrfs_and_xfs() {
    let Some(mounts) = mounts("sparse_clone") else {
        return;
    };
    for root in [&mounts.btrfs, &mounts.xfs] {
        let dir = dir_on(root);
        sparse_copy_keeps_holes(dir.path(), &[], "clone");
        sparse_copy_keeps_holes(dir.path(), &["--method=copy-file-range"], "copy_file_range");
    }
}
