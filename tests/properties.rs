//! Property tests: over sizes, content patterns, hole layouts and configurations, the
//! destination always equals the source.

mod common;

use std::fs::File;
use std::os::unix::fs::FileExt;

use common::*;
use proptest::prelude::*;

#[derive(Debug, Clone, Copy)]
enum Pattern {
    Zeros,
    Random,
    Repeating,
}

fn content(pattern: Pattern, offset: u64, len: usize, seed: u64) -> Vec<u8> {
    match pattern {
        Pattern::Zeros => vec![0; len],
        Pattern::Repeating => (0..len)
            .map(|i| b"media"[(offset as usize + i) % 5])
            .collect(),
        Pattern::Random => {
            let mut state = seed | 1;
            (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect()
        }
    }
}

fn config() -> impl Strategy<Value = Vec<String>> {
    (
        prop_oneof![
            Just(None),
            Just(Some("copy-file-range")),
            Just(Some("sendfile")),
            Just(Some("chunked"))
        ],
        any::<bool>(),
        1u64..=3,
        1u64..=4,
        prop_oneof![
            Just("--no-verify"),
            Just("--verify=size"),
            Just("--verify=checksum")
        ],
        prop_oneof![Just("auto"), Just("never")],
    )
        .prop_map(|(method, zero_copy, min_size, chunk, verify, reflink)| {
            let mut flags = vec![
                format!("--min-size-mb={min_size}"),
                format!("--chunk-size-mb={chunk}"),
                verify.to_string(),
                if zero_copy {
                    "--zero-copy"
                } else {
                    "--no-zero-copy"
                }
                .to_string(),
            ];
            match method {
                Some(method) => flags.push(format!("--method={method}")),
                None => flags.push(format!("--reflink={reflink}")),
            }
            flags
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn the_copy_always_equals_the_source(
        size in prop_oneof![0u64..10_000, 0u64..(4 * MIB)],
        pattern in prop_oneof![Just(Pattern::Zeros), Just(Pattern::Random), Just(Pattern::Repeating)],
        // Data written at these (offset, length) places in an otherwise empty (sparse)
        // file; none means the whole file is written.
        data in proptest::collection::vec((0u64..(4 * MIB), 1usize..300_000), 0..4),
        seed in any::<u64>(),
        flags in config(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("src");
        let file = File::create(&source).unwrap();
        file.set_len(size).unwrap();
        if data.is_empty() {
            file.write_all_at(&content(pattern, 0, size as usize, seed), 0).unwrap();
        } else {
            for (offset, len) in &data {
                let offset = (*offset).min(size);
                let len = (*len as u64).min(size - offset) as usize;
                file.write_all_at(&content(pattern, offset, len, seed ^ offset), offset).unwrap();
            }
        }
        drop(file);
        let destination = dir.path().join("dst");
        let output = zcopy(dir.path()).args(&flags).arg(&source).arg(&destination).output().unwrap();
        prop_assert!(output.status.success(), "{flags:?}: {}", String::from_utf8_lossy(&output.stderr));
        prop_assert_eq!(std::fs::read(&source).unwrap(), std::fs::read(&destination).unwrap());
    }
}
