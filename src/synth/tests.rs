//! Tests of whole generated snapshots: determinism, resolvable references, unique ids, valid
//! identifiers, codings from ANS's value sets, dates before the snapshot, and canaries exactly in the
//! restricted fields.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono::DateTime;
use serde_json::Value;

use super::codes::{ext, value_sets, NOS_HTTP, NOS_HTTPS};
use super::identifiers::{luhn_valid, RESTRICTED_RPPS_PREFIX};
use super::*;

const TEST_SCALE: f64 = 0.002;
const TEST_SEED: u64 = 20_261_125;

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ror-synth-test-{}-{name}", std::process::id()));
    // A leftover from an earlier run with the same pid would make generate() refuse the folder.
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn options(dir: PathBuf, scale: f64, seed: u64) -> SynthOptions {
    SynthOptions {
        scale,
        seed,
        out_dir: dir,
        taken_at: None,
    }
}

struct Snapshot {
    /// Every file the report lists, by its path under the snapshot's folder: read once, so that
    /// the folder can go (the shared sample lives in a static, which is never dropped).
    written: BTreeMap<PathBuf, Vec<u8>>,
    report: SynthReport,
    /// Generated resources, file by file.
    bundles: Vec<(PathBuf, Vec<Value>)>,
    /// ANS's examples.
    examples: Vec<Value>,
}

impl Snapshot {
    fn generated(&self) -> impl Iterator<Item = &Value> {
        self.bundles.iter().flat_map(|(_, r)| r.iter())
    }

    fn all(&self) -> impl Iterator<Item = &Value> {
        self.generated().chain(self.examples.iter())
    }

    /// The bytes of a file written under the snapshot's folder.
    fn file(&self, relative: impl AsRef<Path>) -> &[u8] {
        let relative = relative.as_ref();
        self.written.get(relative).unwrap_or_else(|| panic!("{} was not written", relative.display()))
    }
}

fn read_gz(bytes: &[u8]) -> Value {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .expect("export file is gzip");
    serde_json::from_str(&text).expect("export file is JSON")
}

fn load(dir: &Path, report: SynthReport) -> Snapshot {
    let mut bundles = Vec::new();
    let mut examples = Vec::new();
    let mut written = BTreeMap::new();
    for path in &report.files {
        let bytes = std::fs::read(path).expect("snapshot file readable");
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if name.ends_with(".json.gz") {
            let bundle = read_gz(&bytes);
            assert_eq!(bundle["resourceType"], "Bundle");
            assert_eq!(bundle["type"], "collection");
            let entries = bundle["entry"].as_array().expect("entries").clone();
            let resources = entries
                .iter()
                .map(|e| {
                    let r = e["resource"].clone();
                    let full = format!(
                        "{}/{}/{}",
                        fhir::BASE_URL,
                        r["resourceType"].as_str().unwrap_or(""),
                        r["id"].as_str().unwrap_or("")
                    );
                    assert_eq!(e["fullUrl"], Value::String(full));
                    r
                })
                .collect();
            bundles.push((path.clone(), resources));
        } else if path
            .parent()
            .and_then(|p| p.file_name())
            .is_some_and(|p| p == ANS_DIR)
        {
            examples.push(serde_json::from_slice(&bytes).expect("example is JSON"));
        }
        written.insert(path.strip_prefix(dir).expect("a file of the snapshot's folder").to_path_buf(), bytes);
    }
    Snapshot {
        written,
        report,
        bundles,
        examples,
    }
}

fn sample() -> &'static Snapshot {
    static SAMPLE: OnceLock<Snapshot> = OnceLock::new();
    SAMPLE.get_or_init(|| {
        let dir = scratch_dir("sample");
        let report =
            generate(&options(dir.clone(), TEST_SCALE, TEST_SEED)).expect("generation succeeds");
        let snapshot = load(&dir, report);
        // Held in memory from here on: nothing is left in the temporary folder after the tests.
        std::fs::remove_dir_all(&dir).expect("sample folder removed");
        snapshot
    })
}

fn key(r: &Value) -> String {
    format!(
        "{}/{}",
        r["resourceType"].as_str().unwrap_or("?"),
        r["id"].as_str().unwrap_or("?")
    )
}

/// Every string leaf with its path (keys and `url`s of extensions, to tell fields apart).
fn strings<'a>(value: &'a Value, path: String, out: &mut Vec<(String, &'a str)>) {
    match value {
        Value::String(s) => out.push((path, s)),
        Value::Array(items) => items.iter().for_each(|v| strings(v, path.clone(), out)),
        Value::Object(map) => {
            let here = match map.get("url").and_then(Value::as_str) {
                Some(url) => format!("{path}[{url}]"),
                None => path,
            };
            for (k, v) in map {
                strings(v, format!("{here}.{k}"), out);
            }
        }
        _ => {}
    }
}

