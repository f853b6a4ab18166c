// Reports rendered from real scenario captures: the real analyze into a temp store, then
// each format checked against what the store says.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, beforeAll } from 'vitest';
import { analyzeInto, query, twscope } from './helpers/cli.ts';
import { capture, tmpDir } from './helpers/env.ts';
import { RECOMMENDATIONS } from '../src/report/kinds.js';

const dir = tmpDir('twscope-report-');
const have = (rel: string): boolean => fs.existsSync(capture(rel));

interface FRow {
  kind: string;
  severity: string;
  frames: string;
  wireshark_filter: string;
  summary: string;
}

function report(db: string, format: 'md' | 'html' | 'json'): string {
  const r = twscope(['report', db, '--format', format]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

const titleOf = (id: string): string => RECOMMENDATIONS.find((r) => r.id === id)!.title;

describe.skipIf(!have('findings/reuse-refused.pcap') || !have('teardown/server-closes-first.pcap'))('report content', () => {
  let reuseDb = '';
  let cleanDb = '';
  beforeAll(() => {
    reuseDb = analyzeInto(dir, capture('findings/reuse-refused.pcap'));
    cleanDb = analyzeInto(dir, capture('teardown/server-closes-first.pcap'));
  });

  it('Markdown: verdict first, findings table, frames and filters from the store, recommendations for the finding', () => {
    const md = report(reuseDb, 'md');
    const rows = query<FRow>(reuseDb, 'SELECT kind, severity, frames, wireshark_filter, summary FROM findings');
    const reuse = rows.filter((r) => r.kind === 'time-wait-reuse');
    expect(reuse.length).toBeGreaterThan(0);
    // the verdict comes before everything else and names the worst finding
    const verdictAt = md.indexOf('## Verdict');
    expect(verdictAt).toBeGreaterThan(0);
    expect(verdictAt).toBeLessThan(md.indexOf('## Findings'));
    const verdict = md.slice(verdictAt, md.indexOf('## Findings'));
    expect(verdict).toMatch(/Problem: Port reused during TIME-WAIT/);
    expect(verdict).toMatch(/Confidence: (high|medium|low)/);
    expect(verdict).toMatch(/What to do: /);
    // a pipe table row for the kind, with its severity and count
    expect(md).toMatch(new RegExp(`^\\| CRITICAL \\| Port reused during TIME-WAIT \\| \`time-wait-reuse\` \\| ${reuse.length}`, 'm'));
    for (const f of reuse) {
      const frames = JSON.parse(f.frames) as number[];
      expect(frames.length).toBeGreaterThan(0);
      expect(md).toContain(`frames: ${frames.join(', ')}`);
      expect(md).toContain(`Wireshark filter: \`${f.wireshark_filter}\``);
    }
    // recommendations tied to the kind
    expect(md).toContain(`### 1. ${titleOf('keepalive-pooling')}`);
    expect(md).toContain('Because of: `time-wait-reuse`.');
    expect(md).not.toContain(titleOf('never-tw-recycle'));
    expect(md).not.toContain(titleOf('check-listener'));
    // no HTML in the Markdown (Jira)
    expect(md).not.toMatch(/<(table|div|br|span|details)\b/i);
  });

  it('a clean capture says so plainly and recommends nothing', () => {
    expect(query<{ n: number }>(cleanDb, 'SELECT count(*) AS n FROM findings')[0]!.n).toBe(0);
    const md = report(cleanDb, 'md');
    expect(md).toMatch(/\*\*No problem found in \d+ connections?\.\*\*/);
    expect(md).toContain('No findings: nothing in this capture calls for action.');
    expect(md).toContain('Nothing: this capture shows no problem, so there is nothing to tune.');
    for (const r of RECOMMENDATIONS) expect(md).not.toContain(r.title);
    const j = JSON.parse(report(cleanDb, 'json')) as { recommendations: unknown[]; verdict: { status: string }; findings: unknown[] };
    expect(j.recommendations).toEqual([]);
    expect(j.findings).toEqual([]);
    expect(j.verdict.status).toBe('clean');
    const html = report(cleanDb, 'html');
    expect(html).toContain('id="no-recommendations"');
    expect(html).not.toContain('class="rec"');
  });

  it('JSON: schema_version, every finding with parsed details, charts from the store', () => {
    const j = JSON.parse(report(reuseDb, 'json')) as {
      schema_version: number;
      findings: { kind: string; frames: number[]; details: Record<string, unknown>; wireshark_filter: string }[];
      recommendations: { id: string; because: string[] }[];
      charts: { reuse_gaps: { points: { y: number }[]; time_wait: number }; connection_rate: { points: unknown[] } };
      top_offenders: { clients: unknown[]; services: unknown[] };
      summary: { connections: number };
    };
    expect(j.schema_version).toBe(1);
    const rows = query<FRow & { details: string }>(reuseDb, 'SELECT kind, frames, details, wireshark_filter FROM findings ORDER BY id');
    expect(j.findings.length).toBe(rows.length);
    const reuse = j.findings.filter((f) => f.kind === 'time-wait-reuse');
    expect(reuse.every((f) => typeof f.details.gap === 'number' && f.frames.length > 0)).toBe(true);
    expect(j.charts.reuse_gaps.points.map((p) => p.y).sort()).toEqual(reuse.map((f) => f.details.gap as number).sort());
    expect(j.charts.reuse_gaps.time_wait).toBe(60);
    expect(j.recommendations.map((r) => r.id)).toContain('keepalive-pooling');
    expect(j.recommendations.every((r) => r.because.every((k) => j.findings.some((f) => f.kind === k)))).toBe(true);
    expect(j.summary.connections).toBe(query<{ n: number }>(reuseDb, 'SELECT count(*) AS n FROM connections')[0]!.n);
    expect(j.top_offenders.services.length).toBeGreaterThan(0);
  });

  it('HTML: self-contained, escapes what comes from the store', () => {
    const html = report(reuseDb, 'html');
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).not.toMatch(/<script\b/i);
    expect(html).not.toMatch(/\b(src|href)\s*=/i);
    expect(html).not.toMatch(/url\(|@import|https?:\/\/(?!www\.w3\.org\/2000\/svg)/i);
    expect(html).toContain('<svg class="chart" id="chart-reuse-gaps"');
    // a hostile summary in the store comes out as text
    const evil = path.join(dir, 'evil.db');
    fs.copyFileSync(reuseDb, evil);
    const Database = require('better-sqlite3') as typeof import('better-sqlite3');
    const d = new Database(evil);
    d.prepare("UPDATE findings SET summary = '<img src=x onerror=alert(1)> & \"q\"', host = '<b>h</b>'").run();
    d.close();
    const bad = report(evil, 'html');
    expect(bad).not.toContain('<img src=x');
    expect(bad).not.toContain('<b>h</b>');
    expect(bad).toContain('&lt;img src=x onerror=alert(1)&gt; &amp; &quot;q&quot;');
    const badMd = report(evil, 'md');
    expect(badMd).toContain('\\<img src=x');
  });
});

describe.skipIf(!have('findings/nat-kernel-default.pcap'))('finding details', () => {
  it('ts-per-connection: dated within the capture; an empty list reads "none" and a flag "yes" or "no", in Markdown and HTML', () => {
    const db = analyzeInto(dir, capture('findings/nat-kernel-default.pcap'));
    // one of the two ts-per-connection findings has no tcp_tw_recycle drops; neither rate was measured
    expect(query<{ n: number }>(db, "SELECT count(*) AS n FROM findings WHERE kind = 'ts-per-connection' AND json_array_length(details, '$.recycle_drops') = 0")[0]!.n).toBe(1);
    // dated from the pair's first connection, not from a whole second before the capture began
    const when = query<{ ts: number; first: number }>(db, "SELECT f.ts AS ts, c.first_ts AS first FROM findings f JOIN captures c ON c.id = f.capture_id WHERE f.kind = 'ts-per-connection'");
    expect(when).toHaveLength(2);
    for (const w of when) expect(w.ts).toBeGreaterThanOrEqual(w.first);
    const md = report(db, 'md');
    expect(md).toContain('recycle_drops `none`');
    expect(md).toContain('rate_measured `no`');
    expect(md).not.toContain('``');
    const html = report(db, 'html');
    expect(html).toMatch(/recycle_drops <code>none<\/code>/);
    expect(html).not.toContain('<code></code>');
  });
});

// Each recommendation appears exactly when a finding of a kind that calls for it is in the
// capture: captures with the finding, and controls without it.
const CASES: { capture: string; present: string[]; absent: string[] }[] = [
  { capture: 'findings/nat-hosts.pcap', present: ['never-tw-recycle'], absent: ['keepalive-pooling', 'check-listener', 'no-linger-zero'] },
  { capture: 'teardown/refused.pcap', present: ['check-listener'], absent: ['keepalive-pooling', 'never-tw-recycle', 'no-linger-zero', 'let-server-close'] },
  { capture: 'teardown/linger0-client.pcap', present: ['no-linger-zero'], absent: ['check-listener', 'never-tw-recycle', 'keepalive-pooling'] },
  { capture: 'teardown/client-closes-first.pcap', present: ['let-server-close'], absent: ['no-linger-zero', 'never-tw-recycle', 'keepalive-pooling', 'check-listener'] },
  { capture: 'findings/reuse-refused.pcap', present: ['keepalive-pooling', 'keep-timestamps'], absent: ['never-tw-recycle', 'no-linger-zero', 'check-listener'] },
  { capture: 'findings/lost-last-ack-reuse.pcap', present: ['client-port-reuse', 'let-server-close', 'keepalive-pooling'], absent: ['never-tw-recycle', 'check-listener'] },
  { capture: 'findings/reuse-server-tw.pcap', present: ['keepalive-pooling'], absent: ['client-port-reuse', 'never-tw-recycle'] },
  // PAWS violations: a forged segment (stray) calls for the timestamp advice; reordering on the path for its own
  { capture: 'findings/paws-delayed.pcapng', present: ['never-tw-recycle'], absent: ['path-reordering', 'keepalive-pooling'] },
  { capture: 'findings/retrans-loss.pcap', present: ['path-reordering'], absent: ['never-tw-recycle', 'keepalive-pooling'] },
  { capture: 'teardown/server-closes-first.pcap', present: [], absent: RECOMMENDATIONS.map((r) => r.id) },
];

describe('recommendations follow the findings', () => {
  for (const c of CASES) {
    it.skipIf(!have(c.capture))(c.capture, () => {
      const db = analyzeInto(dir, capture(c.capture));
      const kinds = new Set(query<{ kind: string }>(db, 'SELECT DISTINCT kind FROM findings').map((r) => r.kind));
      const j = JSON.parse(report(db, 'json')) as { recommendations: { id: string; because: string[] }[] };
      const ids = j.recommendations.map((r) => r.id);
      // only catalogue entries whose kinds are present; all of them unless narrowed by a condition on the details
      const called = RECOMMENDATIONS.filter((r) => r.kinds.some((k) => kinds.has(k)));
      expect(ids.every((id) => called.some((r) => r.id === id))).toBe(true);
      for (const r of called.filter((x) => !x.when)) expect(ids).toContain(r.id);
      for (const id of c.present) expect(ids).toContain(id);
      for (const id of c.absent) expect(ids).not.toContain(id);
      const md = report(db, 'md');
      for (const id of c.present) expect(md).toContain(titleOf(id));
      for (const id of c.absent) expect(md).not.toContain(titleOf(id));
      const html = report(db, 'html');
      for (const id of c.present) expect(html).toContain(`data-rec="${id}"`);
      for (const id of c.absent) expect(html).not.toContain(`data-rec="${id}"`);
    });
  }
});

describe('durations', () => {
  it('read in the unit that fits, from milliseconds to years', async () => {
    const { duration } = await import('../src/report/format.ts');
    expect([0.0042, 0.25, 2.5, 65, 600, 9000, 3 * 86400, 128911033.78].map(duration)).toEqual(['4.200 ms', '250.0 ms', '2.500 s', '65.0 s', '10.0 min', '2.5 h', '3.0 days', '4.1 years']);
  });
});

// which advice a slow connect gets depends on which packet was lost: the SYN (syn-drops: accept
// queue, firewall in front of the server) or the server's answer (synack-lost: the path back)
describe.skipIf(!have('findings/syn-drops.pcap') || !have('findings/synack-lost.pcap'))('SYNs sent again: the advice follows the lost packet', () => {
  it('dropped SYNs: find where the SYNs are dropped; lost SYN-ACKs: find where the SYN-ACKs are lost', () => {
    const ids = (rel: string): string[] => {
      const j = JSON.parse(report(analyzeInto(dir, capture(rel)), 'json')) as { recommendations: { id: string }[] };
      return j.recommendations.map((r) => r.id);
    };
    const drops = ids('findings/syn-drops.pcap');
    expect(drops).toContain('syn-drops');
    expect(drops).not.toContain('synack-lost');
    const lost = ids('findings/synack-lost.pcap');
    expect(lost).toContain('synack-lost');
    expect(lost).not.toContain('syn-drops');
    expect(report(analyzeInto(dir, capture('findings/synack-lost.pcap')), 'md')).toContain(titleOf('synack-lost'));
  });
});
