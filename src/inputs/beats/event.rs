//! From a Beat's document to an event, shaped as Logstash's beats input shapes it.
//!
//! What was checked against the Logstash beats input (plugin 6.x–7.x, its Ruby transforms and
//! its documentation), and is reproduced here:
//!
//! - The JSON document *is* the event: its `@timestamp`, `@metadata` (where Filebeat puts
//!   `beat`, `type`, `version` and, with ILM, `pipeline`), `tags` and every other field are
//!   taken as sent. The input computes nothing from `[beat][name]`: `[@metadata][beat]` is
//!   whatever the Beat wrote.
//! - When the document has a non-null `message` (Filebeat) — or, failing that, `line`
//!   (logstash-forwarder, v1) — that text is removed and decoded by the input's codec (plain by
//!   default, so it simply comes back as `message`); the rest of the document is then merged on
//!   top of the codec's event, a hash field merging key by key into a hash the codec made. A
//!   `@timestamp` that cannot be read is logged and the event keeps the time it was received (no
//!   tag on this path). The event is tagged `beats_input_codec_<codec>_applied`.
//! - Without `message`/`line` the document becomes the event as it is (an unreadable
//!   `@timestamp` goes to `_@timestamp`, tagged `_timestampparsefailure`), tagged
//!   `beats_input_raw_event`.
//! - Those two tags are the `codec_metadata` enrichment (on by default; the older
//!   `include_codec_tag => false` turns them off). They come after the input's own `tags`.
//! - The input never sets `host` from the connection. `add_hostname => true` (default false)
//!   copies `[beat][hostname]` to `host` (ECS: `[@metadata][input][beats][host][name]`) when
//!   that is unset. The client's address goes to `[@metadata][ip_address]` (ECS:
//!   `[@metadata][input][beats][host][ip]`) under the `source_metadata` enrichment (default on).
//! - `ssl_peer_metadata` (off by default, needs client authentication) sets
//!   `[@metadata][tls_peer][status]` to `verified` or `unverified` and, when verified, the TLS
//!   protocol, the client certificate's subject (RFC 2253) and the cipher suite, at
//!   `[@metadata][tls_peer][protocol|subject|cipher_suite]` (ECS:
//!   `[@metadata][input][beats][tls][version_protocol|client][subject]|cipher]`).
//! - With ECS compatibility on, the default plain codec also keeps the text in
//!   `[event][original]` (unless the document has one), as Logstash's plain codec does.
//!
//! Where sluice chooses differently: a JSON frame whose payload is not a JSON object is not a
//! reason to drop the connection (the client would resend it forever); it becomes an event with
//! the text in `message`, tagged `_jsonparsefailure`. A codec other than plain decodes each
//! message on its own (a line codec flushes at the end of each message instead of waiting for
//! the next one).

use super::protocol::Pairs;
use crate::codec::{Codec, DecodeLimits};
use crate::codec::JSON_PARSE_FAILURE_TAG;
use crate::event::{timestamp, Event, FieldRef, Map, Value};
use bytes::BytesMut;
use chrono::{DateTime, Utc};

/// Tag on events that came without `message`/`line` and so never went through the codec.
pub const RAW_EVENT_TAG: &str = "beats_input_raw_event";

/// Where the enrichments go: Logstash's legacy names, or its ECS ones.
#[derive(Debug, Clone)]
pub struct EnrichFields {
    pub host_name: FieldRef,
    pub host_ip: FieldRef,
    pub tls_status: FieldRef,
    pub tls_protocol: FieldRef,
    pub tls_subject: FieldRef,
    pub tls_cipher: FieldRef,
}

impl EnrichFields {
    pub fn new(ecs: bool) -> EnrichFields {
        let f = |legacy: &str, ecs_name: &str| {
            FieldRef::parse(if ecs { ecs_name } else { legacy }).expect("constant field references parse")
        };
        EnrichFields {
            host_name: f("host", "[@metadata][input][beats][host][name]"),
            host_ip: f("[@metadata][ip_address]", "[@metadata][input][beats][host][ip]"),
            tls_status: f("[@metadata][tls_peer][status]", "[@metadata][tls_peer][status]"),
            tls_protocol: f("[@metadata][tls_peer][protocol]", "[@metadata][input][beats][tls][version_protocol]"),
            tls_subject: f("[@metadata][tls_peer][subject]", "[@metadata][input][beats][tls][client][subject]"),
            tls_cipher: f("[@metadata][tls_peer][cipher_suite]", "[@metadata][input][beats][tls][cipher]"),
        }
    }
}

