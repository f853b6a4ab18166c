#!/usr/bin/python3
"""Socket programs for captures/netns/findings.sh, run inside a twf-* network namespace.

Usage: findings_sock.py <function> '<json kwargs>'
Every function prints one JSON event per line on stdout ({"ev": ..., "t": unix time, ...}).
All blocking calls have timeouts; all loops are bounded.
"""
import errno
import json
import select
import socket
import struct
import subprocess
import sys
import threading
import time

SOL_TCP = socket.IPPROTO_TCP
_EV_LOCK = threading.Lock()  # one whole line per event, also from threads


def ev(name, **kw):
    kw = {"ev": name, "t": round(time.time(), 6), **kw}
    with _EV_LOCK:
        print(json.dumps(kw), flush=True)


def fam(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def recv_line(c, limit=1 << 20):
    buf = b""
    while not buf.endswith(b"\n") and len(buf) < limit:
        d = c.recv(65536)
        if not d:
            break
        buf += d
    return buf


def recv_until_eof(c, limit=1 << 31):
    n = 0
    while n < limit:
        d = c.recv(1 << 20)
        if not d:
            break
        n += len(d)
    return n


def recv_exact(c, total):
    n = 0
    while n < total:
        d = c.recv(min(1 << 20, total - n))
        if not d:
            break
        n += len(d)
    return n


def linger0(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


# ---------------------------------------------------------------- server
def _listener(addr, port, backlog):
    s = socket.socket(fam(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(backlog)
    return s


def _serve(c, i, mode="close-first", sink_bytes=0, close_delay=0.0):
    """One accepted connection in one of server()'s modes; events say how it went."""
    try:
        if mode == "sink":
            n = recv_exact(c, sink_bytes)
            ev("sunk", i=i, bytes=n)
            c.sendall(b"OK\n")
        else:
            recv_line(c)
            c.sendall(b"HTTP/1.0 200 OK\r\n\r\nhello\n")
        if mode == "wait-eof":
            recv_until_eof(c)
        elif close_delay:
            time.sleep(close_delay)
        c.close()
        ev("closed", i=i)
    except OSError as e:
        ev("error", i=i, errno=e.errno, msg=str(e))
        c.close()


def server(addr, port, modes=("close-first",), count=1, timeout=30, sink_bytes=0, close_delay=0.0):
    """Accept `count` connections one after another; connection i uses modes[i % len(modes)]:
    close-first: read one request line, answer, close (server is the active closer)
    wait-eof:    read one request line, answer, wait for the client's FIN, close (client closes first)
    sink:        read exactly sink_bytes, answer, close (server closes first)
    """
    s = _listener(addr, port, 512)
    s.settimeout(timeout)
    ev("listening", addr=addr, port=port)
    for i in range(count):
        try:
            c, peer = s.accept()
        except socket.timeout:
            ev("accept-timeout", i=i)
            break
        c.settimeout(timeout)
        mode = modes[i % len(modes)]
        ev("accept", i=i, peer="%s:%d" % (peer[0], peer[1]), mode=mode)
        _serve(c, i, mode, sink_bytes, close_delay)
    s.close()
    ev("done")


# ---------------------------------------------------------------- client pieces
def _connect(dst, port, src=None, sport=None, reuse=False, timeout=10):
    s = socket.socket(fam(dst), socket.SOCK_STREAM)
    if reuse:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if src is not None or sport is not None:
        s.bind((src or "", sport or 0))
    s.settimeout(timeout)
    t0 = time.time()
    try:
        s.connect((dst, port))
    except OSError as e:
        s.close()
        return None, e, time.time() - t0
    return s, None, time.time() - t0


def _session(s, close="client", linger=False, payload=b"GET / HTTP/1.0\r\n\r\n"):
    """Send a request, read the answer; close='client': close right after the answer
    (client is the active closer, unless the server closes first); close='server': wait for EOF."""
    s.sendall(payload)
    if close == "client":
        s.recv(65536)
        if linger:
            linger0(s)
        s.close()
    else:
        recv_until_eof(s)
        s.close()


def connect_retry(dst, port, src=None, sport=None, reuse=False, first_delay=0.0, step=0.25,
                  max_attempts=20, close="client", tag=""):
    """Reconnect (after first_delay) until connect() succeeds, every `step` s, bounded."""
    time.sleep(first_delay)
    for a in range(max_attempts):
        s, err, dt = _connect(dst, port, src, sport, reuse)
        if s is None:
            ev("connect-failed", tag=tag, attempt=a, errno=err.errno,
               err=errno.errorcode.get(err.errno, "?"), connect_s=round(dt, 6))
            time.sleep(step)
            continue
        ev("connected", tag=tag, attempt=a, local="%s:%d" % s.getsockname()[:2], connect_s=round(dt, 6))
        _session(s, close=close)
        ev("session-done", tag=tag)
        return True
    ev("gave-up", tag=tag)
    return False


# ---------------------------------------------------------------- scenarios
def reuse_same_port(dst, port, src, sport, gap, close1="server", close2="server", reuse_retry=False,
                    step=0.25, max_attempts=20):
    """Connection 1 from src:sport, then `gap` seconds later connection 2 from the same port
    (bind + SO_REUSEADDR)."""
    s, err, dt = _connect(dst, port, src, sport, reuse=True)
    if s is None:
        ev("connect-failed", tag="c1", errno=err.errno)
        return
    ev("connected", tag="c1", local="%s:%d" % s.getsockname()[:2], connect_s=round(dt, 6))
    _session(s, close=close1)
    ev("session-done", tag="c1")
    connect_retry(dst, port, src, sport, True, first_delay=gap, step=step,
                  max_attempts=max_attempts if reuse_retry else 1, close=close2, tag="c2")


def kernel_port_reuse(dst, port, n=3, first_delay=0.2, step=0.25, max_attempts=20):
    """n connections with no bind (kernel picks the port), client closes first each time."""
    for k in range(n):
        connect_retry(dst, port, first_delay=first_delay if k else 0.0, step=step,
                      max_attempts=max_attempts, close="client", tag="c%d" % (k + 1))


def bulk_then_reconnect(dst, port, src, sport, nbytes):
    """Connection 1 sends nbytes, server closes first; reconnect at once from the same port."""
    s, err, dt = _connect(dst, port, src, sport, reuse=True)
    ev("connected", tag="c1", local="%s:%d" % s.getsockname()[:2])
    t0 = time.time()
    chunk = b"x" * (1 << 20)
    sent = 0
    while sent < nbytes:
        s.sendall(chunk[: min(len(chunk), nbytes - sent)])
        sent += min(len(chunk), nbytes - sent)
    ev("sent", tag="c1", bytes=sent, secs=round(time.time() - t0, 6))
    recv_until_eof(s)
    s.close()
    ev("session-done", tag="c1")
    s, err, dt = _connect(dst, port, src, sport, reuse=True, timeout=10)
    if s is None:
        ev("connect-failed", tag="c2", errno=err.errno, connect_s=round(dt, 6))
        return
    ev("connected", tag="c2", local="%s:%d" % s.getsockname()[:2], connect_s=round(dt, 6))
    _session(s, close="server")
    ev("session-done", tag="c2")


def lost_last_ack(dst, port, drop_rule, reconnect_after=1.5, step=0.25, max_attempts=20):
    """Client closes first and reconnects (kernel-chosen port) as soon as connect() allows it.
    The last ACK is lost either by findings_lastack.py (drop_rule empty) or by an iptables rule in this
    namespace's OUTPUT chain that is removed immediately before each reconnect attempt (racy)."""
    s, err, dt = _connect(dst, port)
    ev("connected", tag="c1", local="%s:%d" % s.getsockname()[:2])
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    s.recv(65536)
    if drop_rule:
        subprocess.run(["iptables", "-I", "OUTPUT"] + drop_rule, check=True, timeout=10)
        ev("drop-rule-added")
    s.close()
    ev("closed", tag="c1")
    time.sleep(reconnect_after)
    for a in range(max_attempts):
        if drop_rule:
            subprocess.run(["iptables", "-D", "OUTPUT"] + drop_rule, check=True, timeout=10)
        s, err, dt = _connect(dst, port, timeout=10)
        if s is None:
            if drop_rule:
                subprocess.run(["iptables", "-I", "OUTPUT"] + drop_rule, check=True, timeout=10)
            ev("connect-failed", tag="c2", attempt=a, errno=err.errno,
               err=errno.errorcode.get(err.errno, "?"), connect_s=round(dt, 6))
            time.sleep(step)
            continue
        ev("connected", tag="c2", attempt=a, local="%s:%d" % s.getsockname()[:2], connect_s=round(dt, 6))
        _session(s, close="server")
        ev("session-done", tag="c2")
        return
    ev("gave-up", tag="c2")


def burst(dst, port, max_attempts=100, max_secs=5.0, close="client", stop_after_failures=5):
    """Connect as fast as possible (bounded), count successes and EADDRNOTAVAIL failures."""
    t0 = time.time()
    ok = fail = 0
    first_fail = None
    for a in range(max_attempts):
        if time.time() - t0 > max_secs:
            break
        s, err, dt = _connect(dst, port, timeout=5)
        if s is None:
            fail += 1
            if first_fail is None:
                first_fail = {"attempt": a, "t": round(time.time(), 6), "after_s": round(time.time() - t0, 6),
                              "errno": err.errno, "err": errno.errorcode.get(err.errno, "?")}
                ev("first-failure", **first_fail)
            if fail >= stop_after_failures:
                break
            continue
        port_used = s.getsockname()[1]
        _session(s, close=close)
        ok += 1
        ev("ok", attempt=a, port=port_used)
    ev("burst-done", ok=ok, failed=fail, secs=round(time.time() - t0, 6), first_failure=first_fail)


def abortive(dst, port, n=3, gap=0.1):
    for k in range(n):
        s, err, dt = _connect(dst, port)
        ev("connected", tag="c%d" % (k + 1), local="[%s]:%d" % s.getsockname()[:2])
        _session(s, close="client", linger=True)
        ev("reset-close", tag="c%d" % (k + 1))
        time.sleep(gap)


def trickle(dst, port, secs=2.0, every=0.01, size=1000, sport=None, src=None):
    """Send `size` bytes every `every` seconds for `secs` seconds, then wait for the server to close."""
    s, err, dt = _connect(dst, port, src, sport, reuse=sport is not None)
    s.setsockopt(SOL_TCP, socket.TCP_NODELAY, 1)
    ev("connected", local="%s:%d" % s.getsockname()[:2])
    t0 = time.time()
    n = 0
    while time.time() - t0 < secs and n < 100000:
        s.sendall(bytes([65 + n % 26]) * size)
        n += 1
        time.sleep(every)
    s.sendall(b"\n")
    ev("sent", writes=n, bytes=n * size + 1)
    s.shutdown(socket.SHUT_WR)
    recv_until_eof(s)
    s.close()
    ev("session-done")


def line_sink_server(addr, port, timeout=30):
    """Accept one connection, read until EOF, answer with the byte count, close."""
    s = _listener(addr, port, 8)
    s.settimeout(timeout)
    ev("listening")
    c, peer = s.accept()
    c.settimeout(timeout)
    n = recv_until_eof(c)
    ev("received", bytes=n)
    c.sendall(b"%d\n" % n)
    c.close()
    s.close()
    ev("done")


def sequence(dst, port, plan, gap=0.15, close="server", start_delay=0.0):
    """plan: list of [tag, sport] pairs (sport null: kernel's choice); one short connection each, `gap` s apart."""
    time.sleep(start_delay)
    for tag, sport in plan:
        s, err, dt = _connect(dst, port, None, sport, reuse=True)
        if s is None:
            ev("connect-failed", tag=tag, errno=err.errno)
            time.sleep(gap)
            continue
        ev("connected", tag=tag, local="%s:%d" % s.getsockname()[:2])
        _session(s, close=close)
        ev("session-done", tag=tag)
        time.sleep(gap)


# ---------------------------------------------------------------- SYN drops (listen queue full, firewall)
def sleep_until(t, limit=30.0):
    time.sleep(max(0.0, min(limit, t - time.time())))


def listen_queue_server(addr, port, backlog=1, start_at=0.0, first_after=0.5, every=1.5, paced=5, count=6,
                        timeout=40):
    """listen(backlog) and accept nothing until start_at + first_after; then accept one connection every
    `every` s (the first `paced` ones; the rest as they come), `count` in all, bounded by `timeout` s.
    Each: read one request line, answer, close (server closes first)."""
    s = _listener(addr, port, backlog)
    ev("listening", addr=addr, port=port, backlog=backlog)
    deadline = time.time() + timeout
    for i in range(count):
        if i < paced:
            sleep_until(start_at + first_after + i * every, limit=timeout)
        left = deadline - time.time()
        if left <= 0:
            ev("accept-timeout", i=i)
            break
        s.settimeout(left)
        try:
            c, peer = s.accept()
        except socket.timeout:
            ev("accept-timeout", i=i)
            break
        c.settimeout(10)
        ev("accept", i=i, peer="%s:%d" % (peer[0], peer[1]))
        _serve(c, i)
    s.close()
    ev("done")


def _nb_connect(dst, port, timeout=30, syncnt=None):
    """Non-blocking connect, so the local port is known before the handshake ends (and after a failure).
    Returns (socket or None, local port, errno name or None, seconds)."""
    s = socket.socket(fam(dst), socket.SOCK_STREAM)
    if syncnt:
        s.setsockopt(SOL_TCP, socket.TCP_SYNCNT, syncnt)
    s.setblocking(False)
    t0 = time.time()
    rc = s.connect_ex((dst, port))
    lport = s.getsockname()[1]
    if rc == errno.EINPROGRESS:
        _, w, _ = select.select([], [s], [], timeout)
        rc = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) if w else -1
    dt = time.time() - t0
    if rc != 0:
        s.close()
        return None, lport, "timeout(%g s)" % timeout if rc == -1 else errno.errorcode.get(rc, str(rc)), dt
    s.setblocking(True)
    s.settimeout(timeout)
    return s, lport, None, dt


def _syn_drop_conn(tag, dst, port, start, timeout, syncnt):
    sleep_until(start)
    try:
        s, lport, err, dt = _nb_connect(dst, port, timeout, syncnt)
        if s is None:
            ev("connect-failed", tag=tag, port=port, local_port=lport, err=err, connect_s=round(dt, 6))
            return
        ev("connected", tag=tag, port=port, local_port=lport, connect_s=round(dt, 6))
        _session(s, close="server")
        ev("session-done", tag=tag)
    except OSError as e:
        ev("error", tag=tag, errno=e.errno, msg=str(e))


def syn_drop_clients(dst, port, n=5, gap=0.05, start_at=0.0, fw_port=None, syncnt=None, connect_timeout=30,
                     control=True):
    """n connections to port, started `gap` s apart from start_at (one thread each), and, from start_at too,
    one to fw_port; each sends a line and reads until the server closes. connect() is non-blocking with a
    `connect_timeout` s limit; syncnt sets TCP_SYNCNT on the `port` sockets only (fw_port uses the namespace's
    tcp_syn_retries). After all of them: one control connection to port."""
    ct = connect_timeout
    ths = [threading.Thread(target=_syn_drop_conn, args=("c%d" % (k + 1), dst, port, start_at + k * gap, ct, syncnt))
           for k in range(n)]
    if fw_port:
        ths.append(threading.Thread(target=_syn_drop_conn, args=("fw", dst, fw_port, start_at, ct, None)))
    for t in ths:
        t.start()
    for t in ths:
        t.join(ct + 15)
    if control:
        time.sleep(0.2)
        _syn_drop_conn("control", dst, port, 0.0, ct, syncnt)
    ev("clients-done")


if __name__ == "__main__":
    fn = globals()[sys.argv[1]]
    kw = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    fn(**kw)
