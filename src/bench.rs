//! `zcopy bench [DIR]`: the "Expected Performance" table of the original `ZERO_COPY_*`
//! definition, measured on the user's own disk, against the tools they would otherwise
//! use, in one run.
//!
//! Every contender runs as a separate process (zcopy itself included), timed with
//! `wait4(2)` for wall time, CPU time and peak RSS. Rounds are interleaved and their
//! order rotated, so that a noisy neighbour or a writeback burst hurts every contender
//! alike; medians are reported, with each one's ratio to zcopy's default.
//!
//! Each run is timed twice: until the process exits (the data may still be in the
//! page cache) and until a syncfs(2) of the destination's filesystem returns (the data
//! is on the disk). The second is what a user waiting for a card to be safe to erase
//! sees; tools that defer work to writeback look better by the first.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::report::human_bytes;

/// The file copied over and over to time a cold start.
const TINY_FILE_BYTES: u64 = 4096;

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Where the files are made (the filesystem measured).
    pub directory: PathBuf,
    /// Sizes of the large-file runs, in bytes.
    pub sizes: Vec<u64>,
    /// Interleaved rounds per contender.
    pub rounds: usize,
    /// Files in the many-small-files tree.
    pub small_files: usize,
    /// Size of each small file.
    pub small_file_bytes: usize,
    /// Size of the file whose copy's peak RSS is measured.
    pub rss_bytes: u64,
    /// Workers of zcopy and of the raw loop in the small-files run.
    pub jobs: usize,
    /// Further directories (other filesystems) the trees are measured on too.
    pub tree_directories: Vec<PathBuf>,
    /// Files in the tree of 1 KiB files (sidecars, thumbnails).
    pub tiny_files: usize,
    /// Frames of the image sequence.
    pub frames: usize,
    /// Size of each frame (12 MiB: a 2K DPX frame).
    pub frame_bytes: u64,
    /// Size of the in-memory buffer the hashes are timed over (far above the caches).
    pub hash_buffer_bytes: usize,
}

impl BenchOptions {
    /// The default run (under 5 minutes here) or `--quick` (under one).
    pub fn new(directory: PathBuf, quick: bool, jobs: usize) -> Self {
        const MIB: u64 = 1 << 20;
        BenchOptions {
            directory,
            sizes: if quick {
                vec![100 * MIB]
            } else {
                vec![100 * MIB, 1024 * MIB]
            },
            rounds: if quick { 3 } else { 5 },
            small_files: if quick { 2_000 } else { 10_000 },
            small_file_bytes: 64 * 1024,
            rss_bytes: if quick { 512 * MIB } else { 4096 * MIB },
            jobs,
            tree_directories: Vec::new(),
            tiny_files: if quick { 20_000 } else { 100_000 },
            frames: if quick { 30 } else { 300 },
            frame_bytes: 12 * MIB,
            hash_buffer_bytes: if quick { 128 << 20 } else { 1 << 30 },
        }
    }
}

/// One contender's medians.
#[derive(Debug, Serialize)]
pub struct Row {
    /// Who ran.
    pub contender: String,
    /// Median throughput: MB/s (1,048,576 bytes) for large files, files/s for trees.
    pub rate: Option<f64>,
    /// Median CPU time (user + sys) over wall time, percent.
    pub cpu_percent: Option<f64>,
    /// Median wall time, seconds.
    pub seconds: Option<f64>,
    /// `rate` over zcopy's default rate.
    pub ratio: Option<f64>,
    /// Median throughput counting until syncfs of the destination returned.
    pub synced_rate: Option<f64>,
    /// Median wall time until syncfs of the destination returned, seconds.
    pub synced_seconds: Option<f64>,
    /// `synced_rate` over zcopy's default synced rate.
    pub synced_ratio: Option<f64>,
    /// Why there is no number.
    pub failed: Option<String>,
}

/// A table of the report.
#[derive(Debug, Serialize)]
pub struct Table {
    /// What was copied.
    pub title: String,
    /// The unit of `rate`.
    pub unit: &'static str,
    /// One row per contender.
    pub rows: Vec<Row>,
}

/// The whole measurement.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    /// The directory measured, and its filesystem.
    pub directory: String,
    /// The machine: CPUs and memory.
    pub machine: String,
    /// Rounds per contender.
    pub rounds: usize,
    /// Large files, small-file tree, cold start.
    pub tables: Vec<Table>,
    /// Peak RSS of zcopy copying `rss_bytes`, per path, in MiB.
    pub peak_rss_mib: Vec<(String, f64)>,
    /// System calls per file of a tree, from `strace -f -c` (empty without strace).
    pub syscalls: Vec<SyscallCount>,
    /// Each media hash's speed on one core, with the memory's read speed beside it.
    pub hashing: Hashing,
    /// Seconds the bench took.
    pub total_seconds: f64,
}

