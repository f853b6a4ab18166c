# shellcheck shell=bash
# captures/netns/lib.sh -- helpers for building capture scenarios with real
# Linux TCP stacks in network namespaces.  Source it from a scenario script:
#
#   . "$(dirname "$0")/lib.sh"
#   twt_require_root
#   trap 'twt_cleanup twt-' EXIT
#   twt_ns_add twt-c; twt_ns_add twt-s
#   twt_link twt-c twtc0 192.0.2.1/24 twt-s twts0 192.0.2.2/24 \
#            2001:db8:1::1/64 2001:db8:1::2/64
#   twt_cap_start twt-s twts0 /tmp/x.pcap            # sets TWT_CAP_PID
#   twt_exec twt-s 10 /usr/bin/python3 server.py &
#   ...
#   twt_cap_stop "$TWT_CAP_PID"
#
# Interface (kept stable; other scenario scripts rely on it):
#   twt_require_root
#   twt_ns_add NS                      create namespace NS (deleted first if it
#                                      exists), bring lo up
#   twt_link NS1 IF1 ADDR1 NS2 IF2 ADDR2 [ADDR6_1 ADDR6_2]
#                                      veth pair IF1(in NS1)<->IF2(in NS2), IPv4
#                                      CIDR addresses (may be "-" for none),
#                                      optional IPv6 CIDR addresses (nodad)
#   twt_router NS                      enable IPv4+IPv6 forwarding in NS
#   twt_route NS DEST VIA              add a route (v4 or v6 chosen from VIA)
#   twt_sysctl NS KEY=VALUE...         set sysctls inside NS
#   twt_exec NS SECS CMD...            run CMD in NS with a timeout (foreground)
#   twt_bg NS SECS CMD...              same in the background; the PID of the
#                                      timeout process is left in TWT_BG_PID
#   twt_cap_start NS IFACE FILE [TCPDUMP_ARGS...]
#                                      start tcpdump -U --immediate-mode in NS,
#                                      wait until it really captures; PID in
#                                      TWT_CAP_PID.  Extra args (e.g.
#                                      --time-stamp-precision=nano, a filter)
#                                      are appended.  IFACE may be "any".
#   twt_dumpcap_start NS IFACE FILE [DUMPCAP_ARGS...]
#                                      same with dumpcap (pcapng); PID in
#                                      TWT_CAP_PID
#   twt_cap_stop PID                   SIGINT + wait, so the file is complete
#   twt_wait_port NS PORT [SECS]       wait until something listens on PORT
#   twt_cleanup PREFIX                 delete all namespaces named PREFIX*
#                                      (and kill processes left inside them)
#   twt_nstat_snap NS FILE             save `nstat -az` absolute counters
#   twt_nstat_delta BEFORE AFTER [REGEX]
#                                      print nonzero deltas as a JSON object;
#                                      REGEX filters counter names
#                                      (default: ^(TcpExt|Tcp))
#   twt_ss NS                          print `ss -tanoi` in NS (state snapshot)
#
# All commands are bounded by timeouts; nothing here loops forever.

TWT_PY=${TWT_PY:-/usr/bin/python3}

twt_log() { printf '[twt %s] %s\n' "$(date +%T.%3N)" "$*" >&2; }

twt_require_root() {
  if [ "$(id -u)" != 0 ]; then echo "must run as root" >&2; exit 1; fi
}

twt_ns_add() {
  local ns=$1
  if ip netns list | awk '{print $1}' | grep -qx "$ns"; then
    twt_ns_del "$ns"
  fi
  ip netns add "$ns"
  ip -n "$ns" link set lo up
}

twt_ns_del() {
  local ns=$1 pids p
  pids=$(ip netns pids "$ns" 2>/dev/null || true)
  for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
  ip netns del "$ns" 2>/dev/null || true
}

# twt_link NS1 IF1 ADDR1 NS2 IF2 ADDR2 [ADDR6_1 ADDR6_2]
twt_link() {
  local ns1=$1 if1=$2 a1=$3 ns2=$4 if2=$5 a2=$6 a61=${7:-} a62=${8:-}
  ip link add "$if1" netns "$ns1" type veth peer name "$if2" netns "$ns2"
  # no IPv6 router solicitations / autoconf noise on the wire
  local ns
  for ns in "$ns1" "$ns2"; do
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_ra=0 \
      net.ipv6.conf.default.accept_ra=0 net.ipv6.conf.all.autoconf=0 \
      net.ipv6.conf.default.autoconf=0 >/dev/null 2>&1 || true
  done
  ip netns exec "$ns1" sysctl -qw "net.ipv6.conf.$if1.accept_ra=0" "net.ipv6.conf.$if1.autoconf=0" >/dev/null 2>&1 || true
  ip netns exec "$ns2" sysctl -qw "net.ipv6.conf.$if2.accept_ra=0" "net.ipv6.conf.$if2.autoconf=0" >/dev/null 2>&1 || true
  [ "$a1" != - ] && ip -n "$ns1" addr add "$a1" dev "$if1"
  [ "$a2" != - ] && ip -n "$ns2" addr add "$a2" dev "$if2"
  if [ -n "$a61" ] && [ "$a61" != - ]; then ip -n "$ns1" -6 addr add "$a61" dev "$if1" nodad; fi
  if [ -n "$a62" ] && [ "$a62" != - ]; then ip -n "$ns2" -6 addr add "$a62" dev "$if2" nodad; fi
  # no link-local address: no DAD/MLD/RS noise in the captures
  ip -n "$ns1" link set dev "$if1" addrgenmode none 2>/dev/null || true
  ip -n "$ns2" link set dev "$if2" addrgenmode none 2>/dev/null || true
  ip -n "$ns1" link set "$if1" up
  ip -n "$ns2" link set "$if2" up
  # permanent neighbour entries: no ARP/ND round trips (and their 1 s first-
  # packet delays) in the captures
  local m1 m2
  m1=$(ip -n "$ns1" -o link show "$if1" | grep -o 'link/ether [0-9a-f:]*' | awk '{print $2}')
  m2=$(ip -n "$ns2" -o link show "$if2" | grep -o 'link/ether [0-9a-f:]*' | awk '{print $2}')
  [ "$a2" != - ] && ip -n "$ns1" neigh replace "${a2%/*}" lladdr "$m2" dev "$if1" nud permanent
  [ "$a1" != - ] && ip -n "$ns2" neigh replace "${a1%/*}" lladdr "$m1" dev "$if2" nud permanent
  if [ -n "$a62" ] && [ "$a62" != - ]; then ip -n "$ns1" -6 neigh replace "${a62%/*}" lladdr "$m2" dev "$if1" nud permanent; fi
  if [ -n "$a61" ] && [ "$a61" != - ]; then ip -n "$ns2" -6 neigh replace "${a61%/*}" lladdr "$m1" dev "$if2" nud permanent; fi
  return 0
}

