// The heap limits of pipeline/heap.ts rely on V8 reading two flags after start-up. If a Node
// update stopped honouring them, nothing would fail but the peak RSS: this test notices.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './helpers/env.ts';

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

describe('heap limits', () => {
  it('the young generation stops growing at 8 MB; without the limit it grows past it', () => {
    expect(youngMB(false)).toBeGreaterThan(8);
    expect(youngMB(true)).toBeLessThanOrEqual(8);
  });
});