/// System calls one tool made per file of a tree.
#[derive(Debug, Serialize)]
pub struct SyscallCount {
    /// The tree's directory and filesystem.
    pub directory: String,
    /// Who ran, and onto what (a new tree, or replacing every file of one).
    pub contender: String,
    /// All system calls over the run, divided by the files.
    pub per_file: f64,
    /// statx, newfstatat, fstat and lstat calls per file.
    pub stats_per_file: f64,
}

/// How fast one core hashes, against how fast it can read memory at all.
#[derive(Debug, Serialize)]
pub struct Hashing {
    /// GB/s (10^9 bytes) of one core summing a buffer far larger than the caches: the
    /// ceiling for anything that reads memory, a hash of a file in the page cache too.
    pub memory_read_gbps: f64,
    /// One row per algorithm.
    pub rates: Vec<HashRate>,
}

/// One algorithm's speed on one core.
#[derive(Debug, Serialize)]
pub struct HashRate {
    /// The algorithm (`--hash` name; `blake3` is `--verify=checksum`'s).
    pub algorithm: String,
    /// GB/s over a block that stays in the L2 cache: the hash's own speed.
    pub cached_gbps: f64,
    /// GB/s over a buffer far larger than the caches, read once: the hash's speed on
    /// data coming from memory, as a file in the page cache does.
    pub memory_gbps: f64,
}

/// A finished process: wall time, CPU time, peak RSS, success.
struct Measured {
    wall: Duration,
    cpu: Duration,
    max_rss_kib: i64,
    ok: bool,
    stderr: String,
}

/// Runs `command`, timing it with wait4 so CPU and peak RSS are its own.
fn measure(command: &mut Command) -> std::io::Result<Measured> {
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stderr_pipe = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr_pipe, &mut text);
        text
    });
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    // SAFETY: pid is our child, status and usage are valid out-pointers.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    if reaped != pid {
        return Err(std::io::Error::last_os_error());
    }
    Ok(Measured {
        wall,
        cpu: timeval(usage.ru_utime) + timeval(usage.ru_stime),
        max_rss_kib: usage.ru_maxrss,
        ok: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        stderr: reader.join().unwrap_or_default(),
    })
}

/// Builds the command that copies SRC to DST.
type CommandFor = Box<dyn Fn(&Path, &Path) -> Command>;
/// Copies SRC to DST inside this process.
type CopyFn = Box<dyn Fn(&Path, &Path) -> std::io::Result<()>>;

/// How a contender copies SRC to DST.
enum Runner {
    /// A separate program (zcopy itself, cp, xcp...).
    Program(CommandFor),
    /// A loop inside this process (the raw syscall floor).
    InProcess(CopyFn),
}

/// A contender: a name and how it copies.
struct Contender {
    name: String,
    runner: Runner,
}

impl Contender {
    fn run(&self, source: &Path, destination: &Path) -> std::io::Result<Measured> {
        match &self.runner {
            Runner::Program(command) => measure(&mut command(source, destination)),
            Runner::InProcess(copy) => measure_in_process(|| copy(source, destination)),
        }
    }
}

fn own_usage() -> Duration {
    // SAFETY: an all-zero rusage is valid; getrusage fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid out-pointer.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    timeval(usage.ru_utime) + timeval(usage.ru_stime)
}

fn timeval(tv: libc::timeval) -> Duration {
    Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000)
}

/// Times work done in this process (CPU from getrusage; nothing else runs meanwhile).
fn measure_in_process(work: impl FnOnce() -> std::io::Result<()>) -> std::io::Result<Measured> {
    let (cpu_before, started) = (own_usage(), Instant::now());
    let result = work();
    let (wall, cpu) = (started.elapsed(), own_usage().saturating_sub(cpu_before));
    Ok(Measured {
        wall,
        cpu,
        max_rss_kib: 0,
        ok: result.is_ok(),
        stderr: result.err().map(|err| err.to_string()).unwrap_or_default(),
    })
}

fn zcopy_contender(name: &str, extra: &[&str]) -> Contender {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("zcopy"));
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    Contender {
        name: name.to_string(),
        runner: Runner::Program(Box::new(move |src, dst| {
            let mut command = Command::new(&exe);
            command
                .arg("--no-env-file")
                .arg("-q")
                .args(&extra)
                .arg(src)
                .arg(dst);
            command
        })),
    }
}

fn tool_contender(name: &str, program: &str, args: &[&str]) -> Option<Contender> {
    let path = find_program(program)?;
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    Some(Contender {
        name: name.to_string(),
        runner: Runner::Program(Box::new(move |src, dst| {
            let mut command = Command::new(&path);
            command.args(&args).arg(src).arg(dst);
            command
        })),
    })
}

fn find_program(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(values[values.len() / 2])
}

