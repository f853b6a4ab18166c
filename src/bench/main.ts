// `npm run bench`: generates large captures under bench-out/ (once), then runs each named
// benchmark step on each file in a fresh child process (so peak RSS is the step's own) and
// prints a compact table. Add a step to STEPS to benchmark another stage.
//
//   node dist/bench/main.js                    all steps, default sizes (1M and 10M packets)
//   node dist/bench/main.js --sizes 200000     custom sizes
//   node dist/bench/main.js --steps 'read;read+decode'   (step names separated by ';')
//   node dist/bench/main.js --runs 5           rounds over all steps (default 3): the table shows the
//                                              median time, the range, and the highest peak RSS
//   node dist/bench/main.js --child <step> <file>   (internal: run one step, print JSON)

import { existsSync, mkdirSync, statSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateCapture } from './gen.js';
import { readCaptures } from '../reader/index.js';
import { PacketDecoder, Segment } from '../decode/index.js';
import { analyze } from '../pipeline/analyze.js';
import { median } from '../detect/util.js';
import { rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { buildSummary, makeStyle, renderSummaryText } from '../report/summary.js';

export interface StepResult {
  /** packets processed */
  packets: number;
  /** free-form extra numbers to show */
  note?: string;
}

export interface BenchStep {
  name: string;
  /** false when the step cannot run here (e.g. tool missing); the reason is printed */
  available?: () => true | string;
  /** runs in-process in a child (measured there) unless external is true */
  run: (file: string) => Promise<StepResult>;
  /** the step spawns an external program itself (its RSS is not measured) */
  external?: boolean;
}

export const STEPS: BenchStep[] = [
  {
    name: 'read',
    run: async (file) => {
      let bytes = 0;
      const r = await readCaptures([file], (f) => {
        bytes += f.caplen;
      });
      return { packets: r.frames, note: `${bytes} packet bytes` };
    },
  },
  {
    name: 'read+decode',
    run: async (file) => {
      const dec = new PacketDecoder();
      const seg = new Segment();
      let tcp = 0;
      const r = await readCaptures([file], (f) => {
        if (dec.decode(f, seg)) tcp++;
      });
      return { packets: r.frames, note: `${tcp} TCP` };
    },
  },
  {
    name: 'analyze',
    run: async (file) => analyzeStep(file, true),
  },
  {
    name: 'analyze (no detectors)',
    run: async (file) => analyzeStep(file, false),
  },
  {
    name: 'tcptrace -n',
    external: true,
    available: () => (spawnSync('tcptrace', ['-v'], { stdio: 'ignore' }).error ? 'tcptrace not installed' : true),
    run: (file) => external('tcptrace', ['-n', file], (out) => `${out.split('\n').filter((l) => /^\s*\d+: /.test(l)).length} connections`),
  },
  {
    name: 'tshark -z conv,tcp',
    external: true,
    available: () => (spawnSync('tshark', ['--version'], { stdio: 'ignore' }).status === 0 ? true : 'tshark not installed'),
    run: (file) => external('tshark', ['-r', file, '-q', '-z', 'conv,tcp'], (out) => `${out.split('\n').filter((l) => /<->/.test(l)).length} conversations`),
  },
];

async function analyzeStep(file: string, detectors: boolean): Promise<StepResult> {
  const db = path.join(outDir, `bench-${process.pid}.db`);
  rmSync(db, { force: true });
  const r = await analyze({
    paths: [file], dbPath: db, packets: false, detectors,
    options: { timeWait: 60, msl: 30, portLow: 32768, portHigh: 60999, idleTimeout: 300 },
  });
  // and what `twscope analyze` does after it: read the summary back from the store and print it
  const store = new Database(db, { readonly: true, fileMustExist: true });
  const text = renderSummaryText(buildSummary(store, r.captureId), makeStyle(false));
  store.close();
  rmSync(db, { force: true });
  return { packets: r.frames, note: `${r.connections} connections, peak ${r.peakOpen} in memory, summary ${text.length} chars` };
}

/** run a program, with its peak RSS and CPU time from GNU time when available */
function external(cmd: string, args: string[], note: (stdout: string) => string): Promise<StepResult & { maxRssKb?: number; cpuSeconds?: number }> {
  const haveTime = existsSync('/usr/bin/time');
  const argv = haveTime ? ['-f', 'TWSCOPE_MAXRSS=%M TWSCOPE_CPU=%U+%S', cmd, ...args] : args;
  return new Promise((resolve, reject) => {
    const p = spawn(haveTime ? '/usr/bin/time' : cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('close', () => {
      const m = /TWSCOPE_MAXRSS=(\d+)/.exec(err);
      const c = /TWSCOPE_CPU=([\d.]+)\+([\d.]+)/.exec(err);
      resolve({ packets: -1, note: note(out), maxRssKb: m ? Number(m[1]) : undefined, cpuSeconds: c ? Number(c[1]) + Number(c[2]) : undefined });
    });
  });
}

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
const outDir = path.join(repoRoot, 'bench-out');

interface ChildOut {
  packets: number;
  seconds: number;
  /** user + system CPU time of every thread of the step's process (-1: unknown). On a machine
   *  with few cores the wall time of a step depends on what its threads compete with; the CPU
   *  time is the work done, and varies less from run to run */
  cpuSeconds: number;
  maxRssKb: number;
  note?: string;
}

async function child(stepName: string, file: string): Promise<void> {
  const step = STEPS.find((s) => s.name === stepName);
  if (!step) throw new Error(`unknown step ${stepName}`);
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const r = await step.run(file);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const out: ChildOut = { packets: r.packets, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, maxRssKb: process.resourceUsage().maxRSS, note: r.note };
  process.stdout.write(JSON.stringify(out) + '\n');
}

function runChild(stepName: string, file: string): Promise<ChildOut> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', stepName, file], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) return reject(new Error(`step ${stepName} on ${file} exited ${code}`));
      resolve(JSON.parse(out.trim().split('\n').pop() ?? '{}') as ChildOut);
    });
  });
}

