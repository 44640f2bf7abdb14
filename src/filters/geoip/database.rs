//! Opening a MaxMind DB file, telling what kind of database it is, and reading one record.
//!
//! A file is read into memory once and shared by every geoip filter that names it (a reload
//! that finds the file changed reads it again). It is read rather than memory-mapped so that a
//! database updater rewriting the file in place cannot pull pages from under a lookup. The kind
//! comes from the file's `database_type`, as Logstash tells it: City, Country, ASN or ISP in
//! MaxMind's layout, and also the flat `city`/`country` layout of the ip-location-db GeoLite2
//! builds, so a database from either source works unchanged. Records are decoded into small
//! borrowed structs holding only what the filter writes.

use super::fields::GeoField;
use maxminddb::{MaxMindDbError, Reader};
use serde::Deserialize;
use serde_json::{Number, Value};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::SystemTime;

/// What a database holds, which decides the fields it can give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    City,
    Country,
    Asn,
    Isp,
}

/// How records are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// MaxMind's GeoIP2/GeoLite2 records: `{"city": {"names": {"en": ...}}, "country": ...}`.
    MaxMind,
    /// ip-location-db's records: `{"city": "...", "country_code": "..", "latitude": ...}`.
    Flat,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path} is not a MaxMind DB file: {source}")]
    NotMaxMind { path: String, source: MaxMindDbError },
    #[error("{path} holds a `{database_type}` database; the geoip filter reads City, Country, ASN and ISP databases")]
    Unsupported { path: String, database_type: String },
}

pub struct Database {
    reader: Reader<Vec<u8>>,
    kind: DbKind,
    layout: Layout,
    path: PathBuf,
}

/// Why a lookup gave nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
    /// The address is in no network of the database.
    NotFound,
    /// A city database knows the network but not where it is: Logstash gives up on such
    /// records, so does this filter.
    NoLocation,
    /// The database could not answer (an IPv6 address in an IPv4-only file, a damaged record).
    Error(String),
}

/// The files open now, so that filters naming the same file share one copy in memory.
type Registry = Vec<(PathBuf, Option<SystemTime>, Weak<Database>)>;
static OPEN: Mutex<Registry> = Mutex::new(Vec::new());

impl Database {
    /// Open a file, or share the copy another filter already opened, if the file has not
    /// changed since.
    pub fn open(path: &Path) -> Result<Arc<Database>, OpenError> {
        let shown = path.display().to_string();
        let canonical = std::fs::canonicalize(path).map_err(|source| OpenError::Read { path: shown.clone(), source })?;
        let modified = std::fs::metadata(&canonical).and_then(|m| m.modified()).ok();
        let mut open = OPEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        open.retain(|(_, _, db)| db.strong_count() > 0);
        if let Some(db) = open.iter().find(|(p, m, _)| *p == canonical && *m == modified).and_then(|(_, _, db)| db.upgrade()) {
            return Ok(db);
        }
        let bytes = std::fs::read(&canonical).map_err(|source| OpenError::Read { path: shown.clone(), source })?;
        let reader = Reader::from_source(bytes).map_err(|source| OpenError::NotMaxMind { path: shown.clone(), source })?;
        let database_type = reader.metadata().database_type.clone();
        let Some((kind, layout)) = classify(&database_type) else {
            return Err(OpenError::Unsupported { path: shown, database_type });
        };
        let db = Arc::new(Database { reader, kind, layout, path: canonical.clone() });
        open.push((canonical, modified, Arc::downgrade(&db)));
        Ok(db)
    }

    pub fn kind(&self) -> DbKind {
        self.kind
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }

