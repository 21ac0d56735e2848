//! SHA-256, HMAC-SHA-256 and HKDF-SHA-256 for the whole job, in one place.
//!
//! The night hashes every row (history), every file it writes and reads back (checksums), every
//! snapshot file, and keys a pseudonym per identifier: SHA-256 is its largest single cost. Which
//! code runs depends on the CPU, because what is fastest differs:
//! - **Files and other long inputs** go through ring, whose assembly (from BoringSSL) picks the
//!   CPU's SHA extensions where they exist, else its AVX or SSSE3 code. The sha2 crate falls back
//!   to portable Rust without the extensions. On a 2-core Xeon without them: 259 against 120 MB/s
//!   for a file. With them, both are within a tenth of each other. ring is already built for rustls
//!   (the HTTPS client), so this costs no compile.
//! - **Many short messages** (a table's rows, the pseudonyms' MACs) pay a cost per call besides
//!   their blocks. Where the CPU has SHA extensions, the sha2 and hmac crates hash them one at a
//!   time with the least of that cost. Both crates are already built for age and minisign. On the
//!   2-core AMD EPYC with SHA-NI, single core:
//!   - rows of 113 bytes: sha2 12.0 M/s, ring 8.6 M/s, tape-sha256's multi-buffer AVX-512 5.4 M/s;
//!   - HMACs of a 21-byte input: the hmac crate 10.6 M/s, ring 6.7 M/s.
//! - **Without SHA extensions**, no single-message code can overlap one message's rounds, since
//!   each waits on the one before. So `digest_many` hashes the rows a SIMD lane each
//!   (tape-sha256's multi-buffer code), about 2.5 times ring's speed for rows of 150 to 900 bytes
//!   on the Xeon (AVX-512, 16 lanes), and the MACs go through ring's assembly.
//!
//! The tests check every path against the others, against the published test vectors and against
//! `sha256sum`, whichever CPU they run on.

use ring::{digest, hkdf, hmac};

/// A SHA-256 computed piece by piece (a file read in blocks, a listing line by line).
#[derive(Clone)]
pub struct Sha256(digest::Context);

impl Default for Sha256 {
    fn default() -> Self {
        Sha256::new()
    }
}

impl Sha256 {
    pub fn new() -> Sha256 {
        Sha256(digest::Context::new(&digest::SHA256))
    }

    pub fn update(&mut self, bytes: impl AsRef<[u8]>) {
        self.0.update(bytes.as_ref());
    }

    pub fn finish(self) -> [u8; 32] {
        self.0.finish().as_ref().try_into().expect("SHA-256 gives 32 bytes")
    }

    /// The digest in lowercase hex, as `sha256sum` prints it.
    pub fn finish_hex(self) -> String {
        hex(&self.finish())
    }
}

/// Hashing what is written: `io::copy` from a file into a `Sha256`.
impl std::io::Write for Sha256 {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The SHA-256 of `bytes`.
pub fn digest(bytes: &[u8]) -> [u8; 32] {
    digest::digest(&digest::SHA256, bytes).as_ref().try_into().expect("SHA-256 gives 32 bytes")
}

/// The SHA-256 of `bytes` in lowercase hex.
pub fn hex_digest(bytes: &[u8]) -> String {
    hex(&digest(bytes))
}

/// The SHA-256 of each message, `out[i]` that of `messages[i]`, for a caller with thousands of
/// short messages in hand (the rows of a table). Where the CPU has SHA extensions, one message at
/// a time through them (`sha2_each`); elsewhere several at once on the CPU's widest lanes (AVX-512
/// or AVX2; portable code elsewhere). The multi-buffer code is chosen by CPU at run time, so its
/// first use checks it here, on this CPU, against ring over every length up to four blocks in one
/// batch; should they ever disagree, the job hashes one message at a time with ring and says so
/// in its log.
///
/// # Panics
/// When `messages` and `out` differ in length.
pub fn digest_many(messages: &[&[u8]], out: &mut [[u8; 32]]) {
    assert_eq!(messages.len(), out.len(), "one digest per message");
    if sha_extensions() {
        sha2_each(messages, out);
    } else if multi_buffer_agrees_with_ring() {
        tape_sha256::hash_many(messages, out);
    } else {
        for (message, digest_out) in messages.iter().zip(out) {
            *digest_out = digest(message);
        }
    }
}

/// Each message's SHA-256 through the sha2 crate, one after the other.
fn sha2_each(messages: &[&[u8]], out: &mut [[u8; 32]]) {
    use sha2::Digest;
    for (message, digest_out) in messages.iter().zip(out) {
        *digest_out = sha2::Sha256::digest(message).into();
    }
}

/// Whether the CPU has SHA extensions, as the sha2 crate tests for them before using them: SHA-NI
/// with SSSE3 and SSE4.1 on x86-64, the SHA2 instructions on 64-bit ARM. The standard library
/// remembers the answer, so asking is cheap.
fn sha_extensions() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("sha") && std::arch::is_x86_feature_detected!("ssse3") && std::arch::is_x86_feature_detected!("sse4.1")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("sha2")
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

/// Whether the multi-buffer code selected for this CPU gives ring's digests: once per process,
/// a batch of every length from 0 to 256 bytes (the padding's edges at 55, 56 and 64 bytes and
/// their multiples, lanes of unequal length side by side).
fn multi_buffer_agrees_with_ring() -> bool {
    static AGREES: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AGREES.get_or_init(|| {
        let messages: Vec<Vec<u8>> = (0..=256usize).map(|len| (0..len).map(|i| (i * 31 + len) as u8).collect()).collect();
        let slices: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let mut many = vec![[0u8; 32]; slices.len()];
        tape_sha256::hash_many(&slices, &mut many);
        let agrees = slices.iter().zip(&many).all(|(message, hash)| digest(message) == *hash);
        if !agrees {
            tracing::warn!(backend = tape_sha256::backend(), "the multi-buffer SHA-256 code disagrees with ring on this CPU: hashing one message at a time");
        }
        agrees
    })
}

/// Size and SHA-256 (hex) of a file, read in blocks of 1 MB.
pub fn file(path: &std::path::Path) -> std::io::Result<(u64, String)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = std::io::Read::read(&mut file, &mut buffer)?;
        if n == 0 {
            return Ok((total, hasher.finish_hex()));
        }
        hasher.update(&buffer[..n]);
        total += n as u64;
    }
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Bytes in lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().flat_map(|b| [HEX_DIGITS[usize::from(b >> 4)], HEX_DIGITS[usize::from(b & 15)]]).map(char::from).collect()
}