/// How this input instance shapes events; built once from the config.
#[derive(Debug, Clone)]
pub struct Shaper {
    pub codec: Codec,
    pub limits: DecodeLimits,
    /// `beats_input_codec_<codec>_applied`, when the codec metadata enrichment is on.
    pub codec_tag: Option<String>,
    /// Whether raw events get `beats_input_raw_event` (the same switch as `codec_tag`).
    pub raw_tag: bool,
    /// Keep the codec's input in `[event][original]` (plain codec under ECS).
    pub event_original: bool,
    pub add_hostname: bool,
    pub source_metadata: bool,
    pub peer_metadata: bool,
    pub fields: EnrichFields,
    /// The input's `tags` that need no event to render, added before the codec tag so the order
    /// is Logstash's (the core adds them again, which changes nothing, and adds the rest).
    pub static_tags: Vec<String>,
    beat_hostname: FieldRef,
}

/// What is known about the other end of one connection.
#[derive(Debug, Clone, Default)]
pub struct Peer {
    /// The client's IP address, as text.
    pub ip: Option<Value>,
    /// Present when the connection is TLS with client authentication and peer metadata is on.
    pub tls: Option<TlsPeer>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPeer {
    /// A client certificate was presented and verified.
    pub verified: bool,
    /// `TLSv1.2` / `TLSv1.3`.
    pub protocol: String,
    /// The client certificate's subject, RFC 2253 (`CN=client,O=Example`).
    pub subject: Option<String>,
    /// The negotiated suite by its IANA name (`TLS_AES_256_GCM_SHA384`).
    pub cipher: String,
}

impl Shaper {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        codec: Codec,
        codec_metadata: bool,
        event_original: bool,
        add_hostname: bool,
        source_metadata: bool,
        peer_metadata: bool,
        ecs: bool,
        static_tags: Vec<String>,
    ) -> Shaper {
        let codec_tag = codec_metadata.then(|| format!("beats_input_codec_{}_applied", codec.name()));
        Shaper {
            codec,
            limits: DecodeLimits::default(),
            codec_tag,
            raw_tag: codec_metadata,
            event_original,
            add_hostname,
            source_metadata,
            peer_metadata,
            fields: EnrichFields::new(ecs),
            static_tags,
            beat_hostname: FieldRef::parse("[beat][hostname]").expect("constant field reference parses"),
        }
    }

    /// One JSON data frame. Returns false when the payload was not a JSON object (it still
    /// becomes an event, tagged).
    pub fn json(&self, payload: &[u8], peer: &Peer, now: DateTime<Utc>, out: &mut Vec<Event>) -> bool {
        match serde_json::from_slice::<Map>(payload) {
            Ok(doc) => {
                self.document(doc, peer, now, out);
                true
            }
            Err(_) => {
                let mut e = Event::with_message(String::from_utf8_lossy(payload).into_owned(), now);
                e.add_tag(JSON_PARSE_FAILURE_TAG);
                self.enrich(&mut e, peer, None);
                out.push(e);
                false
            }
        }
    }

    /// One v1 data frame: every value is a string.
    pub fn pairs(&self, pairs: Pairs<'_>, peer: &Peer, now: DateTime<Utc>, out: &mut Vec<Event>) {
        let mut doc = Map::new();
        for (k, v) in pairs.iter() {
            doc.insert(String::from_utf8_lossy(k).into_owned(), Value::String(String::from_utf8_lossy(v).into_owned()));
        }
        self.document(doc, peer, now, out);
    }

    fn document(&self, mut doc: Map, peer: &Peer, now: DateTime<Utc>, out: &mut Vec<Event>) {
        let Some(text) = take_codec_target(&mut doc) else {
            let mut e = Event::from_map(doc, now);
            self.enrich(&mut e, peer, self.raw_tag.then_some(RAW_EVENT_TAG));
            out.push(e);
            return;
        };
        let timestamp = match doc.remove("@timestamp") {
            Some(ts) => coerce_timestamp(&ts),
            None => None,
        };
        let first = out.len();
        if let Codec::Plain { .. } = self.codec {
            // The plain codec's event is just the text: merging the document into it is building
            // the event from the document with `message` put back.
            if self.event_original {
                match doc.get_mut("event") {
                    Some(Value::Object(ev)) => {
                        ev.entry("original").or_insert_with(|| Value::String(text.clone()));
                    }
                    Some(_) => {}
                    None => {
                        let mut ev = Map::new();
                        ev.insert("original".to_string(), Value::String(text.clone()));
                        doc.insert("event".to_string(), Value::Object(ev));
                    }
                }
            }
            doc.insert("message".to_string(), Value::String(text));
            out.push(Event::from_map(doc, now));
        } else {
            let mut decoded = Vec::new();
            let mut decoder = self.codec.decoder(self.limits);
            let mut buf = BytesMut::from(text.as_bytes());
            decoder.flush(&mut buf, now, &mut decoded);
            let n = decoded.len();
            for (i, mut e) in decoded.into_iter().enumerate() {
                if i + 1 == n {
                    merge(&mut e, std::mem::take(&mut doc));
                } else {
                    merge(&mut e, doc.clone());
                }
                out.push(e);
            }
        }
        for e in &mut out[first..] {
            if let Some(t) = timestamp {
                e.set_timestamp(t);
            }
            self.enrich(e, peer, self.codec_tag.as_deref());
        }
    }

