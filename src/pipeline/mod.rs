//! The pipeline runtime: inputs on tokio, a bounded queue, worker threads running filters and
//! outputs, acknowledgements back to the inputs, and orderly shutdown.
//!
//! ```text
//! inputs (tokio tasks) ─▶ queue (bounded, in events) ─▶ workers (OS threads): batch ─▶ filters ─▶ outputs
//!        ▲                                                                                  │
//!        └──────────── acks: a chunk is acknowledged when every output it was routed to has it ┘
//! ```
//! Stopping: the inputs are cancelled and return; with every queue writer gone the workers drain
//! what is queued, deliver it, and exit; then the outputs are closed. A second stop request
//! aborts: workers stop retrying failed outputs and unacknowledged events stay unacknowledged.

pub mod ack;
pub mod condition;
pub mod decorate;
pub mod manager;
mod worker;

use crate::config::compile::Plan;
use crate::inputs::{EventSink, InputContext};
use crate::metrics::{PipelineMetrics, Registry};
use crate::queue::memory::MemoryQueue;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How a pipeline runs (pipelines.yml / sluice.yml / command line).
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    pub id: String,
    /// `pipeline.workers`: worker threads running filters and outputs.
    pub workers: usize,
    /// `pipeline.batch.size`: the most events a worker takes at once.
    pub batch_size: usize,
    /// `pipeline.batch.delay`: how long a worker waits to fill a batch once it has one event.
    pub batch_delay: Duration,
    /// `queue.max_events` for the memory queue; 0 means a default sized from workers × batch.
    pub queue_max_events: usize,
}

impl PipelineSettings {
    pub fn new(id: &str) -> PipelineSettings {
        PipelineSettings {
            id: id.to_string(),
            workers: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            batch_size: 125,
            batch_delay: Duration::from_millis(50),
            queue_max_events: 0,
        }
    }

    fn queue_capacity(&self) -> usize {
        if self.queue_max_events > 0 {
            self.queue_max_events
        } else {
            // Room for every worker's batch in flight plus as much again waiting, so inputs keep
            // reading while workers work, and no more: memory stays bounded.
            (self.workers * self.batch_size * 8).max(1024)
        }
    }
}

pub struct RunningPipeline {
    pub id: String,
    pub metrics: Arc<PipelineMetrics>,
    stop: CancellationToken,
    abort: CancellationToken,
    finished: tokio::sync::watch::Receiver<bool>,
}

impl RunningPipeline {
    /// Start every input and worker. Must be called inside the tokio runtime.
    pub fn start(plan: Plan, settings: &PipelineSettings) -> RunningPipeline {
        let metrics = plan.metrics.clone();
        Registry::global().register(metrics.clone());
        Registry::global().set_running(&settings.id, true);
        let (writer, reader) = MemoryQueue::bounded(settings.queue_capacity(), metrics.clone());
        let stop = CancellationToken::new();
        let abort = CancellationToken::new();
        let stages = Arc::new(worker::Stages {
            filters: plan.filters,
            filter_tree: plan.filter_tree,
            outputs: plan.outputs,
            output_tree: plan.output_tree,
            metrics: metrics.clone(),
            abort: abort.clone(),
        });

        let mut inputs = JoinSet::new();
        for input in plan.inputs {
            let ctx = InputContext {
                sink: EventSink::new(writer.clone(), input.decorations, input.metrics.clone()),
                shutdown: stop.clone(),
                metrics: input.metrics.clone(),
            };
            let id = input.metrics.id.clone();
            let pipeline = settings.id.clone();
            inputs.spawn(async move {
                if let Err(e) = input.input.run(ctx).await {
                    tracing::error!(pipeline = %pipeline, plugin_id = %id, error = %e, "Input stopped with an error.");
                }
            });
        }
        drop(writer);

        let workers: Vec<_> = (0..settings.workers.max(1))
            .map(|n| {
                let stages = stages.clone();
                let reader = reader.clone();
                let settings = settings.clone();
                std::thread::Builder::new()
                    .name(format!("[{}]>worker{n}", settings.id))
                    .spawn(move || worker::run(&stages, &reader, &settings))
                    .expect("spawning a worker thread")
            })
            .collect();
        drop(reader);

        let (done_tx, finished) = tokio::sync::watch::channel(false);
        let id = settings.id.clone();
        tokio::spawn(async move {
            while inputs.join_next().await.is_some() {}
            tracing::debug!(pipeline = %id, "Every input has stopped; draining the queue.");
            let stages2 = stages.clone();
            let _ = tokio::task::spawn_blocking(move || {
                for w in workers {
                    let _ = w.join();
                }
                for o in &stages2.outputs {
                    if let Err(e) = o.output.close() {
                        tracing::warn!(plugin_id = %o.metrics.id, error = %e, "Output failed to close cleanly.");
                    }
                }
            })
            .await;
            Registry::global().set_running(&id, false);
            tracing::info!(
                pipeline = %id,
                events_in = stages.metrics.events_in(),
                events_out = stages.metrics.events_out(),
                events_dropped = stages.metrics.events_dropped(),
                "Pipeline stopped."
            );
            let _ = done_tx.send(true);
        });
        tracing::info!(pipeline = %settings.id, workers = settings.workers, batch_size = settings.batch_size, "Pipeline started.");
        RunningPipeline { id: settings.id.clone(), metrics, stop, abort, finished }
    }