/// Flushes the directory's filesystem, so no run pays for an earlier one's writeback;
/// returns how long that took.
fn settle(directory: &Path) -> Duration {
    let started = Instant::now();
    if let Ok(dir) = File::open(directory) {
        // SAFETY: a valid descriptor.
        unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&dir)) };
    }
    started.elapsed()
}

fn remove(path: &Path) {
    if path.is_dir() {
        let _ = std::fs::remove_dir_all(path);
    } else {
        let _ = std::fs::remove_file(path);
    }
}

/// One table's measurement: what is copied where, how often, and what a run is worth.
struct Race<'a> {
    title: String,
    unit: &'static str,
    rounds: usize,
    source: &'a Path,
    destination: &'a Path,
    /// The amount per run (MB, files) that becomes the rate.
    work: f64,
}

/// Runs every contender `race.rounds` times, interleaved and rotated.
fn race(race: Race<'_>, contenders: &[Contender], log: &dyn Fn(&str)) -> std::io::Result<Table> {
    let Race {
        title,
        unit,
        rounds,
        source,
        destination,
        work,
    } = race;
    let mut walls: Vec<Vec<f64>> = vec![Vec::new(); contenders.len()];
    let mut synced: Vec<Vec<f64>> = vec![Vec::new(); contenders.len()];
    let mut cpus: Vec<Vec<f64>> = vec![Vec::new(); contenders.len()];
    let mut failures: Vec<Option<String>> = vec![None; contenders.len()];
    for round in 0..rounds {
        stop_if_interrupted()?;
        for k in 0..contenders.len() {
            // Between runs, not only between rounds: a round of a large tree on a slow
            // disk takes minutes.
            stop_if_interrupted()?;
            let index = (round + k) % contenders.len();
            if failures[index].is_some() {
                continue;
            }
            let filesystem = destination.parent().unwrap_or(Path::new("."));
            remove(destination);
            settle(filesystem);
            match contenders[index].run(source, destination) {
                Ok(run) if run.ok => {
                    let flushed = settle(filesystem);
                    walls[index].push(run.wall.as_secs_f64());
                    synced[index].push((run.wall + flushed).as_secs_f64());
                    cpus[index]
                        .push(run.cpu.as_secs_f64() / run.wall.as_secs_f64().max(1e-9) * 100.0);
                }
                Ok(run) => failures[index] = Some(first_line(&run.stderr)),
                Err(err) => failures[index] = Some(err.to_string()),
            }
        }
        log(&format!("  {title}: round {}/{rounds}", round + 1));
    }
    remove(destination);
    let mut rows: Vec<Row> = contenders
        .iter()
        .enumerate()
        .map(|(index, contender)| {
            let seconds = median(&mut walls[index]);
            let synced_seconds = median(&mut synced[index]);
            Row {
                contender: contender.name.clone(),
                rate: seconds.map(|s| work / s),
                cpu_percent: median(&mut cpus[index]),
                seconds,
                ratio: None,
                synced_rate: synced_seconds.map(|s| work / s),
                synced_seconds,
                synced_ratio: None,
                failed: failures[index].clone(),
            }
        })
        .collect();
    let baseline = rows.first().and_then(|row| row.rate);
    let synced_baseline = rows.first().and_then(|row| row.synced_rate);
    for row in &mut rows {
        row.ratio = row.rate.zip(baseline).map(|(rate, base)| rate / base);
        row.synced_ratio = row
            .synced_rate
            .zip(synced_baseline)
            .map(|(rate, base)| rate / base);
    }
    Ok(Table { title, unit, rows })
}

fn first_line(text: &str) -> String {
    text.lines()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("failed")
        .trim()
        .to_string()
}

/// Fills `path` with `size` bytes that no filesystem can compress or deduplicate.
fn make_file(path: &Path, size: u64) -> std::io::Result<()> {
    let mut file = File::create(path)?;
    let mut block = vec![0u8; 1 << 20];
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut left = size;
    while left > 0 {
        for word in block.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        let n = left.min(block.len() as u64) as usize;
        file.write_all(&block[..n])?;
        left -= n as u64;
    }
    file.sync_all()
}

/// A tree of `count` files of `bytes` each, 100 per directory.
fn make_tree(root: &Path, count: usize, bytes: usize) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::with_capacity(count);
    let content: Vec<u8> = (0..bytes).map(|i| (i * 7 % 251) as u8).collect();
    for index in 0..count {
        if index % 1000 == 0 {
            stop_if_interrupted()?;
        }
        let dir = root.join(format!("d{:03}", index / 100));
        if index % 100 == 0 {
            std::fs::create_dir_all(&dir)?;
        }
        let relative = PathBuf::from(format!("d{:03}/f{index:05}.jpg", index / 100));
        let mut data = content.clone();
        data[..8].copy_from_slice(&(index as u64).to_le_bytes());
        std::fs::write(root.join(&relative), &data)?;
        files.push(relative);
    }
    Ok(files)
}

