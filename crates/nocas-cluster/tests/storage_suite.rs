//! openraft's storage conformance suite, run on our redb-backed stores.

use std::sync::Arc;

use nocas_cluster::log_store::LogStore;
use nocas_cluster::state_machine::StateMachine;
use nocas_cluster::types::{StorageErr, TypeConfig};
use nocas_core::command::{Event, EventSink};
use nocas_store::Store;
use openraft::testing::{StoreBuilder, Suite};

struct NullSink;

impl EventSink for NullSink {
    fn publish(&self, _events: &[Event]) {}
}

struct RedbBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for RedbBuilder {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageErr> {
        let dir = tempfile::tempdir().map_err(|e| openraft::StorageIOError::write(&e))?;
        let store = Store::open(&dir.path().join("nocas.redb"))
            .map_err(|e| openraft::StorageIOError::write(&e))?;
        let sm = StateMachine::open(store.clone(), Arc::new(NullSink)).await?;
        Ok((dir, LogStore::new(store), sm))
    }
}

#[test]
fn openraft_storage_suite() {
    if let Err(e) = Suite::test_all(RedbBuilder) {
        panic!("storage suite failed: {e}");
    }
}
