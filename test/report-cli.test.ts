// `twscope report` and `analyze --report`: formats from the extension, errors in one line with exit 2.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, beforeAll } from 'vitest';
import { analyzeInto, twscope } from './helpers/cli.ts';
import { capture, tmpDir } from './helpers/env.ts';

const dir = tmpDir('twscope-report-cli-');
const cap = 'findings/reuse-refused.pcap';

describe.skipIf(!fs.existsSync(capture(cap)))('report command', () => {
  let db = '';
  beforeAll(() => {
    db = analyzeInto(dir, capture(cap));
  });

  it('writes Markdown to stdout by default', () => {
    const r = twscope(['report', db]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^# twscope report: /);
    expect(r.stdout).toContain('## Verdict');
  });

  it('takes the format from -o, --format overrides, and --format json goes to stdout', () => {
    for (const [file, head] of [['r.md', '# twscope report'], ['r.html', '<!DOCTYPE html>'], ['r.json', '{']] as const) {
      const out = path.join(dir, file);
      const r = twscope(['report', db, '-o', out]);
      expect(r.code, r.stderr).toBe(0);
      expect(fs.readFileSync(out, 'utf8').startsWith(head)).toBe(true);
    }
    const j = twscope(['report', db, '--format', 'json']);
    expect(JSON.parse(j.stdout).schema_version).toBe(1);
    const forced = path.join(dir, 'report.txt');
    expect(twscope(['report', db, '-o', forced, '--format', 'html', '-q']).code).toBe(0);
    expect(fs.readFileSync(forced, 'utf8').startsWith('<!DOCTYPE html>')).toBe(true);
  });

  it('analyze --report writes each format', () => {
    for (const ext of ['md', 'html', 'json']) {
      const out = path.join(dir, `a.${ext}`);
      const r = twscope(['analyze', capture(cap), '--db', path.join(dir, `a-${ext}.db`), '--no-progress', '-q', '--report', out]);
      expect(r.code, r.stderr).toBe(0);
      expect(fs.statSync(out).size).toBeGreaterThan(500);
    }
  });

  it('errors are one line and exit 2', () => {
    const cases: string[][] = [
      ['report', path.join(dir, 'missing.db')],
      ['report', db, '--capture', '99'],
      ['report', db, '--capture', 'x'],
      ['report', db, '-o', path.join(dir, 'r.pdf')],
      ['report', db, '--format', 'pdf'],
      ['report', db, '-o', path.join(dir, 'no-such-dir', 'r.md')],
      ['report', capture(cap)],
    ];
    for (const args of cases) {
      const r = twscope(args);
      expect(r.code, args.join(' ')).toBe(2);
      // one line, usage errors included
      expect(r.stderr.trim().split('\n').length, r.stderr).toBe(1);
      expect(r.stdout).toBe('');
    }
  });

  it('--help has examples', () => {
    const r = twscope(['report', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Examples:');
    expect(r.stdout).toContain('twscope report cap.twscope.db -o incident.html');
  });

  it('the analyze summary leads with the worst finding, without colour when NO_COLOR is set', () => {
    const r = twscope(['analyze', capture(cap), '--db', path.join(dir, 's.db'), '--no-progress'], { env: { FORCE_COLOR: '1', NO_COLOR: '1' } });
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[2]).toMatch(/^ {2}CRITICAL {2}New connection .* reused its 4-tuple/);
    expect(r.stdout).not.toContain('\x1b[');
    const c = twscope(['analyze', capture(cap), '--db', path.join(dir, 's.db'), '--no-progress'], { env: { FORCE_COLOR: '1', NO_COLOR: '' } });
    expect(c.stdout).toContain('\x1b[');
  });

  it('the summary counts in words: one connection, several packets', () => {
    const one = twscope(['analyze', capture('teardown/simultaneous-close.pcap'), '--db', path.join(dir, 'one.db'), '--no-progress'], { env: { NO_COLOR: '1' } });
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout.split('\n')[1]).toMatch(/^ {2}11 packets, 11 TCP segments, 1 connection, 0\.995 s$/);
  });
});
