//! The `database` section: the embedded SQLite file (default) or a PostgreSQL database shared
//! by several replicas. The URL may hold a password, so it never prints in clear.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};
use synthorg_core::FieldError;
use synthorg_store::PostgresOptions;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct DatabaseConfig {
    /// Empty: the embedded SQLite file in `server.data_dir`. `postgres://user:password@host:5432/db`:
    /// PostgreSQL, shared by every replica.
    pub url: DatabaseUrl,
    /// PostgreSQL: most connections per replica.
    pub pool_size: usize,
    /// PostgreSQL: schema of synthorg's tables (created when missing); null: the server's
    /// search path (usually `public`).
    pub schema: Option<String>,
    /// PostgreSQL: longest wait for a new connection.
    pub connect_timeout: String,
    /// PostgreSQL: server-side limit of one statement.
    pub statement_timeout: String,
    /// PostgreSQL with `sslmode=require`: CA certificates (PEM) trusted besides the system's.
    pub ca_file: Option<PathBuf>,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        let d = PostgresOptions::default();
        Self {
            url: DatabaseUrl::default(),
            pool_size: d.pool_size,
            schema: None,
            connect_timeout: "5s".into(),
            statement_timeout: "30s".into(),
            ca_file: None,
        }
    }
}

/// A database URL whose password prints as `**REDACTED**` (in `Debug`, in `config show`).
#[derive(Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(transparent)]
pub(crate) struct DatabaseUrl(pub String);

impl DatabaseUrl {
    /// The URL with the password (in the user part or a `password=` parameter) masked.
    pub(crate) fn redacted(&self) -> String {
        redact_url(&self.0)
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.redacted())
    }
}

fn redact_url(url: &str) -> String {
    const MASK: &str = synthorg_core::security::REDACTED;
    let Some(scheme_end) = url.find("://") else { return url.to_owned() };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => match authority[..at].find(':') {
            Some(colon) => format!("{}:{MASK}{}", &authority[..colon], &authority[at..]),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}={MASK}"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{}{authority}{tail}", &url[..scheme_end + 3])
}

/// Where the state lives, checked.
#[derive(Clone)]
pub(crate) enum StoreLocation {
    /// `synthorg.db` in this directory.
    Sqlite(PathBuf),
    Postgres {
        url: DatabaseUrl,
        options: PostgresOptions,
    },
}

impl fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

/// How the store is named in logs and messages (never with a password).
impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Sqlite(dir) => write!(f, "sqlite {}", dir.join(synthorg_store::sqlite::DB_FILE).display()),
            StoreLocation::Postgres { url, options } => {
                write!(f, "postgres {}", url.redacted())?;
                if let Some(schema) = &options.schema {
                    write!(f, " schema {schema}")?;
                }
                Ok(())
            }
        }
    }
}

/// Checks the section; `data_dir` is where SQLite lives when no URL is given.
pub(super) fn check(
    config: &DatabaseConfig,
    data_dir: PathBuf,
    duration: impl Fn(&mut Vec<FieldError>, &str, &str) -> Duration,
    errors: &mut Vec<FieldError>,
) -> StoreLocation {
    let connect_timeout = duration(errors, "database.connect_timeout", &config.connect_timeout);
    let statement_timeout = duration(errors, "database.statement_timeout", &config.statement_timeout);
    if config.url.0.is_empty() {
        return StoreLocation::Sqlite(data_dir);
    }
    let url = &config.url.0;
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        errors.push(FieldError::new(
            "database.url",
            "must be empty (embedded SQLite) or a postgres:// or postgresql:// URL",
        ));
    } else if let Err(problem) = synthorg_store::postgres::check_url(url) {
        errors.push(FieldError::new("database.url", problem.to_string()));
    }
    if !(1..=1000).contains(&config.pool_size) {
        errors.push(FieldError::new("database.pool_size", "must be between 1 and 1000"));
    }
    if let Some(schema) = &config.schema
        && !synthorg_store::postgres::valid_schema_name(schema)
    {
        errors.push(FieldError::new(
            "database.schema",
            "must be lower-case letters, digits and _, not starting with a digit, at most 63 bytes",
        ));
    }
    let ca_pem = config.ca_file.as_ref().and_then(|path| match std::fs::read(path) {
        Ok(pem) => match synthorg_telemetry::tls::validate_ca_pem(&pem) {
            Ok(()) => Some(pem),
            Err(problem) => {
                errors.push(FieldError::new("database.ca_file", format!("{}: {problem}", path.display())));
                None
            }
        },
        Err(e) => {
            errors.push(FieldError::new("database.ca_file", format!("cannot read {}: {e}", path.display())));
            None
        }
    });
    let options = PostgresOptions {
        pool_size: config.pool_size,
        connect_timeout,
        acquire_timeout: connect_timeout,
        statement_timeout,
        schema: config.schema.clone(),
        ca_pem,
    };
    StoreLocation::Postgres { url: config.url.clone(), options }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_never_print() {
        let check = |url: &str, shown: &str| assert_eq!(redact_url(url), shown);
        check("postgres://app:s3cret@db:5432/synthorg", "postgres://app:**REDACTED**@db:5432/synthorg");
        check("postgresql://app:p@ss@db/synthorg", "postgresql://app:**REDACTED**@db/synthorg");
        check("postgres://app@db/synthorg", "postgres://app@db/synthorg");
        check(
            "postgres://db/synthorg?user=app&password=s3cret&sslmode=disable",
            "postgres://db/synthorg?user=app&password=**REDACTED**&sslmode=disable",
        );
        check("postgres://app:s3cret@db?application_name=x", "postgres://app:**REDACTED**@db?application_name=x");
        check("", "");
    }
}
