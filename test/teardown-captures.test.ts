// Every teardown capture made with real Linux stacks (captures/teardown/*.json says what it
// must show) is analyzed through the real CLI and database, and its connection table checked.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { analyzeInto } from './helpers/cli.ts';
import { repoRoot } from './helpers/env.ts';

interface ExpectConn {
  client: string;
  server: string;
  first_frame?: number;
  active_closer?: string | null;
  close_kind?: string;
  rst_by?: string | null;
  first_fin_frame?: number | null;
  peer_fin_frame?: number | null;
  last_ack_frame?: number | null;
  rst_frame?: number | null;
  fin_retransmissions?: number;
  client_pkts?: number;
  server_pkts?: number;
  client_bytes?: number;
  server_bytes?: number;
  end_state?: { client: string; server: string };
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'twscope-teardown-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

export function splitEndpoint(s: string): [string, number] {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(s);
  if (!m) throw new Error(`bad endpoint ${s}`);
  return [m[1]!, Number(m[2])];
}

const analyzeToDb = (capture: string): string => analyzeInto(tmp, capture);

const norm = (s: string | undefined): string | undefined => s?.replace(/-/g, '_').toUpperCase();

for (const folder of ['teardown', 'findings']) {
  const dir = path.join(repoRoot, 'captures', folder);
  const specs = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')).sort() : [];
  describe(`connection tables of captures/${folder}`, () => {
    it('has scenario captures', () => expect(specs.length).toBeGreaterThan(0));
    for (const spec of specs) {
      const exp = JSON.parse(readFileSync(path.join(dir, spec), 'utf8')) as { capture: string; connections: ExpectConn[]; tw?: number };
      it(`${spec}: ${exp.connections.length} connection(s)`, () => {
        const db = analyzeToDb(path.join(dir, exp.capture));
        const d = new Database(db, { readonly: true });
        try {
          for (const e of exp.connections) {
            const [cip, cport] = splitEndpoint(e.client);
            const [sip, sport] = splitEndpoint(e.server);
            const rows = d
              .prepare('SELECT * FROM connections WHERE client_ip = ? AND client_port = ? AND server_ip = ? AND server_port = ? ORDER BY first_frame')
              .all(cip, cport, sip, sport) as Record<string, unknown>[];
            const row = e.first_frame !== undefined ? rows.find((r) => r.first_frame === e.first_frame) : rows[0];
            expect(row, `${e.client} -> ${e.server} first frame ${e.first_frame}`).toBeDefined();
            const r = row!;
            const got: Record<string, unknown> = {};
            const want: Record<string, unknown> = {};
            const cmp = (k: string, g: unknown, w: unknown): void => {
              if (w === undefined) return;
              got[k] = g;
              want[k] = w;
            };
            cmp('active_closer', r.active_closer, e.active_closer);
            cmp('close_kind', r.close_kind, e.close_kind);
            cmp('rst_by', r.rst_by, e.rst_by);
            const finFrames = [r.client_fin_frame, r.server_fin_frame] as (number | null)[];
            const activeIsServer = r.active_closer === 'server';
            cmp('first_fin_frame', activeIsServer ? finFrames[1] : e.active_closer === 'both' ? Math.min(...finFrames.map((f) => f ?? Infinity)) : finFrames[0], e.first_fin_frame);
            cmp('peer_fin_frame', activeIsServer ? finFrames[0] : e.active_closer === 'both' ? Math.max(...finFrames.map((f) => f ?? -1)) : finFrames[1], e.peer_fin_frame);
            cmp('last_ack_frame', r.last_ack_frame, e.last_ack_frame);
            cmp('rst_frame', r.rst_frame, e.rst_frame);
            if (e.fin_retransmissions !== undefined && e.active_closer && e.active_closer !== 'both') {
              const passiveCount = (activeIsServer ? r.client_fin_count : r.server_fin_count) as number;
              cmp('fin_retransmissions', Math.max(0, passiveCount - 1), e.fin_retransmissions);
            }
            for (const k of ['client_pkts', 'server_pkts', 'client_bytes', 'server_bytes'] as const) cmp(k, r[k], e[k]);
            if (e.end_state) {
              cmp('client_state', r.client_state, norm(e.end_state.client));
              cmp('server_state', r.server_state, norm(e.end_state.server));
              // every capture ends within the TIME-WAIT length of the last close: the kernel holds
              // TIME-WAIT at the end (ss) exactly when the connection has a TIME-WAIT window
              cmp('has_time_wait', r.time_wait_start !== null, e.end_state.client === 'TIME-WAIT' || e.end_state.server === 'TIME-WAIT');
            }
            expect(got, `${spec} ${e.client}`).toEqual(want);
          }
        } finally {
          d.close();
        }
      });
    }
  });
}

// One connection captured on both sides of the router that dropped the client's last ACKs:
// before the drop the ACKs are in the capture, yet the server's LAST-ACK lasted as long.
describe.skipIf(!existsSync(path.join(repoRoot, 'captures/teardown/lost-last-ack-client-side.pcap')))('lost-last-ack seen from both sides', () => {
  it('gives the same time in LAST-ACK whether the lost ACKs are in the capture or not', () => {
    const stuck: Record<string, { t: number; lost: number }> = {};
    for (const side of ['client', 'server']) {
      const d = new Database(analyzeToDb(path.join(repoRoot, `captures/teardown/lost-last-ack-${side}-side.pcap`)), { readonly: true });
      const rows = d.prepare("SELECT json_extract(details, '$.time_in_last_ack') AS t, json_extract(details, '$.acks_lost_after_capture_point') AS lost FROM findings WHERE kind = 'lost-last-ack'").all() as { t: number; lost: number }[];
      d.close();
      expect(rows, side).toHaveLength(1);
      stuck[side] = rows[0]!;
    }
    expect(stuck.client!.lost).toBe(1);
    expect(stuck.server!.lost).toBe(0);
    // three FIN retransmissions (about 208, 208 and 440 ms apart): the same 0.85 s either side
    expect(stuck.server!.t).toBeGreaterThan(0.8);
    expect(Math.abs(stuck.client!.t - stuck.server!.t)).toBeLessThan(0.02);
  });
});
