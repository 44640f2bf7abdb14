//! The formatter: events to `_bulk` request bodies, and a call's items to requests of bounded size.
//!
//! Each event becomes one item, an action line and (except for `delete`) a source line, written
//! once into one buffer per call; a retry resends the same bytes, it does not serialise again.
//! The action line carries `_index`, then `_id`, `routing` and `pipeline` when configured,
//! rendered from the event's sprintf templates (the date in the index name comes from the event's
//! own `@timestamp`, in UTC). `@metadata` is never sent. An event whose action renders to nothing
//! Elasticsearch knows, or that needs a document id it does not have, is not sent: it goes back to
//! the caller with the reason, for the dead letter queue.

use crate::event::{write_json_str, Event, Template};
use std::ops::Range;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    Index,
    Create,
    Update,
    Delete,
}

impl ActionKind {
    pub fn parse(s: &str) -> Option<ActionKind> {
        match s {
            "index" => Some(ActionKind::Index),
            "create" => Some(ActionKind::Create),
            "update" => Some(ActionKind::Update),
            "delete" => Some(ActionKind::Delete),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ActionKind::Index => "index",
            ActionKind::Create => "create",
            ActionKind::Update => "update",
            ActionKind::Delete => "delete",
        }
    }

    /// `update` and `delete` address an existing document: they need its id.
    pub fn needs_id(self) -> bool {
        matches!(self, ActionKind::Update | ActionKind::Delete)
    }
}

/// The action option: fixed, or chosen per event (`%{[@metadata][action]}`).
#[derive(Debug, Clone)]
pub enum Action {
    Fixed(ActionKind),
    PerEvent(Template),
}

/// What the output's options say about each item, compiled once.
#[derive(Debug, Clone)]
pub struct ItemSpec {
    pub action: Action,
    pub index: Template,
    pub document_id: Option<Template>,
    pub routing: Option<Template>,
    pub pipeline: Option<Template>,
    /// `update` only: create the document from the event when it does not exist.
    pub doc_as_upsert: bool,
    /// `update` only: how often Elasticsearch retries a version conflict itself.
    pub retry_on_conflict: u32,
}

/// One formatted item: its action and where its bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The event's position in the call.
    pub event: usize,
    pub kind: ActionKind,
    pub bytes: Range<usize>,
}

/// A call's events, formatted.
#[derive(Debug, Default)]
pub struct Formatted {
    pub buf: Vec<u8>,
    pub items: Vec<Item>,
    /// Events that cannot be sent, with why: (position in the call, reason).
    pub invalid: Vec<(usize, String)>,
}

impl ItemSpec {
    pub fn format(&self, events: &[&Event]) -> Formatted {
        let mut f = Formatted { buf: Vec::with_capacity(events.len() * 512), items: Vec::with_capacity(events.len()), invalid: Vec::new() };
        let mut scratch = String::with_capacity(128);
        for (i, event) in events.iter().enumerate() {
            let start = f.buf.len();
            match self.write_item(event, &mut f.buf, &mut scratch) {
                Ok(kind) => f.items.push(Item { event: i, kind, bytes: start..f.buf.len() }),
                Err(reason) => {
                    f.buf.truncate(start);
                    f.invalid.push((i, reason));
                }
            }
        }
        f
    }

