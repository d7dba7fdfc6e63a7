#!/usr/bin/python3
"""Config (TOML) and traffic (pcap) for one point of scripts/bench.

  bench_traffic.py MODE SUITE SIZE SAS PACKETS OUT_PREFIX [--replay] [--eal-prefix P] [--mbufs M]

MODE bypass | encap | decap; SUITE gcm | cbc (ignored for bypass); SIZE 64 | imix | 1420 (inner IP
bytes; IMIX is 7 x 64 : 4 x 576 : 1 x 1500); SAS: number of flows, each with its own SPD rule and,
for encap/decap, its own SA; PACKETS: distinct packets in the pcap, packet i belongs to flow i % SAS.
Writes OUT_PREFIX.toml and OUT_PREFIX.pcap.

Topology (one worker lcore):
  bypass, encap: port "lan" (protected, 10.1.0.1/16) = net_pcap replaying OUT_PREFIX.pcap forever
                 (infinite_rx=1): UDP 10.1.0.5 -> 10.128.0.0 + flow; port "wan" (unprotected,
                 192.0.2.1/24) = net_null. Rule i: out, 10.1.0.0/16 -> 10.128.0.0+i/32, bypass or
                 protect with SA "o<i>" (SPI 0x10000 + i, tunnel 192.0.2.1 -> 192.0.2.2).
  decap:         port "wan" = net_pcap replaying ESP 192.0.2.2 -> 192.0.2.1 (SPI 0x10000 + flow),
                 inner UDP 10.128.0.0+flow -> 10.1.0.5; port "lan" = net_null. Rule i: in,
                 10.128.0.0+i/32 -> 10.1.0.0/16, protect, sa_in "i<i>". anti_replay = false unless
                 --replay: infinite_rx replays the same sequence numbers on every pass.
The ESP packets are built here with the `cryptography` package (RFC 4303 tunnel mode; RFC 4106
AES-GCM with an 8-byte IV; AES-CBC (RFC 3602) + HMAC-SHA1-96 (RFC 2404)), independently of the
engine; the first one is checked by decrypting it with scapy's ESP layer.
"""
import argparse
import os
import hashlib
import hmac
import struct
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

LAN_MAC = b"\x02\x00\x00\x00\x00\x01"
SRC_MAC = b"\x02\x00\x00\x00\x01\x01"
IMIX = [64] * 7 + [576] * 4 + [1500]
LOCAL, PEER = "192.0.2.1", "192.0.2.2"
HOST = "10.1.0.5"


def ip4(s):
    return bytes(int(x) for x in s.split("."))


def flow_ip(i):
    v = (10 << 24) | (128 << 16) | i
    return "%d.%d.%d.%d" % (v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255)


