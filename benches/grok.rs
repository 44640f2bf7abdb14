//! Grok throughput on the 10,000-line Apache sample of the shared corpus
//! (`../shared/corpus/elastic-examples/apache_logs`; a built-in line when it is absent).
//! `cargo bench --bench grok`
//!
//! - `grok/match_only`: COMBINEDAPACHELOG matched and every capture located, nothing stored.
//! - `grok/filter`: the grok filter as the pipeline runs it — captures stored on the event.
//! - `grok/event_clone`: the cost of the fresh event each `grok/filter` iteration starts from.
//! - `grok/regex_is_match`, `grok/regex_find`: the same regex without capture positions.
//! - `grok/no_match`: syslog lines against COMBINEDAPACHELOG (the failure path).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use sluice::config::compile::{compile, BuildContext};
use sluice::config::parser::{parse_sources, ParseOptions};
use sluice::config::source::SourceMap;
use sluice::event::Event;
use sluice::filters::grok::{compile_pattern, library, EcsMode};

fn corpus(rel: &str, fallback: &str) -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus").join(rel);
    match std::fs::read_to_string(&path) {
        Ok(text) => text.lines().map(str::to_string).collect(),
        Err(_) => {
            eprintln!("note: {} is absent; benchmarking a built-in line", path.display());
            vec![fallback.to_string(); 1000]
        }
    }
}

const APACHE: &str = r#"83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /presentations/logstash-monitorama-2013/images/kibana-search.png HTTP/1.1" 200 203023 "http://semicomplete.com/presentations/logstash-monitorama-2013/" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36""#;

fn bench_grok(c: &mut Criterion) {
    let lines = corpus("elastic-examples/apache_logs", APACHE);
    let syslog = corpus(
        "elastic-beats/system-auth/secure-rhel7.log",
        "Feb 21 21:54:44 localhost sshd[3402]: Accepted publickey for vagrant",
    );
    let grok = compile_pattern("%{COMBINEDAPACHELOG}", library(EcsMode::Disabled)).unwrap();

    let mut group = c.benchmark_group("grok");
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.bench_function("match_only", |b| {
        b.iter(|| {
            let mut found = 0usize;
            for line in &lines {
                grok.match_spans(black_box(line), |_, v| found += v.map_or(0, str::len));
            }
            found
        })
    });

    // Where the time goes: finding whether and where the match is, versus resolving captures.
    let re = regex::bytes::RegexBuilder::new(grok.regex_source()).unicode(false).build().unwrap();
    group.bench_function("regex_is_match", |b| {
        b.iter(|| lines.iter().filter(|l| re.is_match(black_box(l.as_bytes()))).count())
    });
    group.bench_function("regex_find", |b| {
        b.iter(|| lines.iter().filter_map(|l| re.find(black_box(l.as_bytes()))).map(|m| m.end()).sum::<usize>())
    });

    let sources = SourceMap::single(
        "bench.conf",
        r#"input { stdin {} } filter { grok { match => { "message" => "%{COMBINEDAPACHELOG}" } } } output { stdout {} }"#,
    );
    let ast = parse_sources(&sources, ParseOptions::default()).unwrap();
    let ctx = BuildContext::new("bench", std::env::temp_dir());
    let plan = compile(&ast, &ctx, &|_: &str| None).map_err(|e| format!("{e:?}")).unwrap();
    let filter = &plan.filters[0].filter;
    let now = chrono::Utc::now();
    let events: Vec<Event> = lines.iter().map(|l| Event::with_message(l.clone(), now)).collect();
    group.bench_function("event_clone", |b| {
        b.iter(|| {
            for e in &events {
                black_box(e.clone());
            }
        })
    });
    group.bench_function("filter", |b| {
        b.iter(|| {
            for e in &events {
                let mut e = e.clone();
                black_box(filter.filter(&mut e));
            }
        })
    });
    group.finish();

    let mut group = c.benchmark_group("grok");
    group.throughput(Throughput::Elements(syslog.len() as u64));
    group.bench_function("no_match", |b| b.iter(|| syslog.iter().filter(|l| grok.is_match(black_box(l))).count()));
    group.finish();
}

criterion_group!(benches, bench_grok);
criterion_main!(benches);
