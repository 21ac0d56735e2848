//! The `[source.fhir]` section of ror-opendata.toml, and its resolution into the settings a run
//! uses. Endpoints and the client id may come from the file or the environment (ROR_FHIR_URL,
//! ROR_TOKEN_URL, ROR_CLIENT_ID, which win over the file); the client secret only from the
//! environment (ROR_CLIENT_SECRET) or a `client_secret_file`, never from the file itself.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;
use serde::{Deserialize, Serialize};

use super::FhirSourceError;
use crate::config::Secret;

/// The four headers the ROR requires on every call, with the values of Profil 0 (public data).
pub const DEFAULT_PROFILE_CODE: &str = "CU23";
pub const DEFAULT_PROFILE_SYSTEM: &str = "1.2.250.1.213.1.6.1.66";
pub const DEFAULT_ROLE_CODE: &str = "AUTOMATE";
pub const DEFAULT_ROLE_SYSTEM: &str = "1.2.250.1.213.1.1.4.6";
/// The system of the region tag every ROR resource carries in `meta.tag`.
pub const REGION_TAG_SYSTEM: &str = "https://mos.esante.gouv.fr/NOS/TRE_R30-RegionOM/FHIR/TRE-R30-RegionOM";

/// How a full snapshot is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// ANS's bulk `$export` (what ANS asks consumers to use for a full extraction).
    #[default]
    Export,
    /// The paged HealthcareService search with its includes (ANS caps it at 10,000 offers).
    Search,
}

/// `[source.fhir]`: every key optional.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FhirConfig {
    /// The FHIR base, e.g. https://api-fhir.ror.esante.gouv.fr/ws-diffusion-fhir (ROR_FHIR_URL wins).
    pub base_url: Option<String>,
    /// The OAuth2 token endpoint (ROR_TOKEN_URL wins).
    pub token_url: Option<String>,
    /// The OAuth2 client id given by ANS (ROR_CLIENT_ID wins).
    pub client_id: Option<String>,
    /// A file holding the client secret; ROR_CLIENT_SECRET wins. Never the secret itself.
    pub client_secret_file: Option<PathBuf>,
    pub profile_code: String,
    pub profile_system: String,
    pub role_code: String,
    pub role_system: String,
    pub method: Method,
    /// Entries per search page (the ROR serves at most 200).
    pub page_size: u32,
    /// Region codes (TRE_R30, e.g. "11" for Île-de-France) to restrict the snapshot to; all when empty.
    pub regions: Vec<String>,
    /// The whole snapshot (token, export job, downloads, pages) must finish within this time.
    pub deadline_seconds: u64,
    /// One HTTP request may take at most this long (and never past the deadline).
    pub request_timeout_seconds: u64,
    /// Retries of one request after 429, 502, 503, 504, a broken connection or a truncated body.
    pub max_retries: u32,
    /// Wait between polls of an export job when the server gives no Retry-After.
    pub poll_interval_seconds: u64,
    /// Renew the token this long before it expires, so no request starts with a dying token.
    pub token_refresh_margin_seconds: u64,
    /// Where `snapshot` stores snapshots (default: <out>/snapshots).
    pub snapshots_dir: Option<PathBuf>,
}

impl Default for FhirConfig {
    fn default() -> Self {
        FhirConfig {
            base_url: None,
            token_url: None,
            client_id: None,
            client_secret_file: None,
            profile_code: DEFAULT_PROFILE_CODE.into(),
            profile_system: DEFAULT_PROFILE_SYSTEM.into(),
            role_code: DEFAULT_ROLE_CODE.into(),
            role_system: DEFAULT_ROLE_SYSTEM.into(),
            method: Method::Export,
            page_size: 200,
            regions: Vec::new(),
            deadline_seconds: 4 * 3600,
            request_timeout_seconds: 600,
            max_retries: 5,
            poll_interval_seconds: 10,
            token_refresh_margin_seconds: 60,
            snapshots_dir: None,
        }
    }
}

