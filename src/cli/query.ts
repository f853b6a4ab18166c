import Database from 'better-sqlite3';
import { Command, Option } from 'commander';
import fs from 'node:fs';
import { UserError } from './errors.js';
import { drained, readerGone } from './stdout.js';

type Format = 'table' | 'csv' | 'json' | 'ndjson';

export function registerQuery(program: Command): void {
  program
    .command('query')
    .description('run SQL on a twscope store (opened read-only) and print the rows')
    .argument('<db>', 'SQLite store written by twscope analyze')
    .argument('<sql>', 'one SQL statement')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['table', 'csv', 'json', 'ndjson']).default('table'))
    .addHelpText(
      'after',
      `
Examples:
  twscope query cap.twscope.db "SELECT close_kind, count(*) FROM connections GROUP BY 1"
  twscope query cap.twscope.db "SELECT * FROM v_reuse" --format json
  twscope query cap.twscope.db "SELECT * FROM findings WHERE severity = 'critical'" -f ndjson | jq .summary
  twscope schema    # tables, views and every column explained`,
    )
    .action(async (dbPath: string, sql: string, o: { format: Format }) => {
      if (!fs.existsSync(dbPath)) throw new UserError(`${dbPath}: no such file`);
      let db: Database.Database;
      try {
        db = new Database(dbPath, { readonly: true, fileMustExist: true });
        db.pragma('schema_version'); // fails early when the file is not a database
      } catch (err) {
        throw new UserError(`${dbPath}: not a twscope database (${(err as Error).message})`);
      }
      try {
        let stmt: Database.Statement;
        try {
          stmt = db.prepare(sql);
        } catch (err) {
          throw new UserError(`${dbPath}: SQL error: ${(err as Error).message}`);
        }
        if (!stmt.reader) throw new UserError(`${dbPath}: the store is opened read-only: only statements that return rows (SELECT, PRAGMA, WITH ...) are allowed`);
        const cols = stmt.columns().map((c) => c.name);
        try {
          await printRows(stmt, cols, o.format);
        } catch (err) {
          if (err instanceof UserError) throw err;
          throw new UserError(`${dbPath}: SQL error: ${(err as Error).message}`);
        }
      } finally {
        db.close();
      }
    });
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Math.round(v * 1e9) / 1e9);
  if (typeof v === 'bigint') return v.toString();
  if (Buffer.isBuffer(v)) return v.toString('hex');
  return String(v);
}

function jsonValue(v: unknown): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (Buffer.isBuffer(v)) return v.toString('hex');
  return v;
}

function csvCell(v: unknown): string {
  const s = cell(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Output in 64 KB pieces that waits whenever stdout has more queued than it takes: a loop
 *  that never waited queued the whole result in memory and never saw that the reader had gone. */
class Output {
  private buf = '';
  constructor(private readonly out: NodeJS.WriteStream) {}
  /** the reader has gone (`| head`): stop producing rows */
  get gone(): boolean {
    return readerGone(this.out);
  }
  async write(s: string): Promise<void> {
    this.buf += s;
    if (this.buf.length >= 1 << 16) await this.flush();
  }
  async flush(): Promise<void> {
    if (this.buf === '' || this.gone) return;
    const ok = this.out.write(this.buf);
    this.buf = '';
    if (!ok) await drained(this.out);
  }
}

async function printRows(stmt: Database.Statement, cols: string[], format: Format): Promise<void> {
  const out = new Output(process.stdout);
  stmt.raw(true).safeIntegers(true);
  const rows = stmt.iterate() as IterableIterator<unknown[]>;
  try {
    // stop reading rows once the reader has gone (`| head`): a write failed with EPIPE
    if (format === 'csv') {
      await out.write(cols.map(csvCell).join(',') + '\n');
      for (const r of rows) {
        if (out.gone) break;
        await out.write(r.map(csvCell).join(',') + '\n');
      }
      return;
    }
    if (format === 'ndjson' || format === 'json') {
      let first = true;
      if (format === 'json') await out.write('[');
      for (const r of rows) {
        if (out.gone) break;
        const o: Record<string, unknown> = {};
        cols.forEach((c, i) => (o[c] = jsonValue(r[i])));
        const s = JSON.stringify(o);
        await out.write(format === 'json' ? (first ? '\n  ' : ',\n  ') + s : s + '\n');
        first = false;
      }
      if (format === 'json') await out.write(first ? ']\n' : '\n]\n');
      return;
    }
    const all: string[][] = [];
    for (const r of rows) all.push(r.map(cell));
    const widths = cols.map((c, i) => Math.min(60, Math.max(c.length, ...all.map((r) => r[i]!.length))));
    const fmt = (r: string[]): string => r.map((v, i) => (v.length > widths[i]! ? v.slice(0, widths[i]! - 1) + '…' : v.padEnd(widths[i]!))).join('  ').trimEnd();
    await out.write(fmt(cols) + '\n');
    await out.write(widths.map((w) => '-'.repeat(w)).join('  ') + '\n');
    for (const r of all) {
      if (out.gone) break;
      await out.write(fmt(r) + '\n');
    }
    await out.write(`(${all.length} row${all.length === 1 ? '' : 's'})\n`);
  } finally {
    await out.flush();
  }
}
