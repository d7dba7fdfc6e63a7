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


def run(name, lan_in, wan_in, natt=False, default="discard"):
    """Runs espritd over the given inputs; returns (lan_out, wan_out, stdout)."""
    d = tempfile.mkdtemp(prefix="esprit-pcap-")
    wrpcap(f"{d}/lan_in.pcap", lan_in or [])
    wrpcap(f"{d}/wan_in.pcap", wan_in or [])
    natt_line = "natt = { local_port = 4500, remote_port = 4500 }" if natt else ""
    with open(f"{d}/gw.toml", "w") as f:
        f.write(CONFIG.format(d=d, prefix=f"esprit-{os.getpid()}-{name}", default=default, peer=PEER_MAC,
                              host=HOST_MAC, key_out=KEY_OUT, key_in=KEY_IN, natt=natt_line))
    proc = subprocess.Popen([ESPRITD, "--config", f"{d}/gw.toml"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    # The pcap PMD reads its input once; give the worker time, then stop the daemon.
    time.sleep(2.5)
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    if proc.returncode not in (0, -15):
        print(out)
        check(False, f"{name}: espritd exited with {proc.returncode}")
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
    lan, wan, out = run(f"decap-{tag}", [], wan_in, natt=natt)
    got = [bytes(p[IP]) for p in lan]
    expect = []
    for p in originals:
        e = IP(bytes(p))
        e.ttl = 29
        e.chksum = None
        expect.append(bytes(IP(bytes(e))))
    check(got == expect, f"decap {tag}: {len(got)} inner packets equal scapy's originals (TTL-1) on the LAN")
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
                           host=HOST_MAC, key_out=KEY_OUT, key_in=KEY_IN, natt="")
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
case_encap(False)
case_encap(True)
case_decap(False)
case_decap(True)
case_policies()
case_local()
case_two_workers()
print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
