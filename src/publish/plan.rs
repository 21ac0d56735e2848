//! The plan: what must change on the platform so that the dataset shows the release. A pure
//! function of the desired state (from the release) and the remote state (read from the API): no
//! disk, no socket, so every case is a unit test. `--dry-run` prints it; `apply` carries it out.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use serde_json::{Map, Value};

/// The extras key that names the logical resource (its path in the release) on each resource.
pub const RESOURCE_MARKER: &str = "ror-opendata:resource";
/// The extras key that holds the file's sha256 on each resource.
pub const SHA256_EXTRA: &str = "ror-opendata:sha256";
/// The extras key whose value (the configured marker) identifies the dataset.
pub const DATASET_MARKER: &str = "ror-opendata:publication";
/// Every extras key this job owns starts with this.
pub const EXTRAS_PREFIX: &str = "ror-opendata:";

/// One file of the release as it should appear on the platform.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredResource {
    /// The file's path inside the release: the logical name, stable across releases.
    pub key: String,
    pub local_path: PathBuf,
    /// The file name sent with the upload (an extension the platform accepts).
    pub upload_name: String,
    pub bytes: u64,
    pub sha1: String,
    pub sha256: String,
    pub meta: ResourceMeta,
}

/// The metadata this job sets on a resource.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceMeta {
    pub title: String,
    pub description: String,
    /// main, update, documentation, other.
    pub kind: String,
    /// The key of the resource holding this one's Table Schema, if any; its `latest` URL goes in
    /// the resource's `schema`.
    pub schema_of: Option<String>,
    /// Extras this job owns (ror-opendata:*).
    pub extras: BTreeMap<String, String>,
}

/// The dataset as it should be: the fields this job manages, and its files in display order.
#[derive(Debug, Clone)]
pub struct DesiredDataset {
    /// title, description, description_short, license, frequency, tags, spatial,
    /// temporal_coverage, private — the form the API takes.
    pub fields: Map<String, Value>,
    /// Extras this job owns on the dataset (the marker among them).
    pub extras: Map<String, Value>,
    pub resources: Vec<DesiredResource>,
}

/// A dataset as the API showed it.
#[derive(Debug, Clone)]
pub struct RemoteDataset {
    pub id: String,
    pub raw: Value,
    pub resources: Vec<RemoteResource>,
}

/// A resource as the API showed it.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteResource {
    pub id: String,
    pub title: String,
    pub description: String,
    pub kind: String,
    pub schema_url: Option<String>,
    pub extras: Map<String, Value>,
    pub sha1: Option<String>,
    pub filesize: Option<u64>,
    pub raw: Value,
}

impl RemoteResource {
    pub fn from_json(v: &Value) -> Option<RemoteResource> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
        Some(RemoteResource {
            id: v.get("id")?.as_str()?.to_owned(),
            title: s("title"),
            description: s("description"),
            kind: s("type"),
            schema_url: v.get("schema").and_then(|x| x.get("url")).and_then(Value::as_str).map(str::to_owned),
            extras: v.get("extras").and_then(Value::as_object).cloned().unwrap_or_default(),
            sha1: v.get("checksum").filter(|c| c.get("type").and_then(Value::as_str) == Some("sha1")).and_then(|c| c.get("value")).and_then(Value::as_str).map(str::to_lowercase),
            filesize: v.get("filesize").and_then(Value::as_u64),
            raw: v.clone(),
        })
    }

    /// The logical resource this one holds, by its marker.
    pub fn marker(&self) -> Option<&str> {
        self.extras.get(RESOURCE_MARKER).and_then(Value::as_str)
    }
}

impl RemoteDataset {
    pub fn from_json(v: Value) -> Option<RemoteDataset> {
        let id = v.get("id")?.as_str()?.to_owned();
        let resources = v.get("resources").and_then(Value::as_array).map(|a| a.iter().filter_map(RemoteResource::from_json).collect()).unwrap_or_default();
        Some(RemoteDataset { id, raw: v, resources })
    }
}

/// What to do with the dataset itself.
#[derive(Debug, Clone, PartialEq)]
pub enum DatasetStep {
    /// Create it (as a draft until its files are in place).
    Create,
    /// Update these managed fields (GET, merge, PUT).
    Update { fields: Vec<String> },
    Unchanged,
}

