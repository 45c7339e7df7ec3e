//! What pricing a cost report costs, in CPU: validating a report and building its record with
//! `cost` given (the anchor: what every report paid before synthorg priced calls, plus the
//! lookup for the computed figure kept beside it) and with `cost` omitted (synthorg computes
//! it), on the built-in catalogue, for a plain call, a cached and reasoning call, a long
//! (tiered) call, a dated snapshot (alias fallback) and an unlisted model.
//!
//! Run: `cargo bench -p synthorg-core --bench price`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use synthorg_core::Usd;
use synthorg_core::cost::NewCostRecord;
use synthorg_core::price::{Catalogue, Usage};
use time::OffsetDateTime;
use uuid::Uuid;

fn report(provider: &str, model: &str, usage: Usage, cost: Option<Usd>) -> NewCostRecord {
    NewCostRecord {
        agent_id: Uuid::nil(),
        task_id: None,
        provider: provider.into(),
        model: model.into(),
        usage,
        cost,
        call_category: None,
        occurred_at: None,
        idempotency_key: Some("bench-call-1".into()),
        reservation_id: None,
    }
}

fn pricing(c: &mut Criterion) {
    let prices = Catalogue::builtin();
    let now = OffsetDateTime::now_utc();
    let plain = Usage { input: 1200, output: 300, ..Usage::default() };
    let cached =
        Usage { input: 12_000, output: 900, cache_read_input: 9000, cache_write_input: 1000, reasoning_output: 400 };
    let long = Usage { input: 250_000, output: 2000, cache_read_input: 100_000, ..Usage::default() };
    let cases = [
        ("plain", "anthropic", "claude-sonnet-4-5", plain),
        ("cached_reasoning", "openai", "gpt-5.4", cached),
        ("tiered", "google", "gemini-2.5-pro", long),
        ("snapshot_alias", "anthropic", "claude-sonnet-4-5-20250929", plain),
        ("unlisted", "in-house", "llama-3.3-70b", plain),
    ];
    let mut group = c.benchmark_group("into_record");
    for (name, provider, model, usage) in cases {
        for (given, cost) in [("cost_given", Some(Usd::from_nanos(8_100_000))), ("cost_omitted", None)] {
            group.bench_with_input(BenchmarkId::new(given, name), &usage, |b, usage| {
                b.iter_batched(
                    || report(provider, model, *usage, cost),
                    |r| black_box(r.into_record(now, synthorg_core::cost::DEFAULT_MAX_REPORT_DELAY, &prices)),
                    criterion::BatchSize::SmallInput,
                )
            });
        }
    }
    group.finish();
}

criterion_group!(benches, pricing);
criterion_main!(benches);
