//! Exporter endpoint hardening (SPEC §5): SSRF and header-injection checks, run when the
//! configuration loads (startup fails with every problem listed) and again on every address
//! the exporter connects to, so DNS rebinding cannot reach a forbidden address.
//!
//! Hosts are parsed with the WHATWG URL parser (`url`), which canonicalises every IPv4
//! spelling a URL may carry (decimal `2130706433`, octal `0177.0.0.1`, hex `0x7f.1`, short
//! `127.1`, trailing dots) before the address checks run. Names are resolved and rejected if
//! any address is forbidden.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

use ipnet::IpNet;
use url::{Host, Url};

/// The cloud metadata address: never admitted, whatever `allowed_private_cidrs` says.
pub const METADATA_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
/// The IPv6 metadata address of some clouds (`fd00:ec2::254`): never admitted either.
pub const METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);

/// Resolves host names; injectable so tests control DNS.
pub trait Resolver: Send + Sync {
    fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<IpAddr>>;
}

/// The operating system's resolver.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<IpAddr>> {
        Ok((host, port).to_socket_addrs()?.map(|a| a.ip()).collect())
    }
}

/// What the exporter may reach.
#[derive(Debug, Clone, Default)]
pub struct EndpointPolicy {
    /// Private ranges admitted explicitly (in-cluster collectors). The metadata address
    /// stays forbidden.
    pub allowed_private_cidrs: Vec<IpNet>,
    /// Refuse (instead of warn about) headers sent over plain HTTP to a non-loopback host.
    pub require_tls_for_headers: bool,
}

/// Why an endpoint or header is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointError(pub String);

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EndpointError {}

fn refuse<T>(message: impl Into<String>) -> Result<T, EndpointError> {
    Err(EndpointError(message.into()))
}

/// An endpoint that passed the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedEndpoint {
    /// Where logs are POSTed: `{endpoint}/v1/logs` (the endpoint itself when it already ends
    /// so), or a per-signal logs URL exactly as given.
    pub logs_url: Url,
    /// Is the host one of the loopback names (`localhost`, `127.0.0.1`, `::1`)?
    pub loopback: bool,
}

impl CheckedEndpoint {
    pub fn host(&self) -> &str {
        self.logs_url.host_str().unwrap_or("")
    }

    pub fn port(&self) -> u16 {
        self.logs_url.port_or_known_default().unwrap_or(80)
    }
}

/// The OTLP/HTTP paths of the three signals.
const SIGNAL_PATHS: [&str; 3] = ["/v1/logs", "/v1/traces", "/v1/metrics"];

impl EndpointPolicy {
    /// Checks a collector's base URL: logs go to `{endpoint}/v1/logs` (an endpoint already
    /// ending in `/v1/logs` is used as is).
    pub fn check_endpoint(&self, endpoint: &str, resolver: &dyn Resolver) -> Result<CheckedEndpoint, EndpointError> {
        self.check_url(endpoint, Some("/v1/logs"), resolver)
    }

    /// Checks a collector's base URL for one signal: its requests go to
    /// `{endpoint}{signal_path}` (`/v1/traces`, say); an endpoint already ending in a signal's
    /// path has that path replaced (`…/v1/logs` gives `…/v1/traces`). The URL is in [`CheckedEndpoint::logs_url`] whatever the signal.
    pub fn check_signal_endpoint(
        &self,
        endpoint: &str,
        signal_path: &str,
        resolver: &dyn Resolver,
    ) -> Result<CheckedEndpoint, EndpointError> {
        self.check_url(endpoint, Some(signal_path), resolver)
    }

    /// Checks the URL logs are POSTed to, used exactly as written, as the OpenTelemetry
    /// specification requires of a per-signal endpoint (`OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`);
    /// a URL without a path posts to `/`.
    pub fn check_logs_url(&self, url: &str, resolver: &dyn Resolver) -> Result<CheckedEndpoint, EndpointError> {
        self.check_url(url, None, resolver)
    }

