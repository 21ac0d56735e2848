//! Releases: immutable, versioned folders `<releases>/<publication>/<version>/` holding each table as
//! CSV and Parquet, its Table Schema, its changelog and its history store, the Data Package
//! descriptor, the disclosure account, release notes, the manifest (chained to the previous
//! release's), SHA256SUMS and the manifest's signature. A release is written under a temporary name,
//! flushed to disk, then renamed: a crash leaves the whole release or none of it. `latest` moves
//! only afterwards.

pub mod catalog;
pub mod docs;
pub mod feed;
pub mod manifest;
mod notes;
pub mod previous;
pub mod schema;
pub mod shared;
pub mod signature;
pub mod verify;

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use rayon::prelude::*;
use serde_json::{json, Value};

use crate::disclose::Disclosed;
use crate::history::HistoryOutput;
use crate::keys::SigningKey;
use crate::source::Provenance;
use crate::table::write::{encode_csv, row_groups, Packing, write_files_by_slice, write_frame_csv, write_frame_parquet, write_parquet_by_row_group};
use crate::table::spill::TableSource;
use crate::table::TableError;
use manifest::{FileRecord, Generator, Manifest, PolicyRecord, PreviousRecord, SignatureRecord, SnapshotFileRecord, SnapshotRecord, TableRecord, MANIFEST_FILE, MANIFEST_FORMAT, SUMS_FILE};
use previous::{PreviousRelease, HISTORY_DIR, HISTORY_INDEX};

pub use verify::{verify_path, VerifyOptions, VerifyReport};

/// Name of the pointer to the newest complete release of a publication.
pub const LATEST: &str = "latest";
const TEMP_PREFIX: &str = ".tmp-";

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error(transparent)]
    Table(#[from] TableError),
    #[error("release {path} already exists with different content; releases are immutable (build from a new snapshot, or remove it by hand if it was never published)")]
    Conflict { path: String },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> ReleaseError + '_ {
    move |source| ReleaseError::Io { path: path.display().to_string(), source }
}

/// The version name of a snapshot instant: ISO 8601 basic format in UTC, safe in paths and URLs,
/// and sorting in time order.
pub fn version_name(instant: DateTime<Utc>) -> String {
    instant.format("%Y%m%dT%H%M%SZ").to_string()
}

/// Everything a release is made from.
pub struct ReleaseInput<'a> {
    pub publication: &'a str,
    pub taken_at: DateTime<Utc>,
    /// "snapshot" when the snapshot states its instant, "latest-resource-update" otherwise.
    pub taken_at_basis: &'a str,
    pub provenance: &'a Provenance,
    pub resources_by_type: &'a std::collections::BTreeMap<String, u64>,
    pub latest_resource_update: Option<DateTime<Utc>>,
    pub disclosed: &'a Disclosed<dyn TableSource>,
    /// The release this one follows (None for the first).
    pub previous: Option<&'a PreviousRelease>,
    pub history: &'a HistoryOutput,
    pub signing: &'a SigningKey,
    /// Pseudonym or signing keys are development keys: the manifest says the release is not for publication.
    pub development_keys: bool,
    /// Documents other stages add to the release (reports), by path inside it.
    pub documents: Vec<Document>,
    pub keys: Vec<manifest::KeyRecord>,
    pub gate: Option<manifest::GateRecord>,
    /// Tables whose CSV is larger than this get a gzip-compressed copy beside it
    /// (`<table>.csv.gz`), which data.gouv.fr accepts where it will not analyse a CSV above 100 MB;
    /// none when absent (`[release] gzip_large_csv`).
    pub gzip_csv_above_bytes: Option<u64>,
    /// The fingerprint of this release's inputs (see `Manifest::inputs_sha256`).
    pub inputs_sha256: Option<String>,
    /// The tables' files as the gate read them back from this staging folder (size, sha256): not
    /// hashed a second time (gigabytes at national scale), unless a file's size has changed since.
    pub table_files: &'a [crate::gate::report::TableFiles],
}

/// A file another stage contributes to the release (a report), listed and hashed like the rest.
#[derive(Debug, Clone)]
pub struct Document {
    pub path: String,
    pub bytes: Vec<u8>,
}

impl ReleaseInput<'_> {
    /// A release whose gate failed is kept for inspection but never becomes `latest`.
    pub fn publishable(&self) -> bool {
        self.gate.as_ref().is_none_or(|g| g.passed)
    }
}

