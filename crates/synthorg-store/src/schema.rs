//! What both schemas share: the column lists of the tables, in the order the row mappers of
//! each backend read them, and the WHERE-clause builder of the lists.

pub(crate) const AGENT_COLUMNS: &str =
    "id, name, role, department, status, trust_level, allowed_tools, denied_tools, created_at, updated_at";
pub(crate) const TASK_COLUMNS: &str =
    "id, title, description, status, assigned_to, created_by, parent_id, version, created_at, updated_at";
pub(crate) const HISTORY_COLUMNS: &str = "task_id, from_status, to_status, assigned_to, by_actor, at, reason, version";
pub(crate) const COST_COLUMNS: &str = "id, agent_id, task_id, provider, model, input_tokens, output_tokens, cost_nanos, \
                                       call_category, occurred_at, recorded_at, idempotency_key, \
                                       cache_read_input_tokens, cache_write_input_tokens, reasoning_output_tokens, \
                                       cost_source, computed_cost_nanos, price_version, cost_disagrees, \
                                       reservation_id";
pub(crate) const RESERVATION_COLUMNS: &str = "id, agent_id, task_id, amount_nanos, tokens, provider, model, state, \
                                              created_at, expires_at, closed_at, cost_record_id, settled_nanos";
pub(crate) const RUN_COLUMNS: &str =
    "id, task_id, agents, topology, turns_mas, turns_sas, success_rate, efficiency, overhead_percent, created_at";
pub(crate) const EVALUATION_COLUMNS: &str = "id, agent_id, task_id, tool, action_type, verdict, risk_level, reason, matched_rules, approval_id, created_at, action";
pub(crate) const APPROVAL_COLUMNS: &str = "id, evaluation_id, agent_id, task_id, tool, action_type, arguments, reason, \
                                           risk_level, status, created_at, decided_at, decided_by, decision_note";
/// After `seq`, which the page query selects first.
pub(crate) const AUDIT_COLUMNS: &str =
    "id, at, actor, action, target_type, target_id, before, after, request_id, trace_id, prev_hash, hash";
pub(crate) const KEY_COLUMNS: &str = "id, secret_hash, role, agent_id, label, created_at, revoked_at";
/// The `settings` row holding the budget configuration.
pub(crate) const BUDGET_KEY: &str = "budget";

/// A column's type: how it is stored on each backend, and how `store migrate` turns the
/// SQLite value into the PostgreSQL one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Uuid,
    /// Microseconds since the epoch → TIMESTAMPTZ.
    Micros,
    Int,
    /// INTEGER 0/1 → BOOLEAN.
    Bool,
    Real,
    Json,
    Blob,
}

use Kind::*;

