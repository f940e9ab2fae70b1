//! Media checksums: the ASC MHL set of hash algorithms behind one enum, streaming,
//! written as ASC MHL writes them, and a read-back of a file from the device rather
//! than from the page cache.
//!
//! Text forms, as the reference implementation (`ascmhl`) writes them: xxh64 and xxh3
//! are 16 lowercase hex digits and xxh128 32, all in the canonical big-endian order
//! that `xxhsum` prints; md5 and sha1 are the usual lowercase hex; c4 is the SMPTE ST
//! 2114 id: the SHA-512 digest read as one big-endian number, in base 58 (the
//! Bitcoin alphabet), left-padded with `1` (the zero digit) to 88 characters, after
//! the prefix `c4` (90 characters in all).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use md5::Digest as _;

use crate::error::{Context, Error, Operation};

/// A hash algorithm of the ASC MHL set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub enum Algorithm {
    /// xxHash64 (XXH64): fast, 64 bits; the ASC MHL default of most offload tools.
    Xxh64,
    /// XXH3, 64 bits: the fastest on modern CPUs.
    Xxh3,
    /// XXH3, 128 bits.
    Xxh128,
    /// MD5 (for interchange with older tools; slow).
    Md5,
    /// SHA-1 (for interchange with older tools; slow).
    Sha1,
    /// C4 id (SMPTE ST 2114): SHA-512 in base 58.
    C4,
}

impl Algorithm {
    /// Every algorithm, in the order ASC MHL files list them (by name).
    pub const ALL: [Algorithm; 6] = [
        Algorithm::C4,
        Algorithm::Md5,
        Algorithm::Sha1,
        Algorithm::Xxh128,
        Algorithm::Xxh3,
        Algorithm::Xxh64,
    ];

    /// The name used on the command line, in JSON and as the ASC MHL element name.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Xxh64 => "xxh64",
            Algorithm::Xxh3 => "xxh3",
            Algorithm::Xxh128 => "xxh128",
            Algorithm::Md5 => "md5",
            Algorithm::Sha1 => "sha1",
            Algorithm::C4 => "c4",
        }
    }

    /// The algorithm of an ASC MHL element name (`xxh64`, `c4`...).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .find(|algorithm| algorithm.name() == name)
    }

    /// A fresh streaming hasher.
    pub fn hasher(self) -> Hasher {
        Hasher {
            state: match self {
                Algorithm::Xxh64 => State::Xxh64(Box::new(xxhash_rust::xxh64::Xxh64::new(0))),
                Algorithm::Xxh3 => State::Xxh3(Box::new(xxhash_rust::xxh3::Xxh3::new())),
                Algorithm::Xxh128 => State::Xxh128(Box::new(xxhash_rust::xxh3::Xxh3::new())),
                Algorithm::Md5 => State::Md5(md5::Md5::new()),
                Algorithm::Sha1 => State::Sha1(sha1::Sha1::new()),
                Algorithm::C4 => State::C4(Box::new(sha2::Sha512::new())),
            },
        }
    }

    /// The hash of `bytes`, as text.
    pub fn hash_bytes(self, bytes: &[u8]) -> String {
        let mut hasher = self.hasher();
        hasher.update(bytes);
        hasher.finish()
    }

    /// The digest bytes a hash text stands for (hex decoded, or the C4 id's 64 bytes);
    /// `None` when the text is not a hash of this algorithm. ASC MHL directory hashes
    /// are hashes of these bytes.
    pub fn digest_bytes(self, text: &str) -> Option<Vec<u8>> {
        match self {
            Algorithm::C4 => c4_decode(text),
            _ => {
                let expected = match self {
                    Algorithm::Xxh64 | Algorithm::Xxh3 => 16,
                    Algorithm::Xxh128 | Algorithm::Md5 => 32,
                    _ => 40,
                };
                (text.len() == expected).then(|| hex_decode(text)).flatten()
            }
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

enum State {
    Xxh64(Box<xxhash_rust::xxh64::Xxh64>),
    Xxh3(Box<xxhash_rust::xxh3::Xxh3>),
    Xxh128(Box<xxhash_rust::xxh3::Xxh3>),
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    C4(Box<sha2::Sha512>),
}

/// A hash being computed: feed it bytes with [`Hasher::update`], read the text with
/// [`Hasher::finish`].
pub struct Hasher {
    state: State,
}

impl Hasher {
    /// Adds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.state {
            State::Xxh64(state) => state.update(bytes),
            State::Xxh3(state) | State::Xxh128(state) => state.update(bytes),
            State::Md5(state) => state.update(bytes),
            State::Sha1(state) => state.update(bytes),
            State::C4(state) => state.update(bytes),
        }
    }

    /// The hash of everything added, as ASC MHL writes it.
    pub fn finish(self) -> String {
        match self.state {
            State::Xxh64(state) => format!("{:016x}", state.digest()),
            State::Xxh3(state) => format!("{:016x}", state.digest()),
            State::Xxh128(state) => format!("{:032x}", state.digest128()),
            State::Md5(state) => hex_encode(&state.finalize()),
            State::Sha1(state) => hex_encode(&state.finalize()),
            State::C4(state) => c4_encode(&state.finalize()),
        }
    }
}

