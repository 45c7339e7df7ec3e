//! `http/protobuf` encoding straight from captured events into the request body.
//!
//! The exporter's hot path: no intermediate message structs, no per-field allocation (string
//! values are written from the captured event as they are, redaction aside). The output
//! decodes with the official `opentelemetry-proto` definitions to the same request as the
//! struct mapping in `encode` (tested below), and requests are cut so that none exceeds the
//! size cap.

use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};

use super::mapping::{Attr, attr, correlation, severity, trace_context, unix_nanos};
use crate::logging::{CapturedEvent, SecretNames};

fn put_len(tag: u32, len: usize, out: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(len as u64, out);
}

fn put_bytes(tag: u32, bytes: &[u8], out: &mut Vec<u8>) {
    put_len(tag, bytes.len(), out);
    out.extend_from_slice(bytes);
}

fn put_varint(tag: u32, value: u64, out: &mut Vec<u8>) {
    encode_key(tag, WireType::Varint, out);
    encode_varint(value, out);
}

fn put_fixed64(tag: u32, value: u64, out: &mut Vec<u8>) {
    encode_key(tag, WireType::SixtyFourBit, out);
    out.extend_from_slice(&value.to_le_bytes());
}

fn field_len(tag_len: usize, len: usize) -> usize {
    tag_len + encoded_len_varint(len as u64) + len
}

impl Attr<'_> {
    /// Length of the `AnyValue` message.
    fn len(&self) -> usize {
        match self {
            Self::Str(s) => field_len(1, s.len()),
            Self::Owned(s) => field_len(1, s.len()),
            Self::Int(v) => 1 + encoded_len_varint(*v as u64),
            Self::Double(_) => 9,
            Self::Bool(_) => 2,
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Self::Str(s) => put_bytes(1, s.as_bytes(), out),
            Self::Owned(s) => put_bytes(1, s.as_bytes(), out),
            Self::Int(v) => put_varint(3, *v as u64, out),
            Self::Double(v) => {
                encode_key(4, WireType::SixtyFourBit, out);
                out.extend_from_slice(&v.to_le_bytes());
            }
            Self::Bool(v) => put_varint(2, u64::from(*v), out),
        }
    }
}

/// `KeyValue` (tag 6 of LogRecord, tag 1 of Resource).
fn put_key_value(tag: u32, key: &str, value: &Attr<'_>, out: &mut Vec<u8>) {
    let any = value.len();
    put_len(tag, field_len(1, key.len()) + field_len(1, any), out);
    put_bytes(1, key.as_bytes(), out);
    put_len(2, any, out);
    value.write(out);
}

/// Reused buffers: after the first batches, encoding allocates nothing per record.
#[derive(Debug, Default)]
pub(crate) struct Encoder {
    resource: Vec<u8>,
    record: Vec<u8>,
    body: Vec<u8>,
    /// Per scope (event target): its encoded `LogRecord`s (each with tag and length).
    scopes: Vec<(&'static str, Vec<u8>)>,
    /// Records in the request being built.
    count: usize,
}

/// A finished request body and the number of records in it.
pub(crate) struct Body {
    pub bytes: Vec<u8>,
    pub records: usize,
}

impl Encoder {
    pub(super) fn new(resource: &[(String, String)]) -> Self {
        let mut encoder = Self::default();
        for (k, v) in resource {
            put_key_value(1, k, &Attr::Str(v), &mut encoder.resource);
        }
        encoder
    }

    /// Encodes events into request bodies of at most `max_bytes`; a record that alone is
    /// larger is left out and counted in the second value.
    pub(super) fn encode(
        &mut self,
        events: &[CapturedEvent],
        is_secret: SecretNames,
        max_bytes: usize,
    ) -> (Vec<Body>, u64) {
        let mut bodies = Vec::new();
        let mut too_large = 0;
        let overhead = self.overhead();
        let mut size = overhead;
        for event in events {
            self.encode_record(event, is_secret);
            let added = field_len(1, self.record.len()) + self.scope_overhead(event.target);
            if overhead + added > max_bytes {
                too_large += 1;
                continue;
            }
            if size + added > max_bytes && self.count > 0 {
                bodies.push(self.finish());
                size = overhead;
            }
            size += added;
            self.push_record(event.target);
        }
        if self.count > 0 {
            bodies.push(self.finish());
        }
        (bodies, too_large)
    }

    /// The bytes a request has whatever its records: request and resource framing.
    fn overhead(&self) -> usize {
        // resource_logs (tag 1, ≤ 5-byte length) + resource (tag 1) framing.
        1 + 5 + field_len(1, self.resource.len())
    }

    /// Extra bytes when this target opens a new scope (an upper bound otherwise zero).
    fn scope_overhead(&self, target: &str) -> usize {
        match self.scopes.iter().any(|(t, buf)| *t == target && !buf.is_empty()) {
            true => 0,
            false => 1 + 5 + field_len(1, field_len(1, target.len())),
        }
    }

    fn push_record(&mut self, target: &'static str) {
        let buf = match self.scopes.iter().position(|(t, _)| *t == target) {
            Some(i) => &mut self.scopes[i].1,
            None => {
                self.scopes.push((target, Vec::new()));
                let last = self.scopes.len() - 1;
                &mut self.scopes[last].1
            }
        };
        put_bytes(2, &self.record, buf);
        self.count += 1;
    }

