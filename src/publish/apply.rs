//! Carry a plan out. Uploads go one at a time (two uploads of one file name to a dataset within a
//! second collide on the platform). GET and PUT are retried by the client; a POST is sent once, and
//! when its answer is lost (error, timeout, dropped connection) the platform is re-read to see
//! whether it was applied before anything is posted again: that is what keeps a faulty network
//! from creating duplicate datasets or resources. The state file is saved after every step.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use reqwest::blocking::multipart::{Form, Part};
use serde_json::{json, Map, Value};

use super::client::{Client, ClientError};
use super::plan::{metadata_differences, DatasetStep, DesiredDataset, DesiredResource, Plan, RemoteDataset, RemoteResource, ResourceStep, DATASET_MARKER, EXTRAS_PREFIX};
use super::state::{self, PublishState};
use super::PublishError;

/// Why applying stopped; `publish` turns it into a `PublishError` naming what to rerun.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The state file could not be written.
    #[error(transparent)]
    State(PublishError),
    /// The platform refused (403, 400 on the organisation): a permission problem.
    #[error("{0}")]
    Refused(String),
    /// The platform failed or could not be reached after the retries.
    #[error("{0}")]
    Remote(String),
}

impl From<ClientError> for ApplyError {
    fn from(e: ClientError) -> Self {
        match e.status() {
            Some(403) => ApplyError::Refused(format!("the platform refused: {e}. Check that the key's user may edit the organisation's datasets.")),
            _ => ApplyError::Remote(e.to_string()),
        }
    }
}

pub struct ApplyInput<'a> {
    pub client: &'a Client,
    pub organization: &'a str,
    pub desired: &'a DesiredDataset,
    pub plan: &'a Plan,
    pub remote: Option<&'a RemoteDataset>,
    pub chunk_threshold: u64,
    pub chunk_size: u64,
    pub marker: &'a str,
}

#[derive(Debug)]
pub struct Applied {
    pub dataset_id: String,
    pub bytes_uploaded: u64,
    pub files_uploaded: usize,
}

