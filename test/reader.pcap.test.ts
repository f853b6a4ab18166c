// Classic pcap reader: byte orders, ns magic, versions, link-type field, timestamps,
// damage, chunk boundaries, gzip, multi-file merge.
import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { readCaptures, CaptureOpenError } from '../src/reader/index.ts';
import { collect } from './helpers/collect.ts';
import { pcapFile, realRecords, type Rec } from './helpers/craft.ts';
import { formatsDir, hasTool } from './helpers/env.ts';
import { generateCapture } from '../src/bench/gen.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'twr-pcap-'));
let n = 0;
function tmp(buf: Uint8Array, name = `f${n++}.pcap`): string {
  const p = path.join(dir, name);
  writeFileSync(p, buf);
  return p;
}

let recs: Rec[];
beforeAll(async () => {
  recs = await realRecords('lo-eth.pcap');
});

describe('classic pcap', () => {
  it('reads the real tcpdump capture: 52 records, link type 1, microsecond', async () => {
    const c = await collect([path.join(formatsDir, 'lo-eth.pcap')]);
    expect(c.res.frames).toBe(52);
    expect(c.res.files[0].format).toBe('pcap');
    expect(c.res.files[0].linkTypes).toEqual([1]);
    expect(c.res.damage).toBeNull();
    expect(c.records.every((r) => r.tsNsec % 1000 === 0)).toBe(true);
    expect(c.records.map((r) => r.frame)).toEqual(Array.from({ length: 52 }, (_, i) => i + 1));
  });

  it('big-endian and little-endian files give the same records', async () => {
    const le = await collect([tmp(pcapFile(recs))], { keepBytes: true });
    const be = await collect([tmp(pcapFile(recs, { be: true }))], { keepBytes: true });
    expect(be.res.files[0].format).toBe('pcap');
    expect(be.records.length).toBe(recs.length);
    expect(be.records).toEqual(le.records);
    expect([...le.tcp.values()]).toEqual([...be.tcp.values()]);
  });

  it('nanosecond magic keeps nanoseconds, in both byte orders', async () => {
    const r = [{ sec: 1700000000, frac: 123456789, data: recs[0].data }];
    for (const be of [false, true]) {
      const c = await collect([tmp(pcapFile(r, { nano: true, be }))]);
      expect(c.res.files[0].format).toBe('pcap-ns');
      expect([c.records[0].tsSec, c.records[0].tsNsec]).toEqual([1700000000, 123456789]);
    }
    const real = await collect([path.join(formatsDir, 'lo-eth-nano.pcap')]);
    expect(real.res.files[0].format).toBe('pcap-ns');
    expect(real.records.some((x) => x.tsNsec % 1000 !== 0)).toBe(true);
  });

  it('version 2.2 has caplen/len swapped; 2.3 swaps only when caplen > len; 2.5 read like tshark; 1.x refused', async () => {
    const r = [{ sec: 1, frac: 0, data: recs[0].data, orig: recs[0].data.length + 100 }];
    const v22 = await collect([tmp(pcapFile(r, { minor: 2, swapLens: true }))]);
    expect([v22.records[0].caplen, v22.records[0].origLen]).toEqual([recs[0].data.length, recs[0].data.length + 100]);
    const v23 = await collect([tmp(pcapFile(r, { minor: 3, swapLens: true }))]);
    expect([v23.records[0].caplen, v23.records[0].origLen]).toEqual([recs[0].data.length, recs[0].data.length + 100]);
    const v23ok = await collect([tmp(pcapFile(r, { minor: 3 }))]);
    expect(v23ok.records[0].caplen).toBe(recs[0].data.length);
    const v25 = await collect([tmp(pcapFile(r, { minor: 5 }))]);
    expect(v25.res.frames).toBe(1);
    const v14 = await collect([tmp(pcapFile(r, { major: 1, minor: 4 }))]);
    expect(v14.res.frames).toBe(0);
    expect(v14.res.damage?.message).toMatch(/unsupported pcap version 1\.4/);
  });

  it('link-type field: low 16 bits are the type, FCS bits ignored, reserved bits refused', async () => {
    const r = [{ sec: 1, frac: 0, data: recs[0].data }];
    const fcs = await collect([tmp(pcapFile(r, { linkField: 0x30000001 }))]);
    expect(fcs.records[0].linkType).toBe(1);
    expect(fcs.tcp.size).toBe(1);
    const bad = await collect([tmp(pcapFile(r, { linkField: 0x00300000 }))]);
    expect(bad.res.frames).toBe(0);
    expect(bad.res.damage?.message).toMatch(/reserved bits/);
    expect(bad.res.damage?.frameNo).toBe(0);
  });

  it('microsecond fractions >= 1e6 are normalised to the value tshark shows (32-bit usec*1000)', async () => {
    const r: Rec[] = [
      { sec: 1418145369, frac: 999999, data: recs[0].data },
      { sec: 1418145370, frac: 1000000, data: recs[0].data },
      { sec: 1418145370, frac: 2147483648, data: recs[0].data },
      { sec: 0xf0000000, frac: 5, data: recs[0].data },
    ];
    const c = await collect([tmp(pcapFile(r))]);
    expect(c.records.map((x) => [x.tsSec, x.tsNsec])).toEqual([
      [1418145369, 999999000],
      [1418145371, 0], // tshark: 1418145370.1000000000
      [1418145370, 0], // 2147483648 * 1000 wraps to 0 in 32 bits
      [(0xf0000000 | 0), 5000], // ts_sec is signed 32-bit (libpcap's pcap_timeval, Wireshark)
    ]);
  });

  it('Kuznetzov modified pcap (24-byte record headers) made by editcap reads like the original', async () => {
    const a = await collect([path.join(formatsDir, 'lo-eth.pcap')], { keepBytes: true });
    const b = await collect([path.join(formatsDir, 'lo-modified.pcap')], { keepBytes: true });
    expect(b.res.files[0].format).toBe('pcap-modified');
    expect(b.records.map((r) => r.bytes)).toEqual(a.records.map((r) => r.bytes));
    expect(b.records.map((r) => r.tsNsec)).toEqual(a.records.map((r) => r.tsNsec));
  });

  it('gzip: same records as the plain file', async () => {
    const a = await collect([path.join(formatsDir, 'lo-eth.pcap')], { keepBytes: true });
    const b = await collect([path.join(formatsDir, 'lo-eth.pcap.gz')], { keepBytes: true });
    expect(b.res.files[0].format).toBe('pcap+gzip');
    expect(b.records).toEqual(a.records);
  });

  it('records straddling chunk boundaries read identically with tiny chunks', async () => {
    const p = path.join(formatsDir, 'lo-eth.pcap');
    const a = await collect([p], { keepBytes: true });
    for (const chunk of [40, 97, 1000]) {
      const b = await collect([p], { keepBytes: true, chunkSize: chunk });
      expect(b.records).toEqual(a.records);
    }
  });
});

