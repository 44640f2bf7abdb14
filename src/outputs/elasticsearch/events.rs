//! What this output reports, one struct per thing that happens; each `emit()` logs and counts
//! (under the output's failure reasons, which `/metrics` shows as `sluice_plugin_failures_total`
//! and `sluice_output_retries_total`). Dead letters are reported by `outputs::http::dead_letter`.

use super::response::item_reason;
use crate::metrics::PluginMetrics;
use std::time::Duration;

/// Items Elasticsearch could not take yet (429, 5xx, or a failed request) are sent again.
pub struct BulkItemsRetried<'a> {
    pub plugin: &'a PluginMetrics,
    pub count: u64,
    /// Item-level answers among them, by status (empty when the whole request failed).
    pub by_status: &'a [(u16, u64)],
    pub error: &'a str,
    /// `None`: nothing of the call was settled and it is handed back to the worker to retry.
    pub wait: Option<Duration>,
}

impl BulkItemsRetried<'_> {
    pub fn emit(self) {
        // Without a wait, the worker logs and counts its own retry of the call.
        if let Some(wait) = self.wait {
            tracing::warn!(
                plugin_id = %self.plugin.id,
                events = self.count,
                error = %self.error,
                retry_in_ms = wait.as_millis() as u64,
                "Elasticsearch did not take every event; sending those again."
            );
            self.plugin.add_failure("retry", 1);
        }
        for (status, n) in self.by_status {
            self.plugin.add_failure(item_reason(*status), *n);
        }
    }
}

/// Items answered 409: the document exists (a `create` sent again); not retried.
pub struct DuplicatesSkipped<'a> {
    pub plugin: &'a PluginMetrics,
    pub count: u64,
}

impl DuplicatesSkipped<'_> {
    pub fn emit(self) {
        if self.count == 0 {
            return;
        }
        tracing::debug!(plugin_id = %self.plugin.id, events = self.count, "Documents already in Elasticsearch (409); counted as duplicates.");
        self.plugin.add_failure("duplicate", self.count);
    }
}