/// The floor: open, copy_file_range, close, on `jobs` threads, no temp file, no
/// rename, no checks. What the kernel can do for this tree with nothing on top.
pub fn raw_copy_tree(
    source: &Path,
    destination: &Path,
    files: &[PathBuf],
    jobs: usize,
) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut dirs: Vec<&Path> = files.iter().filter_map(|f| f.parent()).collect();
    dirs.dedup();
    for dir in dirs {
        std::fs::create_dir_all(destination.join(dir))?;
    }
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..jobs.max(1))
            .map(|_| {
                scope.spawn(|| -> std::io::Result<()> {
                    while let Some(relative) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let input = File::open(source.join(relative))?;
                        let output = File::create(destination.join(relative))?;
                        let mut left = input.metadata()?.len() as usize;
                        while left > 0 {
                            // SAFETY: both descriptors are open; null offsets use positions.
                            let n = unsafe {
                                libc::copy_file_range(
                                    input.as_raw_fd(),
                                    std::ptr::null_mut(),
                                    output.as_raw_fd(),
                                    std::ptr::null_mut(),
                                    left,
                                    0,
                                )
                            };
                            if n <= 0 {
                                return Err(std::io::Error::last_os_error());
                            }
                            left -= n as usize;
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|worker| worker.join().expect("worker panicked"))
    })
}

/// The same file copied to one destination, then to two at once (`-t` twice): on the
/// directory measured and the first further one (another filesystem), or on two
/// directories of the one measured, which the row says. The ratio of the two rows is
/// what a second destination costs.
fn destinations_table(
    dir: &Path,
    options: &BenchOptions,
    log: &dyn Fn(&str),
) -> std::io::Result<Table> {
    let size = options.sizes.iter().copied().max().unwrap_or(100 << 20);
    let source = dir.join("destinations.src");
    log(&format!(
        "writing a {} file for the destinations",
        human_bytes(size)
    ));
    make_file(&source, size)?;
    let other = match options.tree_directories.first() {
        Some(extra) => Some(
            tempfile::Builder::new()
                .prefix("zcopy-bench-")
                .tempdir_in(extra)?,
        ),
        None => None,
    };
    let second = other
        .as_ref()
        .map_or(dir, |other| other.path())
        .join("second.dst");
    let label = match &options.tree_directories.first() {
        Some(extra) => format!(
            "zcopy -t {} -t {}",
            filesystem_of(dir),
            filesystem_of(extra)
        ),
        None => format!("zcopy -t -t (two directories on {})", filesystem_of(dir)),
    };
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("zcopy"));
    let into = |extra: Option<PathBuf>| -> CommandFor {
        let exe = exe.clone();
        Box::new(move |src: &Path, dst: &Path| {
            let _ = std::fs::create_dir(dst);
            let mut command = Command::new(&exe);
            command.args(["--no-env-file", "-q", "-t"]).arg(dst);
            if let Some(extra) = &extra {
                remove(extra);
                let _ = std::fs::create_dir(extra);
                command.arg("-t").arg(extra);
            }
            command.arg(src);
            command
        })
    };
    let contenders = [
        Contender {
            name: "zcopy -t (one destination)".to_string(),
            runner: Runner::Program(into(None)),
        },
        Contender {
            name: label,
            runner: Runner::Program(into(Some(second.clone()))),
        },
    ];
    let destination = dir.join("first.dst");
    let race_spec = Race {
        title: format!(
            "{} file to one destination, then to two (the ratio is the second's cost)",
            human_bytes(size)
        ),
        unit: "MB/s",
        rounds: options.rounds,
        source: &source,
        destination: &destination,
        work: size as f64 / (1u64 << 20) as f64,
    };
    let table = race(race_spec, &contenders, log);
    remove(&second);
    std::fs::remove_file(&source)?;
    table
}

