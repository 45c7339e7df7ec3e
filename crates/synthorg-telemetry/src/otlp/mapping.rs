//! The record mapping of SPEC §4, shared by both encodings (the struct mapping of
//! `http/json` in `encode`, the direct protobuf writer in `proto`): which fields become which
//! attributes, redaction, severity, timestamps and the trace context.

use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use serde_json::Value;
use tracing::Level;

use crate::logging::{CapturedEvent, FieldValue, REDACTED, SecretNames, redact_str};

/// Span fields copied onto every record as attributes.
pub(crate) const CORRELATION: [&str; 3] = ["request_id", "task_id", "agent_id"];

pub(crate) fn severity(level: Level) -> (i32, &'static str) {
    match level {
        Level::TRACE => (1, "TRACE"),
        Level::DEBUG => (5, "DEBUG"),
        Level::INFO => (9, "INFO"),
        Level::WARN => (13, "WARN"),
        Level::ERROR => (17, "ERROR"),
    }
}

/// An attribute value as the mapping gives it (both encodings use it).
pub(crate) enum Attr<'a> {
    Str(&'a str),
    Owned(String),
    Int(i64),
    Double(f64),
    Bool(bool),
}

impl Attr<'_> {
    /// As an `AnyValue` message (the struct mapping of `http/json`).
    pub(crate) fn to_any(&self) -> AnyValue {
        use any_value::Value as V;
        let value = match self {
            Self::Str(s) => V::StringValue((*s).to_owned()),
            Self::Owned(s) => V::StringValue(s.clone()),
            Self::Int(v) => V::IntValue(*v),
            Self::Double(v) => V::DoubleValue(*v),
            Self::Bool(v) => V::BoolValue(*v),
        };
        AnyValue { value: Some(value) }
    }
}

/// An event field as a typed attribute: secret-named fields redacted, a JSON document in a
/// string redacted inside, an unsigned value above 2^63 as a string.
pub(crate) fn attr<'a>(name: &str, value: &'a FieldValue, is_secret: SecretNames) -> Attr<'a> {
    if is_secret(name) {
        return Attr::Str(REDACTED);
    }
    match value {
        FieldValue::Str(s) if s.trim_start().starts_with(['{', '[']) => Attr::Owned(redact_str(s, is_secret)),
        FieldValue::Str(s) => Attr::Str(s),
        FieldValue::I64(v) => Attr::Int(*v),
        FieldValue::U64(v) => match i64::try_from(*v) {
            Ok(v) => Attr::Int(v),
            Err(_) => Attr::Owned(v.to_string()),
        },
        FieldValue::F64(v) => Attr::Double(*v),
        FieldValue::Bool(v) => Attr::Bool(*v),
    }
}

fn hex_id<const N: usize>(value: Option<&Value>) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    let s = value?.as_str()?;
    hex::decode_to_slice(s, &mut out).ok()?;
    (out != [0u8; N]).then_some(out)
}

/// When the event happened, in nanoseconds since the Unix epoch.
pub(crate) fn unix_nanos(event: &CapturedEvent) -> u64 {
    event.time.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(0))
}

/// The request's trace context, from the enclosing spans.
pub(crate) struct Trace {
    pub trace_id: [u8; 16],
    pub span_id: Option<[u8; 8]>,
    pub flags: u32,
}

pub(crate) fn trace_context(event: &CapturedEvent) -> Option<Trace> {
    let trace_id = hex_id::<16>(event.span_field("trace_id"))?;
    Some(Trace {
        trace_id,
        span_id: hex_id::<8>(event.span_field("span_id")),
        flags: event.span_field("trace_flags").and_then(Value::as_u64).map_or(0, |f| (f & 0xff) as u32),
    })
}

/// The correlation ids of the enclosing spans that the event's own fields do not carry.
pub(crate) fn correlation(event: &CapturedEvent) -> impl Iterator<Item = (&'static str, Attr<'_>)> {
    CORRELATION.into_iter().filter(|name| !event.fields.iter().any(|(n, _)| n == name)).filter_map(|name| {
        Some(match event.span_field(name)? {
            Value::String(s) => (name, Attr::Str(s)),
            other => (name, Attr::Owned(other.to_string())),
        })
    })
}