twt_router() {
  ip netns exec "$1" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 >/dev/null
}

twt_route() {
  local ns=$1 dest=$2 via=$3
  case $via in
    *:*) ip -n "$ns" -6 route add "$dest" via "$via" ;;
    *)   ip -n "$ns" route add "$dest" via "$via" ;;
  esac
}

twt_sysctl() {
  local ns=$1; shift
  ip netns exec "$ns" sysctl -qw "$@" >/dev/null
}

twt_exec() {
  local ns=$1 secs=$2; shift 2
  timeout --kill-after=2 "$secs" ip netns exec "$ns" "$@"
}

twt_bg() {
  local ns=$1 secs=$2; shift 2
  timeout --kill-after=2 "$secs" ip netns exec "$ns" "$@" &
  TWT_BG_PID=$!
}

# wait (bounded) until FILE holds at least N bytes
_twt_wait_size() {
  local file=$1 n=$2 i
  for i in $(seq 1 100); do
    if [ -f "$file" ] && [ "$(stat -c %s "$file")" -ge "$n" ]; then return 0; fi
    sleep 0.05
  done
  twt_log "timeout waiting for $file"; return 1
}

# twt_cap_start NS IFACE FILE [TCPDUMP_ARGS...]
twt_cap_start() {
  local ns=$1 ifc=$2 file=$3; shift 3
  rm -f "$file"
  timeout --signal=INT --kill-after=5 "${TWT_CAP_MAX:-120}" \
    ip netns exec "$ns" tcpdump -Z root -U --immediate-mode -n -i "$ifc" -w "$file" "$@" \
    2>>"${TWT_CAP_LOG:-/dev/null}" &
  TWT_CAP_PID=$!
  _twt_wait_size "$file" 24 || return 1
  sleep 0.3   # the pcap header is written when the socket is set up; settle
}

# twt_dumpcap_start NS IFACE FILE [DUMPCAP_ARGS...]   (pcapng)
twt_dumpcap_start() {
  local ns=$1 ifc=$2 file=$3; shift 3
  rm -f "$file"
  timeout --signal=INT --kill-after=5 "${TWT_CAP_MAX:-120}" \
    ip netns exec "$ns" dumpcap -q -i "$ifc" -w "$file" "$@" \
    2>>"${TWT_CAP_LOG:-/dev/null}" &
  TWT_CAP_PID=$!
  _twt_wait_size "$file" 100 || return 1
  sleep 0.5
}

twt_cap_stop() {
  local pid=$1 child i
  sleep 0.2     # let in-flight packets reach the capture
  # $pid is the `timeout` wrapper; its child is tcpdump/dumpcap (ip netns exec
  # execs in place).  SIGINT the capturer so it flushes and closes the file.
  child=$(pgrep -P "$pid" 2>/dev/null | head -1)
  if [ -n "$child" ]; then kill -INT "$child" 2>/dev/null || true
  else kill -INT "$pid" 2>/dev/null || true; fi
  for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
}

twt_wait_port() {
  local ns=$1 port=$2 secs=${3:-5} i
  for i in $(seq 1 $((secs * 20))); do
    if ip netns exec "$ns" ss -Htln "sport = :$port" | grep -q .; then return 0; fi
    sleep 0.05
  done
  twt_log "nothing listens on $ns:$port"; return 1
}

twt_cleanup() {
  local prefix=${1:?prefix} ns
  for ns in $(ip netns list | awk '{print $1}' | grep "^$prefix" || true); do
    twt_ns_del "$ns"
  done
}

twt_nstat_snap() {
  local ns=$1 file=$2
  ip netns exec "$ns" nstat -asz 2>/dev/null | awk 'NF>=2 && $1 !~ /^#/ {print $1, $2}' >"$file"
}

twt_nstat_delta() {
  local before=$1 after=$2 re=${3:-'^(TcpExt|Tcp)'}
  "$TWT_PY" - "$before" "$after" "$re" <<'EOF'
import json, re, sys
def load(p):
    d = {}
    for line in open(p):
        k, v = line.split()[:2]
        d[k] = int(v)
    return d
b, a, rx = load(sys.argv[1]), load(sys.argv[2]), re.compile(sys.argv[3])
out = {k: a[k] - b.get(k, 0) for k in sorted(a) if rx.search(k) and a[k] - b.get(k, 0) != 0}
print(json.dumps(out, sort_keys=True))
EOF
}

twt_ss() {
  ip netns exec "$1" ss -tanoi 2>/dev/null
}