    fn write_item(&self, event: &Event, out: &mut Vec<u8>, scratch: &mut String) -> Result<ActionKind, String> {
        let kind = match &self.action {
            Action::Fixed(k) => *k,
            Action::PerEvent(t) => {
                let rendered = t.render(event);
                ActionKind::parse(&rendered).ok_or_else(|| format!("unsupported action `{rendered}`: expected index, create, update or delete"))?
            }
        };
        out.extend_from_slice(b"{\"");
        out.extend_from_slice(kind.name().as_bytes());
        out.extend_from_slice(b"\":{\"_index\":");
        render(&self.index, event, scratch);
        write_json_str(scratch, out);
        let mut has_id = false;
        if let Some(t) = &self.document_id {
            render(t, event, scratch);
            out.extend_from_slice(b",\"_id\":");
            write_json_str(scratch, out);
            has_id = true;
        }
        if kind.needs_id() && !has_id {
            return Err(format!("action `{}` needs a document_id", kind.name()));
        }
        for (name, t) in [("routing", &self.routing), ("pipeline", &self.pipeline)] {
            if let Some(t) = t {
                render(t, event, scratch);
                // An empty value means "none", as a field that is sometimes absent would want.
                if !scratch.is_empty() {
                    out.extend_from_slice(b",\"");
                    out.extend_from_slice(name.as_bytes());
                    out.extend_from_slice(b"\":");
                    write_json_str(scratch, out);
                }
            }
        }
        if kind == ActionKind::Update && self.retry_on_conflict > 0 {
            out.extend_from_slice(b",\"retry_on_conflict\":");
            out.extend_from_slice(itoa::Buffer::new().format(self.retry_on_conflict).as_bytes());
        }
        out.extend_from_slice(b"}}\n");
        match kind {
            ActionKind::Index | ActionKind::Create => event.write_json(out),
            ActionKind::Update => {
                out.extend_from_slice(b"{\"doc\":");
                event.write_json(out);
                if self.doc_as_upsert {
                    out.extend_from_slice(b",\"doc_as_upsert\":true");
                }
                out.push(b'}');
            }
            ActionKind::Delete => return Ok(kind),
        }
        out.push(b'\n');
        Ok(kind)
    }

    /// The index an event goes to, for messages about it.
    pub fn index_of(&self, event: &Event) -> String {
        self.index.render(event).into_owned()
    }
}

fn render(t: &Template, event: &Event, scratch: &mut String) {
    scratch.clear();
    t.render_into(event, scratch);
}

/// Split items (by their positions in `items`) into requests of at most `max_bytes` and
/// `max_events` each, in order. An item larger than `max_bytes` travels alone.
pub fn split(items: &[Item], which: &[usize], max_bytes: usize, max_events: usize) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut size = 0;
    for &i in which {
        let len = items[i].bytes.len();
        let full = out.last().map_or(true, |r| !r.is_empty() && (size + len > max_bytes || r.len() >= max_events));
        if full {
            out.push(Vec::new());
            size = 0;
        }
        if let Some(r) = out.last_mut() {
            r.push(i);
        }
        size += len;
    }
    out
}

