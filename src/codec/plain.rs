//! The `plain` codec, and the default text form of an event used by `line` too.

use crate::event::{timestamp, Event, Template};

/// The `format` template, or Logstash's default text form: `<@timestamp> <host> <message>`.
pub fn write_formatted(event: &Event, format: Option<&Template>, out: &mut Vec<u8>) {
    match format {
        Some(t) => {
            let mut s = String::new();
            t.render_into(event, &mut s);
            out.extend_from_slice(s.as_bytes());
        }
        None => {
            timestamp::write_iso8601(event.timestamp(), out);
            out.push(b' ');
            let mut s = String::new();
            match event.fields().get("host") {
                Some(h) => crate::event::template_value(h, &mut s),
                None => s.push_str("%{host}"),
            }
            s.push(' ');
            match event.fields().get("message") {
                Some(m) => crate::event::template_value(m, &mut s),
                None => s.push_str("%{message}"),
            }
            out.extend_from_slice(s.as_bytes());
        }
    }
}
