use proptest::prelude::*;
use time::macros::datetime;

use super::*;
use crate::budget::{ActionSpend, BudgetConfig, SpendWindow};

fn usd(s: &str) -> Usd {
    Usd::parse(s).unwrap()
}

fn request(agent: Uuid) -> NewReservation {
    NewReservation { agent_id: agent, ..NewReservation::default() }
}

const NOW: OffsetDateTime = datetime!(2026-06-10 12:00 UTC);

#[test]
fn an_amount_is_held_as_given_for_the_default_ttl() {
    let agent = Uuid::now_v7();
    let r = NewReservation { amount: Some(usd("0.25")), ..request(agent) }
        .into_reservation(NOW, &Catalogue::builtin(), "")
        .unwrap();
    // A call uses at least one token: an amount-only hold takes one from the token budget.
    assert_eq!((r.amount, r.tokens, r.state), (usd("0.25"), 1, ReservationState::Open));
    assert_eq!(r.expires_at - r.created_at, DEFAULT_TTL);
    assert!(r.holds_at(NOW) && !r.holds_at(r.expires_at));
}

#[test]
fn without_an_amount_the_catalogue_prices_the_worst_case() {
    let prices = Catalogue::from_yaml(
        "version: \"2026-01-01\"\nmodels:\n  - {provider: p, model: m, input: 3, output: 15, cache_write_input: 3.75, \
         reasoning_output: 20, source: s}\n",
    )
    .unwrap();
    let r = NewReservation {
        provider: Some("p".into()),
        model: Some("m".into()),
        max_input_tokens: Some(1_000_000),
        max_output_tokens: Some(100_000),
        ttl_seconds: Some(60),
        ..request(Uuid::now_v7())
    }
    .into_reservation(NOW, &prices, "")
    .unwrap();
    // Every input token written to the cache (3.75) and every output token reasoning (20).
    assert_eq!((r.amount, r.tokens), (usd("5.75"), 1_100_000));
    assert_eq!(r.expires_at, NOW + Duration::seconds(60));
}

#[test]
fn bad_requests_name_their_field() {
    let agent = Uuid::now_v7();
    let err = |r: NewReservation| r.into_reservation(NOW, &Catalogue::builtin(), "reserve.").unwrap_err().to_string();
    assert!(err(request(agent)).starts_with("reserve.amount: give an amount"), "{}", err(request(agent)));
    let e = err(NewReservation { amount: Some(usd("-1")), ttl_seconds: Some(3601), ..request(agent) });
    assert!(e.contains("reserve.amount: must not be negative") && e.contains("reserve.ttl_seconds"), "{e}");
    let e = err(NewReservation {
        provider: Some("nobody".into()),
        model: Some("unknown".into()),
        max_input_tokens: Some(1),
        max_output_tokens: Some(1),
        ..request(agent)
    });
    assert!(e.starts_with("reserve.model: nobody/unknown is not in the price catalogue"), "{e}");
    let e = err(NewReservation { amount: Some(usd("1")), max_input_tokens: Some(5), ..request(agent) });
    assert!(e.starts_with("reserve.max_output_tokens"), "{e}");
    let e = err(NewReservation { amount: Some(usd("1")), provider: Some("a\nb".into()), ..request(agent) });
    assert!(e.starts_with("reserve.provider"), "{e}");
}

#[test]
fn overshoot_is_what_was_spent_beyond_what_was_held() {
    let r = NewReservation { amount: Some(usd("1")), ..request(Uuid::now_v7()) }
        .into_reservation(NOW, &Catalogue::builtin(), "")
        .unwrap();
    assert_eq!(r.overshoot(usd("0.4"), NOW), Usd::ZERO);
    assert_eq!(r.overshoot(usd("1.3"), NOW), usd("0.3"));
    // Past its expiry the hold holds nothing: the whole cost went beyond it.
    assert_eq!(r.overshoot(usd("0.4"), r.expires_at), usd("0.4"));
    let released = Reservation { state: ReservationState::Released, ..r };
    assert_eq!(released.overshoot(usd("0.4"), NOW), usd("0.4"));
}

