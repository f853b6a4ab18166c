// Rows written ahead of a connection's end (Tracker.endEstimate / onConnEarly) must leave the
// store exactly as writing every row at the end does: a row written early is kept only while
// nothing in it changed, otherwise it is written again (INSERT OR REPLACE).
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { readCaptures } from '../src/reader/index.ts';
import { PacketDecoder } from '../src/decode/index.ts';
import { Segment } from '../src/decode/segment.ts';
import { Tracker } from '../src/tracker/tracker.ts';
import type { Conn } from '../src/tracker/connection.ts';
import { CONN_SLOTS, CONN_TEXTS, layoutConn } from '../src/store/writer.ts';
import { StoreClient } from '../src/store/client.ts';
import { analyze } from '../src/pipeline/analyze.ts';
import { generateCapture } from '../src/bench/gen.ts';
import { captureFiles, repoRoot } from './helpers/env.ts';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'twscope-early-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function row(c: Conn): string {
  const nums = new Float64Array(CONN_SLOTS);
  const texts: string[] = new Array<string>(CONN_TEXTS).fill('');
  layoutConn(nums, texts, 0, c);
  return JSON.stringify([texts, Array.from(nums, (v) => (Number.isNaN(v) ? 'NaN' : v))]);
}

/** the rows a store would hold, keyed by id, with the tracker's end estimated at `estimate` (or never) */
async function rows(file: string, estimate: number | null, timeWait = 60): Promise<{ rows: Map<number, string>; early: number; expired: number; expiredKept: number; rewritten: number; end: number; tracker: Tracker }> {
  const table = new Map<number, string>();
  let early = 0;
  let expired = 0;
  let expiredKept = 0;
  let rewritten = 0;
  const t = new Tracker(
    { timeWait, idleTimeout: 300, firstId: 1 },
    {
      onSegment() {},
      onReuse() {},
      onConnEarly(c) {
        early++;
        if (c.endReason === 'expired') expired++;
        expect(table.has(c.id)).toBe(false);
        table.set(c.id, row(c));
      },
      onConnEnd(c) {
        if (c.earlyRowCurrent) {
          expect(table.get(c.id)).toBe(row(c));
          if (c.endReason === 'expired') expiredKept++;
          return;
        }
        if (c.earlyFrame !== 0) rewritten++;
        table.set(c.id, row(c));
      },
    },
  );
  if (estimate !== null) t.endEstimate = estimate;
  const d = new PacketDecoder();
  const s = new Segment();
  await readCaptures([file], (f) => {
    if (d.decode(f, s)) t.push(s);
  });
  t.finish();
  return { rows: table, early, expired, expiredKept, rewritten, end: t.now, tracker: t };
}

