//! `sluice ilm cleanup`, `sluice ilm install` and the cleanup scheduled by sluice.yml, through the
//! real binary against a real Elasticsearch (the integration-test distribution started by
//! `tests/peers/elasticsearch.sh`, shared by the tests of this file; each test has its own
//! index prefix). What was deleted or merged is read back from the cluster with curl
//! (`_cat/indices`, `_cat/segments`); the expected sets are worked out here from the dates in
//! the names, not by sluice's code.

mod common;
use chrono::{Duration as Days, Utc};
use common::elasticsearch::{es, es_call, EsNode};
use common::*;
use serde_json::{json, Value};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// The UTC date `days` ago as the daily indices spell it.
fn day(days: i64) -> String {
    (Utc::now() - Days::days(days)).format("%Y.%m.%d").to_string()
}

fn create(es: &EsNode, index: &str, settings: Value) {
    let mut s = json!({"number_of_replicas": 0, "index.store.stats_refresh_interval": "0s"});
    for (k, v) in settings.as_object().into_iter().flatten() {
        s[k] = v.clone();
    }
    let (status, v) = es_call("PUT", &format!("{}/{index}", es.url), Some(&json!({"settings": s})));
    assert_eq!(status, 200, "creating {index}: {v}");
}

/// The indices whose names start with `prefix`, hidden ones included, sorted.
fn indices(es: &EsNode, prefix: &str) -> Vec<String> {
    let (status, v) = es_call("GET", &format!("{}/_cat/indices/{prefix}*?format=json&h=index&expand_wildcards=all", es.url), None);
    assert_eq!(status, 200, "{v}");
    let mut names: Vec<String> = v.as_array().unwrap().iter().map(|r| r["index"].as_str().unwrap().to_string()).collect();
    names.sort();
    names
}

/// Index `n` documents of about 1 KB each in one bulk request, then flush and refresh.
fn fill(es: &EsNode, index: &str, n: usize) {
    let filler = "x".repeat(1000);
    let body: String = (0..n).map(|i| format!("{{\"index\":{{}}}}\n{{\"n\":{i},\"message\":\"{filler}{i}\"}}\n")).collect();
    let out = Command::new("curl")
        .args(["-s", "-m", "60", "-X", "POST", "-H", "content-type: application/x-ndjson", "--data-binary", "@-"])
        .arg(format!("{}/{index}/_bulk?refresh=true", es.url))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(body.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["errors"], false, "bulk into {index}");
    es_call("POST", &format!("{}/{index}/_flush", es.url), None);
}

fn cleanup(args: &[&str]) -> Output {
    let out = sluice().args(["ilm", "cleanup"]).args(args).output().unwrap();
    eprintln!("stdout:\n{}stderr:\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    out
}

fn stdout_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect()
}

