//! Events a server rejected for good, into the dead letter queue; and what that reports.
//!
//! Each `emit()` logs and counts under the output's failure reasons, which `/metrics` shows as
//! `sluice_plugin_failures_total` and `sluice_dead_letter_events_total`.

use crate::event::Event;
use crate::metrics::PluginMetrics;
use crate::queue::dlq::{DeadLetter, DeadLetterQueue};
use std::time::Duration;

/// A dead letter queue write that fails (disk full...) is tried this often before the call fails.
const WRITE_ATTEMPTS: u32 = 5;

/// Who rejected the events, for the log lines and the queue entries.
#[derive(Clone, Copy)]
pub struct Rejecter<'a> {
    pub plugin: &'a PluginMetrics,
    /// The plugin name written in each entry (`elasticsearch`, `loki`).
    pub plugin_type: &'static str,
    /// The server, as log lines name it (`Elasticsearch`, `Loki`).
    pub server: &'static str,
}

/// Put rejected events (`dead`: index into `events`, reason) in the dead letter queue; Ok once
/// they are on disk, or counted as dropped when the queue is disabled or full. An error only when
/// the queue cannot be written at all: the caller must not count the events as delivered.
pub fn write(dlq: Option<&DeadLetterQueue>, by: Rejecter<'_>, events: &[&Event], dead: &[(usize, String)]) -> Result<(), String> {
    if dead.is_empty() {
        return Ok(());
    }
    let Some(dlq) = dlq else {
        RejectedEventsDropped { by, count: dead.len() as u64, first_reason: &dead[0].1, why: "the dead letter queue is disabled" }.emit();
        return Ok(());
    };
    let letters: Vec<DeadLetter<'_>> = dead
        .iter()
        .map(|(i, reason)| DeadLetter { event: events[*i], reason: reason.clone(), plugin_id: &by.plugin.id, plugin_type: by.plugin_type })
        .collect();
    let mut attempt = 0;
    loop {
        match dlq.write(&letters) {
            Ok(out) => {
                EventsDeadLettered { by, count: out.written, first_reason: &dead[0].1 }.emit();
                RejectedEventsDropped { by, count: out.refused, first_reason: &dead[0].1, why: "the dead letter queue is full (drop_newer)" }.emit();
                DeadLettersEvicted { plugin: by.plugin, count: out.evicted }.emit();
                return Ok(());
            }
            Err(e) => {
                attempt += 1;
                if attempt >= WRITE_ATTEMPTS {
                    return Err(format!("cannot write the dead letter queue in {}: {e}", dlq.dir().display()));
                }
                tracing::error!(error = %e, dir = %dlq.dir().display(), "Cannot write the dead letter queue; trying again.");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

/// Events the server rejected for good, now in the dead letter queue.
pub struct EventsDeadLettered<'a> {
    pub by: Rejecter<'a>,
    pub count: u64,
    pub first_reason: &'a str,
}

impl EventsDeadLettered<'_> {
    pub fn emit(self) {
        if self.count == 0 {
            return;
        }
        tracing::warn!(
            plugin_id = %self.by.plugin.id,
            events = self.count,
            first_reason = %self.first_reason,
            "Events rejected by {} written to the dead letter queue.",
            self.by.server
        );
        self.by.plugin.add_failure("dead_letter", self.count);
    }
}

/// Rejected events that could not be kept: the queue is disabled, or full under `drop_newer`.
pub struct RejectedEventsDropped<'a> {
    pub by: Rejecter<'a>,
    pub count: u64,
    pub first_reason: &'a str,
    pub why: &'static str,
}

impl RejectedEventsDropped<'_> {
    pub fn emit(self) {
        if self.count == 0 {
            return;
        }
        tracing::error!(
            plugin_id = %self.by.plugin.id,
            events = self.count,
            first_reason = %self.first_reason,
            why = self.why,
            "Events rejected by {} were dropped.",
            self.by.server
        );
        self.by.plugin.add_failure("dead_letter_dropped", self.count);
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
