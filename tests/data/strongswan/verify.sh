#!/usr/bin/env bash
# verify.sh [dir]: every capture <set>.pcap here decrypts with its <set>.keys in tshark: each
# encrypted IKE message opens, each ESP packet's ICV is right, nothing is malformed, and every
# exchange the README promises is there. Prints one line per set; exit 1 on any failure.
set -u
DIR=${1:-$(cd "$(dirname "$0")" && pwd)}
fail=0
for keys in "$DIR"/*.keys; do
  set_=$(basename "$keys" .keys)
  pcap=$DIR/$set_.pcap
  ws=$(mktemp -d)
  /usr/bin/python3 "$DIR/strongswan_keys.py" --wireshark "$ws" "$keys"
  t() { WIRESHARK_CONFIG_DIR=$ws tshark -r "$pcap" "$@" 2>/dev/null; }
  enc=$(t -Y 'isakmp.nextpayload == 46 || isakmp.typepayload == 46' | wc -l)
  dec=$(t -Y isakmp -O isakmp | grep -c 'Decrypted Data')
  esp=$(t -Y esp | wc -l)
  icv=$(t -Y 'esp.icv_good == 1' | wc -l)
  bad=$(t -Y '_ws.malformed || _ws.expert.severity >= "warning"' | wc -l)
  ex=$(t -Y isakmp -T fields -e isakmp.exchangetype | sort -u | tr '\n' ' ')
  del=$(t -Y 'isakmp.typepayload == 42' | wc -l)
  # DPD / liveness: an INFORMATIONAL whose SK payload carries nothing (next payloads 46, 0)
  dpd=$(t -Y 'isakmp.exchangetype == 37' -T fields -e isakmp.nextpayload | grep -c '^46,0$')
  line="$set_: IKE messages encrypted $enc decrypted $dec; ESP $esp ICV ok $icv; malformed/warnings $bad; exchanges $ex; delete $del; empty INFORMATIONAL (DPD) $dpd"
  if [ "$enc" -gt 0 ] && [ "$enc" = "$dec" ] && [ "$esp" -gt 0 ] && [ "$esp" = "$icv" ] && [ "$bad" = 0 ] &&
     [ "$ex" = "34 35 36 37 " ] && [ "$del" -ge 6 ] && [ "$dpd" -ge 2 ]; then
    echo "ok    $line"
  else
    echo "FAIL  $line"
    fail=1
  fi
  rm -rf "$ws"
done
exit $fail
