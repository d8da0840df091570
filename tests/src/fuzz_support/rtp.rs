//! `rtp`: the media layer's RTP, RTCP and RFC 4733 readers (RFC 3550 §5.1, §6.4;
//! RFC 4733 §2.3), with the `rtp` crate as a differential oracle.
//!
//! Every reader gets the whole input:
//! - RTP: a view we accept accounts for every octet; our writer, given the view's
//!   fields, writes a packet we read back to the same fields; the `rtp` crate accepts
//!   exactly what we accept among version-2 packets with a non-zero padding count, and
//!   reads the same fields and payload;
//! - RTCP: an accepted compound iterates without panicking, and its SR, RR and BYE
//!   packets written back with our writers read back the same;
//! - RFC 4733: payloads round-trip, and a receiver fed the input as 8-octet
//!   (timestamp, payload) records reports only DTMF digits, at most two per packet.
//!
//! The oracle is only asked about packets without an RFC 8285 extension (profile 0xBEDE
//! or 0x100x): its element walk reads past the extension block and panics (`bytes`
//! underflow) on truncated elements, which is its bug, not a property of ours.

use session_core::media::dtmf::{digit_to_event, DtmfReceiver, TelephoneEvent};
use session_core::media::rtcp::{
    write_bye, write_receiver_report, write_sender_report, RtcpCompound, RtcpPacket,
};
use session_core::media::rtp::{looks_like_rtcp, RtpExtension};
use session_core::media::{RtpHeader, RtpPacket};
use webrtc_util::marshal::Unmarshal;

/// Runs one input through the properties above; panics when one fails.
pub fn rtp(data: &[u8]) {
    let _ = looks_like_rtcp(data);
    rtp_packet(data);
    rtcp(data);
    dtmf(data);
}

fn rtp_packet(data: &[u8]) {
    let ours = RtpPacket::parse(data);
    if let Ok(p) = &ours {
        assert_eq!(
            p.header_len() + p.payload().len() + p.padding_len(),
            data.len(),
            "the view does not account for every octet"
        );
        assert_eq!(p.padding(), p.padding_len() > 0);
        round_trip(p);
    }
    if is_rfc8285(data) {
        return;
    }
    let theirs = rtp::packet::Packet::unmarshal(&mut &data[..]);
    let comparable = data.len() >= 12
        && data[0] >> 6 == 2
        && (data[0] & 0x20 == 0 || data.last().is_some_and(|&b| b != 0));
    match (ours, theirs) {
        (Ok(p), Ok(t)) => {
            let h = &t.header;
            assert_eq!(p.marker(), h.marker);
            assert_eq!(p.payload_type(), h.payload_type);
            assert_eq!(p.sequence_number(), h.sequence_number);
            assert_eq!(p.timestamp(), h.timestamp);
            assert_eq!(p.ssrc(), h.ssrc);
            assert_eq!(p.csrcs().collect::<Vec<_>>(), h.csrc);
            match p.extension() {
                Some(e) => {
                    assert!(h.extension);
                    assert_eq!(e.profile, h.extension_profile);
                    let data: Vec<u8> = h
                        .extensions
                        .iter()
                        .flat_map(|x| x.payload.to_vec())
                        .collect();
                    assert_eq!(e.data, &data[..], "extension data differs");
                }
                None => assert!(!h.extension),
            }
            assert_eq!(
                p.payload(),
                &t.payload[..],
                "payload differs from the rtp crate"
            );
        }
        (Ok(_), Err(e)) => panic!("we accept a packet the rtp crate refuses: {e}"),
        (Err(e), Ok(_)) if comparable => {
            panic!("the rtp crate accepts a version-2 packet we refuse: {e:?}")
        }
        _ => {}
    }
}

/// The X bit is set and the extension profile is an RFC 8285 one.
fn is_rfc8285(data: &[u8]) -> bool {
    if data.len() < 12 || data[0] & 0x10 == 0 {
        return false;
    }
    let at = 12 + 4 * usize::from(data[0] & 0x0F);
    let Some(profile) = data.get(at..at + 2) else {
        return false;
    };
    let profile = u16::from_be_bytes([profile[0], profile[1]]);
    profile == 0xBEDE || profile & 0xFFF0 == 0x1000
}

