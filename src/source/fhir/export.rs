//! Full extraction with `$export` as the ROR implements it: a kick-off answered 202 with a
//! Content-Location to poll, polls that honour Retry-After until the job lists its output files,
//! then each file (FHIR JSON Bundles, not NDJSON) downloaded with the token, streamed to disk,
//! checked, and stored. A job still running at the deadline is cancelled (DELETE on its status URL).

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;

use super::client::Api;
use super::config::REGION_TAG_SYSTEM;
use super::store::{check_download, CheckRecord, OnDuplicate, SnapshotWriter};
use super::{outcome, FhirSourceError};

/// What the status URL answers when the job is complete (FHIR Bulk Data).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    transaction_time: String,
    #[serde(default = "yes")]
    requires_access_token: bool,
    #[serde(default)]
    output: Vec<OutputFile>,
    #[serde(default)]
    error: Vec<OutputFile>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct OutputFile {
    #[serde(rename = "type", default)]
    kind: String,
    url: String,
    /// Resources in the file, when the server says.
    count: Option<u64>,
}

/// What the export produced, for provenance.
pub struct Exported {
    pub transaction_time: DateTime<Utc>,
    pub job_id: String,
    pub checks: Vec<CheckRecord>,
}

/// The kick-off URL: ANS's parameters, and one `_typeFilter` per region when some are configured.
pub fn kickoff_url(base: &Url, regions: &[String]) -> Url {
    let mut url = base.join("$export").expect("a relative path joins any http(s) base");
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("_type", "HealthcareService");
        query.append_pair("_outputFormat", "application/fhir+json");
        query.append_pair("includeAssociatedData", "_myCompleteExtract");
        for region in regions {
            query.append_pair("_typeFilter", &format!("HealthcareService?_tag={REGION_TAG_SYSTEM}|{region}"));
        }
    }
    url
}

/// Run an export job to its end and store every file it lists.
pub fn run(api: &mut Api, writer: &mut SnapshotWriter) -> Result<Exported, FhirSourceError> {
    let kickoff = kickoff_url(&api.settings.base_url, &api.settings.regions);
    let response = api.send(Method::GET, &kickoff, "export kick-off", &[("Prefer", "respond-async")], true)?;
    let status = response.status();
    let status_url = match status {
        StatusCode::ACCEPTED => {
            let location = response.headers().get(reqwest::header::CONTENT_LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
            let location = location.ok_or_else(|| FhirSourceError::refused("export kick-off", kickoff.as_str(), status.as_u16(), "202 without a Content-Location header to poll".into()))?;
            kickoff.join(&location).map_err(|e| FhirSourceError::refused("export kick-off", kickoff.as_str(), status.as_u16(), format!("Content-Location {location:?} is not a URL: {e}")))?
        }
        _ => {
            let detail = outcome::describe(&response.text().unwrap_or_default());
            return Err(FhirSourceError::refused("export kick-off", kickoff.as_str(), status.as_u16(), detail));
        }
    };
    let job_id = status_url.query_pairs().find(|(k, _)| k == "_jobId").map(|(_, v)| v.into_owned()).unwrap_or_else(|| status_url.to_string());
    tracing::info!(job = %job_id, "export job accepted");

    let manifest = match poll(api, &status_url, &job_id) {
        Ok(m) => m,
        Err(e) => {
            if matches!(e, FhirSourceError::Deadline { .. }) {
                cancel(api, &status_url, &job_id);
            }
            return Err(e);
        }
    };
    let transaction_time = DateTime::parse_from_rfc3339(&manifest.transaction_time)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| FhirSourceError::ExportFailed { job: job_id.clone(), detail: format!("transactionTime {:?} is not an instant: {e}", manifest.transaction_time) })?;
    if !manifest.error.is_empty() {
        let urls: Vec<&str> = manifest.error.iter().map(|f| f.url.as_str()).collect();
        return Err(FhirSourceError::ExportFailed { job: job_id, detail: format!("the job reports errors in {}", urls.join(", ")) });
    }
    if manifest.output.is_empty() {
        return Err(FhirSourceError::ExportFailed { job: job_id, detail: "the job lists no output file".into() });
    }
    tracing::info!(job = %job_id, files = manifest.output.len(), transaction_time = %manifest.transaction_time, "export job complete");

    let mut checks = Vec::new();
    let mut announced_mismatch = Vec::new();
    let progress = crate::ops::progress::bar(manifest.output.len() as u64, "export files");
    for (index, file) in manifest.output.iter().enumerate() {
        let url = status_url.join(&file.url).map_err(|e| FhirSourceError::ExportFailed { job: job_id.clone(), detail: format!("output url {:?}: {e}", file.url) })?;
        let download_name = format!("{:04}.json", index + 1);
        let stored_name = format!("export/ror-export-{:04}.json.gz", index + 1);
        let dest = writer.download_path(&download_name);
        let label = url.to_string();
        let what = format!("export file {} of {}", index + 1, manifest.output.len());
        let saved = api.download(&url, &what, &dest, manifest.requires_access_token, &|p| check_download(p, &label))?;
        writer.record_download(&label, saved.bytes, &saved.sha256, &stored_name);
        let held = writer.add_file(&stored_name, &dest, &label, OnDuplicate::Compare)?;
        std::fs::remove_file(&dest).ok();
        progress.inc(1);
        tracing::info!(file = index + 1, of = manifest.output.len(), bytes = saved.bytes, resources = held, kind = %file.kind, "export file stored");
        if let Some(count) = file.count {
            if count != held {
                announced_mismatch.push(format!("{label}: {held} resources, the job announced {count}"));
            }
        }
    }
    progress.finish_and_clear();
    if !announced_mismatch.is_empty() {
        return Err(FhirSourceError::Check { check: "counts against the job's output".into(), message: announced_mismatch.join("; ") });
    }
    let counted = manifest.output.iter().filter(|f| f.count.is_some()).count();
    checks.push(CheckRecord {
        name: "counts against the job's output".into(),
        passed: true,
        detail: format!("{} file(s) downloaded as listed; {counted} announced a count, all matched", manifest.output.len()),
    });
    Ok(Exported { transaction_time, job_id, checks })
}

