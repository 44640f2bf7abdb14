//! The built-in grok library, pattern by pattern.
//!
//! `tests/data/grok/examples.txt` holds, for every name the library defines, texts the pattern
//! must match whole and texts it must not; the examples were written from what each log format
//! looks like (the formats' documentation and real lines), not from the patterns. A name
//! without both kinds of example fails the coverage test, so a new pattern needs examples.
//! Further tests check the fields that the most used patterns capture, in both naming modes.

use serde_json::{json, Value};
use sluice::filters::grok::{compile_pattern, library, library::builtin_files, EcsMode, PatternLibrary};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug)]
struct Example {
    line: usize,
    name: String,
    positive: bool,
    /// `None`: both modes.
    mode: Option<EcsMode>,
    text: String,
}

fn examples() -> Vec<Example> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/grok/examples.txt");
    let text = std::fs::read_to_string(path).expect("examples.txt");
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, rest) = line.split_once(' ').unwrap_or_else(|| panic!("line {}: no sign", n + 1));
        let (sign, text) = rest.split_once(' ').unwrap_or((rest, ""));
        let (positive, mode) = match sign {
            "+" => (true, None),
            "-" => (false, None),
            "+legacy" => (true, Some(EcsMode::Disabled)),
            "-legacy" => (false, Some(EcsMode::Disabled)),
            "+ecs" => (true, Some(EcsMode::V1)),
            "-ecs" => (false, Some(EcsMode::V1)),
            other => panic!("line {}: bad sign {other:?}", n + 1),
        };
        let text = text.replace("<TAB>", "\t").replace("<NL>", "\n");
        out.push(Example { line: n + 1, name: name.to_string(), positive, mode, text });
    }
    out
}

