// Bad input on analyze and query: one line on stderr naming what is wrong, exit code 2, no stack
// trace; a damaged capture is analyzed up to the damage and the damage is recorded.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { twscope, type CliResult } from './helpers/cli.ts';
import { corpusDir, hasCorpus, repoRoot } from './helpers/env.ts';
import { generateCapture } from '../src/bench/gen.ts';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'twscope-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const tw = (...args: string[]): CliResult => twscope(args);

function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(stderr).not.toMatch(/\n\s+at /);
  return lines[0]!;
}

describe('analyze and query on bad input', () => {
  it('wrong path', () => {
    const r = tw('analyze', path.join(tmp, 'missing.pcap'), '--db', path.join(tmp, 'x.db'));
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toMatch(/missing\.pcap: no such file/);
  });

  it('a file that is not a capture', () => {
    const f = path.join(tmp, 'text.pcap');
    writeFileSync(f, 'hello world, not a capture\n');
    const r = tw('analyze', f, '--db', path.join(tmp, 'text.db'));
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toMatch(/text\.pcap: byte offset 0: not a pcap or pcapng/);
  });

  it('a capture with a truncated last record: analyzed up to the damage, damage named and stored, exit 2', () => {
    const src = path.join(repoRoot, 'captures/teardown/client-closes-first.pcap');
    const data = readFileSync(src);
    const cut = path.join(tmp, 'cut.pcap');
    writeFileSync(cut, data.subarray(0, data.length - 7));
    const db = path.join(tmp, 'cut.db');
    const r = tw('analyze', cut, '--db', db);
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toMatch(/cut\.pcap: frame 10, byte offset \d+: .*everything before it was analyzed/);
    expect(r.stdout).toMatch(/9 packets/);
    const d = new Database(db, { readonly: true });
    const cap = d.prepare('SELECT packets, damaged, status FROM captures').get() as { packets: number; damaged: string; status: string };
    const conns = d.prepare('SELECT client_pkts + server_pkts AS n, close_kind FROM connections').get() as { n: number; close_kind: string };
    d.close();
    expect(cap).toMatchObject({ packets: 9, status: 'complete' });
    expect(cap.damaged).toMatch(/frame 10/);
    expect(conns).toEqual({ n: 9, close_kind: 'fin' });
  });

  it('bad options', () => {
    for (const args of [['analyze', '--bogus', 'x.pcap'], ['analyze', 'x.pcap', '--port-range', '9-3'], ['analyze', 'x.pcap', '--fail-on', 'nonsense'], ['nosuchcommand']]) {
      const r = tw(...args);
      expect(r.code, args.join(' ')).toBe(2);
      oneLine(r.stderr);
    }
  });

  it('query: bad SQL, a write, a missing store', () => {
    const db = path.join(tmp, 'q.db');
    expect(tw('analyze', path.join(repoRoot, 'captures/teardown/mixed.pcap'), '--db', db, '-q').code).toBe(0);
    const bad = tw('query', db, 'SELEC * FROM connections');
    expect(bad.code).toBe(2);
    // the line names the store it applies to
    expect(oneLine(bad.stderr)).toBe(`twscope: ${db}: SQL error: near "SELEC": syntax error`);
    const write = tw('query', db, 'DELETE FROM connections');
    expect(write.code).toBe(2);
    expect(oneLine(write.stderr)).toMatch(new RegExp(`^twscope: ${db.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: the store is opened read-only`));
    expect(tw('query', db, 'SELECT count(*) AS n FROM connections', '--format', 'csv').stdout).toBe('n\n20\n');
    const missing = tw('query', path.join(tmp, 'none.db'), 'SELECT 1');
    expect(missing.code).toBe(2);
    expect(oneLine(missing.stderr)).toMatch(/none\.db: no such file/);
  });

  it('analyze: a store that cannot be created or is not a database is named', () => {
    const cap = path.join(repoRoot, 'captures/teardown/client-closes-first.pcap');
    const inMissingDir = path.join(tmp, 'no-such-dir', 'x.db');
    const r1 = tw('analyze', cap, '--db', inMissingDir);
    expect(r1.code).toBe(2);
    expect(oneLine(r1.stderr)).toBe(`twscope: ${inMissingDir}: cannot open database because the directory does not exist`);
    const notDb = path.join(tmp, 'not-a-db.db');
    writeFileSync(notDb, 'x'.repeat(4096));
    const r2 = tw('analyze', cap, '--db', notDb);
    expect(r2.code).toBe(2);
    expect(oneLine(r2.stderr)).toBe(`twscope: ${notDb}: file is not a database`);
  });

  it.skipIf(!hasCorpus)('a record claiming a 3.9 GB packet mid-file (corpus): the 18 good frames are kept', () => {
    const f = path.join(corpusDir, 'suricata-verify__smtp-to-comma__10.7.29.101_49898-178.63.41.150_25.pcap');
    if (!existsSync(f)) return;
    const db = path.join(tmp, 'smtp.db');
    const r = tw('analyze', f, '--db', db, '-q');
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toMatch(/frame 19, byte offset 3695/);
    const d = new Database(db, { readonly: true });
    expect((d.prepare('SELECT packets FROM captures').get() as { packets: number }).packets).toBe(18);
    d.close();
  });
});