fn extension<'a>(value: &'a Value, url: &str) -> Option<&'a Value> {
    value["extension"]
        .as_array()?
        .iter()
        .find(|e| e["url"] == url)
}

fn level(telecom: &Value) -> String {
    extension(telecom, ext::TELECOM_CONFIDENTIALITY)
        .and_then(|e| e["valueCodeableConcept"]["coding"][0]["code"].as_str())
        .unwrap_or("?")
        .to_string()
}

#[test]
fn generation_is_deterministic() {
    let a = scratch_dir("det-a");
    let b = scratch_dir("det-b");
    let ra = generate(&options(a.clone(), 0.0005, 7)).expect("first generation");
    let rb = generate(&options(b.clone(), 0.0005, 7)).expect("second generation");
    assert_eq!(ra.files.len(), rb.files.len());
    for (fa, fb) in ra.files.iter().zip(&rb.files) {
        assert_eq!(fa.strip_prefix(&a).ok(), fb.strip_prefix(&b).ok());
        assert_eq!(
            std::fs::read(fa).ok(),
            std::fs::read(fb).ok(),
            "{} differs",
            fa.display()
        );
    }
    assert_eq!(ra.bytes_written, rb.bytes_written);
    let c = scratch_dir("det-c");
    let rc = generate(&options(c.clone(), 0.0005, 8)).expect("other seed");
    let export = |r: &SynthReport| {
        r.files
            .iter()
            .filter(|f| f.to_string_lossy().ends_with("0001.json.gz"))
            .map(|f| std::fs::read(f).ok())
            .collect::<Vec<_>>()
    };
    assert_ne!(
        export(&ra),
        export(&rc),
        "another seed gives another snapshot"
    );
    for d in [a, b, c] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn layout_and_counts() {
    let s = sample();
    let info: Value =
        serde_json::from_slice(s.file(INFO_FILE)).expect("info JSON");
    assert_eq!(info["generator"], "ror-opendata synth");
    assert_eq!(info["seed"], TEST_SEED);
    assert_eq!(info["taken_at"], "2026-11-25T02:00:00Z");
    // ANS's examples are copied byte for byte.
    for fixture in &fixtures::FIXTURES {
        assert_eq!(s.file(Path::new(ANS_DIR).join(fixture.file_name)), fixture.text.as_bytes());
    }
    let mut counted: BTreeMap<String, u64> = BTreeMap::new();
    for r in s.all() {
        *counted
            .entry(r["resourceType"].as_str().unwrap_or("?").to_string())
            .or_default() += 1;
    }
    assert_eq!(counted, s.report.resources_by_type);
    let offers = counted.get("HealthcareService").copied().unwrap_or(0);
    assert!((2_000..2_010).contains(&offers), "{offers} offers");
    // At most 2,000 entries per file, and one region per file.
    for (path, resources) in &s.bundles {
        assert!(
            !resources.is_empty() && resources.len() <= writer::MAX_ENTRIES,
            "{}",
            path.display()
        );
        let regions: BTreeSet<_> = resources
            .iter()
            .map(|r| r["meta"]["tag"][0]["code"].to_string())
            .collect();
        assert_eq!(regions.len(), 1, "{} mixes regions", path.display());
    }
    let on_disk: u64 = s.written.values().map(|bytes| bytes.len() as u64).sum();
    assert_eq!(on_disk, s.report.bytes_written);
}

#[test]
fn ids_are_unique_and_references_resolve() {
    let s = sample();
    let mut ids = BTreeSet::new();
    let mut bare_ids = BTreeSet::new();
    for r in s.all() {
        assert!(ids.insert(key(r)), "{} appears twice", key(r));
    }
    for r in s.generated() {
        let id = r["id"].as_str().expect("id");
        assert!(
            bare_ids.insert(id.to_string()),
            "id {id} used by two generated resources"
        );
        assert!(
            id.bytes().all(|b| b.is_ascii_digit()),
            "generated id {id} is numeric"
        );
    }
    for example in &s.examples {
        assert!(
            !bare_ids.contains(example["id"].as_str().unwrap_or("")),
            "an example id is reused"
        );
    }
    let mut references = Vec::new();
    for r in s.all() {
        let mut leaves = Vec::new();
        strings(r, String::new(), &mut leaves);
        for (path, value) in leaves {
            if path.ends_with(".reference") {
                references.push((key(r), value.to_string()));
            }
        }
    }
    assert!(references.len() > 1_000);
    for (from, to) in references {
        assert!(ids.contains(&to), "{from} refers to missing {to}");
    }
    // The resources ANS's examples need are there.
    for needed in [
        "Organization/999999",
        "Location/888888",
        "Organization/4947",
        "Location/1215",
        "Practitioner/2524",
        "HealthcareService/9597",
    ] {
        assert!(ids.contains(needed), "{needed}");
    }
}

#[test]
fn identifiers_are_valid() {
    let s = sample();
    let mut finess_seen = BTreeSet::new();
    for r in s.generated() {
        for identifier in r["identifier"].as_array().into_iter().flatten() {
            let system = identifier["system"].as_str().unwrap_or("");
            let value = identifier["value"].as_str().unwrap_or("");
            match system {
                "https://finess.esante.gouv.fr" => {
                    let b = value.as_bytes();
                    assert_eq!(b.len(), 9, "{value}");
                    assert!(
                        b[0].is_ascii_digit()
                            && (b[1].is_ascii_digit() || b[1] == b'A' || b[1] == b'B')
                    );
                    assert!(
                        b[2..].iter().all(u8::is_ascii_digit) && luhn_valid(value),
                        "FINESS {value}"
                    );
                    assert!(
                        finess_seen.insert(value.to_string()),
                        "FINESS {value} used twice"
                    );
                }
                "urn:oid:1.2.250.1.71.4.2.2" => {
                    assert!(value.starts_with('1') && luhn_valid(&value[1..]), "{value}")
                }
                "http://sirene.fr" | "https://sirene.fr" => {
                    assert!(value.len() == 9 || value.len() == 14, "{value}");
                    assert!(luhn_valid(value), "SIREN/SIRET {value}");
                }
                "urn:oid:1.2.250.1.71.4.2.1" => {
                    if let Some(rpps) = value.strip_prefix('8') {
                        assert_eq!(rpps.len(), 11);
                        assert!(luhn_valid(rpps), "RPPS {rpps}");
                    } else {
                        assert!(value.starts_with('0') && value.len() == 10, "ADELI {value}");
                    }
                }
                "https://oi.esante.gouv.fr" => assert!(value.contains('-')),
                _ => {}
            }
        }
        let expected_prefix = format!("{}/", r["meta"]["tag"][0]["code"].as_str().unwrap_or(""));
        if matches!(
            r["resourceType"].as_str(),
            Some("HealthcareService" | "Location")
        ) {
            let value = r["identifier"][0]["value"].as_str().unwrap_or("");
            assert!(value.starts_with(&expected_prefix), "{value}");
        }
    }
    assert!(finess_seen.len() > 100);
}

#[test]
fn codings_come_from_the_value_sets() {
    let s = sample();
    let mut known: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    for set in value_sets().expect("value sets") {
        for c in set.concepts {
            known
                .entry(c.system)
                .or_default()
                .insert((c.code, c.display));
        }
    }
    fn walk(v: &Value, known: &BTreeMap<String, BTreeSet<(String, String)>>, checked: &mut usize) {
        match v {
            Value::Object(map) => {
                if let (Some(system), Some(code), Some(display)) = (
                    map.get("system").and_then(Value::as_str),
                    map.get("code").and_then(Value::as_str),
                    map.get("display").and_then(Value::as_str),
                ) {
                    let system = system.replacen(NOS_HTTP, NOS_HTTPS, 1);
                    if let Some(codes) = known.get(&system) {
                        assert!(
                            codes.contains(&(code.to_string(), display.to_string())),
                            "{system} {code} {display}"
                        );
                        *checked += 1;
                    }
                }
                map.values().for_each(|x| walk(x, known, checked));
            }
            Value::Array(items) => items.iter().for_each(|x| walk(x, known, checked)),
            _ => {}
        }
    }
    let mut checked = 0;
    s.generated().for_each(|r| walk(r, &known, &mut checked));
    assert!(checked > 10_000, "{checked} codings checked");
}

#[test]
fn dates_are_before_the_snapshot() {
    let s = sample();
    let taken_at = default_taken_at();
    for r in s.generated() {
        let updated = r["meta"]["lastUpdated"].as_str().expect("lastUpdated");
        let parsed = DateTime::parse_from_rfc3339(updated).expect("RFC 3339 with offset");
        assert!(parsed < taken_at, "{updated}");
        let created = extension(r, ext::META_CREATION_DATE)
            .and_then(|e| e["valueDateTime"].as_str())
            .expect("creation date");
        assert!(DateTime::parse_from_rfc3339(created).expect("creation date parses") <= parsed);
    }
}

#[test]
fn quirks_appear() {
    let s = sample();
    let http = s
        .generated()
        .filter(|r| {
            r["meta"]["tag"][0]["system"]
                .as_str()
                .is_some_and(|x| x.starts_with("http://"))
        })
        .count();
    let narrative = s.generated().filter(|r| r.get("text").is_some()).count();
    let unknown = s
        .generated()
        .filter(|r| extension(r, ext::UNKNOWN).is_some())
        .count();
    for n in [http, narrative, unknown] {
        assert!(n > 100, "{http} {narrative} {unknown}");
    }
}

/// Canaries exactly where the data are restricted: sensitive offers' names, telecoms at level 2 or
/// 3, and the names of practitioners not working on public ville offers; nowhere else.
#[test]
fn canaries_are_in_restricted_fields_only() {
    let s = sample();
    let canaries: BTreeSet<&str> = s.report.canaries.iter().map(String::as_str).collect();
    assert!(s.report.canaries.iter().all(|c| c.contains(CANARY_MARKER)));
    let listed: Vec<String> = serde_json::from_str(
        std::str::from_utf8(s.file(CANARIES_FILE)).expect("canaries file is text"),
    )
    .expect("canaries JSON");
    assert_eq!(listed, s.report.canaries);

    let allowed = |path: &str| {
        path == ".name"
            || path.ends_with(&format!("[{}].valueString", "telecomAddress"))
            || path.ends_with(".telecom.value")
            || path.ends_with(".name.family")
            || path.ends_with(".name.given")
            || path.ends_with("[exerciseFirstName].valueString")
            || path.ends_with("[exerciseLastName].valueString")
    };
    let mut planted = BTreeSet::new();
    for r in s.all() {
        let mut leaves = Vec::new();
        strings(r, String::new(), &mut leaves);
        for (path, value) in leaves {
            if value.contains(CANARY_MARKER) {
                assert!(allowed(&path), "canary in {} at {path}", key(r));
                assert!(canaries.contains(value), "unlisted canary {value}");
                planted.insert(value);
            }
        }
    }
    assert_eq!(
        planted.len(),
        canaries.len(),
        "every listed canary is planted"
    );

    // Offers: sensitive ⇔ canary name; telecoms: level ≥ 2 ⇔ canary.
    let mut offer_public = BTreeMap::new();
    let mut sensitive = 0;
    let mut restricted_telecoms = 0;
    for r in s.generated() {
        let type_ = r["resourceType"].as_str().unwrap_or("");
        let check = |value: &str, level: &str| {
            assert_eq!(
                value.contains(CANARY_MARKER),
                level != "1",
                "telecom {value} at level {level} in {}",
                key(r)
            );
        };
        if type_ == "HealthcareService" {
            let is_sensitive = extension(r, ext::SENSITIVE_UNIT)
                .and_then(|e| e["valueBoolean"].as_bool())
                .expect("sensitive flag");
            let name = r["name"].as_str().unwrap_or("");
            assert_eq!(is_sensitive, name.contains(CANARY_MARKER), "{name}");
            sensitive += usize::from(is_sensitive);
            let champ = r["type"][0]["coding"][0]["code"].as_str().unwrap_or("");
            offer_public.insert(key(r), champ == "05" && !is_sensitive);
            for contact in r["extension"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|e| e["url"] == ext::HS_CONTACT)
            {
                for t in contact["extension"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|e| e["url"] == ext::HS_CONTACT_TELECOM)
                {
                    let value = extension(t, "telecomAddress")
                        .and_then(|e| e["valueString"].as_str())
                        .unwrap_or("");
                    let l = level(t);
                    restricted_telecoms += usize::from(l != "1");
                    check(value, &l);
                }
            }
        }
        for contact in r["contact"].as_array().into_iter().flatten() {
            for t in contact["telecom"].as_array().into_iter().flatten() {
                check(t["value"].as_str().unwrap_or(""), &level(t));
            }
        }
        for t in r["telecom"].as_array().into_iter().flatten() {
            check(t["value"].as_str().unwrap_or(""), &level(t));
        }
    }
    assert!(
        sensitive > 20 && restricted_telecoms > 100,
        "{sensitive} sensitive offers, {restricted_telecoms} restricted telecoms"
    );

    // Practitioners: public iff every role is on a public offer; the fixture nurse has no generated role.
    let mut roles_public: BTreeMap<String, Vec<bool>> = BTreeMap::new();
    for r in s
        .generated()
        .filter(|r| r["resourceType"] == "PractitionerRole")
    {
        let practitioner = r["practitioner"]["reference"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let offer = r["healthcareService"][0]["reference"]
            .as_str()
            .unwrap_or("");
        let public = *offer_public.get(offer).expect("role's offer is generated");
        let names: Vec<&str> = extension(r, ext::PRACTITIONER_ROLE_NAME)
            .and_then(|e| e["extension"].as_array())
            .into_iter()
            .flatten()
            .filter_map(|e| e["valueString"].as_str())
            .collect();
        assert_eq!(names.len(), 2);
        assert!(
            names.iter().all(|n| n.contains(CANARY_MARKER) != public),
            "{names:?}"
        );
        roles_public.entry(practitioner).or_default().push(public);
    }
    let (mut public_count, mut restricted_count) = (0, 0);
    for r in s
        .generated()
        .filter(|r| r["resourceType"] == "Practitioner")
    {
        let flags = roles_public
            .get(&key(r))
            .cloned()
            .unwrap_or_else(|| vec![true]);
        let public = flags.iter().all(|p| *p);
        assert!(
            flags.iter().all(|p| *p == public),
            "{} mixes public and restricted roles",
            key(r)
        );
        let family = r["name"][0]["family"].as_str().unwrap_or("");
        let given = r["name"][0]["given"][0].as_str().unwrap_or("");
        let id_nat = r["identifier"][0]["value"].as_str().unwrap_or("");
        let restricted_rpps = format!("8{RESTRICTED_RPPS_PREFIX}");
        if public {
            public_count += 1;
            assert!(
                !family.contains(CANARY_MARKER) && !given.contains(CANARY_MARKER),
                "{family} {given}"
            );
            assert!(
                id_nat.starts_with("810") || id_nat.starts_with('0'),
                "{id_nat}"
            );
            assert!(!id_nat.starts_with(&restricted_rpps), "{id_nat}");
        } else {
            restricted_count += 1;
            assert!(
                family.contains(CANARY_MARKER) && given.contains(CANARY_MARKER),
                "{family} {given}"
            );
            assert!(id_nat.starts_with(&restricted_rpps), "{id_nat}");
        }
    }
    assert!(
        public_count > 50 && restricted_count > 50,
        "{public_count} public, {restricted_count} restricted"
    );
}

#[test]
fn fixture_support_resources_fit_the_examples() {
    let s = sample();
    let by_key: BTreeMap<String, &Value> = s.generated().map(|r| (key(r), r)).collect();
    let hospital = by_key["Organization/999999"];
    assert_eq!(
        hospital["partOf"]["reference"],
        "Organization/ror-organization-exemple-ej"
    );
    assert_eq!(
        by_key["Location/888888"]["managingOrganization"]["reference"],
        "Organization/999999"
    );
    assert_eq!(
        by_key["Location/1215"]["managingOrganization"]["reference"],
        "Organization/4947"
    );
    let nurse_offer = by_key["HealthcareService/9597"];
    assert_eq!(nurse_offer["providedBy"]["reference"], "Organization/4947");
    assert_eq!(nurse_offer["location"][0]["reference"], "Location/1215");
    assert_eq!(nurse_offer["type"][0]["coding"][0]["code"], "05");
    assert_eq!(
        extension(nurse_offer, ext::SENSITIVE_UNIT).map(|e| e["valueBoolean"].clone()),
        Some(Value::Bool(false))
    );
    let nurse = by_key["Practitioner/2524"];
    assert_eq!(nurse["name"][0]["family"], "Tenor");
    let cabinet_parent = by_key["Organization/4947"]["partOf"]["reference"]
        .as_str()
        .unwrap_or("");
    assert!(by_key.contains_key(cabinet_parent));
}

#[test]
fn bad_options_are_refused() {
    for scale in [0.0, -1.0, f64::NAN, f64::INFINITY, 1_000.0] {
        let err =
            generate(&options(scratch_dir("bad-scale"), scale, 1)).expect_err("bad scale refused");
        assert!(matches!(err, SynthError::InvalidOptions(_)), "{err}");
    }
    let dir = scratch_dir("not-empty");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    std::fs::write(dir.join("other.txt"), "x").expect("scratch file");
    let err = generate(&options(dir.clone(), 0.0001, 1)).expect_err("non-empty folder refused");
    assert!(matches!(err, SynthError::OutDirNotEmpty { .. }), "{err}");
    assert!(err.to_string().contains(&dir.display().to_string()));
    let _ = std::fs::remove_dir_all(dir);
}
