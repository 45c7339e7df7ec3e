//! The simulator's HTTP client: the public API only, every request timed and classified.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::stats::{Outcome, Stats};

/// An answer: status and JSON body (`Null` when there is none).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// A string field of the body, e.g. `id`.
    pub fn str(&self, field: &str) -> Option<String> {
        self.body.get(field).and_then(Value::as_str).map(str::to_owned)
    }
}

#[derive(Debug, Clone)]
pub struct Client {
    agent: ureq::Agent,
    /// The API root of each replica; requests go to them in turn.
    bases: Arc<[String]>,
    next: Arc<AtomicUsize>,
    stats: Arc<Stats>,
}

impl Client {
    /// Each of `urls` is a replica (`http://host:port`) or its API root (`…/api/v1`);
    /// requests go to them round robin. `connections`: keep-alive connections kept open per
    /// replica, one per worker (ureq keeps 3 per host by default: with more workers, most
    /// requests would open a new connection).
    pub fn new(urls: &[String], stats: Arc<Stats>, timeout: Duration, connections: usize) -> Self {
        let bases: Arc<[String]> = urls
            .iter()
            .map(|url| {
                let trimmed = url.trim_end_matches('/');
                match trimmed.ends_with("/api/v1") {
                    true => trimmed.to_owned(),
                    false => format!("{trimmed}/api/v1"),
                }
            })
            .collect();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .max_redirects(0)
            .proxy(None)
            .max_idle_connections(connections.max(1) * bases.len().max(1))
            .max_idle_connections_per_host(connections.max(1))
            // Requests and answers are small: 16 KiB buffers instead of 128 KiB per connection.
            .input_buffer_size(16 * 1024)
            .output_buffer_size(16 * 1024)
            .build()
            .into();
        Self { agent, bases, next: Arc::new(AtomicUsize::new(0)), stats }
    }

    /// Sends one request with `key` and records it under `endpoint` (a route template).
    /// `None` when no answer came (transport error).
    pub fn call(
        &self,
        endpoint: &'static str,
        method: &str,
        path: &str,
        key: &str,
        body: Option<&Value>,
    ) -> Option<Answer> {
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        let url = format!("{}{path}", self.bases[turn % self.bases.len()]);
        let auth = format!("Bearer {key}");
        let start = Instant::now();
        let result = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("authorization", &auth).call(),
            ("POST", Some(body)) => self.agent.post(&url).header("authorization", &auth).send_json(body),
            ("POST", None) => self.agent.post(&url).header("authorization", &auth).send_empty(),
            ("PUT", Some(body)) => self.agent.put(&url).header("authorization", &auth).send_json(body),
            ("PATCH", Some(body)) => self.agent.patch(&url).header("authorization", &auth).send_json(body),
            _ => self.agent.delete(&url).header("authorization", &auth).call(),
        };
        let answer = result.ok().map(|mut response| {
            let status = response.status().as_u16();
            let body = response.body_mut().read_json::<Value>().unwrap_or(Value::Null);
            Answer { status, body }
        });
        let outcome = match &answer {
            None => Outcome::Transport,
            Some(a) if a.status >= 500 => Outcome::ServerError,
            Some(a) if a.status >= 400 => Outcome::ClientError,
            Some(_) => Outcome::Ok,
        };
        self.stats.record(endpoint, outcome, start.elapsed());
        answer
    }
}