/// Checking a folder against its ASC MHL history: `zcopy verify` against the
/// reference implementation (`ascmhl create`, which verifies every file before it
/// adds a generation) and against reading every file once, the floor. The folder
/// (8 files, `bytes` in all) gets its history from `zcopy -r --mhl`.
fn verify_table(
    dir: &Path,
    bytes: u64,
    rounds: usize,
    log: &dyn Fn(&str),
) -> std::io::Result<Table> {
    const FILES: u64 = 8;
    let card = dir.join("card");
    std::fs::create_dir(&card)?;
    log(&format!("writing a {} folder", human_bytes(bytes)));
    for index in 0..FILES {
        stop_if_interrupted()?;
        make_file(&card.join(format!("A001C{index:03}.mov")), bytes / FILES)?;
    }
    let folder = dir.join("offload");
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("zcopy"));
    let made = measure(
        Command::new(&exe)
            .args(["--no-env-file", "-q", "-r", "--mhl", "--hash=xxh64"])
            .arg(&card)
            .arg(&folder),
    )?;
    remove(&card);
    if !made.ok {
        return Err(std::io::Error::other(format!(
            "zcopy --mhl: {}",
            first_line(&made.stderr)
        )));
    }
    let mut contenders = vec![folder_contender(
        "zcopy verify",
        &exe,
        &["verify", "--no-env-file", "-q"],
    )];
    contenders.extend(find_program("ascmhl").map(|ascmhl| {
        folder_contender(
            "ascmhl create -h xxh64",
            &ascmhl,
            &["create", "-h", "xxh64"],
        )
    }));
    contenders.push(Contender {
        name: "read every file once".to_string(),
        runner: Runner::InProcess(Box::new(|folder, _| read_every_file(folder))),
    });
    // Nothing is copied: the "destination" is a name nothing makes.
    let race_spec = Race {
        title: format!("verifying a {} folder (ASC MHL, xxh64)", human_bytes(bytes)),
        unit: "MB/s",
        rounds,
        source: &folder,
        destination: &dir.join("nothing"),
        work: bytes as f64 / (1u64 << 20) as f64,
    };
    let table = race(race_spec, &contenders, log);
    remove(&folder);
    table
}

/// A program run on a folder (the "source"; nothing is copied).
fn folder_contender(name: &str, program: &Path, args: &[&str]) -> Contender {
    let program = program.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    Contender {
        name: name.to_string(),
        runner: Runner::Program(Box::new(move |folder, _| {
            let mut command = Command::new(&program);
            command.args(&args).arg(folder);
            command
        })),
    }
}

/// Reads every file under `folder` once, in 128 KiB blocks (the hashes' buffer size).
fn read_every_file(folder: &Path) -> std::io::Result<()> {
    let mut block = crate::buffer::IoBuffer::new(128 << 10);
    for entry in std::fs::read_dir(folder)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            let mut file = File::open(entry.path())?;
            while std::io::Read::read(&mut file, &mut block)? > 0 {}
        }
    }
    Ok(())
}

/// Times every media hash on one core, in the cache and from memory, and memory
/// itself. The hashes' speed from memory cannot beat `memory_read_gbps`; on a machine
/// whose memory is slower than the hash, the memory is the limit.
pub fn hashing(buffer_bytes: usize) -> Hashing {
    const CACHED_BLOCK: usize = 128 << 10;
    let mut buffer = vec![0u8; buffer_bytes.max(CACHED_BLOCK)];
    for (index, byte) in buffer.iter_mut().enumerate() {
        *byte = (index.wrapping_mul(2_654_435_761) >> 13) as u8;
    }
    let gbps = |bytes: usize, elapsed: Duration| bytes as f64 / elapsed.as_secs_f64() / 1e9;
    let best_of_three = |work: &dyn Fn()| {
        (0..3)
            .map(|_| {
                let started = Instant::now();
                work();
                started.elapsed()
            })
            .min()
            .unwrap_or_default()
    };
    let memory_read_gbps = gbps(
        buffer.len(),
        best_of_three(&|| {
            let sum = buffer.chunks_exact(8).fold(0u64, |sum, word| {
                sum.wrapping_add(u64::from_le_bytes(word.try_into().expect("8 bytes")))
            });
            std::hint::black_box(sum);
        }),
    );
    let block = &buffer[..CACHED_BLOCK];
    let cached_rounds = (buffer.len() / CACHED_BLOCK).max(1);
    let mut rates = Vec::new();
    let mut time = |name: &str, hash_all: &dyn Fn(&[u8], usize)| {
        let cached = best_of_three(&|| hash_all(block, cached_rounds));
        let memory = best_of_three(&|| hash_all(&buffer, 1));
        rates.push(HashRate {
            algorithm: name.to_string(),
            cached_gbps: gbps(CACHED_BLOCK * cached_rounds, cached),
            memory_gbps: gbps(buffer.len(), memory),
        });
    };
    for algorithm in crate::hash::Algorithm::ALL {
        time(algorithm.name(), &|data, times| {
            let mut hasher = algorithm.hasher();
            for _ in 0..times {
                for chunk in data.chunks(CACHED_BLOCK) {
                    hasher.update(chunk);
                }
            }
            std::hint::black_box(hasher.finish());
        });
    }
    time("blake3", &|data, times| {
        let mut hasher = blake3::Hasher::new();
        for _ in 0..times {
            for chunk in data.chunks(CACHED_BLOCK) {
                hasher.update(chunk);
            }
        }
        std::hint::black_box(hasher.finalize());
    });
    Hashing {
        memory_read_gbps,
        rates,
    }
}