/// What writing a release did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseStatus {
    Created,
    /// The same version already existed, byte for byte: nothing was written.
    Unchanged,
}

#[derive(Debug, Clone)]
pub struct WrittenRelease {
    pub dir: PathBuf,
    pub version: String,
    pub status: ReleaseStatus,
    pub manifest: Manifest,
}

/// A release being written: a temporary folder beside the publication's releases, under a name no
/// reader takes for a release. Stages fill it (the gate spools the table files into it while the
/// history writes `history/` and `changes/`, then the release writer adds the rest); `StagedRelease::commit` renames it into place.
/// Dropped without a commit (an error, or another publication of the night refused), it is removed,
/// so a failed night leaves nothing half-written; a crash leaves a `.tmp-` folder the next run
/// removes.
pub struct Staging {
    publication_dir: PathBuf,
    dir: PathBuf,
    version: String,
    committed: bool,
}

impl Staging {
    /// Make the staging folder of `publication`'s release `version` under `releases_root`.
    pub fn create(releases_root: &Path, publication: &str, version: &str) -> Result<Staging, ReleaseError> {
        let publication_dir = releases_root.join(publication);
        fs::create_dir_all(&publication_dir).map_err(io(&publication_dir))?;
        remove_stale_temporaries(&publication_dir)?;
        let dir = publication_dir.join(format!("{TEMP_PREFIX}{version}-{}", std::process::id()));
        fs::create_dir(&dir).map_err(io(&dir))?;
        Ok(Staging { publication_dir, dir, version: version.to_owned(), committed: false })
    }

    /// The folder the release's files are written into.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Write a table's CSV and Parquet files into the staging folder (the release's own writers,
    /// flushed to disk) and return their paths. The release writer keeps them as they are.
    /// `shape` is the table without its rows; its `rows` rows are made a slice at a time by
    /// `slice(offset, rows)` (`write_files_by_slice`), so that a table is never whole in memory
    /// here. Two encoders, one per core.
    pub fn write_table_files(&self, shape: &crate::table::Table, rows: usize, slice: impl FnMut(usize, usize) -> Result<polars::prelude::DataFrame, TableError>) -> Result<(PathBuf, PathBuf), ReleaseError> {
        let (csv, parquet) = (self.dir.join(format!("{}.csv", shape.name())), self.dir.join(format!("{}.parquet", shape.name())));
        write_files_by_slice(&shape.frame, rows, shape.spec.name, &csv, &parquet, slice)?;
        Ok((csv, parquet))
    }

    /// Write a table's new SCD2 store (`history/<table>.parquet`) into the staging folder, as the
    /// history stage makes it; the release writer records it as it is.
    /// A store is written a row group at a time: a first night's store is only made that way.
    pub fn write_history_store(&self, table: &str, store: &crate::history::Store) -> Result<(), ReleaseError> {
        let history_dir = self.dir.join(HISTORY_DIR);
        fs::create_dir_all(&history_dir).map_err(io(&history_dir))?;
        let schema = store.schema().map_err(|e| ReleaseError::Invalid { path: format!("{HISTORY_DIR}/{table}.parquet"), message: e.to_string() })?;
        let path = history_dir.join(format!("{table}.parquet"));
        // The next row group is made on a thread of its own while the writer encodes the one
        // before: making a group (the previous store's rows read back, the new ones gathered) and
        // encoding it otherwise take turns, one core idle. The group made waits for the writer to take
        // it (a channel of no room): a group waiting in the channel beside it was one more group of a
        // wide table in memory (tens of megabytes) for no more overlap.
        std::thread::scope(|scope| {
            let receiver = crate::table::ahead::made_ahead(
                scope,
                row_groups(store.height()).into_iter().map(|(offset, rows)| {
                    store.slice(offset, rows).map(|mut group| {
                        group.rechunk_mut();
                        group
                    })
                }),
            );
            write_parquet_by_row_group(&schema, store.height(), "history", &path, Packing::Store, |_, _| receiver.recv().unwrap_or_else(|_| Err(polars::prelude::polars_err!(ComputeError: "the history store's row groups stopped coming"))))
        })?;
        Ok(())
    }
}