/// The body of one request: the items' bytes, in order.
pub fn body(f: &Formatted, which: &[usize]) -> Vec<u8> {
    let len = which.iter().map(|&i| f.items[i].bytes.len()).sum();
    let mut out = Vec::with_capacity(len);
    for &i in which {
        out.extend_from_slice(&f.buf[f.items[i].bytes.clone()]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Value;
    use chrono::Utc;
    use serde_json::json;

    fn event(v: serde_json::Value) -> Event {
        let Value::Object(m) = v else { unreachable!() };
        Event::from_map(m, Utc::now())
    }

    fn spec(index: &str) -> ItemSpec {
        ItemSpec {
            action: Action::Fixed(ActionKind::Index),
            index: Template::parse(index).unwrap(),
            document_id: None,
            routing: None,
            pipeline: None,
            doc_as_upsert: false,
            retry_on_conflict: 1,
        }
    }

    fn text(f: &Formatted) -> String {
        String::from_utf8(f.buf.clone()).unwrap()
    }

    /// Each event's own @timestamp, in UTC, picks its daily index; @metadata is not sent. (Field
    /// order is the event map's, which sorts keys.)
    #[test]
    fn index_items_byte_for_byte() {
        let a = event(
            json!({"@timestamp": "2024-05-01T23:30:00.000Z", "fields": {"service": "apache"}, "message": "a \"q\"", "@metadata": {"secret": 1}}),
        );
        let b = event(json!({"@timestamp": "2024-05-02T00:00:01.250+02:00", "fields": {"service": "nginx"}, "message": "b"}));
        let f = spec("logs-%{[fields][service]}-%{+YYYY.MM.dd}").format(&[&a, &b]);
        assert_eq!(
            text(&f),
            concat!(
                "{\"index\":{\"_index\":\"logs-apache-2024.05.01\"}}\n",
                "{\"@timestamp\":\"2024-05-01T23:30:00.000Z\",\"@version\":\"1\",\"fields\":{\"service\":\"apache\"},\"message\":\"a \\\"q\\\"\"}\n",
                "{\"index\":{\"_index\":\"logs-nginx-2024.05.01\"}}\n",
                "{\"@timestamp\":\"2024-05-01T22:00:01.250Z\",\"@version\":\"1\",\"fields\":{\"service\":\"nginx\"},\"message\":\"b\"}\n",
            )
        );
        assert_eq!(f.items.len(), 2);
        assert!(f.invalid.is_empty());
        assert_eq!(&f.buf[f.items[1].bytes.clone()], text(&f).split_inclusive('\n').skip(2).collect::<String>().as_bytes());
    }

    #[test]
    fn id_routing_pipeline_and_create() {
        let e = event(json!({"@timestamp": "2024-05-01T00:00:00Z", "id": "abc-1", "tenant": "t9", "p": ""}));
        let mut s = spec("x");
        s.action = Action::Fixed(ActionKind::Create);
        s.document_id = Some(Template::parse("%{id}").unwrap());
        s.routing = Some(Template::parse("%{tenant}").unwrap());
        s.pipeline = Some(Template::parse("ingest-%{tenant}").unwrap());
        assert_eq!(
            text(&s.format(&[&e])),
            "{\"create\":{\"_index\":\"x\",\"_id\":\"abc-1\",\"routing\":\"t9\",\"pipeline\":\"ingest-t9\"}}\n{\"@timestamp\":\"2024-05-01T00:00:00.000Z\",\"@version\":\"1\",\"id\":\"abc-1\",\"p\":\"\",\"tenant\":\"t9\"}\n"
        );
        // A pipeline that renders empty is left out.
        s.pipeline = Some(Template::parse("%{p}").unwrap());
        assert!(!text(&s.format(&[&e])).contains("pipeline"));
    }

    #[test]
    fn update_and_delete_and_per_event_actions() {
        let e = event(json!({"@timestamp": "2024-05-01T00:00:00Z", "id": "7", "@metadata": {"op": "delete"}}));
        let mut s = spec("x");
        s.document_id = Some(Template::parse("%{id}").unwrap());
        s.action = Action::Fixed(ActionKind::Update);
        s.doc_as_upsert = true;
        assert_eq!(
            text(&s.format(&[&e])),
            "{\"update\":{\"_index\":\"x\",\"_id\":\"7\",\"retry_on_conflict\":1}}\n{\"doc\":{\"@timestamp\":\"2024-05-01T00:00:00.000Z\",\"@version\":\"1\",\"id\":\"7\"},\"doc_as_upsert\":true}\n"
        );
        s.action = Action::PerEvent(Template::parse("%{[@metadata][op]}").unwrap());
        assert_eq!(text(&s.format(&[&e])), "{\"delete\":{\"_index\":\"x\",\"_id\":\"7\"}}\n");
    }

    #[test]
    fn events_that_cannot_be_sent_are_set_aside_with_a_reason() {
        let ok = event(json!({"@timestamp": "2024-05-01T00:00:00Z", "op": "index"}));
        let bad = event(json!({"@timestamp": "2024-05-01T00:00:00Z", "op": "upsert"}));
        let del = event(json!({"@timestamp": "2024-05-01T00:00:00Z", "op": "delete"}));
        let mut s = spec("x");
        s.action = Action::PerEvent(Template::parse("%{op}").unwrap());
        let f = s.format(&[&ok, &bad, &del]);
        assert_eq!(f.items.len(), 1);
        assert_eq!(f.invalid[0].0, 1);
        assert!(f.invalid[0].1.contains("unsupported action `upsert`"));
        assert_eq!(f.invalid[1], (2, "action `delete` needs a document_id".to_string()));
        assert_eq!(text(&f).lines().count(), 2);
    }

    #[test]
    fn requests_are_bounded_by_bytes_and_events() {
        let items: Vec<Item> = [10usize, 10, 10, 50, 10]
            .iter()
            .scan(0, |at, len| {
                let r = *at..*at + len;
                *at += len;
                Some(r)
            })
            .enumerate()
            .map(|(i, bytes)| Item { event: i, kind: ActionKind::Index, bytes })
            .collect();
        let all: Vec<usize> = (0..5).collect();
        assert_eq!(split(&items, &all, 25, 100), vec![vec![0, 1], vec![2], vec![3], vec![4]]);
        assert_eq!(split(&items, &all, 1000, 2), vec![vec![0, 1], vec![2, 3], vec![4]]);
        assert_eq!(split(&items, &[4, 1], 1000, 100), vec![vec![4, 1]]);
        assert!(split(&items, &[], 1000, 100).is_empty());
    }
}
