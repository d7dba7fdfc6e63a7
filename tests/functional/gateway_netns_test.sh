#!/usr/bin/env bash
# Two espritd back to back between network namespaces, static SAs, DPDK af_packet on veth
# (no hugepages):
#
#   left 10.1.0.5 --l0|g1lan-- [gw1: espritd] --g1wan|g2wan-- [gw2: espritd] --g2lan|r0-- right 10.2.0.7
#   MTU 1500                    192.0.2.1   MTU 1500   192.0.2.2            MTU 9000 (jumbo)
#
# Checks: ping and a TCP transfer pass both ways; packets larger than the 1500-byte links (a
# 3000-byte ping from left, an 8000-byte one from the jumbo side) cross the tunnel; a capture on
# the wire between the gateways shows only ESP (and ARP); stopping one gateway stops the traffic
# (nothing leaks in the clear).
# Needs root (namespaces). Usage: gateway_netns_test.sh path/to/espritd
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../../scripts/lablib.sh"
ESPRITD=$(realpath "$1")
ID=$$
b2b_names enet$ID
NS_L=$B2B_L NS_G1=$B2B_G1 NS_G2=$B2B_G2 NS_R=$B2B_R
WORK=$(mktemp -d /tmp/esprit-netns-XXXXXX)
PIDS=()
pass=0
fail=0
cleanup() {
  b2b_capture_stop
  lab_stop_pids "${PIDS[@]}"
  b2b_topo_down
  rm -rf "$WORK"
}
trap cleanup EXIT

# Host left keeps the default MTU of 1500, host right has jumbo frames (gw2's LAN port has mtu =
# 9000, espritd sets g2lan's): the gateways fragment ESP that does not fit the 1500-byte wire
# between them (and reassemble it at the other end), and answer DF packets with ICMP
# "fragmentation needed".
b2b_topo_up 9000 || { echo "FAIL  topology (namespaces $NS_L ... exist?)"; exit 1; }

KEY_A=0x0102030405060708090a0b0c0d0e0f1011121314
KEY_B=0x2122232425262728292a2b2c2d2e2f3031323334
gateway_config() {  # name lcores lan_if lan_addr wan_if wan_addr peer_wan remote_net local_net out_key in_key out_spi in_spi lan_mtu
  cat >"$WORK/$1.toml" <<EOT
[daemon]
control_socket = "$WORK/$1.sock"

[eal]
args = ["--no-huge", "-m 512", "-l $2", "--no-shconf", "--file-prefix esprit-$1-$ID"]

[[port]]
name = "lan"
device = "net_af_packet_$1_lan,iface=$3"
role = "protected"
mtu = ${14}
ipv4 = ["$4"]

[[port]]
name = "wan"
device = "net_af_packet_$1_wan,iface=$5"
role = "unprotected"
ipv4 = ["$6"]

[[route]]
prefix = "$8"
via = "$7"

[[sa]]
name = "out"
spi = ${12}
direction = "out"
local = "${6%/*}"
remote = "$7"
encr = "aes128gcm16"
encr_key = "${10}"

[[sa]]
name = "in"
spi = ${13}
direction = "in"
local = "${6%/*}"
remote = "$7"
encr = "aes128gcm16"
encr_key = "${11}"

[[policy]]
name = "site"
src = "$9"
dst = "$8"
action = "protect"
sa = "out"
sa_in = ["in"]
EOT
}
gateway_config gw1 0,1 g1lan 10.1.0.1/16 g1wan 192.0.2.1/24 192.0.2.2 10.2.0.0/16 10.1.0.0/16 $KEY_A $KEY_B 0x1001 0x2001 1500
gateway_config gw2 1,0 g2lan 10.2.0.1/16 g2wan 192.0.2.2/24 192.0.2.1 10.1.0.0/16 10.2.0.0/16 $KEY_B $KEY_A 0x2001 0x1001 9000

b2b_capture_start "$WORK"  # the wire between the gateways: wire1.pcap, wire2.pcap
b2b_espritd_start "$NS_G1" "$WORK/gw1.toml" "$WORK/gw1.log"
GW1=$B2B_PID
PIDS+=($GW1)
b2b_espritd_start "$NS_G2" "$WORK/gw2.toml" "$WORK/gw2.log"
GW2=$B2B_PID
PIDS+=($GW2)
b2b_wait_running "$WORK/gw1.log" "$WORK/gw2.log" || cat "$WORK/gw1.log" "$WORK/gw2.log"
check "both gateways started" grep -q "running with" "$WORK/gw1.log" "$WORK/gw2.log"

