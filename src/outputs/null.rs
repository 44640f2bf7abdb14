//! The `null` output: accepts everything, writes nothing (benchmarks, testing filters).

use super::{Output, OutputError};
use crate::config::args::Args;
use crate::config::compile::BuildContext;
use crate::config::error::ConfigError;
use crate::event::Event;

pub struct Null;

pub fn build(_args: &mut Args, _ctx: &BuildContext) -> Result<Box<dyn Output>, ConfigError> {
    Ok(Box::new(Null))
}

impl Output for Null {
    fn receive(&self, _events: &[&Event]) -> Result<(), OutputError> {
        Ok(())
    }
}