/// Every table with state, parents before children, and its columns in their order (the same
/// names on both backends): the one declaration of the schema's state. `store migrate` copies
/// these; the row mappers read the SELECT lists below, which a test holds to this declaration,
/// as it holds this declaration to the migrations of both backends. Summary tables are not
/// declared: triggers maintain them from these rows.
pub(crate) const TABLES: &[(&str, &[(&str, Kind)])] = &[
    (
        "agents",
        &[
            ("id", Uuid),
            ("name", Text),
            ("role", Text),
            ("department", Text),
            ("status", Text),
            ("trust_level", Text),
            ("allowed_tools", Json),
            ("denied_tools", Json),
            ("created_at", Micros),
            ("updated_at", Micros),
            ("name_key", Text),
        ],
    ),
    (
        "agent_events",
        &[
            ("agent_id", Uuid),
            ("field", Text),
            ("from_value", Text),
            ("to_value", Text),
            ("by_actor", Text),
            ("at", Micros),
        ],
    ),
    (
        "tasks",
        &[
            ("id", Uuid),
            ("title", Text),
            ("description", Text),
            ("status", Text),
            ("assigned_to", Uuid),
            ("created_by", Text),
            ("parent_id", Uuid),
            ("version", Int),
            ("created_at", Micros),
            ("updated_at", Micros),
        ],
    ),
    (
        "task_transitions",
        &[
            ("task_id", Uuid),
            ("from_status", Text),
            ("to_status", Text),
            ("assigned_to", Uuid),
            ("by_actor", Text),
            ("at", Micros),
            ("reason", Text),
            ("version", Int),
        ],
    ),
    (
        "cost_records",
        &[
            ("id", Uuid),
            ("agent_id", Uuid),
            ("task_id", Uuid),
            ("provider", Text),
            ("model", Text),
            ("input_tokens", Int),
            ("output_tokens", Int),
            ("cost_nanos", Int),
            ("call_category", Text),
            ("occurred_at", Micros),
            ("recorded_at", Micros),
            ("idempotency_key", Text),
            ("cache_read_input_tokens", Int),
            ("cache_write_input_tokens", Int),
            ("reasoning_output_tokens", Int),
            ("cost_source", Text),
            ("computed_cost_nanos", Int),
            ("price_version", Text),
            ("cost_disagrees", Bool),
            ("reservation_id", Uuid),
        ],
    ),
    (
        "budget_reservations",
        &[
            ("id", Uuid),
            ("agent_id", Uuid),
            ("task_id", Uuid),
            ("amount_nanos", Int),
            ("tokens", Int),
            ("provider", Text),
            ("model", Text),
            ("state", Text),
            ("created_at", Micros),
            ("expires_at", Micros),
            ("closed_at", Micros),
            ("cost_record_id", Uuid),
            ("settled_nanos", Int),
        ],
    ),
    ("settings", &[("key", Text), ("value", Json)]),
    (
        "coordination_runs",
        &[
            ("id", Uuid),
            ("task_id", Uuid),
            ("agents", Json),
            ("topology", Text),
            ("turns_mas", Real),
            ("turns_sas", Real),
            ("success_rate", Real),
            ("efficiency", Real),
            ("overhead_percent", Real),
            ("created_at", Micros),
        ],
    ),
    (
        "security_evaluations",
        &[
            ("id", Uuid),
            ("agent_id", Uuid),
            ("task_id", Uuid),
            ("tool", Text),
            ("action_type", Text),
            ("verdict", Text),
            ("risk_level", Text),
            ("reason", Text),
            ("matched_rules", Json),
            ("approval_id", Uuid),
            ("created_at", Micros),
            ("action", Text),
        ],
    ),
    (
        "approvals",
        &[
            ("id", Uuid),
            ("evaluation_id", Uuid),
            ("agent_id", Uuid),
            ("task_id", Uuid),
            ("tool", Text),
            ("action_type", Text),
            ("arguments", Json),
            ("reason", Text),
            ("risk_level", Text),
            ("status", Text),
            ("created_at", Micros),
            ("decided_at", Micros),
            ("decided_by", Text),
            ("decision_note", Text),
        ],
    ),
    (
        "api_keys",
        &[
            ("id", Text),
            ("secret_hash", Blob),
            ("role", Text),
            ("agent_id", Uuid),
            ("label", Text),
            ("created_at", Micros),
            ("revoked_at", Micros),
        ],
    ),
    (
        // The chain as it is: `seq`, hashes and the JSON text of `before`/`after` unchanged,
        // so it verifies on the target exactly as on the source.
        "audit_events",
        &[
            ("seq", Int),
            ("id", Uuid),
            ("at", Micros),
            ("actor", Text),
            ("action", Text),
            ("target_type", Text),
            ("target_id", Text),
            ("before", Text),
            ("after", Text),
            ("request_id", Text),
            ("trace_id", Text),
            ("prev_hash", Blob),
            ("hash", Blob),
        ],
    ),
];

use crate::{PageRequest, StoreError};

/// The declared columns of `table`.
fn declared(table: &str) -> Option<&'static [(&'static str, Kind)]> {
    TABLES.iter().find(|(t, _)| *t == table).map(|(_, columns)| *columns)
}

