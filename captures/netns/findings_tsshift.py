#!/usr/bin/python3
"""Per-host TCP timestamp clocks behind a NAT, emulated on the router with NFQUEUE (uses nfq.py).

Run in the router namespace:  findings_tsshift.py '<json>'
  {"queue": 5, "timeout": 60, "log": "/path/log.jsonl",
   "hosts": {"198.51.100.65": {"shift": 0, "div": 1}, ...}}
Client -> server packets from a listed host: TSval' = (TSval // div + shift) mod 2^32.
Server -> client packets to a listed host:   TSecr' = the original TSval that produced TSecr
(remembered per host; if unknown: (TSecr - shift) * div mod 2^32).
The TCP checksum is recomputed. Everything else is accepted unchanged.
"""
import json
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nfq import Verdict, serve  # noqa: E402

M32 = 0xFFFFFFFF


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ts_offset(pkt, ihl):
    """byte offset of the 8-byte TSval/TSecr pair in pkt, or None"""
    doff = (pkt[ihl + 12] >> 4) * 4
    i, end = ihl + 20, ihl + doff
    while i < end:
        kind = pkt[i]
        if kind == 0:
            return None
        if kind == 1:
            i += 1
            continue
        ln = pkt[i + 1]
        if ln < 2:
            return None
        if kind == 8 and ln == 10:
            return i + 2
        i += ln
    return None


def main():
    cfg = json.loads(sys.argv[1])
    hosts = cfg["hosts"]
    back = {h: {} for h in hosts}   # host -> {modified TSval: original TSval}
    logf = open(cfg["log"], "w") if cfg.get("log") else None

    def handler(pkt, idx):
        if pkt[0] >> 4 != 4 or pkt[9] != 6:
            return Verdict.accept()
        ihl = (pkt[0] & 15) * 4
        src, dst = socket.inet_ntoa(pkt[12:16]), socket.inet_ntoa(pkt[16:20])
        off = ts_offset(pkt, ihl)
        if off is None:
            return Verdict.accept()
        tsval, tsecr = struct.unpack("!II", pkt[off:off + 8])
        b = bytearray(pkt)
        sport, dport, seq = struct.unpack("!HHI", pkt[ihl:ihl + 8])
        flags = pkt[ihl + 13]
        if src in hosts:
            h = hosts[src]
            new = (tsval // h.get("div", 1) + h["shift"]) & M32
            back[src][new] = tsval
            struct.pack_into("!I", b, off, new)
            rec = {"dir": "c2s", "host": src, "sport": sport, "seq": seq, "flags": flags, "tsval": tsval, "tsval_out": new}
        elif dst in hosts:
            h = hosts[dst]
            orig = back[dst].get(tsecr)
            if orig is None:
                orig = (((tsecr - h["shift"]) & M32) * h.get("div", 1)) & M32 if tsecr else 0
            struct.pack_into("!I", b, off + 4, orig)
            rec = {"dir": "s2c", "host": dst, "dport": dport, "flags": flags, "tsecr": tsecr, "tsecr_out": orig}
        else:
            return Verdict.accept()
        # recompute the TCP checksum over the pseudo header
        tcp_len = len(b) - ihl
        struct.pack_into("!H", b, ihl + 16, 0)
        pseudo = bytes(b[12:20]) + struct.pack("!BBH", 0, 6, tcp_len)
        struct.pack_into("!H", b, ihl + 16, csum(pseudo + bytes(b[ihl:])))
        if logf:
            logf.write(json.dumps(rec) + "\n")
            logf.flush()
        return Verdict.modify(bytes(b))

    serve(cfg, handler, 5, timeout=60)


if __name__ == "__main__":
    main()
