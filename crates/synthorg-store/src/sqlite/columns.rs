//! Conversions between domain values and columns, and the WHERE-clause builder of the lists.

use rusqlite::Connection;
use time::OffsetDateTime;
use uuid::Uuid;

use rusqlite::types::Value;

use crate::schema::{Cell, Insert, Kind, Param, Where};
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

/// A column value as SQLite stores it: uuids and JSON as text, times as microseconds since
/// the epoch, booleans as 0/1.
fn sqlite_value(_: Kind, cell: Cell) -> Value {
    match cell {
        Cell::Null => Value::Null,
        Cell::Text(text) => Value::Text(text),
        Cell::Uuid(id) => Value::Text(id.to_string()),
        Cell::Time(at) => Value::Integer(ts(at)),
        Cell::Int(n) => Value::Integer(n),
        Cell::Bool(b) => Value::Integer(b.into()),
        Cell::Real(x) => Value::Real(x),
        Cell::Json(json) => Value::Text(json.to_string()),
        Cell::Blob(bytes) => Value::Blob(bytes),
    }
}

/// Inserts `row` (one of [`crate::rows`]).
pub(crate) fn insert(tx: &Connection, row: Insert) -> Result<usize, StoreError> {
    let statement = row.build(|n, _| format!("?{n}"), sqlite_value)?;
    Ok(tx.prepare_cached(&statement.values_sql())?.execute(rusqlite::params_from_iter(statement.values))?)
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

#[cfg(test)]
mod tests {
    use synthorg_core::Actor;
    use synthorg_core::agent::AgentChange;

    use super::*;

    /// Uuids are stored as the text every read parses, times as integer microseconds.
    #[test]
    fn rows_are_stored_as_the_reads_expect() {
        let conn = Connection::open_in_memory().expect("memory");
        conn.execute_batch("CREATE TABLE agent_events (agent_id, field, from_value, to_value, by_actor, at)")
            .expect("table");
        let change = AgentChange { field: "status", from: "active".into(), to: "terminated".into() };
        let at = OffsetDateTime::UNIX_EPOCH + time::Duration::microseconds(1_500_000);
        let row = crate::rows::agent_event(Uuid::nil(), &change, &Actor::System, at);
        assert_eq!(insert(&conn, row).expect("inserted"), 1);
        let stored: (String, String, i64, String) = conn
            .query_row("SELECT typeof(agent_id), agent_id, at, by_actor FROM agent_events", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .expect("row");
        assert_eq!(stored, ("text".into(), Uuid::nil().to_string(), 1_500_000, "system".into()));
    }
}