/// Apply `input.plan`, recording ids in `state` (saved to `state_path` after each step).
pub fn apply(input: &ApplyInput<'_>, state: &mut PublishState, state_path: &Path) -> Result<Applied, ApplyError> {
    let client = input.client;
    let save = |state: &PublishState| state::save(state_path, state).map_err(ApplyError::State);
    let created = input.plan.dataset == DatasetStep::Create;
    let dataset_id = match input.remote {
        Some(r) => r.id.clone(),
        None => create_dataset(input)?,
    };
    state.dataset_id = Some(dataset_id.clone());
    save(state)?;

    let remote_by_id: BTreeMap<&str, &RemoteResource> = input.remote.map(|r| r.resources.iter().map(|res| (res.id.as_str(), res)).collect()).unwrap_or_default();
    // key → (id, latest URL) of every resource in place so far, for schema links.
    let mut placed: BTreeMap<String, (String, String)> = BTreeMap::new();
    for planned in &input.plan.resources {
        let id = match &planned.step {
            ResourceStep::Replace { id } | ResourceStep::UpdateMetadata { id, .. } | ResourceStep::Unchanged { id } => Some(id),
            ResourceStep::Upload => None,
        };
        if let Some(id) = id {
            let latest = remote_by_id.get(id.as_str()).and_then(|r| r.raw.get("latest")).and_then(Value::as_str).map(str::to_owned).unwrap_or_else(|| client.latest_url(id));
            placed.insert(planned.key.clone(), (id.clone(), latest));
        }
    }

    // Schemas and other documentation first, so the tables can link to their schema's resource.
    let by_key: BTreeMap<&str, &DesiredResource> = input.desired.resources.iter().map(|d| (d.key.as_str(), d)).collect();
    let mut order: Vec<&super::plan::PlannedResource> = input.plan.resources.iter().collect();
    order.sort_by_key(|p| by_key.get(p.key.as_str()).is_none_or(|d| d.meta.kind != "documentation"));
    let mut files_uploaded = 0;
    let mut adopted_ids: Vec<String> = Vec::new();
    for planned in order {
        let desired = by_key[planned.key.as_str()];
        let (resource, uploaded) = match &planned.step {
            ResourceStep::Upload => {
                let known: Vec<&str> = placed.values().map(|(id, _)| id.as_str()).chain(adopted_ids.iter().map(String::as_str)).collect();
                let r = upload(input, &dataset_id, desired, None, &known)?;
                (r, true)
            }
            ResourceStep::Replace { id } => {
                if let Some(modified) = remote_by_id.get(id.as_str()).and_then(|r| r.raw.get("last_modified")).and_then(Value::as_str) {
                    wait_for_a_new_second(modified);
                }
                (upload(input, &dataset_id, desired, Some(id), &[])?, true)
            }
            ResourceStep::UpdateMetadata { id, .. } | ResourceStep::Unchanged { id } => match remote_by_id.get(id.as_str()) {
                Some(r) => ((*r).clone(), false),
                None => (RemoteResource::from_json(&client.get(&format!("/api/1/datasets/{dataset_id}/resources/{id}/"))?).ok_or_else(|| ApplyError::Remote(format!("resource {id} unreadable")))?, false),
            },
        };
        if uploaded {
            files_uploaded += 1;
            adopted_ids.push(resource.id.clone());
        }
        let latest = resource.raw.get("latest").and_then(Value::as_str).map(str::to_owned).unwrap_or_else(|| client.latest_url(&resource.id));
        placed.insert(desired.key.clone(), (resource.id.clone(), latest));
        state.resources.insert(desired.key.clone(), resource.id.clone());
        save(state)?;
        // Re-set the metadata after every upload (a replacement resets the title to the file name),
        // and whenever they differ. A resource whose bytes came out wrong gets its marker too, so
        // that the rerun replaces it in place instead of leaving it beside a new one.
        let schema_url = desired.meta.schema_of.as_deref().and_then(|k| placed.get(k)).map(|(_, l)| l.clone());
        if uploaded || !metadata_differences(&desired.meta, schema_url.as_deref(), &resource).is_empty() {
            put_metadata(client, &dataset_id, desired, schema_url.as_deref(), &resource)?;
        }
        if uploaded {
            check_bytes(desired, &resource)?;
        }
    }

    for removal in &input.plan.removals {
        tracing::info!(resource = %removal.id, title = %removal.title, "deleting: {}", removal.reason);
        match client.delete(&format!("/api/1/datasets/{dataset_id}/resources/{}/", removal.id)) {
            Err(e) if e.status() == Some(404) => {}
            other => other?,
        }
        state.resources.retain(|_, id| id != &removal.id);
        save(state)?;
    }

    if created || input.plan.dataset != DatasetStep::Unchanged {
        update_dataset(client, &dataset_id, input.desired)?;
    }
    if created || input.plan.reorder || !input.plan.removals.is_empty() {
        reorder(client, &dataset_id, input.desired, &placed)?;
    }
    Ok(Applied { dataset_id, bytes_uploaded: client.bytes_sent.get(), files_uploaded })
}

/// Create the dataset as a draft (its files are not there yet), with the marker. A POST whose
/// answer is lost is not re-sent before the organisation's datasets are re-read for the marker.
fn create_dataset(input: &ApplyInput<'_>) -> Result<String, ApplyError> {
    let client = input.client;
    let mut body = Map::new();
    for (k, v) in &input.desired.fields {
        body.insert(k.clone(), v.clone());
    }
    body.insert("private".into(), json!(true));
    body.insert("organization".into(), json!(input.organization));
    body.insert("extras".into(), Value::Object(input.desired.extras.clone()));
    let body = Value::Object(body);
    let policy = client.retry_policy();
    for attempt in 1..=policy.attempts {
        match client.post_json("/api/1/datasets/", &body) {
            Ok(created) => {
                let id = created.get("id").and_then(Value::as_str).ok_or_else(|| ApplyError::Remote("the created dataset has no id".into()))?;
                tracing::info!(dataset = id, "dataset created (draft until its files are in place)");
                return Ok(id.to_owned());
            }
            Err(e) if !e.is_transient() => return Err(match e.status() {
                Some(400) if e.to_string().contains("organization") => ApplyError::Refused(format!("the platform refused to create the dataset in organisation {}: {e}", input.organization)),
                _ => e.into(),
            }),
            Err(e) => {
                tracing::warn!(attempt, "creating the dataset: {e}; re-reading before trying again");
                if let Some(found) = super::find_dataset(client, input.organization, input.marker, None)? {
                    tracing::info!(dataset = %found.id, "the dataset had been created: using it");
                    return Ok(found.id);
                }
                if attempt == policy.attempts {
                    return Err(e.into());
                }
                std::thread::sleep(policy.delay(attempt));
            }
        }
    }
    unreachable!("the loop returns")
}

