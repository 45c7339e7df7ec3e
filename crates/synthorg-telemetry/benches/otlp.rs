//! synthorg's OTLP exporter beside the OpenTelemetry Rust SDK pipeline
//! (`opentelemetry-appender-tracing` → `BatchLogProcessor` → `opentelemetry-otlp` over
//! http/protobuf), same events, same receiver, same run.
//!
//! `cargo bench -p synthorg-telemetry --features sdk-compare --bench otlp`
//!
//! The receiver runs in a child process (`common`), so the CPU time read from `/proc/self` is
//! the pipeline's alone: the emitting thread plus every exporter thread.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Peer, percentile, timer_overhead};
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_otlp::{LogExporter, Protocol as SdkProtocol, WithExportConfig};
use opentelemetry_sdk::logs::{BatchConfigBuilder, BatchLogProcessor, SdkLoggerProvider};
use synthorg_telemetry::metrics::process;
use synthorg_telemetry::otlp::endpoint::{EndpointPolicy, SystemResolver};
use synthorg_telemetry::otlp::{Exporter, ExporterConfig};
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

/// Builds a pipeline to a receiver port, with an optional queue capacity.
type Build = fn(u16, Option<usize>) -> (Pipeline, Dispatch);

/// One pipeline under test.
enum Pipeline {
    Synthorg(Exporter),
    Sdk(SdkLoggerProvider),
}

impl Pipeline {
    fn synthorg(port: u16, queue: Option<usize>) -> (Self, Dispatch) {
        let policy = EndpointPolicy::default();
        let endpoint = policy.check_endpoint(&format!("http://127.0.0.1:{port}"), &SystemResolver).unwrap();
        let mut config = ExporterConfig::new(endpoint, policy, Arc::new(SystemResolver));
        if let Some(queue) = queue {
            config.queue_capacity = queue;
        }
        let exporter = Exporter::start(config).unwrap();
        let dispatch = Dispatch::new(tracing_subscriber::registry().with(exporter.layer()));
        (Self::Synthorg(exporter), dispatch)
    }

    fn sdk(port: u16, queue: Option<usize>) -> (Self, Dispatch) {
        let exporter = LogExporter::builder()
            .with_http()
            .with_protocol(SdkProtocol::HttpBinary)
            .with_endpoint(format!("http://127.0.0.1:{port}/v1/logs"))
            .build()
            .unwrap();
        let mut batch = BatchConfigBuilder::default();
        if let Some(queue) = queue {
            batch = batch.with_max_queue_size(queue);
        }
        let processor = BatchLogProcessor::builder(exporter).with_batch_config(batch.build()).build();
        let provider = SdkLoggerProvider::builder().with_log_processor(processor).build();
        let dispatch = Dispatch::new(tracing_subscriber::registry().with(OpenTelemetryTracingBridge::new(&provider)));
        (Self::Sdk(provider), dispatch)
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Synthorg(_) => "synthorg",
            Self::Sdk(_) => "otel-sdk",
        }
    }

    /// Flushes and stops; the records synthorg counted as dropped (the SDK counts none).
    fn finish(self, deadline: Duration) -> Option<u64> {
        match self {
            Self::Synthorg(exporter) => Some(exporter.shutdown(deadline).dropped_total()),
            Self::Sdk(provider) => {
                let _ = provider.force_flush();
                let _ = provider.shutdown();
                None
            }
        }
    }
}

/// The event: INFO with five fields, inside a request span carrying correlation ids.
#[inline(always)]
fn event(i: u64) {
    tracing::info!(target: "synthorg::bench", method = "POST", route = "/api/v1/tasks", status = 201u64, elapsed_us = i, agent_id = "agent-42", "request");
}

fn in_span<T>(f: impl FnOnce() -> T) -> T {
    let span = tracing::info_span!(
        "request",
        request_id = "req-1",
        trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
        span_id = "00f067aa0ba902b7",
        trace_flags = 1u64
    );
    let _guard = span.enter();
    f()
}

/// Per-call cost: median and p99 in nanoseconds over `n` events.
fn caller_cost(dispatch: &Dispatch, n: usize) -> (u64, u64) {
    tracing::dispatcher::with_default(dispatch, || {
        in_span(|| {
            for i in 0..10_000 {
                event(i);
            }
            let mut samples = Vec::with_capacity(n);
            for i in 0..n as u64 {
                let start = Instant::now();
                event(i);
                samples.push(start.elapsed().as_nanos() as u64);
                // Pace a little so the measure is of emitting, not of a saturated queue.
                if i % 512 == 511 {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            samples.sort_unstable();
            (percentile(&samples, 0.5), percentile(&samples, 0.99))
        })
    })
}

fn cpu_seconds() -> f64 {
    process::read().map_or(0.0, |p| p.cpu_seconds)
}

fn main() {
    if common::receiver_child() {
        return;
    }
    let builders: [Build; 2] = [Pipeline::synthorg, Pipeline::sdk];
    let (t50, t99) = timer_overhead();
    println!("timer overhead (anchor of the per-call figures): median {t50} ns, p99 {t99} ns");

    println!("\n1. caller cost per INFO event with 5 fields (200,000 events)");
    for up in [true, false] {
        for build in builders {
            let mut peer = Peer::start();
            let port = match up {
                true => peer.port,
                false => std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port(),
            };
            let (pipeline, dispatch) = build(port, None);
            let (p50, p99) = caller_cost(&dispatch, 200_000);
            let name = pipeline.name();
            drop(dispatch);
            let _ = pipeline.finish(Duration::from_secs(1));
            let state = if up { "collector up  " } else { "collector down" };
            println!("   {name:9} {state}: median {p50:5} ns  p99 {p99:6} ns   (delivered {})", peer.delivered("logs"));
        }
    }

    println!("\n2. sustained export over http/protobuf (500,000 events, queue large enough for all)");
    for build in builders {
        let mut peer = Peer::start();
        let n = 500_000u64;
        let (pipeline, dispatch) = build(peer.port, Some(n as usize));
        let (cpu0, start) = (cpu_seconds(), Instant::now());
        tracing::dispatcher::with_default(&dispatch, || in_span(|| (0..n).for_each(event)));
        drop(dispatch);
        let name = pipeline.name();
        let _ = pipeline.finish(Duration::from_secs(30));
        let (wall, cpu) = (start.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
        let delivered = peer.delivered("logs");
        println!(
            "   {name:9}: delivered {delivered}/{n} in {wall:.3} s = {:.0} records/s, CPU {cpu:.2} s = {:.2} us/record",
            delivered as f64 / wall,
            cpu * 1e6 / delivered.max(1) as f64
        );
    }

    println!("\n3. burst of 100,000 events into the default queue");
    for build in builders {
        let mut peer = Peer::start();
        let n = 100_000u64;
        let (pipeline, dispatch) = build(peer.port, None);
        tracing::dispatcher::with_default(&dispatch, || in_span(|| (0..n).for_each(event)));
        drop(dispatch);
        let name = pipeline.name();
        let counted = pipeline.finish(Duration::from_secs(30));
        let delivered = peer.delivered("logs");
        let counted_text = counted.map_or("not reported".to_owned(), |c| c.to_string());
        let unaccounted = n - delivered - counted.unwrap_or(0);
        println!(
            "   {name:9}: delivered {delivered}, counted as dropped {counted_text}, unaccounted {unaccounted} ({:.1} %)",
            unaccounted as f64 * 100.0 / n as f64
        );
    }
}
