//! Process settings (`sluice.yml`, or a `logstash.yml` left as it was) and `pipelines.yml`.
//!
//! Names are logstash.yml's (`pipeline.workers`, `path.data`, `api.http.port`...), written flat
//! (`pipeline.workers: 2`) or nested (`pipeline: { workers: 2 }`); both are flattened to dotted
//! keys. Values may use `${VAR}` / `${VAR:default}`. Precedence, lowest first: built-in defaults,
//! the settings file, a pipeline's own entry in pipelines.yml, the command line.

use super::env;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use yaml_rust2::{Yaml, YamlLoader};

/// Every setting sluice knows, so a typo in a settings file is an error, not silently ignored.
pub const KNOWN_SETTINGS: &[&str] = &[
    "node.name",
    "path.data",
    "path.config",
    "path.settings",
    "path.logs",
    "path.queue",
    "path.dead_letter_queue",
    "path.plugins",
    "config.string",
    "config.test_and_exit",
    "config.reload.automatic",
    "config.reload.interval",
    "config.support_escapes",
    "config.debug",
    "pipeline.id",
    "pipeline.workers",
    "pipeline.batch.size",
    "pipeline.batch.delay",
    "pipeline.ordered",
    "pipeline.ecs_compatibility",
    "pipeline.unsafe_shutdown",
    "pipeline.separate_logs",
    "pipeline.plugin_classloaders",
    "queue.type",
    "queue.max_events",
    "queue.max_bytes",
    "queue.page_capacity",
    "queue.checkpoint.acks",
    "queue.checkpoint.writes",
    "queue.checkpoint.interval",
    "queue.drain",
    "dead_letter_queue.enable",
    "dead_letter_queue.max_bytes",
    "dead_letter_queue.flush_interval",
    "dead_letter_queue.storage_policy",
    "api.enabled",
    "api.http.host",
    "api.http.port",
    "api.environment",
    "http.host",
    "http.port",
    "log.level",
    "log.format",
    "geoip.database.path",
    "ilm.cleanup.enabled",
    "ilm.cleanup.interval",
    "ilm.cleanup.schedule",
    "ilm.cleanup.hosts",
    "ilm.cleanup.index",
    "ilm.cleanup.older_than",
    "ilm.cleanup.max_size",
    "ilm.cleanup.force_merge_after",
    "ilm.cleanup.dry_run",
    "ilm.cleanup.user",
    "ilm.cleanup.password",
    "ilm.cleanup.api_key",
    "ilm.cleanup.ssl_certificate_authorities",
    "ilm.cleanup.ssl_verification_mode",
    "ilm.cleanup.timeout",
    "monitoring.enabled",
    "xpack.monitoring.enabled",
];

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path} is not valid YAML: {message}")]
    Yaml { path: String, message: String },
    #[error("{path}: unknown setting `{key}`{hint}")]
    Unknown { path: String, key: String, hint: String },
    #[error("{path}: setting `{key}`: {message}")]
    Invalid { path: String, key: String, message: String },
    #[error("{path}: {message}")]
    Shape { path: String, message: String },
}

/// Flattened settings: dotted key to its text value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    values: BTreeMap<String, String>,
    /// Where they came from, for error messages.
    pub origin: String,
}