/// Upload a file: a new resource (`replace` None) or a replacement in place. In parts above the
/// threshold, each attempt with a fresh upload uuid. When an attempt's answer is lost, re-read:
/// a new resource holding the same bytes (not among `known`), or the replaced resource now holding
/// them, means it was applied. The caller compares the platform's sha1 and size with the file's.
fn upload(input: &ApplyInput<'_>, dataset_id: &str, desired: &DesiredResource, replace: Option<&String>, known: &[&str]) -> Result<RemoteResource, ApplyError> {
    let client = input.client;
    let path = match replace {
        Some(rid) => format!("/api/1/datasets/{dataset_id}/resources/{rid}/upload/"),
        None => format!("/api/1/datasets/{dataset_id}/upload/"),
    };
    let policy = client.retry_policy();
    let chunked = desired.bytes > input.chunk_threshold;
    tracing::info!(file = %desired.key, bytes = desired.bytes, chunked, replace = replace.map(String::as_str).unwrap_or("-"), "uploading");
    let mut last_error = None;
    for attempt in 1..=policy.attempts {
        let sent = if chunked { send_in_parts(client, &path, desired, input.chunk_size) } else { send_whole(client, &path, desired) };
        match sent {
            Ok(answer) => {
                return RemoteResource::from_json(&answer).ok_or_else(|| ApplyError::Remote(format!("{path}: the answer is not a resource")));
            }
            Err(e) if !e.is_transient() => return Err(e.into()),
            Err(e) => {
                tracing::warn!(file = %desired.key, attempt, "upload: {e}; re-reading before trying again");
                if let Some(resource) = find_applied(client, dataset_id, desired, replace, known)? {
                    tracing::info!(file = %desired.key, resource = %resource.id, "the upload had been applied: using it");
                    return Ok(resource);
                }
                last_error = Some(e);
                if attempt < policy.attempts {
                    std::thread::sleep(policy.delay(attempt).max(SAME_NAME_GAP));
                }
            }
        }
    }
    Err(last_error.expect("at least one attempt").into())
}

/// The platform stores an upload under `<dataset>/<UTC second>/<file name>`: a second upload of the
/// same name within the same second lands on the same path and fails (or deletes the file it was
/// replacing). Uploads of one file are therefore kept more than a second apart.
const SAME_NAME_GAP: std::time::Duration = std::time::Duration::from_millis(1100);

/// Wait until the second of `last_modified` (RFC 3339, the resource's last upload) is past: the
/// replacement of a file uploaded an instant ago (a rerun right after a failed run) would collide.
fn wait_for_a_new_second(last_modified: &str) {
    let Ok(modified) = chrono::DateTime::parse_from_rfc3339(last_modified) else { return };
    let elapsed = chrono::Utc::now().signed_duration_since(modified.with_timezone(&chrono::Utc));
    if let Ok(elapsed) = elapsed.to_std() {
        if elapsed < SAME_NAME_GAP {
            std::thread::sleep(SAME_NAME_GAP - elapsed);
        }
    } else if elapsed < chrono::TimeDelta::zero() && elapsed > chrono::TimeDelta::seconds(-2) {
        // The platform's clock is a little ahead of ours: wait out the difference too.
        std::thread::sleep(SAME_NAME_GAP + elapsed.abs().to_std().unwrap_or_default());
    }
}