/// What to do with one file.
#[derive(Debug, Clone, PartialEq)]
pub enum ResourceStep {
    /// A new resource: upload the file, then set its metadata.
    Upload,
    /// Replace the file in place (same id, same `latest` URL), then set its metadata again.
    Replace { id: String },
    /// The file is there; only metadata differ.
    UpdateMetadata { id: String, fields: Vec<String> },
    Unchanged { id: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlannedResource {
    pub key: String,
    pub step: ResourceStep,
    pub bytes: u64,
    pub chunked: bool,
}

/// A resource of the dataset that this job owns (or recognisably uploaded) but that no longer
/// belongs: a file gone from the release, or a duplicate left by an interrupted run.
#[derive(Debug, Clone, PartialEq)]
pub struct Removal {
    pub id: String,
    pub title: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub dataset: DatasetStep,
    pub resources: Vec<PlannedResource>,
    pub removals: Vec<Removal>,
    /// The resources are not in the release's order.
    pub reorder: bool,
}

impl Plan {
    pub fn upload_bytes(&self) -> u64 {
        self.resources.iter().filter(|r| matches!(r.step, ResourceStep::Upload | ResourceStep::Replace { .. })).map(|r| r.bytes).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.dataset == DatasetStep::Unchanged && !self.reorder && self.removals.is_empty() && self.resources.iter().all(|r| matches!(r.step, ResourceStep::Unchanged { .. }))
    }
}

/// Match each desired file to a remote resource: by the marker in its extras, else by the id the
/// state file remembers, else (a resource whose upload answer was lost before its metadata were
/// set) by an unmarked resource holding exactly the same bytes. Returns key → remote index.
pub fn match_resources(desired: &[DesiredResource], remote: &[RemoteResource], state_ids: &BTreeMap<String, String>) -> BTreeMap<String, usize> {
    let mut matched: BTreeMap<String, usize> = BTreeMap::new();
    let mut taken: BTreeSet<usize> = BTreeSet::new();
    let wanted: BTreeSet<&str> = desired.iter().map(|d| d.key.as_str()).collect();
    // Marker first; among duplicates with the same marker, prefer the one the state names, then the
    // one already holding the right bytes.
    for d in desired {
        let candidates: Vec<usize> = remote.iter().enumerate().filter(|(_, r)| r.marker() == Some(d.key.as_str())).map(|(i, _)| i).collect();
        let best = candidates
            .iter()
            .copied()
            .max_by_key(|&i| (state_ids.get(&d.key) == Some(&remote[i].id), remote[i].sha1.as_deref() == Some(d.sha1.as_str()), std::cmp::Reverse(i)));
        if let Some(i) = best {
            matched.insert(d.key.clone(), i);
            taken.insert(i);
        }
    }
    let unmatched: Vec<&DesiredResource> = desired.iter().filter(|d| !matched.contains_key(&d.key)).collect();
    for d in unmatched {
        let by_state = state_ids.get(&d.key).and_then(|id| remote.iter().position(|r| &r.id == id)).filter(|i| !taken.contains(i) && remote[*i].marker().is_none_or(|m| !wanted.contains(m)));
        let by_bytes = || remote.iter().enumerate().position(|(i, r)| !taken.contains(&i) && r.marker().is_none() && r.sha1.as_deref() == Some(d.sha1.as_str()) && r.filesize == Some(d.bytes));
        // An upload of an older version of this file, killed before its metadata were set: the
        // platform titled it with the name we uploaded it under. Adopted, then replaced in place.
        let by_name = || remote.iter().enumerate().position(|(i, r)| !taken.contains(&i) && r.marker().is_none() && r.title == upload_title(&d.upload_name));
        if let Some(i) = by_state.or_else(by_bytes).or_else(by_name) {
            matched.insert(d.key.clone(), i);
            taken.insert(i);
        }
    }
    matched
}

/// The title the platform gives a fresh upload: its file name slugified as udata does (lower case,
/// every character but letters, digits and dots a dash, runs of dashes collapsed).
pub fn upload_title(upload_name: &str) -> String {
    let mut title = String::with_capacity(upload_name.len());
    for c in upload_name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() || c == '.' {
            title.push(c);
        } else if !title.ends_with('-') {
            title.push('-');
        }
    }
    title.trim_matches('-').to_owned()
}

/// Which metadata fields differ. `schema_url` is the resolved `latest` URL of the schema resource
/// (None when it does not exist yet).
pub fn metadata_differences(meta: &ResourceMeta, schema_url: Option<&str>, remote: &RemoteResource) -> Vec<String> {
    let mut fields = Vec::new();
    if meta.title != remote.title {
        fields.push("title".to_owned());
    }
    if meta.description != remote.description {
        fields.push("description".to_owned());
    }
    if meta.kind != remote.kind {
        fields.push("type".to_owned());
    }
    if schema_url != remote.schema_url.as_deref() {
        fields.push("schema".to_owned());
    }
    let ours: BTreeMap<&str, Option<&str>> = remote.extras.iter().filter(|(k, _)| k.starts_with(EXTRAS_PREFIX)).map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let wanted: BTreeMap<&str, Option<&str>> = meta.extras.iter().map(|(k, v)| (k.as_str(), Some(v.as_str()))).collect();
    if ours != wanted {
        fields.push("extras".to_owned());
    }
    fields
}

/// Which managed dataset fields differ from the remote dataset.
pub fn dataset_differences(desired: &DesiredDataset, remote: &Value) -> Vec<String> {
    let mut fields = Vec::new();
    for (name, want) in &desired.fields {
        let have = remote.get(name).cloned().unwrap_or(Value::Null);
        if !same_field(name, want, &have) {
            fields.push(name.clone());
        }
    }
    let remote_extras = remote.get("extras").and_then(Value::as_object).cloned().unwrap_or_default();
    if desired.extras.iter().any(|(k, v)| remote_extras.get(k) != Some(v)) || remote_extras.keys().any(|k| k.starts_with(EXTRAS_PREFIX) && !desired.extras.contains_key(k)) {
        fields.push("extras".to_owned());
    }
    fields
}

/// Compare a field as the platform normalises it: tags come back sorted, spatial carries a geom,
/// dates come back as dates or datetimes.
fn same_field(name: &str, want: &Value, have: &Value) -> bool {
    match name {
        "tags" => {
            let set = |v: &Value| v.as_array().map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect::<BTreeSet<_>>()).unwrap_or_default();
            set(want) == set(have)
        }
        "spatial" => {
            let pick = |v: &Value, k: &str| v.get(k).cloned().filter(|x| !x.is_null()).unwrap_or(Value::Null);
            let zones = |v: &Value| pick(v, "zones").as_array().map(|a| a.iter().map(|z| z.get("id").unwrap_or(z).clone()).collect::<Vec<_>>()).unwrap_or_default();
            pick(want, "granularity") == pick(have, "granularity") && zones(want) == zones(have)
        }
        "temporal_coverage" => {
            let day = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(|s| s.chars().take(10).collect::<String>());
            day(want, "start") == day(have, "start") && day(want, "end") == day(have, "end")
        }
        "description_short" | "description" => want.as_str().unwrap_or_default() == have.as_str().unwrap_or_default(),
        _ => want == have,
    }
}