# The first packets wait for ARP on both sides; ask twice before judging.
ip netns exec "$NS_L" ping -c 2 -W 2 10.2.0.7 >/dev/null 2>&1
check "ping left -> right through the tunnel" ip netns exec "$NS_L" ping -c 5 -i 0.2 -W 2 10.2.0.7
check "ping right -> left through the tunnel" ip netns exec "$NS_R" ping -c 5 -i 0.2 -W 2 10.1.0.5
# 1500-byte packets without DF: ESP fragmented by one gateway, reassembled by the other.
check "ping -s 1472 (no DF) through the tunnel" ip netns exec "$NS_L" ping -M dont -s 1472 -c 3 -i 0.2 -W 2 10.2.0.7
# Larger than the 1500-byte links. DPDK 22.11's net_af_packet opens its sockets with
# PACKET_FANOUT_FLAG_DEFRAG, so the kernel reassembles the host's fragments (and the ESP fragments
# between the gateways) into one frame larger than the MTU: espritd gives af_packet ports frames
# for 9000 bytes of IP (framesz) and mbufs that hold them. On PCI and pcap ports the gateway
# forwards a host's fragments as they are and reassembles ESP itself (gateway_pcap_test).
check "ping -s 3000 left -> right (host fragments, kernel-reassembled on af_packet)" \
  ip netns exec "$NS_L" ping -s 3000 -c 3 -i 0.2 -W 2 10.2.0.7
# The jumbo side: right sends 8028-byte packets whole to gw2's 9000-byte LAN port.
check "ping -s 8000 right -> left from the jumbo side (no DF)" \
  ip netns exec "$NS_R" ping -M dont -s 8000 -c 3 -i 0.2 -W 2 10.1.0.5
check "espritd set gw2's LAN interface to its port mtu 9000" \
  test "$(ip netns exec "$NS_G2" cat /sys/class/net/g2lan/mtu)" -eq 9000
ip netns exec "$NS_R" ping -M do -s 8972 -c 1 -W 1 10.1.0.5 >"$WORK/pmtu9000.txt" 2>&1
check "jumbo DF ping -s 8972: ICMP fragmentation needed, mtu = 1446" grep -q "mtu = 1446" "$WORK/pmtu9000.txt"
# With DF the gateway answers "fragmentation needed" (MTU 1446); the host learns it and fragments.
ip netns exec "$NS_L" ping -M do -s 1472 -c 1 -W 1 10.2.0.7 >"$WORK/pmtu.txt" 2>&1
check "DF ping -s 1472: ICMP fragmentation needed, mtu = 1446" grep -q "mtu = 1446" "$WORK/pmtu.txt"

# TCP: 2 MB from left to right, compared by digest.
head -c 2000000 /dev/urandom >"$WORK/blob"
ip netns exec "$NS_R" /usr/bin/python3 - "$WORK/received" <<'PY' &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.2.0.7", 5001)); s.listen(1); s.settimeout(30)
c, _ = s.accept(); c.settimeout(30)
with open(sys.argv[1], "wb") as f:
    while True:
        d = c.recv(65536)
        if not d: break
        f.write(d)
PY
SRV=$!
sleep 0.5
ip netns exec "$NS_L" timeout 60 /usr/bin/python3 - "$WORK/blob" <<'PY'
import socket, sys
s = socket.create_connection(("10.2.0.7", 5001), timeout=30)
s.sendall(open(sys.argv[1], "rb").read()); s.close()
PY
wait $SRV
check "TCP transfer of 2 MB intact" cmp -s "$WORK/blob" "$WORK/received"

# The operator's view: espritctl on gw1's control socket.
ESPRITCTL="$(dirname "$ESPRITD")/espritctl"
if [ -x "$ESPRITCTL" ]; then
  echo "--- espritctl show sa (gw1)"
  "$ESPRITCTL" --socket "$WORK/gw1.sock" show sa
  check "espritctl: gw1's SAs counted the transfer" bash -c "\"$ESPRITCTL\" --socket $WORK/gw1.sock --json show sa |
    /usr/bin/python3 -c 'import json, sys; s = json.load(sys.stdin)[\"sas\"]; sys.exit(0 if all(x[\"packets\"] > 100 for x in s) else 1)'"
fi

sleep 0.5
b2b_capture_stop
sleep 0.5
count() { cat <(tcpdump -n -r "$WORK/wire1.pcap" "$1" 2>/dev/null) <(tcpdump -n -r "$WORK/wire2.pcap" "$1" 2>/dev/null) | wc -l; }
clear=$(count 'ip and not esp')
esp=$(count 'esp')
echo "wire: $esp ESP packets, $clear other IP packets"
check "the wire carries ESP (both directions)" test "$esp" -gt 1000
check "nothing in the clear on the wire" test "$clear" -eq 0

kill "$GW1"
wait "$GW1" 2>/dev/null
check "stopping a gateway stops the traffic" bash -c "! ip netns exec $NS_L ping -c 3 -i 0.2 -W 1 10.2.0.7 >/dev/null"
kill "$GW2"
wait "$GW2" 2>/dev/null
echo "--- gw1"; grep -E "^(worker|sa|control)" "$WORK/gw1.log"
echo "--- gw2"; grep -E "^(worker|sa|control)" "$WORK/gw2.log"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
