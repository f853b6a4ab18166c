#!/usr/bin/python3
"""describe.py -- write the machine-readable statement for a teardown capture.

  describe.py --pcap F --design D.json --out F.json [--ss NS=FILE ...]
              [--nstat NS=JSON_FILE ...]

The design file says what the scenario was built to do (per connection:
client, server, active_closer, close_kind, rst_by, end_state, notes).  This
script reads the capture with tshark, computes frame numbers / counts / bytes,
derives active closer, close kind and resetter from the packets, and checks
them against the design; with --ss (an `ss -tan` snapshot taken in a namespace
just before the capture stopped) it also checks end_state.  Any disagreement
is an error (exit 1), so a regenerated capture that does not show what it
must is never written silently.

`notes` in the design may use {placeholders} for computed values
(first_frame, first_fin_frame, peer_fin_frame, last_ack_frame, rst_frame,
fin_retransmissions, ...); a packet ladder of the connection is appended.
"""
import argparse
import json
import re
import subprocess
import sys

FIELDS = ["frame.number", "ip.src", "ipv6.src", "tcp.srcport", "ip.dst", "ipv6.dst", "tcp.dstport",
          "tcp.flags", "tcp.seq_raw", "tcp.ack_raw", "tcp.len"]
SS_STATES = {"ESTAB": "ESTABLISHED", "TIME-WAIT": "TIME-WAIT", "FIN-WAIT-1": "FIN-WAIT-1",
             "FIN-WAIT-2": "FIN-WAIT-2", "CLOSE-WAIT": "CLOSE-WAIT", "LAST-ACK": "LAST-ACK",
             "CLOSING": "CLOSING", "SYN-SENT": "SYN-SENT", "SYN-RECV": "SYN-RECEIVED"}


def ep(ip, port):
    return "[%s]:%s" % (ip, port) if ":" in ip else "%s:%s" % (ip, port)


def read_packets(pcap):
    cmd = ["tshark", "-n", "-r", pcap, "-Y", "tcp", "-T", "fields", "-E", "separator=\t"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120).stdout
    pkts = []
    for line in out.splitlines():
        v = line.split("\t")
        d = dict(zip(FIELDS, v))
        src = d["ip.src"] or d["ipv6.src"]
        dst = d["ip.dst"] or d["ipv6.dst"]
        pkts.append({"frame": int(d["frame.number"]), "src": ep(src, d["tcp.srcport"]),
                     "dst": ep(dst, d["tcp.dstport"]), "flags": int(d["tcp.flags"], 16),
                     "seq": int(d["tcp.seq_raw"]), "ack": int(d["tcp.ack_raw"]),
                     "len": int(d["tcp.len"] or 0)})
    return pkts


def fl(f):
    s = "".join(ch for ch, b in (("S", 2), ("F", 1), ("R", 4), ("P", 8), ("A", 16)) if f & b)
    return s or "."


def seq_ge(a, b):
    return ((a - b) & 0xFFFFFFFF) < 0x80000000


def analyse(pkts, client, server):
    mine = [p for p in pkts if {p["src"], p["dst"]} == {client, server}]
    if not mine:
        raise SystemExit("no packets for %s <-> %s" % (client, server))
    side = lambda p: "client" if p["src"] == client else "server"
    r = {"first_frame": mine[0]["frame"]}
    for s in ("client", "server"):
        r[s + "_pkts"] = sum(1 for p in mine if side(p) == s)
        r[s + "_bytes"] = sum(p["len"] for p in mine if side(p) == s)
    fins = [p for p in mine if p["flags"] & 1]
    rsts = [p for p in mine if p["flags"] & 4]
    first_fin = fins[0] if fins else None
    peer_fin = None
    active = None
    simultaneous = False
    if first_fin:
        active = side(first_fin)
        peer = [p for p in fins if side(p) != active]
        peer_fin = peer[0] if peer else None
        if peer_fin:
            fin1_end = (first_fin["seq"] + first_fin["len"] + 1) & 0xFFFFFFFF
            fin2_end = (peer_fin["seq"] + peer_fin["len"] + 1) & 0xFFFFFFFF
            fin2_acks_fin1 = bool(peer_fin["flags"] & 16) and seq_ge(peer_fin["ack"], fin1_end)
            fin1_acks_fin2 = bool(first_fin["flags"] & 16) and seq_ge(first_fin["ack"], fin2_end)
            simultaneous = not fin2_acks_fin1 and not fin1_acks_fin2
            r["_fin_cross"] = {"peer_fin_acks_first_fin": fin2_acks_fin1,
                               "first_fin_acks_peer_fin": fin1_acks_fin2}
    r["first_fin_frame"] = first_fin["frame"] if first_fin else None
    r["peer_fin_frame"] = peer_fin["frame"] if peer_fin else None
    # last ACK: first packet from the active closer acknowledging the peer's FIN
    r["last_ack_frame"] = None
    if peer_fin:
        end = (peer_fin["seq"] + peer_fin["len"] + 1) & 0xFFFFFFFF
        for p in mine:
            if p["frame"] > peer_fin["frame"] and side(p) == active and p["flags"] & 16 \
                    and not p["flags"] & 4 and seq_ge(p["ack"], end):
                r["last_ack_frame"] = p["frame"]
                break
    # FIN retransmissions by the passive closer: FINs after its first one
    r["fin_retransmissions"] = 0
    if peer_fin:
        r["fin_retransmissions"] = sum(1 for p in fins if side(p) != active and p["frame"] > peer_fin["frame"])
    r["_first_closer_fin_retransmissions"] = sum(1 for p in fins if side(p) == active) - 1 if fins else 0
    r["rst_frame"] = rsts[0]["frame"] if rsts else None
    r["_rst_by"] = side(rsts[0]) if rsts else None
    syns = [p for p in mine if p["flags"] & 2]
    synack = [p for p in mine if p["flags"] & 18 == 18]
    # derived close kind
    if rsts and not fins and syns and not synack and side(rsts[0]) == "server" and rsts[0]["flags"] & 16 \
            and all(p["flags"] & 2 for p in mine if p is not rsts[0] and side(p) == "client"):
        kind, act = "refused", None
    elif not synack and not rsts and not fins and syns and all(side(p) == "client" for p in mine):
        kind, act = "unanswered", None
    elif rsts and (not fins or fins[0]["frame"] > rsts[0]["frame"]):
        kind, act = "rst", None
    elif rsts:
        kind, act = "fin-rst", "both" if simultaneous else active
    elif first_fin and peer_fin:
        kind, act = ("simultaneous", "both") if simultaneous else ("fin", active)
    elif first_fin:
        kind, act = "half-close", active
    else:
        kind, act = "open", None
    r["_close_kind"], r["_active_closer"] = kind, act
    r["_ladder"] = " ".join("#%d %s%s%s" % (p["frame"], "c>s " if side(p) == "client" else "s>c ",
                                             fl(p["flags"]), (" len=%d" % p["len"]) if p["len"] else "")
                            for p in mine)
    return r


