//! From one received syslog message to an event: format detection, parsing, field names.
//!
//! A message whose `<PRI>` is followed by a version number and a space is RFC 5424; anything
//! else is tried as RFC 3164. Fields get Logstash's legacy names, or with `ecs_compatibility`
//! the ECS names Logstash's syslog input uses (and, for what only RFC 5424 has, the `log.syslog.*`
//! fields of ECS). The layout, in full:
//!
//! | what                | legacy (`disabled`)                 | ECS (`v1`, `v8`)                              |
//! |---------------------|-------------------------------------|-----------------------------------------------|
//! | sender address      | `host`                              | `[host][ip]`                                  |
//! | PRI                 | `priority`                          | `[log][syslog][priority]`                     |
//! | facility, severity  | `facility`, `severity`              | `[log][syslog][facility][code]`, `[log][syslog][severity][code]` |
//! | their labels        | `facility_label`, `severity_label`  | `[log][syslog][facility][name]`, `[log][syslog][severity][name]` |
//! | TIMESTAMP           | `timestamp` (as written; 3164 ISO8601 ones also in `timestamp8601`) and `@timestamp` | `@timestamp` |
//! | HOSTNAME            | `logsource`                         | `[host][hostname]`                            |
//! | TAG / APP-NAME      | `program`                           | `[process][name]`                             |
//! | PID / PROCID        | `pid` (a string)                    | `[process][pid]` (a number; a PROCID that is not one goes to `[log][syslog][procid]`) |
//! | MSGID (5424)        | `msgid`                             | `[log][syslog][msgid]`                        |
//! | VERSION (5424)      | `version` (a number)                | `[log][syslog][version]`                      |
//! | STRUCTURED-DATA     | `[syslog5424_sd][<SD-ID>][<name>]`  | `[log][syslog][structured_data][<SD-ID>][<name>]` |
//! | MSG                 | `message`                           | `message`                                     |
//! | the whole line      |                                     | `[event][original]`, and `[service][type]` = `system` |
//!
//! Structured-data values are strings; a name repeated within an element gives an array of its
//! values in order, an element without parameters an empty hash, and two elements with the same
//! SD-ID are merged. Absent header fields (`-`) are left out. A line that is neither format keeps
//! its text in `message`, is tagged `_grokparsefailure_sysloginput` (Logstash's tag, which
//! existing pipelines test for) and `_syslogparsefailure`, and gets the priority of its `<PRI>`
//! if it has a valid one, else 13 (user-level notice), as RFC 3164 says a relay must assume. A
//! timestamp that names no real time (`Feb 30`) leaves `@timestamp` at the time of receipt and
//! tags `_dateparsefailure`, as the date filter Logstash uses would.

use super::rfc3164::{self, TimeContext};
use super::rfc5424;
use super::time::{MonthNames, Zone};
use crate::event::{Event, Map, Value};
use chrono::{DateTime, Utc};

pub const PARSE_FAILURE_TAG: &str = "_syslogparsefailure";
pub const LOGSTASH_PARSE_FAILURE_TAG: &str = "_grokparsefailure_sysloginput";
pub const DATE_FAILURE_TAG: &str = "_dateparsefailure";

/// What became of a message, for the input's failure counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Parsed,
    /// Parsed, but its timestamp names no real time.
    BadDate,
    /// Neither format: kept raw and tagged.
    Unparsed,
}

/// Everything that decides how messages become events; built once from the config.
#[derive(Debug, Clone)]
pub struct Decoder {
    pub ecs: bool,
    pub use_labels: bool,
    pub facility_labels: Vec<Value>,
    pub severity_labels: Vec<Value>,
    /// `[service][type]` in ECS mode (`service_type`), none when empty.
    pub service_type: Option<Value>,
    pub zone: Zone,
    pub months: MonthNames,
}

