//! The `geoip` filter: where an IP address is, from a MaxMind DB file (GeoLite2/GeoIP2 City,
//! Country, ASN or ISP).
//!
//! The address in `source` is looked up and the fields found are written under `target`: flat
//! with Logstash's legacy names (`[geoip][city_name]`, `[geoip][location]`...), or in ECS mode in
//! the Elastic Common Schema (`[source][geo][city_name]`, `[source][as][number]`). As in
//! Logstash, an address the database does not know, a city without coordinates, a value that
//! is not an address or an absent source tags the event with `tag_on_failure`
//! (`_geoip_lookup_failure`), leaving an empty target where Logstash leaves one. Unlike
//! Logstash, private, loopback, link-local, multicast and other special-purpose addresses are
//! skipped without a tag, since no database places them; and hostnames are not resolved (a
//! filter never waits on the network).
//!
//! Without a `database` option the filter looks for a City (or, with
//! `default_database_type => "ASN"`, an ASN) database in the usual places. Finding none is not
//! fatal: `-t` warns, and events with a public address are tagged `_geoip_database_unavailable`,
//! so a pipeline copied from a machine with Logstash's bundled database still runs.
//!
//! Layout: `database` opens and decodes files, `fields` says what each output field is called
//! and where it goes, `reserved` knows the special-purpose address blocks, `cache` keeps recent
//! lookups.

mod cache;
mod database;
mod fields;
mod reserved;

use super::{Filter, Outcome};
use crate::config::args::{Args, EnvLookup};
use crate::config::ast::Span;
use crate::config::compile::BuildContext;
use crate::config::error::{did_you_mean, ConfigError};
use crate::event::{Entry, Event, FieldRef, Map, Value};
use cache::Lru;
use database::{Database, Miss};
use fields::GeoField;
use std::cell::RefCell;
use thread_local::ThreadLocal;
use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The default failure tag, and the reason failed lookups are counted under.
pub const LOOKUP_FAILURE: &str = "_geoip_lookup_failure";
/// Tag and reason for events that could have been looked up had a database been found.
pub const DATABASE_UNAVAILABLE: &str = "_geoip_database_unavailable";
/// Stands in for the `geoip.database.path` setting until settings reach plugin builders: the
/// City database to use when a filter names none.
pub const DATABASE_PATH_VARIABLE: &str = "SLUICE_GEOIP_DATABASE";
/// Where GeoIP databases are usually installed (geoipupdate, Debian's geoip packages), searched
/// after `<path.data>/geoip/`.
const SYSTEM_DIRS: [&str; 2] = ["/var/lib/GeoIP", "/usr/share/GeoIP"];
/// The fields ECS expects geo data under.
const ECS_TARGETS: [&str; 6] = ["client", "destination", "host", "observer", "server", "source"];

pub struct GeoIp {
    source: FieldRef,
    target: FieldRef,
    /// `None` when no database was found: the pipeline runs, lookups are reported unavailable.
    lookups: Option<Lookups>,
    tag_on_failure: Vec<String>,
}

struct Lookups {
    database: Arc<Database>,
    /// In writing order.
    wanted: Vec<GeoField>,
    ecs: bool,
    /// One per worker thread (each of `cache_size` entries): the workers neither wait for
    /// each other nor pass the cache's lines between cores. An answer is borrowed from the
    /// cache while it is written to the event, not shared by reference count: an atomic count
    /// right after copying the answer would wait for all those stores.
    cache: ThreadLocal<RefCell<Lru<IpAddr, Answer>>>,
    cache_size: usize,
}

/// What a lookup gave, shaped for the event and kept in the cache.
enum Answer {
    /// The fields to merge under the target.
    Found(Map),
    Missed,
}

