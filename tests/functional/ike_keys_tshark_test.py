#!/usr/bin/python3
"""The Wireshark keys files ([ike] keys_file, control/wireshark_keys.cpp) are in the format tshark
reads: with them tshark decrypts ESP and IKEv2 SK payloads.

Usage: ike_keys_tshark_test.py WIRESHARK_KEYS_TOOL

ESP: scapy (an independent ESP implementation) encrypts an ICMP echo with an SA (AES-CBC-128 +
HMAC-SHA1-96, and AES-GCM-128/16); wireshark_keys_tool writes the SA's esp_sa line with our writer;
tshark, with its configuration directory pointed at the keys directory, must show the inner ICMP
payload. IKEv2: wireshark_keys_tool builds an IKE_AUTH request with our codec, seals it with our
SkCipher (AES-CBC-128 + HMAC-SHA2-256-128, and AES-GCM-256/16) and writes the IKE SA's line;
tshark must show the decrypted inner payloads (IDi, AUTH, SA, TSi, TSr) and no Malformed Packet.
Also checks the files are created 0600.
"""
import os
import re
import stat
import subprocess
import sys
import tempfile

from scapy.all import ICMP, IP, UDP, Ether, Raw, wrpcap  # noqa: E402
from scapy.layers.ipsec import ESP, SecurityAssociation  # noqa: E402

MARK = b"esprit-keys-file-proof"


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def tshark(confdir, pcap, *extra):
    env = dict(os.environ, WIRESHARK_CONFIG_DIR=confdir, HOME=confdir)
    # Preferences live in the same directory: ESP decryption is off unless enabled.
    r = subprocess.run(["tshark", "-n", "-r", pcap, "-o", "esp.enable_encryption_decode:TRUE", "-V", "-x", *extra],
                       env=env, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        fail("tshark: " + r.stderr)
    if "rror" in r.stderr and "uat" in r.stderr.lower():
        fail("tshark refused a UAT file: " + r.stderr)
    return r.stdout


def check_mode(path):
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode != 0o600:
        fail("%s has mode %o, want 600" % (path, mode))


def esp_case(tool, d, alg):
    src, dst, spi = "198.51.100.2", "192.0.2.1", 0x1000 + (alg == "gcm")
    if alg == "cbc":
        ek, ak = bytes(range(1, 17)), bytes(range(0x40, 0x54))
        sa = SecurityAssociation(ESP, spi=spi, crypt_algo="AES-CBC", crypt_key=ek, auth_algo="HMAC-SHA1-96",
                                 auth_key=ak, tunnel_header=IP(src=src, dst=dst))
        args = [ek.hex(), ak.hex()]
    else:
        ek = bytes(range(0x80, 0x94))  # 16-byte key | 4-byte salt (RFC 4106 8.1)
        sa = SecurityAssociation(ESP, spi=spi, crypt_algo="AES-GCM", crypt_key=ek, tunnel_header=IP(src=src, dst=dst))
        args = [ek.hex()]
    inner = IP(src="10.1.0.1", dst="10.2.0.1") / ICMP(type=8, id=7, seq=1) / Raw(MARK + alg.encode())
    pkt = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / sa.encrypt(inner)
    subprocess.run([tool, "esp", d, alg, src, dst, hex(spi), *args], check=True)
    pcap = os.path.join(d, "esp_%s.pcap" % alg)
    wrpcap(pcap, [pkt])
    with tempfile.TemporaryDirectory() as empty:  # control: without the keys nothing is decrypted
        if "Internet Control Message Protocol" in tshark(empty, pcap):
            fail("ESP %s: tshark shows the inner ICMP without keys: the check proves nothing" % alg)
    out = tshark(d, pcap)
    if "Internet Control Message Protocol" not in out:
        fail("ESP %s: tshark did not decrypt the inner ICMP:\n%s" % (alg, out[-3000:]))
    if "Malformed" in out:
        fail("ESP %s: Malformed Packet:\n%s" % (alg, out))
    print("ok esp %s: tshark decrypted the inner ICMP" % alg)


def ike_case(tool, d, alg):
    hexmsg = subprocess.run([tool, "ike", d, alg], check=True, capture_output=True, text=True).stdout.strip()
    msg = bytes.fromhex(hexmsg)
    pkts = [Ether() / IP(src="192.0.2.1", dst="198.51.100.2") / UDP(sport=500, dport=500) / Raw(msg),
            Ether() / IP(src="192.0.2.1", dst="198.51.100.2") / UDP(sport=4500, dport=4500) / Raw(b"\0\0\0\0" + msg)]
    pcap = os.path.join(d, "ike_%s.pcap" % alg)
    wrpcap(pcap, pkts)
    with tempfile.TemporaryDirectory() as empty:  # control: without the keys nothing is decrypted
        if "Payload: Authentication" in tshark(empty, pcap):
            fail("IKE %s: tshark shows inner payloads without keys: the check proves nothing" % alg)
    out = tshark(d, pcap)
    if "Malformed" in out or re.search(r"Expert Info \(Error", out):
        fail("IKE %s: Malformed or expert error:\n%s" % (alg, out))
    for want in ("Decrypted Data", "Payload: Identification - Initiator", "Payload: Authentication",
                 "Payload: Security Association", "Payload: Traffic Selector - Initiator",
                 "Payload: Traffic Selector - Responder"):
        if out.count(want) < 2:
            fail("IKE %s: tshark shows %r %d times, want 2 (500 and 4500):\n%s" % (alg, want, out.count(want), out[-4000:]))
    if re.search(r"Integrity Checksum.*incorrect", out):
        fail("IKE %s: tshark says the integrity checksum is incorrect" % alg)
    print("ok ike %s: tshark decrypted the SK payload (500 and 4500)" % alg)


def main():
    if len(sys.argv) != 2:
        fail(__doc__)
    tool = sys.argv[1]
    with tempfile.TemporaryDirectory() as d:
        for alg in ("cbc", "gcm"):
            esp_case(tool, d, alg)
            ike_case(tool, d, alg)
        check_mode(os.path.join(d, "ikev2_decryption_table"))
        check_mode(os.path.join(d, "esp_sa"))
        print(open(os.path.join(d, "ikev2_decryption_table")).read().strip())
        print(open(os.path.join(d, "esp_sa")).read().strip())
    print("PASS")


if __name__ == "__main__":
    main()
