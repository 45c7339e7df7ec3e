//! End-to-end tests of the real `synthorg` binary over loopback.

#![allow(clippy::unwrap_used)] // Tests fail loudly on any unexpected error.

mod audit;
mod cli;
mod connections;
mod console;
mod contract;
mod effects;
mod forging;
mod gateway;
mod mcp;
mod otlp;
mod pg;
mod prometheus;
mod replicas;
mod resilience;
mod server;
mod simulate;
mod tls;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_synthorg");

/// A `synthorg serve` process with its captured log lines.
#[derive(Debug)]
pub struct Server {
    child: Child,
    pub base: String,
    pub logs: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts the server on a free loopback port and waits (30 s at most) until it listens.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Server {
        Self::start_with_env(data_dir, extra, &[])
    }

    pub fn start_with_env(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(BIN)
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env_remove("SYNTHORG_CONFIG")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The log lines (stderr) and what is printed for the person at the terminal (stdout).
        let logs = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let stdout = child.stdout.take().unwrap();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let base = loop {
            let found = logs.lock().unwrap().iter().find_map(|l| {
                l.contains("listening")
                    .then(|| l.split("address=").nth(1)?.split_whitespace().next().map(str::to_owned))?
            });
            if let Some(address) = found {
                break format!("http://{address}/api/v1");
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("synthorg exited with {status}: {:?}", logs.lock().unwrap());
            }
            assert!(Instant::now() < deadline, "synthorg did not start: {:?}", logs.lock().unwrap());
            std::thread::sleep(Duration::from_millis(20));
        };
        Server { child, base, logs }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal with `kill` and waits (with a deadline) for the process to exit.
    pub fn signal(mut self, signal: &str) -> (ExitStatus, Vec<String>) {
        let ok = Command::new("kill").args([&format!("-{signal}"), &self.pid().to_string()]).status().unwrap();
        assert!(ok.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "synthorg did not stop on {signal}");
            std::thread::sleep(Duration::from_millis(20));
        };
        // Let the reader thread drain the pipe.
        std::thread::sleep(Duration::from_millis(100));
        let logs = self.logs.lock().unwrap().clone();
        (status, logs)
    }

    /// The admin key the first start wrote.
    pub fn bootstrap_key(data_dir: &Path) -> String {
        std::fs::read_to_string(data_dir.join("admin.key")).unwrap().trim().to_owned()
    }
}

/// A server still running when its test ends (an assertion failed, or the test had no more
/// use for it) is killed: a process left behind would keep its port and, on PostgreSQL, its
/// pool's connections, which later tests would find exhausted.
impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A blocking HTTP client that returns every status as a value.
#[derive(Debug, Clone)]
pub struct Client {
    agent: ureq::Agent,
    base: String,
    key: String,
}

impl Client {
    pub fn new(base: &str, key: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Self { agent, base: base.to_owned(), key: key.to_owned() }
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        let mut r = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("authorization", &format!("Bearer {}", self.key))
            .call()
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_json().unwrap_or(Value::Null))
    }

    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send("POST", path, body)
    }

    pub fn send(&self, method: &str, path: &str, body: &Value) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {}", self.key);
        let mut r = match method {
            "POST" => self.agent.post(url).header("authorization", &auth).send_json(body),
            "PATCH" => self.agent.patch(url).header("authorization", &auth).send_json(body),
            "PUT" => self.agent.put(url).header("authorization", &auth).send_json(body),
            "DELETE" => self.agent.delete(url).header("authorization", &auth).call(),
            other => panic!("{other}"),
        }
        .unwrap();
        (r.status().as_u16(), r.body_mut().read_json().unwrap_or(Value::Null))
    }
}

pub fn temp_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    (dir, data)
}
