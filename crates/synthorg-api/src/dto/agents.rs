//! Wire types of `/api/v1/agents`.

use serde::Deserialize;
use synthorg_core::agent::{AgentStatus, TrustLevel};
use utoipa::{IntoParams, ToSchema};

/// A tool name in an agent's allow or deny list, in the document only: the lists are
/// `Vec<String>`, whose items the field attributes cannot constrain.
#[derive(Debug)]
pub struct ToolName;

impl utoipa::PartialSchema for ToolName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("1–128 characters; a trailing `*` matches by prefix."))
            .min_length(Some(1))
            .max_length(Some(128))
            .pattern(Some(synthorg_core::security::names::visible_line_pattern(true)))
            .into()
    }
}

impl ToSchema for ToolName {}

/// `POST /api/v1/agents`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgent {
    /// Unique regardless of case and width, 1–128 characters.
    #[schema(min_length = 1, max_length = 128, pattern = "<visible, non-blank>")]
    pub name: String,
    /// e.g. ceo, developer, qa; 1–64 characters.
    #[schema(min_length = 1, max_length = 64, pattern = "<visible, non-blank>")]
    pub role: String,
    #[serde(default)]
    #[schema(max_length = 128, pattern = "<visible>")]
    pub department: String,
    /// Default `active`; an agent cannot be registered `terminated`.
    #[schema(value_type = Option<InitialStatus>)]
    pub status: Option<AgentStatus>,
    /// Default `standard`.
    pub trust_level: Option<TrustLevel>,
    /// Used with trust level `custom`.
    #[serde(default)]
    #[schema(max_items = 256, value_type = Vec<ToolName>)]
    pub allowed_tools: Vec<String>,
    /// Used with trust level `custom`.
    #[serde(default)]
    #[schema(max_items = 256, value_type = Vec<ToolName>)]
    pub denied_tools: Vec<String>,
}

/// The statuses an agent may be registered in, in the document only: every
/// [`AgentStatus`] but `terminated`.
#[derive(Debug, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InitialStatus {
    Active,
    Onboarding,
    OnLeave,
}

/// `PATCH /api/v1/agents/{id}`: absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchAgent {
    #[schema(min_length = 1, max_length = 64, pattern = "<visible, non-blank>")]
    pub role: Option<String>,
    #[schema(max_length = 128, pattern = "<visible>")]
    pub department: Option<String>,
    pub status: Option<AgentStatus>,
    pub trust_level: Option<TrustLevel>,
    #[schema(max_items = 256, value_type = Option<Vec<ToolName>>)]
    pub allowed_tools: Option<Vec<String>>,
    #[schema(max_items = 256, value_type = Option<Vec<ToolName>>)]
    pub denied_tools: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AgentQuery {
    pub status: Option<AgentStatus>,
    pub trust_level: Option<TrustLevel>,
    pub role: Option<String>,
    pub department: Option<String>,
    /// Page size, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,18}$")]
    pub cursor: Option<String>,
    /// `asc`: oldest first (the default); `desc`: newest first. Send the same order with
    /// each `cursor`.
    pub order: Option<super::Order>,
}
