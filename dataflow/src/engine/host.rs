//! The engine side of batch jobs: [`EngineHost`] gives a job runner the sequencer, the
//! visible version and the materialized state, and nothing else.

use std::sync::Arc;

use sinks::VectorCollection;

use super::state::EngineState;
use super::Shared;
use crate::commands::{DeadLetter, Input, Version, WorkerOp};
use crate::jobs::{IndexName, JobHost};
use crate::record::WorkerId;

/// What the job runners hold of a running engine.
pub(super) struct EngineHost {
    shared: Arc<Shared>,
    state: Arc<EngineState>,
}

impl EngineHost {
    pub(super) fn new(shared: Arc<Shared>, state: Arc<EngineState>) -> Self {
        EngineHost { shared, state }
    }
}

impl JobHost for EngineHost {
    fn submit(&self, ops: Vec<WorkerOp>) -> crate::Result<Version> {
        self.shared.submit(|_| Input::Workers(ops), true)
    }

    fn visible(&self) -> Version {
        self.shared.visible()
    }

    fn live_worker_ids(&self) -> Vec<WorkerId> {
        self.state.workers.read().keys().map(|k| WorkerId(k.clone())).collect()
    }

    fn dead_letters(&self, letters: Vec<DeadLetter>) {
        for d in letters {
            self.state.dead_letter(d);
        }
    }

    fn collection(&self, index: IndexName) -> &VectorCollection {
        match index {
            IndexName::Workers => &self.state.workers_index,
            IndexName::PlaybookMemory => &self.state.playbook_index,
        }
    }
}
