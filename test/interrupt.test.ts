// Ctrl-C (SIGINT) during analyze leaves the store as it was: earlier captures intact, no
// half-written rows of the interrupted one.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, expect, it } from 'vitest';
import { generateCapture } from '../src/bench/gen.ts';
import { repoRoot } from './helpers/env.ts';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'twscope-int-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const bin = path.join(repoRoot, 'bin/twscope.js');

it('SIGINT during analyze rolls the capture back and exits 130', async () => {
  const big = path.join(tmp, 'big.pcap');
  generateCapture(big, { packets: 3_000_000, seed: 3 });
  const db = path.join(tmp, 'store.db');
  expect(spawnSync(process.execPath, [bin, 'analyze', path.join(repoRoot, 'captures/teardown/mixed.pcap'), '--db', db, '-q']).status).toBe(0);
  const child = spawn(process.execPath, [bin, 'analyze', big, '--db', db, '-q'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  // wait until it is well into the capture, then interrupt
  await new Promise((r) => setTimeout(r, 1200));
  child.kill('SIGINT');
  const code = await new Promise<number | null>((r) => child.on('close', r));
  expect(code).toBe(130);
  expect(stderr).toMatch(/interrupted; .*store\.db left as it was/);
  const d = new Database(db, { readonly: true });
  const caps = d.prepare('SELECT path, status, connections FROM captures').all() as { path: string; status: string; connections: number }[];
  const conns = (d.prepare('SELECT count(*) AS n FROM connections').get() as { n: number }).n;
  d.close();
  expect(caps).toHaveLength(1);
  expect(caps[0]).toMatchObject({ status: 'complete', connections: 20 });
  expect(conns).toBe(20);
}, 60_000);
