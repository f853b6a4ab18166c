#!/usr/bin/python3
"""nfq.py -- a small NFQUEUE library and CLI (ctypes over libnetfilter_queue.so.1).

Run it inside a network namespace (as root), with the Debian python3 that has
scapy:   ip netns exec NS /usr/bin/python3 captures/netns/nfq.py ...

Library API
-----------
    from nfq import run_queue, Verdict

    def handler(pkt: bytes, index: int) -> Verdict:
        # pkt: the packet from the IP header on (IPv4 or IPv6); index: 0,1,2...
        return Verdict.accept()

    run_queue(queue_num, handler, max_packets=None, timeout=None,
              on_ready=None, family_v6=True)

Verdicts (class Verdict):
    Verdict.accept()               let the packet go on
    Verdict.drop()                 drop it
    Verdict.modify(new_bytes)      accept with replaced bytes (the caller
                                   recomputes checksums; see rewrite() below)
    Verdict.delay(seconds, new_bytes=None)
                                   hold the packet and accept it later; the
                                   queue keeps flowing meanwhile.  Held packets
                                   are released by due time, ties in arrival
                                   order (a heap of (due, seq)); verdicts are
                                   issued from the same single-threaded loop
                                   (select() with the next due time as timeout).
    Verdict.duplicate(after_seconds)
                                   accept now and re-inject a copy after
                                   after_seconds with a raw socket (copy is
                                   marked with SO_MARK 0x7477 so rules can skip
                                   it: `-m mark ! --mark 0x7477`; the CLI adds
                                   that to its rules).  The copy leaves through
                                   the OUTPUT path of this namespace.

run_queue returns when max_packets packets have been handled (after releasing
every held packet) or when timeout seconds have passed (held packets are
released at once then).  Everything is bounded.

Helper: rewrite(pkt_bytes, fn) -> bytes parses with scapy, calls fn(scapy_pkt)
to modify it, deletes checksums/lengths and rebuilds.

CLI
---
    nfq.py --queue N [--rule 'CHAIN IPTABLES-MATCH...']... [--ip6]
           --match EXPR [--arm EXPR] [--count K] [--window A:B]
           --action accept|drop|delay:MS|dup:MS
           [--timeout S] [--max-packets N] [--ready-file F] [--log F]

  --rule   installs `iptables -I CHAIN <match> -m mark ! --mark 0x7477
           -j NFQUEUE --queue-num N --queue-bypass` (ip6tables with --ip6;
           give --rule twice with --ip6 and --ip4-too for both) and removes it
           on exit.
  --match  which queued packets the action applies to; all terms must hold:
             sport=P dport=P port=P(either) src=IP dst=IP
             flags=FA (exact TCP flag set, letters FSRPAUEC; "A" = pure ACK)
             has=F (all these flags set)  not=R (none of these set)
             len=0 | len>0 (TCP payload length)
  --arm    act only after a packet matching EXPR has passed (e.g. the peer's
           FIN); the arming packet itself is not acted on unless it matches
           --match after arming.
  --count  act on at most K matching packets (default: unlimited)
  --window A:B  act only on matches A..B seconds after arming (or start)
  --action accept | drop | delay:MS | dup:MS
Non-matching packets are accepted immediately.  One line per queued packet is
logged (time since start, index, summary, verdict) to --log or stderr.

Examples
  # drop the first 3 pure ACKs from port 40009 after port 8009 sent a FIN
  nfq.py --queue 1 --rule 'FORWARD -p tcp -m multiport --ports 8009' \\
         --match 'sport=40009 flags=A len=0' --arm 'sport=8009 has=F' \\
         --count 3 --action drop --timeout 20
  # delay every FIN by 200 ms
  nfq.py --queue 2 --rule 'FORWARD -p tcp' --match 'has=F' --action delay:200
"""
import argparse
import ctypes
import ctypes.util
import errno
import heapq
import json
import os
import select
import shlex
import socket
import subprocess
import sys
import time

