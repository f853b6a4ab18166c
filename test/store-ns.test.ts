// Exact nanosecond columns: a connection's start_ns/end_ns equal nanos() of its seconds and
// nanoseconds, including both ends of SQLite's 64-bit range and times before 1970. No kernel
// writes such timestamps: they come from damaged or synthetic files, so Conn values are set here.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { layoutConn, nanos, StoreWriter } from '../src/store/writer.ts';
import { Conn } from '../src/tracker/connection.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'twscope-ns-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('start_ns / end_ns', () => {
  it('are exact Unix nanoseconds, NULL outside 64-bit integers', () => {
    const times: [number, number][] = [
      [1_700_000_000, 123_456_789],
      [0, 0],
      [-1, 5],
      [-86_400, 250_000_000],
      [9_223_372_036, 854_775_807], // 2^63 - 1
      [9_223_372_036, 854_775_808], // one past
      [-9_223_372_037, 145_224_192], // -2^63
      [-9_223_372_037, 145_224_191], // one before
    ];
    const w = new StoreWriter(path.join(dir, 'ns.db'));
    w.begin('ns');
    const nums = new Float64Array(53 * times.length);
    const texts: string[] = [];
    times.forEach(([sec, nsec], r) => {
      const c = Conn.create();
      c.id = r + 1;
      c.startSec = c.endSec = sec;
      c.startNsec = c.endNsec = nsec;
      c.start = c.end = sec + nsec / 1e9;
      layoutConn(nums, texts, r, c);
      c.free();
    });
    w.writeConnRows(nums, texts, times.length);
    w.db.defaultSafeIntegers(true);
    const rows = w.db.prepare('SELECT id, start_ns, end_ns, typeof(start_ns) AS t FROM connections ORDER BY id').all() as { id: bigint; start_ns: bigint | null; end_ns: bigint | null; t: string }[];
    expect(rows.map((r) => r.start_ns)).toEqual(times.map(([s, n]) => nanos(s, n)));
    expect(rows.map((r) => r.end_ns)).toEqual(times.map(([s, n]) => nanos(s, n)));
    expect(rows.map((r) => r.t)).toEqual(['integer', 'integer', 'integer', 'integer', 'integer', 'null', 'integer', 'null']);
    w.close();
  });
});