impl Decoder {
    /// A new event from one message (without its framing). `peer` is the sender's address.
    pub fn event(&self, raw: &[u8], peer: &Value, now: DateTime<Utc>) -> (Event, Outcome) {
        let mut fields = NewFields { list: Vec::with_capacity(16), tags: Vec::new(), time: None };
        let outcome = self.fill_into(&mut fields, raw, peer, now);
        (fields.into_event(now), outcome)
    }

    /// Parse `raw` into an existing event (one a codec made), setting the same fields; hashes
    /// merge into the event's own.
    pub fn fill(&self, event: &mut Event, raw: &[u8], peer: &Value, now: DateTime<Utc>) -> Outcome {
        self.fill_into(&mut Merge(event), raw, peer, now)
    }

    /// A codec made an event without text where `syslog_field` points: tagged as unparsed,
    /// with the default priority, and otherwise left as the codec made it.
    pub fn fill_missing(&self, event: &mut Event, peer: &Value) -> Outcome {
        self.fill_unparsed(&mut Merge(event), None, peer)
    }

    fn fill_into(&self, f: &mut impl Fields, raw: &[u8], peer: &Value, now: DateTime<Utc>) -> Outcome {
        let after_pri = rfc5424::scan_priority(raw).map(|(_, n)| &raw[n..]);
        if after_pri.is_some_and(rfc5424::looks_like) {
            return match rfc5424::parse(raw, &self.zone) {
                Ok(m) => self.fill_5424(f, raw, m, peer),
                Err(_) => self.fill_unparsed(f, Some(raw), peer),
            };
        }
        let ctx = TimeContext { zone: &self.zone, months: &self.months, now };
        match rfc3164::parse(raw, &ctx) {
            Ok(m) => self.fill_3164(f, raw, m, peer),
            Err(_) => self.fill_unparsed(f, Some(raw), peer),
        }
    }

    fn fill_3164(&self, f: &mut impl Fields, raw: &[u8], m: rfc3164::Message<'_>, peer: &Value) -> Outcome {
        let outcome = set_time(f, m.time);
        if self.ecs {
            let mut host = Map::new();
            host.insert("ip".into(), peer.clone());
            if let Some(h) = m.hostname {
                host.insert("hostname".into(), h.into());
            }
            f.put("host", Value::Object(host));
            f.put("log", self.syslog_ecs(m.priority, Map::new()));
            if m.program.is_some() || m.pid.is_some() {
                let mut process = Map::new();
                if let Some(p) = m.program {
                    process.insert("name".into(), p.into());
                }
                if let Some(pid) = m.pid.and_then(|p| p.parse::<u64>().ok()) {
                    process.insert("pid".into(), pid.into());
                }
                f.put("process", Value::Object(process));
            }
            self.ecs_common(f, raw);
        } else {
            f.put("host", peer.clone());
            self.priority_legacy(f, m.priority);
            f.put("timestamp", m.timestamp.into());
            if m.iso8601 {
                f.put("timestamp8601", m.timestamp.into());
            }
            if let Some(h) = m.hostname {
                f.put("logsource", h.into());
            }
            if let Some(p) = m.program {
                f.put("program", p.into());
            }
            if let Some(pid) = m.pid {
                f.put("pid", pid.into());
            }
        }
        f.put("message", text(m.msg));
        outcome
    }