impl Staging {
    /// Write a table's changelog (`changes/<table>.csv` and `.parquet`) into the staging folder,
    /// as the history stage makes it; the release writer records them as they are. A changelog of
    /// several row groups is made a row group at a time (`Changelog::slice`), each part encoded into
    /// both files: a night that modifies most rows has a changelog about as long as the table. The
    /// CSV is the header then each part's rows (a row's bytes are its own), the Parquet file the one
    /// `write_frame_parquet` writes for the whole frame (`write_parquet_by_row_group`).
    pub fn write_changes(&self, table: &'static str, changes: &crate::history::Changelog) -> Result<(), ReleaseError> {
        let changes_dir = self.dir.join("changes");
        fs::create_dir_all(&changes_dir).map_err(io(&changes_dir))?;
        let (csv_path, parquet_path) = (changes_dir.join(format!("{table}.csv")), changes_dir.join(format!("{table}.parquet")));
        let polars = |source| TableError::Polars { table, source };
        let height = changes.height();
        if row_groups(height).len() <= 1 {
            let frame = changes.to_frame().map_err(polars)?;
            write_frame_csv(&frame, table, &csv_path)?;
            write_frame_parquet(&frame, table, &parquet_path)?;
            return Ok(());
        }
        let csv_io = |source| TableError::Io { path: csv_path.display().to_string(), source };
        let mut header = Vec::new();
        encode_csv(&changes.slice(0, 0).map_err(polars)?, table, &mut header)?;
        let mut csv = std::io::BufWriter::new(File::create(&csv_path).map_err(csv_io)?);
        csv.write_all(&header).map_err(csv_io)?;
        // The CSV's own error, kept whole: the Parquet writer only passes a polars error on.
        let mut csv_error: Option<TableError> = None;
        let mut part_csv = Vec::new();
        let written = write_parquet_by_row_group(&changes.schema().map_err(polars)?, height, table, &parquet_path, Packing::Published, |offset, rows| {
            let part = changes.slice(offset, rows)?;
            part_csv.clear();
            let encoded = encode_csv(&part, table, &mut part_csv).and_then(|()| {
                let rows_csv = part_csv.strip_prefix(header.as_slice()).expect("a part's CSV starts with the header");
                csv.write_all(rows_csv).map_err(csv_io)
            });
            if let Err(e) = encoded {
                let message = e.to_string();
                csv_error = Some(e);
                return Err(polars::prelude::polars_err!(ComputeError: "{message}"));
            }
            Ok(part)
        });
        if let Some(e) = csv_error {
            return Err(e.into());
        }
        written?;
        // Flushed to disk, as `write_frame_csv` does: a rename that follows commits complete files.
        let file = csv.into_inner().map_err(|e| csv_io(e.into_error()))?;
        file.sync_all().map_err(csv_io)?;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.dir);
            // A night that released nothing leaves no empty folder behind either (remove_dir
            // only removes an empty one: a publication's other releases keep it).
            if fs::remove_dir(&self.publication_dir).is_ok() {
                if let Some(root) = self.publication_dir.parent() {
                    let _ = fs::remove_dir(root);
                }
            }
        }
    }
}

/// A release complete in its staging folder, flushed to disk, not yet in place.
pub struct StagedRelease {
    staging: Staging,
    manifest: Manifest,
    publishable: bool,
}

impl StagedRelease {
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Rename the release into place and move `latest` (when publishable). The same version
    /// already there with the same content is `Unchanged`; with other content, a conflict.
    pub fn commit(mut self) -> Result<WrittenRelease, ReleaseError> {
        let (publication_dir, temp_dir, version) = (self.staging.publication_dir.clone(), self.staging.dir.clone(), self.staging.version.clone());
        let final_dir = publication_dir.join(&version);
        let manifest = self.manifest.clone();
        if final_dir.exists() {
            // The signature is hedged (random), so compare what it signs, never the signature itself.
            let same = fs::read(final_dir.join(SUMS_FILE)).ok() == fs::read(temp_dir.join(SUMS_FILE)).ok();
            drop(self.staging);
            if !same {
                return Err(ReleaseError::Conflict { path: final_dir.display().to_string() });
            }
            if self.publishable {
                update_latest(&publication_dir, &version)?;
            }
            return Ok(WrittenRelease { dir: final_dir, version, status: ReleaseStatus::Unchanged, manifest });
        }
        fs::rename(&temp_dir, &final_dir).map_err(io(&final_dir))?;
        self.staging.committed = true;
        sync_dir(&publication_dir)?;
        if self.publishable {
            update_latest(&publication_dir, &version)?;
            // The feed beside the releases follows `latest`: a copy of the newest release's entries.
            let feed = fs::read_to_string(final_dir.join(feed::FEED_FILE)).map_err(io(&final_dir))?;
            let target = publication_dir.join(feed::FEED_FILE);
            let temp = publication_dir.join(format!("{TEMP_PREFIX}{}", feed::FEED_FILE));
            write_synced(&temp, feed.replacen(" xml:base=\"../\"", "", 1).as_bytes())?;
            fs::rename(&temp, &target).map_err(io(&target))?;
        }
        Ok(WrittenRelease { dir: final_dir, version, status: ReleaseStatus::Created, manifest })
    }
}

