//! PostgreSQL restarted under load: requests fail fast with 503 (they do not hang), readiness
//! turns false, the service recovers by itself when the database is back, and nothing that
//! was acknowledged is lost. The test runs a PostgreSQL server of its own (so that restarting
//! it disturbs nothing else), from the binaries of the machine's PostgreSQL installation.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::pg::PrivatePostgres;
use crate::{Client, Server, temp_dir};

/// One answer of the load: status, the task id when created, when it was sent and answered.
type Answer = (u16, Option<String>, Instant, Instant);

/// Polls readiness until it answers `want`, within `within`.
fn wait_ready(client: &Client, want: u16, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if client.get("/health/ready").0 == want {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "readiness did not turn {want} within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
#[cfg_attr(not(pg_tests), ignore = "no PostgreSQL: SYNTHORG_TEST_PG_URL was not set when the tests were built")]
fn a_database_restart_under_load_fails_fast_recovers_and_loses_nothing() {
    let pg = PrivatePostgres::start();
    let (_dir, data) = temp_dir();
    let url = pg.url();
    let server = Server::start_with_env(&data, &[], &[("SYNTHORG_DATABASE__URL", &url)]);
    let client = Client::new(&server.base, &Server::bootstrap_key(&data));
    wait_ready(&client, 200, Duration::from_secs(5));

    // Load: tasks created one after another by 4 writers, each answer kept with when it was
    // sent and when it came.
    let stop = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(Mutex::new(Vec::<Answer>::new()));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (client, stop, answers) = (client.clone(), stop.clone(), answers.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    let started = Instant::now();
                    let (status, body) = client.post("/tasks", &json!({"title": format!("w{w}-{n}")}));
                    let id = body["id"].as_str().map(str::to_owned);
                    answers.lock().unwrap().push((status, id, started, Instant::now()));
                    n += 1;
                    if status != 201 {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            })
        })
        .collect();
    let acknowledged = |answers: &Mutex<Vec<Answer>>| answers.lock().unwrap().iter().filter(|a| a.0 == 201).count();
    let deadline = Instant::now() + Duration::from_secs(20);
    while acknowledged(&answers) < 200 {
        assert!(Instant::now() < deadline, "the load did not get going");
        std::thread::sleep(Duration::from_millis(20));
    }

    // Down: requests keep coming; they must be answered 503 at once, and readiness says so.
    pg.down("fast");
    let went_down = Instant::now();
    wait_ready(&client, 503, Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(1500));
    let came_back = Instant::now(); // from here on the database may answer again
    pg.up();
    let recovered_in = wait_ready(&client, 200, Duration::from_secs(30));
    let before = acknowledged(&answers);
    let deadline = Instant::now() + Duration::from_secs(20);
    while acknowledged(&answers) < before + 100 {
        assert!(Instant::now() < deadline, "writes did not resume after the restart");
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::SeqCst);
    writers.into_iter().for_each(|w| w.join().unwrap());

    let answers = answers.lock().unwrap();
    let unexpected: Vec<_> = answers.iter().filter(|a| a.0 != 201 && a.0 != 503).map(|a| a.0).collect();
    assert!(unexpected.is_empty(), "only 201 or 503 while the database restarts: {unexpected:?}");
    // Requests sent and answered while the database was down.
    let during: Vec<_> = answers.iter().filter(|a| a.2 > went_down && a.3 < came_back).collect();
    assert!(during.len() > 10, "requests kept being answered while the database was down: {}", during.len());
    assert!(during.iter().all(|a| a.0 == 503), "no write succeeds without the database");
    let slowest = during.iter().map(|a| a.3 - a.2).max().unwrap();
    assert!(slowest < Duration::from_secs(2), "failing fast, not hanging: the slowest answer took {slowest:?}");
    assert!(recovered_in < Duration::from_secs(30));
    eprintln!(
        "database down: {} requests answered 503, the slowest in {slowest:?}; ready again {recovered_in:?} after the database",
        during.len()
    );

    // Nothing acknowledged was lost.
    let ids: Vec<&String> = answers.iter().filter(|a| a.0 == 201).filter_map(|a| a.1.as_ref()).collect();
    for id in &ids {
        assert_eq!(client.get(&format!("/tasks/{id}")).0, 200, "acknowledged task {id} is there");
    }
    let logs = server.logs.lock().unwrap().join("\n");
    assert!(!logs.contains("panicked"), "{logs}");
}
