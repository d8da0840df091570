//! The text a session description keeps (codec names, `fmtp` parameters, attributes):
//! inline when short, so that parsing a body, building an offer or an answer, and
//! cloning a codec out of the configuration allocate nothing for it.
//!
//! Nearly every such string is a token of a few bytes (`PCMU`, `telephone-event`,
//! `0-16`, `rtcp-mux`, `-`); a `Box<str>` per token was most of what a call allocated
//! for SDP.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// How many bytes are kept inline; longer text goes to the heap. With 22 a [`Text`] is
/// as large as a `String` (a tag byte, a length byte, the bytes).
const INLINE: usize = 22;

/// A piece of SDP text; reads as a `str`.
#[derive(Clone)]
pub struct Text(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl Text {
    /// The text of `s`, inline when it fits.
    pub fn new(s: &str) -> Text {
        match u8::try_from(s.len()) {
            Ok(len) if s.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..s.len()].copy_from_slice(s.as_bytes());
                Text(Repr::Inline { len, bytes })
            }
            _ => Text(Repr::Heap(s.into())),
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // The bytes are a whole `&str`'s (see `new`), so this is valid UTF-8; the
            // check is what reading them back costs without `unsafe`.
            Repr::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            Repr::Heap(s) => s,
        }
    }
}

impl Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text::new(s)
    }
}

impl From<&String> for Text {
    fn from(s: &String) -> Text {
        Text::new(s)
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        if s.len() <= INLINE {
            Text::new(&s)
        } else {
            Text(Repr::Heap(s.into_boxed_str()))
        }
    }
}

impl From<&Box<str>> for Text {
    fn from(s: &Box<str>) -> Text {
        Text::new(s)
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Text {}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Hash for Text {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

/// As a `str`'s: a description's debug output reads the same whichever way it is kept.
impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_inline_and_long_text_on_the_heap_and_both_read_back() {
        let short = Text::new("telephone-event");
        assert!(matches!(short.0, Repr::Inline { .. }));
        assert_eq!(&*short, "telephone-event");
        let exact = "x".repeat(INLINE);
        assert!(matches!(Text::new(&exact).0, Repr::Inline { .. }));
        let long = "é".repeat(INLINE);
        let text = Text::from(long.clone());
        assert!(matches!(text.0, Repr::Heap(_)));
        assert_eq!(text, Text::new(&long));
        assert_eq!(format!("{:?}", Text::new("a\"b")), format!("{:?}", "a\"b"));
        assert_eq!(Text::new(""), "");
    }
}