/// The release `version` of `publication` as it already is, when its manifest records exactly
/// these inputs, its gate passed, and every file still matches SHA256SUMS and the signature (so a
/// damaged release is rebuilt, and then found in conflict, never silently reused). `latest` is moved
/// to it as a commit would. None when it cannot be reused.
pub fn reuse(releases_root: &Path, publication: &str, version: &str, inputs_sha256: &str) -> Result<Option<WrittenRelease>, ReleaseError> {
    let publication_dir = releases_root.join(publication);
    let dir = publication_dir.join(version);
    let Ok(bytes) = fs::read(dir.join(MANIFEST_FILE)) else { return Ok(None) };
    let Ok(manifest) = serde_json::from_slice::<Manifest>(&bytes) else { return Ok(None) };
    let same_inputs = manifest.inputs_sha256.as_deref() == Some(inputs_sha256);
    if !same_inputs || !manifest.gate.as_ref().is_none_or(|g| g.passed) {
        return Ok(None);
    }
    let report = verify::verify_path(&dir, &verify::VerifyOptions::default());
    if !report.problems.is_empty() {
        tracing::warn!(publication, version, problems = report.problems.len(), "the existing release does not verify: rebuilding it");
        return Ok(None);
    }
    update_latest(&publication_dir, version)?;
    Ok(Some(WrittenRelease { dir, version: version.to_owned(), status: ReleaseStatus::Unchanged, manifest }))
}

/// Write every other file of the release into its staging folder, beside the table files the gate
/// spooled there (`Staging::write_table_files`), sign it and flush it; nothing is in place until
/// `commit`.
pub fn stage_release(staging: Staging, input: &ReleaseInput<'_>) -> Result<StagedRelease, ReleaseError> {
    let manifest = write_contents(&staging.dir, input, &staging.version)?;
    sync_dir(&staging.dir)?;
    Ok(StagedRelease { staging, manifest, publishable: input.publishable() })
}

/// A deterministic gzip copy of `from`: no file name, no modification time, fixed level, so the
/// same CSV always gives the same bytes (and the same checksum on the platform).
fn gzip_file(from: &Path, to: &Path) -> Result<(), ReleaseError> {
    let mut input = fs::File::open(from).map_err(io(from))?;
    let output = fs::File::create(to).map_err(io(to))?;
    let mut encoder = flate2::GzBuilder::new().mtime(0).write(std::io::BufWriter::new(output), flate2::Compression::new(6));
    std::io::copy(&mut input, &mut encoder).map_err(io(to))?;
    let file = encoder.finish().map_err(io(to))?.into_inner().map_err(|e| ReleaseError::Io { path: to.display().to_string(), source: e.into_error() })?;
    file.sync_all().map_err(io(to))
}

