// captures.totals (counted by the store's writer as it inserts) must give the summary that SQL
// over the connection rows gives: on every bundled capture, on the public corpus, and on a
// generated capture whose rows are written ahead and then replaced (INSERT OR REPLACE).
import { rmSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { analyze } from '../src/pipeline/analyze.ts';
import { buildSummary } from '../src/report/summary.ts';
import { buildReport } from '../src/report/model.ts';
import { StoreClient } from '../src/store/client.ts';
import { ConnTotals, MAX_KEYS, MAX_LISTED, type ConnTotalsJSON } from '../src/store/totals.ts';
import { CONN_INSERT_ROWS, CONN_SLOTS, CONN_TEXTS, StoreWriter, slotOf } from '../src/store/writer.ts';
import { generateCapture } from '../src/bench/gen.ts';
import { captureFiles, corpusDir, corpusFiles, hasCorpus, repoRoot, tmpDir } from './helpers/env.ts';

const tmp = tmpDir('twscope-totals-');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const OPTIONS = { timeWait: 60, msl: 30, portLow: 32768, portHigh: 60999, idleTimeout: 300 };

/** analyze into a fresh store; the summary and the report's model from the totals, the same from SQL, and the totals */
async function both(file: string, timeWait = 60): Promise<{ fromTotals: unknown; fromRows: unknown; totals: ConnTotalsJSON; connections: number }> {
  const db = path.join(tmp, path.basename(file) + '.db');
  rmSync(db, { force: true });
  const r = await analyze({ paths: [file], dbPath: db, packets: false, options: { ...OPTIONS, timeWait } });
  const d = new Database(db);
  try {
    const row = d.prepare('SELECT totals FROM captures WHERE id = ?').get(r.captureId) as { totals: string };
    const now = new Date(0);
    const fromTotals = { summary: buildSummary(d, r.captureId), report: buildReport(d, r.captureId, { now }) };
    // as a store written before the totals: everything counted from the rows
    d.prepare('UPDATE captures SET totals = NULL WHERE id = ?').run(r.captureId);
    const fromRows = { summary: buildSummary(d, r.captureId), report: buildReport(d, r.captureId, { now }) };
    return { fromTotals, fromRows, totals: JSON.parse(row.totals), connections: r.connections };
  } finally {
    d.close();
    rmSync(db, { force: true });
  }
}

describe('captures.totals give the summary and report SQL gives', () => {
  const files = captureFiles();
  it('finds the bundled captures', () => expect(files.length).toBeGreaterThan(40));
  for (const f of files) {
    it(path.relative(repoRoot, f), async () => {
      const s = await both(f);
      expect(s.totals.version).toBe(1);
      expect(s.totals.connections).toBe(s.connections);
      expect(s.fromTotals).toEqual(s.fromRows);
    });
  }

  it('on a generated capture whose rows are written ahead and replaced', async () => {
    const file = path.join(tmp, 'gen.pcap');
    generateCapture(file, { packets: 200_000, seed: 9 });
    // with a 1 s TIME-WAIT on 8 s of capture many rows written ahead are written again when
    // their connection expires: the writer must take the rows they replace out of its counts
    const spy = vi.spyOn(StoreClient.prototype, 'writeConn');
    const s = await both(file, 1);
    const replaced = spy.mock.calls.filter(([, isNew]) => isNew === false).length;
    spy.mockRestore();
    expect(replaced).toBeGreaterThan(1000);
    expect(s.totals.connections).toBe(s.connections);
    expect(s.fromTotals).toEqual(s.fromRows);
  });
});

describe('StoreWriter totals', () => {
  it('a row replaced within the batch that inserts it is taken out of the counts, as is one already in the table', () => {
    const db = path.join(tmp, 'writer.db');
    rmSync(db, { force: true });
    const w = new StoreWriter(db);
    w.begin('crafted');
    const rows = CONN_INSERT_ROWS + 2;
    const nums = new Float64Array(rows * CONN_SLOTS).fill(NaN);
    const texts: string[] = [];
    const set = (k: number, column: string, v: number): void => void (nums[k * CONN_SLOTS + slotOf(column)] = v);
    for (let k = 0; k < rows; k++) {
      texts.push(`192.0.2.${k % 7}`, '198.51.100.1', 'ShADadFf');
      set(k, 'id', k + 1);
      set(k, 'server_port', 80 + (k % 3));
      set(k, 'ip_version', 4);
      set(k, 'client_pkts', 5);
      set(k, 'server_pkts', 4);
      set(k, 'conn_state', 3); // SF
      set(k, 'close_kind', 1); // fin
      set(k, 'active_closer', 1); // client
      set(k, 'time_wait_start', 1000 + k);
    }
    // row 40 is written again at 60 (same insert of CONN_INSERT_ROWS rows) and row 2 at 65 (after
    // that insert, one row at a time), each now reset by the server
    for (const [k, id] of [[60, 41], [65, 3]] as const) {
      set(k, 'id', id);
      texts[k * CONN_TEXTS] = '192.0.2.99';
      set(k, 'close_kind', 3); // rst
      set(k, 'conn_state', 8); // RSTR
      set(k, 'active_closer', 0);
      set(k, 'time_wait_start', NaN);
    }
    w.writeConnRows(nums, texts, rows, [60, 65]);
    w.commit({ path: 'crafted', format: 'pcap', linkTypes: '', packets: 0, tcpSegments: 0, firstSec: null, firstNsec: null, lastSec: null, lastNsec: null, damaged: null, options: {}, decodeStats: {}, connections: rows - 2, version: 'test' });
    w.close();
    const d = new Database(db, { readonly: true });
    try {
      const totals = JSON.parse((d.prepare('SELECT totals FROM captures').get() as { totals: string }).totals) as ConnTotalsJSON;
      expect(totals.connections).toBe(rows - 2);
      expect(totals.close_kind).toEqual({ fin: rows - 4, rst: 2 });
      // 192.0.2.2 and .5 each lost a row to 192.0.2.99; .4's row 60 was a replacement from the start
      expect(totals.top_clients).toEqual([
        { client_ip: '192.0.2.0', n: 10 }, { client_ip: '192.0.2.1', n: 10 }, { client_ip: '192.0.2.3', n: 9 }, { client_ip: '192.0.2.6', n: 9 }, { client_ip: '192.0.2.2', n: 8 },
      ]);
      expect(buildSummary(d, 1)).toEqual(buildSummary(d, 1, { totals: null }));
    } finally {
      d.close();
    }
  });
});

describe.skipIf(!hasCorpus)('captures.totals on ../shared/corpus', () => {
  for (const f of corpusFiles()) {
    it(f, async () => {
      const s = await both(path.join(corpusDir, f));
      expect(s.fromTotals).toEqual(s.fromRows);
    });
  }
});

describe('ConnTotals', () => {
  it('counts a row in and out, and gives up a list past MAX_KEYS distinct keys (the summary and report ask SQL then)', () => {
    const t = new ConnTotals();
    // close_kind 1 = fin, conn_state 3 = SF, active_closer 1 = client
    t.add(1, 1, 3, 1, true, '192.0.2.1', '198.51.100.1', 80, 4, 5, 5, 'ShADadFf', false, true, 1000);
    t.add(1, 3, 7, 0, false, '192.0.2.2', '198.51.100.1', 80, 4, 3, 2, 'ShADR', true, false, 999);
    t.add(-1, 3, 7, 0, false, '192.0.2.2', '198.51.100.1', 80, 4, 3, 2, 'ShADR', true, false, 999);
    const j = t.toJSON();
    expect(j.close_kind).toEqual({ fin: 1 });
    expect(j.conn_state).toEqual({ SF: 1 });
    expect(j.time_wait_holders).toEqual({ client: 1, server: 0 });
    expect([j.orientation_guessed, j.time_wait_estimated]).toEqual([0, 1]);
    // earliest and latest start follow the rows added only: the store takes a row out only when a row
    // of the same connection, with the same start, replaces it
    expect(j.start_ts).toEqual({ min: 999, max: 1000 });
    expect(j.top_services).toEqual([{ server_ip: '198.51.100.1', server_port: 80, ip_version: 4, n: 1, cf: 1, sf: 0, r: 0 }]);
    expect(j.top_clients).toEqual([{ client_ip: '192.0.2.1', n: 1 }]);
    expect(j.clients).toEqual([{ client_ip: '192.0.2.1', n: 1, time_wait_held: 1, resets: 0, refused: 0 }]);
    expect(j.services).toEqual([{ server_ip: '198.51.100.1', server_port: 80, ip_version: 4, n: 1, cf: 1, sf: 0, resets: 0, refused: 0 }]);
    const addr = (i: number): string => `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`;
    for (let i = 0; i < MAX_LISTED; i++) t.add(1, 1, 3, 1, false, addr(i), '198.51.100.1', 80, 4, 5, 5, 'ShADadFf', false, false, 1001);
    // past MAX_LISTED clients: no whole list, still the busiest five
    const m = t.toJSON();
    expect(m.clients).toBeNull();
    expect(m.top_clients).toHaveLength(5);
    for (let i = MAX_LISTED; i <= MAX_KEYS; i++) t.add(1, 1, 3, 1, false, addr(i), '198.51.100.1', 80, 4, 5, 5, 'ShADadFf', false, false, 1001);
    const k = t.toJSON();
    expect(k.top_clients).toBeNull();
    expect(k.clients).toBeNull();
    expect(k.top_services).not.toBeNull();
    expect(k.services).toHaveLength(1);
    expect(k.connections).toBe(MAX_KEYS + 2);
  });
});