    fn fill_5424(&self, f: &mut impl Fields, raw: &[u8], m: rfc5424::Message<'_>, peer: &Value) -> Outcome {
        let outcome = if m.timestamp.is_some() { set_time(f, m.time) } else { Outcome::Parsed };
        let sd = (!m.structured_data.is_empty()).then(|| structured_data(&m.structured_data));
        if self.ecs {
            let mut host = Map::new();
            host.insert("ip".into(), peer.clone());
            if let Some(h) = m.hostname {
                host.insert("hostname".into(), h.into());
            }
            f.put("host", Value::Object(host));
            let mut extra = Map::new();
            let numeric_pid = m.proc_id.and_then(|p| p.parse::<u64>().ok());
            if let (Some(p), None) = (m.proc_id, numeric_pid) {
                extra.insert("procid".into(), p.into());
            }
            if let Some(id) = m.msg_id {
                extra.insert("msgid".into(), id.into());
            }
            extra.insert("version".into(), m.version.into());
            if let Some(sd) = sd {
                extra.insert("structured_data".into(), sd);
            }
            f.put("log", self.syslog_ecs(m.priority, extra));
            if m.app_name.is_some() || numeric_pid.is_some() {
                let mut process = Map::new();
                if let Some(a) = m.app_name {
                    process.insert("name".into(), a.into());
                }
                if let Some(pid) = numeric_pid {
                    process.insert("pid".into(), pid.into());
                }
                f.put("process", Value::Object(process));
            }
            self.ecs_common(f, raw);
        } else {
            f.put("host", peer.clone());
            self.priority_legacy(f, m.priority);
            if let Some(t) = m.timestamp {
                f.put("timestamp", t.into());
            }
            if let Some(h) = m.hostname {
                f.put("logsource", h.into());
            }
            if let Some(a) = m.app_name {
                f.put("program", a.into());
            }
            if let Some(p) = m.proc_id {
                f.put("pid", p.into());
            }
            if let Some(id) = m.msg_id {
                f.put("msgid", id.into());
            }
            f.put("version", m.version.into());
            if let Some(sd) = sd {
                f.put("syslog5424_sd", sd);
            }
        }
        f.put("message", text(m.msg));
        outcome
    }

    fn fill_unparsed(&self, f: &mut impl Fields, raw: Option<&[u8]>, peer: &Value) -> Outcome {
        let priority = raw.and_then(rfc5424::scan_priority).map(|(p, _)| p).unwrap_or(13);
        if self.ecs {
            let mut host = Map::new();
            host.insert("ip".into(), peer.clone());
            f.put("host", Value::Object(host));
            f.put("log", self.syslog_ecs(priority, Map::new()));
            if let Some(raw) = raw {
                self.ecs_common(f, raw);
            }
        } else {
            f.put("host", peer.clone());
            self.priority_legacy(f, priority);
        }
        if let Some(raw) = raw {
            f.put("message", text(raw));
        }
        f.tag(LOGSTASH_PARSE_FAILURE_TAG);
        f.tag(PARSE_FAILURE_TAG);
        Outcome::Unparsed
    }

    fn priority_legacy(&self, f: &mut impl Fields, priority: u8) {
        let (facility, severity) = (priority >> 3, priority & 7);
        f.put("priority", priority.into());
        f.put("severity", severity.into());
        f.put("facility", facility.into());
        if self.use_labels {
            if let Some(l) = self.facility_labels.get(usize::from(facility)) {
                f.put("facility_label", l.clone());
            }
            if let Some(l) = self.severity_labels.get(usize::from(severity)) {
                f.put("severity_label", l.clone());
            }
        }
    }

    /// `{"syslog": {priority, facility, severity, ...extra}}`, the value of `log`.
    fn syslog_ecs(&self, priority: u8, extra: Map) -> Value {
        let (facility, severity) = (priority >> 3, priority & 7);
        let mut syslog = Map::new();
        syslog.insert("priority".into(), priority.into());
        let code_and_name = |code: u8, labels: &[Value]| {
            let mut m = Map::new();
            m.insert("code".into(), code.into());
            if self.use_labels {
                if let Some(l) = labels.get(usize::from(code)) {
                    m.insert("name".into(), l.clone());
                }
            }
            Value::Object(m)
        };
        syslog.insert("facility".into(), code_and_name(facility, &self.facility_labels));
        syslog.insert("severity".into(), code_and_name(severity, &self.severity_labels));
        syslog.extend(extra);
        let mut log = Map::new();
        log.insert("syslog".into(), Value::Object(syslog));
        Value::Object(log)
    }

    fn ecs_common(&self, f: &mut impl Fields, raw: &[u8]) {
        let mut event = Map::new();
        event.insert("original".into(), text(raw));
        f.put("event", Value::Object(event));
        if let Some(t) = &self.service_type {
            let mut service = Map::new();
            service.insert("type".into(), t.clone());
            f.put("service", Value::Object(service));
        }
    }
}

