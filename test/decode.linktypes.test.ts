// Decoder: every link type, VLAN stacks, PPPoE, IPv4 options/fragments/TSO, IPv6 extension
// headers and jumbograms, TCP options (good, malformed, cut). Real captures from
// captures/formats plus variants derived from their real frames.
import { describe, it, expect, beforeAll } from 'vitest';
import path from 'node:path';
import { PacketDecoder, Segment, IPV6_MAX_EXT_HEADERS, MAX_NEST } from '../src/decode/index.ts';
import type { Frame } from '../src/reader/types.ts';
import { formatAddr } from '../src/decode/format.ts';
import { collect, type TcpInfo } from './helpers/collect.ts';
import { realRecords, withPppoe, withTags, ipOf, ethFrame, ipv4Packet as ipv4, inVxlan, type Rec } from './helpers/craft.ts';
import { formatsDir, hasTshark } from './helpers/env.ts';
import { compareWithTshark } from './helpers/tshark.ts';

function frameOf(data: Uint8Array, linkType: number, origLen = data.length): Frame {
  return { frame: 1, fileIndex: 0, tsSec: 1, tsNsec: 2, linkType, buf: data, off: 0, caplen: data.length, origLen, fileOffset: 0 };
}

function dec(data: Uint8Array, linkType: number, origLen?: number): { ok: boolean; seg: Segment; d: PacketDecoder } {
  const d = new PacketDecoder();
  const seg = new Segment();
  const ok = d.decode(frameOf(data, linkType, origLen), seg);
  return { ok, seg, d };
}

let recs: Rec[];
let eth: Map<number, TcpInfo>;
let syn4: Uint8Array; // IPv4 SYN with MSS/SACK-perm/TS/WS
let syn6: Uint8Array; // IPv6 SYN
let data4: Uint8Array; // IPv4 data segment
beforeAll(async () => {
  recs = await realRecords('lo-eth.pcap');
  eth = (await collect([path.join(formatsDir, 'lo-eth.pcap')])).tcp;
  const at = (pred: (t: TcpInfo) => boolean): Uint8Array => recs[[...eth.values()].find(pred)!.frame - 1].data;
  syn4 = at((t) => t.ipVersion === 4 && t.flags === 0x02);
  syn6 = at((t) => t.ipVersion === 6 && t.flags === 0x02);
  data4 = at((t) => t.ipVersion === 4 && t.len === 18);
});

describe('real captures of every kind made by tcpdump / dumpcap / editcap', () => {
  const expectSame = async (name: string, lt: number): Promise<void> => {
    const c = await collect([path.join(formatsDir, name)]);
    expect(c.records.every((r) => r.linkType === lt)).toBe(true);
    const strip = (t: TcpInfo): Omit<TcpInfo, 'frame'> => {
      const { frame: _f, ...rest } = t;
      void _f;
      return rest;
    };
    // loopback "any" captures see each packet once, like lo
    expect([...c.tcp.values()].map(strip)).toEqual([...eth.values()].map(strip));
  };
  it('Ethernet (tcpdump -i lo): IPv4, IPv6, IPv4 options, IPv6 destination options, refused SYN', () => {
    const segs = [...eth.values()];
    expect(segs.length).toBe(52);
    expect(segs.filter((s) => s.ipVersion === 6).length).toBe(20);
    expect(segs.filter((s) => s.flags === 0x02).length).toBe(6); // 5 connections + 1 refused
    expect(segs.filter((s) => s.flags === 0x14).length).toBe(1); // RST-ACK
    expect(segs.filter((s) => s.len === 18).length).toBe(5); // 5 requests
    expect(segs.filter((s) => s.len === 337).length).toBe(5); // 5 responses
    const syn = segs.find((s) => s.flags === 0x02)!;
    expect(syn.mss).toBe(65495);
    expect(syn.wscale).toBe(10);
    expect(syn.sackPermitted).toBe(true);
    expect(syn.tsval).not.toBeNull();
    expect(syn.src).toBe('127.0.0.1');
    expect(segs.find((s) => s.ipVersion === 6)!.src).toBe('::1');
    // IP options (port 8082) and IPv6 Destination Options (port 8083) still decode fully
    expect(segs.filter((s) => (s.dport === 8082 || s.sport === 8082) && s.len === 18).length).toBe(1);
    expect(segs.filter((s) => (s.dport === 8083 || s.sport === 8083) && s.len === 18).length).toBe(1);
  });
  it('Linux SLL (tcpdump -i any -y LINUX_SLL)', () => expectSame('any-sll.pcap', 113));
  it('Linux SLL2 (tcpdump -i any)', () => expectSame('any-sll2.pcap', 276));
  it('raw IP 101 (editcap -C 14 -T rawip)', () => expectSame('lo-rawip.pcap', 101));
  it('snaplen 80: segments cut, lengths from the IP header, options present decoded', async () => {
    const c = await collect([path.join(formatsDir, 'lo-snap80.pcap')]);
    const segs = [...c.tcp.values()];
    // the IPv6 frames with Destination Options keep only 18 bytes of TCP header: still decoded
    expect(segs.length).toBe(52);
    expect(segs.filter((s) => s.len === 337).every((s) => s.truncated)).toBe(true);
    expect(segs.filter((s) => s.len === 337).length).toBe(5);
    expect(c.decoder.stats.tcpCut).toBeGreaterThan(5);
    // IPv6 SYN at snaplen 80 (14+40+26): the options are cut after MSS+SACK-perm+4 bytes
    const v6syn = segs.find((s) => s.ipVersion === 6 && s.flags === 0x02)!;
    expect(v6syn.truncated).toBe(true);
    expect(v6syn.mss).toBe(65476);
    expect(v6syn.tsval).toBeNull();
  });
  it.skipIf(!hasTshark)('every captures/formats file agrees with tshark field by field', async () => {
    for (const f of ['lo-eth.pcap', 'lo-eth-nano.pcap', 'any-sll.pcap', 'any-sll2.pcap', 'lo-rawip.pcap', 'lo-snap80.pcap', 'lo-eth.pcapng', 'multi-if.pcapng', 'lo-modified.pcap', 'lo-eth.pcap.gz']) {
      const o = await compareWithTshark(path.join(formatsDir, f));
      expect({ f, diffs: o.diffs, frames: o.frames > 0 }).toEqual({ f, diffs: [], frames: true });
      expect(o.tcpFrames).toBe(o.frames);
    }
  });
});

