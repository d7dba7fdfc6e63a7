# shellcheck shell=bash
# lablib.sh — the interop lab as bash functions: network namespaces, strongSwan (charon with
# kernel-libipsec, userspace ESP) configured from parameters, espritd in the gateway slot, captures,
# and the harness steps the interop tests use (wait for a tunnel, ping through, collect logs).
# Source it; `scripts/lab` is the command line around it. Everything runs as root. docs/lab.md has
# the topology, the addresses and the pitfalls. Also here: the back-to-back topology of two espritd
# (b2b_*, below) and the scaffolding the lab tests share (check, the preamble).
#
#   hl 10.10.1.2 ─hl0┄gw-lan─ [gw: espritd or charon] ─gw-wan┄…┄sw-wan─ [sw: charon] ─sw-lan┄hr0─ hr 10.10.2.2
#                             10.10.1.1        10.99.0.1         10.99.0.2           10.10.2.1
#   --nat puts a NAT namespace (nftables masquerade) in front of the INITIATOR:
#     initiator-wan 192.168.50.2 ┄ n-in 192.168.50.1 [nat] n-out 10.99.0.x ┄ responder-wan 10.99.0.y
#   so the public addresses (10.99.0.1 for gw, 10.99.0.2 for sw) never change.
#
# Settings (environment, or `scripts/lab up` options):
#   LAB_NS        namespace prefix (default elab); namespaces are $LAB_NS-{hl,gw,nat,sw,hr}
#   LAB_RUN       state directory (default /tmp/esprit-lab/$LAB_NS)
#   LAB_PEER      who sits in the gw slot: strongswan (a second charon) or espritd (default strongswan)
#   LAB_NAT       1: NAT namespace in front of the initiator (default 0)
#   LAB_GW_ROLE   role of the gw slot: initiator or responder (default initiator)
#   LAB_PROPOSAL  nec | aes256 | gcm (default gcm), or LAB_IKE_PROPOSAL / LAB_ESP_PROPOSAL verbatim
#   LAB_PSK, LAB_GW_ID, LAB_SW_ID, LAB_START_ACTION (none|start|trap, initiator's child),
#   LAB_DPD (dpd_delay s, 0 off), LAB_REKEY (IKE and child rekey_time s, 0 off), LAB_LOGLEVEL (ike/chd/enc/net, 2;
#   4 dumps keys)

# Namespace names follow LAB_NS; lab_up and lab_load_state recompute them, so LAB_NS may also be
# set after sourcing.
lab_names() {
  LAB_NS=${LAB_NS:-elab}
  LAB_RUN=${LAB_RUN:-/tmp/esprit-lab/$LAB_NS}
  LAB_HL=$LAB_NS-hl LAB_GW=$LAB_NS-gw LAB_NATNS=$LAB_NS-nat LAB_SW=$LAB_NS-sw LAB_HR=$LAB_NS-hr
}
lab_names
LAB_HL_ADDR=10.10.1.2 LAB_GW_LAN=10.10.1.1 LAB_HR_ADDR=10.10.2.2 LAB_SW_LAN=10.10.2.1
LAB_GW_PUB=10.99.0.1 LAB_SW_PUB=10.99.0.2 LAB_PRIV=192.168.50.2 LAB_PRIV_GW=192.168.50.1
LAB_LEFT_NET=10.10.1.0/24 LAB_RIGHT_NET=10.10.2.0/24
LAB_CHARON=${LAB_CHARON:-/usr/lib/ipsec/charon}

lab_log() { echo "[lab $(date +%H:%M:%S.%3N)] $*" >&2; }

# The proposal sets of issue 4: name -> IKE proposal, ESP proposal (with PFS for CREATE_CHILD_SA).
lab_proposals() {  # name -> "ike esp" on stdout
  case $1 in
    nec)    echo "3des-sha1-modp1024 3des-sha1-modp1024" ;;
    aes256) echo "aes256-sha256-modp2048 aes256-sha256-modp2048" ;;
    gcm)    echo "aes128gcm16-prfsha256-x25519 aes128gcm16-x25519" ;;
    *) lab_log "unknown proposal set '$1' (nec, aes256, gcm)"; return 1 ;;
  esac
}

# Reads the settings of a lab that is up (written by lab_up), so `down`/`status` need no options.
lab_load_state() {
  [ -f "$LAB_RUN/state" ] && . "$LAB_RUN/state"
  lab_names
}

lab_save_state() {
  mkdir -p "$LAB_RUN"
  {
    for v in LAB_NS LAB_RUN LAB_PEER LAB_NAT LAB_GW_ROLE LAB_PROPOSAL LAB_IKE_PROPOSAL LAB_ESP_PROPOSAL \
             LAB_GW_ID LAB_SW_ID LAB_START_ACTION LAB_DPD LAB_REKEY LAB_LOGLEVEL; do
      printf '%s=%q\n' "$v" "${!v}"
    done
  } >"$LAB_RUN/state"
}

