//! Content negotiation for the scrape endpoint.

use std::io::Write;

use super::Format;

/// Picks the format from an `Accept` header: OpenMetrics when the scraper rates it above
/// (or equal to, and listed before) text; text 0.0.4 otherwise, and when there is no header.
pub fn choose_format(accept: Option<&str>) -> Format {
    let Some(accept) = accept else { return Format::Text };
    let mut best: Option<(f32, Format)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let mut q = 1.0f32;
        for param in parts {
            if let Some(v) = param.strip_prefix("q=").or_else(|| param.strip_prefix("Q=")) {
                q = v.trim().parse().unwrap_or(0.0);
            }
        }
        let format = match media.as_str() {
            "application/openmetrics-text" => Format::OpenMetrics,
            "text/plain" | "text/*" | "*/*" => Format::Text,
            _ => continue,
        };
        if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, format));
        }
    }
    best.map_or(Format::Text, |(_, f)| f)
}

/// Does an `Accept-Encoding` header admit gzip?
pub fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    accept_encoding.is_some_and(|header| {
        header.split(',').any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let q = parts.find_map(|p| p.strip_prefix("q=")).map_or(1.0, |v| v.trim().parse::<f32>().unwrap_or(0.0));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && q > 0.0
        })
    })
}

/// Gzip-compresses a body (fast level: scrapes are frequent, bodies compress well anyway).
pub fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::fast());
    encoder.write_all(body)?;
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_of_real_scrapers() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(choose_format(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(choose_format(Some("text/plain;version=0.0.4;q=1,*/*;q=0.1")), Format::Text);
        assert_eq!(choose_format(None), Format::Text);
        assert_eq!(choose_format(Some("*/*")), Format::Text);
        assert_eq!(choose_format(Some("application/json")), Format::Text);
        assert_eq!(choose_format(Some("text/plain;q=0.2, application/openmetrics-text;q=0.9")), Format::OpenMetrics);
        assert_eq!(choose_format(Some("application/openmetrics-text;q=0")), Format::Text);
    }

    #[test]
    fn gzip_negotiation() {
        assert!(accepts_gzip(Some("gzip")));
        assert!(accepts_gzip(Some("deflate, gzip;q=0.5")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("identity")));
        assert!(!accepts_gzip(None));
        let packed = gzip(b"hello hello hello").unwrap();
        assert_eq!(&packed[..2], &[0x1f, 0x8b]);
    }
}