NF_DROP, NF_ACCEPT = 0, 1
NFQNL_COPY_PACKET = 2
DUP_MARK = 0x7477

_lib = None


def _load():
    global _lib
    if _lib is not None:
        return _lib
    lib = ctypes.CDLL("libnetfilter_queue.so.1", use_errno=True)
    lib.nfq_open.restype = ctypes.c_void_p
    lib.nfq_close.argtypes = [ctypes.c_void_p]
    lib.nfq_bind_pf.argtypes = [ctypes.c_void_p, ctypes.c_uint16]
    lib.nfq_unbind_pf.argtypes = [ctypes.c_void_p, ctypes.c_uint16]
    lib.nfq_create_queue.restype = ctypes.c_void_p
    lib.nfq_create_queue.argtypes = [ctypes.c_void_p, ctypes.c_uint16, ctypes.c_void_p, ctypes.c_void_p]
    lib.nfq_destroy_queue.argtypes = [ctypes.c_void_p]
    lib.nfq_set_mode.argtypes = [ctypes.c_void_p, ctypes.c_uint8, ctypes.c_uint32]
    lib.nfq_set_queue_maxlen.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.nfq_fd.argtypes = [ctypes.c_void_p]
    lib.nfq_handle_packet.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    lib.nfq_get_msg_packet_hdr.restype = ctypes.c_void_p
    lib.nfq_get_msg_packet_hdr.argtypes = [ctypes.c_void_p]
    lib.nfq_get_payload.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.POINTER(ctypes.c_ubyte))]
    lib.nfq_set_verdict.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32,
                                    ctypes.c_uint32, ctypes.c_char_p]
    _lib = lib
    return lib


CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)


class Verdict:
    ACCEPT, DROP, MODIFY, DELAY, DUPLICATE = "accept", "drop", "modify", "delay", "duplicate"

    def __init__(self, kind, data=None, seconds=0.0):
        self.kind, self.data, self.seconds = kind, data, seconds

    @classmethod
    def accept(cls):
        return cls(cls.ACCEPT)

    @classmethod
    def drop(cls):
        return cls(cls.DROP)

    @classmethod
    def modify(cls, data):
        return cls(cls.MODIFY, data=bytes(data))

    @classmethod
    def delay(cls, seconds, new_bytes=None):
        return cls(cls.DELAY, data=None if new_bytes is None else bytes(new_bytes), seconds=float(seconds))

    @classmethod
    def duplicate(cls, after_seconds):
        return cls(cls.DUPLICATE, seconds=float(after_seconds))

    def __repr__(self):
        if self.kind in (self.DELAY, self.DUPLICATE):
            return "%s(%.0fms)" % (self.kind, self.seconds * 1000)
        return self.kind


def _reinject(data):
    v6 = (data[0] >> 4) == 6
    if v6:
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
        dst = (socket.inet_ntop(socket.AF_INET6, data[24:40]), 0, 0, 0)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        dst = (socket.inet_ntop(socket.AF_INET, data[16:20]), 0)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, DUP_MARK)
        s.sendto(data, dst)
    finally:
        s.close()


