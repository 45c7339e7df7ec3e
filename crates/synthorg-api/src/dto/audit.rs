//! Wire types of `/api/v1/audit`.

use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Who made the change: `key:<id>` or `system`.
    pub actor: Option<String>,
    pub action: Option<synthorg_core::audit::AuditAction>,
    /// The changed entity's id (agent, key, approval; `config` for the budget).
    pub target_id: Option<String>,
    /// RFC 3339 instant (inclusive), on `at`.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    pub since: Option<OffsetDateTime>,
    /// RFC 3339 instant (exclusive), on `at`.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    pub until: Option<OffsetDateTime>,
    /// Page size, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    #[param(pattern = "^[0-9]{1,18}$")]
    pub cursor: Option<String>,
    /// `asc`: oldest first (the default); `desc`: newest first. Send the same order with
    /// each `cursor`.
    pub order: Option<super::Order>,
}