fn check_bytes(desired: &DesiredResource, resource: &RemoteResource) -> Result<(), ApplyError> {
    if resource.sha1.as_deref() != Some(desired.sha1.as_str()) || resource.filesize != Some(desired.bytes) {
        return Err(ApplyError::Remote(format!(
            "the platform holds different bytes for {} (resource {}): sha1 {} and {} bytes, the local file has sha1 {} and {} bytes",
            desired.key,
            resource.id,
            resource.sha1.as_deref().unwrap_or("none"),
            resource.filesize.map(|s| s.to_string()).unwrap_or_else(|| "unknown".into()),
            desired.sha1,
            desired.bytes
        )));
    }
    Ok(())
}

/// After a lost answer: was the upload applied?
fn find_applied(client: &Client, dataset_id: &str, desired: &DesiredResource, replace: Option<&String>, known: &[&str]) -> Result<Option<RemoteResource>, ApplyError> {
    if let Some(rid) = replace {
        let current = RemoteResource::from_json(&client.get(&format!("/api/1/datasets/{dataset_id}/resources/{rid}/"))?);
        return Ok(current.filter(|r| r.sha1.as_deref() == Some(desired.sha1.as_str())));
    }
    let dataset = client.get(&format!("/api/1/datasets/{dataset_id}/"))?;
    let resources = dataset.get("resources").and_then(Value::as_array).cloned().unwrap_or_default();
    Ok(resources.iter().filter_map(RemoteResource::from_json).find(|r| !known.contains(&r.id.as_str()) && r.marker().is_none() && r.sha1.as_deref() == Some(desired.sha1.as_str()) && r.filesize == Some(desired.bytes)))
}

fn send_whole(client: &Client, path: &str, desired: &DesiredResource) -> Result<Value, ClientError> {
    let io = |e: std::io::Error| ClientError::Transport { method: "POST".into(), path: path.into(), message: format!("reading {}: {e}", desired.local_path.display()) };
    let file = std::fs::File::open(&desired.local_path).map_err(io)?;
    let part = Part::reader_with_length(file, desired.bytes).file_name(desired.upload_name.clone()).mime_str("application/octet-stream").expect("a valid mime type");
    client.post_form(path, Form::new().part("file", part), desired.bytes)
}

/// udata's chunked protocol: every part with the upload's uuid, then a request without a file
/// that assembles them. A part stored twice makes the server fail, so a retry never resumes: the
/// caller starts again, and a new uuid is drawn here on every call.
fn send_in_parts(client: &Client, path: &str, desired: &DesiredResource, chunk_size: u64) -> Result<Value, ClientError> {
    let io = |e: std::io::Error| ClientError::Transport { method: "POST".into(), path: path.into(), message: format!("reading {}: {e}", desired.local_path.display()) };
    let uuid = uuid::Uuid::new_v4().to_string();
    let total = desired.bytes.div_ceil(chunk_size).max(1);
    let mut file = std::fs::File::open(&desired.local_path).map_err(io)?;
    for index in 0..total {
        let offset = index * chunk_size;
        let length = chunk_size.min(desired.bytes - offset);
        let mut buffer = vec![0u8; length as usize];
        file.seek(SeekFrom::Start(offset)).map_err(io)?;
        file.read_exact(&mut buffer).map_err(io)?;
        let part = Part::bytes(buffer).file_name(desired.upload_name.clone()).mime_str("application/octet-stream").expect("a valid mime type");
        let form = Form::new()
            .part("file", part)
            .text("uuid", uuid.clone())
            .text("filename", desired.upload_name.clone())
            .text("partindex", index.to_string())
            .text("totalparts", total.to_string())
            .text("chunksize", length.to_string());
        client.post_form(path, form, length)?;
        tracing::debug!(file = %desired.key, part = index + 1, of = total, "part sent");
    }
    let form = Form::new().text("uuid", uuid).text("filename", desired.upload_name.clone()).text("totalparts", total.to_string());
    client.post_form(path, form, 0)
}

