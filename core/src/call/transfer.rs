//! The REFER usages of a dialog (RFC 3515; RFC 6665 §4; RFC 5057 §5): the transfer we
//! asked the peer to make, whose progress its NOTIFYs report, and the one the peer asked
//! of us, whose implicit subscription we serve as notifier while the call it asked for
//! progresses. Each outlives nothing but its dialog: a REFER's timeout or a NOTIFY's
//! 481 ends the usage, not the call.

use crate::sip::{Params, Uri};
use crate::transaction::TransactionId;

/// A dialog's transfers, one each way at a time.
#[derive(Debug, Default)]
pub(crate) struct Transfers {
    /// The REFER we sent, until its subscription ends (a final NOTIFY, a refusal, a
    /// timeout). Both usages are boxed: few calls are transferred, and every session
    /// would otherwise carry their room.
    pub(crate) sent: Option<Box<ReferSent>>,
    /// The subscription a REFER we accepted created.
    pub(crate) notifier: Option<Box<ReferNotifier>>,
}

/// A REFER we sent.
#[derive(Debug)]
pub(crate) struct ReferSent {
    /// Its CSeq: the `id` of the subscription it creates (RFC 3515 §2.4.4), which the
    /// NOTIFYs name.
    pub(crate) cseq: u32,
    /// Its client transaction, whose timeout fails the transfer only.
    pub(crate) tx: TransactionId,
}

/// The implicit subscription of a REFER we accepted: we send NOTIFYs with the progress
/// of the call it asked for, one at a time (RFC 6665 §4.2.2: no new NOTIFY before the
/// last one's final response); a status that arrives meanwhile waits, and a later one
/// replaces it, so the final status is never lost and never overtaken.
#[derive(Debug)]
pub(crate) struct ReferNotifier {
    /// The REFER's CSeq: the subscription's `id`.
    pub(crate) id: u32,
    /// The NOTIFY in flight.
    pub(crate) in_flight: Option<TransactionId>,
    /// The status waiting for the NOTIFY in flight to be answered.
    pub(crate) queued: Option<u16>,
    /// The last status sent; a final one terminated the subscription.
    pub(crate) last_sent: Option<u16>,
}

impl ReferNotifier {
    pub(crate) fn new(id: u32) -> ReferNotifier {
        ReferNotifier {
            id,
            in_flight: None,
            queued: None,
            last_sent: None,
        }
    }

    /// Whether a final status has gone out: nothing more is sent.
    pub(crate) fn terminated(&self) -> bool {
        self.last_sent.is_some_and(|s| s >= 200)
    }
}

/// What a REFER we accepted asks for: the call to place (RFC 3515 §2.4.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ReferTarget {
    /// The Refer-To URI without its headers part: the new call's Request-URI.
    pub(crate) uri: String,
    /// The `Replaces` header the Refer-To URI carries (RFC 3891 §5.1), unescaped.
    pub(crate) replaces: Option<String>,
    /// The REFER's `Referred-By`, copied into the new INVITE (RFC 3892 §3).
    pub(crate) referred_by: Option<String>,
    /// False when the REFER asked for no subscription (`Refer-Sub: false`, RFC 4488).
    pub(crate) subscribe: bool,
}

impl ReferTarget {
    /// Reads a Refer-To value (`<sip:carol@h?Replaces=...>` or a bare URI); `None` when it
    /// holds no URI we could call.
    pub(crate) fn parse(
        refer_to: &str,
        referred_by: Option<&str>,
        refer_sub: Option<&str>,
    ) -> Option<ReferTarget> {
        let uri = name_addr_uri(refer_to)?;
        let (uri, headers) = match uri.split_once('?') {
            Some((uri, headers)) => (uri, Some(headers)),
            None => (uri, None),
        };
        Uri::parse(uri).ok()?;
        let replaces = headers.and_then(|h| {
            h.split('&').find_map(|field| {
                let (name, value) = field.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("Replaces")
                    .then(|| unescape(value))
                    .flatten()
            })
        });
        Some(ReferTarget {
            uri: uri.to_owned(),
            replaces,
            referred_by: referred_by.map(|r| r.trim().to_owned()),
            subscribe: !refer_sub.is_some_and(|v| {
                let value = v.split(';').next().unwrap_or("");
                value.trim().eq_ignore_ascii_case("false")
            }),
        })
    }
}