fn write_contents(dir: &Path, input: &ReleaseInput<'_>, version: &str) -> Result<Manifest, ReleaseError> {
    let tables = &input.disclosed.tables;
    let schemas_dir = dir.join("schemas");
    fs::create_dir(&schemas_dir).map_err(io(&schemas_dir))?;
    let mut files: Vec<FileRecord> = Vec::new();
    let mut table_records = Vec::new();
    let mut package_resources = Vec::new();
    // The changelogs and stores, the largest files the release hashes itself: hashed together
    // below, on every core, rather than one after the other.
    let mut written_by_history: Vec<(String, Option<u64>)> = Vec::new();

    // The history folder may already hold the stores the history stage wrote.
    for sub in ["changes", HISTORY_DIR] {
        fs::create_dir_all(dir.join(sub)).map_err(io(&dir.join(sub)))?;
    }
    // Only the tables' shapes and row counts: their files are already written.
    for name in tables.names() {
        let table = &tables.shape(name).expect("a name the source gave");
        let rows = tables.rows(name).unwrap_or(0) as u64;
        let csv = format!("{name}.csv");
        let parquet = format!("{name}.parquet");
        let schema_path = format!("schemas/{name}.schema.json");
        // Already here: the gate wrote them (`Staging::write_table_files`) when it read them back.
        let schema_version = input.history.schema_version(name).unwrap_or("1.0.0").to_owned();
        let table_schema = schema::table_schema(table, tables, &schema_version);
        write_json(&dir.join(&schema_path), &table_schema)?;

        let csv_record = table_file_record(dir, &csv, rows, input.table_files)?;
        package_resources.push(json!({
            "name": name,
            "title": table.spec.title,
            "description": table.spec.description,
            "path": csv,
            "profile": "tabular-data-resource",
            "format": "csv",
            "mediatype": "text/csv",
            "encoding": "utf-8",
            "bytes": csv_record.bytes,
            "hash": format!("sha256:{}", csv_record.sha256),
            "dialect": schema::csv_dialect(),
            "schema": table_schema,
        }));
        let large = input.gzip_csv_above_bytes.is_some_and(|limit| csv_record.bytes > limit);
        files.push(csv_record);
        if large {
            let gz = format!("{csv}.gz");
            gzip_file(&dir.join(&csv), &dir.join(&gz))?;
            files.push(record(dir, &gz, Some(rows))?);
        }
        files.push(table_file_record(dir, &parquet, rows, input.table_files)?);
        files.push(record(dir, &schema_path, None)?);

        // Already here too: the history stage wrote them (`Staging::write_changes`).
        let change_rows = *input.history.change_rows.get(name).ok_or_else(|| ReleaseError::Invalid { path: name.into(), message: "the history stage gave no changelog for this table".into() })?;
        let (changes_csv, changes_parquet) = (format!("changes/{name}.csv"), format!("changes/{name}.parquet"));
        written_by_history.push((changes_csv.clone(), Some(change_rows)));
        written_by_history.push((changes_parquet.clone(), Some(change_rows)));

        let entry = input.history.index.versions.last().and_then(|v| v.tables.get(name));
        let fields = entry.and_then(|e| input.history.index.fields(name, e));
        table_records.push(TableRecord {
            name: name.to_owned(),
            rows,
            columns: table.column_names(),
            schema: schema_path,
            schema_version,
            types: fields.map(|f| f.types.clone()).unwrap_or_default(),
            digest: entry.map(|e| e.digest.clone()).unwrap_or_default(),
            csv,
            parquet,
            changes_csv,
            changes_parquet,
            history: format!("{HISTORY_DIR}/{name}.parquet"),
        });
    }
    // Every table's store, including tables no longer published (their history stays readable),
    // already written by the history stage (`Staging::write_history_store`).
    for (name, &rows) in &input.history.store_rows {
        written_by_history.push((format!("{HISTORY_DIR}/{name}.parquet"), Some(rows)));
    }
    files.extend(record_all(dir, &written_by_history)?);
    let index = serde_json::to_value(&input.history.index).map_err(|e| ReleaseError::Invalid { path: HISTORY_INDEX.into(), message: e.to_string() })?;
    write_json(&dir.join(HISTORY_INDEX), &index)?;
    files.push(record(dir, HISTORY_INDEX, None)?);
    write_synced(&dir.join(signature::PUBLIC_KEY_FILE), input.signing.public_text.as_bytes())?;
    files.push(record(dir, signature::PUBLIC_KEY_FILE, None)?);

    let package = json!({
        "profile": "tabular-data-package",
        "name": format!("ror-{}", input.publication),
        "title": "Répertoire national de l'offre et des ressources en santé (ROR) — données publiques",
        "description": "Extraction du ROR (Profil 0, accès public) : entités juridiques et géographiques, organisations internes, offres, lieux, horaires, contacts publics, professionnels de ville.",
        "version": version,
        "licenses": [{"name": "etalab-2.0", "path": "https://www.etalab.gouv.fr/licence-ouverte-open-licence/", "title": "Licence Ouverte / Open Licence version 2.0"}],
        "resources": package_resources,
    });
    write_json(&dir.join("datapackage.json"), &package)?;
    files.push(record(dir, "datapackage.json", None)?);
    let disclosure = input.disclosed.report_json();
    write_json(&dir.join("disclosure.json"), &disclosure)?;
    files.push(record(dir, "disclosure.json", None)?);
    let release_notes = notes::render(input, version);
    write_synced(&dir.join(notes::NOTES_FILE), release_notes.as_bytes())?;
    files.push(record(dir, notes::NOTES_FILE, None)?);
    for document in &input.documents {
        let path = dir.join(&document.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io(parent))?;
        }
        write_synced(&path, &document.bytes)?;
        files.push(record(dir, &document.path, None)?);
    }
    reuser_documents(dir, input, version, &table_records, &mut files)?;
    files.sort_by(|a, b| a.path.cmp(&b.path));

    let manifest = Manifest {
        manifest_format: MANIFEST_FORMAT,
        publication: input.publication.to_owned(),
        audience: input.disclosed.audience.clone(),
        version: version.to_owned(),
        snapshot: SnapshotRecord {
            source: input.provenance.source.clone(),
            taken_at: input.taken_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            taken_at_basis: input.taken_at_basis.to_owned(),
            sha256: input.provenance.sha256.clone(),
            files: input.provenance.files.iter().map(|f| SnapshotFileRecord { path: f.path.clone(), bytes: f.bytes, sha256: f.sha256.clone() }).collect(),
            resources_by_type: input.resources_by_type.clone(),
            latest_resource_update: input.latest_resource_update.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
        },
        generator: Generator {
            name: env!("CARGO_PKG_NAME").to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            git_commit: option_env!("ROR_OPENDATA_GIT_COMMIT").unwrap_or("unknown").to_owned(),
        },
        previous: input.previous.map(|p| PreviousRecord { version: p.manifest.version.clone(), manifest_sha256: p.manifest_sha256.clone() }),
        development_keys: input.development_keys,
        signature: SignatureRecord {
            algorithm: signature::ALGORITHM.to_owned(),
            key_id: input.signing.key_id.clone(),
            public_key: signature::PUBLIC_KEY_FILE.to_owned(),
            file: signature::SIGNATURE_FILE.to_owned(),
        },
        policy: PolicyRecord { audience: input.disclosed.audience.clone(), sha256: input.disclosed.policy_sha256.clone() },
        keys: input.keys.clone(),
        gate: input.gate.clone(),
        inputs_sha256: input.inputs_sha256.clone(),
        tables: table_records,
        changes: input.history.summary.clone(),
        files,
    };
    let manifest_value = serde_json::to_value(&manifest).map_err(|e| ReleaseError::Invalid { path: MANIFEST_FILE.into(), message: e.to_string() })?;
    write_json(&dir.join(MANIFEST_FILE), &manifest_value)?;

    let mut sums: Vec<(String, String)> = manifest.files.iter().map(|f| (f.path.clone(), f.sha256.clone())).collect();
    sums.push((MANIFEST_FILE.to_owned(), sha256_file(&dir.join(MANIFEST_FILE))?.1));
    write_synced(&dir.join(SUMS_FILE), manifest::sums_text(&sums).as_bytes())?;

    let manifest_bytes = fs::read(dir.join(MANIFEST_FILE)).map_err(io(&dir.join(MANIFEST_FILE)))?;
    let signed = signature::sign(input.signing, &manifest_bytes, input.publication, version).map_err(|message| ReleaseError::Invalid { path: signature::SIGNATURE_FILE.into(), message })?;
    write_synced(&dir.join(signature::SIGNATURE_FILE), signed.as_bytes())?;
    Ok(manifest)
}

