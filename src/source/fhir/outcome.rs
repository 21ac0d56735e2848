//! What a FHIR server or Keycloak said when it refused a request, in one line an operator can act
//! on: the issues of an OperationOutcome (severity, code, diagnostics), an OAuth2 error, or the
//! start of whatever else the body holds.

use serde_json::Value;

/// At most this much of an unrecognised body goes into an error message.
const MAX_BODY: usize = 300;

/// Describe an error body.
pub fn describe(body: &str) -> String {
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return "empty body".into();
    }
    match serde_json::from_str::<Value>(trimmed) {
        Ok(v) if v["resourceType"] == "OperationOutcome" => {
            let issues: Vec<String> = v["issue"]
                .as_array()
                .map(|issues| issues.iter().map(issue).collect())
                .unwrap_or_default();
            if issues.is_empty() {
                "OperationOutcome without issues".into()
            } else {
                format!("OperationOutcome: {}", issues.join("; "))
            }
        }
        Ok(v) if v["error"].is_string() => {
            let description = v["error_description"].as_str().map(|d| format!(": {d}")).unwrap_or_default();
            format!("OAuth2 error {}{description}", v["error"].as_str().unwrap_or_default())
        }
        _ => {
            let cut: String = trimmed.chars().take(MAX_BODY).collect();
            if cut.len() < trimmed.len() {
                format!("{cut}…")
            } else {
                cut
            }
        }
    }
}

fn issue(issue: &Value) -> String {
    let severity = issue["severity"].as_str().unwrap_or("error");
    let code = issue["code"].as_str().unwrap_or("unknown");
    let text = issue["diagnostics"].as_str().or_else(|| issue["details"]["text"].as_str()).unwrap_or("(no diagnostics)");
    format!("{severity} {code}: {text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_operation_outcomes_oauth_errors_and_text() {
        let oo = r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"forbidden","diagnostics":"Header Ror-Profil-Utilisateur-Code absent"}]}"#;
        assert_eq!(describe(oo), "OperationOutcome: error forbidden: Header Ror-Profil-Utilisateur-Code absent");
        assert_eq!(describe(r#"{"error":"invalid_client","error_description":"Invalid client credentials"}"#), "OAuth2 error invalid_client: Invalid client credentials");
        assert_eq!(describe(""), "empty body");
        assert!(describe(&"x".repeat(1000)).ends_with('…'));
    }
}