impl Settings {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.values.insert(key.to_string(), value.into());
    }

    /// Later settings win.
    pub fn merged(&self, over: &Settings) -> Settings {
        let mut values = self.values.clone();
        values.extend(over.values.iter().map(|(k, v)| (k.clone(), v.clone())));
        Settings { values, origin: over.origin.clone() }
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    fn invalid(&self, key: &str, message: String) -> SettingsError {
        SettingsError::Invalid { path: self.origin.clone(), key: key.to_string(), message }
    }

    pub fn usize(&self, key: &str) -> Result<Option<usize>, SettingsError> {
        self.get(key)
            .map(|v| v.trim().parse::<usize>().map_err(|_| self.invalid(key, format!("expected a whole number, got `{v}`"))))
            .transpose()
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, SettingsError> {
        self.get(key)
            .map(|v| match v.trim() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(self.invalid(key, format!("expected true or false, got `{v}`"))),
            })
            .transpose()
    }

    /// A duration: a bare number in the given unit, or with a unit (`50ms`, `3s`, `1m`, `2h`, `7d`).
    pub fn duration(&self, key: &str, bare_unit: Duration) -> Result<Option<Duration>, SettingsError> {
        self.get(key)
            .map(|v| parse_duration(v, bare_unit).ok_or_else(|| self.invalid(key, format!("expected a duration like 3s, got `{v}`"))))
            .transpose()
    }

    /// A size: `1024`, `64kb`, `1mb`, `4gb`.
    pub fn bytes(&self, key: &str) -> Result<Option<u64>, SettingsError> {
        self.get(key)
            .map(|v| parse_bytes(v).ok_or_else(|| self.invalid(key, format!("expected a size like 1024mb, got `{v}`"))))
            .transpose()
    }

    /// Read a settings file. Unknown keys are errors with the closest known name.
    pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read { path: origin.clone(), source })?;
        let docs = YamlLoader::load_from_str(&text).map_err(|e| SettingsError::Yaml { path: origin.clone(), message: e.to_string() })?;
        let mut values = BTreeMap::new();
        match docs.first() {
            None | Some(Yaml::Null) => {}
            Some(Yaml::Hash(_)) => flatten("", &docs[0], &mut values, &origin)?,
            Some(_) => return Err(SettingsError::Shape { path: origin, message: "expected a mapping of settings".into() }),
        }
        let settings = Settings { values: substitute_all(values, env, &origin)?, origin };
        settings.check_known()?;
        Ok(settings)
    }

    fn check_known(&self) -> Result<(), SettingsError> {
        for key in self.values.keys() {
            if !KNOWN_SETTINGS.contains(&key.as_str()) {
                let hint = super::error::did_you_mean(key, KNOWN_SETTINGS.iter().copied())
                    .map(|m| format!("; did you mean `{m}`?"))
                    .unwrap_or_default();
                return Err(SettingsError::Unknown { path: self.origin.clone(), key: key.clone(), hint });
            }
        }
        Ok(())
    }
}

fn substitute_all(
    values: BTreeMap<String, String>,
    env: &dyn Fn(&str) -> Option<String>,
    origin: &str,
) -> Result<BTreeMap<String, String>, SettingsError> {
    values
        .into_iter()
        .map(|(k, v)| {
            let v = env::substitute(&v, env).map_err(|e| SettingsError::Invalid { path: origin.to_string(), key: k.clone(), message: e.to_string() })?;
            Ok((k, v))
        })
        .collect()
}

fn scalar(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        Yaml::Null => Some(String::new()),
        _ => None,
    }
}

fn flatten(prefix: &str, y: &Yaml, out: &mut BTreeMap<String, String>, origin: &str) -> Result<(), SettingsError> {
    let Yaml::Hash(h) = y else { return Ok(()) };
    for (k, v) in h {
        let Some(k) = scalar(k) else {
            return Err(SettingsError::Shape { path: origin.to_string(), message: "setting names must be text".into() });
        };
        let key = if prefix.is_empty() { k } else { format!("{prefix}.{k}") };
        match v {
            Yaml::Hash(_) => flatten(&key, v, out, origin)?,
            Yaml::Array(items) => {
                // Only a few settings are lists (path.config may be); join them for the loader.
                let parts: Option<Vec<String>> = items.iter().map(scalar).collect();
                let parts = parts.ok_or_else(|| SettingsError::Shape { path: origin.to_string(), message: format!("`{key}` must be a list of values") })?;
                out.insert(key, parts.join(","));
            }
            other => {
                out.insert(key, scalar(other).unwrap_or_default());
            }
        }
    }
    Ok(())
}

/// `pipelines.yml`: a list of pipelines, each a mapping of settings.
pub fn load_pipelines(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Vec<Settings>, SettingsError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read { path: origin.clone(), source })?;
    let docs = YamlLoader::load_from_str(&text).map_err(|e| SettingsError::Yaml { path: origin.clone(), message: e.to_string() })?;
    let Some(Yaml::Array(items)) = docs.first() else {
        return Err(SettingsError::Shape { path: origin, message: "expected a list of pipelines (`- pipeline.id: main`)".into() });
    };
    let mut out: Vec<Settings> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let mut values = BTreeMap::new();
        flatten("", item, &mut values, &origin)?;
        let entry_origin = format!("{origin} (pipeline #{})", i + 1);
        let s = Settings { values: substitute_all(values, env, &entry_origin)?, origin: entry_origin };
        s.check_known()?;
        let Some(id) = s.get("pipeline.id") else {
            return Err(SettingsError::Shape { path: s.origin.clone(), message: "every pipeline needs a `pipeline.id`".into() });
        };
        if out.iter().any(|o| o.get("pipeline.id") == Some(id)) {
            return Err(SettingsError::Shape { path: s.origin.clone(), message: format!("pipeline.id `{id}` is used twice") });
        }
        if s.get("path.config").is_none() && s.get("config.string").is_none() {
            return Err(SettingsError::Shape { path: s.origin.clone(), message: format!("pipeline `{id}` needs `path.config` or `config.string`") });
        }
        out.push(s);
    }
    Ok(out)
}