/// What reusers read before the data: the documentation page, the Atom feed of releases and the
/// DCAT-AP catalogue (last, because it lists every other file with its checksum).
fn reuser_documents(dir: &Path, input: &ReleaseInput<'_>, version: &str, tables: &[TableRecord], files: &mut Vec<FileRecord>) -> Result<(), ReleaseError> {
    let invalid = |path: &str, message: String| ReleaseError::Invalid { path: path.to_owned(), message };
    let taken_at = input.taken_at.to_rfc3339_opts(SecondsFormat::Secs, true);
    let schema_version = |t: &str| input.history.schema_version(t).unwrap_or("1.0.0").to_owned();
    let (markdown, html) = docs::render(input.disclosed, version, &taken_at, &schema_version).map_err(|m| invalid(docs::HTML_FILE, m))?;
    for (path, text) in [(docs::MARKDOWN_FILE, markdown), (docs::HTML_FILE, html)] {
        write_synced(&dir.join(path), text.as_bytes())?;
        files.push(record(dir, path, None)?);
    }

    // The feed: this release, then every release back along the chain.
    let mut entries = vec![feed::FeedEntry {
        version: version.to_owned(),
        updated: taken_at.clone(),
        rows: tables.iter().map(|t| (t.name.clone(), t.rows)).collect(),
        changes: input.history.summary.clone(),
    }];
    let mut next = input.previous.map(|p| (p.dir.clone(), p.manifest.clone()));
    while let Some((release_dir, m)) = next.take() {
        entries.push(feed::FeedEntry {
            version: m.version.clone(),
            updated: m.snapshot.taken_at.clone(),
            rows: m.tables.iter().map(|t| (t.name.clone(), t.rows)).collect(),
            changes: m.changes.clone(),
        });
        if let (Some(p), Some(parent)) = (&m.previous, release_dir.parent()) {
            let loaded = previous::load(&parent.join(&p.version))?;
            next = Some((loaded.dir, loaded.manifest));
        }
    }
    write_synced(&dir.join(feed::FEED_FILE), feed::render(input.publication, &entries, "../").as_bytes())?;
    files.push(record(dir, feed::FEED_FILE, None)?);

    let first = entries.last().map(|e| e.updated.clone()).unwrap_or_else(|| taken_at.clone());
    let schemas: Vec<(String, String)> = tables.iter().map(|t| (t.name.clone(), t.schema.clone())).collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let catalog = catalog::render(&catalog::CatalogInput {
        publication: input.publication,
        version,
        taken_at: &taken_at,
        first_release: &first,
        snapshot_sha256: &input.provenance.sha256,
        previous_version: input.previous.map(|p| p.manifest.version.as_str()),
        files,
        schemas: &schemas,
    });
    write_json(&dir.join(catalog::CATALOG_FILE), &catalog)?;
    files.push(record(dir, catalog::CATALOG_FILE, None)?);
    Ok(())
}

