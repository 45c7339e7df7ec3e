//! End-to-end scrape of `GET /api/v1/metrics` over loopback HTTP, on stores of 1000 agents
//! with 10,000 and with 1,000,000 tasks and cost records. The scrape reads aggregates, so
//! both should cost the same: what grows is the number of series, not of rows.
//!
//! Run: `cargo bench -p synthorg-api --bench scrape`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use synthorg_api::{ApiSettings, app};
use synthorg_store::{Store, now};

fn scrape(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    let mut group = c.benchmark_group("scrape_1000_agents");
    group.sample_size(50);
    for rows in [10_000usize, 1_000_000] {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Store> =
            Arc::new(synthorg_store::fixtures::seed(dir.path(), 1000, rows, rows, now()).expect("seed"));
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
        let url = format!("http://{}/api/v1/metrics", listener.local_addr().expect("addr"));
        let router = app(store, ApiSettings::default());
        let server = runtime.spawn(async move { axum::serve(listener, router).await });
        let bytes = agent.get(&url).call().expect("scrape").body_mut().read_to_vec().expect("body").len();
        eprintln!("rows={rows}: exposition of {bytes} bytes");
        group.bench_with_input(BenchmarkId::new("tasks_and_costs", rows), &rows, |b, _| {
            b.iter(|| {
                let mut response = agent.get(&url).call().expect("scrape");
                black_box(response.body_mut().read_to_vec().expect("body"));
            })
        });
        server.abort();
    }
    group.finish();
}

criterion_group!(benches, scrape);
criterion_main!(benches);