describe('damage and bad input', () => {
  it('truncated last record: keeps the records before, reports file/frame/offset', async () => {
    const full = pcapFile(recs.slice(0, 5));
    const cut = full.subarray(0, full.length - 10);
    const p = tmp(cut, 'cut.pcap');
    const c = await collect([p]);
    expect(c.res.frames).toBe(4);
    const d = c.res.damage!;
    expect(d.frameNo).toBe(5);
    expect(d.file).toBe(p);
    const off5 = 24 + recs.slice(0, 4).reduce((s, r) => s + 16 + r.data.length, 0);
    expect(d.offset).toBe(off5);
    expect(d.message).toBe(`${p}: frame 5, byte offset ${off5}: truncated record: the file ends ${recs[4].data.length - 10} bytes into a ${recs[4].data.length}-byte packet`);
    expect(c.res.files[0].damaged).toBe(d.message);
  });

  it('cut inside a record header', async () => {
    const full = pcapFile(recs.slice(0, 2));
    const c = await collect([tmp(Buffer.concat([full, Buffer.alloc(7)]))]);
    expect(c.res.frames).toBe(2);
    expect(c.res.damage?.message).toMatch(/frame 3, .*7 bytes into a 16-byte record header/);
  });

  it('implausible caplen (garbage after a valid prefix) stops reading', async () => {
    const good = pcapFile(recs.slice(0, 3));
    const junk = Buffer.alloc(64, 0x7f);
    const c = await collect([tmp(Buffer.concat([good, junk]))]);
    expect(c.res.frames).toBe(3);
    expect(c.res.damage?.message).toMatch(/frame 4, byte offset \d+: record claims a \d+-byte packet, more than the 262144-byte maximum/);
  });

  it('not a capture / too short / empty', async () => {
    const txt = await collect([tmp(Buffer.from('hello world, this is not a capture file\n'))]);
    expect(txt.res.damage?.message).toMatch(/byte offset 0: not a pcap or pcapng capture \(starts with 0x68656c6c\)/);
    const short = await collect([tmp(Buffer.from([0xd4, 0xc3]))]);
    expect(short.res.damage?.message).toMatch(/not a pcap or pcapng capture/);
    const hdrOnly = await collect([tmp(pcapFile([]))]);
    expect(hdrOnly.res.damage).toBeNull();
    expect(hdrOnly.res.frames).toBe(0);
    const empty = await collect([tmp(Buffer.alloc(0))]);
    expect(empty.res.damage).toBeNull();
    expect(empty.res.files[0].format).toBe('empty');
  });

  it('a wrong path fails before anything is read', async () => {
    let calls = 0;
    const good = path.join(formatsDir, 'lo-eth.pcap');
    await expect(readCaptures([good, path.join(dir, 'nope.pcap')], () => calls++)).rejects.toThrow(CaptureOpenError);
    await expect(readCaptures([good, path.join(dir, 'nope.pcap')], () => calls++)).rejects.toThrow(/nope\.pcap: no such file/);
    await expect(readCaptures([dir], () => calls++)).rejects.toThrow(/is a directory/);
    expect(calls).toBe(0);
  });

  it('abort signal stops early and returns what was read', async () => {
    const ac = new AbortController();
    let calls = 0;
    const r = await readCaptures(
      [path.join(formatsDir, 'lo-eth.pcap')],
      () => {
        calls++;
        ac.abort();
      },
      { signal: ac.signal, chunkSize: 200 },
    );
    expect(calls).toBeGreaterThan(0);
    expect(calls).toBeLessThan(52);
    expect(r.frames).toBe(calls);
  });
});