/// Ctrl-C ends the bench between runs; its files go with the temporary directory.
fn stop_if_interrupted() -> std::io::Result<()> {
    if crate::interrupt::requested() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Interrupted,
            "interrupted",
        ));
    }
    Ok(())
}

/// Runs the whole bench; `log` receives progress lines (stderr). Call
/// [`crate::interrupt::install`] first for Ctrl-C to stop it cleanly.
pub fn run(options: &BenchOptions, log: &dyn Fn(&str)) -> std::io::Result<BenchReport> {
    let started = Instant::now();
    let work = tempfile::Builder::new()
        .prefix("zcopy-bench-")
        .tempdir_in(&options.directory)?;
    let dir = work.path();
    let mut tables = Vec::new();

    // Peak RSS on the kernel path and on the chunk path, first: a child's ru_maxrss
    // starts from its parent's high-water mark, which every later table raises (after
    // the trees of four filesystems it was 32 MiB, reported as the copy's own).
    log(&format!(
        "writing a {} file for peak RSS",
        human_bytes(options.rss_bytes)
    ));
    let big = dir.join("rss.src");
    make_file(&big, options.rss_bytes)?;
    let mut peak_rss_mib = Vec::new();
    for (label, method) in [
        ("copy_file_range", "copy-file-range"),
        ("chunked", "chunked"),
    ] {
        let contender = zcopy_contender(label, &[&format!("--method={method}")]);
        let destination = dir.join("rss.dst");
        stop_if_interrupted()?;
        let run = contender.run(&big, &destination)?;
        remove(&destination);
        peak_rss_mib.push((
            format!("{label}, {} file", human_bytes(options.rss_bytes)),
            run.max_rss_kib as f64 / 1024.0,
        ));
    }
    std::fs::remove_file(&big)?;

    // Large files: each mechanism forced, zcopy's default, and the usual tools.
    let mut large: Vec<Contender> = vec![
        zcopy_contender("zcopy (default)", &[]),
        zcopy_contender("zcopy clone", &["--method=clone"]),
        zcopy_contender("zcopy copy_file_range", &["--method=copy-file-range"]),
        zcopy_contender("zcopy sendfile", &["--method=sendfile"]),
        zcopy_contender("zcopy chunked", &["--method=chunked"]),
        // The media hash: the source hashed while the copy is read back from the
        // device, the ratio to the default row being the cost of --hash.
        zcopy_contender("zcopy --hash xxh64", &["--hash=xxh64"]),
        zcopy_contender("zcopy --hash xxh3", &["--hash=xxh3"]),
    ];
    large.extend(peer_tools(false));
    for &size in &options.sizes {
        let source = dir.join("large.src");
        log(&format!("writing a {} file", human_bytes(size)));
        make_file(&source, size)?;
        let mib = size as f64 / (1u64 << 20) as f64;
        let destination = dir.join("large.dst");
        let race_spec = Race {
            title: format!("{} file", human_bytes(size)),
            unit: "MB/s",
            rounds: options.rounds,
            source: &source,
            destination: &destination,
            work: mib,
        };
        tables.push(race(race_spec, &large, log)?);
        std::fs::remove_file(&source)?;
    }

    // Trees: on the directory given, then on each further one.
    let mut syscalls = Vec::new();
    let label_trees = !options.tree_directories.is_empty();
    tree_tables(dir, label_trees, options, log, &mut tables, &mut syscalls)?;
    for extra in &options.tree_directories {
        let work = tempfile::Builder::new()
            .prefix("zcopy-bench-")
            .tempdir_in(extra)?;
        tree_tables(work.path(), true, options, log, &mut tables, &mut syscalls)?;
    }

    // Cold start: one small file, many times.
    let tiny = dir.join("tiny.src");
    std::fs::write(&tiny, vec![7u8; TINY_FILE_BYTES as usize])?;
    let mut cold: Vec<Contender> = vec![zcopy_contender("zcopy", &[])];
    cold.extend(tool_contender("cp", "cp", &[]));
    let tiny_copy = dir.join("tiny.dst");
    let race_spec = Race {
        title: format!("one {} file (cold start)", human_bytes(TINY_FILE_BYTES)),
        unit: "copies/s",
        rounds: options.rounds * 4,
        source: &tiny,
        destination: &tiny_copy,
        work: 1.0,
    };
    tables.push(race(race_spec, &cold, log)?);

    let largest = options.sizes.iter().copied().max().unwrap_or(1 << 20);
    tables.push(verify_table(dir, 2 * largest, options.rounds, log)?);

    // Several destinations: the largest file to one directory, then to two at once.
    tables.push(destinations_table(dir, options, log)?);

    // Last: its buffer would raise the high-water mark of every process forked after it.
    log("hashing in memory");
    let hashing = hashing(options.hash_buffer_bytes);

    Ok(BenchReport {
        directory: format!(
            "{} ({})",
            options.directory.display(),
            filesystem_of(&options.directory)
        ),
        machine: machine(),
        rounds: options.rounds,
        tables,
        peak_rss_mib,
        syscalls,
        hashing,
        total_seconds: started.elapsed().as_secs_f64(),
    })
}