/// Writes the view's fields with our writer and reads them back.
fn round_trip(p: &RtpPacket<'_>) {
    let csrcs: Vec<u32> = p.csrcs().collect();
    let header = RtpHeader {
        marker: p.marker(),
        payload_type: p.payload_type(),
        sequence_number: p.sequence_number(),
        timestamp: p.timestamp(),
        ssrc: p.ssrc(),
        csrcs: &csrcs,
        extension: p.extension().map(|e| RtpExtension {
            profile: e.profile,
            data: e.data,
        }),
        // A parsed padding count is 1..=255 by construction.
        padding_len: u8::try_from(p.padding_len()).expect("padding count is one octet"),
    };
    let mut out = Vec::new();
    let n = match header.write(p.payload(), &mut out) {
        Ok(n) => n,
        Err(e) => panic!("cannot write back what we read: {e}"),
    };
    assert_eq!(n, out.len());
    assert_eq!(n, p.as_bytes().len(), "written length differs");
    let back = RtpPacket::parse(&out).expect("our own packet parses");
    assert_eq!(back.marker(), p.marker());
    assert_eq!(back.payload_type(), p.payload_type());
    assert_eq!(back.sequence_number(), p.sequence_number());
    assert_eq!(back.timestamp(), p.timestamp());
    assert_eq!(back.ssrc(), p.ssrc());
    assert_eq!(back.csrcs().collect::<Vec<_>>(), csrcs);
    assert_eq!(back.extension(), p.extension());
    assert_eq!(back.payload(), p.payload());
    assert_eq!(back.padding_len(), p.padding_len());
}

fn rtcp(data: &[u8]) {
    let Ok(compound) = RtcpCompound::parse(data) else {
        return;
    };
    for packet in compound.packets() {
        let mut out = Vec::new();
        match packet {
            RtcpPacket::SenderReport {
                ssrc,
                info,
                reports,
            } => {
                let blocks: Vec<_> = reports.iter().collect();
                write_sender_report(&mut out, ssrc, &info, &blocks).expect("at most 31 blocks");
                let back = RtcpCompound::parse(&out).expect("our SR parses");
                let Some(RtcpPacket::SenderReport {
                    ssrc: s,
                    info: i,
                    reports: r,
                }) = back.packets().next()
                else {
                    panic!("our SR reads back as something else");
                };
                assert_eq!((s, i), (ssrc, info));
                assert_eq!(r.iter().collect::<Vec<_>>(), blocks);
            }
            RtcpPacket::ReceiverReport { ssrc, reports } => {
                let blocks: Vec<_> = reports.iter().collect();
                write_receiver_report(&mut out, ssrc, &blocks).expect("at most 31 blocks");
                let back = RtcpCompound::parse(&out).expect("our RR parses");
                let Some(RtcpPacket::ReceiverReport {
                    ssrc: s,
                    reports: r,
                }) = back.packets().next()
                else {
                    panic!("our RR reads back as something else");
                };
                assert_eq!(s, ssrc);
                assert_eq!(r.iter().collect::<Vec<_>>(), blocks);
            }
            RtcpPacket::Bye { sources, reason } => {
                let sources: Vec<u32> = sources.iter().collect();
                write_bye(&mut out, &sources, reason).expect("at most 31 sources, 255 octets");
                // A BYE alone is not a valid compound (it must follow a report), so
                // read it behind an empty RR.
                let mut compound = Vec::new();
                write_receiver_report(&mut compound, 0, &[]).expect("no blocks");
                compound.extend_from_slice(&out);
                let back = RtcpCompound::parse(&compound).expect("RR + our BYE parses");
                let Some(RtcpPacket::Bye {
                    sources: s,
                    reason: r,
                }) = back.packets().nth(1)
                else {
                    panic!("our BYE reads back as something else");
                };
                assert_eq!(s.iter().collect::<Vec<_>>(), sources);
                assert_eq!(r, reason);
            }
            _ => {}
        }
    }
}

fn dtmf(data: &[u8]) {
    if let Ok(te) = TelephoneEvent::parse(data) {
        let back = TelephoneEvent::parse(&te.to_bytes()).expect("four octets");
        assert_eq!(back, te);
    }
    let mut receiver = DtmfReceiver::new(800);
    for record in data.chunks_exact(8) {
        let timestamp = u32::from_be_bytes([record[0], record[1], record[2], record[3]]);
        let mut digits = 0;
        let mut check = |d: session_core::media::dtmf::DtmfDigit| {
            digits += 1;
            assert!(
                "0123456789*#ABCD".contains(d.digit),
                "reported a non-DTMF digit {:?}",
                d.digit
            );
        };
        if record[4] & 0x80 != 0 {
            receiver.on_audio(timestamp, &mut check);
        } else {
            let _ = receiver.on_packet(timestamp, &record[4..], &mut check);
        }
        assert!(digits <= 2, "{digits} digits from one packet");
    }
    receiver.flush(|d| assert!(digit_to_event(d.digit).is_some(), "flushed {:?}", d.digit));
}
