//! `sluice -t`: valid configs pass, broken ones fail with file:line:column, the offending line,
//! a caret under the spot, and what was expected — exit code 1.

mod common;
use common::*;

/// Every plugin of the core, with their options, in one valid config.
#[test]
fn a_config_of_core_plugins_is_accepted() {
    let (code, text) = check_config_file(
        r#"
        # comments anywhere
        input {
          stdin { codec => line }
          tcp { port => 5000 codec => json_lines max_line_bytes => 65536 tags => ["tcp"] type => "app" add_field => { "env" => "prod" } }
          generator { count => 10 lines => ["a", "b"] id => "gen" }
        }
        filter {
          if [fields][service] == "application" and [level] =~ /^ERR/ {
            json { source => "message" target => "parsed" skip_on_invalid_json => true }
          } else if "x" in [tags] or ![foo] {
            mutate { convert => { "n" => "integer" } gsub => ["msg", "\s+", " "] add_tag => ["t"] }
          } else {
            drop { percentage => 50 }
          }
        }
        output {
          stdout { codec => rubydebug { metadata => true } }
          file { path => "/tmp/out-%{+YYYY.MM.dd}.log" codec => json_lines }
          if [type] != "app" { null {} }
        }
        "#,
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Configuration OK"), "{text}");
}

/// A missing `=>` is reported at the spot, with the line and a caret.
#[test]
fn syntax_error_points_at_line_and_column() {
    let (code, text) = check_config_file("input {\n  tcp {\n    port 5000\n  }\n}\n");
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("pipeline.conf:3:10"), "{text}");
    assert!(text.contains("    port 5000"), "the offending line is shown: {text}");
    assert!(text.contains("=>"), "says what was expected: {text}");
    let caret_line = text.lines().find(|l| l.trim_end().ends_with('^')).expect("a caret line");
    assert_eq!(caret_line.find('^'), text.lines().find(|l| l.contains("port 5000")).unwrap().find("5000"), "{text}");
}

/// An unknown plugin gets a "did you mean".
#[test]
fn unknown_plugin_suggests_the_closest_name() {
    let (code, text) = check_config_file("input { stdin {} }\nfilter { mutat { } }\n");
    assert_eq!(code, 1);
    assert!(text.contains("pipeline.conf:2:10"), "{text}");
    assert!(text.contains("unknown filter plugin `mutat`") && text.contains("did you mean `mutate`"), "{text}");
}

/// An unknown option is an error at -t time, with the closest known option.
#[test]
fn unknown_option_suggests_the_closest_name() {
    let (code, text) = check_config_file("input { tcp { prot => 5000 } }\n");
    assert_eq!(code, 1);
    assert!(text.contains("unknown option `prot`") && text.contains("did you mean `port`"), "{text}");
    assert!(text.contains("pipeline.conf:1:15"), "{text}");
}

/// An option of the wrong type is an error at -t time.
#[test]
fn wrong_option_types_are_errors() {
    let (code, text) = check_config_file("input { tcp { port => \"eighty\" } }\n");
    assert_eq!(code, 1);
    assert!(text.contains("must be a whole number") && text.contains("pipeline.conf:1:23"), "{text}");
    let (code, text) = check_config_file("input { stdin {} } filter { json { source => \"m\" skip_on_invalid_json => maybe } }\n");
    assert_eq!(code, 1);
    assert!(text.contains("must be true or false"), "{text}");
    let (code, text) = check_config_file("input { stdin { codec => jsonlines } }\n");
    assert_eq!(code, 1);
    assert!(text.contains("unknown codec") && text.contains("json_lines"), "{text}");
}

/// A regex that does not compile is caught at -t time, not per event.
#[test]
fn bad_regex_in_condition_is_an_error() {
    let (code, text) = check_config_file("input { stdin {} }\noutput { if [a] =~ /(unclosed/ { stdout {} } }\n");
    assert_eq!(code, 1);
    assert!(text.contains("invalid regular expression") && text.contains("pipeline.conf:2:20"), "{text}");
}

/// Several errors in one config are all reported in one run.
#[test]
fn all_errors_are_reported_at_once() {
    let (code, text) = check_config_file("input { tcp { port => 1 bogus => 2 } }\nfilter { nope {} }\noutput { stdout { codec => xx } }\n");
    assert_eq!(code, 1);
    assert!(text.contains("bogus") && text.contains("nope") && text.contains("unknown codec"), "{text}");
}

/// `${VAR}` is substituted; a missing variable without default is an error naming it.
#[test]
fn environment_substitution_in_config() {
    let dir = temp_dir();
    let path = write(dir.path(), "p.conf", "input { tcp { port => \"${SLUICE_TEST_PORT:5000}\" host => \"${SLUICE_TEST_HOST}\" } }\n");
    let out = sluice().args(["-t", "-f", path.to_str().unwrap()]).env("SLUICE_TEST_HOST", "127.0.0.1").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = sluice().args(["-t", "-f", path.to_str().unwrap()]).env_remove("SLUICE_TEST_HOST").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SLUICE_TEST_HOST"));
}

/// A conf.d directory is read in lexical order; errors name the right file.
#[test]
fn directory_of_files_concatenates_in_order() {
    let dir = temp_dir();
    write(dir.path(), "conf.d/10-out.conf", "output { stdout {} }\n");
    write(dir.path(), "conf.d/01-in.conf", "input { stdin {} }");
    let conf = dir.path().join("conf.d");
    let out = sluice().args(["-t", "-f", conf.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    write(dir.path(), "conf.d/05-bad.conf", "filter {\n  mutate { add_tag => [\"a\" }\n}\n");
    let glob = format!("{}/*.conf", conf.display());
    let out = sluice().args(["-t", "-f", &glob]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("05-bad.conf:2:"), "{err}");
}

/// pipelines.yml with a settings directory, as the reference deployment has it.
#[test]
fn pipelines_yml_in_path_settings() {
    let dir = temp_dir();
    let conf = write(dir.path(), "conf.d/a.conf", "input { stdin {} } output { null {} }\n");
    write(dir.path(), "settings/sluice.yml", "pipeline.workers: 1\nlog.level: warn\n");
    write(
        dir.path(),
        "settings/pipelines.yml",
        &format!("- pipeline.id: main\n  path.config: \"{}/*.conf\"\n  pipeline.workers: 2\n  pipeline.batch.size: 125\n  pipeline.batch.delay: 50\n", conf.parent().unwrap().display()),
    );
    let settings = dir.path().join("settings");
    let out = sluice().args(["-t", "--path.settings", settings.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    write(dir.path(), "settings/sluice.yml", "pipeline.wrokers: 1\n");
    let out = sluice().args(["-t", "--path.settings", settings.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean `pipeline.workers`"));
}
