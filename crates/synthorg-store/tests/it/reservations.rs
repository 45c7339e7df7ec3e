//! Budget reservations on both stores: the life of a hold, settles, and the cap under
//! concurrent reservers (one SQLite store; two PostgreSQL replicas on one database).

use std::sync::Barrier;

use synthorg_core::budget::{BudgetConfig, Scope};
use synthorg_core::rate::{CallRates, RateKind, RateLimited};
use synthorg_core::reservation::{NewReservation, Reservation, ReservationState};
use synthorg_core::{DomainError, Usd};
use synthorg_store::testing::PgSchema;
use synthorg_store::*;
use time::Duration;
use uuid::Uuid;

use crate::entities::cost;
use crate::{add_agent, add_task};

fn usd(s: &str) -> Usd {
    Usd::parse(s).unwrap()
}

fn cap(total: &str) -> BudgetConfig {
    BudgetConfig { total_monthly: usd(total), ..BudgetConfig::default() }
}

fn hold(agent: Uuid, task: Option<Uuid>, amount: &str) -> Reservation {
    NewReservation { agent_id: agent, task_id: task, amount: Some(usd(amount)), ..NewReservation::default() }
        .into_reservation(now(), &synthorg_core::price::Catalogue::empty(), "")
        .unwrap()
}

fn granted(admission: Admission) -> (Reservation, Option<Usd>) {
    match admission {
        Admission::Granted { reservation, remaining, .. } => (reservation, remaining),
        Admission::Refused(e) => panic!("refused: {}", e.message()),
        Admission::RateLimited(limited) => panic!("rate limited: {}", limited.message()),
    }
}

fn settle(s: &dyn Store, r: &Reservation, amount: &str) -> Recorded<synthorg_core::cost::CostRecord> {
    let mut record = cost(r.agent_id, amount, None);
    record.task_id = r.task_id;
    record.reservation_id = Some(r.id);
    s.record_cost(&record).unwrap()
}

