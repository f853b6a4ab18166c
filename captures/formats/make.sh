#!/usr/bin/env bash
# Regenerates the real-tool sample captures in captures/formats/ (see README.md there).
# Needs root (network namespaces), tcpdump, dumpcap, editcap, python3, gzip.
# Traffic stays on the loopback of a fresh namespace (twr-fmt), removed afterwards.
# No capture filter: BPF "tcp" does not match IPv6 packets whose TCP follows extension headers.
set -euo pipefail
cd "$(dirname "$0")"
T=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -INT "$p" 2>/dev/null || true; done
  sleep 0.5
  for ns in twr-fmt; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT

cap() { # cap NS OUTFILE tcpdump-args...
  local ns=$1 out=$2; shift 2
  ip netns exec "$ns" tcpdump -U -w "$T/$out" "$@" 2>/dev/null &
  pids+=($!)
}

# --- loopback in a fresh namespace: several capture variants of the same exchanges
ip netns add twr-fmt
ip netns exec twr-fmt ip link set lo up
cap twr-fmt lo-eth.pcap -i lo
cap twr-fmt lo-eth-nano.pcap -i lo --time-stamp-precision=nano
cap twr-fmt any-sll2.pcap -i any
cap twr-fmt any-sll.pcap -i any -y LINUX_SLL
cap twr-fmt lo-snap80.pcap -i lo -s 80
ip netns exec twr-fmt dumpcap -q -i lo -i any -w "$T/multi-if.pcapng" 2>/dev/null &
pids+=($!)
sleep 2
ip netns exec twr-fmt python3 ./traffic.py lo
sleep 1
for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
wait || true
pids=()

# (veth and vlan devices are not available in this sandbox: VLAN/QinQ, NULL/LOOP and big-endian
# variants are derived from lo-eth.pcap by the tests, see test/helpers/craft.ts)

# --- derived with editcap / gzip from the loopback capture
cp "$T"/lo-eth.pcap "$T"/lo-eth-nano.pcap "$T"/any-sll2.pcap "$T"/any-sll.pcap "$T"/lo-snap80.pcap "$T"/multi-if.pcapng .
editcap -F pcapng lo-eth.pcap lo-eth.pcapng
editcap -F modlibpcap lo-eth.pcap lo-modified.pcap
editcap -C 14 -T rawip lo-eth.pcap lo-rawip.pcap
gzip -9nc lo-eth.pcap > lo-eth.pcap.gz
gzip -9nc lo-eth.pcapng > lo-eth.pcapng.gz
chmod 644 ./*.pcap ./*.pcapng ./*.gz
ls -l ./*.pcap ./*.pcapng ./*.gz
