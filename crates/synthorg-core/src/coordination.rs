//! Coordination runs: how efficiently several agents solved a task compared with one.

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::text::check_line;
use crate::{Actor, DomainError, FieldError};

/// A coordination run as reported.
#[derive(Debug, Clone)]
pub struct NewCoordinationRun {
    pub task_id: Option<Uuid>,
    pub agents: Vec<Uuid>,
    pub topology: String,
    /// Mean turns per run with several agents.
    pub turns_mas: f64,
    /// Mean turns per run of the single-agent baseline.
    pub turns_sas: f64,
    /// Share of successful runs, 0–1.
    pub success_rate: f64,
}

/// A recorded coordination run with its derived figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CoordinationRun {
    pub id: Uuid,
    pub task_id: Option<Uuid>,
    pub agents: Vec<Uuid>,
    pub topology: String,
    pub turns_mas: f64,
    pub turns_sas: f64,
    pub success_rate: f64,
    /// `success_rate / (turns_mas / turns_sas)`; may exceed 1.
    pub efficiency: f64,
    /// `(turns_mas − turns_sas) / turns_sas × 100`; may be negative.
    pub overhead_percent: f64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Most agents one run may name.
pub const MAX_RUN_AGENTS: usize = 1000;

/// The range of the mean turn counts. Bounded on both sides so that every derived figure is
/// finite: an unbounded ratio of two floats overflows to infinity or underflows to zero (and
/// `0 / 0` is NaN, which no store column can hold).
pub const MIN_TURNS: f64 = 0.001;
/// See [`MIN_TURNS`].
pub const MAX_TURNS: f64 = 1_000_000_000.0;

/// `(efficiency, overhead %)` for valid turn figures.
pub fn efficiency_and_overhead(turns_mas: f64, turns_sas: f64, success_rate: f64) -> (f64, f64) {
    let efficiency = success_rate / (turns_mas / turns_sas);
    let overhead = (turns_mas - turns_sas) / turns_sas * 100.0;
    (efficiency, overhead)
}

impl NewCoordinationRun {
    /// Validates the report (turn figures must be finite and > 0) and derives its figures.
    /// An agent key may report only runs it took part in.
    pub fn into_run(self, actor: &Actor, now: OffsetDateTime) -> Result<CoordinationRun, DomainError> {
        crate::authorize::report_run(actor, &self.agents)?;
        let mut errors = Vec::new();
        for (field, turns) in [("turns_mas", self.turns_mas), ("turns_sas", self.turns_sas)] {
            if !(MIN_TURNS..=MAX_TURNS).contains(&turns) {
                errors.push(FieldError::new(field, format!("must be from {MIN_TURNS} to {MAX_TURNS}, got {turns}")));
            }
        }
        if !(0.0..=1.0).contains(&self.success_rate) {
            errors.push(FieldError::new("success_rate", "must be between 0 and 1"));
        }
        if self.agents.is_empty() || self.agents.len() > MAX_RUN_AGENTS {
            errors.push(FieldError::new("agents", format!("must name 1 to {MAX_RUN_AGENTS} agents")));
        }
        check_line(&mut errors, "topology", &self.topology, 1, 64);
        DomainError::check(errors)?;
        let mut agents = self.agents;
        agents.sort_unstable();
        agents.dedup();
        let (efficiency, overhead_percent) = efficiency_and_overhead(self.turns_mas, self.turns_sas, self.success_rate);
        Ok(CoordinationRun {
            id: Uuid::now_v7(),
            task_id: self.task_id,
            agents,
            topology: self.topology,
            turns_mas: self.turns_mas,
            turns_sas: self.turns_sas,
            success_rate: self.success_rate,
            efficiency,
            overhead_percent,
            created_at: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(mas: f64, sas: f64, rate: f64) -> Result<CoordinationRun, DomainError> {
        NewCoordinationRun {
            task_id: None,
            agents: vec![Uuid::nil()],
            topology: "centralized".into(),
            turns_mas: mas,
            turns_sas: sas,
            success_rate: rate,
        }
        .into_run(&Actor::System, OffsetDateTime::UNIX_EPOCH)
    }

    #[test]
    fn figures() {
        let r = run(12.0, 4.0, 0.9).unwrap();
        assert!((r.efficiency - 0.3).abs() < 1e-12);
        assert!((r.overhead_percent - 200.0).abs() < 1e-12);
        let faster = run(2.0, 4.0, 1.0).unwrap();
        assert!((faster.efficiency - 2.0).abs() < 1e-12, "efficiency may exceed 1");
        assert!((faster.overhead_percent + 50.0).abs() < 1e-12, "overhead may be negative");
    }

    #[test]
    fn turn_figures_must_be_positive() {
        for (mas, sas, field) in [
            (0.0, 1.0, "turns_mas"),
            (1.0, -1.0, "turns_sas"),
            (f64::NAN, 1.0, "turns_mas"),
            (1.0, f64::INFINITY, "turns_sas"),
        ] {
            let e = run(mas, sas, 0.5).unwrap_err().to_string();
            assert!(e.starts_with(field), "{e}");
        }
        assert!(run(1.0, 1.0, 1.5).unwrap_err().to_string().starts_with("success_rate"));
    }
}
