#!/usr/bin/python3
"""espritd end to end on net_pcap ports, checked by scapy as the independent ESP implementation.

Each case writes scapy-made input pcaps and a TOML configuration, runs espritd until it has
processed them, and checks the output pcaps (scapy decrypts what espritd encrypted, and compares
what espritd decrypted with what scapy encrypted) and the counters espritd prints at exit.

Usage: gateway_pcap_test.py path/to/espritd
"""
import os
import re
import subprocess
import sys
import tempfile
import time

from scapy.all import IP, UDP, TCP, ICMP, IPv6, Ether, Raw, rdpcap, wrpcap, conf
from scapy.layers.inet import fragment
from scapy.layers.ipsec import ESP, SecurityAssociation

conf.verb = 0
ESPRITD = sys.argv[1]
LAN_MAC, WAN_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02"
HOST_MAC, PEER_MAC = "02:00:00:00:01:01", "02:00:00:00:02:02"
KEY_OUT = "0102030405060708090a0b0c0d0e0f1011121314"
KEY_IN = "1112131415161718191a1b1c1d1e1f2021222324"
failures = []


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what)
    if not cond:
        failures.append(what)


CONFIG = """
[daemon]
control_socket = "{d}/espritd.sock"

[eal]
args = ["--no-huge", "-m 512", "-l 0,1", "--no-shconf", "--file-prefix {prefix}"]

[spd]
default_action = "{default}"

[[port]]
name = "lan"
device = "net_pcap0,rx_pcap={d}/lan_in.pcap,tx_pcap={d}/lan_out.pcap"
role = "protected"
ipv4 = ["10.1.0.1/16"]
ipv6 = ["2001:db8:1::1/64"]

[[port]]
name = "wan"
device = "net_pcap1,rx_pcap={d}/wan_in.pcap,tx_pcap={d}/wan_out.pcap"
role = "unprotected"
ipv4 = ["192.0.2.1/24"]

[[route]]
prefix = "10.2.0.0/16"
via = "192.0.2.2"

[[route]]
prefix = "10.9.0.0/16"
via = "192.0.2.2"

[[neighbor]]
ip = "192.0.2.2"
mac = "{peer}"
port = "wan"

[[neighbor]]
ip = "10.1.0.5"
mac = "{host}"
port = "lan"

[[neighbor]]
ip = "2001:db8:1::5"
mac = "{host}"
port = "lan"

[[sa]]
name = "out"
spi = 0x1001
direction = "out"
mode = "tunnel"
local = "192.0.2.1"
remote = "192.0.2.2"
encr = "aes128gcm16"
encr_key = "0x{key_out}"
{natt}
{extra_out}

[[sa]]
name = "in"
spi = 0x2001
direction = "in"
mode = "tunnel"
local = "192.0.2.1"
remote = "192.0.2.2"
encr = "aes128gcm16"
encr_key = "0x{key_in}"
{natt}
{extra_in}

[[sa]]
name = "vti-out"
spi = 0x3001
direction = "out"
local = "192.0.2.1"
remote = "192.0.2.2"
encr = "aes128gcm16"
encr_key = "0x{key_out}"

[[sa]]
name = "vti-in"
spi = 0x4001
direction = "in"
local = "192.0.2.1"
remote = "192.0.2.2"
encr = "aes128gcm16"
encr_key = "0x{key_in}"

[[tunnel]]
name = "vti"
sa_out = "vti-out"
sa_in = ["vti-in"]

[[route]]
prefix = "10.5.0.0/16"
tunnel = "vti"

[[policy]]
name = "no-telnet"
direction = "out"
src = "10.1.0.0/16"
dst = "10.2.0.0/16"
proto = "tcp"
dport = 23
action = "discard"

[[policy]]
name = "site"
src = "10.1.0.0/16"
dst = "10.2.0.0/16"
action = "protect"
sa = "out"
sa_in = ["in"]

[[policy]]
name = "site-v6"
src = "2001:db8:1::/64"
dst = "2001:db8:2::/64"
action = "protect"
sa = "out"
sa_in = ["in"]

[[policy]]
name = "partner-clear"
src = "10.1.0.0/16"
dst = "10.9.0.0/16"
action = "bypass"
"""