/// Poll the status URL until the job is complete, failed, or the deadline passes.
fn poll(api: &mut Api, status_url: &Url, job_id: &str) -> Result<Manifest, FhirSourceError> {
    let what = format!("waiting for export job {job_id}");
    loop {
        let response = api.send(Method::GET, status_url, &what, &[], true)?;
        let status = response.status();
        match status {
            StatusCode::ACCEPTED => {
                let progress = response.headers().get("X-Progress").and_then(|v| v.to_str().ok()).unwrap_or("in progress").to_owned();
                let wait = super::client::retry_after(&response).unwrap_or(api.settings.poll_interval);
                tracing::info!(job = %job_id, progress = %progress, wait_seconds = wait.as_secs(), "export job running");
                api.pause(wait, &what)?;
            }
            StatusCode::OK => {
                let body = response.text().map_err(|e| FhirSourceError::ExportFailed { job: job_id.to_owned(), detail: format!("cannot read the status answer: {e}") })?;
                return serde_json::from_str(&body).map_err(|e| FhirSourceError::ExportFailed { job: job_id.to_owned(), detail: format!("the status answer is not a bulk-data manifest: {e}") });
            }
            _ => {
                let detail = outcome::describe(&response.text().unwrap_or_default());
                return Err(FhirSourceError::ExportFailed { job: job_id.to_owned(), detail: format!("{status}: {detail}") });
            }
        }
    }
}

/// Ask the server to drop a job we no longer wait for; its answer does not change the outcome.
fn cancel(api: &mut Api, status_url: &Url, job_id: &str) {
    let client = reqwest::blocking::Client::new();
    let mut request = client.delete(status_url.clone()).timeout(std::time::Duration::from_secs(10));
    for (name, value) in &api.settings.ror_headers {
        request = request.header(*name, value.as_str());
    }
    if let Some(token) = api.current_token() {
        request = request.bearer_auth(token.expose());
    }
    match request.send() {
        Ok(r) => tracing::info!(job = %job_id, status = r.status().as_u16(), "export job cancelled"),
        Err(e) => tracing::warn!(job = %job_id, "could not cancel the export job: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kickoff_has_ans_parameters_and_region_filters() {
        let base = Url::parse("https://api-fhir.ror.esante.gouv.fr/ws-diffusion-fhir/").unwrap();
        let url = kickoff_url(&base, &["11".into()]);
        assert!(url.as_str().starts_with("https://api-fhir.ror.esante.gouv.fr/ws-diffusion-fhir/$export?_type=HealthcareService&_outputFormat=application%2Ffhir%2Bjson&includeAssociatedData=_myCompleteExtract&_typeFilter="), "{url}");
        let filter: Vec<_> = url.query_pairs().filter(|(k, _)| k == "_typeFilter").map(|(_, v)| v.into_owned()).collect();
        assert_eq!(filter, [format!("HealthcareService?_tag={REGION_TAG_SYSTEM}|11")]);
    }
}
