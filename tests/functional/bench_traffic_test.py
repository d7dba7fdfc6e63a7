#!/usr/bin/python3
"""scripts/bench's inputs are what they claim: for each mode, tests/bench/bench_traffic.py's config
loads and espritd forwards its pcap (replayed with infinite_rx) without a drop. Decap pcaps carry ESP
made with the `cryptography` package (checked against scapy by the generator), so this is also a
cross-check of espritd's AES-GCM and AES-CBC+HMAC-SHA1 decapsulation over many SAs.

Usage: bench_traffic_test.py path/to/espritd path/to/bench_traffic.py
A functional test: it checks counters, never timings.
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

ESPRITD, GEN = sys.argv[1], sys.argv[2]
SAS, PACKETS = 40, 400
failures = []


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what)
    if not cond:
        failures.append(what)


def run(mode, suite, size, extra=()):
    with tempfile.TemporaryDirectory(prefix="esprit-benchtest-") as d:
        out = os.path.join(d, "p")
        subprocess.run(["/usr/bin/python3", GEN, mode, suite, size, str(SAS), str(PACKETS), out,
                        "--eal-prefix", "esprit-benchtest-%d" % os.getpid(), *extra], check=True)
        # Counters every 0.2 s; stop once the worker has been through the pcap twice (or after 30 s).
        p = subprocess.Popen([ESPRITD, "--config", out + ".toml", "--stats-interval", "0.2"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        lines = []
        deadline = time.time() + 30
        running = False
        for line in p.stdout:
            lines.append(line)
            running |= line.startswith("espritd: running")
            w = re.match(r"worker 0: rx (\d+)", line)
            if running and (time.time() > deadline or (w and int(w[1]) >= 2 * PACKETS)):
                break
        if running:
            p.send_signal(signal.SIGINT)
        try:
            rest = p.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            p.kill()
            rest = p.communicate()[0]
        text = "".join(lines) + (rest or "")
        # The counters printed at exit: the last worker line and the SA lines after it.
        final = text[text.rfind("worker 0:"):] if "worker 0:" in text else ""
        name = "%s %s %s%s" % (mode, suite if mode != "bypass" else "", size, " replay" if extra else "")
        w = re.match(r"worker 0: rx (\d+) tx (\d+) punted \d+ encap (\d+) decap (\d+) bypass (\d+) fragmented \d+ fragments \d+ reassembled \d+ mss_clamped \d+ icmp_sent \d+ icmp_suppressed \d+ handed_off \d+(.*)$", final, re.M)
        check(p.returncode == 0 and w is not None, name + ": espritd ran and printed its counters")
        if not w:
            print(text[-2000:])
            return None
        rx, tx, encap, decap, bypass, drops = int(w[1]), int(w[2]), int(w[3]), int(w[4]), int(w[5]), w[6].strip()
        sa_drops = [l for l in final.splitlines() if l.startswith("sa slot") and len(l.split()) > 10]
        return name, rx, tx, encap, decap, bypass, drops, sa_drops


for mode, suite, size in (("bypass", "gcm", "imix"), ("encap", "gcm", "64"), ("encap", "cbc", "imix"),
                          ("decap", "gcm", "imix"), ("decap", "cbc", "1420")):
    r = run(mode, suite, size)
    if not r:
        continue
    name, rx, tx, encap, decap, bypass, drops, sa_drops = r
    check(rx > PACKETS and tx == rx, "%s: every received packet sent (rx %d tx %d)" % (name, rx, tx))
    done = {"bypass": bypass, "encap": encap, "decap": decap}[mode]
    check(done == rx, "%s: all %s (%d of %d)" % (name, mode, done, rx))
    check(not drops and not sa_drops, "%s: no drops, none on any of the %d SAs (%s %s)" % (name, SAS, drops, sa_drops[:2]))

# Replay check on: the first pass is decapsulated, every replayed packet dropped.
r = run("decap", "gcm", "64", ("--replay",))
if r:
    name, rx, tx, encap, decap, bypass, drops, sa_drops = r
    check(decap == PACKETS and tx == PACKETS, "%s: the first pass only is decapsulated (%d of %d)" % (name, decap, PACKETS))
    check(len(sa_drops) == SAS, "%s: replays dropped on every SA (%d SAs with drops)" % (name, len(sa_drops)))

print("%d failure(s)" % len(failures))
sys.exit(1 if failures else 0)