pub fn build(args: &mut Args, ctx: &BuildContext) -> Result<Box<dyn Filter>, ConfigError> {
    let source_text = args.required_string("source")?;
    let source_span = args.span_of("source");
    let source = FieldRef::parse(&source_text).map_err(|e| ConfigError::at(source_span, e.to_string()))?;

    let ecs_option = args.choice("ecs_compatibility", &["disabled", "v1", "v8"], "disabled")?;
    let ecs_mode = if args.has("ecs_compatibility") { ecs_option } else { ctx.ecs_compatibility.as_str() };
    let ecs = ecs_mode != "disabled";

    let target = match args.field_ref("target")? {
        Some(t) => t,
        None if !ecs => FieldRef::top("geoip"),
        None => ecs_target_from_source(&source_text).ok_or_else(|| {
            ConfigError::at(
                source_span,
                "in ECS mode the geoip filter needs a `target` when `source` is not an `ip` sub-field such as [client][ip]",
            )
            .with_help(format!("add target => \"source\" (ECS expects one of {})", ECS_TARGETS.join(", ")))
        })?,
    };
    if ecs && !is_ecs_target(&target) {
        ctx.warn(ConfigError::at(
            args.span_of("target"),
            format!("ECS expects geo data under one of {}, not `{target}`", ECS_TARGETS.join(", ")),
        ));
    }

    let default_type = args.choice("default_database_type", &["City", "ASN"], "City")?;
    let explicit_fields = wanted_fields(args)?;
    let cache_size = args.integer("cache_size", 1000, 1, 100_000_000)?;
    let mut tag_on_failure = args.string_list("tag_on_failure")?;
    if !args.has("tag_on_failure") {
        tag_on_failure.push(LOOKUP_FAILURE.to_string());
    }

    let database = match args.string("database")? {
        Some(path) => Some(
            Database::open(Path::new(&path))
                .map_err(|e| ConfigError::at(args.span_of("database"), format!("geoip `database`: {e}")))?,
        ),
        None => find_default_database(args.env(), ctx, default_type, args.plugin_span())?,
    };
    let lookups = database.map(|database| {
        tracing::info!(
            path = %database.path().display(),
            database_type = database.database_type(),
            "Using GeoIP database."
        );
        let wanted = explicit_fields.clone().unwrap_or_else(|| fields::defaults(database.kind(), ecs));
        Lookups { database, wanted, ecs, cache: ThreadLocal::new(), cache_size: cache_size as usize }
    });
    Ok(Box::new(GeoIp { source, target, lookups, tag_on_failure }))
}

/// The `fields` option, in writing order; `None` means the database's defaults.
fn wanted_fields(args: &mut Args) -> Result<Option<Vec<GeoField>>, ConfigError> {
    let names = args.string_list("fields")?;
    if names.is_empty() {
        return Ok(None);
    }
    let mut wanted = Vec::with_capacity(names.len());
    for name in &names {
        let field = GeoField::from_option(name).ok_or_else(|| {
            let err = ConfigError::at(args.span_of("fields"), format!("`{name}` is not a geoip field"));
            match did_you_mean(&name.to_ascii_lowercase(), GeoField::option_names()) {
                Some(m) => err.with_help(format!("did you mean `{m}`?")),
                None => err.with_help(format!("known fields: {}", fields::ALL.map(|f| f.legacy_name()).join(", "))),
            }
        })?;
        wanted.push(field);
    }
    wanted.sort();
    wanted.dedup();
    Ok(Some(wanted))
}

/// `[client][ip]` → `[client]`, as Logstash derives the ECS target.
fn ecs_target_from_source(source: &str) -> Option<FieldRef> {
    let parent = source.strip_suffix("[ip]").filter(|p| !p.is_empty())?;
    FieldRef::parse(parent).ok()
}

fn is_ecs_target(target: &FieldRef) -> bool {
    match target {
        FieldRef::Field(path) if path.len() == 1 => ECS_TARGETS.contains(&&*path[0].key),
        _ => false,
    }
}

/// The database to use when the filter names none: the one the setting names, else the first
/// found in `<path.data>/geoip/` and the system directories. None found is a warning, not an
/// error; a file the setting names that cannot be opened is an error.
fn find_default_database(
    env: &EnvLookup,
    ctx: &BuildContext,
    default_type: &str,
    plugin_span: Span,
) -> Result<Option<Arc<Database>>, ConfigError> {
    let file_name = if default_type == "ASN" { "GeoLite2-ASN.mmdb" } else { "GeoLite2-City.mmdb" };
    let mut candidates: Vec<PathBuf> = Vec::new();
    // `geoip.database.path` in sluice.yml, else the environment variable (handy in containers).
    let configured = ctx.geoip_database.clone().or_else(|| env(DATABASE_PATH_VARIABLE).filter(|p| !p.is_empty()).map(PathBuf::from));
    if let Some(setting) = configured {
        if default_type == "City" {
            return Database::open(&setting)
                .map(Some)
                .map_err(|e| ConfigError::new(format!("geoip.database.path ({}): {e}", setting.display())));
        }
        // The setting names the City database; its ASN sibling is looked for beside it.
        if let Some(dir) = setting.parent() {
            candidates.push(dir.join(file_name));
        }
    }
    candidates.push(ctx.path_data.join("geoip").join(file_name));
    candidates.extend(SYSTEM_DIRS.iter().map(|d| Path::new(d).join(file_name)));
    for candidate in &candidates {
        if !candidate.is_file() {
            continue;
        }
        match Database::open(candidate) {
            Ok(db) => return Ok(Some(db)),
            Err(e) => ctx.warn(ConfigError::at(plugin_span, format!("skipping GeoIP database: {e}"))),
        }
    }
    let looked = candidates.iter().map(|c| c.display().to_string()).collect::<Vec<_>>().join(", ");
    ctx.warn(
        ConfigError::at(
            plugin_span,
            format!("no GeoIP database found (looked for {looked}); events with a public address will be tagged {DATABASE_UNAVAILABLE}"),
        )
        .with_help(format!("give the filter a `database`, or install {file_name} in {}", ctx.path_data.join("geoip").display())),
    );
    Ok(None)
}