/// The plan: dataset step, one step per file (in the release's order), removals, reordering.
pub fn plan(desired: &DesiredDataset, remote: Option<&RemoteDataset>, state_ids: &BTreeMap<String, String>, chunk_threshold: u64, latest_url: &dyn Fn(&str) -> String) -> Plan {
    let chunked = |bytes: u64| bytes > chunk_threshold;
    let Some(remote) = remote else {
        return Plan {
            dataset: DatasetStep::Create,
            resources: desired.resources.iter().map(|d| PlannedResource { key: d.key.clone(), step: ResourceStep::Upload, bytes: d.bytes, chunked: chunked(d.bytes) }).collect(),
            removals: Vec::new(),
            reorder: false,
        };
    };
    let matched = match_resources(&desired.resources, &remote.resources, state_ids);
    let id_of = |key: &str| matched.get(key).map(|&i| remote.resources[i].id.clone());
    let mut resources = Vec::new();
    for d in &desired.resources {
        let step = match matched.get(&d.key).map(|&i| &remote.resources[i]) {
            None => ResourceStep::Upload,
            Some(r) if r.sha1.as_deref() != Some(d.sha1.as_str()) || r.filesize != Some(d.bytes) => ResourceStep::Replace { id: r.id.clone() },
            Some(r) => {
                let schema_url = d.meta.schema_of.as_deref().and_then(id_of).map(|id| latest_url(&id));
                let fields = metadata_differences(&d.meta, schema_url.as_deref(), r);
                if fields.is_empty() {
                    ResourceStep::Unchanged { id: r.id.clone() }
                } else {
                    ResourceStep::UpdateMetadata { id: r.id.clone(), fields }
                }
            }
        };
        resources.push(PlannedResource { key: d.key.clone(), step, bytes: d.bytes, chunked: chunked(d.bytes) });
    }
    let kept: BTreeSet<usize> = matched.values().copied().collect();
    // Unmarked resources titled with one of our upload names are ours too: uploads interrupted
    // before their metadata were set, of which a marked copy now exists. Anything else unmarked
    // was added by hand and is left alone.
    let our_upload = |r: &RemoteResource| r.marker().is_none() && desired.resources.iter().any(|d| upload_title(&d.upload_name) == r.title);
    let removals = remote
        .resources
        .iter()
        .enumerate()
        .filter(|(i, r)| !kept.contains(i) && (r.marker().is_some() || our_upload(r)))
        .map(|(_, r)| {
            let reason = match r.marker() {
                Some(key) if desired.resources.iter().any(|d| d.key == key) => "a duplicate of a resource kept".to_owned(),
                Some(key) => format!("{key} is no longer in the release"),
                None => "an upload of ours interrupted before its metadata were set".to_owned(),
            };
            Removal { id: r.id.clone(), title: r.title.clone(), reason }
        })
        .collect();
    let dataset = {
        let fields = dataset_differences(desired, &remote.raw);
        if fields.is_empty() {
            DatasetStep::Unchanged
        } else {
            DatasetStep::Update { fields }
        }
    };
    // Ours first, in the release's order; anything else someone added by hand after them.
    let ours_now: Vec<usize> = remote.resources.iter().enumerate().filter(|(i, _)| kept.contains(i)).map(|(i, _)| i).collect();
    let ours_wanted: Vec<usize> = desired.resources.iter().filter_map(|d| matched.get(&d.key).copied()).collect();
    let all_ours_first = remote.resources.iter().enumerate().take(ours_now.len()).all(|(i, _)| kept.contains(&i));
    let reorder = ours_now != ours_wanted || !all_ours_first || resources.iter().any(|r| r.step == ResourceStep::Upload);
    Plan { dataset, resources, removals, reorder }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.dataset {
            DatasetStep::Create => writeln!(f, "dataset: create (as a draft until its files are in place)")?,
            DatasetStep::Update { fields } => writeln!(f, "dataset: update {}", fields.join(", "))?,
            DatasetStep::Unchanged => writeln!(f, "dataset: unchanged")?,
        }
        for r in &self.resources {
            let how = if r.chunked { ", in parts" } else { "" };
            match &r.step {
                ResourceStep::Upload => writeln!(f, "  + upload   {:<44} {:>12} bytes{how}", r.key, r.bytes)?,
                ResourceStep::Replace { id } => writeln!(f, "  ~ replace  {:<44} {:>12} bytes{how} (resource {id})", r.key, r.bytes)?,
                ResourceStep::UpdateMetadata { id, fields } => writeln!(f, "  ~ metadata {:<44} {} (resource {id})", r.key, fields.join(", "))?,
                // Counted below: a nightly plan should show what changes, not every file.
                ResourceStep::Unchanged { .. } => {}
            }
        }
        let kept = self.resources.iter().filter(|r| matches!(r.step, ResourceStep::Unchanged { .. })).count();
        if kept > 0 {
            writeln!(f, "  = keep     {kept} unchanged file(s)")?;
        }
        for r in &self.removals {
            writeln!(f, "  - delete   {:<44} ({}; resource {})", r.title, r.reason, r.id)?;
        }
        if self.reorder {
            writeln!(f, "resources: reorder as in the release")?;
        }
        let changed = self.resources.iter().filter(|r| !matches!(r.step, ResourceStep::Unchanged { .. })).count();
        write!(f, "{} file(s) to upload ({} bytes), {changed} of {} resource(s) to change, {} to delete", self.resources.iter().filter(|r| matches!(r.step, ResourceStep::Upload | ResourceStep::Replace { .. })).count(), self.upload_bytes(), self.resources.len(), self.removals.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn desired(key: &str, sha1: &str) -> DesiredResource {
        DesiredResource {
            key: key.into(),
            local_path: PathBuf::from(key),
            upload_name: key.replace('/', "-"),
            bytes: 10,
            sha1: sha1.into(),
            sha256: "s".into(),
            meta: ResourceMeta { title: format!("T {key}"), description: "d".into(), kind: "main".into(), schema_of: None, extras: BTreeMap::from([(RESOURCE_MARKER.to_owned(), key.to_owned()), (SHA256_EXTRA.to_owned(), "s".to_owned())]) },
        }
    }

    fn remote(id: &str, marker: Option<&str>, sha1: &str) -> RemoteResource {
        let extras = match marker {
            Some(m) => json!({RESOURCE_MARKER: m, SHA256_EXTRA: "s"}),
            None => json!({}),
        };
        RemoteResource::from_json(&json!({"id": id, "title": marker.map(|m| format!("T {m}")).unwrap_or("x.csv".into()), "description": "d", "type": "main", "extras": extras, "checksum": {"type": "sha1", "value": sha1}, "filesize": 10})).unwrap()
    }

    fn dataset(resources: Vec<DesiredResource>) -> DesiredDataset {
        let mut fields = Map::new();
        fields.insert("title".into(), json!("ROR"));
        fields.insert("tags".into(), json!(["b", "a"]));
        DesiredDataset { fields, extras: Map::from_iter([(DATASET_MARKER.to_owned(), json!("m"))]), resources }
    }

    fn remote_dataset(resources: Vec<RemoteResource>) -> RemoteDataset {
        RemoteDataset { id: "d1".into(), raw: json!({"id": "d1", "title": "ROR", "tags": ["a", "b"], "extras": {DATASET_MARKER: "m"}}), resources }
    }

    fn latest(id: &str) -> String {
        format!("L/{id}")
    }

    #[test]
    fn nothing_remote_means_create_and_upload_everything() {
        let d = dataset(vec![desired("a.csv", "1"), desired("b.csv", "2")]);
        let p = plan(&d, None, &BTreeMap::new(), 5, &latest);
        assert_eq!(p.dataset, DatasetStep::Create);
        assert!(p.resources.iter().all(|r| r.step == ResourceStep::Upload && r.chunked));
        assert_eq!(p.upload_bytes(), 20);
    }

    #[test]
    fn the_same_release_twice_is_an_empty_plan() {
        let d = dataset(vec![desired("a.csv", "1"), desired("b.csv", "2")]);
        let r = remote_dataset(vec![remote("r1", Some("a.csv"), "1"), remote("r2", Some("b.csv"), "2")]);
        let p = plan(&d, Some(&r), &BTreeMap::new(), 100, &latest);
        assert!(p.is_empty(), "{p}");
        assert_eq!(p.upload_bytes(), 0);
        assert!(p.to_string().contains("dataset: unchanged\n  = keep     2 unchanged file(s)\n0 file(s) to upload (0 bytes)"), "{p}");
    }

    #[test]
    fn changed_bytes_replace_in_place_and_metadata_alone_is_a_put() {
        let mut b = desired("b.csv", "2");
        b.meta.title = "New title".into();
        let d = dataset(vec![desired("a.csv", "9"), b]);
        let r = remote_dataset(vec![remote("r1", Some("a.csv"), "1"), remote("r2", Some("b.csv"), "2")]);
        let p = plan(&d, Some(&r), &BTreeMap::new(), 100, &latest);
        assert_eq!(p.resources[0].step, ResourceStep::Replace { id: "r1".into() });
        assert_eq!(p.resources[1].step, ResourceStep::UpdateMetadata { id: "r2".into(), fields: vec!["title".into()] });
        assert!(!p.reorder);
    }

    #[test]
    fn a_lost_upload_answer_is_adopted_not_duplicated() {
        // The upload was applied but its answer lost: the resource has the bytes and no marker.
        let d = dataset(vec![desired("a.csv", "1"), desired("b.csv", "2")]);
        let r = remote_dataset(vec![remote("r1", Some("a.csv"), "1"), remote("r9", None, "2")]);
        let p = plan(&d, Some(&r), &BTreeMap::new(), 100, &latest);
        assert!(matches!(&p.resources[1].step, ResourceStep::UpdateMetadata { id, .. } if id == "r9"), "{p}");
        assert!(p.removals.is_empty());
    }

    /// An unmarked resource titled with one of our upload names (the platform's title for a fresh
    /// upload).
    fn orphan(id: &str, upload_name: &str, sha1: &str) -> RemoteResource {
        RemoteResource::from_json(&json!({"id": id, "title": upload_name, "description": "", "type": "main", "extras": {}, "checksum": {"type": "sha1", "value": sha1}, "filesize": 10})).unwrap()
    }

    #[test]
    fn upload_titles_are_the_platforms_slugs() {
        // As udata 17.18's Slugify(separator="-", to_lower=True, safe_chars=".") gives them.
        assert_eq!(upload_title("entites_juridiques.csv"), "entites-juridiques.csv");
        assert_eq!(upload_title("SHA256SUMS.txt"), "sha256sums.txt");
        assert_eq!(upload_title("changes-horaires.parquet"), "changes-horaires.parquet");
        assert_eq!(upload_title("manifest.json.minisig"), "manifest.json.minisig");
    }

    #[test]
    fn an_interrupted_upload_of_an_older_file_is_adopted_then_replaced() {
        // Killed after uploading last night's b.csv and before marking it; tonight b.csv differs.
        let d = dataset(vec![desired("a.csv", "1"), desired("b.csv", "2-new")]);
        let r = remote_dataset(vec![remote("r1", Some("a.csv"), "1"), orphan("r9", &upload_title("b.csv"), "2-old")]);
        let p = plan(&d, Some(&r), &BTreeMap::new(), 100, &latest);
        assert_eq!(p.resources[1].step, ResourceStep::Replace { id: "r9".into() }, "{p}");
        assert!(p.removals.is_empty(), "{p}");
    }

    #[test]
    fn an_interrupted_upload_beside_its_marked_copy_is_removed_but_a_hand_added_file_is_not() {
        let d = dataset(vec![desired("a.csv", "1")]);
        let r = remote_dataset(vec![remote("r1", Some("a.csv"), "1"), orphan("r9", "a.csv", "0"), orphan("mine", "notes-du-producteur.pdf", "7")]);
        let p = plan(&d, Some(&r), &BTreeMap::new(), 100, &latest);
        assert_eq!(p.resources[0].step, ResourceStep::Unchanged { id: "r1".into() });
        let removed: Vec<&str> = p.removals.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(removed, ["r9"], "{p}");
        assert!(p.removals[0].reason.contains("interrupted"));
    }

    #[test]
    fn duplicates_and_files_gone_from_the_release_are_removed_but_not_others() {
        let d = dataset(vec![desired("a.csv", "1")]);
        let r = remote_dataset(vec![remote("r1", Some("a.csv"), "1"), remote("r2", Some("a.csv"), "1"), remote("r3", Some("old.csv"), "3"), remote("mine", None, "7")]);
        let state = BTreeMap::from([("a.csv".to_owned(), "r2".to_owned())]);
        let p = plan(&d, Some(&r), &state, 100, &latest);
        assert_eq!(p.resources[0].step, ResourceStep::Unchanged { id: "r2".into() });
        let removed: Vec<&str> = p.removals.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(removed, ["r1", "r3"]);
        assert!(p.removals[0].reason.contains("duplicate"));
    }

    #[test]
    fn schema_links_resolve_to_the_schema_resource_latest_url() {
        let mut a = desired("a.csv", "1");
        a.meta.schema_of = Some("schemas/a.json".into());
        let d = dataset(vec![a, desired("schemas/a.json", "5")]);
        let mut ra = remote("r1", Some("a.csv"), "1");
        ra.schema_url = Some("L/r5".into());
        let r = remote_dataset(vec![ra.clone(), remote("r5", Some("schemas/a.json"), "5")]);
        assert!(plan(&d, Some(&r), &BTreeMap::new(), 100, &latest).is_empty());
        ra.schema_url = None;
        let r = remote_dataset(vec![ra, remote("r5", Some("schemas/a.json"), "5")]);
        let p = plan(&d, Some(&r), &BTreeMap::new(), 100, &latest);
        assert_eq!(p.resources[0].step, ResourceStep::UpdateMetadata { id: "r1".into(), fields: vec!["schema".into()] });
    }

    #[test]
    fn order_and_dataset_fields_are_compared_as_the_platform_normalises_them() {
        let d = dataset(vec![desired("a.csv", "1"), desired("b.csv", "2")]);
        let r = remote_dataset(vec![remote("r2", Some("b.csv"), "2"), remote("r1", Some("a.csv"), "1")]);
        let p = plan(&d, Some(&r), &BTreeMap::new(), 100, &latest);
        assert!(p.reorder);
        assert_eq!(p.dataset, DatasetStep::Unchanged, "tags compare as a set");
        let mut r = remote_dataset(vec![]);
        r.raw["title"] = json!("Other");
        assert_eq!(dataset_differences(&d, &r.raw), vec!["title".to_owned()]);
    }
}
