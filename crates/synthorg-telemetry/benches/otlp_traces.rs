//! The cost of tracing a request: synthorg's span export beside the OpenTelemetry Rust SDK
//! (`tracing-opentelemetry` → `BatchSpanProcessor` → `opentelemetry-otlp` over http/protobuf),
//! the same spans to the same receiver in the same run.
//!
//! `cargo bench -p synthorg-telemetry --features sdk-compare --bench otlp_traces`
//!
//! A request is what a write request traces: its SERVER span (name, method, route, path,
//! status) and a CLIENT child for its store write. synthorg builds the two span records and
//! hands them to its exporter's queue, as its middleware does; the SDK is driven the way an
//! application on it is: a `tracing` span per unit of work, with `otel.*` and attribute
//! fields, turned into OpenTelemetry spans by its layer. Memory with the collector down is
//! measured in a child process per pipeline, so one pipeline's heap does not count for the
//! other's.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use common::{Peer, percentile, timer_overhead};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol as SdkProtocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use synthorg_telemetry::context::TraceContext;
use synthorg_telemetry::metrics::process;
use synthorg_telemetry::otlp::endpoint::{EndpointPolicy, SystemResolver};
use synthorg_telemetry::otlp::{Exporter, ExporterConfig, SpanKind, SpanRecord, Tracer, Traces};
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

/// Set in the child process that measures one pipeline's memory.
const MEMORY: &str = "SYNTHORG_OTLP_TRACES_BENCH_MEMORY";

/// One pipeline under test, and how it traces one request.
enum Pipeline {
    Synthorg(Exporter<Traces>, Tracer),
    Sdk(SdkTracerProvider, Dispatch),
}

impl Pipeline {
    fn synthorg(port: u16) -> Self {
        let policy = EndpointPolicy::default();
        let url = format!("http://127.0.0.1:{port}");
        let endpoint = policy.check_signal_endpoint(&url, "/v1/traces", &SystemResolver).unwrap();
        let exporter = Exporter::start_traces(ExporterConfig::new(endpoint, policy, Arc::new(SystemResolver))).unwrap();
        let tracer = exporter.tracer();
        Self::Synthorg(exporter, tracer)
    }

    fn sdk(port: u16) -> Self {
        let exporter = SpanExporter::builder()
            .with_http()
            .with_protocol(SdkProtocol::HttpBinary)
            .with_endpoint(format!("http://127.0.0.1:{port}/v1/traces"))
            .build()
            .unwrap();
        let processor =
            BatchSpanProcessor::builder(exporter).with_batch_config(BatchConfigBuilder::default().build()).build();
        let provider = SdkTracerProvider::builder().with_span_processor(processor).build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("synthorg-bench"));
        let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
        Self::Sdk(provider, dispatch)
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Synthorg(..) => "synthorg",
            Self::Sdk(..) => "otel-sdk",
        }
    }

    /// Traces one request: its SERVER span and the CLIENT child of its store write.
    #[inline(always)]
    fn request(&self, i: u64) {
        match self {
            Self::Synthorg(_, tracer) => {
                let trace = TraceContext::for_request(None);
                let start = SystemTime::now();
                let write = synthorg_telemetry::context::new_span_id();
                tracer.record(SpanRecord {
                    trace_id: trace.trace_id,
                    span_id: write,
                    parent_span_id: Some(trace.span_id),
                    flags: trace.flags,
                    name: "sqlite".to_owned(),
                    kind: SpanKind::Client,
                    start,
                    end: SystemTime::now(),
                    attributes: vec![("db.system.name", "sqlite".into())],
                    error: None,
                    trace_state: None,
                });
                tracer.record(SpanRecord {
                    trace_id: trace.trace_id,
                    span_id: trace.span_id,
                    parent_span_id: None,
                    flags: trace.flags,
                    name: "POST /api/v1/tasks/{id}/transitions".to_owned(),
                    kind: SpanKind::Server,
                    start,
                    end: SystemTime::now(),
                    attributes: vec![
                        ("http.request.method", "POST".into()),
                        ("url.path", format!("/api/v1/tasks/{i}/transitions").into()),
                        ("http.response.status_code", 200i64.into()),
                        ("http.route", "/api/v1/tasks/{id}/transitions".into()),
                    ],
                    error: None,
                    trace_state: None,
                });
            }
            Self::Sdk(_, dispatch) => tracing::dispatcher::with_default(dispatch, || {
                let server = tracing::info_span!(
                    "request",
                    otel.name = "POST /api/v1/tasks/{id}/transitions",
                    otel.kind = "server",
                    http.request.method = "POST",
                    url.path = %format_args!("/api/v1/tasks/{i}/transitions"),
                    http.response.status_code = tracing::field::Empty,
                    http.route = "/api/v1/tasks/{id}/transitions",
                );
                let _server = server.enter();
                {
                    let write = tracing::info_span!(
                        "write",
                        otel.name = "sqlite",
                        otel.kind = "client",
                        db.system.name = "sqlite"
                    );
                    let _write = write.enter();
                }
                server.record("http.response.status_code", 200i64);
            }),
        }
    }

    /// Flushes and stops; the spans synthorg counted as dropped (the SDK counts none).
    fn finish(self, deadline: Duration) -> Option<u64> {
        match self {
            Self::Synthorg(exporter, _) => Some(exporter.shutdown(deadline).dropped_total()),
            Self::Sdk(provider, dispatch) => {
                drop(dispatch);
                let _ = provider.force_flush();
                let _ = provider.shutdown();
                None
            }
        }
    }
}

