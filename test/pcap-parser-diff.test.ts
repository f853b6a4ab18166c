// Differential test against the npm package pcap-parser on classic microsecond pcap files
// (corpus + captures/): same records, timestamps (sec, usec), caplen/origLen and bytes.
import { describe, it, expect } from 'vitest';
import { createRequire } from 'node:module';
import { openSync, readSync, closeSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { corpusDir, corpusFiles, formatsDir, hasCorpus, repoRoot } from './helpers/env.ts';
import { collect } from './helpers/collect.ts';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-require-imports
const pcapParser = require('pcap-parser') as { parse: (p: string) => NodeJS.EventEmitter };

interface PpRec { sec: number; usec: number; caplen: number; orig: number; data: Buffer }

function parse(file: string): Promise<{ recs: PpRec[]; error: string | null }> {
  return new Promise((resolve) => {
    const recs: PpRec[] = [];
    let error: string | null = null;
    const p = pcapParser.parse(file);
    p.on('packet', (pk: { header: { timestampSeconds: number; timestampMicroseconds: number; capturedLength: number; originalLength: number }; data: Buffer }) => {
      recs.push({ sec: pk.header.timestampSeconds, usec: pk.header.timestampMicroseconds, caplen: pk.header.capturedLength, orig: pk.header.originalLength, data: Buffer.from(pk.data) });
    });
    p.on('error', (e: Error) => (error = e.message));
    p.on('end', () => resolve({ recs, error }));
  });
}

/** classic pcap, microsecond magic, version 2.4, well-formed per the reader */
function isPlainUsPcap(file: string): boolean {
  const fd = openSync(file, 'r');
  const b = Buffer.alloc(24);
  const n = readSync(fd, b, 0, 24, 0);
  closeSync(fd);
  if (n < 24) return false;
  const le = b.readUInt32LE(0) === 0xa1b2c3d4;
  const be = b.readUInt32BE(0) === 0xa1b2c3d4;
  if (!le && !be) return false;
  const major = le ? b.readUInt16LE(4) : b.readUInt16BE(4);
  const minor = le ? b.readUInt16LE(6) : b.readUInt16BE(6);
  return major === 2 && minor === 4;
}

const files = [
  ...corpusFiles().map((f) => path.join(corpusDir, f)),
  ...readdirSync(formatsDir).map((f) => path.join(formatsDir, f)),
  ...(() => {
    try {
      return readdirSync(path.join(repoRoot, 'captures')).filter((f) => f.endsWith('.pcap')).map((f) => path.join(repoRoot, 'captures', f));
    } catch {
      return [];
    }
  })(),
].filter(isPlainUsPcap);
if (!hasCorpus) console.warn('pcap-parser-diff: corpus missing, comparing captures/ only');

describe('reader vs pcap-parser on classic microsecond pcap files', () => {
  it(`agrees on ${files.length} files`, async () => {
    expect(files.length).toBeGreaterThan(hasCorpus ? 80 : 2);
    let records = 0;
    for (const f of files) {
      const pp = await parse(f);
      const tw = await collect([f], { keepBytes: true });
      const name = path.basename(f);
      // pcap-parser has no damage checks: on damaged files compare the prefix twscope read
      const n = tw.res.damage ? tw.records.length : pp.recs.length;
      if (!tw.res.damage) expect({ name, n: tw.records.length }).toEqual({ name, n: pp.recs.length });
      else expect(pp.recs.length).toBeGreaterThanOrEqual(n);
      for (let i = 0; i < n; i++) {
        const a = pp.recs[i];
        const b = tw.records[i];
        // pcap-parser reads ts_sec unsigned and usec raw; twscope normalises like tshark
        const usec = a.usec;
        const expSec = usec >= 1e6 ? null : a.sec | 0;
        if (expSec !== null) expect([name, i, b.tsSec, b.tsNsec]).toEqual([name, i, expSec, usec * 1000]);
        expect([name, i, b.caplen, b.origLen]).toEqual([name, i, a.caplen, a.orig]);
        expect(Buffer.from(b.bytes!).equals(a.data)).toBe(true);
      }
      records += n;
    }
    expect(records).toBeGreaterThan(hasCorpus ? 50000 : 50);
  }, 300_000);
});