    /// The wanted fields this database has for `ip`, in the order asked. `ip` is written as
    /// Logstash writes it (see `java_host_address`).
    pub fn lookup(&self, ip: IpAddr, wanted: &[GeoField]) -> Result<Vec<(GeoField, Value)>, Miss> {
        let found = self.reader.lookup(ip).map_err(|e| Miss::Error(e.to_string()))?;
        if !found.has_data() {
            return Err(Miss::NotFound);
        }
        let record = match (self.kind, self.layout) {
            (DbKind::City | DbKind::Country, Layout::MaxMind) => {
                let r: Option<PlaceRecord> = found.decode().map_err(|e| Miss::Error(e.to_string()))?;
                r.map(|r| r.into_place())
            }
            (DbKind::City | DbKind::Country, Layout::Flat) => {
                let r: Option<FlatRecord> = found.decode().map_err(|e| Miss::Error(e.to_string()))?;
                r.map(|r| r.into_place())
            }
            (DbKind::Asn | DbKind::Isp, _) => {
                let r: Option<NetworkRecord> = found.decode().map_err(|e| Miss::Error(e.to_string()))?;
                r.map(|r| r.into_place())
            }
        };
        let place = record.ok_or(Miss::NotFound)?;
        if self.kind == DbKind::City && place.latitude.is_none() && place.longitude.is_none() {
            return Err(Miss::NoLocation);
        }
        Ok(wanted.iter().filter_map(|&f| place.value(f, ip).map(|v| (f, v))).collect())
    }
}

/// The kind and layout a `database_type` names. MaxMind's names (`GeoLite2-City`,
/// `GeoIP2-Country`, `GeoLite2-ASN`, `GeoIP2-ISP`, and compatible builds such as
/// `DBIP-City-Lite`) are matched as Logstash matches them, by a capitalised word inside;
/// ip-location-db names its files `city ipv4`, `country ipv6`, `asn ipv4`.
fn classify(database_type: &str) -> Option<(DbKind, Layout)> {
    let t = database_type;
    if t.contains("City") {
        Some((DbKind::City, Layout::MaxMind))
    } else if t.contains("Country") {
        Some((DbKind::Country, Layout::MaxMind))
    } else if t.contains("ASN") {
        Some((DbKind::Asn, Layout::MaxMind))
    } else if t.contains("ISP") {
        Some((DbKind::Isp, Layout::MaxMind))
    } else {
        match t.split_whitespace().next()? {
            "city" => Some((DbKind::City, Layout::Flat)),
            "country" => Some((DbKind::Country, Layout::Flat)),
            "asn" => Some((DbKind::Asn, Layout::MaxMind)),
            _ => None,
        }
    }
}

/// One record, reduced to what the filter can write, whatever the layout.
#[derive(Default)]
struct Place<'a> {
    city_name: Option<&'a str>,
    country_name: Option<&'a str>,
    country_code: Option<&'a str>,
    continent_code: Option<&'a str>,
    continent_name: Option<&'a str>,
    region_name: Option<&'a str>,
    region_code: Option<&'a str>,
    postal_code: Option<&'a str>,
    dma_code: Option<u16>,
    timezone: Option<&'a str>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    asn: Option<u32>,
    as_org: Option<&'a str>,
    isp: Option<&'a str>,
    organization: Option<&'a str>,
}

impl Place<'_> {
    fn value(&self, field: GeoField, ip: IpAddr) -> Option<Value> {
        let text = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(|s| Value::String(s.to_string()));
        let float = |x: Option<f64>| x.and_then(Number::from_f64).map(Value::Number);
        match field {
            GeoField::Ip => Some(Value::String(java_host_address(ip))),
            GeoField::CityName => text(self.city_name),
            GeoField::CountryName => text(self.country_name),
            // GeoLite2 has no three-letter codes; Logstash fills country_code3 with the two.
            GeoField::CountryCode2 | GeoField::CountryCode3 => text(self.country_code),
            GeoField::ContinentCode => text(self.continent_code),
            GeoField::ContinentName => text(self.continent_name),
            GeoField::RegionName => text(self.region_name),
            GeoField::RegionCode => text(self.region_code),
            GeoField::RegionIsoCode => match (self.country_code, self.region_code) {
                (Some(c), Some(r)) if !c.is_empty() && !r.is_empty() => Some(Value::String(format!("{c}-{r}"))),
                _ => None,
            },
            GeoField::PostalCode => text(self.postal_code),
            GeoField::DmaCode => self.dma_code.map(Value::from),
            GeoField::Timezone => text(self.timezone),
            GeoField::Location => {
                let (lat, lon) = (float(self.latitude)?, float(self.longitude)?);
                let mut m = serde_json::Map::new();
                m.insert("lat".to_string(), lat);
                m.insert("lon".to_string(), lon);
                Some(Value::Object(m))
            }
            GeoField::Latitude => float(self.latitude),
            GeoField::Longitude => float(self.longitude),
            GeoField::Asn => self.asn.map(Value::from),
            GeoField::AsOrg => text(self.as_org),
            GeoField::Isp => text(self.isp),
            GeoField::Organization => text(self.organization),
        }
    }
}

