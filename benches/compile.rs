//! Config compile and sprintf rendering: the two things "parse once, run many" relies on.
//! `cargo bench --bench compile`

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use sluice::config::compile::{compile, BuildContext};
use sluice::config::parser::{parse_sources, ParseOptions};
use sluice::config::source::SourceMap;
use sluice::event::{Event, Template, Value};

const CONFIG: &str = r#"
input {
  tcp { port => 5000 codec => json_lines }
  stdin { }
}
filter {
  if [fields][service] == "apache" {
    mutate { convert => { "response" => "integer" } convert => { "bytes" => "integer" } }
  }
  if [fields][service] == "application" {
    json { source => "message" }
    if [level] == "ERROR" { mutate { add_tag => [ "error" ] } }
  }
  if [clientip] and [clientip] !~ /^10\./ { mutate { add_field => { "ext" => "true" } } }
}
output {
  file { path => "/tmp/logs-%{[fields][service]}-%{+YYYY.MM.dd}.log" }
  if "error" in [tags] { file { path => "/tmp/errors-%{+YYYY.MM.dd}.log" } }
  stdout { codec => rubydebug }
}
"#;

fn bench_compile(c: &mut Criterion) {
    let sources = SourceMap::single("bench.conf", CONFIG);
    let env = |_: &str| None;
    c.bench_function("config/parse", |b| b.iter(|| parse_sources(black_box(&sources), ParseOptions::default()).unwrap()));
    let ast = parse_sources(&sources, ParseOptions::default()).unwrap();
    c.bench_function("config/compile", |b| {
        b.iter(|| {
            let ctx = BuildContext::new("bench", std::env::temp_dir());
            compile(black_box(&ast), &ctx, &env).map(|_| ()).unwrap()
        })
    });
}

fn bench_sprintf(c: &mut Criterion) {
    let Value::Object(fields) = serde_json::json!({
        "fields": {"service": "apache"}, "message": "GET /index.html", "host": "web-1", "n": 42
    }) else {
        unreachable!()
    };
    let event = Event::from_map(fields, chrono::Utc::now());
    let mut group = c.benchmark_group("sprintf");
    group.throughput(Throughput::Elements(1));
    for (name, text) in [
        ("index_name", "logs-%{[fields][service]}-%{+YYYY.MM.dd}"),
        ("date_only", "errors-%{+YYYY.MM.dd}"),
        ("static", "logs-static"),
        ("three_fields", "%{host} %{[fields][service]} %{n}"),
    ] {
        let t = Template::parse(text).unwrap();
        group.bench_function(name, |b| b.iter(|| black_box(t.render(black_box(&event)))));
    }
    group.finish();
}

criterion_group!(benches, bench_compile, bench_sprintf);
criterion_main!(benches);
