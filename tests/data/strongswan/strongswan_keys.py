#!/usr/bin/python3
"""strongswan_keys.py <charon.log> <capture.pcap> <proposal-set> > <set>.keys

Turns the key dumps of a charon log at ike=4/chd=4 (scripts/lablib.sh, LAB_LOGLEVEL=4) into a
small text file: one [ike N] section per IKE SA (SPIs from the capture, in the order they appear,
matched to the key derivations in log order), one [child N] section per Child SA. The initiator's
log is expected (spi_in/spi_out are the initiator's view).

strongswan_keys.py --wireshark DIR <set>.keys   writes Wireshark's UAT files (ikev2_decryption_table,
esp_sa) and preferences into DIR, so that `WIRESHARK_CONFIG_DIR=DIR tshark -r <set>.pcap` decrypts
every IKE message and ESP packet. (Several `-o uat:ikev2_decryption_table:...` options do not add
up in tshark 4.0: the last one wins. A UAT file holds them all.)
"""
import re
import subprocess
import sys

LINE = re.compile(r'^\S+ (\d+)\[(\w+)\] (?:<[^>]*> )?(.*)$')
DUMP = re.compile(r'^\s*\d+: ((?:[0-9A-F]{2} ?)+)')
HDR = re.compile(r'^(.*\S) => (\d+) bytes @')
IKE_NAMES = {"shared Diffie Hellman secret": "dh_shared", "SKEYSEED": "skeyseed", "Sk_d secret": "sk_d",
             "Sk_ai secret": "sk_ai", "Sk_ar secret": "sk_ar", "Sk_ei secret": "sk_ei", "Sk_er secret": "sk_er",
             "Sk_pi secret": "sk_pi", "Sk_pr secret": "sk_pr"}
CHILD_NAMES = {"DH secret": "dh_shared", "seed": "seed",
               "encryption initiator key": "encr_i", "encryption responder key": "encr_r",
               "integrity initiator key": "integ_i", "integrity responder key": "integ_r"}


def parse(log):
    """-> list of (group, name, hexbytes) key dumps and child SPI lines, in log order"""
    events, cur = [], {}
    for raw in open(log, errors="replace"):
        m = LINE.match(raw.rstrip("\n"))
        if not m:
            continue
        th, grp, msg = m.groups()
        d = DUMP.match(msg)
        if d and th in cur:
            cur[th][2].append(d.group(1).replace(" ", "").lower())
            continue
        cur.pop(th, None)
        h = HDR.match(msg)
        if h and (grp, h.group(1)) in [("IKE", n) for n in IKE_NAMES] + [("CHD", n) for n in CHILD_NAMES]:
            ev = [grp, h.group(1), []]
            events.append(ev)
            cur[th] = ev
            continue
        s = re.search(r'CHILD_SA \S+\{(\d+)\} established with SPIs ([0-9a-f]+)_i ([0-9a-f]+)_o', msg)
        if s:
            events.append(["SPI", s.group(1), [s.group(2), s.group(3)]])
    return [(g, n, "".join(v) if g != "SPI" else v) for g, n, v in events]


def ike_spis(pcap):
    out = subprocess.run(["tshark", "-r", pcap, "-Y", "isakmp", "-T", "fields", "-e", "isakmp.ispi",
                          "-e", "isakmp.rspi"], capture_output=True, text=True).stdout
    pairs = []
    for line in out.splitlines():
        i, r = (line.split("\t") + [""])[:2]
        i, r = i.replace(":", ""), r.replace(":", "")
        if r and int(r, 16) != 0 and (i, r) not in pairs:
            pairs.append((i, r))
    return pairs


def build(log, pcap):
    ikes, children = [], []
    for g, n, v in parse(log):
        if g == "IKE":
            if n == "shared Diffie Hellman secret" or not ikes:
                ikes.append({})
            ikes[-1][IKE_NAMES[n]] = v
        elif g == "CHD":
            if n in ("DH secret", "seed") and not (n == "seed" and children and list(children[-1]) == ["dh_shared"]):
                children.append({})
            children[-1][CHILD_NAMES[n]] = v
        elif g == "SPI":
            for c in children:
                if "spi_in" not in c:
                    c["spi_in"], c["spi_out"] = v
                    break
    for ike, (i, r) in zip(ikes, ike_spis(pcap)):
        ike["spi_i"], ike["spi_r"] = i, r
    return ikes, children


