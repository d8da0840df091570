//! Line numbers for the validator's messages.
//!
//! serde reports a location for a parse error, but a successfully parsed value carries
//! none, and yaml_serde keeps its event API private. So the loader makes a careful
//! pre-pass over the text instead: it finds the top-level `states:`, `conditions:` and
//! `transitions:` keys, and inside each the block-sequence items (`- ` at the section's
//! shallowest item indentation). Item *i* of the parsed list is item *i* of the text —
//! checked by count; when they disagree (flow style, anchors expanding to lists), every
//! item falls back to the section key's line, so a message is never wrong, only coarser.
//! Inside an item, a name's line is the first line of the item that holds it as a whole
//! word outside a comment.

/// Where the items of the three list sections are.
#[derive(Debug, Default)]
pub(crate) struct SourceMap {
    states: Section,
    conditions: Section,
    transitions: Section,
    line_count: u32,
    /// Each line with comments removed, for token search.
    lines: Vec<Box<str>>,
}

/// One top-level list section.
#[derive(Debug, Default)]
struct Section {
    /// The line of the `key:` itself (0 when absent).
    key_line: u32,
    /// The first line of each item.
    items: Vec<u32>,
    /// The first line after the section.
    end_line: u32,
}

/// Which top-level list an item belongs to.
#[derive(Clone, Copy, Debug)]
pub(crate) enum SectionKind {
    /// `states:`
    States,
    /// `conditions:`
    Conditions,
    /// `transitions:`
    Transitions,
}

impl SourceMap {
    /// Scans `text` once.
    pub(crate) fn scan(text: &str) -> SourceMap {
        let mut map = SourceMap::default();
        let mut current: Option<SectionKind> = None;
        let mut line_no = 0u32;
        for raw in text.lines() {
            line_no += 1;
            let line = strip_comment(raw);
            map.lines.push(line.into());
            let trimmed = line.trim_start();
            if trimmed.is_empty() {
                continue;
            }
            let indent = line.len() - trimmed.len();
            let top_level_key = indent == 0 && !trimmed.starts_with('-') && line.contains(':');
            if top_level_key {
                let key = line
                    .split(':')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .trim_matches('"');
                current = match key {
                    "states" => Some(SectionKind::States),
                    "conditions" => Some(SectionKind::Conditions),
                    "transitions" => Some(SectionKind::Transitions),
                    _ => None,
                };
                if let Some(kind) = current {
                    map.section_mut(kind).key_line = line_no;
                }
                continue;
            }
            if let Some(kind) = current {
                if trimmed == "-" || trimmed.starts_with("- ") {
                    map.section_mut(kind).items.push(line_no);
                }
            }
        }
        map.line_count = line_no;
        // Second step: keep only the items at each section's shallowest indentation.
        for kind in [
            SectionKind::States,
            SectionKind::Conditions,
            SectionKind::Transitions,
        ] {
            let lines = &map.lines;
            let section = match kind {
                SectionKind::States => &mut map.states,
                SectionKind::Conditions => &mut map.conditions,
                SectionKind::Transitions => &mut map.transitions,
            };
            let indent_of = |l: u32| {
                let s = &lines[(l - 1) as usize];
                s.len() - s.trim_start().len()
            };
            if let Some(min) = section.items.iter().map(|&l| indent_of(l)).min() {
                section.items.retain(|&l| indent_of(l) == min);
            }
            section.end_line = section_end(section, line_no, lines);
        }
        map
    }

    /// The first line of item `index` of a section, or the section key's line when the
    /// text's items do not line up with `parsed_len` parsed items (never 0 unless the
    /// section is missing altogether).
    pub(crate) fn item_line(&self, kind: SectionKind, index: usize, parsed_len: usize) -> u32 {
        let section = self.section(kind);
        if section.items.len() == parsed_len {
            if let Some(&line) = section.items.get(index) {
                return line;
            }
        }
        section.key_line.max(1)
    }

    /// The line of `token` within item `index`, or the item's first line.
    pub(crate) fn token_line(
        &self,
        kind: SectionKind,
        index: usize,
        parsed_len: usize,
        token: &str,
    ) -> u32 {
        let section = self.section(kind);
        let start = self.item_line(kind, index, parsed_len);
        let end = if section.items.len() == parsed_len {
            section
                .items
                .get(index + 1)
                .copied()
                .unwrap_or(section.end_line)
        } else {
            section.end_line
        };
        (start..end.max(start + 1))
            .find(|&l| {
                self.lines
                    .get((l - 1) as usize)
                    .is_some_and(|s| contains_word(s, token))
            })
            .unwrap_or(start)
    }

