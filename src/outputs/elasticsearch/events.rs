//! What this output reports, one struct per thing that happens; each `emit()` logs and counts
//! (under the output's failure reasons, which `/metrics` shows as `sluice_plugin_failures_total`,
//! `sluice_dead_letter_events_total` and `sluice_output_retries_total`).

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

/// Events Elasticsearch rejected for good, now in the dead letter queue.
pub struct EventsDeadLettered<'a> {
    pub plugin: &'a PluginMetrics,
    pub count: u64,
    pub first_reason: &'a str,
}

impl EventsDeadLettered<'_> {
    pub fn emit(self) {
        if self.count == 0 {
            return;
        }
        tracing::warn!(plugin_id = %self.plugin.id, events = self.count, first_reason = %self.first_reason, "Events rejected by Elasticsearch written to the dead letter queue.");
        self.plugin.add_failure("dead_letter", self.count);
    }
}

/// Rejected events that could not be kept: the queue is disabled, or full under `drop_newer`.
pub struct RejectedEventsDropped<'a> {
    pub plugin: &'a PluginMetrics,
    pub count: u64,
    pub first_reason: &'a str,
    pub why: &'static str,
}

impl RejectedEventsDropped<'_> {
    pub fn emit(self) {
        if self.count == 0 {
            return;
        }
        tracing::error!(plugin_id = %self.plugin.id, events = self.count, first_reason = %self.first_reason, why = self.why, "Events rejected by Elasticsearch were dropped.");
        self.plugin.add_failure("dead_letter_dropped", self.count);
    }
}

/// Older dead letters deleted to make room (`drop_older`).
pub struct DeadLettersEvicted<'a> {
    pub plugin: &'a PluginMetrics,
    pub count: u64,
}

impl DeadLettersEvicted<'_> {
    pub fn emit(self) {
        if self.count == 0 {
            return;
        }
        tracing::warn!(plugin_id = %self.plugin.id, events = self.count, "Dead letter queue full; its oldest entries were deleted (drop_older).");
        self.plugin.add_failure("dead_letter_evicted", self.count);
    }
}
