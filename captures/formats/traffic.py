#!/usr/bin/env python3
"""Small deterministic TCP exchanges for captures/formats (run inside a twr- network namespace).
usage: traffic.py lo   -> on loopback: 2 IPv4 connections (port 8080), 1 IPv6 (8081), 1 IPv4 with
                         IP options (8082, IHL 6), 1 IPv6 with a Destination Options header (8083),
                         1 refused SYN (port 9). Each connection: handshake, 18-byte request,
                         337-byte response, server closes first.
"""
import socket, sys, threading, time

def server(family, addr, port, ready, count=1):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port)); s.listen(8); ready.set()
    for _ in range(count):
        c, _ = s.accept()
        data = c.recv(4096)
        c.sendall(b'HTTP/1.0 200 OK\r\n\r\n' + b'x' * 300 + data)
        c.close()
    s.close()

def client(family, addr, port, setup=None, payload=b'GET / HTTP/1.0\r\n\r\n'):
    c = socket.socket(family, socket.SOCK_STREAM)
    if setup: setup(c)
    c.connect((addr, port)); c.sendall(payload)
    while c.recv(4096): pass
    c.close()

def pair(family, addr, port, setup=None, count=1):
    ready = threading.Event()
    t = threading.Thread(target=server, args=(family, addr, port, ready, count)); t.start(); ready.wait()
    for _ in range(count):
        client(family, addr, port, setup); time.sleep(0.05)
    t.join()

def ipopts(c):
    c.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS, b'\x01\x01\x01\x00')  # NOP NOP NOP EOL: IHL 6

def dstopts(c):
    # Destination Options header with one PadN option (8 bytes), sticky on the socket
    c.setsockopt(socket.IPPROTO_IPV6, 59 if not hasattr(socket, 'IPV6_DSTOPTS') else socket.IPV6_DSTOPTS, bytes([0, 0, 1, 4, 0, 0, 0, 0]))

mode = sys.argv[1]
if mode == 'lo':
    pair(socket.AF_INET, '127.0.0.1', 8080, count=2)
    pair(socket.AF_INET6, '::1', 8081)
    pair(socket.AF_INET, '127.0.0.1', 8082, setup=ipopts)
    try:
        pair(socket.AF_INET6, '::1', 8083, setup=dstopts)
    except OSError as e:
        print('dstopts not available:', e, file=sys.stderr)
    try:
        client(socket.AF_INET, '127.0.0.1', 9)  # refused: SYN, RST-ACK
    except OSError:
        pass
