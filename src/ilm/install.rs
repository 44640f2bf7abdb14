//! `sluice ilm install`: an ILM policy (hot, then delete after the retention) and the index
//! template that names it, so that Elasticsearch itself deletes old indices.
//!
//! The template is the elasticsearch output's own (`outputs::elasticsearch::template`): same
//! mappings, same name (`sluice-<prefix>`), so it takes the place of the one the output
//! installs, which an output leaves alone once it exists (`template_overwrite` false). Indices
//! created after the install carry `index.lifecycle.name`; existing ones are not changed.
//!
//! Only clusters with ILM can take this: OpenSearch has its own state management, and an
//! Elasticsearch without the ILM module refuses `index.lifecycle.name`. For those the command
//! says so and installs nothing; `sluice ilm cleanup` does the job there.

use super::cluster::{Cluster, ClusterError, Flavor};
use super::pattern::human_duration;
use crate::outputs::elasticsearch::template;
use crate::outputs::elasticsearch::url_encode;
use serde_json::{json, Value};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct InstallConfig {
    pub policy: String,
    pub delete_after: Duration,
    /// Rollover conditions: for indices written through a rollover alias or a data stream.
    pub rollover_max_size: Option<u64>,
    pub rollover_max_age: Option<Duration>,
    /// `index_patterns` of the templates, one template each.
    pub index_patterns: Vec<String>,
    /// The template name when there is one pattern; default `sluice-<prefix>`.
    pub template_name: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("{0}")]
    NoIlm(String),
}

/// The policy document: a hot phase (with rollover when asked for) and a delete phase
/// `delete_after` after the index was created (or rolled over).
pub fn policy(c: &InstallConfig) -> Value {
    let mut hot = json!({"set_priority": {"priority": 100}});
    let mut rollover = serde_json::Map::new();
    if let Some(s) = c.rollover_max_size {
        rollover.insert("max_size".into(), json!(es_size(s)));
    }
    if let Some(a) = c.rollover_max_age {
        rollover.insert("max_age".into(), json!(human_duration(a)));
    }
    if !rollover.is_empty() {
        hot["rollover"] = Value::Object(rollover);
    }
    json!({"policy": {
        "_meta": {"managed_by": "sluice"},
        "phases": {
            "hot": {"min_age": "0ms", "actions": hot},
            "delete": {"min_age": human_duration(c.delete_after), "actions": {"delete": {}}}
        }
    }})
}

/// A size in Elasticsearch's units, in the largest unit that divides it (`50gb`, `1536mb`).
fn es_size(n: u64) -> String {
    for (unit, size) in [("tb", 1u64 << 40), ("gb", 1 << 30), ("mb", 1 << 20), ("kb", 1 << 10)] {
        if n >= size && n % size == 0 {
            return format!("{}{unit}", n / size);
        }
    }
    format!("{n}b")
}

/// (template name, template) for each pattern.
pub fn templates(c: &InstallConfig) -> Vec<(String, Value)> {
    c.index_patterns
        .iter()
        .map(|p| {
            let name = match (&c.template_name, c.index_patterns.len()) {
                (Some(n), 1) => n.clone(),
                _ => template::default_name(p),
            };
            (name, template::default_template(p, Some(&c.policy)))
        })
        .collect()
}

/// Install the policy, then the templates; `report` gets a line for each.
pub async fn install(cluster: &Cluster, c: &InstallConfig, report: &mut dyn FnMut(String)) -> Result<(), InstallError> {
    match cluster.flavor().await? {
        Flavor::OpenSearch(v) => {
            return Err(InstallError::NoIlm(format!(
                "this cluster is OpenSearch {v}, which has no ILM (it has Index State Management); \
                 delete old indices with `sluice ilm cleanup --older-than {}` instead",
                human_duration(c.delete_after)
            )))
        }
        Flavor::Elasticsearch(_) if !cluster.has_ilm().await? => {
            return Err(InstallError::NoIlm(format!(
                "this Elasticsearch cluster has no index lifecycle management (a distribution without the ILM module); \
                 nothing was installed; delete old indices with `sluice ilm cleanup --older-than {}` instead",
                human_duration(c.delete_after)
            )))
        }
        Flavor::Elasticsearch(_) => {}
    }
    cluster.put(&format!("ILM policy `{}`", c.policy), &format!("/_ilm/policy/{}", url_encode(&c.policy)), &policy(c)).await?;
    report(format!("installed ILM policy {} (delete {} after creation)", c.policy, human_duration(c.delete_after)));
    for (name, body) in templates(c) {
        cluster.put(&format!("index template `{name}`"), &format!("/_index_template/{}", url_encode(&name)), &body).await?;
        report(format!("installed index template {name} for {} with index.lifecycle.name {}", body["index_patterns"][0].as_str().unwrap_or(""), c.policy));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> InstallConfig {
        InstallConfig {
            policy: "logs-default".into(),
            delete_after: Duration::from_secs(7 * 86_400),
            rollover_max_size: None,
            rollover_max_age: None,
            index_patterns: vec!["logs-*".into()],
            template_name: None,
        }
    }

    /// The body of `PUT _ilm/policy/logs-default`, as the ILM policy API documents it.
    #[test]
    fn the_policy_has_a_hot_and_a_delete_phase() {
        assert_eq!(
            policy(&config()),
            json!({"policy": {
                "_meta": {"managed_by": "sluice"},
                "phases": {
                    "hot": {"min_age": "0ms", "actions": {"set_priority": {"priority": 100}}},
                    "delete": {"min_age": "7d", "actions": {"delete": {}}}
                }
            }})
        );
        let mut c = config();
        c.rollover_max_size = Some(50 * 1024 * 1024 * 1024);
        c.rollover_max_age = Some(Duration::from_secs(86_400));
        assert_eq!(policy(&c)["policy"]["phases"]["hot"]["actions"]["rollover"], json!({"max_size": "50gb", "max_age": "1d"}));
        assert_eq!(es_size(1536 * 1024 * 1024), "1536mb");
        assert_eq!(es_size(100), "100b");
    }

    #[test]
    fn templates_are_the_outputs_with_the_policy_named() {
        let t = templates(&config());
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].0, "sluice-logs", "the name the elasticsearch output gives its template for logs-*");
        assert_eq!(t[0].1["template"]["settings"]["index"]["lifecycle"]["name"], "logs-default");
        assert_eq!(t[0].1["index_patterns"], json!(["logs-*"]));
        let mut c = config();
        c.template_name = Some("mine".into());
        assert_eq!(templates(&c)[0].0, "mine");
    }
}
