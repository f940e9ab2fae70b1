//! `zcopy doctor [SRC_DIR] [DST_DIR]`: the README's troubleshooting section as a command.
//!
//! Every mechanism is tried for real, through the same engine that copies files, from a
//! small probe file on the source's filesystem to the destination directory. What it
//! reports is what a copy between those directories would meet, not a guess from the
//! filesystem type.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::{Config, Reflink, VerifyMode};
use crate::engine::{self, Cause, CopyOptions, Method, Outcome, Quiet};
use crate::error::shown;
use crate::report::human_bytes;

/// Size of the probe file: big enough for every mechanism to do real work.
const PROBE_BYTES: usize = 1 << 20;

/// One end of the copy.
#[derive(Debug, Serialize)]
pub struct Place {
    /// The directory examined.
    pub directory: String,
    /// Filesystem type (`ext4`, `btrfs`, `xfs`, `tmpfs`, `nfs`...).
    pub filesystem: String,
    /// Where that filesystem is mounted, from /proc/self/mountinfo.
    pub mount_point: Option<String>,
    /// What is mounted there (a device, a server export).
    pub mount_source: Option<String>,
    /// Its mount options.
    pub mount_options: Option<String>,
}

/// Whether one mechanism copied the probe.
#[derive(Debug, Serialize)]
pub struct Probe {
    /// The mechanism.
    pub method: Method,
    /// True when it copied the probe and the copy verified.
    pub works: bool,
    /// Why not, when it did not.
    pub error: Option<String>,
}

/// Everything `zcopy doctor` reports.
#[derive(Debug, Serialize)]
pub struct Diagnosis {
    /// Where files come from.
    pub source: Place,
    /// Where they go.
    pub destination: Place,
    /// Both directories are on one filesystem.
    pub same_filesystem: bool,
    /// Each mechanism, tried in ladder order.
    pub mechanisms: Vec<Probe>,
    /// What a default copy of a large file would use.
    pub default_method: Option<Method>,
    /// A clone works here, so copies can share blocks with their source.
    pub clone_shares_blocks: bool,
    /// The probe file (a temporary one, or an existing file when SRC_DIR is read-only).
    pub probe: String,
    /// Each setting with its value and origin.
    pub configuration: serde_json::Value,
    /// What follows from all of the above.
    pub advice: Vec<String>,
}

/// Examines copying from `source` to `destination` under `config`.
pub fn diagnose(source: &Path, destination: &Path, config: &Config) -> Result<Diagnosis, String> {
    for (what, dir) in [("SRC_DIR", source), ("DST_DIR", destination)] {
        if !dir.is_dir() {
            return Err(format!("{}: {what} is not a directory", shown(dir)));
        }
    }
    let (probe_path, _probe_guard) = probe_file(source)?;
    let mechanisms: Vec<Probe> = Method::ALL
        .iter()
        .map(|&method| probe(&probe_path, destination, method))
        .collect();
    let works = |method: Method| mechanisms.iter().any(|p| p.method == method && p.works);
    let source_place = place(source);
    let destination_place = place(destination);
    let same_filesystem = same_device(source, destination);
    let default_method = Method::ALL
        .iter()
        .copied()
        .filter(|&method| match config.reflink {
            Reflink::Never => !matches!(method, Method::Clone | Method::CopyFileRange),
            Reflink::Always => method == Method::Clone,
            Reflink::Auto => true,
        })
        .find(|&method| works(method));
    let mut diagnosis = Diagnosis {
        source: source_place,
        destination: destination_place,
        same_filesystem,
        clone_shares_blocks: works(Method::Clone),
        default_method,
        mechanisms,
        probe: probe_path.display().to_string(),
        configuration: config.to_json(),
        advice: Vec::new(),
    };
    diagnosis.advice = advise(&diagnosis, config);
    Ok(diagnosis)
}

/// A probe file on the source's filesystem: a new temporary file when the directory is
/// writable, else the first non-empty regular file in it (a read-only camera card).
fn probe_file(directory: &Path) -> Result<(PathBuf, Option<tempfile::TempPath>), String> {
    let created = tempfile::Builder::new()
        .prefix(".zcopy-doctor-")
        .suffix(crate::atomic::TEMP_SUFFIX)
        .tempfile_in(directory)
        .and_then(|mut file| {
            let pattern: Vec<u8> = (0..PROBE_BYTES).map(|i| (i % 251) as u8).collect();
            file.write_all(&pattern)?;
            file.as_file().sync_all()?;
            Ok(file.into_temp_path())
        });
    match created {
        Ok(path) => Ok((path.to_path_buf(), Some(path))),
        Err(create_error) => {
            let existing = std::fs::read_dir(directory)
                .ok()
                .into_iter()
                .flatten()
                .flatten()
                .map(|entry| entry.path())
                .find(|path| std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() > 0));
            existing.map(|path| (path, None)).ok_or_else(|| {
                format!(
                    "{}: cannot write a probe file ({create_error}) and holds no file to probe with",
                    shown(directory)
                )
            })
        }
    }
}