/// The reference job, `--older-than 7d` over `logs-*-%{+YYYY.MM.dd}` and `errors-%{+YYYY.MM.dd}`:
/// the indices of 8 and 30 days ago go (their whole day is more than 7 days past), those of today
/// and 3 days ago stay, and so does everything the patterns do not name — another family, a
/// name whose date part is not a date, a hidden index, the write index of an alias. The dry run
/// before it deletes nothing and prints the same plan. The first host is down: requests go on to
/// the second.
#[test]
fn cleanup_deletes_exactly_the_indices_past_the_retention() {
    let es = es();
    let doomed = [format!("logs-apache-{}", day(8)), format!("logs-apache-{}", day(30)), format!("errors-{}", day(8))];
    let kept = [
        format!("logs-apache-{}", day(0)),
        format!("logs-apache-{}", day(3)),
        format!("errors-{}", day(0)),
        "other-2020.01.01".to_string(),
        "logs-apache-notadate".to_string(),
        format!("logs-hidden-{}", day(30)),
        format!("logs-aliased-{}", day(30)),
    ];
    for name in doomed.iter().chain(&kept) {
        let hidden = name.starts_with("logs-hidden-");
        create(es, name, json!({"index.hidden": hidden}));
    }
    let (s, v) = es_call(
        "POST",
        &format!("{}/_aliases", es.url),
        Some(&json!({"actions": [{"add": {"index": kept[6], "alias": "logs-aliased", "is_write_index": true}}]})),
    );
    assert_eq!(s, 200, "{v}");
    let all = |es: &EsNode| [indices(es, "logs-"), indices(es, "errors-"), indices(es, "other-")].concat();
    let before = all(es);

    let down = format!("http://127.0.0.1:{}", free_port());
    let hosts = format!("{down},{}", es.url);
    let args = ["--hosts", &hosts, "--index", "logs-*-%{+YYYY.MM.dd}", "--index", "errors-%{+YYYY.MM.dd}", "--older-than", "7d"];
    let dry = cleanup(&[&args[..], &["--dry-run"]].concat());
    assert_eq!(dry.status.code(), Some(0));
    assert_eq!(all(es), before, "a dry run deletes nothing");
    let planned = stdout_lines(&dry);

    let run = cleanup(&args);
    assert_eq!(run.status.code(), Some(0));
    let mut expected: Vec<String> = before.iter().filter(|n| !doomed.contains(n)).cloned().collect();
    expected.sort();
    let mut after = all(es);
    after.sort();
    assert_eq!(after, expected);
    for k in &kept {
        assert!(after.contains(k), "{k} must stay");
    }
    // One line per deletion with its reason, the same plan the dry run printed.
    let done = stdout_lines(&run);
    assert_eq!(done.len(), 3, "{done:?}");
    for name in &doomed {
        let date = name.rsplit('-').next().unwrap();
        assert!(done.contains(&format!("deleted {name} (age: dated {date}, past the 7d retention)")), "{done:?}");
    }
    let as_done: Vec<String> = planned.iter().map(|l| l.replacen("would delete ", "deleted ", 1)).collect();
    assert_eq!(as_done, done);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains(&format!("kept {}: it is the write index of alias logs-aliased", kept[6])), "{stderr}");
}

