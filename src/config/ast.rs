//! Abstract syntax tree of the Logstash configuration language.
//! Every node keeps the byte offset (`Span`) of where it starts in the concatenated source so the
//! compiler can report file:line:column through `SourceMap`.

/// Byte range into the concatenated config text (all files joined).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span { pub start: usize, pub end: usize }

#[derive(Debug, Clone, PartialEq)]
pub struct Config { pub sections: Vec<Section> }

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PluginKind { Input, Filter, Output }

#[derive(Debug, Clone, PartialEq)]
pub struct Section { pub kind: PluginKind, pub body: Vec<Statement>, pub span: Span }

#[derive(Debug, Clone, PartialEq)]
pub enum Statement { Plugin(Plugin), Branch(Branch) }

#[derive(Debug, Clone, PartialEq)]
pub struct Plugin {
    pub name: String,
    pub name_span: Span,
    pub attributes: Vec<Attribute>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attribute { pub name: String, pub name_span: Span, pub value: Value }

#[derive(Debug, Clone, PartialEq)]
pub struct Value { pub kind: ValueKind, pub span: Span }

#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind {
    /// A quoted string, escapes already processed (see the escape rules in the task).
    String(String),
    /// A number as written (`-1`, `3.5`); kept as text, the compiler decides int or float.
    Number(String),
    /// An unquoted word: `true`, `false`, `json_lines`, `integer`...
    Bareword(String),
    Array(Vec<Value>),
    /// Entries in source order; duplicate keys are NOT merged here (the compiler reports them).
    Hash(Vec<HashEntry>),
    /// A codec written as a plugin block: `codec => json_lines { charset => "UTF-8" }`.
    Plugin(Plugin),
}

#[derive(Debug, Clone, PartialEq)]
pub struct HashEntry { pub key: String, pub key_span: Span, pub value: Value }

/// `if c1 { .. } else if c2 { .. } else { .. }`
#[derive(Debug, Clone, PartialEq)]
pub struct Branch {
    pub cases: Vec<(Condition, Vec<Statement>)>,
    pub otherwise: Option<Vec<Statement>>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoolOp { And, Or, Xor, Nand }

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp { Eq, Ne, Lt, Gt, Le, Ge }

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Binary boolean operator; the parser applies precedence and left associativity:
    /// `and` binds tightest, then `nand`, then `xor`, then `or`.
    Bool(BoolOp, Box<Condition>, Box<Condition>),
    /// `!expr` or `!(cond)`
    Not(Box<Condition>),
    Compare(Rvalue, CompareOp, Rvalue),
    /// `lhs =~ rhs` (negated = false) or `lhs !~ rhs` (negated = true); rhs is Rvalue::Regex or Rvalue::String.
    Match { lhs: Rvalue, negated: bool, rhs: Rvalue },
    /// `a in b` (negated = false) / `a not in b` (negated = true)
    In { needle: Rvalue, negated: bool, haystack: Rvalue },
    /// A bare rvalue used as a truth test: `if [field] { }`.
    Truthy(Rvalue),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rvalue { pub kind: RvalueKind, pub span: Span }

#[derive(Debug, Clone, PartialEq)]
pub enum RvalueKind {
    String(String),
    Number(String),
    /// A field reference exactly as written, e.g. `[fields][service]` or `[@metadata][x]`.
    Selector(String),
    Array(Vec<Rvalue>),
    /// The pattern between the slashes of `/.../`, with `\/` turned into `/` and nothing else changed.
    Regex(String),
}
