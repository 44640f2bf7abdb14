//! The `date` filter through the real binary: events go in on stdin as JSON lines, come out of a
//! `file` output, and every expected instant is computed here by hand — split the text, look
//! the month up, count days from the epoch — never by the code under test.

mod common;
use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

// ---------------------------------------------------------------------------------------------
// Running sluice
// ---------------------------------------------------------------------------------------------

/// Run `filter { <filters> }` over `events` and return what the file output wrote.
fn run(filters: &str, events: &[Value]) -> Vec<Value> {
    run_with_env(filters, events, &[("TZ", "UTC")])
}

fn run_with_env(filters: &str, events: &[Value], env: &[(&str, &str)]) -> Vec<Value> {
    let dir = temp_dir();
    let out = dir.path().join("out.jsonl");
    let config = format!(
        "input {{ stdin {{ codec => json_lines }} }}\nfilter {{\n{filters}\n}}\noutput {{ file {{ path => \"{}\" }} }}\n",
        out.display()
    );
    let mut input = Vec::new();
    for e in events {
        input.extend_from_slice(e.to_string().as_bytes());
        input.push(b'\n');
    }
    let mut cmd = sluice();
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd
        .args(["-e", &config, "--path.data", dir.path().to_str().unwrap(), "-w", "1", "--log.level", "warn"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start sluice");
    let mut child = child;
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(&input).expect("write events");
    }
    let result = wait_output(child, std::time::Duration::from_secs(120));
    assert!(result.status.success(), "sluice failed: {}", String::from_utf8_lossy(&result.stderr));
    let got = read_jsonl(&out);
    assert_eq!(got.len(), events.len(), "every event comes out");
    got
}

fn tags(e: &Value) -> Vec<&str> {
    e.get("tags").and_then(Value::as_array).map(|t| t.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

fn ts(e: &Value) -> &str {
    e["@timestamp"].as_str().expect("@timestamp is a string")
}

// ---------------------------------------------------------------------------------------------
// An independent calendar: civil dates to epoch days and back (proleptic Gregorian)
// ---------------------------------------------------------------------------------------------

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

/// Epoch milliseconds as Logstash prints `@timestamp`: `2015-05-17T10:05:03.000Z`.
fn iso_millis(ms: i64) -> String {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (y, m, d) = civil_from_days(days);
    let (h, mi, s, milli) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// A local wall-clock time at a fixed offset east of UTC, as epoch milliseconds.
fn local_to_ms(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64, offset_east_secs: i64) -> i64 {
    (days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset_east_secs) * 1000
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

fn month_number(name: &str) -> i64 {
    MONTHS.iter().position(|m| *m == name).expect("an English month abbreviation") as i64 + 1
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn corpus(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus").join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipping: the log corpus is not at {}", p.display());
        None
    }
}

/// `17/May/2015:10:05:03 +0200` read by hand: split on '/', ':' and ' '.
fn apache_date_ms(text: &str) -> i64 {
    let (stamp, zone) = text.split_once(' ').expect("date and zone");
    let parts: Vec<&str> = stamp.split(['/', ':']).collect();
    assert_eq!(parts.len(), 6, "{text}");
    let n = |s: &str| s.parse::<i64>().expect("digits");
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let offset = sign * (n(&zone[1..3]) * 3600 + n(&zone[3..5]) * 60);
    local_to_ms(n(parts[2]), month_number(parts[1]), n(parts[0]), n(parts[3]), n(parts[4]), n(parts[5]), offset)
}

fn bracketed(line: &str) -> Option<&str> {
    let start = line.find('[')? + 1;
    let end = start + line[start..].find(']')?;
    Some(&line[start..end])
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

/// The reference pipeline's Apache date: every line of the Apache access-log corpus gets an
/// `@timestamp` equal to its bracketed date, read here by hand, offsets included.
#[test]
fn apache_access_log_dates_become_the_timestamp() {
    let mut events = Vec::new();
    let mut expected = Vec::new();
    for rel in [
        "elastic-examples/apache_logs",
        "elastic-beats/apache-access/test.log",
        "elastic-beats/apache-access/darwin-2.4.23.log",
        "elastic-beats/apache-access/ssl-request.log",
        "elastic-beats/apache-access/test-vhost.log",
        "elastic-beats/nginx-access/test-with-host.log",
    ] {
        let Some(path) = corpus(rel) else { return };
        let text = std::fs::read_to_string(path).unwrap();
        for line in text.lines() {
            let Some(date) = bracketed(line) else { continue };
            if date.len() != 26 {
                continue; // not an access-log date (an IPv6 host in brackets...)
            }
            events.push(json!({ "timestamp": date }));
            expected.push(iso_millis(apache_date_ms(date)));
        }
    }
    assert!(events.len() > 10_000, "the corpus has the Apache lines");
    assert!(expected.iter().any(|e| e.starts_with("2015-05-17T10:05:03")), "the first line is there");
    let got = run(r#"date { match => [ "timestamp", "dd/MMM/yyyy:HH:mm:ss Z" ] }"#, &events);
    for (i, (g, want)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(ts(g), want, "event {i}: {}", events[i]);
        assert!(tags(g).is_empty(), "event {i} is not tagged: {g}");
    }
}

/// Syslog dates carry no year and no zone: the year is the one that puts the event nearest to
/// now (so a line from three days ago in early January is last year's), the zone is
/// `timezone`. Both the space-padded `MMM  d` and the `MMM dd` forms are read.
#[test]
fn syslog_dates_take_the_nearest_year_and_the_configured_zone() {
    let now = now_ms();
    let mut events = Vec::new();
    let mut wall_clocks = Vec::new();
    let (y, m, _) = civil_from_days(now.div_euclid(86_400_000));
    // Three days ago, two days ahead (clock skew), and single-digit days of this month.
    let mut days: Vec<i64> = vec![now.div_euclid(86_400_000) - 3, now.div_euclid(86_400_000) + 2];
    days.push(days_from_civil(y, m, 1));
    days.push(days_from_civil(y, m, 7));
    for (i, day) in days.into_iter().enumerate() {
        let (yy, mm, dd) = civil_from_days(day);
        let (h, mi, s) = (9 + i as i64, 8, 7);
        let text = format!("{} {:>2} {:02}:{:02}:{:02}", MONTHS[mm as usize - 1], dd, h, mi, s);
        events.push(json!({ "logdate": text, "n": i }));
        wall_clocks.push((yy, mm, dd, h, mi, s));
    }
    assert!(events.iter().any(|e| e["logdate"].as_str().unwrap().contains("  ")), "a space-padded day is tested");

    // Asia/Tokyo has had no daylight-saving time since 1951: always 9 hours east.
    let got = run(
        r#"date { match => [ "logdate", "MMM  d HH:mm:ss", "MMM dd HH:mm:ss" ] timezone => "Asia/Tokyo" }"#,
        &events,
    );
    for (g, &(yy, mm, dd, h, mi, s)) in got.iter().zip(&wall_clocks) {
        assert_eq!(ts(g), iso_millis(local_to_ms(yy, mm, dd, h, mi, s, 9 * 3600)), "{g}");
    }
    // A fixed offset that no whole-hour zone spells.
    let got = run(r#"date { match => [ "logdate", "MMM  d HH:mm:ss", "MMM dd HH:mm:ss" ] timezone => "+05:30" }"#, &events);
    for (g, &(yy, mm, dd, h, mi, s)) in got.iter().zip(&wall_clocks) {
        assert_eq!(ts(g), iso_millis(local_to_ms(yy, mm, dd, h, mi, s, 5 * 3600 + 1800)), "{g}");
    }
}

/// A named zone follows daylight-saving time: noon in Paris is 11:00 UTC in January (CET) and
/// 10:00 UTC in July (CEST).
#[test]
fn named_zones_follow_daylight_saving_time() {
    let events = [json!({"d": "2024-01-15 12:00:00"}), json!({"d": "2024-07-15 12:00:00"})];
    let got = run(r#"date { match => [ "d", "yyyy-MM-dd HH:mm:ss" ] timezone => "Europe/Paris" }"#, &events);
    assert_eq!(ts(&got[0]), iso_millis(local_to_ms(2024, 1, 15, 12, 0, 0, 3600)));
    assert_eq!(ts(&got[1]), iso_millis(local_to_ms(2024, 7, 15, 12, 0, 0, 7200)));
}

/// Without `timezone`, a date without a zone is read in the machine's zone (`TZ`), as
/// Logstash reads it in the JVM's default zone.
#[test]
fn without_timezone_the_machine_zone_applies() {
    let events = [json!({"d": "2024-01-15 12:00:00"})];
    let filter = r#"date { match => [ "d", "yyyy-MM-dd HH:mm:ss" ] }"#;
    let tokyo = run_with_env(filter, &events, &[("TZ", "Asia/Tokyo")]);
    assert_eq!(ts(&tokyo[0]), iso_millis(local_to_ms(2024, 1, 15, 12, 0, 0, 9 * 3600)));
    let utc = run_with_env(filter, &events, &[("TZ", "UTC")]);
    assert_eq!(ts(&utc[0]), "2024-01-15T12:00:00.000Z");
}

/// ISO8601 from the syslog corpus: `+0400`, `+04:00`, microseconds (Logstash keeps
/// milliseconds, dropping the rest), and no zone at all (then `timezone` applies).
#[test]
fn iso8601_timestamps_from_the_corpus() {
    let Some(path) = corpus("elastic-beats/system-syslog/tz-offset.log") else { return };
    let text = std::fs::read_to_string(path).unwrap();
    let stamps: Vec<&str> = text.lines().filter_map(|l| l.split(' ').next()).filter(|s| s.len() >= 19).collect();
    assert!(stamps.len() >= 3, "{stamps:?}");
    let events: Vec<Value> = stamps.iter().map(|s| json!({ "ts": s })).collect();
    let got = run(r#"date { match => [ "ts", "ISO8601" ] timezone => "Asia/Tokyo" }"#, &events);
    for (g, stamp) in got.iter().zip(&stamps) {
        // By hand: date, time, fraction, zone.
        let n = |s: &str| s.parse::<i64>().unwrap();
        let (date, rest) = stamp.split_at(10);
        let rest = &rest[1..];
        let (clock, zone) = match rest.find(['+', '-', 'Z']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
        let millis = n(&format!("{:0<3}", &frac[..frac.len().min(3)]));
        let offset = match zone {
            "" => 9 * 3600,
            "Z" => 0,
            z => {
                let digits: String = z[1..].chars().filter(|c| *c != ':').collect();
                let secs = n(&digits[..2]) * 3600 + n(&digits[2..4]) * 60;
                if z.starts_with('-') {
                    -secs
                } else {
                    secs
                }
            }
        };
        let d: Vec<&str> = date.split('-').collect();
        let t: Vec<&str> = hms.split(':').collect();
        let ms = local_to_ms(n(d[0]), n(d[1]), n(d[2]), n(t[0]), n(t[1]), n(t[2]), offset) + millis;
        assert_eq!(ts(g), iso_millis(ms), "{stamp}");
    }
    assert!(got.iter().any(|g| ts(g).ends_with(".388Z")), "microseconds are cut to milliseconds");
}

/// `UNIX` reads seconds (integer, float, or text with a fraction), `UNIX_MS` milliseconds, from
/// JSON numbers and strings alike.
#[test]
fn unix_seconds_and_milliseconds() {
    // 1_700_000_000 s = 19_675 days + 80_000 s; day 19_675 is 2023-11-14, 80_000 s is 22:13:20.
    assert_eq!(days_from_civil(2023, 11, 14), 19_675);
    let base = "2023-11-14T22:13:20";
    let events = [
        json!({"t": 1_700_000_000}),
        json!({"t": "1700000000"}),
        json!({"t": "1700000000.123"}),
        json!({"t": 1_700_000_000.5}),
        json!({"ms": 1_700_000_000_123_i64}),
        json!({"ms": "1700000000123"}),
    ];
    let got = run(
        r#"date { match => [ "t", "UNIX" ] }
           date { match => [ "ms", "UNIX_MS" ] }"#,
        &events,
    );
    let want = [".000Z", ".000Z", ".123Z", ".500Z", ".123Z", ".123Z"];
    for (g, w) in got.iter().zip(want) {
        assert_eq!(ts(g), format!("{base}{w}"), "{g}");
        assert!(tags(g).is_empty(), "{g}");
    }
}

/// TAI64N labels: 2^62 plus the TAI seconds (Logstash takes TAI as 10 s ahead of UTC), then
/// nanoseconds, in hex, with or without the leading `@`.
#[test]
fn tai64n_labels() {
    let label = "4000000037c219bf2ef02e94";
    let secs = i64::from_str_radix(&label[..16], 16).unwrap() - (1 << 62) - 10;
    let nanos = i64::from_str_radix(&label[16..], 16).unwrap();
    let want = iso_millis(secs * 1000 + nanos / 1_000_000);
    assert_eq!(want, "1999-08-24T04:04:05.787Z");
    let events = [json!({"t": format!("@{label}")}), json!({"t": label})];
    let got = run(r#"date { match => [ "t", "TAI64N" ] }"#, &events);
    assert_eq!(ts(&got[0]), want);
    assert_eq!(ts(&got[1]), want);
}

/// With `locale => "fr"` month and day names are read in French; the English default does
/// not read them.
#[test]
fn french_month_names_with_locale_fr() {
    let events = [
        json!({"d": "12 févr. 2024 10:00:00"}),
        json!({"d": "3 août 2023 23:59:58"}),
        json!({"d": "mardi 5 mars 2024 08:00:00"}),
    ];
    let got = run(
        r#"date { match => [ "d", "d MMM yyyy HH:mm:ss", "EEEE d MMMM yyyy HH:mm:ss" ] locale => "fr" timezone => "UTC" }"#,
        &events,
    );
    assert_eq!(ts(&got[0]), "2024-02-12T10:00:00.000Z");
    assert_eq!(ts(&got[1]), "2023-08-03T23:59:58.000Z");
    assert_eq!(ts(&got[2]), "2024-03-05T08:00:00.000Z");
    let english = run(r#"date { match => [ "d", "d MMM yyyy HH:mm:ss" ] timezone => "UTC" }"#, &events[..1]);
    assert_eq!(tags(&english[0]), ["_dateparsefailure"]);
}

/// A `target` other than `@timestamp` receives the date as ISO8601 text with milliseconds,
/// and `@timestamp` is left alone.
#[test]
fn another_target_gets_iso8601_text() {
    let before = now_ms();
    let events = [json!({"d": "17/May/2015:10:05:03 +0200"})];
    let got = run(r#"date { match => [ "d", "dd/MMM/yyyy:HH:mm:ss Z" ] target => "[event][created]" }"#, &events);
    assert_eq!(got[0]["event"]["created"], json!("2015-05-17T08:05:03.000Z"));
    let year: i64 = ts(&got[0])[..4].parse().unwrap();
    let (this_year, _, _) = civil_from_days(before.div_euclid(86_400_000));
    assert!(year >= this_year, "@timestamp is still the arrival time: {}", got[0]);
}

/// Formats are tried in the order given and the first that reads the value wins: the same
/// text read with the formats the other way round gives another date.
#[test]
fn formats_are_tried_in_order() {
    let events = [
        json!({"d": "2024-03-01"}),
        json!({"d": "17/May/2015:10:05:03 +0000"}),
        json!({"d": "1700000000"}),
    ];
    let got = run(r#"date { match => [ "d", "yyyy-dd-MM", "yyyy-MM-dd", "dd/MMM/yyyy:HH:mm:ss Z", "UNIX" ] timezone => "UTC" }"#, &events);
    assert_eq!(ts(&got[0]), "2024-01-03T00:00:00.000Z", "yyyy-dd-MM came first");
    assert_eq!(ts(&got[1]), "2015-05-17T10:05:03.000Z");
    assert_eq!(ts(&got[2]), "2023-11-14T22:13:20.000Z");
    let swapped = run(r#"date { match => [ "d", "yyyy-MM-dd", "yyyy-dd-MM" ] timezone => "UTC" }"#, &events[..1]);
    assert_eq!(ts(&swapped[0]), "2024-03-01T00:00:00.000Z");
}

/// A value no format reads is tagged `_dateparsefailure` (or the `tag_on_failure` tags) and
/// keeps its arrival time; `add_tag` applies only on success; an absent field is left alone,
/// untagged; a list is read by its first element.
#[test]
fn failures_are_tagged_and_absent_fields_ignored() {
    let events = [
        json!({"d": "not a date"}),
        json!({"other": 1}),
        json!({"d": "17/May/2015:10:05:03 +0000"}),
        json!({"d": ["17/May/2015:10:05:03 +0000", "garbage"]}),
        json!({"d": ""}),
        json!({"d": {"nested": true}}),
    ];
    let got = run(r#"date { match => [ "d", "dd/MMM/yyyy:HH:mm:ss Z" ] add_tag => [ "dated" ] }"#, &events);
    assert_eq!(tags(&got[0]), ["_dateparsefailure"]);
    assert!(ts(&got[0]) > "2020", "arrival time kept: {}", got[0]);
    assert!(tags(&got[1]).is_empty(), "absent field: {}", got[1]);
    assert_eq!(tags(&got[2]), ["dated"]);
    assert_eq!(ts(&got[2]), "2015-05-17T10:05:03.000Z");
    assert_eq!(ts(&got[3]), "2015-05-17T10:05:03.000Z", "first element of a list");
    assert_eq!(tags(&got[4]), ["_dateparsefailure"]);
    assert_eq!(tags(&got[5]), ["_dateparsefailure"]);

    let custom = run(
        r#"date { match => [ "d", "dd/MMM/yyyy:HH:mm:ss Z" ] tag_on_failure => [ "bad_date", "check_me" ] }"#,
        &events[..1],
    );
    assert_eq!(tags(&custom[0]), ["bad_date", "check_me"]);
}

/// `timezone => "%{tz}"` is read from each event; a zone that does not exist is a failure.
#[test]
fn timezone_from_the_event() {
    let events = [
        json!({"d": "2024-01-15 12:00:00", "tz": "Asia/Tokyo"}),
        json!({"d": "2024-01-15 12:00:00", "tz": "-03:30"}),
        json!({"d": "2024-01-15 12:00:00", "tz": "Mars/Olympus_Mons"}),
    ];
    let got = run(r#"date { match => [ "d", "yyyy-MM-dd HH:mm:ss" ] timezone => "%{tz}" }"#, &events);
    assert_eq!(ts(&got[0]), iso_millis(local_to_ms(2024, 1, 15, 12, 0, 0, 9 * 3600)));
    assert_eq!(ts(&got[1]), iso_millis(local_to_ms(2024, 1, 15, 12, 0, 0, -(3 * 3600 + 1800))));
    assert_eq!(tags(&got[2]), ["_dateparsefailure"]);
}

/// Configuration mistakes are found by `-t`, at the line and column of the option.
#[test]
fn bad_configurations_fail_the_check_with_a_position() {
    let (code, text) = check_config_file("input { stdin {} }\nfilter {\n  date { match => [ \"ts\", \"yyyy-MM-dd qq\" ] }\n}\n");
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("pipeline.conf:3:19"), "{text}");
    assert!(text.contains("yyyy-MM-dd qq"), "{text}");

    let (code, text) = check_config_file("input { stdin {} }\nfilter {\n  date { match => [ \"ts\", \"dd MMM\" ] locale => \"xx\" }\n}\n");
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("pipeline.conf:3:48") && text.contains("locale"), "{text}");

    let (code, text) = check_config_file("input { stdin {} }\nfilter {\n  date { match => [ \"ts\", \"ISO8601\" ] timezone => \"europe/paris\" }\n}\n");
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("pipeline.conf:3:51") && text.contains("did you mean `Europe/Paris`"), "{text}");

    let (code, text) = check_config_file("input { stdin {} }\nfilter {\n  date { match => [ \"ts\" ] }\n}\n");
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("at least one date format"), "{text}");

    let (code, text) = check_config_file("input { stdin {} }\nfilter {\n  date { match => [ \"ts\", \"ISO8601\" ] targte => \"x\" }\n}\n");
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("did you mean `target`"), "{text}");

    let (code, text) = check_config_file(
        "input { stdin {} }\nfilter {\n  date { match => [ \"ts\", \"dd/MMM/yyyy:HH:mm:ss Z\", \"ISO8601\" ] timezone => \"Europe/Paris\" locale => \"en\" target => \"@timestamp\" tag_on_failure => [\"x\"] }\n}\n",
    );
    assert_eq!(code, 0, "{text}");
}
