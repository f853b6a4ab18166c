// `twscope packets`: formats, merge, stdin, damage and error handling, through the built CLI.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { twscope } from './helpers/cli.ts';
import { formatsDir, repoRoot } from './helpers/env.ts';

const built = existsSync(path.join(repoRoot, 'dist/cli/main.js'));
if (!built) console.warn('packets-cli: SKIPPED (dist/ not built; npm test runs tsc first)');
const lo = path.join(formatsDir, 'lo-eth.pcap');
const dir = mkdtempSync(path.join(tmpdir(), 'twr-cli-'));

describe.skipIf(!built)('twscope packets', () => {
  it('text: aligned header + one line per TCP segment', () => {
    const r = twscope(['packets', lo]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.length).toBe(1 + 52);
    expect(lines[0].split(/\s+/).filter(Boolean)).toEqual(['frame', 'time', 'src', 'sport', 'dst', 'dport', 'flags', 'seq', 'ack', 'win', 'len', 'tsval', 'tsecr']);
    const first = lines[1].trim().split(/\s+/);
    expect(first[0]).toBe('1');
    expect(first[1]).toMatch(/^\d{10}\.\d{6}$/);
    expect(first[2]).toBe('127.0.0.1');
    expect(first[6]).toBe('S');
    // the column "dport" ends at the same position on every line
    const end = lines[0].indexOf('dport') + 'dport'.length;
    for (const l of lines.slice(1)) expect(l[end]).toBe(' ');
    expect(lines.some((l) => / SA /.test(l))).toBe(true);
    expect(lines.some((l) => / FA /.test(l))).toBe(true);
    expect(lines.some((l) => / RA /.test(l))).toBe(true);
  });

  it('tsv has a header and tab-separated fields; jsonl parses; --limit', () => {
    const t = twscope(['packets', '--format', 'tsv', '--limit', '3', lo]);
    expect(t.code).toBe(0);
    const rows = t.stdout.trimEnd().split('\n').map((l) => l.split('\t'));
    expect(rows.length).toBe(4);
    expect(rows[0]).toEqual(['frame', 'time', 'src', 'sport', 'dst', 'dport', 'flags', 'seq', 'ack', 'win', 'len', 'tsval', 'tsecr']);
    expect(rows[2][6]).toBe('SA');
    expect(rows[3][12]).toMatch(/^\d+$/);
    const j = twscope(['packets', '--format', 'jsonl', lo]);
    const objs = j.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(objs.length).toBe(52);
    expect(objs[0]).toMatchObject({ frame: 1, flags: 'S', src: '127.0.0.1', mss: 65495, wscale: 10, sackPermitted: true });
    expect(objs.filter((o) => o.len === 18).length).toBe(5);
    expect(objs.some((o) => o.src === '::1')).toBe(true);
  });

  it('nanosecond captures print 9 decimals; --time iso', () => {
    const n = twscope(['packets', '--format', 'tsv', '--limit', '1', path.join(formatsDir, 'lo-eth-nano.pcap')]);
    expect(n.stdout.split('\n')[1].split('\t')[1]).toMatch(/^\d{10}\.\d{9}$/);
    const iso = twscope(['packets', '--format', 'tsv', '--limit', '1', '--time', 'iso', lo]);
    expect(iso.stdout.split('\n')[1].split('\t')[1]).toMatch(/^20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  });

  it('reads standard input, plain and gzip', () => {
    const a = twscope(['packets', '--format', 'tsv', lo]);
    const b = twscope(['packets', '--format', 'tsv', '-'], { input: readFileSync(lo) });
    const c = twscope(['packets', '--format', 'tsv', '-'], { input: readFileSync(path.join(formatsDir, 'lo-eth.pcap.gz')) });
    expect(b.code).toBe(0);
    expect(b.stdout).toBe(a.stdout);
    expect(c.stdout).toBe(a.stdout);
  });

  it('a damaged file prints what was read, then one line on stderr naming file, frame and offset; exit 2', () => {
    const buf = readFileSync(lo);
    const p = path.join(dir, 'cut.pcap');
    writeFileSync(p, buf.subarray(0, buf.length - 20));
    const r = twscope(['packets', '--format', 'tsv', p]);
    expect(r.code).toBe(2);
    expect(r.stdout.trimEnd().split('\n').length).toBe(1 + 51);
    const err = r.stderr.trimEnd().split('\n');
    expect(err.length).toBe(1);
    expect(err[0]).toMatch(new RegExp(`^twscope: ${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: frame 52, byte offset \\d+: truncated record`));
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('wrong path, not a capture, unknown option, bad --format: one line, exit 2', () => {
    const w = twscope(['packets', lo, path.join(dir, 'missing.pcap')]);
    expect(w.code).toBe(2);
    expect(w.stdout).toBe('');
    expect(w.stderr).toBe(`twscope: ${path.join(dir, 'missing.pcap')}: no such file\n`);
    const txt = path.join(dir, 'x.txt');
    writeFileSync(txt, 'not a capture at all, just text\n');
    const t = twscope(['packets', txt]);
    expect(t.code).toBe(2);
    expect(t.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(t.stderr).toMatch(/not a pcap or pcapng capture/);
    const u = twscope(['packets', '--frobnicate', lo]);
    expect(u.code).toBe(2);
    expect(u.stderr).toMatch(/unknown option/);
    const f = twscope(['packets', '--format', 'xml', lo]);
    expect(f.code).toBe(2);
    const l = twscope(['packets', '--limit', 'abc', lo]);
    expect(l.code).toBe(2);
    expect(l.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('several files are merged into one timeline', () => {
    const r = twscope(['packets', '--format', 'jsonl', lo, path.join(formatsDir, 'any-sll.pcap')]);
    expect(r.code).toBe(0);
    const objs = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(objs.length).toBe(104);
    expect(objs.map((o) => o.frame)).toEqual(Array.from({ length: 104 }, (_, i) => i + 1));
    const ns = objs.map((o) => BigInt(o.tsSec) * 1000000000n + BigInt(o.tsNsec));
    for (let i = 1; i < ns.length; i++) expect(ns[i] >= ns[i - 1]).toBe(true);
    expect(new Set(objs.map((o) => o.file))).toEqual(new Set([0, 1]));
  });

  it('help has examples and documents the flags', () => {
    const h = twscope(['packets', '--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/Examples:/);
    expect(h.stdout).toMatch(/S=SYN F=FIN R=RST P=PSH A=ACK/);
  });
});
