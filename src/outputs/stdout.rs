//! The `stdout` output: events on standard output, `rubydebug` by default as in Logstash.
//! One batch is encoded into one buffer and written with one locked write.

use super::{Output, OutputError};
use crate::codec::Codec;
use crate::config::args::Args;
use crate::config::compile::BuildContext;
use crate::config::error::ConfigError;
use crate::event::Event;
use std::io::Write;

pub struct Stdout {
    codec: Codec,
}

pub fn build(args: &mut Args, _ctx: &BuildContext) -> Result<Box<dyn Output>, ConfigError> {
    Ok(Box::new(Stdout { codec: Codec::from_args(args, "rubydebug")? }))
}

impl Output for Stdout {
    fn receive(&self, events: &[&Event]) -> Result<(), OutputError> {
        let mut buf = Vec::with_capacity(events.len() * 256);
        for e in events {
            self.codec.encode(e, &mut buf);
        }
        let mut out = std::io::stdout().lock();
        out.write_all(&buf)?;
        out.flush()?;
        Ok(())
    }
}
