//! Budget reservations over the API: grant, refuse, settle, release, expire, and the
//! one-round-trip hold of a security evaluation; what each path leaves in the metrics.

use axum::http::{Method, StatusCode};
use serde_json::json;
use synthorg_api::ApiSettings;
use synthorg_core::Role;

use crate::metrics::{scrape, value};
use crate::{TestApp, id};

/// An app whose sweep runs often, on a budget of `total` USD a month.
async fn app_with_budget(total: &str) -> TestApp {
    let app = TestApp::with_settings(ApiSettings {
        sweep_interval: std::time::Duration::from_millis(50),
        ..ApiSettings::default()
    });
    let r =
        app.call(Method::PUT, "/api/v1/budget/config", Some(&app.admin), Some(json!({"total_monthly": total}))).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    app
}

crate::on_both_stores! {
async fn a_hold_is_granted_refused_settled_and_released() {
    let app = app_with_budget("5").await;
    let ada = app.agent("ada").await;
    let r = app.post("/api/v1/budget/reservations", json!({"agent_id": ada, "amount": "2", "ttl_seconds": 600})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!((r.body["amount"].clone(), r.body["remaining"].clone()), (json!(2), json!(3)));
    assert_eq!(r.headers["x-budget-remaining"], "3");
    assert_eq!(r.headers["x-budget-alert"], "normal");
    let first = id(&r.body);
    // 3.5 does not fit in the 3 left: 409 naming the scope and what remains.
    let r = app.post("/api/v1/budget/reservations", json!({"agent_id": ada, "amount": 3.5})).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "budget_exhausted"), "{:?}", r.body);
    let budget = &r.body["error"]["budget"];
    assert_eq!((budget["scope"].clone(), budget["unit"].clone()), (json!("monthly"), json!("usd")));
    assert_eq!((budget["remaining"].clone(), budget["held"].clone(), budget["requested"].clone()), (json!(3), json!(2), json!(3.5)));
    assert!(r.message().starts_with("budget hard stop: 0 USD spent and 2 USD held of 5 USD"), "{}", r.message());
    // The report that names the hold settles it.
    let r = app
        .post("/api/v1/costs", json!({"agent_id": ada, "provider": "p", "model": "m", "input_tokens": 10,
            "output_tokens": 10, "cost": "1.5", "reservation_id": first}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["reservation_id"], json!(first));
    // The report's answer tells where the agent stands: 5 − 1.5 spent = 3.5 left.
    assert_eq!((r.headers["x-budget-remaining"].to_str().unwrap(), r.headers["x-budget-alert"].to_str().unwrap()), ("3.5", "normal"));
    let settled = app.get(&format!("/api/v1/budget/reservations?state=settled&agent_id={ada}")).await;
    assert_eq!(settled.body["items"][0]["settled_cost"], json!(1.5));
    assert_eq!(settled.body["items"][0]["cost_record_id"], r.body["id"]);
    // Now 3.5 fits; released, it frees the room again; a second release is a conflict.
    let r = app.post("/api/v1/budget/reservations", json!({"agent_id": ada, "amount": 3.5})).await;
    assert_eq!((r.status, r.headers["x-budget-remaining"].to_str().unwrap()), (StatusCode::CREATED, "0"));
    assert_eq!(r.headers["x-budget-alert"], "hard_stop");
    let path = format!("/api/v1/budget/reservations/{}", id(&r.body));
    let viewer = app.key(Role::Viewer, None);
    assert_eq!(app.call(Method::DELETE, &path, Some(&viewer), None).await.status, StatusCode::FORBIDDEN);
    let released = app.call(Method::DELETE, &path, Some(&app.admin), None).await;
    assert_eq!((released.status, released.body["state"].clone()), (StatusCode::OK, json!("released")));
    let again = app.call(Method::DELETE, &path, Some(&app.admin), None).await;
    assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "conflict"));
    // An agent key reserves, lists and releases for its own agent only.
    let bob = app.agent("bob").await;
    let ada_key = app.key(Role::Agent, Some(ada));
    let r = app.call(Method::POST, "/api/v1/budget/reservations", Some(&ada_key), Some(json!({"agent_id": bob, "amount": 1}))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let theirs = app.post("/api/v1/budget/reservations", json!({"agent_id": bob, "amount": 1})).await;
    let r = app.call(Method::DELETE, &format!("/api/v1/budget/reservations/{}", id(&theirs.body)), Some(&ada_key), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.call(Method::GET, "/api/v1/budget/reservations", Some(&ada_key), None).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2, "{:?}", r.body);
    let r = app.call(Method::GET, &format!("/api/v1/budget/reservations?agent_id={bob}"), Some(&ada_key), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // The remaining endpoint counts the open hold.
    let r = app.get(&format!("/api/v1/budget/remaining?agent_id={bob}")).await;
    assert_eq!((r.body["scopes"][0]["held"].clone(), r.body["remaining"].clone()), (json!(1), json!(2.5)));
}
}