impl Filter for GeoIp {
    fn filter(&self, event: &mut Event) -> Outcome {
        let parsed = match event.get_value(&self.source) {
            None => return self.fail(event, false),
            Some(value) => match address_text(value) {
                Some(text) if !text.trim().is_empty() => parse_ip(text),
                _ => return self.fail(event, false),
            },
        };
        let Some(ip) = parsed else { return self.fail(event, true) };
        if reserved::is_reserved(ip) {
            return Outcome::NotMatched;
        }
        let Some(lookups) = &self.lookups else {
            event.add_tag(DATABASE_UNAVAILABLE);
            return Outcome::Failed(DATABASE_UNAVAILABLE);
        };
        lookups.with_answer(ip, |answer| match answer {
            Answer::Found(fragment) => self.write(event, fragment),
            Answer::Missed => self.fail(event, true),
        })
    }
}

impl GeoIp {
    /// Tag the event; where Logstash got as far as a lookup it also leaves an empty target.
    fn fail(&self, event: &mut Event, leave_empty_target: bool) -> Outcome {
        if leave_empty_target && !event.contains(&self.target) {
            let _ = event.set(&self.target, Value::Object(Map::new()));
        }
        for t in &self.tag_on_failure {
            event.add_tag(t);
        }
        Outcome::Failed(LOOKUP_FAILURE)
    }

    /// Merge the found fields into the target, keeping what the target already holds (in ECS
    /// mode that is `[source][ip]` and its siblings).
    fn write(&self, event: &mut Event, fragment: &Map) -> Outcome {
        // The usual target is a top-level field that is not there yet: one map search for both
        // the question and the insert.
        if let FieldRef::Field(path) = &self.target {
            if let [segment] = path.as_slice() {
                if let Entry::Vacant(slot) = event.fields_mut().entry(&segment.key) {
                    slot.insert(Value::Object(fragment.clone()));
                    return Outcome::Matched;
                }
            }
        }
        match event.get_mut(&self.target) {
            Some(Value::Object(existing)) => merge(existing, fragment),
            Some(other) => {
                tracing::debug!(target = %self.target, found = crate::event::type_name(other), "The geoip target is not a hash.");
                return self.fail(event, false);
            }
            None => {
                if event.set(&self.target, Value::Object(fragment.clone())).is_err() {
                    return self.fail(event, false);
                }
            }
        }
        Outcome::Matched
    }
}

impl Lookups {
    fn with_answer<R>(&self, ip: IpAddr, use_it: impl FnOnce(&Answer) -> R) -> R {
        let mut cache = self.cache.get_or(|| RefCell::new(Lru::new(self.cache_size))).borrow_mut();
        if let Some(hit) = cache.get(&ip) {
            return use_it(hit);
        }
        let answer = self.look_up(ip);
        let result = use_it(&answer);
        cache.put(ip, answer);
        result
    }

    fn look_up(&self, ip: IpAddr) -> Answer {
        match self.database.lookup(ip, &self.wanted) {
            // Logstash counts a lookup that yields none of the wanted fields as a failure.
            Ok(found) if found.is_empty() => Answer::Missed,
            Ok(found) => Answer::Found(shape(found, self.ecs)),
            Err(Miss::Error(e)) => {
                tracing::debug!(%ip, error = %e, "The GeoIP database could not answer.");
                Answer::Missed
            }
            Err(Miss::NotFound | Miss::NoLocation) => Answer::Missed,
        }
    }
}

