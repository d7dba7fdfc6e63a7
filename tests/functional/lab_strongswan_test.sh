#!/usr/bin/env bash
# The interop lab proven without our IKE: strongSwan in the espritd slot (the gw namespace) against
# the strongSwan peer, through scripts/lablib.sh — the same harness the espritd interop tests use.
# Per case: tunnel up (IKEv2 PSK), ping both ways through it, and the wire (captured on the peer's
# side) carries ESP-in-UDP/4500 only: no raw ESP, nothing else in the clear; through the NAT,
# strongSwan sees the NAT.
#   lab_strongswan_test.sh [ESPRITD]       the suite's cases: gcm direct, nec through NAT; with the
#                                          path of espritd, also espritd started in the gw slot (af_packet)
#   lab_strongswan_test.sh --all           3 proposal sets x direct/NAT x gw initiator/responder
#   lab_strongswan_test.sh CASE...         CASE = proposal:direct|nat[:initiator|responder]
# Needs root and strongSwan (scripts/bootstrap installs it). Logs of a failing case are kept and printed.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
LAB_NS=elt$$
. "$HERE/../../scripts/lablib.sh"
# root, strongSwan, namespaces (else skipped); LAB_RUN, FAILDIR, pass/fail, lab_down on exit
lab_test_begin --strongswan

ESPRITD=""
if [ $# -ge 1 ] && [ -f "$1" ]; then
  ESPRITD=$(realpath "$1")
  shift
fi
CASES=("$@")
if [ $# = 0 ]; then
  CASES=(gcm:direct nec:nat)
elif [ "$1" = --all ]; then
  CASES=()
  for p in nec aes256 gcm; do
    for m in direct nat; do
      for r in initiator responder; do CASES+=("$p:$m:$r"); done
    done
  done
fi

run_case() {
  local prop=$1 mode=$2 role=${3:-initiator} name=$1-$2-${3:-initiator}
  local ok=1 t0 ms counts
  echo "=== $name"
  LAB_PROPOSAL=$prop LAB_NAT=$([ "$mode" = nat ] && echo 1 || echo 0) LAB_GW_ROLE=$role
  LAB_PEER=strongswan LAB_IKE_PROPOSAL="" LAB_ESP_PROPOSAL=""
  check "$name: lab up" lab_up || ok=0
  [ $ok = 1 ] && { check "$name: capture started" lab_capture_start || ok=0; }
  if [ $ok = 1 ]; then
    t0=$(date +%s%N)
    lab_initiate 15
    check "$name: tunnel established (swanctl --list-sas on the peer)" lab_wait_tunnel 10 || ok=0
    ms=$((($(date +%s%N) - t0) / 1000000))
  fi
  if [ $ok = 1 ]; then
    echo "      IKE SA up in $ms ms: $(grep -E 'PRF_|/' "$LAB_RUN/list-sas.txt" | head -1 | tr -s ' ')"
    check "$name: ping both ways through the tunnel" lab_ping_through 3 || ok=0
    lab_capture_stop
    counts=$(lab_wire_counts "$LAB_RUN/wire.pcap")
    echo "      wire: $counts"
    local ike espinudp rawesp clear
    read -r ike espinudp rawesp clear <<<"$(sed 's/[a-z]*=//g' <<<"$counts")"
    # 12 ESP packets carried the pings; a capture on a loaded machine may miss the last ones
    check "$name: ESP-in-UDP on the wire" test "$espinudp" -ge 8 || ok=0
    check "$name: no raw ESP, nothing in the clear" test "$rawesp" = 0 -a "$clear" = 0 || ok=0
    check "$name: IKE started on UDP 500 and floated to 4500 (RFC 7296 2.23)" bash -c \
      "tshark -r '$LAB_RUN/wire.pcap' -Y 'isakmp && udp.dstport==500' 2>/dev/null | grep -q . &&
       tshark -r '$LAB_RUN/wire.pcap' -Y 'isakmp && udp.dstport==4500' 2>/dev/null | grep -q ." || ok=0
    if [ "$mode" = nat ]; then
      check "$name: strongSwan detected the NAT" \
        grep -q "host is behind NAT" "$LAB_RUN/$LAB_SW/charon.log" || ok=0
    fi
  fi
  [ $ok = 1 ] || lab_collect_logs "$FAILDIR/$name"
  lab_down
}

# espritd in the gw slot through the harness (no IKE yet): it starts on the lab's veths with
# net_af_packet and answers ping on its lan and wan addresses, from hl and from strongSwan's side.
espritd_slot() {
  local ok=1
  echo "=== espritd-slot"
  LAB_PEER=espritd LAB_NAT=0 LAB_GW_ROLE=responder LAB_PROPOSAL=gcm LAB_IKE_PROPOSAL="" LAB_ESP_PROPOSAL=""
  check "espritd-slot: lab up" lab_up || ok=0
  cat >"$LAB_RUN/espritd.toml" <<EOT
[daemon]
control_socket = "$LAB_RUN/espritd.sock"

[eal]
args = ["--no-huge", "-m 512", "-l 0,1", "--no-shconf", "--file-prefix $LAB_NS"]

[[port]]
name = "lan"
device = "net_af_packet_lan,iface=gw-lan"
role = "protected"
ipv4 = ["$LAB_GW_LAN/24"]

[[port]]
name = "wan"
device = "net_af_packet_wan,iface=gw-wan"
role = "unprotected"
ipv4 = ["$LAB_GW_PUB/24"]
EOT
  [ $ok = 1 ] && { check "espritd-slot: espritd runs in $LAB_GW" lab_espritd_start "$LAB_RUN/espritd.toml" "$ESPRITD" || ok=0; }
  if [ $ok = 1 ]; then
    ip netns exec $LAB_HL ping -c 1 -W 2 $LAB_GW_LAN >/dev/null 2>&1  # ARP first
    check "espritd-slot: hl pings espritd's lan address" quiet ip netns exec $LAB_HL ping -c 2 -i 0.2 -W 2 $LAB_GW_LAN || ok=0
    check "espritd-slot: strongSwan's side pings espritd's wan address" \
      quiet ip netns exec $LAB_SW ping -c 2 -i 0.2 -W 2 $LAB_GW_PUB || ok=0
  fi
  [ $ok = 1 ] || lab_collect_logs "$FAILDIR/espritd-slot"
  lab_down
}

t_start=$SECONDS
for c in "${CASES[@]}"; do
  IFS=: read -r p m r <<<"$c"
  run_case "$p" "$m" "$r"
done
[ -n "$ESPRITD" ] && espritd_slot
echo "$pass passed, $fail failed ($((SECONDS - t_start)) s)"
[ "$fail" -eq 0 ]
