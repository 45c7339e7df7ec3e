//! Connections that hold resources without using them are closed: idle ones, kept-alive ones
//! and half-sent requests, hundreds at once, while health keeps answering fast and memory
//! returns near its idle level.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::{Server, temp_dir};

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).unwrap().trim().trim_end_matches(" kB").parse().unwrap()
}

fn address(server: &Server) -> String {
    server.base.trim_start_matches("http://").trim_end_matches("/api/v1").to_owned()
}

/// One health request on a fresh connection; its answer time.
fn health(addr: &str) -> Duration {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    started.elapsed()
}

/// Reads until the server closes the connection; how long that took, `None` past `limit`.
fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Some(started.elapsed()),
            Err(_) => return None,
        }
    }
}

#[test]
fn idle_and_half_sent_connections_are_closed_and_their_memory_returned() {
    let (_dir, data) = temp_dir();
    let server = Server::start_with_env(
        &data,
        &[],
        &[("SYNTHORG_SERVER__HEADER_READ_TIMEOUT", "1s"), ("SYNTHORG_SERVER__IDLE_TIMEOUT", "2s")],
    );
    let addr = address(&server);
    for _ in 0..20 {
        health(&addr);
    }
    let idle_rss = rss_kib(server.pid());

    // 300 connections that never send, 300 that send half a request head, 100 that make one
    // request and keep the connection.
    let mut idle: Vec<TcpStream> = (0..300).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    let mut half: Vec<TcpStream> = (0..300)
        .map(|i| {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.write_all(
                format!("GET /api/v1/health HTTP/1.1\r\nHost: t\r\nX-Padding: {}\r\n", "x".repeat(i * 10)).as_bytes(),
            )
            .unwrap();
            s
        })
        .collect();
    let mut kept: Vec<TcpStream> = (0..100)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
            let mut buf = [0u8; 1024];
            assert!(s.read(&mut buf).unwrap() > 0);
            s
        })
        .collect();
    let opened = Instant::now();

    // Health stays fast while they are held.
    let slowest = (0..20).map(|_| health(&addr)).max().unwrap();
    assert!(slowest < Duration::from_millis(500), "health took {slowest:?} with 700 connections held");
    // By now every held connection's task has run and taken its buffers.
    let held_rss = rss_kib(server.pid());

    // Half-sent heads close after the header timeout, idle and kept-alive ones after the
    // idle timeout, with a second of slack for scheduling.
    for (what, conns, limit) in [("half-sent", &mut half, 1), ("idle", &mut idle, 2), ("kept-alive", &mut kept, 2)] {
        for s in conns.iter_mut() {
            let remaining = (opened + Duration::from_secs(limit + 1)).saturating_duration_since(Instant::now());
            assert!(
                closed_within(s, remaining.max(Duration::from_millis(1))).is_some(),
                "a {what} connection stayed open"
            );
        }
    }
    drop((idle, half, kept));
    for _ in 0..20 {
        health(&addr);
    }
    // The connections' memory is returned (the allocator gives freed pages back after a
    // second): what remains above idle falls under a quarter of what holding them took, or
    // under 2 MiB, within 5 seconds.
    let grew = held_rss.saturating_sub(idle_rss);
    let closed = Instant::now();
    let after_rss = loop {
        std::thread::sleep(Duration::from_millis(250));
        let rss = rss_kib(server.pid());
        if rss.saturating_sub(idle_rss) <= (grew / 4).max(2048) || closed.elapsed() > Duration::from_secs(5) {
            break rss;
        }
    };
    eprintln!(
        "RSS idle {idle_rss} KiB, holding 700 connections {held_rss} KiB, after {after_rss} KiB ({:?} after closing)",
        closed.elapsed()
    );
    assert!(
        after_rss.saturating_sub(idle_rss) <= (grew / 4).max(2048),
        "RSS idle {idle_rss}, held {held_rss}, after {after_rss} KiB"
    );
    let (status, _) = server.signal("TERM");
    assert!(status.success());
}

