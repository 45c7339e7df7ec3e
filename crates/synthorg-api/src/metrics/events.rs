//! The families the events of committed changes move: security verdicts, and the figures
//! of the latest coordination run. Counted by the API's effects (`crate::effects`), only
//! after the commit that holds the change.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use synthorg_core::Usd;
use synthorg_core::cost::GenAiOperation;
use synthorg_core::reservation::Outcome;
use synthorg_core::security::{Decision, Verdict};
use synthorg_telemetry::metrics::{
    Collect, Counter, CounterMap, Exemplar, ExemplarCell, Exposition, Family, Gauge, Histogram, Kind, OtelName,
};

use super::OTHER;

/// Bounds of the approval decision time, in seconds: a minute to a day.
const DECISION_BUCKETS: &[f64] = &[10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0, 86400.0];

/// Bounds of `gen_ai.client.token.usage`: the conventions' advice, 1 to 4^13 tokens.
const TOKEN_BUCKETS: &[f64] = &[
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0,
    67108864.0,
];

/// `gen_ai.client.token.usage` under its Prometheus name, with the conventions' attributes.
const TOKEN_USAGE: OtelName = OtelName {
    name: "gen_ai.client.token.usage",
    unit: "{token}",
    attributes: &[
        ("gen_ai_operation_name", "gen_ai.operation.name"),
        ("gen_ai_provider_name", "gen_ai.provider.name"),
        ("gen_ai_request_model", "gen_ai.request.model"),
        ("gen_ai_token_type", "gen_ai.token.type"),
    ],
};

/// A token usage series: operation, provider, model, and input (`false`) or output.
type TokenKey = (GenAiOperation, String, String, bool);

/// The token usage histograms, one per operation, (provider, model) and token type; past
/// `max_models` (provider, model) pairs, new ones fold into `__other__`.
#[derive(Debug)]
struct TokenUsage {
    series: Mutex<BTreeMap<TokenKey, Histogram>>,
    models: Mutex<std::collections::BTreeSet<(String, String)>>,
    max_models: usize,
}

/// `{prefix}_security_evaluations_total` and `{prefix}_coordination_*`.
#[derive(Debug)]
pub struct EventMetrics {
    /// By verdict and action (they differ for a verdict shadowed).
    verdicts: CounterMap<(Verdict, Verdict)>,
    /// The latest cost report's trace, the exemplar of `cost_total`.
    cost_exemplar: Arc<ExemplarCell>,
    coordination_efficiency: Gauge,
    coordination_overhead: Gauge,
    verdicts_family: Family<2>,
    efficiency_family: Family,
    overhead_family: Family,
    reservations: CounterMap<Outcome>,
    reservations_family: Family<1>,
    /// Nanodollars spent beyond reservations.
    overshoot_nanos: Counter,
    overshoot_family: Family,
    /// By decision, in `Decision::ALL` order.
    decisions: Vec<(Decision, Histogram)>,
    decisions_family: Family<1>,
    tokens: TokenUsage,
    tokens_family: Family<4>,
}

