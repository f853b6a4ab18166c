// The heap limits of pipeline/heap.ts rely on V8 reading two flags after start-up. If a Node
// update stopped honouring them, nothing would fail but the peak RSS: this test notices.
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, tmpDir } from './helpers/env.ts';

// keeps 200k small objects alive while allocating 3 M more: the young generation grows as far
// as V8 lets it. Prints its size in MB.
const script = (limit: boolean): string => `
  import v8 from 'node:v8';
  import { limitHeapGrowth, capYoungGeneration } from ${JSON.stringify(path.join(repoRoot, 'dist/pipeline/heap.js'))};
  if (${limit}) limitHeapGrowth();
  const keep = [];
  for (let i = 0; i < 3e6; i++) {
    keep.push({ a: i, b: [i] });
    if (keep.length > 2e5) keep.splice(0, 1e5);
    if (${limit} && (i & 4095) === 0) capYoungGeneration();
  }
  const ns = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  console.log(ns.space_size / 2 ** 20);
`;

function youngMB(limit: boolean): number {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script(limit)], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return Number(r.stdout.trim());
}

// the young generation already at 8 MB when an analysis starts (a busy start-up gets there
// first), then an analysis of a generated capture: prints the young generation before and after
const analyzeScript = (dir: string): string => `
  import v8 from 'node:v8';
  import { Worker } from 'node:worker_threads';
  const dist = ${JSON.stringify(path.join(repoRoot, 'dist'))};
  const { generateCapture } = await import(dist + '/bench/gen.js');
  const { analyze } = await import(dist + '/pipeline/analyze.js');
  const { limitHeapGrowth } = await import(dist + '/pipeline/heap.js');
  const ns = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 2 ** 20;
  const keep = [];
  const fill = () => { for (let i = 0; i < 3e6; i++) { keep.push({ a: i, b: [i] }); if (keep.length > 2e5) keep.splice(0, 1e5); } keep.length = 0; };
  if (process.argv[2] === 'worker-after-cap') {
    // what V8 does: a new isolate's heap set-up puts the growth factor back
    for (let i = 0; ns() < 8; i++) { keep.push({ a: i, b: [i] }); if (keep.length > 2e5) keep.splice(0, 1e5); }
    limitHeapGrowth();
    const w = new Worker('setTimeout(() => {}, 10)', { eval: true });
    await new Promise((r) => w.on('online', r));
    fill();
    console.log(8, ns());
  } else {
    const file = ${JSON.stringify(dir)} + '/gen.pcap';
    generateCapture(file, { packets: 300000, seed: 3 });
    for (let i = 0; ns() < 8; i++) { keep.push({ a: i, b: [i] }); if (keep.length > 2e5) keep.splice(0, 1e5); }
    const before = ns();
    keep.length = 0;
    await analyze({ paths: [file], dbPath: ${JSON.stringify(dir)} + '/gen.db', packets: false, options: { timeWait: 60, msl: 30, portLow: 32768, portHigh: 60999, idleTimeout: 300 } });
    console.log(before, ns());
  }
`;

function youngAround(mode: 'analyze' | 'worker-after-cap'): number[] {
  const dir = tmpDir('twscope-heap-');
  // a file, not -e: a Worker inherits the parent's --input-type and refuses it
  const script = path.join(dir, 'young.mjs');
  writeFileSync(script, analyzeScript(dir));
  const r = spawnSync(process.execPath, [script, mode], { encoding: 'utf8' });
  rmSync(dir, { recursive: true, force: true });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.trim().split(' ').map(Number);
}

describe('heap limits', () => {
  it('the young generation stops growing at 8 MB; without the limit it grows past it', () => {
    expect(youngMB(false)).toBeGreaterThan(8);
    expect(youngMB(true)).toBeLessThanOrEqual(8);
  });

  it('a Worker started after the cap undoes it (V8), so analyze sets it after starting its store thread', () => {
    expect(youngAround('worker-after-cap')[1]).toBeGreaterThan(8);
    // set before the store's thread started, the cap was lost and the young generation grew to 32 MB
    expect(youngAround('analyze')).toEqual([8, 8]);
  }, 30_000);
});