    fn finish(&mut self) -> Body {
        let scope_len = |target: &str, buf: &[u8]| field_len(1, field_len(1, target.len())) + buf.len();
        let mut resource_logs = field_len(1, self.resource.len());
        for (target, buf) in self.scopes.iter().filter(|(_, b)| !b.is_empty()) {
            resource_logs += field_len(1, scope_len(target, buf));
        }
        let mut out = Vec::with_capacity(field_len(1, resource_logs));
        put_len(1, resource_logs, &mut out);
        put_bytes(1, &self.resource, &mut out);
        for (target, buf) in self.scopes.iter_mut().filter(|(_, b)| !b.is_empty()) {
            put_len(2, scope_len(target, buf), &mut out);
            put_len(1, field_len(1, target.len()), &mut out);
            put_bytes(1, target.as_bytes(), &mut out);
            out.extend_from_slice(buf);
            buf.clear();
        }
        let records = std::mem::take(&mut self.count);
        Body { bytes: out, records }
    }

    /// One `LogRecord` into `self.record`.
    fn encode_record(&mut self, event: &CapturedEvent, is_secret: SecretNames) {
        let out = &mut self.record;
        out.clear();
        let nanos = unix_nanos(event);
        put_fixed64(1, nanos, out);
        put_fixed64(11, nanos, out);
        let (number, text) = severity(event.level);
        put_varint(2, number as u64, out);
        put_bytes(3, text.as_bytes(), out);
        self.body.clear();
        event.render_into(is_secret, &mut self.body);
        put_len(5, field_len(1, self.body.len()), out);
        put_bytes(1, &self.body, out);
        for (name, value) in &event.fields {
            if *name != "message" {
                put_key_value(6, name, &attr(name, value, is_secret), out);
            }
        }
        for (name, value) in correlation(event) {
            put_key_value(6, name, &value, out);
        }
        if let Some(trace) = trace_context(event) {
            if trace.flags != 0 {
                encode_key(8, WireType::ThirtyTwoBit, out);
                out.extend_from_slice(&trace.flags.to_le_bytes());
            }
            put_bytes(9, &trace.trace_id, out);
            if let Some(span_id) = trace.span_id {
                put_bytes(10, &span_id, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, UNIX_EPOCH};

    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use prost::Message;
    use serde_json::Map;
    use tracing::Level;

    use crate::logging::FieldValue;

    use super::*;
    use crate::otlp::encode;

    fn secret(name: &str) -> bool {
        name.contains("password") || name.contains("token")
    }

    fn event(target: &'static str, i: u64, with_trace: bool) -> CapturedEvent {
        let mut span = Map::new();
        span.insert("request_id".into(), "r-1".into());
        span.insert("task_id".into(), 42.into());
        if with_trace {
            span.insert("trace_id".into(), "4bf92f3577b34da6a3ce929d0e0e4736".into());
            span.insert("span_id".into(), "00f067aa0ba902b7".into());
            span.insert("trace_flags".into(), 1.into());
        }
        CapturedEvent {
            time: UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789 + i),
            level: [Level::TRACE, Level::DEBUG, Level::INFO, Level::WARN, Level::ERROR][(i % 5) as usize],
            target,
            spans: vec![Arc::new(span)],
            fields: vec![
                ("message", FieldValue::Str(format!("event {i} \u{1F600}"))),
                ("n", FieldValue::U64(i)),
                ("big", FieldValue::U64(u64::MAX)),
                ("neg", FieldValue::I64(-5)),
                ("ratio", FieldValue::F64(0.5)),
                ("ok", FieldValue::Bool(i % 2 == 0)),
                ("password", FieldValue::Str("hunter2".into())),
                ("doc", FieldValue::Str(r#"{"api_token": "x", "k": 1}"#.into())),
                ("agent_id", FieldValue::Str("a-7".into())),
            ],
        }
    }

    #[test]
    fn direct_encoding_decodes_to_the_struct_mapping() {
        let resource =
            vec![("service.name".to_owned(), "s".to_owned()), ("service.version".to_owned(), "1".to_owned())];
        let events: Vec<_> = (0..20).map(|i| event(["a::x", "b::y"][(i % 2) as usize], i, i % 3 != 0)).collect();
        let (bodies, too_large) = Encoder::new(&resource).encode(&events, secret, usize::MAX);
        assert_eq!((bodies.len(), bodies[0].records, too_large), (1, 20, 0));
        let decoded = ExportLogsServiceRequest::decode(bodies[0].bytes.as_slice()).unwrap();
        let records = events.iter().map(|e| (e.target, encode::record(e, secret))).collect();
        let expected = encode::request(&encode::resource(&resource), records);
        assert_eq!(decoded, expected);
        assert!(!format!("{decoded:?}").contains("hunter2"));
    }

    #[test]
    fn requests_are_cut_at_the_size_cap() {
        let events: Vec<_> = (0..100).map(|i| event("a", i, true)).collect();
        let mut encoder = Encoder::new(&[]);
        let (bodies, too_large) = encoder.encode(&events, secret, 4096);
        assert_eq!(too_large, 0);
        assert!(bodies.len() > 5);
        assert!(bodies.iter().all(|b| b.bytes.len() <= 4096), "{:?}", bodies.iter().map(|b| b.bytes.len()).max());
        let total: usize = bodies.iter().map(|b| b.records).sum();
        let decoded: usize = bodies
            .iter()
            .map(|b| {
                ExportLogsServiceRequest::decode(b.bytes.as_slice()).unwrap().resource_logs[0].scope_logs[0]
                    .log_records
                    .len()
            })
            .sum();
        assert_eq!((total, decoded), (100, 100));
        let (bodies, too_large) = encoder.encode(&events[..3], secret, 300);
        assert_eq!((bodies.len(), too_large), (0, 3));
    }
}
