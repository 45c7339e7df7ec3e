//! Families owned by their components: each component names its families once (prefix
//! applied at construction) and writes their samples itself.

use super::{Exemplar, Exposition, HistogramSnapshot, Kind, OtelName, SeriesOrigin};

/// One metric family: its full name, kind, help text and label names. `N` is the number of
/// labels, fixed with their names when the family is made ([`Family::labelled`]): a sample
/// gives exactly `N` values, in that order, so it cannot be written with a wrong, missing or
/// extra label name.
#[derive(Debug, Clone)]
pub struct Family<const N: usize = 0> {
    name: String,
    kind: Kind,
    help: &'static str,
    otel: Option<OtelName>,
    origin: SeriesOrigin,
    labels: [&'static str; N],
}

impl Family {
    /// `{prefix}_{name}`, or `name` alone with an empty prefix (families with standard names,
    /// such as `process_*`); no labels until [`Family::labelled`].
    pub fn new(prefix: &str, name: &str, kind: Kind, help: &'static str) -> Self {
        let name = if prefix.is_empty() { name.to_owned() } else { format!("{prefix}_{name}") };
        Self { name, kind, help, otel: None, origin: SeriesOrigin::default(), labels: [] }
    }

    /// The family with these label names: every sample names them, in this order.
    pub fn labelled<const M: usize>(self, labels: [&'static str; M]) -> Family<M> {
        Family { name: self.name, kind: self.kind, help: self.help, otel: self.otel, origin: self.origin, labels }
    }
}

impl<const N: usize> Family<N> {
    /// The family's OpenTelemetry name, when it is the Prometheus translation of a
    /// conventional one: the OTLP push uses that name, unit and attribute keys.
    pub fn with_otel(mut self, otel: OtelName) -> Self {
        self.otel = Some(otel);
        self
    }

    /// Counts since `unix_nanos`, not since this process started: a total kept in the store
    /// (the OTLP push gives it that start time, so rates stay right across restarts).
    pub fn since(mut self, unix_nanos: u64) -> Self {
        self.origin.start = Some(unix_nanos);
        self
    }

    /// A counter that may go down: pushed over OTLP as a non-monotonic sum.
    pub fn may_decrease(mut self) -> Self {
        self.origin.may_decrease = true;
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Writes the family's header; its samples must follow before the next header.
    pub fn header(&self, e: &mut Exposition) {
        e.header_of(&self.name, self.kind, self.help, self.otel.as_ref(), self.origin);
    }

    /// The header of a family whose values count from `start` (nanoseconds since the Unix
    /// epoch) when it is known only once the store is read (see [`Family::since`]).
    pub fn header_since(&self, e: &mut Exposition, start: Option<u64>) {
        let origin = SeriesOrigin { start: start.or(self.origin.start), ..self.origin };
        e.header_of(&self.name, self.kind, self.help, self.otel.as_ref(), origin);
    }

    /// A gauge sample with these label values.
    pub fn gauge(&self, e: &mut Exposition, values: [&str; N], value: f64) {
        e.gauge(&self.name, &self.pairs(values), value);
    }

    /// A counter sample (`_total`) with these label values.
    pub fn counter(&self, e: &mut Exposition, values: [&str; N], value: f64) {
        e.counter(&self.name, &self.pairs(values), value);
    }

    /// A counter sample with its exemplar.
    pub fn counter_with(&self, e: &mut Exposition, values: [&str; N], value: f64, exemplar: Option<&Exemplar>) {
        e.counter_with(&self.name, &self.pairs(values), value, exemplar);
    }

    /// An info sample (`_info`, value 1) with these label values.
    pub fn info(&self, e: &mut Exposition, values: [&str; N]) {
        e.info(&self.name, &self.pairs(values));
    }

    /// A histogram's samples with these label values.
    pub fn histogram(&self, e: &mut Exposition, values: [&str; N], s: &HistogramSnapshot) {
        e.histogram(&self.name, &self.pairs(values), s);
    }

    fn pairs<'a>(&self, values: [&'a str; N]) -> [(&'static str, &'a str); N] {
        std::array::from_fn(|i| (self.labels[i], values[i]))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Format;

    #[test]
    fn a_labelled_family_names_its_labels_in_every_sample() {
        let family = Family::new("x", "jobs", Kind::Counter, "Jobs.").labelled(["queue", "outcome"]);
        let plain = Family::new("x", "up", Kind::Gauge, "Up.");
        let mut e = Exposition::new(Format::Text);
        family.header(&mut e);
        family.counter(&mut e, ["mail", "done"], 3.0);
        plain.header(&mut e);
        plain.gauge(&mut e, [], 1.0);
        let text = String::from_utf8(e.finish()).unwrap();
        assert!(text.contains("x_jobs_total{queue=\"mail\",outcome=\"done\"} 3\n"), "{text}");
        assert!(text.contains("x_up 1\n"), "{text}");
    }
}
