//! Golden pipelines: each `tests/data/<case>/` holds a `pipeline.conf`, the input lines fed to
//! stdin (`in.txt`) and the events expected in the file output (`out.jsonl`), written by hand
//! from Logstash's documented behaviour. Fields that differ per run (`host`, and `@timestamp`
//! unless the case sets it) are compared only when the expected event names them.

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;

fn run_case(dir: &Path) {
    let name = dir.file_name().unwrap().to_string_lossy().to_string();
    let tmp = temp_dir();
    let out = tmp.path().join("out.jsonl");
    let conf = dir.join("pipeline.conf");
    let input = std::fs::read(dir.join("in.txt")).unwrap();
    let result = {
        let mut cmd = sluice();
        cmd.env("OUT", &out);
        let args = ["-f", conf.to_str().unwrap(), "--path.data", tmp.path().to_str().unwrap(), "-w", "1"];
        let mut child = cmd
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&input).unwrap();
        wait_output(child, std::time::Duration::from_secs(30))
    };
    assert!(result.status.success(), "{name}: sluice failed: {}", String::from_utf8_lossy(&result.stderr));
    let got = read_jsonl(&out);
    let want = read_jsonl(&dir.join("out.jsonl"));
    assert_eq!(got.len(), want.len(), "{name}: event count\n got: {got:#?}");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let mut g = g.clone();
        let obj = g.as_object_mut().unwrap();
        for volatile in ["host", "@timestamp"] {
            if w.get(volatile).is_none() {
                obj.remove(volatile);
            }
        }
        assert_eq!(Value::Object(obj.clone()), *w, "{name}: event {i} differs");
    }
}

#[test]
fn golden_cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut cases: Vec<_> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.join("pipeline.conf").exists()).collect();
    cases.sort();
    assert!(cases.len() >= 5, "golden cases missing");
    for case in cases {
        run_case(&case);
    }
}
