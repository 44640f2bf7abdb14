//! Placeholder until the Joda compiler lands: supports the tokens index names use.
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad joda pattern")]
pub struct JodaError;

#[derive(Debug, Clone)]
pub struct JodaFormat { strftime: String }

impl JodaFormat {
    pub fn compile(pattern: &str) -> Result<JodaFormat, JodaError> {
        let s = pattern.replace("yyyy", "%Y").replace("YYYY", "%Y").replace("MM", "%m").replace("dd", "%d").replace("HH", "%H");
        Ok(JodaFormat { strftime: s })
    }
    pub fn format_utc(&self, t: DateTime<Utc>, out: &mut String) {
        use std::fmt::Write;
        let _ = write!(out, "{}", t.format(&self.strftime));
    }
}
