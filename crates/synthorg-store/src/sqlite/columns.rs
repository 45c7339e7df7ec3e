//! Conversions between domain values and columns, and the WHERE-clause builder of the lists.

use rusqlite::Connection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::schema::{Param, Where};
use crate::{Page, PageRequest, StoreError};

/// Microseconds since the Unix epoch.
pub(crate) fn ts(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1000) as i64
}

pub(crate) fn from_ts(micros: i64) -> rusqlite::Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Integer, Box::new(e)))
}

pub(crate) fn parse_uuid(text: &str) -> rusqlite::Result<Uuid> {
    Uuid::parse_str(text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

pub(crate) fn opt_uuid(text: Option<String>) -> rusqlite::Result<Option<Uuid>> {
    text.as_deref().map(parse_uuid).transpose()
}

/// Parses a stored enum spelling.
pub(crate) fn parse_enum<T>(text: &str, parse: fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    parse(text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown stored value {text:?}").into(),
        )
    })
}

pub(crate) fn json_col<T: serde::de::DeserializeOwned>(text: &str) -> rusqlite::Result<T> {
    serde_json::from_str(text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

/// The lists' WHERE clauses, with `?n` parameters.
pub(crate) type Filter = Where<rusqlite::types::Value>;

impl<T: Into<rusqlite::types::Value>> Param<rusqlite::types::Value> for T {
    fn into_param(self) -> rusqlite::types::Value {
        self.into()
    }
}

impl Default for Filter {
    fn default() -> Self {
        Where::new(|n| format!("?{n}"))
    }
}

impl Filter {
    /// Runs the page query (see [`Where::page_query`]) and maps its rows.
    pub(crate) fn page<T>(
        &mut self,
        conn: &Connection,
        table: &str,
        columns: &str,
        page: &PageRequest,
        map: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Page<T>, StoreError> {
        let (sql, params) = self.page_query(table, columns, page);
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(params.iter()), |row| Ok((row.get::<_, i64>(0)?, map(row)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(crate::page::page_of(rows, page))
    }
}

pub(crate) fn uuid_value(id: Option<Uuid>) -> Option<String> {
    id.map(|u| u.to_string())
}