    /// Ask the inputs to stop; what is queued is still delivered.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Stop without waiting for outputs that keep failing.
    pub fn abort(&self) {
        self.stop.cancel();
        self.abort.cancel();
    }

    pub fn is_finished(&self) -> bool {
        *self.finished.borrow()
    }

    /// Wait until the pipeline has stopped (inputs done, queue drained, outputs closed).
    pub async fn wait(&self) {
        let mut rx = self.finished.clone();
        let _ = rx.wait_for(|done| *done).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::compile::{compile, BuildContext};
    use crate::config::parser::{parse_sources, ParseOptions};
    use crate::config::source::SourceMap;
    use crate::event::{Event, Value};
    use crate::inputs::{BoxFuture, Input, InputError};
    use crate::pipeline::ack::NotAcknowledged;
    use tokio::sync::mpsc;

    /// An input that sends the chunks it is given and reports each chunk's acknowledgement.
    struct ScriptedInput {
        chunks: Vec<Vec<Event>>,
        results: mpsc::UnboundedSender<(usize, Result<(), NotAcknowledged>)>,
    }

    impl Input for ScriptedInput {
        fn run(self: Box<Self>, ctx: InputContext) -> BoxFuture<Result<(), InputError>> {
            Box::pin(async move {
                let mut waits = Vec::new();
                for (i, chunk) in self.chunks.into_iter().enumerate() {
                    waits.push((i, ctx.sink.send_acked(chunk).await?));
                }
                for (i, w) in waits {
                    let _ = self.results.send((i, w.await));
                }
                // Stay alive until told to stop, like a network input.
                ctx.shutdown.cancelled().await;
                Ok(())
            })
        }
    }

    fn events(n: usize, x: i64) -> Vec<Event> {
        (0..n)
            .map(|i| {
                let mut e = Event::new();
                e.fields_mut().insert("x".into(), Value::from(x));
                e.fields_mut().insert("i".into(), Value::from(i as u64));
                e
            })
            .collect()
    }

    fn plan(config: &str, input: ScriptedInput) -> crate::config::compile::Plan {
        let sources = SourceMap::single("test", config);
        let ast = parse_sources(&sources, ParseOptions::default()).unwrap();
        let ctx = BuildContext::new("ack-test", std::env::temp_dir());
        let mut plan = compile(&ast, &ctx, &|_: &str| None).unwrap_or_else(|e| panic!("{e:?}"));
        plan.inputs[0].input = Box::new(input);
        plan
    }

    fn settings() -> PipelineSettings {
        PipelineSettings { workers: 2, batch_size: 4, batch_delay: Duration::from_millis(5), ..PipelineSettings::new("ack-test") }
    }

    /// Acknowledged only once the output has the events; dropped events count as done.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn acks_follow_delivery_and_drops() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.jsonl");
        let config = format!(
            r#"input {{ stdin {{}} }} filter {{ if [x] == 2 {{ drop {{}} }} }} output {{ file {{ path => "{}" }} }}"#,
            out.display()
        );
        let (tx, mut rx) = mpsc::unbounded_channel();
        let input = ScriptedInput { chunks: vec![events(10, 1), events(3, 2), events(7, 1)], results: tx };
        let running = RunningPipeline::start(plan(&config, input), &settings());
        let mut delivered_before_ack = Vec::new();
        for _ in 0..3 {
            let (i, r) = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
            assert_eq!(r, Ok(()), "chunk {i}");
            let lines = std::fs::read_to_string(&out).map(|t| t.lines().count()).unwrap_or(0);
            delivered_before_ack.push((i, lines));
        }
        // Chunk 0's ack came after its 10 events were in the file; chunk 2's after all 17.
        assert!(delivered_before_ack.iter().any(|(i, n)| *i == 0 && *n >= 10), "{delivered_before_ack:?}");
        assert!(delivered_before_ack.iter().any(|(i, n)| *i == 2 && *n >= 17), "{delivered_before_ack:?}");
        running.stop();
        running.wait().await;
        assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 17);
        assert_eq!(running.metrics.events_dropped(), 3);
        assert_eq!(running.metrics.events_out(), 17);
    }

    /// An output that keeps failing never lets an acknowledgement through; aborting the
    /// pipeline resolves the wait as "not acknowledged".
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failing_output_never_acknowledges() {
        let dir = tempfile::tempdir().unwrap();
        // A regular file where the output wants a directory: every write fails.
        let blocker = dir.path().join("blocker");
        std::fs::write(&blocker, "").unwrap();
        let config = format!(r#"input {{ stdin {{}} }} output {{ file {{ path => "{}/out.jsonl" }} }}"#, blocker.display());
        let (tx, mut rx) = mpsc::unbounded_channel();
        let input = ScriptedInput { chunks: vec![events(5, 1)], results: tx };
        let running = RunningPipeline::start(plan(&config, input), &settings());
        assert!(tokio::time::timeout(Duration::from_millis(800), rx.recv()).await.is_err(), "acknowledged despite failing output");
        running.abort();
        let (_, r) = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
        assert_eq!(r, Err(NotAcknowledged));
        running.wait().await;
        assert_eq!(running.metrics.events_out(), 0);
    }
}