fn record(dir: &Path, relative: &str, rows: Option<u64>) -> Result<FileRecord, ReleaseError> {
    let (bytes, sha256) = sha256_file(&dir.join(relative))?;
    Ok(FileRecord { path: relative.to_owned(), bytes, sha256, rows })
}

/// The records of several files of the release, hashed on every core, in the order given.
fn record_all(dir: &Path, files: &[(String, Option<u64>)]) -> Result<Vec<FileRecord>, ReleaseError> {
    files.par_iter().map(|(relative, rows)| record(dir, relative, *rows)).collect()
}

/// The record of a table's file: from the gate's facts when they are of this file as it is now
/// (same size), else hashed here.
fn table_file_record(dir: &Path, relative: &str, rows: u64, known: &[crate::gate::report::TableFiles]) -> Result<FileRecord, ReleaseError> {
    let path = dir.join(relative);
    let bytes = fs::metadata(&path).map_err(io(&path))?.len();
    match known.iter().flat_map(|t| [&t.csv, &t.parquet]).find(|f| f.path == relative && f.bytes == bytes) {
        Some(facts) => Ok(FileRecord { path: relative.to_owned(), bytes, sha256: facts.sha256.clone(), rows: Some(rows) }),
        None => record(dir, relative, Some(rows)),
    }
}

/// Size and sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<(u64, String), ReleaseError> {
    crate::sha256::file(path).map_err(io(path))
}

/// Pretty JSON with a final newline: reviewable in a diff, stable byte for byte.
fn write_json(path: &Path, value: &Value) -> Result<(), ReleaseError> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| ReleaseError::Invalid { path: path.display().to_string(), message: e.to_string() })?;
    text.push('\n');
    write_synced(path, text.as_bytes())
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), ReleaseError> {
    let file = File::create(path).map_err(io(path))?;
    use std::io::Write;
    let mut file = file;
    file.write_all(bytes).map_err(io(path))?;
    file.sync_all().map_err(io(path))
}

