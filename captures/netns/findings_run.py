#!/usr/bin/python3
"""Regenerate the captures in captures/findings/ (see captures/findings/README.md).

Usage: findings_run.py [scenario ...]   (default: all). Run as root via findings.sh.
Every scenario builds its own twf-* namespaces, captures with tcpdump, records nstat deltas,
reads the capture back with tshark and writes <name>.json with verified frame numbers.
"""
import os
import sys
import threading
import time
import traceback
import json
import subprocess

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from findings_lib import *  # noqa

ALL_KINDS = ["time-wait-reuse", "paws-violation", "nat-clock-collision", "port-exhaustion", "lost-last-ack",
             "abortive-close"]
PORT = 8080


def none_but(*kinds):
    return [k for k in ALL_KINDS if k not in kinds]


def pair(tag, idx, v6=False):
    """Two namespaces twf-<tag>-c / twf-<tag>-s joined by one veth pair; returns (c, s, caddr, saddr, cif, sif)."""
    c, s = "twf-%s-c" % tag, "twf-%s-s" % tag
    cif, sif = "twf%sc" % tag, "twf%ss" % tag
    ns_add(c)
    ns_add(s)
    veth(cif, c, sif, s)
    if v6:
        ca, sa = "2001:db8:2::%x:1" % idx, "2001:db8:2::%x:2" % idx
        addr(c, cif, ca + "/64")
        addr(s, sif, sa + "/64")
    else:
        ca, sa = "198.51.100.%d" % (8 * idx + 1), "198.51.100.%d" % (8 * idx + 2)
        addr(c, cif, ca + "/29")
        addr(s, sif, sa + "/29")
    return c, s, ca, sa, cif, sif


def ep(a, p):
    return ("[%s]:%d" % (a, p)) if ":" in a else ("%s:%d" % (a, p))


def reuse_facts(old, new, holder):
    """Facts of a reuse of old's 4-tuple by new (both incarnations from incarnations())."""
    tw = tw_start(old)
    syn = next(p for p in new["pkts"] if p["flags"] & SYN and not p["flags"] & ACK)
    client = old["client"]
    old_c = [p for p in old["pkts"] if p["src"] == client]
    old_s = [p for p in old["pkts"] if p["src"] != client]
    # end of the client's old sequence space (= the server's old rcv_nxt)
    c_end = max(((p["seq"] + p["len"] + (1 if p["flags"] & (SYN | FIN) else 0)) & 0xFFFFFFFF for p in old_c),
                key=lambda x: serial_diff(x, old_c[0]["seq"]))
    s_end = max(((p["seq"] + p["len"] + (1 if p["flags"] & (SYN | FIN) else 0)) & 0xFFFFFFFF for p in old_s),
                key=lambda x: serial_diff(x, old_s[0]["seq"]))
    last_c_ts = next((p["tsval"] for p in reversed(old_c) if p["tsval"] is not None), None)
    basis = "active closer's ACK of the peer's FIN"
    if tw is None:  # last ACK not captured: TIME-WAIT counted from the peer's (first) FIN
        fins = [p for p in old["pkts"] if p["flags"] & FIN]
        tw = next((p for p in fins if p["src"] != fins[0]["src"]), None) if fins else None
        basis = "peer's FIN (the active closer's last ACK is not in the capture)"
    f = {"holder": holder, "tw_start_frame": tw["frame"] if tw else None, "tw_start_basis": basis,
         "gap_s": round(syn["t"] - tw["t"], 6) if tw else None,
         "old_client_seq_end": c_end, "new_isn": syn["seq"], "isn_after_old": not serial_lt(syn["seq"], c_end) and syn["seq"] != c_end,
         "isn_minus_old_end": serial_diff(syn["seq"], c_end),
         "new_tsval": syn["tsval"], "old_last_client_tsval": last_c_ts,
         "tsval_newer": (serial_lt(last_c_ts, syn["tsval"]) if (syn["tsval"] is not None and last_c_ts is not None) else None)}
    # what happened on the wire after the first SYN of the new incarnation
    after = [p for p in new["pkts"] if p["frame"] > syn["frame"]]
    ans = next((p for p in after if p["src"] != client), None)
    synack = next((p for p in after if p["src"] != client and p["flags"] & SYN and p["flags"] & ACK), None)
    seq = [syn["frame"]]
    if ans is None:
        f["outcome"] = "no-answer"
    elif ans["flags"] & SYN:
        f["outcome"] = "syn-ack"
        f["accepted"] = True
    elif ans["flags"] & RST:
        f["outcome"] = "rst"
    else:
        rst = next((p for p in after if p["src"] == client and p["flags"] & RST), None)
        retry = next((p for p in after if p["src"] == client and p["flags"] & SYN and not p["flags"] & ACK), None)
        f["outcome"] = "ack-rst-retry" if rst and retry else "ack"
        f["answer"] = {"frame": ans["frame"], "flags": fl(ans), "seq": ans["seq"], "ack": ans["ack"],
                       "ack_is_old_rcv_nxt": ans["ack"] == c_end, "seq_is_old_snd_nxt": ans["seq"] == s_end}
        seq += [ans["frame"]] + ([rst["frame"]] if rst else []) + ([retry["frame"]] if retry else [])
        f["accepted"] = False
    if synack is not None:
        f["synack_frame"] = synack["frame"]
        f["delay_s"] = round(synack["t"] - syn["t"], 6)
        f["server_isn_minus_old_server_snd_nxt"] = serial_diff(synack["seq"], s_end)
        if synack["frame"] not in seq:
            seq.append(synack["frame"])
    f["wire_frames"] = seq
    return f, ([tw["frame"]] if tw else []) + seq


def base(name, capture, scenario, made_with):
    return {"capture": capture, "scenario": scenario, "made_with": made_with, "connections": [], "expect": [],
            "none": [], "nstat": {}, "events": {}}


# ============================================================ 1. reuse-server-tw (+ late control)
def s_reuse_server_tw(late=False):
    name = "reuse-server-tw-late" if late else "reuse-server-tw"
    tag, idx = ("rl", 2) if late else ("rs", 1)
    gap = 65.0 if late else 0.2
    c, s, ca, sa, cif, sif = pair(tag, idx)
    sport = 40002 if late else 40001
    cap_file = name + (".pcap")
    path = os.path.join(OUT, cap_file)
    n0 = nstats(c, s)
    if late:
        cap = Capture(s, sif, path, nano=True)
    else:
        cap = Capture(s, "any", path)
    srv = Bg(s, "server", addr=sa, port=PORT, modes=["close-first"], count=2, timeout=gap + 30)
    cev = run_sock(c, "reuse_same_port", timeout=gap + 60, dst=sa, port=PORT, src=ca, sport=sport, gap=gap,
                   close1="server", close2="server")
    sev = srv.join()
    cap.stop()
    n1 = nstats(c, s)
    ns_del(c, s)
    pk = packets(path)
    incs = incarnations(pk)
    assert len(incs) == 2, incs
    facts, frames = reuse_facts(incs[0], incs[1], "server")
    j = base(name, cap_file,
             ("Server closes first (holds TIME-WAIT); the client reconnects from the same port (bind + SO_REUSEADDR) "
              "%s s later%s." % (gap, ", after the 60 s TIME-WAIT has expired: no reuse" if late else
                                 ", so the SYN reaches the server's TIME-WAIT socket")),
             ("%s, %s timestamps, tcpdump -i %s in the server namespace (capture point: server), "
              "Linux 6.18 on both ends, defaults (tcp_timestamps=1: per-4-tuple TSval offset), "
              "client bind(%s) with SO_REUSEADDR" % ("Ethernet (veth), pcap" if late else "Linux cooked SLL2 (-i any), pcap",
                                                     "nanosecond" if late else "microsecond", sif if late else "any",
                                                     ep(ca, sport))))
    j["connections"] = conn_rows(incs, {0: "server closes first", 1: "same 4-tuple, %s s later" % gap})
    if late:
        j["expect"] = []
        j["none"] = ALL_KINDS
        j["facts_for_reference"] = facts
        j["notes"] = "Control: the SYN comes %.3f s after the server's TIME-WAIT started (> 60 s), so the 4-tuple is free: no finding." % facts["gap_s"]
    else:
        j["expect"] = [{"kind": "time-wait-reuse", "frames": frames, "facts": facts}]
        j["none"] = none_but("time-wait-reuse")
    j["nstat"] = nstat_deltas(n0, n1)
    j["events"] = {"client": cev, "server": sev}
    write_json(name, j)
    return j


