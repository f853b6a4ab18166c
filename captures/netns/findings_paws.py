#!/usr/bin/python3
"""Reorder, duplicate and forge client->server data segments on a router (uses nfq.py).

Run in the router namespace:  findings_paws.py '<json>'
  {"queue": 7, "client": "198.51.100.129", "timeout": 30, "log": "...", "ready_file": "...",
   "delay": [20], "dup_now": [40], "dup_late": [60], "forge": [80], "late_s": 0.4, "forge_back": 1000000}
Data segments (TCP payload > 0) from the client are numbered 1, 2, ... in queue order:
  delay:    held late_s seconds, then accepted (arrives after newer segments and after its retransmission)
  dup_now:  accepted, and a copy injected at once (a plain duplicate, same TSval)
  dup_late: accepted, and a copy injected late_s seconds later (an old duplicate)
  forge:    a copy with TSval - forge_back (same seq and payload, rebuilt by scapy through
            nfq.rewrite) is injected first, then the original is accepted
Copies leave through the router's OUTPUT path with a raw socket (nfq.py's re-injection).
"""
import json
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nfq  # noqa: E402
from nfq import Verdict, event_log, rewrite, serve  # noqa: E402


def main():
    cfg = json.loads(sys.argv[1])
    client = cfg["client"]
    late = cfg.get("late_s", 0.4)
    back = cfg.get("forge_back", 1000000)
    state = {"n": 0}
    log = event_log(cfg["log"])

    def handler(pkt, idx):
        if pkt[0] >> 4 != 4 or pkt[9] != 6 or socket.inet_ntoa(pkt[12:16]) != client:
            return Verdict.accept()
        ihl = (pkt[0] & 15) * 4
        doff = (pkt[ihl + 12] >> 4) * 4
        if len(pkt) - ihl - doff <= 0:
            return Verdict.accept()
        state["n"] += 1
        n = state["n"]
        seq = struct.unpack("!I", pkt[ihl + 4:ihl + 8])[0]
        from scapy.layers.inet import TCP
        opts = dict((k, v) for k, v in TCP(pkt[ihl:]).options if k == "Timestamp")
        tsval = opts["Timestamp"][0] if opts else None
        if n in cfg.get("delay", []):
            log(action="delay", n=n, seq=seq, tsval=tsval, seconds=late)
            return Verdict.delay(late)
        if n in cfg.get("dup_now", []):
            log(action="dup_now", n=n, seq=seq, tsval=tsval)
            return Verdict.duplicate(0.0)
        if n in cfg.get("dup_late", []):
            log(action="dup_late", n=n, seq=seq, tsval=tsval, seconds=late)
            return Verdict.duplicate(late)
        if n in cfg.get("forge", []):
            def old_ts(p):
                o = []
                for k, v in p[TCP].options:
                    o.append((k, ((v[0] - back) & 0xFFFFFFFF, v[1])) if k == "Timestamp" else (k, v))
                p[TCP].options = o
            forged = rewrite(pkt, old_ts)
            nfq._reinject(forged)
            log(action="forge", n=n, seq=seq, tsval=tsval, forged_tsval=(tsval - back) & 0xFFFFFFFF)
            return Verdict.accept()
        return Verdict.accept()

    serve(cfg, handler, 7)


if __name__ == "__main__":
    main()