def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src, dst, proto, payload):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0x4000, 64, proto, 0, ip4(src), ip4(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload


def udp_packet(src, dst, size, sport):
    body = b"b" * (size - 28)
    return ipv4(src, dst, 17, struct.pack("!HHHH", sport, 2000, 8 + len(body), 0) + body)


def keys(suite, i):
    h = hashlib.sha256(b"esprit-bench-%d" % i).digest()
    return (h[:20], None) if suite == "gcm" else (h[:16], h[16:32][:20] + h[:4])


def esp(suite, ek, ak, spi, seq, inner):
    block = 4 if suite == "gcm" else 16
    padlen = (-(len(inner) + 2)) % block
    plain = inner + bytes(range(1, padlen + 1)) + bytes([padlen, 4])
    hdr = struct.pack("!II", spi, seq)
    if suite == "gcm":
        iv = struct.pack("!Q", seq)
        return hdr + iv + AESGCM(ek[:16]).encrypt(ek[16:] + iv, plain, hdr)
    iv = hashlib.md5(hdr).digest()
    enc = Cipher(algorithms.AES(ek), modes.CBC(iv)).encryptor()
    body = hdr + iv + enc.update(plain) + enc.finalize()
    return body + hmac.new(ak, body, hashlib.sha1).digest()[:12]


def check_with_scapy(suite, ek, ak, spi, frame, inner):
    from scapy.layers.inet import IP
    from scapy.layers.ipsec import ESP, SecurityAssociation
    sa = SecurityAssociation(ESP, spi=spi, crypt_algo="AES-GCM" if suite == "gcm" else "AES-CBC", crypt_key=ek,
                             auth_algo=None if suite == "gcm" else "HMAC-SHA1-96", auth_key=ak,
                             tunnel_header=IP(src=PEER, dst=LOCAL))
    out = sa.decrypt(IP(frame[14:]))
    if bytes(out) != inner:
        sys.exit("bench_traffic: scapy does not decrypt our ESP packet to the inner packet")


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for n, fr in enumerate(frames):
            f.write(struct.pack("<IIII", n // 1000000, n % 1000000, len(fr), len(fr)))
            f.write(fr)


def sa_toml(mode, suite, i, replay):
    ek, ak = keys(suite, i)
    out = mode == "encap"
    lines = ["[[sa]]", 'name = "%s%d"' % ("o" if out else "i", i), "spi = %d" % (0x10000 + i),
             'direction = "%s"' % ("out" if out else "in"), 'local = "%s"' % LOCAL, 'remote = "%s"' % PEER,
             'encr = "%s"' % ("aes128gcm16" if suite == "gcm" else "aes128"), 'encr_key = "%s"' % ek.hex()]
    if suite == "cbc":
        lines += ['integ = "sha1"', 'integ_key = "%s"' % ak.hex()]
    if not out:
        lines.append("anti_replay = %s" % ("true" if replay else "false"))
    return "\n".join(lines) + "\n"


def policy_toml(mode, i):
    if mode == "decap":
        return ('[[policy]]\nname = "p%d"\ndirection = "in"\nsrc = "%s/32"\ndst = "10.1.0.0/16"\naction = "protect"\n'
                'sa_in = "i%d"\n' % (i, flow_ip(i), i))
    act = 'action = "bypass"' if mode == "bypass" else 'action = "protect"\nsa = "o%d"' % i
    return '[[policy]]\nname = "p%d"\ndirection = "out"\nsrc = "10.1.0.0/16"\ndst = "%s/32"\n%s\n' % (i, flow_ip(i), act)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["bypass", "encap", "decap"])
    ap.add_argument("suite", choices=["gcm", "cbc"])
    ap.add_argument("size", choices=["64", "imix", "1420"])
    ap.add_argument("sas", type=int)
    ap.add_argument("packets", type=int)
    ap.add_argument("out")
    ap.add_argument("--replay", action="store_true", help="decap SAs with anti_replay = true")
    ap.add_argument("--eal-prefix", default="esprit-bench")
    ap.add_argument("--mbufs", type=int, default=0, help="[daemon] mbufs (default: packets + 16384)")
    a = ap.parse_args()
    if not 1 <= a.sas <= (1 << 16) * 127 or a.packets < 1:
        sys.exit("bench_traffic: bad SAS or PACKETS")

    sizes = IMIX if a.size == "imix" else [int(a.size)]
    frames = []
    seq = [0] * a.sas
    ciphers = {}
    for n in range(a.packets):
        i = n % a.sas
        size = sizes[n % len(sizes)]
        if a.mode != "decap":
            frames.append(LAN_MAC + SRC_MAC + b"\x08\x00" + udp_packet(HOST, flow_ip(i), size, 1000 + n % 1000))
            continue
        inner = udp_packet(flow_ip(i), HOST, size, 1000 + n % 1000)
        if i not in ciphers:
            ciphers[i] = keys(a.suite, i)
        ek, ak = ciphers[i]
        seq[i] += 1
        frame = LAN_MAC + SRC_MAC + b"\x08\x00" + ipv4(PEER, LOCAL, 50, esp(a.suite, ek, ak, 0x10000 + i, seq[i], inner))
        if n == 0:
            check_with_scapy(a.suite, ek, ak, 0x10000 + i, frame, inner)
        frames.append(frame)
    write_pcap(a.out + ".pcap", frames)

    rx_port, sink = ("wan", "lan") if a.mode == "decap" else ("lan", "wan")
    dev = {rx_port: "net_pcap0,rx_pcap=%s.pcap,infinite_rx=1" % a.out, sink: "net_null0,no-rx=1"}
    mbufs = a.mbufs or a.packets + 16384
    with open(a.out + ".toml", "w") as f:
        f.write('[daemon]\nmbufs = %d\ncontrol_socket = "%s.sock"\n\n[eal]\nargs = ["--no-huge", "-m %d", "-l 0,1", '
                '"--no-shconf", "--file-prefix %s"]\n\n'
                % (mbufs, os.path.abspath(a.out), 1024 + mbufs * 5 // 1024, a.eal_prefix))
        f.write('[[port]]\nname = "lan"\ndevice = "%s"\nrole = "protected"\nipv4 = ["10.1.0.1/16"]\nmtu = 2000\n\n'
                % dev["lan"])
        f.write('[[port]]\nname = "wan"\ndevice = "%s"\nrole = "unprotected"\nipv4 = ["192.0.2.1/24"]\nmtu = 2000\n\n'
                % dev["wan"])
        f.write('[[route]]\nprefix = "10.128.0.0/9"\nvia = "%s"\n\n' % PEER)
        f.write('[[neighbor]]\nip = "%s"\nmac = "02:00:00:00:02:02"\nport = "wan"\n\n' % PEER)
        f.write('[[neighbor]]\nip = "%s"\nmac = "02:00:00:00:01:01"\nport = "lan"\n\n' % HOST)
        for i in range(a.sas):
            if a.mode != "bypass":
                f.write(sa_toml(a.mode, a.suite, i, a.replay))
            f.write(policy_toml(a.mode, i))


if __name__ == "__main__":
    main()
