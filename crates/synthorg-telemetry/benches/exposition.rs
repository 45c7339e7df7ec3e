//! Exposition encoding of 20,000 series (1000 agents × 20 series), the workload of
//! `bench/exposition.sh`, which measures Python's `prometheus_client` on the same series in
//! the same run.
//!
//! Run: `cargo bench -p synthorg-telemetry --bench exposition`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use synthorg_telemetry::metrics::{Exposition, Format, Kind};

/// 20 families × 1000 agents: `bench_family_<f>{agent_id, status}`.
fn encode(format: Format, agents: &[String]) -> Vec<u8> {
    let mut e = Exposition::with_capacity(format, 2 << 20);
    for f in 0..20 {
        let family = format!("bench_family_{f}");
        e.header(&family, Kind::Gauge, "A benchmark family.");
        for (i, agent) in agents.iter().enumerate() {
            e.gauge(&family, &[("agent_id", agent), ("status", "in_progress")], (i * f) as f64 + 0.5);
        }
    }
    e.finish()
}

fn exposition(c: &mut Criterion) {
    let agents: Vec<String> = (0..1000).map(|i| format!("0190f6d4-7a1b-7c3d-8e9f-{i:012}")).collect();
    let mut group = c.benchmark_group("exposition_20k_series");
    for (name, format) in [("text_0_0_4", Format::Text), ("openmetrics", Format::OpenMetrics)] {
        let bytes = encode(format, &agents).len();
        eprintln!("exposition bytes {name} {bytes}");
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function(name, |b| b.iter(|| black_box(encode(format, &agents))));
    }
    group.finish();
}

criterion_group!(benches, exposition);
criterion_main!(benches);