/// How PostgreSQL stores a column of `kind`.
pub(crate) fn pg_type(kind: Kind) -> &'static str {
    match kind {
        Text => "TEXT",
        Uuid => "UUID",
        Json => "JSONB",
        Micros => "TIMESTAMPTZ",
        Int => "BIGINT",
        Bool => "BOOLEAN",
        Real => "DOUBLE PRECISION",
        Blob => "BYTEA",
    }
}

/// A value for a column, as the domain has it; each backend binds it its own way (a uuid is
/// text on SQLite and a UUID on PostgreSQL, a time microseconds or a TIMESTAMPTZ).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Null,
    Text(String),
    Uuid(uuid::Uuid),
    Time(time::OffsetDateTime),
    Int(i64),
    Bool(bool),
    Real(f64),
    Json(serde_json::Value),
    Blob(Vec<u8>),
}

macro_rules! cells {
    ($($from:ty => $cell:ident),* $(,)?) => {$(
        impl From<$from> for Cell {
            fn from(value: $from) -> Self {
                Cell::$cell(value.into())
            }
        }
    )*};
}

cells!(String => Text, &str => Text, uuid::Uuid => Uuid, time::OffsetDateTime => Time, i64 => Int, bool => Bool,
       f64 => Real, serde_json::Value => Json, Vec<u8> => Blob);

impl<T: Into<Cell>> From<Option<T>> for Cell {
    fn from(value: Option<T>) -> Self {
        value.map_or(Cell::Null, Into::into)
    }
}

impl Cell {
    /// Whether a column of `kind` holds this value.
    pub(crate) fn fits(&self, kind: Kind) -> bool {
        matches!(
            (kind, self),
            (_, Cell::Null)
                | (Text, Cell::Text(_))
                | (Uuid, Cell::Uuid(_))
                | (Micros, Cell::Time(_))
                | (Int, Cell::Int(_))
                | (Bool, Cell::Bool(_))
                | (Real, Cell::Real(_))
                | (Json, Cell::Json(_))
                | (Blob, Cell::Blob(_))
        )
    }
}

/// A row for a declared table ([`TABLES`]), its values given by column name: built once per
/// record in [`crate::rows`], bound by each backend. The statement lists the declaration's
/// columns in its order and numbers the parameters the backend's way, so a value cannot land
/// in another column; a column left out, given twice or not declared, or a value its
/// column's kind cannot hold, is an error before anything runs (and every insert runs in the
/// store tests of both backends).
#[derive(Debug)]
pub(crate) struct Insert {
    table: &'static str,
    columns: &'static [(&'static str, Kind)],
    values: Vec<Option<Cell>>,
    wrong: Option<String>,
}

impl Insert {
    pub(crate) fn row(table: &'static str) -> Self {
        let columns = declared(table).unwrap_or(&[]);
        let wrong = columns.is_empty().then(|| format!("no table {table} is declared"));
        Self { table, columns, values: columns.iter().map(|_| None).collect(), wrong }
    }

    /// The value of `column`.
    pub(crate) fn set(mut self, column: &str, value: impl Into<Cell>) -> Self {
        let wrong = match self.columns.iter().position(|(c, _)| *c == column) {
            Some(i) if self.values[i].is_none() => {
                let value = value.into();
                let kind = self.columns[i].1;
                let fits = value.fits(kind);
                self.values[i] = Some(value);
                (!fits).then(|| format!("{}.{column} ({kind:?}) cannot hold the value given", self.table))
            }
            Some(_) => Some(format!("{}.{column} is given twice", self.table)),
            None => Some(format!("{} has no column {column}", self.table)),
        };
        // The first mistake is the one reported.
        self.wrong = self.wrong.take().or(wrong);
        self
    }