// --- MaxMind's layout -----------------------------------------------------------------------
// Only English names are read, as Logstash reads them; unknown keys are skipped by the decoder.

#[derive(Deserialize, Default)]
struct Names<'a> {
    #[serde(borrow, default)]
    en: Option<&'a str>,
}

#[derive(Deserialize, Default)]
struct Named<'a> {
    #[serde(borrow, default)]
    names: Names<'a>,
}

#[derive(Deserialize, Default)]
struct Continent<'a> {
    #[serde(borrow, default)]
    code: Option<&'a str>,
    #[serde(borrow, default)]
    names: Names<'a>,
}

#[derive(Deserialize, Default)]
struct IsoNamed<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
    #[serde(borrow, default)]
    names: Names<'a>,
}

#[derive(Deserialize, Default)]
struct Location<'a> {
    #[serde(default)]
    latitude: Option<Coordinate>,
    #[serde(default)]
    longitude: Option<Coordinate>,
    #[serde(default)]
    metro_code: Option<u16>,
    #[serde(borrow, default)]
    time_zone: Option<&'a str>,
}

#[derive(Deserialize, Default)]
struct Postal<'a> {
    #[serde(borrow, default)]
    code: Option<&'a str>,
}

#[derive(Deserialize, Default)]
struct PlaceRecord<'a> {
    #[serde(borrow, default)]
    city: Named<'a>,
    #[serde(borrow, default)]
    continent: Continent<'a>,
    #[serde(borrow, default)]
    country: IsoNamed<'a>,
    #[serde(borrow, default)]
    location: Location<'a>,
    #[serde(borrow, default)]
    postal: Postal<'a>,
    /// Largest first; Logstash reports the most specific, the last.
    #[serde(borrow, default)]
    subdivisions: Vec<IsoNamed<'a>>,
}

impl<'a> PlaceRecord<'a> {
    fn into_place(self) -> Place<'a> {
        let region = self.subdivisions.last();
        Place {
            city_name: self.city.names.en,
            country_name: self.country.names.en,
            country_code: self.country.iso_code,
            continent_code: self.continent.code,
            continent_name: self.continent.names.en,
            region_name: region.and_then(|r| r.names.en),
            region_code: region.and_then(|r| r.iso_code),
            postal_code: self.postal.code,
            dma_code: self.location.metro_code,
            timezone: self.location.time_zone,
            latitude: self.location.latitude.map(|c| c.0),
            longitude: self.location.longitude.map(|c| c.0),
            ..Place::default()
        }
    }
}

#[derive(Deserialize, Default)]
struct NetworkRecord<'a> {
    #[serde(default)]
    autonomous_system_number: Option<u32>,
    #[serde(borrow, default)]
    autonomous_system_organization: Option<&'a str>,
    #[serde(borrow, default)]
    isp: Option<&'a str>,
    #[serde(borrow, default)]
    organization: Option<&'a str>,
}

impl<'a> NetworkRecord<'a> {
    fn into_place(self) -> Place<'a> {
        Place {
            asn: self.autonomous_system_number,
            as_org: self.autonomous_system_organization,
            isp: self.isp,
            organization: self.organization,
            ..Place::default()
        }
    }
}

// --- ip-location-db's flat layout -----------------------------------------------------------