/// A digest in lowercase hex, written into a buffer: the history compares and stores one per
/// row, and allocates nothing for it.
pub fn hex_into<'b>(hash: &[u8; 32], digits: &'b mut [u8; 64]) -> &'b [u8; 64] {
    for (pair, b) in digits.chunks_exact_mut(2).zip(hash) {
        pair[0] = HEX_DIGITS[usize::from(b >> 4)];
        pair[1] = HEX_DIGITS[usize::from(b & 15)];
    }
    digits
}

/// An HMAC-SHA-256 key. The key's inner and outer pads are hashed once, here: each MAC then
/// starts from them (half the work for a short value, as a pseudonym's input is).
#[derive(Clone)]
pub struct HmacKey(Keyed);

/// The same key for one of the two implementations; which one is the CPU's choice (`HmacKey::new`).
#[derive(Clone)]
enum Keyed {
    /// The hmac crate over sha2, where the CPU has SHA extensions: a MAC is its two blocks and
    /// little else.
    Sha2(::hmac::Hmac<sha2::Sha256>),
    /// ring, whose SSSE3 and AVX code is about twice sha2's portable code.
    Ring(hmac::Key),
}

impl HmacKey {
    pub fn new(secret: &[u8]) -> HmacKey {
        HmacKey::for_cpu(secret, sha_extensions())
    }

    fn for_cpu(secret: &[u8], sha_extensions: bool) -> HmacKey {
        if sha_extensions {
            let key = <::hmac::Hmac<sha2::Sha256> as ::hmac::Mac>::new_from_slice(secret).expect("HMAC takes a key of any length");
            HmacKey(Keyed::Sha2(key))
        } else {
            HmacKey(Keyed::Ring(hmac::Key::new(hmac::HMAC_SHA256, secret)))
        }
    }

    pub fn mac(&self, input: &[u8]) -> [u8; 32] {
        match &self.0 {
            Keyed::Sha2(key) => {
                let mut mac = key.clone();
                ::hmac::Mac::update(&mut mac, input);
                ::hmac::Mac::finalize(mac).into_bytes().into()
            }
            Keyed::Ring(key) => hmac::sign(key, input).as_ref().try_into().expect("HMAC-SHA-256 gives 32 bytes"),
        }
    }
}

