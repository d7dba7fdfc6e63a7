#!/usr/bin/python3
"""espritctl against a running espritd on net_pcap ports: the show commands (text and --json) are
checked against the traffic scapy sent, `clear counters` counts from zero without touching the
workers' counters, and bad clients (garbage, unknown command, oversize line, a client that never
sends) get an error or are dropped while the daemon keeps serving.

Usage: espritctl_test.py path/to/espritd path/to/espritctl
"""
import json
import os
import socket
import stat
import subprocess
import sys
import tempfile
import time

from scapy.all import IP, UDP, TCP, Ether, Raw, wrpcap, conf
from scapy.layers.ipsec import ESP, SecurityAssociation

conf.verb = 0
ESPRITD, ESPRITCTL = sys.argv[1], sys.argv[2]
HOST_MAC, PEER_MAC = "02:00:00:00:01:01", "02:00:00:00:02:02"
KEY_OUT = "0102030405060708090a0b0c0d0e0f1011121314"
KEY_IN = "1112131415161718191a1b1c1d1e1f2021222324"
failures = []


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what)
    if not cond:
        failures.append(what)


D = tempfile.mkdtemp(prefix="esprit-ctl-")
SOCK = f"{D}/run/espritd.sock"
CONFIG = f"""
[daemon]
control_socket = "{SOCK}"
workers = 1
log_level = "debug"

[eal]
args = ["--no-huge", "-m 512", "--no-shconf", "--file-prefix esprit-ctl-{os.getpid()}"]

[[port]]
name = "lan"
device = "net_pcap0,rx_pcap={D}/lan_in.pcap,tx_pcap={D}/lan_out.pcap"
role = "protected"
ipv4 = ["10.1.0.1/16"]

[[port]]
name = "wan"
device = "net_pcap1,rx_pcap={D}/wan_in.pcap,tx_pcap={D}/wan_out.pcap"
role = "unprotected"
ipv4 = ["192.0.2.1/24"]
tx_queues = 1

[[route]]
prefix = "10.2.0.0/16"
via = "192.0.2.2"

[[neighbor]]
ip = "192.0.2.2"
mac = "{PEER_MAC}"
port = "wan"

[[neighbor]]
ip = "10.1.0.5"
mac = "{HOST_MAC}"
port = "lan"

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

[[sa]]
name = "out"
spi = 0x1001
direction = "out"
local = "192.0.2.1"
remote = "192.0.2.2"
encr = "aes128gcm16"
encr_key = "0x{KEY_OUT}"

[[sa]]
name = "in"
spi = 0x2001
direction = "in"
local = "192.0.2.1"
remote = "192.0.2.2"
encr = "aes128gcm16"
encr_key = "0x{KEY_IN}"
"""

# Traffic: 20 packets to protect, one telnet (discard rule), one with no policy (default discard);
# from the peer 12 good ESP packets, a replay, a bad ICV and one whose inner packet is outside the SA.
N_OUT, N_IN = 20, 12
sa_in = SecurityAssociation(ESP, spi=0x2001, crypt_algo="AES-GCM", crypt_key=bytes.fromhex(KEY_IN),
                            tunnel_header=IP(src="192.0.2.2", dst="192.0.2.1"))
lan_in = [Ether(src=HOST_MAC) / IP(src="10.1.0.5", dst="10.2.0.7") / UDP(sport=1000 + i, dport=2000) / Raw(b"p" * 30)
          for i in range(N_OUT)]
lan_in += [Ether(src=HOST_MAC) / IP(src="10.1.0.5", dst="10.2.0.7") / TCP(sport=999, dport=23),
           Ether(src=HOST_MAC) / IP(src="10.1.0.5", dst="10.77.0.1") / UDP(sport=1, dport=2)]
inner = [IP(src="10.2.0.7", dst="10.1.0.5") / UDP(sport=7, dport=8) / Raw(b"r" * (5 + i)) for i in range(N_IN)]


def peer(p):
    return Ether(src=PEER_MAC) / IP(bytes(p))