# ============================================================ 2. reuse-client-tw-bind / -kernel
def s_reuse_client_tw_bind():
    name = "reuse-client-tw-bind"
    c, s, ca, sa, cif, sif = pair("cb", 3, v6=True)
    sysctl(c, "net.ipv4.tcp_tw_reuse", 1)
    sport = 40011
    cap_file = name + ".pcapng"
    raw = os.path.join(OUT, name + ".tmp.pcap")
    path = os.path.join(OUT, cap_file)
    n0 = nstats(c, s)
    cap = Capture(s, sif, raw, nano=True)
    srv = Bg(s, "server", addr=sa, port=PORT, modes=["wait-eof", "close-first"], count=2, timeout=30)
    cev = run_sock(c, "reuse_same_port", dst=sa, port=PORT, src=ca, sport=sport, gap=0.2, close1="client",
                   close2="server", reuse_retry=True, step=0.2, max_attempts=25)
    sev = srv.join()
    cap.stop()
    n1 = nstats(c, s)
    ns_del(c, s)
    sh(["editcap", "-F", "pcapng", raw, path])
    os.unlink(raw)
    pk = packets(path)
    incs = incarnations(pk)
    assert len(incs) == 2, incs
    facts, frames = reuse_facts(incs[0], incs[1], "client")
    fails = [e for e in cev if e["ev"] == "connect-failed"]
    ok = next(e for e in cev if e["ev"] == "connected" and e.get("tag") == "c2")
    c1done = next(e for e in cev if e["ev"] == "session-done" and e.get("tag") == "c1")
    facts["connect_attempts_failed"] = len(fails)
    facts["connect_errno"] = fails[0]["err"] if fails else None
    facts["first_success_after_close_s"] = round(ok["t"] - c1done["t"], 3)
    j = base(name, cap_file,
             "IPv6. The client closes first (holds TIME-WAIT) and reconnects from the same port with bind + "
             "SO_REUSEADDR; tcp_tw_reuse=1 in the client namespace; connect() is retried every 0.2 s from 0.2 s on.",
             "Ethernet (veth), pcapng (written by tcpdump, converted with editcap -F pcapng), nanosecond; capture in "
             "the server namespace on %s; client: net.ipv4.tcp_tw_reuse=1 (tcp_tw_reuse_delay=1000 ms default), "
             "tcp_timestamps=1" % sif)
    j["connections"] = conn_rows(incs, {0: "client closes first", 1: "same 4-tuple reused by the client (TIME-WAIT holder)"})
    j["expect"] = [{"kind": "time-wait-reuse", "frames": frames, "facts": facts}]
    j["none"] = none_but("time-wait-reuse")
    j["nstat"] = nstat_deltas(n0, n1)
    j["events"] = {"client": cev, "server": sev}
    if fails:
        j["notes"] = ("connect() failed with %s %d time(s) (no packet sent) before it succeeded %.3f s after the "
                      "first connection closed." % (facts["connect_errno"], len(fails), facts["first_success_after_close_s"]))
    else:
        j["notes"] = ("connect() from the explicitly bound port succeeded at the first attempt, %.3f s after the first "
                      "connection closed: for a socket bound to its port, Linux reuses a TIME-WAIT 4-tuple whenever "
                      "that TIME-WAIT has a timestamp (tcp_twsk_unique with twp == NULL), without the "
                      "tcp_tw_reuse_delay (1 s) that applies to kernel-chosen ports (compare reuse-client-tw-kernel)."
                      % facts["first_success_after_close_s"])
    write_json(name, j)
    return j


def s_reuse_client_tw_kernel():
    name = "reuse-client-tw-kernel"
    c, s, ca, sa, cif, sif = pair("ck", 4)
    sysctl(c, "net.ipv4.tcp_tw_reuse", 1)
    sysctl(c, "net.ipv4.ip_local_port_range", "40500 40500")
    cap_file = name + ".pcap"
    path = os.path.join(OUT, cap_file)
    n0 = nstats(c, s)
    cap = Capture(s, sif, path)
    srv = Bg(s, "server", addr=sa, port=PORT, modes=["wait-eof"], count=3, timeout=30)
    cev = run_sock(c, "kernel_port_reuse", dst=sa, port=PORT, n=3, first_delay=0.2, step=0.2, max_attempts=25)
    sev = srv.join()
    cap.stop()
    n1 = nstats(c, s)
    ns_del(c, s)
    pk = packets(path)
    incs = incarnations(pk)
    assert len(incs) == 3, incs
    exp = []
    for k in (1, 2):
        facts, frames = reuse_facts(incs[k - 1], incs[k], "client")
        tag = "c%d" % (k + 1)
        fails = [e for e in cev if e["ev"] == "connect-failed" and e.get("tag") == tag]
        facts["connect_attempts_failed"] = len(fails)
        facts["connect_errno"] = fails[0]["err"] if fails else None
        exp.append({"kind": "time-wait-reuse", "frames": frames, "facts": facts})
    j = base(name, cap_file,
             "Three connections with no bind and a one-port ephemeral range (40500); the client closes first each "
             "time, so each new connect() has to reuse the client's own TIME-WAIT 4-tuple (tcp_tw_reuse=1).",
             "Ethernet (veth), pcap, microsecond; capture in the server namespace on %s; client: "
             "net.ipv4.tcp_tw_reuse=1, net.ipv4.ip_local_port_range='40500 40500', tcp_timestamps=1; "
             "connect() retried every 0.2 s" % sif)
    j["connections"] = conn_rows(incs)
    j["expect"] = exp
    j["none"] = none_but("time-wait-reuse", "port-exhaustion")
    j["notes"] = ("One ephemeral port: the port range is 1 port and it is held in TIME-WAIT most of the time, so "
                  "port-exhaustion MAY be reported with --port-range 40500-40500 (not with the default range).")
    j["nstat"] = nstat_deltas(n0, n1)
    j["events"] = {"client": cev, "server": sev}
    write_json(name, j)
    return j


# ============================================================ 3. reuse-refused
def s_reuse_refused(nbytes=32 << 20):
    name = "reuse-refused"
    c, s, ca, sa, cif, sif = pair("rr", 5)
    sysctl(c, "net.ipv4.tcp_timestamps", 0)
    sport = 40021
    cap_file = name + ".pcap"
    path = os.path.join(OUT, cap_file)
    n0 = nstats(c, s)
    cap = Capture(s, sif, path, snaplen=96)
    srv = Bg(s, "server", addr=sa, port=PORT, modes=["sink", "close-first"], count=2, sink_bytes=nbytes, timeout=30)
    cev = run_sock(c, "bulk_then_reconnect", dst=sa, port=PORT, src=ca, sport=sport, nbytes=nbytes)
    sev = srv.join()
    cap.stop()
    n1 = nstats(c, s)
    ns_del(c, s)
    pk = packets(path)
    incs = incarnations(pk)
    assert len(incs) == 2, [(i["client"], i["first_frame"]) for i in incs]
    facts, frames = reuse_facts(incs[0], incs[1], "server")
    c2 = next((e for e in cev if e.get("tag") == "c2" and e["ev"] in ("connected", "connect-failed")), None)
    facts["client_connect_s"] = c2.get("connect_s") if c2 else None
    j = base(name, cap_file,
             "Timestamps off (client tcp_timestamps=0); the client sends %d MiB, the server closes first (holds "
             "TIME-WAIT) and the client reconnects at once from the same port: its new ISN (clock-driven, ~15.6 M/s) "
             "is below the old connection's end, so the server's TIME-WAIT refuses the SYN." % (nbytes >> 20),
             "Ethernet (veth), pcap, microsecond, snaplen 96 (headers only); capture in the server namespace on %s; "
             "client: net.ipv4.tcp_timestamps=0 (no timestamp option at all), bind(%s) + SO_REUSEADDR; server defaults. "
             "Real kernel behaviour, nothing crafted." % (sif, ep(ca, sport)))
    j["connections"] = conn_rows(incs, {0: "bulk upload, server closes first", 1: "reuse of the 4-tuple, refused then retried"})
    j["expect"] = [{"kind": "time-wait-reuse", "frames": frames, "facts": facts}]
    j["none"] = none_but("time-wait-reuse")
    j["nstat"] = nstat_deltas(n0, n1)
    j["events"] = {"client": cev, "server": sev}
    write_json(name, j)
    return j


