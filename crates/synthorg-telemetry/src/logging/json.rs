//! The JSON rendering of an event (JSON console, files, OTLP bodies), one object per line:
//! `{"timestamp", "level", "target", "message", <event fields>, <span fields>}`.
//!
//! Span fields (the request's `request_id`, `trace_id`, `span_id`, `task_id`, `agent_id`)
//! are flattened into the event, innermost span winning, so every line stands alone. Fields
//! whose names look like secrets are written as `**REDACTED**`, at any depth of a JSON-valued
//! field.
//!
//! Rendering is split in two so the OTLP sink can share it: [`CapturedEvent::capture`] takes
//! what the event and its spans hold (cheap: field names are `'static`, span fields are shared
//! `Arc`s), and [`CapturedEvent::render`] builds the JSON object, wherever and whenever it runs.

use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// Decides which field names hold secrets (synthorg passes its one list from the domain).
pub type SecretNames = fn(&str) -> bool;

/// What a redacted value is written as, in every sink (the same text as the domain's
/// `synthorg_core::security::REDACTED`, which cannot be shared across the layering; a test of
/// the binary holds them equal).
pub const REDACTED: &str = "**REDACTED**";

/// Span fields kept in the span's extensions, already redacted. Shared, so that capturing an
/// event copies a pointer, not the map; recording into a span copies on write.
pub(crate) struct SpanFields(pub(crate) Arc<Map<String, Value>>);

/// One field value as the event carried it.
#[derive(Clone, PartialEq)]
pub enum FieldValue {
    Str(String),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
}

impl std::fmt::Debug for FieldValue {
    // Not redacted yet: strings are never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Str(s) => write!(f, "Str(<{} bytes>)", s.len()),
            Self::I64(v) => write!(f, "I64({v})"),
            Self::U64(v) => write!(f, "U64({v})"),
            Self::F64(v) => write!(f, "F64({v})"),
            Self::Bool(v) => write!(f, "Bool({v})"),
        }
    }
}

/// What an event holds, taken on the emitting thread; rendered later.
#[derive(Clone)]
pub struct CapturedEvent {
    pub time: SystemTime,
    pub level: Level,
    pub target: &'static str,
    /// Span fields, outermost span first.
    pub spans: Vec<Arc<Map<String, Value>>>,
    /// The event's own fields in the order they were recorded (`message` included).
    pub fields: Vec<(&'static str, FieldValue)>,
}

impl std::fmt::Debug for CapturedEvent {
    // Field values may hold secrets until rendering redacts them: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CapturedEvent")
            .field("level", &self.level)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

struct FieldList<'a>(&'a mut Vec<(&'static str, FieldValue)>);

impl Visit for FieldList<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name(), FieldValue::Str(value.to_owned())));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.push((field.name(), FieldValue::I64(value)));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.push((field.name(), FieldValue::U64(value)));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.push((field.name(), FieldValue::F64(value)));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.push((field.name(), FieldValue::Bool(value)));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name(), FieldValue::Str(format!("{value:?}"))));
    }
}

