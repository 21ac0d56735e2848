//! Bytes gathered in numbered buckets and read back a bucket at a time, with what does not fit in
//! memory set aside in one unnamed scratch file (gone with the value, or with the process): flatten's
//! ids and references and its practitioners (`fhir::flatten::buckets`), and the row hashes of a
//! table's digest (`table::digest::SpilledDigest`).
//!
//! Each bucket's bytes stay in memory up to a limit, then go to the end of the file as a chunk,
//! and the bucket remembers where its chunks are. One file for every bucket, not one each: a night
//! made some 1,800 such files at scale 0.25 (256 per set of buckets), and making a file is not
//! free. On a journal-less ext4, as on the benchmark's machine, each new inode is searched for past
//! every inode freed in the last minute, and that search was about 3 % of the night's CPU.

use std::fs::File;
use std::io::{BufReader, Cursor, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Buckets of bytes, each in memory up to `limit` bytes, past that in chunks of the shared file.
#[derive(Debug)]
pub(crate) struct BucketFile {
    folder: PathBuf,
    limit: usize,
    /// Each bucket's bytes not yet in the file.
    buffers: Vec<Vec<u8>>,
    /// Each bucket's chunks in the file, in the order they were written: (offset, length).
    chunks: Vec<Vec<(u64, u64)>>,
    file: Option<File>,
    /// The file's length: where the next chunk goes.
    end: u64,
}

impl BucketFile {
    /// `buckets` empty buckets; the file, if one is needed, goes in `folder`.
    pub(crate) fn new(folder: &Path, buckets: usize, limit: usize) -> BucketFile {
        BucketFile { folder: folder.to_owned(), limit, buffers: vec![Vec::new(); buckets], chunks: vec![Vec::new(); buckets], file: None, end: 0 }
    }

    /// The folder the file goes in, for an error to name.
    pub(crate) fn folder(&self) -> &Path {
        &self.folder
    }

    /// Add bytes to `bucket`, written by `write` at the end of its buffer. A buffer that reaches
    /// the limit goes to the file.
    pub(crate) fn push(&mut self, bucket: usize, write: impl FnOnce(&mut Vec<u8>)) -> std::io::Result<()> {
        write(&mut self.buffers[bucket]);
        if self.buffers[bucket].len() < self.limit {
            return Ok(());
        }
        let file = match &mut self.file {
            Some(file) => file,
            none => none.insert(tempfile::tempfile_in(&self.folder)?),
        };
        let buffer = &mut self.buffers[bucket];
        file.write_all_at(buffer, self.end)?;
        self.chunks[bucket].push((self.end, buffer.len() as u64));
        self.end += buffer.len() as u64;
        buffer.clear();
        Ok(())
    }

    /// A bucket's bytes, in the order they were added. Bytes can still be added after.
    pub(crate) fn read(&self, bucket: usize) -> std::io::Result<Vec<u8>> {
        let in_file: u64 = self.chunks[bucket].iter().map(|&(_, length)| length).sum();
        let mut bytes = vec![0; in_file as usize];
        let mut at = 0;
        for &(offset, length) in &self.chunks[bucket] {
            let file = self.file.as_ref().expect("a chunk was written to the file");
            file.read_exact_at(&mut bytes[at..at + length as usize], offset)?;
            at += length as usize;
        }
        bytes.extend_from_slice(&self.buffers[bucket]);
        Ok(bytes)
    }

    /// A bucket's bytes as a stream, in the order they were added (as they are when it is asked
    /// for: bytes added after are not in it), through a buffer of `capacity` bytes.
    pub(crate) fn reader(&self, bucket: usize, capacity: usize) -> std::io::Result<impl Read + use<>> {
        // A handle of its own, read at positions: the stream borrows nothing of the buckets.
        let file = match &self.file {
            Some(file) if !self.chunks[bucket].is_empty() => Some(file.try_clone()?),
            _ => None,
        };
        let chunks = Chunks { file, chunks: self.chunks[bucket].clone().into_iter(), at: 0, left: 0 };
        Ok(BufReader::with_capacity(capacity, chunks).chain(Cursor::new(self.buffers[bucket].clone())))
    }
}

/// A bucket's chunks of the file, one after the other.
struct Chunks {
    file: Option<File>,
    chunks: std::vec::IntoIter<(u64, u64)>,
    /// Where the rest of the current chunk is, and how much of it is left.
    at: u64,
    left: u64,
}

impl Read for Chunks {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.left == 0 {
            match self.chunks.next() {
                Some((offset, length)) => (self.at, self.left) = (offset, length),
                None => return Ok(0),
            }
        }
        let file = self.file.as_ref().expect("a chunk was written to the file");
        let wanted = out.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = file.read_at(&mut out[..wanted], self.at)?;
        if n == 0 && wanted > 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "a scratch file is shorter than what was written to it"));
        }
        self.at += n as u64;
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes past a bucket's limit go to the one file and come back in order with the buffer's,
    /// read whole or streamed (through a buffer smaller than a chunk, and larger), and bytes added
    /// after a read or a stream are read by the next.
    #[test]
    fn buckets_come_back_in_order_from_the_shared_file_and_their_buffers() {
        let folder = tempfile::tempdir().unwrap();
        let mut buckets = BucketFile::new(folder.path(), 7, 100);
        let mut expected: Vec<Vec<u8>> = vec![Vec::new(); 7];
        for i in 0..5_000u32 {
            let bucket = (i as usize * 31 + i as usize / 3) % 6; // bucket 6 gets nothing
            let record = [i.to_le_bytes(); 3].concat();
            buckets.push(bucket, |out| out.extend_from_slice(&record)).unwrap();
            expected[bucket].extend_from_slice(&record);
        }
        assert!(buckets.chunks[..6].iter().all(|chunks| chunks.len() > 10), "every bucket went to the file");
        assert_eq!(buckets.end, buckets.chunks.iter().flatten().map(|&(_, length)| length).sum::<u64>());
        assert_eq!(fs_files(folder.path()), 0, "the file is unnamed");
        for (bucket, bytes) in expected.iter().enumerate() {
            assert_eq!(buckets.read(bucket).unwrap(), *bytes, "bucket {bucket}");
            for capacity in [5, 64 * 1024] {
                let mut streamed = Vec::new();
                buckets.reader(bucket, capacity).unwrap().read_to_end(&mut streamed).unwrap();
                assert_eq!(streamed, *bytes, "bucket {bucket} streamed through {capacity} bytes");
            }
        }
        let stream = buckets.reader(2, 16).unwrap();
        buckets.push(2, |out| out.push(7)).unwrap();
        let mut streamed = Vec::new();
        { stream }.read_to_end(&mut streamed).unwrap();
        assert_eq!(streamed, expected[2], "a stream is the bucket as it was when asked for");
        expected[2].push(7);
        assert_eq!(buckets.read(2).unwrap(), expected[2]);
    }

    /// Nothing past the limit: no file at all.
    #[test]
    fn small_buckets_make_no_file() {
        let mut buckets = BucketFile::new(Path::new("/nonexistent folder"), 3, 1_000);
        buckets.push(1, |out| out.extend_from_slice(b"abc")).unwrap();
        assert_eq!(buckets.read(1).unwrap(), b"abc");
        assert!(buckets.read(0).unwrap().is_empty());
        let mut streamed = Vec::new();
        buckets.reader(1, 8).unwrap().read_to_end(&mut streamed).unwrap();
        assert_eq!(streamed, b"abc");
        // A folder that is not there is an error only when a file is needed.
        let error = buckets.push(1, |out| out.extend_from_slice(&[0; 1_000])).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
    }

    fn fs_files(folder: &Path) -> usize {
        std::fs::read_dir(folder).unwrap().count()
    }
}
