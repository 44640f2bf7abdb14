//! Joda-Time date patterns for Logstash configs, compiled once and run per event.
//!
//! Logstash users write Joda-Time patterns in two places: index names such as
//! `logs-%{+YYYY.MM.dd}` (which format the event's `@timestamp`) and the `date`
//! filter's `match` option (which parses text into `@timestamp`). This module
//! turns such a pattern into a flat list of items once, at config load, so that
//! formatting and parsing an event walk that list without re-reading the
//! pattern and without allocating (beyond growing the caller's output string).
//! The pattern letters follow the Joda-Time `DateTimeFormat` documentation —
//! not `java.time`, whose `Y`, `e` and `Z` mean different things. The date
//! filter's special format names (`ISO8601`, `UNIX`, `UNIX_MS`, `TAI64N`) are
//! handled by [`DateFormat`].

use std::any::Any;
use std::fmt::{self, Write as _};
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset,
    TimeDelta, TimeZone, Timelike, Utc, Weekday,
};
use chrono_tz::{OffsetName, Tz, TzOffset};
use thiserror::Error;

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// A pattern (or locale) that cannot be compiled. Positions count characters
/// from 0 so they match what the user sees in the config.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JodaError {
    #[error("empty date pattern")]
    EmptyPattern,
    #[error("unsupported pattern letter '{letter}' in token \"{token}\" at position {pos}")]
    UnknownLetter {
        letter: char,
        token: String,
        pos: usize,
    },
    #[error("unterminated quoted literal starting at position {pos}")]
    UnterminatedQuote { pos: usize },
    #[error("pattern token \"{token}\" at position {pos} is too long (at most {max} letters)")]
    TokenTooLong {
        token: String,
        pos: usize,
        max: usize,
    },
    #[error("unsupported locale \"{0}\" (supported: en, fr, de, es, it, pt, nl)")]
    UnknownLocale(String),
}

/// Text that does not match a compiled format. `Copy` and allocation-free so a
/// failed parse (common when a `match` lists several formats) costs nothing.
/// Positions are byte offsets into the parsed text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum JodaParseError {
    #[error("expected {expected} at byte {pos}")]
    Expected { expected: &'static str, pos: usize },
    #[error("unexpected trailing text at byte {pos}")]
    TrailingText { pos: usize },
    #[error("{field} value {value} is out of range")]
    FieldOutOfRange { field: &'static str, value: i64 },
    #[error("the parsed fields do not form a valid date")]
    InvalidDate,
    #[error("the local time does not exist in the time zone (daylight-saving gap)")]
    NonexistentLocalTime,
    #[error("the timestamp is outside the supported range")]
    OutOfRange,
    #[error("this date format only accepts text, not numbers")]
    NumberNotAccepted,
}

type PResult<T> = Result<T, JodaParseError>;

// ---------------------------------------------------------------------------
// Locales
// ---------------------------------------------------------------------------

/// Languages whose month/day/AM-PM/era names are known. Names are parsed
/// case-insensitively; both the abbreviated and the full form are accepted
/// whatever the letter count, as Joda does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Locale {
    En,
    Fr,
    De,
    Es,
    It,
    Pt,
    Nl,
}

impl Locale {
    /// Accepts BCP 47 (`fr-FR`) and POSIX (`fr_FR.UTF-8`) tags; only the
    /// language part matters because only names differ between our locales.
    pub fn from_tag(tag: &str) -> Option<Locale> {
        let lang = tag.split(['-', '_', '.', '@']).next().unwrap_or("");
        let l = |s: &str| lang.eq_ignore_ascii_case(s);
        if l("en") {
            Some(Locale::En)
        } else if l("fr") {
            Some(Locale::Fr)
        } else if l("de") {
            Some(Locale::De)
        } else if l("es") {
            Some(Locale::Es)
        } else if l("it") {
            Some(Locale::It)
        } else if l("pt") {
            Some(Locale::Pt)
        } else if l("nl") {
            Some(Locale::Nl)
        } else {
            None
        }
    }

    fn data(self) -> &'static LocaleData {
        match self {
            Locale::En => &EN,
            Locale::Fr => &FR,
            Locale::De => &DE,
            Locale::Es => &ES,
            Locale::It => &IT,
            Locale::Pt => &PT,
            Locale::Nl => &NL,
        }
    }
}

/// Names used when formatting are the first two arrays of each kind (CLDR
/// style, as current JVMs print them); aliases are extra spellings accepted
/// when parsing (older JDK abbreviations, missing accents or dots).
struct LocaleData {
    months: [&'static str; 12],
    months_short: [&'static str; 12],
    /// Monday first, matching ISO day-of-week numbers 1..=7.
    days: [&'static str; 7],
    days_short: [&'static str; 7],
    halfdays: [&'static str; 2],
    /// BC, AD.
    eras: [&'static str; 2],
    month_aliases: &'static [(&'static str, u8)],
    day_aliases: &'static [(&'static str, u8)],
    halfday_aliases: &'static [(&'static str, u8)],
    era_aliases: &'static [(&'static str, u8)],
}

// AM/PM are understood in every locale: logs are often written by software
// that ignores the locale for them.
const AMPM_ALIASES: &[(&str, u8)] = &[("AM", 0), ("PM", 1), ("a.m.", 0), ("p.m.", 1)];

static EN: LocaleData = LocaleData {
    months: [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    months_short: [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ],
    days: [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ],
    days_short: ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
    halfdays: ["AM", "PM"],
    eras: ["BC", "AD"],
    month_aliases: &[("Sept", 8)],
    day_aliases: &[("Tues", 1), ("Thur", 3), ("Thurs", 3)],
    halfday_aliases: AMPM_ALIASES,
    era_aliases: &[("BCE", 0), ("CE", 1)],
};

static FR: LocaleData = LocaleData {
    months: [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ],
    months_short: [
        "janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.",
        "déc.",
    ],
    days: [
        "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
    ],
    days_short: ["lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."],
    halfdays: ["AM", "PM"],
    eras: ["av. J.-C.", "ap. J.-C."],
    month_aliases: &[
        ("jan", 0),
        ("fevrier", 1),
        ("fevr.", 1),
        ("févr", 1),
        ("fév", 1),
        ("fev", 1),
        ("avr", 3),
        ("juil", 6),
        ("aout", 7),
        ("sep", 8),
        ("decembre", 11),
        ("dec.", 11),
        ("dec", 11),
    ],
    day_aliases: &[],
    halfday_aliases: AMPM_ALIASES,
    era_aliases: &[],
};

static DE: LocaleData = LocaleData {
    months: [
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ],
    months_short: [
        "Jan.", "Feb.", "März", "Apr.", "Mai", "Juni", "Juli", "Aug.", "Sept.", "Okt.", "Nov.",
        "Dez.",
    ],
    days: [
        "Montag",
        "Dienstag",
        "Mittwoch",
        "Donnerstag",
        "Freitag",
        "Samstag",
        "Sonntag",
    ],
    days_short: ["Mo.", "Di.", "Mi.", "Do.", "Fr.", "Sa.", "So."],
    halfdays: ["AM", "PM"],
    eras: ["v. Chr.", "n. Chr."],
    month_aliases: &[
        ("Jänner", 0),
        ("Jän", 0),
        ("Mär", 2),
        ("Maerz", 2),
        ("Mrz", 2),
        ("Jun", 5),
        ("Jul", 6),
        ("Sep", 8),
    ],
    day_aliases: &[("Sonnabend", 5)],
    halfday_aliases: &[("AM", 0), ("PM", 1), ("vorm.", 0), ("nachm.", 1)],
    era_aliases: &[],
};

static ES: LocaleData = LocaleData {
    months: [
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ],
    months_short: [
        "ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic",
    ],
    days: [
        "lunes",
        "martes",
        "miércoles",
        "jueves",
        "viernes",
        "sábado",
        "domingo",
    ],
    days_short: ["lun", "mar", "mié", "jue", "vie", "sáb", "dom"],
    halfdays: ["a. m.", "p. m."],
    eras: ["a. C.", "d. C."],
    month_aliases: &[
        ("ene.", 0),
        ("feb.", 1),
        ("mar.", 2),
        ("abr.", 3),
        ("may.", 4),
        ("jun.", 5),
        ("jul.", 6),
        ("ago.", 7),
        ("sept.", 8),
        ("sep.", 8),
        ("sep", 8),
        ("set", 8),
        ("setiembre", 8),
        ("oct.", 9),
        ("nov.", 10),
        ("dic.", 11),
    ],
    day_aliases: &[
        ("lun.", 0),
        ("mar.", 1),
        ("mié.", 2),
        ("mie", 2),
        ("miercoles", 2),
        ("jue.", 3),
        ("vie.", 4),
        ("sáb.", 5),
        ("sab", 5),
        ("sabado", 5),
        ("dom.", 6),
    ],
    halfday_aliases: &[("AM", 0), ("PM", 1), ("a.m.", 0), ("p.m.", 1), ("a. m.", 0)],
    era_aliases: &[("a.C.", 0), ("d.C.", 1)],
};

static IT: LocaleData = LocaleData {
    months: [
        "gennaio",
        "febbraio",
        "marzo",
        "aprile",
        "maggio",
        "giugno",
        "luglio",
        "agosto",
        "settembre",
        "ottobre",
        "novembre",
        "dicembre",
    ],
    months_short: [
        "gen", "feb", "mar", "apr", "mag", "giu", "lug", "ago", "set", "ott", "nov", "dic",
    ],
    days: [
        "lunedì",
        "martedì",
        "mercoledì",
        "giovedì",
        "venerdì",
        "sabato",
        "domenica",
    ],
    days_short: ["lun", "mar", "mer", "gio", "ven", "sab", "dom"],
    halfdays: ["AM", "PM"],
    eras: ["a.C.", "d.C."],
    month_aliases: &[],
    day_aliases: &[
        ("lunedi", 0),
        ("martedi", 1),
        ("mercoledi", 2),
        ("giovedi", 3),
        ("venerdi", 4),
    ],
    halfday_aliases: AMPM_ALIASES,
    era_aliases: &[],
};

static PT: LocaleData = LocaleData {
    months: [
        "janeiro",
        "fevereiro",
        "março",
        "abril",
        "maio",
        "junho",
        "julho",
        "agosto",
        "setembro",
        "outubro",
        "novembro",
        "dezembro",
    ],
    months_short: [
        "jan.", "fev.", "mar.", "abr.", "mai.", "jun.", "jul.", "ago.", "set.", "out.", "nov.",
        "dez.",
    ],
    days: [
        "segunda-feira",
        "terça-feira",
        "quarta-feira",
        "quinta-feira",
        "sexta-feira",
        "sábado",
        "domingo",
    ],
    days_short: ["seg.", "ter.", "qua.", "qui.", "sex.", "sáb.", "dom."],
    halfdays: ["AM", "PM"],
    eras: ["a.C.", "d.C."],
    month_aliases: &[("marco", 2)],
    day_aliases: &[("terca-feira", 1), ("sab", 5), ("sabado", 5)],
    halfday_aliases: AMPM_ALIASES,
    era_aliases: &[],
};

static NL: LocaleData = LocaleData {
    months: [
        "januari",
        "februari",
        "maart",
        "april",
        "mei",
        "juni",
        "juli",
        "augustus",
        "september",
        "oktober",
        "november",
        "december",
    ],
    months_short: [
        "jan.", "feb.", "mrt.", "apr.", "mei", "jun.", "jul.", "aug.", "sep.", "okt.", "nov.",
        "dec.",
    ],
    days: [
        "maandag",
        "dinsdag",
        "woensdag",
        "donderdag",
        "vrijdag",
        "zaterdag",
        "zondag",
    ],
    days_short: ["ma", "di", "wo", "do", "vr", "za", "zo"],
    halfdays: ["a.m.", "p.m."],
    eras: ["v.Chr.", "n.Chr."],
    month_aliases: &[("mar", 2), ("maa", 2), ("sept", 8)],
    day_aliases: &[],
    halfday_aliases: AMPM_ALIASES,
    era_aliases: &[],
};

// ---------------------------------------------------------------------------
// Compiled items
// ---------------------------------------------------------------------------

/// Numeric slots filled while parsing; also names the numeric fields printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum F {
    Year,
    YearOfEra,
    WeekYear,
    Century,
    Week,
    DayOfWeek,
    DayOfYear,
    Month,
    Day,
    HourOfDay,
    ClockHourOfDay,
    HourOfHalfDay,
    ClockHourOfHalfDay,
    Minute,
    Second,
    /// 0 = BC, 1 = AD.
    Era,
    /// 0 = AM, 1 = PM.
    HalfDay,
}