describe('link layers derived from real frames', () => {
  it('VLAN stacks: 802.1Q, 802.1ad + 802.1Q, 0x9100, three tags', () => {
    for (const tags of [[0x8100], [0x88a8, 0x8100], [0x9100, 0x8100], [0x8100, 0x8100, 0x8100]]) {
      const r = dec(withTags(syn4, tags), 1);
      expect(r.ok).toBe(true);
      expect(r.seg.dstPort).toBe(8080);
      expect(r.seg.mss).toBe(65495);
    }
    expect(dec(withTags(syn6, [0x88a8, 0x8100]), 1).seg.ipVersion).toBe(6);
  });
  it('PPPoE session carrying IPv4 and IPv6; the PPPoE length bounds the IP packet', () => {
    expect(dec(withPppoe(syn4), 1).ok).toBe(true);
    expect(dec(withTags(withPppoe(syn6), [0x8100]), 1).seg.ipVersion).toBe(6);
    const padded = Buffer.concat([Buffer.from(withPppoe(data4)), Buffer.alloc(10)]);
    expect(dec(padded, 1).seg.payloadLen).toBe(18);
  });
  it('BSD NULL in either byte order (AF_INET 2; AF_INET6 24, 28, 30) and LOOP (network order)', () => {
    const ip4 = ipOf(syn4);
    const ip6 = ipOf(syn6);
    const hdr = (v: number, be: boolean): Buffer => {
      const b = Buffer.alloc(4);
      if (be) b.writeUInt32BE(v);
      else b.writeUInt32LE(v);
      return b;
    };
    for (const be of [false, true]) {
      expect(dec(Buffer.concat([hdr(2, be), ip4]), 0).ok).toBe(true);
      for (const af of [24, 28, 30]) expect(dec(Buffer.concat([hdr(af, be), ip6]), 0).seg.ipVersion).toBe(6);
    }
    expect(dec(Buffer.concat([hdr(2, true), ip4]), 108).ok).toBe(true);
    expect(dec(Buffer.concat([hdr(24, true), ip6]), 108).ok).toBe(true);
    const other = dec(Buffer.concat([hdr(7, false), ip4]), 0);
    expect(other.ok).toBe(false);
    expect(other.d.stats.otherEthertype).toBe(1);
  });
  it('raw IP aliases 12, 14, 101 (version nibble) and 228 / 229', () => {
    for (const lt of [12, 14, 101]) {
      expect(dec(ipOf(syn4), lt).seg.ipVersion).toBe(4);
      expect(dec(ipOf(syn6), lt).seg.ipVersion).toBe(6);
    }
    expect(dec(ipOf(syn4), 228).ok).toBe(true);
    expect(dec(ipOf(syn6), 229).ok).toBe(true);
  });
  it('unknown link types and non-IP ethertypes are counted', () => {
    const u = dec(syn4, 147);
    expect(u.ok).toBe(false);
    expect(u.d.stats.unknownLinkType).toBe(1);
    const arp = Buffer.from(syn4);
    arp[12] = 0x08;
    arp[13] = 0x06;
    expect(dec(arp, 1).d.stats.arp).toBe(1);
  });
});

