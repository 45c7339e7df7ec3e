//! The trace signal: finished spans, encoded as OTLP `ExportTraceServiceRequest`s.

use std::time::SystemTime;

use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span, status};
use prost::Message;

use super::config::{ExporterConfig, Signal};
use super::encode::encode_halving;
use super::encode::{self, Protocol};
use super::exporter::Exporter;
use super::queue::{ON_EXPORTER_THREAD, Shared};
use super::transport::StartError;
use std::cell::Cell;
use std::sync::Arc;

/// The kind of a span, as OTLP spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    /// A request served (one per HTTP request).
    Server,
    /// Work inside a request: a security evaluation, a cost report.
    Internal,
    /// A call out of the process's own logic: a store write (the database's side).
    Client,
}

/// A span attribute's value.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Str(String),
    Int(i64),
    F64(f64),
    Bool(bool),
    StrArray(Vec<String>),
}

impl From<&str> for AttrValue {
    fn from(s: &str) -> Self {
        Self::Str(s.to_owned())
    }
}

impl From<String> for AttrValue {
    fn from(s: String) -> Self {
        Self::Str(s)
    }
}

impl From<i64> for AttrValue {
    fn from(n: i64) -> Self {
        Self::Int(n)
    }
}

impl From<f64> for AttrValue {
    fn from(n: f64) -> Self {
        Self::F64(n)
    }
}

impl From<bool> for AttrValue {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

/// One finished span.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanRecord {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent_span_id: Option<[u8; 8]>,
    /// The W3C trace flags of the span's context.
    pub flags: u8,
    pub name: String,
    pub kind: SpanKind,
    pub start: SystemTime,
    pub end: SystemTime,
    pub attributes: Vec<(&'static str, AttrValue)>,
    /// `Some(message)` marks the span failed (status ERROR).
    pub error: Option<String>,
    /// The caller's W3C `tracestate`, carried as it came ([`crate::context::TraceState`]).
    pub trace_state: Option<crate::context::TraceState>,
}

fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn any(value: &AttrValue) -> AnyValue {
    let value = match value {
        AttrValue::Str(s) => any_value::Value::StringValue(s.clone()),
        AttrValue::Int(n) => any_value::Value::IntValue(*n),
        AttrValue::F64(n) => any_value::Value::DoubleValue(*n),
        AttrValue::Bool(b) => any_value::Value::BoolValue(*b),
        AttrValue::StrArray(items) => any_value::Value::ArrayValue(ArrayValue {
            values: items.iter().map(|s| AnyValue { value: Some(any_value::Value::StringValue(s.clone())) }).collect(),
        }),
    };
    AnyValue { value: Some(value) }
}

fn span(record: &SpanRecord) -> Span {
    Span {
        trace_id: record.trace_id.to_vec(),
        span_id: record.span_id.to_vec(),
        parent_span_id: record.parent_span_id.map_or_else(Vec::new, |p| p.to_vec()),
        // The W3C flags, with "the parent's remoteness is known" (bit 8) and, when the
        // parent came in a `traceparent`, "the parent is remote" (bit 9).
        flags: u32::from(record.flags)
            | 0x100
            | if record.kind == SpanKind::Server && record.parent_span_id.is_some() { 0x200 } else { 0 },
        trace_state: record.trace_state.as_ref().map(|s| s.as_str().to_owned()).unwrap_or_default(),
        name: record.name.clone(),
        kind: match record.kind {
            SpanKind::Server => span::SpanKind::Server,
            SpanKind::Internal => span::SpanKind::Internal,
            SpanKind::Client => span::SpanKind::Client,
        } as i32,
        start_time_unix_nano: unix_nanos(record.start),
        end_time_unix_nano: unix_nanos(record.end).max(unix_nanos(record.start)),
        attributes: record
            .attributes
            .iter()
            .map(|(k, v)| KeyValue { key: (*k).to_owned(), value: Some(any(v)), ..KeyValue::default() })
            .collect(),
        status: record
            .error
            .as_ref()
            .map(|message| Status { message: message.clone(), code: status::StatusCode::Error as i32 }),
        ..Span::default()
    }
}

/// The trace signal's encoding.
pub struct Traces {
    resource: Resource,
}

impl std::fmt::Debug for Traces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Traces")
    }
}

impl Traces {
    pub(super) fn new(config: &ExporterConfig) -> Self {
        Self { resource: encode::resource(&config.resource) }
    }

    fn request(&self, spans: Vec<Span>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(self.resource.clone()),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "synthorg".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        ..InstrumentationScope::default()
                    }),
                    spans,
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        }
    }
}

impl Signal for Traces {
    type Record = SpanRecord;
    const NAME: &'static str = "traces";

    fn encode(&mut self, batch: Vec<SpanRecord>, protocol: Protocol, max_bytes: usize) -> (Vec<(Vec<u8>, usize)>, u64) {
        let spans: Vec<Span> = batch.iter().map(span).collect();
        drop(batch);
        let body = |spans: &[Span]| {
            let request = self.request(spans.to_vec());
            match protocol {
                Protocol::HttpProtobuf => request.encode_to_vec(),
                Protocol::HttpJson => serde_json::to_vec(&request).unwrap_or_default(),
            }
        };
        let mut bodies = Vec::new();
        let too_large = encode_halving(&spans, max_bytes, &body, &mut bodies);
        (bodies, too_large)
    }

    fn rejected(&self, body: &[u8], protocol: Protocol) -> u64 {
        if body.is_empty() {
            return 0;
        }
        let count = match protocol {
            Protocol::HttpProtobuf => ExportTraceServiceResponse::decode(body)
                .ok()
                .and_then(|r| r.partial_success)
                .map_or(0, |p| p.rejected_spans),
            Protocol::HttpJson => encode::rejected_json(body, "rejectedSpans"),
        };
        count.max(0) as u64
    }
}