const SLOT_COUNT: usize = F::HalfDay as usize + 1;

impl F {
    fn name(self) -> &'static str {
        match self {
            F::Year => "year",
            F::YearOfEra => "year of era",
            F::WeekYear => "weekyear",
            F::Century => "century of era",
            F::Week => "week of weekyear",
            F::DayOfWeek => "day of week",
            F::DayOfYear => "day of year",
            F::Month => "month of year",
            F::Day => "day of month",
            F::HourOfDay => "hour of day",
            F::ClockHourOfDay => "clockhour of day",
            F::HourOfHalfDay => "hour of halfday",
            F::ClockHourOfHalfDay => "clockhour of halfday",
            F::Minute => "minute of hour",
            F::Second => "second of minute",
            F::Era => "era",
            F::HalfDay => "halfday",
        }
    }

    /// Valid parsed values; Joda rejects out-of-range fields rather than
    /// rolling them over, and so do we.
    fn range(self) -> (i64, i64) {
        match self {
            F::Year | F::WeekYear => (-999_999_999, 999_999_999),
            F::YearOfEra | F::Century => (0, 999_999_999),
            F::Week => (1, 53),
            F::DayOfWeek => (1, 7),
            F::DayOfYear => (1, 366),
            F::Month => (1, 12),
            F::Day => (1, 31),
            F::HourOfDay => (0, 23),
            F::ClockHourOfDay => (1, 24),
            F::HourOfHalfDay => (0, 11),
            F::ClockHourOfHalfDay => (1, 12),
            F::Minute | F::Second => (0, 59),
            F::Era | F::HalfDay => (0, 1),
        }
    }

    /// Widest value Joda reads for a field that is not squeezed against
    /// another number (years may be long, most others have two digits).
    fn natural_max_digits(self) -> u8 {
        match self {
            F::Year | F::YearOfEra | F::WeekYear => 9,
            F::DayOfYear => 3,
            F::DayOfWeek => 1,
            _ => 2,
        }
    }
}

#[derive(Debug, Clone)]
enum Item {
    Literal(Box<str>),
    /// `width` pads when formatting; `min..=max` digits are read when parsing.
    Num {
        field: F,
        width: u8,
        min: u8,
        max: u8,
        signed: bool,
    },
    /// `yy`/`YY`/`xx`: two digits, pivoted around the parse-time year.
    /// Not `exact` means Joda's lenient form: anything other than exactly two
    /// unsigned digits is taken as a full year.
    TwoDigitYear {
        field: F,
        exact: bool,
    },
    /// `S…`: `digits` printed (truncated, not rounded); parsing reads exactly
    /// that many digits when squeezed, otherwise any number of them.
    Fraction {
        digits: u8,
        exact: bool,
    },
    MonthText {
        full: bool,
    },
    DayText {
        full: bool,
    },
    HalfDay,
    Era,
    /// `Z` (`+0100`) / `ZZ` (`+01:00`).
    Offset {
        colon: bool,
    },
    /// `ZZZ`: zone id such as `Europe/Paris`.
    ZoneId,
    /// `z`: short zone name such as `CET`.
    ZoneName,
}

/// How to pick the year when the pattern has none (syslog's `MMM dd HH:mm:ss`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum YearGuess {
    /// Of the previous, current and next year, the one that puts the result
    /// nearest to `now`.
    #[default]
    Nearest,
    /// Logstash's exact rule: the current year, except a December event seen
    /// in January is last year's and a January event seen in December is
    /// next year's.
    LogstashMonthRule,
}

/// A compiled Joda-Time pattern. Compile once per config and share it by
/// reference across workers (it is `Send + Sync`); formatting and parsing take
/// `&self`.
#[derive(Debug, Clone)]
pub struct JodaFormat {
    items: Vec<Item>,
    pattern: Box<str>,
    locale: Locale,
    /// Pattern has y/Y/x/C, so no year guessing.
    has_year: bool,
    /// Pattern prints `z`/`ZZZ`, so formatting must look at the zone type.
    needs_zone_text: bool,
    year_guess: YearGuess,
}

const MAX_TOKEN_LEN: usize = 32;

enum Tok {
    Lit(String),
    Field {
        letter: char,
        count: usize,
        pos: usize,
    },
}

/// Joda's notion of a token that reads digits, used to decide whether the
/// previous number field must stop at its own width.
fn is_numeric_token(t: Option<&Tok>) -> bool {
    match t {
        Some(Tok::Field { letter, count, .. }) => match letter {
            'C' | 'x' | 'y' | 'Y' | 'd' | 'h' | 'H' | 'm' | 's' | 'S' | 'w' | 'e' | 'D' | 'K'
            | 'k' => true,
            'M' => *count <= 2,
            _ => false,
        },
        _ => false,
    }
}

impl JodaFormat {
    /// Compiles a pattern with English names.
    pub fn compile(pattern: &str) -> Result<JodaFormat, JodaError> {
        Self::compile_in(pattern, Locale::En)
    }

    /// Compiles a pattern whose month/day names are in `locale` (a tag such as
    /// `fr`, `de-DE` or `es_ES`).
    pub fn compile_with_locale(pattern: &str, locale: &str) -> Result<JodaFormat, JodaError> {
        let loc =
            Locale::from_tag(locale).ok_or_else(|| JodaError::UnknownLocale(locale.into()))?;
        Self::compile_in(pattern, loc)
    }

    /// Compiles a pattern for an already-resolved [`Locale`].
    pub fn compile_in(pattern: &str, locale: Locale) -> Result<JodaFormat, JodaError> {
        if pattern.is_empty() {
            return Err(JodaError::EmptyPattern);
        }
        let toks = tokenize(pattern)?;
        let mut items = Vec::with_capacity(toks.len());
        let mut has_year = false;
        let mut needs_zone_text = false;
        for (i, tok) in toks.iter().enumerate() {
            let (letter, count, pos) = match tok {
                Tok::Lit(s) => {
                    items.push(Item::Literal(s.as_str().into()));
                    continue;
                }
                Tok::Field { letter, count, pos } => (*letter, *count, *pos),
            };
            // A number field squeezed against another one (`yyyyMMdd`) must
            // read exactly its own width or it would eat its neighbour's digits.
            let exact = is_numeric_token(toks.get(i + 1));
            let num = |field: F| {
                let width = count as u8;
                let (min, max) = if exact {
                    (width, width)
                } else {
                    (1, width.max(field.natural_max_digits()))
                };
                let signed = !exact && matches!(field, F::Year | F::WeekYear);
                Item::Num {
                    field,
                    width,
                    min,
                    max,
                    signed,
                }
            };
            let item = match letter {
                'G' => Item::Era,
                'C' => {
                    has_year = true;
                    num(F::Century)
                }
                'y' | 'Y' | 'x' => {
                    has_year = true;
                    let field = match letter {
                        'y' => F::Year,
                        'Y' => F::YearOfEra,
                        _ => F::WeekYear,
                    };
                    if count == 2 {
                        Item::TwoDigitYear { field, exact }
                    } else {
                        num(field)
                    }
                }
                'w' => num(F::Week),
                'e' => num(F::DayOfWeek),
                'E' => Item::DayText { full: count >= 4 },
                'D' => num(F::DayOfYear),
                'M' if count >= 3 => Item::MonthText { full: count >= 4 },
                'M' => num(F::Month),
                'd' => num(F::Day),
                'a' => Item::HalfDay,
                'K' => num(F::HourOfHalfDay),
                'h' => num(F::ClockHourOfHalfDay),
                'H' => num(F::HourOfDay),
                'k' => num(F::ClockHourOfDay),
                'm' => num(F::Minute),
                's' => num(F::Second),
                'S' => Item::Fraction {
                    digits: count as u8,
                    exact,
                },
                // Joda prints a long zone name for `zzzz`; we have no table of
                // those, so it prints (and parses) the zone id instead.
                'z' if count >= 4 => {
                    needs_zone_text = true;
                    Item::ZoneId
                }
                'z' => {
                    needs_zone_text = true;
                    Item::ZoneName
                }
                'Z' if count == 1 => Item::Offset { colon: false },
                'Z' if count == 2 => Item::Offset { colon: true },
                'Z' => {
                    needs_zone_text = true;
                    Item::ZoneId
                }
                _ => {
                    return Err(JodaError::UnknownLetter {
                        letter,
                        token: std::iter::repeat_n(letter, count).collect(),
                        pos,
                    });
                }
            };
            items.push(item);
        }
        Ok(JodaFormat {
            items,
            pattern: pattern.into(),
            locale,
            has_year,
            needs_zone_text,
            year_guess: YearGuess::default(),
        })
    }

    /// Chooses how a pattern without a year picks one (default: nearest).
    pub fn with_year_guess(mut self, guess: YearGuess) -> JodaFormat {
        self.year_guess = guess;
        self
    }

