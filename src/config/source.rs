//! Maps byte offsets in the parsed config text back to the files it came from. A pipeline is
//! read from one or more files (a conf.d directory, given in lexical order as Logstash sorts
//! them); they are joined with a "\n" between files so a file without a final newline cannot glue
//! onto the next, and every AST span is an offset into that joined text. `SourceMap` turns such an
//! offset into file:line:column and renders rustc-like messages.

use std::ops::Range;

/// Where an offset falls, for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    /// 1-based, counted within `file`.
    pub line: usize,
    /// 1-based, in characters (not bytes), so `è` counts once.
    pub column: usize,
    /// The whole line, without its line terminator.
    pub line_text: String,
}

#[derive(Debug, Clone)]
struct SourceFile {
    name: String,
    start: usize,
    end: usize,
    /// Index into `SourceMap::line_starts` of the file's first line.
    first_line: usize,
}

/// The concatenated config text and the file boundaries inside it.
#[derive(Debug, Clone)]
pub struct SourceMap {
    text: String,
    files: Vec<SourceFile>,
    /// Byte offset of the start of every line of `text`.
    line_starts: Vec<usize>,
}

impl SourceMap {
    /// Builds the map from (file name, contents) pairs, kept in the order given: sort them the
    /// way Logstash does (lexically by path) before calling this.
    pub fn new<N, C>(files: impl IntoIterator<Item = (N, C)>) -> SourceMap
    where
        N: Into<String>,
        C: AsRef<str>,
    {
        let mut text = String::new();
        let mut entries = Vec::new();
        for (index, (name, contents)) in files.into_iter().enumerate() {
            if index > 0 {
                text.push('\n');
            }
            let start = text.len();
            text.push_str(contents.as_ref());
            entries.push(SourceFile {
                name: name.into(),
                start,
                end: text.len(),
                first_line: 0,
            });
        }
        let line_starts: Vec<usize> = std::iter::once(0)
            .chain(
                text.bytes()
                    .enumerate()
                    .filter(|&(_, b)| b == b'\n')
                    .map(|(i, _)| i + 1),
            )
            .collect();
        for file in &mut entries {
            file.first_line = line_starts
                .partition_point(|&s| s <= file.start)
                .saturating_sub(1);
        }
        SourceMap {
            text,
            files: entries,
            line_starts,
        }
    }

    /// A map holding a single file.
    pub fn single(name: impl Into<String>, contents: impl AsRef<str>) -> SourceMap {
        SourceMap::new([(name.into(), contents)])
    }

