//! Log sinks: one JSON rendering of every event, shared by the JSON console and the file
//! sinks, with the request's correlation fields flattened in and secrets redacted.

mod json;
mod rotate;

pub use json::{JsonLayer, SecretNames};
pub use rotate::{RotatingFile, Rotation};
