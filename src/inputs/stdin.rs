//! The `stdin` input: lines from standard input (codec `line` by default). At end of file the
//! input finishes, and when it is the pipeline's only input the process drains and exits 0.

use super::{BoxFuture, Input, InputContext, InputError};
use crate::codec::{Codec, DecodeLimits};
use crate::config::args::Args;
use crate::config::compile::BuildContext;
use crate::config::error::ConfigError;
use crate::event::Value;
use bytes::BytesMut;
use chrono::Utc;
use tokio::io::AsyncReadExt;

pub struct Stdin {
    codec: Codec,
}

pub fn build(args: &mut Args, _ctx: &BuildContext) -> Result<Box<dyn Input>, ConfigError> {
    Ok(Box::new(Stdin { codec: Codec::from_args(args, "line")? }))
}

impl Input for Stdin {
    fn run(self: Box<Self>, ctx: InputContext) -> BoxFuture<Result<(), InputError>> {
        Box::pin(async move {
            let mut stdin = tokio::io::stdin();
            let mut decoder = self.codec.decoder(DecodeLimits::default());
            let mut buf = BytesMut::with_capacity(64 * 1024);
            let host = Value::String(crate::util::hostname().to_string());
            loop {
                if buf.capacity() - buf.len() < 8 * 1024 {
                    buf.reserve(64 * 1024);
                }
                let n = tokio::select! {
                    biased;
                    _ = ctx.shutdown.cancelled() => 0,
                    r = stdin.read_buf(&mut buf) => r?,
                };
                let mut events = Vec::new();
                if n == 0 {
                    decoder.flush(&mut buf, Utc::now(), &mut events);
                } else {
                    decoder.decode(&mut buf, Utc::now(), &mut events);
                }
                for e in &mut events {
                    e.fields_mut().entry("host").or_insert_with(|| host.clone());
                }
                if ctx.sink.send(events).await.is_err() || n == 0 {
                    return Ok(());
                }
            }
        })
    }
}
