#!/usr/bin/python3
"""Namespace, capture, nstat and tshark helpers for findings_run.py (captures/findings/)."""
import json
import os
import select
import signal
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "findings"))
PY = "/usr/bin/python3"
SOCK = os.path.join(HERE, "findings_sock.py")

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

# counters always written (even when 0); any other non-zero Tcp*/TcpExt* delta is added too
KEY_COUNTERS = [
    "TcpExtTW", "TcpExtTWRecycled", "TcpExtTWKilled", "TcpExtPAWSActive", "TcpExtPAWSEstab",
    "TcpExtPAWSOldAck", "TcpExtPAWSTimewait", "TcpExtTSEcrRejected", "TcpExtTCPTimeWaitOverflow",
    "TcpExtTCPChallengeACK", "TcpExtTCPSYNChallenge", "TcpExtTCPACKSkippedPAWS",
    "TcpExtTCPACKSkippedTimeWait", "TcpExtTCPACKSkippedChallenge", "TcpExtTCPAbortOnLinger",
    "TcpExtTCPAbortOnClose", "TcpExtTCPAbortOnData", "TcpExtTCPSynRetrans", "TcpAttemptFails", "TcpEstabResets", "TcpOutRsts",
    "TcpActiveOpens", "TcpPassiveOpens", "TcpExtListenOverflows", "TcpExtListenDrops",
]
SKIP_NONZERO = {"TcpInSegs", "TcpOutSegs", "TcpExtTCPHPHits", "TcpExtTCPPureAcks", "TcpExtTCPHPAcks",
                "TcpExtTCPOrigDataSent", "TcpExtTCPDelivered", "TcpExtTCPRcvCoalesce",
                "TcpExtTCPBacklogCoalesce", "TcpExtTCPAutoCorking", "TcpExtTCPToZeroWindowAdv",
                "TcpExtTCPFromZeroWindowAdv", "TcpExtTCPWantZeroWindowAdv", "TcpCurrEstab",
                "TcpRtoAlgorithm", "TcpRtoMin", "TcpRtoMax", "TcpMaxConn", "TcpExtTCPKeepAlive",
                "TcpExtDelayedACKs", "TcpExtTCPDSACKIgnoredNoUndo"}


def sh(cmd, check=True, timeout=60, quiet=False):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError("%s: rc=%d %s" % (" ".join(cmd), r.returncode, r.stderr.strip()))
    return r.stdout


def nsx(ns, *cmd):
    return ["ip", "netns", "exec", ns] + list(cmd)


def ns_add(name):
    assert name.startswith("twf-")
    subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
    sh(["ip", "netns", "add", name])
    sh(["ip", "-n", name, "link", "set", "lo", "up"])


def ns_del(*names):
    for n in names:
        assert n.startswith("twf-")
        subprocess.run(["ip", "netns", "del", n], capture_output=True, timeout=30)


def veth(a_if, a_ns, b_if, b_ns):
    assert a_if.startswith("twf") and b_if.startswith("twf") and len(a_if) <= 15 and len(b_if) <= 15
    sh(["ip", "link", "add", a_if, "type", "veth", "peer", "name", b_if])
    sh(["ip", "link", "set", a_if, "netns", a_ns])
    sh(["ip", "link", "set", b_if, "netns", b_ns])
    sh(["ip", "-n", a_ns, "link", "set", a_if, "up"])
    sh(["ip", "-n", b_ns, "link", "set", b_if, "up"])


def addr(ns, ifn, cidr):
    extra = ["nodad"] if ":" in cidr else []
    sh(["ip", "-n", ns, "addr", "add", cidr, "dev", ifn] + extra)


def route(ns, *args):
    sh(["ip", "-n", ns, "route", "add"] + list(args))


def sysctl(ns, key, val):
    sh(nsx(ns, "sysctl", "-qw", "%s=%s" % (key, val)))


def nstat(ns):
    out = sh(nsx(ns, "nstat", "-asz", "--json"))
    d = json.loads(out)
    res = {}
    for k, v in d.items():
        if isinstance(v, dict):
            res.update(v)
    return res


def nstats(*names):
    """the counters of each namespace, by name"""
    return {n: nstat(n) for n in names}


def nstat_deltas(before, after):
    """per namespace, what changed between two nstats() readings"""
    return {n: nstat_delta(before[n], after[n]) for n in before}


def nstat_delta(before, after):
    res = {}
    for k in KEY_COUNTERS:
        res[k] = after.get(k, 0) - before.get(k, 0)
    for k, v in after.items():
        if k.startswith("Tcp") and k not in res and k not in SKIP_NONZERO:
            dv = v - before.get(k, 0)
            if dv:
                res[k] = dv
    return res


