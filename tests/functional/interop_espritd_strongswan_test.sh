#!/usr/bin/env bash
# espritd's IKEv2 against strongSwan in the lab (scripts/lablib.sh, espritd in the gw slot over
# net_af_packet, strongSwan with kernel-libipsec on the other side). Per case: espritd and strongSwan
# negotiate with a PSK, the tunnel is up on both sides (swanctl --list-sas, espritctl show ikev2 sa),
# ping passes host-left <-> host-right through it both ways, and the wire (captured on strongSwan's
# side) carries IKE and ESP-in-UDP/4500 only: no raw ESP, nothing in the clear.
#   interop_espritd_strongswan_test.sh ESPRITD ESPRITCTL [CASE...]
#     CASE = proposal:role[:nat], proposal nec | aes256 | gcm; role = espritd's: initiator
#     (connect_type auto), responder (negotiation_direction responder, strongSwan initiates) or ctl
#     (connect_type trigger, brought up by `espritctl initiate`, then deleted by strongSwan) or
#     trigger (connect_type trigger, brought up by traffic: acquire on no_sa); nat: through the lab's NAT (in
#     front of the initiator); rekey instead of nat: strongSwan rekeys Child, IKE, Child SA during a ping.
#     gcm:initiator also clears the IKE SA with espritctl and checks that
#     the auto peer comes back and carries traffic again.
#     default: gcm:initiator:rekey gcm:responder nec:trigger aes256:initiator
# Needs root and strongSwan (else skipped, 77). Logs of a failing case are kept and printed.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
export LAB_NS=eis$$
export LAB_RUN=/tmp/esprit-lab/$LAB_NS
. "$HERE/../../scripts/lablib.sh"
FAILDIR=/tmp/esprit-lab/failed-$LAB_NS
pass=0
fail=0
check() {  # description, command...
  local what=$1
  shift
  if "$@"; then echo "ok    $what"; pass=$((pass + 1)); else echo "FAIL  $what"; fail=$((fail + 1)); return 1; fi
}
quiet() { "$@" >/dev/null 2>&1; }
trap 'lab_down >/dev/null 2>&1; rm -rf "$LAB_RUN"' EXIT

if [ ! -x /usr/lib/ipsec/charon ] || ! command -v swanctl >/dev/null; then
  echo "strongSwan is not installed (scripts/bootstrap installs it)"
  exit 77
