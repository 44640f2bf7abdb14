//! The `mutate` filter: rename, replace, convert and reshape fields.
//!
//! Operations run in Logstash's fixed order whatever order the config lists them in: coerce,
//! rename, update, replace, convert, gsub, uppercase, capitalize, lowercase, strip, split, join,
//! merge, copy (then the common add_field/remove_field/add_tag/remove_tag). An operation that
//! cannot write its result (a path blocked by a scalar) tags the event `_mutate_error` and stops;
//! a value a conversion cannot understand is left as it was, as Logstash leaves it.

use super::{Filter, Outcome};
use crate::config::args::{Args, HashValue};
use crate::config::compile::BuildContext;
use crate::config::error::ConfigError;
use crate::event::{Event, FieldRef, Template, Value};
use crate::pipeline::decorate::FieldName;
use regex::Regex;

const MUTATE_ERROR: &str = "_mutate_error";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conversion {
    Integer,
    IntegerEu,
    Float,
    FloatEu,
    String,
    Boolean,
}

struct Gsub {
    field: FieldRef,
    regex: Regex,
    replacement: String,
}

#[derive(Default)]
pub struct Mutate {
    coerce: Vec<(FieldRef, Value)>,
    rename: Vec<(FieldName, FieldName)>,
    update: Vec<(FieldRef, Template)>,
    replace: Vec<(FieldName, Template)>,
    convert: Vec<(FieldRef, Conversion)>,
    gsub: Vec<Gsub>,
    uppercase: Vec<FieldRef>,
    capitalize: Vec<FieldRef>,
    lowercase: Vec<FieldRef>,
    strip: Vec<FieldRef>,
    split: Vec<(FieldRef, String)>,
    join: Vec<(FieldRef, String)>,
    merge: Vec<(FieldRef, FieldRef)>,
    copy: Vec<(FieldRef, FieldRef)>,
    tag_on_failure: Vec<String>,
}

fn one(v: HashValue) -> String {
    match v {
        HashValue::One(s) => s,
        HashValue::Many(mut list) => list.pop().unwrap_or_default(),
    }
}

pub fn build(args: &mut Args, _ctx: &BuildContext) -> Result<Box<dyn Filter>, ConfigError> {
    let mut m = Mutate::default();
    let field = |args: &Args, name: &str, text: &str| FieldRef::parse(text).map_err(|e| ConfigError::at(args.span_of(name), e.to_string()));
    let name = |args: &Args, opt: &str, text: &str| FieldName::parse(text).map_err(|e| ConfigError::at(args.span_of(opt), e));
    let template = |args: &Args, opt: &str, text: &str| Template::parse(text).map_err(|e| ConfigError::at(args.span_of(opt), e.to_string()));

    for (k, v) in args.hash("coerce")? {
        m.coerce.push((field(args, "coerce", &k)?, Value::String(one(v))));
    }
    for (k, v) in args.hash("rename")? {
        m.rename.push((name(args, "rename", &k)?, name(args, "rename", &one(v))?));
    }
    for (k, v) in args.hash("update")? {
        m.update.push((field(args, "update", &k)?, template(args, "update", &one(v))?));
    }
    for (k, v) in args.hash("replace")? {
        m.replace.push((name(args, "replace", &k)?, template(args, "replace", &one(v))?));
    }
    for (k, v) in args.hash("convert")? {
        let kind = match one(v).as_str() {
            "integer" => Conversion::Integer,
            "integer_eu" => Conversion::IntegerEu,
            "float" => Conversion::Float,
            "float_eu" => Conversion::FloatEu,
            "string" => Conversion::String,
            "boolean" => Conversion::Boolean,
            other => {
                return Err(ConfigError::at(
                    args.span_of("convert"),
                    format!("cannot convert `{k}` to `{other}`; expected integer, integer_eu, float, float_eu, string or boolean"),
                ))
            }
        };
        m.convert.push((field(args, "convert", &k)?, kind));
    }
    let gsub = args.string_list("gsub")?;
    if gsub.len() % 3 != 0 {
        return Err(ConfigError::at(args.span_of("gsub"), "gsub takes triples: [ \"field\", \"regex\", \"replacement\", ... ]"));
    }
    for t in gsub.chunks(3) {
        let regex = Regex::new(&t[1]).map_err(|e| ConfigError::at(args.span_of("gsub"), format!("invalid regular expression `{}`: {e}", t[1])))?;
        m.gsub.push(Gsub { field: field(args, "gsub", &t[0])?, regex, replacement: ruby_replacement(&t[2]) });
    }
    for (opt, list) in [("uppercase", &mut m.uppercase), ("capitalize", &mut m.capitalize), ("lowercase", &mut m.lowercase), ("strip", &mut m.strip)] {
        for f in args.string_list(opt)? {
            list.push(field(args, opt, &f)?);
        }
    }
    for (k, v) in args.hash("split")? {
        m.split.push((field(args, "split", &k)?, one(v)));
    }
    for (k, v) in args.hash("join")? {
        m.join.push((field(args, "join", &k)?, one(v)));
    }
    for (k, v) in args.hash("merge")? {
        m.merge.push((field(args, "merge", &k)?, field(args, "merge", &one(v))?));
    }
    for (k, v) in args.hash("copy")? {
        m.copy.push((field(args, "copy", &k)?, field(args, "copy", &one(v))?));
    }
    m.tag_on_failure = args.string_list("tag_on_failure")?;
    if !args.has("tag_on_failure") {
        m.tag_on_failure.push(MUTATE_ERROR.to_string());
    }
    Ok(Box::new(m))
}

