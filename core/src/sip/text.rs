//! Lexical helpers shared by the header views (RFC 3261 §25.1: LWS, token, quoted-string).
//!
//! Header values handed to the views are raw spans of the datagram. A folded header keeps
//! its CRLF inside the span; the indexer guarantees every CR/LF there is followed by SP or
//! HTAB, so treating CR and LF as whitespace is the same as unfolding (RFC 3261 §7.3.1).

/// Whether `b` is linear whitespace inside a (possibly folded) header value.
#[inline]
pub(crate) fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// `s` without leading and trailing linear whitespace.
#[inline]
pub(crate) fn trim_lws(s: &str) -> &str {
    let b = s.as_bytes();
    // Most values come trimmed already, and every LWS byte is at most SP.
    match (b.first(), b.last()) {
        (Some(&first), Some(&last)) if first > b' ' && last > b' ' => return s,
        (None, _) => return s,
        _ => {}
    }
    let mut start = 0;
    let mut end = b.len();
    while start < end && is_lws(b[start]) {
        start += 1;
    }
    while end > start && is_lws(b[end - 1]) {
        end -= 1;
    }
    // Both ends stop next to ASCII bytes or at the ends, so these are char boundaries.
    &s[start..end]
}

/// `s` without leading linear whitespace.
#[inline]
pub(crate) fn trim_lws_start(s: &str) -> &str {
    let start = s.bytes().position(|b| !is_lws(b)).unwrap_or(s.len());
    // The bytes skipped are ASCII, so `start` is a char boundary.
    &s[start..]
}

/// A set of bytes as a 256-entry table, built at compile time from a predicate: the scans
/// that run over every byte of a URI, a parameter or a Call-ID test membership with one
/// load instead of a chain of comparisons.
macro_rules! byte_set {
    (|$b:ident| $member:expr) => {{
        let mut table = [false; 256];
        let mut i = 0;
        while i < 256 {
            let $b = i as u8;
            table[i] = $member;
            i += 1;
        }
        ByteSet(table)
    }};
}

pub(crate) use byte_set;

/// A set of bytes; see [`byte_set!`].
pub(crate) struct ByteSet(pub(crate) [bool; 256]);

impl ByteSet {
    /// Whether `b` is in the set.
    #[inline]
    pub(crate) fn contains(&self, b: u8) -> bool {
        self.0[usize::from(b)]
    }

    /// Whether any byte of `s` is in the set. Every byte is looked up, without a branch
    /// each: the sets are of bytes a valid value does not hold, so a scan almost always
    /// runs to the end anyway, and an OR of lookups unrolls where a search cannot.
    #[inline]
    pub(crate) fn any_in(&self, s: &str) -> bool {
        s.bytes().fold(false, |hit, b| hit | self.contains(b))
    }
}

/// RFC 3261 `token` characters.
const TOKEN_CHARS: ByteSet = byte_set!(|b| b.is_ascii_alphanumeric()
    || matches!(
        b,
        b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
    ));

/// SP, the controls (HTAB, CR and LF among them) and DEL: no Call-ID, parameter name or
/// unquoted parameter value holds one (RFC 3261 §25.1, RFC 5234 CTL).
pub(crate) const SPACE_OR_CTL: ByteSet = byte_set!(|b| b <= b' ' || b == 0x7f);

/// What a parameter name may not hold: [`SPACE_OR_CTL`] and `"`.
pub(crate) const NOT_IN_PARAM_NAME: ByteSet = byte_set!(|b| b <= b' ' || b == 0x7f || b == b'"');

/// What a URI, or an unquoted parameter value, may not hold: [`SPACE_OR_CTL`] and the
/// delimiters `"`, `<` and `>` of the header around it.
pub(crate) const NOT_IN_URI: ByteSet =
    byte_set!(|b| b <= b' ' || b == 0x7f || matches!(b, b'"' | b'<' | b'>'));

/// Whether `b` is an RFC 3261 `token` character.
#[inline]
pub(crate) fn is_token_char(b: u8) -> bool {
    TOKEN_CHARS.contains(b)
}

/// Whether `s` is a non-empty RFC 3261 `token`.
#[inline]
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// Index of the first byte `b` in `s`.
#[inline]
pub(crate) fn find(s: &str, b: u8) -> Option<usize> {
    find_any(s.as_bytes(), [b])
}

/// Index of the first byte of `hay` that is one of `needles`, eight bytes at a time: the
/// line ends of a datagram and the separators of header values and parameters are found
/// here, and a byte at a time costs several instructions a byte for each needle.
#[inline]
pub(crate) fn find_any<const N: usize>(hay: &[u8], needles: [u8; N]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    // The high bit of each byte of `word` that is one of the needles. A zero byte in x is
    // a match. A flag can be false only above a true match of the same needle, so the
    // lowest flag of all the needles is a true match.
    let flags = |chunk: &[u8]| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        let word = u64::from_le_bytes(bytes);
        let mut found = 0;
        for needle in needles {
            let x = word ^ (LO * u64::from(needle));
            found |= x.wrapping_sub(LO) & !x & HI;
        }
        found
    };
    if hay.len() < 8 {
        return hay.iter().position(|b| needles.contains(b));
    }
    let mut chunks = hay.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        let found = flags(chunk);
        if found != 0 {
            return Some(base + (found.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    if chunks.remainder().is_empty() {
        return None;
    }
    // The last eight bytes, overlapping bytes already searched: those hold no needle, so
    // they raise no flag, and the lowest flag is the first match in the remainder.
    let last = hay.len() - 8;
    let found = flags(&hay[last..]);
    (found != 0).then(|| last + (found.trailing_zeros() / 8) as usize)
}

/// Splits `s` at every `sep` that is outside a quoted string and outside `<...>`.
/// Backslash escapes inside quotes are honoured. An unterminated quote leaves the rest of
/// the string in the last piece (the caller's parser reports it).
pub(crate) fn split_outside(s: &str, sep: u8) -> SplitOutside<'_> {
    SplitOutside {
        rest: Some(s),
        sep,
        plain: find_any(s.as_bytes(), [b'"', b'<']).is_none(),
    }
}

/// Iterator returned by [`split_outside`].
#[derive(Debug, Clone)]
pub(crate) struct SplitOutside<'a> {
    rest: Option<&'a str>,
    sep: u8,
    /// No quote and no `<` in the text: every `sep` splits, so each piece is found with one
    /// search for `sep` alone (most parameter lists and Via values).
    plain: bool,
}