lab_defaults() {
  lab_names
  LAB_PEER=${LAB_PEER:-strongswan}
  LAB_NAT=${LAB_NAT:-0}
  LAB_GW_ROLE=${LAB_GW_ROLE:-initiator}
  LAB_PROPOSAL=${LAB_PROPOSAL:-gcm}
  local p
  p=$(lab_proposals "$LAB_PROPOSAL") || return 1
  LAB_IKE_PROPOSAL=${LAB_IKE_PROPOSAL:-${p% *}}
  LAB_ESP_PROPOSAL=${LAB_ESP_PROPOSAL:-${p#* }}
  LAB_PSK=${LAB_PSK:-esprit-lab-psk-0123456789}
  LAB_GW_ID=${LAB_GW_ID:-gw.lab}
  LAB_SW_ID=${LAB_SW_ID:-sw.lab}
  LAB_START_ACTION=${LAB_START_ACTION:-none}
  LAB_DPD=${LAB_DPD:-0}
  LAB_REKEY=${LAB_REKEY:-0}
  LAB_LOGLEVEL=${LAB_LOGLEVEL:-2}
  case $LAB_PEER in strongswan|espritd) ;; *) lab_log "--peer: strongswan or espritd"; return 1 ;; esac
  case $LAB_GW_ROLE in initiator|responder) ;; *) lab_log "--gw-role: initiator or responder"; return 1 ;; esac
  case $LAB_START_ACTION in none|start|trap) ;; *) lab_log "--start-action: none, start or trap"; return 1 ;; esac
}

lab_sw_role() { [ "$LAB_GW_ROLE" = initiator ] && echo responder || echo initiator; }

# Which side sits behind the NAT (the initiator) when LAB_NAT=1.
lab_natted_side() { [ "$LAB_GW_ROLE" = initiator ] && echo gw || echo sw; }

# ---------------------------------------------------------------------------------------------
# Topology

lab_topo_up() {
  local n
  for n in $LAB_HL $LAB_GW $LAB_SW $LAB_HR; do
    ip netns add "$n" || return 1
    ip -n "$n" link set lo up
  done
  ip link add hl0 netns $LAB_HL type veth peer name gw-lan netns $LAB_GW
  ip link add sw-lan netns $LAB_SW type veth peer name hr0 netns $LAB_HR
  ip -n $LAB_HL addr add $LAB_HL_ADDR/24 dev hl0
  ip -n $LAB_HL link set hl0 up
  ip -n $LAB_HL route add default via $LAB_GW_LAN
  ip -n $LAB_HR addr add $LAB_HR_ADDR/24 dev hr0
  ip -n $LAB_HR link set hr0 up
  ip -n $LAB_HR route add default via $LAB_SW_LAN
  ip -n $LAB_SW addr add $LAB_SW_LAN/24 dev sw-lan
  ip -n $LAB_SW link set sw-lan up

  # The wire: one veth pair, or two with the NAT namespace in between (in front of the initiator).
  local gw_wan_addr=$LAB_GW_PUB/24 sw_wan_addr=$LAB_SW_PUB/24
  if [ "$LAB_NAT" = 1 ]; then
    ip netns add $LAB_NATNS || return 1
    ip -n $LAB_NATNS link set lo up
    local pub
    if [ "$(lab_natted_side)" = gw ]; then
      ip link add gw-wan netns $LAB_GW type veth peer name n-in netns $LAB_NATNS
      ip link add sw-wan netns $LAB_SW type veth peer name n-out netns $LAB_NATNS
      gw_wan_addr=$LAB_PRIV/24 pub=$LAB_GW_PUB
    else
      ip link add sw-wan netns $LAB_SW type veth peer name n-in netns $LAB_NATNS
      ip link add gw-wan netns $LAB_GW type veth peer name n-out netns $LAB_NATNS
      sw_wan_addr=$LAB_PRIV/24 pub=$LAB_SW_PUB
    fi
    ip -n $LAB_NATNS addr add $LAB_PRIV_GW/24 dev n-in
    ip -n $LAB_NATNS addr add $pub/24 dev n-out
    ip -n $LAB_NATNS link set n-in up
    ip -n $LAB_NATNS link set n-out up
    ip netns exec $LAB_NATNS sysctl -qw net.ipv4.ip_forward=1
    ip netns exec $LAB_NATNS nft -f - <<'EOF' || return 1
table ip esprit_lab_nat {
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "n-out" masquerade
  }
}
EOF
  else
    ip link add gw-wan netns $LAB_GW type veth peer name sw-wan netns $LAB_SW
  fi
  ip -n $LAB_SW addr add "$sw_wan_addr" dev sw-wan
  ip -n $LAB_SW link set sw-wan up
  [ "$sw_wan_addr" = "$LAB_PRIV/24" ] && ip -n $LAB_SW route add default via $LAB_PRIV_GW
  for n in $LAB_GW $LAB_SW; do
    ip netns exec "$n" sysctl -qw net.ipv4.ip_forward=1
    ip netns exec "$n" sysctl -qw net.ipv4.conf.all.rp_filter=0
    ip netns exec "$n" sysctl -qw net.ipv4.conf.default.rp_filter=0
  done
  ip -n $LAB_GW link set gw-lan up
  ip -n $LAB_GW link set gw-wan up
  if [ "$LAB_PEER" = strongswan ]; then
    # a charon plays the gw slot: the kernel owns the addresses
    ip -n $LAB_GW addr add $LAB_GW_LAN/24 dev gw-lan
    ip -n $LAB_GW addr add "$gw_wan_addr" dev gw-wan
    [ "$gw_wan_addr" = "$LAB_PRIV/24" ] && ip -n $LAB_GW route add default via $LAB_PRIV_GW
  else
    # espritd owns gw-lan and gw-wan through net_af_packet: the kernel keeps off them (no
    # addresses, no IPv6), espritd's config carries the addresses printed by `scripts/lab status`.
    ip netns exec $LAB_GW sysctl -qw net.ipv6.conf.gw-lan.disable_ipv6=1
    ip netns exec $LAB_GW sysctl -qw net.ipv6.conf.gw-wan.disable_ipv6=1
  fi
  # veth TX checksum offload leaves UDP/TCP checksums unfilled (CHECKSUM_PARTIAL); af_packet would
  # relay them so and the far end drops them. Off on every lab veth that sends.
  local x
  for x in "$LAB_HL hl0" "$LAB_HR hr0" "$LAB_SW sw-wan" "$LAB_SW sw-lan" "$LAB_GW gw-wan" "$LAB_GW gw-lan"; do
    set -- $x
    ip netns exec "$1" ethtool -K "$2" tx off >/dev/null 2>&1
  done
  if [ "$LAB_NAT" = 1 ]; then
    ip netns exec $LAB_NATNS ethtool -K n-in tx off >/dev/null 2>&1
    ip netns exec $LAB_NATNS ethtool -K n-out tx off >/dev/null 2>&1
  fi
  return 0
}

