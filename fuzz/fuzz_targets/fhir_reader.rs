//! Fuzzes the snapshot reader and the flattener: any bytes, as one file of a snapshot folder, must
//! give tables or an error, never a panic, a hang or an unbounded allocation. The first byte picks
//! the file's name, so Bundles, NDJSON and gzip paths are all reached.
#![no_main]

use libfuzzer_sys::fuzz_target;

const NAMES: &[&str] = &["resources.json", "resources.ndjson", "resources.json.gz", "resources.ndjson.gz"];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else { return };
    // One folder per fuzzing process, in memory when /dev/shm exists.
    let base = if std::path::Path::new("/dev/shm").is_dir() { std::path::PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    let dir = base.join(format!("ror-opendata-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(NAMES[selector as usize % NAMES.len()]), bytes).unwrap();
    if let Ok(snapshot) = ror_opendata::source::open_folder(&dir, "fuzz") {
        let _ = ror_opendata::fhir::flatten_snapshot(&snapshot);
    }
});