/// `@timestamp` from the message's time; a time that names no real instant is tagged.
fn set_time(f: &mut impl Fields, time: Option<DateTime<Utc>>) -> Outcome {
    match time {
        Some(t) => {
            f.set_timestamp(t);
            Outcome::Parsed
        }
        None => {
            f.tag(DATE_FAILURE_TAG);
            Outcome::BadDate
        }
    }
}

/// Where the fields of one message go.
trait Fields {
    fn put(&mut self, key: &str, value: Value);
    fn tag(&mut self, tag: &'static str);
    fn set_timestamp(&mut self, t: DateTime<Utc>);
}

/// The fields of a new event, gathered first and turned into its map in one go: building the
/// ordered map from a list is several times cheaper than inserting field by field, and this is
/// the per-message path.
struct NewFields {
    list: Vec<(String, Value)>,
    tags: Vec<&'static str>,
    time: Option<DateTime<Utc>>,
}

impl Fields for NewFields {
    fn put(&mut self, key: &str, value: Value) {
        self.list.push((key.to_owned(), value));
    }

    fn tag(&mut self, tag: &'static str) {
        self.tags.push(tag);
    }

    fn set_timestamp(&mut self, t: DateTime<Utc>) {
        self.time = Some(t);
    }
}

impl NewFields {
    fn into_event(mut self, now: DateTime<Utc>) -> Event {
        self.list.push(("@version".to_owned(), Value::String("1".to_owned())));
        if !self.tags.is_empty() {
            self.list.push(("tags".to_owned(), Value::Array(self.tags.iter().map(|t| Value::String((*t).to_owned())).collect())));
        }
        let mut event = Event::from_map(self.list.into_iter().collect::<crate::event::Fields>(), now);
        if let Some(t) = self.time {
            event.set_timestamp(t);
        }
        event
    }
}

/// An event a codec made, which may hold fields already: a hash merges into a hash there, key
/// by key.
struct Merge<'a>(&'a mut Event);

impl Fields for Merge<'_> {
    fn put(&mut self, key: &str, value: Value) {
        let map = self.0.fields_mut();
        match value {
            Value::Object(new) => match map.get_mut(key) {
                Some(Value::Object(existing)) => merge(existing, new),
                _ => {
                    map.insert(key.to_owned(), Value::Object(new));
                }
            },
            value => {
                map.insert(key.to_owned(), value);
            }
        }
    }

    fn tag(&mut self, tag: &'static str) {
        self.0.add_tag(tag);
    }

    fn set_timestamp(&mut self, t: DateTime<Utc>) {
        self.0.set_timestamp(t);
    }
}

/// Text from bytes: as it is when UTF-8, with replacement characters where it is not.
fn text(b: &[u8]) -> Value {
    Value::String(match std::str::from_utf8(b) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(b).into_owned(),
    })
}

