#!/usr/bin/env bash
# The IKE load generator end to end (scripts/ikeload, tests/perf/ikeload.cpp): esprit-ikeload opens
# N IKE SAs with Child SAs against espritd and against strongSwan's charon in the lab; every setup
# must succeed on both, both responders must hold N IKE SAs with N Child SAs, and the figures
# (setups/s, latency percentiles, memory, ratio) must print. No timing is asserted.
#   ikeload_test.sh BUILD_DIR [COUNT]
# Needs root and strongSwan (else skipped, 77).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
LAB_NS=eil$$
. "$HERE/../../scripts/lablib.sh"
# root, strongSwan, namespaces (else skipped); LAB_RUN (scripts/ikeload's), lab_down on exit
lab_test_begin --strongswan
BUILD=$1 N=${2:-30}
out=$(mktemp)
lab_test_cleanup() { rm -f "$out"; rm -rf "$LAB_RUN-results"; }
"$HERE/../../scripts/ikeload" --count "$N" --concurrency 8 --proposal gcm --responder both --build "$BUILD" \
  --timeout 60 >"$out" 2>&1
rc=$?
cat "$out"
check "scripts/ikeload exits 0 (all setups done on both)" test $rc = 0
check "both generators report $N of $N done" test "$(grep -c "^  \[.* generator\] done: $N of $N IKE SAs" "$out")" = 2
check "no failures" test "$(grep -c '^  \[.* generator\] failures: 0$' "$out")" = 2
check "setups/s row has a figure per responder" grep -Eq '^setups/s +[0-9.]+ +[0-9.]+$' "$out"
check "p99 row has a figure per responder" grep -Eq '^latency p99 ms +[0-9.]+ +[0-9.]+$' "$out"
check "responders hold $N IKE SAs / $N Child SAs" grep -Eq "^responder IKE SAs / Child SAs +$N/$N +$N/$N$" "$out"
check "memory rows print" grep -Eq '^responder VmRSS holding MiB +[0-9.]+ +[0-9.]+$' "$out"
check "ratio prints" grep -Eq '^ratio espritd/charon setups/s: [0-9.]+$' "$out"
check "espritctl show ikev2 statistics printed" grep -q '^  \[espritd\] ' "$out"
[ "$fail" -eq 0 ]