# ---------------------------------------------------------------------------------------------
# Back to back: two espritd between four namespaces (tests/functional/gateway_netns_test.sh,
# gateway_ike_netns_test.sh and, through the first, scripts/demo)
#
#   left 10.1.0.5 --l0|g1lan-- [gw1: espritd] --g1wan|g2wan-- [gw2: espritd] --g2lan|r0-- right 10.2.0.7
#                               (10.1.0.1)                                      (10.2.0.1)
#
# The gateways' interfaces carry no kernel address: espritd owns them through net_af_packet and
# its config holds the addresses (lan 10.1.0.1/16 and 10.2.0.1/16, wan as the test chooses). The
# interface names are the same in every run (they live inside the namespaces); the namespace
# names follow the prefix, so runs with different prefixes coexist.

# b2b_names PREFIX: B2B_L B2B_G1 B2B_G2 B2B_R = PREFIX-{l,g1,g2,r}.
b2b_names() {
  B2B_L=$1-l B2B_G1=$1-g1 B2B_G2=$1-g2 B2B_R=$1-r
}

# b2b_topo_up [RIGHT_MTU]: the namespaces, veth pairs, hosts' addresses and routes. RIGHT_MTU
# (default 1500) is host right's link MTU (9000 for jumbo frames; espritd sets g2lan's from its
# port's mtu). Returns 1 when a namespace cannot be made (e.g. it exists).
b2b_topo_up() {
  local right_mtu=${1:-1500} n x
  for n in $B2B_L $B2B_G1 $B2B_G2 $B2B_R; do
    ip netns add "$n" || return 1
    ip -n "$n" link set lo up
  done
  ip link add l0 netns "$B2B_L" type veth peer name g1lan netns "$B2B_G1" || return 1
  ip link add g1wan netns "$B2B_G1" type veth peer name g2wan netns "$B2B_G2" || return 1
  ip link add g2lan netns "$B2B_G2" type veth peer name r0 netns "$B2B_R" || return 1
  for x in "$B2B_G1 g1lan" "$B2B_G1 g1wan" "$B2B_G2 g2wan" "$B2B_G2 g2lan"; do
    set -- $x
    ip -n "$1" link set "$2" up
    # keep the kernel off these links (no IPv6 link-local address, no DAD, no router solicitation)
    ip netns exec "$1" sysctl -qw "net.ipv6.conf.$2.disable_ipv6=1"
  done
  ip -n "$B2B_L" addr add 10.1.0.5/16 dev l0
  ip -n "$B2B_L" link set l0 up
  ip -n "$B2B_L" route add default via 10.1.0.1
  ip -n "$B2B_R" addr add 10.2.0.7/16 dev r0
  ip -n "$B2B_R" link set r0 mtu "$right_mtu" up
  ip -n "$B2B_R" route add default via 10.2.0.1
  # veth TX checksum offload leaves TCP/UDP checksums for the driver (CHECKSUM_PARTIAL);
  # af_packet would forward them unfilled and the far host drops them.
  ip netns exec "$B2B_L" ethtool -K l0 tx off >/dev/null
  ip netns exec "$B2B_R" ethtool -K r0 tx off >/dev/null
  return 0
}

# b2b_topo_down: deletes the four namespaces (and with them the veths). Idempotent.
b2b_topo_down() {
  local n
  for n in $B2B_L $B2B_G1 $B2B_G2 $B2B_R; do ip netns del "$n" 2>/dev/null; done
  return 0
}

