//! Records set aside by the hash of a key, in 256 buckets: each bucket's records in memory up to
//! 32 KB, then in the spill folder's unnamed scratch file the buckets share (`scratch::BucketFile`,
//! gone with the value, or with the process). For what the merge would otherwise hold for every
//! resource of the snapshot until the end: the ids and references (`checks`), the practitioners
//! and the roles joined to them (`practitioner::RoleJoin`). A bucket is read back whole (1/256 of
//! its records) or streamed. Keys go to buckets by foldhash (randomly seeded, as the standard
//! library's SipHash, and several times faster on short keys: every id and reference of the
//! snapshot is hashed).

use polars::prelude::PlRandomState as RandomState;
use std::hash::BuildHasher;
use std::io::Read;
use std::path::Path;

use crate::fhir::FhirError;
use crate::scratch::BucketFile;
use crate::table::TableError;

pub(super) const BUCKETS: usize = 256;

/// Bytes a bucket holds in memory before they go to the file.
const BUCKET_BUFFER: usize = 32 * 1024;

#[derive(Debug)]
pub(super) struct Buckets {
    /// What the records are, for an error.
    what: &'static str,
    hasher: RandomState,
    records: BucketFile,
}

impl Default for Buckets {
    /// Buckets in the system's temporary folder: a file's part, which sets nothing aside, and
    /// tests (a run's are in its spill folder).
    fn default() -> Buckets {
        Buckets::new(&std::env::temp_dir(), "records")
    }
}

impl Buckets {
    /// Buckets of `what` whose file, if one is needed, goes in `folder`.
    pub(super) fn new(folder: &Path, what: &'static str) -> Buckets {
        Buckets::hashed_by(folder, what, RandomState::default())
    }

    /// Buckets of `what` a key falls in as it does in `self`'s: to join two sets of records
    /// bucket by bucket.
    pub(super) fn alike(&self, what: &'static str) -> Buckets {
        Buckets::hashed_by(self.records.folder(), what, self.hasher.clone())
    }

    fn hashed_by(folder: &Path, what: &'static str, hasher: RandomState) -> Buckets {
        Buckets { what, hasher, records: BucketFile::new(folder, BUCKETS, BUCKET_BUFFER) }
    }

    /// The bucket of `key`.
    pub(super) fn of(&self, key: &str) -> usize {
        (self.hasher.hash_one(key) % BUCKETS as u64) as usize
    }

    /// Add a record to `bucket`, written by `write`.
    pub(super) fn push(&mut self, bucket: usize, write: impl FnOnce(&mut Vec<u8>)) -> Result<(), FhirError> {
        self.records.push(bucket, write).map_err(|e| self.error(e))
    }

    /// A bucket's records, in the order they were added. Records can still be added after.
    pub(super) fn read(&self, bucket: usize) -> Result<Vec<u8>, FhirError> {
        self.records.read(bucket).map_err(|e| self.error(e))
    }

    /// A bucket's records as a stream, in the order they were added (those added after are not
    /// in it). Streamed through 8 KB: a join streams every bucket at once.
    pub(super) fn reader(&self, bucket: usize) -> Result<impl Read + use<>, FhirError> {
        self.records.reader(bucket, 8 * 1024).map_err(|e| self.error(e))
    }

    /// The error of the buckets' file that cannot be written or read.
    pub(super) fn error(&self, source: std::io::Error) -> FhirError {
        FhirError::Table(TableError::Io { path: format!("{} ({}, set aside)", self.records.folder().display(), self.what), source })
    }
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
