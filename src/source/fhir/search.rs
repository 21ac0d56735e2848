//! The paged HealthcareService search, with the includes ANS documents for a complete offer
//! (organisation and its parents, place, roles and practitioners): `_count` entries per page,
//! `next` links followed to the end, the matches counted against the announced `total` (the ROR
//! truncates a search at 10,000 offers: the count check catches it). With `since`, only offers
//! updated since then (`_lastUpdated=ge…`): the delta merged onto the last full snapshot.

use std::collections::HashSet;

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Url;
use serde::Deserialize;

use super::client::Api;
use super::config::REGION_TAG_SYSTEM;
use super::store::{check_download, CheckRecord, OnDuplicate, SnapshotWriter};
use super::FhirSourceError;

/// ANS's includes for "the offers and every linked resource".
const INCLUDES: &[(&str, &str)] = &[
    ("_include", "HealthcareService:organization"),
    ("_include:iterate", "Organization:partof"),
    ("_include", "HealthcareService:location"),
    ("_revinclude", "PractitionerRole:service"),
    ("_include", "PractitionerRole:practitioner"),
];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    resource_type: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    total: Option<u64>,
    meta: Option<PageMeta>,
    #[serde(default)]
    link: Vec<Link>,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageMeta {
    last_updated: Option<String>,
}

#[derive(Deserialize)]
struct Link {
    relation: String,
    url: String,
}

#[derive(Deserialize)]
struct Entry {
    search: Option<EntrySearch>,
    resource: Option<EntryResource>,
}

#[derive(Deserialize)]
struct EntrySearch {
    mode: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntryResource {
    resource_type: Option<String>,
}

/// What a search produced.
pub struct Searched {
    /// The first page's `meta.lastUpdated`: the instant the server ran the search.
    pub server_time: Option<DateTime<Utc>>,
    pub pages: usize,
    pub checks: Vec<CheckRecord>,
}

/// The first page's URL.
pub fn search_url(base: &Url, page_size: u32, regions: &[String], since: Option<DateTime<Utc>>) -> Url {
    let mut url = base.join("HealthcareService").expect("a relative path joins any http(s) base");
    {
        let mut query = url.query_pairs_mut();
        if let Some(since) = since {
            query.append_pair("_lastUpdated", &format!("ge{}", since.to_rfc3339_opts(SecondsFormat::Secs, true)));
        }
        if !regions.is_empty() {
            let tags: Vec<String> = regions.iter().map(|r| format!("{REGION_TAG_SYSTEM}|{r}")).collect();
            query.append_pair("_tag", &tags.join(","));
        }
        for (name, value) in INCLUDES {
            query.append_pair(name, value);
        }
        query.append_pair("_count", &page_size.to_string());
    }
    url
}

/// Fetch every page and store its resources under `<prefix>/page-NNNN.json.gz`.
pub fn run(api: &mut Api, writer: &mut SnapshotWriter, since: Option<DateTime<Utc>>, prefix: &str) -> Result<Searched, FhirSourceError> {
    let first = search_url(&api.settings.base_url, api.settings.page_size, &api.settings.regions, since);
    let mut next = Some(first);
    let mut seen_urls = HashSet::new();
    let (mut matches, mut total, mut server_time, mut pages) = (0u64, None, None, 0usize);
    while let Some(url) = next.take() {
        pages += 1;
        if !seen_urls.insert(url.to_string()) {
            return Err(page_error(&url, format!("page {pages}: the next link points back to a page already read (a loop)")));
        }
        let label = url.to_string();
        let dest = writer.download_path(&format!("page-{pages:04}.json"));
        let what = format!("search page {pages}");
        let saved = api.download(&url, &what, &dest, true, &|p| check_download(p, &label))?;
        let text = std::fs::read_to_string(&dest).map_err(|e| page_error(&url, format!("cannot read it back: {e}")))?;
        let page: Page = serde_json::from_str(text.trim_start_matches('\u{feff}')).map_err(|e| page_error(&url, format!("not a search Bundle: {e}")))?;
        if page.resource_type != "Bundle" || page.kind.as_deref().is_some_and(|k| k != "searchset") {
            return Err(page_error(&url, format!("expected a searchset Bundle, got {} {}", page.resource_type, page.kind.as_deref().unwrap_or(""))));
        }
        if pages == 1 {
            total = page.total;
            server_time = page.meta.as_ref().and_then(|m| m.last_updated.as_deref()).and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc));
        }
        matches += page
            .entry
            .iter()
            .filter(|e| match e.search.as_ref().and_then(|s| s.mode.as_deref()) {
                Some(mode) => mode == "match",
                None => e.resource.as_ref().and_then(|r| r.resource_type.as_deref()) == Some("HealthcareService"),
            })
            .count() as u64;
        let stored_name = format!("{prefix}/page-{pages:04}.json.gz");
        writer.record_download(&label, saved.bytes, &saved.sha256, &stored_name);
        writer.add_file(&stored_name, &dest, &label, OnDuplicate::KeepFirst)?;
        std::fs::remove_file(&dest).ok();
        tracing::info!(page = pages, matches, total = ?total, "search page stored");
        if let Some(link) = page.link.iter().find(|l| l.relation == "next") {
            let target = url.join(&link.url).map_err(|e| page_error(&url, format!("next link {:?} is not a URL: {e}", link.url)))?;
            // The token goes with every page: never to another server than the one configured.
            let base = &api.settings.base_url;
            if target.origin() != base.origin() {
                return Err(page_error(&url, format!("the next link {target} leaves {}; refusing to send the token there", base.origin().ascii_serialization())));
            }
            next = Some(target);
        }
    }
    let mut checks = Vec::new();
    match total {
        Some(t) if t != matches => {
            return Err(FhirSourceError::Check {
                check: "counts against total".into(),
                message: format!("the search announced {t} offers and its {pages} page(s) held {matches} (the ROR truncates searches at 10,000: use the $export method for a full snapshot)"),
            });
        }
        Some(t) => checks.push(CheckRecord { name: "counts against total".into(), passed: true, detail: format!("{t} offers announced, {matches} received in {pages} page(s)") }),
        None => checks.push(CheckRecord { name: "counts against total".into(), passed: true, detail: format!("the server announced no total; {matches} offers received in {pages} page(s)") }),
    }
    Ok(Searched { server_time, pages, checks })
}

fn page_error(url: &Url, message: String) -> FhirSourceError {
    FhirSourceError::Page { url: url.to_string(), message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_url_has_ans_includes_count_delta_and_regions() {
        let base = Url::parse("https://h/ws-diffusion-fhir/").unwrap();
        let since = DateTime::parse_from_rfc3339("2026-11-25T02:00:00Z").unwrap().with_timezone(&Utc);
        let url = search_url(&base, 200, &["11".into(), "53".into()], Some(since));
        let pairs: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        assert_eq!(pairs[0], ("_lastUpdated".into(), "ge2026-11-25T02:00:00Z".into()));
        assert_eq!(pairs[1].1, format!("{REGION_TAG_SYSTEM}|11,{REGION_TAG_SYSTEM}|53"));
        assert!(pairs.contains(&("_revinclude".into(), "PractitionerRole:service".into())));
        assert_eq!(pairs.last().unwrap(), &("_count".into(), "200".into()));
        assert!(url.path().ends_with("/ws-diffusion-fhir/HealthcareService"));
    }
}
