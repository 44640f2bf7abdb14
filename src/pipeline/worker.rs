//! A pipeline worker: take a batch from the queue, run it through the filters and to the outputs,
//! acknowledge it, give its room in the queue back.
//!
//! Each event walks the filter tree on its own (branches evaluated per event), which keeps the
//! order of a batch and touches each event while it is hot in cache. Counters are kept in locals
//! and added to the shared atomics once per batch.

use super::ack::Ack;
use super::PipelineSettings;
use crate::config::compile::{FilterInstance, Node, OutputInstance};
use crate::event::Event;
use crate::filters::Outcome;
use crate::metrics::events::{EventsFailed, OutputRetry};
use crate::metrics::PipelineMetrics;
use crate::queue::memory::{Chunk, QueueReader, Received};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub struct Stages {
    pub filters: Vec<FilterInstance>,
    pub filter_tree: Vec<Node>,
    pub outputs: Vec<OutputInstance>,
    pub output_tree: Vec<Node>,
    pub metrics: Arc<PipelineMetrics>,
    pub abort: CancellationToken,
}

struct Batch {
    events: Vec<Event>,
    acks: Vec<(Ack, usize)>,
}

/// Per-batch counters, flushed to the shared ones at the end of the batch.
struct Tally {
    filter_in: Vec<u64>,
    filter_out: Vec<u64>,
    failures: Vec<(usize, &'static str, u64)>,
    dropped: u64,
}

impl Tally {
    fn new(filters: usize) -> Tally {
        Tally { filter_in: vec![0; filters], filter_out: vec![0; filters], failures: Vec::new(), dropped: 0 }
    }

    fn fail(&mut self, filter: usize, reason: &'static str) {
        match self.failures.iter_mut().find(|(f, r, _)| *f == filter && *r == reason) {
            Some(entry) => entry.2 += 1,
            None => self.failures.push((filter, reason, 1)),
        }
    }

