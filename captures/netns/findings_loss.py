#!/usr/bin/python3
"""Lose and reorder a client's data segments and slow its peer's answers (uses nfq.py).

Run in the client namespace:  findings_loss.py '<json>'
  {"queue": 9, "server": "198.51.100.162", "timeout": 30, "log": "...", "ready_file": "...",
   "drop_every": 25, "drop_at": 7, "hold_every": 25, "hold_at": 19, "hold_s": 0.005, "answer_delay_s": 0.02}
Segments to the server that carry sequence space never sent before are numbered 1, 2, ... in
queue order (a retransmission is never numbered, never dropped, never held):
  n % drop_every == drop_at: dropped; only the retransmission reaches the server
  n % hold_every == hold_at: held hold_s seconds, so it arrives after newer segments (reordered)
Every packet from the server is held answer_delay_s seconds: a round trip of that length, much
longer than the hold, so the held segment is acknowledged before the sender would resend it.
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
    server = cfg["server"]
    st = {"n": 0, "hi": None}
    log = event_log(cfg["log"])

    def handler(pkt, idx):
        if pkt[0] >> 4 != 4 or pkt[9] != 6:
            return Verdict.accept()
        if socket.inet_ntoa(pkt[12:16]) == server:
            return Verdict.delay(cfg["answer_delay_s"])
        if socket.inet_ntoa(pkt[16:20]) != server:
            return Verdict.accept()
        ihl = (pkt[0] & 15) * 4
        doff = (pkt[ihl + 12] >> 4) * 4
        plen = len(pkt) - ihl - doff
        if plen <= 0:
            return Verdict.accept()
        seq = struct.unpack("!I", pkt[ihl + 4:ihl + 8])[0]
        end = (seq + plen) & 0xFFFFFFFF
        hi = st["hi"]
        if hi is not None and ((seq - hi) & 0xFFFFFFFF) >= 0x80000000:
            return Verdict.accept()  # starts below what was sent: a retransmission
        st["hi"] = end
        st["n"] += 1
        n = st["n"]
        if n % cfg["drop_every"] == cfg["drop_at"]:
            log(action="drop", n=n, seq=seq, len=plen)
            return Verdict.drop()
        if n % cfg["hold_every"] == cfg["hold_at"]:
            log(action="hold", n=n, seq=seq, len=plen, seconds=cfg["hold_s"])
            return Verdict.delay(cfg["hold_s"])
        return Verdict.accept()

    serve(cfg, handler, 9)


if __name__ == "__main__":
    main()