/// Ruby's `\1` / `\k<name>` back-references in Rust regex syntax; a literal `$` escaped.
fn ruby_replacement(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek().copied() {
                Some(d) if d.is_ascii_digit() => {
                    chars.next();
                    out.push_str(&format!("${{{d}}}"));
                }
                Some('k') => {
                    let rest: String = chars.clone().collect();
                    if let Some(name) = rest.strip_prefix("k<").and_then(|r| r.split_once('>')).map(|(n, _)| n.to_string()) {
                        for _ in 0..name.len() + 3 {
                            chars.next();
                        }
                        out.push_str(&format!("${{{name}}}"));
                    } else {
                        out.push('\\');
                    }
                }
                Some('\\') => {
                    chars.next();
                    out.push('\\');
                }
                _ => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

/// Apply `f` to a string value, or to every string of an array.
fn each_string(v: &mut Value, f: &dyn Fn(&str) -> String) {
    match v {
        Value::String(s) => *s = f(s),
        Value::Array(items) => {
            for i in items {
                if let Value::String(s) = i {
                    *s = f(s);
                }
            }
        }
        _ => {}
    }
}

fn float_value(f: f64) -> Option<Value> {
    serde_json::Number::from_f64(f).map(Value::Number)
}

fn parse_number(s: &str, eu: bool) -> Option<f64> {
    let cleaned: String = if eu {
        s.trim().chars().filter(|c| *c != '.').map(|c| if c == ',' { '.' } else { c }).collect()
    } else {
        s.trim().chars().filter(|c| *c != ',').collect()
    };
    cleaned.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// One value converted; `None` when it cannot be (the value is then left as it was).
fn convert(v: &Value, to: Conversion) -> Option<Value> {
    match to {
        Conversion::Integer | Conversion::IntegerEu => match v {
            Value::Bool(b) => Some(Value::from(*b as i64)),
            Value::Number(n) if n.is_i64() || n.is_u64() => Some(v.clone()),
            Value::Number(n) => n.as_f64().map(|f| Value::from(f.trunc() as i64)),
            Value::String(s) => {
                let eu = to == Conversion::IntegerEu;
                let separator = if eu { '.' } else { ',' };
                let trimmed = s.trim();
                // Most values have no thousands separator: parse them where they lie.
                let cleaned = match trimmed.contains(separator) {
                    true => std::borrow::Cow::Owned(trimmed.replace(separator, "")),
                    false => std::borrow::Cow::Borrowed(trimmed),
                };
                match cleaned.parse::<i64>() {
                    Ok(i) => Some(Value::from(i)),
                    Err(_) => parse_number(s, eu).map(|f| Value::from(f.trunc() as i64)),
                }
            }
            _ => None,
        },
        Conversion::Float | Conversion::FloatEu => match v {
            Value::Bool(b) => float_value(if *b { 1.0 } else { 0.0 }),
            Value::Number(n) => n.as_f64().and_then(float_value),
            Value::String(s) => parse_number(s, to == Conversion::FloatEu).and_then(float_value),
            _ => None,
        },
        Conversion::String => Some(Value::String(match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => {
                let mut s = String::new();
                crate::event::template_value(other, &mut s);
                s
            }
        })),
        Conversion::Boolean => match v {
            Value::Bool(_) => Some(v.clone()),
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "true" | "t" | "yes" | "y" | "1" | "1.0" => Some(Value::Bool(true)),
                "false" | "f" | "no" | "n" | "0" | "0.0" | "" => Some(Value::Bool(false)),
                _ => None,
            },
            Value::Number(n) => match n.as_f64() {
                Some(f) if f == 1.0 => Some(Value::Bool(true)),
                Some(f) if f == 0.0 => Some(Value::Bool(false)),
                _ => None,
            },
            _ => None,
        },
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars.flat_map(char::to_lowercase)).collect(),
        None => String::new(),
    }
}

