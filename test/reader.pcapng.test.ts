// pcapng reader: sections and byte orders, interfaces, timestamp resolutions and offsets,
// EPB / SPB / obsolete PB, skipped blocks, damage.
import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { collect } from './helpers/collect.ts';
import { Ng, realRecords, type Rec } from './helpers/craft.ts';
import { formatsDir } from './helpers/env.ts';
import { readCaptures } from '../src/reader/index.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'twr-ng-'));
let n = 0;
function tmp(buf: Uint8Array): string {
  const p = path.join(dir, `f${n++}.pcapng`);
  writeFileSync(p, buf);
  return p;
}

let recs: Rec[];
let pkt: Uint8Array;
beforeAll(async () => {
  recs = await realRecords('lo-eth.pcap');
  pkt = recs[0].data; // a real SYN (Ethernet, IPv4, TCP)
});

describe('pcapng', () => {
  it('reads the editcap-converted capture like the original pcap', async () => {
    const a = await collect([path.join(formatsDir, 'lo-eth.pcap')], { keepBytes: true });
    const b = await collect([path.join(formatsDir, 'lo-eth.pcapng')], { keepBytes: true });
    expect(b.res.files[0].format).toBe('pcapng');
    expect(b.records).toEqual(a.records);
    const g = await collect([path.join(formatsDir, 'lo-eth.pcapng.gz')], { keepBytes: true });
    expect(g.res.files[0].format).toBe('pcapng+gzip');
    expect(g.records).toEqual(a.records);
  });

  it('dumpcap with two interfaces of different link types (lo Ethernet + any Linux SLL)', async () => {
    const c = await collect([path.join(formatsDir, 'multi-if.pcapng')]);
    expect(c.res.files[0].linkTypes.sort((x, y) => x - y)).toEqual([1, 113]);
    const lts = new Set(c.records.map((r) => r.linkType));
    expect([...lts].sort((x, y) => x - y)).toEqual([1, 113]);
    // every TCP segment is seen on both interfaces
    expect(c.tcp.size).toBe(c.records.length);
    expect(c.records.filter((r) => r.linkType === 1).length).toBeGreaterThan(40);
  });

  it('big-endian section, if_tsresol 10^-9 with a 64-bit tick count beyond 2^53, exact to the ns', async () => {
    const ticks = 1_700_000_000_123_456_789n;
    const f = new Ng(true).shb().idb(1, 0, { tsresol: 9 }).epb(0, ticks, pkt).bytes();
    const c = await collect([tmp(f)]);
    expect(c.res.files[0].format).toBe('pcapng');
    expect([c.records[0].tsSec, c.records[0].tsNsec]).toEqual([1700000000, 123456789]);
    expect(c.tcp.get(1)?.dport).toBe(8080);
  });

  it('if_tsresol power of 2 (0x88 = 2^-8 s) and power of 10 (10^-3), default 10^-6', async () => {
    const f = new Ng()
      .shb()
      .idb(1, 0, { tsresol: 0x88 })
      .idb(1, 0, { tsresol: 3 })
      .idb(1, 0)
      .epb(0, 1700000000n * 256n + 3n, pkt) // 3/256 s = 0.01171875 s
      .epb(1, 1700000000123n, pkt)
      .epb(2, 1700000000123456n, pkt)
      .epb(0, (1n << 40n) * 256n + 255n, pkt) // hi word > 2^21: the other arithmetic path
      .bytes();
    const c = await collect([tmp(f)]);
    expect(c.records.map((r) => [r.tsSec, r.tsNsec])).toEqual([
      [1700000000, 11718750],
      [1700000000, 123000000],
      [1700000000, 123456000],
      [2 ** 40, 996093750],
    ]);
  });

  it('unusual resolutions: 2^-30 and 10^-12 (exact BigInt path)', async () => {
    const f = new Ng()
      .shb()
      .idb(1, 0, { tsresol: 0x80 | 30 })
      .idb(1, 0, { tsresol: 12 })
      .epb(0, 1700000000n * (1n << 30n) + (1n << 29n), pkt)
      .epb(1, 10_000_000n * 10n ** 12n + 123456789999n, pkt) // 1e19 ticks: fits 64 bits
      .bytes();
    const c = await collect([tmp(f)]);
    expect(c.records.map((r) => [r.tsSec, r.tsNsec])).toEqual([
      [1700000000, 500000000],
      [10_000_000, 123456789],
    ]);
  });

  it('if_tsoffset adds seconds (also negative)', async () => {
    const f = new Ng().shb().idb(1, 0, { tsoffset: 1_000_000_000n }).idb(1, 0, { tsoffset: -5n }).epb(0, 700000000_000001n, pkt).epb(1, 100_000002n, pkt).bytes();
    const c = await collect([tmp(f)]);
    expect(c.records.map((r) => [r.tsSec, r.tsNsec])).toEqual([
      [1700000000, 1000],
      [95, 2000],
    ]);
  });

  it('several sections, each with its own byte order and its own interface numbering', async () => {
    const s1 = new Ng(false).shb().idb(113).idb(1).epb(1, 1n, pkt).bytes();
    const s2 = new Ng(true).shb().idb(1).epb(0, 2n, pkt).bytes();
    const s3 = new Ng(false).shb().idb(0).idb(1).epb(1, 3n, pkt).epb(0, 4n, Uint8Array.of(2, 0, 0, 0, ...pkt.subarray(14))).bytes();
    const c = await collect([tmp(Buffer.concat([s1, s2, s3]))]);
    expect(c.records.map((r) => r.linkType)).toEqual([1, 1, 1, 0]);
    expect(c.records.map((r) => r.tsNsec)).toEqual([1000, 2000, 3000, 4000]);
    expect(c.tcp.size).toBe(4);
    expect(c.res.files[0].linkTypes.sort()).toEqual([0, 1, 113]);
  });

  it('Simple Packet Blocks use the first interface; caplen = min(original length, block, snaplen)', async () => {
    const f = new Ng().shb().idb(1, 60).spb(pkt.subarray(0, 60), pkt.length).idb(1, 0).bytes();
    const c = await collect([tmp(f)]);
    expect(c.records[0].caplen).toBe(60);
    expect(c.records[0].origLen).toBe(pkt.length);
    expect([c.records[0].tsSec, c.records[0].tsNsec]).toEqual([0, 0]);
    expect(c.tcp.get(1)?.truncated).toBe(true);
  });

  it('obsolete Packet Block (type 2) with a 16-bit interface id', async () => {
    const f = new Ng(true).shb().idb(1).idb(1).pb(1, 1700000000_000005n, pkt).bytes();
    const c = await collect([tmp(f)]);
    expect(c.res.frames).toBe(1);
    expect([c.records[0].tsSec, c.records[0].tsNsec]).toEqual([1700000000, 5000]);
    expect(c.tcp.size).toBe(1);
  });

  it('NRB, ISB, DSB and unknown blocks are skipped; custom blocks take a frame number like Wireshark', async () => {
    const f = new Ng()
      .shb()
      .block(4, Buffer.alloc(8)) // NRB
      .idb(1)
      .block(0x0a, Buffer.alloc(8)) // DSB
      .epb(0, 1n, pkt)
      .block(0x00000bad, Buffer.alloc(8)) // custom (copyable)
      .block(5, Buffer.alloc(12)) // ISB
      .block(0x12345678, Buffer.alloc(4)) // unknown
      .epb(0, 2n, pkt)
      .bytes();
    const c = await collect([tmp(f)]);
    expect(c.records.map((r) => r.frame)).toEqual([1, 3]);
    expect(c.res.frames).toBe(3);
    expect(c.res.files[0].packets).toBe(2);
    expect(c.res.files[0].nonPacketRecords).toBe(1);
  });

  it('SHB versions other than 1.0 are refused', async () => {
    for (const [maj, min] of [
      [1, 1],
      [2, 0],
      [0, 1],
    ]) {
      const c = await collect([tmp(new Ng().shb(maj, min).idb(1).epb(0, 1n, pkt).bytes())]);
      expect(c.res.frames).toBe(0);
      expect(c.res.damage?.message).toContain(`unsupported pcapng section version ${maj}.${min}`);
    }
    // a later section with a bad version: packets before it are kept
    const ok = new Ng().shb().idb(1).epb(0, 1n, pkt).bytes();
    const bad = new Ng().shb(2, 0).idb(1).epb(0, 2n, pkt).bytes();
    const c = await collect([tmp(Buffer.concat([ok, bad]))]);
    expect(c.res.frames).toBe(1);
    expect(c.res.damage?.offset).toBe(ok.length);
  });

  it('chunks read ahead: blocks far larger than a chunk and than the room kept for a straddling record, offsets and damage exact', async () => {
    // small real packets around blocks of 300 KB, 700 KB and 3 MB (pcapng allows them; the
    // reader keeps 256 KB before each chunk for the tail of the previous one, so these take
    // the slow path) with a patterned payload, then a damaged tail
    const sizes = [60, 300_000, 61, 62, 700_000, 63, 3_000_000, 64, 65];
    const data = sizes.map((n, i) => {
      const b = new Uint8Array(n);
      b.set(pkt.subarray(0, Math.min(n, pkt.length)));
      for (let j = pkt.length; j < n; j++) b[j] = (j * 7 + i) & 0xff;
      return b;
    });
    const ng = new Ng().shb().idb(1);
    const offsets: number[] = [];
    let at = ng.bytes().length;
    data.forEach((d, i) => {
      offsets.push(at);
      ng.epb(0, BigInt(i + 1), d);
      at = ng.bytes().length;
    });
    const whole = ng.bytes();
    const damaged = Buffer.concat([whole, new Ng().block(6, Buffer.alloc(40)).bytes().subarray(0, 30)]);
    const file = tmp(damaged);
    for (const chunkSize of [97, 4096, 300_001, undefined]) {
      const seen: { frame: number; off: number; bytes: Uint8Array }[] = [];
      const r = await readCaptures([file], (f) => seen.push({ frame: f.frame, off: f.fileOffset, bytes: f.buf.slice(f.off, f.off + f.caplen) }), { chunkSize });
      expect(seen.map((x) => x.frame)).toEqual(sizes.map((_, i) => i + 1));
      expect(seen.map((x) => x.off)).toEqual(offsets);
      seen.forEach((x, i) => expect(Buffer.from(x.bytes).equals(Buffer.from(data[i]!))).toBe(true));
      expect(r.damage?.offset).toBe(whole.length);
      expect(r.damage?.message).toMatch(/frame 10, byte offset \d+: truncated block/);
      expect(r.files[0]!.bytes).toBe(whole.length);
    }
  });

  it('damage: truncated tail, bad block length, header/trailer mismatch, caplen beyond the block, undefined interface', async () => {
    const good = new Ng().shb().idb(1).epb(0, 1n, pkt).epb(0, 2n, pkt).bytes();
    const cut = await collect([tmp(good.subarray(0, good.length - 6))]);
    expect(cut.res.frames).toBe(1);
    expect(cut.res.damage?.message).toMatch(/frame 2, byte offset \d+: truncated block/);

    const base = new Ng().shb().idb(1).epb(0, 1n, pkt);
    const badLen = await collect([tmp(Buffer.concat([base.bytes(), new Ng().block(6, Buffer.alloc(4), 8).bytes()]))]);
    expect(badLen.res.frames).toBe(1);
    expect(badLen.res.damage?.message).toMatch(/bad block length 8/);

    const mism = await collect([tmp(Buffer.concat([base.bytes(), new Ng().block(6, Buffer.alloc(100), undefined, 40).bytes()]))]);
    expect(mism.res.frames).toBe(1);
    expect(mism.res.damage?.message).toMatch(/block length mismatch: header says 112, trailer says 40/);

    const big = Buffer.from(new Ng().shb().idb(1).epb(0, 1n, pkt).bytes());
    // caplen field of the EPB (after SHB 28 + IDB 20: EPB at 48, caplen at +20)
    big.writeUInt32LE(5000, 48 + 20);
    const capBig = await collect([tmp(big)]);
    expect(capBig.res.frames).toBe(0);
    expect(capBig.res.damage?.message).toMatch(/packet length 5000 runs past/);

    const noIf = await collect([tmp(new Ng().shb().idb(1).epb(3, 1n, pkt).bytes())]);
    expect(noIf.res.damage?.message).toMatch(/undefined interface 3/);

    const garbage = await collect([tmp(Buffer.concat([good, Buffer.from('garbage after the end of a valid file')]))]);
    expect(garbage.res.frames).toBe(2);
    expect(garbage.res.damage).not.toBeNull();
  });
});
