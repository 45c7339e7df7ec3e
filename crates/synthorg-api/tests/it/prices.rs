//! Costs priced by synthorg: computed, reported and unpriced reports over HTTP, the catalogue
//! endpoint, and the per-model metric families.

use axum::http::{Method, StatusCode};
use serde_json::json;
use synthorg_api::{ApiSettings, MetricsSettings};
use synthorg_core::Role;

use crate::TestApp;
use crate::metrics::{scrape, value};

crate::on_both_stores! {
async fn costs_are_computed_reported_or_unpriced() {
    let app = TestApp::new();
    let ada = app.agent("ada").await;
    let version = app.get("/api/v1/prices").await.body["version"].as_str().unwrap().to_owned();
    // A dated snapshot priced by its family: 1000 plain × 3 + 8000 × 0.3 + 1000 × 3.75
    // + 1000 × 15 = 24150 per million tokens.
    let call = json!({"agent_id": ada, "provider": "anthropic", "model": "claude-sonnet-4-5-20250929",
        "input_tokens": 10000, "output_tokens": 1000, "cache_read_input_tokens": 8000,
        "cache_write_input_tokens": 1000, "idempotency_key": "call-1"});
    let r = app.post("/api/v1/costs", call.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["cost"], json!(0.02415));
    assert_eq!(r.body["cost_source"], "computed");
    assert_eq!(r.body["computed_cost"], json!(0.02415));
    assert_eq!(r.body["price_version"], json!(version));
    assert_eq!(r.body["cache_read_input_tokens"], 8000);
    // A retry without cost is the same report.
    let again = app.post("/api/v1/costs", call).await;
    assert_eq!((again.status, again.body["id"].clone()), (StatusCode::CREATED, r.body["id"].clone()));

    let reported = app
        .post("/api/v1/costs", json!({"agent_id": ada, "provider": "anthropic", "model": "claude-sonnet-4-5",
            "input_tokens": 10000, "output_tokens": 1000, "cache_read_input_tokens": 8000,
            "cache_write_input_tokens": 1000, "cost": "0.03"}))
        .await;
    assert_eq!(reported.status, StatusCode::CREATED);
    assert_eq!(reported.body["cost"], json!(0.03));
    assert_eq!(reported.body["cost_source"], "reported");
    assert_eq!(reported.body["computed_cost"], json!(0.02415));
    assert_eq!(reported.body["cost_disagrees"], true);

    let unpriced = app
        .post("/api/v1/costs", json!({"agent_id": ada, "provider": "in-house", "model": "llama-3.3-70b",
            "input_tokens": 500, "output_tokens": 900, "reasoning_output_tokens": 400}))
        .await;
    assert_eq!(unpriced.status, StatusCode::CREATED);
    assert_eq!((unpriced.body["cost"].clone(), unpriced.body["cost_source"].clone()), (json!(0), json!("unpriced")));
    assert_eq!((unpriced.body["computed_cost"].clone(), unpriced.body["price_version"].clone()), (json!(null), json!(null)));

    assert_eq!(app.count("/api/v1/costs?cost_source=unpriced").await, 1);
    assert_eq!(app.count("/api/v1/costs?cost_source=computed").await, 1);
    assert_eq!(app.count("/api/v1/costs?provider=anthropic").await, 2);
    assert_eq!(app.count("/api/v1/costs?model=claude-sonnet-4-5").await, 1);
    let r = app.get("/api/v1/costs?cost_source=guessed").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    let (_, _, text) = scrape(&app, None).await;
    let series = |family: &str, labels: &str| value(&text, &format!("synthorg_{family}{{{labels}}}"));
    let snapshot = r#"provider="anthropic",model="claude-sonnet-4-5-20250929""#;
    assert_eq!(series("provider_cost_total", snapshot), Some(0.02415), "{text}");
    assert_eq!(series("provider_tokens_total", &format!(r#"{snapshot},type="cache_read_input""#)), Some(8000.0));
    assert_eq!(series("cost_reports_total", &format!(r#"{snapshot},source="computed""#)), Some(1.0));
    let family = r#"provider="anthropic",model="claude-sonnet-4-5""#;
    assert_eq!(series("cost_price_disagreements_total", family), Some(1.0));
    let local = r#"provider="in-house",model="llama-3.3-70b""#;
    assert_eq!(series("cost_reports_total", &format!(r#"{local},source="unpriced""#)), Some(1.0));
    assert_eq!(series("provider_tokens_total", &format!(r#"{local},type="reasoning_output""#)), Some(400.0));
    assert_eq!(value(&text, "synthorg_cost_total"), Some(0.05415));
}
}

#[tokio::test]
async fn token_parts_may_not_exceed_their_wholes() {
    let app = TestApp::new();
    let ada = app.agent("ada").await;
    for (extra, field) in [
        (json!({"cache_read_input_tokens": 101}), "cache_read_input_tokens"),
        (json!({"cache_read_input_tokens": 60, "cache_write_input_tokens": 41}), "cache_write_input_tokens"),
        (json!({"reasoning_output_tokens": 11}), "reasoning_output_tokens"),
        (json!({"reasoning_output_tokens": -1}), "reasoning_output_tokens"),
    ] {
        let mut body = json!({"agent_id": ada, "provider": "openai", "model": "gpt-4.1", "input_tokens": 100,
            "output_tokens": 10});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let r = app.post("/api/v1/costs", body.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(r.message().starts_with(&format!("{field}:")), "{body}: {}", r.message());
    }
    assert_eq!(app.count("/api/v1/costs").await, 0);
}

#[tokio::test]
async fn the_catalogue_is_listed_and_filtered() {
    let app = TestApp::new();
    let ada = app.agent("ada").await;
    let agent_key = app.key(Role::Agent, Some(ada));
    let r = app.call(Method::GET, "/api/v1/prices", Some(&agent_key), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let models = r.body["models"].as_array().unwrap();
    assert!(models.len() >= 30);
    let sonnet = models.iter().find(|m| m["model"] == "claude-sonnet-4-5").unwrap();
    assert_eq!(sonnet["input"], json!(3));
    assert_eq!(sonnet["cache_read_input"], json!(0.3));
    assert!(sonnet["source"].as_str().unwrap().starts_with("https://"));
    assert_eq!(r.body["provider_aliases"]["gcp.gemini"], "google");

    let google = app.get("/api/v1/prices?provider=google").await;
    let providers: Vec<_> = google.body["models"].as_array().unwrap().iter().map(|m| m["provider"].clone()).collect();
    assert!(!providers.is_empty() && providers.iter().all(|p| p == "google"));
    let pro = app.get("/api/v1/prices?model=gemini-2.5-pro").await;
    assert_eq!(pro.body["models"][0]["tiers"][0]["above_input_tokens"], 200_000);
    assert_eq!(app.get("/api/v1/prices?vendor=x").await.status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// Provider and model labels come from clients: past `max_model_series` they fold.
#[tokio::test]
async fn model_series_are_bounded() {
    let metrics = MetricsSettings { max_model_series: 2, ..MetricsSettings::default() };
    let app = TestApp::with_settings(ApiSettings { metrics: Some(metrics), ..ApiSettings::default() });
    let ada = app.agent("ada").await;
    for (i, model) in ["first", "second", "third\"} # evil", "fourth"].iter().enumerate() {
        let r = app
            .post(
                "/api/v1/costs",
                json!({"agent_id": ada, "provider": "p", "model": model, "input_tokens": 1,
                "output_tokens": 1, "cost": i + 1}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let (_, _, text) = scrape(&app, None).await;
    assert_eq!(value(&text, r#"synthorg_provider_cost_total{provider="p",model="first"}"#), Some(1.0));
    assert_eq!(value(&text, r#"synthorg_provider_cost_total{provider="p",model="second"}"#), Some(2.0));
    assert_eq!(value(&text, r#"synthorg_provider_cost_total{provider="__other__",model="__other__"}"#), Some(7.0));
    assert_eq!(value(&text, r#"synthorg_metric_series_folded_total{family="provider_model"}"#), Some(2.0));
    assert!(!text.contains("fourth") && !text.contains("evil"));
    crate::metrics::promtool_check(&text);
}

/// Amounts are read from the JSON text: a literal an `f64` would round to an acceptable
/// amount is refused as a number exactly as it is as a string.
#[tokio::test]
async fn money_is_read_from_the_json_text() {
    let app = TestApp::new();
    let ada = app.agent("ada").await;
    let report = |cost: &str| {
        format!(
            r#"{{"agent_id": "{ada}", "provider": "p", "model": "m", "input_tokens": 1, "output_tokens": 1, "cost": {cost}}}"#
        )
        .into_bytes()
    };
    for cost in
        ["0.1000000000000000055511151231257827", "\"0.1000000000000000055511151231257827\"", "1.0000000000000001"]
    {
        let r = app.raw(Method::POST, "/api/v1/costs", Some(&app.admin), Some(report(cost)), "application/json").await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{cost}");
        assert!(r.message().starts_with("cost: has more than 9 decimal places"), "{cost}: {}", r.message());
    }
    let r = app
        .raw(Method::POST, "/api/v1/costs", Some(&app.admin), Some(report("987654.123456789")), "application/json")
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(app.count("/api/v1/costs").await, 1, "only the exact amount was recorded");
    let (_, _, text) = scrape(&app, None).await;
    assert!(text.contains("synthorg_cost_total 987654.123456789"), "{text}");
}

// A report dated further back than `budget.max_report_delay` is refused naming the field
// (it would land in a day already checked) and stores nothing; within the delay it counts.
crate::on_both_stores! {
async fn reports_older_than_the_delay_are_refused() {
    let settings = ApiSettings { max_report_delay: time::Duration::hours(1), ..ApiSettings::default() };
    let app = crate::TestApp::with_settings(settings);
    let ada = app.agent("ada").await;
    let at = |minutes_ago: i64| {
        let when = time::OffsetDateTime::now_utc() - time::Duration::minutes(minutes_ago);
        when.format(&time::format_description::well_known::Rfc3339).unwrap()
    };
    let report = |occurred_at: String| {
        json!({"agent_id": ada, "provider": "acme", "model": "m", "input_tokens": 1, "output_tokens": 1,
            "cost": "1", "occurred_at": occurred_at})
    };
    let old = app.post("/api/v1/costs", report(at(61))).await;
    assert_eq!(old.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", old.body);
    assert!(old.message().starts_with("occurred_at: must not lie more than 1h before now"), "{}", old.message());
    assert_eq!(app.count("/api/v1/costs").await, 0);
    let recent = app.post("/api/v1/costs", report(at(59))).await;
    assert_eq!(recent.status, StatusCode::CREATED, "{:?}", recent.body);
    // Counted in the ledger (59 minutes ago may be yesterday: the day's figure would depend
    // on the hour the test runs).
    assert_eq!(app.count("/api/v1/costs").await, 1);
    let (_, _, text) = crate::metrics::scrape(&app, None).await;
    assert_eq!(crate::metrics::value(&text, "synthorg_cost_total"), Some(1.0));
}
}