    /// The pattern as written, for error messages.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    pub fn locale(&self) -> Locale {
        self.locale
    }

    /// True when every field of the pattern prints only digits (numbers,
    /// fractions, `Z`/`ZZ` offsets with their sign and colon): then the output
    /// has no letters except those of quoted literals, so e.g. an index name
    /// needs no lowercasing if its literals are lowercase.
    pub fn only_numeric_fields(&self) -> bool {
        self.items.iter().all(|it| {
            matches!(
                it,
                Item::Literal(_)
                    | Item::Num { .. }
                    | Item::TwoDigitYear { .. }
                    | Item::Fraction { .. }
                    | Item::Offset { .. }
            )
        })
    }

    // ----------------------------------------------------------------- format

    /// Formats a UTC instant (Logstash formats index names in UTC), appending
    /// to `out`.
    pub fn format_utc(&self, t: DateTime<Utc>, out: &mut String) {
        self.format_naive(t.naive_utc(), 0, &ZoneText::Utc, out);
    }

    /// Formats in the instant's own time zone. `z` prints the zone's
    /// abbreviation (chrono-tz zones, `UTC`) or else its offset; `ZZZ` prints
    /// the zone id for chrono-tz zones, `UTC`, or else the offset.
    /// (`'static` lets us recognise chrono-tz offsets to get their names.)
    pub fn format_in<Tz2: TimeZone>(&self, t: &DateTime<Tz2>, out: &mut String)
    where
        Tz2::Offset: fmt::Display + 'static,
    {
        let offset = t.offset();
        let secs = offset.fix().local_minus_utc();
        let zone = if self.needs_zone_text {
            let any: &dyn Any = offset;
            if let Some(o) = any.downcast_ref::<TzOffset>() {
                ZoneText::Named {
                    id: o.tz_id(),
                    abbr: o.abbreviation(),
                }
            } else if any.is::<Utc>() || secs == 0 && any.is::<FixedOffset>() {
                ZoneText::Utc
            } else if any.is::<FixedOffset>() {
                ZoneText::Fixed
            } else {
                ZoneText::Other(offset)
            }
        } else {
            ZoneText::Fixed
        };
        // `naive_local` panics when the offset pushes the instant past
        // chrono's last representable date; print such instants in UTC.
        match t.naive_utc().checked_add_offset(offset.fix()) {
            Some(local) => self.format_naive(local, secs, &zone, out),
            None => self.format_naive(t.naive_utc(), 0, &ZoneText::Utc, out),
        }
    }

    /// Convenience for a UTC instant shown in a chrono-tz zone.
    pub fn format_tz(&self, t: DateTime<Utc>, tz: Tz, out: &mut String) {
        self.format_in(&t.with_timezone(&tz), out);
    }

    fn format_naive(
        &self,
        dt: NaiveDateTime,
        offset_secs: i32,
        zone: &ZoneText<'_>,
        out: &mut String,
    ) {
        let names = self.locale.data();
        let year = dt.year() as i64;
        let year_of_era = if year <= 0 { 1 - year } else { year };
        let hour = dt.hour() as i64;
        // A leap second is carried as nanos >= 1e9; show it as :59.999…
        let nanos = dt.nanosecond().min(999_999_999);
        for item in &self.items {
            match item {
                Item::Literal(s) => out.push_str(s),
                Item::Num { field, width, .. } => {
                    let v = match field {
                        F::Year => year,
                        F::YearOfEra => year_of_era,
                        F::WeekYear => dt.iso_week().year() as i64,
                        F::Century => year_of_era / 100,
                        F::Week => dt.iso_week().week() as i64,
                        F::DayOfWeek => dt.weekday().number_from_monday() as i64,
                        F::DayOfYear => dt.ordinal() as i64,
                        F::Month => dt.month() as i64,
                        F::Day => dt.day() as i64,
                        F::HourOfDay => hour,
                        F::ClockHourOfDay => {
                            if hour == 0 {
                                24
                            } else {
                                hour
                            }
                        }
                        F::HourOfHalfDay => hour % 12,
                        F::ClockHourOfHalfDay => {
                            if hour % 12 == 0 {
                                12
                            } else {
                                hour % 12
                            }
                        }
                        F::Minute => dt.minute() as i64,
                        F::Second => dt.second() as i64,
                        F::Era => i64::from(year > 0),
                        F::HalfDay => i64::from(hour >= 12),
                    };
                    push_num(out, v, *width as usize);
                }
                Item::TwoDigitYear { field, .. } => {
                    let y = match field {
                        F::WeekYear => dt.iso_week().year() as i64,
                        F::YearOfEra => year_of_era,
                        _ => year,
                    };
                    push_num(out, y.rem_euclid(100), 2);
                }
                Item::Fraction { digits, .. } => {
                    let mut buf = [b'0'; 9];
                    let mut n = nanos;
                    for b in buf.iter_mut().rev() {
                        *b = b'0' + (n % 10) as u8;
                        n /= 10;
                    }
                    let shown = (*digits as usize).min(9);
                    for &b in &buf[..shown] {
                        out.push(b as char);
                    }
                    for _ in shown..*digits as usize {
                        out.push('0');
                    }
                }
                Item::MonthText { full } => {
                    let i = dt.month0() as usize;
                    out.push_str(if *full {
                        names.months[i]
                    } else {
                        names.months_short[i]
                    });
                }
                Item::DayText { full } => {
                    let i = dt.weekday().num_days_from_monday() as usize;
                    out.push_str(if *full {
                        names.days[i]
                    } else {
                        names.days_short[i]
                    });
                }
                Item::HalfDay => out.push_str(names.halfdays[usize::from(hour >= 12)]),
                Item::Era => out.push_str(names.eras[usize::from(year > 0)]),
                Item::Offset { colon } => push_offset(out, offset_secs, *colon),
                Item::ZoneName => match zone {
                    ZoneText::Utc => out.push_str("UTC"),
                    ZoneText::Named { abbr: Some(a), .. } if !a.starts_with(['+', '-']) => {
                        out.push_str(a)
                    }
                    ZoneText::Other(d) => {
                        let _ = write!(out, "{d}");
                    }
                    _ => push_offset(out, offset_secs, true),
                },
                Item::ZoneId => match zone {
                    ZoneText::Utc => out.push_str("UTC"),
                    ZoneText::Named { id, .. } => out.push_str(id),
                    _ => push_offset(out, offset_secs, true),
                },
            }
        }
    }

    // ------------------------------------------------------------------ parse

    /// Parses the whole of `text` (trailing text is an error). `default_tz`
    /// applies when the text carries no offset or zone; `now` drives year
    /// guessing for patterns without a year and the two-digit-year pivot.
    ///
    /// Like Joda, a local time inside a daylight-saving gap is an error and a
    /// repeated local time (autumn overlap) resolves to the earlier instant.
    pub fn parse(
        &self,
        text: &str,
        default_tz: Tz,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, JodaParseError> {
        let mut f = Fields::default();
        let mut c = Cur { s: text, pos: 0 };
        let names = self.locale.data();
        for item in &self.items {
            match item {
                Item::Literal(lit) => match prefix_ci(c.rest(), lit) {
                    Some(n) => c.pos += n,
                    None => {
                        return Err(JodaParseError::Expected {
                            expected: "literal text",
                            pos: c.pos,
                        });
                    }
                },
                Item::Num {
                    field,
                    min,
                    max,
                    signed,
                    ..
                } => {
                    let v = c.number(*min, *max, *signed, field.name())?;
                    f.set(*field, v)?;
                }
                Item::TwoDigitYear { field, exact } => {
                    let start = c.pos;
                    let has_sign = matches!(c.peek(), Some(b'+' | b'-'));
                    let (min, max, signed) = if *exact { (2, 2, false) } else { (1, 9, true) };
                    let v = c.number(min, max, signed, field.name())?;
                    let v = if !has_sign && c.pos - start == 2 {
                        let reference = if *field == F::WeekYear {
                            now.iso_week().year()
                        } else {
                            now.year()
                        };
                        pivot_two_digit_year(v, reference)
                    } else {
                        v
                    };
                    f.set(*field, v)?;
                }
                Item::Fraction { digits, exact } => {
                    f.nanos = c.fraction(exact.then_some(*digits as usize))?;
                }
                Item::MonthText { .. } => {
                    let v = c.names(
                        &[&names.months, &names.months_short],
                        names.month_aliases,
                        "month name",
                    )?;
                    f.set(F::Month, v + 1)?;
                }
                Item::DayText { .. } => {
                    let v = c.names(
                        &[&names.days, &names.days_short],
                        names.day_aliases,
                        "day name",
                    )?;
                    f.set(F::DayOfWeek, v + 1)?;
                }
                Item::HalfDay => {
                    let v = c.names(&[&names.halfdays], names.halfday_aliases, "AM/PM")?;
                    f.set(F::HalfDay, v)?;
                }
                Item::Era => {
                    let v = c.names(&[&names.eras], names.era_aliases, "era")?;
                    f.set(F::Era, v)?;
                }
                Item::Offset { .. } => f.zone = Some(Zone::Fixed(c.offset(true)?)),
                Item::ZoneId => f.zone = Some(c.zone_id()?),
                Item::ZoneName => f.zone = Some(c.zone_name()?),
            }
        }
        if c.pos != text.len() {
            return Err(JodaParseError::TrailingText { pos: c.pos });
        }
        self.resolve(&f, default_tz, now)
    }

    fn resolve(&self, f: &Fields, default_tz: Tz, now: DateTime<Utc>) -> PResult<DateTime<Utc>> {
        let zone = f.zone.unwrap_or(Zone::Named(default_tz));
        let time = f.time()?;
        let explicit_year = if !self.has_year {
            None
        } else if let Some(y) = f.get(F::Year) {
            Some(y)
        } else if let Some(yoe) = f.get(F::YearOfEra) {
            Some(if f.get(F::Era) == Some(0) {
                1 - yoe
            } else {
                yoe
            })
        } else if let Some(wy) = f.get(F::WeekYear) {
            Some(wy)
        } else {
            f.get(F::Century).map(|c| c.saturating_mul(100))
        };
        let date = match explicit_year {
            Some(y) => f.date_for_year(y).ok_or(JodaParseError::InvalidDate)?,
            None => {
                let now_local = zone.local_now(now);
                let y0 = now_local.year();
                match self.year_guess {
                    YearGuess::Nearest => {
                        let mut best: Option<(TimeDelta, NaiveDate)> = None;
                        for y in [y0 - 1, y0, y0 + 1] {
                            if let Some(d) = f.date_for_year(y) {
                                let dist = (d.and_time(time) - now_local).abs();
                                if best.is_none_or(|(b, _)| dist < b) {
                                    best = Some((dist, d));
                                }
                            }
                        }
                        best.map(|(_, d)| d).ok_or(JodaParseError::InvalidDate)?
                    }
                    YearGuess::LogstashMonthRule => {
                        let month = f.get(F::Month).unwrap_or(1);
                        let y = match (month, now_local.month()) {
                            (12, 1) => y0 - 1,
                            (1, 12) => y0 + 1,
                            _ => y0,
                        };
                        f.date_for_year(y).ok_or(JodaParseError::InvalidDate)?
                    }
                }
            }
        };
        zone.to_utc(date.and_time(time))
    }
}

enum ZoneText<'a> {
    Utc,
    Fixed,
    Named { id: &'a str, abbr: Option<&'a str> },
    Other(&'a dyn fmt::Display),
}

fn tokenize(pattern: &str) -> Result<Vec<Tok>, JodaError> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut toks = Vec::new();
    let mut lit = String::new();
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        if ch.is_ascii_alphabetic() {
            let start = i;
            while i < chars.len() && chars[i] == ch {
                i += 1;
            }
            let count = i - start;
            if count > MAX_TOKEN_LEN {
                return Err(JodaError::TokenTooLong {
                    token: std::iter::repeat_n(ch, count).collect(),
                    pos: start,
                    max: MAX_TOKEN_LEN,
                });
            }
            if !lit.is_empty() {
                toks.push(Tok::Lit(std::mem::take(&mut lit)));
            }
            toks.push(Tok::Field {
                letter: ch,
                count,
                pos: start,
            });
        } else if ch == '\'' {
            if chars.get(i + 1) == Some(&'\'') {
                lit.push('\'');
                i += 2;
                continue;
            }
            let open = i;
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(JodaError::UnterminatedQuote { pos: open }),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        lit.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(&c) => {
                        lit.push(c);
                        i += 1;
                    }
                }
            }
        } else {
            lit.push(ch);
            i += 1;
        }
    }
    if !lit.is_empty() {
        toks.push(Tok::Lit(lit));
    }
    Ok(toks)
}

// ---------------------------------------------------------------------------
// Formatting helpers
// ---------------------------------------------------------------------------

/// Writes `v` zero-padded to `width` digits (sign not counted), without the
/// `fmt` machinery: this runs for every event of every index name.
fn push_num(out: &mut String, v: i64, width: usize) {
    let mut buf = [0u8; 20];
    let mut u = v.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if v < 0 {
        out.push('-');
    }
    for _ in (buf.len() - i)..width {
        out.push('0');
    }
    // The buffer holds only ASCII digits, so this never takes the fallback.
    out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or(""));
}

/// `+HHMM` or `+HH:MM`; Joda prints zero as `+0000`, not `Z`.
fn push_offset(out: &mut String, secs: i32, colon: bool) {
    out.push(if secs < 0 { '-' } else { '+' });
    let m = secs.unsigned_abs() / 60;
    push_num(out, (m / 60) as i64, 2);
    if colon {
        out.push(':');
    }
    push_num(out, (m % 60) as i64, 2);
}

// ---------------------------------------------------------------------------
// Parsing state
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Zone {
    Fixed(i32),
    Named(Tz),
}

impl Zone {
    fn local_now(self, now: DateTime<Utc>) -> NaiveDateTime {
        match self {
            Zone::Fixed(secs) => FixedOffset::east_opt(secs)
                .and_then(|o| now.naive_utc().checked_add_offset(o))
                .unwrap_or(now.naive_utc()),
            Zone::Named(tz) => {
                let off = tz.offset_from_utc_datetime(&now.naive_utc()).fix();
                now.naive_utc()
                    .checked_add_offset(off)
                    .unwrap_or(now.naive_utc())
            }
        }
    }

