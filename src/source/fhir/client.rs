//! The transport to the ROR FHIR API: every request carries the token and the four Ror-* headers,
//! is bounded by the snapshot's deadline, and is retried when the gateway says to come back (429,
//! 502, 503, 504 with their Retry-After), when a connection breaks, or when a body arrives cut or
//! unreadable. A 401 renews the token once. Everything else is returned to the caller to judge.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use reqwest::{Method, StatusCode, Url};

use super::config::FhirSettings;
use super::token::TokenSource;
use super::{outcome, FhirSourceError};
use crate::sha256::Sha256;

/// The longest wait between two attempts when the server names none.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A body saved to disk: its bytes and their sha256, as received.
#[derive(Debug, Clone)]
pub struct Saved {
    pub bytes: u64,
    pub sha256: String,
}

/// A session with the API for one snapshot.
pub struct Api {
    http: Client,
    pub settings: FhirSettings,
    tokens: TokenSource,
    started: Instant,
    /// Every URL requested, in order (no secret is ever in a URL).
    pub requests: Vec<String>,
}

/// Why one attempt failed and whether another may succeed.
enum Attempt {
    Retry { reason: String, wait: Option<Duration> },
    Fail(FhirSourceError),
}

impl Api {
    pub fn new(settings: FhirSettings) -> Result<Api, FhirSourceError> {
        let http = Client::builder()
            .user_agent(concat!("ror-opendata/", env!("CARGO_PKG_VERSION")))
            // Redirects would carry the bearer token to wherever they point: follow none.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| FhirSourceError::Config { message: format!("cannot set up the HTTP client: {e}") })?;
        let tokens = TokenSource::new(settings.token_url.clone(), settings.client_id.clone(), settings.client_secret.clone(), settings.token_refresh_margin);
        Ok(Api { http, settings, tokens, started: Instant::now(), requests: Vec::new() })
    }

    /// The time left before the deadline, or the deadline error naming what was going on.
    pub fn remaining(&self, what: &str) -> Result<Duration, FhirSourceError> {
        let spent = self.started.elapsed();
        if spent >= self.settings.deadline {
            return Err(FhirSourceError::Deadline { seconds: self.settings.deadline.as_secs(), what: what.to_owned() });
        }
        Ok(self.settings.deadline - spent)
    }

    /// The token in use, if any, without renewing it.
    pub fn current_token(&self) -> Option<crate::config::Secret> {
        self.tokens.cached()
    }

    /// Sleep `wait`, unless that would pass the deadline.
    pub fn pause(&self, wait: Duration, what: &str) -> Result<(), FhirSourceError> {
        let left = self.remaining(what)?;
        if wait >= left {
            return Err(FhirSourceError::Deadline { seconds: self.settings.deadline.as_secs(), what: what.to_owned() });
        }
        std::thread::sleep(wait);
        Ok(())
    }

