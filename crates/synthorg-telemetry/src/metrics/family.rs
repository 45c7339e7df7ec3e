//! Families owned by their components: each component names its families once (prefix
//! applied at construction) and writes their samples itself.

use super::{Exposition, Kind, OtelName};

/// One metric family: its full name, kind and help text.
#[derive(Debug, Clone)]
pub struct Family {
    name: String,
    kind: Kind,
    help: &'static str,
    otel: Option<OtelName>,
}

impl Family {
    /// `{prefix}_{name}`, or `name` alone with an empty prefix (families with standard names,
    /// such as `process_*`).
    pub fn new(prefix: &str, name: &str, kind: Kind, help: &'static str) -> Self {
        let name = if prefix.is_empty() { name.to_owned() } else { format!("{prefix}_{name}") };
        Self { name, kind, help, otel: None }
    }

    /// The family's OpenTelemetry name, when it is the Prometheus translation of a
    /// conventional one: the OTLP push uses that name, unit and attribute keys.
    pub fn with_otel(mut self, otel: OtelName) -> Self {
        self.otel = Some(otel);
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Writes the family's header; its samples must follow before the next header.
    pub fn header(&self, e: &mut Exposition) {
        e.header_otel(&self.name, self.kind, self.help, self.otel.as_ref());
    }
}

/// A component's families: writes each family's header and samples into a scrape. A
/// component is registered once with the collector of the endpoint.
pub trait Collect: Send + Sync + std::fmt::Debug {
    fn collect(&self, e: &mut Exposition);
}

/// A closed set of label values (statuses, outcomes, reasons): the value written is the
/// variant's one spelling.
pub trait LabelValue: Copy {
    fn label(self) -> &'static str;
}