function fmtNum(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(0);
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === '--child') return child(argv[1], argv[2]);
  let sizes = [1_000_000, 10_000_000];
  let stepNames = STEPS.map((s) => s.name);
  let runs = 3;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--sizes') sizes = argv[++i].split(',').map(Number);
    else if (argv[i] === '--steps') stepNames = argv[++i].split(';').map((s) => s.trim());
    else if (argv[i] === '--runs') runs = Math.max(1, Number(argv[++i]) || 1);
  }
  mkdirSync(outDir, { recursive: true });
  const files: { file: string; packets: number; bytes: number }[] = [];
  for (const size of sizes) {
    const file = path.join(outDir, `gen-${size}.pcap`);
    if (!existsSync(file)) {
      const t0 = Date.now();
      const g = generateCapture(file, { packets: size, seed: 42 });
      process.stderr.write(`generated ${file}: ${g.packets} packets, ${g.connections} connections, ${(g.bytes / 1e6).toFixed(0)} MB in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    }
    files.push({ file, packets: size, bytes: statSync(file).size });
  }
  const rows: string[][] = [['file', 'MB', 'step', 'packets', 'seconds', 'range', 'CPU s', 'packets/s', 'MB/s', 'peak RSS MiB', 'note']];
  const ratios: string[] = [];
  const diffs: string[] = [];
  for (const f of files) {
    const steps = stepNames.map((name) => {
      const step = STEPS.find((s) => s.name === name);
      if (!step) throw new Error(`unknown step ${name}`);
      return { name, step, available: step.available ? step.available() : true, results: [] as ChildOut[] };
    });
    // rounds over all steps, so that every tool sees the same phases of a noisy machine
    for (let round = 1; round <= runs; round++) {
      for (const st of steps) {
        if (st.available !== true) continue;
        let r: ChildOut;
        if (st.step.external) {
          const t0 = process.hrtime.bigint();
          const x = (await st.step.run(f.file)) as StepResult & { maxRssKb?: number; cpuSeconds?: number };
          r = { packets: f.packets, seconds: Number(process.hrtime.bigint() - t0) / 1e9, cpuSeconds: x.cpuSeconds ?? -1, maxRssKb: x.maxRssKb ?? -1, note: x.note };
        } else r = await runChild(st.name, f.file);
        st.results.push(r);
        // each round's peak too: the table keeps only the highest, and one outlier round sets it
        const rssNote = r.maxRssKb >= 0 ? `, peak RSS ${(r.maxRssKb / 1024).toFixed(0)} MiB` : '';
        const cpuNote = r.cpuSeconds >= 0 ? ` (CPU ${r.cpuSeconds.toFixed(2)} s)` : '';
        process.stderr.write(`  round ${round}/${runs}: ${st.name} on ${path.basename(f.file)}: ${r.seconds.toFixed(2)} s${cpuNote}${rssNote}\n`);
      }
    }
    const mb = f.bytes / 1e6;
    for (const st of steps) {
      if (st.available !== true) {
        rows.push([path.basename(f.file), mb.toFixed(0), st.name, '', '', '', '', '', '', `skipped: ${st.available}`]);
        continue;
      }
      const secs = st.results.map((r) => r.seconds);
      const med = median(secs);
      const r = st.results[0]!;
      const rss = Math.max(...st.results.map((x) => x.maxRssKb));
      const cpus = st.results.map((x) => x.cpuSeconds);
      rows.push([
        path.basename(f.file),
        mb.toFixed(0),
        st.name,
        fmtNum(r.packets),
        med.toFixed(2),
        secs.length > 1 ? `${Math.min(...secs).toFixed(2)}-${Math.max(...secs).toFixed(2)}` : '',
        cpus.every((c) => c >= 0) ? median(cpus).toFixed(2) : '-',
        fmtNum(r.packets / med),
        (mb / med).toFixed(0),
        rss >= 0 ? (rss / 1024).toFixed(0) : '-',
        r.note ?? '',
      ]);
    }
    // the same comparisons round by round (each round ran the steps back to back)
    const of = (name: string, what: 'seconds' | 'cpuSeconds'): number[] | null => {
      const st = steps.find((x) => x.name === name);
      return st && st.results.length && st.results.every((r) => r[what] >= 0) ? st.results.map((r) => r[what]) : null;
    };
    // each pair in wall time; the detectors' cost also as work done (CPU time), beside it
    const pairs: [string, string, 'seconds' | 'cpuSeconds'][] = [
      ['analyze', 'analyze (no detectors)', 'seconds'], ['analyze', 'analyze (no detectors)', 'cpuSeconds'], ['analyze', 'tcptrace -n', 'seconds'],
      ['analyze (no detectors)', 'tcptrace -n', 'seconds'], ['analyze', 'tshark -z conv,tcp', 'seconds'], ['analyze (no detectors)', 'tshark -z conv,tcp', 'seconds'],
    ];
    for (const [a, b, what] of pairs) {
      const x = of(a, what);
      const y = of(b, what);
      if (!x || !y) continue;
      const per = x.map((v, k) => v / y[k]!);
      const label = what === 'cpuSeconds' ? `CPU time, ${a} / ${b}` : `${a} / ${b}`;
      ratios.push(`${path.basename(f.file)}: ${label}: ${(median(x) / median(y)).toFixed(3)} of the medians; by round ${per.map((v) => v.toFixed(3)).join(', ')}`);
      // the detectors' cost in seconds too: the ratio also moves with the time without them (10 M
      // packets, two runs: 2.15 s added to 9.45 s, 2.22 s added to 6.92 s)
      if (b === 'analyze (no detectors)') {
        const diff = x.map((v, k) => v - y[k]!);
        const dl = what === 'cpuSeconds' ? `CPU time, ${a} - ${b}` : `${a} - ${b}`;
        diffs.push(`${path.basename(f.file)}: ${dl}: ${(median(x) - median(y)).toFixed(2)} s of the medians; by round ${diff.map((v) => v.toFixed(2)).join(', ')}`);
      }
    }
  }
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  // text columns (file, step, note) flush left, numbers right
  const note = rows[0].length - 1;
  for (const r of rows) process.stdout.write(r.map((c, i) => (i === 0 || i === 2 || i === note ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ').trimEnd() + '\n');
  if (ratios.length) process.stdout.write('\ntime ratios (seconds of the first over seconds of the second)\n' + ratios.join('\n') + '\n');
  if (diffs.length) process.stdout.write('\nwhat the detectors add (seconds of the first less seconds of the second)\n' + diffs.join('\n') + '\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