wan_in = [peer(sa_in.encrypt(p, seq_num=i + 1)) for i, p in enumerate(inner)]
wan_in.append(peer(sa_in.encrypt(inner[2], seq_num=3)))  # replay
bad = bytearray(bytes(peer(sa_in.encrypt(inner[0], seq_num=50))))
bad[-20] ^= 1
wan_in.append(Ether(bytes(bad)))  # ICV failure
wan_in.append(peer(sa_in.encrypt(IP(src="10.3.0.7", dst="10.1.0.5") / UDP(sport=1, dport=2), seq_num=60)))
# Two IKE datagrams to the gateway (no [[peer]]: the transport counts them, nobody answers): one
# good, one with its UDP checksum broken. show counters / show drops report them as "ike".
ike_msg = IP(src="192.0.2.2", dst="192.0.2.1") / UDP(sport=500, dport=500) / Raw(b"\x11" * 8 + b"\x00" * 20)
wan_in.append(Ether(src=PEER_MAC) / IP(bytes(ike_msg)))
ike_bad = IP(bytes(ike_msg))
ike_bad[UDP].chksum ^= 1
wan_in.append(Ether(src=PEER_MAC) / ike_bad)
wrpcap(f"{D}/lan_in.pcap", lan_in)
wrpcap(f"{D}/wan_in.pcap", wan_in)
with open(f"{D}/gw.toml", "w") as f:
    f.write(CONFIG)


def ctl(*args, ok=True):
    r = subprocess.run([ESPRITCTL, "--socket", SOCK, *args], capture_output=True, text=True, timeout=30)
    if ok and r.returncode != 0:
        print(r.stdout, r.stderr)
    return r


def ctl_json(*args):
    r = ctl("--json", *args)
    return json.loads(r.stdout) if r.returncode == 0 else {}


