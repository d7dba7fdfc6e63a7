#!/usr/bin/python3
"""tshark dissects every IKEv2 message the codec builds, with no Malformed Packet and no expert
error or warning; scapy's independent IKEv2 implementation builds messages that the codec parses.

Usage: ike_tshark_test.py IKE_TOOL

The messages come from `ike_tool dump` (tests/support/ike_samples.cpp: IKE_SA_INIT request and
responses with INVALID_KE/COOKIE, IKE_AUTH with SK and in fragments, CREATE_CHILD_SA, INFORMATIONAL,
and one clear message with every RFC 7296 payload). Each is written into a pcap as UDP 500 and as
UDP 4500 behind the non-ESP marker (RFC 3948 2.2), then read back with `tshark -V`.
"""
import os
import re
import subprocess
import sys
import tempfile

from scapy.all import IP, UDP, Ether, Raw, wrpcap  # noqa: E402
from scapy.contrib import ikev2  # noqa: E402

BAD = re.compile(r"Malformed|Expert Info \((Error|Warning)")


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def dump(tool):
    out = subprocess.run([tool, "dump"], check=True, capture_output=True, text=True).stdout
    samples = []
    for line in out.splitlines():
        name, hexdata = line.split()
        samples.append((name, bytes.fromhex(hexdata)))
    if len(samples) < 10:
        fail("ike_tool dump gave only %d messages" % len(samples))
    return samples


def frames(samples):
    pkts, expect = [], []
    for name, data in samples:
        for port, prefix in ((500, b""), (4500, b"\x00\x00\x00\x00")):
            pkts.append(Ether() / IP(src="192.0.2.1", dst="192.0.2.2") /
                        UDP(sport=port, dport=port) / Raw(prefix + data))
            expect.append((name, port, data))
    return pkts, expect


def top_level_payloads(data):
    """Count of the outer chain's payloads, walked independently of the codec."""
    count, pos, nxt = 0, 28, data[16]
    while nxt != 0:
        count += 1
        sk = nxt in (46, 53)
        nxt = data[pos]
        pos += int.from_bytes(data[pos + 2:pos + 4], "big")
        if sk:
            break
    return count


def check_detector(samples, workdir):
    """The checker must see a malformed message, or its silence means nothing."""
    name, data = samples[0]
    broken = data[:-40]  # the header and the last payload claim 40 bytes more than sent
    pcap = os.path.join(workdir, "broken.pcap")
    wrpcap(pcap, [Ether() / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=500, dport=500) /
                  Raw(broken)])
    text = subprocess.run(["tshark", "-n", "-r", pcap, "-V"], check=True, capture_output=True,
                          text=True).stdout
    if not BAD.search(text):
        fail("tshark reports nothing on a truncated %s: the check would be blind" % name)


def check_tshark(samples, workdir):
    check_detector(samples, workdir)
    pkts, expect = frames(samples)
    pcap = os.path.join(workdir, "ike.pcap")
    wrpcap(pcap, pkts)
    text = subprocess.run(["tshark", "-n", "-r", pcap, "-V"], check=True, capture_output=True,
                          text=True).stdout
    per_frame = re.split(r"^Frame \d+:", text, flags=re.M)[1:]
    if len(per_frame) != len(expect):
        fail("tshark shows %d frames, expected %d" % (len(per_frame), len(expect)))
    for (name, port, data), frame in zip(expect, per_frame):
        where = "%s on UDP %d" % (name, port)
        bad = [l.strip() for l in frame.splitlines() if BAD.search(l)]
        if bad:
            fail("%s: %s" % (where, "; ".join(bad)))
        head, sep, frame = frame.partition("Internet Security Association and Key Management Protocol")
        if not sep:
            fail("%s: tshark did not dissect it as IKE" % where)
        m = re.search(r"^    Length: (\d+)$", frame, flags=re.M)
        if not m or int(m.group(1)) != len(data):
            fail("%s: tshark reads IKE length %s, sent %d" % (where, m and m.group(1), len(data)))
        m = re.search(r"^    Exchange type: .* \((\d+)\)$", frame, flags=re.M)
        if not m or int(m.group(1)) != data[18]:
            fail("%s: tshark reads exchange type %s, sent %d" % (where, m and m.group(1), data[18]))
        payloads = len(re.findall(r"^    Payload: ", frame, flags=re.M))
        if payloads != top_level_payloads(data):
            fail("%s: tshark shows %d payloads, sent %d" % (where, payloads, top_level_payloads(data)))
    print("tshark: %d frames (%d messages on UDP 500 and 4500), no malformed packet or expert "
          "error/warning" % (len(expect), len(samples)))


def check_scapy_to_codec(tool):
    """scapy's IKEv2 layers build messages; the codec must parse them (and reject broken ones)."""
    # This scapy release fills neither Next Payload nor the KEY_LENGTH attribute by itself: the
    # chain is spelled out, and the cipher is 3DES (no key length).
    t = ikev2.IKEv2_payload_Transform
    sa = ikev2.IKEv2_payload_SA(next_payload=34, prop=ikev2.IKEv2_payload_Proposal(
        proposal=1, proto=1, trans_nb=4,
        trans=t(next_payload=3, transform_type=1, transform_id=3) /
        t(next_payload=3, transform_type=2, transform_id=5) /
        t(next_payload=3, transform_type=3, transform_id=12) /
        t(next_payload=0, transform_type=4, transform_id=14)))
    init = (ikev2.IKEv2(init_SPI=b"\x11" * 8, exch_type=34, flags=0x08) / sa /
            ikev2.IKEv2_payload_KE(next_payload=40, group=14, load=b"\x22" * 256) /
            ikev2.IKEv2_payload_Nonce(next_payload=41, load=b"\x33" * 32) /
            ikev2.IKEv2_payload_Notify(next_payload=41, type=16388, load=b"\x44" * 20) /
            ikev2.IKEv2_payload_Notify(next_payload=43, type=16389, load=b"\x55" * 20) /
            ikev2.IKEv2_payload_VendorID(vendorID=b"esprit-scapy-test"))
    good = bytes(init)
    truncated = bytearray(good[:-3])
    truncated[24:28] = len(truncated).to_bytes(4, "big")
    short_nonce = bytes(ikev2.IKEv2(init_SPI=b"\x11" * 8, exch_type=34, flags=0x08) /
                        ikev2.IKEv2_payload_Nonce(load=b"\x33" * 8))
    lines = "\n".join(x.hex() for x in (good, bytes(truncated), short_nonce)) + "\n"
    out = subprocess.run([tool, "parse"], input=lines, check=True, capture_output=True,
                         text=True).stdout.splitlines()
    if out[0] != "ok SA,KE,Nonce,N,N,V":
        fail("scapy IKE_SA_INIT: codec says %r" % out[0])
    if not out[1].startswith("error truncated"):
        fail("truncated scapy message: codec says %r" % out[1])
    if not out[2].startswith("error invalid_syntax in payload #0 (Nonce)"):
        fail("8-byte nonce: codec says %r" % out[2])
    print("scapy -> codec: IKE_SA_INIT parsed, truncated and short-nonce variants rejected")


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    tool = sys.argv[1]
    samples = dump(tool)
    with tempfile.TemporaryDirectory() as d:
        check_tshark(samples, d)
    check_scapy_to_codec(tool)
    print("PASS")


if __name__ == "__main__":
    main()
