//! Domain model of synthorg: agents, tasks, the cost ledger, budget math, coordination
//! figures and the security rule engine.
//!
//! Architecture invariant: this crate does no IO. It depends on no async runtime, HTTP,
//! SQL or filesystem crate (CI checks `cargo tree -p synthorg-core`), so every rule here is
//! unit-tested in microseconds and reused unchanged by every store and every transport.

pub mod actor;
pub mod agent;
pub mod audit;
pub mod authorize;
pub mod budget;
pub mod coordination;
pub mod cost;
pub mod error;
pub mod event;
pub mod integral;
pub mod money;
pub mod object;
pub mod price;
pub mod rate;
pub mod reservation;
pub mod security;
pub mod task;
mod text;

pub use actor::{Actor, Role};
pub use error::{DomainError, FieldError};
pub use money::Usd;

/// Defines a closed string enum: wire name, parsing, the list of all values and `Display`.
/// One place for the spelling of every status, level and verdict keeps API, store, metrics
/// and docs in agreement. The spelling is matched as `tt`, not `literal`: a `literal`
/// fragment reaches derive macros wrapped in an invisible group that utoipa does not read,
/// and the OpenAPI document then listed the Rust variant names instead of the wire spellings.
macro_rules! string_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:tt),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum $name { $($(#[$vmeta])* #[serde(rename = $text)] $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire spelling used by the API, the store and metric labels.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the wire spelling; `None` for anything else.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }

            /// The accepted spellings joined for error messages.
            pub fn expected() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use string_enum;
