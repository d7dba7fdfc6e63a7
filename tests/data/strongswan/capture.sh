#!/usr/bin/env bash
# capture.sh [set...]: regenerates <set>.pcap and <set>.keys here for the proposal sets (default:
# nec aes256 gcm) with two charons in the lab (scripts/lablib.sh, direct, no NAT; gw initiates).
# One IKE SA's life per set: IKE_SA_INIT, IKE_AUTH (first Child SA), pings, CREATE_CHILD_SA Child SA
# rekey (with PFS), CREATE_CHILD_SA IKE SA rekey, DPD (empty INFORMATIONAL after dpd_delay 2 s
# without traffic), INFORMATIONAL delete of the Child SA, then of the IKE SA. Needs root.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
export LAB_NS=ecap$$ LAB_RUN=/tmp/esprit-lab/ecap$$ LAB_LOGLEVEL=4 LAB_DPD=2 LAB_PEER=strongswan LAB_NAT=0
. "$HERE/../../../scripts/lablib.sh"
trap 'lab_down >/dev/null 2>&1; rm -rf "$LAB_RUN"' EXIT
SETS=("$@")
[ $# -gt 0 ] || SETS=(nec aes256 gcm)
step() { lab_sw gw "$@" >>"$LAB_RUN/steps.out" 2>&1 || { lab_log "swanctl $* failed"; exit 1; }; }
for s in "${SETS[@]}"; do
  LAB_PROPOSAL=$s LAB_IKE_PROPOSAL="" LAB_ESP_PROPOSAL=""
  lab_up || exit 1
  lab_capture_start "$LAB_RUN/raw.pcap" || exit 1
  lab_initiate 10 && lab_wait_tunnel 5 || { lab_collect_logs "$LAB_RUN/failed"; exit 1; }
  lab_ping_through 2
  step --rekey --child net
  sleep 0.5
  step --rekey --ike lab
  sleep 0.5
  ip netns exec $LAB_HL ping -c 1 -W 2 $LAB_HR_ADDR >/dev/null
  sleep 3.5   # dpd_delay 2 s without traffic: both sides send an empty INFORMATIONAL
  step --terminate --child net
  sleep 0.3
  step --terminate --ike lab
  sleep 0.5
  lab_capture_stop
  cat "$LAB_RUN/steps.out" >&2
  # keep IKE and ESP-in-UDP only (no ARP, no IPv6 neighbour traffic)
  tshark -r "$LAB_RUN/raw.pcap" -Y 'udp.port == 500 || udp.port == 4500' -F pcap -w "$HERE/$s.pcap" 2>/dev/null
  /usr/bin/python3 "$HERE/strongswan_keys.py" "$LAB_RUN/$LAB_GW/charon.log" "$HERE/$s.pcap" "$s" >"$HERE/$s.keys"
  lab_log "$s: $(tshark -r "$HERE/$s.pcap" 2>/dev/null | wc -l) frames in $s.pcap"
  lab_down
done
"$HERE/verify.sh" "$HERE"
