//! Subcommands that add what Logstash lacks; each is a module with its clap arguments and a
//! `run` that returns the exit status.
pub mod grok;
pub mod ilm;
