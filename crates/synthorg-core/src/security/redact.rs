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

/// The words of a field name, folded: split at every character that is not a letter or a
/// digit and where a lower-case letter or digit meets an upper-case one (`dbPassword`,
/// `X-Api-Key`, `aws_secret_access_key`), each lower-cased.
fn words(name: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            previous_lower = false;
            continue;
        }
        if c.is_uppercase() && previous_lower && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        previous_lower = c.is_lowercase() || c.is_numeric();
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// Words that make a field a password wherever they stand, unless the name ends in one of
/// [`NOT_THE_SECRET`] (`password_policy`, `password_hash`).
const PASSWORD_WORDS: &[&str] = &["password", "passwd", "passphrase", "passcode"];
/// Last words of a name that describe a secret rather than hold it.
const NOT_THE_SECRET: &[&str] = &[
    "hash",
    "hashed",
    "policy",
    "length",
    "min",
    "max",
    "expiry",
    "expires",
    "expired",
    "reset",
    "hint",
    "required",
    "changed",
    "updated",
    "set",
    "id",
    "name",
    "ref",
    "reference",
    "path",
    "file",
    "env",
    "type",
    "count",
    "version",
];
/// Words that make a field a secret when they end its name (`client_secret`,
/// `github_token`, `db_credentials`, `Authorization`).
const SECRET_LAST_WORDS: &[&str] = &[
    "secret",
    "secrets",
    "token",
    "credential",
    "credentials",
    "apikey",
    "privatekey",
    "authorization",
    "cookie",
    "bearer",
];
/// A name ending in `key` is a secret when the word before says what kind (`api_key`,
/// `x_api_key`, `aws_secret_access_key`, `private_key`, `signing_key`).
const KEY_KINDS: &[&str] = &["api", "access", "private", "secret", "signing", "encryption", "master", "client", "auth"];

/// Whether a field of this name holds a secret itself (SPEC §19): stricter than
/// [`is_secret_name`], which also hides fields that only concern one (`session_id`,
/// `max_tokens`) from logs. The credential detector refuses a value in such a field,
/// whatever its type.
pub(super) fn names_a_secret(name: &str) -> bool {
    let words = words(name);
    let Some(last) = words.last().map(String::as_str) else { return false };
    if NOT_THE_SECRET.contains(&last) {
        return false;
    }
    if words.iter().any(|w| PASSWORD_WORDS.contains(&w.as_str())) || SECRET_LAST_WORDS.contains(&last) {
        return true;
    }
    last == "key" && words.len() >= 2 && KEY_KINDS.contains(&words[words.len() - 2].as_str())
}

/// The first field, at any depth, whose name holds a secret ([`names_a_secret`]) and whose
/// value is one: anything but null, `false`/`true`, an empty string or [`REDACTED`].
pub(super) fn secret_field(value: &serde_json::Value) -> Option<&str> {
    use serde_json::Value;
    match value {
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            let holds = match item {
                Value::Null | Value::Bool(_) => false,
                Value::String(s) => !s.is_empty() && s != REDACTED,
                _ => true,
            };
            if holds && names_a_secret(key) { Some(key.as_str()) } else { secret_field(item) }
        }),
        Value::Array(items) => items.iter().find_map(secret_field),
        _ => None,
    }
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
    fn names_that_hold_a_secret() {
        for name in [
            "password",
            "db_password",
            "DB_PASSWORD",
            "dbPassword",
            "passwd",
            "new_password_confirmation",
            "aws_secret_access_key",
            "AWS_SECRET_ACCESS_KEY",
            "github_token",
            "GITHUB_TOKEN",
            "access_token",
            "refreshToken",
            "x_api_key",
            "X-Api-Key",
            "apiKey",
            "api_key",
            "apikey",
            "private_key",
            "privateKey",
            "client_secret",
            "secret",
            "credentials",
            "Authorization",
            "session_cookie",
            "signing_key",
            "passphrase",
        ] {
            assert!(names_a_secret(name), "{name}");
        }
        for name in [
            "max_tokens",
            "input_tokens",
            "token_count",
            "token_type",
            "session_id",
            "secret_name",
            "secret_ref",
            "password_policy",
            "password_hash",
            "credential_id",
            "key",
            "primary_key",
            "sort_key",
            "keyboard",
            "path",
            "tokenizer",
            "",
            "__",
        ] {
            assert!(!names_a_secret(name), "{name}");
        }
    }

    #[test]
    fn a_secret_field_is_found_whatever_its_value() {
        for args in [
            json!({"password": 123456}),
            json!({"password": {"value": "x"}}),
            json!({"db": {"db_password": "hunter2"}}),
            json!({"items": [{"github_token": "abc"}]}),
            json!({"x_api_key": ["k"]}),
            json!({"aws_secret_access_key": 1.5}),
        ] {
            assert!(secret_field(&args).is_some(), "{args}");
        }
        for args in [
            json!({"password": null}),
            json!({"password": ""}),
            json!({"password": REDACTED}),
            json!({"remember_password": true}),
            json!({"max_tokens": 100, "session_id": "abc", "path": "/tmp/x"}),
            json!(["password", "token"]),
        ] {
            assert_eq!(secret_field(&args), None, "{args}");
        }
    }

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