/// One step of the ledger model.
#[derive(Debug, Clone)]
enum Op {
    Reserve {
        agent: usize,
        task: Option<usize>,
        cents: i64,
        tokens: u64,
    },
    /// Settles the hold at this index (modulo), with this share of it in percent (above 100:
    /// overshoot).
    Settle {
        hold: usize,
        percent: i64,
    },
    Release {
        hold: usize,
    },
    /// A report with no reservation.
    Report {
        agent: usize,
        cents: i64,
    },
    /// Moves the clock; large steps cross midnight and billing periods.
    Advance {
        minutes: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..2usize, proptest::option::of(0..2usize), 1..300i64, 0..3000u64)
            .prop_map(|(agent, task, cents, tokens)| Op::Reserve { agent, task, cents, tokens }),
        3 => (0..64usize, prop_oneof![4 => 0..=100i64, 1 => 101..200i64])
            .prop_map(|(hold, percent)| Op::Settle { hold, percent }),
        1 => (0..64usize).prop_map(|hold| Op::Release { hold }),
        1 => (0..2usize, 1..50i64).prop_map(|(agent, cents)| Op::Report { agent, cents }),
        1 => prop_oneof![1..30i64, 600..20_000i64].prop_map(|minutes| Op::Advance { minutes }),
    ]
}

/// A recorded call: (agent, task, cost, tokens, occurred_at).
type Call = (Uuid, Option<Uuid>, Usd, u64, OffsetDateTime);

/// An in-memory ledger built from the domain's own rules: reports by `occurred_at`, holds
/// by [`Reservation::holds_at`], admission by [`BudgetConfig::admit`].
struct Ledger {
    config: BudgetConfig,
    now: OffsetDateTime,
    agents: [Uuid; 2],
    tasks: [Uuid; 2],
    records: Vec<Call>,
    holds: Vec<Reservation>,
    /// Spend beyond holds and spend without one: what may legitimately pass a limit.
    unheld: Usd,
}

impl Ledger {
    fn spend(&self, agent: Uuid, task: Option<Uuid>) -> ActionSpend {
        let w = SpendWindow::at(self.now, self.config.reset_day);
        let sum = |keep: &dyn Fn(&Call) -> bool| {
            Usd::from_nanos(self.records.iter().filter(|r| keep(r)).map(|r| r.2.nanos()).sum())
        };
        ActionSpend {
            period_spend: sum(&|r| r.4 >= w.period_start),
            agent_today: sum(&|r| r.0 == agent && r.4 >= w.day_start),
            task_total: task.map(|t| sum(&|r| r.1 == Some(t))),
            agent_tokens_today: self.records.iter().filter(|r| r.0 == agent && r.4 >= w.day_start).map(|r| r.3).sum(),
        }
    }

    fn held(&self, agent: Uuid, task: Option<Uuid>) -> ActionSpend {
        let open: Vec<_> = self.holds.iter().filter(|h| h.holds_at(self.now)).collect();
        let sum = |keep: &dyn Fn(&Reservation) -> bool| {
            Usd::from_nanos(open.iter().filter(|h| keep(h)).map(|h| h.amount.nanos()).sum())
        };
        ActionSpend {
            period_spend: sum(&|_| true),
            agent_today: sum(&|h| h.agent_id == agent),
            task_total: task.map(|t| sum(&|h| h.task_id == Some(t))),
            agent_tokens_today: open.iter().filter(|h| h.agent_id == agent).map(|h| h.tokens).sum(),
        }
    }

