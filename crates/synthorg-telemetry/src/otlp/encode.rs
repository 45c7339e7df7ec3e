//! The record mapping of SPEC §4 and the two encodings, `http/protobuf` and `http/json`.
//!
//! Each record: event and observed timestamps; severity number and text; the body rendered
//! exactly as the JSON sink renders the event; the event's fields (but `message`, which is in
//! the body) as typed attributes; `request_id` / `task_id` / `agent_id` from the enclosing
//! spans as attributes; `trace_id`, `span_id` and flags from the request's trace context.
//! Records are grouped into one scope per event target.

use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::Value;

use super::mapping::{attr, correlation, severity, trace_context, unix_nanos};
use crate::logging::{CapturedEvent, SecretNames};

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

/// One event as an OTLP log record.
pub(crate) fn record(event: &CapturedEvent, is_secret: SecretNames) -> LogRecord {
    let nanos = unix_nanos(event);
    let (severity_number, severity_text) = severity(event.level);
    let body = String::from_utf8(event.render_bytes(is_secret)).unwrap_or_default();
    let mut attributes: Vec<KeyValue> = event
        .fields
        .iter()
        .filter(|(name, _)| *name != "message")
        .map(|(name, value)| kv(name, attr(name, value, is_secret).to_any()))
        .collect();
    attributes.extend(correlation(event).map(|(name, value)| kv(name, value.to_any())));
    let trace = trace_context(event);
    let trace_id = trace.as_ref().map_or_else(Vec::new, |t| t.trace_id.to_vec());
    let span_id = trace.as_ref().and_then(|t| t.span_id).map_or_else(Vec::new, |s| s.to_vec());
    let flags = trace.map_or(0, |t| t.flags);
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
        Protocol::HttpJson => rejected_json(body, "rejectedLogRecords"),
    };
    count.max(0) as u64
}

/// `partialSuccess.{field}` of an OTLP/JSON answer, which writes 64-bit integers as strings
/// or numbers; 0 when absent or unreadable.
pub(crate) fn rejected_json(body: &[u8], field: &str) -> i64 {
    serde_json::from_slice::<Value>(body).ok().map_or(0, |v| match &v["partialSuccess"][field] {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    })
}

/// Encodes `items` into one request body, or into halves (recursively) while a body exceeds
/// `max_bytes`, appending each body with its item count to `out`; returns the number of items
/// left out because one alone is too large. For the encodings without a streaming encoder.
pub(super) fn encode_halving<T>(
    items: &[T],
    max_bytes: usize,
    encode: &dyn Fn(&[T]) -> Vec<u8>,
    out: &mut Vec<(Vec<u8>, usize)>,
) -> u64 {
    let body = encode(items);
    if body.len() <= max_bytes {
        out.push((body, items.len()));
        return 0;
    }
    if items.len() <= 1 {
        return items.len() as u64;
    }
    drop(body);
    let (first, second) = items.split_at(items.len() / 2);
    encode_halving(first, max_bytes, encode, out) + encode_halving(second, max_bytes, encode, out)
}
