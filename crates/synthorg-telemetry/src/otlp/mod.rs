//! The OTLP log exporter's building blocks.

pub mod endpoint;
