//! `sluice grok`, the command-line grok debugger: captures per matching line, the longest
//! matching prefix for a line that does not match, the library listing, and exit statuses
//! 0 (all matched) / 1 (some did not) / 2 (bad expression).

mod common;
use common::*;
use serde_json::{json, Value};

fn grok(args: &[&str], stdin: &str) -> (i32, Vec<Value>, String) {
    let mut full = vec!["grok"];
    full.extend_from_slice(args);
    let out = run_with_stdin(&full, stdin.as_bytes());
    let lines = String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap()).collect();
    (out.status.code().unwrap_or(-1), lines, String::from_utf8_lossy(&out.stderr).into_owned())
}

const GOOD: &str = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#;
const BAD_BYTES: &str = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 lots "-" "curl/8""#;

/// A matching line prints its captures, named as the filter would set them.
#[test]
fn matching_lines_print_their_captures() {
    let (code, out, err) = grok(&["%{COMBINEDAPACHELOG}"], &format!("{GOOD}\n"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["matched"], true);
    let c = &out[0]["captures"];
    assert_eq!(c["clientip"], "127.0.0.1");
    assert_eq!(c["auth"], "frank");
    assert_eq!(c["timestamp"], "10/Oct/2000:13:55:36 -0700");
    assert_eq!(c["verb"], "GET");
    assert_eq!(c["request"], "/apache_pb.gif");
    assert_eq!(c["response"], "200");
    assert_eq!(c["bytes"], "2326");
    assert_eq!(c["agent"], "\"Mozilla/4.08 [en] (Win98; I ;Nav)\"");
}

/// A line that does not match shows how far the expression got: here the bytes field.
#[test]
fn a_failing_line_shows_the_longest_matching_prefix() {
    let (code, out, _) = grok(&["%{COMBINEDAPACHELOG}"], &format!("{GOOD}\n{BAD_BYTES}\n"));
    assert_eq!(code, 1);
    assert_eq!(out[0]["matched"], true);
    let bad = &out[1];
    assert_eq!(bad["line"], 2);
    assert_eq!(bad["matched"], false);
    assert_eq!(bad["unmatched_text"], r#"lots "-" "curl/8""#);
    assert!(bad["rest_of_pattern"].as_str().unwrap().contains("bytes"), "{bad}");
    assert_eq!(bad["captures"]["response"], "200");
}

/// Nested targets and conversions show as the event would hold them.
#[test]
fn nested_fields_and_conversions() {
    let (code, out, _) = grok(&["%{WORD:[http][method]} %{NUMBER:[http][status]:int}"], "GET 404\n");
    assert_eq!(code, 0);
    assert_eq!(out[0]["captures"], json!({"http": {"method": "GET", "status": 404}}));
}

/// Extra definitions and ECS names.
#[test]
fn definitions_and_ecs_mode() {
    let (code, out, _) = grok(&["--define", "ORDER=ord-%{INT}", "%{ORDER:order}"], "ord-42\n");
    assert_eq!(code, 0);
    assert_eq!(out[0]["captures"]["order"], "ord-42");
    let (code, out, _) = grok(&["--ecs-compatibility", "v8", "%{COMBINEDAPACHELOG}"], &format!("{GOOD}\n"));
    assert_eq!(code, 0);
    assert_eq!(out[0]["captures"]["source"]["address"], "127.0.0.1");
    assert_eq!(out[0]["captures"]["http"]["request"]["method"], "GET");
}

/// --list prints the library; a name prints one definition.
#[test]
fn listing_the_library() {
    let (code, _, _) = grok(&["--list"], "");
    assert_eq!(code, 0);
    let out = run_with_stdin(&["grok", "--list"], b"");
    let text = String::from_utf8_lossy(&out.stdout);
    for name in ["COMBINEDAPACHELOG", "SYSLOGLINE", "IPORHOST", "TIMESTAMP_ISO8601"] {
        assert!(text.lines().any(|l| l.starts_with(&format!("{name} "))), "{name} listed");
    }
    let out = run_with_stdin(&["grok", "--list", "IPORHOST"], b"");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("IPORHOST "));
}

/// An unknown pattern is an error (exit 2) that names it.
#[test]
fn bad_expressions_exit_two() {
    let (code, _, err) = grok(&["%{NOSUCHPATTERN}"], "x\n");
    assert_eq!(code, 2);
    assert!(err.contains("NOSUCHPATTERN"), "{err}");
}