    fn to_utc(self, local: NaiveDateTime) -> PResult<DateTime<Utc>> {
        match self {
            Zone::Fixed(secs) => {
                let off = FixedOffset::east_opt(secs).ok_or(JodaParseError::OutOfRange)?;
                match off.from_local_datetime(&local) {
                    LocalResult::Single(d) => Ok(d.to_utc()),
                    _ => Err(JodaParseError::OutOfRange),
                }
            }
            Zone::Named(tz) => match tz.from_local_datetime(&local) {
                // In an overlap Joda picks the earlier instant (summer time).
                LocalResult::Single(d) | LocalResult::Ambiguous(d, _) => Ok(d.to_utc()),
                LocalResult::None => Err(JodaParseError::NonexistentLocalTime),
            },
        }
    }
}

/// Everything one parse collects, on the stack.
#[derive(Default)]
struct Fields {
    vals: [i32; SLOT_COUNT],
    set: u32,
    nanos: u32,
    zone: Option<Zone>,
}

impl Fields {
    fn set(&mut self, field: F, v: i64) -> PResult<()> {
        let (lo, hi) = field.range();
        if v < lo || v > hi {
            return Err(JodaParseError::FieldOutOfRange {
                field: field.name(),
                value: v,
            });
        }
        // In range means it fits an i32 (ranges are at most 9 digits).
        self.vals[field as usize] = v as i32;
        self.set |= 1 << field as u32;
        Ok(())
    }

    fn get(&self, field: F) -> Option<i32> {
        if self.set & (1 << field as u32) != 0 {
            Some(self.vals[field as usize])
        } else {
            None
        }
    }

    fn has(&self, field: F) -> bool {
        self.get(field).is_some()
    }

    fn time(&self) -> PResult<NaiveTime> {
        let pm = self.get(F::HalfDay) == Some(1);
        let hour = if let Some(h) = self.get(F::HourOfDay) {
            h
        } else if let Some(k) = self.get(F::ClockHourOfDay) {
            k % 24
        } else if let Some(h) = self.get(F::ClockHourOfHalfDay) {
            h % 12 + if pm { 12 } else { 0 }
        } else if let Some(k) = self.get(F::HourOfHalfDay) {
            k + if pm { 12 } else { 0 }
        } else if pm {
            12
        } else {
            0
        };
        let minute = self.get(F::Minute).unwrap_or(0);
        let second = self.get(F::Second).unwrap_or(0);
        NaiveTime::from_hms_nano_opt(hour as u32, minute as u32, second as u32, self.nanos)
            .ok_or(JodaParseError::InvalidDate)
    }

    /// The calendar date for year `y`: ISO week fields when the pattern
    /// speaks in weeks, day-of-year when it has no month, else month/day.
    /// A day-of-week given next to a full date is informational only.
    fn date_for_year(&self, y: i32) -> Option<NaiveDate> {
        let weekday = || match self.get(F::DayOfWeek).unwrap_or(1) {
            1 => Weekday::Mon,
            2 => Weekday::Tue,
            3 => Weekday::Wed,
            4 => Weekday::Thu,
            5 => Weekday::Fri,
            6 => Weekday::Sat,
            _ => Weekday::Sun,
        };
        // A weekyear next to a month (`xxxx-MM-dd`) is treated as the
        // calendar year, which is what such a pattern almost always means.
        let week_based = (self.has(F::WeekYear) || self.has(F::Week))
            && !self.has(F::Month)
            && !self.has(F::DayOfYear);
        if week_based {
            let wy = self.get(F::WeekYear).unwrap_or(y);
            let week = self.get(F::Week).unwrap_or(1) as u32;
            NaiveDate::from_isoywd_opt(wy, week, weekday())
        } else if self.has(F::DayOfYear) && !self.has(F::Month) && !self.has(F::Day) {
            NaiveDate::from_yo_opt(y, self.get(F::DayOfYear).unwrap_or(1) as u32)
        } else {
            let m = self.get(F::Month).unwrap_or(1) as u32;
            let d = self.get(F::Day).unwrap_or(1) as u32;
            NaiveDate::from_ymd_opt(y, m, d)
        }
    }
}

/// Joda's `yy`: the year within [ref-80, ref+19] ending in these two digits
/// (a pivot of ref-30 with a 100-year window, as SimpleDateFormat does).
fn pivot_two_digit_year(two: i64, reference: i32) -> i64 {
    let low = reference as i64 - 80;
    let mut y = low.div_euclid(100) * 100 + two;
    if y < low {
        y += 100;
    }
    y
}