// `twscope ... | head`: the reader goes away after a few lines. That is not an error: no
// message, the command's own exit code, and no work for output nobody reads.
function headOne(args: string[], closeAtOnce = false): Promise<{ code: number | null; first: string; stderr: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const p = spawn(process.execPath, [path.join(repoRoot, 'bin/twscope.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    // closed before the first write: every write fails with EPIPE
    if (closeAtOnce) p.stdout.destroy();
    let first = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => {
      if (first === '') {
        first = d.toString().split('\n')[0]!;
        p.stdout.destroy();
      }
    });
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, first, stderr, ms: Date.now() - t0 }));
  });
}

describe('a reader that stops early', () => {
  it('query: stops at once, exit 0, nothing on stderr', async () => {
    const db = path.join(tmp, 'pipe.db');
    expect(tw('analyze', path.join(repoRoot, 'captures/teardown/client-closes-first.pcap'), '--db', db, '-q').code).toBe(0);
    // 200 million rows: minutes to print in full
    const sql = 'WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 200000000) SELECT x FROM n';
    for (const format of ['csv', 'ndjson']) {
      const r = await headOne(['query', db, sql, '--format', format]);
      expect(r.first).toBe(format === 'csv' ? 'x' : '{"x":1}');
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.ms).toBeLessThan(20_000);
    }
  }, 60_000);

  it('query and packets wait for a reader that is slow: memory stays bounded, and they stop when it goes', async () => {
    // a parent process's pipe is a socket, written asynchronously: output not yet taken was
    // queued in memory (256 MB after 3 s here), and query noticed the reader had gone only
    // when its 200 million rows were all queued (164 s)
    const db = path.join(tmp, 'slow.db');
    expect(tw('analyze', path.join(repoRoot, 'captures/teardown/client-closes-first.pcap'), '--db', db, '-q').code).toBe(0);
    const cap = path.join(tmp, 'slow.pcap');
    generateCapture(cap, { packets: 300_000, seed: 11 });
    const sql = 'WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 200000000) SELECT x FROM n';
    for (const args of [['query', db, sql, '--format', 'csv'], ['packets', cap]]) {
      const p = spawn(process.execPath, [path.join(repoRoot, 'bin/twscope.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      p.stdout.pause();
      await new Promise((r) => setTimeout(r, 2500));
      const rssMB = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'))![1]) / 1024;
      p.stdout.destroy();
      // gone 10 s later: killed, so that a failing run leaves no process behind
      const code = await new Promise<number | string | null>((r) => {
        const late = setTimeout(() => {
          p.kill('SIGKILL');
          r('still running 10 s after the reader went away');
        }, 10_000);
        p.on('close', (c) => {
          clearTimeout(late);
          r(c);
        });
      });
      expect(rssMB, args[0]).toBeLessThan(150);
      expect(code, args[0]).toBe(0);
    }
  }, 60_000);

  it('analyze writes its store and report, exits 0 and says nothing about the closed pipe', async () => {
    const cap = path.join(repoRoot, 'captures/findings/lost-last-ack-reuse.pcap');
    const db = path.join(tmp, 'pipe2.db');
    const report = path.join(tmp, 'pipe2.md');
    const r = await headOne(['analyze', cap, '--db', db, '--report', report], true);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(readFileSync(report, 'utf8')).toMatch(/time-wait-reuse/);
    const d = new Database(db, { readonly: true });
    expect((d.prepare("SELECT status FROM captures").get() as { status: string }).status).toBe('complete');
    d.close();
  });
});
