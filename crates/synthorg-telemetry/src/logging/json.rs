//! A `tracing` layer rendering each event as one JSON object per line:
//! `{"timestamp", "level", "target", "message", <event fields>, <span fields>}`.
//!
//! Span fields (the request's `request_id`, `trace_id`, `span_id`, `task_id`, `agent_id`)
//! are flattened into the event, innermost span winning, so every line stands alone. Fields
//! whose names look like secrets are written as `**REDACTED**`, at any depth of a JSON-valued
//! field.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// Decides which field names hold secrets (synthorg passes its one list from the domain).
pub type SecretNames = fn(&str) -> bool;

const REDACTED: &str = "**REDACTED**";

/// The JSON sink layer over any writer.
pub struct JsonLayer<W: Write + Send + 'static> {
    writer: Arc<Mutex<W>>,
    is_secret: SecretNames,
}

impl<W: Write + Send + 'static> std::fmt::Debug for JsonLayer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JsonLayer")
    }
}

impl<W: Write + Send + 'static> JsonLayer<W> {
    pub fn new(writer: W, is_secret: SecretNames) -> Self {
        Self { writer: Arc::new(Mutex::new(writer)), is_secret }
    }
}

/// Span fields kept in the span's extensions.
struct SpanFields(Map<String, Value>);

struct Collect<'a> {
    map: &'a mut Map<String, Value>,
    is_secret: SecretNames,
}

impl Collect<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        let name = field.name();
        let value = if (self.is_secret)(name) { Value::String(REDACTED.into()) } else { value };
        self.map.insert(name.to_owned(), value);
    }
}

impl Visit for Collect<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        // A field holding a JSON document is redacted inside, at any depth.
        let value = match value.trim_start().starts_with(['{', '[']) {
            true => match serde_json::from_str::<Value>(value) {
                Ok(mut v) => {
                    redact(&mut v, self.is_secret);
                    Value::String(v.to_string())
                }
                Err(_) => Value::String(value.to_owned()),
            },
            false => Value::String(value.to_owned()),
        };
        self.put(field, value);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
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

impl<S, W> Layer<S> for JsonLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: Write + Send + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        // Several JSON sinks share the span's fields: the first one records them.
        if extensions.get_mut::<SpanFields>().is_none() {
            let mut map = Map::new();
            attrs.record(&mut Collect { map: &mut map, is_secret: self.is_secret });
            extensions.insert(SpanFields(map));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(SpanFields(map)) = extensions.get_mut::<SpanFields>() {
            values.record(&mut Collect { map, is_secret: self.is_secret });
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut line = Map::new();
        let now = time::OffsetDateTime::now_utc();
        let timestamp = now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        line.insert("timestamp".into(), Value::String(timestamp));
        line.insert("level".into(), Value::String(event.metadata().level().to_string()));
        line.insert("target".into(), Value::String(event.metadata().target().to_owned()));
        // Outermost span first so inner spans override.
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(SpanFields(fields)) = span.extensions().get::<SpanFields>() {
                    for (k, v) in fields {
                        line.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        event.record(&mut Collect { map: &mut line, is_secret: self.is_secret });
        let mut bytes = match serde_json::to_vec(&Value::Object(line)) {
            Ok(bytes) => bytes,
            Err(_) => return,
        };
        bytes.push(b'\n');
        // A poisoned writer still works; a failed write is dropped rather than panicking the
        // caller (logging must never take a request down).
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writer.write_all(&bytes);
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

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
        let subscriber = tracing_subscriber::registry().with(JsonLayer::new(buffer.clone(), secret));
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
    fn several_sinks_share_span_fields() {
        let (a, b) = (Buffer::default(), Buffer::default());
        let subscriber = tracing_subscriber::registry()
            .with(JsonLayer::new(a.clone(), secret))
            .with(JsonLayer::new(b.clone(), secret));
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