/// HKDF-SHA-256 (RFC 5869): extract with `salt` from `secret`, expand with `info` to 32 bytes.
pub fn hkdf_32(salt: &[u8], secret: &[u8], info: &[u8]) -> [u8; 32] {
    let pseudo_random_key = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(secret);
    let info = [info];
    let mut out = [0u8; 32];
    pseudo_random_key
        .expand(&info, hkdf::HKDF_SHA256)
        .and_then(|okm| okm.fill(&mut out))
        .expect("32 bytes is a valid HKDF-SHA-256 output length");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FIPS 180-2's examples, and a text over several blocks given in pieces.
    #[test]
    fn sha256_known_answers() {
        assert_eq!(hex_digest(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(hex_digest(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        let long = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        let mut pieces = Sha256::new();
        for chunk in long.chunks(7) {
            pieces.update(chunk);
        }
        assert_eq!(pieces.finish_hex(), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
        assert_eq!(hex(&digest(long)), hex_digest(long));
        assert_eq!(std::str::from_utf8(hex_into(&digest(long), &mut [0u8; 64])).unwrap(), hex_digest(long));
    }

    /// RFC 4231, test cases 2 and 6 (a key longer than a block), through both implementations.
    #[test]
    fn hmac_known_answers() {
        for sha_extensions in [false, true] {
            let mac = HmacKey::for_cpu(b"Jefe", sha_extensions).mac(b"what do ya want for nothing?");
            assert_eq!(hex(&mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
            let mac = HmacKey::for_cpu(&[0xaa; 131], sha_extensions).mac(b"Test Using Larger Than Block-Size Key - Hash Key First");
            assert_eq!(hex(&mac), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
        }
        assert_eq!(HmacKey::new(b"Jefe").mac(b"x"), HmacKey::for_cpu(b"Jefe", sha_extensions()).mac(b"x"));
    }

    /// Both HMAC implementations give the same MAC for keys and inputs of every length around the
    /// block's edges (the inner padding's at 55, 56 and 64 bytes), the same key used many times.
    #[test]
    fn hmac_implementations_agree() {
        for key_len in [0usize, 1, 32, 63, 64, 65, 200] {
            let secret: Vec<u8> = (0..key_len).map(|i| (i * 13 + 5) as u8).collect();
            let (sha2, ring) = (HmacKey::for_cpu(&secret, true), HmacKey::for_cpu(&secret, false));
            for len in 0..=200usize {
                let input: Vec<u8> = (0..len).map(|i| (i * 31 + len) as u8).collect();
                assert_eq!(sha2.mac(&input), ring.mac(&input), "a key of {key_len} bytes, an input of {len}");
            }
        }
    }

    /// RFC 5869, test case 1, its first 32 bytes.
    #[test]
    fn hkdf_known_answer() {
        let secret = [0x0bu8; 22];
        let salt: Vec<u8> = (0x00..=0x0c).collect();
        let info: Vec<u8> = (0xf0..=0xf9).collect();
        assert_eq!(hex(&hkdf_32(&salt, &secret, &info)), "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf");
    }

    #[test]
    fn hex_is_lower_case_two_digits_per_byte() {
        let mut hash = [0u8; 32];
        hash[0] = 0x0a;
        hash[31] = 0xff;
        let text = hex(&hash);
        assert_eq!(text, format!("0a{}ff", "00".repeat(30)));
        assert_eq!(hex_into(&hash, &mut [0u8; 64]).as_slice(), text.as_bytes());
    }

    /// Batches of sizes around multiples of the lanes (8, 16) up to 320 messages, of unequal
    /// lengths up to 329 bytes, give each message its own digest; and the check at first use passes on
    /// the CPU the tests run on.
    #[test]
    fn digest_many_is_each_message_digest() {
        assert!(multi_buffer_agrees_with_ring());
        let lengths: Vec<Vec<u8>> = (0..=256usize).map(|len| (0..len).map(|i| (i * 29 + len) as u8).collect()).collect();
        let slices: Vec<&[u8]> = lengths.iter().map(Vec::as_slice).collect();
        let mut each = vec![[0u8; 32]; slices.len()];
        sha2_each(&slices, &mut each);
        assert!(slices.iter().zip(&each).all(|(message, hash)| digest(message) == *hash), "sha2 one message at a time gives ring's digests");
        let messages: Vec<Vec<u8>> = (0..320usize).map(|i| (0..(i * 37) % 330).map(|b| (b * 7 + i) as u8).collect()).collect();
        let slices: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        for batch in [0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 48, 49, 320] {
            let mut out = vec![[0u8; 32]; batch];
            digest_many(&slices[..batch], &mut out);
            for (message, hash) in slices[..batch].iter().zip(&out) {
                assert_eq!(*hash, digest(message), "batch of {batch}, a message of {} bytes", message.len());
            }
        }
    }

    /// A file over several read blocks: its size, and the digest of its bytes in memory.
    #[test]
    fn file_digest_is_that_of_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let bytes: Vec<u8> = (0..(3 << 20) + 17).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(file(&path).unwrap(), (bytes.len() as u64, hex_digest(&bytes)));
        assert_eq!(file(&dir.path().join("missing")).unwrap_err().kind(), std::io::ErrorKind::NotFound);
    }
}