def ss_state(snapshot, local, peer):
    if snapshot is None:
        return None
    for line in open(snapshot):
        f = line.split()
        if len(f) >= 5 and f[3] == local and f[4] == peer:
            return SS_STATES.get(f[0], f[0])
    return "CLOSED"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pcap", required=True)
    ap.add_argument("--design", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--ss", action="append", default=[], help="client=FILE or server=FILE or conn-index:client=FILE")
    ap.add_argument("--nstat", action="append", default=[], help="NS=FILE (JSON object of deltas)")
    a = ap.parse_args()
    design = json.load(open(a.design))
    ss = dict(x.split("=", 1) for x in a.ss)
    pkts = read_packets(a.pcap)
    errors = []
    conns = []
    for c in design["connections"]:
        r = analyse(pkts, c["client"], c["server"])
        for key, dkey in (("close_kind", "_close_kind"), ("active_closer", "_active_closer"), ("rst_by", "_rst_by")):
            if c[key] != r[dkey]:
                errors.append("%s<->%s: design %s=%r but capture shows %r" % (c["client"], c["server"], key, c[key], r[dkey]))
        for k, v in c.get("expect", {}).items():
            if r.get(k) != v:
                errors.append("%s<->%s: expected %s=%r, capture shows %r" % (c["client"], c["server"], k, v, r.get(k)))
        end_state = dict(c["end_state"])
        for s, local, peer in (("client", c["client"], c["server"]), ("server", c["server"], c["client"])):
            obs = ss_state(ss.get(s), local, peer)
            if obs is not None and obs != end_state[s]:
                errors.append("%s<->%s: design end_state.%s=%s but ss showed %s" % (c["client"], c["server"], s, end_state[s], obs))
        notes = c.get("notes", "").format(**r)
        if r.get("_fin_cross"):
            x = r["_fin_cross"]
            notes += " FIN check: the peer's FIN %s the first FIN; the first FIN %s the peer's FIN." % (
                "acknowledges" if x["peer_fin_acks_first_fin"] else "does not acknowledge",
                "acknowledges" if x["first_fin_acks_peer_fin"] else "does not acknowledge")
        out = {"client": c["client"], "server": c["server"], "first_frame": r["first_frame"],
               "active_closer": c["active_closer"], "close_kind": c["close_kind"], "rst_by": c["rst_by"]}
        for k in ("first_fin_frame", "peer_fin_frame", "last_ack_frame", "rst_frame", "fin_retransmissions",
                  "client_pkts", "server_pkts", "client_bytes", "server_bytes"):
            out[k] = r[k]
        out["end_state"] = end_state
        out["notes"] = (notes.strip() + " Packets: " + r["_ladder"]).strip()
        conns.append(out)
    if errors:
        print("describe.py: %s does not show what it must:\n  " % a.pcap + "\n  ".join(errors), file=sys.stderr)
        sys.exit(1)
    nstat = {}
    for x in a.nstat:
        ns, f = x.split("=", 1)
        nstat[ns] = json.load(open(f))
    doc = {"capture": design["capture"], "scenario": design["scenario"], "made_with": design["made_with"],
           "connections": conns, "nstat": nstat}
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