    /// What Logstash does after the document is an event: hostname copy, enrichments, tags.
    fn enrich(&self, e: &mut Event, peer: &Peer, tag: Option<&str>) {
        if self.add_hostname && e.get_value(&self.fields.host_name).is_none() {
            if let Some(h) = e.get_value(&self.beat_hostname).cloned() {
                let _ = e.set(&self.fields.host_name, h);
            }
        }
        if self.source_metadata {
            if let Some(ip) = &peer.ip {
                // A document whose @metadata holds a scalar where the path needs a hash keeps it.
                let _ = e.set(&self.fields.host_ip, ip.clone());
            }
        }
        if self.peer_metadata {
            if let Some(tls) = &peer.tls {
                let status = if tls.verified { "verified" } else { "unverified" };
                let _ = e.set(&self.fields.tls_status, Value::String(status.to_string()));
                if tls.verified {
                    let _ = e.set(&self.fields.tls_protocol, Value::String(tls.protocol.clone()));
                    if let Some(s) = &tls.subject {
                        let _ = e.set(&self.fields.tls_subject, Value::String(s.clone()));
                    }
                    let _ = e.set(&self.fields.tls_cipher, Value::String(tls.cipher.clone()));
                }
            }
        }
        if let Some(tag) = tag {
            for t in &self.static_tags {
                e.add_tag(t);
            }
            e.add_tag(tag);
        }
    }
}

/// The text the codec decodes: a non-null `message`, else a non-null `line`, as a string.
fn take_codec_target(doc: &mut Map) -> Option<String> {
    let key = if doc.get("message").is_some_and(|v| !v.is_null()) {
        "message"
    } else if doc.get("line").is_some_and(|v| !v.is_null()) {
        "line"
    } else {
        return None;
    };
    Some(match doc.remove(key)? {
        Value::String(s) => s,
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    })
}

fn coerce_timestamp(v: &Value) -> Option<DateTime<Utc>> {
    let parsed = v.as_str().and_then(timestamp::parse_iso8601);
    if parsed.is_none() {
        tracing::warn!(value = %v, "Unrecognized @timestamp value from a beat; the event keeps the time it was received.");
    }
    parsed
}

