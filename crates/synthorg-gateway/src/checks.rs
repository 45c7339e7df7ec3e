//! The checks the `gateway` section's upstreams share — model providers and MCP servers
//! alike: names, durations, secrets read from the environment, extra headers and private
//! ranges, each problem named by its path.

use std::collections::BTreeMap;
use std::time::Duration;

use ipnet::IpNet;
use synthorg_core::FieldError;
use synthorg_telemetry::otlp::endpoint::{EndpointPolicy, check_header};

use crate::provider::Secret;

/// The value of environment variable `var`, a secret; unset or empty is an error at `field`.
pub(crate) fn read_secret(
    env: &dyn Fn(&str) -> Option<String>,
    field: String,
    var: &str,
    errors: &mut Vec<FieldError>,
) -> Option<Secret> {
    match env(var) {
        Some(value) if !value.is_empty() => Some(Secret::new(value)),
        _ => {
            errors.push(FieldError::new(field, format!("the environment variable {var} is not set")));
            None
        }
    }
}

/// The endpoint policy of an upstream that may reach `cidrs` (checked at `field`).
pub(crate) fn private_policy(cidrs: &[String], field: &str, errors: &mut Vec<FieldError>) -> EndpointPolicy {
    let mut allowed: Vec<IpNet> = Vec::new();
    for (i, cidr) in cidrs.iter().enumerate() {
        match cidr.parse() {
            Ok(net) => allowed.push(net),
            Err(_) => errors.push(FieldError::new(format!("{field}[{i}]"), format!("not a CIDR range: {cidr:?}"))),
        }
    }
    EndpointPolicy { allowed_private_cidrs: allowed, require_tls_for_headers: false }
}

/// Extra upstream headers, each read from its environment variable and checked like an OTLP
/// header; `own` are the headers the gateway sets itself (refused with `why`).
pub(crate) fn checked_headers(
    headers_env: &BTreeMap<String, String>,
    field: &str,
    own: &[&str],
    why: &str,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<FieldError>,
) -> Vec<(String, Secret)> {
    let mut headers = Vec::new();
    for (header, var) in headers_env {
        let field = format!("{field}.{header}");
        if own.iter().any(|h| header.eq_ignore_ascii_case(h)) {
            errors.push(FieldError::new(field, why));
            continue;
        }
        if let Some(value) = read_secret(env, field.clone(), var, errors) {
            match check_header(header, value.expose()) {
                // The check's message never quotes a value.
                Err(e) => errors.push(FieldError::new(field, e.to_string())),
                Ok(()) => headers.push((header.to_ascii_lowercase(), value)),
            }
        }
    }
    headers
}

/// `text` as a duration; else an error at `field`, and `fallback`.
pub(crate) fn duration_or(field: &str, text: &str, fallback: Duration, errors: &mut Vec<FieldError>) -> Duration {
    parse_duration(text).unwrap_or_else(|| {
        errors.push(FieldError::new(field, format!("not a duration: {text:?}")));
        fallback
    })
}

/// An upstream's own timeout (`given`, at `field`), else the section's.
pub(crate) fn timeout_of(
    field: &str,
    given: Option<&str>,
    section: Duration,
    errors: &mut Vec<FieldError>,
) -> Duration {
    given.map_or(section, |t| duration_or(field, t, section, errors))
}

/// An upstream's name (`what`: provider, server) under `section`: 1 to 64 of `a-z 0-9 - _`.
pub(crate) fn check_name(section: &str, what: &str, name: &str, errors: &mut Vec<FieldError>) {
    if !valid_name(name) {
        errors.push(FieldError::new(
            format!("{section}.{name}"),
            format!("a {what} name is 1 to 64 of a-z, 0-9, '-' and '_'"),
        ));
    }
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// `120s`, `500ms`, `2m`.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = number.parse().ok()?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        _ => return None,
    };
    (!d.is_zero()).then_some(d)
}
