//! sluice: a log pipeline that runs Logstash pipeline configs.
//!
//! # Layout
//! - `config`: the Logstash config language (parser, AST, compiler), settings files, `${VAR}`.
//! - `event`: the event, field references, sprintf templates, Joda date formats, timestamps.
//! - `pipeline`: the runtime — workers, batches, conditionals, routing, acknowledgements,
//!   shutdown and reload.
//! - `queue`: the bounded queue between inputs and workers.
//! - `codec`: bytes to events and back (line, plain, json, json_lines, rubydebug, dots).
//! - `inputs`, `filters`, `outputs`: one module per plugin and one registry table per kind.
//! - `metrics`: the counters every pipeline and plugin keeps, and the HTTP API.
//! - `ilm`: index lifecycle — the retention cleanup of daily indices (`sluice ilm cleanup`, or
//!   scheduled in the daemon) and the ILM policy install (`sluice ilm install`).
//! - `cli`: subcommands beyond Logstash's flags (`sluice grok`, `sluice ilm`).

pub mod cli;
pub mod codec;
pub mod config;
pub mod event;
pub mod filters;
pub mod ilm;
pub mod inputs;
pub mod metrics;
pub mod outputs;
pub mod pipeline;
pub mod queue;
pub mod util;