fi
if [ $# -lt 2 ]; then
  echo "usage: $0 ESPRITD ESPRITCTL [proposal:role ...]" >&2
  exit 2
fi
ESPRITD=$(realpath "$1")
ESPRITCTL=$(realpath "$2")
shift 2
CASES=("$@")
[ $# = 0 ] && CASES=(gcm:initiator:rekey gcm:responder nec:trigger aes256:initiator)

ctl() { "$ESPRITCTL" --socket "$LAB_RUN/espritd.sock" "$@"; }

# espritd.toml for the case: lan/wan ports, the strongSwan peer, one policy (both directions) bound to it.
write_config() {
  local role=$1 nat=$2 dir=both connect=trigger wan=$LAB_GW_PUB route=""
  [ "$role" = initiator ] && connect=auto
  [ "$role" = responder ] && dir=responder
  if [ "$nat" = nat ] && [ "$(lab_natted_side)" = gw ]; then
    wan=$LAB_PRIV
    route="[[route]]
prefix = \"0.0.0.0/0\"
via = \"$LAB_PRIV_GW\"
port = \"wan\""
  fi
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
ipv4 = ["$wan/24"]

$route

[ike]
keys_file = "$LAB_RUN/ikev2_decryption_table"

[[peer]]
name = "sw"
address = "$LAB_SW_PUB"
local_id = "fqdn:$LAB_GW_ID"
remote_id = "fqdn:$LAB_SW_ID"
psk = "$LAB_PSK"
ike = ["$LAB_IKE_PROPOSAL"]
esp = ["$LAB_ESP_PROPOSAL"]
connect_type = "$connect"
negotiation_direction = "$dir"

[[policy]]
name = "lab"
src = "$LAB_LEFT_NET"
dst = "$LAB_RIGHT_NET"
action = "protect"
peer = "sw"
EOT
}

# espritd counted drops for reason no_sa.
no_sa_counted() {
  ctl --json show drops | /usr/bin/python3 -c 'import json, sys
d = json.load(sys.stdin)
sys.exit(0 if any(x.get("name") == "no_sa" and x.get("count", 0) > 0 for x in d["drops"]) else 1)'
}

# espritctl show ikev2 sa lists an established IKE SA of peer sw.
espritd_has_sa() {
  local deadline=$((SECONDS + ${1:-10}))
  while [ $SECONDS -le $deadline ]; do
    ctl --json show ikev2 sa >"$LAB_RUN/espritd-sa.json" 2>&1 && grep -qi '"establish' "$LAB_RUN/espritd-sa.json" && return 0
    sleep 0.3
  done
  return 1
}

run_case() {
  local prop=$1 role=$2 nat=${3:-direct} name=$1-espritd-$2-${3:-direct} ok=1 t0 ms counts
  echo "=== $name"
  # LAB_GW_ROLE is the gw slot's (espritd's) role; lab_initiate makes strongSwan initiate when it is the responder.
  LAB_PROPOSAL=$prop LAB_NAT=$([ "$nat" = nat ] && echo 1 || echo 0)
  LAB_GW_ROLE=$([ "$role" = responder ] && echo responder || echo initiator)
  LAB_REKEY=0 LAB_PEER=espritd LAB_IKE_PROPOSAL="" LAB_ESP_PROPOSAL=""
  check "$name: lab up" lab_up || ok=0
  [ $ok = 1 ] && write_config "$role" "$nat"
  [ $ok = 1 ] && { check "$name: capture started" lab_capture_start || ok=0; }
  [ $ok = 1 ] && { check "$name: espritd runs in $LAB_GW" lab_espritd_start "$LAB_RUN/espritd.toml" "$ESPRITD" || ok=0; }
  if [ $ok = 1 ]; then
    if [ "$role" = responder ]; then
      # Before any SA: the policy's traffic is dropped as no_sa, never sent in clear (the wire check below).
      quiet ip netns exec $LAB_HL ping -c 2 -i 0.2 -W 1 $LAB_HR_ADDR
      check "$name: before IKE, protected traffic is dropped as no_sa" \
        no_sa_counted || ok=0
    fi
    t0=$(date +%s%N)
    [ "$role" = responder ] && lab_initiate 15
    [ "$role" = ctl ] && { check "$name: espritctl initiate sw" quiet ctl initiate sw || ok=0; }
    # trigger: the first packets of the policy are dropped as no_sa and start the IKE SA (acquire)
    [ "$role" = trigger ] && quiet ip netns exec $LAB_HL ping -c 3 -i 0.5 -W 1 $LAB_HR_ADDR
    check "$name: tunnel established (swanctl --list-sas on strongSwan)" lab_wait_tunnel 20 || ok=0
    ms=$((($(date +%s%N) - t0) / 1000000))
  fi
  if [ $ok = 1 ]; then
    echo "      IKE SA up in $ms ms: $(grep -E 'PRF_|/' "$LAB_RUN/list-sas.txt" | head -1 | tr -s ' ')"
    check "$name: espritctl show ikev2 sa shows it" espritd_has_sa 10 || ok=0
    ctl show ikev2 sa >"$LAB_RUN/show-ikev2-sa.txt" 2>&1
    ctl show ikev2 child-sa >"$LAB_RUN/show-ikev2-child-sa.txt" 2>&1
    check "$name: ping both ways through the tunnel" lab_ping_through 3 || ok=0
    lab_capture_stop
    counts=$(lab_wire_counts "$LAB_RUN/wire.pcap")
    echo "      wire: $counts"
    local ike espinudp rawesp clear
    read -r ike espinudp rawesp clear <<<"$(sed 's/[a-z]*=//g' <<<"$counts")"
    check "$name: ESP-in-UDP on the wire" test "$espinudp" -ge 8 || ok=0
    check "$name: no raw ESP, nothing in the clear" test "$rawesp" = 0 -a "$clear" = 0 || ok=0
    check "$name: IKE started on UDP 500 and floated to 4500 (kernel-libipsec encapsulates)" bash -c \
      "tshark -r '$LAB_RUN/wire.pcap' -Y 'isakmp && udp.port==500' 2>/dev/null | grep -q . &&
       tshark -r '$LAB_RUN/wire.pcap' -Y 'isakmp && udp.port==4500' 2>/dev/null | grep -q ." || ok=0
    if [ "$nat" = nat ]; then
      check "$name: strongSwan detected the NAT" grep -q "behind NAT" "$LAB_RUN/$LAB_SW/charon.log" || ok=0
    fi
    check "$name: the Child SAs' keys are in the Wireshark esp_sa file" \
      bash -c "[ \$(grep -c . '$LAB_RUN/esp_sa' 2>/dev/null || echo 0) -ge 2 ]" || ok=0
    if [ "$nat" = rekey ]; then
      # strongSwan rekeys the Child SA, the IKE SA, then the Child SA again during an 8 s ping.
      ip netns exec $LAB_HL ping -c 40 -i 0.2 -W 1 $LAB_HR_ADDR >"$LAB_RUN/ping-rekey.out" 2>&1 &
      local pp=$! got
      sleep 2; lab_sw sw --rekey --child net >"$LAB_RUN/rekey1.out" 2>&1
      sleep 2; lab_sw sw --rekey --ike lab >"$LAB_RUN/rekey2.out" 2>&1
      sleep 2; lab_sw sw --rekey --child net >"$LAB_RUN/rekey3.out" 2>&1
      wait $pp
      got=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$LAB_RUN/ping-rekey.out")
      echo "      ping ${got:-0}/40 through 2 Child SA rekeys and 1 IKE SA rekey"
      check "$name: strongSwan rekeyed the Child SA twice" \
        test "$(grep -c 'closing CHILD_SA net' "$LAB_RUN/$LAB_SW/charon.log")" -ge 2 || ok=0
      check "$name: strongSwan rekeyed the IKE SA" grep -q "IKE_SA lab\[[0-9]*\] rekeyed" "$LAB_RUN/$LAB_SW/charon.log" || ok=0
      check "$name: ping kept passing through the rekeys (>= 38/40)" test "${got:-0}" -ge 38 || ok=0
      check "$name: the tunnel is still up" lab_wait_tunnel 5 || ok=0
    fi
    ctl show ikev2 statistics >"$LAB_RUN/show-ikev2-statistics.txt" 2>&1
    if [ "$prop:$role" = gcm:initiator ]; then
      # Delete from our side: espritctl clear sends the Delete; the auto peer is back 1 s later.
      check "$name: espritctl clear ikev2 sa sw" quiet ctl clear ikev2 sa sw || ok=0
      check "$name: strongSwan saw the Delete (IKE SA deleted)" bash -c \
        "for i in \$(seq 50); do grep -q 'received DELETE for IKE_SA' '$LAB_RUN/$LAB_SW/charon.log' && exit 0; sleep 0.1; done; exit 1" || ok=0
      sleep 2
      check "$name: the auto peer is re-established" lab_wait_tunnel 15 || ok=0
      check "$name: ping both ways after re-establishment" lab_ping_through 3 || ok=0
    fi
    if [ "$role" = ctl ]; then
      # Delete from strongSwan's side: espritd drops the IKE SA and its Child SAs (a trigger peer
      # stays down), its policy's traffic goes back to no_sa.
      quiet lab_sw sw --terminate --ike lab --timeout 10
      check "$name: after strongSwan's Delete, espritd has no IKE SA" bash -c \
        "for i in \$(seq 50); do '$ESPRITCTL' --socket '$LAB_RUN/espritd.sock' --json show ikev2 sa | grep -q '\"establish' || exit 0; sleep 0.1; done; exit 1" || ok=0
      check "$name: and the traffic is not carried any more" bash -c \
        "! ip netns exec $LAB_HL ping -c 2 -i 0.2 -W 1 $LAB_HR_ADDR >/dev/null 2>&1" || ok=0
    fi
    [ -n "${INTEROP_KEEP:-}" ] && cp "$LAB_RUN"/show-ikev2-*.txt "$LAB_RUN/wire.pcap" "$LAB_RUN"/ikev2_decryption_table "$INTEROP_KEEP/" 2>/dev/null
  fi
  [ $ok = 1 ] || lab_collect_logs "$FAILDIR/$name"
  lab_espritd_stop
  lab_down
}

t_start=$SECONDS
for c in "${CASES[@]}"; do
  IFS=: read -r p r n <<<"$c"
  run_case "$p" "$r" "$n"
done
echo "$pass passed, $fail failed ($((SECONDS - t_start)) s)"
[ "$fail" -eq 0 ]
