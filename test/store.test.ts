// The store itself: the connection indexes after a bulk load into a new store and after a
// capture added to an existing one (real captures), and exact nanosecond columns at the ends of
// SQLite's 64-bit range (no kernel writes such timestamps: they come from damaged or synthetic
// files, so Conn values are set here).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { analyze } from '../src/pipeline/analyze.ts';
import { layoutConn, nanos, StoreWriter } from '../src/store/writer.ts';
import { Conn } from '../src/tracker/connection.ts';
import { repoRoot } from './helpers/env.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'twscope-ns-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const OPTS = { timeWait: 60, msl: 30, portLow: 32768, portHigh: 60999, idleTimeout: 300 };
const capture = (n: string): string => path.join(repoRoot, 'captures/findings', n + '.pcap');

describe('a store written by an earlier version', () => {
  it.skipIf(!existsSync(capture('reuse-refused')))('gets the columns added since, and takes a new capture with them', async () => {
    const db = path.join(dir, 'old.db');
    await analyze({ paths: [capture('reuse-refused')], dbPath: db, packets: true, options: OPTS });
    // as an older twscope left it: without the columns added later
    const old = new Database(db);
    old.exec('ALTER TABLE packets DROP COLUMN retransmission; ALTER TABLE connections DROP COLUMN acked_unseen');
    old.close();
    await analyze({ paths: [capture('port-exhaustion')], dbPath: db, packets: true, options: OPTS });
    const d = new Database(db, { readonly: true });
    const rows = d.prepare('SELECT capture_id, count(*) AS n, count(retransmission) AS flagged FROM packets GROUP BY capture_id ORDER BY capture_id').all() as { n: number; flagged: number }[];
    const conns = d.prepare('SELECT capture_id, count(*) AS n, count(acked_unseen) AS known FROM connections GROUP BY capture_id ORDER BY capture_id').all() as { n: number; known: number }[];
    d.close();
    // the old capture's rows stay, with NULL in the new columns; the new one has them filled in
    expect(rows.length).toBe(2);
    expect(rows[0]!.flagged).toBe(0);
    expect(rows[1]!.flagged).toBe(rows[1]!.n);
    expect(conns[0]!.known).toBe(0);
    expect(conns[1]!.known).toBe(conns[1]!.n);
  });
});

describe('analyzing a capture again', () => {
  const tables = ['connections', 'findings', 'clocks', 'packets', 'time_wait_timeline', 'capture_files'];
  /** rows per table and capture path, and the ids of the rows */
  function contents(db: string): { counts: Record<string, Record<string, number>>; ids: Record<string, number[]> } {
    const d = new Database(db, { readonly: true });
    try {
      const counts: Record<string, Record<string, number>> = {};
      for (const t of tables) {
        counts[t] = {};
        for (const r of d.prepare(`SELECT c.path AS p, count(*) AS n FROM ${t} x JOIN captures c ON c.id = x.capture_id GROUP BY c.path`).all() as { p: string; n: number }[]) {
          counts[t]![path.basename(r.p)] = r.n;
        }
      }
      const ids: Record<string, number[]> = {};
      for (const r of d.prepare('SELECT c.path AS p, x.id FROM connections x JOIN captures c ON c.id = x.capture_id ORDER BY x.id').all() as { p: string; id: number }[]) {
        (ids[path.basename(r.p)] ??= []).push(r.id);
      }
      return { counts, ids };
    } finally {
      d.close();
    }
  }
  it.skipIf(!existsSync(capture('reuse-refused')) || !existsSync(capture('port-exhaustion')))(
    'replaces its rows, whether the store holds it alone (tables emptied whole) or beside another capture (its rows only)',
    async () => {
      const db = path.join(dir, 'again.db');
      const run = (n: string) => analyze({ paths: [capture(n)], dbPath: db, packets: true, options: OPTS });
      await run('port-exhaustion');
      const alone = contents(db);
      await run('port-exhaustion');
      const again = contents(db);
      expect(again.counts).toEqual(alone.counts);
      expect(alone.counts.connections!['port-exhaustion.pcap']).toBeGreaterThan(10);
      expect(alone.counts.packets!['port-exhaustion.pcap']).toBeGreaterThan(100);

      await run('reuse-refused');
      const both = contents(db);
      await run('port-exhaustion');
      const after = contents(db);
      // the other capture's rows stay as they were, ids and all; this one's come back complete
      expect(after.counts).toEqual(both.counts);
      expect(after.ids['reuse-refused.pcap']).toEqual(both.ids['reuse-refused.pcap']);
      expect(after.ids['port-exhaustion.pcap']!.length).toBe(alone.ids['port-exhaustion.pcap']!.length);
      const d = new Database(db, { readonly: true });
      expect(d.prepare("SELECT count(*) AS n FROM captures WHERE status = 'complete'").get()).toEqual({ n: 2 });
      d.close();
    },
  );
});

describe('page size', () => {
  it.skipIf(!existsSync(capture('reuse-refused')))('a new store gets 16 KiB pages; an existing one keeps its own', async () => {
    const fresh = path.join(dir, 'pages-new.db');
    await analyze({ paths: [capture('reuse-refused')], dbPath: fresh, packets: false, options: OPTS });
    const older = path.join(dir, 'pages-old.db');
    const d = new Database(older);
    d.exec('CREATE TABLE t (x)'); // as a store made with SQLite's default page size
    d.close();
    await analyze({ paths: [capture('reuse-refused')], dbPath: older, packets: false, options: OPTS });
    const pageSize = (db: string): unknown => {
      const x = new Database(db, { readonly: true });
      const v = x.pragma('page_size', { simple: true });
      x.close();
      return v;
    };
    expect(pageSize(fresh)).toBe(16384);
    expect(pageSize(older)).toBe(4096);
  });
});

describe('connection indexes', () => {
  const captures = ['reuse-client-tw-kernel', 'port-exhaustion'];
  it.skipIf(!captures.every((n) => existsSync(capture(n))))('a new store and a capture added to it: both indexes present and used', async () => {
    const db = path.join(dir, 'ix.db');
    const check = (): void => {
      const d = new Database(db, { readonly: true });
      const names = (d.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'connections' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
      expect(names).toEqual(['connections_service', 'connections_start']);
      const plan = (sql: string): string => (d.prepare('EXPLAIN QUERY PLAN ' + sql).all() as { detail: string }[]).map((r) => r.detail).join('; ');
      expect(plan("SELECT * FROM connections WHERE server_ip = '198.51.100.34' AND server_port = 8080 AND client_ip = '198.51.100.33' AND client_port = 40500")).toContain('connections_service');
      expect(plan('SELECT * FROM connections WHERE capture_id = 1 AND start_ts BETWEEN 0 AND 2e9')).toContain('connections_start');
      expect(d.prepare('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' });
      d.close();
    };
    // bulk load into a new store: connections_service is built at the end, connections_start during the load
    await analyze({ paths: [capture(captures[0]!)], dbPath: db, packets: false, options: OPTS });
    check();
    // a second capture: rows go into the existing indexes
    await analyze({ paths: [capture(captures[1]!)], dbPath: db, packets: false, options: OPTS });
    check();
    const d = new Database(db, { readonly: true });
    expect(d.prepare('SELECT count(DISTINCT capture_id) AS n FROM connections').get()).toEqual({ n: 2 });
    d.close();
  });
});

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
