//! The record mapping of SPEC §4 and the two encodings, `http/protobuf` and `http/json`.
//!
//! Each record: event and observed timestamps; severity number and text; the body rendered
//! exactly as the JSON sink renders the event; the event's fields (but `message`, which is in
//! the body) as typed attributes; `request_id` / `task_id` / `agent_id` from the enclosing
//! spans as attributes; `trace_id`, `span_id` and flags from the request's trace context.
//! Records are grouped into one scope per event target.

use std::time::UNIX_EPOCH;

use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::Value;
use tracing::Level;

use crate::logging::{CapturedEvent, FieldValue, SecretNames, json_value};

/// How export requests are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    HttpProtobuf,
    HttpJson,
}

impl Protocol {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::HttpProtobuf => "application/x-protobuf",
            Self::HttpJson => "application/json",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::HttpProtobuf => "http/protobuf",
            Self::HttpJson => "http/json",
        }
    }
}

/// Span fields copied onto every record as attributes.
pub(crate) const CORRELATION: [&str; 3] = ["request_id", "task_id", "agent_id"];

/// The resource every record belongs to.
pub(crate) fn resource(attributes: &[(String, String)]) -> Resource {
    Resource {
        attributes: attributes.iter().map(|(k, v)| kv(k, any_string(v.clone()))).collect(),
        ..Resource::default()
    }
}

fn any_string(s: String) -> AnyValue {
    AnyValue { value: Some(any_value::Value::StringValue(s)) }
}

fn kv(key: &str, value: AnyValue) -> KeyValue {
    KeyValue { key: key.to_owned(), value: Some(value), ..KeyValue::default() }
}

pub(crate) fn severity(level: Level) -> (i32, &'static str) {
    match level {
        Level::TRACE => (1, "TRACE"),
        Level::DEBUG => (5, "DEBUG"),
        Level::INFO => (9, "INFO"),
        Level::WARN => (13, "WARN"),
        Level::ERROR => (17, "ERROR"),
    }
}

fn typed(name: &str, value: &FieldValue, is_secret: SecretNames) -> AnyValue {
    use any_value::Value as V;
    let value = match (is_secret(name), value) {
        (false, FieldValue::I64(v)) => V::IntValue(*v),
        (false, FieldValue::U64(v)) => match i64::try_from(*v) {
            Ok(v) => V::IntValue(v),
            Err(_) => V::StringValue(v.to_string()),
        },
        (false, FieldValue::F64(v)) => V::DoubleValue(*v),
        (false, FieldValue::Bool(v)) => V::BoolValue(*v),
        // Strings (redacted inside when they hold JSON) and every secret-named field.
        _ => match json_value(name, value, is_secret) {
            Value::String(s) => V::StringValue(s),
            other => V::StringValue(other.to_string()),
        },
    };
    AnyValue { value: Some(value) }
}

fn hex_id<const N: usize>(value: Option<&Value>) -> Vec<u8> {
    let mut out = [0u8; N];
    match value.and_then(Value::as_str).map(|s| hex::decode_to_slice(s, &mut out)) {
        Some(Ok(())) if out != [0u8; N] => out.to_vec(),
        _ => Vec::new(),
    }
}

/// One event as an OTLP log record.
pub(crate) fn record(event: &CapturedEvent, is_secret: SecretNames) -> LogRecord {
    let nanos = event.time.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    let (severity_number, severity_text) = severity(event.level);
    let body = String::from_utf8(event.render_bytes(is_secret)).unwrap_or_default();
    let mut attributes: Vec<KeyValue> = event
        .fields
        .iter()
        .filter(|(name, _)| *name != "message")
        .map(|(name, value)| kv(name, typed(name, value, is_secret)))
        .collect();
    for name in CORRELATION {
        if attributes.iter().any(|a| a.key == name) {
            continue;
        }
        if let Some(value) = event.span_field(name) {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            attributes.push(kv(name, any_string(text)));
        }
    }
    let trace_id = hex_id::<16>(event.span_field("trace_id"));
    let span_id = if trace_id.is_empty() { Vec::new() } else { hex_id::<8>(event.span_field("span_id")) };
    let flags = match trace_id.is_empty() {
        true => 0,
        false => event.span_field("trace_flags").and_then(Value::as_u64).map_or(0, |f| (f & 0xff) as u32),
    };
    LogRecord {
        time_unix_nano: nanos,
        observed_time_unix_nano: nanos,
        severity_number,
        severity_text: severity_text.to_owned(),
        body: Some(any_string(body)),
        attributes,
        flags,
        trace_id,
        span_id,
        ..LogRecord::default()
    }
}

/// One export request: the records grouped by scope (the event target), in emission order
/// within each scope.
pub(crate) fn request(resource: &Resource, records: Vec<(&'static str, LogRecord)>) -> ExportLogsServiceRequest {
    let mut scopes: Vec<ScopeLogs> = Vec::new();
    for (target, record) in records {
        match scopes.iter_mut().find(|s| s.scope.as_ref().is_some_and(|scope| scope.name == target)) {
            Some(scope) => scope.log_records.push(record),
            None => scopes.push(ScopeLogs {
                scope: Some(InstrumentationScope { name: target.to_owned(), ..InstrumentationScope::default() }),
                log_records: vec![record],
                ..ScopeLogs::default()
            }),
        }
    }
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource.clone()),
            scope_logs: scopes,
            ..ResourceLogs::default()
        }],
    }
}

/// The request's body in the protocol's encoding.
pub(crate) fn encode(request: &ExportLogsServiceRequest, protocol: Protocol) -> Vec<u8> {
    match protocol {
        Protocol::HttpProtobuf => request.encode_to_vec(),
        Protocol::HttpJson => serde_json::to_vec(request).unwrap_or_default(),
    }
}

/// The number of records a successful answer says were rejected (partial success); 0 when
/// the body is empty or cannot be read.
pub(crate) fn rejected(body: &[u8], protocol: Protocol) -> u64 {
    if body.is_empty() {
        return 0;
    }
    let count = match protocol {
        Protocol::HttpProtobuf => ExportLogsServiceResponse::decode(body)
            .ok()
            .and_then(|r| r.partial_success)
            .map_or(0, |p| p.rejected_log_records),
        // OTLP/JSON writes 64-bit integers as strings or numbers.
        Protocol::HttpJson => {
            serde_json::from_slice::<Value>(body).ok().map_or(0, |v| match &v["partialSuccess"]["rejectedLogRecords"] {
                Value::String(s) => s.parse().unwrap_or(0),
                Value::Number(n) => n.as_i64().unwrap_or(0),
                _ => 0,
            })
        }
    };
    count.max(0) as u64
}
