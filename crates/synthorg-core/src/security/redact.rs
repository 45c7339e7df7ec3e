//! Redaction of secret-named fields, shared by stored arguments and every log sink.

/// The replacement for a redacted value.
pub const REDACTED: &str = "**REDACTED**";

/// Fragments of field names whose values are secrets (case-insensitive).
const SECRET_NAME_PARTS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "api-key",
    "authorization",
    "credential",
    "private_key",
    "privatekey",
    "bearer",
    "session",
    "cookie",
];

/// Is a field with this name a secret?
pub fn is_secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_NAME_PARTS.iter().any(|part| lower.contains(part))
}

/// Replaces the values of secret-named fields at any depth.
pub fn redact_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                if is_secret_name(key) {
                    *item = serde_json::Value::String(REDACTED.to_owned());
                } else {
                    redact_json(item);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_json),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn redacts_at_any_depth() {
        let mut v = json!({"user": "bob", "Password": "x", "nested": [{"API_KEY": "k", "deep": {"session_id": 3}}]});
        redact_json(&mut v);
        assert_eq!(
            v,
            json!({"user": "bob", "Password": REDACTED, "nested": [{"API_KEY": REDACTED, "deep": {"session_id": REDACTED}}]})
        );
    }
}