impl EventMetrics {
    /// `max_model_series`: most (provider, model) pairs of the token usage histogram.
    pub fn new(prefix: &str, max_model_series: usize) -> Self {
        Self {
            tokens: TokenUsage { series: Mutex::default(), models: Mutex::default(), max_models: max_model_series },
            tokens_family: Family::new(
                "",
                "gen_ai_client_token_usage",
                Kind::Histogram,
                "Tokens per reported model call, by operation, provider, model and token type (input, output); \
                 models past max_model_series under __other__. OTLP name gen_ai.client.token.usage.",
            ).labelled(["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "gen_ai_token_type"])
            .with_otel(TOKEN_USAGE),
            cost_exemplar: Arc::default(),
            verdicts: CounterMap::with_keys(
                Verdict::ALL
                    .iter()
                    .map(|v| (*v, *v))
                    .chain([(Verdict::Deny, Verdict::Allow), (Verdict::Escalate, Verdict::Allow)]),
            ),
            coordination_efficiency: Gauge::default(),
            coordination_overhead: Gauge::default(),
            verdicts_family: Family::new(
                prefix,
                "security_evaluations",
                Kind::Counter,
                "Security verdicts given by this process, by verdict and by the action taken (allow for a deny or escalate in shadow mode).",
            ).labelled(["verdict", "action"]),
            efficiency_family: Family::new(
                prefix,
                "coordination_efficiency",
                Kind::Gauge,
                "Efficiency of the latest coordination run: success_rate / (turns_mas / turns_sas).",
            ),
            overhead_family: Family::new(
                prefix,
                "coordination_overhead_percent",
                Kind::Gauge,
                "Overhead of the latest coordination run: (turns_mas - turns_sas) / turns_sas x 100.",
            ),
            reservations: CounterMap::with_keys(Outcome::ALL.iter().copied()),
            reservations_family: Family::new(
                prefix,
                "budget_reservations",
                Kind::Counter,
                "Budget reservations handled by this process, by outcome (granted, refused, settled, released, expired).",
            ).labelled(["outcome"]),
            decisions: Decision::ALL.iter().map(|d| (*d, Histogram::new(DECISION_BUCKETS))).collect(),
            decisions_family: Family::new(
                prefix,
                "approval_decision_seconds",
                Kind::Histogram,
                "Time from an escalation to its approval's decision, by decision, decided through this process.",
            ).labelled(["decision"]),
            overshoot_nanos: Counter::default(),
            overshoot_family: Family::new(
                prefix,
                "budget_overshoot_usd",
                Kind::Counter,
                "USD spent beyond the reservation a cost report named (all of it when the hold had closed).",
            ),
        }
    }

    /// One security verdict (evaluation or output scan), with the current request's trace
    /// as its exemplar.
    pub fn verdict(&self, verdict: Verdict, action: Verdict) {
        self.verdicts.inc_with((verdict, action), 1, Exemplar::in_current_trace(1.0));
    }

    /// One cost recorded: its request's trace becomes the exemplar of the ledger's total.
    pub fn cost_recorded(&self, cost: f64) {
        self.cost_exemplar.set(Exemplar::in_current_trace(cost));
    }

    /// The latest cost report's exemplar, for the ledger's total (pulled from the store).
    pub fn cost_exemplar(&self) -> Arc<ExemplarCell> {
        Arc::clone(&self.cost_exemplar)
    }

    /// The tokens of one model call reported (`gen_ai.client.token.usage`), with the current
    /// request's trace as the exemplar.
    pub fn token_usage(&self, operation: GenAiOperation, provider: &str, model: &str, input: u64, output: u64) {
        let (provider, model) = {
            let mut models = self.tokens.models.lock().unwrap_or_else(|p| p.into_inner());
            let pair = (provider.to_owned(), model.to_owned());
            if models.contains(&pair) || models.len() < self.tokens.max_models {
                models.insert(pair.clone());
                pair
            } else {
                (OTHER.to_owned(), OTHER.to_owned())
            }
        };
        let mut series = self.tokens.series.lock().unwrap_or_else(|p| p.into_inner());
        for (output_side, n) in [(false, input), (true, output)] {
            let histogram = series
                .entry((operation, provider.clone(), model.clone(), output_side))
                .or_insert_with(|| Histogram::of_counts(TOKEN_BUCKETS));
            histogram.observe_with(n as f64, Exemplar::in_current_trace(n as f64));
        }
    }

    /// An approval decided `waited` seconds after its escalation.
    pub fn approval_decided(&self, decision: Decision, waited: f64) {
        if let Some((_, histogram)) = self.decisions.iter().find(|(d, _)| *d == decision) {
            histogram.observe(waited);
        }
    }

    /// One reservation outcome.
    pub fn reservation(&self, outcome: Outcome) {
        self.reservations.inc(outcome);
    }

    /// A cost report that named a reservation: `settled` when it closed an open hold.
    pub fn settled(&self, outcome: Option<Outcome>, overshoot: Usd) {
        if let Some(outcome) = outcome {
            self.reservations.inc(outcome);
        }
        self.overshoot(overshoot);
    }

    fn overshoot(&self, usd: Usd) {
        if usd.nanos() > 0 {
            self.overshoot_nanos.inc_by(usd.nanos() as u64);
        }
    }

    /// The figures of the latest coordination run.
    pub fn coordination_run(&self, efficiency: f64, overhead_percent: f64) {
        self.coordination_efficiency.set(efficiency);
        self.coordination_overhead.set(overhead_percent);
    }
}

impl Collect for EventMetrics {
    fn collect(&self, e: &mut Exposition) {
        for (family, gauge) in [
            (&self.efficiency_family, &self.coordination_efficiency),
            (&self.overhead_family, &self.coordination_overhead),
        ] {
            family.header(e);
            if let Some(v) = gauge.get() {
                family.gauge(e, [], v);
            }
        }
        self.reservations_family.header(e);
        for (outcome, count) in self.reservations.snapshot() {
            self.reservations_family.counter(e, [outcome.as_str()], count as f64);
        }
        self.overshoot_family.header(e);
        self.overshoot_family.counter(e, [], self.overshoot_nanos.get() as f64 / 1e9);
        self.decisions_family.header(e);
        for (decision, histogram) in &self.decisions {
            let s = histogram.snapshot();
            self.decisions_family.histogram(e, [decision.as_str()], &s);
        }
        self.tokens_family.header(e);
        {
            let series = self.tokens.series.lock().unwrap_or_else(|p| p.into_inner());
            for ((operation, provider, model, output_side), histogram) in series.iter() {
                let token_type = if *output_side { "output" } else { "input" };
                let labels = [operation.as_str(), provider.as_str(), model.as_str(), token_type];
                self.tokens_family.histogram(e, labels, &histogram.snapshot());
            }
        }
        self.verdicts_family.header(e);
        for ((verdict, action), count, exemplar) in self.verdicts.snapshot_with_exemplars() {
            self.verdicts_family.counter_with(e, [verdict.as_str(), action.as_str()], count as f64, exemplar.as_ref());
        }
    }
}
