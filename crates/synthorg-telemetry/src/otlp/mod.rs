//! The OTLP exporters of logs (SPEC §4), traces and metrics (SPEC §13) over one core, and
//! their endpoint hardening (SPEC §5).

mod config;
mod encode;
pub mod endpoint;
mod exporter;
mod logs;
mod mapping;
mod meter;
mod metrics;
mod proto;
mod queue;
#[cfg(feature = "receiver")]
pub mod receiver;
mod stats;
mod traces;
mod transport;
mod worker;

pub use crate::tls::validate_ca_pem;
pub use config::{ExporterConfig, MAX_REQUEST_BYTES, MAX_RETRY_AFTER, Signal};
pub use encode::Protocol;
pub use exporter::ExporterHandle;
pub use logs::{Logs, OtlpLayer};
pub use meter::{Meter, Metrics, Reading};
pub use metrics::{BatchOutcome, ExportOutcome, ExporterMetrics};
pub use stats::{DropReason, ExporterStats};
pub use traces::{AttrValue, SpanKind, SpanRecord, Tracer, Traces};

/// A running exporter of one signal (logs unless named). Shut it down with its `shutdown` to
/// drain its queue.
pub type Exporter<S = Logs> = exporter::Exporter<S>;
pub use transport::{MAX_RESPONSE_BYTES, StartError};
