#!/usr/bin/env python3
"""Writes the hand-made SIP seed messages into fuzz/corpus/{sip_message,sip_stream}/.

The messages are transcribed from RFC 3665 (SIP Basic Call Flow Examples, §2.1, §3.1,
§3.8, §3.10), SIPp's built-in `uac`/`uas` scenarios (placeholders filled with
127.0.0.1 values) and a baresip 3.x INVITE (its SDP is core/tests/sdp/baresip_default.sdp).
Content-Length is computed here, so the files are exact. Run from the repository root:
    python3 fuzz/seeds/sip_messages.py
"""
import os, pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]

def msg(head, body=""):
    body = body.replace("\n", "\r\n")
    lines = head.strip("\n").split("\n")
    lines.append("Content-Length: %d" % len(body.encode()))
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()

ALICE_SDP = """v=0
o=alice 2890844526 2890844526 IN IP4 client.atlanta.example.com
s=-
c=IN IP4 192.0.2.101
t=0 0
m=audio 49172 RTP/AVP 0
a=rtpmap:0 PCMU/8000
"""
BOB_SDP = """v=0
o=bob 2890844527 2890844527 IN IP4 client.biloxi.example.com
s=-
c=IN IP4 192.0.2.201
t=0 0
m=audio 3456 RTP/AVP 0
a=rtpmap:0 PCMU/8000
"""
A_FROM = "From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl"
B_TO = "To: Bob <sip:bob@biloxi.example.com>"
CID = "Call-ID: 3848276298220188511@atlanta.example.com"
VIA_A = "Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9"

M = {}
# RFC 3665 §2.1 Successful New Registration, F1 and F4.
M["rfc3665_2_1_f1_register"] = msg("""REGISTER sips:ss2.biloxi.example.com SIP/2.0
Via: SIP/2.0/TLS client.biloxi.example.com:5061;branch=z9hG4bKnashds7
Max-Forwards: 70
From: Bob <sips:bob@biloxi.example.com>;tag=a73kszlfl
To: Bob <sips:bob@biloxi.example.com>
Call-ID: 1j9FpLxk3uxtm8tn@biloxi.example.com
CSeq: 1 REGISTER
Contact: <sips:bob@client.biloxi.example.com>""")
M["rfc3665_2_1_f4_200"] = msg("""SIP/2.0 200 OK
Via: SIP/2.0/TLS client.biloxi.example.com:5061;branch=z9hG4bKnashd92
 ;received=192.0.2.201
From: Bob <sips:bob@biloxi.example.com>;tag=ja743ks76zlflH
To: Bob <sips:bob@biloxi.example.com>;tag=37GkEhwl6
Call-ID: 1j9FpLxk3uxtm8tn@biloxi.example.com
CSeq: 2 REGISTER
Contact: <sips:bob@client.biloxi.example.com>;expires=3600""")
# RFC 3665 §3.1 Successful Session Establishment, F1-F6.
M["rfc3665_3_1_f1_invite"] = msg("""INVITE sip:bob@biloxi.example.com SIP/2.0
%s
Max-Forwards: 70
%s
%s
%s
CSeq: 1 INVITE
Contact: <sip:alice@client.atlanta.example.com;transport=tcp>
Content-Type: application/sdp""" % (VIA_A, A_FROM, B_TO, CID), ALICE_SDP)
M["rfc3665_3_1_f2_180"] = msg("""SIP/2.0 180 Ringing
%s
 ;received=192.0.2.101
%s
%s;tag=8321234356
%s
CSeq: 1 INVITE
Contact: <sip:bob@client.biloxi.example.com;transport=tcp>""" % (VIA_A, A_FROM, B_TO, CID))
M["rfc3665_3_1_f3_200"] = msg("""SIP/2.0 200 OK
%s
 ;received=192.0.2.101
%s
%s;tag=8321234356
%s
CSeq: 1 INVITE
Contact: <sip:bob@client.biloxi.example.com;transport=tcp>
Content-Type: application/sdp""" % (VIA_A, A_FROM, B_TO, CID), BOB_SDP)
M["rfc3665_3_1_f4_ack"] = msg("""ACK sip:bob@client.biloxi.example.com SIP/2.0
Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bd5
Max-Forwards: 70
%s
%s;tag=8321234356
%s
CSeq: 1 ACK""" % (A_FROM, B_TO, CID))
M["rfc3665_3_1_f5_bye"] = msg("""BYE sip:alice@client.atlanta.example.com SIP/2.0
Via: SIP/2.0/TCP client.biloxi.example.com:5060;branch=z9hG4bKnashds7
Max-Forwards: 70
From: Bob <sip:bob@biloxi.example.com>;tag=8321234356
To: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl
%s
CSeq: 1 BYE""" % CID)
M["rfc3665_3_1_f6_200"] = msg("""SIP/2.0 200 OK
Via: SIP/2.0/TCP client.biloxi.example.com:5060;branch=z9hG4bKnashds7
 ;received=192.0.2.201
From: Bob <sip:bob@biloxi.example.com>;tag=8321234356
To: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl
%s
CSeq: 1 BYE""" % CID)
# RFC 3665 §3.8 Unsuccessful Busy: the 486 and its ACK.
M["rfc3665_3_8_486"] = msg("""SIP/2.0 486 Busy Here
%s
 ;received=192.0.2.101
%s
%s;tag=8321234356
%s
CSeq: 1 INVITE""" % (VIA_A, A_FROM, B_TO, CID))
M["rfc3665_3_8_ack"] = msg("""ACK sip:bob@biloxi.example.com SIP/2.0
%s
Max-Forwards: 70
%s
%s;tag=8321234356
%s
CSeq: 1 ACK""" % (VIA_A, A_FROM, B_TO, CID))
# RFC 3665 §3.10 Unsuccessful No Answer: CANCEL, its 200 and the 487.
M["rfc3665_3_10_cancel"] = msg("""CANCEL sip:bob@biloxi.example.com SIP/2.0
%s
Max-Forwards: 70
%s
%s
%s
CSeq: 1 CANCEL""" % (VIA_A, A_FROM, B_TO, CID))
M["rfc3665_3_10_487"] = msg("""SIP/2.0 487 Request Terminated
%s
 ;received=192.0.2.101
%s
%s;tag=8321234356
%s
CSeq: 1 INVITE""" % (VIA_A, A_FROM, B_TO, CID))