    /// The statement's parts: the `n`th parameter (from 1) written by `mark(n, kind)`, each
    /// value bound by `bind(kind, value)`.
    pub(crate) fn build<V>(
        self,
        mark: impl Fn(usize, Kind) -> String,
        bind: impl Fn(Kind, Cell) -> V,
    ) -> Result<InsertStatement<V>, StoreError> {
        let internal = |m: String| StoreError::Internal(format!("insert into {}: {m}", self.table));
        if let Some(wrong) = self.wrong {
            return Err(internal(wrong));
        }
        let values = self
            .values
            .into_iter()
            .zip(self.columns)
            .map(|(v, (c, kind))| v.map(|v| bind(*kind, v)).ok_or_else(|| internal(format!("no value for {c}"))))
            .collect::<Result<Vec<V>, _>>()?;
        let marks = self.columns.iter().enumerate().map(|(i, (_, kind))| mark(i + 1, *kind)).collect();
        Ok(InsertStatement { table: self.table, columns: self.columns, marks, values })
    }
}

/// A built [`Insert`]: the SQL in either form, and the values in the columns' order.
#[derive(Debug)]
pub(crate) struct InsertStatement<V> {
    table: &'static str,
    columns: &'static [(&'static str, Kind)],
    marks: Vec<String>,
    pub(crate) values: Vec<V>,
}

impl<V> InsertStatement<V> {
    fn names(&self) -> String {
        self.columns.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
    }

    /// `INSERT INTO t (…) VALUES (…)`.
    pub(crate) fn values_sql(&self) -> String {
        format!("INSERT INTO {} ({}) VALUES ({})", self.table, self.names(), self.marks.join(", "))
    }

    /// `INSERT INTO t (…) SELECT …`, for a condition (`WHERE …`) or a conflict clause to follow.
    pub(crate) fn select_sql(&self) -> String {
        format!("INSERT INTO {} ({}) SELECT {}", self.table, self.names(), self.marks.join(", "))
    }

    /// The parameter of `column`, to use it again in a condition; `NULL` for no such column,
    /// which the statement's tests would show.
    pub(crate) fn mark(&self, column: &str) -> &str {
        self.columns.iter().position(|(c, _)| *c == column).map_or("NULL", |i| &self.marks[i])
    }
}

/// A value a backend can bind as a parameter of type `V`.
pub(crate) trait Param<V> {
    fn into_param(self) -> V;
}

/// A WHERE clause built from optional filters. The SQL is the same for both backends; each
/// numbers its parameters its own way (`?1`, `$1`) and binds its own parameter type `V`.
#[derive(Debug)]
pub(crate) struct Where<V> {
    clauses: Vec<String>,
    params: Vec<V>,
    /// The placeholder of the `n`th parameter (1-based).
    mark: fn(usize) -> String,
}

impl<V> Where<V> {
    pub(crate) fn new(mark: fn(usize) -> String) -> Self {
        Self { clauses: Vec::new(), params: Vec::new(), mark }
    }

    /// `column = value`, when a value is given.
    pub(crate) fn eq(&mut self, column: &str, value: Option<impl Param<V>>) -> &mut Self {
        if let Some(v) = value {
            self.push(&format!("{column} = ?"), v);
        }
        self
    }

    /// Adds `clause`, whose one `?` stands for `value`.
    pub(crate) fn push(&mut self, clause: &str, value: impl Param<V>) -> &mut Self {
        self.params.push(value.into_param());
        self.clauses.push(clause.replace('?', &(self.mark)(self.params.len())));
        self
    }

    /// Adds a clause without parameters.
    pub(crate) fn raw(&mut self, clause: &str) -> &mut Self {
        self.clauses.push(clause.to_owned());
        self
    }