impl CapturedEvent {
    /// Takes the event's fields and its spans' (shared) fields.
    pub fn capture<S>(event: &Event<'_>, ctx: &Context<'_, S>) -> Self
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let mut fields = Vec::with_capacity(event.metadata().fields().len());
        event.record(&mut FieldList(&mut fields));
        let mut spans = Vec::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(SpanFields(map)) = span.extensions().get::<SpanFields>() {
                    spans.push(Arc::clone(map));
                }
            }
        }
        let meta = event.metadata();
        Self { time: SystemTime::now(), level: *meta.level(), target: meta.target(), spans, fields }
    }

    /// A span field (innermost span wins), e.g. `trace_id`.
    pub fn span_field(&self, name: &str) -> Option<&Value> {
        self.spans.iter().rev().find_map(|map| map.get(name))
    }

    /// The event as the JSON sink writes it, without the newline: one object with its keys
    /// in byte order; an event field overrides a span field of the same name, an inner span
    /// an outer one, and both override `timestamp`, `level` and `target`. Written straight
    /// into the buffer (no intermediate map), as the exporter renders every record.
    pub fn render_into(&self, is_secret: SecretNames, out: &mut Vec<u8>) {
        enum Source<'a> {
            Timestamp,
            Text(&'a str),
            Json(&'a Value),
            Field(&'a FieldValue),
        }
        let mut entries: Vec<(&str, Source<'_>)> =
            Vec::with_capacity(3 + self.fields.len() + self.spans.iter().map(|m| m.len()).sum::<usize>());
        entries.push(("timestamp", Source::Timestamp));
        entries.push(("level", Source::Text(self.level.as_str())));
        entries.push(("target", Source::Text(self.target)));
        for map in &self.spans {
            entries.extend(map.iter().map(|(k, v)| (k.as_str(), Source::Json(v))));
        }
        entries.extend(self.fields.iter().map(|(k, v)| (*k, Source::Field(v))));
        // Stable: of equal keys, the one pushed last (the highest precedence) comes last.
        entries.sort_by(|a, b| a.0.cmp(b.0));
        out.push(b'{');
        let mut first = true;
        for (i, (key, source)) in entries.iter().enumerate() {
            if entries.get(i + 1).is_some_and(|next| next.0 == *key) {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            let _ = serde_json::to_writer(&mut *out, key);
            out.push(b':');
            match source {
                Source::Timestamp => {
                    out.push(b'"');
                    let _ = time::OffsetDateTime::from(self.time)
                        .format_into(out, &time::format_description::well_known::Rfc3339);
                    out.push(b'"');
                }
                Source::Text(text) => {
                    let _ = serde_json::to_writer(&mut *out, text);
                }
                Source::Json(value) => {
                    let _ = serde_json::to_writer(&mut *out, value);
                }
                Source::Field(value) => write_field(out, key, value, is_secret),
            }
        }
        out.push(b'}');
    }

    /// [`Self::render_into`] into a new buffer.
    pub fn render_bytes(&self, is_secret: SecretNames) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.render_into(is_secret, &mut out);
        out
    }
}

fn write_field(out: &mut Vec<u8>, name: &str, value: &FieldValue, is_secret: SecretNames) {
    if is_secret(name) {
        let _ = serde_json::to_writer(&mut *out, REDACTED);
        return;
    }
    match value {
        FieldValue::Str(s) if s.trim_start().starts_with(['{', '[']) => {
            let _ = serde_json::to_writer(&mut *out, &redact_str(s, is_secret));
        }
        FieldValue::Str(s) => {
            let _ = serde_json::to_writer(&mut *out, s);
        }
        FieldValue::I64(v) => out.extend_from_slice(itoa::Buffer::new().format(*v).as_bytes()),
        FieldValue::U64(v) => out.extend_from_slice(itoa::Buffer::new().format(*v).as_bytes()),
        FieldValue::F64(v) => match serde_json::Number::from_f64(*v) {
            Some(n) => {
                let _ = serde_json::to_writer(&mut *out, &n);
            }
            None => out.extend_from_slice(b"null"),
        },
        FieldValue::Bool(v) => out.extend_from_slice(if *v { b"true" } else { b"false" }),
    }
}

/// A field's JSON value: redacted when its name is a secret's; a string holding a JSON
/// document is redacted inside, at any depth.
fn json_value(name: &str, value: &FieldValue, is_secret: SecretNames) -> Value {
    if is_secret(name) {
        return Value::String(REDACTED.into());
    }
    match value {
        FieldValue::Str(s) => Value::String(redact_str(s, is_secret)),
        FieldValue::I64(v) => (*v).into(),
        FieldValue::U64(v) => (*v).into(),
        FieldValue::F64(v) => serde_json::Number::from_f64(*v).map_or(Value::Null, Value::Number),
        FieldValue::Bool(v) => (*v).into(),
    }
}

/// A string as logged: a JSON document inside it is redacted at any depth.
pub(crate) fn redact_str(value: &str, is_secret: SecretNames) -> String {
    if value.trim_start().starts_with(['{', '[']) {
        if let Ok(mut v) = serde_json::from_str::<Value>(value) {
            redact(&mut v, is_secret);
            return v.to_string();
        }
    }
    value.to_owned()
}

fn redact(value: &mut Value, is_secret: SecretNames) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if is_secret(k) {
                    *v = Value::String(REDACTED.into());
                } else {
                    redact(v, is_secret);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact(v, is_secret)),
        _ => {}
    }
}

