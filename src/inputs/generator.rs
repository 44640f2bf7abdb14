//! The `generator` input: synthetic events, for trying a pipeline out and for benchmarks.
//! `count` cycles through `lines` (or `message`); 0 means forever. Each event carries
//! `sequence` (the cycle number) and `host`, as Logstash's generator does.

use super::{BoxFuture, Input, InputContext, InputError};
use crate::codec::{Codec, DecodeLimits};
use crate::config::args::Args;
use crate::config::compile::BuildContext;
use crate::config::error::ConfigError;
use crate::event::{Event, Value};
use bytes::BytesMut;
use chrono::Utc;

pub struct Generator {
    count: u64,
    lines: Vec<String>,
    codec: Codec,
}

pub fn build(args: &mut Args, _ctx: &BuildContext) -> Result<Box<dyn Input>, ConfigError> {
    let count = args.integer("count", 0, 0, i64::MAX)? as u64;
    let message = args.string_or("message", "Hello world!")?;
    let mut lines = args.string_list("lines")?;
    if lines.is_empty() {
        lines.push(message);
    }
    let _ = args.integer("threads", 1, 1, 1024)?;
    let codec = Codec::from_args(args, "plain")?;
    Ok(Box::new(Generator { count, lines, codec }))
}

impl Generator {
    /// The events of one cycle, decoded once through the codec and cloned per cycle after.
    fn templates(&self) -> Vec<Event> {
        let now = Utc::now();
        let mut out = Vec::new();
        for line in &self.lines {
            let mut decoder = self.codec.decoder(DecodeLimits::default());
            let mut buf = BytesMut::from(line.as_bytes());
            decoder.flush(&mut buf, now, &mut out);
        }
        let host = Value::String(crate::util::hostname().to_string());
        for e in &mut out {
            e.fields_mut().insert("host".to_string(), host.clone());
        }
        out
    }
}

impl Input for Generator {
    fn run(self: Box<Self>, ctx: InputContext) -> BoxFuture<Result<(), InputError>> {
        Box::pin(async move {
            let templates = self.templates();
            let chunk_size = 512.min(ctx.sink.capacity()).max(templates.len());
            let mut sequence: u64 = 0;
            while self.count == 0 || sequence < self.count {
                if ctx.shutdown.is_cancelled() {
                    break;
                }
                let now = Utc::now();
                let mut chunk = Vec::with_capacity(chunk_size);
                while chunk.len() + templates.len() <= chunk_size && (self.count == 0 || sequence < self.count) {
                    for t in &templates {
                        let mut e = t.clone();
                        e.set_timestamp(now);
                        e.fields_mut().insert("sequence".to_string(), Value::from(sequence));
                        chunk.push(e);
                    }
                    sequence += 1;
                }
                if ctx.sink.send(chunk).await.is_err() {
                    break;
                }
            }
            Ok(())
        })
    }
}