fn sync_dir(dir: &Path) -> Result<(), ReleaseError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// Temporary folders left by a crashed run are never releases: remove them.
fn remove_stale_temporaries(publication_dir: &Path) -> Result<(), ReleaseError> {
    for entry in fs::read_dir(publication_dir).map_err(io(publication_dir))? {
        let entry = entry.map_err(io(publication_dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(TEMP_PREFIX) {
            let path = entry.path();
            if path.is_dir() {
                fs::remove_dir_all(&path).map_err(io(&path))?;
            } else {
                fs::remove_file(&path).map_err(io(&path))?;
            }
        }
    }
    Ok(())
}

/// The version `latest` names, if any.
pub fn latest_version(publication_dir: &Path) -> Option<String> {
    fs::read_link(publication_dir.join(LATEST)).ok().map(|p| p.to_string_lossy().into_owned())
}

/// Point `latest` at `version` unless it already names a newer one. The link is made under a
/// temporary name and renamed over the old one, so readers always see a complete release.
fn update_latest(publication_dir: &Path, version: &str) -> Result<(), ReleaseError> {
    if latest_version(publication_dir).is_some_and(|current| current.as_str() >= version) {
        return Ok(());
    }
    let temp = publication_dir.join(format!("{TEMP_PREFIX}{LATEST}-{}", std::process::id()));
    let _ = fs::remove_file(&temp);
    #[cfg(unix)]
    std::os::unix::fs::symlink(version, &temp).map_err(io(&temp))?;
    #[cfg(not(unix))]
    fs::write(&temp, version).map_err(io(&temp))?;
    let target = publication_dir.join(LATEST);
    fs::rename(&temp, &target).map_err(io(&target))?;
    sync_dir(publication_dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_table_file_is_hashed_again_only_when_the_gate_did_not_see_it_as_it_is() {
        use crate::gate::report::{FileFacts, TableFiles};
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("lieux.csv"), "a,b\n1,2\n").unwrap();
        let (bytes, sha256) = sha256_file(&dir.path().join("lieux.csv")).unwrap();
        let facts = |bytes: u64, sha256: &str| vec![TableFiles {
            table: "lieux".into(),
            rows: 1,
            csv: FileFacts { path: "lieux.csv".into(), bytes, sha256: sha256.into() },
            parquet: FileFacts { path: "lieux.parquet".into(), bytes: 0, sha256: String::new() },
        }];
        // The gate's sha256 is taken as is (a marker shows it was not recomputed)...
        let taken = table_file_record(dir.path(), "lieux.csv", 1, &facts(bytes, "from-the-gate")).unwrap();
        assert_eq!((taken.bytes, taken.sha256.as_str(), taken.rows), (bytes, "from-the-gate", Some(1)));
        // ...unless the file's size is not the one the gate read, or the gate did not read it.
        for known in [facts(bytes + 1, "from-the-gate"), Vec::new()] {
            let hashed = table_file_record(dir.path(), "lieux.csv", 1, &known).unwrap();
            assert_eq!((hashed.bytes, hashed.sha256.as_str()), (bytes, sha256.as_str()));
        }
    }

    /// A changelog of several row groups, written a part at a time, is byte for byte the whole
    /// frame's CSV and Parquet files (quotes, commas, line ends, empty texts and nulls included).
    #[test]
    fn a_changelog_written_by_parts_is_the_whole_frames_files() {
        use polars::prelude::*;
        let rows = 200_000;
        let frame = df!(
            "changement" => (0..rows).map(|i| ["ajout", "modification", "suppression"][i % 3]).collect::<Vec<_>>(),
            "horaire_id" => (0..rows).map(|i| format!("h{i:07}")).collect::<Vec<_>>(),
            "colonnes_modifiees" => (0..rows).map(|i| [None, Some("a;b"), Some(""), Some("x,\"y\"\nz")][i % 4]).collect::<Vec<_>>()
        )
        .unwrap();
        assert_eq!(row_groups(rows).len(), 3);
        let dir = tempfile::tempdir().unwrap();
        let staging = Staging::create(dir.path(), "public", "v1").unwrap();
        staging.write_changes("horaires", &crate::history::Changelog::Frame(frame.clone())).unwrap();
        let whole = tempfile::tempdir().unwrap();
        write_frame_csv(&frame, "horaires", &whole.path().join("h.csv")).unwrap();
        write_frame_parquet(&frame, "horaires", &whole.path().join("h.parquet")).unwrap();
        for (written, expected) in [("horaires.csv", "h.csv"), ("horaires.parquet", "h.parquet")] {
            let written = std::fs::read(staging.dir().join("changes").join(written)).unwrap();
            assert!(written == std::fs::read(whole.path().join(expected)).unwrap(), "{expected}");
        }
    }

    #[test]
    fn versions_sort_in_time_order() {
        let a = version_name(Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap());
        let b = version_name(Utc.with_ymd_and_hms(2026, 11, 2, 3, 4, 5).unwrap());
        assert_eq!(a, "20260102T030405Z");
        assert!(a < b);
    }

    #[test]
    fn latest_only_moves_forward() {
        let dir = tempfile::tempdir().unwrap();
        update_latest(dir.path(), "20260102T000000Z").unwrap();
        update_latest(dir.path(), "20250102T000000Z").unwrap();
        assert_eq!(latest_version(dir.path()).unwrap(), "20260102T000000Z");
        update_latest(dir.path(), "20270102T000000Z").unwrap();
        assert_eq!(latest_version(dir.path()).unwrap(), "20270102T000000Z");
    }
}