/// The dialog a `Replaces` header names (RFC 3891 §6.1), as the UA that receives it
/// sees it: its `to-tag` is our tag, its `from-tag` the peer's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Replaces<'a> {
    pub(crate) call_id: &'a str,
    pub(crate) to_tag: &'a str,
    pub(crate) from_tag: &'a str,
    /// `early-only`: replace the dialog only while it is early.
    pub(crate) early_only: bool,
}

impl<'a> Replaces<'a> {
    /// Reads a Replaces value; `None` when the Call-ID or either tag is missing.
    pub(crate) fn parse(value: &'a str) -> Option<Replaces<'a>> {
        let (call_id, params) = value.split_at(value.find(';')?);
        let call_id = call_id.trim();
        let params = Params::new(params);
        let replaces = Replaces {
            call_id,
            to_tag: params.value("to-tag")?.trim(),
            from_tag: params.value("from-tag")?.trim(),
            early_only: params.contains("early-only"),
        };
        (!call_id.is_empty()).then_some(replaces)
    }

    /// The value that names, for its peer, a dialog of ours with this Call-ID, our tag
    /// and the peer's tag: the peer's To tag is its own, ours its From tag.
    pub(crate) fn naming(call_id: &str, local_tag: &str, remote_tag: &str) -> String {
        format!("{call_id};to-tag={remote_tag};from-tag={local_tag}")
    }
}

/// A Refer-To for `target` that makes its recipient's INVITE replace the dialog
/// `replaces` names (RFC 3891 §5.1): the value escaped as a URI header (RFC 3261 §19.1.1).
pub(crate) fn refer_to_replacing(target: &str, replaces: &str) -> String {
    let mut out = String::with_capacity(target.len() + replaces.len() + 32);
    out.push('<');
    out.push_str(target);
    out.push_str("?Replaces=");
    for b in replaces.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out.push('>');
    out
}

/// The URI of a name-addr (`"C" <sip:c@h?x=y>`) or of a bare addr-spec.
fn name_addr_uri(value: &str) -> Option<&str> {
    let value = value.trim();
    let uri = match (value.find('<'), value.rfind('>')) {
        (Some(start), Some(end)) if start < end => &value[start + 1..end],
        (None, None) => value.split(';').next().unwrap_or(value),
        _ => return None,
    };
    (!uri.trim().is_empty()).then(|| uri.trim())
}

/// `%XX` escapes undone; `None` for a broken escape or bytes that are not UTF-8.
fn unescape(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refer_to_with_replaces_gives_the_uri_and_the_unescaped_header() {
        let t = ReferTarget::parse(
            "<sip:carol@127.0.0.3:5062?Replaces=abc%40host%3Bto-tag%3D7%3Bfrom-tag%3D9>",
            Some("<sip:bob@h>"),
            None,
        )
        .unwrap();
        assert_eq!(t.uri, "sip:carol@127.0.0.3:5062");
        assert_eq!(t.replaces.as_deref(), Some("abc@host;to-tag=7;from-tag=9"));
        assert_eq!(t.referred_by.as_deref(), Some("<sip:bob@h>"));
        assert!(t.subscribe);
    }

    #[test]
    fn refer_sub_false_asks_for_no_subscription() {
        let t = ReferTarget::parse("sip:carol@h", None, Some("false")).unwrap();
        assert_eq!(t.uri, "sip:carol@h");
        assert!(!t.subscribe);
        assert!(ReferTarget::parse("<>", None, None).is_none());
        assert!(ReferTarget::parse("<not a uri>", None, None).is_none());
    }

    #[test]
    fn replaces_round_trips_through_a_refer_to() {
        let value = Replaces::naming("x@h", "ours", "theirs");
        let refer_to = refer_to_replacing("sip:carol@h", &value);
        assert!(!refer_to.contains(';'), "{refer_to}");
        let t = ReferTarget::parse(&refer_to, None, None).unwrap();
        let r = Replaces::parse(t.replaces.as_deref().unwrap()).unwrap();
        assert_eq!(
            r,
            Replaces {
                call_id: "x@h",
                to_tag: "theirs",
                from_tag: "ours",
                early_only: false
            }
        );
        assert!(Replaces::parse("x@h;to-tag=a").is_none());
        assert!(
            Replaces::parse("x@h;to-tag=a;from-tag=b;early-only")
                .unwrap()
                .early_only
        );
    }
}
