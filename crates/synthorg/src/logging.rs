//! Logging set-up: the console sink on stderr (stdout is kept for command output such as a
//! new key), as text or JSON, plus the configured file sinks, each with its own level and
//! target routing, and the OTLP exporter. Every sink renders the same captured event with the
//! same redaction: the JSON renderer is shared by the JSON console, the files and the OTLP
//! records' bodies; the text console escapes every control character.

use anyhow::Context;
use synthorg_telemetry::logging::{LineFormat, LineLayer, RotatingFile, Rotation};
use synthorg_telemetry::otlp::{Exporter, ExporterConfig};
use tracing_subscriber::filter::{FilterFn, LevelFilter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::{LogFormat, LoggingConfig, SinkConfig};

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

fn filter(level: &str) -> EnvFilter {
    EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Spans always pass, so that events keep the request's correlation fields whatever the
/// sink's level and targets; events are filtered by level and target prefix.
fn routed(max: LevelFilter, targets: Vec<String>) -> FilterFn<impl Fn(&tracing::Metadata<'_>) -> bool> {
    FilterFn::new(move |meta| {
        meta.is_span()
            || (*meta.level() <= max
                && (targets.is_empty() || targets.iter().any(|t| meta.target().starts_with(t.as_str()))))
    })
}

/// Installs the global subscriber and starts the OTLP exporter when one is configured. A
/// second call (tests) is ignored. Fails when a file sink cannot be opened or the exporter
/// cannot start.
pub(crate) fn init(config: &LoggingConfig, otlp: Option<ExporterConfig>) -> anyhow::Result<Option<Exporter>> {
    let secret = synthorg_core::security::is_secret_name;
    let console: BoxedLayer = match config.format {
        LogFormat::Text => {
            LineLayer::new(std::io::stderr(), secret, LineFormat::Text).with_filter(filter(&config.level)).boxed()
        }
        LogFormat::Json => {
            LineLayer::new(std::io::stderr(), secret, LineFormat::Json).with_filter(filter(&config.level)).boxed()
        }
    };
    let mut layers = vec![console];
    for sink in &config.sinks {
        let SinkConfig::File { path, level, targets, max_bytes, max_files, gzip } = sink else { continue };
        let full = config.dir.join(path);
        let rotation = Rotation { max_bytes: *max_bytes, max_files: *max_files, gzip: *gzip };
        let file =
            RotatingFile::open(&full, rotation).with_context(|| format!("cannot open log file {}", full.display()))?;
        let max = level.parse::<LevelFilter>().unwrap_or(LevelFilter::INFO);
        layers.push(LineLayer::new(file, secret, LineFormat::Json).with_filter(routed(max, targets.clone())).boxed());
    }
    let exporter = match otlp {
        Some(mut otlp) => {
            otlp.is_secret = secret;
            let level = config.sinks.iter().find_map(|s| match s {
                SinkConfig::Otlp(o) => o.level.parse::<LevelFilter>().ok(),
                _ => None,
            });
            let exporter = Exporter::start(otlp).map_err(|e| anyhow::anyhow!(e))?;
            layers.push(exporter.layer().with_filter(routed(level.unwrap_or(LevelFilter::INFO), Vec::new())).boxed());
            Some(exporter)
        }
        None => None,
    };
    let _ = tracing_subscriber::registry().with(layers).try_init();
    Ok(exporter)
}

#[cfg(test)]
mod tests {
    /// The sinks and the domain (stored approval arguments, configuration printing) write a
    /// redacted value the same way.
    #[test]
    fn one_mask_for_every_sink_and_the_domain() {
        assert_eq!(synthorg_telemetry::logging::REDACTED, synthorg_core::security::REDACTED);
    }
}