    fn check_url(
        &self,
        endpoint: &str,
        signal_path: Option<&str>,
        resolver: &dyn Resolver,
    ) -> Result<CheckedEndpoint, EndpointError> {
        if endpoint.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return refuse("the endpoint contains spaces or control characters");
        }
        let mut url = Url::parse(endpoint).map_err(|e| EndpointError(format!("not a valid URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return refuse(format!("scheme {:?} is not allowed; use http or https", url.scheme()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return refuse("credentials in the URL (userinfo) are not allowed; send them as headers");
        }
        if url.fragment().is_some() || url.query().is_some() {
            return refuse("a query string or fragment is not allowed in the endpoint");
        }
        let loopback = match url.host() {
            None => return refuse("the endpoint has no host"),
            Some(Host::Ipv4(ip)) => {
                let ip = IpAddr::V4(ip);
                self.check_literal(ip)?
            }
            Some(Host::Ipv6(ip)) => self.check_literal(IpAddr::V6(ip))?,
            Some(Host::Domain(name)) => {
                let name = name.to_ascii_lowercase();
                if name == "localhost" || name == "localhost." {
                    true
                } else {
                    let port = url.port_or_known_default().unwrap_or(80);
                    self.check_name(&name, port, resolver)?;
                    false
                }
            }
        };
        if let Some(signal_path) = signal_path {
            // A base already ending in a signal's path (`…/v1/logs`, written for the logs)
            // stands for the collector: each signal gets its own path in its place.
            let base = url.path().trim_end_matches('/');
            let base = SIGNAL_PATHS.iter().find_map(|p| base.strip_suffix(p)).unwrap_or(base);
            let path = format!("{base}{signal_path}");
            url.set_path(&path);
        }
        Ok(CheckedEndpoint { logs_url: url, loopback })
    }

    /// A literal address: `Ok(true)` for the admitted loopback addresses 127.0.0.1 and ::1.
    fn check_literal(&self, ip: IpAddr) -> Result<bool, EndpointError> {
        if ip == IpAddr::V4(Ipv4Addr::LOCALHOST) || ip == IpAddr::V6(Ipv6Addr::LOCALHOST) {
            return Ok(true);
        }
        self.check_address(ip).map(|()| false)
    }

    /// Resolves a name and refuses it if **any** address is forbidden.
    fn check_name(&self, name: &str, port: u16, resolver: &dyn Resolver) -> Result<(), EndpointError> {
        let addresses =
            resolver.resolve(name, port).map_err(|e| EndpointError(format!("cannot resolve {name}: {e}")))?;
        if addresses.is_empty() {
            return refuse(format!("{name} resolves to no address"));
        }
        for ip in addresses {
            self.check_address(ip).map_err(|e| EndpointError(format!("{name} resolves to {ip}: {e}")))?;
        }
        Ok(())
    }

    /// The check run on every address the exporter is about to connect to. Loopback names
    /// were admitted at load; their addresses are admitted here too.
    pub fn check_connect(&self, endpoint: &CheckedEndpoint, ip: IpAddr) -> Result<(), EndpointError> {
        if endpoint.loopback && ip.is_loopback() {
            return Ok(());
        }
        self.check_address(ip)
    }

    /// Resolves the endpoint's host for a connection and checks every address (DNS may have
    /// changed since the configuration loaded).
    pub fn resolve_for_connect(
        &self,
        endpoint: &CheckedEndpoint,
        resolver: &dyn Resolver,
    ) -> Result<Vec<SocketAddr>, EndpointError> {
        let port = endpoint.port();
        let ips = match endpoint.logs_url.host() {
            Some(Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
            Some(Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
            Some(Host::Domain(name)) => {
                resolver.resolve(name, port).map_err(|e| EndpointError(format!("cannot resolve {name}: {e}")))?
            }
            None => return refuse("the endpoint has no host"),
        };
        if ips.is_empty() {
            return refuse(format!("{} resolves to no address", endpoint.host()));
        }
        for ip in &ips {
            self.check_connect(endpoint, *ip)
                .map_err(|e| EndpointError(format!("{} now resolves to {ip}: {e}", endpoint.host())))?;
        }
        Ok(ips.into_iter().map(|ip| SocketAddr::new(ip, port)).collect())
    }

    /// Refuses addresses that are not public, unless an allowed CIDR admits them. The
    /// metadata addresses are refused always.
    pub fn check_address(&self, ip: IpAddr) -> Result<(), EndpointError> {
        let ip = canonical(ip);
        if ip == IpAddr::V4(METADATA_V4) || ip == IpAddr::V6(METADATA_V6) {
            return refuse("the cloud metadata address is never allowed");
        }
        let Some(why) = forbidden(ip) else { return Ok(()) };
        if self.allowed_private_cidrs.iter().any(|net| net.contains(&ip)) {
            return Ok(());
        }
        refuse(format!("{ip} is {why}; admit in-cluster collectors with this sink's allowed_private_cidrs"))
    }
}

/// IPv4 embedded in IPv6 (mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d`, NAT64
/// `64:ff9b::a.b.c.d`, 6to4 `2002:AABB:CCDD::`) is judged as the IPv4 address it reaches.
fn canonical(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else { return ip };
    let s = v6.segments();
    let v4 = |hi: u16, lo: u16| IpAddr::V4(Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8));
    match s {
        [0, 0, 0, 0, 0, 0xffff, hi, lo] => v4(hi, lo),
        // IPv4-compatible; `::` and `::1` are themselves, not 0.0.0.0 and 0.0.0.1.
        [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 => v4(hi, lo),
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => v4(hi, lo),
        [0x2002, hi, lo, ..] => v4(hi, lo),
        _ => ip,
    }
}

/// Why an address is not public, `None` when it is.
fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            Some(match o {
                [0, ..] => "unspecified (0.0.0.0/8)",
                [10, ..] => "private (10.0.0.0/8)",
                [100, b, ..] if (64..128).contains(&b) => "shared address space (100.64.0.0/10)",
                [127, ..] => "loopback (only 127.0.0.1 and localhost are allowed)",
                [169, 254, ..] => "link-local (169.254.0.0/16)",
                [172, b, ..] if (16..32).contains(&b) => "private (172.16.0.0/12)",
                [192, 0, 0, _] => "reserved for protocol assignments (192.0.0.0/24)",
                [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => "reserved for documentation",
                [192, 168, ..] => "private (192.168.0.0/16)",
                [198, b, ..] if b == 18 || b == 19 => "reserved for benchmarking (198.18.0.0/15)",
                [a, ..] if (224..240).contains(&a) => "multicast (224.0.0.0/4)",
                [255, 255, 255, 255] => "broadcast",
                [a, ..] if a >= 240 => "reserved (240.0.0.0/4)",
                _ => return None,
            })
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            Some(match s {
                [0, 0, 0, 0, 0, 0, 0, 0] => "unspecified (::)",
                [0, 0, 0, 0, 0, 0, 0, 1] => "loopback (only ::1 as written is allowed)",
                [0x100, 0, 0, 0, ..] => "reserved for discard (100::/64)",
                [0x2001, 0xdb8, ..] => "reserved for documentation (2001:db8::/32)",
                [0x2001, 0x2, 0, ..] => "reserved for benchmarking (2001:2::/48)",
                [0x2001, 0, ..] => "Teredo (2001::/32)",
                [a, ..] if a & 0xfe00 == 0xfc00 => "unique-local (fc00::/7)",
                [a, ..] if a & 0xffc0 == 0xfe80 => "link-local (fe80::/10)",
                [a, ..] if a & 0xffc0 == 0xfec0 => "site-local (fec0::/10)",
                [a, ..] if a & 0xff00 == 0xff00 => "multicast (ff00::/8)",
                [0, ..] => "reserved (::/8)",
                _ => return None,
            })
        }
    }
}

/// Header names the exporter's HTTP client owns: hop-by-hop and framing headers, and the
/// body's type and encoding. A configured value would contradict the request's own framing
/// (request smuggling through a proxy, a broken kept-alive connection) or make the collector
/// misread the body.
pub const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "expect",
    "content-type",
    "content-encoding",
];

