//! The geo fields the filter can write, and where each goes in the event.
//!
//! Each field has a legacy name, written flat under the target (`[geoip][city_name]`), and a
//! place in the Elastic Common Schema, written nested (`[source][geo][city_name]`), following the
//! field mapping table of Logstash's geoip filter. `country_code3` has no ECS place: Logstash
//! keeps it in legacy mode only, filled with the two-letter code, as GeoLite2 has no other.

use super::database::DbKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GeoField {
    Ip,
    CityName,
    CountryName,
    CountryCode2,
    CountryCode3,
    ContinentCode,
    ContinentName,
    RegionName,
    RegionCode,
    RegionIsoCode,
    PostalCode,
    DmaCode,
    Timezone,
    Location,
    Latitude,
    Longitude,
    Asn,
    AsOrg,
    Isp,
    Organization,
}

/// Every field, in the order the filter writes them.
pub const ALL: [GeoField; 20] = [
    GeoField::Ip,
    GeoField::CityName,
    GeoField::CountryName,
    GeoField::CountryCode2,
    GeoField::CountryCode3,
    GeoField::ContinentCode,
    GeoField::ContinentName,
    GeoField::RegionName,
    GeoField::RegionCode,
    GeoField::RegionIsoCode,
    GeoField::PostalCode,
    GeoField::DmaCode,
    GeoField::Timezone,
    GeoField::Location,
    GeoField::Latitude,
    GeoField::Longitude,
    GeoField::Asn,
    GeoField::AsOrg,
    GeoField::Isp,
    GeoField::Organization,
];

impl GeoField {
    /// The key under the target in legacy (non-ECS) mode.
    pub fn legacy_name(self) -> &'static str {
        match self {
            GeoField::Ip => "ip",
            GeoField::CityName => "city_name",
            GeoField::CountryName => "country_name",
            GeoField::CountryCode2 => "country_code2",
            GeoField::CountryCode3 => "country_code3",
            GeoField::ContinentCode => "continent_code",
            GeoField::ContinentName => "continent_name",
            GeoField::RegionName => "region_name",
            GeoField::RegionCode => "region_code",
            GeoField::RegionIsoCode => "region_iso_code",
            GeoField::PostalCode => "postal_code",
            GeoField::DmaCode => "dma_code",
            GeoField::Timezone => "timezone",
            GeoField::Location => "location",
            GeoField::Latitude => "latitude",
            GeoField::Longitude => "longitude",
            GeoField::Asn => "asn",
            GeoField::AsOrg => "as_org",
            GeoField::Isp => "isp",
            GeoField::Organization => "organization",
        }
    }

    /// The name Logstash's `fields` option knows the field by, when it differs from the output
    /// name (Logstash matches the option against these, ignoring case).
    fn option_name(self) -> &'static str {
        match self {
            GeoField::Asn => "autonomous_system_number",
            GeoField::AsOrg => "autonomous_system_organization",
            other => other.legacy_name(),
        }
    }

    /// The path under the target in ECS mode; empty for a field ECS has no place for.
    pub fn ecs_path(self) -> &'static [&'static str] {
        match self {
            GeoField::Ip => &["ip"],
            GeoField::CityName => &["geo", "city_name"],
            GeoField::CountryName => &["geo", "country_name"],
            GeoField::CountryCode2 => &["geo", "country_iso_code"],
            GeoField::CountryCode3 => &[],
            GeoField::ContinentCode => &["geo", "continent_code"],
            GeoField::ContinentName => &["geo", "continent_name"],
            GeoField::RegionName => &["geo", "region_name"],
            GeoField::RegionCode => &["geo", "region_code"],
            GeoField::RegionIsoCode => &["geo", "region_iso_code"],
            GeoField::PostalCode => &["geo", "postal_code"],
            GeoField::DmaCode => &["mmdb", "dma_code"],
            GeoField::Timezone => &["geo", "timezone"],
            GeoField::Location => &["geo", "location"],
            GeoField::Latitude => &["geo", "location", "lat"],
            GeoField::Longitude => &["geo", "location", "lon"],
            GeoField::Asn => &["as", "number"],
            GeoField::AsOrg => &["as", "organization", "name"],
            GeoField::Isp => &["mmdb", "isp"],
            GeoField::Organization => &["mmdb", "organization"],
        }
    }

    /// A name from the `fields` option: the output name or Logstash's, in any case.
    pub fn from_option(name: &str) -> Option<GeoField> {
        ALL.into_iter()
            .find(|f| f.legacy_name().eq_ignore_ascii_case(name) || f.option_name().eq_ignore_ascii_case(name))
    }

    /// Every name `fields` accepts, for "did you mean".
    pub fn option_names() -> impl Iterator<Item = &'static str> {
        ALL.into_iter().flat_map(|f| [f.legacy_name(), f.option_name()])
    }
}

/// The fields written when `fields` is not given. In ECS mode a city database gives
/// `region_iso_code` (`US-WA`) instead of the bare `region_code`, as Logstash does.
pub fn defaults(kind: DbKind, ecs: bool) -> Vec<GeoField> {
    use GeoField::*;
    match kind {
        DbKind::City => {
            let region = if ecs { RegionIsoCode } else { RegionCode };
            vec![
                Ip,
                CityName,
                CountryName,
                CountryCode2,
                CountryCode3,
                ContinentCode,
                RegionName,
                region,
                PostalCode,
                DmaCode,
                Timezone,
                Location,
                Latitude,
                Longitude,
            ]
        }
        DbKind::Country => vec![Ip, CountryName, CountryCode2, ContinentName],
        DbKind::Asn => vec![Ip, Asn, AsOrg],
        DbKind::Isp => vec![Ip, Asn, AsOrg, Isp, Organization],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_names_match_in_any_case() {
        assert_eq!(GeoField::from_option("city_name"), Some(GeoField::CityName));
        assert_eq!(GeoField::from_option("COUNTRY_CODE2"), Some(GeoField::CountryCode2));
        assert_eq!(GeoField::from_option("AUTONOMOUS_SYSTEM_NUMBER"), Some(GeoField::Asn));
        assert_eq!(GeoField::from_option("as_org"), Some(GeoField::AsOrg));
        assert_eq!(GeoField::from_option("citty_name"), None);
    }

    #[test]
    fn every_field_is_listed_once_in_writing_order() {
        let mut sorted = ALL.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, ALL.to_vec());
    }
}
