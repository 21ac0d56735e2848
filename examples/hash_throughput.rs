//! Hashing throughput of the job's own code paths against the sha2 crate on one core, for
//! bench/run (issue #11's target: each at least half of sha2's single-core throughput).
//!
//! - checksumming: `release::sha256_file`, what every release file's SHA256SUMS line costs, on a
//!   file in the page cache, against `Sha256` over the same bytes in memory on one core;
//! - pseudonymisation: the disclosure operator that replaces an identifier column by its keyed
//!   pseudonyms (HMAC-SHA-256, canonicalisation, base32, the new column), against one SHA-256 per
//!   canonical identifier on one core. HMAC costs at least two compressions where the plain hash
//!   costs one, so this ratio only reaches 50 % by using more than one core;
//! - row hashes: `table::digest::row_hashes`, the hash of every row the history stores and the
//!   gate compares, on a table shaped like the offers' (identifiers, names, a code, a number),
//!   against one SHA-256 per row over the same canonical bytes on one core. Not one of the
//!   issue's targets, but the largest SHA-256 work of a night.
//!
//! Prints one JSON object per measure (bench/run reads them), best of three runs each.
//!
//! Run: `cargo run --release --example hash_throughput [-- --megabytes N --values N]`

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use polars::prelude::{Column, DataFrame};
use ror_opendata::disclose::operators::{transform, ColumnRule};
use ror_opendata::disclose::pseudonym::{mac_input, IdentifierKind, Pseudonymiser};
use ror_opendata::keys::Keyring;
use sha2::{Digest, Sha256};

const RUNS: usize = 3;

fn main() {
    let mut megabytes = 512usize;
    let mut values = 2_000_000usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let number = |v: Option<String>| v.and_then(|v| v.parse().ok()).unwrap_or_else(|| usage(&arg));
        match arg.as_str() {
            "--megabytes" => megabytes = number(args.next()),
            "--values" => values = number(args.next()),
            _ => usage(&arg),
        }
    }
    checksums(megabytes << 20);
    pseudonyms(values);
    row_hashes(values / 2);
}

fn usage(arg: &str) -> ! {
    eprintln!("hash_throughput: unexpected argument {arg:?}; usage: hash_throughput [--megabytes N] [--values N]");
    std::process::exit(2)
}

/// The shortest of `RUNS` runs of `f`, and its last result.
fn best<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut fastest = Duration::MAX;
    let mut out = None;
    for _ in 0..RUNS {
        let started = Instant::now();
        let value = f();
        fastest = fastest.min(started.elapsed());
        out = Some(value);
    }
    (fastest, out.expect("RUNS is at least one"))
}

fn print(measure: &str, what: &str, baseline_per_s: f64, ours_per_s: f64, unit: &str) {
    let ratio = ours_per_s / baseline_per_s;
    println!(
        "{}",
        serde_json::json!({
            "measure": measure,
            "what": what,
            "unit": unit,
            "sha2_single_core_per_s": baseline_per_s.round(),
            "ours_per_s": ours_per_s.round(),
            "ratio": (ratio * 1000.0).round() / 1000.0,
            "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
        })
    );
}

fn checksums(bytes: usize) {
    // Data that no compressor or branch predictor simplifies: a xorshift stream.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let data: Vec<u8> = (0..bytes)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let (plain, plain_digest) = best(|| {
        let mut hasher = Sha256::new();
        for chunk in data.chunks(1 << 20) {
            hasher.update(chunk);
        }
        format!("{:x}", hasher.finalize())
    });
    let mut file = tempfile::NamedTempFile::new().expect("a temporary file");
    file.write_all(&data).expect("writing the temporary file");
    file.flush().expect("writing the temporary file");
    let (ours, (size, ours_digest)) = best(|| ror_opendata::release::sha256_file(file.path()).expect("reading the temporary file"));
    assert_eq!((size as usize, &ours_digest), (bytes, &plain_digest), "both paths hash the same bytes");
    let mb = bytes as f64 / 1e6;
    print("sha256_checksum", "release::sha256_file on a cached file vs Sha256 in memory", mb / plain.as_secs_f64(), mb / ours.as_secs_f64(), "MB");
}

