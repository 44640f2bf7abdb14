//! Index lifecycle: the retention cleanup of daily indices and the install of an ILM policy.
//!
//! # Layout
//! - `pattern`: index name patterns (`logs-*-%{+YYYY.MM.dd}`) and the date a name reads.
//! - `plan`: what a cleanup does, a pure function of the indices, the rules and the time.
//! - `cluster`: the few requests it takes, failing over between hosts; they are the ones
//!   Elasticsearch with or without ILM and OpenSearch all have (`_cat/indices`, index settings,
//!   `DELETE`, `_forcemerge`).
//! - `cleanup`: one run — list, plan, act, report each action.
//! - `install`: the ILM policy and index template, for clusters that have ILM.
//! - `schedule`: the cleanup run by the daemon when sluice.yml asks for it.
//!
//! The `sluice ilm` subcommand (`cli::ilm`) and the daemon build the same `CleanupConfig`, so a
//! cron job and the schedule behave alike.

pub mod cleanup;
pub mod cluster;
pub mod install;
pub mod pattern;
pub mod plan;
pub mod schedule;

use crate::config::settings::{parse_bytes, parse_duration};
use crate::outputs::elasticsearch::hosts::{self, ClientSettings};
use std::path::PathBuf;
use std::time::Duration;

/// How to reach the cluster: what the elasticsearch output's connection options give.
#[derive(Debug, Clone)]
pub struct Connection {
    /// `host:port` or URLs; requests fail over from one to the next.
    pub hosts: Vec<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    /// `id:api_key`, as Elasticsearch creates it.
    pub api_key: Option<String>,
    pub ca_files: Vec<PathBuf>,
    /// `ssl_verification_mode` full (true) or none.
    pub verify: bool,
    /// For each request but force merges, which wait for the merge.
    pub timeout: Duration,
}

impl Connection {
    /// Check the options and build the HTTP client settings and the normalised host URLs.
    pub fn resolve(&self) -> Result<(Vec<String>, ClientSettings), String> {
        let hosts: Vec<String> = self.hosts.iter().flat_map(|h| h.split(',')).map(str::trim).filter(|h| !h.is_empty()).map(String::from).collect();
        if hosts.is_empty() {
            return Err("no Elasticsearch host given".into());
        }
        let bases = hosts.iter().map(|h| hosts::parse_host(h, None, "").map_err(|e| e.to_string())).collect::<Result<Vec<_>, _>>()?;
        let authorization = match (&self.user, &self.password, &self.api_key) {
            (Some(_), _, Some(_)) | (None, Some(_), Some(_)) => return Err("give either an API key or a user and password, not both".into()),
            (Some(u), p, None) => Some(hosts::basic_authorization(&format!("{u}:{}", p.as_deref().unwrap_or_default()))),
            (None, Some(_), None) => return Err("a password needs a user".into()),
            (None, None, Some(k)) => {
                if !bases.iter().all(|b| b.starts_with("https://")) {
                    return Err("an API key is only sent over TLS: use https:// hosts".into());
                }
                Some(hosts::api_key_authorization(k))
            }
            (None, None, None) => None,
        };
        let client = ClientSettings { timeout: self.timeout, ca_files: self.ca_files.clone(), verify: self.verify, authorization, custom_headers: Vec::new() };
        Ok((bases, client))
    }
}

/// Everything one cleanup run needs.
#[derive(Debug, Clone)]
pub struct CleanupConfig {
    pub connection: Connection,
    pub rules: plan::Rules,
    /// Report what would be done, do nothing.
    pub dry_run: bool,
}

/// A duration option of the cleanup (`7d`, `36h`); a bare number is days.
pub fn duration_option(name: &str, v: &str) -> Result<Duration, String> {
    parse_duration(v, Duration::from_secs(86_400)).filter(|d| !d.is_zero()).ok_or_else(|| format!("{name} must be a duration such as 7d or 36h, not `{v}`"))
}

