//! The seven statistics of the original `ZERO_COPY_*` definition (the JSON `stats`),
//! counted as files complete.
//!
//! Counters are atomics so that several workers can share one `Stats` without a lock.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::config::MB;
use crate::engine::Method;

/// Running totals of a batch.
#[derive(Debug, Default)]
pub struct Stats {
    bytes_copied: AtomicU64,
    verification_failures: AtomicU64,
    by_method: [AtomicU64; 8],
}

impl Stats {
    /// Counts a copied file.
    pub fn record_copy(&self, method: Method, bytes: u64) {
        self.bytes_copied.fetch_add(bytes, Ordering::Relaxed);
        self.by_method[method_index(method)].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a copy whose verification failed.
    pub fn record_verification_failure(&self) {
        self.verification_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// The statistics as reported, for a batch that took `elapsed`.
    pub fn snapshot(&self, elapsed: Duration) -> StatsSnapshot {
        let methods: BTreeMap<&'static str, u64> = Method::ALL
            .iter()
            .map(|&method| {
                (
                    method.name(),
                    self.by_method[method_index(method)].load(Ordering::Relaxed),
                )
            })
            .collect();
        let count = |zero_copy: bool| -> u64 {
            Method::ALL
                .iter()
                .filter(|method| method.is_zero_copy() == zero_copy)
                .map(|&method| methods[method.name()])
                .sum()
        };
        let zero_copy_count = count(true);
        let fallback_count = count(false);
        let bytes_copied = self.bytes_copied.load(Ordering::Relaxed);
        let total_duration_sec = elapsed.as_secs_f64();
        let speed_mbps = if bytes_copied == 0 || total_duration_sec == 0.0 {
            0.0
        } else {
            bytes_copied as f64 / MB as f64 / total_duration_sec
        };
        let files = zero_copy_count + fallback_count;
        let zero_copy_ratio = if files == 0 {
            0.0
        } else {
            zero_copy_count as f64 * 100.0 / files as f64
        };
        StatsSnapshot {
            bytes_copied,
            zero_copy_count,
            fallback_count,
            total_duration_sec,
            verification_failures: self.verification_failures.load(Ordering::Relaxed),
            speed_mbps,
            zero_copy_ratio,
            methods,
        }
    }
}

fn method_index(method: Method) -> usize {
    Method::ALL
        .iter()
        .position(|&m| m == method)
        .expect("every method is in Method::ALL")
}

/// The statistics of a finished batch, under their original names.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StatsSnapshot {
    /// Total bytes of the files copied (their sizes, holes included).
    pub bytes_copied: u64,
    /// Files copied by a kernel mechanism (clone, copy_file_range, sendfile).
    pub zero_copy_count: u64,
    /// Files copied by the buffered chunk copy.
    pub fallback_count: u64,
    /// Wall-clock seconds of the batch, from the first file opened to the last renamed.
    pub total_duration_sec: f64,
    /// Copies whose verification failed (not installed).
    pub verification_failures: u64,
    /// bytes_copied / 1,048,576 / total_duration_sec; 0.0 when nothing was copied.
    pub speed_mbps: f64,
    /// Percent of copied files that took a kernel path; 0.0 when none were copied.
    pub zero_copy_ratio: f64,
    /// Files per method.
    pub methods: BTreeMap<&'static str, u64>,
}
