//! Wire types of `/api/v1/keys`.

use serde::{Deserialize, Serialize};
use synthorg_core::Role;
use synthorg_store::ApiKeyRecord;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// `POST /api/v1/keys`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    pub role: Role,
    /// Required for, and only for, role `agent`.
    pub agent_id: Option<Uuid>,
    #[serde(default)]
    pub label: String,
}

/// The document's description of [`CreateKey`]: one of three objects, as an `agent_id`
/// goes with role `agent` and only with it, which one object schema cannot say. The body
/// is read as [`CreateKey`], whose errors name the field.
#[derive(Debug)]
pub struct CreateKeySchema;

impl utoipa::PartialSchema for CreateKeySchema {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Type};
        let label = || {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("Shown in listings and the audit log; up to 128 characters."))
                .max_length(Some(128))
                .pattern(Some(synthorg_core::security::names::visible_line_pattern(false)))
        };
        let variant = |role: Role, title: &str, description: &str| {
            let object = ObjectBuilder::new()
                .title(Some(title))
                .description(Some(description))
                .property("role", ObjectBuilder::new().schema_type(Type::String).enum_values(Some([role.as_str()])))
                .required("role")
                .property("label", label())
                .additional_properties(Some(AdditionalProperties::FreeForm(false)));
            match role {
                Role::Agent => object
                    .property(
                        "agent_id",
                        ObjectBuilder::new().schema_type(Type::String).format(Some(
                            utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Uuid),
                        )),
                    )
                    .required("agent_id"),
                Role::Admin | Role::Viewer => object,
            }
        };
        OneOfBuilder::new()
            .item(variant(Role::Admin, "CreateAdminKey", "A key that may do everything."))
            .item(variant(Role::Viewer, "CreateViewerKey", "A key that may read everything and change nothing."))
            .item(variant(Role::Agent, "CreateAgentKey", "A key that acts as this agent only."))
            .into()
    }
}

impl ToSchema for CreateKeySchema {
    fn name() -> std::borrow::Cow<'static, str> {
        "CreateKey".into()
    }
}

/// A new key. `key` is shown only in this response; synthorg keeps only its hash.
#[derive(Serialize, ToSchema)]
pub struct CreatedKey {
    pub key: String,
    #[serde(flatten)]
    pub info: KeyInfo,
}

impl std::fmt::Debug for CreatedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedKey").field("key", &synthorg_core::security::REDACTED).field("info", &self.info).finish()
    }
}

/// `GET /api/v1/keys/current`: the key making the request.
#[derive(Debug, Serialize, ToSchema)]
pub struct CurrentKey {
    pub id: String,
    pub role: Role,
    /// The agent an agent key acts for.
    pub agent_id: Option<Uuid>,
}

/// An API key without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyInfo {
    pub id: String,
    pub role: Role,
    pub agent_id: Option<Uuid>,
    pub label: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl From<&ApiKeyRecord> for KeyInfo {
    fn from(r: &ApiKeyRecord) -> Self {
        Self {
            id: r.id.clone(),
            role: r.role,
            agent_id: r.agent_id,
            label: r.label.clone(),
            created_at: r.created_at,
            revoked_at: r.revoked_at,
        }
    }
}

/// `GET /api/v1/keys`: a page, like every list.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    pub items: Vec<KeyInfo>,
    /// Pass back as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}