    /// Send a request with the token and the Ror-* headers. Retryable answers and broken
    /// connections are retried here; any other status is the caller's to judge.
    pub fn send(&mut self, method: Method, url: &Url, what: &str, extra_headers: &[(&str, &str)], with_token: bool) -> Result<Response, FhirSourceError> {
        self.requests.push(format!("{method} {url}"));
        tracing::debug!(%method, %url, "{what}");
        let mut renewed = false;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let left = self.remaining(what)?;
            let timeout = left.min(self.settings.request_timeout);
            let mut request = self.http.request(method.clone(), url.clone()).timeout(timeout).header("Accept", "application/fhir+json");
            for (name, value) in &self.settings.ror_headers {
                request = request.header(*name, value.as_str());
            }
            for (name, value) in extra_headers {
                request = request.header(*name, *value);
            }
            if with_token {
                let token = self.tokens.bearer(&self.http, timeout)?;
                request = request.bearer_auth(token.expose());
            }
            let outcome = match request.send() {
                Err(e) if e.is_timeout() && self.remaining(what).is_err() => Attempt::Fail(FhirSourceError::Deadline { seconds: self.settings.deadline.as_secs(), what: what.to_owned() }),
                Err(e) if e.is_builder() => Attempt::Fail(transport_error(what, url.as_str(), &e)),
                Err(e) => Attempt::Retry { reason: describe_reqwest(&e), wait: None },
                Ok(response) => match response.status() {
                    StatusCode::UNAUTHORIZED if with_token && !renewed => {
                        tracing::info!("the API refused the access token (401): renewing it once");
                        self.tokens.invalidate();
                        renewed = true;
                        attempt -= 1;
                        continue;
                    }
                    StatusCode::UNAUTHORIZED => {
                        let detail = outcome::describe(&response.text().unwrap_or_default());
                        Attempt::Fail(FhirSourceError::Unauthorized { url: url.to_string(), detail })
                    }
                    s @ (StatusCode::TOO_MANY_REQUESTS | StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT) => {
                        let wait = retry_after(&response);
                        let detail = outcome::describe(&response.text().unwrap_or_default());
                        Attempt::Retry { reason: format!("{s}: {detail}"), wait }
                    }
                    _ => return Ok(response),
                },
            };
            match outcome {
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry { reason, wait } => self.before_retry(attempt, &reason, wait, what, url)?,
            }
        }
    }

    /// Log, check the attempts left, and wait before the next attempt.
    fn before_retry(&self, attempt: u32, reason: &str, wait: Option<Duration>, what: &str, url: &Url) -> Result<(), FhirSourceError> {
        if attempt > self.settings.max_retries {
            return Err(FhirSourceError::Unavailable { what: what.to_owned(), url: url.to_string(), attempts: attempt, detail: reason.to_owned() });
        }
        let wait = wait.unwrap_or_else(|| backoff(attempt));
        tracing::warn!(attempt, wait_seconds = wait.as_secs_f64(), %url, "{what}: {reason}; retrying");
        self.pause(wait, what)
    }

    /// GET a body to a file, streamed, hashing it as it arrives; then `validate` the file. A body
    /// cut short, or one `validate` rejects (a truncated JSON), is downloaded again.
    pub fn download(&mut self, url: &Url, what: &str, dest: &Path, with_token: bool, validate: &dyn Fn(&Path) -> Result<(), FhirSourceError>) -> Result<Saved, FhirSourceError> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let response = self.send(Method::GET, url, what, &[], with_token)?;
            let status = response.status();
            if status != StatusCode::OK {
                let detail = outcome::describe(&response.text().unwrap_or_default());
                return Err(FhirSourceError::refused(what, url.as_str(), status.as_u16(), detail));
            }
            let reason = match save(response, dest) {
                Ok(saved) => match validate(dest) {
                    Ok(()) => return Ok(saved),
                    Err(e) if attempt > self.settings.max_retries => return Err(e),
                    Err(e) => format!("the body is not usable: {e}"),
                },
                Err(e) if attempt > self.settings.max_retries => {
                    return Err(FhirSourceError::Download { url: url.to_string(), message: format!("{e} (after {attempt} attempts)") });
                }
                Err(e) => e,
            };
            self.before_retry(attempt, &reason, None, what, url)?;
        }
    }
}

/// Stream a response body into `dest`; an error says what broke (a cut connection, a full disk).
fn save(mut response: Response, dest: &Path) -> Result<Saved, String> {
    let expected = response.content_length();
    let file = File::create(dest).map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
    let mut out = BufWriter::new(file);
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = match response.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => return Err(format!("the download broke after {total} bytes: {}", chain(&e))),
        };
        hasher.update(&buffer[..n]);
        out.write_all(&buffer[..n]).map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
        total += n as u64;
    }
    out.flush().map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
    if let Some(expected) = expected {
        if total != expected {
            return Err(format!("the download stopped at {total} of {expected} bytes"));
        }
    }
    Ok(Saved { bytes: total, sha256: hasher.finish_hex() })
}

/// The server's Retry-After: seconds, or an HTTP date.
pub fn retry_after(response: &Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, chrono::Utc::now())
}

fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.with_timezone(&chrono::Utc) - now).to_std().unwrap_or(Duration::ZERO))
}

/// 1 s, 2 s, 4 s … capped: for failures that name no wait.
fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.saturating_sub(1).min(5)).min(MAX_BACKOFF)
}

/// A reqwest error with its causes, in one line (reqwest's Display hides the cause).
fn describe_reqwest(e: &reqwest::Error) -> String {
    chain(e)
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

/// A request that could not be made or answered at all.
pub fn transport_error(what: &str, url: &str, e: &reqwest::Error) -> FhirSourceError {
    FhirSourceError::Unreachable { what: what.to_owned(), url: url.to_owned(), message: describe_reqwest(e) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-26T10:00:00Z").unwrap().with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Thu, 26 Nov 2026 10:00:07 GMT", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Thu, 26 Nov 2026 09:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn backoff_doubles_then_caps() {
        assert_eq!([1, 2, 3].map(|a| backoff(a).as_secs()), [1, 2, 4]);
        assert_eq!(backoff(30), MAX_BACKOFF);
    }
}