# SIPp's built-in uac/uas scenarios (sipp -sn uac / -sn uas), placeholders filled in.
SIPP_SDP = """v=0
o=user1 53655765 2353687637 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 6000 RTP/AVP 0
a=rtpmap:0 PCMU/8000
"""
SIPP = dict(
    via="Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1234-1-0",
    frm="From: sipp <sip:sipp@127.0.0.1:5061>;tag=1234SIPpTag001",
    to="To: service <sip:service@127.0.0.1:5060>",
    cid="Call-ID: 1-1234@127.0.0.1",
)
M["sipp_uac_invite"] = msg("""INVITE sip:service@127.0.0.1:5060 SIP/2.0
{via}
{frm}
{to}
{cid}
CSeq: 1 INVITE
Contact: sip:sipp@127.0.0.1:5061
Max-Forwards: 70
Subject: Performance Test
Content-Type: application/sdp""".format(**SIPP), SIPP_SDP)
M["sipp_uac_ack"] = msg("""ACK sip:service@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1234-1-5
{frm}
{to};tag=2345SIPpTag011
{cid}
CSeq: 1 ACK
Contact: sip:sipp@127.0.0.1:5061
Max-Forwards: 70
Subject: Performance Test""".format(**SIPP))
M["sipp_uac_bye"] = msg("""BYE sip:service@127.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1234-1-7
{frm}
{to};tag=2345SIPpTag011
{cid}
CSeq: 2 BYE
Contact: sip:sipp@127.0.0.1:5061
Max-Forwards: 70
Subject: Performance Test""".format(**SIPP))
M["sipp_uas_180"] = msg("""SIP/2.0 180 Ringing
{via};received=127.0.0.1
{frm}
{to};tag=2345SIPpTag011
{cid}
CSeq: 1 INVITE
Contact: <sip:127.0.0.1:5060;transport=UDP>""".format(**SIPP))
M["sipp_uas_200"] = msg("""SIP/2.0 200 OK
{via};received=127.0.0.1
{frm}
{to};tag=2345SIPpTag011
{cid}
CSeq: 1 INVITE
Contact: <sip:127.0.0.1:5060;transport=UDP>
Content-Type: application/sdp""".format(**SIPP), SIPP_SDP.replace("6000", "6002"))

# A baresip 3.x INVITE (SDP: core/tests/sdp/baresip_default.sdp).
baresip_sdp = (ROOT / "core/tests/sdp/baresip_default.sdp").read_text()
M["baresip_invite"] = msg("""INVITE sip:bob@192.168.1.30 SIP/2.0
Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK3d6a2f1c0b8e;rport
Contact: <sip:alice-0x55d4c3a0@192.168.1.20:5060>
Max-Forwards: 70
To: <sip:bob@192.168.1.30>
From: "Alice" <sip:alice@example.com>;tag=4c2f8e1a9b7d3e05
Call-ID: 9a1b6c3d2e4f5a60
CSeq: 24617 INVITE
Allow: INVITE,ACK,BYE,CANCEL,OPTIONS,NOTIFY,SUBSCRIBE,INFO,MESSAGE,REFER,UPDATE
Supported: replaces,norefersub
User-Agent: baresip v3.10.1 (x86_64/linux)
Content-Type: application/sdp""", baresip_sdp)

for target in ("sip_message",):
    d = ROOT / "fuzz/corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    for name, data in M.items():
        (d / (name + ".sip")).write_bytes(data)

# sip_stream inputs: a chunk-size prefix, then the call flow as one TCP stream
# (with a CRLFCRLF keep-alive between two messages).
d = ROOT / "fuzz/corpus/sip_stream"
d.mkdir(parents=True, exist_ok=True)
flow = [M[k] for k in sorted(M) if k.startswith("rfc3665_3_1")]
stream = b"".join(flow[:3]) + b"\r\n\r\n" + b"".join(flow[3:])
for sizes in (b"", b"\x00", b"\x03\x07\x1f\xff", b"\x0f" + bytes(range(1, 16))):
    prefix = bytes([len(sizes)]) + sizes
    (d / ("rfc3665_3_1_stream_%d.bin" % len(sizes))).write_bytes(prefix + stream)
sipp = b"".join(M[k] for k in ("sipp_uac_invite", "sipp_uas_180", "sipp_uas_200", "sipp_uac_ack", "sipp_uac_bye"))
(d / "sipp_stream.bin").write_bytes(b"\x02\x10\x40" + sipp)
(d / "baresip_stream.bin").write_bytes(b"\x01\x00" + M["baresip_invite"] + b"\r\n" + M["baresip_invite"][:200])
print("wrote", len(M), "messages")
