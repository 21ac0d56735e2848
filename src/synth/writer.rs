//! The export files: gzipped FHIR `collection` Bundles of at most `MAX_ENTRIES` entries, one region
//! per file. Gzip headers carry no time or name, so the bytes depend only on the content.
//!
//! Compression is most of the generator's time, and each file compresses alone: the generating
//! thread fills one file's JSON in memory (a few MB) and hands it to a pool of compressing threads,
//! at most `QUEUED_FILES` ahead, so memory stays a few files whatever the scale. A file's bytes do
//! not depend on which thread compressed it.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use flate2::{Compression, GzBuilder};
use serde_json::Value;

use super::fhir::BASE_URL;
use super::SynthError;

/// Entries per export file, about what ANS's `$export` files hold.
pub const MAX_ENTRIES: usize = 2_000;

/// Fixed compression level: changing it changes every byte of the snapshot.
const GZIP_LEVEL: u32 = 6;

/// "Unknown" operating system in the gzip header, so the bytes do not depend on the machine.
const GZIP_OS_UNKNOWN: u8 = 255;

/// Files generated and waiting for a compressing thread.
const QUEUED_FILES: usize = 2;

/// One export file's JSON, on its way to a compressing thread.
struct Job {
    path: PathBuf,
    json: Vec<u8>,
    /// Where each write ends: the header, each entry, the closing brackets. Deflate's output
    /// depends on how its input is cut into writes, and the committed sample was written entry by
    /// entry, so the compressor replays exactly those writes.
    writes: Vec<usize>,
}

/// The file being filled.
struct Chunk {
    path: PathBuf,
    json: Vec<u8>,
    writes: Vec<usize>,
    entries: usize,
}

pub struct ExportWriter {
    dir: PathBuf,
    next_number: u32,
    current: Option<Chunk>,
    jobs: Option<SyncSender<Job>>,
    compressors: Vec<JoinHandle<Result<Vec<(PathBuf, u64)>, SynthError>>>,
}

fn io_error(action: &'static str, path: &Path, source: std::io::Error) -> SynthError {
    SynthError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Compress jobs until the queue closes; returns the files written with their sizes on disk.
fn compress_jobs(queue: &Mutex<Receiver<Job>>) -> Result<Vec<(PathBuf, u64)>, SynthError> {
    let mut written = Vec::new();
    loop {
        // The lock is held only while waiting for the next job, never while compressing.
        let job = queue.lock().unwrap_or_else(|p| p.into_inner()).recv();
        let Ok(job) = job else { return Ok(written) };
        let file = File::create(&job.path).map_err(|e| io_error("create", &job.path, e))?;
        let mut encoder = GzBuilder::new()
            .mtime(0)
            .operating_system(GZIP_OS_UNKNOWN)
            .write(
                BufWriter::with_capacity(256 * 1024, file),
                Compression::new(GZIP_LEVEL),
            );
        let mut start = 0;
        for &end in &job.writes {
            encoder
                .write_all(&job.json[start..end])
                .map_err(|e| io_error("write", &job.path, e))?;
            start = end;
        }
        let mut inner = encoder
            .finish()
            .map_err(|e| io_error("compress", &job.path, e))?;
        inner
            .flush()
            .map_err(|e| io_error("write", &job.path, e))?;
        drop(inner);
        let size = std::fs::metadata(&job.path)
            .map_err(|e| io_error("read size of", &job.path, e))?
            .len();
        written.push((job.path, size));
    }
}

impl ExportWriter {
    pub fn new(dir: PathBuf) -> Result<Self, SynthError> {
        std::fs::create_dir_all(&dir).map_err(|e| io_error("create directory", &dir, e))?;
        let (jobs, queue) = sync_channel::<Job>(QUEUED_FILES);
        let queue = Arc::new(Mutex::new(queue));
        let threads = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        let compressors = (0..threads)
            .map(|_| {
                let queue = Arc::clone(&queue);
                std::thread::spawn(move || compress_jobs(&queue))
            })
            .collect();
        Ok(ExportWriter {
            dir,
            next_number: 1,
            current: None,
            jobs: Some(jobs),
            compressors,
        })
    }

    fn open(&mut self) -> Chunk {
        let path = self
            .dir
            .join(format!("ror-export-{:04}.json.gz", self.next_number));
        self.next_number += 1;
        let mut json = Vec::with_capacity(8 << 20);
        json.extend_from_slice(br#"{"resourceType":"Bundle","type":"collection","entry":["#);
        Chunk {
            path,
            writes: vec![json.len()],
            json,
            entries: 0,
        }
    }

    /// Close the current file, so the next entry starts a new one (at each region boundary).
    pub fn close(&mut self) -> Result<(), SynthError> {
        if let Some(mut chunk) = self.current.take() {
            chunk.json.extend_from_slice(b"]}");
            chunk.writes.push(chunk.json.len());
            let job = Job {
                path: chunk.path,
                json: chunk.json,
                writes: chunk.writes,
            };
            let sent = self.jobs.as_ref().map(|jobs| jobs.send(job));
            if !matches!(sent, Some(Ok(()))) {
                // Every compressing thread has stopped: one of them failed, and says why.
                let stopped = io_error(
                    "compress files into",
                    &self.dir,
                    std::io::Error::other("the compressing threads stopped"),
                );
                return self.finish().and(Err(stopped));
            }
        }
        Ok(())
    }

    /// Close the current file, wait for every file to be compressed and written, and return them
    /// with their sizes on disk (or the first failure).
    pub fn finish(&mut self) -> Result<Vec<(PathBuf, u64)>, SynthError> {
        if self.jobs.is_some() {
            self.close()?;
        }
        self.jobs = None;
        let mut files = Vec::new();
        let mut failure = None;
        for handle in self.compressors.drain(..) {
            match handle.join() {
                Ok(Ok(mut written)) => files.append(&mut written),
                Ok(Err(e)) => failure = failure.or(Some(e)),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        match failure {
            Some(e) => Err(e),
            None => {
                files.sort();
                Ok(files)
            }
        }
    }

    /// Append one resource as a Bundle entry with its `fullUrl`.
    pub fn push(
        &mut self,
        resource_type: &str,
        id: &str,
        resource: &Value,
    ) -> Result<(), SynthError> {
        if self
            .current
            .as_ref()
            .is_some_and(|c| c.entries >= MAX_ENTRIES)
        {
            self.close()?;
        }
        let mut chunk = match self.current.take() {
            Some(chunk) => chunk,
            None => self.open(),
        };
        if chunk.entries > 0 {
            chunk.json.push(b',');
        }
        chunk.json.extend_from_slice(br#"{"fullUrl":"#);
        let serialized = serde_json::to_writer(
            &mut chunk.json,
            &format!("{BASE_URL}/{resource_type}/{id}"),
        )
        .and_then(|()| {
            chunk.json.extend_from_slice(br#","resource":"#);
            serde_json::to_writer(&mut chunk.json, resource)
        });
        serialized.map_err(|source| SynthError::Json {
            what: format!("{resource_type}/{id}"),
            source,
        })?;
        chunk.json.push(b'}');
        chunk.writes.push(chunk.json.len());
        chunk.entries += 1;
        self.current = Some(chunk);
        Ok(())
    }
}