fn modes() -> [(EcsMode, &'static PatternLibrary); 2] {
    [(EcsMode::Disabled, library(EcsMode::Disabled)), (EcsMode::V1, library(EcsMode::V1))]
}

/// Every example behaves as its sign says, in each mode it applies to and that defines it.
#[test]
fn every_example_matches_or_fails_as_written() {
    let mut failures = Vec::new();
    for ex in examples() {
        for (mode, lib) in modes() {
            if ex.mode.is_some_and(|m| m != mode) || !lib.contains(&ex.name) {
                continue;
            }
            let grok = match compile_pattern(&format!("\\A%{{{}}}\\z", ex.name), lib) {
                Ok(g) => g,
                Err(e) => {
                    failures.push(format!("line {} {} ({mode:?}): does not compile: {e}", ex.line, ex.name));
                    continue;
                }
            };
            if grok.is_match(&ex.text) != ex.positive {
                failures.push(format!(
                    "line {} {} ({mode:?}) should {}match {:?}",
                    ex.line,
                    ex.name,
                    if ex.positive { "" } else { "not " },
                    ex.text
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{} example(s) wrong:\n{}", failures.len(), failures.join("\n"));
}

/// Every name of either mode has a positive and a negative example that apply to that mode.
#[test]
fn every_pattern_has_a_positive_and_a_negative_example() {
    let exs = examples();
    let mut missing = Vec::new();
    for (mode, lib) in modes() {
        for name in lib.names() {
            let applies = |e: &&Example| e.name == name && e.mode.map_or(true, |m| m == mode);
            let pos = exs.iter().filter(applies).any(|e| e.positive);
            let neg = exs.iter().filter(applies).any(|e| !e.positive);
            if !pos || !neg {
                missing.push(format!(
                    "{name} ({mode:?}): {}{}",
                    if pos { "" } else { "no positive " },
                    if neg { "" } else { "no negative" }
                ));
            }
        }
    }
    let defined: BTreeSet<&str> = modes().iter().flat_map(|(_, l)| l.names()).collect();
    let unknown: BTreeSet<&str> = exs.iter().map(|e| e.name.as_str()).filter(|n| !defined.contains(n)).collect();
    assert!(missing.is_empty(), "patterns without examples:\n{}", missing.join("\n"));
    assert!(unknown.is_empty(), "examples for names the library does not define: {unknown:?}");
}

/// The library files parse, no name is defined twice within a mode, and every name compiles.
#[test]
fn library_files_are_well_formed_and_every_name_compiles() {
    for mode in [EcsMode::Disabled, EcsMode::V1] {
        let mut seen: BTreeMap<String, &str> = BTreeMap::new();
        for (source, text) in builtin_files(mode) {
            let defs = sluice::filters::grok::library::parse(text, source).unwrap_or_else(|e| panic!("{e}"));
            for (name, _, line) in defs {
                if let Some(first) = seen.insert(name.clone(), source) {
                    panic!("{source}:{line}: {name} is already defined in {first} ({mode:?})");
                }
            }
        }
        let lib = library(mode);
        for name in lib.names() {
            let g = compile_pattern(&format!("%{{{name}}}"), lib).unwrap_or_else(|e| panic!("{name} ({mode:?}): {e}"));
            assert!(!g.uses_backtracking(), "{name} ({mode:?}) needs the backtracking engine");
        }
    }
}

/// The names Logstash users rely on are all there, in both modes.
#[test]
fn the_names_users_rely_on_are_defined() {
    let required = "USERNAME USER EMAILLOCALPART EMAILADDRESS INT NUMBER BASE10NUM BASE16NUM BASE16FLOAT POSINT NONNEGINT WORD \
        NOTSPACE SPACE DATA GREEDYDATA QUOTEDSTRING QS UUID URN MAC CISCOMAC WINDOWSMAC COMMONMAC IP IPV4 IPV6 HOSTNAME \
        IPORHOST HOSTPORT PATH UNIXPATH TTY WINPATH URIPROTO URIHOST URIPATH URIPARAM URIPATHPARAM URI MONTH MONTHNUM \
        MONTHNUM2 MONTHDAY DAY YEAR HOUR MINUTE SECOND TIME DATE_US DATE_EU ISO8601_TIMEZONE ISO8601_SECOND \
        TIMESTAMP_ISO8601 DATE DATESTAMP TZ DATESTAMP_RFC822 DATESTAMP_RFC2822 DATESTAMP_OTHER DATESTAMP_EVENTLOG HTTPDATE \
        SYSLOGTIMESTAMP PROG SYSLOGPROG SYSLOGHOST SYSLOGFACILITY LOGLEVEL HTTPDUSER HTTPDERROR_DATE COMMONAPACHELOG \
        COMBINEDAPACHELOG HTTPD_COMMONLOG HTTPD_COMBINEDLOG HTTPD20_ERRORLOG HTTPD24_ERRORLOG HTTPD_ERRORLOG SYSLOGBASE \
        SYSLOGLINE SYSLOG5424PRI SYSLOG5424SD SYSLOG5424BASE SYSLOG5424LINE SYSLOG5424PRINTASCII SYSLOGPAMSESSION \
        CRON_ACTION CRONLOG JAVACLASS JAVAFILE JAVAMETHOD JAVASTACKTRACEPART JAVATHREAD JAVALOGMESSAGE CATALINA_DATESTAMP \
        TOMCAT_DATESTAMP CATALINALOG TOMCATLOG HAPROXYTIME HAPROXYDATE HAPROXYCAPTUREDREQUESTHEADERS \
        HAPROXYCAPTUREDRESPONSEHEADERS HAPROXYHTTPBASE HAPROXYHTTP HAPROXYTCP ELB_ACCESS_LOG ELB_URI ELB_URIPATHPARAM \
        ELB_REQUEST_LINE S3_ACCESS_LOG S3_REQUEST_LINE CLOUDFRONT_ACCESS_LOG POSTGRESQL REDISTIMESTAMP REDISLOG REDISMONLOG \
        MONGO_LOG MONGO3_LOG MONGO_SLOWQUERY MONGO_QUERY MONGO_WORDDASH MONGO3_SEVERITY MONGO3_COMPONENT BIND9 SQUID3 \
        EXIM_MSGID EXIM_FLAGS EXIM_DATE EXIM_PID EXIM_QT EXIM_EXCLUDE_TERMS EXIM_REMOTE_HOST EXIM_INTERFACE EXIM_PROTOCOL \
        EXIM_MSG_SIZE EXIM_HEADER_ID EXIM_SUBJECT RAILS3 RAILS3HEAD RAILS3FOOT RAILS3PROFILE RCONTROLLER RPROCESSING RUUID \
        RUBY_LOGGER RUBY_LOGLEVEL MAVEN_VERSION MCOLLECTIVE MCOLLECTIVEAUDIT RT_FLOW1 RT_FLOW2 RT_FLOW3 RT_FLOW_EVENT \
        CISCO_TAGGED_SYSLOG CISCOTIMESTAMP CISCOTAG CISCOFW106001 CISCOFW106023 CISCOFW302013_302014_302015_302016 \
        NETSCREENSESSIONLOG SHOREWALL SFW2 BACULA_TIMESTAMP BACULA_LOGLINE";
    for (mode, lib) in modes() {
        let missing: Vec<&str> = required.split_whitespace().filter(|n| !lib.contains(n)).collect();
        assert!(missing.is_empty(), "{mode:?} lacks {missing:?}");
    }
}

fn fields(mode: EcsMode, pattern: &str, text: &str) -> BTreeMap<String, Value> {
    let g = compile_pattern(pattern, library(mode)).unwrap_or_else(|e| panic!("{pattern}: {e}"));
    let caps = g.captures(text).unwrap_or_else(|| panic!("{pattern} ({mode:?}) does not match {text:?}"));
    let mut out = BTreeMap::new();
    for (k, v) in caps {
        // A field captured twice becomes a list, as on the event.
        match out.remove(&k) {
            None => {
                out.insert(k, v);
            }
            Some(Value::Array(mut list)) => {
                list.push(v);
                out.insert(k, Value::Array(list));
            }
            Some(first) => {
                out.insert(k, Value::Array(vec![first, v]));
            }
        }
    }
    out
}

fn expect(got: &BTreeMap<String, Value>, want: Value) {
    let want: BTreeMap<String, Value> = serde_json::from_value(want).unwrap();
    assert_eq!(got, &want);
}

const APACHE: &str = r#"83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /presentations/logstash-monitorama-2013/images/kibana-search.png HTTP/1.1" 200 203023 "http://semicomplete.com/presentations/logstash-monitorama-2013/" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36""#;

/// COMBINEDAPACHELOG in legacy mode: Logstash's field names, everything a string, referrer and
/// agent with their quotes.
#[test]
fn combined_apache_log_legacy_fields() {
    expect(
        &fields(EcsMode::Disabled, "%{COMBINEDAPACHELOG}", APACHE),
        json!({
            "clientip": "83.149.9.216", "ident": "-", "auth": "-", "timestamp": "17/May/2015:10:05:03 +0000",
            "verb": "GET", "request": "/presentations/logstash-monitorama-2013/images/kibana-search.png",
            "httpversion": "1.1", "response": "200", "bytes": "203023",
            "referrer": "\"http://semicomplete.com/presentations/logstash-monitorama-2013/\"",
            "agent": "\"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36\""
        }),
    );
    let raw = fields(EcsMode::Disabled, "%{COMMONAPACHELOG}", r#"::1 - - [26/Dec/2016:16:16:48 +0200] "-" 408 -"#);
    expect(
        &raw,
        json!({"clientip": "::1", "ident": "-", "auth": "-", "timestamp": "26/Dec/2016:16:16:48 +0200", "rawrequest": "-", "response": "408"}),
    );
}

/// COMBINEDAPACHELOG in ECS mode: nested ECS fields, status and size as integers, no quotes.
#[test]
fn combined_apache_log_ecs_fields() {
    expect(
        &fields(EcsMode::V1, "%{COMBINEDAPACHELOG}", APACHE),
        json!({
            "[source][address]": "83.149.9.216", "timestamp": "17/May/2015:10:05:03 +0000",
            "[http][request][method]": "GET", "[url][original]": "/presentations/logstash-monitorama-2013/images/kibana-search.png",
            "[http][version]": "1.1", "[http][response][status_code]": 200, "[http][response][body][bytes]": 203023,
            "[http][request][referrer]": "http://semicomplete.com/presentations/logstash-monitorama-2013/",
            "[user_agent][original]": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36"
        }),
    );
}

/// Syslog headers in both modes.
#[test]
fn syslog_fields_in_both_modes() {
    let line = "Feb 21 21:54:44 localhost sshd[3402]: Accepted publickey for vagrant from 10.0.2.2 port 63673 ssh2";
    expect(
        &fields(EcsMode::Disabled, "%{SYSLOGLINE}", line),
        json!({"timestamp": "Feb 21 21:54:44", "logsource": "localhost", "program": "sshd", "pid": "3402",
               "message": "Accepted publickey for vagrant from 10.0.2.2 port 63673 ssh2"}),
    );
    expect(
        &fields(EcsMode::V1, "%{SYSLOGLINE}", line),
        json!({"timestamp": "Feb 21 21:54:44", "[host][hostname]": "localhost", "[process][name]": "sshd", "[process][pid]": 3402,
               "message": "Accepted publickey for vagrant from 10.0.2.2 port 63673 ssh2"}),
    );
    let pri =
        "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed for lonvick on /dev/pts/8";
    expect(
        &fields(EcsMode::Disabled, "%{SYSLOG5424LINE}", pri),
        json!({"syslog5424_pri": "34", "syslog5424_ver": "1", "syslog5424_ts": "2003-10-11T22:14:15.003Z",
               "syslog5424_host": "mymachine.example.com", "syslog5424_app": "su", "syslog5424_msgid": "ID47",
               "syslog5424_msg": "'su root' failed for lonvick on /dev/pts/8"}),
    );
    expect(
        &fields(EcsMode::V1, "%{SYSLOG5424LINE}", pri),
        json!({"[log][syslog][priority]": 34, "[system][syslog][version]": "1", "timestamp": "2003-10-11T22:14:15.003Z",
               "[host][hostname]": "mymachine.example.com", "[process][name]": "su", "[event][code]": "ID47",
               "message": "'su root' failed for lonvick on /dev/pts/8"}),
    );
}

/// Patterns that capture one field twice produce a list, as Logstash's BIND9 does with `query`.
#[test]
fn a_field_captured_twice_becomes_a_list() {
    let line = "17-Feb-2018 23:06:56.326 queries: info: client 172.26.0.1#12345 (test.example.com): query: test.example.com IN A +E(0)K (172.26.0.3)";
    let got = fields(EcsMode::Disabled, "%{BIND9}", line);
    assert_eq!(got["query"], json!(["test.example.com", "test.example.com"]));
    assert_eq!(got["querytype"], json!("A +E(0)K"));
    let got = fields(EcsMode::V1, "%{BIND9}", line);
    assert_eq!(got["[dns][question][type]"], json!("A"));
    assert_eq!(got["[bind][log][question][flags]"], json!("+E(0)K"));
    assert_eq!(got["[client][port]"], json!(12345));
}

/// IPv6 alternatives prefer the longest address: a compressed address is never cut short.
#[test]
fn ipv6_addresses_are_matched_whole_inside_longer_text() {
    for addr in [
        "2001:db8::ff00:42:8329",
        "fe80::1",
        "::ffff:192.0.2.128",
        "1:2:3:4:5:6:7::",
        "64:ff9b::192.0.2.33",
        "a::b:c:d",
    ] {
        let got = fields(EcsMode::Disabled, "%{IP:ip} %{WORD:w}", &format!("{addr} end"));
        assert_eq!(got["ip"], json!(addr), "{addr}");
    }
}