class Capture:
    def __init__(self, ns, iface, path, snaplen=262144, nano=False, filt=None):
        self.path = path
        cmd = nsx(ns, "tcpdump", "-n", "-U", "--immediate-mode", "-i", iface, "-s", str(snaplen), "-w", path)
        if nano:
            cmd += ["--time-stamp-precision=nano"]
        if filt:
            cmd += [filt]
        if os.path.exists(path):
            os.unlink(path)
        self.p = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        t0 = time.time()
        buf = ""
        while time.time() - t0 < 10:
            r, _, _ = select.select([self.p.stderr], [], [], 0.5)
            if r:
                line = self.p.stderr.readline()
                buf += line
                if "listening on" in line:
                    break
        else:
            raise RuntimeError("tcpdump did not start: " + buf)
        time.sleep(0.3)

    def stop(self):
        time.sleep(0.3)
        self.p.send_signal(signal.SIGINT)
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(timeout=5)


def run_sock(ns, fn, timeout=120, **kw):
    r = subprocess.run(nsx(ns, PY, SOCK, fn, json.dumps(kw)), capture_output=True, text=True, timeout=timeout)
    evs = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
    if r.returncode != 0:
        evs.append({"ev": "exit", "rc": r.returncode, "stderr": r.stderr[-2000:]})
    return evs