    /// The line of a top-level key such as `initial_state:`, or 1.
    pub(crate) fn key_line(&self, key: &str) -> u32 {
        self.lines
            .iter()
            .position(|l| l.starts_with(key) && l[key.len()..].trim_start().starts_with(':'))
            .map_or(1, |i| i as u32 + 1)
    }

    fn section(&self, kind: SectionKind) -> &Section {
        match kind {
            SectionKind::States => &self.states,
            SectionKind::Conditions => &self.conditions,
            SectionKind::Transitions => &self.transitions,
        }
    }

    fn section_mut(&mut self, kind: SectionKind) -> &mut Section {
        match kind {
            SectionKind::States => &mut self.states,
            SectionKind::Conditions => &mut self.conditions,
            SectionKind::Transitions => &mut self.transitions,
        }
    }
}

/// The first line after a section: the next top-level key after its key line, or EOF+1.
fn section_end(section: &Section, line_count: u32, lines: &[Box<str>]) -> u32 {
    if section.key_line == 0 {
        return line_count + 1;
    }
    ((section.key_line + 1)..=line_count)
        .find(|&l| {
            let s = &lines[(l - 1) as usize];
            !s.is_empty() && !s.starts_with([' ', '\t', '-']) && s.contains(':')
        })
        .unwrap_or(line_count + 1)
}

/// The line without a trailing `# comment` (a `#` at the start or after whitespace, not
/// inside quotes — good enough for table files, which quote rarely).
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    let mut quote: Option<u8> = None;
    for (i, &b) in bytes.iter().enumerate() {
        match (quote, b) {
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), c) if c == q => quote = None,
            (None, b'#') if i == 0 || bytes[i - 1].is_ascii_whitespace() => {
                return line[..i].trim_end();
            }
            _ => {}
        }
    }
    line.trim_end()
}

/// Whether `word` occurs in `line` bounded by non-identifier characters.
fn contains_word(line: &str, word: &str) -> bool {
    if word.is_empty() {
        return false;
    }
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    line.match_indices(word).any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let after = line[i + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
name: t   # a comment
states:
  - name: Idle
  - name: Active
    description: \"- not an item\"
transitions:
  # Idle
  - state: Idle
    event: MakeCall
    actions:
      - SendINVITE
  - state: Active
    event: HangupCall   # SendINVITE mentioned in a comment
    actions: [SendBYE]
";

    #[test]
    fn items_map_to_their_first_lines() {
        let map = SourceMap::scan(TEXT);
        assert_eq!(map.item_line(SectionKind::States, 0, 2), 3);
        assert_eq!(map.item_line(SectionKind::States, 1, 2), 4);
        assert_eq!(map.item_line(SectionKind::Transitions, 0, 2), 8);
        assert_eq!(map.item_line(SectionKind::Transitions, 1, 2), 12);
    }

    #[test]
    fn tokens_are_found_inside_their_item_and_not_in_comments() {
        let map = SourceMap::scan(TEXT);
        assert_eq!(
            map.token_line(SectionKind::Transitions, 0, 2, "SendINVITE"),
            11
        );
        assert_eq!(
            map.token_line(SectionKind::Transitions, 1, 2, "SendBYE"),
            14
        );
        // Only in a comment: falls back to the item's first line.
        assert_eq!(
            map.token_line(SectionKind::Transitions, 1, 2, "SendINVITE"),
            12
        );
        // Whole words only.
        assert_eq!(map.token_line(SectionKind::Transitions, 1, 2, "Send"), 12);
    }

    #[test]
    fn a_count_mismatch_falls_back_to_the_section_key() {
        let map = SourceMap::scan(TEXT);
        assert_eq!(map.item_line(SectionKind::Transitions, 1, 3), 6);
        assert_eq!(map.key_line("name"), 1);
    }

    #[test]
    fn flow_style_sections_use_the_key_line() {
        let map = SourceMap::scan("states: [{name: A}, {name: B}]\ntransitions: []\n");
        assert_eq!(map.item_line(SectionKind::States, 1, 2), 1);
    }
}
