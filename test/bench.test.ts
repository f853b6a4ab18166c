// `npm run bench` on a small generated capture: each round gives its CPU time beside its wall
// time, and the detectors' CPU-time ratio and difference are the ones those rounds give.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './helpers/env.ts';

describe('benchmark', () => {
  it('reports CPU time per step and round, and the detectors CPU-time ratio from those rounds', () => {
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'dist/bench/main.js'), '--sizes', '20000', '--runs', '2', '--steps', 'read;analyze;analyze (no detectors)'], {
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    // "  round 1/2: analyze on gen-20000.pcap: 0.41 s (CPU 0.62 s), peak RSS 120 MiB"
    const cpu = new Map<string, number[]>();
    for (const m of r.stderr.matchAll(/round \d\/2: (.+?) on gen-20000\.pcap: [\d.]+ s \(CPU ([\d.]+) s\)/g)) {
      cpu.set(m[1]!, [...(cpu.get(m[1]!) ?? []), Number(m[2])]);
    }
    expect([...cpu.keys()].sort()).toEqual(['analyze', 'analyze (no detectors)', 'read']);
    for (const v of cpu.values()) {
      expect(v).toHaveLength(2);
      for (const x of v) expect(x).toBeGreaterThan(0);
    }
    const header = r.stdout.split('\n').find((l) => l.startsWith('file'))!;
    expect(header).toMatch(/\brange {2,}CPU s {2,}packets\/s/);
    const ratio = /gen-20000\.pcap: CPU time, analyze \/ analyze \(no detectors\): ([\d.]+) of the medians; by round ([\d.]+), ([\d.]+)/.exec(r.stdout);
    expect(ratio, r.stdout).not.toBeNull();
    const [a, n] = [cpu.get('analyze')!, cpu.get('analyze (no detectors)')!];
    // the per-round figures are printed to 2 decimals (CPU times near 1 s: within 1 % each), the
    // ratio from the unrounded ones
    const near = (printed: number, expected: number): void => expect(Math.abs(printed / expected - 1)).toBeLessThan(0.03);
    near(Number(ratio![2]), a[0]! / n[0]!);
    near(Number(ratio![3]), a[1]! / n[1]!);
    near(Number(ratio![1]), (a[0]! + a[1]!) / (n[0]! + n[1]!));
    // and what they add in CPU seconds, round by round (the figures here and in each round printed
    // to 2 decimals: within 0.015 s)
    const diff = /gen-20000\.pcap: CPU time, analyze - analyze \(no detectors\): (-?[\d.]+) s of the medians; by round (-?[\d.]+), (-?[\d.]+)/.exec(r.stdout);
    expect(diff, r.stdout).not.toBeNull();
    expect(Math.abs(Number(diff![2]) - (a[0]! - n[0]!))).toBeLessThan(0.016);
    expect(Math.abs(Number(diff![3]) - (a[1]! - n[1]!))).toBeLessThan(0.016);
    expect(Math.abs(Number(diff![1]) - ((a[0]! + a[1]!) / 2 - (n[0]! + n[1]!) / 2))).toBeLessThan(0.016);
  }, 120_000);
});