/// The tree tables measured in `dir`: small files, tiny files, an image sequence; and
/// the system calls per file of zcopy and cp, when strace is installed.
fn tree_tables(
    dir: &Path,
    labelled: bool,
    options: &BenchOptions,
    log: &dyn Fn(&str),
    tables: &mut Vec<Table>,
    syscalls: &mut Vec<SyscallCount>,
) -> std::io::Result<()> {
    let place = format!("{} ({})", dir.display(), filesystem_of(dir));
    let suffix = if labelled {
        format!(" on {place}")
    } else {
        String::new()
    };
    let trees = [
        (
            format!(
                "{} files of {}",
                options.small_files,
                human_bytes(options.small_file_bytes as u64)
            ),
            options.small_files,
            options.small_file_bytes,
            "files/s",
        ),
        (
            format!("{} files of {}", options.tiny_files, human_bytes(1024)),
            options.tiny_files,
            1024,
            "files/s",
        ),
        (
            format!(
                "{} frames of {} (image sequence)",
                options.frames,
                human_bytes(options.frame_bytes)
            ),
            options.frames,
            options.frame_bytes as usize,
            "frames/s",
        ),
    ];
    for (index, (title, count, bytes, unit)) in trees.into_iter().enumerate() {
        log(&format!("writing {title}{suffix}"));
        let tree = dir.join("tree");
        std::fs::create_dir(&tree)?;
        let files = make_tree(&tree, count, bytes)?;
        let jobs = options.jobs.to_string();
        let mut contenders: Vec<Contender> = vec![
            zcopy_contender("zcopy -r", &["-r", "-j", &jobs]),
            zcopy_contender("zcopy -r -j 1", &["-r", "-j", "1"]),
        ];
        if bytes < 1 << 20 {
            // The spec sends every file under ZERO_COPY_MIN_SIZE_MB (at least 1 MB) through
            // the chunk copy where it cannot clone; this row shows what that rule costs.
            contenders.push(zcopy_contender(
                "zcopy -r --method=copy-file-range",
                &["-r", "-j", &jobs, "--method=copy-file-range"],
            ));
        }
        contenders.extend(peer_tools(true));
        contenders.push(raw_loop_contender(files, options.jobs));
        let tree_copy = dir.join("tree.dst");
        let race_spec = Race {
            title: format!("{title}{suffix}"),
            unit,
            rounds: options.rounds,
            source: &tree,
            destination: &tree_copy,
            work: count as f64,
        };
        tables.push(race(race_spec, &contenders, log)?);
        if index == 0 {
            syscalls.extend(count_syscalls(&tree, &tree_copy, count, &place)?);
        }
        std::fs::remove_dir_all(&tree)?;
    }
    Ok(())
}

/// `strace -f -c` of zcopy (one worker, so the count is not spread over threads) and
/// cp copying `tree` to a new `copy`, then again over the copy (every file replaced).
fn count_syscalls(
    tree: &Path,
    copy: &Path,
    files: usize,
    place: &str,
) -> std::io::Result<Vec<SyscallCount>> {
    let Some(strace) = find_program("strace") else {
        return Ok(Vec::new());
    };
    let zcopy = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("zcopy"));
    let cp = find_program("cp");
    let mut counts = Vec::new();
    let runs: [(&str, Option<&Path>, &[&str]); 2] = [
        (
            "zcopy -r -j 1",
            Some(&zcopy),
            &["--no-env-file", "-q", "-r", "-j", "1", "-T"],
        ),
        ("cp -r", cp.as_deref(), &["-r", "-T"]),
    ];
    for (name, program, args) in runs {
        let Some(program) = program else { continue };
        remove(copy);
        for target in ["new", "replacing"] {
            stop_if_interrupted()?;
            let summary = copy.with_extension("strace");
            let status = Command::new(&strace)
                .args(["-f", "-c", "-o"])
                .arg(&summary)
                .arg(program)
                .args(args)
                .arg(tree)
                .arg(copy)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()?;
            let text = std::fs::read_to_string(&summary).unwrap_or_default();
            let _ = std::fs::remove_file(&summary);
            if !status.success() {
                continue;
            }
            let (total, stats) = strace_totals(&text);
            counts.push(SyscallCount {
                directory: place.to_string(),
                contender: format!("{name}, {target}"),
                per_file: total as f64 / files.max(1) as f64,
                stats_per_file: stats as f64 / files.max(1) as f64,
            });
        }
    }
    remove(copy);
    Ok(counts)
}