/// Ruby's `String#split` with a string separator: trailing empty pieces are dropped, and a
/// single space splits on runs of whitespace.
fn ruby_split(s: &str, sep: &str) -> Vec<Value> {
    let mut parts: Vec<&str> = if sep == " " { s.split_whitespace().collect() } else { s.split(sep).collect() };
    while parts.last() == Some(&"") {
        parts.pop();
    }
    parts.into_iter().map(|p| Value::String(p.to_string())).collect()
}

fn as_array(v: Option<Value>) -> Vec<Value> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a,
        Some(other) => vec![other],
    }
}

struct Blocked;

impl Mutate {
    fn apply(&self, e: &mut Event) -> Result<(), Blocked> {
        let set = |e: &mut Event, r: &FieldRef, v: Value| e.set(r, v).map_err(|_| Blocked);
        for (f, default) in &self.coerce {
            if let Some(v @ Value::Null) = e.get_mut(f) {
                *v = default.clone();
            }
        }
        for (from, to) in &self.rename {
            let (Some(from), Some(to)) = (from.resolve(e).map(|c| c.into_owned()), to.resolve(e).map(|c| c.into_owned())) else { continue };
            if let Some(v) = e.remove(&from) {
                set(e, &to, v)?;
            }
        }
        for (f, t) in &self.update {
            if e.contains(f) {
                let v = Value::String(t.render(e).into_owned());
                set(e, f, v)?;
            }
        }
        for (f, t) in &self.replace {
            let Some(f) = f.resolve(e).map(|c| c.into_owned()) else { continue };
            let v = Value::String(t.render(e).into_owned());
            set(e, &f, v)?;
        }
        for (f, to) in &self.convert {
            let Some(v) = e.get_mut(f) else { continue };
            match v {
                Value::Array(items) => {
                    for item in items.iter_mut() {
                        if let Some(c) = convert(item, *to) {
                            *item = c;
                        }
                    }
                }
                Value::Object(_) => {}
                other => {
                    if let Some(c) = convert(other, *to) {
                        *other = c;
                    }
                }
            }
        }
        for g in &self.gsub {
            if let Some(v) = e.get_mut(&g.field) {
                each_string(v, &|s| g.regex.replace_all(s, g.replacement.as_str()).into_owned());
            }
        }
        for f in &self.uppercase {
            if let Some(v) = e.get_mut(f) {
                each_string(v, &|s| s.to_uppercase());
            }
        }
        for f in &self.capitalize {
            if let Some(v) = e.get_mut(f) {
                each_string(v, &capitalize);
            }
        }
        for f in &self.lowercase {
            if let Some(v) = e.get_mut(f) {
                each_string(v, &|s| s.to_lowercase());
            }
        }
        for f in &self.strip {
            if let Some(v) = e.get_mut(f) {
                each_string(v, &|s| s.trim().to_string());
            }
        }
        for (f, sep) in &self.split {
            if let Some(v) = e.get_mut(f) {
                if let Value::String(s) = v {
                    *v = Value::Array(ruby_split(s, sep));
                }
            }
        }
        for (f, sep) in &self.join {
            if let Some(v) = e.get_mut(f) {
                if let Value::Array(items) = v {
                    let mut out = String::new();
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            out.push_str(sep);
                        }
                        crate::event::template_value(item, &mut out);
                    }
                    *v = Value::String(out);
                }
            }
        }
        for (dest, added) in &self.merge {
            let dest_value = e.get_value(dest).cloned();
            let added_value = e.get_value(added).cloned();
            match (dest_value, added_value) {
                (Some(Value::Object(mut d)), Some(Value::Object(a))) => {
                    d.extend(a);
                    set(e, dest, Value::Object(d))?;
                }
                (Some(Value::Object(_)), _) | (_, Some(Value::Object(_))) => {
                    tracing::debug!(dest = %dest, added = %added, "mutate cannot merge a hash with a non-hash.");
                }
                (d, a) => {
                    let mut list = as_array(d);
                    list.extend(as_array(a));
                    set(e, dest, Value::Array(list))?;
                }
            }
        }
        for (source, dest) in &self.copy {
            if let Some(v) = e.get(source).map(|c| c.into_owned()) {
                set(e, dest, v)?;
            }
        }
        Ok(())
    }
}