impl Exporter<Traces> {
    /// Starts the trace exporter's worker thread.
    pub fn start_traces(config: ExporterConfig) -> Result<Self, StartError> {
        let traces = Traces::new(&config);
        Self::start_signal(config, traces)
    }

    /// Hands finished spans to this exporter.
    pub fn tracer(&self) -> Tracer {
        Tracer(Arc::clone(&self.shared))
    }
}

/// Hands finished spans to the trace exporter: a push onto its queue (or a counted drop
/// when it is full), never a wait.
#[derive(Clone)]
pub struct Tracer(Arc<Shared<SpanRecord>>);

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tracer")
    }
}

impl Tracer {
    pub fn record(&self, span: SpanRecord) {
        if ON_EXPORTER_THREAD.with(Cell::get) {
            return;
        }
        self.0.push(span);
    }

    /// Records a span that began at `start` and ends now, as a child of the current
    /// request's span ([`crate::context::current`]); nothing outside a request or in an
    /// unsampled trace.
    pub fn record_child(
        &self,
        name: String,
        kind: SpanKind,
        start: std::time::SystemTime,
        attributes: Vec<(&'static str, AttrValue)>,
        error: Option<String>,
    ) {
        self.record_child_until(name, kind, start, std::time::SystemTime::now(), attributes, error);
    }

    /// [`Tracer::record_child`] for a span that ended at `end`, recorded later (after work
    /// that follows it, such as the settlement of a call already answered).
    pub fn record_child_until(
        &self,
        name: String,
        kind: SpanKind,
        start: std::time::SystemTime,
        end: std::time::SystemTime,
        attributes: Vec<(&'static str, AttrValue)>,
        error: Option<String>,
    ) {
        let Some(parent) = crate::context::current().filter(|t| t.flags & 0x01 == 0x01) else { return };
        self.record(SpanRecord {
            trace_id: parent.trace_id,
            span_id: crate::context::new_span_id(),
            parent_span_id: Some(parent.span_id),
            flags: parent.flags,
            name,
            kind,
            start,
            end,
            attributes,
            error,
            trace_state: crate::context::current_state(),
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::Value;

    use super::*;

    fn record(name: &str) -> SpanRecord {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_765_000_000);
        SpanRecord {
            trace_id: [0x4b; 16],
            span_id: [0x01; 8],
            parent_span_id: Some([0x02; 8]),
            flags: 1,
            name: name.into(),
            kind: SpanKind::Server,
            start,
            end: start + Duration::from_millis(3),
            attributes: vec![("http.route", "/api/v1/agents".into()), ("http.response.status_code", 200i64.into())],
            error: None,
            trace_state: None,
        }
    }

    fn traces() -> Traces {
        Traces { resource: encode::resource(&[("service.name".into(), "synthorg".into())]) }
    }

    #[test]
    fn spans_decode_as_sent_in_both_protocols() {
        let mut t = traces();
        let (bodies, too_large) = t.encode(vec![record("GET /api/v1/agents")], Protocol::HttpProtobuf, 1 << 20);
        assert_eq!((bodies.len(), bodies[0].1, too_large), (1, 1, 0));
        let request = ExportTraceServiceRequest::decode(bodies[0].0.as_slice()).unwrap();
        let span = &request.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.trace_id, [0x4b; 16]);
        assert_eq!(span.parent_span_id, [0x02; 8]);
        assert_eq!(span.kind, span::SpanKind::Server as i32);
        assert_eq!(span.end_time_unix_nano - span.start_time_unix_nano, 3_000_000);
        assert_eq!(span.flags, 0x301, "sampled, with a remote parent");
        let (bodies, _) = t.encode(vec![record("GET /api/v1/agents")], Protocol::HttpJson, 1 << 20);
        let json: Value = serde_json::from_slice(&bodies[0].0).unwrap();
        let span = &json["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(span["traceId"], "4b".repeat(16), "OTLP/JSON ids are hex");
        assert_eq!(span["kind"], 2);
        assert_eq!(span["attributes"][1]["value"]["intValue"], "200");
    }

    #[test]
    fn batches_split_under_the_cap_and_a_lone_giant_is_counted() {
        let mut t = traces();
        let batch: Vec<SpanRecord> = (0..10).map(|i| record(&format!("span {i}"))).collect();
        let one = t.encode(vec![record("x")], Protocol::HttpProtobuf, 1 << 20).0[0].0.len();
        let (bodies, too_large) = t.encode(batch, Protocol::HttpProtobuf, one * 3);
        assert_eq!(too_large, 0);
        assert!(bodies.len() > 1 && bodies.iter().all(|(b, _)| b.len() <= one * 3));
        assert_eq!(bodies.iter().map(|(_, n)| n).sum::<usize>(), 10);
        let mut giant = record("giant");
        giant.attributes.push(("big", "x".repeat(10_000).into()));
        let (bodies, too_large) = t.encode(vec![giant, record("small")], Protocol::HttpJson, 2_000);
        assert_eq!((bodies.len(), too_large), (1, 1));
    }

    #[test]
    fn partial_success_counts_rejected_spans() {
        let t = traces();
        let answer = ExportTraceServiceResponse {
            partial_success: Some(opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess {
                rejected_spans: 3,
                error_message: "no".into(),
            }),
        };
        assert_eq!(t.rejected(&answer.encode_to_vec(), Protocol::HttpProtobuf), 3);
        assert_eq!(t.rejected(br#"{"partialSuccess":{"rejectedSpans":"2"}}"#, Protocol::HttpJson), 2);
        assert_eq!(t.rejected(b"", Protocol::HttpJson), 0);
    }
}