/// Per-request cost: median and p99 in nanoseconds over `n` requests.
fn caller_cost(pipeline: &Pipeline, n: u64) -> (u64, u64) {
    for i in 0..10_000 {
        pipeline.request(i);
    }
    let mut samples = Vec::with_capacity(n as usize);
    for i in 0..n {
        let start = Instant::now();
        pipeline.request(i);
        samples.push(start.elapsed().as_nanos() as u64);
        // Pace a little so the measure is of tracing a request, not of a saturated queue.
        if i % 256 == 255 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    samples.sort_unstable();
    (percentile(&samples, 0.5), percentile(&samples, 0.99))
}

fn rss_mib() -> f64 {
    process::read().map_or(0.0, |p| p.resident_bytes / (1024.0 * 1024.0))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// In a child process: traces `n` requests with nobody listening, prints RSS before, after
/// and after shutdown.
fn memory_child(which: &str, n: u64) {
    let port = free_port();
    let before = rss_mib();
    let pipeline = if which == "synthorg" { Pipeline::synthorg(port) } else { Pipeline::sdk(port) };
    for i in 0..n {
        pipeline.request(i);
    }
    let loaded = rss_mib();
    let _ = pipeline.finish(Duration::from_millis(200));
    println!("{before:.1} {loaded:.1}");
}

fn memory(which: &str, n: u64) -> (f64, f64) {
    let out = Command::new(std::env::current_exe().unwrap()).env(MEMORY, format!("{which} {n}")).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let mut figures = text.split_whitespace().map(|f| f.parse::<f64>().unwrap());
    (figures.next().unwrap(), figures.next().unwrap())
}

fn main() {
    if common::receiver_child() {
        return;
    }
    if let Ok(mode) = std::env::var(MEMORY) {
        let (which, n) = mode.split_once(' ').unwrap();
        return memory_child(which, n.parse().unwrap());
    }
    let builders: [fn(u16) -> Pipeline; 2] = [Pipeline::synthorg, Pipeline::sdk];
    let (t50, t99) = timer_overhead();
    println!("timer overhead (anchor of the per-request figures): median {t50} ns, p99 {t99} ns");

    println!("\n1. caller cost per request traced: a SERVER span and a CLIENT child (100,000 requests)");
    let mut medians = Vec::new();
    for up in [true, false] {
        for build in builders {
            let mut peer = Peer::start();
            let port = if up { peer.port } else { free_port() };
            let pipeline = build(port);
            let (p50, p99) = caller_cost(&pipeline, 100_000);
            let name = pipeline.name();
            let _ = pipeline.finish(Duration::from_secs(if up { 10 } else { 1 }));
            let state = if up { "collector up  " } else { "collector down" };
            println!(
                "   {name:9} {state}: median {p50:5} ns  p99 {p99:6} ns   (spans delivered {})",
                peer.delivered("spans")
            );
            medians.push((name, up, p50));
        }
    }
    for up in [true, false] {
        let of = |name| medians.iter().find(|(n, u, _)| *n == name && *u == up).map_or(0, |m| m.2);
        let state = if up { "up" } else { "down" };
        println!(
            "   median ratio synthorg / otel-sdk, collector {state}: {:.2}",
            of("synthorg") as f64 / of("otel-sdk").max(1) as f64
        );
    }

    println!("\n2. memory with the collector down: RSS of a process tracing n requests (2n spans)");
    println!("   (bounded when it does not grow with n: each pipeline holds at most its queue)");
    for which in ["synthorg", "otel-sdk"] {
        for n in [100_000, 1_000_000] {
            let (before, loaded) = memory(which, n);
            println!("   {which:9} n = {n:>9}: {before:.1} MiB before, {loaded:.1} MiB after");
        }
    }
}