def run(name, lan_in, wan_in, natt=False, default="discard", extra_out="", extra_in="", append=""):
    """Runs espritd over the given inputs (`append`: more configuration); returns (lan_out, wan_out, stdout)."""
    d = tempfile.mkdtemp(prefix="esprit-pcap-")
    wrpcap(f"{d}/lan_in.pcap", lan_in or [])
    wrpcap(f"{d}/wan_in.pcap", wan_in or [])
    natt_line = "natt = { local_port = 4500, remote_port = 4500 }" if natt else ""
    with open(f"{d}/gw.toml", "w") as f:
        f.write(CONFIG.format(d=d, prefix=f"esprit-{os.getpid()}-{name}", default=default, peer=PEER_MAC,
                              host=HOST_MAC, key_out=KEY_OUT, key_in=KEY_IN, natt=natt_line,
                              extra_out=extra_out, extra_in=extra_in) + append)
    proc = subprocess.Popen([ESPRITD, "--config", f"{d}/gw.toml"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    # The pcap PMD reads its input once: wait until the daemon runs (start-up takes seconds on a
    # loaded machine), give the worker time, then stop the daemon.
    # (A daemon that hangs before that line is stopped by meson's test timeout.)
    head = []
    for line in proc.stdout:
        head.append(line)
        if line.startswith("espritd: running with"):
            break
    time.sleep(1.5)
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    out = "".join(head) + out
    if proc.returncode not in (0, -15):
        print(out)
        check(False, f"{name}: espritd exited with {proc.returncode}")
    if "not returned at shutdown" in out:
        check(False, f"{name}: every mbuf back in its pool at shutdown: " +
              next(l for l in out.splitlines() if "not returned" in l))
    read = lambda p: rdpcap(p) if os.path.exists(p) and os.path.getsize(p) > 24 else []
    return read(f"{d}/lan_out.pcap"), read(f"{d}/wan_out.pcap"), out


def counter(out, line_prefix, key):
    for line in out.splitlines():
        if line.startswith(line_prefix):
            m = re.search(r"\b" + re.escape(key) + r" (\d+)", line)
            return int(m.group(1)) if m else 0
    return None


def sa_out(natt=False):
    return SecurityAssociation(ESP, spi=0x1001, crypt_algo="AES-GCM", crypt_key=bytes.fromhex(KEY_OUT),
                               tunnel_header=IP(src="192.0.2.1", dst="192.0.2.2"),
                               nat_t_header=UDP(sport=4500, dport=4500) if natt else None)


def sa_in(natt=False):
    return SecurityAssociation(ESP, spi=0x2001, crypt_algo="AES-GCM", crypt_key=bytes.fromhex(KEY_IN),
                               tunnel_header=IP(src="192.0.2.2", dst="192.0.2.1"),
                               nat_t_header=UDP(sport=4500, dport=4500) if natt else None)


def host(pkt):
    return Ether(src=HOST_MAC, dst=LAN_MAC) / pkt


def peer(pkt):
    if UDP in pkt and pkt[UDP].dport == 4500:
        pkt[UDP].len = None
        pkt[UDP].chksum = 0
    return Ether(src=PEER_MAC, dst=WAN_MAC) / IP(bytes(pkt))


def inner(i, dst="10.2.0.7"):
    return IP(src="10.1.0.5", dst=dst, ttl=64) / UDP(sport=1000 + i, dport=2000) / Raw(b"p" * (10 + i * 7))


def case_encap(natt):
    tag = "natt" if natt else "esp"
    originals = [inner(i) for i in range(20)] + [
        IPv6(src="2001:db8:1::5", dst="2001:db8:2::7", hlim=64) / UDP(sport=5, dport=6) / Raw(b"six")]
    lan, wan, out = run(f"encap-{tag}", [host(p) for p in originals], [], natt=natt)
    check(len(wan) == len(originals), f"encap {tag}: {len(wan)} ESP packets out of {len(originals)}")
    sa = sa_out(natt)
    good = 0
    for orig, p in zip(originals, wan):
        ip = p[IP]
        if natt:
            ok_hdr = ip.proto == 17 and ip[UDP].dport == 4500 and ip[UDP].chksum == 0
        else:
            ok_hdr = ip.proto == 50
        dec = sa.decrypt(IP(bytes(ip)))
        expect = orig.copy()
        if IP in expect and expect[IP].version == 4 and not isinstance(expect, IPv6):
            expect = IP(bytes(expect))
            expect.ttl = 63
            expect.chksum = None
            expect = IP(bytes(expect))
        else:
            expect = IPv6(bytes(expect))
            expect.hlim = 63
        good += ok_hdr and p[Ether].dst == PEER_MAC and bytes(dec) == bytes(expect)
    check(good == len(originals), f"encap {tag}: scapy decrypts all {len(originals)}, TTL decremented, to the peer MAC")
    check(counter(out, "sa slot 0", "packets") == len(originals), f"encap {tag}: SA counter")


def case_decap(natt):
    tag = "natt" if natt else "esp"
    sa = sa_in(natt)
    originals = [IP(src="10.2.0.7", dst="10.1.0.5", ttl=30) / UDP(sport=7, dport=8) / Raw(b"r" * (5 + 3 * i))
                 for i in range(12)]
    wan_in = [peer(sa.encrypt(p, seq_num=i + 1)) for i, p in enumerate(originals)]
    # A replay of packet 3, a packet with a flipped ciphertext bit, and one whose inner packet is
    # outside the SA's selectors (10.3.0.0/16 is in no policy).
    wan_in.append(peer(sa.encrypt(originals[2], seq_num=3)))
    bad = bytearray(bytes(peer(sa.encrypt(originals[0], seq_num=50))))
    bad[-20] ^= 1  # inside the ciphertext
    wan_in.append(Ether(bytes(bad)))
    stray = IP(src="10.3.0.7", dst="10.1.0.5") / UDP(sport=1, dport=2)
    wan_in.append(peer(sa.encrypt(stray, seq_num=60)))
    # A 1400-byte inner packet whose ESP (in UDP) packet arrives in three fragments: reassembled
    # first (only the first fragment carries the UDP header), then decapsulated.
    large = IP(src="10.2.0.7", dst="10.1.0.5", ttl=30) / UDP(sport=7, dport=8) / Raw(b"L" * 1372)
    whole = IP(bytes(peer(sa.encrypt(large, seq_num=13))[IP]))
    whole.id = 99
    wan_in += [Ether(src=PEER_MAC, dst=WAN_MAC) / f for f in fragment(whole, fragsize=600)]
    originals = originals + [large]
    lan, wan, out = run(f"decap-{tag}", [], wan_in, natt=natt)
    got = [bytes(p[IP]) for p in lan]
    expect = []
    for p in originals:
        e = IP(bytes(p))
        e.ttl = 29
        e.chksum = None
        expect.append(bytes(IP(bytes(e))))
    check(got == expect, f"decap {tag}: {len(got)} inner packets (one from a fragmented ESP packet) equal "
                         "scapy's originals (TTL-1) on the LAN")
    check(counter(out, "worker 0", "reassembled") == 1, f"decap {tag}: the fragmented ESP packet reassembled")
    check(lan and all(p[Ether].dst == HOST_MAC for p in lan), f"decap {tag}: sent to the host's MAC")
    check(counter(out, "sa slot 1", "replay") == 1, f"decap {tag}: replay counted")
    check(counter(out, "sa slot 1", "icv_fail") == 1, f"decap {tag}: ICV failure counted")
    check(counter(out, "worker 0", "inbound_policy") == 1, f"decap {tag}: inbound policy mismatch counted")


def case_policies():
    telnet = IP(src="10.1.0.5", dst="10.2.0.7") / TCP(sport=999, dport=23)
    partner = IP(src="10.1.0.5", dst="10.9.0.1") / UDP(sport=1, dport=2) / Raw(b"clear")
    nowhere = IP(src="10.1.0.5", dst="10.77.0.1") / UDP(sport=1, dport=2)
    clear_in = IP(src="10.2.0.7", dst="10.1.0.5") / UDP(sport=3, dport=4)  # should have been ESP
    lan, wan, out = run("policies", [host(telnet), host(partner), host(nowhere)],
                        [Ether(src=PEER_MAC, dst=WAN_MAC) / clear_in])
    check(len(wan) == 1 and wan[0][IP].dst == "10.9.0.1" and bytes(wan[0][Raw]) == b"clear",
          "bypass rule: sent in clear; discard rule and default discard: nothing else leaves")
    check(counter(out, "worker 0", "policy_discard") == 2, "discard rule + default discard counted")
    check(counter(out, "worker 0", "clear_not_bypass") == 1, "clear text matching a protect rule dropped")
    check(len(lan) == 0, "nothing leaks to the LAN")


def case_local():
    ping = Ether(src=PEER_MAC, dst=WAN_MAC) / IP(src="192.0.2.2", dst="192.0.2.1") / ICMP(id=7, seq=1) / Raw(b"hi")
    arp = Ether(src=HOST_MAC, dst="ff:ff:ff:ff:ff:ff") / bytes.fromhex(
        "0001080006040001" + HOST_MAC.replace(":", "") + "0a010005" + "000000000000" + "0a010001")
    arp = Ether(bytes(arp)[:12] + b"\x08\x06" + bytes(arp)[14:])
    # Hostile shapes: ESP with no room for its header, an IP total length below the header
    # length, a frame shorter than its IP header says. Dropped and counted, never read past.
    short_esp = Ether(src=PEER_MAC, dst=WAN_MAC) / IP(src="192.0.2.2", dst="192.0.2.1", proto=50) / b"\x00\x00"
    liar = bytearray(bytes(Ether(src=PEER_MAC, dst=WAN_MAC) / IP(src="192.0.2.2", dst="192.0.2.1", proto=50, ihl=15,
                                                                  options=[]) / (b"\x00" * 40)))
    liar[14 + 2:14 + 4] = (20).to_bytes(2, "big")
    cut = bytes(Ether(src=PEER_MAC, dst=WAN_MAC) / IP(src="192.0.2.2", dst="192.0.2.1") / UDP(dport=4500) / (b"x" * 40))[:40]
    lan, wan, out = run("local", [arp], [ping, short_esp, Ether(bytes(liar)), Ether(cut)])
    check(counter(out, "worker 0", "bad_ip_header") == 3, "truncated and lying IP headers dropped as bad_ip_header")
    replies = [p for p in wan if ICMP in p and p[ICMP].type == 0]
    check(len(replies) == 1 and replies[0][IP].dst == "192.0.2.2", "ICMP echo to the gateway answered")
    arps = [p for p in lan if p.type == 0x0806]
    check(len(arps) == 1 and bytes(arps[0])[20:22] == b"\x00\x02", "ARP request for the gateway answered")


def case_tunnel():
    """Route-based tunnel: no policy matches 10.5.0.0/16, the route into `vti` encapsulates it (before
    the default DISCARD); what the tunnel's inbound SA decapsulates is routed to the LAN."""
    out_sa = SecurityAssociation(ESP, spi=0x3001, crypt_algo="AES-GCM", crypt_key=bytes.fromhex(KEY_OUT),
                                 tunnel_header=IP(src="192.0.2.1", dst="192.0.2.2"))
    in_sa = SecurityAssociation(ESP, spi=0x4001, crypt_algo="AES-GCM", crypt_key=bytes.fromhex(KEY_IN),
                                tunnel_header=IP(src="192.0.2.2", dst="192.0.2.1"))
    to_tunnel = [inner(i, dst="10.5.0.%d" % (i + 1)) for i in range(10)]
    from_tunnel = [IP(src="10.5.3.3", dst="10.1.0.5", ttl=9) / UDP(sport=9, dport=9) / Raw(b"v" * i)
                   for i in range(1, 6)]
    lan, wan, out = run("tunnel", [host(p) for p in to_tunnel],
                        [peer(in_sa.encrypt(p, seq_num=i + 1)) for i, p in enumerate(from_tunnel)])
    got = [bytes(out_sa.decrypt(IP(bytes(p[IP])))[IP].payload) for p in wan if ESP in p and p[ESP].spi == 0x3001]
    check(got == [bytes(p[IP].payload) for p in to_tunnel],
          f"tunnel: {len(got)} of {len(to_tunnel)} routed into vti and encrypted with its SA")
    same = all(bytes(a[IP].payload) == bytes(b[IP].payload) for a, b in zip(lan, from_tunnel))
    check(len(lan) == len(from_tunnel) and same,
          f"tunnel: {len(lan)} of {len(from_tunnel)} decapsulated packets routed to the LAN")


# AES-GCM-16 with a 20-byte outer header on a 1500-byte port: 36 bytes of headers and IV, 16 of
# ICV, a 4-byte aligned payload + pad + 2 => the largest inner packet is (1500 - 52) - 2 = 1446.
MAX_INNER = 1446


def big(size, df=False, dst="10.2.0.7", ttl=64):
    """An inner IPv4/UDP packet of `size` bytes."""
    return IP(src="10.1.0.5", dst=dst, ttl=ttl, id=4242, flags="DF" if df else 0) / UDP(sport=11, dport=22) / \
        Raw((bytes(range(256)) * (size // 256 + 1))[:size - 28])


def ttl_minus_one(p):
    e = IP(bytes(p))
    e.ttl -= 1
    e.chksum = None
    return bytes(IP(bytes(e)))


def icmps(pkts, v6=False):
    if v6:
        from scapy.layers.inet6 import ICMPv6PacketTooBig
        return [p for p in pkts if ICMPv6PacketTooBig in p]
    return [p for p in pkts if IP in p and p[IP].proto == 1]


def case_post_fragment():
    """Default SA (post-fragment, df = copy) and a bypass rule, above the 1500-byte port MTU."""
    from scapy.layers.inet6 import ICMPv6PacketTooBig
    from scapy.layers.inet import defragment
    no_df = big(1488)                  # ESP 1544 bytes: encrypted, then cut in two
    with_df = big(1488, df=True)       # outer would copy DF: ICMP to the host
    v6 = IPv6(src="2001:db8:1::5", dst="2001:db8:2::7") / UDP(sport=1, dport=2) / Raw(b"6" * 1452)
    dying = big(100, ttl=1)
    clear_big = big(1800, dst="10.9.0.1")  # bypass, no DF: fragmented in clear
    clear_df = big(1800, df=True, dst="10.9.0.1")
    lan, wan, out = run("post-fragment", [host(p) for p in (no_df, with_df, v6, dying, clear_big, clear_df)], [])
    esp = [p for p in wan if IP in p and p[IP].proto == 50]
    check(len(esp) == 2 and all(len(p[IP]) <= 1500 for p in esp) and all(p.flags.MF or p.frag for p in esp),
          f"post: the ESP packet leaves as {len(esp)} IPv4 fragments within the MTU")
    whole = defragment([IP(bytes(p[IP])) for p in esp])
    got = [bytes(sa_out().decrypt(IP(bytes(p)))) for p in whole if IP in p and not p.flags.MF and p.frag == 0]
    check(got == [ttl_minus_one(no_df)], "post: scapy reassembles the fragments and decrypts the inner packet")
    ic = [p for p in icmps(lan) if p[ICMP].type == 3 and p[ICMP].code == 4 and p[ICMP].nexthopmtu != 1500]
    check(len(ic) == 1 and ic[0][IP].src == "10.1.0.1" and ic[0][IP].dst == "10.1.0.5" and
          ic[0][ICMP].nexthopmtu == MAX_INNER and ic[0][Ether].dst == HOST_MAC,
          f"post + DF: ICMP fragmentation needed with next-hop MTU {MAX_INNER} from the gateway's LAN address")
    if ic:
        quoted = bytes(ic[0][ICMP].payload)
        fresh = IP(bytes(ic[0][IP]))
        fresh.chksum = None
        fresh[ICMP].chksum = None
        fresh = IP(bytes(fresh))
        check(len(quoted) == 28 and quoted[12:20] == bytes(with_df)[12:20] and fresh.chksum == ic[0][IP].chksum and
              fresh[ICMP].chksum == ic[0][ICMP].chksum,
              "post + DF: the ICMP quotes the IP header and 8 bytes; IP and ICMP checksums valid")
    ptb = [p for p in lan if ICMPv6PacketTooBig in p]
    check(len(ptb) == 1 and ptb[0][ICMPv6PacketTooBig].mtu == MAX_INNER and ptb[0][IPv6].src == "2001:db8:1::1",
          f"post, IPv6 inner: ICMPv6 packet too big with MTU {MAX_INNER}")
    if ptb:
        fresh = IPv6(bytes(ptb[0][IPv6]))
        fresh[ICMPv6PacketTooBig].cksum = None
        fresh = IPv6(bytes(fresh))
        check(fresh[ICMPv6PacketTooBig].cksum == ptb[0][ICMPv6PacketTooBig].cksum and
              len(ptb[0][IPv6]) == 1280, "post, IPv6 inner: PTB checksum valid, quotes as much as fits 1280 bytes")
    te = [p for p in icmps(lan) if p[ICMP].type == 11]
    check(len(te) == 1 and te[0][IP].dst == "10.1.0.5" and te[0][IP].src == "10.1.0.1",
          "TTL 1: ICMP time exceeded from the gateway")
    clear = [p for p in wan if IP in p and p[IP].dst == "10.9.0.1"]
    rebuilt = defragment([IP(bytes(p[IP])) for p in clear])
    check(len(clear) == 2 and len(rebuilt) == 1 and bytes(rebuilt[0][IP]) == ttl_minus_one(clear_big),
          "bypass above the MTU without DF: fragmented in clear, scapy reassembles it")
    check(len([p for p in icmps(lan) if p[ICMP].type == 3 and p[ICMP].nexthopmtu == 1500]) == 1,
          "bypass above the MTU with DF: ICMP fragmentation needed, MTU 1500")
    check(counter(out, "worker 0", "icmp_sent") == 4 and counter(out, "worker 0", "too_big") == 3 and
          counter(out, "worker 0", "fragmented") == 2, "post: counters (icmp_sent 4, too_big 3, fragmented 2)")


def case_pre_fragment():
    """SA with fragmentation = "pre" and an MSS clamp on both of its directions."""
    from scapy.layers.inet import defragment
    big_udp = big(1488)
    big_df = big(1488, df=True)
    syn = IP(src="10.1.0.5", dst="10.2.0.7", id=9) / TCP(sport=40000, dport=80, flags="S",
                                                           options=[("NOP", None), ("MSS", 1460), ("SAckOK", b"")])
    small_syn = IP(src="10.1.0.5", dst="10.2.0.7") / TCP(sport=40001, dport=80, flags="S", options=[("MSS", 1000)])
    syn_ack = IP(src="10.2.0.7", dst="10.1.0.5", ttl=20) / TCP(sport=80, dport=40000, flags="SA",
                                                                options=[("MSS", 8960), ("WScale", 7)])
    lan, wan, out = run("pre-fragment", [host(p) for p in (big_udp, big_df, syn, small_syn)],
                        [peer(sa_in().encrypt(syn_ack, seq_num=1))],
                        extra_out='fragmentation = "pre"\ntcp_mss = 1200', extra_in="tcp_mss = 1200")
    esp = [p for p in wan if IP in p and p[IP].proto == 50]
    check(all(p[IP].flags.MF == 0 and p[IP].frag == 0 and len(p[IP]) <= 1500 for p in esp),
          "pre: every ESP packet is whole and fits the MTU")
    inner = [sa_out().decrypt(IP(bytes(p[IP]))) for p in esp]
    frags = [p for p in inner if UDP in p or p.frag]
    check(len(frags) == 2 and all(len(p) <= MAX_INNER for p in frags),
          f"pre: the big packet went as {len(frags)} encrypted inner fragments of at most {MAX_INNER} bytes")
    whole = defragment(frags)
    check(len(whole) == 1 and bytes(whole[0]) == ttl_minus_one(big_udp), "pre: scapy reassembles the inner fragments")
    syns = [p for p in inner if TCP in p]
    mss = {p[TCP].sport: dict(p[TCP].options).get("MSS") for p in syns}
    valid = all(TCP(bytes(p[TCP])).chksum == p[TCP].chksum for p in syns)
    if syns:
        fresh = syns[0].copy()
        fresh[TCP].chksum = None
        valid = valid and IP(bytes(fresh))[TCP].chksum == syns[0][TCP].chksum
    check(mss == {40000: 1200, 40001: 1000} and valid, f"MSS clamp into the tunnel: {mss}, TCP checksum valid")
    back = [p for p in lan if TCP in p]
    ok = False
    if back:
        recomputed = back[0].copy()
        recomputed[TCP].chksum = None
        ok = dict(back[0][TCP].options).get("MSS") == 1200 and \
            IP(bytes(recomputed[IP]))[TCP].chksum == back[0][TCP].chksum
    check(ok, "MSS clamp out of the tunnel: the SYN-ACK's 8960 lowered to 1200, TCP checksum valid")
    ic = [p for p in icmps(lan) if p[ICMP].type == 3 and p[ICMP].code == 4]
    check(len(ic) == 1 and ic[0][ICMP].nexthopmtu == MAX_INNER, "pre + DF: ICMP fragmentation needed")
    check(counter(out, "worker 0", "mss_clamped") == 2, "mss_clamped counted")


def case_inbound_reassembly():
    """ESP that scapy encrypted and then fragmented is reassembled, decrypted and forwarded;
    bogus fragment trains are dropped and counted."""
    from scapy.layers.inet import fragment
    sa = sa_in()
    orig = IP(src="10.2.0.7", dst="10.1.0.5", ttl=30) / UDP(sport=7, dport=8) / Raw(b"R" * 1400)
    esp = IP(bytes(sa.encrypt(orig, seq_num=1)))
    esp.id = 77
    parts = fragment(esp, fragsize=600)
    wan_in = [peer(p) for p in reversed(parts)]  # out of order too
    natt_orig = IP(src="10.2.0.7", dst="10.1.0.5", ttl=30) / UDP(sport=9, dport=9) / Raw(b"N" * 1300)
    # Too many fragments (rte_ip_frag keeps at most 8): 12 pieces of one ESP packet.
    many = IP(bytes(sa.encrypt(orig, seq_num=2)))
    many.id = 78
    wan_in += [peer(p) for p in fragment(many, fragsize=128)]
    # Overlapping fragments: two first fragments of different lengths for the same packet.
    ov = IP(bytes(sa.encrypt(orig, seq_num=3)))
    ov.id = 79
    a = fragment(ov, fragsize=600)
    b = fragment(ov, fragsize=400)
    wan_in += [peer(a[0]), peer(b[1]), peer(a[1]), peer(a[2])]
    # Garbage: a fragment of ESP whose offset runs past 64 KiB, and a tiny non-first fragment.
    wan_in.append(peer(IP(src="192.0.2.2", dst="192.0.2.1", proto=50, id=80, frag=8180, flags="MF") / (b"z" * 64)))
    wan_in.append(peer(IP(src="192.0.2.2", dst="192.0.2.1", proto=17, id=81, frag=3) / b"q"))
    # A decrypted packet whose TTL runs out: the time-exceeded error goes back through the tunnel.
    dying = IP(src="10.2.0.7", dst="10.1.0.5", ttl=1) / UDP(sport=5, dport=6) / Raw(b"late")
    wan_in.append(peer(sa.encrypt(dying, seq_num=10)))
    lan, wan, out = run("inbound-reassembly", [], wan_in)
    got = [bytes(p[IP]) for p in lan if IP in p and p[IP].dst == "10.1.0.5"]
    check(got == [ttl_minus_one(orig)], f"inbound: {len(parts)} ESP fragments reassembled, decrypted, forwarded")
    check(counter(out, "worker 0", "reassembled") == 1, "inbound: reassembled counted")
    check(counter(out, "worker 0", "frag_invalid") > 0, "inbound: too many / overlapping fragments dropped, counted")
    check(counter(out, "sa slot 1", "packets") == 2, "inbound: only the good packets reached the SA")
    back = [sa_out().decrypt(IP(bytes(p[IP]))) for p in wan if ESP in p]
    te = [p for p in back if ICMP in p and p[ICMP].type == 11]
    check(len(back) == 1 and len(te) == 1 and te[0][IP].src == "10.1.0.1" and te[0][IP].dst == "10.2.0.7" and
          bytes(te[0][ICMP].payload)[:20] == bytes(dying)[:20],
          "decrypted TTL 1: ICMP time exceeded from the gateway's LAN address, encrypted back to the peer")
    check(not [p for p in wan if IP in p and p[IP].proto == 1], "no ICMP about decrypted traffic in clear")



BIG_EXT = """
[fragmentation]
reassembly_fragments = 4
icmp_rate = 1000
icmp_burst = 20

[[policy]]
name = "v6-web"
src = "2001:db8:1::/64"
dst = "2001:db8:3::/64"
proto = "tcp"
dport = 80
action = "protect"
sa = "out"
sa_in = ["in"]
"""


def case_big_and_ext6():
    """A fragmented ESP packet larger than one 2 KB mbuf is reassembled (copied into one jumbo
    mbuf), decrypted and forwarded; [fragmentation] reassembly_fragments = 4 is honoured. IPv6
    extension headers are walked for SPD and inbound selector matching; malformed chains are
    dropped and counted."""
    from scapy.layers.inet6 import IPv6ExtHdrHopByHop, IPv6ExtHdrDestOpt, IPv6ExtHdrRouting, IPv6ExtHdrFragment
    sa = sa_in()
    # 3028-byte inner packet: its ESP packet (3080 bytes) arrives in 3 fragments.
    orig = IP(src="10.2.0.7", dst="10.1.0.5", ttl=30, id=99) / UDP(sport=7, dport=8) / \
        Raw((bytes(range(256)) * 12)[:3000])
    esp = IP(bytes(sa.encrypt(orig, seq_num=1)))
    esp.id = 177
    parts = fragment(esp, fragsize=1480)
    wan_in = [peer(p) for p in parts]
    # The same size in 6 fragments: above reassembly_fragments = 4, never completed.
    six = IP(bytes(sa.encrypt(orig, seq_num=2)))
    six.id = 178
    six_parts = fragment(six, fragsize=600)
    wan_in += [peer(p) for p in six_parts]
    # Inbound IPv6 behind extension headers: the selector of "v6-web" (sport 80) is found.
    v6_src, v6_host = "2001:db8:3::7", "2001:db8:1::5"
    ok6 = IPv6(src=v6_src, dst=v6_host, hlim=40) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / \
        TCP(sport=80, dport=1000, flags="A") / Raw(b"web reply")
    bad6 = IPv6(src=v6_src, dst=v6_host, hlim=40) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / \
        TCP(sport=81, dport=1000, flags="A") / Raw(b"not web")
    wan_in += [peer(sa.encrypt(ok6, seq_num=3)), peer(sa.encrypt(bad6, seq_num=4))]
    # Outbound IPv6 from the LAN.
    web = IPv6(src=v6_host, dst=v6_src, hlim=64) / IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting() / \
        IPv6ExtHdrDestOpt() / TCP(sport=1000, dport=80, flags="S") / Raw(b"GET")
    other = IPv6(src=v6_host, dst=v6_src, hlim=64) / IPv6ExtHdrDestOpt() / TCP(sport=1000, dport=81) / Raw(b"x")
    hbh_late = IPv6(src=v6_host, dst=v6_src, hlim=64) / IPv6ExtHdrDestOpt() / IPv6ExtHdrHopByHop() / \
        TCP(sport=1000, dport=80) / Raw(b"y")
    too_long = IPv6(src=v6_host, dst=v6_src, hlim=64)
    for _ in range(9):
        too_long = too_long / IPv6ExtHdrDestOpt()
    too_long = too_long / TCP(sport=1000, dport=80) / Raw(b"z")
    later = IPv6(src=v6_host, dst=v6_src, hlim=64) / IPv6ExtHdrFragment(nh=6, offset=100, id=5) / Raw(b"\x00\x50" * 8)
    lan_in = [host(p) for p in (web, other, hbh_late, too_long, later)]
    lan, wan, out = run("big-ext6", lan_in, wan_in, append=BIG_EXT)

    from scapy.layers.inet import defragment
    frags = [IP(bytes(p[IP])) for p in lan if IP in p and p[IP].dst == "10.1.0.5"]
    whole = [bytes(p) for p in defragment(frags)] if frags else []
    check(len(frags) == 3 and whole == [ttl_minus_one(orig)],
          f"big: 3 ESP fragments (3080 bytes) reassembled past one 2 KB mbuf, decrypted, forwarded "
          f"(fragmented again for the 1500-byte LAN): {len(frags)} fragments")
    check(counter(out, "worker 0", "reassembled") == 1, "big: one reassembled packet (not the 6-fragment one)")
    check(counter(out, "worker 0", "frag_invalid") >= 2, "big: fragments above reassembly_fragments = 4 refused")
    check(counter(out, "worker 0", "frag_too_big") == 0 and counter(out, "worker 0", "segmented") == 0,
          "big: nothing dropped for its size")
    got6 = [p[IPv6] for p in lan if IPv6 in p and p[IPv6].dst == v6_host]
    check(len(got6) == 1 and TCP in got6[0] and got6[0][TCP].sport == 80 and IPv6ExtHdrDestOpt in got6[0],
          "ext6 inbound: TCP behind Hop-by-Hop and Destination Options matches the SA's sport-80 selector")
    check(counter(out, "worker 0", "inbound_policy") == 1, "ext6 inbound: sport 81 outside the selector, dropped")
    back = [sa_out().decrypt(IP(bytes(p[IP]))) for p in wan if ESP in p]
    sent6 = [p for p in back if IPv6 in p]
    check(len(sent6) == 1 and TCP in sent6[0] and sent6[0][TCP].dport == 80 and IPv6ExtHdrRouting in sent6[0],
          f"ext6 outbound: only the dport-80 packet behind three extension headers is encrypted ({len(sent6)})")
    check(counter(out, "worker 0", "bad_ext_headers") == 2,
          "ext6 outbound: Hop-by-Hop not first and a 9-header chain dropped as bad_ext_headers")
    check(not [p for p in wan if IPv6 in p], "ext6: nothing IPv6 in clear on the WAN")
    if failures:
        print(out)


PEER_B_MAC = "02:00:00:00:03:03"
KEY_B_OUT = "3132333435363738393a3b3c3d3e3f4041424344"
KEY_B_IN = "4142434445464748494a4b4c4d4e4f5051525354"
HUB = f"""
[[neighbor]]
ip = "192.0.2.3"
mac = "{PEER_B_MAC}"
port = "wan"

[[route]]
prefix = "10.3.0.0/16"
via = "192.0.2.3"

[[sa]]
name = "b-out"
spi = 0x5001
direction = "out"
mode = "tunnel"
local = "192.0.2.1"
remote = "192.0.2.3"
encr = "aes128gcm16"
encr_key = "0x{KEY_B_OUT}"

[[sa]]
name = "b-in"
spi = 0x6001
direction = "in"
mode = "tunnel"
local = "192.0.2.1"
remote = "192.0.2.3"
encr = "aes128gcm16"
encr_key = "0x{KEY_B_IN}"

# Spoke A (192.0.2.2, 10.2.0.0/16) <-> spoke B (192.0.2.3, 10.3.0.0/16) through this hub.
[[policy]]
name = "a-to-b"
src = "10.3.0.0/16"
dst = "10.2.0.0/16"
action = "protect"
sa = "out"
sa_in = ["in"]

[[policy]]
name = "spoke-b"
src = "10.2.0.0/16"
dst = "10.3.0.0/16"
action = "protect"
sa = "b-out"
sa_in = ["b-in"]

# Spoke B may reach what is behind the route-based tunnel vti (a route, no outbound rule).
[[policy]]
name = "b-vti"
src = "10.5.0.0/16"
dst = "10.3.0.0/16"
action = "protect"
sa = "b-out"
sa_in = ["b-in"]

# A misconfiguration: spoke A's own prefix both ways through A's SAs (a hairpin back to A).
[[policy]]
name = "a-hairpin"
src = "10.2.0.0/16"
dst = "10.2.0.0/16"
action = "protect"
sa = "out"
sa_in = ["in"]

# Clear text towards the WAN for what comes out of vti: must still never leave decrypted.
[[policy]]
name = "vti-clear"
src = "10.5.0.0/16"
dst = "10.9.0.0/16"
action = "bypass"
"""


def case_hub():
    """Hub and spoke: what spoke A sends to spoke B's network is decrypted with A's SA and encrypted
    again with B's (and back), or into the route-based tunnel; never back to its own peer, never in
    clear towards the WAN. Martians and bad IPv4 header checksums are dropped before policy."""
    sa_b_in = SecurityAssociation(ESP, spi=0x6001, crypt_algo="AES-GCM", crypt_key=bytes.fromhex(KEY_B_IN),
                                  tunnel_header=IP(src="192.0.2.3", dst="192.0.2.1"))
    sa_b_out = SecurityAssociation(ESP, spi=0x5001, crypt_algo="AES-GCM", crypt_key=bytes.fromhex(KEY_B_OUT),
                                   tunnel_header=IP(src="192.0.2.1", dst="192.0.2.3"))
    vti_in = SecurityAssociation(ESP, spi=0x4001, crypt_algo="AES-GCM", crypt_key=bytes.fromhex(KEY_IN),
                                 tunnel_header=IP(src="192.0.2.2", dst="192.0.2.1"))
    vti_out = SecurityAssociation(ESP, spi=0x3001, crypt_algo="AES-GCM", crypt_key=bytes.fromhex(KEY_OUT),
                                  tunnel_header=IP(src="192.0.2.1", dst="192.0.2.2"))
    a_to_b = [IP(src="10.2.0.7", dst="10.3.0.9", ttl=20) / UDP(sport=7, dport=8) / Raw(b"A>B %d" % i) for i in range(4)]
    hairpin = IP(src="10.2.0.7", dst="10.2.0.8", ttl=20) / UDP(sport=7, dport=8) / Raw(b"loop")
    b_to_a = IP(src="10.3.0.9", dst="10.2.0.7", ttl=20) / UDP(sport=8, dport=7) / Raw(b"B>A")
    b_to_vti = IP(src="10.3.0.9", dst="10.5.0.1", ttl=20) / UDP(sport=8, dport=9) / Raw(b"B>vti")
    vti_clear = IP(src="10.5.3.3", dst="10.9.0.1", ttl=20) / UDP(sport=9, dport=9) / Raw(b"bypass")
    vti_wan = IP(src="10.5.3.3", dst="10.2.0.7", ttl=20) / UDP(sport=9, dport=9) / Raw(b"unmatched")
    vti_martian = IP(src="127.0.0.1", dst="10.1.0.5", ttl=20) / UDP(sport=9, dport=9) / Raw(b"martian")
    sa_a = sa_in()
    wan_in = [peer(sa_a.encrypt(p, seq_num=i + 1)) for i, p in enumerate(a_to_b + [hairpin])]
    wan_in.append(Ether(src=PEER_B_MAC, dst=WAN_MAC) / IP(bytes(sa_b_in.encrypt(b_to_a, seq_num=1))))
    wan_in.append(Ether(src=PEER_B_MAC, dst=WAN_MAC) / IP(bytes(sa_b_in.encrypt(b_to_vti, seq_num=2))))
    wan_in += [peer(vti_in.encrypt(p, seq_num=i + 1)) for i, p in enumerate((vti_clear, vti_wan, vti_martian))]
    bad_sum = IP(bytes(IP(src="10.1.0.5", dst="10.3.0.9") / UDP(sport=1, dport=2) / Raw(b"badsum")))
    bad_sum.chksum ^= 0x0101
    lan_in = [host(IP(src="10.1.0.5", dst="127.0.0.1") / UDP(sport=1, dport=2)),
              host(IP(src="10.1.0.5", dst="255.255.255.255") / UDP(sport=68, dport=67)),
              host(bad_sum)]
    lan, wan, out = run("hub", lan_in, wan_in, append=HUB)
    esp = {spi: [p for p in wan if ESP in p and p[ESP].spi == spi] for spi in (0x1001, 0x3001, 0x5001)}
    to_b = [sa_b_out.decrypt(IP(bytes(p[IP]))) for p in esp[0x5001]]
    check([bytes(p) for p in to_b] == [ttl_minus_one(p) for p in a_to_b] and
          all(p[Ether].dst == PEER_B_MAC and p[IP].dst == "192.0.2.3" for p in esp[0x5001]),
          f"hub: scapy decrypts spoke B's ESP and finds spoke A's {len(a_to_b)} packets ({len(to_b)})")
    to_a = [sa_out().decrypt(IP(bytes(p[IP]))) for p in esp[0x1001]]
    check([bytes(p) for p in to_a] == [ttl_minus_one(b_to_a)], "hub: spoke B's packet re-encrypted to spoke A")
    to_vti = [vti_out.decrypt(IP(bytes(p[IP]))) for p in esp[0x3001]]
    check([bytes(p) for p in to_vti] == [ttl_minus_one(b_to_vti)],
          "hub: spoke B's packet routed into the tunnel interface and encrypted with its SA")
    check(not [p for p in wan if IP in p and p[IP].proto != 50], "hub: nothing decrypted leaves in clear on the WAN")
    check(len(wan) == len(a_to_b) + 2, f"hub: {len(wan)} packets on the WAN")
    check(counter(out, "worker 0", "hub_loop") == 1, "hub: re-encryption back to the same peer dropped (hub_loop)")
    check(counter(out, "worker 0", "policy_discard") == 2,
          "hub: decrypted BYPASS and unmatched traffic towards the WAN dropped (policy_discard 2)")
    check(counter(out, "worker 0", "martian") == 3, "martians (127/8 in the tunnel, 127/8 and broadcast in clear) dropped")
    check(counter(out, "worker 0", "bad_ip_header") == 1, "IPv4 header checksum verified in software (bad_ip_header)")
    check(len(lan) == 0, "hub: nothing to the LAN")


def case_two_workers():
    """Two workers, the WAN port with two RX queues: ESP of an SA arriving on both queues is
    decapsulated once, by the SA's owner (SAs get owners round-robin: "in" worker 0, "vti-in"
    worker 1); every copy on the other queue is handed over and caught as a replay."""
    d = tempfile.mkdtemp(prefix="esprit-pcap-")
    sa, vti = sa_in(), SecurityAssociation(ESP, spi=0x4001, crypt_algo="AES-GCM", crypt_key=bytes.fromhex(KEY_IN),
                                           tunnel_header=IP(src="192.0.2.2", dst="192.0.2.1"))
    site = [IP(src="10.2.0.7", dst="10.1.0.5", ttl=30) / UDP(sport=7, dport=8) / Raw(b"s%d" % i) for i in range(12)]
    tun = [IP(src="10.5.0.9", dst="10.1.0.5", ttl=30) / UDP(sport=9, dport=8) / Raw(b"t%d" % i) for i in range(8)]
    esp = [peer(sa.encrypt(p, seq_num=i + 1)) for i, p in enumerate(site)] + \
          [peer(vti.encrypt(p, seq_num=i + 1)) for i, p in enumerate(tun)]
    wrpcap(f"{d}/wan_in0.pcap", esp)
    wrpcap(f"{d}/wan_in1.pcap", esp[::-1])
    wrpcap(f"{d}/lan_in.pcap", [])
    config = CONFIG.format(d=d, prefix=f"esprit-{os.getpid()}-two", default="discard", peer=PEER_MAC,
                           host=HOST_MAC, key_out=KEY_OUT, key_in=KEY_IN, natt="", extra_out="", extra_in="")
    config = config.replace('"-l 0,1"', '"--lcores=0@0,1@1,2@1"')  # two workers, whatever the core count
    config = config.replace(f"rx_pcap={d}/lan_in.pcap,tx_pcap={d}/lan_out.pcap",
                            f"rx_pcap={d}/lan_in.pcap,rx_pcap={d}/lan_in.pcap,"
                            f"tx_pcap={d}/lan_out0.pcap,tx_pcap={d}/lan_out1.pcap")
    config = config.replace(f"rx_pcap={d}/wan_in.pcap,tx_pcap={d}/wan_out.pcap",
                            f"rx_pcap={d}/wan_in0.pcap,rx_pcap={d}/wan_in1.pcap,"
                            f"tx_pcap={d}/wan_out0.pcap,tx_pcap={d}/wan_out1.pcap")
    with open(f"{d}/gw.toml", "w") as f:
        f.write(config)
    proc = subprocess.Popen([ESPRITD, "--config", f"{d}/gw.toml"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    time.sleep(3)
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    check(proc.returncode in (0, -15) and "2 worker(s)" in out, f"two workers: espritd ran ({proc.returncode})")
    read = lambda p: rdpcap(p) if os.path.exists(p) and os.path.getsize(p) > 24 else []
    lan = [read(f"{d}/lan_out{w}.pcap") for w in (0, 1)]
    payloads = [[bytes(p[Raw].load) for p in lan[w] if Raw in p] for w in (0, 1)]
    check(sorted(payloads[0]) == sorted(bytes(p[Raw].load) for p in site),
          f"two workers: worker 0 (owner of 'in') sent each of its {len(site)} packets once ({len(payloads[0])})")
    check(sorted(payloads[1]) == sorted(bytes(p[Raw].load) for p in tun),
          f"two workers: worker 1 (owner of 'vti-in') sent each of its {len(tun)} packets once ({len(payloads[1])})")
    check(counter(out, "worker 0", "handed_off") == len(tun) and counter(out, "worker 1", "handed_off") == len(site),
          "two workers: each handed the other's SA over")
    check(counter(out, "sa slot 1", "packets") == len(site) and counter(out, "sa slot 1", "replay") == len(site),
          "two workers: 'in' decapsulated once per packet, the other copy a replay")
    check(counter(out, "sa slot 3", "packets") == len(tun) and counter(out, "sa slot 3", "replay") == len(tun),
          "two workers: 'vti-in' decapsulated once per packet, the other copy a replay")
    if failures:
        print(out)

case_tunnel()
case_hub()
case_encap(False)
case_encap(True)
case_decap(False)
case_decap(True)
case_policies()
case_local()
case_post_fragment()
case_pre_fragment()
case_inbound_reassembly()
case_big_and_ext6()
case_two_workers()
print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
