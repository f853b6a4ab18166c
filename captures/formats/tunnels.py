#!/usr/bin/python3
"""Re-encapsulates the inner Ethernet frames of a real VXLAN capture (vxlan.pcap, made by the
Linux kernel in make-tunnels.sh) in the tunnels this kernel cannot make (no gre, geneve, erspan or
mpls modules): the inner frames and their timestamps are the kernel's, only the outer headers are
written here (scapy). One file per encapsulation, each checked against tshark by the tests.

usage: tunnels.py vxlan.pcap   -> tunnel-gre.pcap, tunnel-gre6-teb.pcap, tunnel-erspan2.pcap,
                                  tunnel-erspan3.pcap, tunnel-geneve.pcap, tunnel-mpls.pcap
"""
import struct, sys
from scapy.all import rdpcap, wrpcap, Ether, IP, IPv6, UDP, Raw

MAC_A, MAC_B = '02:00:00:00:0a:01', '02:00:00:00:0a:02'
V4 = ('192.0.2.1', '192.0.2.2')
V6 = ('2001:db8:ff::1', '2001:db8:ff::2')


def inner_frames(path):
    """(time, inner Ethernet bytes, from side A?) for every VXLAN packet"""
    out = []
    for p in rdpcap(path):
        if UDP not in p or p[UDP].dport not in (4789, 8472):
            continue
        src = p[IP].src if IP in p else p[IPv6].src
        out.append((p.time, bytes(p[UDP].payload)[8:], src in (V4[0], V6[0])))
    return out


def gre(proto, payload, key=None, seq=None):
    flags = (0x2000 if key is not None else 0) | (0x1000 if seq is not None else 0)
    h = struct.pack('!HH', flags, proto)
    if key is not None:
        h += struct.pack('!I', key)
    if seq is not None:
        h += struct.pack('!I', seq)
    return h + payload


def outer4(a, proto, payload):
    s, d = V4 if a else V4[::-1]
    m = (MAC_A, MAC_B) if a else (MAC_B, MAC_A)
    return Ether(src=m[0], dst=m[1]) / IP(src=s, dst=d, proto=proto, ttl=64) / Raw(payload)


def outer6(a, nh, payload):
    s, d = V6 if a else V6[::-1]
    m = (MAC_A, MAC_B) if a else (MAC_B, MAC_A)
    return Ether(src=m[0], dst=m[1]) / IPv6(src=s, dst=d, nh=nh, hlim=64) / Raw(payload)


def ethertype(frame):
    return struct.unpack('!H', frame[12:14])[0]


def write(name, pkts):
    wrpcap(name, [p for _, p in pkts])
    # rdpcap/wrpcap keep the time on the packet object
    print(name, len(pkts))


def main():
    frames = inner_frames(sys.argv[1])
    if not frames:
        raise SystemExit('no VXLAN frames in ' + sys.argv[1])
    out = {k: [] for k in ['gre', 'gre6-teb', 'erspan2', 'erspan3', 'geneve', 'mpls']}
    for i, (t, f, a) in enumerate(frames):
        et, ip = ethertype(f), f[14:]
        is_ip = et in (0x0800, 0x86DD)
        # GRE over IPv4 with key and sequence number, carrying the inner IP packet (ARP and other
        # non-IP frames only in the Ethernet-carrying tunnels)
        if is_ip:
            out['gre'].append((t, outer4(a, 47, gre(et, ip, key=42, seq=i))))
        # GRE over IPv6 carrying the whole Ethernet frame (transparent Ethernet bridging: ip6gretap, NVGRE)
        out['gre6-teb'].append((t, outer6(a, 47, gre(0x6558, f, key=0x4200))))
        # ERSPAN type II: GRE with sequence number, 8-byte header (version 1, VLAN 0, session 7)
        e2 = struct.pack('!HHI', (1 << 12) | 0, 7, 0)
        out['erspan2'].append((t, outer4(a, 47, gre(0x88BE, e2 + f, seq=i))))
        # ERSPAN type III: 12-byte header (version 2, session 9, timestamp, frame type 0 Ethernet,
        # O bit set) and the 8-byte platform subheader it announces
        e3 = struct.pack('!HHIHH', (2 << 12) | 0, 9, (i * 1000) & 0xFFFFFFFF, 0, 0x0001) + bytes(8)
        out['erspan3'].append((t, outer4(a, 47, gre(0x22EB, e3 + f, seq=i))))
        # Geneve (UDP 6081): version 0, one 8-byte option (class 0x0102, type 0x80, 4 bytes of data), VNI 77
        opt = struct.pack('!HBB', 0x0102, 0x80, 1) + b'\x00\x00\x00\x2a'
        gh = struct.pack('!BBH', len(opt) // 4, 0, 0x6558) + struct.pack('!I', 77 << 8)
        s, d = V4 if a else V4[::-1]
        m = (MAC_A, MAC_B) if a else (MAC_B, MAC_A)
        out['geneve'].append((t, Ether(src=m[0], dst=m[1]) / IP(src=s, dst=d, ttl=64) / UDP(sport=50000 + (i % 7), dport=6081) / Raw(gh + opt + f)))
        # MPLS over Ethernet: two labels (the bottom one with S set), then the inner IP packet
        labels = struct.pack('!II', (1000 << 12) | 64, (2000 << 12) | (1 << 8) | 64)
        if is_ip:
            out['mpls'].append((t, Ether(src=m[0], dst=m[1], type=0x8847) / Raw(labels + ip)))
    for k, pkts in out.items():
        for t, p in pkts:
            p.time = t
        write('tunnel-%s.pcap' % k, pkts)


main()