/// `--max-size` with five days of 400, 300, 200, 100 and 50 documents of about 1 KB: a budget of
/// the two newest days and half of the third deletes the three oldest (after the two oldest the
/// total is still over, after the third it is under); a budget of one byte deletes all but the
/// newest day, which no budget deletes.
#[test]
fn max_size_deletes_the_oldest_until_under_budget_and_never_the_newest() {
    let es = es();
    let docs = [(4, 400), (3, 300), (2, 200), (1, 100), (0, 50)];
    let names: Vec<String> = docs.iter().map(|(d, _)| format!("sz-{}", day(*d))).collect();
    for (name, (_, n)) in names.iter().zip(docs) {
        create(es, name, json!({}));
        fill(es, name, n);
    }
    // Sizes as the cluster reports them once every document is in.
    let sizes = |es: &EsNode| -> Vec<u64> {
        let (_, v) = es_call("GET", &format!("{}/_cat/indices/sz-*?format=json&bytes=b&h=index,store.size", es.url), None);
        names
            .iter()
            .map(|n| {
                let row = v.as_array().unwrap().iter().find(|r| r["index"] == n.as_str()).unwrap_or_else(|| panic!("{n} listed: {v}"));
                row["store.size"].as_str().unwrap().parse().unwrap()
            })
            .collect()
    };
    let s = sizes(es);
    assert!(s.windows(2).all(|w| w[0] > w[1]), "sizes fall with the document counts: {s:?}");
    let budget = s[4] + s[3] + s[2] / 2;
    let out = cleanup(&["--hosts", &es.url, "--index", "sz-%{+YYYY.MM.dd}", "--max-size", &budget.to_string()]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(indices(es, "sz-"), names[3..].to_vec());
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[0].starts_with(&format!("deleted {} (size budget: the matching indices hold ", names[0])), "{lines:?}");

    let out = cleanup(&["--hosts", &es.url, "--index", "sz-%{+YYYY.MM.dd}", "--max-size", "1"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(indices(es, "sz-"), vec![names[4].clone()], "the newest day is never deleted for size");
}

/// The segments of an index, per shard, as `_cat/segments` lists them.
fn segments(es: &EsNode, index: &str) -> usize {
    let (status, v) = es_call("GET", &format!("{}/_cat/segments/{index}?format=json&h=index,shard,prirep,segment", es.url), None);
    assert_eq!(status, 200, "{v}");
    v.as_array().unwrap().iter().filter(|r| r["prirep"] == "p").count()
}

/// `--force-merge-after 2d`: the index of 3 days ago, written in four refreshes (four
/// segments), ends with one; today's index, as young as it gets, keeps its segments; a second
/// run finds nothing left to merge.
#[test]
fn force_merge_leaves_one_segment_in_old_indices() {
    let es = es();
    let (old, young) = (format!("fm-{}", day(3)), format!("fm-{}", day(0)));
    for name in [&old, &young] {
        create(es, name, json!({}));
        for _ in 0..4 {
            fill(es, name, 5);
        }
    }
    assert!(segments(es, &old) > 1, "four refreshes make several segments");
    let young_before = segments(es, &young);
    let out = cleanup(&["--hosts", &es.url, "--index", "fm-%{+YYYY.MM.dd}", "--force-merge-after", "2d"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(segments(es, &old), 1);
    assert_eq!(segments(es, &young), young_before);
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with(&format!("force-merged {old} (merge: ")) && lines[0].ends_with("segments in 1 primary shard, older than 2d)"), "{lines:?}");
    let again = cleanup(&["--hosts", &es.url, "--index", "fm-%{+YYYY.MM.dd}", "--force-merge-after", "2d"]);
    assert_eq!(again.status.code(), Some(0));
    assert!(stdout_lines(&again).is_empty());
    let mut both = vec![old, young];
    both.sort();
    assert_eq!(indices(es, "fm-"), both, "merging deletes nothing");
}

/// Exit status 2 for what the command line got wrong, 1 when the cluster cannot be reached.
#[test]
fn usage_errors_and_unreachable_clusters_have_their_exit_status() {
    let down = format!("http://127.0.0.1:{}", free_port());
    let out = cleanup(&["--hosts", &down, "--index", "x-%{+YYYY.MM.dd}"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("give --older-than, --max-size or --force-merge-after"));
    let out = cleanup(&["--hosts", &down, "--index", "x-%{+YYYY}-%{+MM}", "--older-than", "7d"]);
    assert_eq!(out.status.code(), Some(2));
    let out = cleanup(&["--hosts", &down, "--index", "x-*", "--older-than", "a week"]);
    assert_eq!(out.status.code(), Some(2));
    let out = cleanup(&["--hosts", &down, "--older-than", "7d"]);
    assert_eq!(out.status.code(), Some(2), "--index is required");
    let out = cleanup(&["--hosts", &down, "--index", "x-*", "--older-than", "7d"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach"));
}

/// `ilm install` on a cluster with ILM: the policy and the template are there to read back, and
/// a new index under the pattern carries the policy. On a cluster without ILM (the
/// integration-test distribution has no ILM module): a clear error, exit 1, nothing installed.
#[test]
fn install_puts_a_policy_and_template_or_says_the_cluster_has_no_ilm() {
    let es = es();
    let out = sluice()
        .args(["ilm", "install", "--hosts", &es.url, "--policy", "inst-default", "--delete-after", "7d", "--index-pattern", "inst-*"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let has_ilm = es_call("GET", &format!("{}/_ilm/status", es.url), None).0 == 200;
    if has_ilm {
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        let (s, p) = es_call("GET", &format!("{}/_ilm/policy/inst-default", es.url), None);
        assert_eq!(s, 200, "{p}");
        let phases = &p["inst-default"]["policy"]["phases"];
        assert_eq!(phases["delete"]["min_age"], "7d");
        assert_eq!(phases["delete"]["actions"], json!({"delete": {"delete_searchable_snapshot": true}}));
        let (s, t) = es_call("GET", &format!("{}/_index_template/sluice-inst", es.url), None);
        assert_eq!(s, 200, "{t}");
        assert_eq!(t["index_templates"][0]["index_template"]["index_patterns"], json!(["inst-*"]));
        create(es, &format!("inst-{}", day(0)), json!({}));
        let (_, v) = es_call("GET", &format!("{}/inst-{}/_settings", es.url, day(0)), None);
        assert_eq!(v[format!("inst-{}", day(0))]["settings"]["index"]["lifecycle"]["name"], "inst-default");
    } else {
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr.contains("has no index lifecycle management") && stderr.contains("sluice ilm cleanup --older-than 7d"), "{stderr}");
        assert_eq!(es_call("GET", &format!("{}/_index_template/sluice-inst", es.url), None).0, 404, "nothing installed");
    }
}

/// On OpenSearch (its own node, started for this test): the cleanup deletes and merges with the
/// same requests, and `ilm install` says OpenSearch has no ILM and points at the cleanup.
#[test]
fn cleanup_works_on_opensearch_and_install_points_to_it() {
    let os = EsNode::start_distribution("opensearch");
    let (old, young) = (format!("logs-web-{}", day(10)), format!("logs-web-{}", day(3)));
    for name in [&old, &young, &"other-2020.01.01".to_string()] {
        create(&os, name, json!({}));
    }
    for _ in 0..3 {
        fill(&os, &young, 5);
    }
    let out = cleanup(&["--hosts", &os.url, "--index", "logs-*-%{+YYYY.MM.dd}", "--older-than", "7d", "--force-merge-after", "2d"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(indices(&os, "logs-"), vec![young.clone()]);
    assert_eq!(indices(&os, "other-"), vec!["other-2020.01.01".to_string()]);
    assert_eq!(segments(&os, &young), 1);
    let lines = stdout_lines(&out);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0], format!("deleted {old} (age: dated {}, past the 7d retention)", day(10)));
    assert!(lines[1].starts_with(&format!("force-merged {young} (merge: ")), "{lines:?}");

    let out = sluice().args(["ilm", "install", "--hosts", &os.url, "--delete-after", "7d"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is OpenSearch") && stderr.contains("sluice ilm cleanup --older-than 7d"), "{stderr}");
    os.script("stop");
}

/// The daemon with `ilm.cleanup.*` in sluice.yml (nested YAML, a 1 s interval): the first run
/// deletes the index of 30 days ago and keeps today's, while the pipeline runs; the metrics
/// count the deletion and the runs.
#[test]
fn the_daemon_runs_the_cleanup_on_its_schedule() {
    let es = es();
    let (old, today) = (format!("sched-{}", day(30)), format!("sched-{}", day(0)));
    create(es, &old, json!({}));
    create(es, &today, json!({}));
    let dir = temp_dir();
    let api = free_port();
    write(
        dir.path(),
        "sluice.yml",
        &format!(
            "api.http.port: {api}\nilm:\n  cleanup:\n    enabled: true\n    interval: 1s\n    hosts: [\"{url}\"]\n    index:\n      - \"sched-%{{+YYYY.MM.dd}}\"\n    older_than: 7d\n",
            url = es.url
        ),
    );
    let port = free_port();
    let data = dir.path().join("data");
    let child = sluice()
        .args(["--path.settings", dir.path().to_str().unwrap(), "--path.data", data.to_str().unwrap()])
        .args(["-e", &format!("input {{ tcp {{ port => {port} host => \"127.0.0.1\" }} }} output {{ null {{}} }}")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_listening(api, Duration::from_secs(30));
    eventually(Duration::from_secs(30), "the scheduled cleanup deletes the old index", || indices(es, "sched-") == vec![today.clone()]);
    eventually(Duration::from_secs(10), "the deletion and a second run counted", || {
        let m = http_get(api, "/metrics").1;
        m.contains("sluice_ilm_actions_total{action=\"delete\",result=\"success\"} 1")
            && m.lines().any(|l| l.starts_with("sluice_ilm_runs_total{result=\"success\"}") && !l.ends_with(" 1"))
    });
    signal(&child, "TERM");
    let out = wait_output(child, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("deleted {old} (age: dated {}, past the 7d retention)", day(30))), "{stderr}");
}

/// `sluice -t` checks the `ilm.cleanup.*` settings with the pipelines: a bad one is an error
/// naming the setting, a misspelt one gets the right name suggested, a good one passes.
#[test]
fn config_check_reads_the_cleanup_settings() {
    let check = |yaml: &str| {
        let dir = temp_dir();
        write(dir.path(), "sluice.yml", yaml);
        let out = sluice().args(["-t", "--path.settings", dir.path().to_str().unwrap(), "-e", "input { stdin {} } output { null {} }"]).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout))
    };
    let good = "ilm.cleanup.enabled: true\nilm.cleanup.index: \"logs-*-%{+YYYY.MM.dd}\"\nilm.cleanup.older_than: 7d\nilm.cleanup.schedule: \"01:30\"\n";
    let (code, text) = check(good);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("Configuration OK"), "{text}");
    let (code, text) = check(&good.replace("7d", "a week"));
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("ilm.cleanup.older_than must be a duration"), "{text}");
    let (code, text) = check("ilm.cleanup.older_then: 7d\n");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("did you mean `ilm.cleanup.older_than`"), "{text}");
}
