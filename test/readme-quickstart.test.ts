// The README's promises: its two set-up commands (run verbatim from the repo root; the test
// one is the line .ci/run runs), and every cookbook query runs on a real store.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { capture, repoRoot, tmpDir } from './helpers/env.ts';
import { analyzeInto, twscope } from './helpers/cli.ts';

const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');

/** one-line ```sh blocks */
function shellCommands(md: string): string[] {
  return [...md.matchAll(/^```(?:sh|shell|bash)\n([^\n]*)\n```$/gm)].map((m) => m[1]!);
}

/** ```sql blocks under '### ' headings in the Cookbook section */
function cookbook(md: string): { title: string; sql: string }[] {
  const start = md.indexOf('\n## Cookbook');
  const end = md.indexOf('\n## ', start + 5);
  const section = md.slice(start, end === -1 ? undefined : end);
  const out: { title: string; sql: string }[] = [];
  for (const part of section.split(/^### /m).slice(1)) {
    const title = part.split('\n')[0]!.trim();
    const m = /```sql\n([\s\S]*?)\n```/.exec(part);
    if (m) out.push({ title, sql: m[1]!.trim() });
  }
  return out;
}

const ANALYZE = 'npm install && npx twscope analyze captures/findings/lost-last-ack-reuse.pcap --report report.html';
const TEST = 'npm install && npm test';

describe('README quick start', () => {
  const cmds = shellCommands(readme);

  it('has the two set-up commands, and the test one is what .ci/run runs', () => {
    expect(cmds).toContain(ANALYZE);
    expect(cmds).toContain(TEST);
    const ci = fs.readFileSync(path.join(repoRoot, '.ci/run'), 'utf8').split('\n').map((l) => l.trim());
    expect(ci).toContain(TEST);
  });

  it('the analyze command works as written, from the repository root', () => {
    const cmd = cmds.find((c) => c === ANALYZE)!;
    const report = path.join(repoRoot, 'report.html');
    const store = path.join(repoRoot, 'captures/findings/lost-last-ack-reuse.twscope.db');
    // keep whatever a developer had there
    const saved = [report, store].filter((f) => fs.existsSync(f)).map((f) => {
      const b = f + '.readme-test-backup';
      fs.renameSync(f, b);
      return [f, b] as const;
    });
    try {
      const r = spawnSync('bash', ['-c', cmd], {
        cwd: repoRoot,
        encoding: 'utf8',
        env: { ...process.env, NO_COLOR: '1', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' },
        timeout: 240_000,
      });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain('2 connections');
      expect(r.stdout).toMatch(/CRITICAL .*lost-last-ACK failure/);
      expect(r.stdout).toContain('report: report.html');
      const html = fs.readFileSync(report, 'utf8');
      expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
      expect(html).toContain('<svg class="chart" id="chart-connection-rate"');
      expect(html).toContain('lost-last-ack-reuse.pcap');
      expect(fs.existsSync(store)).toBe(true);
    } finally {
      for (const f of [report, store, store + '-wal', store + '-shm', store + '-journal']) fs.rmSync(f, { force: true });
      for (const [f, b] of saved) fs.renameSync(b, f);
    }
  }, 300_000);
});

describe('README cookbook', () => {
  const queries = cookbook(readme);

  it('has at least ten queries, each under its own question', () => {
    expect(queries.length).toBeGreaterThanOrEqual(10);
    expect(new Set(queries.map((q) => q.title)).size).toBe(queries.length);
  });

  const dir = tmpDir('twscope-cookbook-');
  const stores = ['teardown/mixed.pcap', 'findings/lost-last-ack-reuse.pcap', 'findings/nat-hosts.pcap', 'findings/paws-delayed.pcapng'].filter((c) =>
    fs.existsSync(path.join(repoRoot, 'captures', c)),
  );

  for (const cap of stores) {
    it(`every query runs with twscope query on a store from ${cap}`, () => {
      const db = analyzeInto(dir, capture(cap));
      let rowsSeen = 0;
      for (const q of queries) {
        const r = twscope(['query', db, q.sql, '--format', 'json']);
        expect(r.code, `${q.title}: ${r.stderr}`).toBe(0);
        const rows = JSON.parse(r.stdout) as unknown[];
        expect(Array.isArray(rows)).toBe(true);
        rowsSeen += rows.length;
      }
      expect(rowsSeen).toBeGreaterThan(0);
    });
  }

  it('the queries answer with the facts of the captures', () => {
    const db = analyzeInto(dir, capture('findings/lost-last-ack-reuse.pcap'));
    const q = (title: RegExp): string => queries.find((x) => title.test(x.title))!.sql;
    const reuse = JSON.parse(twscope(['query', db, q(/reused during TIME-WAIT/), '--format', 'json']).stdout) as { holder: string; outcome: string }[];
    expect(reuse.length).toBe(1);
    const fin = JSON.parse(twscope(['query', db, q(/FIN have to be sent again/), '--format', 'json']).stdout) as { server_fin_count: number }[];
    expect(fin.length).toBe(1);
    expect(fin[0]!.server_fin_count).toBeGreaterThan(1);
    const loss = analyzeInto(dir, capture('findings/retrans-loss.pcap'));
    const resent = JSON.parse(twscope(['query', loss, q(/send data again/), '--format', 'json']).stdout) as { client_retrans: number; acked_unseen: number }[];
    const truth = (JSON.parse(fs.readFileSync(path.join(repoRoot, 'captures/findings/retrans-loss.json'), 'utf8')) as { check: { client_TcpRetransSegs: number } }).check;
    expect(resent.map((r) => r.client_retrans)).toEqual([truth.client_TcpRetransSegs]);
    const nat = analyzeInto(dir, capture('findings/nat-hosts.pcap'));
    const hosts = JSON.parse(twscope(['query', nat, q(/several hosts hiding/), '--format', 'json']).stdout) as { hosts: number }[];
    expect(hosts.map((h) => h.hosts)).toEqual([3]);
    const syns = analyzeInto(dir, capture('findings/syn-drops.pcap'));
    const again = JSON.parse(twscope(['query', syns, q(/send their SYN again/), '--format', 'json']).stdout) as { server: string; attempts: number; syn_sent_again: number; never_answered: number }[];
    expect(again.map((r) => [r.server.split(':')[1], r.attempts, r.syn_sent_again, r.never_answered])).toEqual([
      ['8080', 6, 3, 0],
      ['8081', 1, 1, 1],
    ]);
  });
});
