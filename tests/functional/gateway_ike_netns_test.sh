#!/usr/bin/env bash
# Two espritd back to back between network namespaces negotiating IKEv2 with each other (PSK,
# policy-based, no NAT), DPDK af_packet on veth (no hugepages); the topology of gateway_netns_test.sh:
#
#   left 10.1.0.5 --l0|g1lan-- [gw1: espritd] --g1wan|g2wan-- [gw2: espritd] --g2lan|r0-- right 10.2.0.7
#                               192.0.2.1 / 2001:db8:b2b::1     192.0.2.2 / 2001:db8:b2b::2
#
# gw1's peer is connect_type "auto" (it initiates at start and keeps the SA up), gw2's is
# negotiation_direction "responder". Per case, checks:
#   - the IKE SA and a Child SA come up (espritctl show ikev2 sa / child-sa on both, not UDP-encapsulated)
#   - ping both ways and a 500 kB TCP transfer pass
#   - espritctl clear ikev2 sa on gw2 (its Delete reaches gw1), the auto side re-establishes, ping passes
#   - a Child SA rekey during a 6 s ping (gw1's child_lifetime = 10 s, rekey 5 s after install) loses nothing
#   - (packets) child_lifetime_packets = 400 on both gateways: an 800-packet ping crosses several
#     packet-limit rekeys (started by the fast path's soft events) with nothing lost, no SA reaching
#     its hard limit, and new SPIs in espritctl show ikev2 child-sa
#   - the wire carries only IKE on the IKE port and raw ESP (IP proto 50): no UDP-encapsulated
#     ESP, no NAT-T port, nothing in the clear; tshark dissects every IKE message without
#     Malformed Packet or expert error/warning (and their SK payloads when gw1's keys file holds
#     the IKE SA keys), and decrypts the ESP with gw1's keys file (esp_sa)
#   - stopping gw1 stops the traffic, and nothing is sent in the clear; (restart) gw1 back up: a
#     new IKE SA with INITIAL_CONTACT replaces the old ones on gw2, ping passes
# Usage: gateway_ike_netns_test.sh ESPRITD ESPRITCTL [CASE...]
#   CASE = proposal[:v6][:ports]; proposal gcm (aes128gcm16-prfsha256-x25519 / aes128gcm16-x25519) or
#   nec (3des-sha1-modp1024 both); v6: IPv6 outer addresses (IKE and ESP over IPv6, IPv4 inside);
#   ports: [ike] port = 5500, natt_port = 5501 on both gateways; restart: after the stop, gw1 starts
#   again (INITIAL_CONTACT: gw2 keeps only the new SAs, traffic passes); bothauto: both peers
#   connect_type "auto" (simultaneous initiation: each side starts with two IKE SAs and two Child
#   SAs, both carry traffic; every check passes; not in the default set); ikerekey: gw1's IKE SA lifetime is 12 s,
#   rekeyed 7 s after it is up, during the case; packets: child_lifetime_packets = 400 on both gateways
#   (every check of the case runs with it: the TCP transfer and the pings cross many packet-limit
#   rekeys). Default: gcm:restart:packets nec:v6:ports:ikerekey (each option
#   also runs alone: gcm:v6, nec:ports, ...).
# Needs root (namespaces).
set -u
ESPRITD=$(realpath "$1")
ESPRITCTL=$(realpath "$2")
shift 2
CASES=("$@")
# Two cases keep the run under a minute: IPv4 on the default ports, and the rest together.
[ $# = 0 ] && CASES=(gcm:restart:packets nec:v6:ports:ikerekey)
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../../scripts/lablib.sh"
ID=$$
b2b_names eike$ID
NS_L=$B2B_L NS_G1=$B2B_G1 NS_G2=$B2B_G2 NS_R=$B2B_R
WORK=$(mktemp -d /tmp/esprit-ike-netns-XXXXXX)
PIDS=()
pass=0
fail=0
PSK=b2b-psk-0123456789abcdef
stop_all() {
  b2b_capture_stop
  lab_stop_pids "${PIDS[@]}"
  PIDS=()
}
cleanup() {
  stop_all
  b2b_topo_down
  if [ "$fail" -gt 0 ]; then echo "logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# gateway_config name lcores lan_if lan_addr wan_if wan_addr peer_addr remote_net local_net local_id remote_id role
gateway_config() {
  local fam=ipv4 ports="" peerkeys
  [ "$V6" = 1 ] && fam=ipv6
  [ "$PORTS" = 1 ] && ports="port = $IKE_PORT
natt_port = $NATT_PORT"
  if [ "${12}" = initiator ]; then
    # Child SAs of gw1 live 10 s and are rekeyed 5 s after they are installed (the rekey check
    # below).
    peerkeys='connect_type = "auto"
child_lifetime = 10
rekey_margin = 5
rekey_jitter = 0'
    # ikerekey: gw1 rekeys its IKE SA 7 s after it is up (lifetime 12 s), again and again.
    [ "$IKE_REKEY" = 1 ] && peerkeys="$peerkeys
ike_lifetime = 12"
  elif [ "$BOTH_AUTO" = 1 ]; then
    peerkeys='connect_type = "auto"'  # and negotiation_direction "both" (the default)
  else
    peerkeys='negotiation_direction = "responder"'
  fi
  # packets: a 400-packet limit per Child SA direction on both sides (the fast path enforces it and
  # raises the soft event at 50 % here: child_lifetime 10, rekey_margin 5 on gw1; 90 % on gw2).
  # 200 packets of headroom: a TCP burst at 10 000 packets/s leaves the rekey 20 ms (it took about
  # 11 ms on a loaded machine; with 200 packets, 100 of headroom, it sometimes came too late).
  [ "$PACKETS" = 1 ] && peerkeys="$peerkeys
child_lifetime_packets = 400"
  mkdir -p "$WORK/$1-keys"
  cat >"$WORK/$1.toml" <<EOT
[daemon]
control_socket = "$WORK/$1.sock"

[eal]
args = ["--no-huge", "-m 512", "-l $2", "--no-shconf", "--file-prefix esprit-ike-$1-$ID"]

[[port]]
name = "lan"
device = "net_af_packet_ike_$1_lan,iface=$3"
role = "protected"
ipv4 = ["$4"]

[[port]]
name = "wan"
device = "net_af_packet_ike_$1_wan,iface=$5"
role = "unprotected"
$fam = ["$6"]

[ike]
keys_file = "$WORK/$1-keys/ikev2_decryption_table"
$ports

[[peer]]
name = "peer"
address = "$7"
local_id = "fqdn:${10}"
remote_id = "fqdn:${11}"
psk = "$PSK"
ike = ["$IKE_PROP"]
esp = ["$ESP_PROP"]
$peerkeys

[[policy]]
name = "site"
src = "$9"
dst = "$8"
action = "protect"
peer = "peer"
EOT
}

ctl() {  # gw1|gw2 espritctl-args...
  local gw=$1
  shift
  "$ESPRITCTL" --socket "$WORK/$gw.sock" "$@"
}

# sa_state gw: "<IKE SAs established> <Child SAs> <Child SAs UDP-encapsulated>" from show ikev2 sa --json
sa_state() {
  ctl "$1" --json show ikev2 sa 2>/dev/null | /usr/bin/python3 -c 'import json, sys
try:
    s = json.load(sys.stdin)["sas"]
except Exception:
    print("0 0 0"); sys.exit()
up = [x for x in s if x["status"].lower().startswith("establish")]
kids = [c for x in up for c in x["children"]]
print(len(up), len(kids), sum(1 for c in kids if c["udp_encap"]))'
}

# wait_up gw [timeout_s]: an established IKE SA with a Child SA
wait_up() {
  local deadline=$((SECONDS + ${2:-10})) st
  while [ $SECONDS -le $deadline ]; do
    st=$(sa_state "$1")
    set -- "$1" "${2:-10}" $st
    [ "${3:-0}" -ge 1 ] && [ "${4:-0}" -ge 1 ] && return 0
    sleep 0.1
  done
  return 1
}

ping_ok() {  # ns dst count interval
  ip netns exec "$1" ping -c "$3" -i "$4" -W 2 "$2" >"$WORK/ping.out" 2>&1
}
# ikestat gw field: one field of show ikev2 statistics --json
ikestat() {
  ctl "$1" --json show ikev2 statistics | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['statistics']['$2'])"
}
# child_spis gw: the SPIs (in/out) that espritctl show ikev2 child-sa lists, one line
child_spis() {
  ctl "$1" show ikev2 child-sa | grep -A1 -E '^Direction is (in|out)bound' | grep '^SPI' | awk '{print $3}' | tr '\n' ' '
}
export ESPRITCTL WORK
export -f ctl sa_state wait_up ping_ok  # for the `bash -c` checks

tcp_transfer() {  # bytes
  head -c "$1" /dev/urandom >"$WORK/blob"
  rm -f "$WORK/received"
  ip netns exec "$NS_R" /usr/bin/python3 - "$WORK/received" <<'PY' &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.2.0.7", 5001)); s.listen(1); s.settimeout(20)
c, _ = s.accept(); c.settimeout(20)
with open(sys.argv[1], "wb") as f:
    while True:
        d = c.recv(65536)
        if not d: break
        f.write(d)
PY
  local srv=$!
  ip netns exec "$NS_L" timeout 30 /usr/bin/python3 - "$WORK/blob" <<'PY'
import socket, sys, time
for i in range(20):
    try:
        s = socket.create_connection(("10.2.0.7", 5001), timeout=20)
        break
    except ConnectionRefusedError:
        time.sleep(0.1)
s.sendall(open(sys.argv[1], "rb").read()); s.close()
PY
  wait $srv
  cmp -s "$WORK/blob" "$WORK/received"
}

# tshark over both captures merged, with gw1's keys (ESP decrypted; IKE SK payloads when the
# keys file has the IKE SA's keys). The IKE port is dissected as IKE whatever its number.
wire_tshark() {  # tshark args...
  WIRESHARK_CONFIG_DIR="$WORK/gw1-keys" HOME="$WORK/gw1-keys" tshark -n -r "$WORK/wire.pcap" \
    -d "udp.port==$IKE_PORT,isakmp" -o esp.enable_encryption_decode:TRUE "$@" 2>/dev/null
}
# wire_counts: "ike esp natt clear v6 espicmp" over every frame of the wire (one tshark pass):
# IKE on the IKE port; ESP (IP protocol 50, IPv4 or IPv6 fragments of it included); UDP on 4500 or
# the NAT-T port; clear = any other IP except IPv6 neighbour discovery; v6 = IKE or ESP over IPv6;
# espicmp = ESP that tshark decrypted to ICMP.
wire_counts() {
  wire_tshark -T fields -E separator=';' -e frame.protocols -e udp.port -e ip.proto -e ipv6.nxt \
    -e ipv6.fraghdr.nxt -e icmpv6.type | awk -F';' -v ike_port="$IKE_PORT" -v natt_port="$NATT_PORT" '
    function first(s) { sub(/,.*/, "", s); return s }
    {
      p = $1; split($2, ports, ",")
      ike = (p ~ /:udp:isakmp/) && (ports[1] == ike_port || ports[2] == ike_port)
      esp = first($3) == 50 || first($4) == 50 || first($5) == 50
      natt = (ports[1] == 4500 || ports[2] == 4500 || ports[1] == natt_port || ports[2] == natt_port)
      nd = first($6) >= 133 && first($6) <= 136
      ipish = p ~ /^eth:ethertype:ip(v6)?(:|$)/
      n_ike += ike; n_esp += esp; n_natt += natt
      if (ipish && !ike && !esp && !nd) n_clear++
      if (p ~ /^eth:ethertype:ipv6/ && (ike || esp)) n_v6++
      if (esp && p ~ /:esp:ip:icmp/) n_espicmp++
    }
    END { printf "%d %d %d %d %d %d\n", n_ike, n_esp, n_natt, n_clear, n_v6, n_espicmp }'
}

run_case() {
  local prop=$1 name=$1 ok=1 t0 ms
  V6=0 PORTS=0 IKE_PORT=500 NATT_PORT=4500 BOTH_AUTO=0 RESTART=0 IKE_REKEY=0 PACKETS=0
  local opt
  for opt in "${@:2}"; do
    case $opt in
      v6) V6=1 name=$name-v6 ;;
      ports) PORTS=1 IKE_PORT=5500 NATT_PORT=5501 name=$name-port5500 ;;
      bothauto) BOTH_AUTO=1 name=$name-bothauto ;;
      restart) RESTART=1 name=$name-restart ;;
      ikerekey) IKE_REKEY=1 name=$name-ikerekey ;;
      packets) PACKETS=1 name=$name-packets ;;
      "") ;;
      *) echo "unknown case option $opt"; fail=$((fail + 1)); return ;;
    esac
  done
  case $prop in
    gcm) IKE_PROP=aes128gcm16-prfsha256-x25519 ESP_PROP=aes128gcm16-x25519 ;;
    nec) IKE_PROP=3des-sha1-modp1024 ESP_PROP=3des-sha1-modp1024 ;;
    *) echo "unknown proposal set $prop"; fail=$((fail + 1)); return ;;
  esac
  echo "=== $name: IKE $IKE_PROP, ESP $ESP_PROP, IKE on UDP $IKE_PORT, outer IPv$([ $V6 = 1 ] && echo 6 || echo 4)"
  rm -rf "$WORK"/gw* "$WORK"/*.pcap
  b2b_topo_up || { check "$name: topology" false; b2b_topo_down; return; }
  local w1=192.0.2.1/24 w2=192.0.2.2/24
  [ $V6 = 1 ] && w1=2001:db8:b2b::1/64 w2=2001:db8:b2b::2/64
  gateway_config gw1 0,1 g1lan 10.1.0.1/16 g1wan $w1 "${w2%/*}" 10.2.0.0/16 10.1.0.0/16 gw1.b2b gw2.b2b initiator
  gateway_config gw2 1,0 g2lan 10.2.0.1/16 g2wan $w2 "${w1%/*}" 10.1.0.0/16 10.2.0.0/16 gw2.b2b gw1.b2b responder

  b2b_capture_start "$WORK"  # the wire between the gateways: wire1.pcap, wire2.pcap
  # The responder first, so the initiator's first IKE_SA_INIT finds it running.
  b2b_espritd_start "$NS_G2" "$WORK/gw2.toml" "$WORK/gw2.log"
  local gw2=$B2B_PID
  PIDS+=($gw2)
  b2b_wait_running "$WORK/gw2.log"
  t0=$(date +%s%N)
  b2b_espritd_start "$NS_G1" "$WORK/gw1.toml" "$WORK/gw1.log"
  local gw1=$B2B_PID
  PIDS+=($gw1)
  b2b_wait_running "$WORK/gw1.log"
  check "$name: both gateways started" grep -q "running with" "$WORK/gw1.log" "$WORK/gw2.log" || ok=0

  if [ $ok = 1 ]; then
    check "$name: IKE SA and Child SA up on gw1 (auto)" wait_up gw1 10 || ok=0
    ms=$((($(date +%s%N) - t0) / 1000000))
    check "$name: IKE SA and Child SA up on gw2 (responder)" wait_up gw2 5 || ok=0
    echo "      up $ms ms after gw1 started; gw1: $(sa_state gw1), gw2: $(sa_state gw2) (IKE SAs, Child SAs, UDP-encapsulated)"
    ctl gw1 show ikev2 sa >"$WORK/gw1-show-ikev2-sa.txt" 2>&1
    ctl gw1 show ikev2 child-sa >"$WORK/gw1-show-ikev2-child-sa.txt" 2>&1
    ctl gw2 show ikev2 child-sa >"$WORK/gw2-show-ikev2-child-sa.txt" 2>&1
    check "$name: espritctl show ikev2 child-sa lists the Child SA on both" \
      bash -c "grep -qi 'spi' '$WORK/gw1-show-ikev2-child-sa.txt' && grep -qi 'spi' '$WORK/gw2-show-ikev2-child-sa.txt'" || ok=0
    check "$name: Child SAs are raw ESP (not UDP-encapsulated) on both" \
      bash -c "[ \"\$(sa_state gw1 | cut -d' ' -f3)\" = 0 ] && [ \"\$(sa_state gw2 | cut -d' ' -f3)\" = 0 ]" || ok=0
  fi
  if [ $ok = 1 ]; then
    quiet ip netns exec "$NS_L" ping -c 1 -W 2 10.2.0.7  # ARP on both sides
    check "$name: ping left -> right" ping_ok "$NS_L" 10.2.0.7 3 0.1 || ok=0
    check "$name: ping right -> left" ping_ok "$NS_R" 10.1.0.5 3 0.1 || ok=0
    check "$name: TCP transfer of 500 kB intact" tcp_transfer 500000 || ok=0

    # Delete from the responder's side: gw1 (auto) brings the SA back and the traffic passes again.
    local before
    before=$(ctl gw1 --json show ikev2 statistics | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["statistics"]["established"])')
    check "$name: espritctl clear ikev2 sa on gw2" quiet ctl gw2 clear ikev2 sa || ok=0
    check "$name: gw1 (auto) re-established the IKE SA" bash -c "
      for i in \$(seq 100); do
        n=\$('$ESPRITCTL' --socket '$WORK/gw1.sock' --json show ikev2 statistics |
            /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[\"statistics\"][\"established\"])')
        [ \"\$n\" -gt $before ] && exit 0
        sleep 0.1
      done; exit 1" || ok=0
    check "$name: both sides up again" bash -c "wait_up gw1 10 && wait_up gw2 5" || ok=0
    check "$name: ping both ways after re-establishment" \
      bash -c "ping_ok $NS_L 10.2.0.7 3 0.1 && ping_ok $NS_R 10.1.0.5 3 0.1" || ok=0

    # Child SA rekey during a ping: gw1 rekeys its Child SA 5 s after installing it; the ping lasts 6 s.
    local rk0 rk1 got
    rk0=$(ctl gw1 --json show ikev2 statistics | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["statistics"]["rekeys_child"])')
    ip netns exec "$NS_L" ping -c 600 -i 0.01 -W 2 10.2.0.7 >"$WORK/ping-rekey.out" 2>&1
    rk1=$(ctl gw1 --json show ikev2 statistics | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["statistics"]["rekeys_child"])')
    got=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$WORK/ping-rekey.out")
    echo "      ping ${got:-0}/600 through $((rk1 - rk0)) Child SA rekey(s)"
    check "$name: gw1 rekeyed the Child SA during the ping" test "$((rk1 - rk0))" -ge 1 || ok=0
    # Nothing may be lost: gw2 (the rekey responder) keeps sending on the old Child SA until gw1
    # has the new one (a packet on it, or gw1's Delete of the old one; docs/ike.md "Child SA rekey").
    check "$name: the ping lost nothing through the rekey (600/600)" test "${got:-0}" = 600 || ok=0
    check "$name: one Child SA on each side after the rekey (the old one deleted)" bash -c "
      for i in \$(seq 30); do
        [ \"\$(sa_state gw1)\" = '1 1 0' ] && [ \"\$(sa_state gw2)\" = '1 1 0' ] && exit 0; sleep 0.1
      done; exit 1" || ok=0
    if [ "$PACKETS" = 1 ]; then
      # A ping of 800 packets each way through Child SAs of 400 packets: the soft events rekey
      # them make-before-break before the hard limit; nothing lost, none stopped.
      local spis0 spis1 soft0 soft1 hard
      spis0=$(child_spis gw1)
      soft0=$(($(ikestat gw1 limit_soft) + $(ikestat gw2 limit_soft)))
      ip netns exec "$NS_L" ping -c 800 -i 0.005 -W 2 10.2.0.7 >"$WORK/ping-packets.out" 2>&1
      soft1=$(($(ikestat gw1 limit_soft) + $(ikestat gw2 limit_soft)))
      hard=$(($(ikestat gw1 limit_hard) + $(ikestat gw2 limit_hard)))
      spis1=$(child_spis gw1)
      got=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$WORK/ping-packets.out")
      echo "      ping ${got:-0}/800 through $((soft1 - soft0)) soft packet-limit event(s); hard since start: $hard; gw1 Child SA SPIs (in/out) $spis0 -> $spis1"
      check "$name: packet limits: the ping lost nothing (800/800)" test "${got:-0}" = 800 || ok=0
      check "$name: packet limits: soft events rekeyed the Child SAs (>= 2)" test "$((soft1 - soft0))" -ge 2 || ok=0
      check "$name: packet limits: no Child SA reached its hard limit" test "$hard" = 0 || ok=0
      check "$name: packet limits: espritctl show ikev2 child-sa shows new SPIs" test "$spis1" != "$spis0" || ok=0
      ctl gw1 show ikev2 child-sa >"$WORK/gw1-show-ikev2-child-sa-packets.txt" 2>&1
    fi
    ctl gw1 show ikev2 statistics >"$WORK/gw1-show-ikev2-statistics.txt" 2>&1
    if [ "$IKE_REKEY" = 1 ]; then
      local rki
      rki=$(ctl gw1 --json show ikev2 statistics | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["statistics"]["rekeys_ike"])')
      echo "      gw1 rekeyed its IKE SA $rki time(s) during the case"
      check "$name: gw1 rekeyed the IKE SA (and every ping above passed through it)" test "$rki" -ge 1 || ok=0
    fi

    # Stop gw1: the traffic stops, nothing leaks.
    kill "$gw1"
    for _ in $(seq 50); do kill -0 "$gw1" 2>/dev/null || break; sleep 0.1; done
    # gw2 must not send the right host's packets in clear either (the wire check below).
    quiet ip netns exec "$NS_R" ping -c 2 -i 0.2 -W 1 10.1.0.5 &
    local rping=$!
    check "$name: stopping gw1 stops the traffic" bash -c "! ip netns exec $NS_L ping -c 2 -i 0.2 -W 1 10.2.0.7 >/dev/null"
    wait $rping
    if [ "$RESTART" = 1 ]; then
      # gw1 comes back (gw2 still holds the old SAs: no Delete was sent, no DPD): its new IKE SA
      # carries INITIAL_CONTACT, gw2 drops the old ones, the traffic passes again.
      ip netns exec "$NS_G1" "$ESPRITD" --config "$WORK/gw1.toml" >"$WORK/gw1-restart.log" 2>&1 &
      gw1=$!
      PIDS+=($gw1)
      for _ in $(seq 100); do grep -q "running with" "$WORK/gw1-restart.log" && break; sleep 0.1; done
      check "$name: gw1 restarted and re-established" wait_up gw1 10 || ok=0
      quiet ip netns exec "$NS_L" ping -c 1 -W 2 10.2.0.7
      check "$name: ping both ways after gw1's restart" \
        bash -c "ping_ok $NS_L 10.2.0.7 3 0.1 && ping_ok $NS_R 10.1.0.5 3 0.1" || ok=0
      check "$name: gw2 dropped the old SAs on gw1's INITIAL_CONTACT (one IKE SA, one Child SA)" bash -c "
        for i in \$(seq 30); do [ \"\$(sa_state gw2)\" = '1 1 0' ] && exit 0; sleep 0.1; done; exit 1" || ok=0
      kill "$gw1"
      for _ in $(seq 50); do kill -0 "$gw1" 2>/dev/null || break; sleep 0.1; done
    fi

    sleep 0.5
    b2b_capture_stop
    sleep 0.3
    local ike esp clear natt v6 espicmp bad
    mergecap -w "$WORK/wire.pcap" "$WORK/wire1.pcap" "$WORK/wire2.pcap"
    read -r ike esp natt clear v6 espicmp <<<"$(wire_counts)"
    echo "      wire: ike=$ike rawesp=$esp natt=$natt clear=$clear (IPv6: $v6, ESP decrypted to ICMP: $espicmp)"
    check "$name: IKE on UDP $IKE_PORT and raw ESP on the wire" test "$ike" -ge 8 -a "$esp" -ge 1000 || ok=0
    check "$name: no UDP 4500 / NAT-T port, nothing in the clear" test "$natt" = 0 -a "$clear" = 0 || ok=0
    if [ $V6 = 1 ]; then
      check "$name: IKE and ESP over IPv6" test "$v6" = "$((ike + esp))" || ok=0
    fi
    wire_tshark -Y isakmp -V >"$WORK/ike-dissected.txt"
    bad=$(grep -cE 'Malformed|Expert Info \((Error|Warning)' "$WORK/ike-dissected.txt")
    check "$name: tshark dissects every IKE message without Malformed Packet or expert error/warning" \
      test "$bad" = 0 -a "$(grep -c '^Frame ' "$WORK/ike-dissected.txt")" = "$ike" || ok=0
    # With the IKE SA keys in the keys file, tshark also dissects the SK payloads' contents.
    if [ -s "$WORK/gw1-keys/ikev2_decryption_table" ]; then
      check "$name: tshark decrypts IKE_AUTH with the keys file (AUTH payloads)" \
        test "$(grep -c 'Payload: Authentication' "$WORK/ike-dissected.txt")" -ge 4 || ok=0
    else
      echo "      (espritd wrote no IKE SA keys to the keys file: IKE SK payloads not decrypted)"
    fi
    check "$name: tshark decrypts the ESP with the keys file (inner ICMP)" test "$espicmp" -ge 100 || ok=0
  fi
  if [ $ok = 0 ]; then
    echo "--- $name: logs"
    tail -n 30 "$WORK/gw1.log" "$WORK/gw2.log"
    cat "$WORK/ping.out" 2>/dev/null
    mkdir -p "$WORK/failed-$name"
    cp "$WORK"/*.log "$WORK"/*.txt "$WORK"/*.pcap "$WORK"/*.toml "$WORK"/*.out "$WORK/failed-$name/" 2>/dev/null
  fi
  stop_all
  b2b_topo_down
}

t_start=$SECONDS
for c in "${CASES[@]}"; do
  IFS=: read -r -a parts <<<"$c"
  run_case "${parts[@]}"
done
echo "$pass passed, $fail failed ($((SECONDS - t_start)) s)"
[ "$fail" -eq 0 ]
