//! The `grok` filter through the real binary: a pipeline reads JSON lines on stdin, runs one
//! grok block, and writes events to a file; each test checks the events against what
//! Logstash's grok documentation says the options do.

mod common;
use common::*;
use serde_json::{json, Value};

/// Run `filter` over the events (one JSON object a line) and return the events written.
fn run_filter(filter: &str, events: &[Value]) -> Vec<Value> {
    let dir = temp_dir();
    let out = dir.path().join("out.jsonl");
    let config = format!(
        "input {{ stdin {{ codec => json_lines }} }}\nfilter {{\n{filter}\n}}\noutput {{ file {{ path => \"{}\" }} }}",
        out.display()
    );
    let mut input = Vec::new();
    for e in events {
        input.extend_from_slice(e.to_string().as_bytes());
        input.push(b'\n');
    }
    let result = run_with_stdin(&["-e", &config, "--path.data", dir.path().to_str().unwrap(), "-w", "1"], &input);
    assert!(result.status.success(), "sluice failed: {}", String::from_utf8_lossy(&result.stderr));
    read_jsonl(&out)
        .into_iter()
        .map(|mut v| {
            let o = v.as_object_mut().unwrap();
            for volatile in ["@timestamp", "@version", "host"] {
                o.remove(volatile);
            }
            v
        })
        .collect()
}

/// `sluice -t` on a filter section (with a stdin input); returns (success, all output).
fn check(filter_section: &str) -> (bool, String) {
    let dir = temp_dir();
    let config = format!("input {{ stdin {{}} }}\n{filter_section}");
    let out = run_with_stdin(&["-t", "-e", &config, "--path.data", dir.path().to_str().unwrap()], b"");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout))
}

const APACHE: &str = r#"83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /presentations/logstash-monitorama-2013/images/kibana-search.png HTTP/1.1" 200 203023 "http://semicomplete.com/presentations/logstash-monitorama-2013/" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36""#;