    fn flush(&mut self, stages: &Stages) {
        for (i, f) in stages.filters.iter().enumerate() {
            if self.filter_in[i] > 0 {
                f.metrics.add_in(std::mem::take(&mut self.filter_in[i]));
                f.metrics.add_out(std::mem::take(&mut self.filter_out[i]));
            }
        }
        for (i, reason, count) in self.failures.drain(..) {
            EventsFailed { plugin: &stages.filters[i].metrics, reason, count }.emit();
        }
        if self.dropped > 0 {
            stages.metrics.add_dropped(std::mem::take(&mut self.dropped));
        }
    }
}

pub fn run(stages: &Stages, reader: &QueueReader, settings: &PipelineSettings) {
    let mut pending: Option<Chunk> = None;
    let mut tally = Tally::new(stages.filters.len());
    loop {
        let (batch, closed) = fill(reader, &mut pending, settings);
        if !batch.events.is_empty() {
            process(stages, batch, reader, &mut tally);
        }
        if closed && pending.is_none() {
            return;
        }
    }
}

/// Take up to `batch_size` events: block for the first, then wait at most `batch_delay` for more.
fn fill(reader: &QueueReader, pending: &mut Option<Chunk>, settings: &PipelineSettings) -> (Batch, bool) {
    let mut batch = Batch { events: Vec::with_capacity(settings.batch_size), acks: Vec::new() };
    let mut deadline: Option<Instant> = None;
    loop {
        let mut chunk = match pending.take() {
            Some(c) => c,
            None => match reader.try_recv() {
                Some(c) => c,
                None => {
                    let wait = match deadline {
                        None => Duration::from_millis(200),
                        Some(d) => d.saturating_duration_since(Instant::now()),
                    };
                    if deadline.is_some() && wait.is_zero() {
                        return (batch, false);
                    }
                    match reader.recv_timeout(wait) {
                        Received::Chunk(c) => c,
                        Received::Timeout if batch.events.is_empty() => continue,
                        Received::Timeout => return (batch, false),
                        Received::Closed => return (batch, true),
                    }
                }
            },
        };
        deadline.get_or_insert_with(|| Instant::now() + settings.batch_delay);
        reader.make_events(&mut chunk);
        let Chunk { mut events, ack, .. } = chunk;
        let room = settings.batch_size - batch.events.len();
        if events.len() > room {
            let rest = events.split_off(room);
            *pending = Some(Chunk::of(rest, ack.clone()));
        }
        if let Some(ack) = ack {
            batch.acks.push((ack, events.len()));
        }
        batch.events.append(&mut events);
        if batch.events.len() >= settings.batch_size {
            return (batch, false);
        }
    }
}

fn process(stages: &Stages, batch: Batch, reader: &QueueReader, tally: &mut Tally) {
    let started = Instant::now();
    let taken = batch.events.len();
    let mut events = batch.events;
    if !stages.filter_tree.is_empty() {
        events.retain_mut(|e| run_filters(stages, &stages.filter_tree, e, tally));
    }
    tally.flush(stages);
    stages.metrics.add_filtered(events.len() as u64);

    let mut routed: Vec<Vec<&Event>> = (0..stages.outputs.len()).map(|_| Vec::new()).collect();
    for e in &events {
        route(&stages.output_tree, e, &mut routed);
    }
    for (i, list) in routed.iter().enumerate() {
        if !list.is_empty() && !deliver(stages, &stages.outputs[i], list) {
            // Aborted while an output kept failing: leave the batch unacknowledged.
            return;
        }
    }
    stages.metrics.add_out(events.len() as u64);
    drop(events);
    for (ack, n) in batch.acks {
        ack.done(n);
    }
    reader.release(taken);
    stages.metrics.observe_batch(started.elapsed());
}

/// Walk the filter tree; false when the event was dropped.
fn run_filters(stages: &Stages, nodes: &[Node], event: &mut Event, tally: &mut Tally) -> bool {
    for node in nodes {
        match node {
            Node::Plugin(i) => {
                let f = &stages.filters[*i];
                tally.filter_in[*i] += 1;
                match f.filter.filter(event) {
                    Outcome::Matched => f.decorations.apply(event),
                    Outcome::NotMatched => {}
                    Outcome::Failed(reason) => tally.fail(*i, reason),
                    Outcome::Drop => {
                        tally.dropped += 1;
                        return false;
                    }
                }
                tally.filter_out[*i] += 1;
            }
            Node::Branch { cases, otherwise } => {
                let body = cases.iter().find(|(c, _)| c.eval(event)).map(|(_, b)| b).unwrap_or(otherwise);
                if !run_filters(stages, body, event, tally) {
                    return false;
                }
            }
        }
    }
    true
}

fn route<'e>(nodes: &[Node], event: &'e Event, routed: &mut [Vec<&'e Event>]) {
    for node in nodes {
        match node {
            Node::Plugin(i) => routed[*i].push(event),
            Node::Branch { cases, otherwise } => {
                let body = cases.iter().find(|(c, _)| c.eval(event)).map(|(_, b)| b).unwrap_or(otherwise);
                route(body, event, routed);
            }
        }
    }
}

/// Hand events to an output until it takes them; false only if the pipeline was aborted.
fn deliver(stages: &Stages, out: &OutputInstance, events: &[&Event]) -> bool {
    let n = events.len() as u64;
    out.metrics.add_in(n);
    let mut delay = Duration::from_millis(100);
    loop {
        let started = Instant::now();
        let result = out.output.receive(events);
        out.metrics.add_duration(started.elapsed());
        match result {
            Ok(()) => {
                out.metrics.add_out(n);
                return true;
            }
            Err(e) => {
                OutputRetry { plugin: &out.metrics, count: n, error: &e, delay }.emit();
                // Sleep in small steps so an abort is noticed promptly.
                let until = Instant::now() + delay;
                while Instant::now() < until {
                    if stages.abort.is_cancelled() {
                        return false;
                    }
                    std::thread::sleep(Duration::from_millis(20).min(until.saturating_duration_since(Instant::now())));
                }
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}