/// An error answered before the request body was read says the connection closes, so the
/// client does not send its next request into it; answers that read the body keep it open.
#[test]
fn early_errors_close_the_connection_openly() {
    let (_dir, data) = temp_dir();
    let server = Server::start(&data, &[]);
    let key = Server::bootstrap_key(&data);
    let addr = address(&server);
    let body = r#"{"name": "ada", "role": "dev"}"#;
    let request = |auth: &str| {
        format!(
            "POST /api/v1/agents HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request("").as_bytes()).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap(); // to the end: the server closed it
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("\r\nconnection: close\r\n"), "{answer}");

    // With a key, the body is read: two requests on one connection.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let auth = format!("Authorization: Bearer {key}\r\n");
    for expected in ["HTTP/1.1 201", "HTTP/1.1 409"] {
        s.write_all(request(&auth).as_bytes()).unwrap();
        let mut buf = vec![0u8; 8192];
        let n = s.read(&mut buf).unwrap();
        let answer = String::from_utf8_lossy(&buf[..n]);
        assert!(answer.starts_with(expected), "{answer}");
        if expected.ends_with("201") {
            assert!(!answer.to_ascii_lowercase().contains("connection: close"), "{answer}");
        }
    }
}

/// A request head hyper cannot parse gets the API's JSON error with hyper's status and
/// `Connection: close`, and an access line, also after a good request on the same connection.
#[test]
fn unparsable_request_heads_get_a_json_error_and_an_access_line() {
    let (_dir, data) = temp_dir();
    let server = Server::start(&data, &[]);
    let addr = address(&server);
    let exchange = |raw: &[u8]| {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // The server may answer and close before the whole of an oversized head is sent.
        let _ = s.write_all(raw);
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    };
    let good = "GET /api/v1/health HTTP/1.1\r\nHost: t\r\n\r\n";
    let huge = format!("GET /api/v1/health HTTP/1.1\r\nHost: t\r\nX-Pad: {}\r\n\r\n", "a".repeat(1 << 20));
    for (raw, status, code) in [
        (b"GET /api/v1/health HTTP/1.1\r\nBad Header: x\r\n\r\n".to_vec(), "400 Bad Request", "bad_request"),
        (b"GET /api/v1/health HTTP/1.1\r\nHost: t\r\nX-Nul: a\x00b\r\n\r\n".to_vec(), "400 Bad Request", "bad_request"),
        (format!("{good}GET /x HTTP/1.1\r\nBad Header: x\r\n\r\n").into_bytes(), "400 Bad Request", "bad_request"),
        (huge.into_bytes(), "431 Request Header Fields Too Large", "request_rejected"),
    ] {
        let answer = exchange(&raw);
        // After a good request, its own answer comes first and is left as the service wrote it.
        let answer = match answer.strip_prefix("HTTP/1.1 200 OK") {
            Some(rest) => {
                assert!(rest.to_ascii_lowercase().contains("x-request-id"), "{answer}");
                &answer[answer.find("HTTP/1.1 4").unwrap()..]
            }
            None => answer.as_str(),
        };
        assert!(answer.starts_with(&format!("HTTP/1.1 {status}\r\n")), "{answer}");
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        let head = head.to_ascii_lowercase();
        assert!(head.contains("content-type: application/json") && head.contains("connection: close"), "{head}");
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["error"]["code"], code, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("request"), "{body}");
    }
    assert!(health(&addr) < Duration::from_secs(5), "the server still answers");
    std::thread::sleep(Duration::from_millis(200));
    let logs = server.logs.lock().unwrap().clone();
    let lines: Vec<_> = logs.iter().filter(|l| l.contains("route=unparsed")).collect();
    assert_eq!(lines.len(), 4, "{logs:#?}");
    assert!(
        lines.iter().filter(|l| l.contains("status=400")).count() == 3
            && lines.iter().any(|l| l.contains("status=431"))
    );
    assert!(lines.iter().all(|l| l.contains("synthorg::access") && l.contains("method=-")), "{lines:#?}");
}