def run_queue(queue_num, handler, max_packets=None, timeout=None, on_ready=None, family_v6=True):
    """Bind NFQUEUE queue_num and call handler(pkt_bytes, index) per packet.

    See the module docstring for the verdicts.  Returns the number of packets
    handled."""
    lib = _load()
    h = lib.nfq_open()
    if not h:
        raise OSError(ctypes.get_errno(), "nfq_open failed")
    for pf in (socket.AF_INET, socket.AF_INET6) if family_v6 else (socket.AF_INET,):
        lib.nfq_unbind_pf(h, pf)   # no-ops on modern kernels, harmless
        lib.nfq_bind_pf(h, pf)
    state = {"n": 0, "seq": 0}
    held = []      # heap of (due, seq, kind, packet_id, data)
    qh_box = [None]

    def cb(qh, nfmsg, nfad, data):
        hdr = lib.nfq_get_msg_packet_hdr(nfad)
        pid = socket.ntohl(ctypes.c_uint32.from_address(hdr).value)
        ptr = ctypes.POINTER(ctypes.c_ubyte)()
        ln = lib.nfq_get_payload(nfad, ctypes.byref(ptr))
        pkt = ctypes.string_at(ptr, ln) if ln > 0 else b""
        idx = state["n"]
        state["n"] += 1
        try:
            v = handler(pkt, idx)
        except Exception as e:  # never wedge the queue on a handler bug
            print("nfq: handler error on packet %d: %r" % (idx, e), file=sys.stderr)
            v = Verdict.accept()
        if v is None:
            v = Verdict.accept()
        if v.kind == Verdict.ACCEPT:
            lib.nfq_set_verdict(qh, pid, NF_ACCEPT, 0, None)
        elif v.kind == Verdict.DROP:
            lib.nfq_set_verdict(qh, pid, NF_DROP, 0, None)
        elif v.kind == Verdict.MODIFY:
            lib.nfq_set_verdict(qh, pid, NF_ACCEPT, len(v.data), v.data)
        elif v.kind == Verdict.DELAY:
            state["seq"] += 1
            heapq.heappush(held, (time.monotonic() + v.seconds, state["seq"], "verdict", pid, v.data))
        elif v.kind == Verdict.DUPLICATE:
            lib.nfq_set_verdict(qh, pid, NF_ACCEPT, 0, None)
            state["seq"] += 1
            heapq.heappush(held, (time.monotonic() + v.seconds, state["seq"], "inject", 0, pkt))
        return 0

    cfunc = CALLBACK(cb)
    qh = lib.nfq_create_queue(h, queue_num, ctypes.cast(cfunc, ctypes.c_void_p), None)
    if not qh:
        lib.nfq_close(h)
        raise OSError(ctypes.get_errno(), "nfq_create_queue(%d) failed (queue in use?)" % queue_num)
    qh_box[0] = qh
    lib.nfq_set_mode(qh, NFQNL_COPY_PACKET, 0xFFFF)
    lib.nfq_set_queue_maxlen(qh, 4096)
    fd = lib.nfq_fd(h)
    sock = socket.socket(fileno=os.dup(fd))
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    except OSError:
        pass

    def release(force=False):
        now = time.monotonic()
        while held and (force or held[0][0] <= now):
            _, _, kind, pid, data = heapq.heappop(held)
            if kind == "verdict":
                if data is None:
                    lib.nfq_set_verdict(qh, pid, NF_ACCEPT, 0, None)
                else:
                    lib.nfq_set_verdict(qh, pid, NF_ACCEPT, len(data), data)
            else:
                try:
                    _reinject(data)
                except OSError as e:
                    print("nfq: reinject failed: %r" % e, file=sys.stderr)

    deadline = None if timeout is None else time.monotonic() + timeout
    if on_ready:
        on_ready()
    buf = ctypes.create_string_buffer(0x20000)
    try:
        while True:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            if max_packets is not None and state["n"] >= max_packets and not held:
                break
            wait = 0.5
            if held:
                wait = min(wait, max(0.0, held[0][0] - now))
            if deadline is not None:
                wait = min(wait, max(0.0, deadline - now))
            r, _, _ = select.select([fd], [], [], wait)
            if r:
                try:
                    n = sock.recv_into(buf)
                except OSError as e:
                    if e.errno == errno.ENOBUFS:
                        print("nfq: ENOBUFS (packets lost by the queue)", file=sys.stderr)
                        continue
                    raise
                lib.nfq_handle_packet(h, buf, n)
            release()
    finally:
        release(force=True)
        lib.nfq_destroy_queue(qh)
        lib.nfq_close(h)
        sock.close()
    return state["n"]


