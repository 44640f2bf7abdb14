//! The index template and ILM policy the output installs before its first bulk request.
//!
//! The template is composable (`PUT _index_template/<name>`), matches the index option's static
//! prefix (`logs-%{[fields][service]}-%{+YYYY.MM.dd}` gives `logs-*`), and maps what logs hold:
//! `@timestamp` a date, `message` full text, `host.*` and `agent.*` keywords, `tags` keywords,
//! the geoip filter's `location` a geo point, and any other string both as text and as a
//! `.keyword` sub-field for aggregations. Its priority, 200, is above the built-in `logs-*-*`
//! data stream template of Elasticsearch 8 (100), so daily `logs-<service>-<date>` indices stay
//! ordinary indices that take `index` actions.
//!
//! With ILM (`ilm_enabled` auto: when the cluster has it), the default policy is created when
//! missing and named in the template's `index.lifecycle.name`. A cluster without ILM (a minimal
//! distribution, or OpenSearch) gets the template without it and a warning. The default policy
//! only sets the index priority: retention is a decision for whoever owns the cluster, made by
//! editing the policy, never by a log shipper deleting data on its own.

use super::hosts::Host;
use serde_json::{json, Value};

pub const DEFAULT_ILM_POLICY: &str = "sluice-logs";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IlmMode {
    Auto,
    On,
    Off,
}

/// What to install, decided at build time.
#[derive(Debug, Clone)]
pub struct TemplatePlan {
    pub name: String,
    /// `index_patterns` of the default template.
    pub pattern: String,
    /// A template given by file (`template`), used as written.
    pub custom: Option<Value>,
    pub overwrite: bool,
    pub ilm: IlmMode,
    pub ilm_policy: String,
}

/// The index pattern a sprintf index name falls under: its static prefix and `*`, or the name
/// itself when it has no reference. `None` when it starts with a reference.
pub fn pattern_for(index: &str) -> Option<String> {
    match index.find("%{") {
        None if !index.is_empty() => Some(index.to_string()),
        None | Some(0) => None,
        Some(i) => Some(format!("{}*", &index[..i])),
    }
}

/// `sluice-<prefix>`: one template per index family, so two outputs writing `logs-*` and
/// `errors-*` do not overwrite each other's template.
pub fn default_name(pattern: &str) -> String {
    let stem: String = pattern.trim_end_matches('*').trim_end_matches(|c: char| !c.is_ascii_alphanumeric()).to_ascii_lowercase();
    format!("sluice-{stem}")
}

pub fn default_template(pattern: &str, ilm_policy: Option<&str>) -> Value {
    let keyword = |ignore_above: u32| json!({"type": "keyword", "ignore_above": ignore_above});
    let mut settings = json!({"index": {"refresh_interval": "5s"}});
    if let Some(p) = ilm_policy {
        settings["index"]["lifecycle"] = json!({"name": p});
    }
    json!({
        "index_patterns": [pattern],
        "priority": 200,
        "_meta": {"managed_by": "sluice"},
        "template": {
            "settings": settings,
            "mappings": {
                "dynamic_templates": [
                    {"message_field": {"path_match": "message", "match_mapping_type": "string", "mapping": {"type": "text", "norms": false}}},
                    {"host_fields": {"path_match": "host.*", "match_mapping_type": "string", "mapping": keyword(1024)}},
                    {"agent_fields": {"path_match": "agent.*", "match_mapping_type": "string", "mapping": keyword(1024)}},
                    {"string_fields": {"match": "*", "match_mapping_type": "string", "mapping": {
                        "type": "text", "norms": false,
                        "fields": {"keyword": keyword(256)}
                    }}}
                ],
                "properties": {
                    "@timestamp": {"type": "date"},
                    "@version": {"type": "keyword"},
                    "message": {"type": "text", "norms": false},
                    "tags": {"type": "keyword"},
                    "geoip": {"dynamic": true, "properties": {
                        "ip": {"type": "ip"},
                        "location": {"type": "geo_point"},
                        "latitude": {"type": "half_float"},
                        "longitude": {"type": "half_float"}
                    }}
                }
            }
        }
    })
}

pub fn default_policy() -> Value {
    json!({"policy": {
        "_meta": {"managed_by": "sluice"},
        "phases": {"hot": {"min_age": "0ms", "actions": {"set_priority": {"priority": 100}}}}
    }})
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The cluster could not be reached: try again before sending anything.
    #[error("cannot reach {host}: {source}")]
    Unreachable { host: String, source: reqwest::Error },
    /// The cluster refused: say so and carry on without.
    #[error("{what} refused by {host} with status {status}: {body}")]
    Refused { what: String, host: String, status: u16, body: String },
}