fn pseudonyms(count: usize) {
    // RPPS-shaped identifiers: 11 digits after the 8 of the national id.
    let ids: Vec<String> = (0..count).map(|i| format!("8{:011}", 10_000_000_000u64 + (i as u64) * 7919)).collect();
    let inputs: Vec<Vec<u8>> = ids.iter().map(|v| mac_input(IdentifierKind::IdnatPs, v)).collect();
    let (plain, _) = best(|| inputs.iter().map(|v| Sha256::digest(v)[0]).fold(0u8, |a, b| a ^ b));

    let keyring = Keyring::from_master([7; 32], BTreeMap::new(), true);
    let key = keyring.audience_key("drees");
    let pseudonymiser = Pseudonymiser::new(&key);
    let column = Column::new("id_nat_ps".into(), ids.iter().map(|s| Some(s.as_str())).collect::<Vec<_>>());
    let rule = ColumnRule::Pseudonymise(IdentifierKind::IdnatPs);
    let (ours, out) = best(|| transform(&rule, &column, Some(&pseudonymiser)).expect("pseudonymising a text column"));
    assert_eq!(out.len(), count);
    let n = count as f64;
    print("hmac_pseudonym", "disclose pseudonymise operator (HMAC-SHA-256) vs one SHA-256 per value", n / plain.as_secs_f64(), n / ours.as_secs_f64(), "values");
}

fn row_hashes(count: usize) {
    let ids: Vec<String> = (0..count).map(|i| format!("{:08}-HS-{i:09}", 10_000_000 + i % 90_000)).collect();
    let names: Vec<String> = (0..count).map(|i| format!("Service de consultations externes n° {} du pôle {}", i % 97, i % 13)).collect();
    let codes: Vec<String> = (0..count).map(|i| format!("{:03}", 100 + i % 450)).collect();
    let places: Vec<i64> = (0..count).map(|i| (i % 120) as i64).collect();
    let frame = DataFrame::new_infer_height(vec![
        Column::new("id_offre".into(), &ids),
        Column::new("nom_offre".into(), &names),
        Column::new("code_activite".into(), &codes),
        Column::new("places".into(), &places),
    ])
    .expect("columns of one height");
    // The canonical bytes of each row, as `row_hashes` builds them (name, unit separator, a
    // presence byte, the value's length and the value, record separator; tested there): built
    // beforehand, so the baseline is SHA-256 alone.
    let rows: Vec<Vec<u8>> = (0..count)
        .map(|i| {
            let mut bytes = Vec::new();
            let places = places[i].to_string();
            for (name, value) in [("id_offre", &ids[i]), ("nom_offre", &names[i]), ("code_activite", &codes[i]), ("places", &places)] {
                bytes.extend_from_slice(name.as_bytes());
                bytes.extend_from_slice(&[0x1f, 1]);
                bytes.extend_from_slice(&(value.len() as u64).to_le_bytes());
                bytes.extend_from_slice(value.as_bytes());
                bytes.push(0x1e);
            }
            bytes
        })
        .collect();
    let (plain, plain_hashes) = best(|| rows.iter().map(|row| <[u8; 32]>::from(Sha256::digest(row))).collect::<Vec<_>>());
    let (ours, our_hashes) = best(|| ror_opendata::table::digest::row_hashes(&frame).expect("hashing a frame"));
    assert_eq!(our_hashes, plain_hashes, "both paths hash the same bytes");
    let n = count as f64;
    print("row_hashes", "table::digest::row_hashes (both cores; SHA extensions or multi-buffer) vs one SHA-256 per row", n / plain.as_secs_f64(), n / ours.as_secs_f64(), "rows");
}
