//! The export files: gzipped FHIR `collection` Bundles of at most `MAX_ENTRIES` entries, one region
//! per file, written entry by entry so memory does not grow with the snapshot. Gzip headers carry no
//! time or name, so the bytes depend only on the content.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
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

struct Chunk {
    path: PathBuf,
    encoder: GzEncoder<BufWriter<File>>,
    entries: usize,
}

pub struct ExportWriter {
    dir: PathBuf,
    next_number: u32,
    current: Option<Chunk>,
    /// Files closed so far, with their size on disk.
    pub files: Vec<(PathBuf, u64)>,
    buffer: Vec<u8>,
}

fn io_error(action: &'static str, path: &Path, source: std::io::Error) -> SynthError {
    SynthError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

impl ExportWriter {
    pub fn new(dir: PathBuf) -> Result<Self, SynthError> {
        std::fs::create_dir_all(&dir).map_err(|e| io_error("create directory", &dir, e))?;
        Ok(ExportWriter {
            dir,
            next_number: 1,
            current: None,
            files: Vec::new(),
            buffer: Vec::with_capacity(64 * 1024),
        })
    }

    fn open(&mut self) -> Result<Chunk, SynthError> {
        let path = self
            .dir
            .join(format!("ror-export-{:04}.json.gz", self.next_number));
        self.next_number += 1;
        let file = File::create(&path).map_err(|e| io_error("create", &path, e))?;
        let mut encoder = GzBuilder::new()
            .mtime(0)
            .operating_system(GZIP_OS_UNKNOWN)
            .write(
                BufWriter::with_capacity(256 * 1024, file),
                Compression::new(GZIP_LEVEL),
            );
        encoder
            .write_all(br#"{"resourceType":"Bundle","type":"collection","entry":["#)
            .map_err(|e| io_error("write", &path, e))?;
        Ok(Chunk {
            path,
            encoder,
            entries: 0,
        })
    }

    /// Close the current file, so the next entry starts a new one (at each region boundary).
    pub fn close(&mut self) -> Result<(), SynthError> {
        if let Some(mut chunk) = self.current.take() {
            chunk
                .encoder
                .write_all(b"]}")
                .map_err(|e| io_error("write", &chunk.path, e))?;
            let mut inner = chunk
                .encoder
                .finish()
                .map_err(|e| io_error("compress", &chunk.path, e))?;
            inner
                .flush()
                .map_err(|e| io_error("write", &chunk.path, e))?;
            drop(inner);
            let size = std::fs::metadata(&chunk.path)
                .map_err(|e| io_error("read size of", &chunk.path, e))?
                .len();
            self.files.push((chunk.path, size));
        }
        Ok(())
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
            None => self.open()?,
        };
        self.buffer.clear();
        if chunk.entries > 0 {
            self.buffer.push(b',');
        }
        self.buffer.extend_from_slice(br#"{"fullUrl":"#);
        let serialized = serde_json::to_writer(
            &mut self.buffer,
            &format!("{BASE_URL}/{resource_type}/{id}"),
        )
        .and_then(|()| {
            self.buffer.extend_from_slice(br#","resource":"#);
            serde_json::to_writer(&mut self.buffer, resource)
        });
        serialized.map_err(|source| SynthError::Json {
            what: format!("{resource_type}/{id}"),
            source,
        })?;
        self.buffer.push(b'}');
        chunk
            .encoder
            .write_all(&self.buffer)
            .map_err(|e| io_error("write", &chunk.path, e))?;
        chunk.entries += 1;
        self.current = Some(chunk);
        Ok(())
    }
}
