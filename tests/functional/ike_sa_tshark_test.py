"""tshark dissects every datagram of a whole IKE session between two Esprit stacks (IKE_SA_INIT
with INVALID_KE and COOKIE, IKE_AUTH, CREATE_CHILD_SA, IKE SA rekey, DPD, deletes), and of a second
session with IKE fragmentation (RFC 7383 SKF payloads), with no Malformed Packet and no expert error
or warning, on UDP 500 and 4500. The checks are ike_tshark_test.py's.

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
    # RFC 7383: the second session's IKE_AUTH and CREATE_CHILD_SA travel in SKF (type 53) payloads.
    frags = [(name, data) for name, data in samples if data[16] == 53]
    for k in ("ike_auth_request_1_fragment", "ike_auth_response_1_fragment"):
        if sum(1 for name, _ in frags if name == k) < 2:
            base.fail("the fragmented session has fewer than 2 %s datagrams" % k)
    for name, data in frags:
        if len(data) > 120:
            base.fail("%s is %d bytes, above the 120-byte fragment size" % (name, len(data)))
    with tempfile.TemporaryDirectory() as d:
        base.check_tshark(samples, d)
    print("PASS")


if __name__ == "__main__":
    main()
