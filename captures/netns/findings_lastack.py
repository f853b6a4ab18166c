#!/usr/bin/python3
"""Lose the active closer's last ACK: run in the CLIENT namespace (uses nfq.py).

  findings_lastack.py '<json>'   {"queue": 6, "server": "198.51.100.74", "port": 8080, "timeout": 30,
                                  "ready_file": "...", "log": "..."}
Needs: iptables -A INPUT  -p tcp -s SERVER --sport PORT -j NFQUEUE --queue-num Q
       iptables -A OUTPUT -p tcp -d SERVER --dport PORT -j NFQUEUE --queue-num Q
Every segment from the server that carries a FIN sets fin_end = seq + len + 1; every pure ACK to the
server whose acknowledgment number is fin_end (the ACK of that FIN, from FIN-WAIT/TIME-WAIT) is
dropped. All other packets -- including every packet of a later connection on the same 4-tuple,
whose acknowledgment numbers differ -- pass untouched.
"""
import json
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nfq import Verdict, event_log, serve  # noqa: E402


def main():
    cfg = json.loads(sys.argv[1])
    server, port = cfg["server"], cfg["port"]
    fin_end = set()
    log = event_log(cfg["log"]) if cfg.get("log") else None

    def handler(pkt, idx):
        if pkt[0] >> 4 != 4 or pkt[9] != 6:
            return Verdict.accept()
        ihl = (pkt[0] & 15) * 4
        src, dst = socket.inet_ntoa(pkt[12:16]), socket.inet_ntoa(pkt[16:20])
        sport, dport, seq, ack = struct.unpack("!HHII", pkt[ihl:ihl + 12])
        doff = (pkt[ihl + 12] >> 4) * 4
        flags = pkt[ihl + 13]
        plen = len(pkt) - ihl - doff
        verdict = "accept"
        if src == server and sport == port and flags & 0x01:
            fin_end.add((seq + plen + 1) & 0xFFFFFFFF)
        elif dst == server and dport == port and flags == 0x10 and plen == 0 and ack in fin_end:
            verdict = "drop"
        if log:
            log(src="%s:%d" % (src, sport), flags=flags, seq=seq, ack=ack, len=plen, verdict=verdict)
        return Verdict.drop() if verdict == "drop" else Verdict.accept()

    serve(cfg, handler, 6)


if __name__ == "__main__":
    main()
