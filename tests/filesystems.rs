//! Round trips and method choice on real filesystems: ext4, XFS, btrfs and tmpfs,
//! loop-mounted or mounted by the fixtures.

mod common;

use std::ffi::OsStr;
use std::path::Path;

use common::*;

const THRESHOLD: u64 = 10 * MIB;

/// Every size of the issue, each copied within one filesystem; the method must be a
/// clone at every size where the filesystem clones, else the chunk copy below the
/// 10 MiB threshold and copy_file_range above.
/// The sizes of the issue: the small edge cases, both sides of the threshold, and a
/// file big enough for several kernel requests.
const ROUND_TRIP_SIZES: [u64; 8] = [
    0,
    1,
    4095,
    4096,
    MIB + 1,
    THRESHOLD - 1,
    THRESHOLD,
    200 * MIB,
];

/// Copies a fresh file of `size` bytes within `dir` and checks the copy byte for byte.
fn round_trip(dir: &Path, size: u64, seed: u64, what: &str) -> Value {
    let source = dir.join(format!("src-{size}"));
    let destination = dir.join(format!("dst-{size}"));
    write_pattern(&source, size, seed);
    let (code, json, stderr) = zcopy_json(dir, &[source.as_os_str(), destination.as_os_str()]);
    assert_eq!(code, 0, "{what}, {size} bytes: {stderr}");
    assert_same_content(&source, &destination);
    json
}

fn round_trips_on(name: &str, root: &Path) {
    let dir = dir_on(root);
    let clones = matches!(name, "btrfs" | "xfs");
    for (seed, size) in ROUND_TRIP_SIZES.into_iter().enumerate() {
        let json = round_trip(dir.path(), size, seed as u64, name);
        let expected = match (clones, size < THRESHOLD) {
            (true, _) => "clone",
            (false, true) => "chunked",
            (false, false) => "copy_file_range",
        };
        assert_eq!(only_method(&json), expected, "{name}, {size} bytes");
        assert_eq!(json["files"][0]["bytes"], size, "{name}, {size} bytes");
        assert_eq!(json["files"][0]["verified"], true);
    }
    assert_no_debris(dir.path());
}

#[test]
fn round_trips_in_the_temp_dir() {
    let dir = tempfile::tempdir().unwrap();
    // The temp dir's filesystem is the machine's; only the content is checked here,
    // the per-filesystem methods are checked on the fixtures' mounts.
    for (seed, size) in ROUND_TRIP_SIZES.into_iter().enumerate() {
        round_trip(dir.path(), size, seed as u64, "temp dir");
    }
    assert_no_debris(dir.path());
}

#[test]
fn round_trips_on_ext4() {
    if let Some(mounts) = mounts("round_trips_on_ext4") {
        round_trips_on("ext4", &mounts.ext4);
    }
}

#[test]
fn round_trips_on_xfs() {
    if let Some(mounts) = mounts("round_trips_on_xfs") {
        round_trips_on("xfs", &mounts.xfs);
    }
}

#[test]
fn round_trips_on_btrfs() {
    if let Some(mounts) = mounts("round_trips_on_btrfs") {
        round_trips_on("btrfs", &mounts.btrfs);
    }
}

#[test]
fn round_trips_on_tmpfs() {
    if let Some(mounts) = mounts("round_trips_on_tmpfs") {
        round_trips_on("tmpfs", &mounts.tmpfs);
    }
}