/// Merge a document into a codec's event: hashes merge key by key, anything else replaces.
fn merge(e: &mut Event, doc: Map) {
    for (k, v) in doc {
        if k == "@metadata" {
            if let Value::Object(m) = v {
                e.metadata_mut().extend(m);
            }
            continue;
        }
        let fields = e.fields_mut();
        match (fields.get_mut(&k), v) {
            (Some(Value::Object(existing)), Value::Object(new)) => existing.extend(new),
            (_, v) => {
                fields.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::args::Args;
    use crate::config::parser::parse;

    fn codec(text: &str) -> Codec {
        let config = format!("input {{ x {{ codec => {text} }} }}");
        let ast = parse(&config).unwrap();
        let crate::config::ast::Statement::Plugin(p) = &ast.sections[0].body[0] else { panic!() };
        let env = |_: &str| None;
        let mut args = Args::new("input", p, &env);
        Codec::from_args(&mut args, "plain").unwrap()
    }

    fn shaper() -> Shaper {
        Shaper::new(codec("plain"), true, false, false, true, false, false, vec![])
    }

    fn peer() -> Peer {
        Peer { ip: Some(Value::String("10.1.2.3".into())), tls: None }
    }

    fn one(s: &Shaper, doc: &str) -> Event {
        let mut out = Vec::new();
        assert!(s.json(doc.as_bytes(), &peer(), Utc::now(), &mut out));
        assert_eq!(out.len(), 1);
        out.pop().unwrap()
    }

    fn json(e: &Event) -> serde_json::Value {
        let mut v = Vec::new();
        e.write_json(&mut v);
        serde_json::from_slice(&v).unwrap()
    }

    #[test]
    fn a_filebeat_document_keeps_its_fields_and_metadata() {
        let e = one(
            &shaper(),
            r#"{"@timestamp":"2024-05-01T12:00:00.123Z","@metadata":{"beat":"filebeat","type":"_doc","version":"7.17.0"},
                "message":"GET / 200","host":{"name":"web-1"},"log":{"offset":42},"fields":{"service":"apache"}}"#,
        );
        assert_eq!(
            json(&e),
            serde_json::json!({"@timestamp":"2024-05-01T12:00:00.123Z","@version":"1","message":"GET / 200",
                "host":{"name":"web-1"},"log":{"offset":42},"fields":{"service":"apache"},
                "tags":["beats_input_codec_plain_applied"]})
        );
        assert_eq!(
            serde_json::Value::Object(e.metadata().clone()),
            serde_json::json!({"beat":"filebeat","type":"_doc","version":"7.17.0","ip_address":"10.1.2.3"})
        );
    }

    #[test]
    fn without_message_the_event_is_raw() {
        let e = one(&shaper(), r#"{"metricset":{"name":"cpu"},"tags":["a"]}"#);
        assert_eq!(e.fields()["tags"], serde_json::json!(["a", "beats_input_raw_event"]));
        assert!(!e.fields().contains_key("message"));
    }

    #[test]
    fn a_bad_timestamp_is_kept_aside_only_on_the_raw_path() {
        let before = Utc::now();
        let e = one(&shaper(), r#"{"@timestamp":"yesterday","message":"m"}"#);
        assert!(e.timestamp() >= before);
        assert!(!e.fields().contains_key("_@timestamp"));
        let e = one(&shaper(), r#"{"@timestamp":"yesterday","x":1}"#);
        assert_eq!(e.fields()["_@timestamp"], "yesterday");
        assert!(e.has_tag("_timestampparsefailure"));
    }

    #[test]
    fn line_is_the_codec_target_for_logstash_forwarder() {
        let e = one(&shaper(), r#"{"line":"hello","file":"/var/log/x"}"#);
        assert_eq!(e.fields()["message"], "hello");
        assert!(!e.fields().contains_key("line"));
        assert!(e.has_tag("beats_input_codec_plain_applied"));
    }

    #[test]
    fn json_codec_decodes_the_message_and_the_document_wins() {
        let s = Shaper::new(codec("json"), true, false, false, false, false, false, vec![]);
        let e = one(&s, r#"{"message":"{\"level\":\"info\",\"fields\":{\"a\":1},\"x\":1}","fields":{"b":2},"x":2}"#);
        assert_eq!(e.fields()["level"], "info");
        assert_eq!(e.fields()["fields"], serde_json::json!({"a":1,"b":2}));
        assert_eq!(e.fields()["x"], 2);
        assert!(e.has_tag("beats_input_codec_json_applied"));
        assert!(e.metadata().is_empty());
    }

    #[test]
    fn ecs_names_and_event_original() {
        let s = Shaper::new(codec("plain"), true, true, true, true, true, true, vec![]);
        let p = Peer {
            ip: Some(Value::String("192.0.2.1".into())),
            tls: Some(TlsPeer { verified: true, protocol: "TLSv1.3".into(), subject: Some("CN=c".into()), cipher: "TLS_AES_128_GCM_SHA256".into() }),
        };
        let mut out = Vec::new();
        s.json(br#"{"message":"m","beat":{"hostname":"h"}}"#, &p, Utc::now(), &mut out);
        let e = &out[0];
        assert_eq!(e.fields()["event"], serde_json::json!({"original":"m"}));
        assert_eq!(
            serde_json::Value::Object(e.metadata().clone()),
            serde_json::json!({"input":{"beats":{"host":{"ip":"192.0.2.1","name":"h"},
                "tls":{"version_protocol":"TLSv1.3","client":{"subject":"CN=c"},"cipher":"TLS_AES_128_GCM_SHA256"}}},
                "tls_peer":{"status":"verified"}})
        );
    }

    #[test]
    fn legacy_hostname_copy_and_static_tags_order() {
        let s = Shaper::new(codec("plain"), true, false, true, false, false, false, vec!["mine".into()]);
        let e = one(&s, r#"{"message":"m","beat":{"hostname":"h"},"tags":["doc"]}"#);
        assert_eq!(e.fields()["host"], "h");
        assert_eq!(e.fields()["tags"], serde_json::json!(["doc", "mine", "beats_input_codec_plain_applied"]));
        let e = one(&s, r#"{"message":"m","beat":{"hostname":"h"},"host":"kept"}"#);
        assert_eq!(e.fields()["host"], "kept");
    }

    #[test]
    fn not_json_is_kept_and_tagged() {
        let mut out = Vec::new();
        assert!(!shaper().json(b"[1,2", &peer(), Utc::now(), &mut out));
        assert_eq!(out[0].fields()["message"], "[1,2");
        assert!(out[0].has_tag("_jsonparsefailure"));
    }

    #[test]
    fn enrich_none_adds_nothing() {
        let s = Shaper::new(codec("plain"), false, false, false, false, false, false, vec![]);
        let e = one(&s, r#"{"message":"m"}"#);
        assert!(!e.fields().contains_key("tags"));
        assert!(e.metadata().is_empty());
    }
}
