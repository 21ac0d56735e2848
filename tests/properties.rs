//! Property tests through the binary (proptest): the release depends on the snapshot's resources,
//! never on how they are packed. The sample's resources, shuffled and split into any number of
//! files (Bundles and NDJSON, gzipped or not, under any names), give byte-identical tables,
//! schemas, changelogs, history and reports; only the snapshot's provenance (its file list and
//! sha256, in the manifest and the files that quote it) differs.

mod support;

use std::fs;
use std::io::{Read, Write};
use std::path::Path;

use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use support::*;

/// Every resource of a snapshot folder, as JSON values (Bundles unpacked).
fn resources(dir: &Path) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut paths: Vec<_> = walk(dir);
    paths.sort();
    for path in paths {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.ends_with(".json") || name.ends_with(".json.gz")) || name.starts_with("snapshot-") {
            continue;
        }
        let mut bytes = fs::read(&path).unwrap();
        if name.ends_with(".gz") {
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(&bytes[..]).read_to_end(&mut plain).unwrap();
            bytes = plain;
        }
        let text = String::from_utf8(bytes).unwrap();
        let value: serde_json::Value = serde_json::from_str(text.trim_start_matches('\u{feff}')).unwrap();
        if value["resourceType"] == "Bundle" {
            out.extend(value["entry"].as_array().unwrap().iter().map(|e| e["resource"].clone()));
        } else {
            out.push(value);
        }
    }
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The same resources in a new order, in `files` files of random formats and names.
fn repack(resources: &[serde_json::Value], seed: u64, files: usize, to: &Path) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut shuffled = resources.to_vec();
    shuffled.shuffle(&mut rng);
    let per_file = shuffled.len().div_ceil(files);
    for (i, chunk) in shuffled.chunks(per_file).enumerate() {
        let name = format!("part-{:08x}", rng.random::<u32>());
        let (text, extension) = if rng.random_bool(0.3) {
            (chunk.iter().map(|r| serde_json::to_string(r).unwrap() + "\n").collect::<String>(), "ndjson")
        } else {
            let bundle = serde_json::json!({"resourceType": "Bundle", "type": "collection", "entry": chunk.iter().map(|r| serde_json::json!({"resource": r})).collect::<Vec<_>>()});
            (serde_json::to_string_pretty(&bundle).unwrap(), "json")
        };
        let folder = to.join(if i % 2 == 0 { "a" } else { "b/c" });
        fs::create_dir_all(&folder).unwrap();
        if rng.random_bool(0.5) {
            let mut gz = flate2::write::GzEncoder::new(fs::File::create(folder.join(format!("{name}.{extension}.gz"))).unwrap(), flate2::Compression::fast());
            gz.write_all(text.as_bytes()).unwrap();
            gz.finish().unwrap();
        } else {
            fs::write(folder.join(format!("{name}.{extension}")), text).unwrap();
        }
    }
    fs::copy(sample_dir().join("snapshot-info.json"), to.join("snapshot-info.json")).unwrap();
}

/// Files that quote the snapshot's provenance (its files and their sha256), which repacking
/// changes by construction.
const PROVENANCE_FILES: &[&str] = &["manifest.json", "manifest.json.minisig", "SHA256SUMS", "release-notes.md", "catalog.jsonld"];

fn release_files(out: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    tree(&latest_release(out)).into_iter().filter(|(path, _)| !PROVENANCE_FILES.contains(&path.as_str())).collect()
}

fn table_digests(out: &Path) -> serde_json::Value {
    let manifest: serde_json::Value = serde_json::from_slice(&fs::read(latest_release(out).join("manifest.json")).unwrap()).unwrap();
    manifest["tables"].clone()
}

#[test]
fn repacked_snapshots_give_identical_releases() {
    let keys = shared_keys();
    let config = keys.config.to_str().unwrap().to_owned();
    let reference = tempfile::tempdir().unwrap();
    ok(&["build", "--snapshot", sample_dir().to_str().unwrap(), "--out", reference.path().to_str().unwrap(), "--config", &config]);
    let expected_files = release_files(reference.path());
    let expected_digests = table_digests(reference.path());
    assert!(expected_files.keys().any(|p| p.ends_with(".parquet")));
    let all = resources(&sample_dir());
    assert!(all.len() > 1000, "{} resources", all.len());

    // Each case is a whole build (seconds): a handful of cases, each a different packing.
    proptest!(ProptestConfig { cases: 4, max_shrink_iters: 8, failure_persistence: None, ..ProptestConfig::default() }, |(seed in any::<u64>(), files in 1usize..12)| {
        let snapshot = tempfile::tempdir().unwrap();
        repack(&all, seed, files, snapshot.path());
        let out = tempfile::tempdir().unwrap();
        ok(&["build", "--snapshot", snapshot.path().to_str().unwrap(), "--out", out.path().to_str().unwrap(), "--config", &config]);
        prop_assert_eq!(table_digests(out.path()), expected_digests.clone());
        let got = release_files(out.path());
        prop_assert_eq!(got.keys().collect::<Vec<_>>(), expected_files.keys().collect::<Vec<_>>());
        for (path, bytes) in &expected_files {
            prop_assert!(&got[path] == bytes, "{} differs for seed {} in {} files", path, seed, files);
        }
    });
}
