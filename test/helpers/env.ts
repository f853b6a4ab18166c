// Shared test helpers: where things are, which tools exist.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const corpusDir = path.resolve(repoRoot, '../shared/corpus');
export const formatsDir = path.resolve(repoRoot, 'captures/formats');

/** a bundled capture, by its path under captures/ */
export function capture(rel: string): string {
  return path.join(repoRoot, 'captures', rel);
}

/** every capture file under `dir` (default: the bundled captures/), sorted */
export function captureFiles(dir = path.join(repoRoot, 'captures')): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = path.join(dir, e);
    if (statSync(p).isDirectory()) out.push(...captureFiles(p));
    else if (/\.(pcap|pcapng)(\.gz)?$/.test(e)) out.push(p);
  }
  return out.sort();
}

export function tmpDir(prefix = 'twscope-test-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function hasTool(cmd: string, arg = '--version'): boolean {
  const r = spawnSync(cmd, [arg], { stdio: 'ignore' });
  return r.status === 0;
}

export const hasCorpus = existsSync(path.join(corpusDir, 'MANIFEST.tsv'));
export const hasTshark = hasTool('tshark');

/** corpus capture files (sorted), without MANIFEST.tsv */
export function corpusFiles(): string[] {
  if (!hasCorpus) return [];
  return readdirSync(corpusDir)
    .filter((f) => f !== 'MANIFEST.tsv' && !f.startsWith('.'))
    .sort();
}

export interface ManifestRow {
  file: string;
  format: string;
  packets: string;
  tcpPackets: string;
  notes: string;
}

export function manifest(): Map<string, ManifestRow> {
  const m = new Map<string, ManifestRow>();
  if (!hasCorpus) return m;
  const lines = readFileSync(path.join(corpusDir, 'MANIFEST.tsv'), 'utf8').split('\n');
  const head = lines[0].split('\t');
  const ix = (n: string): number => head.indexOf(n);
  for (const line of lines.slice(1)) {
    if (!line.trim()) continue;
    const c = line.split('\t');
    m.set(c[ix('file')], { file: c[ix('file')], format: c[ix('format')], packets: c[ix('packets')], tcpPackets: c[ix('tcp_packets')], notes: c[ix('notes')] });
  }
  return m;
}
