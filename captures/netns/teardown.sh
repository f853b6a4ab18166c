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
trap 'twt_cleanup twt-; [ -n "${KEEP_WORK:-}" ] && echo "work dir kept: $WORK" >&2 || rm -rf "$WORK"' EXIT
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

# 5b. the client sends and shuts down writing; the server reads part and closes with the rest
#     unread -> RST after the client's FIN, without a FIN of its own
s_unread_after_fin() {
  begin unread-after-fin
  twt_cap_start twt-c twtc0 "$OUT/unread-after-fin.pcap" tcp
  server --listen $S4:8019 --actions "recv:100,sleep:0.3,close"; twt_wait_port twt-s 8019
  client --bind $C4:40019 --connect $S4:8019 --actions "send:500,shutwr,eof,close"
  wait $SRV; finish $TWT_CAP_PID
  describe unread-after-fin.pcap <<J
{"capture": "unread-after-fin.pcap",
 "scenario": "The client sends 500 bytes and shutdown(SHUT_WR) (FIN); the server reads 100 of them and closes with 400 unread: its kernel answers with RST instead of a FIN of its own (RFC 2525 2.17), after the client's FIN.",
 "made_with": "tcpdump 4.99 -U, $ETH_C, microsecond pcap",
 "connections": [{"client": "$C4:40019", "server": "$S4:8019", "active_closer": "client", "close_kind": "fin-rst", "rst_by": "server",
   "end_state": {"client": "CLOSED", "server": "CLOSED"},
   "notes": "Client FIN in frame {first_fin_frame}; server RST|ACK in frame {rst_frame}, no server FIN. The client, waiting for EOF, gets ECONNRESET."}]}
J
}

# 5c. the client sends its request and closes at once; the response and the server's FIN reach a
#     closed socket, which answers with RST instead of acknowledging the FIN: no TIME-WAIT
s_close_before_response() {
  begin close-before-response
  twt_cap_start twt-c twtc0 "$OUT/close-before-response.pcap" tcp
  server --listen $S4:8020 --actions "recv:100,sleep:0.2,cork,send:300,close"; twt_wait_port twt-s 8020
  client --bind $C4:40020 --connect $S4:8020 --actions "send:100,close"
  wait $SRV; finish $TWT_CAP_PID
  describe close-before-response.pcap <<J
{"capture": "close-before-response.pcap",
 "scenario": "The client sends a 100-byte request and closes at once (FIN) without reading; 0.2 s later the server sends 300 bytes and closes (corked: data and FIN in one segment). The client's closed socket (an orphaned FIN-WAIT-2) answers the data with RST and never acknowledges the server's FIN, so neither side enters TIME-WAIT although both sent a FIN.",
 "made_with": "tcpdump 4.99 -U, $ETH_C, microsecond pcap",
 "connections": [{"client": "$C4:40020", "server": "$S4:8020", "active_closer": "client", "close_kind": "fin-rst", "rst_by": "client",
   "end_state": {"client": "CLOSED", "server": "CLOSED"},
   "notes": "Client FIN in frame {first_fin_frame}; server FIN in frame {peer_fin_frame}; client RST in frame {rst_frame}, no ACK of the server's FIN."}]}
J
}