def start_nfq(ns, script, cfg, name):
    """an NFQUEUE handler program (findings_*.py, nfq.serve) running in a namespace with `cfg`,
    returned once its queue is bound (it creates the ready file <name>.tmp.ready)"""
    ready = os.path.join(OUT, name + ".tmp.ready")
    if os.path.exists(ready):
        os.unlink(ready)
    p = subprocess.Popen(nsx(ns, PY, os.path.join(HERE, script), json.dumps(dict(cfg, ready_file=ready))),
                         stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while not os.path.exists(ready) and time.time() - t0 < 10:
        time.sleep(0.1)
    os.unlink(ready)
    return p


def stop_nfq(p):
    """stop a handler started by start_nfq; what it wrote on stderr"""
    p.terminate()
    try:
        return p.communicate(timeout=10)[1]
    except subprocess.TimeoutExpired:
        p.kill()
        return p.communicate(timeout=5)[1]


class Bg:
    """A findings_sock.py function running in the background in a namespace."""

    def __init__(self, ns, fn, **kw):
        self.p = subprocess.Popen(nsx(ns, PY, SOCK, fn, json.dumps(kw)), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        t0 = time.time()
        self.first = None
        while time.time() - t0 < 10:  # wait for the first event (listening)
            r, _, _ = select.select([self.p.stdout], [], [], 0.5)
            if r:
                self.first = self.p.stdout.readline()
                break

    def join(self, timeout=120):
        try:
            out, err = self.p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            out, err = self.p.communicate(timeout=5)
        lines = ([self.first] if self.first else []) + out.splitlines()
        evs = [json.loads(l) for l in lines if l.startswith("{")]
        if self.p.returncode:
            evs.append({"ev": "exit", "rc": self.p.returncode, "stderr": err[-2000:]})
        return evs


# ---------------------------------------------------------------- tshark
FIELDS = ["frame.number", "frame.time_epoch", "ip.src", "ipv6.src", "tcp.srcport", "ip.dst", "ipv6.dst",
          "tcp.dstport", "tcp.flags", "tcp.seq_raw", "tcp.ack_raw", "tcp.len", "tcp.window_size_value",
          "tcp.options.timestamp.tsval", "tcp.options.timestamp.tsecr", "frame.len", "frame.cap_len"]


def packets(path):
    cmd = ["tshark", "-n", "-r", path, "-Y", "tcp", "-T", "fields", "-E", "separator=|", "-E", "occurrence=f"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = sh(cmd, timeout=120)
    res = []
    for line in out.splitlines():
        v = line.split("|")
        d = dict(zip(FIELDS, v))
        src = d["ip.src"] or d["ipv6.src"]
        dst = d["ip.dst"] or d["ipv6.dst"]
        def ep(a, p):
            return ("[%s]:%s" % (a, p)) if ":" in a else ("%s:%s" % (a, p))
        res.append({
            "frame": int(d["frame.number"]), "t": float(d["frame.time_epoch"]),
            "src": ep(src, d["tcp.srcport"]), "dst": ep(dst, d["tcp.dstport"]),
            "flags": int(d["tcp.flags"], 16), "seq": int(d["tcp.seq_raw"]), "ack": int(d["tcp.ack_raw"] or 0),
            "len": int(d["tcp.len"] or 0),
            "tsval": int(d["tcp.options.timestamp.tsval"]) if d["tcp.options.timestamp.tsval"] else None,
            "tsecr": int(d["tcp.options.timestamp.tsecr"]) if d["tcp.options.timestamp.tsecr"] else None,
        })
    return res


def frame_count(path):
    out = sh(["capinfos", "-M", "-c", "-T", path], check=False)
    return out


def fl(p):
    f = p["flags"]
    return "".join(c for c, b in (("S", SYN), ("F", FIN), ("R", RST), ("P", PSH), (".", ACK)) if f & b)


def serial_lt(a, b):
    """a < b in 32-bit serial arithmetic"""
    d = (a - b) & 0xFFFFFFFF
    return d != 0 and d >= 0x80000000


def serial_diff(a, b):
    d = (a - b) & 0xFFFFFFFF
    return d - (1 << 32) if d >= 0x80000000 else d


def incarnations(pkts):
    """Split packets into connection incarnations: a new one starts on a SYN (no ACK) whose ISN
    differs from the current incarnation's, or after the current one saw FIN or RST."""
    cur = {}
    conns = []
    for p in pkts:
        key = tuple(sorted([p["src"], p["dst"]]))
        c = cur.get(key)
        is_syn = p["flags"] & SYN and not p["flags"] & ACK
        # a SYN repeating the current ISN is a retransmission (even after a RST, e.g. the client's
        # RST answering a TIME-WAIT's ACK in SYN-SENT); any other SYN starts a new incarnation
        if c is None or (is_syn and c["isn"] != p["seq"]):
            c = {"client": p["src"] if is_syn else None, "pkts": [], "isn": p["seq"] if is_syn else None,
                 "closed": False}
            if c["client"] is None:
                c["client"] = p["dst"] if p["flags"] & SYN else p["src"]
            c["server"] = key[0] if key[1] == c["client"] else key[1]
            conns.append(c)
            cur[key] = c
        c["pkts"].append(p)
        if p["flags"] & (FIN | RST):
            c["closed"] = True
    out = []
    for c in conns:
        ps = c["pkts"]
        syn = next((p for p in ps if p["flags"] & SYN and not p["flags"] & ACK), None)
        fins = [p for p in ps if p["flags"] & FIN]
        rsts = [p for p in ps if p["flags"] & RST]
        closer, kind = None, None
        if fins:
            closer = "client" if fins[0]["src"] == c["client"] else "server"
            kind = "fin"
            other = [p for p in fins if p["src"] != fins[0]["src"]]
            if other and not (other[0]["flags"] & ACK and other[0]["ack"] == (fins[0]["seq"] + fins[0]["len"] + 1) & 0xFFFFFFFF):
                closer, kind = "both", "simultaneous"
            if rsts and rsts[0]["t"] > fins[0]["t"]:
                kind = "fin+rst"
        elif rsts:
            closer = "client" if rsts[0]["src"] == c["client"] else "server"
            kind = "rst"
        elif syn and not any(p["src"] != c["client"] for p in ps):
            kind = "unanswered"
        out.append({"client": c["client"], "server": c["server"], "pkts": ps, "first_frame": ps[0]["frame"],
                    "syn_frame": syn["frame"] if syn else None, "active_closer": closer, "close_kind": kind})
    return out


def conn_rows(incs, notes=None):
    rows = []
    for i, c in enumerate(incs):
        rows.append({"client": c["client"], "server": c["server"], "first_frame": c["first_frame"],
                     "syn_frame": c["syn_frame"], "active_closer": c["active_closer"],
                     "close_kind": c["close_kind"], "notes": (notes or {}).get(i, "")})
    return rows


def tw_start(inc):
    """(frame, t, holder) of the active closer's ACK of the peer's FIN (None if not in the capture)."""
    fins = [p for p in inc["pkts"] if p["flags"] & FIN]
    if not fins:
        return None
    first = fins[0]
    peer_fin = next((p for p in fins if p["src"] != first["src"]), None)
    if peer_fin is None:
        return None
    want = (peer_fin["seq"] + peer_fin["len"] + 1) & 0xFFFFFFFF
    for p in inc["pkts"]:
        if p["src"] == first["src"] and p["flags"] & ACK and p["ack"] == want and p["t"] >= peer_fin["t"]:
            return p
    return None


def capture_check(path):
    """tshark's own view of capture gaps: segments it thinks were not captured."""
    out = sh(["tshark", "-n", "-r", path, "-Y", "tcp.analysis.lost_segment || tcp.analysis.ack_lost_segment",
              "-T", "fields", "-e", "frame.number"], timeout=120)
    return [int(x) for x in out.split()]


def write_json(name, obj):
    cap = os.path.join(OUT, obj["capture"])
    if os.path.exists(cap):
        obj["capture_check"] = {"frames": len(sh(["tshark", "-n", "-r", cap, "-T", "fields", "-e", "frame.number"]).split()),
                                "bytes": os.path.getsize(cap),
                                "tshark_lost_or_ack_lost_segment_frames": capture_check(cap)}
    path = os.path.join(OUT, name + ".json")
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    return path
