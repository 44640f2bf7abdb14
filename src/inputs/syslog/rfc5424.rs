//! RFC 5424 messages: `<PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD [MSG]`.
//!
//! A hand-written scanner over the bytes of one message; it borrows every field from the input
//! and allocates only for the structured-data list and for parameter values that hold escapes.
//! It is strict where a wrong guess would put text in the wrong field (the header's order, the
//! shape of an SD element, a closed quote) and lenient where senders commonly stray without
//! ambiguity: several spaces between header fields, a missing STRUCTURED-DATA, a literal `]`
//! inside a quoted value, header fields longer than the RFC's limits. `-` (NILVALUE) reads as
//! absent. A UTF-8 byte order mark opening MSG is removed; MSG is otherwise kept as bytes, since
//! without the mark the RFC does not promise any encoding.

use super::time::{scan_rfc3339, Zone};
use chrono::{DateTime, Utc};
use std::borrow::Cow;

/// A parsed message; text borrowed from the input line.
#[derive(Debug, Clone, PartialEq)]
pub struct Message<'a> {
    pub priority: u8,
    pub version: u16,
    /// TIMESTAMP as written (`None` for `-`).
    pub timestamp: Option<&'a str>,
    /// The instant it stands for; `None` when absent or not a real date.
    pub time: Option<DateTime<Utc>>,
    pub hostname: Option<&'a str>,
    pub app_name: Option<&'a str>,
    pub proc_id: Option<&'a str>,
    pub msg_id: Option<&'a str>,
    pub structured_data: Vec<SdElement<'a>>,
    /// MSG without its byte order mark; empty when the message has none.
    pub msg: &'a [u8],
}

/// One `[SD-ID name="value" ...]`; parameters in the order written (a name may repeat).
#[derive(Debug, Clone, PartialEq)]
pub struct SdElement<'a> {
    pub id: &'a str,
    pub params: Vec<(&'a str, Cow<'a, str>)>,
}

/// Why a line is not an RFC 5424 message. Only the parser's tests look inside; the input
/// tags the event whatever the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// No `<PRI>`, or a number outside 0..=191.
    Priority,
    /// No version number and space after `<PRI>`: not this format (perhaps RFC 3164).
    NotRfc5424,
    Timestamp,
    /// The header ends before MSGID.
    ShortHeader,
    /// A header field that is not ASCII text.
    HeaderText,
    /// An SD element that is not closed, or not shaped as the RFC says.
    StructuredData,
}

pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// `<PRI>` at the start of a line: the priority (0..=191) and the bytes it takes.
pub fn scan_priority(b: &[u8]) -> Option<(u8, usize)> {
    if b.first() != Some(&b'<') {
        return None;
    }
    let mut value: u32 = 0;
    let mut i = 1;
    while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
        if i > 3 {
            return None;
        }
        value = value * 10 + u32::from(c - b'0');
        i += 1;
    }
    if i == 1 || b.get(i) != Some(&b'>') || value > 191 {
        return None;
    }
    Some((value as u8, i + 1))
}

/// Whether a line (after its `<PRI>`) opens like RFC 5424: a version number and a space.
pub fn looks_like(after_pri: &[u8]) -> bool {
    let digits = after_pri.iter().take_while(|c| c.is_ascii_digit()).count();
    (1..=3).contains(&digits) && after_pri[0] != b'0' && after_pri.get(digits) == Some(&b' ')
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn skip_spaces(&mut self) -> usize {
        let start = self.i;
        while self.b.get(self.i) == Some(&b' ') {
            self.i += 1;
        }
        self.i - start
    }

    /// The next space-delimited header field (`None` for NILVALUE).
    fn field(&mut self) -> Result<Option<&'a str>, Error> {
        if self.skip_spaces() == 0 || self.i >= self.b.len() {
            return Err(Error::ShortHeader);
        }
        let start = self.i;
        while let Some(c) = self.b.get(self.i) {
            if *c == b' ' {
                break;
            }
            if !c.is_ascii_graphic() {
                return Err(Error::HeaderText);
            }
            self.i += 1;
        }
        let text = &self.b[start..self.i];
        // Only ASCII graphic bytes were accepted, so this is valid UTF-8.
        let text = std::str::from_utf8(text).map_err(|_| Error::HeaderText)?;
        Ok((text != "-").then_some(text))
    }
}

