#!/bin/bash
# captures/netns/teardown.sh -- regenerate captures/teardown/*: real Linux TCP
# teardown captures made in network namespaces, each with a JSON statement
# (checked against the capture by describe.py; a capture that does not show
# what it must fails the run).
#
# Topology (recreated for every scenario, so counters and sockets are clean):
#   twt-c [twtc0 192.0.2.10/26, 2001:db8:1::c:10/112]
#     <-> [twtrc 192.0.2.1/26, 2001:db8:1::c:1/112] twt-r (router)
#         [twtrs 192.0.2.65/26, 2001:db8:1::5:1/112]
#     <-> [twts0 192.0.2.70/26, 2001:db8:1::5:70/112] twt-s
# Clients bind fixed source ports 400NN, servers listen on 80NN (NN = scenario).
#
# Usage: sudo captures/netns/teardown.sh [scenario...]     (default: all)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(cd "$HERE/../teardown" 2>/dev/null && pwd || { mkdir -p "$HERE/../teardown"; cd "$HERE/../teardown" && pwd; })
. "$HERE/lib.sh"
twt_require_root
WORK=$(mktemp -d /tmp/twt-teardown.XXXXXX)
trap 'twt_cleanup twt-; rm -rf "$WORK"' EXIT
export TWT_CAP_LOG=$WORK/capture.log
PY=/usr/bin/python3
PEER="$PY $HERE/tcp_peer.py"
NSTAT_RE='^(TcpExt|TcpActiveOpens|TcpPassiveOpens|TcpAttemptFails|TcpEstabResets|TcpOutRsts|TcpRetransSegs|TcpInErrs)'
C4=192.0.2.10; S4=192.0.2.70; C6=2001:db8:1::c:10; S6=2001:db8:1::5:70

topo() {
  twt_cleanup twt-
  twt_ns_add twt-c; twt_ns_add twt-r; twt_ns_add twt-s
  twt_link twt-c twtc0 $C4/26 twt-r twtrc 192.0.2.1/26 $C6/112 2001:db8:1::c:1/112
  twt_link twt-r twtrs 192.0.2.65/26 twt-s twts0 $S4/26 2001:db8:1::5:1/112 $S6/112
  twt_router twt-r
  twt_route twt-c default 192.0.2.1;  twt_route twt-c default 2001:db8:1::c:1
  twt_route twt-s default 192.0.2.65; twt_route twt-s default 2001:db8:1::5:1
}

# begin NAME: fresh topology + counter snapshots
begin() {
  NAME=$1
  twt_log "=== $NAME"
  topo
  twt_nstat_snap twt-c "$WORK/$NAME.nc0"; twt_nstat_snap twt-s "$WORK/$NAME.ns0"
}

# finish: socket-state snapshots at capture end, stop capture(s), counter deltas
finish() {
  sleep "${SETTLE:-0.3}"
  ip netns exec twt-c ss -tan >"$WORK/$NAME.ssc"; ip netns exec twt-s ss -tan >"$WORK/$NAME.sss"
  local p; for p in "$@"; do twt_cap_stop "$p"; done
  twt_nstat_snap twt-c "$WORK/$NAME.nc1"; twt_nstat_snap twt-s "$WORK/$NAME.ns1"
  twt_nstat_delta "$WORK/$NAME.nc0" "$WORK/$NAME.nc1" "$NSTAT_RE" >"$WORK/$NAME.dc"
  twt_nstat_delta "$WORK/$NAME.ns0" "$WORK/$NAME.ns1" "$NSTAT_RE" >"$WORK/$NAME.ds"
}

# describe CAPFILE  (design JSON on stdin)
describe() {
  cat >"$WORK/$NAME.design.json"
  $PY "$HERE/describe.py" --pcap "$OUT/$1" --design "$WORK/$NAME.design.json" \
    --out "$OUT/${1%.*}.json" --ss "client=$WORK/$NAME.ssc" --ss "server=$WORK/$NAME.sss" \
    --nstat "twt-c=$WORK/$NAME.dc" --nstat "twt-s=$WORK/$NAME.ds"
  twt_log "wrote $1 and ${1%.*}.json"
}

wait_ready() {   # wait for an nfq.py ready file
  local i; for i in $(seq 1 100); do [ -f "$1" ] && return 0; sleep 0.05; done
  twt_log "nfq not ready"; return 1
}

server() { twt_bg twt-s 30 $PEER server "$@" 2>>"$WORK/peers.log"; SRV=$TWT_BG_PID; }
client() { twt_exec twt-c 30 $PEER client "$@" 2>>"$WORK/peers.log"; }

ETH_C="Ethernet (DLT_EN10MB), capture point: client veth twtc0 in twt-c"
ETH_S="Ethernet (DLT_EN10MB), capture point: server veth twts0 in twt-s"

