//! Conditionals: `if [fields][service] == "apache" and "error" in [tags]`.
//!
//! The AST condition is compiled once into a tree whose field references are parsed and whose
//! regular expressions are built; evaluation per event only looks values up and compares them.
//! Semantics follow Logstash: a missing field is nil (`[x] == "a"` is false, `[x] != "a"` is
//! true), numbers compare by value whatever their JSON type, `<` and friends order numbers and
//! strings (anything else is false), `in` looks in arrays, substrings of strings and hash keys,
//! and a bare value is true unless it is missing, nil or false.

use crate::config::ast::{self, BoolOp, CompareOp, RvalueKind};
use crate::config::error::ConfigError;
use crate::event::{Event, FieldRef, Value};
use regex::Regex;
use std::borrow::Cow;
use std::cmp::Ordering;

#[derive(Debug, Clone)]
pub enum Condition {
    Bool(BoolOp, Box<Condition>, Box<Condition>),
    Not(Box<Condition>),
    Compare(Operand, CompareOp, Operand),
    Match { lhs: Operand, negated: bool, regex: Regex },
    In { needle: Operand, negated: bool, haystack: Operand },
    Truthy(Operand),
}

#[derive(Debug, Clone)]
pub enum Operand {
    Field(FieldRef),
    Const(Value),
}

impl Operand {
    fn compile(r: &ast::Rvalue) -> Result<Operand, ConfigError> {
        Ok(match &r.kind {
            RvalueKind::String(s) => Operand::Const(Value::String(s.clone())),
            RvalueKind::Number(n) => Operand::Const(number(n).ok_or_else(|| ConfigError::at(r.span, format!("`{n}` is not a number")))?),
            RvalueKind::Selector(s) => Operand::Field(FieldRef::parse(s).map_err(|e| ConfigError::at(r.span, e.to_string()))?),
            RvalueKind::Array(items) => {
                let mut values = Vec::with_capacity(items.len());
                for item in items {
                    match Operand::compile(item)? {
                        Operand::Const(v) => values.push(v),
                        Operand::Field(_) => return Err(ConfigError::at(item.span, "an array in a condition holds constants only")),
                    }
                }
                Operand::Const(Value::Array(values))
            }
            RvalueKind::Regex(_) => return Err(ConfigError::at(r.span, "a regular expression can only follow =~ or !~")),
        })
    }

    fn get<'e>(&'e self, event: &'e Event) -> Option<Cow<'e, Value>> {
        match self {
            Operand::Const(v) => Some(Cow::Borrowed(v)),
            Operand::Field(r) => event.get(r),
        }
    }
}

fn number(text: &str) -> Option<Value> {
    if let Ok(i) = text.parse::<i64>() {
        return Some(Value::from(i));
    }
    text.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(Value::Number)
}

impl Condition {
    pub fn compile(c: &ast::Condition) -> Result<Condition, ConfigError> {
        Ok(match c {
            ast::Condition::Bool(op, l, r) => Condition::Bool(*op, Box::new(Condition::compile(l)?), Box::new(Condition::compile(r)?)),
            ast::Condition::Not(inner) => Condition::Not(Box::new(Condition::compile(inner)?)),
            ast::Condition::Compare(l, op, r) => Condition::Compare(Operand::compile(l)?, *op, Operand::compile(r)?),
            ast::Condition::Match { lhs, negated, rhs } => {
                let pattern = match &rhs.kind {
                    RvalueKind::Regex(p) | RvalueKind::String(p) => p,
                    _ => return Err(ConfigError::at(rhs.span, "=~ and !~ take a regular expression like /^error/")),
                };
                let regex = Regex::new(pattern).map_err(|e| ConfigError::at(rhs.span, format!("invalid regular expression: {e}")))?;
                Condition::Match { lhs: Operand::compile(lhs)?, negated: *negated, regex }
            }
            ast::Condition::In { needle, negated, haystack } => {
                Condition::In { needle: Operand::compile(needle)?, negated: *negated, haystack: Operand::compile(haystack)? }
            }
            ast::Condition::Truthy(r) => Condition::Truthy(Operand::compile(r)?),
        })
    }

    pub fn eval(&self, event: &Event) -> bool {
        match self {
            Condition::Bool(op, l, r) => match op {
                BoolOp::And => l.eval(event) && r.eval(event),
                BoolOp::Or => l.eval(event) || r.eval(event),
                BoolOp::Xor => l.eval(event) ^ r.eval(event),
                BoolOp::Nand => !(l.eval(event) && r.eval(event)),
            },
            Condition::Not(c) => !c.eval(event),
            Condition::Compare(l, op, r) => compare(l.get(event).as_deref(), *op, r.get(event).as_deref()),
            Condition::Match { lhs, negated, regex } => {
                let matched = match lhs.get(event).as_deref() {
                    Some(Value::String(s)) => regex.is_match(s),
                    _ => false,
                };
                matched != *negated
            }
            Condition::In { needle, negated, haystack } => {
                let found = match (needle.get(event), haystack.get(event)) {
                    (Some(n), Some(h)) => contains(&h, &n),
                    _ => false,
                };
                found != *negated
            }
            Condition::Truthy(o) => !matches!(o.get(event).as_deref(), None | Some(Value::Null) | Some(Value::Bool(false))),
        }
    }
}

/// Equality as Logstash sees it: numbers by value, containers element by element.
pub fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| values_equal(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        _ => a == b,
    }
}

fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => Some(i.cmp(&j)),
            _ => x.as_f64()?.partial_cmp(&y.as_f64()?),
        },
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn compare(l: Option<&Value>, op: CompareOp, r: Option<&Value>) -> bool {
    let l = l.unwrap_or(&Value::Null);
    let r = r.unwrap_or(&Value::Null);
    match op {
        CompareOp::Eq => values_equal(l, r),
        CompareOp::Ne => !values_equal(l, r),
        CompareOp::Lt => order(l, r) == Some(Ordering::Less),
        CompareOp::Gt => order(l, r) == Some(Ordering::Greater),
        CompareOp::Le => matches!(order(l, r), Some(Ordering::Less | Ordering::Equal)),
        CompareOp::Ge => matches!(order(l, r), Some(Ordering::Greater | Ordering::Equal)),
    }
}

fn contains(haystack: &Value, needle: &Value) -> bool {
    match haystack {
        Value::Array(items) => items.iter().any(|i| values_equal(i, needle)),
        Value::String(s) => match needle {
            Value::String(n) => s.contains(n.as_str()),
            _ => false,
        },
        Value::Object(m) => needle.as_str().is_some_and(|k| m.contains_key(k)),
        _ => false,
    }
}