fn holds_settle_release_and_expire(s: &dyn Store) {
    let agent = add_agent(s, "reserver").id;
    let config = cap("5");
    let (first, remaining) = granted(s.reserve(&hold(agent, None, "1"), &config, &CallRates::default()).unwrap());
    assert_eq!((first.state, remaining), (ReservationState::Open, Some(usd("4"))));
    assert_eq!(s.held(Some(agent), None, now()).unwrap().period_spend, usd("1"));
    // The report that names it settles it: the hold becomes the cost.
    let recorded = settle(s, &first, "0.6");
    let settlement = recorded.settlement.unwrap();
    assert_eq!((settlement.was, settlement.held, settlement.overshoot), (ReservationState::Open, usd("1"), Usd::ZERO));
    let settled = s.get_reservation(first.id).unwrap();
    assert_eq!(settled.state, ReservationState::Settled);
    assert_eq!((settled.cost_record_id, settled.settled_cost), (Some(recorded.value.id), Some(usd("0.6"))));
    assert_eq!(s.held(Some(agent), None, now()).unwrap().period_spend, Usd::ZERO);
    // 0.6 spent: 4.4 fits exactly, then nothing more.
    let (big, remaining) = granted(s.reserve(&hold(agent, None, "4.4"), &config, &CallRates::default()).unwrap());
    assert_eq!(remaining, Some(Usd::ZERO));
    let Admission::Refused(e) = s.reserve(&hold(agent, None, "0.000000001"), &config, &CallRates::default()).unwrap()
    else {
        panic!("a full budget granted a hold")
    };
    assert_eq!((e.scope, e.message().contains("0.6 USD spent and 4.4 USD held of 5 USD")), (Scope::Monthly, true));
    // Released, the room comes back; releasing twice is a conflict; another agent's is not found.
    let other = add_agent(s, "other").id;
    let err = s.release_reservation(big.id, Some(other), now()).unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    assert_eq!(s.release_reservation(big.id, Some(agent), now()).unwrap().state, ReservationState::Released);
    let err = s.release_reservation(big.id, None, now()).unwrap_err();
    assert!(matches!(err, StoreError::Domain(DomainError::Conflict(ref m)) if m.contains("already released")), "{err}");
    // A settle above its hold records the money and names the overshoot.
    let (small, _) = granted(s.reserve(&hold(agent, None, "0.1"), &config, &CallRates::default()).unwrap());
    let over = settle(s, &small, "0.35").settlement.unwrap();
    assert_eq!(over.overshoot, usd("0.25"));
    // A report naming a closed reservation is recorded; all of it went beyond a hold.
    let late = settle(s, &big, "0.2").settlement.unwrap();
    assert_eq!((late.was, late.overshoot), (ReservationState::Released, usd("0.2")));
    assert_eq!(s.get_reservation(big.id).unwrap().state, ReservationState::Released);
    // Bad references are the report's fault, and nothing is recorded.
    let total = s.total_cost().unwrap();
    let mut unknown = cost(agent, "0.1", None);
    unknown.reservation_id = Some(Uuid::now_v7());
    let err = s.record_cost(&unknown).unwrap_err().to_string();
    assert!(err.starts_with("reservation_id: reservation") && err.ends_with("does not exist"), "{err}");
    let (theirs, _) = granted(s.reserve(&hold(other, None, "0.1"), &config, &CallRates::default()).unwrap());
    let mut wrong = cost(agent, "0.1", None);
    wrong.reservation_id = Some(theirs.id);
    let err = s.record_cost(&wrong).unwrap_err().to_string();
    assert!(err.contains(&format!("was made for agent {other}")), "{err}");
    assert_eq!(s.total_cost().unwrap(), total);
    // An expired hold no longer counts, and one sweep closes it once.
    let mut stale = hold(agent, None, "0.5");
    stale.created_at = now() - Duration::seconds(10);
    stale.expires_at = now() - Duration::seconds(1);
    let (stale, _) = granted(s.reserve(&stale, &config, &CallRates::default()).unwrap());
    assert_eq!(s.held(Some(agent), None, now()).unwrap().agent_today, Usd::ZERO);
    let swept = s.expire_reservations(now(), 100).unwrap();
    assert_eq!(swept.iter().map(|r| (r.id, r.state)).collect::<Vec<_>>(), [(stale.id, ReservationState::Expired)]);
    assert!(s.expire_reservations(now(), 100).unwrap().is_empty());
    s.release_reservation(theirs.id, None, now()).unwrap();
    assert_eq!(s.held_totals(now()).unwrap(), HeldTotals::default());
    let open = ReservationFilter { state: Some(ReservationState::Open), ..ReservationFilter::default() };
    assert!(s.list_reservations(&open, &PageRequest::default()).unwrap().items.is_empty());
    let mine = ReservationFilter { agent_id: Some(agent), ..ReservationFilter::default() };
    assert_eq!(s.list_reservations(&mine, &PageRequest::default()).unwrap().items.len(), 4);
}

fn tasks_and_tokens_are_scopes_too(s: &dyn Store) {
    let agent = add_agent(s, "tokens").id;
    let task = add_task(s, "bounded").id;
    let config = BudgetConfig { per_task_limit: usd("1"), per_agent_daily_tokens: 1000, ..BudgetConfig::default() };
    let (on_task, _) = granted(s.reserve(&hold(agent, Some(task), "0.75"), &config, &CallRates::default()).unwrap());
    let Admission::Refused(e) = s.reserve(&hold(agent, Some(task), "0.5"), &config, &CallRates::default()).unwrap()
    else {
        panic!()
    };
    assert_eq!((e.scope, e.remaining), (Scope::Task, synthorg_core::budget::Quantity::Usd(usd("0.25"))));
    // Without the task the hold fits.
    granted(s.reserve(&hold(agent, None, "0.5"), &config, &CallRates::default()).unwrap());
    // Tokens: the report's 15 tokens (10 in, 5 out) count, and holds of tokens count (the
    // open amount-only hold of 0.5 holds one).
    settle(s, &on_task, "0.1");
    let mut tokens = hold(agent, None, "0");
    tokens.tokens = 984;
    granted(s.reserve(&tokens, &config, &CallRates::default()).unwrap());
    let mut one_more = hold(agent, None, "0");
    one_more.tokens = 1;
    let Admission::Refused(e) = s.reserve(&one_more, &config, &CallRates::default()).unwrap() else {
        panic!("token budget overshot")
    };
    assert_eq!(
        (e.scope, e.spent, e.held),
        (
            Scope::AgentDailyTokens,
            synthorg_core::budget::Quantity::Tokens(15),
            synthorg_core::budget::Quantity::Tokens(985)
        )
    );
    // Missing agents and tasks are the request's fault.
    let err = s.reserve(&hold(Uuid::now_v7(), None, "1"), &config, &CallRates::default()).unwrap_err().to_string();
    assert!(err.starts_with("agent_id: agent"), "{err}");
    let err =
        s.reserve(&hold(agent, Some(Uuid::now_v7()), "1"), &config, &CallRates::default()).unwrap_err().to_string();
    assert!(err.starts_with("task_id: task"), "{err}");
}