def serve(cfg, handler, queue, timeout=30):
    """run_queue for a handler program configured by JSON (the findings_*.py handlers): cfg's
    "queue" and "timeout" override the defaults, and cfg["ready_file"] is created once the queue
    is bound, which is what the scenario waits for before it starts the traffic"""
    ready = cfg.get("ready_file")
    return run_queue(cfg.get("queue", queue), handler, timeout=cfg.get("timeout", timeout), family_v6=False,
                     on_ready=(lambda: open(ready, "w").close()) if ready else None)


def event_log(path):
    """log(**fields): one JSON line per event in `path`, "t" first (seconds since it was opened)"""
    f = open(path, "w")
    t0 = time.time()

    def log(**kw):
        f.write(json.dumps({"t": round(time.time() - t0, 6), **kw}) + "\n")
        f.flush()
    return log


def rewrite(pkt_bytes, fn):
    """Parse pkt_bytes with scapy, let fn modify the packet, rebuild with fresh
    checksums and lengths, return bytes."""
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    p = IPv6(pkt_bytes) if (pkt_bytes[0] >> 4) == 6 else IP(pkt_bytes)
    fn(p)
    if p.haslayer(IP):
        del p[IP].chksum
        del p[IP].len
    if p.haslayer(IPv6):
        del p[IPv6].plen
    if p.haslayer(TCP):
        del p[TCP].chksum
    if p.haslayer(UDP):
        del p[UDP].chksum
        del p[UDP].len
    return bytes(p)


# ---------------------------------------------------------------- CLI

FLAG_BITS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10, "U": 0x20, "E": 0x40, "C": 0x80}


def _flags(s):
    v = 0
    for ch in s.upper():
        v |= FLAG_BITS[ch]
    return v


def parse_tcp(pkt):
    """Minimal fast parser: returns dict(src,dst,sport,dport,flags,plen,seq,ack) or None."""
    ver = pkt[0] >> 4
    if ver == 4:
        ihl = (pkt[0] & 0x0F) * 4
        if pkt[9] != 6:
            return None
        src, dst = socket.inet_ntop(socket.AF_INET, pkt[12:16]), socket.inet_ntop(socket.AF_INET, pkt[16:20])
        tot = int.from_bytes(pkt[2:4], "big")
        t = pkt[ihl:]
        iplen = tot - ihl
    elif ver == 6:
        if pkt[6] != 6:   # no extension headers in our scenarios
            return None
        src, dst = socket.inet_ntop(socket.AF_INET6, pkt[8:24]), socket.inet_ntop(socket.AF_INET6, pkt[24:40])
        t = pkt[40:]
        iplen = int.from_bytes(pkt[4:6], "big")
    else:
        return None
    doff = (t[12] >> 4) * 4
    return {"src": src, "dst": dst, "sport": int.from_bytes(t[0:2], "big"),
            "dport": int.from_bytes(t[2:4], "big"), "flags": t[13], "plen": iplen - doff,
            "seq": int.from_bytes(t[4:8], "big"), "ack": int.from_bytes(t[8:12], "big")}


def compile_expr(expr):
    tests = []
    for term in expr.replace(",", " ").split():
        if term in ("len>0",):
            tests.append(lambda p: p["plen"] > 0)
            continue
        k, _, v = term.partition("=")
        if k == "sport":
            tests.append(lambda p, v=int(v): p["sport"] == v)
        elif k == "dport":
            tests.append(lambda p, v=int(v): p["dport"] == v)
        elif k == "port":
            tests.append(lambda p, v=int(v): v in (p["sport"], p["dport"]))
        elif k == "src":
            tests.append(lambda p, v=v: p["src"] == v)
        elif k == "dst":
            tests.append(lambda p, v=v: p["dst"] == v)
        elif k == "flags":
            tests.append(lambda p, v=_flags(v): p["flags"] == v)
        elif k == "has":
            tests.append(lambda p, v=_flags(v): p["flags"] & v == v)
        elif k == "not":
            tests.append(lambda p, v=_flags(v): p["flags"] & v == 0)
        elif k == "len":
            tests.append(lambda p, v=int(v): p["plen"] == v)
        else:
            raise SystemExit("nfq: bad match term %r" % term)
    return lambda p: p is not None and all(t(p) for t in tests)


