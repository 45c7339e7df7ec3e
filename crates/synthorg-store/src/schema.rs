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

use crate::PageRequest;

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
    fn holds(backend: &str, actual: impl Fn(&str) -> Columns, type_of: fn(Kind) -> &'static str) {
        for (table, declared) in TABLES {
            let mut found = actual(table);
            assert!(!found.is_empty(), "{backend}: table {table} is declared but not migrated");
            if declared.first().is_none_or(|(name, _)| *name != "seq") {
                found.retain(|(name, _)| name != "seq");
            }
            let expected: Columns =
                declared.iter().map(|(name, kind)| ((*name).to_owned(), type_of(*kind).to_owned())).collect();
            assert_eq!(found, expected, "{backend}: the columns of {table} differ from the declaration");
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
        holds("sqlite", actual, |kind| match kind {
            Text | Uuid | Json => "TEXT",
            Micros | Int | Bool => "INTEGER",
            Real => "REAL",
            Blob => "BLOB",
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
                holds(
                    "postgres",
                    |t| columns[t].clone(),
                    |kind| match kind {
                        Text => "text",
                        Uuid => "uuid",
                        Json => "jsonb",
                        Micros => "timestamp with time zone",
                        Int => "bigint",
                        Bool => "boolean",
                        Real => "double precision",
                        Blob => "bytea",
                    },
                );
            })
            .join()
            .expect("the check ran");
        });
    }
}
