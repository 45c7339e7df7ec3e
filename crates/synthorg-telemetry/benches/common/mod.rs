//! What the OTLP benchmarks share: the exact-count receiver in a child process (this bench
//! binary again, so the CPU time read from `/proc/self` is the pipeline's alone), percentiles,
//! and the timer's own cost, the anchor of the per-call figures.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

use synthorg_telemetry::otlp::receiver::Receiver;

/// Set in the receiver's process.
const RECEIVER: &str = "SYNTHORG_OTLP_BENCH_RECEIVER";

/// Runs the receiver when this process is the child; `false` otherwise. The child prints its
/// port, then answers `logs` and `spans` with the records and spans delivered.
pub(crate) fn receiver_child() -> bool {
    if std::env::var_os(RECEIVER).is_none() {
        return false;
    }
    let receiver = Receiver::start().unwrap();
    println!("{}", receiver.address().port());
    for line in std::io::stdin().lock().lines().map_while(Result::ok) {
        match line.as_str() {
            "logs" => println!("{}", receiver.delivered()),
            "spans" => println!("{}", receiver.delivered_spans()),
            _ => println!("0"),
        }
    }
    true
}

/// The receiver's process, seen from the benchmark.
pub(crate) struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    pub(crate) port: u16,
}

impl Peer {
    pub(crate) fn start() -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(RECEIVER, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        Self { child, stdin, stdout, port: line.trim().parse().unwrap() }
    }

    /// Log records (`logs`) or spans (`spans`) delivered so far.
    pub(crate) fn delivered(&mut self, what: &str) -> u64 {
        writeln!(self.stdin, "{what}").unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim().parse().unwrap()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Median and p99 of an `Instant` delta around nothing.
pub(crate) fn timer_overhead() -> (u64, u64) {
    let mut samples: Vec<u64> = (0..100_000)
        .map(|_| {
            let start = Instant::now();
            start.elapsed().as_nanos() as u64
        })
        .collect();
    samples.sort_unstable();
    (percentile(&samples, 0.5), percentile(&samples, 0.99))
}