crate::on_both_stores! {
async fn an_evaluation_can_hold_the_money_in_the_same_round_trip() {
    let app = app_with_budget("1").await;
    let ada = app.agent("ada").await;
    let ask = |amount: &str| json!({"agent_id": ada, "tool": "search", "action_type": "read", "reserve": {"amount": amount}});
    let r = app.post("/api/v1/security/evaluate", ask("0.75")).await;
    assert_eq!((r.status, r.body["verdict"].clone()), (StatusCode::OK, json!("allow")), "{:?}", r.body);
    assert_eq!((r.body["reservation"]["amount"].clone(), r.body["reservation"]["remaining"].clone()), (json!(0.75), json!(0.25)));
    assert_eq!(r.body["budget_exhausted"], json!(null));
    let r = app.post("/api/v1/security/evaluate", ask("0.5")).await;
    assert_eq!((r.body["verdict"].clone(), r.body["matched_rules"].clone()), (json!("deny"), json!(["budget"])));
    assert_eq!((r.body["budget_exhausted"]["scope"].clone(), r.body["budget_exhausted"]["remaining"].clone()), (json!("monthly"), json!(0.25)));
    assert_eq!(r.body["reservation"], json!(null));
    // A bad hold is a 422 naming the field under `reserve`.
    let r = app.post("/api/v1/security/evaluate", json!({"agent_id": ada, "tool": "search", "action_type": "read", "reserve": {"ttl_seconds": 0, "amount": 1}})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.message().starts_with("reserve.ttl_seconds"), "{}", r.message());
    assert_eq!(app.count("/api/v1/budget/reservations").await, 1);
}
}