# ============================================================ 8. port exhaustion
def s_port_exhaustion(server_closes=False):
    name = "port-exhaustion-server-closes" if server_closes else "port-exhaustion"
    tag, idx = ("px", 7) if server_closes else ("pe", 6)
    c, s, ca, sa, cif, sif = pair(tag, idx)
    sysctl(c, "net.ipv4.tcp_tw_reuse", 0)
    sysctl(c, "net.ipv4.ip_local_port_range", "41000 41015")
    cap_file = name + ".pcap"
    path = os.path.join(OUT, cap_file)
    n0 = nstats(c, s)
    cap = Capture(c, cif, path) if not server_closes else Capture(s, sif, path)
    nconn = 48 if server_closes else 100
    srv = Bg(s, "server", addr=sa, port=PORT, modes=["close-first" if server_closes else "wait-eof"], count=nconn,
             timeout=6)
    cev = run_sock(c, "burst", dst=sa, port=PORT, max_attempts=nconn, max_secs=5.0,
                   close="server" if server_closes else "client", stop_after_failures=5)
    ss = sh(nsx(c, "ss", "-tan", "state", "time-wait"))
    sss = sh(nsx(s, "ss", "-tan", "state", "time-wait"))
    sev = srv.join(timeout=30)
    cap.stop()
    n1 = nstats(c, s)
    ns_del(c, s)
    pk = packets(path)
    incs = incarnations(pk)
    done = next(e for e in cev if e["ev"] == "burst-done")
    tw_client = max(0, len(ss.strip().splitlines()) - 1)
    tw_server = max(0, len(sss.strip().splitlines()) - 1)
    j = base(name, cap_file, "", "")
    j["connections"] = conn_rows(incs)
    j["nstat"] = nstat_deltas(n0, n1)
    j["events"] = {"client": cev, "server": sev[:3] + sev[-2:]}
    j["ss_time_wait_at_end"] = {c: tw_client, s: tw_server}
    ports = sorted({int(i["client"].rsplit(":", 1)[1]) for i in incs})
    if not server_closes:
        j["scenario"] = ("A client with a 16-port ephemeral range (41000-41015, tcp_tw_reuse=0) opens short "
                         "connections it closes first, as fast as it can, until connect() fails with EADDRNOTAVAIL.")
        j["made_with"] = ("Ethernet (veth), pcap, microsecond; capture in the client namespace on %s (capture point: "
                          "client);" % cif + " client: ip_local_port_range='41000 41015', tcp_tw_reuse=0, tcp_timestamps=1")
        ff = done["first_failure"]
        last = incs[-1]
        tws = [tw_start(i) for i in incs]
        j["expect"] = [{"kind": "port-exhaustion",
                        "frames": [i["syn_frame"] for i in incs],
                        "facts": {"ports": 16, "port_range": "41000-41015", "connections_ok": done["ok"],
                                  "max_time_wait": sum(1 for t in tws if t), "client_ports_used": ports,
                                  "first_failure_after_s": ff and ff["after_s"],
                                  "first_failure_errno": ff and ff["err"],
                                  "first_failure_unix_time": ff and ff["t"],
                                  "last_syn_frame": last["syn_frame"],
                                  "client_time_wait_at_end(ss)": tw_client,
                                  "severity": "critical (at the limit) when analysed with --port-range 41000-41015"}}]
        j["none"] = none_but("port-exhaustion")
        j["notes"] = ("connect() fails with no packet on the wire, so the capture ends with %d complete connections, "
                      "each leaving a client TIME-WAIT; with the default port range (28,232 ports) the occupancy is "
                      "far from the limit: twscope must be run with --port-range 41000-41015 to see it." % done["ok"])
    else:
        j["scenario"] = ("Contrast: the same 16-port client, but the server closes first: no TIME-WAIT piles up on "
                         "the client, every connect() succeeds; ports are reused while the SERVER still holds "
                         "TIME-WAIT for the previous 4-tuple (accepted thanks to timestamps).")
        j["made_with"] = ("Ethernet (veth), pcap, microsecond; capture in the server namespace on %s; client: "
                          "ip_local_port_range='41000 41015', tcp_tw_reuse=0, tcp_timestamps=1" % sif)
        reuses = []
        by_tuple = {}
        for i in incs:
            k = (i["client"], i["server"])
            if k in by_tuple:
                f, fr = reuse_facts(by_tuple[k], i, "server")
                reuses.append({"syn_frame": i["syn_frame"], "gap_s": f["gap_s"], "outcome": f["outcome"],
                               "isn_after_old": f["isn_after_old"], "tsval_newer": f["tsval_newer"]})
            by_tuple[k] = i
        j["expect"] = [{"kind": "time-wait-reuse", "frames": [r["syn_frame"] for r in reuses],
                        "facts": {"holder": "server", "count": len(reuses), "all_accepted": all(r["outcome"] == "syn-ack" for r in reuses),
                                  "per_syn": reuses}}]
        j["none"] = none_but("time-wait-reuse")
        j["expect_port_exhaustion_on_client"] = "none: the client holds no TIME-WAIT (ss shows %d)" % tw_client
        j["notes"] = "%d connections succeeded in %.3f s over %d client ports." % (done["ok"], done["secs"], len(ports))
    write_json(name, j)
    return j


# ============================================================ 9. abortive close
def s_abortive():
    name = "abortive-close"
    c, s, ca, sa, cif, sif = pair("ab", 8, v6=True)
    cap_file = name + ".pcapng"
    raw = os.path.join(OUT, name + ".tmp.pcap")
    path = os.path.join(OUT, cap_file)
    n0 = nstats(c, s)
    cap = Capture(c, cif, raw, nano=True)
    srv = Bg(s, "server", addr=sa, port=PORT, modes=["wait-eof"], count=3, timeout=20)
    cev = run_sock(c, "abortive", dst=sa, port=PORT, n=3)
    sev = srv.join()
    cap.stop()
    n1 = nstats(c, s)
    ns_del(c, s)
    sh(["editcap", "-F", "pcapng", raw, path])
    os.unlink(raw)
    pk = packets(path)
    incs = incarnations(pk)
    j = base(name, cap_file,
             "IPv6. Three short connections that the client ends with SO_LINGER {on, 0} + close(): a RST instead of "
             "a FIN, no TIME-WAIT anywhere.",
             "Ethernet (veth), pcapng (tcpdump, converted with editcap -F pcapng), nanosecond; capture in the client "
             "namespace on %s; defaults" % cif)
    j["connections"] = conn_rows(incs)
    rst_frames = [next(p["frame"] for p in i["pkts"] if p["flags"] & RST) for i in incs]
    j["expect"] = [{"kind": "abortive-close", "frames": [f], "facts": {"rst_by": "client", "connection": k}}
                   for k, f in enumerate(rst_frames)]
    j["none"] = none_but("abortive-close")
    j["nstat"] = nstat_deltas(n0, n1)
    j["events"] = {"client": cev, "server": sev}
    write_json(name, j)
    return j