impl<'a> Iterator for SplitOutside<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let s = self.rest?;
        let at = if self.plain {
            find(s, self.sep)
        } else {
            find_outside(s, self.sep)
        };
        match at {
            Some(i) => {
                self.rest = Some(&s[i + 1..]);
                Some(&s[..i])
            }
            None => {
                self.rest = None;
                Some(s)
            }
        }
    }
}

/// Index of the first `sep` in `s` outside quotes and angle brackets. It jumps from one
/// byte that matters to the next (the separator, a quote, a bracket) with [`find_any`]
/// rather than walking every byte: a quote opens inside angle brackets too, and a
/// backslash inside quotes escapes the byte after it.
pub(crate) fn find_outside(s: &str, sep: u8) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut in_angle = false;
    loop {
        i += if in_angle {
            find_any(&b[i..], [b'"', b'>'])?
        } else {
            find_any(&b[i..], [sep, b'"', b'<'])?
        };
        match b[i] {
            b'"' => i += quoted_end(&s[i..])?,
            b'>' if in_angle => {
                in_angle = false;
                i += 1;
            }
            c if c == sep => return Some(i),
            _ => {
                in_angle = true;
                i += 1;
            }
        }
    }
}

/// If `s` starts with a quoted string, returns the index just past its closing quote.
/// `None` when the quote is not terminated.
pub(crate) fn quoted_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    debug_assert_eq!(b.first(), Some(&b'"'));
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Parses a decimal number of at most `max` (no sign, no spaces), `None` on overflow or junk.
pub(crate) fn parse_decimal(s: &str, max: u64) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for b in s.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    (v <= max).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_outside_ignores_separators_in_quotes_and_angles() {
        let parts: Vec<&str> = split_outside(r#""a, b" <sip:x;y,z>, c;d="e;f", g"#, b',').collect();
        assert_eq!(parts, [r#""a, b" <sip:x;y,z>"#, r#" c;d="e;f""#, " g"]);
    }

    #[test]
    fn find_outside_follows_quotes_inside_brackets_escapes_and_unterminated_values() {
        assert_eq!(find_outside(r#"<sip:a"b,>",c>,d"#, b','), Some(14));
        assert_eq!(find_outside(r#""a\",b",c"#, b','), Some(7));
        assert_eq!(find_outside(r#""<" x<y"#, b'<'), Some(5));
        assert_eq!(find_outside("a>,b", b'>'), Some(1));
        assert_eq!(find_outside("<a,b", b','), None);
        assert_eq!(find_outside(r#""a,b"#, b','), None);
        assert_eq!(find_outside(r#""a\"#, b','), None);
    }

    #[test]
    fn find_any_finds_the_first_of_its_needles_in_every_position() {
        let mut hay = [b'x'; 21];
        for i in 0..hay.len() {
            for j in i + 1..hay.len() {
                hay[i] = b'<';
                hay[j] = b';';
                assert_eq!(find_any(&hay, [b';', b'"', b'<']), Some(i), "{i} {j}");
                assert_eq!(find_any(&hay, [b';']), Some(j), "{i} {j}");
                assert_eq!(find_any(&hay, [b'"']), None);
                hay = [b'x'; 21];
            }
        }
        // Bytes one above and one below a needle, and bytes with the high bit set.
        let near = [0x3a, 0x3c, 0xbb, 0x00, 0xff, 0x3b];
        assert_eq!(find_any(&near, [b';']), Some(5));
        assert_eq!(find_any(b"", [b';']), None);
    }

    #[test]
    fn quoted_end_skips_escaped_quotes_and_reports_unterminated() {
        assert_eq!(quoted_end(r#""a\"b" rest"#), Some(6));
        assert_eq!(quoted_end(r#""never closed"#), None);
    }

    #[test]
    fn token_table_matches_the_rfc_3261_grammar() {
        let token: Vec<u8> = (0..=255u8).filter(|&b| is_token_char(b)).collect();
        let expected: Vec<u8> = (0..=255u8)
            .filter(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(b))
            .collect();
        assert_eq!(token, expected);
        assert!(is_token("INVITE") && !is_token("IN VITE") && !is_token(""));
    }

    #[test]
    fn parse_decimal_rejects_overflow_and_junk() {
        assert_eq!(parse_decimal("0068", 255), Some(68));
        assert_eq!(parse_decimal("300", 255), None);
        assert_eq!(
            parse_decimal("36893488147419103232", u64::from(u32::MAX)),
            None
        );
        assert_eq!(parse_decimal("-1", 10), None);
        assert_eq!(parse_decimal("", 10), None);
    }
}
