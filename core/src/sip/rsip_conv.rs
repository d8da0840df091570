//! Conversions to and from [`rsip::SipMessage`] for users of the rsip ecosystem (feature
//! `rsip`). They go through bytes: rsip is not the parser here (it lacks compact forms,
//! folding, IPv6 and unknown schemes), so a conversion can fail where ours succeeds.

use super::message::Message;

impl Message<'_> {
    /// Converts this message to an `rsip::SipMessage` by writing it normalised and
    /// letting rsip parse that.
    pub fn to_rsip(&self) -> Result<rsip::SipMessage, rsip::Error> {
        let mut buf = Vec::with_capacity(self.as_bytes().len() + 32);
        self.write_normalized(&mut buf);
        rsip::SipMessage::try_from(buf)
    }
}

/// Appends an `rsip::SipMessage`'s wire form to `out`, ready for [`Message::parse`].
pub fn write_rsip(message: &rsip::SipMessage, out: &mut Vec<u8>) {
    out.extend_from_slice(message.to_string().as_bytes());
}