#[derive(Deserialize, Default)]
struct FlatRecord<'a> {
    #[serde(borrow, default)]
    city: Option<&'a str>,
    #[serde(borrow, default)]
    country_code: Option<&'a str>,
    #[serde(default)]
    latitude: Option<Coordinate>,
    #[serde(default)]
    longitude: Option<Coordinate>,
    #[serde(borrow, default)]
    postcode: Option<&'a str>,
    #[serde(borrow, default)]
    state1: Option<&'a str>,
    #[serde(borrow, default)]
    timezone: Option<&'a str>,
}

impl<'a> FlatRecord<'a> {
    fn into_place(self) -> Place<'a> {
        Place {
            city_name: self.city,
            country_code: self.country_code,
            region_name: self.state1,
            postal_code: self.postcode,
            timezone: self.timezone,
            latitude: self.latitude.map(|c| c.0),
            longitude: self.longitude.map(|c| c.0),
            ..Place::default()
        }
    }
}

/// A latitude or longitude, stored as a double (MaxMind) or a single-precision float
/// (ip-location-db). A single is printed as the shortest decimal that reads back to it — the
/// file's 37.751, not the 37.750999450683594 a plain widening would show.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Coordinate(f64);

impl<'de> Deserialize<'de> for Coordinate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Coordinate;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a floating-point coordinate")
            }
            fn visit_f64<E>(self, v: f64) -> Result<Coordinate, E> {
                Ok(Coordinate(v))
            }
            fn visit_f32<E>(self, v: f32) -> Result<Coordinate, E> {
                Ok(Coordinate(shortest_single(v)))
            }
        }
        deserializer.deserialize_any(V)
    }
}

fn shortest_single(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(f64::from(x))
}

/// An address as Java's `InetAddress.getHostAddress` writes it, which is what Logstash puts in
/// `[geoip][ip]`: dotted IPv4, and IPv6 as eight lowercase hex groups without `::` shortening.
/// An IPv4-mapped IPv6 address is its IPv4 address, as Java reads it.
pub fn java_host_address(ip: IpAddr) -> String {
    use std::fmt::Write;
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let mut out = String::with_capacity(39);
            for (i, g) in v6.segments().iter().enumerate() {
                if i > 0 {
                    out.push(':');
                }
                let _ = write!(out, "{g:x}");
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_database_type() {
        assert_eq!(classify("GeoLite2-City"), Some((DbKind::City, Layout::MaxMind)));
        assert_eq!(classify("GeoIP2-City"), Some((DbKind::City, Layout::MaxMind)));
        assert_eq!(classify("DBIP-City-Lite"), Some((DbKind::City, Layout::MaxMind)));
        assert_eq!(classify("GeoLite2-Country"), Some((DbKind::Country, Layout::MaxMind)));
        assert_eq!(classify("GeoLite2-ASN"), Some((DbKind::Asn, Layout::MaxMind)));
        assert_eq!(classify("GeoIP2-ISP"), Some((DbKind::Isp, Layout::MaxMind)));
        assert_eq!(classify("city ipv4"), Some((DbKind::City, Layout::Flat)));
        assert_eq!(classify("country ipv6"), Some((DbKind::Country, Layout::Flat)));
        assert_eq!(classify("asn ipv4"), Some((DbKind::Asn, Layout::MaxMind)));
        assert_eq!(classify("GeoIP2-Anonymous-IP"), None);
        assert_eq!(classify(""), None);
    }

    #[test]
    fn host_addresses_as_java_writes_them() {
        let a = |s: &str| java_host_address(s.parse().unwrap());
        assert_eq!(a("8.8.8.8"), "8.8.8.8");
        assert_eq!(a("2001:4860:4860::8888"), "2001:4860:4860:0:0:0:0:8888");
        assert_eq!(a("2A02:CF40::1"), "2a02:cf40:0:0:0:0:0:1");
        assert_eq!(a("::ffff:81.2.69.1"), "81.2.69.1");
    }

    #[test]
    fn single_precision_coordinates_print_short() {
        assert_eq!(shortest_single(37.751f32), 37.751);
        assert_eq!(shortest_single(-97.822f32), -97.822);
    }
}
