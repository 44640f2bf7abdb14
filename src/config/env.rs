//! `${VAR}` / `${VAR:default}` substitution in config values, as Logstash does it.
//!
//! Checked against Logstash (docs "Using environment variables" and
//! `SubstitutionVariables`/`ConfigVariableExpander`): a reference matches
//! `\$\{(?<name>[a-zA-Z_.][a-zA-Z0-9_.]*)(:(?<default>[^}]*))?\}`, so a name may start with `.`,
//! the default runs to the first `}` (it may be empty and may contain `:`), and is not itself
//! expanded. Every match in the string is replaced (Ruby's `gsub`); text that does not match
//! the pattern (`${1X}`, `${` without `}`) is left as written. A defined variable wins over the
//! default even when its value is empty; a reference with neither value nor default is an error.
//! Logstash also looks in its secret keystore first: `lookup` is where a caller plugs that in.

use std::borrow::Cow;

/// A `${VAR}` reference that cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    #[error(
        "cannot evaluate `{reference}`: variable `{name}` is not defined and no default is given (write `${{{name}:default}}` to give one)"
    )]
    Undefined {
        /// The variable name, e.g. `ES_HOST`.
        name: String,
        /// The reference as written, e.g. `${ES_HOST}`.
        reference: String,
        /// Byte offset of the reference within the substituted string.
        offset: usize,
    },
}

/// Replaces every `${VAR}` / `${VAR:default}` in `s` using `lookup`.
pub fn substitute(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, EnvError> {
    substitute_cow(s, lookup).map(Cow::into_owned)
}

/// Like `substitute`, but borrows `s` when there is nothing to replace.
pub fn substitute_cow<'a>(
    s: &'a str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Cow<'a, str>, EnvError> {
    let Some(first) = s.find("${") else {
        return Ok(Cow::Borrowed(s));
    };
    let mut out = String::with_capacity(s.len());
    let mut copied = 0;
    let mut search = first;
    while let Some(found) = s[search..].find("${") {
        let at = search + found;
        match reference_at(s, at) {
            Some(r) => {
                let value = match (lookup(r.name), r.default) {
                    (Some(v), _) => Cow::Owned(v),
                    (None, Some(d)) => Cow::Borrowed(d),
                    (None, None) => {
                        return Err(EnvError::Undefined {
                            name: r.name.to_string(),
                            reference: s[at..r.end].to_string(),
                            offset: at,
                        });
                    }
                };
                out.push_str(&s[copied..at]);
                out.push_str(&value);
                copied = r.end;
                search = r.end;
            }
            // No match can start at the `{`, so resume after it.
            None => search = at + 2,
        }
    }
    if copied == 0 {
        return Ok(Cow::Borrowed(s));
    }
    out.push_str(&s[copied..]);
    Ok(Cow::Owned(out))
}

struct Reference<'a> {
    name: &'a str,
    default: Option<&'a str>,
    /// Byte offset just past the closing `}`.
    end: usize,
}

/// Matches the placeholder pattern at `at`, where `s[at..]` starts with `${`.
fn reference_at(s: &str, at: usize) -> Option<Reference<'_>> {
    let body = &s[at + 2..];
    let b = body.as_bytes();
    let first = *b.first()?;
    if !(first.is_ascii_alphabetic() || first == b'_' || first == b'.') {
        return None;
    }
    let name_len = 1 + b[1..]
        .iter()
        .take_while(|&&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
        .count();
    let name = &body[..name_len];
    match b.get(name_len) {
        Some(b'}') => Some(Reference {
            name,
            default: None,
            end: at + 2 + name_len + 1,
        }),
        Some(b':') => {
            let rest = &body[name_len + 1..];
            let close = rest.find('}')?;
            Some(Reference {
                name,
                default: Some(&rest[..close]),
                end: at + 2 + name_len + 1 + close + 1,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TCP_PORT" => Some("12345".to_string()),
            "ES_HOST" => Some("es.local".to_string()),
            "EMPTY" => Some(String::new()),
            "a.b" => Some("dotted".to_string()),
            ".hidden" => Some("dot-first".to_string()),
            _ => None,
        }
    }

    #[test]
    fn whole_value_reference() {
        assert_eq!(substitute("${TCP_PORT}", &env).unwrap(), "12345");
    }

    #[test]
    fn references_inside_text_are_all_replaced() {
        assert_eq!(
            substitute("http://${ES_HOST}:${ES_PORT:9200}/${ES_HOST}", &env).unwrap(),
            "http://es.local:9200/es.local"
        );
    }

    #[test]
    fn default_is_used_only_when_the_variable_is_undefined() {
        assert_eq!(substitute("${NOPE:fallback}", &env).unwrap(), "fallback");
        assert_eq!(substitute("${TCP_PORT:1}", &env).unwrap(), "12345");
        // Defined but empty is still defined.
        assert_eq!(substitute("[${EMPTY:x}]", &env).unwrap(), "[]");
    }

    #[test]
    fn default_may_be_empty_or_contain_colons() {
        assert_eq!(substitute("a${NOPE:}b", &env).unwrap(), "ab");
        assert_eq!(
            substitute("${NOPE:http://h:9200}", &env).unwrap(),
            "http://h:9200"
        );
    }

    #[test]
    fn default_ends_at_the_first_closing_brace_and_is_not_expanded() {
        assert_eq!(
            substitute("${NOPE:${ES_HOST}}", &env).unwrap(),
            "${ES_HOST}"
        );
    }

    #[test]
    fn names_may_contain_and_start_with_dots() {
        assert_eq!(substitute("${a.b}", &env).unwrap(), "dotted");
        assert_eq!(substitute("${.hidden}", &env).unwrap(), "dot-first");
    }

    #[test]
    fn undefined_without_default_is_an_error_naming_the_variable() {
        let err = substitute("host => ${ES_HOSTS}", &env).unwrap_err();
        assert_eq!(
            err,
            EnvError::Undefined {
                name: "ES_HOSTS".into(),
                reference: "${ES_HOSTS}".into(),
                offset: 8
            }
        );
        assert!(err.to_string().contains("`ES_HOSTS`"), "{err}");
    }

    #[test]
    fn text_that_is_not_a_reference_is_left_alone() {
        for s in [
            "${",
            "${1ABC}",
            "${A-B}",
            "${TCP_PORT",
            "${}",
            "$TCP_PORT",
            "${ TCP_PORT}",
            "%{[field]}",
        ] {
            assert_eq!(substitute(s, &env).unwrap(), s);
        }
        assert_eq!(substitute("$${TCP_PORT}", &env).unwrap(), "$12345");
        assert_eq!(substitute("${${TCP_PORT}}", &env).unwrap(), "${12345}");
        assert_eq!(
            substitute("naïve ${TCP_PORT} ü", &env).unwrap(),
            "naïve 12345 ü"
        );
    }

    #[test]
    fn text_without_references_is_borrowed() {
        let lookup_never_called = |_: &str| -> Option<String> { panic!("no lookup expected") };
        assert!(matches!(
            substitute_cow("plain %{field} $x {y}", &lookup_never_called),
            Ok(Cow::Borrowed(_))
        ));
        assert!(matches!(
            substitute_cow("${1X}", &lookup_never_called),
            Ok(Cow::Borrowed(_))
        ));
    }
}