# b2b_capture_start DIR: the wire between the gateways, captured where frames arrive (af_packet's
# own transmissions bypass local taps): DIR/wire1.pcap on g1wan has what gw2 sent, DIR/wire2.pcap
# on g2wan what gw1 sent. Waits until both listen; the pids are in B2B_CAPS (b2b_capture_stop).
b2b_capture_start() {
  local dir=$1
  ip netns exec "$B2B_G1" tcpdump -q -n -i g1wan -Q in -w "$dir/wire1.pcap" -U >"$dir/tcpdump1.out" 2>&1 &
  B2B_CAPS=$!
  ip netns exec "$B2B_G2" tcpdump -q -n -i g2wan -Q in -w "$dir/wire2.pcap" -U >"$dir/tcpdump2.out" 2>&1 &
  B2B_CAPS="$B2B_CAPS $!"
  for _ in $(seq 50); do
    grep -q "listening on" "$dir/tcpdump1.out" && grep -q "listening on" "$dir/tcpdump2.out" && return 0
    sleep 0.1
  done
  lab_log "tcpdump on the wire did not start"
  return 1
}

# b2b_capture_stop: stops both captures (what was written stays).
b2b_capture_stop() {
  [ -n "${B2B_CAPS:-}" ] && kill $B2B_CAPS 2>/dev/null
  B2B_CAPS=""
  return 0
}

# b2b_espritd_start NS CONFIG LOG [ESPRITD]: espritd in namespace NS in the background (a job of
# the calling shell, so it can `wait`); its pid in B2B_PID. Does not wait: b2b_wait_running.
b2b_espritd_start() {
  ip netns exec "$1" "${4:-$ESPRITD}" --config "$2" >"$3" 2>&1 &
  B2B_PID=$!
}

# b2b_wait_running LOG... : waits (10 s at most) until every LOG says "running with".
b2b_wait_running() {
  local f all
  for _ in $(seq 100); do
    all=1
    for f in "$@"; do grep -q "running with" "$f" || all=0; done
    [ $all = 1 ] && return 0
    sleep 0.1
  done
  return 1
}

# ---------------------------------------------------------------------------------------------
# Test scaffolding (the lab and back-to-back tests): the preamble, checks, counters

# check DESCRIPTION COMMAND...: runs COMMAND, prints "ok" or "FAIL" with DESCRIPTION, counts it
# in pass / fail; returns COMMAND's success.
check() {
  local what=$1
  shift
  if "$@"; then echo "ok    $what"; pass=$((pass + 1)); else echo "FAIL  $what"; fail=$((fail + 1)); return 1; fi
}
quiet() { "$@" >/dev/null 2>&1; }

# The preamble of a lab test (the tests skip, exit 77 for meson, what the machine cannot run):
#   lab_require_root            root (network namespaces)
#   lab_require_strongswan      charon and swanctl installed (scripts/bootstrap installs them)
#   lab_require_netns           a network namespace can be made here (not in every container)
#   lab_test_begin [--strongswan]
#       the three checks (strongSwan only with --strongswan); exports LAB_NS and LAB_RUN
#       (/tmp/esprit-lab/$LAB_NS); sets FAILDIR (/tmp/esprit-lab/failed-$LAB_NS, where a failing
#       case keeps its logs) and the pass and fail counters; an EXIT trap runs lab_test_cleanup
#       (when the test defines it), tears the lab down and removes $LAB_RUN. Set LAB_NS (the
#       test's own prefix, e.g. eis$$) before sourcing this file.
lab_require_root() {
  [ "$(id -u)" = 0 ] && return 0
  echo "needs root (network namespaces): skipped"
  exit 77
}
lab_require_strongswan() {
  [ -x "$LAB_CHARON" ] && command -v swanctl >/dev/null && return 0
  echo "strongSwan is not installed (scripts/bootstrap installs it): skipped"
  exit 77
}
lab_require_netns() {
  local probe=$LAB_NS-probe
  if ip netns add "$probe" 2>/dev/null; then
    ip netns del "$probe"
    return 0
  fi
  echo "cannot create network namespaces here: skipped"
  exit 77
}
lab_test_begin() {
  lab_require_root
  [ "${1:-}" = --strongswan ] && lab_require_strongswan
  LAB_RUN=/tmp/esprit-lab/$LAB_NS  # the test's own, whatever the environment says
  lab_names
  export LAB_NS LAB_RUN
  lab_require_netns
  FAILDIR=/tmp/esprit-lab/failed-$LAB_NS
  pass=0
  fail=0
  trap lab_test_exit EXIT
}
lab_test_exit() {
  declare -F lab_test_cleanup >/dev/null && lab_test_cleanup
  lab_down >/dev/null 2>&1
  rm -rf "$LAB_RUN"
}

