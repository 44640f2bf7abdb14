//! Config errors that point at the text: a message, the span it is about, and a hint.

use super::ast::Span;
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub message: String,
    /// Where in the concatenated config text; `None` for errors about files or settings.
    pub span: Option<Span>,
    /// A "did you mean" or another suggestion, printed after the snippet.
    pub help: Option<String>,
}

impl ConfigError {
    pub fn at(span: Span, message: impl Into<String>) -> ConfigError {
        ConfigError { message: message.into(), span: Some(span), help: None }
    }

    pub fn new(message: impl Into<String>) -> ConfigError {
        ConfigError { message: message.into(), span: None, help: None }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> ConfigError {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(h) = &self.help {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// The closest candidate to `name`, if one is close enough to be a plausible typo.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let opts = ["port", "host", "codec", "max_line_bytes"];
        assert_eq!(did_you_mean("prot", opts), Some("port"));
        assert_eq!(did_you_mean("max_line_byte", opts), Some("max_line_bytes"));
        assert_eq!(did_you_mean("zzzz", opts), None);
    }
}