def raw_request(data, timeout=3.0):
    """Sends bytes on a fresh connection; returns the answer line (or b"" when closed without one)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(SOCK)
    s.sendall(data)
    s.settimeout(timeout)
    got = b""
    try:
        while not got.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    finally:
        s.close()
    return got


# espritctl without a daemon: a clear error.
r = ctl("show", "counters", ok=False)
check(r.returncode == 1 and "is espritd running" in r.stderr, "no daemon: espritctl says so and exits 1")

# --log-level on the command line overrides [daemon] log_level = "debug".
proc = subprocess.Popen([ESPRITD, "--config", f"{D}/gw.toml", "--log-level", "notice"], stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT, text=True)
try:
    deadline = time.time() + 30
    while time.time() < deadline and not os.path.exists(SOCK):
        time.sleep(0.1)
    total = {}
    while time.time() < deadline:  # the pcap PMD reads its files once: wait until all arrived
        total = ctl_json("show", "counters").get("total", {})
        if total.get("rx", 0) >= len(lan_in) + len(wan_in):
            break
        time.sleep(0.2)
    check(stat.S_IMODE(os.stat(SOCK).st_mode) == 0o600, "control socket is owner-only (0600)")

    # An idle client that never sends: the daemon keeps answering everyone else meanwhile.
    idle = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    idle.connect(SOCK)
    idle_since = time.time()

    c = ctl_json("show", "counters")
    ports = {p["name"]: p for p in c.get("ports", [])}
    check(ports.get("lan", {}).get("ipackets") == len(lan_in) and ports.get("wan", {}).get("ipackets") == len(wan_in),
          f"show counters: port RX {ports.get('lan', {}).get('ipackets')}/{ports.get('wan', {}).get('ipackets')} "
          f"= frames sent {len(lan_in)}/{len(wan_in)}")
    t = c.get("total", {})
    check(t.get("rx") == len(lan_in) + len(wan_in), f"show counters: workers received {t.get('rx')}")
    # The stray packet decrypts fine; the inbound check after decapsulation drops it.
    check(t.get("encapsulated") == N_OUT and t.get("decapsulated") == N_IN + 1,
          f"show counters: encapsulated {t.get('encapsulated')} decapsulated {t.get('decapsulated')}")
    check(t.get("drops", {}).get("policy_discard") == 2 and t.get("drops", {}).get("inbound_policy") == 1,
          "show counters: policy_discard 2 (rule + default), inbound_policy 1")
    check(ports.get("wan", {}).get("opackets") == N_OUT and ports.get("lan", {}).get("opackets") == N_IN,
          "show counters: port TX = ESP packets out, decapsulated packets to the LAN")

    k = c.get("ike", {})
    check(k.get("rx_500") == 1 and k.get("drops", {}).get("bad_udp_checksum") == 1 and k.get("dropped") == 1,
          f"show counters: IKE transport rx_500 {k.get('rx_500')} = 1, bad_udp_checksum 1")

    sas = {s["name"]: s for s in ctl_json("show", "sa").get("sas", [])}
    o, i = sas.get("out", {}), sas.get("in", {})
    check(o.get("spi") == 0x1001 and o.get("direction") == "outbound" and o.get("peer") == "192.0.2.2",
          "show sa: outbound SA's SPI, direction, peer")
    check(o.get("packets") == N_OUT and o.get("sequence") == N_OUT, f"show sa: out packets {o.get('packets')} = {N_OUT}")
    # The stray packet decrypts fine (the SA counts it); the gateway's inbound check drops it.
    check(i.get("packets") == N_IN + 1, f"show sa: in packets {i.get('packets')} = {N_IN} + the stray one")
    check(i.get("drops", {}).get("replay") == 1 and i.get("drops", {}).get("icv_fail") == 1 and i.get("dropped") == 2,
          "show sa: replay 1 and icv_fail 1, as sent")

    pol = ctl_json("show", "policy")
    rules = {r["name"]: r for r in pol.get("outbound", {}).get("rules", [])}
    # Decapsulated packets take the outbound SPD too (hub and spoke): the N_IN going to the LAN
    # match no outbound rule and count under the default without being dropped.
    check(rules.get("site", {}).get("hits") == N_OUT and rules.get("no-telnet", {}).get("hits") == 1 and
          pol["outbound"].get("default_hits") == 1 + N_IN,
          f"show policy: outbound hits site 20, no-telnet 1, default 1 + {N_IN} decapsulated")
    check(rules.get("site", {}).get("sa") == "out" and rules.get("no-telnet", {}).get("dport") == "23",
          "show policy: rule SA and ports")

    drops = {(d["layer"], d["name"]): d["count"] for d in ctl_json("show", "drops").get("drops", [])}
    check(drops.get(("esp", "replay")) == 1 and drops.get(("esp", "icv_fail")) == 1 and
          drops.get(("gateway", "policy_discard")) == 2 and drops.get(("gateway", "no_sa")) == 0 and
          drops.get(("ike", "bad_udp_checksum")) == 1,
          "show drops: every reason by name, counts as sent")
    routes = {r["prefix"]: r for r in ctl_json("show", "routes").get("routes", [])}
    check(routes.get("10.2.0.0/16", {}).get("via") == "192.0.2.2" and routes.get("10.1.0.0/16", {}).get("kind") == "connected",
          "show routes: static and connected routes")
    neigh = {n["ip"]: n for n in ctl_json("show", "neighbors").get("neighbors", [])}
    check(neigh.get("192.0.2.2", {}).get("mac") == PEER_MAC and neigh["192.0.2.2"].get("state") == "static",
          "show neighbors: the static entries")
    v = ctl_json("show", "version")
    check(v.get("worker_lcores") == [1] and v.get("main_lcore") == 0 and v.get("log_level") == "notice",
          "show version: [daemon] workers = 1 gave -l 0,1; --log-level overrides the file")
    p = {x["name"]: x for x in ctl_json("show", "ports").get("ports", [])}
    check(p.get("wan", {}).get("tx_queues") == 1 and p["wan"].get("control_tx_queue") is False and
          p.get("lan", {}).get("role") == "protected", "show ports: roles, tx_queues = 1 (no control queue)")

    # Text output: aligned tables with names from the drop tables.
    text = ctl("show", "sa").stdout
    check("spi 0x00001001" in text and "spi 0x00002001" in text and "replay" in text and "icv_fail" in text and
          "#pkts encaps: 20" in text, "show sa text: SPIs in hex, drop reasons by name")
    text = ctl("show", "counters").stdout
    check("inbound_policy" in text and "policy_discard" in text and "RX-PACKETS" in text and
          "IKE transport (UDP 500/4500):" in text and "rx_500 1" in text and "bad_udp_checksum 1" in text, "show counters text")
    for cmd in (["show", "ports"], ["show", "policy"], ["show", "routes"], ["show", "neighbors"], ["show", "drops"],
                ["show", "version"]):
        r = ctl(*cmd)
        check(r.returncode == 0 and len(r.stdout.splitlines()) >= 2, f"{' '.join(cmd)}: text output")
    text = ctl("show", "policy").stdout
    table = text.split("\n\n")[1].splitlines()[1:]  # the outbound table: header, rules, default, not IP
    check(len(table) == 5 and len({len(l) for l in table}) == 1 and table[0].endswith("HITS"),
          "show policy: aligned columns, hit counts right-aligned under HITS")

    # Bad requests.
    a = json.loads(raw_request(b"this is not json\n"))
    check(a["ok"] is False and "not valid JSON" in a["error"], "garbage: error answer")
    a = json.loads(raw_request(b'{"command": "show nonsense", "id": 9}\n'))
    check(a["ok"] is False and "unknown command" in a["error"] and a.get("id") == 9, "unknown command: error answer")
    r = ctl("show", "nonsense", ok=False)
    check(r.returncode == 1 and "unknown command" in r.stderr, "espritctl: unknown command reported, exit 1")
    a = raw_request(b"x" * 10000)
    check(b"longer than 4096 bytes" in a, "oversize line: error answer, connection closed")
    a = json.loads(raw_request(b'{"command": "show version"}\n').splitlines()[0])
    check(a["ok"] is True, "the daemon still serves after bad clients")

    # clear counters: the show commands count from zero (traffic is over), workers untouched.
    r = ctl("clear", "counters")
    check(r.returncode == 0 and "cleared" in r.stdout, "clear counters")
    c = ctl_json("show", "counters")
    check(c.get("since") == "clear" and c["total"]["rx"] == 0 and c["total"]["dropped"] == 0 and
          all(p["ipackets"] == 0 and p["opackets"] == 0 for p in c["ports"]), "after clear: counters from zero")
    k = c.get("ike", {})
    check(k.get("rx_500") == 0 and k.get("dropped") == 0 and k.get("drops", {}).get("bad_udp_checksum") == 0 and
          c.get("control", {}).get("ike") == 0, f"after clear: IKE transport and control counters from zero ({k})")
    sas = {s["name"]: s for s in ctl_json("show", "sa").get("sas", [])}
    check(sas["out"]["packets"] == 0 and sas["in"]["drops"]["replay"] == 0 and sas["out"]["sequence"] == N_OUT,
          "after clear: SA counters from zero, sequence number untouched")
    pol = ctl_json("show", "policy")
    check(all(r["hits"] == 0 for r in pol["outbound"]["rules"]), "after clear: policy hits from zero")

    # The idle client is disconnected (5 s) without ever having hurt anyone.
    idle.settimeout(10)
    try:
        closed = idle.recv(100) == b""
    except OSError:
        closed = False
    check(closed and time.time() - idle_since >= 4, "a client that never sends is disconnected after the idle timeout")
finally:
    proc.terminate()
    out, _ = proc.communicate(timeout=30)

check(proc.returncode in (0, -15), f"espritd exited cleanly ({proc.returncode})")
check(" info: " not in out and "running with" in out, "--log-level notice: no info lines")
summary = [l for l in out.splitlines() if l.startswith("worker 0:")]
check(summary and f"rx {len(lan_in) + len(wan_in)} " in summary[-1],
      "exit summary: totals since start (clear counters did not write worker memory)")
check(not os.path.exists(SOCK), "socket file removed at exit")

# [[port]] mac (on net_null, which can change its address; net_pcap cannot), an explicit worker list
# with main_lcore, and a control socket group.
cfg = CONFIG.replace('workers = 1', 'workers = [1]\nmain_lcore = 0\ncontrol_socket_group = "root"')
cfg = cfg.replace(f'device = "net_pcap1,rx_pcap={D}/wan_in.pcap,tx_pcap={D}/wan_out.pcap"',
                  'device = "net_null0"\nmac = "02:00:5e:00:53:01"')
with open(f"{D}/gw2.toml", "w") as f:
    f.write(cfg)
proc = subprocess.Popen([ESPRITD, "--config", f"{D}/gw2.toml"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                        text=True)
try:
    deadline = time.time() + 30
    v = {}
    while time.time() < deadline and not v:
        time.sleep(0.2)
        if os.path.exists(SOCK):
            v = ctl_json("show", "version")
    p = {x["name"]: x for x in ctl_json("show", "ports").get("ports", [])}
    check(p.get("wan", {}).get("mac") == "02:00:5e:00:53:01", "[[port]] mac set on the device")
    check(v.get("worker_lcores") == [1] and v.get("main_lcore") == 0 and v.get("log_level") == "debug",
          "workers = [1], main_lcore = 0, log_level from the file")
    check(stat.S_IMODE(os.stat(SOCK).st_mode) == 0o660 and os.stat(SOCK).st_gid == 0,
          "control_socket_group: mode 0660, group set")
finally:
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
check(proc.returncode in (0, -15) and " debug: control request" in out,
      "second daemon: clean exit, log_level = \"debug\" from the file logs control requests")
print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