/// The fields as they go under the target: flat legacy names, or nested ECS paths.
fn shape(found: Vec<(GeoField, Value)>, ecs: bool) -> Map {
    let mut out = Map::new();
    for (field, value) in found {
        if !ecs {
            out.insert(field.legacy_name().to_string(), value);
            continue;
        }
        insert_path(&mut out, field.ecs_path(), value);
    }
    out
}

/// Put a value at a path of keys, creating hashes on the way and merging into a hash already
/// there (`location` and `location.lat` meet this way).
fn insert_path(map: &mut Map, path: &[&str], value: Value) {
    let Some((first, rest)) = path.split_first() else { return };
    if rest.is_empty() {
        match (map.get_mut(*first), value) {
            (Some(Value::Object(existing)), Value::Object(more)) => merge(existing, &more),
            (_, value) => {
                map.insert(first.to_string(), value);
            }
        }
        return;
    }
    let slot = map.entry(first.to_string()).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    if let Value::Object(next) = slot {
        insert_path(next, rest, value);
    }
}

/// Deep merge: hashes merge key by key, anything else is replaced.
fn merge(into: &mut Map, from: &Map) {
    for (k, v) in from {
        match (into.get_mut(k), v) {
            (Some(Value::Object(a)), Value::Object(b)) => merge(a, b),
            _ => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

/// The text to read an address from: a string, or the first element of a list (Logstash reads
/// only the first).
fn address_text(value: &Value) -> Option<&str> {
    match value {
        Value::String(s) => Some(s),
        Value::Array(items) => items.first().and_then(Value::as_str),
        _ => None,
    }
}

/// An IPv4 or IPv6 address; like Java, a bracketed IPv6 literal and a scope (`fe80::1%eth0`) are
/// accepted. IPv4-mapped IPv6 addresses become IPv4, so they share cache entries and ranges.
fn parse_ip(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    let inner = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).unwrap_or(text);
    let address = inner.split_once('%').map_or(inner, |(a, _)| a);
    address.parse::<Ipv6Addr>().ok().map(|v6| IpAddr::V6(v6).to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn addresses_in_the_forms_java_reads() {
        assert_eq!(parse_ip("8.8.8.8"), Some("8.8.8.8".parse().unwrap()));
        assert_eq!(parse_ip("[2001:4860::1]"), Some("2001:4860::1".parse().unwrap()));
        assert_eq!(parse_ip("fe80::1%eth0"), Some("fe80::1".parse().unwrap()));
        assert_eq!(parse_ip("::ffff:8.8.4.4"), Some("8.8.4.4".parse().unwrap()));
        for bad in ["", "example.com", "8.8.8", "1.2.3.4.5", "300.1.1.1", " 8.8.8.8"] {
            assert_eq!(parse_ip(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ecs_shape_nests_and_drops_country_code3() {
        let found = vec![
            (GeoField::Ip, json!("81.2.69.1")),
            (GeoField::CityName, json!("Bracknell")),
            (GeoField::CountryCode2, json!("GB")),
            (GeoField::CountryCode3, json!("GB")),
            (GeoField::Location, json!({"lat": 51.4, "lon": -0.76})),
            (GeoField::Latitude, json!(51.4)),
            (GeoField::Longitude, json!(-0.76)),
            (GeoField::DmaCode, json!(819)),
            (GeoField::Asn, json!(64500)),
            (GeoField::AsOrg, json!("Example")),
        ];
        assert_eq!(
            Value::Object(shape(found.clone(), true)),
            json!({
                "ip": "81.2.69.1",
                "geo": {"city_name": "Bracknell", "country_iso_code": "GB", "location": {"lat": 51.4, "lon": -0.76}},
                "mmdb": {"dma_code": 819},
                "as": {"number": 64500, "organization": {"name": "Example"}}
            })
        );
        let legacy = shape(found, false);
        assert_eq!(legacy.get("country_code3"), Some(&json!("GB")));
        assert_eq!(legacy.get("location"), Some(&json!({"lat": 51.4, "lon": -0.76})));
    }

    #[test]
    fn ecs_target_follows_an_ip_sub_field() {
        assert_eq!(ecs_target_from_source("[client][ip]"), Some(FieldRef::parse("[client]").unwrap()));
        assert_eq!(ecs_target_from_source("[a][b][ip]"), Some(FieldRef::parse("[a][b]").unwrap()));
        assert_eq!(ecs_target_from_source("[ip]"), None);
        assert_eq!(ecs_target_from_source("clientip"), None);
    }
}