/// Set a resource's title, description, type, schema link and extras (ours merged into the others).
fn put_metadata(client: &Client, dataset_id: &str, desired: &DesiredResource, schema_url: Option<&str>, current: &RemoteResource) -> Result<(), ApplyError> {
    let mut extras: Map<String, Value> = current.extras.iter().filter(|(k, _)| !k.starts_with(EXTRAS_PREFIX)).map(|(k, v)| (k.clone(), v.clone())).collect();
    for (k, v) in &desired.meta.extras {
        extras.insert(k.clone(), json!(v));
    }
    let body = json!({
        "title": desired.meta.title,
        "description": desired.meta.description,
        "type": desired.meta.kind,
        "schema": schema_url.map(|u| json!({"url": u})),
        "extras": extras,
    });
    let answer = client.put(&format!("/api/1/datasets/{dataset_id}/resources/{}/", current.id), &body)?;
    let title = answer.get("title").and_then(Value::as_str).unwrap_or_default();
    if title != desired.meta.title {
        return Err(ApplyError::Remote(format!("resource {} of {}: the title did not take ({title:?})", current.id, desired.key)));
    }
    Ok(())
}

/// GET, merge, PUT: the platform's PUT replaces the whole dataset (omitted tags become [], extras
/// are replaced), so the complete state goes back with our fields changed and everything else —
/// extras of others included — as it was.
fn update_dataset(client: &Client, dataset_id: &str, desired: &DesiredDataset) -> Result<(), ApplyError> {
    let current = client.get(&format!("/api/1/datasets/{dataset_id}/"))?;
    let mut body = Map::new();
    for keep in ["acronym", "frequency_date", "access_type", "contact_points"] {
        if let Some(v) = current.get(keep).filter(|v| !v.is_null()) {
            let v = match keep {
                // The API shows contact points as objects and takes their ids.
                "contact_points" => Value::Array(v.as_array().into_iter().flatten().filter_map(|c| c.get("id").cloned()).collect()),
                _ => v.clone(),
            };
            body.insert(keep.into(), v);
        }
    }
    for (k, v) in &desired.fields {
        body.insert(k.clone(), v.clone());
    }
    let mut extras: Map<String, Value> = current.get("extras").and_then(Value::as_object).cloned().unwrap_or_default();
    extras.retain(|k, _| !k.starts_with(EXTRAS_PREFIX) || desired.extras.contains_key(k));
    for (k, v) in &desired.extras {
        extras.insert(k.clone(), v.clone());
    }
    body.insert("extras".into(), Value::Object(extras));
    let answer = client.put(&format!("/api/1/datasets/{dataset_id}/"), &Value::Object(body))?;
    if answer.get("extras").and_then(|e| e.get(DATASET_MARKER)) != desired.extras.get(DATASET_MARKER) {
        return Err(ApplyError::Remote(format!("dataset {dataset_id}: the marker did not take")));
    }
    tracing::info!(dataset = dataset_id, "dataset metadata updated");
    Ok(())
}

/// Ours in the release's order, then anything else as it was.
fn reorder(client: &Client, dataset_id: &str, desired: &DesiredDataset, placed: &BTreeMap<String, (String, String)>) -> Result<(), ApplyError> {
    let current = client.get(&format!("/api/1/datasets/{dataset_id}/"))?;
    let present: Vec<String> = current.get("resources").and_then(Value::as_array).into_iter().flatten().filter_map(|r| r.get("id").and_then(Value::as_str).map(str::to_owned)).collect();
    let mut order: Vec<String> = desired.resources.iter().filter_map(|d| placed.get(&d.key).map(|(id, _)| id.clone())).filter(|id| present.contains(id)).collect();
    order.extend(present.iter().filter(|id| !order.contains(id)).cloned().collect::<Vec<_>>());
    if order == present {
        return Ok(());
    }
    client.put(&format!("/api/1/datasets/{dataset_id}/resources/"), &Value::Array(order.into_iter().map(|id| json!({"id": id})).collect()))?;
    Ok(())
}