/// All calls, and the stat-family calls, from an `strace -c` summary.
fn strace_totals(summary: &str) -> (u64, u64) {
    let mut total = 0;
    let mut stats = 0;
    for line in summary.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(name), Some(calls)) = (fields.last(), fields.get(3)) else {
            continue;
        };
        let Ok(calls) = calls.parse::<u64>() else {
            continue;
        };
        match *name {
            "total" => total = calls,
            "statx" | "newfstatat" | "fstat" | "lstat" | "stat" => stats += calls,
            _ => {}
        }
    }
    (total, stats)
}

fn raw_loop_contender(files: Vec<PathBuf>, jobs: usize) -> Contender {
    Contender {
        name: format!("raw copy_file_range loop, {jobs} threads"),
        runner: Runner::InProcess(Box::new(move |src, dst| {
            raw_copy_tree(src, dst, &files, jobs)
        })),
    }
}

/// The usual tools, where installed: GNU cp, xcp, fcp, cpz (fuc), rsync.
fn peer_tools(recursive: bool) -> Vec<Contender> {
    let r: &[&str] = if recursive { &["-r"] } else { &[] };
    [
        tool_contender(if recursive { "cp -r" } else { "cp" }, "cp", r),
        tool_contender("xcp", "xcp", r),
        tool_contender("fcp", "fcp", &[]),
        tool_contender("cpz", "cpz", &[]),
        tool_contender(
            "rsync",
            "rsync",
            if recursive {
                &["-a", "--whole-file"]
            } else {
                &["--whole-file"]
            },
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn filesystem_of(path: &Path) -> String {
    crate::doctor::filesystem_of(path)
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .next()
                .map(|line| line.split_whitespace().nth(1).unwrap_or("0").to_string())
        })
        .and_then(|kib| kib.parse::<u64>().ok())
        .map_or("unknown memory".to_string(), |kib| human_bytes(kib * 1024));
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpus} CPUs, {memory}, Linux {}", kernel.trim())
}

impl BenchReport {
    /// The tables for people.
    pub fn render(&self) -> String {
        let mut out = format!(
            "zcopy bench: {} — {}; medians of {} interleaved rounds; \"synced\" counts until syncfs of the destination returned\n",
            self.directory, self.machine, self.rounds
        );
        for table in &self.tables {
            out.push_str(&format!("\n{}\n", table.title));
            out.push_str(&format!(
                "  {:<36} {:>12} {:>8} {:>10} {:>8} {:>12} {:>8}\n",
                "", table.unit, "CPU %", "seconds", "ratio", "synced", "ratio"
            ));
            for row in &table.rows {
                match &row.failed {
                    Some(reason) => {
                        out.push_str(&format!("  {:<36} n/a: {reason}\n", row.contender))
                    }
                    None => out.push_str(&format!(
                        "  {:<36} {:>12.1} {:>8.0} {:>10.4} {:>7.2}x {:>12.1} {:>7.2}x\n",
                        row.contender,
                        row.rate.unwrap_or(0.0),
                        row.cpu_percent.unwrap_or(0.0),
                        row.seconds.unwrap_or(0.0),
                        row.ratio.unwrap_or(0.0),
                        row.synced_rate.unwrap_or(0.0),
                        row.synced_ratio.unwrap_or(0.0)
                    )),
                }
            }
        }
        if !self.syscalls.is_empty() {
            out.push_str("\nsystem calls per file (strace -f -c)\n");
            out.push_str(&format!("  {:<36} {:>8} {:>8}\n", "", "all", "stats"));
            let mut place = "";
            for count in &self.syscalls {
                if count.directory != place {
                    place = &count.directory;
                    out.push_str(&format!("  {place}\n"));
                }
                out.push_str(&format!(
                    "    {:<34} {:>8.1} {:>8.1}\n",
                    count.contender, count.per_file, count.stats_per_file
                ));
            }
        }
        out.push_str(&format!(
            "\nhashing on one core, GB/s (memory read by one core: {:.1} GB/s, the ceiling from memory)\n",
            self.hashing.memory_read_gbps
        ));
        out.push_str(&format!(
            "  {:<36} {:>12} {:>12}\n",
            "", "in cache", "from memory"
        ));
        for rate in &self.hashing.rates {
            out.push_str(&format!(
                "  {:<36} {:>12.2} {:>12.2}\n",
                rate.algorithm, rate.cached_gbps, rate.memory_gbps
            ));
        }
        out.push_str("\npeak RSS\n");
        for (label, mib) in &self.peak_rss_mib {
            let size = human_bytes((mib * 1024.0 * 1024.0) as u64);
            out.push_str(&format!("  {label:<36} {size:>12}\n"));
        }
        out.push_str(&format!("\n(took {:.0} s)\n", self.total_seconds));
        out
    }
}
