// Connections against tshark's tcp.stream split on the public corpus: every difference is
// listed below with its reason; anything else fails.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { analyze } from '../src/pipeline/analyze.ts';
import { corpusDir, corpusFiles, hasCorpus, hasTshark } from './helpers/env.ts';

const run = promisify(execFile);

/** file -> expected [splits, merges] relative to tshark, and why */
const EXPECTED: Record<string, { splits: number; merges: number; why: string }> = {
  'gopacket__cip.pcap': {
    splits: 4,
    merges: 0,
    why: 'a 4-tuple is reused by a new SYN about 20 s after an RST; twscope starts a new incarnation after RST (SPEC), tshark 4.0 keeps one stream and only flags tcp.analysis.reused_ports',
  },
  'PcapPlusPlus__dns_over_tcp.pcapng': {
    splits: 1,
    merges: 0,
    why: 'frames 1 and 4 share a 4-tuple, frame 1 stamped 1970-01-01 (no time) and frame 4 in 2021; twscope ends a connection idle for longer than the idle timeout (300 s), as Zeek does, tshark never splits on time',
  },
  'PcapPlusPlus__pcapng-example.pcapng': {
    splits: 1,
    merges: 0,
    why: "frame 2, the SYN-ACK, is stamped 46 years after frame 1's SYN (a damaged timestamp; frame 3 is back in 2015): by that time the unanswered SYN has expired and the SYN-ACK starts a connection of its own; tshark never splits on time",
  },
  'suricata-verify__tcp-split-handshake-02-5whs__split-handshake-5whs.pcap': {
    splits: 0,
    merges: 1,
    why: "split handshake: the server answers the client's SYN with its own SYN while the connection is open; twscope treats it as a simultaneous open of the same incarnation, tshark starts a new stream",
  },
};

const tmp = mkdtempSync(path.join(os.tmpdir(), 'twscope-streams-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function tsharkStreams(file: string): Promise<Map<number, number>> {
  let out = '';
  try {
    out = (await run('tshark', ['-r', file, '-Y', 'tcp', '-T', 'fields', '-e', 'frame.number', '-e', 'tcp.stream'], { maxBuffer: 1 << 28 })).stdout;
  } catch (e) {
    out = (e as { stdout?: string }).stdout ?? ''; // damaged files: tshark prints what it read, then fails
  }
  const m = new Map<number, number>();
  for (const line of out.split('\n')) {
    const [fr, st] = line.split('\t');
    if (fr && st) m.set(Number(fr), Number(st.split(',')[0]));
  }
  return m;
}

describe.skipIf(!hasCorpus || !hasTshark)('connections vs tshark tcp.stream on ../shared/corpus', () => {
  if (!hasCorpus || !hasTshark) console.warn('skipping: ../shared/corpus or tshark missing');
  const files = corpusFiles();
  it('has the corpus', () => expect(files.length).toBeGreaterThan(100));
  for (const f of files) {
    it(f, async () => {
      const file = path.join(corpusDir, f);
      const t = await tsharkStreams(file);
      if (t.size === 0) return; // no TCP for tshark: nothing to compare (the decoder test covers the frames)
      const db = path.join(tmp, f + '.db');
      await analyze({ paths: [file], dbPath: db, packets: true, options: { timeWait: 60, msl: 30, portLow: 32768, portHigh: 60999, idleTimeout: 300 } });
      const d = new Database(db, { readonly: true });
      const rows = d.prepare('SELECT frame, connection_id FROM packets').all() as { frame: number; connection_id: number }[];
      d.close();
      const t2o = new Map<number, Set<number>>();
      const o2t = new Map<number, Set<number>>();
      let shared = 0;
      for (const r of rows) {
        const st = t.get(r.frame);
        if (st === undefined) continue;
        shared++;
        if (!t2o.has(st)) t2o.set(st, new Set());
        t2o.get(st)!.add(r.connection_id);
        if (!o2t.has(r.connection_id)) o2t.set(r.connection_id, new Set());
        o2t.get(r.connection_id)!.add(st);
      }
      expect(shared).toBeGreaterThan(0);
      const splits = [...t2o.values()].reduce((a, s) => a + s.size - 1, 0);
      const merges = [...o2t.values()].reduce((a, s) => a + s.size - 1, 0);
      const exp = EXPECTED[f] ?? { splits: 0, merges: 0 };
      expect({ splits, merges }).toEqual({ splits: exp.splits, merges: exp.merges });
    });
  }
});