describe('IP layer', () => {
  it('IPv4 non-first fragment counted, not decoded; first fragment with MF decodes the TCP header', () => {
    const f = Buffer.from(syn4);
    f[14 + 6] = 0x00;
    f[14 + 7] = 0x10; // offset 16*8
    const r = dec(f, 1);
    expect(r.ok).toBe(false);
    expect(r.d.stats.nonFirstFragment).toBe(1);
    const mf = Buffer.from(syn4);
    mf[14 + 6] = 0x20; // MF, offset 0
    expect(dec(mf, 1).ok).toBe(true);
  });
  it('IPv4 total length 0 (TSO / BIG TCP): payload from the frame length like tshark', () => {
    const big = Buffer.concat([Buffer.from(data4), Buffer.alloc(70000)]);
    big[16] = 0;
    big[17] = 0;
    expect(dec(big, 1).seg.payloadLen).toBe(18 + 70000);
  });
  it('IPv6 jumbo payload (Hop-by-Hop option 0xC2) gives the payload length', () => {
    // rebuild the IPv6 SYN with plen 0 and a HBH header carrying a jumbo option
    const ip = Buffer.from(ipOf(syn6));
    const tcp = ip.subarray(40);
    const hbh = Buffer.from([6, 0, 0xc2, 4, 0, 0, 0, 0]);
    hbh.writeUInt32BE(8 + tcp.length, 4);
    const hdr = Buffer.from(ip.subarray(0, 40));
    hdr.writeUInt16BE(0, 4);
    hdr[6] = 0; // next header: HBH
    const r = dec(Buffer.concat([hdr, hbh, tcp]), 229);
    expect(r.ok).toBe(true);
    expect(r.seg.payloadLen).toBe(0);
    expect(r.seg.mss).toBe(65476);
  });
  it('IPv6 extension header chain is walked and bounded', () => {
    const ip = Buffer.from(ipOf(syn6));
    const tcp = ip.subarray(40);
    const mk = (n: number): Buffer => {
      const exts: Buffer[] = [];
      for (let i = 0; i < n; i++) exts.push(Buffer.from([i === n - 1 ? 6 : 60, 0, 1, 4, 0, 0, 0, 0]));
      const hdr = Buffer.from(ip.subarray(0, 40));
      hdr[6] = 60;
      hdr.writeUInt16BE(8 * n + tcp.length, 4);
      return Buffer.concat([hdr, ...exts, tcp]);
    };
    expect(dec(mk(3), 229).ok).toBe(true);
    expect(dec(mk(IPV6_MAX_EXT_HEADERS), 229).ok).toBe(true);
    const long = dec(mk(IPV6_MAX_EXT_HEADERS + 1), 229);
    expect(long.ok).toBe(false);
    expect(long.d.stats.ipv6ChainTooLong).toBe(1);
  });
  it('bad IP headers are counted', () => {
    const f = Buffer.from(syn4);
    f[14] = 0x43; // IHL 3
    const r = dec(f, 1);
    expect(r.ok).toBe(false);
    expect(r.d.stats.badIpHeader).toBe(1);
  });
});