pub fn parse<'a>(line: &'a [u8], zone: &Zone) -> Result<Message<'a>, Error> {
    let (priority, pri_len) = scan_priority(line).ok_or(Error::Priority)?;
    let rest = &line[pri_len..];
    if !looks_like(rest) {
        return Err(Error::NotRfc5424);
    }
    let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    let version = rest[..digits].iter().fold(0u16, |v, c| v * 10 + u16::from(c - b'0'));
    let mut c = Cursor { b: line, i: pri_len + digits };

    // TIMESTAMP
    if c.skip_spaces() == 0 {
        return Err(Error::ShortHeader);
    }
    let (timestamp, time) = if line.get(c.i) == Some(&b'-') && matches!(line.get(c.i + 1), None | Some(b' ')) {
        c.i += 1;
        (None, None)
    } else {
        let (time, len) = scan_rfc3339(&line[c.i..], zone).map_err(|_| Error::Timestamp)?;
        if !matches!(line.get(c.i + len), None | Some(b' ')) {
            return Err(Error::Timestamp);
        }
        // The scanner read ASCII only.
        let text = std::str::from_utf8(&line[c.i..c.i + len]).map_err(|_| Error::Timestamp)?;
        c.i += len;
        (Some(text), time)
    };
    let hostname = c.field()?;
    let app_name = c.field()?;
    let proc_id = c.field()?;
    let msg_id = c.field()?;

    let mut structured_data = Vec::new();
    let mut msg: &[u8] = &[];
    if c.skip_spaces() > 0 && c.i < line.len() {
        match line[c.i] {
            b'[' => {
                c.i = scan_structured_data(line, c.i, &mut structured_data)?;
                msg = after_one_space(line, c.i);
            }
            b'-' if matches!(line.get(c.i + 1), None | Some(b' ')) => msg = after_one_space(line, c.i + 1),
            // No STRUCTURED-DATA at all: what follows is the message.
            _ => msg = &line[c.i..],
        }
    }
    let msg = msg.strip_prefix(BOM).unwrap_or(msg);
    Ok(Message { priority, version, timestamp, time, hostname, app_name, proc_id, msg_id, structured_data, msg })
}

/// MSG starts after the one space that separates it from STRUCTURED-DATA; any further spaces
/// belong to the message.
fn after_one_space(line: &[u8], i: usize) -> &[u8] {
    match line.get(i) {
        Some(b' ') => &line[i + 1..],
        // Text glued to the SD: keep it as the message rather than lose it.
        Some(_) => &line[i..],
        None => &[],
    }
}

/// SD-ELEMENTs from `i` (at a `[`) to the first byte after the last one.
fn scan_structured_data<'a>(b: &'a [u8], mut i: usize, out: &mut Vec<SdElement<'a>>) -> Result<usize, Error> {
    while b.get(i) == Some(&b'[') {
        i += 1;
        let id_start = i;
        while let Some(c) = b.get(i) {
            if matches!(c, b' ' | b']' | b'=' | b'"') || !c.is_ascii_graphic() {
                break;
            }
            i += 1;
        }
        if i == id_start {
            return Err(Error::StructuredData);
        }
        let id = std::str::from_utf8(&b[id_start..i]).map_err(|_| Error::StructuredData)?;
        let mut params = Vec::new();
        loop {
            match b.get(i) {
                Some(b']') => {
                    i += 1;
                    break;
                }
                Some(b' ') => {
                    while b.get(i) == Some(&b' ') {
                        i += 1;
                    }
                    if b.get(i) == Some(&b']') {
                        continue;
                    }
                    let name_start = i;
                    while let Some(c) = b.get(i) {
                        if matches!(c, b' ' | b']' | b'=' | b'"') || !c.is_ascii_graphic() {
                            break;
                        }
                        i += 1;
                    }
                    if i == name_start || b.get(i) != Some(&b'=') || b.get(i + 1) != Some(&b'"') {
                        return Err(Error::StructuredData);
                    }
                    let name = std::str::from_utf8(&b[name_start..i]).map_err(|_| Error::StructuredData)?;
                    let (value, end) = scan_param_value(b, i + 2)?;
                    params.push((name, value));
                    i = end;
                }
                _ => return Err(Error::StructuredData),
            }
        }
        out.push(SdElement { id, params });
    }
    Ok(i)
}

