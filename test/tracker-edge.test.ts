// Tracker edge cases on real captures.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from './helpers/env.ts';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'twscope-edge-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function analyze(capture: string): Database.Database {
  const db = path.join(tmp, path.basename(capture) + '.db');
  execFileSync(process.execPath, [path.join(repoRoot, 'bin/twscope.js'), 'analyze', path.join(repoRoot, capture), '--db', db, '-q']);
  return new Database(db, { readonly: true });
}

describe('tracker edge cases', () => {
  it('a multi-interface pcapng with every packet twice (lo + any, not interleaved) is not taken for 4-tuple reuse', () => {
    const d = analyze('captures/formats/multi-if.pcapng');
    // dumpcap wrote each SYN once per interface, the second copy after the connection had closed
    const conns = d.prepare('SELECT client_port, close_kind, syn_count FROM connections ORDER BY first_frame').all() as { client_port: number; close_kind: string; syn_count: number }[];
    const reuse = d.prepare("SELECT count(*) AS n FROM findings WHERE kind = 'time-wait-reuse'").get() as { n: number };
    d.close();
    expect(reuse.n).toBe(0);
    expect(new Set(conns.map((c) => c.client_port)).size).toBe(conns.length);
    expect(conns.every((c) => c.syn_count === 2)).toBe(true);
  });
});