# ============================================================ 10. SYN drops (accept queue full, firewall)
def syn_view(inc):
    """Handshake of one incarnation: the client's SYNs (first and retransmissions), the server's SYN-ACKs,
    the client's ACK of the SYN-ACK, connect delay (that ACK minus the first SYN) and outcome."""
    cl = inc["client"]
    syns = [p for p in inc["pkts"] if p["src"] == cl and p["flags"] & SYN and not p["flags"] & ACK]
    synacks = [p for p in inc["pkts"] if p["src"] != cl and p["flags"] & SYN and p["flags"] & ACK]
    hs_ack = None
    if synacks:
        want = (synacks[0]["seq"] + 1) & 0xFFFFFFFF
        hs_ack = next((p for p in inc["pkts"] if p["src"] == cl and p["frame"] > synacks[0]["frame"]
                       and not p["flags"] & SYN and p["flags"] & ACK and p["ack"] == want), None)
    delay = round(hs_ack["t"] - syns[0]["t"], 6) if (syns and hs_ack) else None
    if not synacks:
        outcome = "unanswered"
    else:
        outcome = "delayed" if len(syns) > 1 else "immediate"
    return {"client_port": int(cl.rsplit(":", 1)[1]), "server_port": int(inc["server"].rsplit(":", 1)[1]),
            "syn_frames": [p["frame"] for p in syns], "syn_count": len(syns),
            "syn_times_s": [round(p["t"] - syns[0]["t"], 6) for p in syns],
            "synack_frame": synacks[0]["frame"] if synacks else None,
            "synack_frames": [p["frame"] for p in synacks],
            "handshake_ack_frame": hs_ack["frame"] if hs_ack else None,
            "connect_delay_s": delay, "outcome": outcome}


