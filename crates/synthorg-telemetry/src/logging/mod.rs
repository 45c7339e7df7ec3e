//! Log sinks: one JSON rendering of every event, shared by the JSON console, the file sinks
//! and the OTLP exporter, with the request's correlation fields flattened in and secrets
//! redacted.

mod json;
mod rotate;
mod sink;
mod text;

pub use json::REDACTED;
pub use json::{CapturedEvent, FieldValue, SecretNames};
pub(crate) use json::{record_new_span, record_span_values, redact_str};
pub use rotate::{RotatingFile, Rotation};
pub use sink::{LineFormat, LineLayer};
