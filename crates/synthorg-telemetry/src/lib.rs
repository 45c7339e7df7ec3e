//! Telemetry of synthorg: metric primitives, the Prometheus text 0.0.4 and OpenMetrics 1.0.0
//! exposition, content negotiation and process metrics.
//!
//! Architecture invariant: this crate knows nothing of the domain or the store; it is usable
//! by every crate but core. What to expose is decided by the API's metrics collector.

pub mod context;
pub mod logging;
pub mod metrics;
pub mod otlp;
pub mod tls;
