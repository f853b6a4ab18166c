// Run the built CLI (bin/twscope.js -> dist/) as a user would.
import { execFileSync, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { repoRoot } from './env.ts';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** standard input */
  input?: Buffer;
  cwd?: string;
  /** added to the environment (NO_COLOR is set unless given here) */
  env?: Record<string, string>;
}

export const bin = path.join(repoRoot, 'bin/twscope.js');

export function twscope(args: string[], opts: CliOptions = {}): CliResult {
  const r = spawnSync(process.execPath, [bin, ...args], {
    cwd: opts.cwd ?? repoRoot,
    input: opts.input,
    maxBuffer: 64 << 20,
    env: { ...process.env, TWSCOPE_DEBUG: '', NO_COLOR: '1', ...opts.env },
  });
  return { code: r.status, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
}

/** the rows of a read-only query on a store */
export function query<T>(db: string, sql: string, ...params: unknown[]): T[] {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare(sql).all(...params) as T[];
  } finally {
    d.close();
  }
}

/** `twscope analyze -q` of `capture` (under the repository, or an absolute path) into a fresh
 *  store `<basename>.db` in `dir`, plus `extra` options; the store's path */
export function analyzeInto(dir: string, capture: string, extra: string[] = []): string {
  const db = path.join(dir, path.basename(capture) + '.db');
  rmSync(db, { force: true });
  execFileSync(process.execPath, [bin, 'analyze', path.resolve(repoRoot, capture), '--db', db, '-q', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  return db;
}

/** a findings row with its JSON columns parsed */
export interface StoredFinding {
  kind: string;
  severity: string;
  frames: number[];
  details: Record<string, unknown>;
  summary: string;
  wireshark_filter: string;
}

/** the findings of a store (of one kind, if given), in the order they were written */
export function storedFindings(db: string, kind?: string): StoredFinding[] {
  const d = new Database(db, { readonly: true });
  try {
    const sql = `SELECT kind, severity, frames, details, summary, wireshark_filter FROM findings${kind === undefined ? '' : ' WHERE kind = ?'} ORDER BY id`;
    const rows = d.prepare(sql).all(...(kind === undefined ? [] : [kind])) as Record<string, string>[];
    return rows.map((r) => ({ ...r, frames: JSON.parse(r.frames!), details: JSON.parse(r.details!) }) as StoredFinding);
  } finally {
    d.close();
  }
}
