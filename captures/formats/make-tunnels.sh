#!/usr/bin/env bash
# Regenerates the tunnel captures in captures/formats/ (see README.md there): TCP inside VXLAN
# made by the Linux kernel, and the same inner frames re-encapsulated in GRE, ERSPAN, Geneve and
# MPLS by tunnels.py (this kernel has no gre, geneve, erspan or mpls modules).
# Needs root (network namespaces), tcpdump, /usr/bin/python3 with scapy (Debian python3-scapy).
# Two namespaces (twr-vxa, twr-vxb) joined by a veth pair, removed afterwards; addresses only
# from 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 and 2001:db8::/32.
set -euo pipefail
cd "$(dirname "$0")"
T=$(mktemp -d)
cleanup() {
  [ -n "${CAP:-}" ] && kill -INT "$CAP" 2>/dev/null || true
  sleep 0.3
  for ns in twr-vxa twr-vxb; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT

for ns in twr-vxa twr-vxb; do ip netns del "$ns" 2>/dev/null || true; ip netns add "$ns"; ip netns exec "$ns" ip link set lo up; done
ip link add twvxa netns twr-vxa type veth peer name twvxb netns twr-vxb
A="ip netns exec twr-vxa"
B="ip netns exec twr-vxb"
$A ip addr add 192.0.2.1/24 dev twvxa; $A ip addr add 2001:db8:ff::1/64 dev twvxa nodad; $A ip link set twvxa up
$B ip addr add 192.0.2.2/24 dev twvxb; $B ip addr add 2001:db8:ff::2/64 dev twvxb nodad; $B ip link set twvxb up
# VNI 42 on the IANA port over an IPv4 underlay; VNI 43 on Linux's default port 8472 (flannel,
# Cilium) over an IPv6 underlay, carrying IPv4 and IPv6
$A ip link add vx42 type vxlan id 42 dstport 4789 local 192.0.2.1 remote 192.0.2.2 dev twvxa
$B ip link add vx42 type vxlan id 42 dstport 4789 local 192.0.2.2 remote 192.0.2.1 dev twvxb
$A ip link add vx43 type vxlan id 43 dstport 8472 local 2001:db8:ff::1 remote 2001:db8:ff::2 dev twvxa
$B ip link add vx43 type vxlan id 43 dstport 8472 local 2001:db8:ff::2 remote 2001:db8:ff::1 dev twvxb
$A ip addr add 198.51.100.1/24 dev vx42; $B ip addr add 198.51.100.2/24 dev vx42
$A ip addr add 203.0.113.1/24 dev vx43; $B ip addr add 203.0.113.2/24 dev vx43
$A ip addr add 2001:db8:43::1/64 dev vx43 nodad; $B ip addr add 2001:db8:43::2/64 dev vx43 nodad
for ns in twr-vxa twr-vxb; do ip netns exec "$ns" ip link set vx42 up; ip netns exec "$ns" ip link set vx43 up; done
# (ARP and neighbour discovery for the overlay addresses cross the tunnel too: in the capture)

$A tcpdump -U -i twvxa -w "$T/vxlan.pcap" udp 2>/dev/null &
CAP=$!
sleep 1
# one connection per overlay: request, response, the server closes first
$B timeout 20 /usr/bin/python3 - <<'PY' &
import socket, threading
def serve(fam, addr, port):
    s = socket.socket(fam, socket.SOCK_STREAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port)); s.listen(4); c, _ = s.accept(); d = c.recv(4096); c.sendall(b'HTTP/1.0 200 OK\r\n\r\n' + b'x' * 300 + d); c.close(); s.close()
ts = [threading.Thread(target=serve, args=a) for a in [(socket.AF_INET, '198.51.100.2', 8080), (socket.AF_INET, '203.0.113.2', 8081), (socket.AF_INET6, '2001:db8:43::2', 8082)]]
[t.start() for t in ts]; [t.join() for t in ts]
PY
SRV=$!
sleep 0.5
$A timeout 20 /usr/bin/python3 - <<'PY'
import socket, time
for fam, addr, port in [(socket.AF_INET, '198.51.100.2', 8080), (socket.AF_INET, '203.0.113.2', 8081), (socket.AF_INET6, '2001:db8:43::2', 8082)]:
    c = socket.socket(fam, socket.SOCK_STREAM); c.connect((addr, port)); c.sendall(b'GET / HTTP/1.0\r\n\r\n')
    while c.recv(4096): pass
    c.close(); time.sleep(0.1)
PY
wait "$SRV"
sleep 0.5
kill -INT "$CAP"; wait "$CAP" || true; CAP=

cp "$T/vxlan.pcap" vxlan.pcap
/usr/bin/python3 ./tunnels.py vxlan.pcap
chmod 644 vxlan.pcap tunnel-*.pcap
ls -l vxlan.pcap tunnel-*.pcap