/// Several hashers fed from one read.
pub struct MultiHasher {
    hashers: Vec<(Algorithm, Hasher)>,
}

impl MultiHasher {
    /// Hashers for `algorithms` (duplicates are dropped).
    pub fn new(algorithms: &[Algorithm]) -> Self {
        let mut unique = algorithms.to_vec();
        unique.sort();
        unique.dedup();
        MultiHasher {
            hashers: unique
                .into_iter()
                .map(|algorithm| (algorithm, algorithm.hasher()))
                .collect(),
        }
    }

    /// Adds bytes to every hasher.
    pub fn update(&mut self, bytes: &[u8]) {
        for (_, hasher) in &mut self.hashers {
            hasher.update(bytes);
        }
    }

    /// Each algorithm's hash.
    pub fn finish(self) -> Vec<(Algorithm, String)> {
        self.hashers
            .into_iter()
            .map(|(algorithm, hasher)| (algorithm, hasher.finish()))
            .collect()
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_encode(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(HEX[usize::from(byte >> 4)] as char);
        text.push(HEX[usize::from(byte & 15)] as char);
    }
    text
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let bytes = text.as_bytes();
    if bytes.len() % 2 != 0 {
        return None;
    }
    bytes
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

/// Characters of a C4 id after its `c4` prefix.
const C4_DIGITS: usize = 88;

/// The C4 id of a SHA-512 digest. bs58 writes each leading zero byte as a `1` and the
/// rest as a number; the C4 id is the whole digest as one number padded with `1` (the
/// zero digit) to 88 places. The two agree once bs58's leading `1`s are dropped and the
/// padding is put back.
fn c4_encode(digest: &[u8]) -> String {
    let number = bs58::encode(digest).into_string();
    let digits = number.trim_start_matches('1');
    format!("c4{digits:1>C4_DIGITS$}")
}

/// The 64 bytes of a C4 id, `None` if it is not one.
fn c4_decode(text: &str) -> Option<Vec<u8>> {
    let digits = text.strip_prefix("c4")?;
    if digits.len() != C4_DIGITS {
        return None;
    }
    let significant = digits.trim_start_matches('1');
    let value = if significant.is_empty() {
        Vec::new()
    } else {
        bs58::decode(significant).into_vec().ok()?
    };
    let value = &value[value.iter().take_while(|&&b| b == 0).count()..];
    if value.len() > 64 {
        return None;
    }
    let mut bytes = vec![0u8; 64 - value.len()];
    bytes.extend_from_slice(value);
    Some(bytes)
}

/// Buffer of the hashing reads. Large enough that the syscalls do not show, small
/// enough to stay in the L2 cache the hash reads from (512 KiB per core here): with
/// 1 MiB the kernel's copy into the buffer and the hash both went to memory, and
/// `--hash xxh3` of 1 GiB on tmpfs took 1.8 s instead of 1.5 s.
const READ_BUFFER: usize = 128 << 10;

/// Hashes everything `reader` yields; `interrupted` is asked between reads.
pub fn hash_reader(
    mut reader: impl Read,
    algorithms: &[Algorithm],
    interrupted: &dyn Fn() -> bool,
    mut progress: impl FnMut(u64),
) -> io::Result<Vec<(Algorithm, String)>> {
    let mut hashers = MultiHasher::new(algorithms);
    let mut buffer = crate::buffer::IoBuffer::new(READ_BUFFER);
    loop {
        if interrupted() {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
        }
        match reader.read(&mut buffer) {
            Ok(0) => return Ok(hashers.finish()),
            Ok(n) => {
                hashers.update(&buffer[..n]);
                progress(n as u64);
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
}

/// Hashes the file at `path` in the given algorithms (one read for all).
pub fn hash_file(
    path: &Path,
    algorithms: &[Algorithm],
    interrupted: &dyn Fn() -> bool,
    progress: impl FnMut(u64),
) -> Result<Vec<(Algorithm, String)>, Error> {
    let file = File::open(path).op(path, Operation::Hash)?;
    hash_reader(&file, algorithms, interrupted, progress).op(path, Operation::Hash)
}

/// Makes the next read of `file` come from the device: its dirty pages are written
/// (fsync), then its cached pages dropped (`posix_fadvise(POSIX_FADV_DONTNEED)`, which
/// drops clean pages only: hence the fsync first). On tmpfs and ramfs the page cache is
/// the storage itself and nothing is dropped; there is no device to read back from.
pub fn drop_cached_pages(file: &File, path: &Path) -> Result<(), Error> {
    file.sync_all().op(path, Operation::Fsync)?;
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a plain syscall on an open descriptor; offset 0 and length 0 mean the
        // whole file.
        let code =
            unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        if code != 0 {
            return Err(Error::os(
                path,
                Operation::DropCache,
                io::Error::from_raw_os_error(code),
            ));
        }
    }
    Ok(())
}

/// Reads `file` (a copy just written) back from the device and hashes it: its pages
/// are written out and dropped from the cache first ([`drop_cached_pages`]), then it is
/// read from the start.
pub fn read_back(
    file: &File,
    path: &Path,
    algorithm: Algorithm,
    interrupted: &dyn Fn() -> bool,
) -> Result<String, Error> {
    drop_cached_pages(file, path)?;
    let reader = ReadAt { file, offset: 0 };
    let mut hashes =
        hash_reader(reader, &[algorithm], interrupted, |_| {}).op(path, Operation::Verify)?;
    Ok(hashes.remove(0).1)
}

/// Reads a file from the start whatever its descriptor's position (positional reads).
struct ReadAt<'a> {
    file: &'a File,
    offset: u64,
}

impl Read for ReadAt<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        #[cfg(unix)]
        let n = std::os::unix::fs::FileExt::read_at(self.file, buffer, self.offset)?;
        #[cfg(windows)]
        let n = std::os::windows::fs::FileExt::seek_read(self.file, buffer, self.offset)?;
        self.offset += n as u64;
        Ok(n)
    }
}

/// Hashes `file` from its start with positional reads (its position is left alone).
pub fn hash_open_file(
    file: &File,
    path: &Path,
    algorithm: Algorithm,
    interrupted: &dyn Fn() -> bool,
) -> Result<String, Error> {
    let reader = ReadAt { file, offset: 0 };
    let mut hashes =
        hash_reader(reader, &[algorithm], interrupted, |_| {}).op(path, Operation::Hash)?;
    Ok(hashes.remove(0).1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // Empty input, from each algorithm's reference.
        assert_eq!(Algorithm::Xxh64.hash_bytes(b""), "ef46db3751d8e999");
        assert_eq!(Algorithm::Xxh3.hash_bytes(b""), "2d06800538d394c2");
        assert_eq!(
            Algorithm::Xxh128.hash_bytes(b""),
            "99aa06d3014798d86001c324468d497f"
        );
        assert_eq!(
            Algorithm::Md5.hash_bytes(b""),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        assert_eq!(
            Algorithm::Sha1.hash_bytes(b"abc"),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }

    #[test]
    fn c4_ids_are_90_characters_and_round_trip() {
        for input in [&b""[..], b"foo", b"a longer input for the c4 id"] {
            let id = Algorithm::C4.hash_bytes(input);
            assert_eq!(id.len(), 90, "{id}");
            assert!(id.starts_with("c4"));
            let bytes = Algorithm::C4.digest_bytes(&id).unwrap();
            let mut sha = sha2::Sha512::new();
            sha.update(input);
            assert_eq!(bytes, sha.finalize().to_vec());
        }
        // Leading zero bytes of the digest become leading '1's of the padding.
        let mut digest = [0u8; 64];
        digest[2] = 7;
        let id = c4_encode(&digest);
        assert_eq!(id.len(), 90);
        assert_eq!(c4_decode(&id).unwrap(), digest.to_vec());
        assert_eq!(c4_encode(&[0u8; 64]), format!("c4{}", "1".repeat(88)));
    }

    #[test]
    fn digest_bytes_rejects_what_is_not_a_hash() {
        assert_eq!(Algorithm::Xxh64.digest_bytes("zz46db3751d8e999"), None);
        assert_eq!(Algorithm::Xxh64.digest_bytes("ef46"), None);
        assert_eq!(
            Algorithm::Xxh64.digest_bytes("ef46db3751d8e999"),
            Some(vec![0xef, 0x46, 0xdb, 0x37, 0x51, 0xd8, 0xe9, 0x99])
        );
        assert_eq!(Algorithm::C4.digest_bytes("c4short"), None);
    }
}