/// The reference pipeline's fragment: legacy field names, `response` and `bytes` as strings
/// (the reference's mutate converts them afterwards), the message kept.
#[test]
fn the_reference_fragment_gives_logstash_legacy_fields() {
    let got = run_filter(r#"grok { match => { "message" => "%{COMBINEDAPACHELOG}" } }"#, &[json!({"message": APACHE})]);
    assert_eq!(
        got,
        [json!({
            "message": APACHE,
            "clientip": "83.149.9.216", "ident": "-", "auth": "-", "timestamp": "17/May/2015:10:05:03 +0000",
            "verb": "GET", "request": "/presentations/logstash-monitorama-2013/images/kibana-search.png",
            "httpversion": "1.1", "response": "200", "bytes": "203023",
            "referrer": "\"http://semicomplete.com/presentations/logstash-monitorama-2013/\"",
            "agent": "\"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36\""
        })]
    );
}

/// A line no pattern matches keeps its fields and gets `_grokparsefailure`; a custom
/// `tag_on_failure` replaces it; `add_tag` applies only on success.
#[test]
fn failures_are_tagged_and_decorations_apply_only_on_success() {
    let got = run_filter(
        r#"grok { match => { "message" => "^%{INT:n}$" } add_tag => [ "parsed" ] }"#,
        &[json!({"message": "42"}), json!({"message": "forty-two"})],
    );
    assert_eq!(
        got,
        [
            json!({"message": "42", "n": "42", "tags": ["parsed"]}),
            json!({"message": "forty-two", "tags": ["_grokparsefailure"]})
        ]
    );
    let got = run_filter(
        r#"grok { match => { "message" => "^%{INT:n}$" } tag_on_failure => [ "no_int", "check" ] }"#,
        &[json!({"message": "x"})],
    );
    assert_eq!(got, [json!({"message": "x", "tags": ["no_int", "check"]})]);
}

/// An event without the source field is matched as the empty string, as Logstash does: it
/// fails (and is tagged) unless a pattern matches the empty string.
#[test]
fn an_absent_source_field_is_matched_as_empty_text() {
    let got = run_filter(r#"grok { match => { "message" => "%{WORD:w}" } }"#, &[json!({"other": 1})]);
    assert_eq!(got, [json!({"other": 1, "tags": ["_grokparsefailure"]})]);
}

/// `:int` and `:float` convert the capture; nested targets `[a][b]` build hashes; inline
/// `(?<name>...)` groups capture too, with bracketed names.
#[test]
fn conversions_nested_targets_and_inline_groups() {
    let got = run_filter(
        r#"grok { match => { "message" => "%{NUMBER:[stats][count]:int} %{NUMBER:[stats][ratio]:float} (?<[who][name]>[a-z]+) %{NUMBER:plain}" } }"#,
        &[json!({"message": "17 0.25 alice 3.5"})],
    );
    assert_eq!(
        got,
        [
            json!({"message": "17 0.25 alice 3.5", "stats": {"count": 17, "ratio": 0.25}, "who": {"name": "alice"}, "plain": "3.5"})
        ]
    );
}

/// A capture into an existing field makes it an array (Logstash appends); `overwrite` replaces
/// the value instead — the documented idiom for rewriting `message`.
#[test]
fn existing_fields_become_arrays_unless_overwritten() {
    let line = json!({"message": "May 29 16:37:11 sadness logger: hello world", "tags": ["t"]});
    let pattern = r#"match => { "message" => "%{SYSLOGBASE} %{DATA:message}$" }"#;
    let got = run_filter(&format!("grok {{ {pattern} }}"), std::slice::from_ref(&line));
    assert_eq!(got[0]["message"], json!(["May 29 16:37:11 sadness logger: hello world", "hello world"]));
    let got = run_filter(&format!(r#"grok {{ {pattern} overwrite => [ "message" ] }}"#), &[line]);
    assert_eq!(got[0]["message"], json!("hello world"));
    assert_eq!(got[0]["program"], json!("logger"));
    assert_eq!(got[0]["logsource"], json!("sadness"));
}

/// `break_on_match => true` (the default) stops at the first pattern that matches;
/// `false` applies every pattern that matches.
#[test]
fn break_on_match_decides_whether_later_patterns_run() {
    let filter = |brk: &str| {
        format!(
            r#"grok {{ match => {{ "message" => [ "^%{{WORD:first}}", "%{{WORD:last}}$", "^%{{INT:never}}" ] }} break_on_match => {brk} }}"#
        )
    };
    let ev = [json!({"message": "alpha beta"})];
    assert_eq!(run_filter(&filter("true"), &ev), [json!({"message": "alpha beta", "first": "alpha"})]);
    assert_eq!(run_filter(&filter("false"), &ev), [json!({"message": "alpha beta", "first": "alpha", "last": "beta"})]);
}

/// With `named_captures_only => false`, a bare `%{WORD}` captures into a field named `WORD`.
#[test]
fn named_captures_only_false_keeps_unnamed_references() {
    let got = run_filter(
        r#"grok { match => { "message" => "%{WORD} %{INT:n}" } named_captures_only => false }"#,
        &[json!({"message": "abc 12"})],
    );
    assert_eq!(got, [json!({"message": "abc 12", "WORD": "abc", "n": "12"})]);
    let got = run_filter(r#"grok { match => { "message" => "%{WORD} %{INT:n}" } }"#, &[json!({"message": "abc 12"})]);
    assert_eq!(got, [json!({"message": "abc 12", "n": "12"})]);
}

/// Empty captures are dropped unless `keep_empty_captures => true`.
#[test]
fn keep_empty_captures_keeps_empty_strings() {
    let filter = |keep: &str| {
        format!(r#"grok {{ match => {{ "message" => "^(?<a>[a-z]*),(?<b>[a-z]*)$" }} keep_empty_captures => {keep} }}"#)
    };
    let ev = [json!({"message": "x,"})];
    assert_eq!(run_filter(&filter("false"), &ev), [json!({"message": "x,", "a": "x"})]);
    assert_eq!(run_filter(&filter("true"), &ev), [json!({"message": "x,", "a": "x", "b": ""})]);
}

/// `pattern_definitions` adds named patterns (which may use each other and the library);
/// `patterns_dir` loads pattern files, filtered by `patterns_files_glob`.
#[test]
fn pattern_definitions_and_patterns_dir() {
    let got = run_filter(
        r#"grok {
             match => { "message" => "%{ORDER}" }
             pattern_definitions => { "ORDER" => "order %{ORDERID:id} for %{WORD:customer}" "ORDERID" => "[A-Z]{2}-[0-9]+" }
           }"#,
        &[json!({"message": "order AB-123 for acme"})],
    );
    assert_eq!(got, [json!({"message": "order AB-123 for acme", "id": "AB-123", "customer": "acme"})]);

    let dir = temp_dir();
    write(
        dir.path(),
        "app.grok",
        "# my patterns\nAPPLEVEL (?:LOW|HIGH)\nAPPLINE level=%{APPLEVEL:level} code=%{INT:code:int}\n",
    );
    write(dir.path(), "ignored.txt", "APPLINE this file is not loaded\n");
    let filter = format!(
        r#"grok {{ match => {{ "message" => "%{{APPLINE}}" }} patterns_dir => [ "{}" ] patterns_files_glob => "*.grok" }}"#,
        dir.path().display()
    );
    let got = run_filter(&filter, &[json!({"message": "level=HIGH code=7"})]);
    assert_eq!(got, [json!({"message": "level=HIGH code=7", "level": "HIGH", "code": 7})]);
}

/// `ecs_compatibility => v1` switches the library to ECS field names and types.
#[test]
fn ecs_mode_uses_ecs_field_names() {
    let got = run_filter(
        r#"grok { match => { "message" => "%{COMBINEDAPACHELOG}" } ecs_compatibility => v1 }"#,
        &[json!({"message": APACHE})],
    );
    assert_eq!(
        got,
        [json!({
            "message": APACHE,
            "source": {"address": "83.149.9.216"},
            "timestamp": "17/May/2015:10:05:03 +0000",
            "http": {"request": {"method": "GET", "referrer": "http://semicomplete.com/presentations/logstash-monitorama-2013/"},
                     "version": "1.1", "response": {"status_code": 200, "body": {"bytes": 203023}}},
            "url": {"original": "/presentations/logstash-monitorama-2013/images/kibana-search.png"},
            "user_agent": {"original": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36"}
        })]
    );
}

/// An array source is matched element by element; captures from several elements accumulate.
#[test]
fn array_sources_match_each_element() {
    let got =
        run_filter(r#"grok { match => { "codes" => "^E%{INT:code}$" } }"#, &[json!({"codes": ["E1", "x", "E22"]})]);
    assert_eq!(got, [json!({"codes": ["E1", "x", "E22"], "code": ["1", "22"]})]);
}

/// Several fields in one `match`: with the default `break_on_match`, the first field that
/// matches ends the filter.
#[test]
fn several_source_fields() {
    let got = run_filter(
        r#"grok { match => { "a" => "^%{INT:ai}$" "b" => "^%{WORD:bw}$" } }"#,
        &[json!({"a": "no", "b": "yes"}), json!({"a": "5", "b": "yes"})],
    );
    assert_eq!(got, [json!({"a": "no", "b": "yes", "bw": "yes"}), json!({"a": "5", "b": "yes", "ai": "5"})]);
}

/// `target` puts every capture under one field; timeouts options are accepted.
#[test]
fn target_and_accepted_timeout_options() {
    let got = run_filter(
        r#"grok { match => { "message" => "%{WORD:verb} %{INT:code:int}" } target => "[parsed]" timeout_millis => 500 tag_on_timeout => "_slow" }"#,
        &[json!({"message": "GET 200"})],
    );
    assert_eq!(got, [json!({"message": "GET 200", "parsed": {"verb": "GET", "code": 200}})]);
}

/// Config errors point at the problem: an unknown pattern (with a suggestion), a cycle, an
/// unknown option, a missing `match`.
#[test]
fn config_errors_are_reported_by_check() {
    let (ok, out) = check(r#"filter { grok { match => { "message" => "%{IPORHOTS:ip}" } } }"#);
    assert!(!ok);
    assert!(out.contains("IPORHOTS") && out.contains("IPORHOST"), "{out}");
    let (ok, out) = check(
        r#"filter { grok { match => { "message" => "%{A}" } pattern_definitions => { "A" => "x%{B}" "B" => "%{A}" } } }"#,
    );
    assert!(!ok);
    assert!(out.contains("refers to itself") && out.contains("A → B → A"), "{out}");
    let (ok, out) = check(r#"filter { grok { match => { "message" => "x" } brake_on_match => false } }"#);
    assert!(!ok);
    assert!(out.contains("break_on_match"), "{out}");
    let (ok, out) = check(r#"filter { grok { tag_on_failure => [] } }"#);
    assert!(!ok);
    assert!(out.contains("match"), "{out}");
}

/// A pattern that needs look-around still works, on the backtracking engine, and `-t` warns
/// about it.
#[test]
fn lookaround_patterns_work_and_are_warned_about() {
    let filter = r#"grok { match => { "message" => "(?<word>\w+)(?=;)" } }"#;
    let (ok, out) = check(&format!("filter {{ {filter} }}"));
    assert!(ok, "{out}");
    assert!(out.contains("backtracking"), "{out}");
    let got = run_filter(filter, &[json!({"message": "abc; def"})]);
    assert_eq!(got, [json!({"message": "abc; def", "word": "abc"})]);
}

/// A `:type` other than `int`/`float` leaves the value a string, as in Logstash, and `-t` says
/// so; `@timestamp` can be a source, matched as its ISO-8601 text.
#[test]
fn unknown_conversions_warn_and_timestamp_is_a_source() {
    let filter = r#"grok { match => { "message" => "%{INT:n:long}" } }"#;
    let (ok, out) = check(&format!("filter {{ {filter} }}"));
    assert!(ok, "{out}");
    assert!(out.contains("`long` leaves the value a string"), "{out}");
    assert_eq!(run_filter(filter, &[json!({"message": "12"})]), [json!({"message": "12", "n": "12"})]);
    let got = run_filter(
        r#"grok { match => { "@timestamp" => "^%{YEAR:year}-%{MONTHNUM:month}" } }"#,
        &[json!({"@timestamp": "2020-05-01T00:00:00.000Z", "message": "x"})],
    );
    assert_eq!(got, [json!({"message": "x", "year": "2020", "month": "05"})]);
}

/// Logstash's older array form, `match => ["message", "%{SYSLOGLINE}"]`, is a field followed by
/// its pattern, and gives what the hash form gives.
#[test]
fn match_in_the_older_array_form_is_a_field_then_its_pattern() {
    let line = json!({"message": "May 29 16:37:11 sadness logger[42]: hello world"});
    // SYSLOGLINE is a syslog header (timestamp, host, program[pid]:) and the rest as `message`.
    let expected = json!({
        "message": "hello world", "timestamp": "May 29 16:37:11", "logsource": "sadness", "program": "logger", "pid": "42"
    });
    let array_form = r#"grok { match => [ "message", "%{SYSLOGLINE}" ] overwrite => [ "message" ] }"#;
    assert_eq!(run_filter(array_form, std::slice::from_ref(&line)), [expected.clone()]);
    let hash_form = r#"grok { match => { "message" => "%{SYSLOGLINE}" } overwrite => [ "message" ] }"#;
    assert_eq!(run_filter(hash_form, &[line]), [expected]);
}

/// In the array form a field given again adds a pattern to its list, tried in the order
/// written: "7" is both an INT and a WORD, so the first pattern listed is the one that wins.
/// A second field's pairs keep their own place after the first field's.
#[test]
fn a_field_repeated_in_the_array_form_adds_patterns_tried_in_order() {
    let int_first = r#"grok { match => [ "message", "^%{INT:num}$", "other", "^%{WORD:o}$", "message", "^%{WORD:word}$" ] }"#;
    let events = [json!({"message": "7"}), json!({"message": "abc"}), json!({"message": "!!", "other": "x"})];
    assert_eq!(
        run_filter(int_first, &events),
        [
            json!({"message": "7", "num": "7"}),
            json!({"message": "abc", "word": "abc"}),
            json!({"message": "!!", "other": "x", "o": "x"})
        ]
    );
    let word_first = r#"grok { match => [ "message", "^%{WORD:word}$", "message", "^%{INT:num}$" ] }"#;
    assert_eq!(run_filter(word_first, &[json!({"message": "7"})]), [json!({"message": "7", "word": "7"})]);
    // Without break_on_match every pattern of the list runs, still in order.
    let all = r#"grok { match => [ "message", "^%{INT:num}$", "message", "^%{WORD:word}$" ] break_on_match => false }"#;
    assert_eq!(run_filter(all, &[json!({"message": "7"})]), [json!({"message": "7", "num": "7", "word": "7"})]);
    // Repeated `match` options in the array form concatenate, then pair up the same way.
    let repeated = r#"grok { match => [ "message", "^%{INT:num}$" ] match => [ "message", "^%{WORD:word}$" ] }"#;
    assert_eq!(
        run_filter(repeated, &[json!({"message": "7"}), json!({"message": "abc"})]),
        [json!({"message": "7", "num": "7"}), json!({"message": "abc", "word": "abc"})]
    );
}

/// An array `match` with an odd number of items has a field without a pattern: `-t` fails and
/// points at the array (line 4, column 14 is its `[`). A key repeated inside a hash, and a
/// pattern name defined twice, stay errors.
#[test]
fn an_odd_length_match_array_is_a_config_error_at_the_array() {
    let (code, out) = check_config_file(
        "input { stdin {} }\nfilter {\n  grok {\n    match => [ \"message\", \"%{INT:n}\", \"message\" ]\n  }\n}\n",
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("pipeline.conf:4:14"), "{out}");
    assert!(out.contains("option `match` given as a list must hold pairs of key and value") && out.contains("it has 3 items"), "{out}");

    let (ok, out) = check(r#"filter { grok { match => { "message" => "%{INT:n}" "message" => "%{WORD:w}" } } }"#);
    assert!(!ok, "{out}");
    assert!(out.contains("duplicate key `message` in option `match`"), "{out}");
    let (ok, out) =
        check(r#"filter { grok { match => [ "message", "%{A}" ] pattern_definitions => [ "A", "x", "A", "y" ] } }"#);
    assert!(!ok, "{out}");
    assert!(out.contains("duplicate key `A` in option `pattern_definitions`"), "{out}");
}