# 1. client closes first
s_client_closes_first() {
  begin client-closes-first
  twt_cap_start twt-c twtc0 "$OUT/client-closes-first.pcap" tcp
  server --listen $S4:8001 --actions "recv:100,send:300,eof,close"; twt_wait_port twt-s 8001
  client --bind $C4:40001 --connect $S4:8001 --actions "send:100,recv:300,sleep:0.1,close"
  wait $SRV; finish $TWT_CAP_PID
  describe client-closes-first.pcap <<J
{"capture": "client-closes-first.pcap",
 "scenario": "The client sends a request, reads the response and closes first; the server reads EOF and closes; the client's last ACK puts it in TIME-WAIT.",
 "made_with": "tcpdump 4.99 -U, $ETH_C, microsecond timestamps, pcap",
 "connections": [{"client": "$C4:40001", "server": "$S4:8001", "active_closer": "client", "close_kind": "fin", "rst_by": null,
   "end_state": {"client": "TIME-WAIT", "server": "CLOSED"},
   "notes": "Client FIN in frame {first_fin_frame}; the server's CLOSE-WAIT ACK is delayed (pingpong mode) and its FIN in frame {peer_fin_frame} also acknowledges the client's FIN; the client's last ACK in frame {last_ack_frame} starts TIME-WAIT (60 s)."}]}
J
}

# 2. server closes first (nanosecond timestamps, capture at the server)
s_server_closes_first() {
  begin server-closes-first
  twt_cap_start twt-s twts0 "$OUT/server-closes-first.pcap" --time-stamp-precision=nano tcp
  server --listen $S4:8002 --actions "recv:100,send:300,sleep:0.1,close"; twt_wait_port twt-s 8002
  client --bind $C4:40002 --connect $S4:8002 --actions "send:100,recv:300,eof,close"
  wait $SRV; finish $TWT_CAP_PID
  describe server-closes-first.pcap <<J
{"capture": "server-closes-first.pcap",
 "scenario": "The server answers and closes first; the client reads EOF and closes; the server holds TIME-WAIT.",
 "made_with": "tcpdump 4.99 -U --time-stamp-precision=nano, $ETH_S, nanosecond pcap (magic a1b23c4d)",
 "connections": [{"client": "$C4:40002", "server": "$S4:8002", "active_closer": "server", "close_kind": "fin", "rst_by": null,
   "end_state": {"client": "CLOSED", "server": "TIME-WAIT"},
   "notes": "Server FIN in frame {first_fin_frame}; client FIN (with the ACK of the server's FIN) in frame {peer_fin_frame}; server's last ACK in frame {last_ack_frame} starts TIME-WAIT on the server side."}]}
J
}

# 3. abortive close from the client (SO_LINGER {1,0}); -i any -> SLL2
s_linger0_client() {
  begin linger0-client
  twt_cap_start twt-c any "$OUT/linger0-client.pcap" tcp
  server --listen $S4:8003 --actions "recv:100,send:300,eof,close"; twt_wait_port twt-s 8003
  client --bind $C4:40003 --connect $S4:8003 --actions "send:100,recv:300,sleep:0.1,linger0,close"
  wait $SRV; finish $TWT_CAP_PID
  describe linger0-client.pcap <<J
{"capture": "linger0-client.pcap",
 "scenario": "Abortive close: the client sets SO_LINGER {1,0} and closes, the kernel sends RST instead of FIN; no TIME-WAIT anywhere.",
 "made_with": "tcpdump 4.99 -U -i any in twt-c (Linux cooked v2, DLT_LINUX_SLL2), microsecond pcap; capture point: client namespace",
 "connections": [{"client": "$C4:40003", "server": "$S4:8003", "active_closer": null, "close_kind": "rst", "rst_by": "client",
   "end_state": {"client": "CLOSED", "server": "CLOSED"},
   "notes": "RST|ACK from the client in frame {rst_frame}, no FIN at all (active_closer is null: per the spec it names the first FIN sender; rst_by says who aborted). The server's recv() gets ECONNRESET."}]}
J
}

# 4. abortive close from the server; pcapng by dumpcap
s_linger0_server() {
  begin linger0-server
  twt_dumpcap_start twt-s twts0 "$OUT/linger0-server.pcapng" -f tcp
  server --listen $S4:8004 --actions "recv:100,send:300,sleep:0.1,linger0,close"; twt_wait_port twt-s 8004
  client --bind $C4:40004 --connect $S4:8004 --actions "send:100,recv:300,eof,close"
  wait $SRV; finish $TWT_CAP_PID
  describe linger0-server.pcapng <<J
{"capture": "linger0-server.pcapng",
 "scenario": "Abortive close from the server: SO_LINGER {1,0} then close(), RST instead of FIN.",
 "made_with": "dumpcap 4.0 -f tcp, $ETH_S, pcapng (microsecond if_tsresol)",
 "connections": [{"client": "$C4:40004", "server": "$S4:8004", "active_closer": null, "close_kind": "rst", "rst_by": "server",
   "end_state": {"client": "CLOSED", "server": "CLOSED"},
   "notes": "Server RST|ACK in frame {rst_frame}; the client, blocked in recv(), gets ECONNRESET and sends nothing more."}]}
J
}