/// A PARAM-VALUE from just after its opening quote: the value with `\"`, `\\` and `\]` undone
/// (any other backslash is kept, as the RFC says), and the index after the closing quote.
fn scan_param_value(b: &[u8], start: usize) -> Result<(Cow<'_, str>, usize), Error> {
    let mut i = start;
    let mut has_escape = false;
    loop {
        match b.get(i) {
            None => return Err(Error::StructuredData),
            Some(b'"') => break,
            Some(b'\\') => {
                has_escape = true;
                i += if b.get(i + 1).is_some() { 2 } else { 1 };
            }
            Some(_) => i += 1,
        }
    }
    let raw = &b[start..i];
    let value = if has_escape {
        let mut out = Vec::with_capacity(raw.len());
        let mut j = 0;
        while j < raw.len() {
            if raw[j] == b'\\' && matches!(raw.get(j + 1), Some(b'"' | b'\\' | b']')) {
                out.push(raw[j + 1]);
                j += 2;
            } else {
                out.push(raw[j]);
                j += 1;
            }
        }
        Cow::Owned(match String::from_utf8(out) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    } else {
        String::from_utf8_lossy(raw)
    };
    Ok((value, i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::Tz;

    fn p(line: &[u8]) -> Result<Message<'_>, Error> {
        parse(line, &Zone::Named(Tz::UTC))
    }

    fn sd<'a>(id: &'a str, params: &[(&'a str, &'a str)]) -> SdElement<'a> {
        SdElement { id, params: params.iter().map(|(k, v)| (*k, Cow::Borrowed(*v))).collect() }
    }

    #[test]
    fn rfc_example_1_no_structured_data_and_a_bom() {
        let m =
            p(b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \xEF\xBB\xBF'su root' failed for lonvick on /dev/pts/8").unwrap();
        assert_eq!(m.priority, 34);
        assert_eq!(m.version, 1);
        assert_eq!(m.timestamp, Some("2003-10-11T22:14:15.003Z"));
        assert_eq!(m.time, Some(Utc.with_ymd_and_hms(2003, 10, 11, 22, 14, 15).unwrap() + chrono::Duration::milliseconds(3)));
        assert_eq!(m.hostname, Some("mymachine.example.com"));
        assert_eq!(m.app_name, Some("su"));
        assert_eq!(m.proc_id, None);
        assert_eq!(m.msg_id, Some("ID47"));
        assert!(m.structured_data.is_empty());
        assert_eq!(m.msg, b"'su root' failed for lonvick on /dev/pts/8");
    }

    #[test]
    fn rfc_example_2_offset_and_no_bom() {
        let m = p(b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.").unwrap();
        assert_eq!((m.priority, m.hostname, m.app_name, m.proc_id, m.msg_id), (165, Some("192.0.2.1"), Some("myproc"), Some("8710"), None));
        assert_eq!(m.time, Some(Utc.with_ymd_and_hms(2003, 8, 24, 12, 14, 15).unwrap() + chrono::Duration::microseconds(3)));
        assert_eq!(m.msg, b"%% It's time to make the do-nuts.");
    }

    #[test]
    fn rfc_examples_3_and_4_structured_data() {
        let m = p(br#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event log entry..."#).unwrap();
        assert_eq!(m.structured_data, vec![sd("exampleSDID@32473", &[("iut", "3"), ("eventSource", "Application"), ("eventID", "1011")])]);
        assert_eq!(m.msg, b"An application event log entry...");
        let m = p(br#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]"#).unwrap();
        assert_eq!(m.structured_data.len(), 2);
        assert_eq!(m.structured_data[1], sd("examplePriority@32473", &[("class", "high")]));
        assert_eq!(m.msg, b"");
    }

    #[test]
    fn escapes_in_values() {
        let m = p(br#"<13>1 - - - - - [x@1 q="say \"hi\"" b="back\\slash" c="a\]b" d="keep \n" e="lit]eral"] m"#).unwrap();
        let params: Vec<(&str, &str)> = m.structured_data[0].params.iter().map(|(k, v)| (*k, v.as_ref())).collect();
        assert_eq!(params, vec![("q", "say \"hi\""), ("b", "back\\slash"), ("c", "a]b"), ("d", "keep \\n"), ("e", "lit]eral")]);
        assert_eq!(m.msg, b"m");
    }

    #[test]
    fn nil_values_and_repeated_names() {
        let m = p(br#"<0>1 - - - - - [a b="1" b="2"][empty]"#).unwrap();
        assert_eq!((m.priority, m.timestamp, m.time, m.hostname), (0, None, None, None));
        assert_eq!(m.structured_data, vec![sd("a", &[("b", "1"), ("b", "2")]), sd("empty", &[])]);
    }

    #[test]
    fn lenient_spacing_and_missing_structured_data() {
        let m = p(b"<14>1  2024-01-02T03:04:05Z  host  app  12  id  message without SD").unwrap();
        assert_eq!((m.hostname, m.app_name, m.proc_id, m.msg_id), (Some("host"), Some("app"), Some("12"), Some("id")));
        assert!(m.structured_data.is_empty());
        assert_eq!(m.msg, b"message without SD");
        // Header only, nothing after MSGID.
        let m = p(b"<14>1 2024-01-02T03:04:05Z host app 12 id").unwrap();
        assert_eq!(m.msg, b"");
        // Spaces that open MSG after the separating one are the message's.
        let m = p(b"<14>1 - h a p i -   indented").unwrap();
        assert_eq!(m.msg, b"  indented");
    }

    #[test]
    fn non_utf8_message_and_values_are_kept() {
        let m = p(b"<14>1 - h a p i [x v=\"caf\xe9\"] caf\xe9").unwrap();
        assert_eq!(m.msg, b"caf\xe9");
        assert_eq!(m.structured_data[0].params[0].1, "caf\u{fffd}");
    }

    #[test]
    fn malformed_lines_are_errors() {
        assert_eq!(p(b"no pri").unwrap_err(), Error::Priority);
        assert_eq!(p(b"<192>1 - - - - - -").unwrap_err(), Error::Priority);
        assert_eq!(p(b"<13>").unwrap_err(), Error::NotRfc5424);
        assert_eq!(p(b"<13>Oct 11 22:14:15 host su: x").unwrap_err(), Error::NotRfc5424);
        assert_eq!(p(b"<13>1 yesterday h a p i -").unwrap_err(), Error::Timestamp);
        assert_eq!(p(b"<13>1 2003-10-11T22:14:15Z host app").unwrap_err(), Error::ShortHeader);
        assert_eq!(p(br#"<13>1 - h a p i [x a="1" "#).unwrap_err(), Error::StructuredData);
        assert_eq!(p(br#"<13>1 - h a p i [x a="unclosed]"#).unwrap_err(), Error::StructuredData);
        assert_eq!(p(br#"<13>1 - h a p i [x a=1]"#).unwrap_err(), Error::StructuredData);
        assert_eq!(p(b"<13>1 - h a p i [").unwrap_err(), Error::StructuredData);
        assert_eq!(p(b"<13>1 - h\xe9 a p i -").unwrap_err(), Error::HeaderText);
    }

    #[test]
    fn priorities() {
        assert_eq!(scan_priority(b"<0>"), Some((0, 3)));
        assert_eq!(scan_priority(b"<191>x"), Some((191, 5)));
        assert_eq!(scan_priority(b"<013>"), Some((13, 5)));
        for bad in [&b"<>"[..], b"<1000>", b"<192>", b"<12", b"12>", b"<1a>"] {
            assert_eq!(scan_priority(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }
}
