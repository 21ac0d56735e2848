//! OAuth2 client credentials against the ROR's Keycloak: one token, cached, renewed a margin before
//! it expires and once more when the API answers 401 (a token revoked or expired early). The token
//! and the client secret are `Secret`s: they are sent in one header or form field and never logged.

use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use reqwest::Url;
use serde::Deserialize;

use super::{outcome, FhirSourceError};
use crate::config::Secret;

/// Keycloak's answer to a token request (only what we use).
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    /// Seconds; Keycloak always sends it. Without it, assume a short life rather than none.
    expires_in: Option<u64>,
    token_type: Option<String>,
}

/// When no `expires_in` comes with a token.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);

/// A cached access token and what is needed to get the next one.
pub struct TokenSource {
    token_url: Url,
    client_id: String,
    client_secret: Secret,
    margin: Duration,
    current: Option<(Secret, Instant)>,
    /// Tokens obtained during this run (for the log).
    pub issued: u32,
}

impl TokenSource {
    pub fn new(token_url: Url, client_id: String, client_secret: Secret, margin: Duration) -> TokenSource {
        TokenSource { token_url, client_id, client_secret, margin, current: None, issued: 0 }
    }

    /// A token valid for at least the margin: the cached one, or a new one.
    pub fn bearer(&mut self, http: &Client, timeout: Duration) -> Result<Secret, FhirSourceError> {
        if let Some((token, expires)) = &self.current {
            if Instant::now() + self.margin < *expires {
                return Ok(token.clone());
            }
            tracing::debug!("access token about to expire: renewing it");
        }
        let token = self.request(http, timeout)?;
        Ok(token)
    }

    /// The cached token, if any, without renewing it (for a last best-effort call).
    pub fn cached(&self) -> Option<Secret> {
        self.current.as_ref().map(|(t, _)| t.clone())
    }

    /// Forget the cached token (the API refused it): the next call asks for a new one.
    pub fn invalidate(&mut self) {
        self.current = None;
    }

    fn request(&mut self, http: &Client, timeout: Duration) -> Result<Secret, FhirSourceError> {
        let url = self.token_url.to_string();
        let form = [("grant_type", "client_credentials"), ("client_id", self.client_id.as_str()), ("client_secret", self.client_secret.expose())];
        let response = http.post(self.token_url.clone()).form(&form).timeout(timeout).send().map_err(|e| super::client::transport_error("token request", &url, &e))?;
        let status = response.status();
        let body = response.text().unwrap_or_default();
        if matches!(status.as_u16(), 400 | 401 | 403) {
            return Err(FhirSourceError::Credentials { url, status: status.as_u16(), detail: outcome::describe(&body) });
        }
        if !status.is_success() {
            // Keycloak down or throttling says nothing about the credentials.
            return Err(FhirSourceError::refused("token request", &url, status.as_u16(), outcome::describe(&body)));
        }
        let parsed: TokenResponse = serde_json::from_str(&body).map_err(|e| FhirSourceError::Credentials {
            url: url.clone(),
            status: status.as_u16(),
            detail: format!("the answer is not an OAuth2 token response ({e})"),
        })?;
        if let Some(kind) = &parsed.token_type {
            if !kind.eq_ignore_ascii_case("bearer") {
                return Err(FhirSourceError::Credentials { url, status: status.as_u16(), detail: format!("token_type {kind:?}, expected Bearer") });
            }
        }
        let lifetime = parsed.expires_in.map(Duration::from_secs).unwrap_or(DEFAULT_LIFETIME);
        let token = Secret::new(parsed.access_token);
        self.current = Some((token.clone(), Instant::now() + lifetime));
        self.issued += 1;
        tracing::debug!(lifetime_seconds = lifetime.as_secs(), issued = self.issued, "access token obtained");
        Ok(token)
    }
}