fn put_json(client: &reqwest::Client, url: &str, body: &Value) -> reqwest::RequestBuilder {
    client.put(url).header(reqwest::header::CONTENT_TYPE, "application/json").body(body.to_string())
}

async fn send(req: reqwest::RequestBuilder, host: &Host) -> Result<(u16, String), InstallError> {
    let r = req.send().await.map_err(|source| InstallError::Unreachable { host: host.base.clone(), source })?;
    let status = r.status().as_u16();
    let body = r.text().await.map_err(|source| InstallError::Unreachable { host: host.base.clone(), source })?;
    Ok((status, body))
}

/// Install the policy (when there is ILM) and the template on one host.
pub async fn install(client: &reqwest::Client, host: &Host, plan: &TemplatePlan) -> Result<(), InstallError> {
    let mut policy = None;
    if plan.ilm != IlmMode::Off {
        let url = host.url(&format!("/_ilm/policy/{}", plan.ilm_policy));
        let (status, body) = send(client.get(&url), host).await?;
        let has_ilm = status == 200 || (status == 404 && body.contains("resource_not_found_exception"));
        if !has_ilm {
            let level_hint = if plan.ilm == IlmMode::On { " although ilm_enabled is true" } else { "" };
            tracing::warn!(host = %host.base, status, "The cluster has no index lifecycle management{level_hint}; installing the template without a lifecycle policy.");
        } else {
            if status == 404 {
                if plan.ilm_policy == DEFAULT_ILM_POLICY {
                    let (s, b) = send(put_json(client, &url, &default_policy()), host).await?;
                    if s != 200 {
                        return Err(InstallError::Refused {
                            what: format!("ILM policy `{}`", plan.ilm_policy),
                            host: host.base.clone(),
                            status: s,
                            body: b,
                        });
                    }
                    tracing::info!(policy = %plan.ilm_policy, "Installed the ILM policy.");
                } else {
                    tracing::warn!(policy = %plan.ilm_policy, "The ILM policy named by ilm_policy does not exist; indices will report a lifecycle error until it is created.");
                }
            }
            policy = Some(plan.ilm_policy.as_str());
        }
    }
    let url = host.url(&format!("/_index_template/{}", plan.name));
    if !plan.overwrite {
        let (status, _) = send(client.get(&url), host).await?;
        if status == 200 {
            tracing::debug!(template = %plan.name, "Index template already installed; leaving it (template_overwrite is false).");
            return Ok(());
        }
    }
    let body = match &plan.custom {
        Some(t) => t.clone(),
        None => default_template(&plan.pattern, policy),
    };
    let (status, text) = send(put_json(client, &url, &body), host).await?;
    if status != 200 {
        return Err(InstallError::Refused { what: format!("index template `{}`", plan.name), host: host.base.clone(), status, body: text });
    }
    tracing::info!(template = %plan.name, pattern = %plan.pattern, "Installed the index template.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_and_names_come_from_the_static_prefix() {
        assert_eq!(pattern_for("logs-%{[fields][service]}-%{+YYYY.MM.dd}").as_deref(), Some("logs-*"));
        assert_eq!(pattern_for("errors-%{+YYYY.MM.dd}").as_deref(), Some("errors-*"));
        assert_eq!(pattern_for("audit").as_deref(), Some("audit"));
        assert_eq!(pattern_for("%{[@metadata][index]}"), None);
        assert_eq!(default_name("logs-*"), "sluice-logs");
        assert_eq!(default_name("Errors_*"), "sluice-errors");
    }

    #[test]
    fn the_default_template_names_the_policy_only_with_ilm() {
        let with = default_template("logs-*", Some("p1"));
        assert_eq!(with["template"]["settings"]["index"]["lifecycle"]["name"], "p1");
        assert_eq!(with["index_patterns"], json!(["logs-*"]));
        assert!(with["priority"].as_u64().unwrap() > 100, "must win over the built-in logs-*-* template");
        let without = default_template("logs-*", None);
        assert!(without["template"]["settings"]["index"].get("lifecycle").is_none());
        assert_eq!(without["template"]["mappings"]["properties"]["@timestamp"]["type"], "date");
    }
}
