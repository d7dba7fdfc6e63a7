#!/usr/bin/python3
"""Esprit's ESP engine against an independent implementation: scapy.layers.ipsec.

usage: esp_scapy_test.py ESP_TOOL [SUBSTRING...]
  ESP_TOOL   tests/tools/esp_tool (one encap_burst/decap_burst per run, JSON in and out)
  SUBSTRING  run only the cases whose name contains one of them

Per case, in both directions:
  decap  scapy encrypts the inner packets, esp_tool decapsulates them as ONE burst with an inbound
         SA of the same keys; every output must equal its original byte for byte.
  encap  esp_tool encapsulates the originals as ONE burst with an outbound SA; scapy must decrypt
         every output back to its original, and scapy re-encrypting the original with the same
         sequence number and IV must give the very same ESP bytes (SPI to ICV: padding, pad length,
         next header, ICV). The outer IPv4/IPv6 and UDP headers are checked field by field.
Plus negative checks (ICV failure, replay, too old, wrong SPI, sequence-number exhaustion),
RFC 6040 ECN decapsulation over every outer/inner ECN pair, TFC padding after the inner packet,
and IPv6 transport with a Routing header (where scapy and Esprit place ESP differently).

The matrix (matrix()): AES-GCM-128/192/256 with 8, 12 and 16-byte ICVs, ChaCha20-Poly1305,
AES-CBC-128/192/256 and 3DES-CBC with HMAC-SHA1-96, SHA2-256-128, SHA2-384-192, SHA2-512-256 and
HMAC-MD5-96, NULL with each HMAC; in tunnel mode over IPv4 and IPv6 with mixed IPv4/IPv6 inner
packets, and in transport mode over IPv4 (with an IP option now and then) and IPv6 (with
Hop-by-Hop and Destination Options headers now and then); NAT-T, also with a NAT-mapped peer port;
ESN with a high half of 0, of 5, and crossing 2^32 inside a 257-packet burst. Bursts of 257
packets take every pad length; half of the tunnel SAs put an IPv4 option or an IPv6 Destination
Options header in the outer header that Esprit has to skip.

Needs Debian's /usr/bin/python3 (python3-scapy 2.5 and python3-cryptography); no tshark.

scapy 2.5 quirks worked around here (each one checked against its RFC):
  * AES-GCM ignores crypt_icv_size and always appends the full 16-byte tag (it uses the
    cryptography AEAD API). For 8- and 12-byte ICVs (RFC 4106 8.1) the SA gets a CryptAlgo built
    on the Cipher/modes.GCM API, which scapy's own code path truncates and verifies correctly.
  * With ESN, scapy leaves the high 32 bits of the sequence number out of the ESP ICV (it adds
    them for AH only); RFC 4303 2.2.1 and 3.3.2.2 authenticate them right after the trailer. For
    HMAC with ESN the SA gets an AuthAlgo that appends them. AEAD ESN (12-byte AAD) is native.
  * nat_t_header over IPv4 leaves UDP length 8 (the header is frozen before the ESP is added) and
    the checksum 0; both are recomputed before the packet goes to Esprit. scapy's decrypt also
    cannot restore an IPv6 transport packet from ESP-in-UDP, so the UDP header is removed
    (IP protocol / next header set to 50) before scapy decrypts Esprit's NAT-T output. With IPv6
    extension headers, nat_t_header leaves next header 50 in the last one; it is set to 17.
  * SecurityAssociation.encrypt(seq_num=0) falls back to the SA's counter, so the sequence number
    is set through sa.seq_num (low half 0 occurs when an ESN burst crosses 2^32).
"""
import json
import os
import random
import struct
import subprocess
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import warnings
warnings.filterwarnings("ignore")  # cryptography's TripleDES / CAST deprecation notices

from cryptography.hazmat.primitives.ciphers import algorithms, modes
from scapy.all import (ICMP, IP, TCP, UDP, IPOption_Router_Alert, IPv6, IPv6ExtHdrDestOpt,
                       IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, ICMPv6EchoRequest, Raw, raw)
from scapy.layers.ipsec import (AUTH_ALGOS, ESP, AuthAlgo, CryptAlgo, IPSecIntegrityError,
                                SecurityAssociation, split_for_transport)

SPI = 0x1000abcd
ESPRIT_V4, PEER_V4 = "192.0.2.1", "198.51.100.2"
ESPRIT_V6, PEER_V6 = "2001:db8::1", "2001:db8::2"
OUTER_TTL = 64  # SaDescriptor default

# ---------------------------------------------------------------------------------------------
# Algorithms: Esprit registry name -> scapy name and key sizes.