    /// `SELECT seq, {columns} FROM {table} WHERE … AND seq > cursor ORDER BY seq LIMIT n+1`
    /// (newest first: `seq < cursor ORDER BY seq DESC`)
    /// (one row more than the page, to know whether another follows), and its parameters.
    pub(crate) fn page_query(&mut self, table: &str, columns: &str, page: &PageRequest) -> (String, &[V])
    where
        i64: Param<V>,
    {
        let (after, order) = if page.newest_first { ("seq < ?", " DESC") } else { ("seq > ?", "") };
        if let Some(cursor) = page.after {
            self.push(after, cursor);
        }
        let condition = if self.clauses.is_empty() { "TRUE".to_owned() } else { self.clauses.join(" AND ") };
        let sql = format!(
            "SELECT seq, {columns} FROM {table} WHERE {condition} ORDER BY seq{order} LIMIT {}",
            u64::from(page.limit) + 1
        );
        (sql, &self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Param<String> for &str {
        fn into_param(self) -> String {
            self.to_owned()
        }
    }

    impl Param<String> for i64 {
        fn into_param(self) -> String {
            self.to_string()
        }
    }

    #[test]
    fn clauses_number_their_parameters_in_the_backends_style() {
        let mut w = Where::<String>::new(|n| format!("${n}"));
        w.eq("status", Some("active")).eq("role", None::<&str>).raw("assigned_to IS NULL").push("at >= ?", 7_i64);
        let (sql, params) =
            w.page_query("agents", "id, name", &PageRequest { limit: 10, after: Some(42), newest_first: false });
        assert_eq!(
            sql,
            "SELECT seq, id, name FROM agents WHERE status = $1 AND assigned_to IS NULL AND at >= $2 AND seq > $3 \
             ORDER BY seq LIMIT 11"
        );
        assert_eq!(params, ["active", "7", "42"]);

        let mut none = Where::<String>::new(|n| format!("?{n}"));
        assert_eq!(
            none.page_query("t", "c", &PageRequest::default()).0,
            "SELECT seq, c FROM t WHERE TRUE ORDER BY seq LIMIT 101"
        );
        let mut newest = Where::<String>::new(|n| format!("?{n}"));
        let request = PageRequest { limit: 5, after: Some(9), newest_first: true };
        assert_eq!(
            newest.page_query("t", "c", &request).0,
            "SELECT seq, c FROM t WHERE seq < ?1 ORDER BY seq DESC LIMIT 6"
        );
    }
}

#[cfg(test)]
mod declaration_tests {
    use super::*;

    /// A backend's columns of `table`, in order, with their declared types.
    type Columns = Vec<(String, String)>;

    /// Holds the declaration against one migrated backend: each declared table has exactly the
    /// declared columns in the declared order (besides `seq`, the generated row key of the
    /// tables that do not declare it), each of the backend's type for its kind.
    fn holds(backend: &str, actual: impl Fn(&str) -> Columns, type_of: impl Fn(Kind) -> String) {
        for (table, declared) in TABLES {
            let mut found = actual(table);
            assert!(!found.is_empty(), "{backend}: table {table} is declared but not migrated");
            if declared.first().is_none_or(|(name, _)| *name != "seq") {
                found.retain(|(name, _)| name != "seq");
            }
            let expected: Columns = declared.iter().map(|(name, kind)| ((*name).to_owned(), type_of(*kind))).collect();
            assert_eq!(found, expected, "{backend}: the columns of {table} differ from the declaration");
        }
    }

    /// An insert lists the declared columns in order whatever order the values were given
    /// in, and refuses a column unknown, left out or given twice, or a value of another kind.
    #[test]
    fn inserts_bind_by_name() {
        let settings = || Insert::row("settings");
        let pg = |n: usize, kind| format!("${n}::{}", pg_type(kind));
        let built = settings().set("value", serde_json::json!({})).set("key", "budget").build(pg, |_, cell| cell);
        let built = built.expect("both columns");
        assert_eq!(built.values_sql(), "INSERT INTO settings (key, value) VALUES ($1::TEXT, $2::JSONB)");
        assert_eq!(built.values, [Cell::Text("budget".into()), Cell::Json(serde_json::json!({}))]);
        assert_eq!(built.mark("value"), "$2::JSONB");
        let json = || serde_json::json!(1);
        for (insert, wrong) in [
            (settings().set("key", "k"), "no value for value"),
            (settings().set("key", "k").set("value", json()).set("valeu", json()), "settings has no column valeu"),
            (settings().set("key", "k").set("key", "k").set("value", json()), "settings.key is given twice"),
            (settings().set("key", uuid::Uuid::nil()).set("value", json()), "settings.key (Text) cannot hold"),
            (Insert::row("setings").set("key", "k"), "no table setings is declared"),
        ] {
            let error = insert.build(pg, |_, cell| cell).expect_err(wrong).to_string();
            assert!(error.contains(wrong), "{error}");
        }
    }

    /// The SELECT lists the row mappers read are the declaration's columns, in its order.
    #[test]
    fn the_select_lists_follow_the_declaration() {
        let declared = |table: &str, skip: &[&str]| {
            let (_, columns) = TABLES.iter().find(|(t, _)| *t == table).expect("declared");
            columns.iter().map(|(c, _)| *c).filter(|c| !skip.contains(c)).collect::<Vec<_>>().join(", ")
        };
        let list = |s: &str| s.split(',').map(str::trim).collect::<Vec<_>>().join(", ");
        for (select, table, skip) in [
            (AGENT_COLUMNS, "agents", &["name_key"][..]),
            (TASK_COLUMNS, "tasks", &[]),
            (HISTORY_COLUMNS, "task_transitions", &[]),
            (COST_COLUMNS, "cost_records", &[]),
            (RESERVATION_COLUMNS, "budget_reservations", &[]),
            (RUN_COLUMNS, "coordination_runs", &[]),
            (EVALUATION_COLUMNS, "security_evaluations", &[]),
            (APPROVAL_COLUMNS, "approvals", &[]),
            (AUDIT_COLUMNS, "audit_events", &["seq"]),
            (KEY_COLUMNS, "api_keys", &[]),
        ] {
            assert_eq!(list(select), declared(table, skip), "{table}");
        }
    }

    #[test]
    fn the_declaration_holds_against_the_sqlite_migrations() {
        let dir = tempfile::tempdir().expect("temp dir");
        drop(crate::SqliteStore::open_dir(dir.path(), &crate::SqliteOptions::default()).expect("migrated store"));
        let db = rusqlite::Connection::open(dir.path().join(crate::sqlite::DB_FILE)).expect("open");
        let actual = |table: &str| -> Columns {
            let mut statement = db.prepare(&format!("PRAGMA table_info({table})")).expect("pragma");
            statement
                .query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
                .expect("columns")
                .map(|c| c.expect("column"))
                .collect()
        };
        holds("sqlite", actual, |kind| {
            match kind {
                Text | Uuid | Json => "TEXT",
                Micros | Int | Bool => "INTEGER",
                Real => "REAL",
                Blob => "BLOB",
            }
            .to_owned()
        });
    }

    #[test]
    #[cfg_attr(not(pg_tests), ignore = "no PostgreSQL: SYNTHORG_TEST_PG_URL was not set when the tests were built")]
    fn the_declaration_holds_against_the_postgres_migrations() {
        let schema = crate::testing::PgSchema::new().expect("SYNTHORG_TEST_PG_URL names the test database");
        std::thread::scope(|s| {
            s.spawn(|| {
                drop(schema.open().expect("migrated store"));
                let mut client = postgres::Client::connect(&schema.url, postgres::NoTls).expect("connect");
                let mut actual = |table: &str| -> Columns {
                    client
                        .query(
                            "SELECT column_name::text, data_type::text FROM information_schema.columns \
                             WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
                            &[&schema.name, &table],
                        )
                        .expect("columns")
                        .iter()
                        .map(|r| (r.get(0), r.get(1)))
                        .collect()
                };
                let mut columns = std::collections::HashMap::new();
                for (table, _) in TABLES {
                    columns.insert(*table, actual(table));
                }
                // information_schema spells TIMESTAMPTZ out; the other names are the same.
                let spelled = |kind| match pg_type(kind) {
                    "TIMESTAMPTZ" => "timestamp with time zone".to_owned(),
                    other => other.to_lowercase(),
                };
                holds("postgres", |t| columns[t].clone(), spelled);
            })
            .join()
            .expect("the check ran");
        });
    }
}
