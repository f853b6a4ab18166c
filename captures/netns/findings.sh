#!/bin/bash
# Regenerate captures/findings/* with real Linux TCP stacks in twf-* network namespaces.
# Usage (as root): captures/netns/findings.sh [scenario ...]     (default: all; see findings_run.py)
# Idempotent: every scenario recreates its namespaces and overwrites its capture and JSON.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
cleanup() {
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^twf-'); do
    ip netns del "$ns" 2>/dev/null
  done
  rm -f "$HERE"/../findings/*.tmp.pcap
}
trap cleanup EXIT
trap 'exit 130' INT TERM
[ "$(id -u)" = 0 ] || { echo "findings.sh: must run as root" >&2; exit 1; }
for t in tcpdump tshark editcap nstat iptables ss; do
  command -v "$t" >/dev/null || { echo "findings.sh: $t missing" >&2; exit 1; }
done
cleanup
timeout 900 /usr/bin/python3 "$HERE/findings_run.py" "$@"
