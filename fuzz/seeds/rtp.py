#!/usr/bin/env python3
"""Writes the rtp target's seeds into fuzz/corpus/rtp/: RTP (PCMU, with CSRCs, with a
generic and an RFC 8285 extension, padded), RTCP compounds (SR+SDES, RR+BYE) and
RFC 4733 telephone-event payloads. Run from the repository root."""
import pathlib, struct

d = pathlib.Path(__file__).resolve().parents[2] / "fuzz/corpus/rtp"
d.mkdir(parents=True, exist_ok=True)

def rtp(pt, seq, ts, ssrc, payload, marker=0, csrcs=(), ext=None, pad=0):
    b0 = 0x80 | (0x20 if pad else 0) | (0x10 if ext else 0) | len(csrcs)
    out = struct.pack("!BBHII", b0, (marker << 7) | pt, seq, ts, ssrc)
    for c in csrcs:
        out += struct.pack("!I", c)
    if ext:
        profile, data = ext
        out += struct.pack("!HH", profile, len(data) // 4) + data
    out += payload
    if pad:
        out += b"\0" * (pad - 1) + bytes([pad])
    return out

W = {}
W["pcmu"] = rtp(0, 1, 160, 0x11223344, b"\xff" * 160, marker=1)
W["pcma_csrc"] = rtp(8, 2, 320, 0x11223344, b"\xd5" * 160, csrcs=(1, 2, 3))
W["generic_ext"] = rtp(0, 3, 480, 7, b"\x7f" * 20, ext=(0x1234, b"abcdefgh"))
W["rfc8285_ext"] = rtp(0, 4, 640, 7, b"\x7f" * 20, ext=(0xBEDE, b"\x10\xaa\x21\xbb\xcc\x00\x00\x00"))
W["padded"] = rtp(0, 5, 800, 7, b"\x01\x02\x03", pad=5)
# RFC 4733: event 5, volume 10, duration 800, then the end packet.
W["dtmf_start"] = rtp(101, 6, 960, 7, bytes([5, 10]) + struct.pack("!H", 800), marker=1)
W["dtmf_end"] = rtp(101, 7, 960, 7, bytes([5, 0x80 | 10]) + struct.pack("!H", 1600))
W["dtmf_records"] = b"".join(struct.pack("!I", ts) + p for ts, p in [
    (960, bytes([1, 10, 0, 160])), (960, bytes([1, 0x8a, 3, 32])), (2000, bytes([11, 10, 0, 160])),
    (9000, b"\x80\0\0\0"), (9100, bytes([16, 10, 0, 160]))])

def rtcp(pt, count, body):
    return struct.pack("!BBH", 0x80 | count, pt, len(body) // 4) + body

sr = rtcp(200, 1, struct.pack("!IQIII", 7, 0xE1234567_89ABCDEF, 960, 10, 1600)
          + struct.pack("!IIIIII", 0x11223344, (3 << 24) | 5, 70000, 12, 0x45678912, 65536))
cname = b"alice@example.com"
chunk = struct.pack("!IBB", 7, 1, len(cname)) + cname
chunk += b"\0" * (4 - len(chunk) % 4)
sdes = rtcp(202, 1, chunk)
rr = rtcp(201, 1, struct.pack("!I", 8) + struct.pack("!IIIIII", 7, 0xFFFFFF, 1, 2, 3, 4))
reason = b"bye"
bye = rtcp(203, 1, struct.pack("!I", 8) + bytes([len(reason)]) + reason)
W["rtcp_sr_sdes"] = sr + sdes
W["rtcp_rr_bye"] = rr + bye
for name, data in W.items():
    (d / (name + ".bin")).write_bytes(data)
print("wrote", len(W))
