#!/usr/bin/python3
"""espritd with IKE sections (issue 4, configuration): --check-config accepts the documented IKE
example (policies/tunnels bound to peers no longer refused: espritd runs IKE for them) and prints the
configuration's warnings; errors carry file:line:col and key; a PSK never reaches the output.

usage: espritd_ike_config_test.py ESPRITD DOCS/configuration.md"""
import os
import re
import subprocess
import sys
import tempfile

espritd, doc = sys.argv[1], sys.argv[2]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def example():
    text = open(doc).read()
    start = text.index("```toml\n", text.index("## IKE example")) + len("```toml\n")
    return text[start:text.index("\n```", start) + 1]


def run(config_text, *args):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "espritd.toml")
        with open(path, "w") as f:
            f.write(config_text)
        p = subprocess.run([espritd, "--config", path, *args], capture_output=True, text=True, timeout=30)
        return p.returncode, p.stdout + p.stderr, path


ex = example()
rc, out, path = run(ex, "--check-config")
check(rc == 0, "--check-config accepts the documented IKE example (rc %d)" % rc)
check("configuration OK" in out, "--check-config says configuration OK")
check("IKE is not implemented" not in out and "refusing" not in out, "no 'IKE not implemented' warning any more")
check("peer[1].psk" in out and "ikev2pass" not in out, "the short-PSK warning names the key, not the PSK")

bad = ex.replace('esp = ["aes256-sha256", "3des-sha1"]', 'esp = ["aes256gcm16-sha256", "3des-sha1"]')
rc, out, path = run(bad, "--check-config")
check(rc == 2, "AEAD with integrity is an error (rc %d)" % rc)
check(re.search(re.escape(path) + r":\d+:\d+: ike\.profile\[0\]\.esp\[0\]: .*AEAD", out) is not None,
      "the error names file:line:col and ike.profile[0].esp[0]: " + out.strip().splitlines()[-1])

secret = "correct-horse-battery-staple-42"
leaky = ex.replace('psk = "a long random passphrase, not this one"', 'psk = "%s"\nbogus = 1' % secret)
rc, out, _ = run(leaky, "--check-config")
check(rc == 2 and "peer[2].bogus: unknown key" in out, "an unknown key in a peer is an error")
check(secret not in out, "the PSK is not in the output")
syntax = ex.replace('psk = "a long random passphrase, not this one"', 'psk = "%s' % secret)
rc, out, _ = run(syntax, "--check-config")
check(rc == 2 and secret not in out, "a TOML syntax error on the psk line does not echo the PSK")

print("%d failure(s)" % len(failures))
sys.exit(1 if failures else 0)
