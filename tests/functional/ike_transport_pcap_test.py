#!/usr/bin/python3
"""The IKE transport on a net_pcap port, checked by scapy: IKE datagrams to the gateway on UDP 500
and 4500 (IPv4 and IPv6, and a 3000-byte request in IPv4 fragments) go through the real worker,
LocalServices and IkeTransport; ike_echo_tool's test-only handler sends each message back. scapy
checks every reply: Ethernet to the next hop, IP and UDP headers, checksums (recomputed by scapy),
the non-ESP marker on 4500, and the 3000-byte reply cut into fragments that fit the 1500-byte MTU
and reassemble to the message. Bad datagrams (wrong UDP checksum, bad UDP length, IPv6 without a
UDP checksum) get no reply.

Usage: ike_transport_pcap_test.py IKE_ECHO_TOOL
"""
import os
import subprocess
import sys
import tempfile

from scapy.all import IP, UDP, IPv6, Ether, Raw, rdpcap, wrpcap, conf, defragment
from scapy.layers.inet import fragment

conf.verb = 0
US_MAC, PEER_MAC = "02:00:00:00:00:02", "02:00:00:00:02:02"  # the gateway does not check the destination MAC
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)


def ike(n, tag):
    # An IKE-looking message: nonzero SPI first (never the marker), then a tag and filler.
    return b"\x11" * 8 + bytes([tag]) + bytes((i * 7 + tag) & 0xff for i in range(n - 9))


def main():
    tool = sys.argv[1]
    cases = []  # (request frames, expected reply message, v6, sport, dport)
    frames = []
    for v6 in (False, True):
        for port in (500, 4500):
            tag = len(cases) + 1
            msg = ike(200, tag)
            l3 = IPv6(src="2001:db8:1::1", dst="2001:db8::2") if v6 else IP(src="192.0.2.1", dst="198.51.100.2")
            sport = 500 if port == 500 else 31000  # behind a NAT: any source port
            payload = msg if port == 500 else b"\0\0\0\0" + msg
            frames.append(Ether(src=PEER_MAC, dst=US_MAC) / l3 / UDP(sport=sport, dport=port) / Raw(payload))
            cases.append((msg, v6, port, sport))
    big = ike(3000, 0x55)
    req = IP(src="192.0.2.1", dst="198.51.100.2", id=77) / UDP(sport=4500, dport=4500) / Raw(b"\0\0\0\0" + big)
    for f in fragment(req, fragsize=1480):
        frames.append(Ether(src=PEER_MAC, dst=US_MAC) / f)
    # No reply for these: corrupted checksum, UDP length beyond the packet, IPv6 zero checksum.
    bad = Ether(src=PEER_MAC, dst=US_MAC) / IP(src="192.0.2.1", dst="198.51.100.2") / UDP(sport=500, dport=500) / Raw(ike(60, 0x77))
    bad = Ether(bytes(bad))
    bad[UDP].chksum ^= 0x1234
    frames.append(bad)
    bad2 = Ether(src=PEER_MAC, dst=US_MAC) / IP(src="192.0.2.1", dst="198.51.100.2") / UDP(sport=500, dport=500, len=200) / Raw(ike(60, 0x78))
    frames.append(bad2)
    bad3 = Ether(src=PEER_MAC, dst=US_MAC) / IPv6(src="2001:db8:1::1", dst="2001:db8::2") / UDP(sport=500, dport=500, chksum=0) / Raw(ike(60, 0x79))
    frames.append(bad3)

    with tempfile.TemporaryDirectory() as d:
        rx, tx = os.path.join(d, "rx.pcap"), os.path.join(d, "tx.pcap")
        wrpcap(rx, frames)
        r = subprocess.run([tool, rx, tx], capture_output=True, text=True, timeout=120)
        print(r.stdout.strip())
        if r.returncode != 0:
            print(r.stderr)
            sys.exit(1)
        lines = r.stdout.splitlines()
        us_mac = lines[0].split()[1]
        words = lines[1].split()
        counters = dict(zip(words[0::2], map(int, words[1::2])))
        out = rdpcap(tx) if os.path.exists(tx) else []

    check(counters.get("rx_500") == 2 and counters.get("rx_4500") == 3, "received 2 on 500 and 3 on 4500: %s" % counters)
    check(counters.get("bad_udp_checksum") == 2 and counters.get("bad_udp_length") == 1,
          "bad checksum x2 (one IPv6 zero), bad length x1 counted: %s" % counters)
    check(len(out) == 4 + 3, "7 frames sent (4 replies + 3 fragments), got %d" % len(out))
    replies = [p for p in out if not (IP in p and (p[IP].flags.MF or p[IP].frag))]
    frags = [p for p in out if IP in p and (p[IP].flags.MF or p[IP].frag)]
    for msg, v6, port, sport in cases:
        name = "%s/%d" % ("v6" if v6 else "v4", port)
        match = [p for p in replies if UDP in p and msg in bytes(p[UDP].payload)]
        check(len(match) == 1, name + ": one reply")
        if not match:
            continue
        p = match[0]
        check(p[Ether].dst == PEER_MAC and p[Ether].src == us_mac, name + ": Ethernet to the next hop, from us")
        l3 = p[IPv6] if v6 else p[IP]
        check(l3.src == ("2001:db8::2" if v6 else "198.51.100.2"), name + ": source is our address")
        check(l3.dst == ("2001:db8:1::1" if v6 else "192.0.2.1"), name + ": destination is the peer")
        check(p[UDP].sport == port and p[UDP].dport == sport, name + ": ports swapped")
        check(bytes(p[UDP].payload) == (msg if port == 500 else b"\0\0\0\0" + msg), name + ": marker and message")
        # scapy recomputes the checksums: rebuilding with them cleared must give the same values.
        q = p.copy()
        q[UDP].chksum = None
        if not v6:
            q[IP].chksum = None
            check(IP(bytes(q[IP]))[IP].chksum == p[IP].chksum, name + ": IPv4 header checksum")
            check(not p[IP].flags.DF, name + ": DF clear")
        check(Ether(bytes(q))[UDP].chksum == p[UDP].chksum, name + ": UDP checksum")
    check(len(frags) == 3, "the 3000-byte reply in 3 fragments, got %d" % len(frags))
    for f in frags:
        check(len(f[IP]) <= 1500, "fragment fits the 1500-byte MTU (%d)" % len(f[IP]))
        g = f.copy()
        g[IP].chksum = None
        check(IP(bytes(g[IP]))[IP].chksum == f[IP].chksum, "fragment header checksum")
    whole = defragment([f[IP] for f in frags])
    whole = [w for w in whole if UDP in w and not w.flags.MF]
    check(len(whole) == 1, "fragments reassemble")
    if whole:
        w = IP(bytes(whole[0]))
        check(bytes(w[UDP].payload) == b"\0\0\0\0" + big, "reassembled reply is the marker and the 3000-byte message")
        q = w.copy()
        q[UDP].chksum = None
        check(IP(bytes(q))[UDP].chksum == w[UDP].chksum, "reassembled reply's UDP checksum")
    if failures:
        print("%d failure(s)" % len(failures))
        sys.exit(1)
    print("PASS")


if __name__ == "__main__":
    main()
