//! Coordination operations: a multi-agent run reported.

use synthorg_core::Actor;
use synthorg_core::coordination::{CoordinationRun, NewCoordinationRun};
use synthorg_core::event::Event;
use synthorg_store::{Done, now};

use crate::{Engine, EngineError};

impl Engine {
    /// Records a multi-agent run with its derived efficiency and overhead; an agent key only
    /// a run its agent took part in.
    pub async fn record_run(&self, actor: &Actor, run: NewCoordinationRun) -> Result<CoordinationRun, EngineError> {
        let run = run.into_run(actor, now())?;
        self.write(move |e| {
            e.store().record_coordination_run(&run)?;
            let event = Event::CoordinationRunRecorded {
                task_id: run.task_id,
                topology: run.topology.clone(),
                efficiency: run.efficiency,
                overhead_percent: run.overhead_percent,
            };
            Ok::<_, EngineError>(Done::with(run, [event]))
        })
        .await
    }
}
