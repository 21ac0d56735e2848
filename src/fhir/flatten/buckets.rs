//! Records set aside by the hash of a key, in 256 buckets: each bucket's records in memory up to
//! 32 KB, then in an unnamed file of its own in the spill folder (gone with the value, or with the
//! process). For what the merge would otherwise hold for every resource of the snapshot until the
//! end: the ids and references (`checks`), the practitioners and the roles joined to them
//! (`practitioner::RoleJoin`). A bucket is read back whole (1/256 of its records) or streamed.
//! Keys go to buckets by foldhash (randomly seeded, as the standard library's SipHash, and
//! several times faster on short keys: every id and reference of the snapshot is hashed).

use polars::prelude::PlRandomState as RandomState;
use std::fs::File;
use std::hash::BuildHasher;
use std::io::{BufReader, Cursor, Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::fhir::FhirError;
use crate::table::TableError;

pub(super) const BUCKETS: usize = 256;

/// Bytes a bucket holds in memory before they go to its file.
const BUCKET_BUFFER: usize = 32 * 1024;

#[derive(Debug)]
pub(super) struct Buckets {
    folder: PathBuf,
    /// What the records are, for an error.
    what: &'static str,
    hasher: RandomState,
    buffers: Vec<Vec<u8>>,
    files: Vec<Option<File>>,
}

impl Default for Buckets {
    /// Buckets in the system's temporary folder: a file's part, which sets nothing aside, and
    /// tests (a run's are in its spill folder).
    fn default() -> Buckets {
        Buckets::new(&std::env::temp_dir(), "records")
    }
}

impl Buckets {
    /// Buckets of `what` whose files, if any are needed, go in `folder`.
    pub(super) fn new(folder: &Path, what: &'static str) -> Buckets {
        Buckets::hashed_by(folder, what, RandomState::default())
    }

    /// Buckets of `what` a key falls in as it does in `self`'s: to join two sets of records
    /// bucket by bucket.
    pub(super) fn alike(&self, what: &'static str) -> Buckets {
        Buckets::hashed_by(&self.folder, what, self.hasher.clone())
    }

    fn hashed_by(folder: &Path, what: &'static str, hasher: RandomState) -> Buckets {
        Buckets { folder: folder.to_owned(), what, hasher, buffers: vec![Vec::new(); BUCKETS], files: (0..BUCKETS).map(|_| None).collect() }
    }

    /// The bucket of `key`.
    pub(super) fn of(&self, key: &str) -> usize {
        (self.hasher.hash_one(key) % BUCKETS as u64) as usize
    }

    /// Add a record to `bucket`, written by `write`.
    pub(super) fn push(&mut self, bucket: usize, write: impl FnOnce(&mut Vec<u8>)) -> Result<(), FhirError> {
        write(&mut self.buffers[bucket]);
        if self.buffers[bucket].len() < BUCKET_BUFFER {
            return Ok(());
        }
        let (folder, what) = (&self.folder, self.what);
        let file = match &mut self.files[bucket] {
            Some(file) => file,
            none => none.insert(tempfile::tempfile_in(folder).map_err(|e| set_aside_error(folder, what, e))?),
        };
        // At its end: a read of the bucket moved the handle they share (`reader`).
        file.seek(std::io::SeekFrom::End(0)).and_then(|_| file.write_all(&self.buffers[bucket])).map_err(|e| set_aside_error(folder, what, e))?;
        self.buffers[bucket].clear();
        Ok(())
    }

    /// A bucket's records, in the order they were added. Records can still be added after.
    pub(super) fn read(&mut self, bucket: usize) -> Result<Vec<u8>, FhirError> {
        let mut bytes = Vec::new();
        self.reader(bucket)?.read_to_end(&mut bytes).map_err(|e| set_aside_error(&self.folder, self.what, e))?;
        Ok(bytes)
    }

    /// A bucket's records as a stream, in the order they were added (none added while it is read).
    pub(super) fn reader(&mut self, bucket: usize) -> Result<impl Read + use<>, FhirError> {
        let file = match &mut self.files[bucket] {
            Some(file) => {
                let error = |e| set_aside_error(&self.folder, self.what, e);
                // A second handle of the file, from its start. The two share their position: a
                // record added after goes to the end (`push`), and a bucket is not added to while
                // it is streamed.
                let written = file.metadata().map_err(error)?.len();
                let mut reader = file.try_clone().map_err(error)?;
                reader.rewind().map_err(error)?;
                Some(BufReader::with_capacity(8 * 1024, reader).take(written))
            }
            None => None,
        };
        Ok(ChainedBucket { file, buffer: Cursor::new(self.buffers[bucket].clone()) })
    }

    /// The error of a bucket's file that cannot be written or read.
    pub(super) fn error(&self, source: std::io::Error) -> FhirError {
        set_aside_error(&self.folder, self.what, source)
    }
}

/// A bucket's file, then its buffer.
struct ChainedBucket {
    file: Option<std::io::Take<BufReader<File>>>,
    buffer: Cursor<Vec<u8>>,
}

impl Read for ChainedBucket {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if let Some(file) = &mut self.file {
            let n = file.read(out)?;
            if n > 0 || out.is_empty() {
                return Ok(n);
            }
            self.file = None;
        }
        self.buffer.read(out)
    }
}

fn set_aside_error(folder: &Path, what: &str, source: std::io::Error) -> FhirError {
    FhirError::Table(TableError::Io { path: format!("{} ({what}, set aside)", folder.display()), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records past a bucket's buffer go to its file and come back, in order, with the buffer's,
    /// read whole or streamed, and records added after a read are read too.
    #[test]
    fn records_come_back_in_order_from_file_and_buffer() {
        let folder = tempfile::tempdir().unwrap();
        let mut buckets = Buckets::new(folder.path(), "test records");
        let alike = buckets.alike("others");
        let mut expected: Vec<Vec<u8>> = vec![Vec::new(); BUCKETS];
        for i in 0..200_000u32 {
            let key = format!("k{}", i % 50_000);
            let bucket = buckets.of(&key);
            assert_eq!(alike.of(&key), bucket, "alike buckets hash alike");
            let record = [i.to_le_bytes(); 16].concat();
            buckets.push(bucket, |out| out.extend_from_slice(&record)).unwrap();
            expected[bucket].extend_from_slice(&record);
        }
        assert!(buckets.files.iter().all(Option::is_some), "every bucket went to disk");
        for bucket in [0, 17, 255] {
            assert_eq!(buckets.read(bucket).unwrap(), expected[bucket]);
            let mut streamed = Vec::new();
            buckets.reader(bucket).unwrap().read_to_end(&mut streamed).unwrap();
            assert_eq!(streamed, expected[bucket]);
        }
        let bucket = buckets.of("k1");
        buckets.push(bucket, |out| out.push(7)).unwrap();
        expected[bucket].push(7);
        assert_eq!(buckets.read(bucket).unwrap(), expected[bucket]);
    }
}
