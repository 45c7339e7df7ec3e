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
    /// (one row more than the page, to know whether another follows), and its parameters.
    pub(crate) fn page_query(&mut self, table: &str, columns: &str, page: &PageRequest) -> (String, &[V])
    where
        i64: Param<V>,
    {
        if let Some(after) = page.after {
            self.push("seq > ?", after);
        }
        let condition = if self.clauses.is_empty() { "TRUE".to_owned() } else { self.clauses.join(" AND ") };
        let sql = format!(
            "SELECT seq, {columns} FROM {table} WHERE {condition} ORDER BY seq LIMIT {}",
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
        let (sql, params) = w.page_query("agents", "id, name", &PageRequest { limit: 10, after: Some(42) });
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
    }
}
