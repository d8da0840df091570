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

#[cfg(test)]
mod tests {
    use super::*;
    use rsip::prelude::*;

    const OPTIONS: &[u8] = b"OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\nFrom: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: c1\r\nCSeq: 7 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn converts_to_rsip_and_back_keeping_the_transaction_fields() {
        let ours = Message::parse(OPTIONS).unwrap();
        let theirs = ours.to_rsip().unwrap();
        assert_eq!(theirs.call_id_header().unwrap().value(), "c1");
        assert_eq!(theirs.cseq_header().unwrap().seq().unwrap(), 7);
        let mut buf = Vec::new();
        write_rsip(&theirs, &mut buf);
        let back = Message::parse(&buf).unwrap();
        assert_eq!(back.call_id(), "c1");
        assert_eq!(back.cseq().seq, 7);
        assert_eq!(back.top_via().branch, Some("z9hG4bK1"));
        assert_eq!(back.from().tag(), Some("1"));
    }
}
