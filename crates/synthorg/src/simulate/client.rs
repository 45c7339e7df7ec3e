//! The simulator's HTTP client: the public API only, every request timed and classified.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use super::stats::{Outcome, Stats};

/// An answer: status and JSON body (`Null` when there is none).
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    pub(crate) fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// A string field of the body, e.g. `id`.
    pub(crate) fn str(&self, field: &str) -> Option<String> {
        self.body.get(field).and_then(Value::as_str).map(str::to_owned)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Client {
    agent: ureq::Agent,
    /// The API root of each replica; requests go to them in turn.
    bases: Arc<[String]>,
    next: Arc<AtomicUsize>,
    stats: Arc<Stats>,
}

/// ureq resolves the host before every request, even one that reuses a pooled connection,
/// and with a timeout set it resolves on a thread of its own: a thread spawned per request,
/// which cost the simulator more CPU than the requests themselves (and took it from the
/// server it measures, on the same cores). The replicas are fixed for a run, so each is
/// resolved once.
#[derive(Debug, Default)]
struct ResolveOnce {
    resolved: Mutex<HashMap<String, ResolvedSocketAddrs>>,
}

impl Resolver for ResolveOnce {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let key = format!("{}://{}", uri.scheme_str().unwrap_or(""), uri.authority().map_or("", |a| a.as_str()));
        if let Some(addrs) = self.resolved.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(addrs.clone());
        }
        let addrs = DefaultResolver::default().resolve(uri, config, timeout)?;
        self.resolved.lock().unwrap_or_else(|p| p.into_inner()).insert(key, addrs.clone());
        Ok(addrs)
    }
}

impl Client {
    /// Each of `urls` is a replica (`http://host:port`) or its API root (`…/api/v1`);
    /// requests go to them round robin. `connections`: keep-alive connections kept open per
    /// replica, one per worker (ureq keeps 3 per host by default: with more workers, most
    /// requests would open a new connection).
    pub(crate) fn new(urls: &[String], stats: Arc<Stats>, timeout: Duration, connections: usize) -> Self {
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
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .max_redirects(0)
            .proxy(None)
            .max_idle_connections(connections.max(1) * bases.len().max(1))
            .max_idle_connections_per_host(connections.max(1))
            // Requests and answers are small: 16 KiB buffers instead of 128 KiB per connection.
            .input_buffer_size(16 * 1024)
            .output_buffer_size(16 * 1024)
            .build();
        let agent = ureq::Agent::with_parts(config, DefaultConnector::default(), ResolveOnce::default());
        Self { agent, bases, next: Arc::new(AtomicUsize::new(0)), stats }
    }

    /// Sends one request with `key` and records it under `endpoint` (a route template).
    /// `None` when no answer came (transport error).
    pub(crate) fn call(
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
            Some(a) if a.status == 409 && a.body["error"]["code"] == "budget_exhausted" => Outcome::Refused,
            Some(a) if a.status >= 400 => Outcome::ClientError,
            Some(_) => Outcome::Ok,
        };
        self.stats.record(endpoint, outcome, start.elapsed());
        answer
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    use super::*;

    /// A host resolved once is answered from memory: here a name that no resolver knows
    /// (`.invalid` never resolves) reaches a real server on loopback because its address was
    /// resolved before.
    #[test]
    fn a_resolved_host_is_not_resolved_again() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            let body = "{\"ok\":true}";
            write!(reader.get_mut(), "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len()).unwrap();
        });
        let resolver = ResolveOnce::default();
        let mut addrs = resolver.empty();
        addrs.push(addr);
        let origin = format!("http://synthorg.invalid:{}", addr.port());
        resolver.resolved.lock().unwrap().insert(origin.clone(), addrs);
        let config = ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(5))).build();
        let agent = ureq::Agent::with_parts(config, DefaultConnector::default(), resolver);
        let mut response = agent.get(&format!("{origin}/health")).call().unwrap();
        assert_eq!(response.body_mut().read_to_string().unwrap(), "{\"ok\":true}");
        server.join().unwrap();
    }
}
