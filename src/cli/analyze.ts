import fs from 'node:fs';
import Database from 'better-sqlite3';
import { Command, Option } from 'commander';
import { analyze, defaultDbPath } from '../pipeline/analyze.js';
import type { AnalysisOptions } from '../detect/types.js';
import { FINDING_KINDS } from '../detect/kinds.js';
import { buildSummary, makeStyle, renderSummaryText, useColor } from '../report/summary.js';
import { ProgressBar } from './progress.js';
import { UserError } from './errors.js';
import { writeReportFile } from '../report/index.js';
import { StoreError } from '../store/client.js';

export interface AnalyzeCliOptions {
  db?: string;
  report?: string;
  timeWait?: string;
  msl?: string;
  portRange: string;
  idleTimeout: string;
  packets?: boolean;
  failOn?: string;
  quiet?: boolean;
  json?: boolean;
  progress: boolean;
}

export function parseAnalysisOptions(o: AnalyzeCliOptions): AnalysisOptions {
  if (o.timeWait !== undefined && o.msl !== undefined) throw new UserError('give --time-wait or --msl, not both (--msl N means a TIME-WAIT of 2*N seconds)');
  const num = (v: string, name: string, min: number): number => {
    const x = Number(v);
    if (!Number.isFinite(x) || x < min) throw new UserError(`${name}: expected a number >= ${min}, got '${v}'`);
    return x;
  };
  const msl = o.msl !== undefined ? num(o.msl, '--msl', 0.001) : 30;
  const timeWait = o.timeWait !== undefined ? num(o.timeWait, '--time-wait', 0.001) : o.msl !== undefined ? 2 * msl : 60;
  const m = /^(\d+)\s*[-:,\s]\s*(\d+)$/.exec(o.portRange.trim());
  if (!m) throw new UserError(`--port-range: expected LOW-HIGH (e.g. 32768-60999), got '${o.portRange}'`);
  const portLow = Number(m[1]);
  const portHigh = Number(m[2]);
  if (portLow < 1 || portHigh > 65535 || portLow > portHigh) throw new UserError(`--port-range: ${o.portRange} is not a range of ports within 1-65535`);
  return { timeWait, msl: o.msl !== undefined ? msl : timeWait / 2, portLow, portHigh, idleTimeout: num(o.idleTimeout, '--idle-timeout', 1) };
}

export function parseFailOn(v: string | undefined): string[] {
  if (!v) return [];
  const kinds = v.split(',').map((s) => s.trim()).filter(Boolean);
  for (const k of kinds) {
    if (k !== 'any' && k !== 'warning' && k !== 'critical' && !FINDING_KINDS.includes(k)) {
      throw new UserError(`--fail-on: unknown finding kind '${k}' (kinds: ${FINDING_KINDS.join(', ')}; or any, warning, critical)`);
    }
  }
  return kinds;
}