# 5. server closes with unread data -> RST instead of FIN (nanosecond)
s_unread_data_rst() {
  begin unread-data-rst
  twt_cap_start twt-c twtc0 "$OUT/unread-data-rst.pcap" --time-stamp-precision=nano tcp
  server --listen $S4:8005 --actions "recv:100,send:300,sleep:0.4,close"; twt_wait_port twt-s 8005
  client --bind $C4:40005 --connect $S4:8005 --actions "send:100,recv:300,sleep:0.1,send:500,sleep:0.6,eof,close"
  wait $SRV; finish $TWT_CAP_PID
  describe unread-data-rst.pcap <<J
{"capture": "unread-data-rst.pcap",
 "scenario": "The server closes while 500 bytes it never read sit in its receive buffer: the kernel sends RST instead of FIN (RFC 2525 2.17, TcpExtTCPAbortOnClose).",
 "made_with": "tcpdump 4.99 -U --time-stamp-precision=nano, $ETH_C, nanosecond pcap",
 "connections": [{"client": "$C4:40005", "server": "$S4:8005", "active_closer": null, "close_kind": "rst", "rst_by": "server",
   "end_state": {"client": "CLOSED", "server": "CLOSED"},
   "notes": "The client's 500 unread bytes are ACKed by the server kernel; server close() then sends RST|ACK in frame {rst_frame} and no FIN."}]}
J
}

# 6a. half-close: client shuts down writing, server keeps sending; pcapng via editcap
s_half_close_client() {
  begin half-close-client
  twt_cap_start twt-c twtc0 "$WORK/half-close-client.pcap" tcp
  server --listen $S4:8006 --actions "recv:100,eof,send:1000,sleep:0.1,send:1000,sleep:0.1,send:1000,sleep:0.1,send:1000,sleep:0.1,send:1000,close"
  twt_wait_port twt-s 8006
  client --bind $C4:40006 --connect $S4:8006 --actions "send:100,shutwr,eof,close"
  wait $SRV; finish $TWT_CAP_PID
  editcap -F pcapng "$WORK/half-close-client.pcap" "$OUT/half-close-client.pcapng"
  describe half-close-client.pcapng <<J
{"capture": "half-close-client.pcapng",
 "scenario": "Half-close: the client sends its request and shutdown(SHUT_WR); the server keeps sending 5 x 1000 bytes over 0.4 s into the half-closed connection, then closes.",
 "made_with": "tcpdump 4.99 -U, $ETH_C, converted with editcap -F pcapng",
 "connections": [{"client": "$C4:40006", "server": "$S4:8006", "active_closer": "client", "close_kind": "fin", "rst_by": null,
   "end_state": {"client": "TIME-WAIT", "server": "CLOSED"},
   "notes": "Client FIN in frame {first_fin_frame} right after its request (half-close, FIN-WAIT-2 / CLOSE-WAIT); server data keeps flowing and is ACKed by the client; server FIN in frame {peer_fin_frame}; last ACK in frame {last_ack_frame}. At the end it is an ordinary client-closes-first close, the half-closed phase lies between the two FINs."}]}
J
}

# 6b. half-close mirror: server shuts down writing, client keeps sending
s_half_close_server() {
  begin half-close-server
  twt_cap_start twt-c twtc0 "$OUT/half-close-server.pcap" tcp
  server --listen $S4:8007 --actions "recv:100,send:200,shutwr,eof,close"; twt_wait_port twt-s 8007
  client --bind $C4:40007 --connect $S4:8007 --actions "send:100,recv:200,eof,send:800,sleep:0.1,send:800,sleep:0.1,send:800,sleep:0.1,send:800,close"
  wait $SRV; finish $TWT_CAP_PID
  describe half-close-server.pcap <<J
{"capture": "half-close-server.pcap",
 "scenario": "Half-close mirror: the server answers and shutdown(SHUT_WR); the client reads EOF but keeps uploading 4 x 800 bytes over 0.3 s, then closes; the server reads EOF and closes.",
 "made_with": "tcpdump 4.99 -U, $ETH_C, microsecond pcap",
 "connections": [{"client": "$C4:40007", "server": "$S4:8007", "active_closer": "server", "close_kind": "fin", "rst_by": null,
   "end_state": {"client": "CLOSED", "server": "TIME-WAIT"},
   "notes": "Server FIN in frame {first_fin_frame}; client data keeps flowing to the half-closed server, client FIN in frame {peer_fin_frame}; server's last ACK in frame {last_ack_frame}: the server holds TIME-WAIT."}]}
J
}

# ---- main (scenario functions above)

ALL="client_closes_first server_closes_first linger0_client linger0_server unread_data_rst half_close_client half_close_server open_at_end simultaneous_close lost_last_ack refused rst_after_close unanswered client_closes_first_v6 linger0_client_v6 mixed"
if [ $# -eq 0 ]; then set -- $ALL; fi
for s in "$@"; do "s_${s//-/_}"; done
twt_cleanup twt-
twt_log "done; namespaces left: $(ip netns list | grep -c '^twt-' || true)"