# lab_stop_pids PID...: SIGTERM, 3 s for them to exit, then SIGKILL; reaps those that are jobs
# of the calling shell.
lab_stop_pids() {
  local p alive
  [ $# -gt 0 ] || return 0
  for p in "$@"; do kill "$p" 2>/dev/null; done
  for _ in $(seq 30); do
    alive=0
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for p in "$@"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  return 0
}

# ---------------------------------------------------------------------------------------------
# strongSwan

# lab_swan_conf <gw|sw> <dir>: strongswan.conf + swanctl.conf for the charon on that side.
lab_swan_conf() {
  local side=$1 dir=$2 me peer raddr lts rts role ns
  if [ "$side" = gw ]; then
    me=$LAB_GW_ID peer=$LAB_SW_ID raddr=$LAB_SW_PUB lts=$LAB_LEFT_NET rts=$LAB_RIGHT_NET ns=$LAB_GW
    role=$LAB_GW_ROLE
  else
    me=$LAB_SW_ID peer=$LAB_GW_ID raddr=$LAB_GW_PUB lts=$LAB_RIGHT_NET rts=$LAB_LEFT_NET ns=$LAB_SW
    role=$(lab_sw_role)
  fi
  # A responder accepts any address (the initiator may come through the NAT).
  [ "$role" = responder ] && raddr=%any
  local start=none
  [ "$role" = initiator ] && start=$LAB_START_ACTION
  local dpd=""
  [ "$LAB_DPD" != 0 ] && dpd="dpd_delay = ${LAB_DPD}s"
  mkdir -p "$dir"
  # swanctl --load-all wants the credential folders next to swanctl.conf
  (cd "$dir" && mkdir -p x509 x509ca x509ocsp x509aa x509ac x509crl pubkey private rsa ecdsa bliss pkcs8 pkcs12)
  local l=$LAB_LOGLEVEL
  cat >"$dir/strongswan.conf" <<EOF
# generated by scripts/lablib.sh for $ns ($role); selected with STRONGSWAN_CONF
charon {
  # Explicit plugins: kdf is needed for the PRF+ of IKEv2; kernel-libipsec BEFORE kernel-netlink so
  # that ESP runs in userspace over a TUN device (this kernel has no ESP), always as ESP-in-UDP/4500.
  load = random nonce openssl aes sha1 sha2 md5 hmac gcm kdf pem pkcs1 x509 pubkey kernel-libipsec kernel-netlink socket-default vici updown
  # room for many IKE SAs (the load measurement in docs/lab.md)
  ikesa_table_size = 4096
  ikesa_table_segments = 16
  filelog {
    lab {
      path = $LAB_RUN/$ns/charon.log
      time_format = %H:%M:%S
      flush_line = yes
      append = no
      ike_name = yes
      default = 1
      ike = $l
      chd = $l
      enc = $([ "$l" -gt 2 ] && echo 2 || echo 1)
      net = $([ "$l" -gt 2 ] && echo 2 || echo 1)
      cfg = 1
      knl = 1
      esp = 1
    }
  }
  syslog {
    daemon {
      default = -1
    }
  }
}
EOF
  cat >"$dir/swanctl.conf" <<EOF
# generated by scripts/lablib.sh for $ns ($role); one key per line (swanctl refuses two on a line)
connections {
  lab {
    version = 2
    remote_addrs = $raddr
    proposals = $LAB_IKE_PROPOSAL
    rekey_time = ${LAB_REKEY}s
    mobike = no
    $dpd
    local {
      auth = psk
      id = $me
    }
    remote {
      auth = psk
      id = $peer
    }
    children {
      net {
        mode = tunnel
        local_ts = $lts
        remote_ts = $rts
        esp_proposals = $LAB_ESP_PROPOSAL
        rekey_time = ${LAB_REKEY}s
        start_action = $start
        dpd_action = clear
      }
    }
  }
}
secrets {
  ike-lab {
    id-a = $LAB_GW_ID
    id-b = $LAB_SW_ID
    secret = "$LAB_PSK"
  }
}
EOF
}

lab_side_ns() { [ "$1" = gw ] && echo $LAB_GW || echo $LAB_SW; }

# lab_charon_start <gw|sw>: charon in that side's namespace with the config in $LAB_RUN/<ns>/.
# `ip netns exec` runs the command in a private (rslave) mount namespace, so a bind mount of
# $LAB_RUN/<ns> over /run gives each charon its own charon.pid and charon.vici.
lab_charon_start() {
  local ns
  ns=$(lab_side_ns "$1")
  local d=$LAB_RUN/$ns
  mkdir -p "$d"
  rm -f "$d/charon.pid" "$d/charon.vici"
  ip netns exec "$ns" sh -c "mount --bind '$d' /run && STRONGSWAN_CONF='$d/strongswan.conf' exec $LAB_CHARON" \
    >"$d/charon.stdout" 2>&1 &
  echo $! >"$d/charon.launcher.pid"
  local i
  for i in $(seq 100); do
    [ -S "$d/charon.vici" ] && break
    sleep 0.1
  done
  if [ ! -S "$d/charon.vici" ]; then
    lab_log "charon in $ns did not come up"
    cat "$d/charon.stdout" "$d/charon.log" >&2 2>/dev/null
    return 1
  fi
  lab_sw "$1" --load-all --file "$d/swanctl.conf" >"$d/load-all.out" 2>&1 || {
    lab_log "swanctl --load-all failed in $ns"
    cat "$d/load-all.out" >&2
    return 1
  }
}

# lab_sw_load_responder [PSK_ID]: the sw charon becomes the responder of the load measurements
# (scripts/ikeload, scripts/lab-ikeload): any number of IKE SAs from one address and ID pattern
# (unique = never, which also ignores INITIAL_CONTACT; remote ID %any; remote TS 10.200.0.0/14,
# one host per initiator), no DoS protection (no COOKIE round trip, no per-IP half-open block).
# The PSK is bound to PSK_ID, or to no ID (then charon looks it up for IDr %any, as for an
# initiator that sends no IDr). Restarts that charon with its edited configuration.
lab_sw_load_responder() {
  local d=$LAB_RUN/$LAB_SW secret="/id-a = /d; /id-b = /d"
  [ -n "${1:-}" ] && secret="s|id-a = $LAB_GW_ID|id = $1|; /id-b = /d"
  sed -i 's/^charon {/charon {\n  dos_protection = no\n  block_threshold = 1000000\n  cookie_threshold = 1000000\n  init_limit_half_open = 0/' \
    "$d/strongswan.conf"
  sed -i "s|^    mobike = no|    mobike = no\n    unique = never|; s|remote_ts = $LAB_LEFT_NET|remote_ts = 10.200.0.0/14|
          s|id = $LAB_GW_ID|id = %any|; $secret" "$d/swanctl.conf"
  lab_charon_stop sw
  lab_charon_start sw
}

# lab_sw <gw|sw> --command [args]: swanctl against that side's charon (the command comes first).
lab_sw() {
  local ns
  ns=$(lab_side_ns "$1")
  local cmd=$2
  shift 2
  [ -f "$LAB_RUN/swanctl-client.conf" ] ||
    printf 'swanctl {\n  load = random openssl pem pkcs1 x509 pubkey\n}\n' >"$LAB_RUN/swanctl-client.conf"
  STRONGSWAN_CONF=$LAB_RUN/swanctl-client.conf swanctl "$cmd" --uri "unix://$LAB_RUN/$ns/charon.vici" "$@"
}

lab_charon_stop() {
  local ns d f
  ns=$(lab_side_ns "$1")
  d=$LAB_RUN/$ns
  for f in "$d/charon.pid" "$d/charon.launcher.pid"; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
  done
  for _ in $(seq 20); do
    [ -f "$d/charon.launcher.pid" ] && kill -0 "$(cat "$d/charon.launcher.pid")" 2>/dev/null || break
    sleep 0.1
  done
  for f in "$d/charon.pid" "$d/charon.launcher.pid"; do
    [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
    rm -f "$f"
  done
  rm -f "$d/charon.vici"  # a killed charon leaves its socket; status and the harness test for it
  return 0
}

# lab_charon_kill <gw|sw>: SIGKILL for that side's charon, a peer that dies without a word (no
# Delete, as charon sends on SIGTERM); its UDP ports then answer ICMP port unreachable. The pid
# files stay for lab_charon_stop / lab_down.
lab_charon_kill() {
  local d f
  d=$LAB_RUN/$(lab_side_ns "$1")
  for f in "$d/charon.pid" "$d/charon.launcher.pid"; do
    [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
  done
  # reap the launcher when it is our job (no "Killed" job report)
  [ -f "$d/charon.launcher.pid" ] && wait "$(cat "$d/charon.launcher.pid")" 2>/dev/null
  return 0
}

# ---------------------------------------------------------------------------------------------
# espritd in the gw slot

# lab_espritd_start <config.toml> [espritd]: espritd in the gw namespace; waits until it runs.
lab_espritd_start() {
  local cfg=$1 bin=${2:-${ESPRITD:-espritd}}
  ip netns exec $LAB_GW "$bin" --config "$cfg" >"$LAB_RUN/espritd.log" 2>&1 &
  echo $! >"$LAB_RUN/espritd.pid"
  for _ in $(seq 100); do
    grep -q "running with" "$LAB_RUN/espritd.log" && return 0
    kill -0 "$(cat "$LAB_RUN/espritd.pid")" 2>/dev/null || break
    sleep 0.1
  done
  lab_log "espritd did not start (log: $LAB_RUN/espritd.log)"
  tail -20 "$LAB_RUN/espritd.log" >&2
  return 1
}

lab_espritd_stop() {
  local f=$LAB_RUN/espritd.pid
  [ -f "$f" ] || return 0
  kill "$(cat "$f")" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$(cat "$f")" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$(cat "$f")" 2>/dev/null; then
    lab_log "espritd did not stop within 5 s of SIGTERM: SIGKILL"
    kill -9 "$(cat "$f")" 2>/dev/null
  fi
  wait "$(cat "$f")" 2>/dev/null  # reap it when it is our job (no "Killed" job report)
  rm -f "$f"
}

# ---------------------------------------------------------------------------------------------
# Harness steps

# lab_initiate [timeout]: the initiating charon brings the tunnel up (strongSwan in the gw slot as
# initiator, or the sw charon when the gw slot is the responder).
lab_initiate() {
  local side=sw
  [ "$LAB_GW_ROLE" = initiator ] && side=gw
  lab_sw $side --initiate --child net --ike lab --timeout "${1:-20}" >"$LAB_RUN/initiate.out" 2>&1
}

# lab_wait_tunnel [timeout_s]: polls `swanctl --list-sas` on the strongSwan side until an IKE SA is
# ESTABLISHED with an INSTALLED Child SA. Returns 1 on timeout.
lab_wait_tunnel() {
  local deadline=$((SECONDS + ${1:-20})) out
  while [ $SECONDS -le $deadline ]; do
    out=$(lab_sw sw --list-sas 2>/dev/null)
    if grep -q ESTABLISHED <<<"$out" && grep -q INSTALLED <<<"$out"; then
      echo "$out" >"$LAB_RUN/list-sas.txt"
      return 0
    fi
    sleep 0.2
  done
  lab_log "no tunnel within ${1:-20} s"
  return 1
}

# lab_ping_through [count]: ping hl -> hr and hr -> hl through the tunnel; both must pass fully.
lab_ping_through() {
  local c=${1:-3} rc=0
  # the first packet may wait for ARP or a route: one warm-up ping that may be lost
  ip netns exec $LAB_HL ping -c 1 -W 2 $LAB_HR_ADDR >/dev/null 2>&1
  ip netns exec $LAB_HL ping -c "$c" -i 0.2 -W 2 $LAB_HR_ADDR >"$LAB_RUN/ping-lr.out" 2>&1 || rc=1
  ip netns exec $LAB_HR ping -c "$c" -i 0.2 -W 2 $LAB_HL_ADDR >"$LAB_RUN/ping-rl.out" 2>&1 || rc=1
  [ $rc = 0 ] || lab_log "ping through failed: $(tail -2 "$LAB_RUN/ping-lr.out" "$LAB_RUN/ping-rl.out" | tr '\n' ' ')"
  return $rc
}

# lab_capture_start [file]: tcpdump on the strongSwan side of the wire (sw-wan sees both directions
# of what crosses it, after the NAT when the NAT is in front of the gw slot).
lab_capture_start() {
  local f=${1:-$LAB_RUN/wire.pcap}
  ip netns exec $LAB_SW tcpdump -q -n -i sw-wan -w "$f" -U >"$LAB_RUN/tcpdump.out" 2>&1 &
  echo $! >"$LAB_RUN/tcpdump.pid"
  for _ in $(seq 50); do
    grep -q "listening on" "$LAB_RUN/tcpdump.out" && return 0
    sleep 0.1
  done
  lab_log "tcpdump did not start"
  return 1
}

lab_capture_stop() {
  local f=$LAB_RUN/tcpdump.pid
  [ -f "$f" ] || return 0
  sleep 1  # tcpdump may lag behind on a loaded machine; SIGINT stops it without draining
  kill -INT "$(cat "$f")" 2>/dev/null
  for _ in $(seq 30); do kill -0 "$(cat "$f")" 2>/dev/null || break; sleep 0.1; done
  rm -f "$f"
}

# lab_wire_counts <pcap>: "ike=N espinudp=N rawesp=N clear=N" (clear: IP that is neither IKE nor ESP)
lab_wire_counts() {
  local f=$1
  local ike esp raw clear
  ike=$(tshark -r "$f" -Y isakmp 2>/dev/null | wc -l)
  esp=$(tshark -r "$f" -Y 'esp && udp.port==4500' 2>/dev/null | wc -l)
  raw=$(tshark -r "$f" -Y 'ip.proto==50' 2>/dev/null | wc -l)
  clear=$(tshark -r "$f" -Y 'ip && !isakmp && !esp && !udp.port==4500' 2>/dev/null | wc -l)
  echo "ike=$ike espinudp=$esp rawesp=$raw clear=$clear"
}

# lab_wire_report <pcap> <keys_dir> <src>: one tshark pass over the capture with Wireshark's
# configuration directory at <keys_dir> (the files ikev2_decryption_table and esp_sa an [ike]
# keys_file writes). Prints
#   "ike=N espinudp=N rawesp=N clear=N ike500=N ike4500=N sent=N encrypted=N decrypted=N bad=N esp=N esp_ok=N"
# the first four as lab_wire_counts; ike500/ike4500: IKE messages on UDP 500 / 4500; then for what
# address <src> sent: IKE messages, those with an SK payload, those tshark decrypted (Decrypted
# Data), those with Malformed or an expert warning/error; ESP packets, and those tshark decrypted
# (tunnel mode: next header IPv4/IPv6) without a bad ICV (Wireshark 4.0 checks the ICV of HMAC
# algorithms, not of AES-GCM: there a wrong key shows as a wrong next header).
lab_wire_report() {
  local f=$1 dir=$2 src=$3
  WIRESHARK_CONFIG_DIR=$dir tshark -n -r "$f" -o esp.enable_encryption_decode:TRUE -T fields -E occurrence=a \
    -E aggregator=, -e frame.protocols -e ip.src -e ip.proto -e udp.port -e isakmp.nextpayload \
    -e isakmp.enc.decrypted -e _ws.expert.severity -e esp.protocol -e esp.icv_bad 2>/dev/null |
    awk -F'\t' -v src="$src" '
      function first(x) { sub(/,.*/, "", x); return x }
      function has(list, v,   a, n, i) { n = split(list, a, ","); for (i = 1; i <= n; i++) if (a[i] == v) return 1; return 0 }
      {
        isakmp = $1 ~ /(^|:)isakmp(:|$)/; esp = $1 ~ /(^|:)esp(:|$)/; ip = $1 ~ /(^|:)ip(:|$)/
        p4500 = has($4, 4500); mine = first($2) == src
        if (isakmp) { ike++; if (has($4, 500)) ike500++; if (p4500) ike4500++ }
        if (esp && p4500) espinudp++
        if (first($3) == 50) rawesp++
        if (ip && !isakmp && !esp && !p4500) clear++
        if (isakmp && mine) {
          sent++
          if (first($5) == 46) enc++
          if ($6 != "") dec++
          worst = 0; n = split($7, sv, ","); for (i = 1; i <= n; i++) if (sv[i] + 0 > worst) worst = sv[i] + 0
          if ($1 ~ /_ws\.malformed/ || worst >= 6291456) bad++
        }
        if (esp && mine) {
          espn++
          np = first($8); if ((np == "4" || np == "41" || np == "0x04" || np == "0x29") && first($9) != "1" && first($9) != "True") espok++
        }
      }
      END { printf "ike=%d espinudp=%d rawesp=%d clear=%d ike500=%d ike4500=%d sent=%d encrypted=%d decrypted=%d bad=%d esp=%d esp_ok=%d\n",
                   ike, espinudp, rawesp, clear, ike500, ike4500, sent, enc, dec, bad, espn, espok }'
}

# lab_collect_logs <dir>: charon logs, SAs, espritd log, captures and settings into <dir>, and
# the tail of each log on stderr (for a failing test).
lab_collect_logs() {
  local out=$1 ns f
  mkdir -p "$out"
  cp "$LAB_RUN/state" "$LAB_RUN"/*.out "$LAB_RUN"/*.txt "$LAB_RUN"/*.pcap "$LAB_RUN/espritd.log" "$out/" 2>/dev/null
  for ns in $LAB_GW $LAB_SW; do
    [ -d "$LAB_RUN/$ns" ] || continue
    mkdir -p "$out/$ns"
    cp "$LAB_RUN/$ns"/*.log "$LAB_RUN/$ns"/*.conf "$LAB_RUN/$ns"/*.out "$LAB_RUN/$ns"/*.stdout "$out/$ns/" 2>/dev/null
    [ -S "$LAB_RUN/$ns/charon.vici" ] && lab_sw "${ns##*-}" --list-sas >"$out/$ns/list-sas.txt" 2>&1
  done
  for f in "$out"/*/charon.log "$out/espritd.log"; do
    [ -f "$f" ] || continue
    echo "--- tail of $f" >&2
    tail -25 "$f" >&2
  done
  lab_log "logs collected in $out"
}

# ---------------------------------------------------------------------------------------------
# The whole lab

# lab_up: topology, strongSwan config for both sides, charon in sw (and in gw for --peer strongswan).
# The tunnel is not brought up here (lab_initiate / start action / espritd do that).
lab_up() {
  lab_defaults || return 1
  lab_down >/dev/null 2>&1
  mkdir -p "$LAB_RUN"
  lab_save_state
  lab_topo_up || { lab_log "topology failed"; return 1; }
  lab_swan_conf sw "$LAB_RUN/$LAB_SW"
  lab_swan_conf gw "$LAB_RUN/$LAB_GW"
  lab_charon_start sw || return 1
  if [ "$LAB_PEER" = strongswan ]; then
    lab_charon_start gw || return 1
  fi
  return 0
}

# lab_down: stops everything this lab started and deletes its namespaces. Idempotent.
lab_down() {
  lab_load_state
  lab_capture_stop
  lab_espritd_stop
  lab_charon_stop gw
  lab_charon_stop sw
  local n p f
  for f in "$LAB_RUN"/*.pid; do
    [ -f "$f" ] || continue
    kill "$(cat "$f")" 2>/dev/null
    rm -f "$f"
  done
  # anything still running inside our namespaces was started by this lab
  for n in $LAB_HL $LAB_GW $LAB_NATNS $LAB_SW $LAB_HR; do
    for p in $(ip netns pids "$n" 2>/dev/null); do kill "$p" 2>/dev/null; done
  done
  sleep 0.2
  for n in $LAB_HL $LAB_GW $LAB_NATNS $LAB_SW $LAB_HR; do
    for p in $(ip netns pids "$n" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    ip netns del "$n" 2>/dev/null
  done
  rm -f "$LAB_RUN/state"
  return 0
}

lab_status() {
  lab_load_state
  local n any=0
  for n in $LAB_HL $LAB_GW $LAB_NATNS $LAB_SW $LAB_HR; do
    if ip netns list | grep -qw "^$n"; then
      any=1
      echo "netns $n: $(ip -n "$n" -br addr | grep -v '^lo' | awk '{printf "%s %s  ", $1, $3}')"
      echo "        processes: $(ip netns pids "$n" | xargs -r ps -o comm= -p | sort | uniq -c | awk '{printf "%s(%s) ", $2, $1}')"
    fi
  done
  if [ $any = 0 ]; then
    echo "lab $LAB_NS is down"
    return 1
  fi
  echo "peer in gw slot: ${LAB_PEER:-?} as ${LAB_GW_ROLE:-?}; NAT: ${LAB_NAT:-0}; proposals: IKE ${LAB_IKE_PROPOSAL:-?} ESP ${LAB_ESP_PROPOSAL:-?}"
  echo "ids: gw $LAB_GW_ID, sw $LAB_SW_ID; state in $LAB_RUN"
  if [ "${LAB_PEER:-}" = espritd ]; then
    local wan=$LAB_GW_PUB
    [ "${LAB_NAT:-0}" = 1 ] && [ "$(lab_natted_side)" = gw ] && wan="$LAB_PRIV (default route via $LAB_PRIV_GW)"
    echo "espritd addresses: lan port gw-lan $LAB_GW_LAN/24, wan port gw-wan $wan; peer $LAB_SW_PUB"
  fi
  local s
  for s in gw sw; do
    [ -S "$LAB_RUN/$(lab_side_ns $s)/charon.vici" ] || continue
    echo "--- charon in $(lab_side_ns $s):"
    lab_sw $s --list-sas 2>&1 | sed 's/^/  /'
  done
  return 0
}
