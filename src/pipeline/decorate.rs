//! The options every filter (and input) shares: `add_field`, `add_tag`, `remove_field`,
//! `remove_tag`, and for inputs `type` and `tags`.
//!
//! Filters apply them only when the filter succeeded, in Logstash's order: add_field,
//! remove_field, add_tag, remove_tag. Field names and values are sprintf templates, compiled once;
//! a name without `%{` is parsed as a field reference at compile time too.

use crate::config::args::{Args, HashValue};
use crate::config::error::ConfigError;
use crate::event::{Event, FieldRef, Template, Value};

/// A field name that may depend on the event.
#[derive(Debug, Clone)]
pub enum FieldName {
    Static(FieldRef),
    Dynamic(Template),
}

impl FieldName {
    pub fn parse(text: &str) -> Result<FieldName, String> {
        if text.contains("%{") {
            Template::parse(text).map(FieldName::Dynamic).map_err(|e| e.to_string())
        } else {
            FieldRef::parse(text).map(FieldName::Static).map_err(|e| e.to_string())
        }
    }

    /// The reference for this event; `None` when a dynamic name renders to nonsense.
    pub fn resolve(&self, event: &Event) -> Option<std::borrow::Cow<'_, FieldRef>> {
        match self {
            FieldName::Static(r) => Some(std::borrow::Cow::Borrowed(r)),
            FieldName::Dynamic(t) => FieldRef::parse(&t.render(event)).ok().map(std::borrow::Cow::Owned),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Decorations {
    /// Inputs only: set `type` unless the event has one.
    pub type_: Option<String>,
    pub add_field: Vec<(FieldName, Vec<Template>)>,
    pub add_tag: Vec<Template>,
    pub remove_field: Vec<FieldName>,
    pub remove_tag: Vec<Template>,
}

impl Decorations {
    /// The common options of a filter block.
    pub fn for_filter(args: &mut Args) -> Result<Decorations, ConfigError> {
        Ok(Decorations {
            type_: None,
            add_field: add_fields(args)?,
            add_tag: templates(args, "add_tag")?,
            remove_field: field_names(args, "remove_field")?,
            remove_tag: templates(args, "remove_tag")?,
        })
    }

    /// The common options of an input block (`tags` are added to every event).
    pub fn for_input(args: &mut Args) -> Result<Decorations, ConfigError> {
        Ok(Decorations {
            type_: args.string("type")?,
            add_field: add_fields(args)?,
            add_tag: templates(args, "tags")?,
            remove_field: Vec::new(),
            remove_tag: Vec::new(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.type_.is_none()
            && self.add_field.is_empty()
            && self.add_tag.is_empty()
            && self.remove_field.is_empty()
            && self.remove_tag.is_empty()
    }

    pub fn apply(&self, event: &mut Event) {
        if let Some(t) = &self.type_ {
            if !event.fields().contains_key("type") {
                event.fields_mut().insert("type".to_string(), Value::String(t.clone()));
            }
        }
        for (name, values) in &self.add_field {
            let Some(field) = name.resolve(event).map(|f| f.into_owned()) else { continue };
            for v in values {
                let v = Value::String(v.render(event).into_owned());
                append(event, &field, v);
            }
        }
        for name in &self.remove_field {
            if let Some(field) = name.resolve(event).map(|f| f.into_owned()) {
                event.remove(&field);
            }
        }
        for t in &self.add_tag {
            let tag = t.render(event).into_owned();
            event.add_tag(&tag);
        }
        for t in &self.remove_tag {
            let tag = t.render(event).into_owned();
            event.remove_tag(&tag);
        }
    }
}

/// Set a field, or when it exists turn it into an array and append — Logstash's add_field.
pub fn append(event: &mut Event, field: &FieldRef, v: Value) {
    match event.get_mut(field) {
        Some(Value::Array(list)) => list.push(v),
        Some(existing) => {
            let previous = std::mem::take(existing);
            *existing = Value::Array(vec![previous, v]);
        }
        None => {
            // A path blocked by a scalar cannot take the field; Logstash raises here, sluice
            // leaves the event as it was rather than losing it.
            let _ = event.set(field, v);
        }
    }
}

fn add_fields(args: &mut Args) -> Result<Vec<(FieldName, Vec<Template>)>, ConfigError> {
    let span = args.span_of("add_field");
    args.hash("add_field")?
        .into_iter()
        .map(|(k, v)| {
            let name = FieldName::parse(&k).map_err(|e| ConfigError::at(span, e))?;
            let values = match v {
                HashValue::One(s) => vec![s],
                HashValue::Many(list) => list,
            };
            let values = values.iter().map(|s| Template::parse(s).map_err(|e| ConfigError::at(span, e.to_string()))).collect::<Result<_, _>>()?;
            Ok((name, values))
        })
        .collect()
}

fn templates(args: &mut Args, name: &'static str) -> Result<Vec<Template>, ConfigError> {
    let span = args.span_of(name);
    args.string_list(name)?.iter().map(|s| Template::parse(s).map_err(|e| ConfigError::at(span, e.to_string()))).collect()
}

fn field_names(args: &mut Args, name: &'static str) -> Result<Vec<FieldName>, ConfigError> {
    let span = args.span_of(name);
    args.string_list(name)?.iter().map(|s| FieldName::parse(s).map_err(|e| ConfigError::at(span, e))).collect()
}