crate::on_both_stores!(holds_settle_release_and_expire, tasks_and_tokens_are_scopes_too);

/// 64 reservers at once, spread over `stores`, each asking once for `amount`: exactly as many
/// are granted as the room admits.
fn race_reserve(stores: &[&dyn Store], agents: &[Uuid], config: &BudgetConfig, amount: &str) -> Vec<Reservation> {
    let barrier = Barrier::new(64);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..64)
            .map(|i| {
                let (barrier, store, agent) = (&barrier, stores[i % stores.len()], agents[i % agents.len()]);
                scope.spawn(move || {
                    barrier.wait();
                    match store.reserve(&hold(agent, None, amount), config, &CallRates::default()).unwrap() {
                        Admission::Granted { reservation, .. } => Some(reservation),
                        Admission::Refused(e) => {
                            assert_eq!(e.scope, Scope::Monthly);
                            None
                        }
                        Admission::RateLimited(limited) => panic!("no rate was set: {}", limited.message()),
                    }
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().unwrap()).collect()
    })
}

/// The invariant under load: every reserver settles at most what it held, the cap is never
/// passed, and no reserver is refused while room remains.
fn the_cap_holds_under_concurrent_reservers(stores: &[&dyn Store]) {
    let s = stores[0];
    let agents: Vec<Uuid> = (0..8).map(|i| add_agent(s, &format!("racer {i}")).id).collect();
    let config = cap("5");
    // 64 ask for 0.1 each: the cap admits 50.
    let first = race_reserve(stores, &agents, &config, "0.1");
    assert_eq!(first.len(), 50);
    assert_eq!(s.held_totals(now()).unwrap().amount, usd("5"));
    // Each settles 0.05 (at most its hold), half through each store.
    std::thread::scope(|scope| {
        for (i, r) in first.iter().enumerate() {
            let store = stores[i % stores.len()];
            scope.spawn(move || settle(store, r, "0.05"));
        }
    });
    assert_eq!((s.total_cost().unwrap(), s.held_totals(now()).unwrap()), (usd("2.5"), HeldTotals::default()));
    // 2.5 left: exactly 25 of the next 64 fit.
    let second = race_reserve(stores, &agents, &config, "0.1");
    assert_eq!(second.len(), 25);
    std::thread::scope(|scope| {
        for (i, r) in second.iter().enumerate() {
            let store = stores[i % stores.len()];
            scope.spawn(move || settle(store, r, "0.1"));
        }
    });
    assert_eq!(s.total_cost().unwrap(), usd("5"));
    assert!(race_reserve(stores, &agents, &config, "0.000000001").is_empty(), "a spent budget granted a hold");
    let settled = ReservationFilter { state: Some(ReservationState::Settled), ..ReservationFilter::default() };
    assert_eq!(all_pages(|p| s.list_reservations(&settled, p)).unwrap().len(), 75);
}

#[test]
fn sixty_four_reservers_on_sqlite_never_pass_the_cap() {
    let (_dir, store) = crate::store();
    the_cap_holds_under_concurrent_reservers(&[&store]);
    assert!(store.integrity_check().unwrap().is_empty());
}

#[test]
#[cfg_attr(not(pg_tests), ignore = "no PostgreSQL: SYNTHORG_TEST_PG_URL was not set when the tests were built")]
fn sixty_four_reservers_on_two_postgres_replicas_never_pass_the_cap() {
    let schema = PgSchema::new().expect("SYNTHORG_TEST_PG_URL names the test database");
    let (a, b) = (schema.open().unwrap(), schema.open().unwrap());
    the_cap_holds_under_concurrent_reservers(&[&a, &b]);
    // Two replicas sweeping at once expire each hold once.
    let agent = add_agent(&a, "sweeper").id;
    for _ in 0..20 {
        let mut stale = hold(agent, None, "0");
        stale.expires_at = now() - Duration::seconds(1);
        granted(a.reserve(&stale, &BudgetConfig::default(), &CallRates::default()).unwrap());
    }
    let swept = std::thread::scope(|scope| {
        let (ha, hb) =
            (scope.spawn(|| a.expire_reservations(now(), 7)), scope.spawn(|| b.expire_reservations(now(), 7)));
        let mut ids: Vec<Uuid> =
            ha.join().unwrap().unwrap().into_iter().chain(hb.join().unwrap().unwrap()).map(|r| r.id).collect();
        while let Ok(more) = a.expire_reservations(now(), 7) {
            if more.is_empty() {
                break;
            }
            ids.extend(more.into_iter().map(|r| r.id));
        }
        ids
    });
    let mut unique = swept.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((swept.len(), unique.len()), (20, 20));
}