def s_syn_drops():
    name = "syn-drops"
    fw_port = 8081
    c, s, ca, sa, cif, sif = pair("sd", 17)
    sysctl(s, "net.ipv4.tcp_syncookies", 0)
    sysctl(c, "net.ipv4.tcp_syn_retries", 2)
    sh(nsx(s, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", str(fw_port), "--syn", "-j", "DROP"))
    lin = sh(nsx(c, "sysctl", "-n", "net.ipv4.tcp_syn_linear_timeouts"), check=False).strip() or "n/a"
    cap_file = name + ".pcap"
    path = os.path.join(OUT, cap_file)
    n0 = nstats(c, s)
    cap = Capture(s, sif, path)
    start = round(time.time() + 1.0, 3)
    srv = Bg(s, "listen_queue_server", addr=sa, port=PORT, backlog=1, start_at=start, first_after=0.5, every=1.5,
             paced=5, count=6, timeout=40)
    cev = run_sock(c, "syn_drop_clients", timeout=90, dst=sa, port=PORT, n=5, gap=0.05, start_at=start,
                   fw_port=fw_port, syncnt=6, connect_timeout=30)
    sev = srv.join(timeout=60)
    cap.stop()
    n1 = nstats(c, s)
    ns_del(c, s)
    pk = packets(path)
    incs = incarnations(pk)
    views = [syn_view(i) for i in incs]
    byport = {e["local_port"]: e for e in cev if e["ev"] in ("connected", "connect-failed")}
    notes = {}
    for k, v in enumerate(views):
        e = byport.get(v["client_port"], {})
        v["client_tag"] = e.get("tag")
        v["client_connect_s"] = e.get("connect_s")
        v["client_connect_error"] = e.get("err")
        notes[k] = {"fw": "port %d: SYNs dropped by iptables in the server namespace" % fw_port,
                    "control": "control: the queue has room"}.get(e.get("tag"), "accept queue (listen(1))")
    rows = conn_rows(incs, notes)
    for r, v in zip(rows, views):
        r.update(v)
    svc = [v for v in views if v["server_port"] == PORT and v["syn_count"]]
    fw = [v for v in views if v["server_port"] == fw_port and v["syn_count"]]
    delayed = [v for v in svc if v["outcome"] == "delayed"]
    delays = sorted(v["connect_delay_s"] for v in delayed)
    exp = [{"kind": "syn-retransmission",
            "frames": [f for v in delayed for f in (v["syn_frames"][0], v["synack_frame"])],
            "facts": {"service": ep(sa, PORT), "attempts": len(svc), "delayed": len(delayed),
                      "unanswered": sum(1 for v in svc if v["outcome"] == "unanswered"),
                      "syn_retransmissions": sum(v["syn_count"] - 1 for v in svc),
                      "delays_s": delays, "max_delay_s": max(delays) if delays else None}}]
    for v in fw:
        # the attempt's first SYN: the finding's Wireshark filter shows the retransmissions
        exp.append({"kind": "syn-retransmission", "frames": v["syn_frames"][:1],
                    "facts": {"service": ep(sa, fw_port), "attempts": len(fw), "syn_frames": v["syn_frames"],
                              "delayed": sum(1 for x in fw if x["outcome"] == "delayed"),
                              "unanswered": sum(1 for x in fw if x["outcome"] == "unanswered"),
                              "syn_count": v["syn_count"], "syn_times_s": v["syn_times_s"],
                              "client_connect_error": v["client_connect_error"],
                              "client_connect_s": v["client_connect_s"]}})
    rst = [p["frame"] for p in pk if p["flags"] & RST]
    j = base(name, cap_file,
             "Two ways a SYN goes unanswered, in one capture. (1) Accept queue overflow: the server listens on %d "
             "with listen(1) and tcp_syncookies=0 and accepts nothing until 0.5 s after five clients started "
             "connecting 50 ms apart, then one connection every 1.5 s: once two connections wait in the accept "
             "queue, further SYNs are dropped and the clients send them again after their SYN timeout. (2) A "
             "firewall: iptables in the server namespace drops SYNs to %d; one client connect() there (started "
             "with the others, tcp_syn_retries=2 in the client namespace) fails with ETIMEDOUT. Then a control "
             "connection to %d, answered at once." % (PORT, fw_port, PORT),
             "Ethernet (veth), pcap, microsecond; capture in the server namespace on %s (capture point: server, "
             "before netfilter, so the dropped SYNs are in it); server: net.ipv4.tcp_syncookies=0, listen(1) on "
             "%s, iptables -A INPUT -p tcp --dport %d --syn -j DROP; client: net.ipv4.tcp_syn_retries=2 (TCP_SYNCNT=6 "
             "on the %d sockets so only the %d connect is cut short), tcp_syn_linear_timeouts=%s (default), "
             "non-blocking connect() with a 30 s limit; Linux 6.18 both ends, tcp_timestamps=1"
             % (sif, ep(sa, PORT), fw_port, PORT, fw_port, lin))
    j["connections"] = rows
    j["expect"] = exp
    j["none"] = none_but("abortive-close") + ([] if rst else ["abortive-close", "connection-refused"])
    j["nstat"] = nstat_deltas(n0, n1)
    j["events"] = {"client": cev, "server": sev}
    tsr = sh(["tshark", "-n", "-r", path, "-Y", "tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.analysis.retransmission",
              "-T", "fields", "-e", "frame.number"]).split()
    retr = sum(v["syn_count"] - 1 for v in svc)
    drops, ovf = j["nstat"][s]["TcpExtListenDrops"], j["nstat"][s]["TcpExtListenOverflows"]
    synack_retr = sum(max(0, len(v["synack_frames"]) - 1) for v in svc)
    j["check"] = {"client_syn_retransmissions_8080": retr,
                  "client_syn_retransmissions_8081": sum(v["syn_count"] - 1 for v in fw),
                  "tshark_syn_retransmission_frames": [int(x) for x in tsr],
                  "server_TcpExtListenDrops": drops, "server_TcpExtListenOverflows": ovf,
                  "server_synack_retransmissions_8080": synack_retr,
                  "rst_frames": rst}
    if drops == retr and ovf == retr:
        j["check"]["agree"] = True
        j["check"]["why"] = ("every SYN the listener dropped because the accept queue was full (first or retransmitted) "
                             "was followed by exactly one retransmission, and every connection was answered in the end; "
                             "no handshake ACK was dropped (no SYN-ACK retransmission). The SYNs to %d are dropped by "
                             "iptables before TCP, so they count in no server TCP counter" % fw_port)
    else:
        j["check"]["agree"] = False
        j["check"]["why"] = ("drops %d / overflows %d vs %d SYN retransmissions; server SYN-ACK retransmissions: %d "
                             "(an ACK dropped because the queue was full counts as an overflow too)"
                             % (drops, ovf, retr, synack_retr))
    longest = max(svc, key=lambda v: v["syn_count"]) if svc else None
    gaps = sorted({round(b - a, 3) for v in svc + fw for a, b in zip(v["syn_times_s"], v["syn_times_s"][1:])})
    j["notes"] = ("%d of %d connections to %d were delayed (connect() %s s); SYN retransmission intervals were %s s "
                  "(longest wait: SYNs at %s s): with tcp_syn_linear_timeouts=%s the first SYN timeouts stay at the "
                  "initial 1 s RTO (plus timer slack) instead of doubling (1, 2, 4 s ...). The connect() to %d "
                  "(tcp_syn_retries=2) failed with %s after %s s having sent %d SYNs: the time limit is still that of "
                  "2 exponential retransmissions (1 + 2 + 4 s), the SYNs within it are 1 s apart."
                  % (len(delayed), len(svc), PORT, ", ".join("%.3f" % d for d in delays), gaps[0] if len(gaps) == 1 else
                     "%s to %s" % (gaps[0], gaps[-1]) if gaps else "-", longest and longest["syn_times_s"], lin, fw_port,
                     fw[0]["client_connect_error"] if fw else None, fw[0]["client_connect_s"] if fw else None,
                     fw[0]["syn_count"] if fw else 0))
    write_json(name, j)
    return j


# ============================================================ 6/7. NAT
def nat_topology(tag, idx, m):
    r, srv = "twf-%s-r" % tag, "twf-%s-s" % tag
    ns_add(r)
    ns_add(srv)
    clients = {}
    for k, h in enumerate("abc"):
        cns = "twf-%s-%s" % (tag, h)
        ns_add(cns)
        cif, rif = "twf%s%s" % (tag, h), "twf%sr%s" % (tag, h)
        veth(cif, cns, rif, r)
        ca, ra = "198.51.100.%d" % (8 * (idx + k) + 1), "198.51.100.%d" % (8 * (idx + k) + 2)
        addr(cns, cif, ca + "/29")
        addr(r, rif, ra + "/29")
        route(cns, "default", "via", ra)
        clients[h] = {"ns": cns, "if": cif, "addr": ca}
    rsif, sif = "twf%srs" % tag, "twf%ss" % tag
    veth(rsif, r, sif, srv)
    nat_a, sa = "203.0.113.%d" % (8 * m + 1), "203.0.113.%d" % (8 * m + 2)
    addr(r, rsif, nat_a + "/29")
    addr(srv, sif, sa + "/29")
    sysctl(r, "net.ipv4.ip_forward", 1)
    sh(nsx(r, "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", rsif, "-j", "MASQUERADE"))
    return r, srv, clients, rsif, nat_a, sa


def recycle_drops(pkts, src_ip, window=60.0):
    """SYNs a per-host timestamp check (removed tcp_tw_recycle) would have dropped: TSval older than the
    newest TSval seen from the same address in the last `window` s."""
    newest = None
    drops = []
    for p in pkts:
        if not p["src"].startswith(src_ip + ":") or p["tsval"] is None:
            continue
        if p["flags"] & SYN and not p["flags"] & ACK and newest is not None and p["t"] - newest[1] < window \
                and serial_lt(p["tsval"], newest[0]):
            drops.append({"frame": p["frame"], "tsval": p["tsval"], "newest_tsval": newest[0],
                          "newest_frame": newest[2], "behind_ticks": serial_diff(newest[0], p["tsval"])})
        if newest is None or serial_lt(newest[0], p["tsval"]):
            newest = (p["tsval"], p["t"], p["frame"])
    return drops


def s_nat(shifted):
    name = "nat-hosts" if shifted else "nat-kernel-default"
    tag, idx, m = ("nh", 10, 1) if shifted else ("nd", 13, 2)
    r, srv, cl, rsif, nat_a, sa = nat_topology(tag, idx, m)
    hostcfg = {"a": {"shift": 0, "div": 1}, "b": {"shift": 5000000, "div": 1}, "c": {"shift": 3000000, "div": 10}}
    if shifted:
        for h in cl.values():
            sysctl(h["ns"], "net.ipv4.tcp_timestamps", 2)
    cap_file = name + ".pcap"
    path = os.path.join(OUT, cap_file)
    allns = [r, srv] + [h["ns"] for h in cl.values()]
    n0 = nstats(*allns)
    nfq = None
    if shifted:
        sh(nsx(r, "iptables", "-A", "FORWARD", "-p", "tcp", "-j", "NFQUEUE", "--queue-num", "5", "--queue-bypass"))
        cfg = {"queue": 5, "timeout": 60, "log": os.path.join(OUT, name + ".tmp.log"),
               "hosts": {cl[h]["addr"]: {"shift": hostcfg[h]["shift"] & 0xFFFFFFFF, "div": hostcfg[h]["div"]} for h in cl}}
        nfq = start_nfq(r, "findings_tsshift.py", cfg, name)
    side = {h: Capture(cl[h]["ns"], cl[h]["if"], os.path.join(OUT, "%s.%s.tmp.pcap" % (name, h))) for h in cl}
    cap = Capture(r, rsif, path)
    per_host = 6
    server_p = Bg(srv, "server", addr=sa, port=PORT, modes=["close-first"], count=3 * per_host, timeout=20)
    procs = {}
    for k, h in enumerate("abc"):
        plan = [["%s%d" % (h, i + 1), None] for i in range(per_host)]
        procs[h] = Bg(cl[h]["ns"], "sequence", dst=sa, port=PORT, plan=plan, gap=0.3, close="server",
                      start_delay=0.1 * k)
    cev = {h: procs[h].join(timeout=60) for h in procs}
    sev = server_p.join(timeout=30)
    cap.stop()
    for c in side.values():
        c.stop()
    if nfq:
        stop_nfq(nfq)
        nfq.wait(timeout=10)
    n1 = nstats(*allns)
    ns_del(*allns)
    # which host opened which connection: match SYN ISNs seen on each client's own veth
    isn_host = {}
    for h in cl:
        sp = os.path.join(OUT, "%s.%s.tmp.pcap" % (name, h))
        for p in packets(sp):
            if p["flags"] & SYN and not p["flags"] & ACK:
                isn_host[p["seq"]] = h
        os.unlink(sp)
    for f in (os.path.join(OUT, name + ".tmp.log"),):
        if os.path.exists(f):
            os.unlink(f)
    pk = packets(path)
    incs = incarnations(pk)
    hosts = {}
    notes = {}
    for i, c in enumerate(incs):
        h = isn_host.get(c["pkts"][0]["seq"])
        notes[i] = "host %s (%s)" % (h.upper(), cl[h]["addr"]) if h else "host unknown"
        syn = c["pkts"][0]
        hosts.setdefault(h.upper(), []).append({"client_port": int(c["client"].rsplit(":", 1)[1]),
                                                "syn_frame": c["syn_frame"], "syn_tsval": syn["tsval"]})
    drops = recycle_drops(pk, nat_a)
    j = base(name, cap_file, "", "")
    j["connections"] = conn_rows(incs, notes)
    j["nstat"] = nstat_deltas(n0, n1)
    j["events"] = {"clients": cev, "server": sev[:2] + sev[-1:]}
    j["topology"] = {"hosts": {h.upper(): {"ns": cl[h]["ns"], "addr": cl[h]["addr"]} for h in cl},
                     "router": r, "nat_address": nat_a, "server": "%s:%d" % (sa, PORT),
                     "capture_point": "router, server-facing veth %s (after MASQUERADE)" % rsif}
    if shifted:
        j["scenario"] = ("Three client hosts behind one MASQUERADE router each open 6 short connections to one "
                         "server port (interleaved A,B,C,...); each host has its own TCP timestamp clock, so the "
                         "server sees 3 clocks (one at a different rate) behind one address.")
        j["made_with"] = ("Ethernet (veth), pcap, microsecond; capture on the router's server-facing veth (after NAT). "
                          "Clients: net.ipv4.tcp_timestamps=2 (no per-connection offset: raw 1000 Hz clock, the same "
                          "in every namespace of this kernel); per-host clocks emulated on the router by "
                          "findings_tsshift.py (NFQUEUE in FORWARD, uses nfq.py): c2s TSval' = (TSval // div + shift) "
                          "mod 2^32, s2c TSecr mapped back; host A: div 1, shift 0 (1000 Hz); host B: div 1, shift "
                          "+5,000,000 (1000 Hz); host C: div 10, shift +3,000,000 (100 Hz).")
        j["clock_mapping"] = {h.upper(): {"addr": cl[h]["addr"], "shift_ticks": hostcfg[h]["shift"],
                                          "divisor": hostcfg[h]["div"], "rate_hz": 1000 // hostcfg[h]["div"]} for h in cl}
        j["expect"] = [{"kind": "nat-clock-collision", "frames": [x["syn_frame"] for v in hosts.values() for x in v],
                        "facts": {"address": nat_a, "hosts": 3, "rates_hz": {"A": 1000, "B": 1000, "C": 100},
                                  "connections_per_host": {k: len(v) for k, v in hosts.items()},
                                  "host_connections": hosts,
                                  "recycle_drops": [d["frame"] for d in drops], "recycle_drop_details": drops}}]
        j["none"] = none_but("nat-clock-collision")
    else:
        j["scenario"] = ("Control: the same NAT topology with kernel defaults (tcp_timestamps=1: every connection "
                         "its own random TSval offset): one address, 18 connections, 18 unrelated clocks at 1000 Hz.")
        j["made_with"] = ("Ethernet (veth), pcap, microsecond; capture on the router's server-facing veth (after NAT); "
                          "all namespaces at kernel defaults (tcp_timestamps=1), no NFQUEUE.")
        j["expect"] = [{"kind": "ts-per-connection", "frames": [],
                        "facts": {"address": nat_a, "connections": len(incs), "note":
                                  "every connection has its own clock (per-connection TSval offset, Linux >= 4.10 "
                                  "default): twscope must say so and must NOT report several hosts"}}]
        j["none"] = ALL_KINDS
        j["facts_for_reference"] = {"true_hosts": 3, "host_connections": hosts,
                                    "recycle_drops_if_tw_recycle_existed": [d["frame"] for d in drops]}
    write_json(name, j)
    return j


# ============================================================ 4. lost last ACK + reuse
def s_lost_last_ack():
    name = "lost-last-ack-reuse"
    c, s, ca, sa, cif, sif = pair("la", 9)
    sysctl(c, "net.ipv4.tcp_tw_reuse", 1)
    sysctl(c, "net.ipv4.ip_local_port_range", "40600 40600")
    cap_file = name + ".pcap"
    path = os.path.join(OUT, cap_file)
    n0 = nstats(c, s)
    qlog = os.path.join(OUT, name + ".tmp.log")
    sh(nsx(c, "iptables", "-A", "INPUT", "-p", "tcp", "-s", sa, "--sport", str(PORT), "-j", "NFQUEUE",
           "--queue-num", "6", "--queue-bypass"))
    sh(nsx(c, "iptables", "-A", "OUTPUT", "-p", "tcp", "-d", sa, "--dport", str(PORT), "-j", "NFQUEUE",
           "--queue-num", "6", "--queue-bypass"))
    nfq = start_nfq(c, "findings_lastack.py", {"queue": 6, "server": sa, "port": PORT, "timeout": 30, "log": qlog}, name)
    cap = Capture(s, sif, path)
    srv = Bg(s, "server", addr=sa, port=PORT, modes=["wait-eof", "close-first"], count=2, timeout=30)
    cev = run_sock(c, "lost_last_ack", dst=sa, port=PORT, drop_rule=[], reconnect_after=0.2, step=0.2,
                   max_attempts=30)
    ss_s = sh(nsx(s, "ss", "-tan"))
    sev = srv.join()
    time.sleep(0.5)
    cap.stop()
    stop_nfq(nfq)
    qev = [json.loads(l) for l in open(qlog)]
    os.unlink(qlog)
    n1 = nstats(c, s)
    ns_del(c, s)
    pk = packets(path)
    incs = incarnations(pk)
    j = base(name, cap_file, "", "")
    j["scenario"] = ("The client closes first; its last ACK (and its later ACKs of the server's FIN "
                     "retransmissions) is dropped before it leaves the client, so the server stays in LAST-ACK "
                     "retransmitting its FIN; the client (tcp_tw_reuse=1, one-port range 40600) reuses the 4-tuple "
                     "from its TIME-WAIT as soon as connect() allows it, and its SYN reaches the server still in LAST-ACK.")
    j["made_with"] = ("Ethernet (veth), pcap, microsecond; capture in the server namespace on %s, so the dropped ACKs "
                      "never appear: they are dropped in the client namespace's OUTPUT chain (before the client's "
                      "veth) by findings_lastack.py (NFQUEUE via nfq.py), which drops exactly the pure ACKs whose "
                      "acknowledgment number acknowledges the server's FIN; nothing else is touched. Client: "
                      "tcp_tw_reuse=1, ip_local_port_range='40600 40600', tcp_timestamps=1. Linux 6.18 both ends."
                      % sif)
    j["dropped_by_nfqueue"] = [q for q in qev if q["verdict"] == "drop"]
    j["connections"] = conn_rows(incs, {0: "client closes first; its last ACK is lost", 1: "reuse while the server is in LAST-ACK"})
    j["nstat"] = nstat_deltas(n0, n1)
    j["events"] = {"client": cev, "server": sev}
    old, new = incs[0], incs[1] if len(incs) > 1 else None
    cl = old["client"]
    sfins = [p for p in old["pkts"] if p["src"] != cl and p["flags"] & FIN]
    j["wire"] = [{"frame": p["frame"], "t": round(p["t"] - pk[0]["t"], 6), "dir": "c2s" if p["src"] == cl else "s2c",
                  "flags": fl(p), "seq": p["seq"], "ack": p["ack"], "len": p["len"], "tsval": p["tsval"], "tsecr": p["tsecr"]}
                 for p in pk if p["frame"] >= (sfins[0]["frame"] - 1 if sfins else 0)][:40]
    j["ss_server_after"] = ss_s
    if new is not None:
        facts, frames = reuse_facts(old, new, "client")
        fails = [e for e in cev if e["ev"] == "connect-failed"]
        facts["connect_attempts_failed"] = len(fails)
        facts["connect_errno"] = fails[0]["err"] if fails else None
        facts["server_fin_frames"] = [p["frame"] for p in sfins]
        facts["server_fin_retransmissions"] = len(sfins) - 1
        facts["peer_state_at_syn"] = "LAST-ACK"
        j["expect"] = [
            {"kind": "lost-last-ack", "frames": [p["frame"] for p in sfins],
             "facts": {"passive_closer": "server", "fin_retransmissions": len(sfins) - 1,
                       "first_fin_frame": sfins[0]["frame"]}},
            {"kind": "time-wait-reuse", "frames": frames, "facts": facts}]
    j["none"] = none_but("time-wait-reuse", "lost-last-ack")
    write_json(name, j)
    return j


# ============================================================ 5. PAWS
def paws_sim(pkts, client, window=1):
    """RFC 7323 TS.Recent per receiver (server side: c2s segments), from a receiver-side capture."""
    ts_recent = None
    last_ack_sent = None
    out = []
    for p in pkts:
        if p["src"] != client:
            if p["flags"] & ACK:
                last_ack_sent = p["ack"]
            continue
        if p["tsval"] is None or p["flags"] & SYN:
            if p["flags"] & SYN and p["tsval"] is not None:
                ts_recent = p["tsval"]
            continue
        if ts_recent is not None and serial_lt(p["tsval"], ts_recent) and not p["flags"] & RST:
            behind = serial_diff(ts_recent, p["tsval"])
            out.append({"frame": p["frame"], "seq": p["seq"], "len": p["len"], "tsval": p["tsval"],
                        "ts_recent": ts_recent, "behind_ticks": behind, "linux_drop": behind > window})
            continue
        if (ts_recent is None or not serial_lt(p["tsval"], ts_recent)) and \
                (last_ack_sent is None or not serial_lt(last_ack_sent, p["seq"])):
            ts_recent = p["tsval"]
    return out


def s_paws():
    name = "paws-delayed"
    tag = "pw"
    c, r, s = "twf-pw-c", "twf-pw-r", "twf-pw-s"
    for n in (c, r, s):
        ns_add(n)
    veth("twfpwc", c, "twfpwrc", r)
    veth("twfpwrs", r, "twfpws", s)
    ca, rca = "198.51.100.129", "198.51.100.130"
    rsa, sa = "203.0.113.25", "203.0.113.26"
    addr(c, "twfpwc", ca + "/29")
    addr(r, "twfpwrc", rca + "/29")
    addr(r, "twfpwrs", rsa + "/29")
    addr(s, "twfpws", sa + "/29")
    route(c, "default", "via", rca)
    route(s, "198.51.100.128/29", "via", rsa)
    sysctl(r, "net.ipv4.ip_forward", 1)
    cap_file = name + ".pcapng"
    raw = os.path.join(OUT, name + ".tmp.pcap")
    path = os.path.join(OUT, cap_file)
    qlog = os.path.join(OUT, name + ".tmp.log")
    sh(nsx(r, "iptables", "-A", "FORWARD", "-p", "tcp", "-s", ca, "-j", "NFQUEUE", "--queue-num", "7",
           "--queue-bypass"))
    plan = {"delay": [20], "dup_now": [40], "dup_late": [60], "forge": [80], "late_s": 0.4, "forge_back": 1000000}
    nfq = start_nfq(r, "findings_paws.py", dict(plan, queue=7, client=ca, timeout=30, log=qlog), name)
    allns = [c, r, s]
    n0 = nstats(*allns)
    cap = Capture(s, "twfpws", raw, nano=True)
    srv = Bg(s, "line_sink_server", addr=sa, port=PORT, timeout=30)
    cev = run_sock(c, "trickle", dst=sa, port=PORT, secs=1.5, every=0.01, size=1000, src=ca, sport=40031)
    sev = srv.join()
    time.sleep(0.6)
    cap.stop()
    nerr = stop_nfq(nfq)
    n1 = nstats(*allns)
    ns_del(*allns)
    qev = [json.loads(l) for l in open(qlog)]
    os.unlink(qlog)
    sh(["editcap", "-F", "pcapng", raw, path])
    os.unlink(raw)
    pk = packets(path)
    incs = incarnations(pk)
    client = incs[0]["client"]
    viol = paws_sim(pk, client)
    # label each violation with what the router did
    for v in viol:
        lab = []
        for q in qev:
            if q["seq"] == v["seq"]:
                if q["action"] == "forge" and v["tsval"] == q["forged_tsval"]:
                    lab.append("forged old TSval (scapy)")
                elif q["action"] != "forge" and v["tsval"] == q["tsval"]:
                    lab.append({"delay": "delayed original", "dup_late": "late duplicate",
                                "dup_now": "immediate duplicate"}[q["action"]])
        v["what"] = ", ".join(lab) or "other (e.g. a retransmission overtaken by newer data)"
    j = base(name, cap_file, "", "")
    j["scenario"] = ("A live connection with timestamps: the client trickles 1000-byte segments every 10 ms through a "
                     "router that delays data segment #20 by 400 ms, duplicates #40 at once, duplicates #60 400 ms "
                     "late and, before #80, injects a copy of it whose TSval is 1,000,000 ticks old (built with scapy); "
                     "the server's PAWS drops the late and forged ones.")
    j["made_with"] = ("Ethernet (veth), pcapng (tcpdump, converted with editcap -F pcapng), nanosecond; capture in the "
                      "SERVER (receiver) namespace on twfpws, so it shows what the receiver got, in arrival order. "
                      "Router twf-pw-r: NFQUEUE in FORWARD (client->server) handled by findings_paws.py (uses "
                      "nfq.py); defaults everywhere (tcp_timestamps=1).")
    j["connections"] = conn_rows(incs)
    j["router_actions"] = qev
    strict = [v["frame"] for v in viol]
    j["expect"] = [{"kind": "paws-violation", "frames": [v["frame"]],
                    "facts": {"direction": "c2s", "tsval": v["tsval"], "ts_recent": v["ts_recent"],
                              "behind_ticks": v["behind_ticks"], "behind_s_at_1000Hz": v["behind_ticks"] / 1000.0,
                              "strict_rfc7323": True, "linux_drop": v["linux_drop"], "what": v["what"],
                              "seq": v["seq"], "len": v["len"]}} for v in viol]
    j["none"] = none_but("paws-violation", "lost-last-ack")
    tail_fins = [p for p in pk if p["src"] != client and p["flags"] & FIN]
    tail_rst = [p["frame"] for p in pk if p["flags"] & RST]
    j["may"] = {"lost-last-ack": "the server's FIN was sent %d time(s) (frames %s): a tail loss probe fired "
                                 "before the client's ACK, slowed by the NFQUEUE, arrived; the ACK was not lost"
                                 % (len(tail_fins), [p["frame"] for p in tail_fins]) if len(tail_fins) > 1 else "n/a",
                "trailing_rst_frames": tail_rst,
                "note": "a RST from the server after both FINs (answering a late duplicate ACK of its FIN "
                        "retransmission after it had closed) is not an abortive close"}
    j["nstat"] = nstat_deltas(n0, n1)
    j["events"] = {"client": cev, "server": sev}
    j["check"] = {"paws_violations_in_capture_linux": sum(1 for v in viol if v["linux_drop"]),
                  "server_TcpExtPAWSEstab": j["nstat"][s]["TcpExtPAWSEstab"],
                  "frames": strict}
    if nerr:
        j["nfq_stderr"] = nerr[-1000:]
    write_json(name, j)
    return j


# ============================================================ 10b. SYN-ACKs lost on the way back
def s_synack_lost():
    name = "synack-lost"
    c, s, ca, sa, cif, sif = pair("sl", 19)
    # the client namespace drops every other SYN-ACK that reaches it: the first one of each handshake
    # (the server's answer to the client's retransmitted SYN gets through)
    rule = ["INPUT", "-p", "tcp", "--sport", str(PORT), "--tcp-flags", "SYN,ACK", "SYN,ACK",
            "-m", "statistic", "--mode", "nth", "--every", "2", "--packet", "0", "-j", "DROP"]
    sh(nsx(c, "iptables", "-A", *rule))
    cap_file = name + ".pcap"
    path = os.path.join(OUT, cap_file)
    n0 = nstats(c, s)
    cap = Capture(s, sif, path)
    srv = Bg(s, "server", addr=sa, port=PORT, modes=["close-first"], count=3, timeout=30)
    cev = run_sock(c, "sequence", timeout=60, dst=sa, port=PORT, plan=[["a", None], ["b", None], ["c", None]],
                   gap=0.3, close="server", start_delay=0.3)
    sev = srv.join(timeout=40)
    cap.stop()
    dropped = sh(nsx(c, "iptables", "-L", "INPUT", "-v", "-n", "-x"), check=False)
    n1 = nstats(c, s)
    ns_del(c, s)
    pk = packets(path)
    incs = incarnations(pk)
    views = [syn_view(i) for i in incs]
    rows = conn_rows(incs)
    for r, v in zip(rows, views):
        r.update(v)
    delayed = [v for v in views if v["outcome"] == "delayed"]
    # the server answered each first SYN before the client sent it again
    early = [v for v in delayed if v["synack_frames"] and v["synack_frames"][0] < v["syn_frames"][-1]]
    j = base(name, cap_file,
             "Three short connections whose first SYN-ACK is lost between the server and the client: iptables in "
             "the client namespace drops every other SYN-ACK arriving from port %d. The capture is taken at the "
             "server, so it shows the SYN, the server's SYN-ACK, the client's SYN sent again a second later and "
             "the SYN-ACK that gets through. Not an accept queue or firewall in front of the server: the server "
             "answered every SYN at once." % PORT,
             "Ethernet (veth), pcap, microsecond; capture in the server namespace on %s; client: iptables -A %s; "
             "Linux 6.18 both ends, defaults" % (sif, " ".join(rule)))
    j["connections"] = rows
    j["expect"] = [{"kind": "syn-retransmission",
                    "frames": [f for v in delayed for f in (v["syn_frames"][0], v["synack_frame"])],
                    "facts": {"service": ep(sa, PORT), "attempts": len(views), "delayed": len(delayed),
                              "answered_before_resend": len(early), "unanswered": 0,
                              "syn_retransmissions": sum(v["syn_count"] - 1 for v in views),
                              "delays_s": sorted(v["connect_delay_s"] for v in delayed)}}]
    j["none"] = none_but("syn-retransmission")
    j["nstat"] = nstat_deltas(n0, n1)
    j["events"] = {"client": cev, "server": sev}
    j["check"] = {"client_iptables": [l for l in dropped.splitlines() if "DROP" in l]}
    write_json(name, j)
    return j


# ============================================================ 10c. Data segments lost and reordered
def s_retrans_loss():
    name = "retrans-loss"
    c, s, ca, sa, cif, sif = pair("dl", 20)
    cap_file = name + ".pcap"
    path = os.path.join(OUT, cap_file)
    qlog = os.path.join(OUT, name + ".tmp.log")
    for chain, match in (("OUTPUT", ["-d", sa, "--dport", str(PORT)]), ("INPUT", ["-s", sa, "--sport", str(PORT)])):
        sh(nsx(c, "iptables", "-A", chain, "-p", "tcp", *match, "-j", "NFQUEUE", "--queue-num", "9", "--queue-bypass"))
    plan = {"drop_every": 25, "drop_at": 7, "hold_every": 25, "hold_at": 19, "hold_s": 0.005, "answer_delay_s": 0.02}
    nfq = start_nfq(c, "findings_loss.py", dict(plan, queue=9, server=sa, timeout=30, log=qlog), name)
    n0 = nstats(c, s)
    cap = Capture(s, sif, path, snaplen=128)  # headers only: the payload proves nothing here
    srv = Bg(s, "line_sink_server", addr=sa, port=PORT, timeout=30)
    cev = run_sock(c, "trickle", dst=sa, port=PORT, secs=1.5, every=0.002, size=1000)
    sev = srv.join()
    time.sleep(0.3)
    cap.stop()
    n1 = nstats(c, s)
    nerr = stop_nfq(nfq)
    acts = [json.loads(l) for l in open(qlog)]
    os.unlink(qlog)
    ns_del(c, s)
    pk = packets(path)
    incs = incarnations(pk)

    def frames_of(flt):
        out = sh(["tshark", "-n", "-r", path, "-Y", flt, "-T", "fields", "-e", "frame.number"])
        return [int(x) for x in out.split()]

    held = {a["seq"] for a in acts if a["action"] == "hold"}
    held_frames = [p["frame"] for p in pk if p["seq"] in held and p["len"] > 0 and p["src"].split(":")[0] == ca]
    j = base(name, cap_file,
             "One connection: the client writes 1000 bytes every 2 ms for 1.5 s. In the client namespace an NFQUEUE "
             "program (findings_loss.py) drops the first transmission of every 25th new data segment, holds another "
             "one in 25 for 5 ms so that it arrives after the next two, and holds every packet from the server "
             "for 20 ms (a 20 ms round trip). The capture is taken at the server: a dropped segment appears only as "
             "its retransmission, filling a gap a round trip later; a held one fills its gap 5 ms late with its "
             "original TSval, older than the newer segments': the server's PAWS drops it unless it is within one "
             "tick, and the client sends it again when the SACKs say so.",
             "Ethernet (veth), pcap, microsecond, snapshot length 128; capture in the server namespace on %s; client: iptables OUTPUT and "
             "INPUT to NFQUEUE 9 (findings_loss.py %s); Linux defaults both ends" % (sif, json.dumps(plan)))
    ooo = frames_of("tcp.analysis.out_of_order")
    j["connections"] = conn_rows(incs)
    # a held segment arrives with a TSval older than the newer segments' (TS.Recent): a PAWS violation,
    # which Linux drops unless it is within one tick (the server's PAWSEstab counts the drops)
    j["expect"] = [{"kind": "paws-violation", "frames": ooo[:1], "facts": {"direction": "c2s"}}] if ooo else []
    j["none"] = none_but("paws-violation")
    j["nstat"] = nstat_deltas(n0, n1)
    j["events"] = {"client": cev, "server": sev}
    j["check"] = {"dropped": [a for a in acts if a["action"] == "drop"],
                  "held": [a for a in acts if a["action"] == "hold"],
                  "held_frames": held_frames,
                  "tshark_retransmission_frames": frames_of("tcp.analysis.retransmission || tcp.analysis.fast_retransmission"),
                  "tshark_out_of_order_frames": ooo,
                  "client_TcpRetransSegs": j["nstat"][c].get("TcpRetransSegs", 0),
                  "server_TcpExtPAWSEstab": j["nstat"][s].get("TcpExtPAWSEstab", 0)}
    if nerr:
        j["nfq_stderr"] = nerr[-1000:]
    write_json(name, j)
    return j


SCENARIOS = {
    "reuse-server-tw": lambda: s_reuse_server_tw(False),
    "reuse-server-tw-late": lambda: s_reuse_server_tw(True),
    "reuse-client-tw-bind": s_reuse_client_tw_bind,
    "reuse-client-tw-kernel": s_reuse_client_tw_kernel,
    "reuse-refused": s_reuse_refused,
    "port-exhaustion": lambda: s_port_exhaustion(False),
    "port-exhaustion-server-closes": lambda: s_port_exhaustion(True),
    "abortive-close": s_abortive,
    "paws-delayed": s_paws,
    "lost-last-ack-reuse": s_lost_last_ack,
    "nat-kernel-default": lambda: s_nat(False),
    "nat-hosts": lambda: s_nat(True),
    "syn-drops": s_syn_drops,
    "synack-lost": s_synack_lost,
    "retrans-loss": s_retrans_loss,
}
BACKGROUND = {"reuse-server-tw-late"}  # long waits, run in a thread beside the others


def main(names):
    os.makedirs(OUT, exist_ok=True)
    names = names or list(SCENARIOS)
    results = {}

    def run(n):
        try:
            SCENARIOS[n]()
            results[n] = "ok"
        except Exception:
            results[n] = "FAILED"
            traceback.print_exc()
        print("[findings] %s: %s" % (n, results[n]), flush=True)

    threads = []
    for n in names:
        if n in BACKGROUND:
            t = threading.Thread(target=run, args=(n,))
            t.start()
            threads.append(t)
    for n in names:
        if n not in BACKGROUND:
            run(n)
    for t in threads:
        t.join(timeout=300)
    import findings_readme
    findings_readme.main()
    return 0 if all(v == "ok" for v in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