impl Filter for Mutate {
    fn filter(&self, event: &mut Event) -> Outcome {
        match self.apply(event) {
            Ok(()) => Outcome::Matched,
            Err(Blocked) => {
                for t in &self.tag_on_failure {
                    event.add_tag(t);
                }
                Outcome::Failed(MUTATE_ERROR)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn conversions_follow_logstash_docs() {
        assert_eq!(convert(&json!("1,000"), Conversion::Integer), Some(json!(1000)));
        assert_eq!(convert(&json!("3.99"), Conversion::Integer), Some(json!(3)));
        assert_eq!(convert(&json!(true), Conversion::Integer), Some(json!(1)));
        assert_eq!(convert(&json!("1.000,5"), Conversion::FloatEu), Some(json!(1000.5)));
        assert_eq!(convert(&json!("1.000"), Conversion::IntegerEu), Some(json!(1000)));
        assert_eq!(convert(&json!("1,000.5"), Conversion::Float), Some(json!(1000.5)));
        assert_eq!(convert(&json!(12), Conversion::String), Some(json!("12")));
        assert_eq!(convert(&json!("Yes"), Conversion::Boolean), Some(json!(true)));
        assert_eq!(convert(&json!(""), Conversion::Boolean), Some(json!(false)));
        assert_eq!(convert(&json!("maybe"), Conversion::Boolean), None);
        assert_eq!(convert(&json!("-"), Conversion::Integer), None);
    }

    #[test]
    fn ruby_backreferences_become_rust_ones() {
        assert_eq!(ruby_replacement(r"\1-\2"), "${1}-${2}");
        assert_eq!(ruby_replacement(r"\k<word>!"), "${word}!");
        assert_eq!(ruby_replacement("cost $5"), "cost $$5");
    }

    #[test]
    fn split_drops_trailing_empties_like_ruby() {
        assert_eq!(ruby_split("a,b,,", ","), vec![json!("a"), json!("b")]);
        assert_eq!(ruby_split(",a", ","), vec![json!(""), json!("a")]);
        assert_eq!(ruby_split("  a  b ", " "), vec![json!("a"), json!("b")]);
        assert_eq!(capitalize("hELLO wORLD"), "Hello world");
    }
}