fn merge(into: &mut Map, from: Map) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(Value::Object(a)), Value::Object(b)) => merge(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

/// SD elements as `{SD-ID: {name: value | [values]}}`.
fn structured_data(elements: &[rfc5424::SdElement<'_>]) -> Value {
    let mut out = Map::new();
    for e in elements {
        let params = out.entry(e.id).or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(params) = params else { continue };
        for (name, value) in &e.params {
            let value = Value::String(value.as_ref().to_owned());
            match params.get_mut(*name) {
                None => {
                    params.insert((*name).to_owned(), value);
                }
                Some(Value::Array(list)) => list.push(value),
                Some(existing) => {
                    let first = std::mem::take(existing);
                    *existing = Value::Array(vec![first, value]);
                }
            }
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::Tz;
    use serde_json::json;

    fn decoder(ecs: bool) -> Decoder {
        let labels = |l: &[&str]| l.iter().map(|s| Value::String(s.to_string())).collect();
        Decoder {
            ecs,
            use_labels: true,
            facility_labels: labels(&super::super::DEFAULT_FACILITY_LABELS),
            severity_labels: labels(&super::super::DEFAULT_SEVERITY_LABELS),
            service_type: ecs.then(|| json!("system")),
            zone: Zone::Named(Tz::UTC),
            months: MonthNames::English,
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2003, 10, 20, 0, 0, 0).unwrap()
    }

    fn decode(ecs: bool, line: &[u8]) -> (Value, Outcome) {
        let (e, o) = decoder(ecs).event(line, &json!("192.0.2.7"), now());
        (e.to_value(), o)
    }

    #[test]
    fn legacy_3164() {
        let (v, o) = decode(false, b"<34>Oct 11 22:14:15 mymachine su[12]: 'su root' failed");
        assert_eq!(o, Outcome::Parsed);
        assert_eq!(
            v,
            json!({"@timestamp": "2003-10-11T22:14:15.000Z", "@version": "1", "host": "192.0.2.7",
                   "priority": 34, "severity": 2, "facility": 4, "facility_label": "security/authorization",
                   "severity_label": "Critical", "timestamp": "Oct 11 22:14:15", "logsource": "mymachine",
                   "program": "su", "pid": "12", "message": "'su root' failed"})
        );
    }

    #[test]
    fn ecs_3164() {
        let (v, _) = decode(true, b"<34>Oct 11 22:14:15 mymachine su[12]: 'su root' failed");
        assert_eq!(
            v,
            json!({"@timestamp": "2003-10-11T22:14:15.000Z", "@version": "1",
                   "host": {"ip": "192.0.2.7", "hostname": "mymachine"},
                   "log": {"syslog": {"priority": 34, "facility": {"code": 4, "name": "security/authorization"}, "severity": {"code": 2, "name": "Critical"}}},
                   "process": {"name": "su", "pid": 12},
                   "event": {"original": "<34>Oct 11 22:14:15 mymachine su[12]: 'su root' failed"},
                   "service": {"type": "system"},
                   "message": "'su root' failed"})
        );
    }

    #[test]
    fn legacy_5424_with_structured_data() {
        let (v, _) = decode(false, br#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application"][examplePriority@32473 class="high"][exampleSDID@32473 iut="4"] An application event"#);
        assert_eq!(
            v["syslog5424_sd"],
            json!({"exampleSDID@32473": {"iut": ["3", "4"], "eventSource": "Application"}, "examplePriority@32473": {"class": "high"}})
        );
        assert_eq!(v["@timestamp"], "2003-10-11T22:14:15.003Z");
        assert_eq!((v["priority"].clone(), v["facility"].clone(), v["severity"].clone()), (json!(165), json!(20), json!(5)));
        assert_eq!(v["facility_label"], "local4");
        assert_eq!(v["version"], 1);
        assert_eq!(v["msgid"], "ID47");
        assert_eq!(v["logsource"], "mymachine.example.com");
        assert_eq!(v["program"], "evntslog");
        assert!(v.get("pid").is_none());
        assert_eq!(v["message"], "An application event");
    }

    #[test]
    fn ecs_5424() {
        let (v, _) = decode(true, br#"<165>1 2003-10-11T22:14:15.003Z host app 8710 ID47 [a@1 k="v"] m"#);
        assert_eq!(
            v["log"],
            json!({"syslog": {"priority": 165, "facility": {"code": 20, "name": "local4"}, "severity": {"code": 5, "name": "Notice"},
                   "msgid": "ID47", "version": 1, "structured_data": {"a@1": {"k": "v"}}}})
        );
        assert_eq!(v["process"], json!({"name": "app", "pid": 8710}));
        let (v, _) = decode(true, b"<165>1 - - app worker-3 - - m");
        assert_eq!(v["log"]["syslog"]["procid"], "worker-3");
        assert_eq!(v["process"], json!({"name": "app"}));
        assert_eq!(v["host"], json!({"ip": "192.0.2.7"}));
    }

    #[test]
    fn unparsed_lines_keep_their_text_and_are_tagged() {
        let (v, o) = decode(false, b"just text");
        assert_eq!(o, Outcome::Unparsed);
        assert_eq!(v["message"], "just text");
        assert_eq!(v["tags"], json!(["_grokparsefailure_sysloginput", "_syslogparsefailure"]));
        assert_eq!(
            (v["priority"].clone(), v["facility_label"].clone(), v["severity_label"].clone()),
            (json!(13), json!("user-level"), json!("Notice"))
        );
        assert_eq!(v["@timestamp"], "2003-10-20T00:00:00.000Z");
        // A valid PRI is kept even when the rest is not syslog.
        let (v, _) = decode(false, b"<11>");
        assert_eq!((v["priority"].clone(), v["message"].clone()), (json!(11), json!("<11>")));
        let (v, _) = decode(false, br#"<11>1 - h a p i [x k="trunc"#);
        assert_eq!(v["message"], r#"<11>1 - h a p i [x k="trunc"#);
        assert!(v.get("syslog5424_sd").is_none());
        let (v, _) = decode(true, b"\xff\xfe garbage");
        assert_eq!(v["message"], "\u{fffd}\u{fffd} garbage");
        assert_eq!(v["event"]["original"], "\u{fffd}\u{fffd} garbage");
    }

    #[test]
    fn impossible_dates_are_tagged_and_keep_the_receipt_time() {
        let (v, o) = decode(false, b"<13>Feb 30 10:00:00 host app: m");
        assert_eq!(o, Outcome::BadDate);
        assert_eq!(v["tags"], json!(["_dateparsefailure"]));
        assert_eq!(v["@timestamp"], "2003-10-20T00:00:00.000Z");
        assert_eq!(v["message"], "m");
    }

    #[test]
    fn labels_follow_the_options() {
        let mut d = decoder(false);
        d.severity_labels.truncate(3);
        let (e, _) = d.event(b"<13>Oct 11 22:14:15 h a: m", &json!("x"), now());
        assert!(e.fields().get("severity_label").is_none());
        d.use_labels = false;
        let (e, _) = d.event(b"<13>Oct 11 22:14:15 h a: m", &json!("x"), now());
        assert!(e.fields().get("facility_label").is_none());
        // Facility 23 (local7) is the last one with a label; a bigger one has none.
        let (e, _) = decoder(false).event(b"<191>Oct 11 22:14:15 h a: m", &json!("x"), now());
        assert_eq!(e.fields()["facility_label"], "local7");
    }

    /// Any cut of a message, and any single byte changed, gives an event (parsed or tagged),
    /// never a panic: what the network delivers is arbitrary.
    #[test]
    fn every_prefix_and_byte_flip_is_handled() {
        let lines: [&[u8]; 4] = [
            br#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 77 ID47 [exampleSDID@32473 iut="3" e="a\"b\\c\]d"][x@1] \xEF\xBB\xBFmsg"#,
            b"<34>Oct 11 22:14:15 mymachine su[12]: 'su root' failed",
            b"<13>2003-10-11T22:14:15.5+02:00 <1.5> host app: m",
            b"<13>juin  1 02:03:04 h p: x",
        ];
        let d = decoder(false);
        let mut seed: u32 = 7;
        for line in lines {
            for cut in 0..=line.len() {
                let (e, _) = d.event(&line[..cut], &json!("x"), now());
                assert!(e.fields().contains_key("message") && e.fields().contains_key("priority"));
            }
            for i in 0..line.len() {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let mut flipped = line.to_vec();
                flipped[i] = (seed >> 16) as u8;
                let _ = decoder(true).event(&flipped, &json!("x"), now());
            }
        }
    }

    #[test]
    fn a_codec_event_keeps_its_fields() {
        let mut e = Event::at(now());
        e.fields_mut().insert("host".into(), json!({"name": "collector"}));
        decoder(true).fill(&mut e, b"<13>Oct 11 22:14:15 h a: m", &json!("10.0.0.1"), now());
        assert_eq!(e.fields()["host"], json!({"name": "collector", "ip": "10.0.0.1", "hostname": "h"}));
    }
}
