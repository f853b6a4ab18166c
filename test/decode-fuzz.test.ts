// The decoder on damaged frames: the real frames of captures/formats (every link type, IPv4 and
// IPv6, VXLAN, Geneve, GRE, ERSPAN, MPLS) with bytes overwritten and cut at random (a seeded,
// repeatable generator). Each frame must end in exactly one outcome counter, never throw, and a
// decoded segment must hold values a TCP header can carry.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PacketDecoder, Segment, type DecodeStats } from '../src/decode/index.ts';
import type { Frame } from '../src/reader/types.ts';
import { collect } from './helpers/collect.ts';
import { formatsDir } from './helpers/env.ts';
import { mulberry32 } from '../src/bench/gen.ts';

/** counters of which each frame increments exactly one (the others count layers or sub-cases) */
const OUTCOMES: (keyof DecodeStats)[] = [
  'tcp', 'udp', 'icmp', 'otherIpProto', 'arp', 'otherEthertype', 'unknownLinkType', 'nonFirstFragment', 'truncated', 'badIpHeader', 'badTcpHeader', 'ipv6ChainTooLong', 'tunnelTooDeep',
];

const FILES = ['lo-eth.pcap', 'any-sll.pcap', 'any-sll2.pcap', 'lo-rawip.pcap', 'multi-if.pcapng', 'vxlan.pcap', 'tunnel-gre.pcap', 'tunnel-gre6-teb.pcap', 'tunnel-erspan2.pcap', 'tunnel-erspan3.pcap', 'tunnel-geneve.pcap', 'tunnel-mpls.pcap'];

describe('decoder on damaged real frames', () => {
  it('every frame ends in one outcome, nothing throws, decoded segments are in range', async () => {
    const frames: { linkType: number; data: Uint8Array }[] = [];
    for (const f of FILES) {
      const c = await collect([path.join(formatsDir, f)], { keepBytes: true });
      for (const r of c.records) frames.push({ linkType: r.linkType, data: r.bytes! });
    }
    expect(frames.length).toBeGreaterThan(400);
    const next = mulberry32(7);
    const d = new PacketDecoder();
    const seg = new Segment();
    let decoded = 0;
    let tried = 0;
    for (let round = 0; round < 40; round++) {
      for (const fr of frames) {
        const b = Uint8Array.from(fr.data);
        // overwrite 1-4 bytes, mostly in the headers (the first 120 bytes)
        const n = 1 + Math.floor(next() * 4);
        for (let k = 0; k < n; k++) b[Math.floor(next() * Math.min(b.length, 120))] = Math.floor(next() * 256);
        // cut one frame in four
        const caplen = next() < 0.25 ? Math.floor(next() * b.length) : b.length;
        const frame: Frame = { frame: 1, fileIndex: 0, tsSec: 1, tsNsec: 0, linkType: fr.linkType, buf: b, off: 0, caplen, origLen: fr.data.length, fileOffset: 0 };
        const before = OUTCOMES.reduce((s, k) => s + (d.stats[k] as number), 0);
        const ok = d.decode(frame, seg);
        tried++;
        expect(OUTCOMES.reduce((s, k) => s + (d.stats[k] as number), 0) - before).toBe(1);
        if (!ok) continue;
        decoded++;
        const vals = [seg.srcPort, seg.dstPort, seg.window];
        expect(vals.every((v) => Number.isInteger(v) && v >= 0 && v <= 0xffff)).toBe(true);
        expect([seg.seq, seg.ack, seg.src0, seg.dst0].every((v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff)).toBe(true);
        expect(Number.isInteger(seg.payloadLen) && seg.payloadLen >= 0).toBe(true);
        expect(seg.flags >= 0 && seg.flags <= 0x1ff).toBe(true);
      }
    }
    expect(d.stats.frames).toBe(tried);
    // most mutations leave a decodable segment; many do not: both paths ran
    expect(decoded).toBeGreaterThan(tried / 4);
    expect(decoded).toBeLessThan(tried);
  });
});