/// The rules from their text, as both the command line and sluice.yml give them. `name` spells
/// an option for error messages (`older_than` → `--older-than` or `ilm.cleanup.older_than`).
pub fn rules(
    patterns: &[String],
    older_than: Option<&str>,
    max_size: Option<&str>,
    force_merge_after: Option<&str>,
    name: &dyn Fn(&str) -> String,
) -> Result<plan::Rules, String> {
    let patterns: Vec<&str> = patterns.iter().flat_map(|p| p.split(',')).map(str::trim).filter(|p| !p.is_empty()).collect();
    if patterns.is_empty() {
        return Err(format!("give at least one index pattern in {} (such as 'logs-*-%{{+YYYY.MM.dd}}')", name("index")));
    }
    let patterns = patterns.into_iter().map(|p| pattern::IndexPattern::parse(p).map_err(|e| e.to_string())).collect::<Result<Vec<_>, _>>()?;
    let older_than = older_than.map(|v| duration_option(&name("older_than"), v)).transpose()?;
    let max_size = max_size
        .map(|v| parse_bytes(v).filter(|n| *n > 0).ok_or_else(|| format!("{} must be a size such as 200gb, not `{v}`", name("max_size"))))
        .transpose()?;
    let force_merge_after = force_merge_after.map(|v| duration_option(&name("force_merge_after"), v)).transpose()?;
    if older_than.is_none() && max_size.is_none() && force_merge_after.is_none() {
        return Err(format!("nothing to do: give {}, {} or {}", name("older_than"), name("max_size"), name("force_merge_after")));
    }
    Ok(plan::Rules { patterns, older_than, max_size, force_merge_after })
}

/// Option names as the command line spells them.
pub fn flag_name(n: &str) -> String {
    format!("--{}", n.replace('_', "-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(hosts: &[&str]) -> Connection {
        Connection {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            user: None,
            password: None,
            api_key: None,
            ca_files: Vec::new(),
            verify: true,
            timeout: Duration::from_secs(60),
        }
    }

    #[test]
    fn hosts_may_be_repeated_or_comma_separated() {
        let (bases, _) = conn(&["http://a:9200,b", "https://c:9243"]).resolve().unwrap();
        assert_eq!(bases, vec!["http://a:9200", "http://b:9200", "https://c:9243"]);
        assert!(conn(&[]).resolve().is_err());
    }

    #[test]
    fn credentials_become_the_authorization_header() {
        let mut c = conn(&["http://a"]);
        c.user = Some("elastic".into());
        c.password = Some("changeme".into());
        // base64("elastic:changeme")
        assert_eq!(c.resolve().unwrap().1.authorization.as_deref(), Some("Basic ZWxhc3RpYzpjaGFuZ2VtZQ=="));
        let mut k = conn(&["http://a"]);
        k.api_key = Some("id:key".into());
        assert!(k.resolve().unwrap_err().contains("TLS"));
        k.hosts = vec!["https://a".into()];
        // base64("id:key")
        assert_eq!(k.resolve().unwrap().1.authorization.as_deref(), Some("ApiKey aWQ6a2V5"));
    }

    #[test]
    fn rules_need_a_pattern_and_something_to_do() {
        let p = vec!["logs-*-%{+YYYY.MM.dd}".to_string()];
        let e = rules(&p, None, None, None, &flag_name).unwrap_err();
        assert_eq!(e, "nothing to do: give --older-than, --max-size or --force-merge-after");
        assert!(rules(&[], Some("7d"), None, None, &flag_name).is_err());
        let r = rules(&p, Some("7"), Some("200gb"), Some("36h"), &flag_name).unwrap();
        assert_eq!(r.older_than, Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(r.max_size, Some(200 * 1024 * 1024 * 1024));
        assert_eq!(r.force_merge_after, Some(Duration::from_secs(36 * 3_600)));
        assert!(rules(&p, Some("soon"), None, None, &flag_name).unwrap_err().starts_with("--older-than must be"));
        assert!(rules(&p, None, Some("big"), None, &flag_name).is_err());
        assert_eq!(rules(&["a-*,b-*".to_string()], Some("1d"), None, None, &flag_name).unwrap().patterns.len(), 2);
    }
}
