//! The `json` filter: parse JSON text held in a field.
//!
//! With `target` the parsed value goes there; without it a JSON object is merged into the
//! event's root (an `@timestamp` in it is parsed, as Logstash does). Text that is not JSON — or a
//! non-object without a target — leaves the event as it was, tagged with `tag_on_failure`
//! (`_jsonparsefailure`), unless `skip_on_invalid_json` says to let it pass silently.

use super::{Filter, Outcome};
use crate::codec::JSON_PARSE_FAILURE_TAG;
use crate::config::args::Args;
use crate::config::compile::BuildContext;
use crate::config::error::ConfigError;
use crate::event::{timestamp, Event, FieldRef, Value, TIMESTAMP_PARSE_FAILURE};

pub struct Json {
    source: FieldRef,
    target: Option<FieldRef>,
    skip_on_invalid_json: bool,
    tag_on_failure: Vec<String>,
}

pub fn build(args: &mut Args, _ctx: &BuildContext) -> Result<Box<dyn Filter>, ConfigError> {
    let Some(source) = args.field_ref("source")? else {
        return Err(args.error("filter `json` requires the option `source`"));
    };
    let target = args.field_ref("target")?;
    let skip_on_invalid_json = args.bool("skip_on_invalid_json", false)?;
    let mut tag_on_failure = args.string_list("tag_on_failure")?;
    if !args.has("tag_on_failure") {
        tag_on_failure.push(JSON_PARSE_FAILURE_TAG.to_string());
    }
    let _ = args.choice("ecs_compatibility", &["disabled", "v1", "v8"], "disabled")?;
    Ok(Box::new(Json { source, target, skip_on_invalid_json, tag_on_failure }))
}

impl Json {
    fn fail(&self, event: &mut Event) -> Outcome {
        if self.skip_on_invalid_json {
            return Outcome::NotMatched;
        }
        for t in &self.tag_on_failure {
            event.add_tag(t);
        }
        Outcome::Failed(JSON_PARSE_FAILURE_TAG)
    }
}

impl Filter for Json {
    fn filter(&self, event: &mut Event) -> Outcome {
        let parsed = match event.get_value(&self.source) {
            None => return Outcome::NotMatched,
            Some(Value::String(text)) => serde_json::from_str::<Value>(text),
            Some(_) => return self.fail(event),
        };
        let Ok(parsed) = parsed else { return self.fail(event) };
        match (&self.target, parsed) {
            (Some(target), value) => {
                if event.set(target, value).is_err() {
                    return self.fail(event);
                }
            }
            (None, Value::Object(map)) => {
                for (k, v) in map {
                    if k == "@timestamp" {
                        match v.as_str().and_then(timestamp::parse_iso8601) {
                            Some(t) => event.set_timestamp(t),
                            None => {
                                event.fields_mut().insert("_@timestamp".to_string(), v);
                                event.add_tag(TIMESTAMP_PARSE_FAILURE);
                            }
                        }
                    } else if k == "@metadata" {
                        if let Value::Object(m) = v {
                            event.metadata_mut().extend(m);
                        }
                    } else {
                        event.fields_mut().insert(k, v);
                    }
                }
            }
            (None, _) => return self.fail(event),
        }
        Outcome::Matched
    }
}