export function registerAnalyze(program: Command): void {
  program
    .command('analyze')
    .description('reconstruct every TCP connection of one or more captures, run the detectors, write the SQLite store and print a summary')
    .argument('<capture...>', 'pcap or pcapng files (gzip ok); several files are one timeline; - reads standard input')
    .option('--db <file>', 'SQLite store to write (default: next to the first capture, NAME.twscope.db)')
    .option('--report <file>', 'also write a report; the format follows the extension: .md, .html or .json')
    .option('--time-wait <seconds>', 'TIME-WAIT length (default 60, Linux TCP_TIMEWAIT_LEN)')
    .option('--msl <seconds>', 'maximum segment lifetime; sets TIME-WAIT to 2*MSL (RFC 9293: 120, i.e. 240 s)')
    .option('--port-range <low-high>', 'ephemeral port range of the clients (Linux ip_local_port_range)', '32768-60999')
    .option('--idle-timeout <seconds>', 'forget an open connection idle this long in capture time', '300')
    .option('--packets', 'also store every TCP segment in the packets table')
    .option('--fail-on <kinds>', 'exit with code 1 when findings of these kinds exist (comma separated; also any, warning, critical)')
    .option('-q, --quiet', 'print nothing on success')
    .option('--json', 'print the summary as JSON')
    .addOption(new Option('--no-progress', 'no progress bar on stderr'))
    .addHelpText(
      'after',
      `
Examples:
  twscope analyze capture.pcap
  twscope analyze capture.pcapng --report incident.html
  tcpdump -i any -s 128 -w - 'tcp' | twscope analyze - --db live.db
  twscope analyze rotated-*.pcap.gz --db night.db --fail-on time-wait-reuse,port-exhaustion
  twscope analyze capture.pcap --port-range 1024-65535 --time-wait 60 --packets

Exit codes: 0 done, 1 a --fail-on finding exists, 2 bad input (unreadable or damaged capture, bad option).`,
    )
    .action(async (captures: string[], o: AnalyzeCliOptions) => {
      const options = parseAnalysisOptions(o);
      const failOn = parseFailOn(o.failOn);
      if (o.report && !/\.(md|markdown|html?|json)$/i.test(o.report)) throw new UserError(`--report ${o.report}: the extension must be .md, .html or .json`);
      if (captures.filter((c) => c === '-').length > 0 && captures.length > 1) throw new UserError('- (standard input) cannot be combined with other captures');
      for (const c of captures) {
        if (c === '-') continue;
        let st: fs.Stats;
        try {
          st = fs.statSync(c);
        } catch {
          throw new UserError(`${c}: no such file`);
        }
        if (st.isDirectory()) throw new UserError(`${c}: is a directory, not a capture file`);
      }
      const dbPath = o.db ?? defaultDbPath(captures);
      const bar = new ProgressBar(o.progress !== false && Boolean(process.stderr.isTTY));
      const ac = new AbortController();
      const onSignal = (): void => ac.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      let result;
      try {
        result = await analyze({ paths: captures, dbPath, options, packets: Boolean(o.packets), signal: ac.signal, onProgress: (p) => bar.update(p) });
      } catch (err) {
        bar.done();
        // the store's errors (from the writer thread too) name the store file
        if (err instanceof Database.SqliteError || err instanceof StoreError) throw new UserError(`${dbPath}: ${err.message.charAt(0).toLowerCase()}${err.message.slice(1)}`);
        throw err;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      bar.done();
      if (result.interrupted) {
        process.stderr.write(`twscope: interrupted; ${dbPath} left as it was\n`);
        process.exit(130);
      }
      if (result.frames === 0 && result.damage) throw new UserError(result.damage.message);

      const db = new Database(dbPath, { readonly: true, fileMustExist: true });
      let failHits = 0;
      try {
        const summary = buildSummary(db, result.captureId);
        if (o.json) process.stdout.write(JSON.stringify({ ...summary, db: dbPath, seconds: result.seconds }, null, 2) + '\n');
        else if (!o.quiet) {
          process.stdout.write(renderSummaryText(summary, makeStyle(useColor(process.stdout))));
          process.stdout.write(`  store: ${dbPath}${o.report ? `   report: ${o.report}` : ''}\n`);
        }
        if (o.report) writeReportFile(db, result.captureId, o.report);
        if (failOn.length) failHits = countFailOn(db, result.captureId, failOn);
      } finally {
        db.close();
      }
      if (result.damage) {
        process.stderr.write(`twscope: ${result.damage.message} (everything before it was analyzed)\n`);
        process.exit(2);
      }
      if (failHits > 0) {
        if (!o.quiet) process.stderr.write(`twscope: ${failHits} finding(s) matched --fail-on ${o.failOn}\n`);
        process.exit(1);
      }
    });
}

function countFailOn(db: Database.Database, captureId: number, failOn: string[]): number {
  const sev = failOn.includes('any') ? ['info', 'warning', 'critical'] : failOn.includes('warning') ? ['warning', 'critical'] : failOn.includes('critical') ? ['critical'] : [];
  const kinds = failOn.filter((k) => FINDING_KINDS.includes(k));
  const row = db
    .prepare(
      `SELECT count(*) AS n FROM findings WHERE capture_id = ? AND (kind IN (SELECT value FROM json_each(?)) OR severity IN (SELECT value FROM json_each(?)))`,
    )
    .get(captureId, JSON.stringify(kinds), JSON.stringify(sev)) as { n: number };
  return row.n;
}