/// A read position in the text. All advances are by whole characters, so
/// slicing at `pos` never splits a UTF-8 sequence.
struct Cur<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cur<'a> {
    fn rest(&self) -> &'a str {
        self.s.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_ci(&mut self, b: u8) -> bool {
        match self.peek() {
            Some(x) if x.eq_ignore_ascii_case(&b) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    fn expected(&self, what: &'static str) -> JodaParseError {
        JodaParseError::Expected {
            expected: what,
            pos: self.pos,
        }
    }

    /// Reads `min..=max` ASCII digits (max <= 18 so the value fits).
    fn digits(&mut self, min: usize, max: usize, what: &'static str) -> PResult<(i64, usize)> {
        let bytes = self.s.as_bytes();
        let start = self.pos;
        let mut v: i64 = 0;
        let mut n = 0;
        while n < max.min(18) {
            match bytes.get(start + n) {
                Some(b) if b.is_ascii_digit() => {
                    v = v * 10 + (b - b'0') as i64;
                    n += 1;
                }
                _ => break,
            }
        }
        if n < min {
            return Err(self.expected(what));
        }
        self.pos += n;
        Ok((v, n))
    }

    fn number(&mut self, min: u8, max: u8, signed: bool, what: &'static str) -> PResult<i64> {
        let start = self.pos;
        let neg = signed && self.eat(b'-');
        if signed && !neg {
            self.eat(b'+');
        }
        match self.digits(min as usize, max as usize, what) {
            Ok((v, _)) => Ok(if neg { -v } else { v }),
            Err(_) => {
                self.pos = start;
                Err(self.expected(what))
            }
        }
    }

    /// Reads a decimal fraction as nanoseconds: exactly `width` digits when
    /// given, else one or more. Digits past the ninth are accepted and dropped
    /// (Logstash accepts more digits than it keeps).
    fn fraction(&mut self, width: Option<usize>) -> PResult<u32> {
        let bytes = self.s.as_bytes();
        let start = self.pos;
        let max = width.unwrap_or(usize::MAX);
        let mut nanos: u32 = 0;
        let mut n = 0;
        while n < max {
            match bytes.get(start + n) {
                Some(b) if b.is_ascii_digit() => {
                    if n < 9 {
                        nanos = nanos * 10 + (b - b'0') as u32;
                    }
                    n += 1;
                }
                _ => break,
            }
        }
        if n == 0 || width.is_some_and(|w| n < w) {
            return Err(self.expected("fraction of second"));
        }
        for _ in n..9 {
            nanos *= 10;
        }
        self.pos += n;
        Ok(nanos)
    }

    fn names(
        &mut self,
        lists: &[&[&'static str]],
        aliases: &[(&'static str, u8)],
        what: &'static str,
    ) -> PResult<i64> {
        let text = self.rest();
        let mut best: Option<(u8, usize)> = None;
        let mut consider = |name: &str, v: u8| {
            if let Some(n) = prefix_ci(text, name) {
                if best.is_none_or(|(_, l)| n > l) {
                    best = Some((v, n));
                }
            }
        };
        // Most names differ from the text in their first letter: pass over those at once.
        let first = text.as_bytes().first().copied().filter(u8::is_ascii);
        let other_letter = |name: &str| {
            first.zip(name.as_bytes().first()).is_some_and(|(t, n)| n.is_ascii() && !t.eq_ignore_ascii_case(n))
        };
        for list in lists {
            for (i, name) in list.iter().enumerate() {
                if other_letter(name) {
                    continue;
                }
                consider(name, i as u8);
                if let Some(bare) = name.strip_suffix('.') {
                    consider(bare, i as u8);
                }
            }
        }
        for &(name, v) in aliases {
            consider(name, v);
        }
        match best {
            Some((v, n)) => {
                self.pos += n;
                Ok(v as i64)
            }
            None => Err(self.expected(what)),
        }
    }

    /// `Z`, `+HH`, `+HHMM`, `+HH:MM` (optionally `:SS`); Joda also reads `Z`
    /// as zero for the `Z`/`ZZ` letters. Returns seconds east of UTC.
    fn offset(&mut self, allow_z: bool) -> PResult<i32> {
        if allow_z && self.eat_ci(b'Z') {
            return Ok(0);
        }
        let start = self.pos;
        let neg = match self.peek() {
            Some(b'+') => false,
            Some(b'-') => true,
            _ => return Err(self.expected("zone offset")),
        };
        self.pos += 1;
        let Ok((h, _)) = self.digits(2, 2, "zone offset") else {
            return self.rewind(start, "zone offset");
        };
        let mut secs = h * 3600;
        let before_min = self.pos;
        let colon = self.eat(b':');
        match self.digits(2, 2, "zone offset") {
            Ok((m, _)) if m < 60 => {
                secs += m * 60;
                let before_sec = self.pos;
                let colon2 = self.eat(b':');
                match self.digits(2, 2, "zone offset") {
                    Ok((s, _)) if s < 60 && colon2 == colon => secs += s,
                    _ => self.pos = before_sec,
                }
            }
            Ok(_) => return self.rewind(start, "zone offset"),
            Err(_) => self.pos = before_min,
        }
        if h > 23 {
            return self.rewind(start, "zone offset");
        }
        Ok(if neg { -(secs as i32) } else { secs as i32 })
    }

    /// Fails at `start`, leaving the cursor there.
    fn rewind<T>(&mut self, start: usize, what: &'static str) -> PResult<T> {
        self.pos = start;
        Err(self.expected(what))
    }

    /// An IANA zone id (`Europe/Paris`, `UTC`): the longest run of id
    /// characters that names a zone.
    fn zone_id(&mut self) -> PResult<Zone> {
        let text = self.rest();
        let run = text
            .bytes()
            .take(64)
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'+'))
            .count();
        // The run is ASCII, so every prefix length is a char boundary.
        for len in (1..=run).rev() {
            if let Some(tz) = text.get(..len).and_then(|id| Tz::from_str(id).ok()) {
                self.pos += len;
                return Ok(Zone::Named(tz));
            }
        }
        Err(self.expected("time zone id"))
    }

    /// A short zone name (`UTC`, `GMT`, `CET`, `PST`…), `GMT+01:00`-style
    /// offsets, or, leniently, an offset or zone id.
    fn zone_name(&mut self) -> PResult<Zone> {
        let text = self.rest();
        let mut best: Option<(i32, usize)> = None;
        for &(name, secs) in ZONE_ABBREVIATIONS {
            if let Some(n) = prefix_ci(text, name) {
                if best.is_none_or(|(_, l)| n > l) {
                    best = Some((secs, n));
                }
            }
        }
        if let Some((secs, n)) = best {
            // A name is a whole word: "ESTONIA" is not EST.
            let next = text.as_bytes().get(n);
            if !next.is_some_and(|b| b.is_ascii_alphabetic()) {
                self.pos += n;
                if secs == 0 && matches!(self.peek(), Some(b'+' | b'-')) {
                    if let Ok(off) = self.gmt_offset() {
                        return Ok(Zone::Fixed(off));
                    }
                }
                return Ok(Zone::Fixed(secs));
            }
        }
        if matches!(self.peek(), Some(b'+' | b'-')) {
            return self.offset(false).map(Zone::Fixed);
        }
        self.zone_id().map_err(|_| self.expected("time zone name"))
    }

    /// The `+1`, `+01`, `+0100`, `+01:00` after `GMT`/`UTC`.
    fn gmt_offset(&mut self) -> PResult<i32> {
        let start = self.pos;
        let neg = self.peek() == Some(b'-');
        self.pos += 1;
        let res = (|| {
            let (h, n) = self.digits(1, 2, "zone offset")?;
            let mut secs = h * 3600;
            let colon = self.eat(b':');
            if n == 2 || colon {
                if let Ok((m, _)) = self.digits(2, 2, "zone offset") {
                    if m >= 60 {
                        return Err(self.expected("zone offset"));
                    }
                    secs += m * 60;
                } else if colon {
                    return Err(self.expected("zone offset"));
                }
            }
            if h > 23 {
                return Err(self.expected("zone offset"));
            }
            Ok(if neg { -(secs as i32) } else { secs as i32 })
        })();
        if res.is_err() {
            self.pos = start;
        }
        res
    }
}

/// Zone abbreviations accepted by `z`, as fixed offsets (an abbreviation names
/// one offset; `EST` in July is still -05:00). Ambiguous ones follow the JDK:
/// `CST` is US Central, `IST` is India.
const ZONE_ABBREVIATIONS: &[(&str, i32)] = &[
    ("UTC", 0),
    ("UT", 0),
    ("GMT", 0),
    ("Z", 0),
    ("WET", 0),
    ("WEST", 3600),
    ("BST", 3600),
    ("CET", 3600),
    ("CEST", 7200),
    ("MET", 3600),
    ("MEST", 7200),
    ("EET", 7200),
    ("EEST", 10800),
    ("MSK", 10800),
    ("IST", 19800),
    ("SAST", 7200),
    ("EST", -18000),
    ("EDT", -14400),
    ("CST", -21600),
    ("CDT", -18000),
    ("MST", -25200),
    ("MDT", -21600),
    ("PST", -28800),
    ("PDT", -25200),
    ("AKST", -32400),
    ("AKDT", -28800),
    ("HST", -36000),
    ("AST", -14400),
    ("ADT", -10800),
    ("NST", -12600),
    ("NDT", -9000),
    ("ICT", 25200),
    ("WIB", 25200),
    ("HKT", 28800),
    ("SGT", 28800),
    ("AWST", 28800),
    ("JST", 32400),
    ("KST", 32400),
    ("ACST", 34200),
    ("ACDT", 37800),
    ("AEST", 36000),
    ("AEDT", 39600),
    ("NZST", 43200),
    ("NZDT", 46800),
];

/// Case-insensitive match of `name` at the start of `text`; returns the bytes
/// of `text` consumed. Joda matches literals and names ignoring case.
fn prefix_ci(text: &str, name: &str) -> Option<usize> {
    if name.is_empty() {
        return None;
    }
    // Month and day names are tried by the dozen per date parsed, and most differ in their
    // first letter: compare bytes while both sides are ASCII, and go character by character
    // (case folding can pair a non-ASCII character with an ASCII one) only from the first
    // byte that is not.
    let (t, n) = (text.as_bytes(), name.as_bytes());
    let mut ascii = 0;
    while ascii < n.len() {
        let (tb, nb) = (*t.get(ascii)?, n[ascii]);
        if !tb.is_ascii() || !nb.is_ascii() {
            break;
        }
        if !tb.eq_ignore_ascii_case(&nb) {
            return None;
        }
        ascii += 1;
    }
    if ascii == n.len() {
        return Some(ascii);
    }
    // Both offsets follow ASCII bytes only, so they are character boundaries.
    prefix_ci_chars(&text[ascii..], &name[ascii..]).map(|n| ascii + n)
}

/// `prefix_ci` for text past the first non-ASCII character; kept out of line so the common
/// path stays small enough to inline.
#[cold]
fn prefix_ci_chars(text: &str, name: &str) -> Option<usize> {
    let mut it = text.char_indices();
    for nc in name.chars() {
        let (_, tc) = it.next()?;
        if tc != nc && !chars_eq_ci(tc, nc) {
            return None;
        }
    }
    Some(it.offset())
}

fn chars_eq_ci(a: char, b: char) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(&b)
    } else {
        a.to_lowercase().eq(b.to_lowercase())
    }
}

// ---------------------------------------------------------------------------
// Logstash's special formats
// ---------------------------------------------------------------------------

/// One entry of a date filter's `match` list: a Joda pattern or one of the
/// names Logstash gives special meaning.
#[derive(Debug, Clone)]
pub enum DateFormat {
    Joda(JodaFormat),
    /// `ISO8601`: `2024-03-01T12:34:56.789Z`, `,` fractions, `+01:00`/`+0100`/
    /// `+01`/`Z` offsets, a space instead of `T`, date-only, week and ordinal
    /// dates; no offset means `default_tz`.
    Iso8601,
    /// `UNIX`: seconds since the epoch, optionally fractional.
    Unix,
    /// `UNIX_MS`: milliseconds since the epoch.
    UnixMs,
    /// `TAI64N`: `@4000000037c219bf2ef02e94`, with or without the `@`.
    Tai64n,
}

/// Largest |seconds| accepted by `UNIX` (9999-12-31T23:59:59Z). Logstash
/// rejects anything above i32::MAX, which would break in 2038; this bound
/// still rejects millisecond values fed to `UNIX` by mistake.
const MAX_UNIX_SECONDS: i64 = 253_402_300_799;

impl DateFormat {
    /// Recognises `ISO8601`, `UNIX`, `UNIX_MS` and `TAI64N` (exact spelling,
    /// as Logstash); anything else is a Joda pattern with English names.
    pub fn compile(spec: &str) -> Result<DateFormat, JodaError> {
        Self::compile_in(spec, Locale::En)
    }

    pub fn compile_with_locale(spec: &str, locale: &str) -> Result<DateFormat, JodaError> {
        let loc =
            Locale::from_tag(locale).ok_or_else(|| JodaError::UnknownLocale(locale.into()))?;
        Self::compile_in(spec, loc)
    }

    pub fn compile_in(spec: &str, locale: Locale) -> Result<DateFormat, JodaError> {
        Ok(match spec {
            "ISO8601" => DateFormat::Iso8601,
            "UNIX" => DateFormat::Unix,
            "UNIX_MS" => DateFormat::UnixMs,
            "TAI64N" => DateFormat::Tai64n,
            _ => DateFormat::Joda(JodaFormat::compile_in(spec, locale)?),
        })
    }

    /// Parses text; see [`JodaFormat::parse`]. `default_tz` and `now` matter
    /// only to Joda patterns and zone-less ISO8601 text.
    pub fn parse(
        &self,
        text: &str,
        default_tz: Tz,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, JodaParseError> {
        match self {
            DateFormat::Joda(j) => j.parse(text, default_tz, now),
            DateFormat::Iso8601 => parse_iso8601(text, default_tz),
            DateFormat::Unix => parse_epoch_text(text, 1_000_000_000, MAX_UNIX_SECONDS),
            DateFormat::UnixMs => parse_epoch_text(text, 1_000_000, MAX_UNIX_SECONDS * 1000),
            DateFormat::Tai64n => parse_tai64n(text),
        }
    }

    /// An integer field value (JSON number). Only `UNIX`/`UNIX_MS` accept
    /// numbers, as in Logstash.
    pub fn parse_i64(&self, v: i64) -> Result<DateTime<Utc>, JodaParseError> {
        match self {
            DateFormat::Unix if v.unsigned_abs() <= MAX_UNIX_SECONDS as u64 => {
                DateTime::from_timestamp(v, 0).ok_or(JodaParseError::OutOfRange)
            }
            DateFormat::UnixMs if v.unsigned_abs() <= MAX_UNIX_SECONDS as u64 * 1000 => {
                DateTime::from_timestamp_millis(v).ok_or(JodaParseError::OutOfRange)
            }
            DateFormat::Unix | DateFormat::UnixMs => Err(JodaParseError::OutOfRange),
            _ => Err(JodaParseError::NumberNotAccepted),
        }
    }

    /// A floating-point field value. Kept to microseconds: an f64 holding
    /// epoch seconds has no reliable digits beyond that.
    pub fn parse_f64(&self, v: f64) -> Result<DateTime<Utc>, JodaParseError> {
        let micros_per_unit = match self {
            DateFormat::Unix => 1_000_000.0,
            DateFormat::UnixMs => 1_000.0,
            _ => return Err(JodaParseError::NumberNotAccepted),
        };
        if !v.is_finite() {
            return Err(JodaParseError::OutOfRange);
        }
        let whole = v.trunc();
        let limit = if micros_per_unit > 1000.0 {
            MAX_UNIX_SECONDS
        } else {
            MAX_UNIX_SECONDS * 1000
        };
        if whole.abs() > limit as f64 {
            return Err(JodaParseError::OutOfRange);
        }
        let micros =
            whole as i64 * micros_per_unit as i64 + ((v - whole) * micros_per_unit).round() as i64;
        DateTime::from_timestamp_micros(micros).ok_or(JodaParseError::OutOfRange)
    }
}

/// `[-+]digits[.digits]` in units of `nanos_per_unit` nanoseconds. Fraction
/// digits below a nanosecond are dropped.
fn parse_epoch_text(text: &str, nanos_per_unit: i64, max_units: i64) -> PResult<DateTime<Utc>> {
    let mut c = Cur { s: text, pos: 0 };
    let neg = c.eat(b'-');
    if !neg {
        c.eat(b'+');
    }
    let (whole, _) = c.digits(1, 18, "number")?;
    if c.peek().is_some_and(|b| b.is_ascii_digit()) || whole > max_units {
        return Err(JodaParseError::OutOfRange);
    }
    let mut frac_nanos: i64 = 0;
    if c.eat(b'.') {
        // Digits of the fraction, scaled to nanoseconds of the unit.
        let bytes = text.as_bytes();
        let start = c.pos;
        let mut scale = nanos_per_unit;
        while let Some(b) = bytes.get(c.pos).filter(|b| b.is_ascii_digit()) {
            scale /= 10;
            frac_nanos += (b - b'0') as i64 * scale;
            c.pos += 1;
        }
        if c.pos == start {
            return Err(c.expected("fraction digits"));
        }
    }
    if c.pos != text.len() {
        return Err(JodaParseError::TrailingText { pos: c.pos });
    }
    let total = whole as i128 * nanos_per_unit as i128 + frac_nanos as i128;
    let total = if neg { -total } else { total };
    let secs = total.div_euclid(1_000_000_000) as i64;
    let nanos = total.rem_euclid(1_000_000_000) as u32;
    DateTime::from_timestamp(secs, nanos).ok_or(JodaParseError::OutOfRange)
}

/// TAI64N: 16 hex digits of label (2^62 + TAI seconds since 1970) and 8 hex
/// digits of nanoseconds. Like Logstash we subtract a flat 10 s for TAI−UTC,
/// which is what daemontools' `tai64n` writes when it has no leap-second
/// table, so the result is the UTC wall clock of the logging machine.
fn parse_tai64n(text: &str) -> PResult<DateTime<Utc>> {
    let hex = text.strip_prefix('@').unwrap_or(text);
    let offset = text.len() - hex.len();
    let bytes = hex.as_bytes();
    if bytes.len() != 24 {
        let pos = offset + bytes.len().min(24);
        return Err(if bytes.len() > 24 {
            JodaParseError::TrailingText { pos }
        } else {
            JodaParseError::Expected {
                expected: "24 hex digits",
                pos,
            }
        });
    }
    let mut label: u64 = 0;
    let mut nanos: u64 = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let d = (b as char).to_digit(16).ok_or(JodaParseError::Expected {
            expected: "hex digit",
            pos: offset + i,
        })? as u64;
        if i < 16 {
            label = label << 4 | d;
        } else {
            nanos = nanos << 4 | d;
        }
    }
    // Labels of 2^63 and above are reserved by the TAI64 definition.
    if label >= 1 << 63 {
        return Err(JodaParseError::OutOfRange);
    }
    if nanos >= 1_000_000_000 {
        return Err(JodaParseError::FieldOutOfRange {
            field: "TAI64N nanoseconds",
            value: nanos as i64,
        });
    }
    let tai_secs = label as i64 - (1 << 62);
    DateTime::from_timestamp(tai_secs - 10, nanos as u32).ok_or(JodaParseError::OutOfRange)
}

/// Logstash's ISO8601: Joda's ISO `dateTimeParser` plus its extra
/// `yyyy-MM-dd HH:mm:ss.SSS[Z]` patterns (space separator, `,` fractions).
fn parse_iso8601(text: &str, default_tz: Tz) -> PResult<DateTime<Utc>> {
    let mut c = Cur { s: text, pos: 0 };
    let neg = c.eat(b'-');
    if !neg {
        c.eat(b'+');
    }
    let (y, _) = c.digits(4, 9, "year")?;
    let year = if neg { -y } else { y } as i32;
    let date = if c.eat(b'-') {
        if c.eat_ci(b'W') {
            let (w, _) = c.digits(2, 2, "week")?;
            let d = if c.eat(b'-') {
                c.digits(1, 1, "day of week")?.0
            } else {
                1
            };
            let wd = match d {
                1 => Weekday::Mon,
                2 => Weekday::Tue,
                3 => Weekday::Wed,
                4 => Weekday::Thu,
                5 => Weekday::Fri,
                6 => Weekday::Sat,
                7 => Weekday::Sun,
                _ => {
                    return Err(JodaParseError::FieldOutOfRange {
                        field: "day of week",
                        value: d,
                    });
                }
            };
            NaiveDate::from_isoywd_opt(year, w as u32, wd)
        } else {
            let (v, n) = c.digits(2, 3, "month")?;
            if n == 3 {
                NaiveDate::from_yo_opt(year, v as u32)
            } else {
                let d = if c.eat(b'-') {
                    c.digits(2, 2, "day of month")?.0
                } else {
                    1
                };
                NaiveDate::from_ymd_opt(year, v as u32, d as u32)
            }
        }
    } else {
        NaiveDate::from_ymd_opt(year, 1, 1)
    }
    .ok_or(JodaParseError::InvalidDate)?;

    let mut local = date.and_time(NaiveTime::MIN);
    let mut zone = Zone::Named(default_tz);
    if c.eat_ci(b'T') || c.eat(b' ') {
        let (h, _) = c.digits(2, 2, "hour")?;
        let mut parts = [h, 0, 0];
        let mut last = 0;
        while last < 2 && c.peek() == Some(b':') {
            c.pos += 1;
            last += 1;
            parts[last] = c
                .digits(2, 2, if last == 1 { "minute" } else { "second" })?
                .0;
        }
        if parts[0] > 23 || parts[1] > 59 || parts[2] > 59 {
            return Err(JodaParseError::InvalidDate);
        }
        let time = NaiveTime::from_hms_opt(parts[0] as u32, parts[1] as u32, parts[2] as u32)
            .ok_or(JodaParseError::InvalidDate)?;
        local = date.and_time(time);
        if matches!(c.peek(), Some(b'.' | b',')) {
            c.pos += 1;
            let frac = c.fraction(None)? as i64;
            // The fraction belongs to the last component written (hours,
            // minutes or seconds), as ISO 8601 allows.
            let unit: i64 = [3600, 60, 1][last];
            local = local
                .checked_add_signed(TimeDelta::nanoseconds(frac * unit))
                .ok_or(JodaParseError::OutOfRange)?;
        }
        if c.peek().is_some() {
            zone = Zone::Fixed(c.offset(true)?);
        }
    }
    if c.pos != text.len() {
        return Err(JodaParseError::TrailingText { pos: c.pos });
    }
    zone.to_utc(local)
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap() + TimeDelta::milliseconds(ms as i64)
    }

    fn fmt(p: &str, t: DateTime<Utc>) -> String {
        let mut s = String::new();
        JodaFormat::compile(p).unwrap().format_utc(t, &mut s);
        s
    }

    fn parse(p: &str, text: &str, tz: Tz, now: DateTime<Utc>) -> PResult<DateTime<Utc>> {
        JodaFormat::compile(p).unwrap().parse(text, tz, now)
    }

    const NOW: fn() -> DateTime<Utc> = || utc(2024, 6, 15, 12, 0, 0, 0);

    /// Names match ignoring case and report the bytes of text they took, whether the text is
    /// ASCII or not (the byte path and the character path must agree).
    #[test]
    fn name_prefixes_ignore_case_in_ascii_and_beyond() {
        assert_eq!(prefix_ci("May/2015", "may"), Some(3));
        assert_eq!(prefix_ci("MAY", "May"), Some(3));
        assert_eq!(prefix_ci("Ma", "May"), None);
        assert_eq!(prefix_ci("Mar", "May"), None);
        assert_eq!(prefix_ci("", "May"), None);
        assert_eq!(prefix_ci("May", ""), None);
        // "FÉVR." is 6 bytes: É takes two.
        assert_eq!(prefix_ci("FÉVR. 2024", "févr."), Some(6));
        assert_eq!(prefix_ci("févr.", "FÉVR."), Some(6));
        // The Kelvin sign (3 bytes) folds to an ASCII `k`.
        assert_eq!(prefix_ci("\u{212A}m", "km"), Some(4));
        assert_eq!(prefix_ci("f\u{e9}x", "fex"), None);
    }

    // 2024-02-29 is a Thursday, day 31 + 29 = 60 of the year, in ISO week 9
    // (2024-01-01 is a Monday, so week 1 starts on Jan 1 and Feb 26 starts
    // week 9).
    #[test]
    fn formats_leap_day() {
        let t = utc(2024, 2, 29, 13, 5, 9, 123);
        assert_eq!(fmt("YYYY.MM.dd", t), "2024.02.29");
        assert_eq!(fmt("yyyy.MM.dd", t), "2024.02.29");
        assert_eq!(fmt("xxxx.ww", t), "2024.09");
        assert_eq!(
            fmt("dd/MMM/yyyy:HH:mm:ss Z", t),
            "29/Feb/2024:13:05:09 +0000"
        );
        assert_eq!(
            fmt("EEE, dd MMM yyyy HH:mm:ss z", t),
            "Thu, 29 Feb 2024 13:05:09 UTC"
        );
        assert_eq!(fmt("D", t), "60");
        assert_eq!(fmt("DDD", t), "060");
        assert_eq!(fmt("hh a", t), "01 PM");
        assert_eq!(fmt("kk", t), "13");
        assert_eq!(fmt("SSS", t), "123");
        assert_eq!(fmt("S", t), "1");
        assert_eq!(fmt("SSSSSS", t), "123000");
        assert_eq!(fmt("''yyyy''", t), "'2024'");
        assert_eq!(fmt("'T'", t), "T");
        assert_eq!(
            fmt("yyyy-MM-dd'T'HH:mm:ss.SSSZZ", t),
            "2024-02-29T13:05:09.123+00:00"
        );
        assert_eq!(fmt("'o''clock' h", t), "o'clock 1");
        assert_eq!(fmt("EEEE MMMM d", t), "Thursday February 29");
        assert_eq!(fmt("yy e G C", t), "24 4 AD 20");
        assert_eq!(fmt("ZZZ", t), "UTC");
        assert_eq!(fmt("y M d H m s", t), "2024 2 29 13 5 9");
        assert_eq!(fmt("K h", utc(2024, 1, 1, 0, 30, 0, 0)), "0 12");
        assert_eq!(fmt("kk HH a", utc(2024, 1, 1, 0, 30, 0, 0)), "24 00 AM");
    }

    #[test]
    fn iso_week_year_edge() {
        // 2021-01-01 was a Friday; 2020 had 53 ISO weeks, so it is 2020-W53-5.
        let t = utc(2021, 1, 1, 0, 0, 0, 0);
        assert_eq!(fmt("xxxx-ww-e", t), "2020-53-5");
        assert_eq!(fmt("YYYY", t), "2021");
        assert_eq!(fmt("xx", t), "20");
        // 2024-12-30 (Monday) is already 2025-W01.
        assert_eq!(
            fmt("xxxx-'W'ww-e", utc(2024, 12, 30, 0, 0, 0, 0)),
            "2025-W01-1"
        );
        // And parsing week dates goes back to the calendar date.
        assert_eq!(
            parse("xxxx-ww-e", "2020-53-5", chrono_tz::UTC, NOW()),
            Ok(t)
        );
    }

    #[test]
    fn formats_in_zones() {
        let t = utc(2024, 7, 1, 10, 0, 0, 0);
        let f = JodaFormat::compile("yyyy-MM-dd HH:mm z Z ZZ ZZZ").unwrap();
        let mut s = String::new();
        f.format_tz(t, chrono_tz::Europe::Paris, &mut s);
        assert_eq!(s, "2024-07-01 12:00 CEST +0200 +02:00 Europe/Paris");
        s.clear();
        f.format_in(
            &t.with_timezone(&FixedOffset::west_opt(5 * 3600 + 1800).unwrap()),
            &mut s,
        );
        assert_eq!(s, "2024-07-01 04:30 -05:30 -0530 -05:30 -05:30");
        s.clear();
        f.format_in(&t, &mut s);
        assert_eq!(s, "2024-07-01 10:00 UTC +0000 +00:00 UTC");
    }

    #[test]
    fn parses_apache() {
        // 13:55:36 at -07:00 is 20:55:36 UTC.
        let got = parse(
            "dd/MMM/yyyy:HH:mm:ss Z",
            "10/Oct/2000:13:55:36 -0700",
            chrono_tz::UTC,
            NOW(),
        );
        assert_eq!(got, Ok(utc(2000, 10, 10, 20, 55, 36, 0)));
        // Names are case-insensitive; `Z` accepts a colon and `Z` itself.
        let got = parse(
            "dd/MMM/yyyy:HH:mm:ss Z",
            "10/OCT/2000:13:55:36 -07:00",
            chrono_tz::UTC,
            NOW(),
        );
        assert_eq!(got, Ok(utc(2000, 10, 10, 20, 55, 36, 0)));
        let got = parse(
            "dd/MMM/yyyy:HH:mm:ss Z",
            "10/oct/2000:13:55:36 Z",
            chrono_tz::UTC,
            NOW(),
        );
        assert_eq!(got, Ok(utc(2000, 10, 10, 13, 55, 36, 0)));
    }

    #[test]
    fn parses_syslog_with_year_guess() {
        let single = JodaFormat::compile("MMM  d HH:mm:ss").unwrap();
        let double = JodaFormat::compile("MMM dd HH:mm:ss").unwrap();
        let berlin = chrono_tz::UTC;
        // Mid-year: the current year.
        assert_eq!(
            single.parse("Mar  1 09:00:01", berlin, NOW()),
            Ok(utc(2024, 3, 1, 9, 0, 1, 0))
        );
        assert_eq!(
            double.parse("Mar 11 09:00:01", berlin, NOW()),
            Ok(utc(2024, 3, 11, 9, 0, 1, 0))
        );
        // Spaces match exactly: one space is not two.
        assert!(single.parse("Mar 1 09:00:01", berlin, NOW()).is_err());
        assert!(double.parse("Mar  1 09:00:01", berlin, NOW()).is_err());
        // Just after New Year, a March line is this (new) year's.
        let jan2 = utc(2025, 1, 2, 8, 0, 0, 0);
        assert_eq!(
            single.parse("Mar  1 09:00:01", berlin, jan2),
            Ok(utc(2025, 3, 1, 9, 0, 1, 0))
        );
        assert_eq!(
            double.parse("Mar 11 09:00:01", berlin, jan2),
            Ok(utc(2025, 3, 11, 9, 0, 1, 0))
        );
        // Just before New Year, March 2025 (61 days ahead) is nearer than
        // March 2024 (304 days back) under the nearest rule; Logstash's month
        // rule keeps the current year.
        let dec30 = utc(2024, 12, 30, 8, 0, 0, 0);
        assert_eq!(
            single.parse("Mar  1 09:00:01", berlin, dec30),
            Ok(utc(2025, 3, 1, 9, 0, 1, 0))
        );
        let ls = single.clone().with_year_guess(YearGuess::LogstashMonthRule);
        assert_eq!(
            ls.parse("Mar  1 09:00:01", berlin, dec30),
            Ok(utc(2024, 3, 1, 9, 0, 1, 0))
        );
        // Across New Year both rules agree.
        let jan1 = utc(2024, 1, 1, 0, 0, 30, 0);
        assert_eq!(
            double.parse("Dec 31 23:59:59", berlin, jan1),
            Ok(utc(2023, 12, 31, 23, 59, 59, 0))
        );
        let dec31 = utc(2024, 12, 31, 23, 59, 0, 0);
        assert_eq!(
            single.parse("Jan  1 00:00:01", berlin, dec31),
            Ok(utc(2025, 1, 1, 0, 0, 1, 0))
        );
        assert_eq!(
            ls.parse("Jan  1 00:00:01", berlin, dec31),
            Ok(utc(2025, 1, 1, 0, 0, 1, 0))
        );
        // Feb 29 picks the leap year among the candidates.
        let mar2025 = utc(2025, 3, 10, 0, 0, 0, 0);
        assert_eq!(
            double.parse("Feb 29 00:00:00", berlin, mar2025),
            Ok(utc(2024, 2, 29, 0, 0, 0, 0))
        );
        // `d` and `dd` read one or two digits.
        assert_eq!(
            parse("MMM d", "Mar 01", berlin, NOW()),
            Ok(utc(2024, 3, 1, 0, 0, 0, 0))
        );
        assert_eq!(
            parse("MMM dd", "Mar 1", berlin, NOW()),
            Ok(utc(2024, 3, 1, 0, 0, 0, 0))
        );
    }

    #[test]
    fn parses_in_zone_with_dst() {
        let paris = chrono_tz::Europe::Paris;
        let p = "yyyy-MM-dd HH:mm:ss,SSS";
        // May is CEST (+02:00).
        assert_eq!(
            parse(p, "2019-05-23 12:34:56,789", paris, NOW()),
            Ok(utc(2019, 5, 23, 10, 34, 56, 789))
        );
        // January is CET (+01:00).
        assert_eq!(
            parse(p, "2019-01-23 12:34:56,789", paris, NOW()),
            Ok(utc(2019, 1, 23, 11, 34, 56, 789))
        );
        // 2019-03-31 02:00 -> 03:00 in Paris: 02:30 does not exist (Joda fails).
        assert_eq!(
            parse(p, "2019-03-31 02:30:00,000", paris, NOW()),
            Err(JodaParseError::NonexistentLocalTime)
        );
        // 2019-10-27 03:00 -> 02:00: 02:30 happens twice; the earlier is +02:00.
        assert_eq!(
            parse(p, "2019-10-27 02:30:00,000", paris, NOW()),
            Ok(utc(2019, 10, 27, 0, 30, 0, 0))
        );
        // An offset in the text wins over the default zone.
        assert_eq!(
            parse(
                "yyyy-MM-dd HH:mm:ss Z",
                "2019-05-23 12:34:56 +0000",
                paris,
                NOW()
            ),
            Ok(utc(2019, 5, 23, 12, 34, 56, 0))
        );
        // A zone id in the text is resolved with its own rules.
        assert_eq!(
            parse(
                "yyyy-MM-dd HH:mm ZZZ",
                "2019-05-23 12:00 America/New_York",
                paris,
                NOW()
            ),
            Ok(utc(2019, 5, 23, 16, 0, 0, 0))
        );
        // Short names are fixed offsets.
        assert_eq!(
            parse(
                "EEE, dd MMM yyyy HH:mm:ss z",
                "Thu, 29 Feb 2024 13:05:09 PST",
                paris,
                NOW()
            ),
            Ok(utc(2024, 2, 29, 21, 5, 9, 0))
        );
        assert_eq!(
            parse(
                "dd MMM yyyy HH:mm z",
                "29 Feb 2024 13:05 GMT+01:00",
                paris,
                NOW()
            ),
            Ok(utc(2024, 2, 29, 12, 5, 0, 0))
        );
        assert_eq!(
            parse("HH:mm z", "13:05 UTC", paris, NOW()).map(|t| t.time()),
            Ok(NaiveTime::from_hms_opt(13, 5, 0).unwrap())
        );
    }

    #[test]
    fn parses_numbers_and_widths() {
        let z = chrono_tz::UTC;
        // Squeezed fields take exactly their width.
        assert_eq!(
            parse("yyyyMMddHHmmss", "20240229130509", z, NOW()),
            Ok(utc(2024, 2, 29, 13, 5, 9, 0))
        );
        // The last field is not squeezed, so it may be short.
        assert_eq!(
            parse("yyyyMMdd", "2024029", z, NOW()),
            Ok(utc(2024, 2, 9, 0, 0, 0, 0))
        );
        assert!(parse("yyyyMMdd", "202402", z, NOW()).is_err());
        assert!(parse("yyyyMMdd", "2024", z, NOW()).is_err());
        // Fractions: given digits, fewer, or more (extra digits dropped).
        let p = "yyyy-MM-dd'T'HH:mm:ss.SSS";
        assert_eq!(
            parse(p, "2024-02-29T13:05:09.123", z, NOW()),
            Ok(utc(2024, 2, 29, 13, 5, 9, 123))
        );
        assert_eq!(
            parse(p, "2024-02-29T13:05:09.5", z, NOW()),
            Ok(utc(2024, 2, 29, 13, 5, 9, 500))
        );
        assert_eq!(
            parse(p, "2024-02-29T13:05:09.123456789123", z, NOW()),
            Ok(utc(2024, 2, 29, 13, 5, 9, 123) + TimeDelta::nanoseconds(456_789))
        );
        // Literals are case-insensitive, as in Joda.
        assert_eq!(
            parse(p, "2024-02-29t13:05:09.123", z, NOW()),
            Ok(utc(2024, 2, 29, 13, 5, 9, 123))
        );
        // 12-hour clocks.
        assert_eq!(
            parse("yyyy-MM-dd hh:mm a", "2024-02-29 12:15 AM", z, NOW()),
            Ok(utc(2024, 2, 29, 0, 15, 0, 0))
        );
        assert_eq!(
            parse("yyyy-MM-dd hh:mm a", "2024-02-29 01:15 pm", z, NOW()),
            Ok(utc(2024, 2, 29, 13, 15, 0, 0))
        );
        assert_eq!(
            parse("yyyy-MM-dd kk:mm", "2024-02-29 24:15", z, NOW()),
            Ok(utc(2024, 2, 29, 0, 15, 0, 0))
        );
        // Day of year.
        assert_eq!(
            parse("yyyy-DDD", "2024-060", z, NOW()),
            Ok(utc(2024, 2, 29, 0, 0, 0, 0))
        );
        // Full month and day names are accepted for MMM / EEE too.
        assert_eq!(
            parse("EEE dd MMM yyyy", "Thursday 29 February 2024", z, NOW()),
            Ok(utc(2024, 2, 29, 0, 0, 0, 0))
        );
        // Year of era with era.
        assert_eq!(
            parse("YYYY G", "0044 BC", z, NOW()).map(|t| t.year()),
            Ok(-43)
        );
    }

    #[test]
    fn two_digit_year_pivot() {
        // Joda's pivot is (now - 30): the window is [now-80, now+19].
        let z = chrono_tz::UTC;
        let now = utc(2024, 6, 15, 0, 0, 0, 0);
        assert_eq!(
            parse("dd/MM/yy", "01/02/43", z, now).map(|t| t.year()),
            Ok(2043)
        );
        assert_eq!(
            parse("dd/MM/yy", "01/02/44", z, now).map(|t| t.year()),
            Ok(1944)
        );
        assert_eq!(
            parse("dd/MM/yy", "01/02/99", z, now).map(|t| t.year()),
            Ok(1999)
        );
        assert_eq!(
            parse("dd/MM/yy", "01/02/00", z, now).map(|t| t.year()),
            Ok(2000)
        );
        // Lenient form: not exactly two digits means a full year.
        assert_eq!(
            parse("dd/MM/yy", "01/02/2024", z, now).map(|t| t.year()),
            Ok(2024)
        );
        // Squeezed form takes exactly two digits.
        assert_eq!(
            parse("yyMMdd", "240229", z, now),
            Ok(utc(2024, 2, 29, 0, 0, 0, 0))
        );
    }

    #[test]
    fn locale_names() {
        let z = chrono_tz::UTC;
        let fr = JodaFormat::compile_with_locale("dd MMM yyyy", "fr").unwrap();
        assert_eq!(
            fr.parse("01 févr. 2024", z, NOW()),
            Ok(utc(2024, 2, 1, 0, 0, 0, 0))
        );
        assert_eq!(
            fr.parse("01 FÉVR 2024", z, NOW()),
            Ok(utc(2024, 2, 1, 0, 0, 0, 0))
        );
        assert_eq!(
            fr.parse("15 août 2024", z, NOW()),
            Ok(utc(2024, 8, 15, 0, 0, 0, 0))
        );
        assert_eq!(
            fr.parse("15 décembre 2024", z, NOW()),
            Ok(utc(2024, 12, 15, 0, 0, 0, 0))
        );
        assert!(fr.parse("15 Dec 2024", z, NOW()).is_ok()); // "dec" alias
        assert!(fr.parse("15 Aug 2024", z, NOW()).is_err()); // English is not French
        let mut s = String::new();
        let frl = JodaFormat::compile_with_locale("EEEE d MMMM yyyy / EEE d MMM", "fr_FR").unwrap();
        frl.format_utc(utc(2024, 2, 29, 0, 0, 0, 0), &mut s);
        assert_eq!(s, "jeudi 29 février 2024 / jeu. 29 févr.");
        s.clear();
        let de = JodaFormat::compile_with_locale("EEEE, d. MMMM yyyy", "de-DE").unwrap();
        de.format_utc(utc(2024, 3, 5, 0, 0, 0, 0), &mut s);
        assert_eq!(s, "Dienstag, 5. März 2024");
        assert_eq!(
            de.parse("dienstag, 5. märz 2024", z, NOW()),
            Ok(utc(2024, 3, 5, 0, 0, 0, 0))
        );
        let es = JodaFormat::compile_with_locale("dd MMM yyyy", "es").unwrap();
        assert_eq!(
            es.parse("05 ene. 2024", z, NOW()),
            Ok(utc(2024, 1, 5, 0, 0, 0, 0))
        );
        assert_eq!(
            es.parse("05 sept 2024", z, NOW()),
            Ok(utc(2024, 9, 5, 0, 0, 0, 0))
        );
        assert!(matches!(
            JodaFormat::compile_with_locale("MMM", "xx"),
            Err(JodaError::UnknownLocale(_))
        ));
    }

    #[test]
    fn iso8601_variants() {
        let f = DateFormat::compile("ISO8601").unwrap();
        let z = chrono_tz::UTC;
        let paris = chrono_tz::Europe::Paris;
        let p = |s: &str, tz| f.parse(s, tz, NOW());
        assert_eq!(
            p("2024-03-01T12:34:56.789Z", z),
            Ok(utc(2024, 3, 1, 12, 34, 56, 789))
        );
        assert_eq!(
            p("2024-03-01T12:34:56,789+01:00", z),
            Ok(utc(2024, 3, 1, 11, 34, 56, 789))
        );
        assert_eq!(
            p("2024-03-01T12:34:56+0100", z),
            Ok(utc(2024, 3, 1, 11, 34, 56, 0))
        );
        assert_eq!(
            p("2024-03-01T12:34:56-05", z),
            Ok(utc(2024, 3, 1, 17, 34, 56, 0))
        );
        assert_eq!(
            p("2024-03-01 12:34:56", z),
            Ok(utc(2024, 3, 1, 12, 34, 56, 0))
        );
        // No zone: the default zone (CET in March).
        assert_eq!(
            p("2024-03-01 12:34:56", paris),
            Ok(utc(2024, 3, 1, 11, 34, 56, 0))
        );
        assert_eq!(
            p("2024-03-01 12:34:56.789Z", paris),
            Ok(utc(2024, 3, 1, 12, 34, 56, 789))
        );
        assert_eq!(p("2024-03-01T12:34", z), Ok(utc(2024, 3, 1, 12, 34, 0, 0)));
        assert_eq!(p("2024-03-01", z), Ok(utc(2024, 3, 1, 0, 0, 0, 0)));
        assert_eq!(p("2024-W09-5", z), Ok(utc(2024, 3, 1, 0, 0, 0, 0)));
        assert_eq!(p("2024-061", z), Ok(utc(2024, 3, 1, 0, 0, 0, 0)));
        assert_eq!(
            p("2024-03-01T12:30.5Z", z),
            Ok(utc(2024, 3, 1, 12, 30, 30, 0))
        );
        assert!(p("2024-03-01T12:34:56.789Zjunk", z).is_err());
        assert!(p("2024-02-30T00:00:00Z", z).is_err());
        assert!(p("2024-03-01T24:00:00Z", z).is_err());
        assert!(p("2024-03-01T", z).is_err());
        assert!(p("", z).is_err());
    }

    #[test]
    fn unix_formats() {
        let unix = DateFormat::compile("UNIX").unwrap();
        let ms = DateFormat::compile("UNIX_MS").unwrap();
        let z = chrono_tz::UTC;
        // 1700000000 = 2023-11-14T22:13:20Z (19675 days * 86400 + 80000 s).
        let base = utc(2023, 11, 14, 22, 13, 20, 0);
        assert_eq!(unix.parse("1700000000", z, NOW()), Ok(base));
        assert_eq!(
            unix.parse("1700000000.123", z, NOW()),
            Ok(base + TimeDelta::milliseconds(123))
        );
        assert_eq!(
            unix.parse("-1.5", z, NOW()),
            Ok(utc(1969, 12, 31, 23, 59, 58, 500))
        );
        assert_eq!(unix.parse_i64(1_700_000_000), Ok(base));
        assert_eq!(
            unix.parse_f64(1_700_000_000.25),
            Ok(base + TimeDelta::milliseconds(250))
        );
        assert_eq!(
            unix.parse_f64(1_700_000_000.123),
            Ok(base + TimeDelta::milliseconds(123))
        );
        assert!(unix.parse("1700000000123", z, NOW()).is_err()); // millis fed to UNIX
        assert!(unix.parse("1700000000.", z, NOW()).is_err());
        assert!(unix.parse("17e8", z, NOW()).is_err());
        assert_eq!(
            ms.parse("1700000000123", z, NOW()),
            Ok(base + TimeDelta::milliseconds(123))
        );
        assert_eq!(
            ms.parse_i64(1_700_000_000_123),
            Ok(base + TimeDelta::milliseconds(123))
        );
        assert_eq!(
            ms.parse_f64(1_700_000_000_123.0),
            Ok(base + TimeDelta::milliseconds(123))
        );
        assert_eq!(
            ms.parse("-1", z, NOW()),
            Ok(utc(1969, 12, 31, 23, 59, 59, 999))
        );
        assert_eq!(
            DateFormat::compile("ISO8601").unwrap().parse_i64(5),
            Err(JodaParseError::NumberNotAccepted)
        );
    }

    #[test]
    fn tai64n() {
        // Label 0x4000000037c219bf = 2^62 + 0x37c219bf; 0x37c219bf =
        // 935_467_455 s. Minus Logstash's 10 s: 935_467_445 s after the epoch
        // = 10827 days + 14_645 s. 1999-01-01 is day 29*365 + 7 leap days =
        // 10592, so day 10827 is the 236th day of 1999 = Aug 24 (Jan..Jul
        // hold 212 days); 14_645 s = 04:04:05. Nanoseconds
        // 0x2ef02e94 = 787_492_500.
        let f = DateFormat::compile("TAI64N").unwrap();
        let want = utc(1999, 8, 24, 4, 4, 5, 0) + TimeDelta::nanoseconds(787_492_500);
        assert_eq!(
            f.parse("@4000000037c219bf2ef02e94", chrono_tz::UTC, NOW()),
            Ok(want)
        );
        assert_eq!(
            f.parse("4000000037c219bf2ef02e94", chrono_tz::UTC, NOW()),
            Ok(want)
        );
        assert_eq!(
            f.parse("@4000000037C219BF2EF02E94", chrono_tz::UTC, NOW()),
            Ok(want)
        );
        assert!(
            f.parse("@4000000037c219bf2ef02e9", chrono_tz::UTC, NOW())
                .is_err()
        );
        assert!(
            f.parse("@4000000037c219bf2ef02e94x", chrono_tz::UTC, NOW())
                .is_err()
        );
        assert!(
            f.parse("@4000000037c219bfffffffff", chrono_tz::UTC, NOW())
                .is_err()
        );
        assert!(
            f.parse("@40000000g7c219bf2ef02e94", chrono_tz::UTC, NOW())
                .is_err()
        );
    }

    #[test]
    fn bad_patterns() {
        assert_eq!(
            JodaFormat::compile("").unwrap_err(),
            JodaError::EmptyPattern
        );
        assert_eq!(
            JodaFormat::compile("yyyy-MM-dd qq").unwrap_err(),
            JodaError::UnknownLetter {
                letter: 'q',
                token: "qq".into(),
                pos: 11
            }
        );
        assert_eq!(
            JodaFormat::compile("yyyy 'T HH").unwrap_err(),
            JodaError::UnterminatedQuote { pos: 5 }
        );
        assert!(matches!(
            JodaFormat::compile(&"y".repeat(40)),
            Err(JodaError::TokenTooLong { .. })
        ));
        assert!(JodaFormat::compile("yyyy-MM-dd'T'HH:mm:ss.SSSZZ").is_ok());
        // Non-ASCII letters are literals.
        assert!(JodaFormat::compile("yyyy年MM月dd日").is_ok());
        assert!(DateFormat::compile("iso8601").is_err()); // lowercase is a pattern with 'i','o'
    }

    #[test]
    fn mismatching_text() {
        let z = chrono_tz::UTC;
        let p = "dd/MMM/yyyy:HH:mm:ss Z";
        assert!(matches!(
            parse(p, "10/Oct/2000:13:55:36 -0700 extra", z, NOW()),
            Err(JodaParseError::TrailingText { .. })
        ));
        assert!(matches!(
            parse(p, "10/Foo/2000:13:55:36 -0700", z, NOW()),
            Err(JodaParseError::Expected { pos: 3, .. })
        ));
        assert!(matches!(
            parse(p, "32/Oct/2000:13:55:36 -0700", z, NOW()),
            Err(JodaParseError::FieldOutOfRange { .. })
        ));
        assert_eq!(
            parse("yyyy-MM-dd", "2023-02-29", z, NOW()),
            Err(JodaParseError::InvalidDate)
        );
        assert!(parse(p, "", z, NOW()).is_err());
        assert!(parse("HH:mm:ss", "25:00:00", z, NOW()).is_err());
    }

    #[test]
    fn only_numeric_fields() {
        assert!(
            JodaFormat::compile("YYYY.MM.dd")
                .unwrap()
                .only_numeric_fields()
        );
        assert!(
            JodaFormat::compile("yyyyMMdd'T'HHmmssZ")
                .unwrap()
                .only_numeric_fields()
        );
        assert!(
            !JodaFormat::compile("dd MMM yyyy")
                .unwrap()
                .only_numeric_fields()
        );
    }

    /// A tiny deterministic generator so the test needs no extra crate.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
    }

    #[test]
    fn never_panics_on_garbage() {
        let specs = [
            "dd/MMM/yyyy:HH:mm:ss Z",
            "MMM  d HH:mm:ss",
            "MMM dd HH:mm:ss",
            "yyyy-MM-dd HH:mm:ss,SSS",
            "yyyyMMddHHmmssSSS",
            "EEE, dd MMM yyyy HH:mm:ss z",
            "xxxx-ww-e",
            "yy-D G a hh KK kk",
            "yyyy-MM-dd'T'HH:mm:ss.SSSZZ ZZZ",
            "YYYY C e EEEE MMMM",
            "ISO8601",
            "UNIX",
            "UNIX_MS",
            "TAI64N",
        ];
        let samples = [
            "10/Oct/2000:13:55:36 -0700",
            "Mar  1 09:00:01",
            "Mar 11 09:00:01",
            "2019-05-23 12:34:56,789",
            "20240229130509123",
            "Thu, 29 Feb 2024 13:05:09 CEST",
            "2020-53-5",
            "2024-03-01T12:34:56.789+01:00 Europe/Paris",
            "1700000000.123",
            "@4000000037c219bf2ef02e94",
            "2024-W09-5",
            "févr. décembre Ωmega",
            "+999999999-12-31",
            "-0099-01-01T00:00:00Z",
            "99999999999999999999999999",
            "GMT+99:99",
            "9.9.9.9",
        ];
        let alphabet: Vec<char> = "0123456789:-+.,/ TZWz@aAbBmMéü年'\u{0}\u{FFFF}"
            .chars()
            .collect();
        let now = NOW();
        let tzs = [
            chrono_tz::UTC,
            chrono_tz::Europe::Paris,
            chrono_tz::Pacific::Kiritimati,
        ];
        let mut rng = Lcg(42);
        let formats: Vec<DateFormat> = specs
            .iter()
            .map(|s| DateFormat::compile(s).unwrap())
            .collect();
        for f in &formats {
            for s in samples {
                // Every prefix, at every char boundary.
                for (i, _) in s.char_indices().chain([(s.len(), ' ')]) {
                    for tz in tzs {
                        let _ = f.parse(&s[..i], tz, now);
                    }
                }
            }
            for _ in 0..2000 {
                let len = (rng.next() % 40) as usize;
                let text: String = (0..len)
                    .map(|_| alphabet[(rng.next() as usize) % alphabet.len()])
                    .collect();
                let _ = f.parse(&text, chrono_tz::UTC, now);
            }
            let _ = f.parse_f64(f64::NAN);
            let _ = f.parse_f64(1e300);
            let _ = f.parse_i64(i64::MIN);
            let _ = f.parse_i64(i64::MAX);
        }
        // Random patterns must compile or fail cleanly, and compiled ones must
        // format extreme instants without panicking.
        let letters: Vec<char> = "GCYxwEeyDMdaKhHkmsSzZ'' -:.q".chars().collect();
        for _ in 0..3000 {
            let len = (rng.next() % 12) as usize + 1;
            let pat: String = (0..len)
                .map(|_| letters[(rng.next() as usize) % letters.len()])
                .collect();
            if let Ok(f) = JodaFormat::compile(&pat) {
                let mut out = String::new();
                for t in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC, now] {
                    f.format_utc(t, &mut out);
                    f.format_tz(t, chrono_tz::America::New_York, &mut out);
                }
                let _ = f.parse(&out, chrono_tz::UTC, now);
                let _ = f.parse("2024", chrono_tz::UTC, now);
            }
        }
    }

    #[test]
    fn round_trips() {
        // What we print we can read back (including `z`, `ZZ` and `ZZZ`).
        let t = utc(2024, 7, 1, 22, 5, 9, 42);
        for p in [
            "yyyy-MM-dd'T'HH:mm:ss.SSSZZ",
            "EEE, dd MMM yyyy HH:mm:ss.SSS z",
            "yyyyMMddHHmmssSSSZ",
            "dd.MM.yyyy hh:mm:ss.SSS a ZZZ",
            "xxxx-'W'ww-e HH:mm:ss.SSS Z",
        ] {
            let f = JodaFormat::compile(p).unwrap();
            let mut s = String::new();
            f.format_tz(t, chrono_tz::Europe::Paris, &mut s);
            assert_eq!(f.parse(&s, chrono_tz::UTC, NOW()), Ok(t), "{p}: {s}");
        }
    }
}