def flag_str(f):
    return "".join(ch for ch in "FSRPAUEC" if f & FLAG_BITS[ch]) or "."


def main(argv=None):
    ap = argparse.ArgumentParser(description="NFQUEUE drop/delay/duplicate tool (see module docstring)")
    ap.add_argument("--queue", type=int, required=True)
    ap.add_argument("--rule", action="append", default=[])
    ap.add_argument("--ip6", action="store_true", help="install --rule with ip6tables")
    ap.add_argument("--ip4-too", action="store_true", help="with --ip6: install with iptables as well")
    ap.add_argument("--match", default="")
    ap.add_argument("--arm", default=None)
    ap.add_argument("--count", type=int, default=None)
    ap.add_argument("--window", default=None)
    ap.add_argument("--action", default="accept")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--max-packets", type=int, default=None)
    ap.add_argument("--ready-file", default=None)
    ap.add_argument("--log", default=None)
    a = ap.parse_args(argv)

    match = compile_expr(a.match)
    arm = compile_expr(a.arm) if a.arm else None
    lo, hi = 0.0, float("inf")
    if a.window:
        l, _, h = a.window.partition(":")
        lo, hi = float(l or 0), float(h) if h else float("inf")
    act, _, ms = a.action.partition(":")
    if act not in ("accept", "drop", "delay", "dup"):
        raise SystemExit("nfq: bad action %r" % a.action)
    secs = float(ms or 0) / 1000.0
    log = open(a.log, "a", buffering=1) if a.log else sys.stderr

    tools = (["ip6tables"] + (["iptables"] if a.ip4_too else [])) if a.ip6 else ["iptables"]
    installed = []
    for r in a.rule:
        parts = shlex.split(r)
        spec = parts[1:] + ["-m", "mark", "!", "--mark", hex(DUP_MARK), "-j", "NFQUEUE",
                            "--queue-num", str(a.queue), "--queue-bypass"]
        for tool in tools:
            subprocess.run([tool, "-w", "5", "-I", parts[0]] + spec, check=True, timeout=10)
            installed.append((tool, parts[0], spec))

    import signal
    def _term(signum, frame):
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, _term)
    signal.signal(signal.SIGINT, _term)

    t0 = time.monotonic()
    st = {"armed_at": None if arm else t0, "acted": 0}

    def handler(pkt, idx):
        now = time.monotonic()
        p = parse_tcp(pkt)
        v = Verdict.accept()
        if p is not None and st["armed_at"] is not None and match(p) \
                and (a.count is None or st["acted"] < a.count) \
                and lo <= now - st["armed_at"] <= hi:
            st["acted"] += 1
            v = {"accept": Verdict.accept, "drop": Verdict.drop,
                 "delay": lambda: Verdict.delay(secs), "dup": lambda: Verdict.duplicate(secs)}[act]()
        if st["armed_at"] is None and arm(p):
            st["armed_at"] = now
        if p is not None:
            print("%.6f #%d %s:%d > %s:%d %s seq=%d ack=%d len=%d -> %r" % (
                now - t0, idx, p["src"], p["sport"], p["dst"], p["dport"], flag_str(p["flags"]),
                p["seq"], p["ack"], p["plen"], v), file=log)
        return v

    def ready():
        if a.ready_file:
            with open(a.ready_file, "w") as f:
                f.write("ready\n")
        print("nfq: queue %d ready" % a.queue, file=log)

    try:
        n = run_queue(a.queue, handler, max_packets=a.max_packets, timeout=a.timeout, on_ready=ready)
        print("nfq: done, %d packets, acted on %d" % (n, st["acted"]), file=log)
    finally:
        for tool, chain, spec in installed:
            subprocess.run([tool, "-w", "5", "-D", chain] + spec, timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
