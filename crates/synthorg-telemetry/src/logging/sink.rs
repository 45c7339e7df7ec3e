//! The line sinks (console, files): one line per event, JSON or text, every one rendered from
//! the same captured event with the same redaction.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use super::json::{record_new_span, record_span_values};
use super::{CapturedEvent, SecretNames};

/// How a line sink writes an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFormat {
    /// One JSON object (see [`CapturedEvent::render_into`]).
    Json,
    /// Human text with every control character escaped (see [`CapturedEvent::render_text`]).
    Text,
}

/// A sink layer over any writer.
pub struct LineLayer<W: Write + Send + 'static> {
    writer: Arc<Mutex<W>>,
    is_secret: SecretNames,
    format: LineFormat,
}

impl<W: Write + Send + 'static> std::fmt::Debug for LineLayer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineLayer").field("format", &self.format).finish_non_exhaustive()
    }
}

impl<W: Write + Send + 'static> LineLayer<W> {
    pub fn new(writer: W, is_secret: SecretNames, format: LineFormat) -> Self {
        Self { writer: Arc::new(Mutex::new(writer)), is_secret, format }
    }
}

impl<S, W> Layer<S> for LineLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: Write + Send + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        record_new_span(attrs, id, &ctx, self.is_secret);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        record_span_values(id, values, &ctx, self.is_secret);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let captured = CapturedEvent::capture(event, &ctx);
        let mut bytes = match self.format {
            LineFormat::Json => captured.render_bytes(self.is_secret),
            LineFormat::Text => {
                let mut line = String::with_capacity(256);
                captured.render_text(self.is_secret, &mut line);
                line.into_bytes()
            }
        };
        bytes.push(b'\n');
        // A poisoned writer still works; a failed write is dropped rather than panicking the
        // caller (logging must never take a request down).
        let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writer.write_all(&bytes);
    }
}