describe('TCP', () => {
  /** replace the TCP options of the IPv4 SYN (40-byte TCP header) with `opts` (20 bytes) */
  const withOpts = (opts: number[]): Buffer => {
    const f = Buffer.from(syn4);
    const t = 14 + 20;
    expect(f[t + 12] >> 4).toBe(10);
    Buffer.from(opts).copy(f, t + 20);
    return f;
  };
  it('9 flag bits including AE', () => {
    const f = Buffer.from(syn4);
    f[14 + 20 + 12] |= 1;
    f[14 + 20 + 13] = 0xff;
    expect(dec(f, 1).seg.flags).toBe(0x1ff);
  });
  it('SACK blocks, EOL stops the list', () => {
    const r = dec(withOpts([1, 1, 5, 18, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4]), 1);
    expect(r.seg.sackCount).toBe(2);
    expect(Array.from(r.seg.sackBlocks.subarray(0, 4))).toEqual([1, 2, 3, 4]);
    expect(r.seg.mss).toBe(-1);
    const eol = dec(withOpts([0, 2, 4, 5, 180, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), 1);
    expect(eol.seg.mss).toBe(-1);
    expect(eol.seg.optionsMalformed).toBe(false);
  });
  it('malformed option lists are flagged, counted, and keep the options before the fault', () => {
    const zero = dec(withOpts([2, 4, 5, 180, 3, 0, 7, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]), 1);
    expect(zero.ok).toBe(true);
    expect(zero.seg.mss).toBe(1460);
    expect(zero.seg.optionsMalformed).toBe(true);
    expect(zero.d.stats.tcpOptionsMalformed).toBe(1);
    const past = dec(withOpts([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 8, 10, 0, 0]), 1);
    expect(past.seg.optionsMalformed).toBe(true);
    expect(past.seg.hasTs).toBe(false);
    const unknown = dec(withOpts([254, 6, 0xf9, 0x89, 0, 0, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9, 1, 1, 1, 0]), 1);
    expect([unknown.seg.hasTs, unknown.seg.tsval, unknown.seg.tsecr, unknown.seg.optionsMalformed]).toEqual([true, 7, 9, false]);
  });
  it('cut inside the options: decodes those present, marks truncated; cut before the fixed header: not a segment', () => {
    const cut = syn4.subarray(0, 14 + 20 + 20 + 8); // MSS + SACK-perm + 2 bytes of TS
    const r = dec(cut, 1, syn4.length);
    expect(r.ok).toBe(true);
    expect(r.seg.truncated).toBe(true);
    expect(r.seg.mss).toBe(65495);
    expect(r.seg.hasTs).toBe(false);
    const short = dec(syn4.subarray(0, 14 + 20 + 18), 1, syn4.length); // no urgent pointer: still a segment (tshark too)
    expect([short.ok, short.seg.truncated, short.seg.flags, short.seg.mss]).toEqual([true, true, 2, -1]);
    const tiny = dec(syn4.subarray(0, 14 + 20 + 15), 1, syn4.length);
    expect(tiny.ok).toBe(false);
    expect(tiny.d.stats.truncated).toBe(1);
  });
  it('data offset < 5 is a bad TCP header', () => {
    const f = Buffer.from(syn4);
    f[14 + 20 + 12] = 0x40;
    const r = dec(f, 1);
    expect(r.ok).toBe(false);
    expect(r.d.stats.badTcpHeader).toBe(1);
  });
});

// captures/formats/vxlan.pcap: Linux's own VXLAN (VNI 42 on port 4789 over IPv4, VNI 43 on
// Linux's default port 8472 over IPv6, carrying IPv4 and IPv6); tunnel-*.pcap: the same inner
// frames re-encapsulated by captures/formats/tunnels.py in what this kernel cannot make
const TUNNELS = ['vxlan.pcap', 'tunnel-gre.pcap', 'tunnel-gre6-teb.pcap', 'tunnel-erspan2.pcap', 'tunnel-erspan3.pcap', 'tunnel-geneve.pcap', 'tunnel-mpls.pcap'];
describe('tunnels: the TCP inside VXLAN, Geneve, GRE (IP, Ethernet, ERSPAN II/III), MPLS', () => {
  it('every encapsulation gives the same 30 inner TCP segments of the 3 overlay connections', async () => {
    const ref = await collect([path.join(formatsDir, 'vxlan.pcap')]);
    const key = (t: TcpInfo): string => `${t.src}:${t.sport}>${t.dst}:${t.dport} ${t.flags} ${t.seq} ${t.ack} ${t.len} ${t.tsval}`;
    const want = [...ref.tcp.values()].map(key);
    expect(want.length).toBe(30);
    expect(new Set([...ref.tcp.values()].map((t) => `${t.dst}:${t.dport}`).filter((e) => /:808[012]$/.test(e)))).toEqual(new Set(['198.51.100.2:8080', '203.0.113.2:8081', '2001:db8:43::2:8082']));
    for (const f of TUNNELS) {
      const c = await collect([path.join(formatsDir, f)]);
      expect({ f, segs: [...c.tcp.values()].map(key) }).toEqual({ f, segs: want });
      // every frame went through one encapsulation (the MPLS label stack is one)
      expect({ f, tunnels: c.decoder.stats.tunnels, deep: c.decoder.stats.tunnelTooDeep }).toEqual({ f, tunnels: c.res.frames, deep: 0 });
    }
  });
  it.skipIf(!hasTshark)('agree with tshark field by field (port 8472 decoded as VXLAN, as tshark -d does)', async () => {
    for (const f of TUNNELS) {
      const o = await compareWithTshark(path.join(formatsDir, f), ['-d', 'udp.port==8472,vxlan']);
      expect({ f, diffs: o.diffs, tcp: o.tcpFrames }).toEqual({ f, diffs: [], tcp: 30 });
    }
  });

  it('IP in IP (4 in 4, 6 in 4) is followed; nesting stops after MAX_NEST encapsulations, counted', () => {
    const v4in4 = dec(ethFrame(0x0800, ipv4(4, ipOf(syn4))), 1);
    expect([v4in4.ok, v4in4.seg.dstPort, v4in4.d.stats.tunnels]).toEqual([true, 8080, 1]);
    expect(dec(ethFrame(0x0800, ipv4(41, ipOf(syn6))), 1).seg.ipVersion).toBe(6);
    let p: Buffer = Buffer.from(ipOf(syn4));
    for (let i = 0; i < MAX_NEST; i++) p = ipv4(4, p);
    expect(dec(ethFrame(0x0800, p), 1).ok).toBe(true);
    const deep = dec(ethFrame(0x0800, ipv4(4, p)), 1);
    expect([deep.ok, deep.d.stats.tunnelTooDeep]).toEqual([false, 1]);
    // VXLAN in VXLAN counts each level too
    let v: Buffer = Buffer.from(syn4);
    for (let i = 0; i < MAX_NEST; i++) v = inVxlan(v);
    expect(dec(v, 1).ok).toBe(true);
    expect(dec(inVxlan(v), 1).d.stats.tunnelTooDeep).toBe(1);
  });
  it('UDP to the VXLAN ports without the VNI flag, GRE version 1 (PPTP), ERSPAN III of IP frames and MPLS over non-IP are not followed', () => {
    const noFlag = dec(inVxlan(syn4, 8472, 0x00), 1);
    expect([noFlag.ok, noFlag.d.stats.udp, noFlag.d.stats.tunnels]).toEqual([false, 1, 0]);
    const pptp = dec(ethFrame(0x0800, ipv4(47, Buffer.concat([Buffer.from([0x30, 0x01, 0x88, 0x0b]), Buffer.alloc(8), ipOf(syn4)]))), 1);
    expect([pptp.ok, pptp.d.stats.otherIpProto]).toEqual([false, 1]);
    const e3 = Buffer.alloc(12);
    e3[10] = 2 << 2; // frame type 2: IP
    const erspanIp = dec(ethFrame(0x0800, ipv4(47, Buffer.concat([Buffer.from([0x10, 0, 0x22, 0xeb, 0, 0, 0, 1]), e3, ipOf(syn4)]))), 1);
    expect([erspanIp.ok, erspanIp.d.stats.otherEthertype]).toEqual([false, 1]);
    const mplsArp = dec(ethFrame(0x8847, Buffer.concat([Buffer.from([0, 0x3e, 0x81, 64]), Buffer.alloc(28)])), 1);
    expect([mplsArp.ok, mplsArp.d.stats.otherEthertype]).toEqual([false, 1]);
    // and a label stack without its bottom within MAX_TAGS labels
    const endless = dec(ethFrame(0x8847, Buffer.concat([Buffer.alloc(4 * 9, 0), ipOf(syn4)])), 1);
    expect(endless.ok).toBe(false);
  });
});

describe('formatAddr', () => {
  it('IPv4 dotted and IPv6 RFC 5952 like tshark', () => {
    expect(formatAddr(4, 0xc0000201, 0, 0, 0)).toBe('192.0.2.1');
    expect(formatAddr(4, 0xffffffff, 0, 0, 0)).toBe('255.255.255.255');
    expect(formatAddr(6, 0, 0, 0, 1)).toBe('::1');
    expect(formatAddr(6, 0, 0, 0, 0)).toBe('::');
    expect(formatAddr(6, 0x20010db8, 0, 0, 1)).toBe('2001:db8::1');
    expect(formatAddr(6, 0x20010db8, 0, 1, 0)).toBe('2001:db8::1:0:0');
    expect(formatAddr(6, 0x20010db8, 0x00000001, 0x00010001, 0x00010001)).toBe('2001:db8:0:1:1:1:1:1'); // single 0 group not compressed
    expect(formatAddr(6, 0x20010000, 0x00000001, 0, 0x00000001)).toBe('2001:0:0:1::1'); // longest run wins
    expect(formatAddr(6, 0x20010db8, 0, 0x00010000, 0x00000001)).toBe('2001:db8::1:0:0:1'); // tie: first run
    expect(formatAddr(6, 0xfe800000, 0, 0x02aabbff, 0xfecc0001)).toBe('fe80::2aa:bbff:fecc:1');
    expect(formatAddr(6, 0, 0, 0xffff, 0xc0000201)).toBe('::ffff:192.0.2.1');
  });
});
