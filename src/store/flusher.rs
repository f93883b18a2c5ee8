//! Group commit for metadata flushes: concurrent writers share one flush instead of paying one
//! fsync each. A caller's flush is covered by any flush that *started* after it asked.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::{StoreError, StoreResult};
use super::meta::MetaStore;

pub struct Flusher {
    meta: Arc<dyn MetaStore>,
    requested: AtomicU64,
    /// The highest request number known durable; the lock serialises flushes.
    done: tokio::sync::Mutex<u64>,
}

impl Flusher {
    pub fn new(meta: Arc<dyn MetaStore>) -> Self {
        Flusher { meta, requested: AtomicU64::new(0), done: tokio::sync::Mutex::new(0) }
    }

    pub async fn flush(&self) -> StoreResult<()> {
        let ticket = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let mut done = self.done.lock().await;
        if *done >= ticket {
            return Ok(());
        }
        // Every request numbered up to `covers` was made after its write was applied, so this
        // flush makes all of them durable.
        let covers = self.requested.load(Ordering::SeqCst);
        let meta = self.meta.clone();
        tokio::task::spawn_blocking(move || meta.flush()).await.map_err(|e| StoreError::Meta(e.to_string()))??;
        *done = covers;
        Ok(())
    }
}