/// Copies the probe with `method` alone, through the engine, and removes the copy.
fn probe(source: &Path, destination_dir: &Path, method: Method) -> Probe {
    let destination = destination_dir.join(format!(
        ".zcopy-doctor-{}-{}",
        method.name(),
        std::process::id()
    ));
    let mut options = CopyOptions::from_config(&Config::default(), false);
    options.forced_method = Some(method);
    options.verify = Some(VerifyMode::Checksum);
    let result = engine::copy_file(source, &destination, &options, &Quiet);
    let _ = std::fs::remove_file(&destination);
    match result {
        Ok(Outcome::Copied(_)) => Probe {
            method,
            works: true,
            error: None,
        },
        Ok(Outcome::Skipped(reason)) => Probe {
            method,
            works: false,
            error: Some(reason.to_string()),
        },
        Err(error) => Probe {
            method,
            works: false,
            error: Some(match &error.cause {
                // The mechanism's own answer, without the "--method" framing.
                Cause::MechanismRefused { error, .. } => error.to_string(),
                cause => format!("{}: {cause}", error.operation),
            }),
        },
    }
}

fn advise(diagnosis: &Diagnosis, config: &Config) -> Vec<String> {
    let works = |method: Method| {
        diagnosis
            .mechanisms
            .iter()
            .any(|p| p.method == method && p.works)
    };
    let mut advice = Vec::new();
    if !config.enabled {
        advice.push(format!(
            "ZERO_COPY_ENABLED=false ({}): every file uses the chunk copy; kernel mechanisms that work here: {}",
            config.origins["ZERO_COPY_ENABLED"],
            kernel_methods_that_work(diagnosis)
        ));
    } else if config.min_size_mb > 1 {
        advice.push(format!(
            "ZERO_COPY_MIN_SIZE_MB={} ({}): files below {} {}",
            config.min_size_mb,
            config.origins["ZERO_COPY_MIN_SIZE_MB"],
            human_bytes(config.min_size_bytes()),
            if works(Method::Clone) && config.reflink != Reflink::Never {
                "are cloned here (a clone moves no bytes, so the threshold does not apply to it)"
            } else {
                "will use the chunk copy"
            }
        ));
    }
    if works(Method::Clone) {
        if config.reflink == Reflink::Never {
            advice.push(
                "clones work here, but ZERO_COPY_REFLINK=never forgoes them: copies take time and space".to_string(),
            );
        } else {
            advice.push("clones work here: copies of any size take milliseconds and share blocks until either file changes".to_string());
        }
    } else {
        if config.reflink == Reflink::Always {
            advice.push("ZERO_COPY_REFLINK=always fails every file here: no clone is possible between these directories".to_string());
        }
        if !diagnosis.same_filesystem {
            advice.push(
                "different filesystems: no clone, and copy_file_range only between filesystems of the same type (Linux 5.19+)"
                    .to_string(),
            );
        } else if ["btrfs", "xfs"].contains(&diagnosis.destination.filesystem.as_str()) {
            advice.push(
                "no clone on a btrfs/XFS filesystem: XFS needs mkfs.xfs -m reflink=1".to_string(),
            );
        }
    }
    if let Some(probe) = diagnosis
        .mechanisms
        .iter()
        .find(|p| p.method == Method::CopyFileRange)
    {
        if let Some(error) = &probe.error {
            if error.contains("os error 1)") || error.contains("os error 38)") {
                advice.push(format!(
                    "copy_file_range is blocked ({error}): a seccomp filter (containers) or an old kernel; sendfile is used instead"
                ));
            }
        }
    }
    if ["nfs", "nfs4", "cifs", "smb3"].contains(&diagnosis.destination.filesystem.as_str())
        && works(Method::CopyFileRange)
    {
        advice.push("copy_file_range lets the server copy (NFS 4.2 / SMB3 server-side copy): no data crosses the network".to_string());
    }
    if !config.verify_copy {
        advice.push("ZERO_COPY_VERIFY_COPY=false: copies are installed unchecked".to_string());
    }
    advice
}

