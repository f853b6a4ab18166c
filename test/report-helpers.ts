// Shared by the report tests: run the real CLI (built dist) on bundled captures.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { repoRoot } from './helpers/env.js';

export const bin = path.join(repoRoot, 'bin/twscope.js');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function twscope(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Run {
  const r = spawnSync(process.execPath, [bin, ...args], {
    cwd: opts.cwd ?? repoRoot,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', ...opts.env },
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function tmpDir(prefix = 'twscope-report-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function capture(rel: string): string {
  return path.join(repoRoot, 'captures', rel);
}

/** analyze a bundled capture into a fresh store; returns the store path */
export function analyzeInto(dir: string, rel: string, extra: string[] = []): string {
  const db = path.join(dir, path.basename(rel).replace(/\.(pcapng|pcap)(\.gz)?$/, '') + '.db');
  const r = twscope(['analyze', capture(rel), '--db', db, '--no-progress', '-q', ...extra]);
  if (r.code !== 0) throw new Error(`analyze ${rel} failed (${r.code}): ${r.stderr}`);
  return db;
}

export function query<T>(db: string, sql: string, ...params: unknown[]): T[] {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare(sql).all(...params) as T[];
  } finally {
    d.close();
  }
}
