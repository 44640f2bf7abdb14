//! Filters on one event at a time, built from config text as a pipeline builds them.
//! `cargo bench --bench filters`
//!
//! - date: the reference pipeline's Apache pattern, ISO8601, a syslog date in a named zone,
//!   and a UNIX number.
//! - geoip: a cache hit (one address over and over) and a cache miss (a different address each
//!   time, `cache_size => 1`), on the test fixture City database
//!   (`tests/fixtures/geoip/make_fixtures.py`, run here when the database is missing).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use serde_json::json;
use sluice::config::args::Args;
use sluice::config::ast::Statement;
use sluice::config::compile::BuildContext;
use sluice::config::parser;
use sluice::event::{Event, Value};
use sluice::filters::{Filter, Outcome, FILTERS};
use std::path::{Path, PathBuf};

/// One filter built from `<name> { <options> }`.
fn build(name: &str, options: &str) -> Box<dyn Filter> {
    let text = format!("filter {{ {name} {{ {options} }} }}");
    let config = parser::parse(&text).expect("bench config parses");
    let Statement::Plugin(plugin) = &config.sections[0].body[0] else { panic!("a plugin") };
    let env = |_: &str| None;
    let mut args = Args::new("filter", plugin, &env);
    let ctx = BuildContext::new("bench", std::env::temp_dir());
    let entry = FILTERS.iter().find(|f| f.name == name).expect("registered filter");
    match (entry.build)(&mut args, &ctx) {
        Ok(f) => f,
        Err(e) => panic!("bench filter does not build: {e}"),
    }
}

fn event(fields: Value) -> Event {
    let Value::Object(map) = fields else { panic!("an object") };
    Event::from_map(map, chrono::Utc::now())
}

fn date(c: &mut Criterion) {
    let mut g = c.benchmark_group("date");
    g.throughput(Throughput::Elements(1));
    let cases = [
        ("apache", r#"match => ["ts", "dd/MMM/yyyy:HH:mm:ss Z"]"#, json!({"ts": "17/May/2015:10:05:03 +0000"})),
        ("iso8601", r#"match => ["ts", "ISO8601"]"#, json!({"ts": "2024-03-01T12:34:56.789+01:00"})),
        (
            "syslog_in_zone",
            r#"match => ["ts", "MMM  d HH:mm:ss", "MMM dd HH:mm:ss"] timezone => "Europe/Paris""#,
            json!({"ts": "Mar 14 09:32:01"}),
        ),
        ("unix_number", r#"match => ["ts", "UNIX"]"#, json!({"ts": 1_700_000_000})),
    ];
    for (name, options, fields) in cases {
        let filter = build("date", options);
        let mut e = event(fields);
        // The date filter only writes @timestamp, so one event serves every iteration.
        assert_eq!(filter.filter(&mut e), Outcome::Matched, "{name}");
        g.bench_function(name, |b| b.iter(|| filter.filter(&mut e)));
    }
    g.finish();
}

fn fixture_city_database() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/geoip");
    let db = dir.join("sluice-test-City.mmdb");
    if !db.exists() {
        let status = std::process::Command::new("python3")
            .arg(dir.join("make_fixtures.py"))
            .arg(&dir)
            .status()
            .expect("python3 runs the fixture script");
        assert!(status.success(), "the fixture script needs `pip install mmdb-writer`");
    }
    db
}

fn geoip(c: &mut Criterion) {
    let db = fixture_city_database();
    let mut g = c.benchmark_group("geoip");
    g.throughput(Throughput::Elements(1));

    let hit = build("geoip", &format!(r#"source => "clientip" database => "{}""#, db.display()));
    let template = event(json!({"clientip": "216.160.83.56"}));
    let mut warm = template.clone();
    assert_eq!(hit.filter(&mut warm), Outcome::Matched);
    g.bench_function("cache_hit", |b| {
        b.iter_batched_ref(|| template.clone(), |e| hit.filter(e), BatchSize::SmallInput)
    });

    // Addresses spread over the fixture's 23.0.0.0/12 block: every one is found, none is cached.
    let miss = build("geoip", &format!(r#"source => "clientip" database => "{}" cache_size => 1"#, db.display()));
    let events: Vec<Event> = (0..4096u32)
        .map(|i| {
            let ip = 0x1700_0000u32 | (i.wrapping_mul(2_654_435_761) & 0x000F_FFFF);
            event(json!({"clientip": std::net::Ipv4Addr::from(ip).to_string()}))
        })
        .collect();
    let mut first = events[0].clone();
    assert_eq!(miss.filter(&mut first), Outcome::Matched);
    let mut next = 0usize;
    g.bench_function("cache_miss", |b| {
        b.iter_batched_ref(
            || {
                next = (next + 1) % events.len();
                events[next].clone()
            },
            |e| miss.filter(e),
            BatchSize::SmallInput,
        )
    });

    let private = event(json!({"clientip": "192.168.1.20"}));
    g.bench_function("private_skip", |b| {
        b.iter_batched_ref(|| private.clone(), |e| hit.filter(e), BatchSize::SmallInput)
    });
    g.finish();
}

criterion_group!(benches, date, geoip);
criterion_main!(benches);