describe('several files are one timeline', () => {
  it('k-way merge by time, ties to the later file (as mergecap), file order kept within a file', async () => {
    const d = recs[0].data;
    const A: Rec[] = [
      { sec: 10, frac: 0, data: d },
      { sec: 12, frac: 0, data: d },
      { sec: 11, frac: 0, data: d }, // goes backwards inside file A: stays after 12
      { sec: 20, frac: 0, data: d },
    ];
    const B: Rec[] = [
      { sec: 10, frac: 0, data: d }, // tie with A[0]: B first (mergecap's rule)
      { sec: 11, frac: 500, data: d },
      { sec: 20, frac: 0, data: d }, // tie with A[3]: B first
    ];
    const pa = tmp(pcapFile(A), 'mA.pcap');
    const pb = tmp(pcapFile(B), 'mB.pcap');
    const c = await collect([pa, pb]);
    expect(c.records.map((r) => `${r.fileIndex}:${r.tsSec}.${r.tsNsec}`)).toEqual([
      '1:10.0',
      '0:10.0',
      '1:11.500000',
      '0:12.0',
      '0:11.0',
      '1:20.0',
      '0:20.0',
    ]);
    expect(c.records.map((r) => r.frame)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(c.res.files.map((f) => f.packets)).toEqual([4, 3]);
  });

  it.skipIf(!hasTool('mergecap', '-h'))('numbers frames exactly like mergecap -w', async () => {
    const d = recs[0].data;
    // distinguishable payloads: the first byte of the MAC differs per record
    const mk = (tag: number, sec: number, usec: number): Rec => {
      const x = Uint8Array.from(d);
      x[0] = tag;
      return { sec, frac: usec, data: x };
    };
    const A = [mk(1, 10, 0), mk(2, 12, 0), mk(3, 11, 0), mk(4, 20, 0)];
    const B = [mk(11, 10, 0), mk(12, 11, 5), mk(13, 20, 0), mk(14, 20, 0)];
    const pa = tmp(pcapFile(A), 'gA.pcap');
    const pb = tmp(pcapFile(B), 'gB.pcap');
    const out = path.join(dir, 'merged.pcap');
    const r = spawnSync('mergecap', ['-F', 'pcap', '-w', out, pa, pb]);
    expect(r.status).toBe(0);
    const merged = await collect([out], { keepBytes: true });
    const ours = await collect([pa, pb], { keepBytes: true });
    expect(ours.records.map((x) => [x.frame, x.bytes![0]])).toEqual(merged.records.map((x) => [x.frame, x.bytes![0]]));
  });

  it('a damaged file in a merge: the others are read to the end, the damage is reported', async () => {
    const d = recs[0].data;
    const good = tmp(pcapFile([{ sec: 1, frac: 0, data: d }, { sec: 3, frac: 0, data: d }]));
    const badFull = pcapFile([{ sec: 2, frac: 0, data: d }, { sec: 4, frac: 0, data: d }]);
    const bad = tmp(badFull.subarray(0, badFull.length - 5));
    const c = await collect([good, bad]);
    expect(c.records.map((r) => `${r.fileIndex}:${r.tsSec}`)).toEqual(['0:1', '1:2', '0:3']);
    expect(c.res.damage?.file).toBe(bad);
    expect(c.res.files[0].damaged).toBeNull();
    expect(c.res.files[1].damaged).toMatch(/frame 2/);
  });
});

describe('progress', () => {
  it('counts on-disk bytes, compressed ones for gzip, so that it never passes the file size', async () => {
    const plain = path.join(dir, 'progress.pcap');
    generateCapture(plain, { packets: 200_000, seed: 5 });
    const gz = path.join(dir, 'progress.pcap.gz');
    writeFileSync(gz, gzipSync(readFileSync(plain)));
    for (const file of [plain, gz]) {
      const seen: { bytesRead: number; totalBytes: number | null }[] = [];
      await readCaptures([file], () => {}, { onProgress: (p) => seen.push({ bytesRead: p.bytesRead, totalBytes: p.totalBytes }) });
      const size = statSync(file).size;
      // 37 MB plain, 7-8 MB compressed: at least one report before the last
      expect(seen.length, file).toBeGreaterThanOrEqual(2);
      for (const p of seen) {
        expect(p.totalBytes).toBe(size);
        expect(p.bytesRead).toBeLessThanOrEqual(size);
      }
      expect(seen.at(-1)!.bytesRead).toBe(size);
    }
  });
});