    /// The text to parse: every file, joined with "\n".
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Each file's name and byte range within `text()`.
    pub fn files(&self) -> impl Iterator<Item = (&str, Range<usize>)> + '_ {
        self.files.iter().map(|f| (f.name.as_str(), f.start..f.end))
    }

    /// Each file's byte range within `text()`, in order.
    pub fn file_ranges(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        self.files.iter().map(|f| f.start..f.end)
    }

    /// The file, line and column of a byte offset. Offsets past the end point just after the last
    /// character; the "\n" joining two files belongs to the end of the first one.
    pub fn locate(&self, offset: usize) -> Location {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let file_index = self
            .files
            .partition_point(|f| f.start <= offset)
            .saturating_sub(1);
        let (name, first_line, file_end) = match self.files.get(file_index) {
            Some(f) => (f.name.clone(), f.first_line, f.end),
            None => (String::new(), 0, self.text.len()),
        };
        let line_index = self
            .line_starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1);
        let line_start = self
            .line_starts
            .get(line_index)
            .copied()
            .unwrap_or(0)
            .min(offset);
        let after = &self.text[line_start..file_end.max(line_start)];
        let line_text = after.split('\n').next().unwrap_or("");
        let line_text = line_text.strip_suffix('\r').unwrap_or(line_text);
        Location {
            file: name,
            line: line_index.saturating_sub(first_line) + 1,
            column: self.text[line_start..offset].chars().count() + 1,
            line_text: line_text.to_string(),
        }
    }

    /// A rustc-like report of `message` at `offset`:
    ///
    /// ```text
    /// /etc/sluice/conf.d/02-filter.conf:12:5: expected `=>`, found `{`
    ///    |
    /// 12 |     match { "message" => "%{COMBINEDAPACHELOG}" }
    ///    |     ^
    /// ```
    ///
    /// No trailing newline. Tabs before the caret are reproduced so it lines up in a terminal.
    pub fn render(&self, offset: usize, message: &str) -> String {
        let loc = self.locate(offset);
        let number = loc.line.to_string();
        let gutter = " ".repeat(number.len());
        let pad: String = loc
            .line_text
            .chars()
            .take(loc.column - 1)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        format!(
            "{}:{}:{}: {}\n{gutter} |\n{number} | {}\n{gutter} | {pad}^",
            loc.file, loc.line, loc.column, message, loc.line_text
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_files() -> SourceMap {
        SourceMap::new([
            (
                "/etc/sluice/conf.d/01-input.conf",
                "input {\n  beats { port => 5044 }\n}",
            ),
            (
                "/etc/sluice/conf.d/02-filter.conf",
                "# Logs systèmes via syslog\nfilter {\n  mutate { }\n}\n",
            ),
        ])
    }

    #[test]
    fn files_are_joined_with_a_newline_so_they_cannot_glue_together() {
        let map = two_files();
        assert_eq!(
            map.text(),
            "input {\n  beats { port => 5044 }\n}\n# Logs systèmes via syslog\nfilter {\n  mutate { }\n}\n"
        );
        let ranges: Vec<_> = map.file_ranges().collect();
        assert_eq!(ranges.len(), 2);
        assert_eq!(
            &map.text()[ranges[1].clone()],
            "# Logs systèmes via syslog\nfilter {\n  mutate { }\n}\n"
        );
    }

    #[test]
    fn locates_an_offset_in_the_second_file_with_file_relative_line_and_column() {
        let map = two_files();
        let offset = map.text().find("mutate").unwrap();
        let loc = map.locate(offset);
        assert_eq!(loc.file, "/etc/sluice/conf.d/02-filter.conf");
        assert_eq!(loc.line, 3);
        assert_eq!(loc.column, 3);
        assert_eq!(loc.line_text, "  mutate { }");
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let map = two_files();
        let offset = map.text().find("via").unwrap();
        let loc = map.locate(offset);
        assert_eq!(
            (loc.line, loc.column),
            (1, "# Logs systèmes ".chars().count() + 1)
        );
        assert_eq!(loc.line_text, "# Logs systèmes via syslog");
    }

    #[test]
    fn first_file_and_the_joining_newline() {
        let map = two_files();
        let loc = map.locate(0);
        assert_eq!(
            (loc.file.as_str(), loc.line, loc.column),
            ("/etc/sluice/conf.d/01-input.conf", 1, 1)
        );
        // The "\n" added between the files is the end of the first file's last line.
        let joint = "input {\n  beats { port => 5044 }\n}".len();
        let loc = map.locate(joint);
        assert_eq!(
            (loc.file.as_str(), loc.line, loc.column),
            ("/etc/sluice/conf.d/01-input.conf", 3, 2)
        );
        assert_eq!(loc.line_text, "}");
        let loc = map.locate(joint + 1);
        assert_eq!(
            (loc.file.as_str(), loc.line, loc.column),
            ("/etc/sluice/conf.d/02-filter.conf", 1, 1)
        );
    }

    #[test]
    fn out_of_range_and_mid_character_offsets_do_not_panic() {
        let map = two_files();
        let end = map.locate(usize::MAX);
        assert_eq!(end.file, "/etc/sluice/conf.d/02-filter.conf");
        assert_eq!((end.line, end.column), (5, 1));
        let e_grave = map.text().find('è').unwrap();
        assert_eq!(map.locate(e_grave + 1), map.locate(e_grave));
        let empty = SourceMap::new(Vec::<(String, String)>::new());
        assert_eq!(
            empty.locate(3),
            Location {
                file: String::new(),
                line: 1,
                column: 1,
                line_text: String::new()
            }
        );
    }

    #[test]
    fn crlf_line_endings_are_not_part_of_the_line_text() {
        let map = SourceMap::single("win.conf", "input {\r\n  stdin { }\r\n}\r\n");
        let loc = map.locate(map.text().find("stdin").unwrap());
        assert_eq!((loc.line, loc.column), (2, 3));
        assert_eq!(loc.line_text, "  stdin { }");
    }

    #[test]
    fn render_has_the_rustc_like_layout() {
        let mut text = String::new();
        for n in 1..12 {
            text.push_str(&format!("# line {n}\n"));
        }
        text.push_str("    match { \"message\" => \"%{COMBINEDAPACHELOG}\" }\n");
        let map = SourceMap::single("/etc/sluice/conf.d/02-filter.conf", &text);
        let offset = text.find("match").unwrap();
        assert_eq!(
            map.render(offset, "expected one of `=>`, `}`"),
            "/etc/sluice/conf.d/02-filter.conf:12:5: expected one of `=>`, `}`\n   |\n12 |     match { \"message\" => \"%{COMBINEDAPACHELOG}\" }\n   |     ^"
        );
    }

    #[test]
    fn render_keeps_tabs_so_the_caret_lines_up() {
        let map = SourceMap::single("t.conf", "\tfoo bar");
        assert_eq!(
            map.render(5, "here"),
            "t.conf:1:6: here\n  |\n1 | \tfoo bar\n  | \t    ^"
        );
    }
}
