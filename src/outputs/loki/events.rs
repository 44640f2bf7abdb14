//! What this output reports, one struct per thing that happens; each `emit()` logs and counts
//! under the output's failure reasons (`sluice_plugin_failures_total{reason}`; retries also feed
//! `sluice_output_retries_total`). Dead letters are reported by `outputs::http::dead_letter`.

use crate::metrics::PluginMetrics;
use std::time::Duration;

/// Why Loki refused a push for good (a 4xx other than 429), read from its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    OutOfOrder,
    TooOld,
    TooNew,
    LineTooLong,
    InvalidLabels,
    TooManyLabels,
    StructuredMetadata,
    TooLarge,
    Other,
}

impl RejectReason {
    /// Loki's validation messages (distributor/validator), matched on their stable words.
    pub fn classify(status: u16, body: &str) -> RejectReason {
        let b = body.to_ascii_lowercase();
        if status == 413 {
            RejectReason::TooLarge
        } else if b.contains("out of order") || b.contains("too far behind") {
            RejectReason::OutOfOrder
        } else if b.contains("too old") || b.contains("greater_than_max_sample_age") {
            RejectReason::TooOld
        } else if b.contains("too new") || b.contains("too_far_in_future") {
            RejectReason::TooNew
        } else if b.contains("max entry size") || b.contains("line too long") || b.contains("line_too_long") {
            RejectReason::LineTooLong
        } else if b.contains("structured metadata") {
            RejectReason::StructuredMetadata
        } else if b.contains("label names; limit") || b.contains("max_label_names") {
            RejectReason::TooManyLabels
        } else if b.contains("label") {
            RejectReason::InvalidLabels
        } else {
            RejectReason::Other
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::OutOfOrder => "rejected_out_of_order",
            RejectReason::TooOld => "rejected_too_old",
            RejectReason::TooNew => "rejected_too_new",
            RejectReason::LineTooLong => "rejected_line_too_long",
            RejectReason::InvalidLabels => "rejected_invalid_labels",
            RejectReason::TooManyLabels => "rejected_too_many_labels",
            RejectReason::StructuredMetadata => "rejected_structured_metadata",
            RejectReason::TooLarge => "rejected_too_large",
            RejectReason::Other => "rejected_other",
        }
    }
}

/// Loki refused a push for good; its events go to the dead letter queue.
pub struct PushRejected<'a> {
    pub plugin: &'a PluginMetrics,
    pub count: u64,
    pub status: u16,
    pub reason: RejectReason,
    pub message: &'a str,
}

impl PushRejected<'_> {
    pub fn emit(self) {
        tracing::warn!(
            plugin_id = %self.plugin.id,
            events = self.count,
            status = self.status,
            reason = self.reason.as_str(),
            error = %self.message,
            "Loki rejected a push; its events go to the dead letter queue and are not sent again."
        );
        self.plugin.add_failure(self.reason.as_str(), self.count);
    }
}

/// A push Loki could not take yet (429, 5xx, a lost connection) is sent again after `wait`;
/// `None`: nothing of the call was settled and it is handed back to the worker to retry.
pub struct PushRetried<'a> {
    pub plugin: &'a PluginMetrics,
    pub count: u64,
    pub error: &'a str,
    pub wait: Option<Duration>,
}

impl PushRetried<'_> {
    pub fn emit(self) {
        if let Some(wait) = self.wait {
            tracing::warn!(
                plugin_id = %self.plugin.id,
                events = self.count,
                error = %self.error,
                retry_in_ms = wait.as_millis() as u64,
                "Loki did not take a push; sending it again."
            );
            self.plugin.add_failure("retry", 1);
        }
    }
}

/// Events whose label set would have been a new stream past `max_streams`: their templated
/// labels were replaced by `sluice_overflow`. Logged at most once a minute, counted always.
pub struct StreamsFolded<'a> {
    pub plugin: &'a PluginMetrics,
    pub count: u64,
    pub max_streams: usize,
    pub example: &'a str,
    pub log: bool,
}

impl StreamsFolded<'_> {
    pub fn emit(self) {
        if self.count == 0 {
            return;
        }
        if self.log {
            tracing::warn!(
                plugin_id = %self.plugin.id,
                events = self.count,
                max_streams = self.max_streams,
                example = %self.example,
                "Too many distinct Loki label sets; events of new ones are sent with their templated labels set to `sluice_overflow`. Labels should not hold ids, messages or timestamps."
            );
        }
        self.plugin.add_failure("stream_folded", self.count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lokis_messages_map_to_reasons() {
        let c = |s| RejectReason::classify(400, s);
        assert_eq!(
            c("entry for stream '{a=\"1\"}' has timestamp too old: 2020-01-01T00:00:00Z, oldest acceptable timestamp is: 2024-01-01T00:00:00Z"),
            RejectReason::TooOld
        );
        assert_eq!(c("entry with timestamp 2024-01-01 ignored, reason: 'entry too far behind'"), RejectReason::OutOfOrder);
        assert_eq!(c("Max entry size '10' bytes exceeded for stream '{a=\"1\"}' while adding an entry with length '20' bytes"), RejectReason::LineTooLong);
        assert_eq!(c("stream '{a=\"1\"}' includes structured metadata, but this feature is disallowed"), RejectReason::StructuredMetadata);
        assert_eq!(c("error parsing labels {a=}: parse error"), RejectReason::InvalidLabels);
        assert_eq!(c("something else"), RejectReason::Other);
        assert_eq!(RejectReason::classify(413, ""), RejectReason::TooLarge);
    }
}
