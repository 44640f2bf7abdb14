//! Outputs: where events leave sluice.
//!
//! A worker hands an output the events of one batch routed to it and waits: `receive` returns
//! only when the events are as safe as the output can make them (written to the OS for a file,
//! accepted by the server for a network output). That wait is what carries backpressure from a
//! slow destination to the inputs, and what makes an acknowledgement mean "delivered". An error
//! means "nothing of this call can be counted as delivered": the worker retries the call.

pub mod elasticsearch;
pub mod file;
pub mod http;
pub mod loki;
pub mod null;
pub mod stdout;

use crate::config::args::Args;
use crate::config::compile::BuildContext;
use crate::config::error::ConfigError;
use crate::event::Event;

pub type OutputError = Box<dyn std::error::Error + Send + Sync>;

pub trait Output: Send + Sync {
    fn receive(&self, events: &[&Event]) -> Result<(), OutputError>;

    /// Once built, the output is handed its id and counters, for what only it can count
    /// (dead-lettered events, per-status responses).
    fn bind(&self, _metrics: &std::sync::Arc<crate::metrics::PluginMetrics>) {}

    /// The pipeline is stopping: flush and release resources.
    fn close(&self) -> Result<(), OutputError> {
        Ok(())
    }
}

pub struct OutputPlugin {
    pub name: &'static str,
    pub build: fn(&mut Args, &BuildContext) -> Result<Box<dyn Output>, ConfigError>,
}

/// Every output sluice has. Adding one: its module, and one line here.
pub const OUTPUTS: &[OutputPlugin] = &[
    OutputPlugin { name: "elasticsearch", build: elasticsearch::build },
    OutputPlugin { name: "file", build: file::build },
    OutputPlugin { name: "loki", build: loki::build },
    OutputPlugin { name: "null", build: null::build },
    OutputPlugin { name: "stdout", build: stdout::build },
];