fn kernel_methods_that_work(diagnosis: &Diagnosis) -> String {
    let names: Vec<&str> = diagnosis
        .mechanisms
        .iter()
        .filter(|p| p.works && p.method.is_zero_copy())
        .map(|p| p.method.name())
        .collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

impl Diagnosis {
    /// The report for people.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let place = |label: &str, place: &Place| {
            let mut line = format!(
                "{label:<12} {} — {}",
                shown(Path::new(&place.directory)),
                place.filesystem
            );
            if let (Some(point), Some(source)) = (&place.mount_point, &place.mount_source) {
                line.push_str(&format!(
                    ", {source} mounted at {}",
                    shown(Path::new(point))
                ));
            }
            if let Some(options) = &place.mount_options {
                line.push_str(&format!(" ({options})"));
            }
            line
        };
        out.push_str(&place("source:", &self.source));
        out.push('\n');
        out.push_str(&place("destination:", &self.destination));
        out.push('\n');
        out.push_str(&format!(
            "same filesystem: {}\n\nmechanisms (each tried on {}):\n",
            if self.same_filesystem { "yes" } else { "no" },
            shown(Path::new(&self.probe))
        ));
        for probe in &self.mechanisms {
            let verdict = match &probe.error {
                None => "works".to_string(),
                Some(error) => format!("no: {error}"),
            };
            out.push_str(&format!("  {:<16} {verdict}\n", probe.method.name()));
        }
        out.push_str(&format!(
            "a large file would use: {}\nclones share blocks: {}\n\nconfiguration:\n",
            self.default_method
                .map_or("nothing (every mechanism failed)", Method::name),
            if self.clone_shares_blocks {
                "yes"
            } else {
                "no"
            }
        ));
        if let Some(settings) = self.configuration.as_object() {
            for (name, setting) in settings {
                let value = match &setting["value"] {
                    serde_json::Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                out.push_str(&format!(
                    "  {name}={value} ({})\n",
                    setting["origin"].as_str().unwrap_or("")
                ));
            }
        }
        out.push_str("\nadvice:\n");
        for line in &self.advice {
            out.push_str(&format!("  - {line}\n"));
        }
        out
    }
}

#[cfg(unix)]
fn same_device(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_device(a: &Path, b: &Path) -> bool {
    std::fs::canonicalize(a)
        .ok()
        .and_then(|a| a.components().next().map(|c| c.as_os_str().to_owned()))
        == std::fs::canonicalize(b)
            .ok()
            .and_then(|b| b.components().next().map(|c| c.as_os_str().to_owned()))
}

fn place(directory: &Path) -> Place {
    let real = std::fs::canonicalize(directory).unwrap_or_else(|_| directory.to_path_buf());
    let mount = mount_of(&real);
    Place {
        directory: directory.display().to_string(),
        filesystem: filesystem_name(&real)
            .or_else(|| mount.as_ref().map(|m| m.fstype.clone()))
            .unwrap_or_else(|| "unknown".to_string()),
        mount_point: mount.as_ref().map(|m| m.point.clone()),
        mount_source: mount.as_ref().map(|m| m.source.clone()),
        mount_options: mount.map(|m| m.options),
    }
}

/// The type of the filesystem holding `path` (`ext4`, `btrfs`...), or `unknown`.
pub fn filesystem_of(path: &Path) -> String {
    place(path).filesystem
}

struct Mount {
    point: String,
    fstype: String,
    source: String,
    options: String,
}

/// The mount holding `path`: the longest mount point in /proc/self/mountinfo that
/// contains it.
#[cfg(target_os = "linux")]
fn mount_of(path: &Path) -> Option<Mount> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    table
        .lines()
        .filter_map(|line| {
            // ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
            let (left, right) = line.split_once(" - ")?;
            let fields: Vec<&str> = left.split(' ').collect();
            let rest: Vec<&str> = right.split(' ').collect();
            Some(Mount {
                point: unescape(fields.get(4)?),
                options: fields.get(5)?.to_string(),
                fstype: rest.first()?.to_string(),
                source: unescape(rest.get(1)?),
            })
        })
        .filter(|mount| path.starts_with(&mount.point))
        .max_by_key(|mount| mount.point.len())
}

#[cfg(not(target_os = "linux"))]
fn mount_of(_path: &Path) -> Option<Mount> {
    None
}

/// mountinfo writes space, tab, newline and backslash as octal escapes.
#[cfg(target_os = "linux")]
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let octal = std::str::from_utf8(&bytes[i + 1..i + 4]).ok();
            if let Some(value) = octal.and_then(|digits| u8::from_str_radix(digits, 8).ok()) {
                out.push(value);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(target_os = "linux")]
fn filesystem_name(path: &Path) -> Option<String> {
    use nix::sys::statfs::{self, statfs};
    let kind = statfs(path).ok()?.filesystem_type();
    let names: &[(statfs::FsType, &str)] = &[
        (statfs::EXT4_SUPER_MAGIC, "ext4"),
        (statfs::XFS_SUPER_MAGIC, "xfs"),
        (statfs::BTRFS_SUPER_MAGIC, "btrfs"),
        (statfs::TMPFS_MAGIC, "tmpfs"),
        (statfs::NFS_SUPER_MAGIC, "nfs"),
        (statfs::SMB_SUPER_MAGIC, "smb"),
        (statfs::OVERLAYFS_SUPER_MAGIC, "overlayfs"),
        (statfs::FUSE_SUPER_MAGIC, "fuse"),
        (statfs::PROC_SUPER_MAGIC, "proc"),
        (statfs::SYSFS_MAGIC, "sysfs"),
    ];
    names
        .iter()
        .find(|(magic, _)| *magic == kind)
        .map(|(_, name)| name.to_string())
}

#[cfg(not(target_os = "linux"))]
fn filesystem_name(_path: &Path) -> Option<String> {
    None
}
