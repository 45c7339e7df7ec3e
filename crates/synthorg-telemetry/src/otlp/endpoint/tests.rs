use std::collections::HashMap;
use std::sync::Mutex;

use super::*;

/// A resolver answering from a table; unknown names fail like NXDOMAIN.
struct Table(HashMap<&'static str, Vec<IpAddr>>);

impl Resolver for Table {
    fn resolve(&self, host: &str, _: u16) -> std::io::Result<Vec<IpAddr>> {
        self.0.get(host).cloned().ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such host"))
    }
}

fn dns() -> Table {
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    Table(HashMap::from([
        ("collector.example.com", vec![ip("93.184.216.34")]),
        ("collector.example.com.", vec![ip("93.184.216.34")]),
        ("internal.corp.", vec![ip("10.1.2.3")]),
        ("otlp.vendor.io", vec![ip("2606:4700::6810:85e5"), ip("104.16.132.229")]),
        ("internal.corp", vec![ip("10.1.2.3")]),
        ("mixed.example.com", vec![ip("93.184.216.34"), ip("192.168.1.10")]),
        ("metadata.evil.com", vec![ip("169.254.169.254")]),
        ("v6private.example.com", vec![ip("fd12:3456::1")]),
        ("loop.evil.com", vec![ip("127.0.0.1")]),
        ("collector.svc", vec![ip("10.96.0.15")]),
    ]))
}

fn policy() -> EndpointPolicy {
    EndpointPolicy::default()
}

fn admitting(cidrs: &[&str]) -> EndpointPolicy {
    EndpointPolicy { allowed_private_cidrs: cidrs.iter().map(|c| c.parse().unwrap()).collect(), ..Default::default() }
}

#[test]
fn endpoint_spellings() {
    let cluster = admitting(&["10.96.0.0/12", "fd00::/8"]);
    // (policy, endpoint, accepted)
    let rows: &[(&EndpointPolicy, &str, bool)] = &[
        // Loopback names are admitted (sidecar collectors).
        (&policy(), "http://localhost:4318", true),
        (&policy(), "http://LOCALHOST:4318", true),
        (&policy(), "http://localhost.:4318", true),
        (&policy(), "http://127.0.0.1:4318", true),
        (&policy(), "http://[::1]:4318", true),
        (&policy(), "http://127.0.0.1.:4318", true),
        // Other loopback addresses in any spelling are not.
        (&policy(), "http://127.0.0.2:4318", false),
        (&policy(), "http://2130706434:4318", false),
        (&policy(), "http://0177.0.0.2:4318", false),
        (&policy(), "http://0x7f.0.0.2:4318", false),
        (&policy(), "http://127.2/", false),
        (&policy(), "http://[::ffff:127.0.0.1]:4318", false),
        (&policy(), "http://[::ffff:7f00:2]:4318", false),
        (&policy(), "http://[::127.0.0.2]:4318", false),
        // Unspecified.
        (&policy(), "http://0.0.0.0:4318", false),
        (&policy(), "http://0:4318", false),
        (&policy(), "http://[::]:4318", false),
        // Private ranges, decimal / octal / hex / short spellings, mapped forms.
        (&policy(), "http://10.0.0.1/", false),
        (&policy(), "http://167772161/", false),
        (&policy(), "http://012.0.0.1/", false),
        (&policy(), "http://0xa000001/", false),
        (&policy(), "http://10.1/", false),
        (&policy(), "http://172.16.5.4/", false),
        (&policy(), "http://172.31.255.255/", false),
        (&policy(), "http://172.32.0.1/", true),
        (&policy(), "http://192.168.0.1/", false),
        (&policy(), "http://0xc0.0xa8.0.1/", false),
        (&policy(), "http://[::ffff:192.168.0.1]/", false),
        (&policy(), "http://[::ffff:c0a8:1]/", false),
        (&policy(), "http://[64:ff9b::10.0.0.1]/", false),
        (&policy(), "http://[2002:c0a8:1::1]/", false),
        (&policy(), "http://100.64.0.1/", false),
        // Link-local, the metadata address in every spelling, broadcast, documentation,
        // benchmarking, reserved, multicast.
        (&policy(), "http://169.254.1.1/", false),
        (&policy(), "http://169.254.169.254/latest/meta-data", false),
        (&policy(), "http://2852039166/", false),
        (&policy(), "http://0xa9fea9fe/", false),
        (&policy(), "http://0251.0376.0251.0376/", false),
        (&policy(), "http://[::ffff:169.254.169.254]/", false),
        (&policy(), "http://[fd00:ec2::254]/", false),
        (&policy(), "http://255.255.255.255/", false),
        (&policy(), "http://192.0.2.10/", false),
        (&policy(), "http://198.51.100.10/", false),
        (&policy(), "http://203.0.113.10/", false),
        (&policy(), "http://198.18.0.1/", false),
        (&policy(), "http://240.0.0.1/", false),
        (&policy(), "http://224.0.0.1/", false),
        (&policy(), "http://[fe80::1]/", false),
        (&policy(), "http://[fe80::1%25eth0]/", false),
        (&policy(), "http://[fd12:3456::1]/", false),
        (&policy(), "http://[fc00::1]/", false),
        (&policy(), "http://[ff02::1]/", false),
        (&policy(), "http://[2001:db8::1]/", false),
        // Userinfo, schemes, malformed.
        (&policy(), "http://user:pass@collector.example.com/", false),
        (&policy(), "http://user@collector.example.com/", false),
        (&policy(), "https://collector.example.com@10.0.0.1/", false),
        (&policy(), "ftp://collector.example.com/", false),
        (&policy(), "file:///etc/passwd", false),
        (&policy(), "gopher://collector.example.com/", false),
        (&policy(), "collector.example.com:4318", false),
        (&policy(), "http://", false),
        (&policy(), "http://collector.example.com/v1/logs?x=1", false),
        (&policy(), "http://collector.example.com\r\nX-Evil: 1/", false),
        // Public literals and names.
        (&policy(), "https://93.184.216.34:4318", true),
        (&policy(), "https://[2606:4700::6810:85e5]:4318", true),
        (&policy(), "https://collector.example.com", true),
        (&policy(), "https://collector.example.com.:4318/otlp", true),
        (&policy(), "https://internal.corp.:4318", false),
        (&policy(), "https://otlp.vendor.io/v1/logs", true),
        (&policy(), "https://internal.corp/", false),
        (&policy(), "https://mixed.example.com/", false),
        (&policy(), "https://metadata.evil.com/", false),
        (&policy(), "https://v6private.example.com/", false),
        (&policy(), "https://loop.evil.com/", false),
        (&policy(), "https://unknown.invalid/", false),
        // Explicitly admitted in-cluster ranges; the metadata address never.
        (&cluster, "http://collector.svc:4318", true),
        (&cluster, "http://10.96.0.15:4318", true),
        (&cluster, "http://[fd12:3456::1]:4318", true),
        (&cluster, "http://10.1.2.3:4318", false),
        (&cluster, "http://internal.corp:4318", false),
        (&admitting(&["169.254.0.0/16"]), "http://169.254.169.254/", false),
        (&admitting(&["169.254.0.0/16"]), "http://169.254.10.10/", true),
        (&admitting(&["0.0.0.0/0"]), "http://0xa9fea9fe/", false),
    ];
    assert!(rows.len() >= 40);
    let resolver = dns();
    for (policy, endpoint, accepted) in rows {
        let result = policy.check_endpoint(endpoint, &resolver);
        assert_eq!(result.is_ok(), *accepted, "{endpoint}: {result:?}");
    }
}

#[test]
fn logs_path_is_appended_once() {
    let check = |e: &str| policy().check_endpoint(e, &dns()).unwrap().logs_url.to_string();
    assert_eq!(check("http://localhost:4318"), "http://localhost:4318/v1/logs");
    assert_eq!(check("http://localhost:4318/"), "http://localhost:4318/v1/logs");
    assert_eq!(check("http://localhost:4318/otlp/"), "http://localhost:4318/otlp/v1/logs");
    assert_eq!(check("http://localhost:4318/v1/logs"), "http://localhost:4318/v1/logs");
}

/// A base endpoint written with the logs path (`…/v1/logs`, as the log sink has always
/// allowed) stands for the collector: traces and metrics get their own paths in its place,
/// not `…/v1/logs/v1/traces`.
#[test]
fn each_signal_gets_its_own_path_from_one_base() {
    let check = |e: &str, p: &str| policy().check_signal_endpoint(e, p, &dns()).unwrap().logs_url.to_string();
    for base in ["http://localhost:4318", "http://localhost:4318/v1/logs", "http://localhost:4318/v1/traces/"] {
        assert_eq!(check(base, "/v1/traces"), "http://localhost:4318/v1/traces", "{base}");
        assert_eq!(check(base, "/v1/metrics"), "http://localhost:4318/v1/metrics", "{base}");
        assert_eq!(check(base, "/v1/logs"), "http://localhost:4318/v1/logs", "{base}");
    }
    assert_eq!(check("http://localhost:4318/otlp/v1/logs", "/v1/metrics"), "http://localhost:4318/otlp/v1/metrics");
}

/// A per-signal logs URL is used exactly as written (no path: the root), and passes the same
/// checks as a base endpoint.
#[test]
fn a_logs_url_is_used_as_is() {
    let check = |e: &str| policy().check_logs_url(e, &dns()).map(|c| c.logs_url.to_string());
    assert_eq!(check("http://localhost:4318").unwrap(), "http://localhost:4318/");
    assert_eq!(check("http://localhost:4318/ingest/otlp").unwrap(), "http://localhost:4318/ingest/otlp");
    assert_eq!(check("http://localhost:4318/v1/logs/").unwrap(), "http://localhost:4318/v1/logs/");
    for refused in
        ["http://10.0.0.1:4318/v1/logs", "http://169.254.169.254/", "ftp://localhost/", "http://localhost/?q=1"]
    {
        assert!(check(refused).is_err(), "{refused}");
    }
}

/// The name resolves to a public address when the configuration loads and to a forbidden one
/// when the exporter connects: the connection is refused.
#[test]
fn dns_rebinding_is_caught_at_connect() {
    struct Rebinding(Mutex<u32>);
    impl Resolver for Rebinding {
        fn resolve(&self, _: &str, _: u16) -> std::io::Result<Vec<IpAddr>> {
            let mut calls = self.0.lock().unwrap();
            *calls += 1;
            Ok(vec![if *calls == 1 { "93.184.216.34".parse().unwrap() } else { "169.254.169.254".parse().unwrap() }])
        }
    }
    let resolver = Rebinding(Mutex::new(0));
    let endpoint = policy().check_endpoint("https://collector.example.com", &resolver).unwrap();
    let err = policy().resolve_for_connect(&endpoint, &resolver).unwrap_err();
    assert!(err.0.contains("now resolves to 169.254.169.254"), "{err}");
    // A stable name passes both checks.
    let endpoint = policy().check_endpoint("https://collector.example.com", &dns()).unwrap();
    let addrs = policy().resolve_for_connect(&endpoint, &dns()).unwrap();
    assert_eq!(addrs, ["93.184.216.34:443".parse().unwrap()]);
    // localhost is admitted at connect time too.
    let local = policy().check_endpoint("http://localhost:4318", &dns()).unwrap();
    assert!(policy().check_connect(&local, "::1".parse().unwrap()).is_ok());
    assert!(policy().check_connect(&local, "10.0.0.1".parse().unwrap()).is_err());
}

#[test]
fn headers() {
    let rows: &[(&str, &str, bool)] = &[
        ("authorization", "Bearer abc", true),
        ("x-api-key", "k\tv", true),
        ("X-Scope-OrgID", "tenant-1", true),
        ("x!#$%&'*+-.^_`|~", "v", true),
        ("", "v", false),
        ("x-evil\r\nhost", "v", false),
        ("x-evil\n", "v", false),
        ("x\0", "v", false),
        ("x header", "v", false),
        ("x:header", "v", false),
        ("x\"q", "v", false),
        ("x(y)", "v", false),
        ("ünïcode", "v", false),
        ("x-ok", "a\r\nX-Injected: 1", false),
        ("x-ok", "a\nb", false),
        ("x-ok", "a\0b", false),
        ("x-ok", "a\x07b", false),
        ("x-ok", "a\x7fb", false),
        // Hop-by-hop and framing headers belong to the exporter's HTTP client.
        ("Host", "collector.internal", false),
        ("content-length", "0", false),
        ("Transfer-Encoding", "chunked", false),
        ("connection", "close", false),
        ("Keep-Alive", "timeout=5", false),
        ("proxy-connection", "keep-alive", false),
        ("TE", "trailers", false),
        ("trailer", "x", false),
        ("Upgrade", "h2c", false),
        ("expect", "100-continue", false),
        ("Content-Type", "text/plain", false),
        ("content-encoding", "br", false),
        ("x-host", "v", true),
        ("content-language", "en", true),
    ];
    for (name, value, ok) in rows {
        assert_eq!(check_header(name, value).is_ok(), *ok, "{name:?}: {value:?}");
    }
}

#[test]
fn tls_warning_for_headers_over_plain_http() {
    let resolver = dns();
    let remote = policy().check_endpoint("http://collector.example.com:4318", &resolver).unwrap();
    assert!(tls_problem(&remote, true).unwrap().contains("plain http"));
    assert!(tls_problem(&remote, false).is_none());
    let secure = policy().check_endpoint("https://collector.example.com", &resolver).unwrap();
    assert!(tls_problem(&secure, true).is_none());
    let sidecar = policy().check_endpoint("http://localhost:4318", &resolver).unwrap();
    assert!(tls_problem(&sidecar, true).is_none());
}