/// Checks one header: a valid HTTP token as name that is not one the exporter sets itself
/// ([`RESERVED_HEADERS`], in any case), no CR, LF or NUL anywhere, no other control
/// character in the value.
pub fn check_header(name: &str, value: &str) -> Result<(), EndpointError> {
    if name.is_empty() {
        return refuse("the header name is empty");
    }
    if name.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return refuse("the header name contains CR, LF or NUL (header injection)");
    }
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if let Some(bad) = name.bytes().find(|b| !tchar(*b)) {
        return refuse(format!("the header name has a character that is not allowed in a token: {:?}", bad as char));
    }
    if RESERVED_HEADERS.iter().any(|reserved| name.eq_ignore_ascii_case(reserved)) {
        return refuse(format!(
            "{} is a hop-by-hop or framing header the exporter sets itself; it cannot be configured",
            name.to_ascii_lowercase()
        ));
    }
    if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return refuse("the header value contains CR, LF or NUL (header injection)");
    }
    if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return refuse("the header value contains a control character");
    }
    Ok(())
}

/// Headers over plain HTTP to a non-loopback host may leak credentials: a warning, or an
/// error with `require_tls_for_headers`.
pub fn tls_problem(endpoint: &CheckedEndpoint, has_headers: bool) -> Option<String> {
    (has_headers && endpoint.logs_url.scheme() == "http" && !endpoint.loopback).then(|| {
        format!("headers are sent to {} over plain http; they may carry credentials: use https", endpoint.host())
    })
}

#[cfg(test)]
mod tests;