@dataclass(frozen=True)
class Encr:
    name: str           # Esprit registry name
    scapy: str          # scapy CRYPT_ALGOS key, or None for NULL
    key_len: int        # with the salt
    icv: int = 0        # AEAD ICV bytes
    align: int = 4      # padding boundary (lcm of cipher block and 4)
    iv_len: int = 0

    @property
    def aead(self):
        return self.icv != 0


@dataclass(frozen=True)
class Integ:
    name: str
    scapy: str
    key_len: int
    icv: int


ENCR = {e.name: e for e in [
    *(Encr(f"aes{b}gcm{icv}", "AES-GCM", b // 8 + 4, icv, 4, 8) for b in (128, 192, 256) for icv in (8, 12, 16)),
    Encr("chacha20poly1305", "CHACHA20-POLY1305", 36, 16, 4, 8),
    *(Encr(f"aes{b}", "AES-CBC", b // 8, 0, 16, 16) for b in (128, 192, 256)),
    Encr("3des", "3DES", 24, 0, 8, 8),
    Encr("null", None, 0, 0, 4, 0),
]}
INTEG = {i.name: i for i in [
    Integ("none", None, 0, 0),
    Integ("md5", "HMAC-MD5-96", 16, 12),
    Integ("sha1", "HMAC-SHA1-96", 20, 12),
    Integ("sha256", "SHA2-256-128", 32, 16),
    Integ("sha384", "SHA2-384-192", 48, 24),
    Integ("sha512", "SHA2-512-256", 64, 32),
]}


def truncating_gcm(icv):
    """AES-GCM on cryptography's Cipher API, which scapy truncates to `icv` bytes (see above)."""
    return CryptAlgo("AES-GCM", cipher=algorithms.AES, mode=modes.GCM, key_size=(16, 24, 32),
                     salt_size=4, block_size=1, iv_size=8, icv_size=icv,
                     format_mode_iv=lambda sa, iv, **kw: sa.crypt_salt + iv)


class EsnHmac(AuthAlgo):
    """HMAC over SPI..next header followed by the ESN high half (RFC 4303 3.3.2.2)."""

    def __init__(self, base, esn_hi):
        super().__init__(base.name, base.mac, base.digestmod, base.icv_size, base.key_size)
        self.esn_hi = esn_hi

    def _icv(self, esp_bytes, key):
        mac = self.new_mac(key)
        mac.update(esp_bytes + struct.pack("!L", self.esn_hi))
        return mac.finalize()[:self.icv_size]

    def sign(self, pkt, key, esn_en=False, esn=0):
        pkt[ESP].data += self._icv(raw(pkt[ESP]), key)
        return pkt

    def verify(self, pkt, key, esn_en=False, esn=0):
        body, icv = raw(pkt)[:-self.icv_size], raw(pkt)[-self.icv_size:]
        if self._icv(body, key) != icv:
            raise IPSecIntegrityError("ESN HMAC mismatch")


# ---------------------------------------------------------------------------------------------
# Cases


@dataclass
class Case:
    encr: str
    integ: str
    mode: str               # tunnel | transport
    outer: str              # v4 | v6 (transport: the packets' own family)
    inner: str              # v4 | v6 | mix (tunnel only)
    natt: bool = False
    esn: bool = False
    count: int = 5          # packets per burst
    natt_peer_port: int = 4500
    seed: int = 0
    keys: dict = field(default_factory=dict)

    @property
    def name(self):
        fam = f"{self.outer}/{self.inner}" if self.mode == "tunnel" else self.outer
        s = f"{self.encr}-{self.integ} {self.mode} {fam}"
        if self.natt:
            s += " natt" + ("" if self.natt_peer_port == 4500 else f":{self.natt_peer_port}")
        if self.esn:
            s += " esn"
        return s + f" x{self.count}"

    @property
    def first_seq(self):
        """Decap and encap start here. ESN bursts of 257 cross 2^32 in their third batch of 64: the
        receiver's window starts at 0, so the first batch must stay a window (64) below 2^32: RFC 4303
        A.2 would place it in the subspace before 0."""
        if self.esn and self.count > 64:
            return (1 << 32) - 160
        return 1

    @property
    def encap_first_seq(self):
        if self.esn and self.count <= 64:
            return (5 << 32) + 7  # high half 5: only right if both sides authenticate it
        return self.first_seq


def make_keys(case):
    rng = random.Random(f"keys {case.seed}")
    e, i = ENCR[case.encr], INTEG[case.integ]
    case.keys = {"encr": rng.randbytes(e.key_len), "integ": rng.randbytes(i.key_len)}


def matrix():
    aead = [n for n, e in ENCR.items() if e.aead]
    cbc = ["aes128", "aes192", "aes256", "3des"]
    hmacs = ["sha1", "sha256", "sha384", "sha512", "md5"]
    algos = [(a, "none") for a in aead] + [(c, h) for c in cbc for h in hmacs] + [("null", h) for h in hmacs]
    # Every algorithm runs four shapes; together they cover both modes and families, v4-in-v6 and
    # v6-in-v4, NAT-T and ESN for each. One shape (rotating) gets a 257-packet burst, for every AEAD
    # and for each CBC cipher and NULL with one HMAC each, so that every cipher and every HMAC sees
    # every pad length. The other CBC/NULL + HMAC pairs (same code path as the big ones, only the
    # algorithms differ) run two 5-packet shapes that still span both modes and families: an esp_tool
    # run costs ~0.2 s of EAL start-up, and the whole script should stay well under a minute.
    big = {(a, "none") for a in aead} | {(c, hmacs[n]) for n, c in enumerate(cbc)} | {("null", "md5")}
    shapes = [
        dict(mode="tunnel", outer="v4", inner="mix"),
        dict(mode="tunnel", outer="v6", inner="mix", natt=True, esn=True),
        dict(mode="transport", outer="v4", inner="v4", natt=True),
        dict(mode="transport", outer="v6", inner="v6", esn=True),
    ]
    cases = []
    nbig = 0
    for k, (e, i) in enumerate(algos):
        for s, shape in enumerate(shapes):
            if (e, i) not in big and s not in ((1, 2), (0, 3))[k % 2]:
                continue  # pairs: tunnel v6 + transport v4 with NAT-T and ESN; tunnel v4 + transport v6
            c = Case(e, i, **shape, count=257 if (e, i) in big and s == nbig % len(shapes) else 5)
            if c.natt and k % 3 == 1:
                c.natt_peer_port = 31337  # the peer behind a NAT that rewrote its port
            cases.append(c)
        nbig += (e, i) in big
    # Extra: ESN crossing 2^32 for every cipher family, and 257-packet NAT-T ESN tunnels.
    cases += [
        Case("aes128gcm16", "none", "tunnel", "v4", "mix", natt=True, esn=True, count=257),
        Case("aes256", "sha256", "tunnel", "v4", "mix", esn=True, count=257),
        Case("3des", "sha1", "transport", "v4", "v4", esn=True, count=257),
        Case("null", "sha512", "tunnel", "v6", "v6", esn=True, count=257),
        Case("chacha20poly1305", "none", "transport", "v6", "v6", natt=True, esn=True, count=257),
    ]
    for n, c in enumerate(cases):
        c.seed = n
        make_keys(c)
    return cases


# ---------------------------------------------------------------------------------------------
# Packets


def inner_packets(case):
    """Inner (tunnel) or transport packets as bytes; sizes vary so every pad length occurs."""
    rng = random.Random(f"pkts {case.seed}")
    out = []
    for i in range(case.count):
        fam = case.inner if case.mode == "tunnel" else case.outer
        if fam == "mix":
            fam = "v6" if i % 3 == 1 else "v4"
        # Big bursts: i // 4 steps by 19 (odd), so for every family and kind of packet the payload
        # length takes every residue mod 16 and every pad length occurs (pad_lengths() checks it).
        plen = (i // 4) * 19 if case.count > 16 else [0, 1, 13, 100, 1400][i % 5]
        payload = Raw(rng.randbytes(plen))
        kind = i % 4
        # Ports scapy does not dissect further: random bytes on 53 or 500 parse as DNS or ISAKMP and
        # need not rebuild to the same bytes. 4500 makes the inner packet look like ESP-in-UDP.
        if fam == "v4":
            ip = IP(src="10.0.0.1", dst="10.0.1.1", tos=rng.randrange(256), id=rng.randrange(65536),
                    flags="DF" if i % 2 else 0, ttl=rng.randrange(1, 256))
            if case.mode == "transport" and i % 5 == 3:
                ip.options = [IPOption_Router_Alert()]  # a longer header must stay in front of ESP
            l4 = [UDP(sport=33333, dport=44444), TCP(sport=1234, dport=443, flags="PA"),
                  ICMP(id=i, seq=i), UDP(sport=4500, dport=4500)][kind]
        else:
            ip = IPv6(src="2001:db8:1::1", dst="2001:db8:2::1", tc=rng.randrange(256), fl=rng.randrange(1 << 20),
                      hlim=rng.randrange(1, 256))
            if case.mode == "transport" and i % 5 == 3:
                ip = ip / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt()  # ESP goes after both
            l4 = [UDP(sport=33333, dport=44444), TCP(sport=1234, dport=443, flags="S"),
                  ICMPv6EchoRequest(id=i, seq=i), UDP(sport=4500, dport=4500)][kind]
        out.append(bytes(ip / l4 / payload))
    return out


def pad_lengths(case, packets):
    """The pad lengths RFC 4303 2.4's minimal padding gives these packets."""
    align = ENCR[case.encr].align
    pads = set()
    for p in packets:
        n = len(p) if case.mode == "tunnel" else len(raw(split_for_transport(parse_ip(p), 50)[2]))
        pads.add(-(n + 2) % align)
    return pads


def expect_every_pad(case, packets):
    if case.count > 64:
        pads = pad_lengths(case, packets)
        expect(len(pads) == ENCR[case.encr].align, f"test data: pad lengths {sorted(pads)} only")


def parse_ip(b):
    return IP(b) if b[0] >> 4 == 4 else IPv6(b)


# ---------------------------------------------------------------------------------------------
# scapy SAs


def addrs(case):
    """(esprit, peer) outer addresses; transport SAs name the packets' own addresses."""
    if case.mode == "transport":
        return ("10.0.1.1", "10.0.0.1") if case.outer == "v4" else ("2001:db8:2::1", "2001:db8:1::1")
    return (ESPRIT_V4, PEER_V4) if case.outer == "v4" else (ESPRIT_V6, PEER_V6)


def scapy_sa(case, esn_hi, natt=False):
    """The peer's SA. Tunnel header: peer -> Esprit (only its presence matters for decrypt)."""
    e, i = ENCR[case.encr], INTEG[case.integ]
    esprit, peer = addrs(case)
    tunnel = None
    if case.mode == "tunnel":
        tunnel = IP(src=peer, dst=esprit) if case.outer == "v4" else IPv6(src=peer, dst=esprit)
        if case.seed % 2:  # the receiver must find ESP (or UDP) behind a longer outer header
            tunnel = IP(src=peer, dst=esprit, options=[IPOption_Router_Alert()]) if case.outer == "v4" \
                else IPv6(src=peer, dst=esprit) / IPv6ExtHdrDestOpt()
    sa = SecurityAssociation(
        ESP, spi=SPI, crypt_algo=e.scapy, crypt_key=case.keys["encr"] or None,
        crypt_icv_size=e.icv or None, auth_algo=i.scapy, auth_key=case.keys["integ"] or None,
        tunnel_header=tunnel,
        nat_t_header=UDP(sport=case.natt_peer_port, dport=4500) if natt else None,
        esn_en=case.esn and e.aead, esn=esn_hi if e.aead else 0)
    if e.scapy == "AES-GCM" and e.icv != 16:
        sa.crypt_algo = truncating_gcm(e.icv)
    if case.esn and not e.aead:
        sa.auth_algo = EsnHmac(AUTH_ALGOS[i.scapy], esn_hi)
    return sa


class ScapySas:
    def __init__(self, case, natt=False):
        self.case, self.natt, self.sas = case, natt, {}

    def __call__(self, esn_hi):
        if esn_hi not in self.sas:
            self.sas[esn_hi] = scapy_sa(self.case, esn_hi, self.natt)
        return self.sas[esn_hi]


def encrypt_with(sa, pkt_bytes, seq, iv=None):
    sa.seq_num = seq & 0xffffffff
    out = sa.encrypt(parse_ip(pkt_bytes), iv=iv)
    if sa.nat_t_header:
        u = out[UDP]
        u.len = None     # scapy 2.5 froze it at 8 (IPv4)
        u.chksum = None  # and left it 0; a valid one is what a peer would send over IPv6
        if not isinstance(u.underlayer, (IP, IPv6)):
            u.underlayer.nh = 17  # last IPv6 extension header: scapy left 50 there
    return raw(out)


def scapy_encrypt(sas, pkt_bytes, seq, iv=None):
    return encrypt_with(sas(seq >> 32), pkt_bytes, seq, iv)


def without_udp(pkt):
    """ESP-in-UDP -> plain ESP (protocol 50) that scapy's transport decrypt can undo."""
    esp = raw(pkt[UDP].payload)
    ul = pkt[UDP].underlayer
    ul.remove_payload()
    if isinstance(ul, IP):
        ul.proto = 50
    else:
        ul.nh = 50
    if isinstance(pkt, IP):
        del pkt.len, pkt.chksum
    else:
        del pkt.plen
    return parse_ip(raw(pkt / ESP(esp)))


# ---------------------------------------------------------------------------------------------
# esp_tool


def sa_json(case, direction):
    e, i = ENCR[case.encr], INTEG[case.integ]
    esprit, peer = addrs(case)
    d = {"spi": SPI, "direction": direction, "mode": case.mode, "local": esprit, "remote": peer,
         "encr": e.name, "encr_key": case.keys["encr"].hex(), "integ": i.name,
         "integ_key": case.keys["integ"].hex(), "esn": case.esn, "anti_replay": True, "replay_window": 64,
         "natt": {"local_port": 4500, "remote_port": case.natt_peer_port} if case.natt else None}
    return d


def esp_tool(tool, sa, packets):
    req = json.dumps({"sa": sa, "packets": [p.hex() for p in packets]})
    r = subprocess.run([tool], input=req, capture_output=True, text=True, timeout=120)
    try:
        res = json.loads(r.stdout)
    except ValueError:
        raise AssertionError(f"esp_tool exit {r.returncode}, stdout {r.stdout[:200]!r}, stderr {r.stderr[-400:]!r}")
    if r.returncode != 0 or "error" in res:
        raise AssertionError(f"esp_tool exit {r.returncode}: {res.get('error')} {r.stderr[-400:]}")
    res["packets"] = [bytes.fromhex(p) for p in res["packets"]]
    return res


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def expect_all_ok(res, n):
    expect(res["ok"] == n and res["failed"] == 0 and not res["drops"],
           f"ok {res['ok']}/{n}, drops {res['drops']}")


# ---------------------------------------------------------------------------------------------
# The two directions


def check_decap(tool, case):
    """scapy encrypts -> Esprit decapsulates -> the originals, byte for byte."""
    orig = inner_packets(case)
    expect_every_pad(case, orig)
    sas = ScapySas(case, natt=case.natt)
    seqs = [case.first_seq + k for k in range(len(orig))]
    wire = [scapy_encrypt(sas, p, s) for p, s in zip(orig, seqs)]
    res = esp_tool(tool, sa_json(case, "inbound"), wire)
    expect_all_ok(res, len(orig))
    for k, (got, want) in enumerate(zip(res["packets"], orig)):
        expect(got == want, f"packet {k} (seq {seqs[k]:#x}) differs:\n  got  {got.hex()}\n  want {want.hex()}")
    expect(res["sequence"] == seqs[-1], f"window top {res['sequence']:#x}, want {seqs[-1]:#x}")


def ones_sum_ok(hdr):
    s = sum(struct.unpack(f"!{len(hdr) // 2}H", hdr))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s == 0xffff


def check_outer(case, k, out, orig):
    """Outer IP (and UDP) fields Esprit sets on encapsulation, checked without trusting scapy's
    auto-fields."""
    o = parse_ip(out)
    i = parse_ip(orig)
    esprit, peer = addrs(case)
    v4 = case.outer == "v4"
    expect((out[0] >> 4) == (4 if v4 else 6), f"packet {k}: outer version {out[0] >> 4}")
    if v4:
        ihl = (out[0] & 15) * 4
        expect(ones_sum_ok(out[:ihl]), f"packet {k}: bad IPv4 header checksum")
        expect(o.len == len(out), f"packet {k}: IPv4 total length {o.len} != {len(out)}")
        expect(o.frag == 0 and not o.flags.MF, f"packet {k}: fragment bits set")
    else:
        expect(o.plen == len(out) - 40, f"packet {k}: IPv6 payload length {o.plen} != {len(out) - 40}")
    if case.mode == "tunnel":
        expect((o.src, o.dst) == (esprit, peer), f"packet {k}: outer {o.src} -> {o.dst}")
        expect((o.ttl if v4 else o.hlim) == OUTER_TTL, f"packet {k}: outer TTL")
        expect((o.proto if v4 else o.nh) == (17 if case.natt else 50), f"packet {k}: outer protocol")
        inner_tos = i.tos if isinstance(i, IP) else i.tc
        outer_tos = o.tos if v4 else o.tc
        expect(outer_tos == inner_tos, f"packet {k}: outer TOS {outer_tos:#x}, inner {inner_tos:#x} (copy mode)")
        if v4:
            df = isinstance(i, IPv6) or bool(i.flags.DF)
            expect(bool(o.flags.DF) == df, f"packet {k}: outer flags {o.flags}, inner {i.summary()}")
    if case.natt:
        expect(UDP in o, f"packet {k}: no UDP header")
        u = o[UDP]
        expect((u.sport, u.dport) == (4500, case.natt_peer_port), f"packet {k}: UDP ports {u.sport}->{u.dport}")
        expect(u.len == len(raw(u)), f"packet {k}: UDP length {u.len} != {len(raw(u))}")
        if v4:
            expect(u.chksum == 0, f"packet {k}: IPv4 NAT-T UDP checksum {u.chksum:#x}, RFC 3948 2.1 says 0")
        else:
            c = o.copy()
            c[UDP].chksum = None
            want = parse_ip(raw(c))[UDP].chksum
            expect(u.chksum == want, f"packet {k}: IPv6 UDP checksum {u.chksum:#x}, want {want:#x}")


def check_encap(tool, case):
    """Esprit encapsulates -> scapy decrypts every packet back; scapy re-encrypting gives the same
    ESP bytes."""
    e = ENCR[case.encr]
    orig = inner_packets(case)
    expect_every_pad(case, orig)
    sa = sa_json(case, "outbound")
    first = case.encap_first_seq
    if first != 1:  # otherwise the SA's own start (1) is what is checked
        sa["next_seq"] = first
    res = esp_tool(tool, sa, orig)
    expect_all_ok(res, len(orig))
    expect(res["sequence"] == first + len(orig) - 1, f"last sequence {res['sequence']:#x}")
    sas = ScapySas(case)
    ivs = set()
    for k, (out, want) in enumerate(zip(res["packets"], orig)):
        seq = first + k
        check_outer(case, k, out, want)
        pkt = parse_ip(out)
        expect(ESP in pkt, f"packet {k}: no ESP header in {pkt.summary()}")
        esp = raw(pkt[ESP])
        spi, seq_lo = struct.unpack("!LL", esp[:8])
        expect(spi == SPI and seq_lo == seq & 0xffffffff, f"packet {k}: SPI {spi:#x} seq {seq_lo:#x}, want {seq:#x}")
        iv = esp[8:8 + e.iv_len]
        if e.aead:  # Esprit's documented choice (esp_encap.cpp): IV = the 64-bit sequence number
            expect(iv == struct.pack("!Q", seq), f"packet {k}: AEAD IV {iv.hex()} != seq {seq:#x}")
        elif e.iv_len:
            expect(iv not in ivs, f"packet {k}: CBC IV {iv.hex()} repeated")
            ivs.add(iv)
        if case.natt:
            pkt = without_udp(pkt)
        try:
            plain = sas(seq >> 32).decrypt(pkt)
        except IPSecIntegrityError as ex:
            raise AssertionError(f"packet {k} (seq {seq:#x}): scapy integrity check failed: {ex}")
        expect(raw(plain) == want, f"packet {k} (seq {seq:#x}) decrypts to\n  {raw(plain).hex()}\n  want {want.hex()}")
        again = raw(parse_ip(scapy_encrypt(sas, want, seq, iv=iv))[ESP])
        expect(again == esp, f"packet {k} (seq {seq:#x}): ESP differs from scapy's with the same IV\n"
                             f"  esprit {esp.hex()}\n  scapy  {again.hex()}")


# ---------------------------------------------------------------------------------------------
# Negative checks


def neg_icv(tool, case):
    """One flipped ciphertext byte: that packet alone is dropped as icv_fail."""
    orig = inner_packets(case)
    sas = ScapySas(case, natt=case.natt)
    wire = [bytearray(scapy_encrypt(sas, p, case.first_seq + k)) for k, p in enumerate(orig)]
    bad = 1
    icv = ENCR[case.encr].icv or INTEG[case.integ].icv
    wire[bad][len(wire[bad]) - icv - 3] ^= 0x20  # inside the encrypted trailer region
    res = esp_tool(tool, sa_json(case, "inbound"), [bytes(w) for w in wire])
    expect(res["ok"] == len(orig) - 1 and res["drops"] == {"icv_fail": 1}, f"ok {res['ok']}, drops {res['drops']}")
    expect(res["packets"] == orig[:bad] + orig[bad + 1:], "surviving packets differ")


def neg_replay(tool, case):
    """Seq 1..70 then 20 again in a later batch of 64, and 70 again in the same batch: replay."""
    orig = inner_packets(case)[:70]
    sas = ScapySas(case, natt=case.natt)
    wire = [scapy_encrypt(sas, p, k + 1) for k, p in enumerate(orig)]
    res = esp_tool(tool, sa_json(case, "inbound"), wire + [wire[19], wire[69]])
    expect(res["ok"] == 70 and res["drops"] == {"replay": 2}, f"ok {res['ok']}, drops {res['drops']}")
    expect(res["packets"] == orig, "accepted packets differ")


def neg_too_old(tool, case):
    """With a 64-packet window, seq 100 after seq 200 is too old; 150 still fits."""
    orig = inner_packets(case)[:5]
    sas = ScapySas(case, natt=case.natt)
    seqs = [1, 2, 200, 100, 150]
    wire = [scapy_encrypt(sas, p, s) for p, s in zip(orig, seqs)]
    res = esp_tool(tool, sa_json(case, "inbound"), wire)
    expect(res["ok"] == 4 and res["drops"] == {"too_old": 1}, f"ok {res['ok']}, drops {res['drops']}")
    expect(res["packets"] == orig[:3] + orig[4:], "accepted packets differ")


def neg_spi(tool, case):
    """A packet of another SA (SPI + 1) is not decrypted: bad_spi."""
    orig = inner_packets(case)[:3]
    sas = ScapySas(case, natt=case.natt)
    wire = [scapy_encrypt(sas, p, k + 1) for k, p in enumerate(orig)]
    other = scapy_sa(case, 0, case.natt)
    other.spi = SPI + 1
    wire[1] = encrypt_with(other, orig[1], 2)
    res = esp_tool(tool, sa_json(case, "inbound"), wire)
    expect(res["ok"] == 2 and res["drops"] == {"bad_spi": 1}, f"ok {res['ok']}, drops {res['drops']}")
    expect(res["packets"] == [orig[0], orig[2]], "accepted packets differ")


def neg_exhausted(tool, case):
    """Without ESN the last sequence number is 2^32 - 1 (RFC 4303 3.3.3): later packets are dropped."""
    orig = inner_packets(case)[:4]
    sa = sa_json(case, "outbound")
    sa["next_seq"] = 0xfffffffe
    res = esp_tool(tool, sa, orig)
    expect(res["ok"] == 2 and res["drops"] == {"seq_exhausted": 2}, f"ok {res['ok']}, drops {res['drops']}")
    sas = ScapySas(case)
    for k, out in enumerate(res["packets"]):
        pkt = parse_ip(out)
        expect(pkt[ESP].seq == 0xfffffffe + k, f"packet {k}: seq {pkt[ESP].seq:#x}")
        expect(raw(sas(0).decrypt(pkt)) == orig[k], f"packet {k} does not decrypt to its original")


def rfc6040_decap(inner_ecn, outer_ecn):
    """RFC 6040 4.2 (Figure 4), normal mode: the inner ECN field after decapsulation, None = drop."""
    if outer_ecn == 3:
        return None if inner_ecn == 0 else 3
    if outer_ecn == 1 and inner_ecn == 2:
        return 1
    return inner_ecn


def check_ecn(tool, case):
    """Outer ECN Not-ECT / ECT(1) / ECT(0) / CE over every inner ECN value: the inner header gets
    RFC 6040's value (IPv4 checksum recomputed by scapy), CE over Not-ECT is dropped."""
    wire, want, drops = [], [], 0
    sas = ScapySas(case, natt=case.natt)
    for k, p in enumerate(inner_packets(case)):
        outer_ecn, inner_ecn = k % 4, (k // 4) % 4
        q = parse_ip(p)
        if isinstance(q, IP):
            q.tos = (q.tos & 0xfc) | inner_ecn
            del q.chksum
        else:
            q.tc = (q.tc & 0xfc) | inner_ecn
        inner = raw(parse_ip(raw(q)))
        sa = sas(0)
        if isinstance(sa.tunnel_header, IP):
            sa.tunnel_header.tos = outer_ecn
        else:
            sa.tunnel_header.tc = outer_ecn
        wire.append(encrypt_with(sa, inner, k + 1))
        res_ecn = rfc6040_decap(inner_ecn, outer_ecn)
        if res_ecn is None:
            drops += 1
            continue
        if isinstance(q, IP):
            q.tos = (q.tos & 0xfc) | res_ecn
            del q.chksum
        else:
            q.tc = (q.tc & 0xfc) | res_ecn
        want.append(raw(parse_ip(raw(q))))
    res = esp_tool(tool, sa_json(case, "inbound"), wire)
    expect(res["ok"] == len(want) and res["drops"] == ({"ecn_drop": drops} if drops else {}),
           f"ok {res['ok']}/{len(want)}, drops {res['drops']}")
    for k, (got, w) in enumerate(zip(res["packets"], want)):
        expect(got == w, f"accepted packet {k}:\n  got  {got.hex()}\n  want {w.hex()}")


def check_routing_header(tool, case):
    """IPv6 transport with Hop-by-Hop, Routing, Destination Options: scapy (like Linux) puts ESP
    before a Destination Options header that follows a Routing header, Esprit after it; RFC 4303
    3.1.1 allows both, so each side must take the other's packets (no ESP byte comparison here)."""
    orig = [bytes(IPv6(src="2001:db8:1::1", dst="2001:db8:2::1") / IPv6ExtHdrHopByHop()
                  / IPv6ExtHdrRouting(addresses=["2001:db8:3::1"], segleft=0) / IPv6ExtHdrDestOpt()
                  / UDP(sport=33333, dport=44444) / Raw(bytes(range(n)))) for n in (0, 7, 100)]
    sas = ScapySas(case)
    res = esp_tool(tool, sa_json(case, "inbound"), [scapy_encrypt(sas, p, k + 1) for k, p in enumerate(orig)])
    expect_all_ok(res, len(orig))
    expect(res["packets"] == orig, "decapsulated packets differ")
    res = esp_tool(tool, sa_json(case, "outbound"), orig)
    expect_all_ok(res, len(orig))
    for k, (out, want) in enumerate(zip(res["packets"], orig)):
        expect(raw(sas(0).decrypt(parse_ip(out))) == want, f"packet {k} does not decrypt to its original")


def check_tfc(tool, case):
    """Tunnel mode: bytes after the inner packet (TFC padding, RFC 4303 2.7) are cut by the inner
    length field."""
    orig = inner_packets(case)
    sas = ScapySas(case, natt=case.natt)
    wire = [scapy_encrypt(sas, p + bytes(range(k * 3)), k + 1) for k, p in enumerate(orig)]
    res = esp_tool(tool, sa_json(case, "inbound"), wire)
    expect_all_ok(res, len(orig))
    expect(res["packets"] == orig, "decapsulated packets differ")


def negatives():
    mk = lambda *a, **kw: Case(*a, **kw)
    cases = [
        ("icv_fail", neg_icv, mk("aes128gcm16", "none", "tunnel", "v4", "mix", count=3)),
        ("icv_fail", neg_icv, mk("aes256", "sha256", "transport", "v6", "v6", natt=True, esn=True, count=3)),
        ("icv_fail", neg_icv, mk("chacha20poly1305", "none", "tunnel", "v6", "v4", count=3)),
        ("icv_fail", neg_icv, mk("null", "sha1", "transport", "v4", "v4", count=3)),
        ("replay", neg_replay, mk("aes192gcm12", "none", "tunnel", "v4", "v6", count=70)),
        ("replay", neg_replay, mk("3des", "md5", "transport", "v4", "v4", natt=True, esn=True, count=70)),
        ("too_old", neg_too_old, mk("aes128", "sha1", "tunnel", "v6", "mix", count=5)),
        ("bad_spi", neg_spi, mk("aes256gcm16", "none", "tunnel", "v4", "v4", natt=True, count=3)),
        ("seq_exhausted", neg_exhausted, mk("aes128gcm16", "none", "tunnel", "v4", "v4", count=4)),
        ("ecn", check_ecn, mk("aes128gcm16", "none", "tunnel", "v4", "mix", count=16)),
        ("ecn", check_ecn, mk("aes256", "sha512", "tunnel", "v6", "mix", natt=True, count=16)),
        ("rthdr", check_routing_header, mk("aes128gcm16", "none", "transport", "v6", "v6", count=3)),
        ("rthdr", check_routing_header, mk("aes192", "sha384", "transport", "v6", "v6", count=3)),
        ("tfc", check_tfc, mk("chacha20poly1305", "none", "tunnel", "v4", "mix", count=8)),
        ("tfc", check_tfc, mk("3des", "sha256", "tunnel", "v6", "mix", natt=True, esn=True, count=8)),
    ]
    for n, (_, _, c) in enumerate(cases):
        c.seed = 1000 + n
        make_keys(c)
    return cases


# ---------------------------------------------------------------------------------------------


def run_one(job):
    tool, label, fn, case = job
    t = time.monotonic()
    try:
        fn(tool, case)
        return label, case.name, None, time.monotonic() - t
    except AssertionError as ex:
        return label, case.name, str(ex), time.monotonic() - t
    except Exception:
        return label, case.name, traceback.format_exc(), time.monotonic() - t


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    tool = os.path.abspath(argv[1])
    filters = argv[2:]
    jobs = []
    for c in matrix():
        jobs += [(tool, "decap", check_decap, c), (tool, "encap", check_encap, c)]
    jobs += [(tool, label, fn, c) for label, fn, c in negatives()]
    if filters:
        jobs = [j for j in jobs if any(f in f"{j[1]} {j[3].name}" for f in filters)]
    t0 = time.monotonic()
    failed = 0
    # scapy is pure Python, and each esp_tool run spends ~0.1 s asleep in the EAL's TSC calibration:
    # two processes per CPU. Results are printed in job order.
    workers = int(os.environ.get("ESP_SCAPY_JOBS", 0)) or min(2 * len(os.sched_getaffinity(0)), 16)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for label, name, err, dt in pool.map(run_one, jobs, chunksize=1):
            status = "PASS" if err is None else "FAIL"
            print(f"{status} {label:13} {name} ({dt:.2f} s)", flush=True)
            if err:
                failed += 1
                print("     " + err.replace("\n", "\n     "), flush=True)
    print(f"{len(jobs)} cases, {len(jobs) - failed} passed, {failed} failed in {time.monotonic() - t0:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
