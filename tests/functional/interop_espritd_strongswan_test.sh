#!/usr/bin/env bash
# espritd's IKEv2 against strongSwan in the lab (scripts/lablib.sh, espritd in the gw slot over
# net_af_packet, strongSwan with kernel-libipsec on the other side). Per case: espritd and strongSwan
# negotiate with a PSK, the tunnel is up on both sides (swanctl --list-sas, espritctl show ikev2 sa),
# ping passes host-left <-> host-right through it both ways, and the wire (captured on strongSwan's
# side for the whole case) carries IKE and ESP-in-UDP/4500 only: no raw ESP, nothing in the clear;
# tshark, given espritd's Wireshark keys files ([ike] keys_file: ikev2_decryption_table, esp_sa),
# decrypts every encrypted IKE message espritd sent (also those of rekeyed IKE SAs), finds no
# Malformed and no expert warning in them, and decrypts every ESP packet espritd sent (checking
# the ICV for HMAC algorithms).
#   interop_espritd_strongswan_test.sh ESPRITD ESPRITCTL [CASE...]
#     CASE = proposal:role[:option[+option...]], proposal nec | aes256 | gcm; role = espritd's:
#       initiator  connect_type auto
#       responder  negotiation_direction responder, strongSwan initiates
#       ctl        connect_type trigger, brought up by `espritctl initiate`
#       trigger    connect_type trigger, brought up by traffic (acquire on no_sa)
#       ctl and trigger: then deleted by strongSwan (swanctl --terminate); the next packets are
#       dropped as no_sa and bring the IKE SA up again (acquire)
#     options:
#       nat        through the lab's NAT (nftables masquerade in front of the initiator)
#       rekey      strongSwan rekeys Child, IKE, Child SA during an 8 s ping
#       lifetimes  espritd rekeys: child_lifetime 10 s, ike_lifetime 14 s, rekey_margin 5 s, jitter 1 s
#                  (Child SA rekeys every 5 s: never before half the lifetime; IKE SA every 8-9 s)
#                  during a 12 s ping that must lose nothing; new SPIs on both sides
#       dpd        dpd_interval 10 s, retransmit_count 2, retransmit_interval 5 s; charon is killed
#                  (SIGKILL: no Delete) and espritd must drop the IKE SA within 10 + 15 s (+2 s of
#                  slack); the policy's traffic then drops as no_sa (the wire check: nothing in the
#                  clear); an auto peer retries IKE_SA_INIT
#     gcm:initiator also clears the IKE SA with espritctl and checks that the auto peer comes back
#     and carries traffic again.
#     default: gcm:initiator:rekey gcm:responder:lifetimes nec:trigger aes256:initiator:nat+dpd
# Every case but dpd ends with espritd's stop: SIGTERM sends a Delete for its IKE SA (RFC 7296 1.4.1),
# which strongSwan receives and acts on at once (charon.log, swanctl --list-sas).
# Needs root and strongSwan (else skipped, 77). Logs of a failing case are kept and printed.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
LAB_NS=eis$$
. "$HERE/../../scripts/lablib.sh"
# root, strongSwan, namespaces (else skipped); LAB_RUN, FAILDIR, pass/fail, lab_down on exit
lab_test_begin --strongswan
if [ $# -lt 2 ]; then
  echo "usage: $0 ESPRITD ESPRITCTL [proposal:role[:options] ...]" >&2
  exit 2
fi
ESPRITD=$(realpath "$1")
ESPRITCTL=$(realpath "$2")
shift 2
CASES=("$@")
[ $# = 0 ] && CASES=(gcm:initiator:rekey gcm:responder:lifetimes nec:trigger aes256:initiator:nat+dpd)

ctl() { "$ESPRITCTL" --socket "$LAB_RUN/espritd.sock" "$@"; }

# espritd.toml for the case: lan/wan ports, the strongSwan peer, one policy (both directions) bound to it.
write_config() {
  local role=$1 opts=$2 dir=both connect=trigger wan=$LAB_GW_PUB route="" timers=""
  [ "$role" = initiator ] && connect=auto
  [ "$role" = responder ] && dir=responder
  if has nat "$opts" && [ "$(lab_natted_side)" = gw ]; then
    wan=$LAB_PRIV
    route="[[route]]
prefix = \"0.0.0.0/0\"
via = \"$LAB_PRIV_GW\"
port = \"wan\""
  fi
  if has lifetimes "$opts"; then
    timers="child_lifetime = 10
ike_lifetime = 14
rekey_margin = 5
rekey_jitter = 1"
  fi
  if has dpd "$opts"; then
    timers="$timers
dpd_interval = 10
retransmit_count = 2
retransmit_interval = 5"
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
keys_file = "$LAB_RUN/keys/ikev2_decryption_table"

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
$timers

[[policy]]
name = "lab"
src = "$LAB_LEFT_NET"
dst = "$LAB_RIGHT_NET"
action = "protect"
peer = "sw"
EOT
}

# has OPTION "opt1+opt2": the case has that option.
has() { [[ "+$2+" == *"+$1+"* ]]; }

# espritd counted drops for reason no_sa (more than $1, default 0).
no_sa_counted() {
  ctl --json show drops | /usr/bin/python3 -c 'import json, sys
d = json.load(sys.stdin)
sys.exit(0 if any(x.get("name") == "no_sa" and x.get("count", 0) > int(sys.argv[1]) for x in d["drops"]) else 1)' "${1:-0}"
}
no_sa_count() {
  ctl --json show drops | /usr/bin/python3 -c 'import json, sys
d = json.load(sys.stdin)
print(sum(x.get("count", 0) for x in d["drops"] if x.get("name") == "no_sa"))'
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

# "SPIi_SPIr childin/childout ..." (hex, no 0x) of espritd's newest established IKE SA
# (espritctl --json show ikev2 sa).
espritd_spis() {
  ctl --json show ikev2 sa | /usr/bin/python3 -c 'import json, sys
h = lambda x: x.replace("0x", "")
out = ""
for s in json.load(sys.stdin)["sas"]:
    if s["status"].startswith("establish"):
        out = h(s["spi_i"]) + "_" + h(s["spi_r"]) + " " + " ".join(h(c["spi_in"]) + "/" + h(c["spi_out"]) for c in s["children"])
print(out)'
}

# swanctl --list-sas shows espritd's current SPIs: IKE SA (SPIi_i SPIr_r) and its first Child SA
# (in = espritd's out, out = espritd's in). Both views are read again when a rekey fell in between.
spis_agree() {
  local a b ike child in out
  for _ in 1 2 3; do
    a=$(espritd_spis)
    lab_sw sw --list-sas >"$LAB_RUN/list-sas-after.txt" 2>&1
    b=$(espritd_spis)
    [ "$a" = "$b" ] || continue
    ike=${a%% *} child=${a#* }
    child=${child%% *} in=${child%/*} out=${child#*/}
    grep -q "${ike%_*}_i" "$LAB_RUN/list-sas-after.txt" && grep -q "${ike#*_}_r" "$LAB_RUN/list-sas-after.txt" &&
      grep -qE "in +$out" "$LAB_RUN/list-sas-after.txt" && grep -qE "out +$in" "$LAB_RUN/list-sas-after.txt" && return 0
    sleep 0.3
  done
  return 1
}

# espritd's IKE statistics, one field (e.g. rekeys_child, create_child_sa.send_request).
ikestat() {
  ctl --json show ikev2 statistics | /usr/bin/python3 -c 'import json, sys
v = json.load(sys.stdin)["statistics"]
for k in sys.argv[1].split("."):
    v = v.get(k, 0) if isinstance(v, dict) else 0
print(v)' "$1"
}

# A ping of $1 packets at 0.2 s in the background from host-left; ping_wait waits for it and sets
# PING_GOT to the replies (not in a $(...) subshell: only this shell can wait for it).
ping_start() { ip netns exec $LAB_HL ping -c "$1" -i 0.2 -W 1 $LAB_HR_ADDR >"$LAB_RUN/ping-bg.out" 2>&1 & PING_PID=$!; }
ping_wait() {
  wait "$PING_PID"
  PING_GOT=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$LAB_RUN/ping-bg.out")
  PING_GOT=${PING_GOT:-0}
}
# The icmp_seq numbers of 1..$1 without a reply in the last background ping.
ping_missing() {
  local n=$1 i miss=""
  for i in $(seq "$n"); do grep -q "icmp_seq=$i " "$LAB_RUN/ping-bg.out" || miss="$miss $i"; done
  echo "${miss:- none}"
}

# espritd rekeys (option lifetimes): Child SAs every 5 s, the IKE SA every 8-9 s; a 12 s ping loses nothing.
case_lifetimes() {
  local name=$1 before after got c0 i0
  before=$(espritd_spis)
  c0=$(ikestat rekeys_child) i0=$(ikestat rekeys_ike)
  ping_start 60
  ping_wait
  got=$PING_GOT
  after=$(espritd_spis)
  lab_sw sw --list-sas >"$LAB_RUN/list-sas-after.txt" 2>&1
  [ "$got" -lt 60 ] && LOSS_SEEN=1
  echo "      ping ${got:-0}/60 (no reply:$(ping_missing 60)) through espritd's rekeys: Child SA rekeys $(($(ikestat rekeys_child) - c0)), IKE SA rekeys $(($(ikestat rekeys_ike) - i0))"
  echo "      espritd before: $before"
  echo "      espritd after:  $after"
  echo "      strongSwan after: $(grep -E 'ESTABLISHED|INSTALLED' "$LAB_RUN/list-sas-after.txt" | tr -s ' ' | tr '\n' ';')"
  check "$name: espritd started Child SA rekeys (>= 2 during the ping)" test $(($(ikestat rekeys_child) - c0)) -ge 2 || return 1
  check "$name: espritd started an IKE SA rekey during the ping" test $(($(ikestat rekeys_ike) - i0)) -ge 1 || return 1
  check "$name: strongSwan never rekeyed (rekey_time 0): every CREATE_CHILD_SA request came from espritd" \
    test "$(ikestat create_child_sa.recv_request)" = 0 || return 1
  check "$name: ping kept passing through the rekeys (60/60)" test "${got:-0}" -ge 60 || return 1
  check "$name: espritctl shows new IKE and Child SPIs" bash -c \
    "[ -n '${after%% *}' ] && [ '${before%% *}' != '${after%% *}' ] && [ '${before#* }' != '${after#* }' ]" || return 1
  check "$name: swanctl --list-sas shows espritd's current SPIs (IKE and ESP)" spis_agree || return 1
  check "$name: the tunnel is still up (ping both ways)" lab_ping_through 3 || return 1
}

# Option dpd: charon is killed (SIGKILL, it sends nothing more); espritd's DPD finds the peer dead,
# drops the IKE SA and Child SAs; the policy's traffic is dropped as no_sa (never sent in clear:
# the wire check at the end).
case_dpd() {
  local name=$1 role=$2 t0 ms dpd0 ns0 gone=0 init0 got
  dpd0=$(ikestat dpd_sent) init0=$(ikestat ike_sa_init.send_request)
  lab_charon_kill sw
  t0=$(date +%s%N)
  ns0=$(no_sa_count)
  # Traffic keeps coming while the peer is dead: carried into the void on the old SA until DPD
  # gives up, then dropped as no_sa.
  ping_start 140
  # The probe goes 10 s after the last IKE message received (before the kill), the give-up 15 s
  # after the probe: at most 25 s after the kill. The bound allows 10 s more for a loaded machine
  # (27 s was missed once at a load average of 11); a hard lifetime would be hours away.
  while :; do
    ms=$((($(date +%s%N) - t0) / 1000000))
    if ! ctl --json show ikev2 sa | grep -q '"establish'; then gone=1; break; fi
    [ $ms -gt 35000 ] && break
    sleep 0.1
  done
  echo "      DPD: the IKE SA is gone $ms ms after charon was killed (dpd_interval 10 s, 2 retransmissions 5 s apart: <= 25 s)"
  check "$name: espritd detected the dead peer and dropped the IKE SA within 35 s" test $gone = 1 || return 1
  check "$name: show ikev2 statistics counts the DPD probe and its TIMEOUT" bash -c \
    "[ $(ikestat dpd_sent) -gt $dpd0 ] && [ $(ikestat informational.timeout) -ge 1 ] && [ $(ikestat failures.TIMEOUT) -ge 1 ]" || return 1
  check "$name: espritd removed the Child SAs (show ikev2 child-sa is empty)" bash -c \
    "! '$ESPRITCTL' --socket '$LAB_RUN/espritd.sock' --json show ikev2 sa | grep -q spi_in" || return 1
  sleep 2
  check "$name: the policy's traffic is now dropped as no_sa" no_sa_counted "$ns0" || return 1
  if [ "$role" = initiator ]; then
    # connect_type auto: re-establishment 1 s after the loss, IKE_SA_INIT retransmitted (5, 10 s)
    # and given up after 15 s, then again.
    check "$name: the auto peer retries (IKE_SA_INIT sent again)" bash -c \
      "for i in \$(seq 30); do [ \$('$ESPRITCTL' --socket '$LAB_RUN/espritd.sock' --json show ikev2 statistics |
        /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[\"statistics\"][\"ike_sa_init\"][\"send_request\"])') -gt $init0 ] && exit 0; sleep 0.1; done; exit 1" || return 1
  fi
  kill -INT "$PING_PID" 2>/dev/null
  ping_wait
  got=$PING_GOT
  echo "      ping after the kill: ${got:-0} replies; no_sa drops $(($(no_sa_count) - ns0))"
}

run_case() {
  local prop=$1 role=$2 opts=${3:-direct} name=$1-espritd-$2-${3:-direct} ok=1 t0 ms counts nat=0
  echo "=== $name"
  has nat "$opts" && nat=1
  # LAB_GW_ROLE is the gw slot's (espritd's) role; lab_initiate makes strongSwan initiate when it is the responder.
  LAB_PROPOSAL=$prop LAB_NAT=$nat
  LAB_GW_ROLE=$([ "$role" = responder ] && echo responder || echo initiator)
  LAB_REKEY=0 LAB_PEER=espritd LAB_IKE_PROPOSAL="" LAB_ESP_PROPOSAL=""
  check "$name: lab up" lab_up || ok=0
  [ $ok = 1 ] && { rm -rf "$LAB_RUN/keys" "$LAB_RUN/keys-natted"; mkdir -p "$LAB_RUN/keys"; write_config "$role" "$opts"; }
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
    if [ "$nat" = 1 ]; then
      check "$name: strongSwan detected the NAT" grep -q "behind NAT" "$LAB_RUN/$LAB_SW/charon.log" || ok=0
    fi
    check "$name: the Child SAs' keys are in the Wireshark esp_sa file" \
      bash -c "[ \$(grep -c . '$LAB_RUN/keys/esp_sa' 2>/dev/null || echo 0) -ge 2 ]" || ok=0
    if has rekey "$opts"; then
      # strongSwan rekeys the Child SA, the IKE SA, then the Child SA again during an 8 s ping.
      local got
      ping_start 40
      sleep 2; lab_sw sw --rekey --child net >"$LAB_RUN/rekey1.out" 2>&1
      sleep 2; lab_sw sw --rekey --ike lab >"$LAB_RUN/rekey2.out" 2>&1
      sleep 2; lab_sw sw --rekey --child net >"$LAB_RUN/rekey3.out" 2>&1
      ping_wait
      got=$PING_GOT
      echo "      ping ${got:-0}/40 through 2 Child SA rekeys and 1 IKE SA rekey by strongSwan (no reply:$(ping_missing 40))"
      [ "$got" -lt 40 ] && LOSS_SEEN=1
      check "$name: strongSwan rekeyed the Child SA twice" \
        test "$(grep -c 'closing CHILD_SA net' "$LAB_RUN/$LAB_SW/charon.log")" -ge 2 || ok=0
      check "$name: strongSwan rekeyed the IKE SA" grep -q "IKE_SA lab\[[0-9]*\] rekeyed" "$LAB_RUN/$LAB_SW/charon.log" || ok=0
      check "$name: ping kept passing through the rekeys (40/40)" test "${got:-0}" -ge 40 || ok=0
      check "$name: the tunnel is still up" lab_wait_tunnel 5 || ok=0
    fi
    has lifetimes "$opts" && { case_lifetimes "$name" || ok=0; }
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
    if [ "$role" = ctl ] || [ "$role" = trigger ]; then
      # Delete from strongSwan's side: espritd drops the IKE SA and its Child SAs; the policy's
      # traffic goes back to no_sa, and (connect_type trigger) those drops start IKE again.
      local ns0 a0
      quiet lab_sw sw --terminate --ike lab --timeout 10
      check "$name: after strongSwan's Delete, espritd has no IKE SA" bash -c \
        "for i in \$(seq 50); do '$ESPRITCTL' --socket '$LAB_RUN/espritd.sock' --json show ikev2 sa | grep -q '\"establish' || exit 0; sleep 0.1; done; exit 1" || ok=0
      ns0=$(no_sa_count) a0=$(ikestat acquire)
      quiet ip netns exec $LAB_HL ping -c 3 -i 0.5 -W 1 $LAB_HR_ADDR
      check "$name: the next packets are dropped as no_sa and start IKE again (trigger: acquire)" \
        test "$(no_sa_count)" -gt "$ns0" -a "$(ikestat acquire)" -gt "$a0" || ok=0
      check "$name: the trigger peer is re-established" lab_wait_tunnel 10 || ok=0
    fi
    has dpd "$opts" && { case_dpd "$name" "$role" || ok=0; }
    ctl show ikev2 statistics >"$LAB_RUN/show-ikev2-statistics.txt" 2>&1
    # The wire of the whole case, read once by tshark with espritd's keys files. Through the NAT the
    # capture shows other addresses than espritd's esp_sa lines: the check reads a translated copy.
    lab_capture_stop
    local kd=$LAB_RUN/keys from to
    if [ "$nat" = 1 ]; then
      # espritd behind the NAT: its private address becomes the public one; strongSwan behind it:
      # the capture (on strongSwan's side of the NAT) has strongSwan's private address.
      from=$LAB_SW_PUB to=$LAB_PRIV
      [ "$(lab_natted_side)" = gw ] && from=$LAB_PRIV to=$LAB_GW_PUB
      kd=$LAB_RUN/keys-natted
      mkdir -p "$kd"
      cp "$LAB_RUN/keys/ikev2_decryption_table" "$kd/"
      sed "s/\"$from\"/\"$to\"/g" "$LAB_RUN/keys/esp_sa" >"$kd/esp_sa"
    fi
    counts=$(lab_wire_report "$LAB_RUN/wire.pcap" "$kd" "$LAB_GW_PUB")
    local ike espinudp rawesp clear ike500 ike4500 sent enc dec bad esp espok
    read -r ike espinudp rawesp clear ike500 ike4500 sent enc dec bad esp espok <<<"$(sed 's/[a-z0-9_]*=//g' <<<"$counts")"
    echo "      wire: ike=$ike espinudp=$espinudp rawesp=$rawesp clear=$clear (IKE on 500: $ike500, on 4500: $ike4500)"
    echo "      espritd sent: IKE $sent, encrypted $enc, decrypted by tshark with its keys file $dec, Malformed/expert warnings $bad;" \
      "ESP $esp, decrypted $espok; IKE SAs in the file: $(grep -c . "$LAB_RUN/keys/ikev2_decryption_table")"
    check "$name: ESP-in-UDP on the wire" test "$espinudp" -ge 8 || ok=0
    check "$name: no raw ESP, nothing in the clear" test "$rawesp" = 0 -a "$clear" = 0 || ok=0
    check "$name: IKE started on UDP 500 and floated to 4500 (kernel-libipsec encapsulates)" \
      test "$ike500" -ge 1 -a "$ike4500" -ge 1 || ok=0
    check "$name: tshark decrypts every encrypted IKE message espritd sent with its keys file" \
      test "$enc" -ge 1 -a "$enc" = "$dec" || ok=0
    check "$name: no Malformed, no expert warning/error in espritd's IKE messages" test "$sent" -ge 2 -a "$bad" = 0 || ok=0
    check "$name: tshark decrypts every ESP packet espritd sent with its esp_sa file (ICV checked but for GCM)" \
      test "$esp" -ge 4 -a "$esp" = "$espok" || ok=0
    [ -n "${INTEROP_KEEP:-}" ] && cp "$LAB_RUN"/show-ikev2-*.txt "$LAB_RUN/wire.pcap" "$LAB_RUN"/keys/* "$INTEROP_KEEP/" 2>/dev/null
  fi
  if [ "${LOSS_SEEN:-0}" = 1 ]; then
    # a lost ping fails the case: keep what explains it
    mkdir -p "$FAILDIR/$name-loss"
    cp -r "$LAB_RUN/keys" "$LAB_RUN/wire.pcap" "$LAB_RUN/ping-bg.out" "$LAB_RUN/espritd.log" "$LAB_RUN/$LAB_SW/charon.log" \
      "$FAILDIR/$name-loss/" 2>/dev/null
    echo "      a ping was lost: capture, keys and logs kept in $FAILDIR/$name-loss"
  fi
  LOSS_SEEN=0
  if [ $ok = 1 ] && ! has dpd "$opts"; then
    # Stop (RFC 7296 1.4.1): SIGTERM makes espritd send a Delete for its IKE SA before it exits;
    # strongSwan deletes the IKE SA at once, not after a DPD or retransmission timeout.
    local del0 t1
    del0=$(grep -c 'received DELETE for IKE_SA' "$LAB_RUN/$LAB_SW/charon.log")
    t1=$(date +%s%N)
    lab_espritd_stop
    echo "      espritd stopped in $((($(date +%s%N) - t1) / 1000000)) ms: $(grep -o 'stopping: deleting.*' "$LAB_RUN/espritd.log" | head -1)"
    check "$name: on SIGTERM espritd sent a Delete for its IKE SA" grep -qE 'stopping: deleting [1-9][0-9]* IKE SA' "$LAB_RUN/espritd.log" || ok=0
    check "$name: strongSwan received it and deleted the IKE SA" bash -c \
      "for i in \$(seq 20); do [ \$(grep -c 'received DELETE for IKE_SA' '$LAB_RUN/$LAB_SW/charon.log') -gt $del0 ] && exit 0; sleep 0.1; done; exit 1" || ok=0
    lab_sw sw --list-sas >"$LAB_RUN/list-sas-stopped.txt" 2>&1
    check "$name: swanctl --list-sas shows no IKE SA after espritd stopped" \
      bash -c "! grep -q ESTABLISHED '$LAB_RUN/list-sas-stopped.txt'" || ok=0
  fi
  if [ $ok = 0 ]; then
    mkdir -p "$FAILDIR/$name"
    cp -r "$LAB_RUN/keys" "$LAB_RUN/espritd.toml" "$FAILDIR/$name/" 2>/dev/null
    lab_collect_logs "$FAILDIR/$name"
  fi
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
