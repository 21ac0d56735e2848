//! SHA-256, HMAC-SHA-256 and HKDF-SHA-256 for the whole job, in one place, through ring.
//!
//! The night hashes every row (history), every file it writes and reads back (checksums), every
//! snapshot file, and keys a pseudonym per identifier: SHA-256 is its largest single cost. ring's
//! assembly (from BoringSSL) picks the CPU's SHA extensions where they exist, else its AVX or
//! SSSE3 code; the sha2 crate falls back to portable Rust without the extensions. On a 2-core
//! Xeon without them: 259 against 120 MB/s for a file, 0.99 against 0.64 M hashes/s for rows of
//! 200 bytes; on CPUs with them both run the same instructions. ring is already built for rustls
//! (the HTTPS client), so this costs no compile. The tests check the results against the sha2,
//! hmac and hkdf crates and against `sha256sum`.
//!
//! The row hashes are many short independent messages: `digest_many` hashes them a SIMD lane
//! each (tape-sha256's multi-buffer code), which no single-message code can do, since each of
//! SHA-256's rounds waits on the one before. On the Xeon without SHA extensions: about 2.5
//! times ring's speed for rows of 150 to 900 bytes (AVX-512, 16 lanes).

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

/// The SHA-256 of each message, `out[i]` that of `messages[i]`, several messages at once on the
/// CPU's widest lanes (AVX-512, AVX2, or SHA extensions over 4 interleaved messages; portable
/// code elsewhere). Used where a caller has thousands of short messages in hand (the rows of a
/// table). The multi-buffer code is chosen by CPU at run time, so its first use checks it here,
/// on this CPU, against ring over every length up to four blocks in one batch; should they ever
/// disagree, the job hashes one message at a time with ring and says so in its log.
///
/// # Panics
/// When `messages` and `out` differ in length.
pub fn digest_many(messages: &[&[u8]], out: &mut [[u8; 32]]) {
    assert_eq!(messages.len(), out.len(), "one digest per message");
    if multi_buffer_agrees_with_ring() {
        tape_sha256::hash_many(messages, out);
    } else {
        for (message, digest_out) in messages.iter().zip(out) {
            *digest_out = digest(message);
        }
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
pub struct HmacKey(hmac::Key);

impl HmacKey {
    pub fn new(secret: &[u8]) -> HmacKey {
        HmacKey(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    pub fn mac(&self, input: &[u8]) -> [u8; 32] {
        hmac::sign(&self.0, input).as_ref().try_into().expect("HMAC-SHA-256 gives 32 bytes")
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

    /// RFC 4231, test case 2.
    #[test]
    fn hmac_known_answer() {
        let mac = HmacKey::new(b"Jefe").mac(b"what do ya want for nothing?");
        assert_eq!(hex(&mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
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