/// An agent's call rates under 64 concurrent admissions spread over `stores`, all at one
/// instant (a hold's `created_at` is its admission's clock): exactly the requests per minute
/// are granted, the others refused with the rate named; then the tokens rate counts what
/// settled calls used in the minute and what open holds hold.
fn call_rates_hold_under_concurrent_reservers(stores: &[&dyn Store]) {
    let s = stores[0];
    let (agent, other) = (add_agent(s, "rated").id, add_agent(s, "unrated").id);
    let at = now();
    let rates = CallRates { requests_per_minute: 10, tokens_per_minute: 0 };
    let at_once = |agent: Uuid, rates: CallRates| -> (usize, Vec<RateLimited>) {
        let barrier = Barrier::new(64);
        let answers: Vec<Admission> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..64)
                .map(|i| {
                    let (barrier, store) = (&barrier, stores[i % stores.len()]);
                    scope.spawn(move || {
                        let mut one = hold(agent, None, "0.01");
                        one.created_at = at;
                        barrier.wait();
                        store.reserve(&one, &BudgetConfig::default(), &rates).unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let granted = answers.iter().filter(|a| matches!(a, Admission::Granted { .. })).count();
        let limited = answers
            .into_iter()
            .filter_map(|a| match a {
                Admission::RateLimited(limited) => Some(limited),
                _ => None,
            })
            .collect();
        (granted, limited)
    };
    let (admitted, limited) = at_once(agent, rates);
    assert_eq!((admitted, limited.len()), (10, 54));
    assert!(limited.iter().all(|l| l.rate == RateKind::Requests && l.per_minute == 10 && l.retry_after_seconds >= 1));
    // Another agent's minute is its own.
    assert_eq!(at_once(other, rates).0, 10);

    // Tokens: 700 used by calls settled this minute, 1 held by each of the 10 open holds
    // (a hold without token maxima holds one): 710 of 1000 leaves room; 300 more does not.
    let tokens = CallRates { requests_per_minute: 0, tokens_per_minute: 1000 };
    let mut probe = hold(agent, None, "0.01");
    probe.created_at = at;
    s.count_minute_tokens(agent, at, 700).unwrap();
    let Admission::Granted { reservation, .. } = s.reserve(&probe, &BudgetConfig::default(), &tokens).unwrap() else {
        panic!("710 of 1000 tokens refused")
    };
    stores[stores.len() - 1].count_minute_tokens(agent, at, 300).unwrap();
    let mut next = hold(agent, None, "0.01");
    next.created_at = at;
    let Admission::RateLimited(limited) = s.reserve(&next, &BudgetConfig::default(), &tokens).unwrap() else {
        panic!("the tokens rate was passed")
    };
    assert_eq!((limited.rate, limited.used), (RateKind::Tokens, 1011));
    // Unlimited rates ignore the counts.
    s.release_reservation(reservation.id, None, now()).unwrap();
    granted(s.reserve(&next, &BudgetConfig::default(), &CallRates::default()).unwrap());
}

#[test]
fn call_rates_hold_on_sqlite() {
    let (_dir, store) = crate::store();
    call_rates_hold_under_concurrent_reservers(&[&store]);
}

#[test]
#[cfg_attr(not(pg_tests), ignore = "no PostgreSQL: SYNTHORG_TEST_PG_URL was not set when the tests were built")]
fn call_rates_hold_across_two_postgres_replicas() {
    let schema = PgSchema::new().expect("SYNTHORG_TEST_PG_URL names the test database");
    let (a, b) = (schema.open().unwrap(), schema.open().unwrap());
    call_rates_hold_under_concurrent_reservers(&[&a, &b]);
}
