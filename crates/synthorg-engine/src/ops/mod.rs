//! The operations, one file per resource. Each is a method of [`crate::Engine`]: it
//! authorizes its caller ([`crate::authorize`]), runs one unit of work, and builds the
//! events (audit events included) of what it changed next to the change.

pub(crate) mod agents;
pub(crate) mod budget;
pub(crate) mod coordination;
pub(crate) mod costs;
pub(crate) mod gateway;
pub(crate) mod keys;
pub(crate) mod security;
pub(crate) mod tasks;
pub(crate) mod tools;
