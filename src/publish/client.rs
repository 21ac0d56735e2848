//! The HTTP transport to a udata API: the X-API-KEY header on every call, a timeout on every
//! exchange, and retries with exponential back-off and jitter for GET and PUT on 5xx, 423,
//! timeouts and connection errors, a bounded number of times. A POST is sent once: whoever calls
//! `post_*` re-reads the server's state before deciding to post again, because a POST whose answer
//! was lost may still have been applied (and a second one would create a duplicate).

use std::time::Duration;

use reqwest::blocking::{multipart, Client as HttpClient, Response};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::config::Secret;

use super::config::Target;

/// A failed exchange, described without the API key (it only travels in a header).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error status.
    #[error("{method} {path}: HTTP {status}: {message}")]
    Status { method: String, path: String, status: u16, message: String },
    /// No answer: connection refused or dropped, timeout.
    #[error("{method} {path}: no answer ({message})")]
    Transport { method: String, path: String, message: String },
    /// An answer that is not the JSON expected.
    #[error("{method} {path}: unreadable answer: {message}")]
    Decode { method: String, path: String, message: String },
}

impl ClientError {
    /// Whether trying again may succeed: 5xx, 423 (read-only for a while), 429, no answer.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Status { status, .. } => *status >= 500 || *status == 423 || *status == 429,
            ClientError::Transport { .. } => true,
            ClientError::Decode { .. } => false,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Back-off settings.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// The delay before retry number `retry` (1-based): base × 2^(retry−1), capped, then a random
    /// share of it ("full jitter"), so that many clients failing together do not retry together.
    pub fn delay(&self, retry: u32) -> Duration {
        let exponential = self.backoff.saturating_mul(1u32 << (retry - 1).min(16)).min(self.max_backoff);
        let jitter = (uuid::Uuid::new_v4().as_u128() % 1000) as u32;
        exponential / 2 + exponential / 2 * jitter / 1000
    }
}

/// A udata API client for one target.
pub struct Client {
    http: HttpClient,
    root: String,
    key: Secret,
    retry: RetryPolicy,
    /// Bytes of file content sent (parts included), for the run's report.
    pub bytes_sent: std::cell::Cell<u64>,
}

