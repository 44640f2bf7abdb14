//! Filters: synchronous, per-event transformations run by the pipeline workers.
//!
//! A filter returns an `Outcome`; the core applies the common options (`add_field`, `add_tag`,
//! `remove_field`, `remove_tag`) only on `Matched`, counts failures by reason, and removes
//! events on `Drop`. Filters never block and never panic on event data.

pub mod date;
pub mod drop;
pub mod grok;
pub mod geoip;
pub mod json;
pub mod mutate;

use crate::config::args::Args;
use crate::config::compile::BuildContext;
use crate::config::error::ConfigError;
use crate::event::Event;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The filter did its work: apply the common options.
    Matched,
    /// Nothing to do for this event (its source field is absent...): leave it as it is.
    NotMatched,
    /// The filter could not do its work; the event goes on (normally tagged by the filter),
    /// and the failure is counted under this reason.
    Failed(&'static str),
    /// Remove the event from the pipeline, on purpose.
    Drop,
}

pub trait Filter: Send + Sync {
    fn filter(&self, event: &mut Event) -> Outcome;
}

pub struct FilterPlugin {
    pub name: &'static str,
    pub build: fn(&mut Args, &BuildContext) -> Result<Box<dyn Filter>, ConfigError>,
}

/// Every filter sluice has. Adding one: its module, and one line here.
pub const FILTERS: &[FilterPlugin] = &[
    FilterPlugin { name: "date", build: date::build },
    FilterPlugin { name: "drop", build: drop::build },
    FilterPlugin { name: "grok", build: grok::build },
    FilterPlugin { name: "geoip", build: geoip::build },
    FilterPlugin { name: "json", build: json::build },
    FilterPlugin { name: "mutate", build: mutate::build },
];
