//! The HTTP layer's families: requests by method, route template and status class, and
//! their latency. Counted by the request middleware.

use std::collections::BTreeMap;
use std::sync::Mutex;

use synthorg_core::Role;
use synthorg_telemetry::metrics::{
    Collect, CounterMap, Exemplar, Exposition, Family, Histogram, Kind, LATENCY_BUCKETS, LabelValue,
};

/// HTTP methods that get their own label value; others count as `other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
    Other,
}

impl Method {
    fn of(method: &str) -> Self {
        match method {
            "GET" => Self::Get,
            "HEAD" => Self::Head,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "PATCH" => Self::Patch,
            "DELETE" => Self::Delete,
            "OPTIONS" => Self::Options,
            _ => Self::Other,
        }
    }
}

impl LabelValue for Method {
    fn label(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
            Self::Options => "OPTIONS",
            Self::Other => "other",
        }
    }
}

/// The class of a response status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StatusClass {
    Informational,
    Success,
    Redirection,
    ClientError,
    ServerError,
}

impl StatusClass {
    fn of(status: u16) -> Self {
        match status {
            100..=199 => Self::Informational,
            200..=299 => Self::Success,
            300..=399 => Self::Redirection,
            400..=499 => Self::ClientError,
            _ => Self::ServerError,
        }
    }
}

impl LabelValue for StatusClass {
    fn label(self) -> &'static str {
        match self {
            Self::Informational => "1xx",
            Self::Success => "2xx",
            Self::Redirection => "3xx",
            Self::ClientError => "4xx",
            Self::ServerError => "5xx",
        }
    }
}

/// `{prefix}_http_requests_total` and `{prefix}_http_request_duration_seconds`. Routes are
/// route templates (a bounded set), never raw paths.
#[derive(Debug)]
pub struct HttpMetrics {
    requests: CounterMap<(Method, String, StatusClass)>,
    latency: Mutex<BTreeMap<(Method, String), Histogram>>,
    rate_limited: CounterMap<(Role, String)>,
    requests_family: Family<3>,
    duration_family: Family<2>,
    rate_limited_family: Family<2>,
}

impl HttpMetrics {
    pub fn new(prefix: &str) -> Self {
        Self {
            requests: CounterMap::with_keys([]),
            latency: Mutex::new(BTreeMap::new()),
            rate_limited: CounterMap::with_keys([]),
            requests_family: Family::new(
                prefix,
                "http_requests",
                Kind::Counter,
                "HTTP requests served, by method, route template and status class.",
            )
            .labelled(["method", "route", "status_class"]),
            duration_family: Family::new(
                prefix,
                "http_request_duration_seconds",
                Kind::Histogram,
                "HTTP request latency in seconds, by method and route template.",
            )
            .labelled(["method", "route"]),
            rate_limited_family: Family::new(
                prefix,
                "http_rate_limited",
                Kind::Counter,
                "Requests refused with 429 by the per-key rate limit, by the key's role and route template.",
            )
            .labelled(["role", "route"]),
        }
    }

    /// One request refused by the rate limit.
    pub fn rate_limited(&self, role: Role, route: &str) {
        self.rate_limited.inc((role, route.to_owned()));
    }

    /// One served request. `route` is the route template; `trace` the request's trace and
    /// span ids when its trace is sampled, kept as its latency bucket's exemplar.
    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64, trace: Option<([u8; 16], [u8; 8])>) {
        let method = Method::of(method);
        self.requests.inc((method, route.to_owned(), StatusClass::of(status)));
        let exemplar = trace.map(|(trace_id, span_id)| Exemplar::now(trace_id, span_id, seconds));
        let mut latency = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        latency
            .entry((method, route.to_owned()))
            .or_insert_with(|| Histogram::new(LATENCY_BUCKETS))
            .observe_with(seconds, exemplar);
    }
}

impl Collect for HttpMetrics {
    fn collect(&self, e: &mut Exposition) {
        self.requests_family.header(e);
        for ((method, route, class), count) in self.requests.snapshot() {
            self.requests_family.counter(e, [method.label(), &route, class.label()], count as f64);
        }
        self.duration_family.header(e);
        let latency = self.latency.lock().unwrap_or_else(|x| x.into_inner());
        for ((method, route), histogram) in latency.iter() {
            self.duration_family.histogram(e, [method.label(), route], &histogram.snapshot());
        }
        drop(latency);
        self.rate_limited_family.header(e);
        for ((role, route), count) in self.rate_limited.snapshot() {
            self.rate_limited_family.counter(e, [role.as_str(), &route], count as f64);
        }
    }
}