crate::on_both_stores! {
async fn bad_reservations_name_their_field() {
    let app = app_with_budget("5").await;
    let ada = app.agent("ada").await;
    let check = async |body: serde_json::Value, field: &str| {
        let r = app.post("/api/v1/budget/reservations", body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
        assert!(r.message().starts_with(field), "{field}: {}", r.message());
    };
    check(json!({"agent_id": ada}), "amount: give an amount").await;
    check(json!({"agent_id": ada, "amount": -1}), "amount").await;
    check(json!({"agent_id": ada, "amount": 1, "ttl_seconds": 3601}), "ttl_seconds").await;
    check(json!({"agent_id": ada, "provider": "nobody", "model": "m", "max_input_tokens": 1, "max_output_tokens": 1}), "model: nobody/m is not in the price catalogue").await;
    check(json!({"agent_id": uuid::Uuid::now_v7(), "amount": 1}), "agent_id").await;
    check(json!({"agent_id": ada, "task_id": uuid::Uuid::now_v7(), "amount": 1}), "task_id").await;
    check(json!({"agent_id": ada, "amount": 1, "extra": true}), "").await;
    let r = app
        .post("/api/v1/costs", json!({"agent_id": ada, "provider": "p", "model": "m", "input_tokens": 1,
            "output_tokens": 1, "reservation_id": uuid::Uuid::now_v7()}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.message().starts_with("reservation_id: reservation"), "{}", r.message());
    // The worst case of a catalogued model is priced: 1000 in × 3 + 1000 out × 15 (per million).
    let r = app
        .post("/api/v1/budget/reservations", json!({"agent_id": ada, "provider": "anthropic",
            "model": "claude-sonnet-4-5", "max_input_tokens": 1000, "max_output_tokens": 1000}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!((r.body["amount"].clone(), r.body["tokens"].clone()), (json!(0.01875), json!(2000)));
}
}

/// Every way a hold ends returns the open holds to zero, and each is counted once.
#[tokio::test]
async fn after_every_outcome_no_hold_is_left_open() {
    let app = app_with_budget("10").await;
    let ada = app.agent("ada").await;
    let reserve = async |amount: &str, ttl: u64| {
        app.post("/api/v1/budget/reservations", json!({"agent_id": ada, "amount": amount, "ttl_seconds": ttl})).await
    };
    let settled = reserve("1", 600).await;
    let r = app
        .post(
            "/api/v1/costs",
            json!({"agent_id": ada, "provider": "p", "model": "m", "input_tokens": 1,
            "output_tokens": 1, "cost": "1.25", "reservation_id": id(&settled.body)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let released = reserve("1", 600).await;
    app.call(Method::DELETE, &format!("/api/v1/budget/reservations/{}", id(&released.body)), Some(&app.admin), None)
        .await;
    assert_eq!(reserve("100", 600).await.status, StatusCode::CONFLICT);
    let crashed = reserve("2", 1).await;
    assert_eq!(crashed.status, StatusCode::CREATED);
    let (_, _, text) = scrape(&app, None).await;
    assert_eq!(value(&text, "synthorg_budget_reservations_open"), Some(1.0), "{text}");
    assert_eq!(value(&text, r#"synthorg_budget_reserved_usd{scope="monthly"}"#), Some(2.0));
    // The crashed client's hold expires; the sweep closes it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let r = app.get(&format!("/api/v1/budget/reservations?state=expired&agent_id={ada}")).await;
        if r.body["items"].as_array().is_some_and(|i| i.len() == 1) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the hold did not expire");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (_, _, text) = scrape(&app, None).await;
    assert_eq!(value(&text, "synthorg_budget_reservations_open"), Some(0.0));
    for scope in ["monthly", "agent_daily", "task"] {
        assert_eq!(value(&text, &format!(r#"synthorg_budget_reserved_usd{{scope="{scope}"}}"#)), Some(0.0));
    }
    for (outcome, n) in [("granted", 3.0), ("refused", 1.0), ("settled", 1.0), ("released", 1.0), ("expired", 1.0)] {
        let series = format!(r#"synthorg_budget_reservations_total{{outcome="{outcome}"}}"#);
        assert_eq!(value(&text, &series), Some(n), "{outcome}: {text}");
    }
    assert_eq!(value(&text, "synthorg_budget_overshoot_usd_total"), Some(0.25));
    assert_eq!(app.count("/api/v1/budget/reservations?state=open").await, 0);
}

/// The outlook families on a scrape: the forecast and the period's end from the store, and no
/// burn rate or exhaustion before five minutes of history.
#[tokio::test]
async fn the_outlook_is_on_the_scrape() {
    let app = app_with_budget("100").await;
    let ada = app.agent("ada").await;
    let r = app
        .post(
            "/api/v1/costs",
            json!({"agent_id": ada, "provider": "p", "model": "m", "input_tokens": 1,
            "output_tokens": 1, "cost": "10"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let (_, _, text) = scrape(&app, None).await;
    let now = synthorg_store::now();
    let period = synthorg_core::budget::BillingPeriod::containing(now, 1);
    let forecast = value(&text, "synthorg_budget_forecast_period_usd").unwrap();
    // The scrape ran a moment before `now`: the forecast falls by at most a little.
    let expected = period.forecast(synthorg_core::Usd::dollars(10), now).as_f64();
    assert!((forecast - expected).abs() / expected < 0.01, "{forecast} vs {expected}");
    let left = value(&text, "synthorg_budget_period_remaining_seconds").unwrap();
    assert!((left - (period.end - now).as_seconds_f64()).abs() < 5.0, "{left}");
    assert!(text.contains("# TYPE synthorg_budget_burn_rate_usd_per_hour gauge"), "{text}");
    assert!(!text.contains("synthorg_budget_burn_rate_usd_per_hour{"), "no rate before 5 minutes of history");
    assert!(!text.lines().any(|l| l.starts_with("synthorg_budget_exhaustion_seconds ")));
}

crate::on_both_stores! {
async fn token_budgets_show_in_status_and_metrics_and_stop_work() {
    let app = TestApp::new();
    let r = app
        .call(Method::PUT, "/api/v1/budget/config", Some(&app.admin), Some(json!({"per_agent_daily_tokens": 1000})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let ada = app.agent("ada").await;
    let report = |input: u64, output: u64| {
        json!({"agent_id": ada, "provider": "p", "model": "m", "input_tokens": input, "output_tokens": output, "cost": 0})
    };
    let first = app.post("/api/v1/costs", report(150, 50)).await;
    assert_eq!(first.status, StatusCode::CREATED);
    // Only a token limit: no USD scope to name a remainder, but the alert level counts tokens.
    assert!(first.headers.get("x-budget-remaining").is_none());
    assert_eq!(first.headers["x-budget-alert"], "normal");
    let status = app.get("/api/v1/budget/status").await;
    assert_eq!(status.body["per_agent_daily_tokens"], 1000);
    let agent = &status.body["agents"][0];
    assert_eq!((agent["today_tokens"].clone(), agent["tokens_used_percent"].clone()), (json!(200), json!(20.0)));
    let remaining = app.get(&format!("/api/v1/budget/remaining?agent_id={ada}")).await;
    assert_eq!((remaining.body["tokens"]["spent"].clone(), remaining.body["tokens"]["remaining"].clone()), (json!(200), json!(800)));
    let (_, _, text) = scrape(&app, None).await;
    assert_eq!(value(&text, &format!(r#"synthorg_agent_token_budget_used_percent{{agent_id="{ada}"}}"#)), Some(20.0));
    // A priced hold of 900 tokens does not fit the 800 left; then the $0 calls use them up.
    let r = app
        .post("/api/v1/budget/reservations", json!({"agent_id": ada, "amount": 0, "provider": "p", "model": "m",
            "max_input_tokens": 800, "max_output_tokens": 100}))
        .await;
    assert_eq!((r.status, r.body["error"]["budget"]["scope"].clone()), (StatusCode::CONFLICT, json!("agent_daily_tokens")));
    assert_eq!(r.body["error"]["budget"]["remaining"], json!(800));
    assert_eq!(app.post("/api/v1/costs", report(700, 100)).await.status, StatusCode::CREATED);
    let r = app.post("/api/v1/security/evaluate", json!({"agent_id": ada, "tool": "search", "action_type": "read"})).await;
    assert_eq!(r.body["verdict"], "deny");
    assert!(r.body["reason"].as_str().unwrap().starts_with("agent daily token limit reached: 1000 tokens spent"), "{:?}", r.body);
    assert_eq!(app.get("/api/v1/budget/status").await.body["agents"][0]["over_limit"], true);
}
}

/// Without any limit a cost report's answer carries no budget headers (nothing is read).
#[tokio::test]
async fn no_limit_no_budget_headers() {
    let app = TestApp::new();
    let ada = app.agent("ada").await;
    let r = app
        .post(
            "/api/v1/costs",
            json!({"agent_id": ada, "provider": "p", "model": "m", "input_tokens": 1,
            "output_tokens": 1, "cost": "1"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(r.headers.get("x-budget-remaining").is_none() && r.headers.get("x-budget-alert").is_none());
}