/// A clone shares the source's blocks: 256 MiB copied on a CoW filesystem must not
/// use 256 MiB more space, while `--reflink=never` must (it makes independent blocks).
fn clone_shares_blocks(root: &Path) {
    let dir = dir_on(root);
    let source = dir.path().join("master.mkv");
    write_pattern(&source, 256 * MIB, 7);
    let before = used_bytes(dir.path());
    let clone = dir.path().join("clone.mkv");
    let (code, json, stderr) = zcopy_json(dir.path(), &[source.as_os_str(), clone.as_os_str()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(only_method(&json), "clone");
    let after_clone = used_bytes(dir.path());
    assert!(
        after_clone < before + 16 * MIB,
        "a clone used {} MiB (took {} s)",
        (after_clone - before) / MIB,
        json["files"][0]["duration_sec"]
    );
    eprintln!("256 MiB clone took {} s", json["files"][0]["duration_sec"]);

    let independent = dir.path().join("independent.mkv");
    let (code, json, stderr) = zcopy_json(
        dir.path(),
        &[
            OsStr::new("--reflink=never"),
            source.as_os_str(),
            independent.as_os_str(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(only_method(&json), "sendfile");
    let after_copy = used_bytes(dir.path());
    assert!(
        after_copy >= after_clone + 250 * MIB,
        "--reflink=never used only {} MiB: blocks are shared",
        (after_copy - after_clone) / MIB
    );
    assert_same_content(&source, &clone);
    assert_same_content(&source, &independent);
}

#[test]
fn clone_on_btrfs_adds_no_used_space_and_reflink_never_does() {
    if let Some(mounts) = mounts("clone_on_btrfs") {
        clone_shares_blocks(&mounts.btrfs);
    }
}

#[test]
fn clone_on_xfs_adds_no_used_space_and_reflink_never_does() {
    if let Some(mounts) = mounts("clone_on_xfs") {
        clone_shares_blocks(&mounts.xfs);
    }
}

/// Clones at every size: a 64 KiB file on btrfs and XFS is cloned, reported as
/// `clone`, counted as zero-copy; `--reflink=never` and `--no-zero-copy` still take the
/// chunk copy below the threshold.
#[test]
fn small_files_are_cloned_on_btrfs_and_xfs() {
    let Some(mounts) = mounts("small_files_are_cloned") else {
        return;
    };
    for (name, root) in [("btrfs", &mounts.btrfs), ("xfs", &mounts.xfs)] {
        let dir = dir_on(root);
        let source = dir.path().join("frame.dpx");
        write_pattern(&source, 64 * 1024, 11);
        let cases: &[(&[&str], &str)] = &[
            (&[], "clone"),
            (&["--reflink=always"], "clone"),
            (&["--reflink=never"], "chunked"),
            (&["--no-zero-copy"], "chunked"),
        ];
        for (index, (flags, method)) in cases.iter().enumerate() {
            let destination = dir.path().join(format!("copy-{index}.dpx"));
            let mut args: Vec<&OsStr> = flags.iter().map(OsStr::new).collect();
            args.extend([source.as_os_str(), destination.as_os_str()]);
            let (code, json, stderr) = zcopy_json(dir.path(), &args);
            assert_eq!(code, 0, "{name} {flags:?}: {stderr}");
            assert_eq!(only_method(&json), *method, "{name} {flags:?}");
            let zero_copy = json["stats"]["zero_copy_count"].as_u64();
            assert_eq!(
                zero_copy,
                Some(u64::from(*method == "clone")),
                "{name} {flags:?}: {json}"
            );
            assert_same_content(&source, &destination);
        }
        assert_no_debris(dir.path());
    }
}

/// A tree of small files copied on btrfs shares every block: the filesystem's used
/// space grows by metadata only, far less than the tree's 200 x 64 KiB = 12.5 MiB.
#[test]
fn a_small_file_tree_on_btrfs_adds_no_data_blocks() {
    let Some(mounts) = mounts("a_small_file_tree_on_btrfs") else {
        return;
    };
    let dir = dir_on(&mounts.btrfs);
    let tree = dir.path().join("shoot");
    std::fs::create_dir(&tree).unwrap();
    for index in 0..200 {
        write_pattern(&tree.join(format!("img-{index:04}.raw")), 64 * 1024, index);
    }
    let before = used_bytes(dir.path());
    let copy = dir.path().join("copy");
    let (code, json, stderr) = zcopy_json(
        dir.path(),
        &[OsStr::new("-r"), tree.as_os_str(), copy.as_os_str()],
    );
    assert_eq!(code, 0, "{stderr}");
    let files = json["files"].as_array().unwrap();
    assert_eq!(files.len(), 200);
    assert!(files.iter().all(|file| file["method"] == "clone"), "{json}");
    let after = used_bytes(dir.path());
    // Measured: 200 clones add about 0.2 MiB of metadata; a copy adds 12.5 MiB.
    assert!(
        after < before + 4 * MIB,
        "a cloned tree of 12.5 MiB used {} KiB more",
        (after - before) / 1024
    );
}

#[test]
fn methods_follow_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("in.bin");
    write_pattern(&source, 12 * MIB, 3);
    let cases: &[(&[&str], &str)] = &[
        (&["--no-zero-copy"], "chunked"),
        (&["--min-size-mb", "13"], "chunked"),
        (&["--reflink=never"], "sendfile"),
        (&["--min-size-mb", "12", "--reflink=never"], "sendfile"),
    ];
    for (index, (flags, method)) in cases.iter().enumerate() {
        let destination = dir.path().join(format!("out-{index}"));
        let mut args: Vec<&OsStr> = flags.iter().map(OsStr::new).collect();
        args.extend([source.as_os_str(), destination.as_os_str()]);
        let (code, json, stderr) = zcopy_json(dir.path(), &args);
        assert_eq!(code, 0, "{flags:?}: {stderr}");
        assert_eq!(only_method(&json), *method, "{flags:?}");
        assert_same_content(&source, &destination);
    }
}

#[test]
fn reflink_always_fails_where_clone_is_impossible_and_leaves_nothing() {
    let Some(mounts) = mounts("reflink_always_fails") else {
        return;
    };
    let dir = dir_on(&mounts.ext4);
    let source = dir.path().join("in.bin");
    let destination = dir.path().join("out.bin");
    write_pattern(&source, 12 * MIB, 4);
    let (code, json, stderr) = zcopy_json(
        dir.path(),
        &[
            OsStr::new("--reflink=always"),
            source.as_os_str(),
            destination.as_os_str(),
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(json["errors"][0]["operation"], "clone");
    assert!(
        stderr.contains("cannot clone (--reflink=always)"),
        "{stderr}"
    );
    assert!(!destination.exists());
    assert_no_debris(dir.path());
}

/// Between filesystems FICLONE and copy_file_range answer EXDEV; the ladder goes on.
#[test]
fn cross_filesystem_copies_are_byte_equal() {
    let Some(mounts) = mounts("cross_filesystem_copies") else {
        return;
    };
    for (from, to) in [
        (&mounts.ext4, &mounts.xfs),
        (&mounts.btrfs, &mounts.tmpfs),
        (&mounts.tmpfs, &mounts.btrfs),
    ] {
        let (src_dir, dst_dir) = (dir_on(from), dir_on(to));
        let source = src_dir.path().join("in.mkv");
        let destination = dst_dir.path().join("out.mkv");
        write_pattern(&source, 40 * MIB + 17, 5);
        let (code, json, stderr) = zcopy_json(
            src_dir.path(),
            &[source.as_os_str(), destination.as_os_str()],
        );
        assert_eq!(code, 0, "{stderr}");
        assert_ne!(
            only_method(&json),
            "clone",
            "{} -> {}",
            from.display(),
            to.display()
        );
        assert_same_content(&source, &destination);
        assert_no_debris(dst_dir.path());
    }
}

/// A disk too small for the file: an error naming the operation and ENOSPC, no
/// temporary file left, and no retry on a lower rung (the rung that hit the full disk
/// is the one reported, and `-v` shows no attempt after it). The operation is the
/// reservation of the file's space before sendfile ("allocate"), or a kernel rung's
/// where it writes without one (copy_file_range across filesystems before Linux 5.19).
#[test]
fn a_full_disk_is_an_error_without_debris_or_retry() {
    let Some(mounts) = mounts("a_full_disk") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("big.bin");
    write_pattern(&source, 12 * MIB, 6);
    let destination = mounts.tiny_tmpfs.join("big.bin");
    let (code, json, stderr) = zcopy_json(
        dir.path(),
        &[
            OsStr::new("-vv"),
            source.as_os_str(),
            destination.as_os_str(),
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    let error = &json["errors"][0];
    assert_eq!(error["errno"], 28, "{error}");
    let operation = error["operation"].as_str().unwrap().to_string();
    assert!(
        ["allocate", "copy_file_range", "sendfile"].contains(&operation.as_str()),
        "{operation}"
    );
    assert!(
        !stderr.contains("trying chunked"),
        "retried after ENOSPC:\n{stderr}"
    );
    assert!(!destination.exists());
    assert_no_debris(&mounts.tiny_tmpfs);
}

/// Sizes around 2 GiB, where 32-bit lengths and sendfile's 0x7ffff000 cap bite, on
/// every rung forced in turn: clone on btrfs, the others in the temp dir.
#[test]
fn files_around_2_gib_copy_on_every_rung() {
    let Some(mounts) = mounts("files_around_2_gib") else {
        return;
    };
    const GIB: u64 = 1024 * MIB;
    let on_btrfs = dir_on(&mounts.btrfs);
    let in_temp = tempfile::tempdir().unwrap();
    for dir in [on_btrfs.path(), in_temp.path()] {
        write_pattern(&dir.join("src"), 2 * GIB + 4097, 9);
    }
    for size in [2 * GIB + 4097, 2 * GIB, 2 * GIB - 1] {
        for (method, dir) in [
            ("clone", on_btrfs.path()),
            ("copy-file-range", in_temp.path()),
            ("sendfile", in_temp.path()),
            ("chunked", in_temp.path()),
        ] {
            let source = dir.join("src");
            std::fs::OpenOptions::new()
                .write(true)
                .open(&source)
                .unwrap()
                .set_len(size)
                .unwrap();
            let destination = dir.join("dst");
            let flag = format!("--method={method}");
            let (code, json, stderr) = zcopy_json(
                dir,
                &[
                    OsStr::new(&flag),
                    source.as_os_str(),
                    destination.as_os_str(),
                ],
            );
            assert_eq!(code, 0, "{method}, {size} bytes: {stderr}");
            assert_eq!(only_method(&json), method.replace('-', "_"));
            assert_eq!(json["files"][0]["bytes"], size);
            assert_same_content(&source, &destination);
            std::fs::remove_file(&destination).unwrap();
        }
    }
}

/// A real ENOSPC inside FICLONE: on a nearly full btrfs, cloning a file of thousands
/// of extents needs metadata space the filesystem no longer has. Where exactly the
/// space runs out depends on btrfs' reservations, so the free space left is stepped
/// until a clone fails that way. Every attempt must end in a complete copy or a clean
/// error with nothing left behind and no retry on a lower rung.
#[test]
fn a_clone_on_a_nearly_full_btrfs_fails_cleanly() {
    use std::io::Write as _;
    use std::os::unix::fs::FileExt;
    if mounts("nearly_full_btrfs").is_none() {
        return;
    }
    let mut clone_enospc = false;
    for (attempt, leave_kib) in [1024u64, 900, 768, 1152, 640, 1280].into_iter().enumerate() {
        let name = format!("full-btrfs-{attempt}");
        let mount = extra_loop_mount(&name, &["mkfs.btrfs", "-q", "-f", "--mixed"], 200);
        let root = mount.path().to_path_buf();
        let source = root.join("src");
        let file = std::fs::File::create(&source).unwrap();
        let block = vec![0x5au8; 4096];
        for index in 0..6000u64 {
            file.write_all_at(&block, index * 8192).unwrap();
            if index % 64 == 0 {
                file.sync_data().unwrap();
            }
        }
        file.sync_all().unwrap();
        // Measure what fits, then leave `leave_kib` of it free.
        let fill = root.join("fill");
        let mut filler = std::fs::File::create(&fill).unwrap();
        let chunk = vec![0xa5u8; 64 * 1024];
        let mut fits = 0u64;
        while filler.write_all(&chunk).is_ok() {
            fits += chunk.len() as u64;
        }
        drop(filler);
        std::fs::remove_file(&fill).unwrap();
        nix::unistd::sync();
        let mut filler = std::fs::File::create(&fill).unwrap();
        let mut left = fits.saturating_sub(leave_kib * 1024);
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            filler.write_all(&chunk[..n]).unwrap();
            left -= n as u64;
        }
        filler.sync_all().unwrap();
        // Closed before zcopy runs and long before the unmount: an open file keeps the
        // filesystem busy.
        drop((file, filler));

        let destination = root.join("dst");
        let (code, json, stderr) = zcopy_json(
            &root,
            &[
                OsStr::new("-vv"),
                OsStr::new("--min-size-mb=1"),
                source.as_os_str(),
                destination.as_os_str(),
            ],
        );
        if code == 0 {
            assert_eq!(only_method(&json), "clone");
            assert_same_content(&source, &destination);
        } else {
            assert_eq!(json["errors"][0]["errno"], 28, "{stderr}");
            assert!(
                !stderr.contains("trying copy_file_range"),
                "retried after ENOSPC:\n{stderr}"
            );
            assert!(!destination.exists());
            assert_no_debris(&root);
            clone_enospc |= json["errors"][0]["operation"] == "clone";
        }
        drop(mount);
        if clone_enospc {
            break;
        }
    }
    assert!(
        clone_enospc,
        "no attempt made FICLONE itself run out of space"
    );
}

/// Bind mounts made by one test, undone when it ends, even by a panic (each guard
/// unmounts its own).
struct BindMounts(Vec<MountGuard>);

impl BindMounts {
    fn bind(&mut self, what: &Path, at: &Path) {
        std::fs::create_dir_all(at).unwrap();
        self.0
            .push(mount_for_test(&["--bind", what.to_str().unwrap()], at));
    }
}

/// A refusal belongs to the filesystems that gave it: one run whose sources and
/// destinations span tmpfs, ext4, btrfs and XFS (bind mounts under one source and one
/// destination directory) clones on btrfs and XFS although tmpfs and ext4 refused
/// FICLONE first, and uses copy_file_range on the others (above the threshold) or the
/// chunk copy (below it). One worker, so tmpfs and ext4 are copied first.
#[test]
fn a_run_across_filesystems_picks_the_method_per_filesystem() {
    let Some(mounts) = mounts("a_run_across_filesystems") else {
        return;
    };
    let top = fixture_dir();
    let filesystems = [
        ("a-tmpfs", &mounts.tmpfs, false),
        ("b-ext4", &mounts.ext4, false),
        ("c-btrfs", &mounts.btrfs, true),
        ("d-xfs", &mounts.xfs, true),
    ];
    let places: Vec<_> = filesystems
        .iter()
        .map(|(_, root, _)| (dir_on(root), dir_on(root)))
        .collect();
    let mut binds = BindMounts(Vec::new());
    let mut sources = Vec::new();
    for ((name, _, _), (source_dir, destination_dir)) in filesystems.iter().zip(&places) {
        write_pattern(&source_dir.path().join("small.bin"), 64 * 1024, 1);
        write_pattern(&source_dir.path().join("large.bin"), 12 * MIB, 2);
        let source = top.path().join("from").join(name);
        binds.bind(source_dir.path(), &source);
        binds.bind(destination_dir.path(), &top.path().join("to").join(name));
        sources.push(source);
    }
    let mut args: Vec<&OsStr> = vec![OsStr::new("-r"), OsStr::new("-j"), OsStr::new("1")];
    args.extend(sources.iter().map(|source| source.as_os_str()));
    let to = top.path().join("to");
    args.push(to.as_os_str());
    let (code, json, stderr) = zcopy_json(top.path(), &args);
    assert_eq!(code, 0, "{stderr}");
    let files = json["files"].as_array().unwrap();
    assert_eq!(files.len(), 8, "{json:#}");
    for (name, _, clones) in filesystems {
        for (file, copy_method) in [("small.bin", "chunked"), ("large.bin", "copy_file_range")] {
            let destination = to.join(name).join(file);
            let reported = files
                .iter()
                .find(|entry| entry["destination"].as_str() == destination.to_str())
                .unwrap_or_else(|| panic!("{} not reported: {json:#}", destination.display()));
            let expected = if clones { "clone" } else { copy_method };
            assert_eq!(reported["method"], expected, "{name}/{file}");
            assert_same_content(&top.path().join("from").join(name).join(file), &destination);
        }
    }
    drop(binds);
}

/// Two 12 MiB files copied side by side (two workers) onto a 20 MiB tmpfs: the one
/// whose space is reserved first is copied, the other fails at once with ENOSPC, as
/// with cp (one at a time). Without the reservation both filled their temporary files
/// until both ran out of space, and often neither was copied. Run several times: which
/// file wins varies, that exactly one does must not.
#[test]
fn parallel_copies_onto_a_nearly_full_disk_copy_what_fits() {
    if mounts("nearly_full_parallel").is_none() {
        return;
    }
    let fixture = fixture_dir();
    let full = fixture.path().join("full");
    std::fs::create_dir(&full).unwrap();
    let _mounted = mount_for_test(&["-t", "tmpfs", "-o", "size=20m", "tmpfs"], &full);
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    write_pattern(&src.join("a"), 12 * MIB, 71);
    write_pattern(&src.join("b"), 12 * MIB, 72);
    let copied = |target: &Path| -> Vec<String> {
        ["a", "b"]
            .into_iter()
            .filter(|name| target.join(name).exists())
            .map(str::to_string)
            .collect()
    };

    let cp = std::process::Command::new("cp")
        .args(["src/a", "src/b"])
        .arg(&full)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!cp.status.success());
    // cp leaves the file that did not fit behind, short; one is complete.
    let complete: Vec<String> = copied(&full)
        .into_iter()
        .filter(|name| {
            std::fs::read(full.join(name)).unwrap() == std::fs::read(src.join(name)).unwrap()
        })
        .collect();
    assert_eq!(complete.len(), 1, "cp copied {complete:?} whole");

    for attempt in 0..6 {
        for name in ["a", "b"] {
            let _ = std::fs::remove_file(full.join(name));
        }
        let (code, json, stderr) = zcopy_json(
            dir.path(),
            &[os("-j2"), os("src/a"), os("src/b"), full.as_os_str()],
        );
        assert_eq!(code, 1, "attempt {attempt}: {stderr}");
        let done = copied(&full);
        assert_eq!(
            done.len(),
            1,
            "attempt {attempt}: copied {done:?}: {stderr}"
        );
        assert_same_content(&src.join(&done[0]), &full.join(&done[0]));
        let errors = json["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "attempt {attempt}: {stderr}");
        assert_eq!(errors[0]["errno"], 28, "attempt {attempt}: {stderr}");
        assert_eq!(
            errors[0]["operation"], "allocate",
            "attempt {attempt}: {stderr}"
        );
        assert_no_debris(&full);
    }
}

/// The space is reserved only for bytes that are really written: a clone needs none,
/// so a file larger than the free space still clones on btrfs and XFS, with FICLONE
/// and with copy_file_range (which clones there within one filesystem).
#[test]
fn a_clone_larger_than_the_free_space_succeeds_on_btrfs_and_xfs() {
    use std::io::Write as _;
    if mounts("clone_larger_than_free_space").is_none() {
        return;
    }
    let filesystems: [(&str, &[&str]); 2] = [
        ("btrfs", &["mkfs.btrfs", "-q", "-f"]),
        ("xfs", &["mkfs.xfs", "-q", "-f", "-m", "reflink=1"]),
    ];
    for (name, mkfs) in filesystems {
        let mount = extra_loop_mount(&format!("clone-over-free-{name}"), mkfs, 320);
        let root = mount.path().to_path_buf();
        let source = root.join("clip.mov");
        write_pattern(&source, 64 * MIB, 73);
        // Fill the filesystem until about half the source's size is free (or writes
        // fail first: btrfs' estimate of the free space runs ahead of what it gives).
        let mut filler = std::fs::File::create(root.join("fill")).unwrap();
        let chunk = vec![0x3cu8; MIB as usize];
        let available = || {
            let stat = nix::sys::statvfs::statvfs(&root).unwrap();
            stat.blocks_available() as u64 * stat.fragment_size() as u64
        };
        while available() > 32 * MIB
            && filler.write_all(&chunk).is_ok()
            && filler.sync_data().is_ok()
        {}
        drop(filler);
        // The bytes do not fit: a copy that writes them fails at once.
        let written = root.join("written.mov");
        let (code, json, stderr) = zcopy_json(
            &root,
            &[
                os("--reflink=never"),
                source.as_os_str(),
                written.as_os_str(),
            ],
        );
        assert_eq!(code, 1, "{name}: {stderr}");
        assert_eq!(json["errors"][0]["errno"], 28, "{name}: {stderr}");
        assert!(!written.exists());
        for (method, expected) in [
            (None, "clone"),
            (Some("--method=copy-file-range"), "copy_file_range"),
        ] {
            let destination = root.join(format!("copy-{expected}.mov"));
            let mut args = vec![source.as_os_str(), destination.as_os_str()];
            args.extend(method.map(OsStr::new));
            let (code, json, stderr) = zcopy_json(&root, &args);
            assert_eq!(code, 0, "{name} {method:?}: {stderr}");
            assert_eq!(only_method(&json), expected, "{name}: {stderr}");
            assert_same_content(&source, &destination);
        }
        assert_no_debris(&root);
        drop(mount);
    }
}
