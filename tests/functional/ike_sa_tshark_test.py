"""tshark dissects every datagram of a whole IKE session between two Esprit stacks (IKE_SA_INIT
with INVALID_KE and COOKIE, IKE_AUTH, CREATE_CHILD_SA, IKE SA rekey, DPD, deletes) with no Malformed
Packet and no expert error or warning, on UDP 500 and 4500. The checks are ike_tshark_test.py's.

Usage: ike_sa_tshark_test.py IKE_SA_TOOL
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ike_tshark_test as base  # noqa: E402


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    samples = base.dump(sys.argv[1])
    kinds = {name.rsplit("_", 1)[0] for name, _ in samples}
    for k in ("ike_sa_init_request", "ike_sa_init_response", "ike_auth_request", "ike_auth_response",
              "create_child_sa_request", "create_child_sa_response", "informational_request",
              "informational_response"):
        if k not in kinds:
            base.fail("the session has no %s" % k)
    with tempfile.TemporaryDirectory() as d:
        base.check_tshark(samples, d)
    print("PASS")


if __name__ == "__main__":
    main()
