//! Push request bodies: entries grouped by stream, ordered by time, cut into pushes no larger
//! than `batch_size`, encoded as Loki's protobuf (snappy block compressed) or as JSON.
//!
//! The protobuf messages are Loki's `push.proto` (package `logproto`), written out here with
//! prost's derive rather than generated: `PushRequest { repeated StreamAdapter streams = 1 }`,
//! `StreamAdapter { string labels = 1; repeated EntryAdapter entries = 2; uint64 hash = 3 }`,
//! `EntryAdapter { google.protobuf.Timestamp timestamp = 1; string line = 2;
//! repeated LabelPairAdapter structuredMetadata = 3 }`, `LabelPairAdapter { name = 1; value = 2 }`.
//! Loki ignores `hash` on the push path, so it stays 0.

use super::entry::Entry;
use prost::Message;

#[derive(Clone, PartialEq, prost::Message)]
pub struct PushRequest {
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StreamAdapter {
    #[prost(string, tag = "1")]
    pub labels: String,
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct EntryAdapter {
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    #[prost(string, tag = "2")]
    pub line: String,
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPairAdapter>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelPairAdapter {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// The body's encoding (`encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf`, snappy block compressed: what Loki's own clients send.
    Protobuf,
    /// `application/json`, uncompressed.
    Json,
}

impl Encoding {
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// One push: per stream (in first-seen order) the indices of its entries, in time order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    pub streams: Vec<(String, Vec<usize>)>,
    pub bytes: usize,
}

impl Plan {
    /// Every entry of the push.
    pub fn entries(&self) -> impl Iterator<Item = usize> + '_ {
        self.streams.iter().flat_map(|(_, e)| e.iter().copied())
    }
}

/// Per-entry overhead counted towards `batch_size` besides the line and metadata: the
/// timestamp and framing, roughly.
const ENTRY_OVERHEAD: usize = 16;

/// Group entries by stream, sort each stream by timestamp (stable: equal timestamps keep their
/// arrival order), and cut into pushes of at most `max_bytes` (a single larger entry gets a push
/// of its own).
pub fn plan(entries: &[Entry], max_bytes: usize) -> Vec<Plan> {
    let mut order: Vec<&str> = Vec::new();
    let mut by_stream: std::collections::HashMap<&str, Vec<usize>> = std::collections::HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        by_stream
            .entry(e.stream.as_str())
            .or_insert_with(|| {
                order.push(e.stream.as_str());
                Vec::new()
            })
            .push(i);
    }
    let mut pushes = Vec::new();
    let mut current = Plan::default();
    for stream in order {
        let mut idx = by_stream.remove(stream).unwrap_or_default();
        idx.sort_by_key(|&i| entries[i].timestamp_ns);
        let stream_bytes = stream.len() + 8;
        let mut open: Option<Vec<usize>> = None;
        for i in idx {
            let size = entries[i].size() + ENTRY_OVERHEAD;
            let extra = size + if open.is_none() { stream_bytes } else { 0 };
            if current.bytes + extra > max_bytes && current.bytes > 0 {
                if let Some(list) = open.take() {
                    current.streams.push((stream.to_string(), list));
                }
                pushes.push(std::mem::take(&mut current));
            }
            if open.is_none() {
                current.bytes += stream_bytes;
            }
            current.bytes += size;
            open.get_or_insert_with(Vec::new).push(i);
        }
        if let Some(list) = open {
            current.streams.push((stream.to_string(), list));
        }
    }
    if !current.streams.is_empty() {
        pushes.push(current);
    }
    pushes
}

/// The body of one push.
pub fn encode(entries: &[Entry], plan: &Plan, encoding: Encoding) -> Result<Vec<u8>, String> {
    match encoding {
        Encoding::Protobuf => {
            let request = PushRequest {
                streams: plan
                    .streams
                    .iter()
                    .map(|(labels, idx)| StreamAdapter {
                        labels: labels.clone(),
                        entries: idx
                            .iter()
                            .map(|&i| {
                                let e = &entries[i];
                                EntryAdapter {
                                    timestamp: Some(Timestamp {
                                        seconds: e.timestamp_ns.div_euclid(1_000_000_000),
                                        nanos: e.timestamp_ns.rem_euclid(1_000_000_000) as i32,
                                    }),
                                    line: e.line.clone(),
                                    structured_metadata: e
                                        .metadata
                                        .iter()
                                        .map(|(k, v)| LabelPairAdapter { name: k.clone(), value: v.clone() })
                                        .collect(),
                                }
                            })
                            .collect(),
                        hash: 0,
                    })
                    .collect(),
            };
            let raw = request.encode_to_vec();
            snap::raw::Encoder::new().compress_vec(&raw).map_err(|e| format!("cannot snappy-compress a push of {} bytes: {e}", raw.len()))
        }
        Encoding::Json => {
            let streams: Vec<serde_json::Value> = plan
                .streams
                .iter()
                .map(|(labels, idx)| {
                    let values: Vec<serde_json::Value> = idx
                        .iter()
                        .map(|&i| {
                            let e = &entries[i];
                            let mut v = vec![serde_json::Value::String(e.timestamp_ns.to_string()), serde_json::Value::String(e.line.clone())];
                            if !e.metadata.is_empty() {
                                let m: serde_json::Map<String, serde_json::Value> =
                                    e.metadata.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
                                v.push(serde_json::Value::Object(m));
                            }
                            serde_json::Value::Array(v)
                        })
                        .collect();
                    serde_json::json!({ "stream": parse_labels(labels), "values": values })
                })
                .collect();
            serde_json::to_vec(&serde_json::json!({ "streams": streams })).map_err(|e| format!("cannot write a JSON push: {e}"))
        }
    }
}

/// A canonical stream key back into a label map (the JSON push wants a map, not the text).
fn parse_labels(key: &str) -> serde_json::Map<String, serde_json::Value> {
    let mut out = serde_json::Map::new();
    let body = key.trim_start_matches('{').strip_suffix('}').unwrap_or("");
    let mut rest = body;
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq].trim_start_matches([',', ' ']).to_string();
        let mut value = String::new();
        let mut chars = rest[eq + 2..].char_indices();
        let mut end = rest.len() - eq - 2;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, other)) => value.push(other),
                    None => {}
                },
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        out.insert(name, serde_json::Value::String(value));
        rest = &rest[eq + 2 + end..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(stream: &str, ts: i64, line: &str) -> Entry {
        Entry { stream: stream.into(), timestamp_ns: ts, line: line.into(), metadata: vec![] }
    }

    #[test]
    fn streams_are_grouped_and_time_ordered() {
        let entries = vec![entry("{a=\"1\"}", 30, "x"), entry("{a=\"2\"}", 10, "y"), entry("{a=\"1\"}", 20, "z"), entry("{a=\"1\"}", 20, "w")];
        let p = plan(&entries, 1 << 20);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].streams, vec![("{a=\"1\"}".to_string(), vec![2, 3, 0]), ("{a=\"2\"}".to_string(), vec![1])]);
    }

    #[test]
    fn pushes_are_cut_by_size_and_a_big_entry_goes_alone() {
        let line = "x".repeat(100);
        let entries: Vec<Entry> = (0..10).map(|i| entry("{a=\"1\"}", i, &line)).collect();
        // Each entry counts 116 bytes, the stream 15: three fit in 400.
        let p = plan(&entries, 400);
        let sizes: Vec<usize> = p.iter().map(|x| x.entries().count()).collect();
        assert_eq!(sizes, vec![3, 3, 3, 1]);
        assert!(p.iter().all(|x| x.bytes <= 400));
        let all: Vec<usize> = p.iter().flat_map(|x| x.entries().collect::<Vec<_>>()).collect();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        let big = vec![entry("{a=\"1\"}", 0, &"y".repeat(1000)), entry("{a=\"1\"}", 1, "z")];
        assert_eq!(plan(&big, 400).len(), 2);
    }

    #[test]
    fn label_keys_parse_back_with_escapes() {
        let m = parse_labels(r#"{a="x, y=\"z\"", b="q\\r\nn"}"#);
        assert_eq!(m["a"], "x, y=\"z\"");
        assert_eq!(m["b"], "q\\r\nn");
        assert_eq!(m.len(), 2);
    }
}