# 5d. the client shuts down writing (FIN), then aborts with SO_LINGER {1,0}: a RST after its own
#     FIN with nothing from the server to answer
s_linger0_after_fin() {
  begin linger0-after-fin
  twt_cap_start twt-c twtc0 "$OUT/linger0-after-fin.pcap" tcp
  server --listen $S4:8021 --actions "recv:100,eof,sleep:0.5,close"; twt_wait_port twt-s 8021
  client --bind $C4:40021 --connect $S4:8021 --actions "send:100,shutwr,sleep:0.2,linger0,close"
  wait $SRV; finish $TWT_CAP_PID
  describe linger0-after-fin.pcap <<J
{"capture": "linger0-after-fin.pcap",
 "scenario": "The client sends 100 bytes and shutdown(SHUT_WR) (FIN); 0.2 s later it sets SO_LINGER {1,0} and closes: a RST after its own FIN, with nothing from the server to answer (the server has sent no data, only its ACK of the FIN).",
 "made_with": "tcpdump 4.99 -U, $ETH_C, microsecond pcap",
 "connections": [{"client": "$C4:40021", "server": "$S4:8021", "active_closer": "client", "close_kind": "fin-rst", "rst_by": "client",
   "end_state": {"client": "CLOSED", "server": "CLOSED"},
   "notes": "Client FIN in frame {first_fin_frame}; client RST|ACK in frame {rst_frame}; the server never sends a FIN."}]}
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

# 6c. half-close, then a long silence: the server answers only after 65 s, longer than TIME-WAIT
#     (60 s) but shorter than twscope's idle timeout (300 s): still one connection
s_half_close_idle() {
  begin half-close-idle
  twt_cap_start twt-c twtc0 "$OUT/half-close-idle.pcap" tcp
  twt_bg twt-s 120 $PEER server --listen $S4:8015 --timeout 100 --actions "recv:100,eof,sleep:65,send:1000,close" 2>>"$WORK/peers.log"; SRV=$TWT_BG_PID
  twt_wait_port twt-s 8015
  twt_exec twt-c 120 $PEER client --bind $C4:40015 --connect $S4:8015 --timeout 100 --actions "send:100,shutwr,eof,close" 2>>"$WORK/peers.log"
  wait $SRV; finish $TWT_CAP_PID
  describe half-close-idle.pcap <<J
{"capture": "half-close-idle.pcap",
 "scenario": "Half-close with a long silence: the client sends its request and shutdown(SHUT_WR); the server reads EOF, sends nothing for 65 s (longer than the 60 s TIME-WAIT, shorter than twscope's 300 s idle timeout), then 1000 bytes and its FIN. A half-closed connection is not closed: it is one connection, not two.",
 "made_with": "tcpdump 4.99 -U, $ETH_C, microsecond pcap",
 "connections": [{"client": "$C4:40015", "server": "$S4:8015", "active_closer": "client", "close_kind": "fin", "rst_by": null,
   "end_state": {"client": "TIME-WAIT", "server": "CLOSED"},
   "notes": "Client FIN in frame {first_fin_frame} right after its request; 65 s without a packet; the server's 1000 bytes and its FIN in frame {peer_fin_frame}; the client's last ACK in frame {last_ack_frame}."}]}
J
}

# 7. connections still open / half-closed when the capture ends (-i any -> SLL2)
s_open_at_end() {
  begin open-at-end
  twt_cap_start twt-s any "$OUT/open-at-end.pcap" tcp
  twt_bg twt-s 30 $PEER server --listen $S4:8071 --actions "recv:100,send:400,sleep:4,close" 2>>"$WORK/peers.log"; local s1=$TWT_BG_PID
  twt_bg twt-s 30 $PEER server --listen $S4:8072 --actions "recv:100,send:400,sleep:4,close" 2>>"$WORK/peers.log"; local s2=$TWT_BG_PID
  twt_wait_port twt-s 8071; twt_wait_port twt-s 8072
  twt_bg twt-c 30 $PEER client --bind $C4:40071 --connect $S4:8071 --actions "send:100,recv:400,sleep:4,close" 2>>"$WORK/peers.log"; local c1=$TWT_BG_PID
  sleep 0.3   # keep the two connections in a fixed order
  twt_bg twt-c 30 $PEER client --bind $C4:40072 --connect $S4:8072 --actions "send:100,shutwr,recv:400,sleep:4,close" 2>>"$WORK/peers.log"; local c2=$TWT_BG_PID
  sleep 1
  finish $TWT_CAP_PID
  kill $s1 $s2 $c1 $c2 2>/dev/null || true; wait $s1 $s2 $c1 $c2 2>/dev/null || true
  describe open-at-end.pcap <<J
{"capture": "open-at-end.pcap",
 "scenario": "Two connections still alive when the capture stops: one open (request/response done, idle), one half-closed (the client sent its request and shutdown(SHUT_WR), the server answered but has not closed).",
 "made_with": "tcpdump 4.99 -U -i any in twt-s (Linux cooked v2, DLT_LINUX_SLL2), microsecond pcap; capture point: server namespace; stopped about 1 s after the exchanges",
 "connections": [
  {"client": "$C4:40071", "server": "$S4:8071", "active_closer": null, "close_kind": "open", "rst_by": null,
   "end_state": {"client": "ESTABLISHED", "server": "ESTABLISHED"},
   "notes": "No FIN or RST before the capture ends; both sockets ESTABLISHED (ss snapshot at capture end)."},
  {"client": "$C4:40072", "server": "$S4:8072", "active_closer": "client", "close_kind": "half-close", "rst_by": null,
   "end_state": {"client": "FIN-WAIT-2", "server": "CLOSE-WAIT"},
   "notes": "Client FIN in frame {first_fin_frame} right after the request; the server still sends its 400-byte answer into the half-closed connection and never closes before the capture ends."}]}
J
}

# 8. simultaneous close: FINs cross (both FINs held 200 ms at the router)
s_simultaneous_close() {
  begin simultaneous-close
  twt_cap_start twt-r twtrc "$OUT/simultaneous-close.pcap" tcp
  rm -f "$WORK/nfq8.ready"
  twt_bg twt-r 30 $PY "$HERE/nfq.py" --queue 8 --rule 'FORWARD -p tcp -m multiport --ports 8008' \
    --match 'port=8008' --action delay:50 --timeout 15 --ready-file "$WORK/nfq8.ready" --log "$WORK/nfq8.log"
  local q=$TWT_BG_PID; wait_ready "$WORK/nfq8.ready"
  local T; T=$($PY -c 'import time; print("%.3f" % (time.time() + 1.0))')
  server --listen $S4:8008 --actions "recv:100,send:300,until:$T,close"; twt_wait_port twt-s 8008
  client --bind $C4:40008 --connect $S4:8008 --actions "send:100,recv:300,until:$T,close,sleep:0.6"
  wait $SRV; finish $TWT_CAP_PID
  kill $q 2>/dev/null || true; wait $q 2>/dev/null || true
  describe simultaneous-close.pcap <<J
{"capture": "simultaneous-close.pcap",
 "scenario": "Simultaneous close: both applications close() at the same instant while the router delays every packet of the connection by 50 ms (a 100 ms RTT path; a constant delay keeps the order), so each side sends its FIN before it receives the other's; both go FIN-WAIT-1 -> CLOSING -> TIME-WAIT.",
 "made_with": "tcpdump 4.99 -U, Ethernet (DLT_EN10MB), capture point: router twt-r interface twtrc (client side, before the NFQUEUE delay for client->server, after it for server->client); nfq.py delay:50 on every packet of the connection in FORWARD",
 "connections": [{"client": "$C4:40008", "server": "$S4:8008", "active_closer": "both", "close_kind": "simultaneous", "rst_by": null,
   "expect": {"fin_retransmissions": 0, "_first_closer_fin_retransmissions": 0},
   "end_state": {"client": "TIME-WAIT", "server": "TIME-WAIT"},
   "notes": "Client FIN in frame {first_fin_frame} (seen here before the router delays it), server FIN in frame {peer_fin_frame} (seen after its 50 ms trip through the router); neither FIN's ACK field covers the other FIN. Each side then ACKs the other's FIN (client ACK frame {last_ack_frame}); both hold TIME-WAIT."}]}
J
}

# 9. lost last ACK: the router drops the client's final ACK 3 times
s_lost_last_ack() {
  begin lost-last-ack
  twt_cap_start twt-r twtrc "$OUT/lost-last-ack-client-side.pcap" tcp; local p1=$TWT_CAP_PID
  twt_cap_start twt-r twtrs "$OUT/lost-last-ack-server-side.pcap" tcp; local p2=$TWT_CAP_PID
  rm -f "$WORK/nfq9.ready"
  twt_bg twt-r 30 $PY "$HERE/nfq.py" --queue 9 --rule 'FORWARD -p tcp -m multiport --ports 8009' \
    --match 'sport=40009 flags=A len=0' --arm 'sport=8009 has=F' --count 3 --action drop \
    --timeout 15 --ready-file "$WORK/nfq9.ready" --log "$WORK/nfq9.log"
  local q=$TWT_BG_PID; wait_ready "$WORK/nfq9.ready"
  server --listen $S4:8009 --actions "recv:100,send:300,eof,close"; twt_wait_port twt-s 8009
  client --bind $C4:40009 --connect $S4:8009 --actions "send:100,recv:300,sleep:0.1,close"
  wait $SRV; sleep 2.5; finish $p1 $p2
  kill $q 2>/dev/null || true; wait $q 2>/dev/null || true
  local mw="tcpdump 4.99 -U, Ethernet (DLT_EN10MB), microsecond pcap; nfq.py in the router (FORWARD) drops the first 3 pure ACKs from the client after the server's FIN"
  describe lost-last-ack-client-side.pcap <<J
{"capture": "lost-last-ack-client-side.pcap",
 "scenario": "Lost last ACK, seen on the client side of the loss: the client closes first, the router drops its last ACK and its two re-ACKs, so the server retransmits its FIN from LAST-ACK three times (a tail loss probe after ~208 ms, then RTOs after ~208 and ~440 ms) until the fourth ACK gets through.",
 "made_with": "$mw; capture point: router interface twtrc, BEFORE the drop (dropped ACKs are in the capture)",
 "connections": [{"client": "$C4:40009", "server": "$S4:8009", "active_closer": "client", "close_kind": "fin", "rst_by": null,
   "expect": {"fin_retransmissions": 3},
   "end_state": {"client": "TIME-WAIT", "server": "CLOSED"},
   "notes": "Client FIN frame {first_fin_frame}, server FIN frame {peer_fin_frame}; the client's last ACK (frame {last_ack_frame}) is in the capture but was dropped after the capture point, as were the TIME-WAIT re-ACKs answering the first two FIN retransmissions; the server retransmits its FIN {fin_retransmissions} times and the ACK answering the third retransmission gets through. The client entered TIME-WAIT at frame {last_ack_frame}; each retransmitted FIN restarts its TIME-WAIT timer."}]}
J
  describe lost-last-ack-server-side.pcap <<J
{"capture": "lost-last-ack-server-side.pcap",
 "scenario": "The same lost-last-ACK connection seen on the server side of the loss: the client's last ACK is missing, the server retransmits its FIN three times, only the final ACK arrives.",
 "made_with": "$mw; capture point: router interface twtrs, AFTER the drop (dropped ACKs are absent)",
 "connections": [{"client": "$C4:40009", "server": "$S4:8009", "active_closer": "client", "close_kind": "fin", "rst_by": null,
   "expect": {"fin_retransmissions": 3},
   "end_state": {"client": "TIME-WAIT", "server": "CLOSED"},
   "notes": "Client FIN frame {first_fin_frame}, server FIN frame {peer_fin_frame}, then {fin_retransmissions} FIN retransmissions and only one client ACK (frame {last_ack_frame}), which acknowledges the third retransmission. From this capture alone the client's real TIME-WAIT start (its first, dropped ACK) is unknown: the first ACK seen comes about 0.86 s later; the spec says to start TIME-WAIT at the last ACK seen or at the peer's FIN and say so."}]}
J
}

# 10a. refused: SYN to a closed port
s_refused() {
  begin refused
  twt_cap_start twt-c twtc0 "$OUT/refused.pcap" tcp
  client --bind $C4:40010 --connect $S4:8010 --actions "close"
  finish $TWT_CAP_PID
  describe refused.pcap <<J
{"capture": "refused.pcap",
 "scenario": "Connection refused: SYN to a port with no listener is answered by RST|ACK.",
 "made_with": "tcpdump 4.99 -U, $ETH_C, microsecond pcap",
 "connections": [{"client": "$C4:40010", "server": "$S4:8010", "active_closer": null, "close_kind": "refused", "rst_by": "server",
   "end_state": {"client": "CLOSED", "server": "CLOSED"},
   "notes": "SYN frame {first_frame}, RST|ACK (seq 0, ack = ISN+1) frame {rst_frame}; connect() fails with ECONNREFUSED, no retry."}]}
J
}

# 10b. RST from the peer of a closed socket: data sent to a fully closed socket
s_rst_after_close() {
  begin rst-after-close
  twt_cap_start twt-c twtc0 "$OUT/rst-after-close.pcap" tcp
  server --listen $S4:8011 --actions "recv:100,send:300,close"; twt_wait_port twt-s 8011
  client --bind $C4:40011 --connect $S4:8011 --actions "send:100,recv:300,eof,sleep:0.3,send:200,sleep:0.3,close"
  wait $SRV; finish $TWT_CAP_PID
  describe rst-after-close.pcap <<J
{"capture": "rst-after-close.pcap",
 "scenario": "RST from the peer of a closed socket: the server answers and close()s (FIN); the client reads EOF but, instead of closing, sends 200 more bytes; the server's socket is gone (orphaned FIN-WAIT-2), so its kernel answers with RST.",
 "made_with": "tcpdump 4.99 -U, $ETH_C, microsecond pcap",
 "connections": [{"client": "$C4:40011", "server": "$S4:8011", "active_closer": "server", "close_kind": "fin-rst", "rst_by": "server",
   "end_state": {"client": "CLOSED", "server": "CLOSED"},
   "notes": "Server FIN frame {first_fin_frame}; the client never sends a FIN; its late data is answered by a server RST in frame {rst_frame}. The closed server socket had become a FIN-WAIT-2 timewait mini-socket (tcp_fin_timeout 60 s = TCP_TIMEWAIT_LEN), which resets on new data."}]}
J
}

# 10c. unanswered: SYNs silently dropped by the server namespace
s_unanswered() {
  begin unanswered
  ip netns exec twt-s iptables -w 5 -I INPUT -p tcp --dport 8012 -j DROP
  twt_cap_start twt-c twtc0 "$OUT/unanswered.pcap" tcp
  client --bind $C4:40012 --connect $S4:8012 --syncnt 1 --actions "close"
  finish $TWT_CAP_PID
  describe unanswered.pcap <<J
{"capture": "unanswered.pcap",
 "scenario": "Unanswered: the server host silently drops SYNs (iptables DROP in twt-s); the client (TCP_SYNCNT=1) sends its SYN, retransmits it twice at 1 s intervals (linear SYN backoff, net.ipv4.tcp_syn_linear_timeouts=4) and gives up (ETIMEDOUT).",
 "made_with": "tcpdump 4.99 -U, $ETH_C, microsecond pcap",
 "connections": [{"client": "$C4:40012", "server": "$S4:8012", "active_closer": null, "close_kind": "unanswered", "rst_by": null,
   "end_state": {"client": "CLOSED", "server": "CLOSED"},
   "notes": "SYN frame {first_frame} and two retransmissions with the same ISN about 1.0 and 2.0 s later; no reply. Although TCP_SYNCNT=1, the kernel sent 2 retransmissions: the give-up test is time based (the time 1 exponential retransmission would take, 3 s) and with linear 1 s timeouts that allows two; connect() failed with ETIMEDOUT about 3.05 s after the first SYN."}]}
J
}

# 11. IPv6 variants
s_client_closes_first_v6() {
  begin client-closes-first-v6
  twt_cap_start twt-c twtc0 "$OUT/client-closes-first-v6.pcap" tcp
  server --listen "[$S6]:8013" --actions "recv:100,send:300,eof,close"; twt_wait_port twt-s 8013
  client --bind "[$C6]:40013" --connect "[$S6]:8013" --actions "send:100,recv:300,sleep:0.1,close"
  wait $SRV; finish $TWT_CAP_PID
  describe client-closes-first-v6.pcap <<J
{"capture": "client-closes-first-v6.pcap",
 "scenario": "IPv6 variant of client-closes-first: the client closes first and holds TIME-WAIT.",
 "made_with": "tcpdump 4.99 -U, $ETH_C, microsecond pcap, IPv6 2001:db8:1::/64",
 "connections": [{"client": "[$C6]:40013", "server": "[$S6]:8013", "active_closer": "client", "close_kind": "fin", "rst_by": null,
   "end_state": {"client": "TIME-WAIT", "server": "CLOSED"},
   "notes": "Client FIN frame {first_fin_frame}, server FIN frame {peer_fin_frame}, last ACK frame {last_ack_frame}."}]}
J
}

s_linger0_client_v6() {
  begin linger0-client-v6
  twt_dumpcap_start twt-c twtc0 "$OUT/linger0-client-v6.pcapng" -f tcp
  server --listen "[$S6]:8014" --actions "recv:100,send:300,eof,close"; twt_wait_port twt-s 8014
  client --bind "[$C6]:40014" --connect "[$S6]:8014" --actions "send:100,recv:300,sleep:0.1,linger0,close"
  wait $SRV; finish $TWT_CAP_PID
  describe linger0-client-v6.pcapng <<J
{"capture": "linger0-client-v6.pcapng",
 "scenario": "IPv6 variant of linger0-client: SO_LINGER {1,0} close from the client, RST instead of FIN.",
 "made_with": "dumpcap 4.0 -f tcp, $ETH_C, pcapng, IPv6 2001:db8:1::/64",
 "connections": [{"client": "[$C6]:40014", "server": "[$S6]:8014", "active_closer": null, "close_kind": "rst", "rst_by": "client",
   "end_state": {"client": "CLOSED", "server": "CLOSED"},
   "notes": "Client RST|ACK frame {rst_frame}, no FIN."}]}
J
}

# mixed: 20 short HTTP-like connections, mixed closers
MIXED_PLAN=client,server,client,client,server,rst,client,server,server,client,client,server,client,server,rst,client,server,client,server,client
s_mixed() {
  begin mixed
  twt_cap_start twt-c twtc0 "$OUT/mixed.pcap" tcp
  twt_bg twt-s 40 $PEER httpserver --listen $S4:8080 --conns 20 2>>"$WORK/peers.log"; SRV=$TWT_BG_PID
  twt_wait_port twt-s 8080
  twt_exec twt-c 40 $PEER httpclient --bind-ip $C4 --port-base 41001 --connect $S4:8080 --plan $MIXED_PLAN --gap 0.05 2>>"$WORK/peers.log"
  wait $SRV; finish $TWT_CAP_PID
  $PY - "$C4" "$S4" "$MIXED_PLAN" <<'P' | describe mixed.pcap
import json, sys
c4, s4, plan = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
conns = []
for i, m in enumerate(plan):
    c = {"client": "%s:%d" % (c4, 41001 + i), "server": "%s:8080" % s4}
    if m == "client":
        c.update(active_closer="client", close_kind="fin", rst_by=None, end_state={"client": "TIME-WAIT", "server": "CLOSED"},
                 notes="Request %d with X-Close: client; the client closes after the response (FIN frame {first_fin_frame})." % i)
    elif m == "server":
        c.update(active_closer="server", close_kind="fin", rst_by=None, end_state={"client": "CLOSED", "server": "TIME-WAIT"},
                 notes="Request %d with X-Close: server; the server closes after the response (FIN frame {first_fin_frame})." % i)
    else:
        c.update(active_closer=None, close_kind="rst", rst_by="server", end_state={"client": "CLOSED", "server": "CLOSED"},
                 notes="Request %d with X-Close: rst; the server aborts with SO_LINGER {{1,0}} after the response (RST frame {rst_frame})." % i)
    conns.append(c)
print(json.dumps({"capture": "mixed.pcap",
  "scenario": "20 sequential HTTP-like request/response connections from fixed ports 41001-41020 to one server port; the X-Close request header decides who closes: client (10), server (8) or server abort with RST (2).",
  "made_with": "tcpdump 4.99 -U, Ethernet (DLT_EN10MB), capture point: client veth twtc0 in twt-c, microsecond pcap",
  "connections": conns}))
P
}

# ---- main (scenario functions above)

ALL="client_closes_first server_closes_first linger0_client linger0_server unread_data_rst unread_after_fin close_before_response linger0_after_fin half_close_client half_close_server half_close_idle open_at_end simultaneous_close lost_last_ack refused rst_after_close unanswered client_closes_first_v6 linger0_client_v6 mixed"
if [ $# -eq 0 ]; then set -- $ALL; fi
for s in "$@"; do "s_${s//-/_}"; done
twt_cleanup twt-
twt_log "done; namespaces left: $(ip netns list | grep -c '^twt-' || true)"
