// Run the built CLI (bin/twscope.js -> dist/) as a user would.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
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
