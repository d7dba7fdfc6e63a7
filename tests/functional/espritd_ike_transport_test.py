#!/usr/bin/python3
"""espritd wiring of the IKE transport and the keys file, on net_pcap ports: IKE datagrams to the
gateway (UDP 500, UDP 4500 with the marker) reach the IKE transport (counted as `ike`, logged at
debug level "no [[peer]] configured": this config has no peers), a datagram with a bad UDP checksum does not; with
[ike] keys_file set, espritd warns, creates both Wireshark files 0600 and writes the static SA.

Usage: espritd_ike_transport_test.py path/to/espritd
"""
import os
import re
import signal
import stat
import subprocess
import sys
import tempfile
import time

from scapy.all import IP, UDP, Ether, Raw, wrpcap, conf

conf.verb = 0

CONFIG = """
[daemon]
control_socket = "{d}/espritd.sock"
log_level = "debug"

[eal]
args = ["--no-huge", "-m 512", "-l 0,1", "--no-shconf", "--file-prefix esprit-{pid}-iketr"]

[ike]
keys_file = "{d}/keys/ikev2_decryption_table"

[[port]]
name = "lan"
device = "net_pcap0,rx_pcap={d}/lan_in.pcap,tx_pcap={d}/lan_out.pcap"
role = "protected"
ipv4 = ["10.1.0.1/16"]

[[port]]
name = "wan"
device = "net_pcap1,rx_pcap={d}/wan_in.pcap,tx_pcap={d}/wan_out.pcap"
role = "unprotected"
ipv4 = ["192.0.2.1/24"]

[[sa]]
name = "out"
spi = 0x1001
direction = "out"
mode = "tunnel"
local = "192.0.2.1"
remote = "192.0.2.2"
encr = "aes128gcm16"
encr_key = "0x0102030405060708090a0b0c0d0e0f1011121314"

[[policy]]
name = "p"
direction = "out"
src = "10.1.0.0/16"
dst = "10.2.0.0/16"
action = "protect"
sa = "out"
"""

failures = []


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what)
    if not cond:
        failures.append(what)


def main():
    espritd = sys.argv[1]
    with tempfile.TemporaryDirectory() as d:
        os.mkdir(os.path.join(d, "keys"))
        to_us = Ether(dst="02:00:00:00:00:02") / IP(src="192.0.2.2", dst="192.0.2.1")
        bad = Ether(bytes(to_us / UDP(sport=500, dport=500) / Raw(b"\x11" * 40)))
        bad[UDP].chksum ^= 0x5555
        wrpcap(os.path.join(d, "wan_in.pcap"),
               [to_us / UDP(sport=500, dport=500) / Raw(b"\x11" * 40),
                to_us / UDP(sport=31000, dport=4500) / Raw(b"\0\0\0\0" + b"\x22" * 60), bad])
        wrpcap(os.path.join(d, "lan_in.pcap"), [Ether() / IP(src="10.1.0.5", dst="10.1.0.1") / UDP(sport=1, dport=2)])
        cfg = os.path.join(d, "e.toml")
        with open(cfg, "w") as f:
            f.write(CONFIG.format(d=d, pid=os.getpid()))
        p = subprocess.Popen([espritd, "--config", cfg], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(3)
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=30)
        check(p.returncode == 0, "espritd exits cleanly (%s)" % p.returncode)
        check("writing IKE and ESP keys" in out and "warning" in out, "keys_file warning logged")
        check(out.count("dropped: no [[peer]] configured") == 2, "two IKE messages handed to the handler")
        check("60 bytes from 192.0.2.2:31000 to 192.0.2.1:4500" in out, "4500 from a NAT port, marker stripped (60 bytes)")
        m = re.search(r"control: .* ike (\d+)", out)
        check(m and m.group(1) == "3", "control ike counter counts the 3 punted frames")
        for name in ("ikev2_decryption_table", "esp_sa"):
            path = os.path.join(d, "keys", name)
            check(os.path.exists(path) and stat.S_IMODE(os.stat(path).st_mode) == 0o600, name + " created 0600")
        esp = open(os.path.join(d, "keys", "esp_sa")).read()
        check(esp.startswith('"IPv4","192.0.2.1","192.0.2.2","0x00001001","AES-GCM with 16 octet ICV [RFC4106]"'),
              "static SA written to esp_sa: " + esp.strip())
        if failures:
            print(out)
    if failures:
        print("%d failure(s)" % len(failures))
        sys.exit(1)
    print("PASS")


if __name__ == "__main__":
    main()