pub fn parse_duration(v: &str, bare_unit: Duration) -> Option<Duration> {
    let v = v.trim();
    let split = v.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: f64 = num.parse().ok()?;
    let unit_secs = match unit.trim() {
        "" => bare_unit.as_secs_f64(),
        "ns" | "nanos" => 1e-9,
        "us" | "micros" => 1e-6,
        "ms" | "millis" => 1e-3,
        "s" | "seconds" => 1.0,
        "m" | "minutes" => 60.0,
        "h" | "hours" => 3600.0,
        "d" | "days" => 86400.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(n * unit_secs))
}

pub fn parse_bytes(v: &str) -> Option<u64> {
    let v = v.trim().to_ascii_lowercase();
    let split = v.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult: f64 = match unit.trim() {
        "" | "b" => 1.0,
        "kb" | "k" => 1024.0,
        "mb" | "m" => 1024.0 * 1024.0,
        "gb" | "g" => 1024.0 * 1024.0 * 1024.0,
        "tb" | "t" => 1024f64.powi(4),
        _ => return None,
    };
    Some((n * mult) as u64)
}

/// Where the settings directory is: the flag, else /etc/sluice when it exists.
pub fn default_settings_dir() -> Option<PathBuf> {
    let etc = PathBuf::from("/etc/sluice");
    etc.join("sluice.yml").exists().then_some(etc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
        f
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn flat_and_nested_keys_read_the_same() {
        let flat = write("pipeline.workers: 2\npipeline.batch.size: 125\napi.http.port: 9600\n");
        let nested = write("pipeline:\n  workers: 2\n  batch:\n    size: 125\napi:\n  http:\n    port: 9600\n");
        let a = Settings::load(flat.path(), &no_env).unwrap();
        let b = Settings::load(nested.path(), &no_env).unwrap();
        assert_eq!(a.values, b.values);
        assert_eq!(a.usize("pipeline.workers").unwrap(), Some(2));
    }

    #[test]
    fn unknown_settings_suggest_the_right_name() {
        let f = write("pipeline.worker: 2\n");
        let e = Settings::load(f.path(), &no_env).unwrap_err().to_string();
        assert!(e.contains("unknown setting `pipeline.worker`") && e.contains("did you mean `pipeline.workers`"), "{e}");
    }

    #[test]
    fn environment_variables_are_substituted() {
        let f = write("path.data: \"${DATA_DIR:/tmp/x}\"\nnode.name: ${NODE}\n");
        let env = |k: &str| (k == "NODE").then(|| "n1".to_string());
        let s = Settings::load(f.path(), &env).unwrap();
        assert_eq!(s.get("path.data"), Some("/tmp/x"));
        assert_eq!(s.get("node.name"), Some("n1"));
    }

    #[test]
    fn reference_pipelines_yml() {
        let f = write(
            "- pipeline.id: main\n  path.config: \"/etc/logstash/conf.d/*.conf\"\n  pipeline.workers: 2\n  pipeline.batch.size: 125\n  pipeline.batch.delay: 50\n",
        );
        let p = load_pipelines(f.path(), &no_env).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].get("path.config"), Some("/etc/logstash/conf.d/*.conf"));
        assert_eq!(p[0].duration("pipeline.batch.delay", Duration::from_millis(1)).unwrap(), Some(Duration::from_millis(50)));
    }

    #[test]
    fn pipelines_need_ids_and_a_config() {
        assert!(load_pipelines(write("- path.config: /x\n").path(), &no_env).is_err());
        assert!(load_pipelines(write("- pipeline.id: a\n").path(), &no_env).is_err());
        assert!(load_pipelines(write("- pipeline.id: a\n  config.string: x\n- pipeline.id: a\n  config.string: y\n").path(), &no_env).is_err());
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("50", Duration::from_millis(1)), Some(Duration::from_millis(50)));
        assert_eq!(parse_duration("3s", Duration::from_millis(1)), Some(Duration::from_secs(3)));
        assert_eq!(parse_duration("7d", Duration::from_secs(1)), Some(Duration::from_secs(7 * 86400)));
        assert_eq!(parse_bytes("1024mb"), Some(1024 * 1024 * 1024));
        assert_eq!(parse_bytes("lots"), None);
    }
}
