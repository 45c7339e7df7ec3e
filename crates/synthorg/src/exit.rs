//! Exit codes (documented in docs/configuration.md):
//! 0 ok, 1 a simulation saw server or transport errors, 2 usage, 65 bad input data, 69 unavailable (cannot bind), 70 internal error,
//! 74 IO or store error, 78 invalid configuration.

use std::process::ExitCode;

/// A failure of a command with its exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

impl Failure {
    /// `simulate` finished, but the server answered 5xx or did not answer.
    pub(crate) fn simulation(error: anyhow::Error) -> Self {
        Self { code: 1, error }
    }
    pub(crate) fn data(error: anyhow::Error) -> Self {
        Self { code: 65, error }
    }
    pub(crate) fn unavailable(error: anyhow::Error) -> Self {
        Self { code: 69, error }
    }
    pub(crate) fn internal(error: anyhow::Error) -> Self {
        Self { code: 70, error }
    }
    pub(crate) fn io(error: anyhow::Error) -> Self {
        Self { code: 74, error }
    }
    pub(crate) fn config(error: anyhow::Error) -> Self {
        Self { code: 78, error }
    }

    pub(crate) fn exit(self) -> ExitCode {
        eprintln!("synthorg: {:#}", self.error);
        ExitCode::from(self.code)
    }
}