/// Records a new span's fields (redacted) into its extensions, unless another sink did.
pub(crate) fn record_new_span<S>(attrs: &Attributes<'_>, id: &Id, ctx: &Context<'_, S>, is_secret: SecretNames)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(span) = ctx.span(id) else { return };
    let mut extensions = span.extensions_mut();
    if extensions.get_mut::<SpanFields>().is_none() {
        let mut fields = Vec::new();
        attrs.record(&mut FieldList(&mut fields));
        let map = fields.iter().map(|(k, v)| ((*k).to_owned(), json_value(k, v, is_secret))).collect();
        extensions.insert(SpanFields(Arc::new(map)));
    }
}

/// Records later values of a span's fields (copy on write: events already captured keep
/// the values they saw).
pub(crate) fn record_span_values<S>(id: &Id, values: &Record<'_>, ctx: &Context<'_, S>, is_secret: SecretNames)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(span) = ctx.span(id) else { return };
    let mut extensions = span.extensions_mut();
    if let Some(SpanFields(map)) = extensions.get_mut::<SpanFields>() {
        let mut fields = Vec::new();
        values.record(&mut FieldList(&mut fields));
        let map = Arc::make_mut(map);
        for (k, v) in &fields {
            map.insert((*k).to_owned(), json_value(k, v, is_secret));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use crate::logging::{LineFormat, LineLayer};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn secret(name: &str) -> bool {
        let n = name.to_ascii_lowercase();
        n.contains("password") || n.contains("token")
    }

    #[test]
    fn events_carry_span_fields_and_redact_secrets() {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::registry().with(LineLayer::new(buffer.clone(), secret, LineFormat::Json));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", request_id = "r-1", task_id = tracing::field::Empty);
            let _g = span.enter();
            span.record("task_id", "t-9");
            tracing::info!(target: "synthorg::audit", password = "hunter2", count = 3u64, ok = true,
                body = r#"{"user": "bob", "nested": {"api_token": "x"}}"#, "something \"quoted\"\nhappened");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        let v: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["request_id"], "r-1");
        assert_eq!(v["task_id"], "t-9");
        assert_eq!(v["target"], "synthorg::audit");
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["message"], "something \"quoted\"\nhappened");
        assert_eq!(v["password"], REDACTED);
        assert_eq!(v["count"], 3);
        assert_eq!(v["ok"], true);
        assert!(v["body"].as_str().unwrap().contains(REDACTED) && !text.contains("\"x\""), "{text}");
        assert!(!text.contains("hunter2"));
    }

    #[test]
    fn rendering_orders_keys_and_applies_precedence() {
        let span =
            |pairs: &[(&str, Value)]| Arc::new(pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect());
        let event = CapturedEvent {
            time: std::time::UNIX_EPOCH + std::time::Duration::from_millis(1500),
            level: Level::INFO,
            target: "t",
            spans: vec![
                span(&[("request_id", "outer".into()), ("z", 1.into())]),
                span(&[("request_id", "inner".into())]),
            ],
            fields: vec![
                ("message", FieldValue::Str("hi \"there\"\n".into())),
                ("count", FieldValue::U64(3)),
                ("password", FieldValue::Str("x".into())),
                ("level", FieldValue::Str("custom".into())),
                ("doc", FieldValue::Str(r#"{"api_token":"t","n":[1]}"#.into())),
                ("ratio", FieldValue::F64(0.25)),
                ("nan", FieldValue::F64(f64::NAN)),
                ("neg", FieldValue::I64(-7)),
                ("ok", FieldValue::Bool(false)),
            ],
        };
        let text = String::from_utf8(event.render_bytes(secret)).unwrap();
        assert_eq!(
            text,
            r#"{"count":3,"doc":"{\"api_token\":\"**REDACTED**\",\"n\":[1]}","level":"custom","message":"hi \"there\"\n","nan":null,"neg":-7,"ok":false,"password":"**REDACTED**","ratio":0.25,"request_id":"inner","target":"t","timestamp":"1970-01-01T00:00:01.5Z","z":1}"#
        );
    }

    #[test]
    fn several_sinks_share_span_fields() {
        let (a, b) = (Buffer::default(), Buffer::default());
        let subscriber = tracing_subscriber::registry()
            .with(LineLayer::new(a.clone(), secret, LineFormat::Json))
            .with(LineLayer::new(b.clone(), secret, LineFormat::Json));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", request_id = "r-2");
            let _g = span.enter();
            tracing::warn!("hello");
        });
        for buffer in [a, b] {
            let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
            let v: Value = serde_json::from_str(text.trim()).unwrap();
            assert_eq!((v["request_id"].as_str(), v["message"].as_str()), (Some("r-2"), Some("hello")));
        }
    }
}