    /// The invariant: in every scope, spend + holds stay within the limit, except by what
    /// was spent without a hold to cover it.
    fn check(&self) -> Result<(), TestCaseError> {
        for agent in self.agents {
            for task in [None, Some(self.tasks[0]), Some(self.tasks[1])] {
                let (s, h) = (self.spend(agent, task), self.held(agent, task));
                let slack = |limit: Usd| limit.nanos() + self.unheld.nanos();
                prop_assert!(s.period_spend.nanos() + h.period_spend.nanos() <= slack(self.config.hard_stop()));
                prop_assert!(s.agent_today.nanos() + h.agent_today.nanos() <= slack(self.config.per_agent_daily_limit));
                if let (Some(st), Some(ht)) = (s.task_total, h.task_total) {
                    prop_assert!(st.nanos() + ht.nanos() <= slack(self.config.per_task_limit));
                }
                prop_assert!(s.agent_tokens_today + h.agent_tokens_today <= self.config.per_agent_daily_tokens);
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Holds, settles (under and over), releases, expiries and period rollover never let
    /// spend + holds pass a limit through a granted hold; a refusal happens only when the
    /// request truly does not fit.
    #[test]
    fn granted_holds_never_push_a_scope_past_its_limit(ops in proptest::collection::vec(op(), 1..120)) {
        let mut l = Ledger {
            config: BudgetConfig {
                total_monthly: usd("20"),
                per_agent_daily_limit: usd("8"),
                per_task_limit: usd("5"),
                // Settles spend at most what was held in tokens: a token overshoot is not modelled.
                per_agent_daily_tokens: 1_000_000,
                reset_day: 11,
                ..BudgetConfig::default()
            },
            now: datetime!(2026-06-10 22:00 UTC),
            agents: [Uuid::now_v7(), Uuid::now_v7()],
            tasks: [Uuid::now_v7(), Uuid::now_v7()],
            records: Vec::new(),
            holds: Vec::new(),
            unheld: Usd::ZERO,
        };
        for op in ops {
            match op {
                Op::Reserve { agent, task, cents, tokens } => {
                    let (agent, task) = (l.agents[agent], task.map(|t| l.tasks[t]));
                    let amount = Usd::from_nanos(cents * 10_000_000);
                    let (spend, held) = (l.spend(agent, task), l.held(agent, task));
                    match l.config.admit(&spend, &held, amount, tokens) {
                        Ok(()) => {
                            let mut r = NewReservation { amount: Some(amount), task_id: task, ttl_seconds: Some(1800), ..request(agent) }
                                .into_reservation(l.now, &Catalogue::empty(), "")
                                .unwrap();
                            r.tokens = tokens;
                            l.holds.push(r);
                        }
                        Err(e) => {
                            // No false refusal: the named scope truly has no room for it.
                            let (s, h, limit) = match e.scope {
                                crate::budget::Scope::Monthly => (spend.period_spend, held.period_spend, l.config.hard_stop()),
                                crate::budget::Scope::AgentDaily => (spend.agent_today, held.agent_today, l.config.per_agent_daily_limit),
                                crate::budget::Scope::Task => (spend.task_total.unwrap(), held.task_total.unwrap(), l.config.per_task_limit),
                                crate::budget::Scope::AgentDailyTokens => {
                                    prop_assert!(spend.agent_tokens_today + held.agent_tokens_today + tokens > l.config.per_agent_daily_tokens);
                                    continue;
                                }
                            };
                            prop_assert!(s.nanos() + h.nanos() + amount.nanos() > limit.nanos());
                        }
                    }
                }
                Op::Settle { hold, percent } if !l.holds.is_empty() => {
                    let i = hold % l.holds.len();
                    let h = l.holds[i].clone();
                    if h.state == ReservationState::Open {
                        let cost = Usd::from_nanos(h.amount.nanos() * percent / 100);
                        l.unheld = l.unheld.checked_add(h.overshoot(cost, l.now)).unwrap();
                        l.records.push((h.agent_id, h.task_id, cost, h.tokens.min(h.tokens * percent as u64 / 100), l.now));
                        l.holds[i] = Reservation { state: ReservationState::Settled, settled_cost: Some(cost), closed_at: Some(l.now), ..h };
                    }
                }
                Op::Release { hold } if !l.holds.is_empty() => {
                    let i = hold % l.holds.len();
                    if l.holds[i].state == ReservationState::Open {
                        l.holds[i].state = ReservationState::Released;
                    }
                }
                Op::Report { agent, cents } => {
                    let cost = Usd::from_nanos(cents * 10_000_000);
                    l.unheld = l.unheld.checked_add(cost).unwrap();
                    l.records.push((l.agents[agent], None, cost, 0, l.now));
                }
                Op::Advance { minutes } => {
                    l.now += Duration::minutes(minutes);
                    let now = l.now;
                    for h in l.holds.iter_mut().filter(|h| h.state == ReservationState::Open && h.expires_at <= now) {
                        h.state = ReservationState::Expired;
                    }
                }
                _ => {}
            }
            l.check()?;
        }
        // Every hold ends closed or still within its time.
        let now = l.now;
        prop_assert!(l.holds.iter().all(|h| h.state != ReservationState::Open || h.expires_at > now));
    }
}