/// Everything a snapshot run needs, checked: URLs parsed, credentials present.
#[derive(Debug, Clone)]
pub struct FhirSettings {
    pub base_url: Url,
    pub token_url: Url,
    pub client_id: String,
    pub client_secret: Secret,
    /// The four Ror-* headers, name and value.
    pub ror_headers: Vec<(&'static str, String)>,
    pub method: Method,
    pub page_size: u32,
    pub regions: Vec<String>,
    pub deadline: Duration,
    pub request_timeout: Duration,
    pub max_retries: u32,
    pub poll_interval: Duration,
    pub token_refresh_margin: Duration,
}

impl FhirConfig {
    /// Resolve the settings: `base_override` (the command line's --source) first, then the
    /// environment, then the file. Every missing piece is named with where to give it.
    pub fn resolve(&self, base_override: Option<&str>) -> Result<FhirSettings, FhirSourceError> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty()).map(|v| v.trim().to_owned());
        let base = base_override.map(str::to_owned).or_else(|| env("ROR_FHIR_URL")).or_else(|| self.base_url.clone());
        let base = base.ok_or_else(|| config_error("no FHIR base URL: give --source https://…, set ROR_FHIR_URL or [source.fhir] base_url"))?;
        let token = env("ROR_TOKEN_URL").or_else(|| self.token_url.clone());
        let token = token.ok_or_else(|| config_error("no token URL: set ROR_TOKEN_URL or [source.fhir] token_url (…/auth/realms/ror/protocol/openid-connect/token)"))?;
        let client_id = env("ROR_CLIENT_ID").or_else(|| self.client_id.clone());
        let client_id = client_id.ok_or_else(|| config_error("no OAuth2 client id: set ROR_CLIENT_ID or [source.fhir] client_id"))?;
        let client_secret = match (Secret::from_env("ROR_CLIENT_SECRET"), &self.client_secret_file) {
            (Some(s), _) => s,
            (None, Some(path)) => Secret::from_file(path).map_err(|e| config_error(&format!("client_secret_file: {e}")))?,
            (None, None) => return Err(config_error("no OAuth2 client secret: set ROR_CLIENT_SECRET or [source.fhir] client_secret_file")),
        };
        if self.page_size == 0 || self.page_size > 200 {
            return Err(config_error(&format!("page_size = {}: the ROR serves 1 to 200 entries per page", self.page_size)));
        }
        if self.deadline_seconds == 0 || self.request_timeout_seconds == 0 {
            return Err(config_error("deadline_seconds and request_timeout_seconds must be positive"));
        }
        for (name, value) in [("profile_code", &self.profile_code), ("profile_system", &self.profile_system), ("role_code", &self.role_code), ("role_system", &self.role_system)] {
            if value.trim().is_empty() {
                return Err(config_error(&format!("{name} is empty: the ROR refuses calls without its four Ror-* headers")));
            }
        }
        Ok(FhirSettings {
            base_url: parse_url("base URL", &base, true)?,
            token_url: parse_url("token URL", &token, false)?,
            client_id,
            client_secret,
            ror_headers: vec![
                ("Ror-Profil-Utilisateur-Code", self.profile_code.clone()),
                ("Ror-Profil-Utilisateur-System", self.profile_system.clone()),
                ("Ror-Role-Metier-Code", self.role_code.clone()),
                ("Ror-Role-Metier-System", self.role_system.clone()),
            ],
            method: self.method,
            page_size: self.page_size,
            regions: self.regions.clone(),
            deadline: Duration::from_secs(self.deadline_seconds),
            request_timeout: Duration::from_secs(self.request_timeout_seconds),
            max_retries: self.max_retries,
            poll_interval: Duration::from_secs(self.poll_interval_seconds),
            token_refresh_margin: Duration::from_secs(self.token_refresh_margin_seconds),
        })
    }
}

fn config_error(message: &str) -> FhirSourceError {
    FhirSourceError::Config { message: message.to_owned() }
}

/// Parse an http(s) URL. Credentials inside a URL would end up in provenance and logs: refused.
/// A base URL gets a trailing slash so that joining "HealthcareService" keeps its path.
fn parse_url(what: &str, text: &str, base: bool) -> Result<Url, FhirSourceError> {
    let mut url = Url::parse(text.trim()).map_err(|e| config_error(&format!("{what} {text:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(config_error(&format!("{what} {text:?}: expected an http or https URL")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(config_error(&format!("{what}: credentials inside the URL are refused (they would be logged); use ROR_CLIENT_ID and ROR_CLIENT_SECRET")));
    }
    if base && !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_based() {
        let u = parse_url("base URL", "https://api-fhir.ror.esante.gouv.fr/ws-diffusion-fhir", true).unwrap();
        assert_eq!(u.join("HealthcareService").unwrap().as_str(), "https://api-fhir.ror.esante.gouv.fr/ws-diffusion-fhir/HealthcareService");
        let e = parse_url("base URL", "https://me:pw@example.org/fhir", true).unwrap_err().to_string();
        assert!(e.contains("credentials inside the URL") && !e.contains("pw"), "{e}");
        assert!(parse_url("token URL", "ftp://x", false).is_err());
    }

    #[test]
    fn defaults_are_profil_0_and_toml_keys_are_checked() {
        let c: FhirConfig = toml::from_str("base_url = \"http://127.0.0.1:1/fhir\"\nmethod = \"search\"\n").unwrap();
        assert_eq!((c.profile_code.as_str(), c.page_size, c.method), ("CU23", 200, Method::Search));
        assert!(toml::from_str::<FhirConfig>("client_secret = \"x\"\n").unwrap_err().to_string().contains("unknown field"));
    }
}
