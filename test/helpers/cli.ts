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

export function twscope(args: string[], input?: Buffer): CliResult {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin/twscope.js'), ...args], {
    cwd: repoRoot,
    input,
    maxBuffer: 64 << 20,
    env: { ...process.env, TWSCOPE_DEBUG: '' },
  });
  return { code: r.status, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
}

/** `twscope analyze -q` of `capture` (under the repository, or an absolute path) into a fresh
 *  store `<basename>.db` in `dir`, plus `extra` options; the store's path */
export function analyzeInto(dir: string, capture: string, extra: string[] = []): string {
  const db = path.join(dir, path.basename(capture) + '.db');
  rmSync(db, { force: true });
  execFileSync(process.execPath, [path.join(repoRoot, 'bin/twscope.js'), 'analyze', path.resolve(repoRoot, capture), '--db', db, '-q', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
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
