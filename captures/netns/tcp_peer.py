#!/usr/bin/python3
"""tcp_peer.py -- scripted TCP client/server (stdlib only) for teardown captures.

  tcp_peer.py server --listen IP:PORT [--conns N] --actions A [--timeout S]
  tcp_peer.py client [--bind IP:PORT] --connect IP:PORT --actions A [--syncnt N]
                     [--timeout S]
  tcp_peer.py httpserver --listen IP:PORT [--conns N] [--timeout S]
  tcp_peer.py httpclient --bind-ip IP --port-base P --connect IP:PORT
                         --plan client,server,rst,... [--gap S]

IPv6 addresses as [addr]:port.  Actions are comma separated and run in order
on the connected socket (the server runs them on each accepted connection):

  send:N     send N bytes            recv:N   read N bytes (or until EOF)
  eof        read until EOF          sleep:S  sleep S seconds
  until:T    sleep until epoch T     shutwr / shutrd   shutdown(SHUT_WR/RD)
  linger0    set SO_LINGER {1,0}     close    close the socket
  expectrst  send 1 byte every 100 ms until ECONNRESET/EPIPE (max 30 tries)
  log:TEXT   print TEXT with a timestamp

TCP_NODELAY is set so each send is one segment.  Everything has a timeout.
Events are logged to stderr with wall-clock timestamps.
"""
import argparse
import socket
import struct
import sys
import threading
import time


def log(*a):
    print("%.6f" % time.time(), *a, file=sys.stderr, flush=True)


def addr(s):
    host, _, port = s.rpartition(":")
    host = host.strip("[]")
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    return fam, (host, int(port))


def run_actions(sock, actions, who):
    for act in [x for x in actions.split(",") if x]:
        name, _, arg = act.partition(":")
        try:
            if name == "send":
                n = int(arg)
                sock.sendall(bytes((0x41 + i % 26) for i in range(n)))
                log(who, "sent", n)
            elif name == "recv":
                want, got = int(arg), 0
                while got < want:
                    d = sock.recv(want - got)
                    if not d:
                        break
                    got += len(d)
                log(who, "received", got)
            elif name == "eof":
                total = 0
                while True:
                    d = sock.recv(65536)
                    if not d:
                        break
                    total += len(d)
                log(who, "EOF after", total)
            elif name == "sleep":
                time.sleep(float(arg))
            elif name == "until":
                time.sleep(max(0.0, float(arg) - time.time()))
            elif name == "shutwr":
                sock.shutdown(socket.SHUT_WR)
                log(who, "shutdown(SHUT_WR)")
            elif name == "shutrd":
                sock.shutdown(socket.SHUT_RD)
                log(who, "shutdown(SHUT_RD)")
            elif name == "cork":
                # queue what follows until close(): data and FIN leave in one segment
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
            elif name == "linger0":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif name == "close":
                sock.close()
                log(who, "close()")
                return
            elif name == "expectrst":
                for _ in range(30):
                    sock.send(b"x")
                    log(who, "sent 1")
                    time.sleep(0.1)
                log(who, "no RST seen")
            elif name == "log":
                log(who, arg)
            else:
                raise SystemExit("unknown action " + act)
        except (ConnectionResetError, BrokenPipeError) as e:
            log(who, "error", type(e).__name__)
            if name != "expectrst":
                pass
            sock.close()
            return
        except socket.timeout:
            log(who, "timeout in", act)
            sock.close()
            return


def server(a):
    fam, sa = addr(a.listen)
    ls = socket.socket(fam, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(sa)
    ls.listen(64)
    ls.settimeout(a.timeout)
    threads = []
    for i in range(a.conns):
        c, peer = ls.accept()
        c.settimeout(a.timeout)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        log("server", "accepted", peer)
        t = threading.Thread(target=a.handler, args=(c, a), daemon=True)
        t.start()
        threads.append(t)
    ls.close()
    for t in threads:
        t.join(a.timeout)


def client(a):
    fam, da = addr(a.connect)
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if a.syncnt:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_SYNCNT, a.syncnt)
    if a.bind:
        s.bind(addr(a.bind)[1])
    s.settimeout(a.timeout)
    t_conn = time.time()
    try:
        s.connect(da)
    except (ConnectionRefusedError, socket.timeout, OSError) as e:
        log("client", "connect failed after %.3f s:" % (time.time() - t_conn), type(e).__name__, e)
        s.close()
        return 0
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    log("client", "connected", s.getsockname())
    run_actions(s, a.actions, "client")
    return 0


def http_handler(c, a):
    req = b""
    try:
        while b"\r\n\r\n" not in req:
            d = c.recv(4096)
            if not d:
                break
            req += d
        mode = "client"
        for line in req.split(b"\r\n"):
            if line.lower().startswith(b"x-close:"):
                mode = line.split(b":", 1)[1].strip().decode()
        body = b"hello from twscope teardown test server\n" * (1 + len(req) % 5)
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Close: %s\r\n\r\n" % (len(body), mode.encode()) + body)
        if mode == "server":
            c.close()
        elif mode == "rst":
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()
        else:
            while c.recv(4096):
                pass
            c.close()
    except OSError as e:
        log("httpserver", "error", e)
        c.close()


def httpclient(a):
    fam, da = addr(a.connect)
    plan = a.plan.split(",")
    for i, mode in enumerate(plan):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((a.bind_ip, a.port_base + i))
        s.settimeout(a.timeout)
        s.connect(da)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(b"GET /item/%d HTTP/1.1\r\nHost: www.example\r\nX-Close: %s\r\n\r\n" % (i, mode.encode()))
        resp = b""
        try:
            while True:
                d = s.recv(4096)
                if not d:
                    break
                resp += d
                if b"\r\n\r\n" in resp:
                    head, body = resp.split(b"\r\n\r\n", 1)
                    ln = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                    if len(body) >= ln:
                        break
            if mode == "client":
                s.close()
            else:
                while s.recv(4096):
                    pass
                s.close()
        except OSError as e:
            log("httpclient", i, mode, type(e).__name__)
            s.close()
        log("httpclient", i, mode, "done")
        time.sleep(a.gap)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("server")
    p.add_argument("--listen", required=True)
    p.add_argument("--conns", type=int, default=1)
    p.add_argument("--actions", default="")
    p.add_argument("--timeout", type=float, default=20)
    p = sub.add_parser("client")
    p.add_argument("--bind")
    p.add_argument("--connect", required=True)
    p.add_argument("--actions", default="")
    p.add_argument("--syncnt", type=int, default=0)
    p.add_argument("--timeout", type=float, default=20)
    p = sub.add_parser("httpserver")
    p.add_argument("--listen", required=True)
    p.add_argument("--conns", type=int, default=1)
    p.add_argument("--timeout", type=float, default=20)
    p = sub.add_parser("httpclient")
    p.add_argument("--bind-ip", required=True)
    p.add_argument("--port-base", type=int, required=True)
    p.add_argument("--connect", required=True)
    p.add_argument("--plan", required=True)
    p.add_argument("--gap", type=float, default=0.05)
    p.add_argument("--timeout", type=float, default=10)
    a = ap.parse_args()
    if a.cmd == "server":
        a.handler = lambda c, a: run_actions(c, a.actions, "server")
        server(a)
    elif a.cmd == "httpserver":
        a.handler = http_handler
        server(a)
    elif a.cmd == "client":
        return client(a)
    else:
        httpclient(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