describe('rows written ahead of the end', () => {
  const files = captureFiles();

  it('give the same rows as writing at the end, on every bundled capture, whatever the estimated end', async () => {
    expect(files.length).toBeGreaterThan(30);
    let early = 0;
    let expired = 0;
    let rewritten = 0;
    let kept = 0;
    // a 0.2 s TIME-WAIT as well: only then do connections of these short captures reach their
    // expiry before the end, and rows are written ahead as they will expire (these few thousand
    // packets never sweep, so all of them are written again as held at the end: see below)
    for (const timeWait of [60, 0.2]) {
      for (const f of files) {
        const base = await rows(f, null, timeWait);
        expect(base.early, f).toBe(0);
        // everything closed written at once (-Infinity), the real end, and a wrong guess halfway
        for (const estimate of [-Infinity, base.end, base.end - 30]) {
          const r = await rows(f, estimate, timeWait);
          expect([...r.rows.entries()].sort((a, b) => a[0] - b[0]), `${f} at ${estimate}, TIME-WAIT ${timeWait} s`).toEqual([...base.rows.entries()].sort((a, b) => a[0] - b[0]));
          early += r.early;
          expired += r.expired;
          rewritten += r.rewritten;
          kept += r.early - r.rewritten;
        }
      }
    }
    // both paths are taken: rows that held, and rows written again (a packet after the close,
    // a new incarnation, an end that came otherwise than estimated); and both derivations
    expect(kept).toBeGreaterThan(100);
    expect(rewritten).toBeGreaterThan(10);
    expect(expired).toBeGreaterThan(50);
    expect(early - expired).toBeGreaterThan(100);
    expect(early).toBe(kept + rewritten);
  });

  it('written as they will expire hold when connections expire before the end', async () => {
    // 1 s TIME-WAIT on 8 s of capture: most connections expire (a sweep releases them) before the end
    const file = path.join(tmp, 'expire.pcap');
    generateCapture(file, { packets: 200_000, seed: 11 });
    const base = await rows(file, null, 1);
    const r = await rows(file, base.end, 1);
    expect([...r.rows.entries()].sort((a, b) => a[0] - b[0])).toEqual([...base.rows.entries()].sort((a, b) => a[0] - b[0]));
    expect(r.tracker.early.off).toBe(false);
    expect(r.expired).toBeGreaterThan(r.rows.size / 2);
    // the rest: superseded by a new incarnation, or still held at the end (its last second)
    expect(r.expiredKept).toBeGreaterThan(r.expired * 0.75);
  });

  it('stop when the estimate keeps missing: rows written twice would cost more than at the end', async () => {
    // 1 s TIME-WAIT on 8 s of capture, the end taken to be always past: nearly every row
    // written ahead is written again when its connection expires
    const file = path.join(tmp, 'miss.pcap');
    generateCapture(file, { packets: 200_000, seed: 9 });
    const base = await rows(file, null, 1);
    const r = await rows(file, -Infinity, 1);
    expect([...r.rows.entries()].sort((a, b) => a[0] - b[0])).toEqual([...base.rows.entries()].sort((a, b) => a[0] - b[0]));
    expect(r.tracker.early.off).toBe(true);
    expect(r.rewritten).toBeGreaterThan(1000);
    // counted when connections expire, so it stops a little late; without the guard nearly every row
    expect(r.early).toBeLessThan(r.rows.size / 3);
    expect(r.tracker.endEstimate).toBe(Infinity);
  });

  it('through the store: the same connections table as from stdin (no size, no estimate), with most rows written ahead', async () => {
    // 200 k packets over about 8 s of capture time: every connection is still in its TIME-WAIT window at the end
    const file = path.join(tmp, 'short.pcap');
    generateCapture(file, { packets: 200_000, seed: 7 });
    const opts = { timeWait: 60, msl: 30, portLow: 32768, portHigh: 60999, idleTimeout: 300 };
    // counted as they come: a connection's storage is gone once the analysis has finished
    const writeConn = StoreClient.prototype.writeConn;
    let ahead = 0;
    const spy = vi.spyOn(StoreClient.prototype, 'writeConn').mockImplementation(function (this: StoreClient, c: Conn, isNew?: boolean) {
      if (c.earlyFrame !== 0) ahead++;
      writeConn.call(this, c, isNew);
    });
    const a = await analyze({ paths: [file], dbPath: path.join(tmp, 'a.db'), packets: false, options: opts });
    const calls = spy.mock.calls.length;
    spy.mockRestore();
    expect(a.connections).toBeGreaterThan(15_000);
    // one write per connection when nothing changed after the close
    expect(calls).toBeGreaterThanOrEqual(a.connections);
    expect(ahead).toBeGreaterThan(a.connections / 2);

    // the same capture on stdin (no size known, so no estimate): every row is written at the end
    const fd = openSync(file, 'r');
    const cli = spawnSync(process.execPath, [path.join(repoRoot, 'bin/twscope.js'), 'analyze', '-', '--db', path.join(tmp, 'b.db')], { stdio: [fd, 'pipe', 'pipe'], encoding: 'utf8' });
    closeSync(fd);
    expect(cli.status, cli.stderr).toBe(0);
    const rowsOf = (db: string): unknown[] => {
      const d = new Database(db, { readonly: true });
      const r = d.prepare('SELECT * FROM connections ORDER BY id').raw().all();
      d.close();
      return r;
    };
    const ra = rowsOf(path.join(tmp, 'a.db'));
    expect(ra).toHaveLength(a.connections);
    expect(ra).toEqual(rowsOf(path.join(tmp, 'b.db')));
  });
});