impl Client {
    pub fn new(target: &Target, timeout: Duration, retry: RetryPolicy) -> Result<Client, ClientError> {
        let http = HttpClient::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(30)))
            .user_agent(concat!("ror-opendata/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Transport { method: "-".into(), path: "-".into(), message: e.to_string() })?;
        Ok(Client { http, root: target.root.clone(), key: target.key.clone(), retry, bytes_sent: std::cell::Cell::new(0) })
    }

    pub fn root(&self) -> &str {
        &self.root
    }

    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    /// The link that always serves a resource's current file.
    pub fn latest_url(&self, resource_id: &str) -> String {
        format!("{}/api/1/datasets/r/{resource_id}", self.root)
    }

    /// GET, retried. `path` starts with /api/.
    pub fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.retried(Method::GET, path, None)
    }

    /// PUT a JSON body, retried (a PUT of the full state is idempotent).
    pub fn put(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.retried(Method::PUT, path, Some(body))
    }

    /// DELETE, retried (deleting twice answers 404, which the caller may accept).
    pub fn delete(&self, path: &str) -> Result<(), ClientError> {
        self.retried(Method::DELETE, path, None).map(|_| ())
    }

    /// POST a JSON body once.
    pub fn post_json(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        let response = self.request(Method::POST, path).json(body).send();
        self.answer("POST", path, response)
    }

    /// POST a multipart form once; `file_bytes` counts towards `bytes_sent` when the server took it.
    pub fn post_form(&self, path: &str, form: multipart::Form, file_bytes: u64) -> Result<Value, ClientError> {
        tracing::debug!(path, file_bytes, "POST (multipart)");
        let response = self.request(Method::POST, path).multipart(form).send();
        let answer = self.answer("POST", path, response);
        if answer.is_ok() {
            self.bytes_sent.set(self.bytes_sent.get() + file_bytes);
        }
        answer
    }

    fn request(&self, method: Method, path: &str) -> reqwest::blocking::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.root)).header("X-API-KEY", self.key.expose()).header("Accept", "application/json")
    }

    fn retried(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, ClientError> {
        let mut attempt = 1;
        loop {
            tracing::debug!(method = %method, path, attempt, "request");
            let mut request = self.request(method.clone(), path);
            if let Some(b) = body {
                request = request.json(b);
            }
            match self.answer(method.as_str(), path, request.send()) {
                Err(e) if e.is_transient() && attempt < self.retry.attempts => {
                    let delay = self.retry.delay(attempt);
                    tracing::warn!(method = %method, path, attempt, delay_ms = delay.as_millis() as u64, "{e}; retrying");
                    std::thread::sleep(delay);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    fn answer(&self, method: &str, path: &str, response: reqwest::Result<Response>) -> Result<Value, ClientError> {
        let transport = |e: reqwest::Error| ClientError::Transport { method: method.into(), path: path.into(), message: describe(&e) };
        let response = response.map_err(transport)?;
        let status = response.status();
        let text = response.text().map_err(transport)?;
        if !status.is_success() {
            return Err(ClientError::Status { method: method.into(), path: path.into(), status: status.as_u16(), message: error_message(status, &text) });
        }
        if text.trim().is_empty() || status == StatusCode::NO_CONTENT {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| ClientError::Decode { method: method.into(), path: path.into(), message: format!("{e} in {:?}", text.chars().take(200).collect::<String>()) })
    }
}

/// reqwest's error without the URL's query (there is no secret in URLs, but keep it short).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_request() {
        "connection lost"
    } else {
        "transport error"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {detail}")
    }
}

/// udata's error bodies: {"message": …} from aborts, {"errors": {field: [msgs]}} from forms.
fn error_message(status: StatusCode, text: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    let mut parts = Vec::new();
    if let Some(v) = &parsed {
        if let Some(m) = v.get("message").and_then(Value::as_str) {
            parts.push(m.to_owned());
        }
        if let Some(errors) = v.get("errors").and_then(Value::as_object) {
            for (field, messages) in errors {
                let list = match messages {
                    Value::Array(a) => a.iter().map(|m| m.as_str().map(str::to_owned).unwrap_or_else(|| m.to_string())).collect::<Vec<_>>().join("; "),
                    other => other.to_string(),
                };
                parts.push(format!("{field}: {list}"));
            }
        }
    }
    if parts.is_empty() {
        let snippet: String = text.chars().take(200).collect();
        parts.push(if snippet.trim().is_empty() { status.canonical_reason().unwrap_or("error").to_owned() } else { snippet });
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_bounded() {
        let p = RetryPolicy { attempts: 5, backoff: Duration::from_millis(100), max_backoff: Duration::from_millis(300) };
        for _ in 0..50 {
            let d1 = p.delay(1);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100), "{d1:?}");
            let d5 = p.delay(5);
            assert!(d5 >= Duration::from_millis(150) && d5 <= Duration::from_millis(300), "{d5:?}");
        }
    }

    #[test]
    fn udata_error_bodies_are_read() {
        assert_eq!(error_message(StatusCode::UNAUTHORIZED, r#"{"message": "Invalid API token"}"#), "Invalid API token");
        assert_eq!(error_message(StatusCode::BAD_REQUEST, r#"{"errors": {"organization": ["Permission denied for this organization"]}}"#), "organization: Permission denied for this organization");
        assert_eq!(error_message(StatusCode::BAD_GATEWAY, ""), "Bad Gateway");
    }

    #[test]
    fn transient_failures_are_the_retryable_ones() {
        let status = |s| ClientError::Status { method: "GET".into(), path: "/".into(), status: s, message: String::new() };
        assert!(status(500).is_transient() && status(503).is_transient() && status(423).is_transient());
        assert!(!status(400).is_transient() && !status(401).is_transient() && !status(404).is_transient());
    }
}