IKE_ENC = {(20, 0): "AES-GCM-128 with 16 octet ICV [RFC5282]", (32, 32): "AES-CBC-256 [RFC3602]",
           (24, 20): "3DES [RFC2451]", (16, 32): "AES-CBC-128 [RFC3602]"}
IKE_INT = {0: "NONE [RFC4306]", 20: "HMAC_SHA1_96 [RFC2404]", 32: "HMAC_SHA2_256_128 [RFC4868]"}
ESP_ENC = {20: "AES-GCM with 16 octet ICV [RFC4106]", 32: "AES-CBC [RFC3602]", 16: "AES-CBC [RFC3602]",
           24: "TripleDES-CBC [RFC2451]"}
ESP_INT = {0: "NULL", 20: "HMAC-SHA-1-96 [RFC2404]", 32: "HMAC-SHA-256-128 [RFC4868]"}


def read_keys(path):
    """<set>.keys -> (ikes, children), the inverse of main()'s output"""
    ikes, children, cur = [], [], None
    for line in open(path):
        line = line.strip()
        if line.startswith("[ike"):
            cur = {}
            ikes.append(cur)
        elif line.startswith("[child"):
            cur = {}
            children.append(cur)
        elif "=" in line and not line.startswith("#") and cur is not None:
            k, v = (x.strip() for x in line.split("=", 1))
            cur[k] = v
    return ikes, children


def write_wireshark(ikes, children, out):
    import os
    os.makedirs(out, exist_ok=True)
    ike_rows, esp_rows = [], []
    for k in ikes:
        el, al = len(k["sk_ei"]) // 2, len(k.get("sk_ai", "")) // 2
        ike_rows.append(f'{k["spi_i"]},{k["spi_r"]},{k["sk_ei"]},{k["sk_er"]},'
                    f'"{IKE_ENC[(el, al)]}",{k.get("sk_ai", "")},{k.get("sk_ar", "")},"{IKE_INT[al]}"')
    for c in children:
        for spi, e, a in ((c["spi_out"], c["encr_i"], c.get("integ_i", "")),
                          (c["spi_in"], c["encr_r"], c.get("integ_r", ""))):
            esp_rows.append(f'"IPv4","*","*","0x{spi}","{ESP_ENC[len(e) // 2]}","0x{e}",'
                        f'"{ESP_INT[len(a) // 2]}","0x{a}"')
    with open(f"{out}/ikev2_decryption_table", "w") as f:
        f.write("# Wireshark UAT: hex fields unquoted, names quoted\n" + "\n".join(ike_rows) + "\n")
    with open(f"{out}/esp_sa", "w") as f:
        f.write("\n".join(esp_rows) + "\n")
    with open(f"{out}/preferences", "w") as f:
        f.write("esp.enable_encryption_decode: TRUE\nesp.enable_authentication_check: TRUE\n")


def main():
    if sys.argv[1] == "--wireshark":
        write_wireshark(*read_keys(sys.argv[3]), sys.argv[2])
        return
    args = sys.argv[1:]
    ikes, children = build(args[0], args[1])
    print(f"# keys of the capture {args[2]}.pcap, from the initiator's charon log (ike=4, chd=4);")
    print("# hex, no separators. spi_in/spi_out and the ESP keys are the initiator's view:")
    print("# encr_i/integ_i protect initiator->responder (spi_out), encr_r/integ_r the other way (spi_in).")
    for n, k in enumerate(ikes, 1):
        print(f"\n[ike {n}]")
        for key in ("spi_i", "spi_r", "dh_shared", "skeyseed", "sk_d", "sk_ai", "sk_ar", "sk_ei", "sk_er",
                    "sk_pi", "sk_pr"):
            if key in k:
                print(f"{key} = {k[key]}")
    for n, c in enumerate(children, 1):
        print(f"\n[child {n}]")
        for key in ("spi_in", "spi_out", "dh_shared", "seed", "encr_i", "encr_r", "integ_i", "integ_r"):
            if key in c:
                print(f"{key} = {c[key]}")


if __name__ == "__main__":
    main()
