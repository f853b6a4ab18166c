import fs from 'node:fs';
import Database from 'better-sqlite3';
import { Command, Option } from 'commander';
import { UserError } from './errors.js';
import { buildReport, latestCaptureId } from '../report/model.js';
import { formatOfFile, renderReport, type ReportFormat } from '../report/index.js';

interface ReportCliOptions {
  output?: string;
  capture?: string;
  format?: ReportFormat;
  quiet?: boolean;
}

export function registerReport(program: Command): void {
  program
    .command('report')
    .description('render a report (Markdown, self-contained HTML or JSON) of one capture from a twscope store')
    .argument('<db>', 'SQLite store written by twscope analyze')
    .option('-o, --output <file>', 'write the report to FILE (format from the extension: .md, .html, .json); default: standard output')
    .option('--capture <id>', 'which capture of the store (captures.id; default: the newest)')
    .addOption(new Option('-f, --format <format>', 'report format (default: from the -o extension, else md)').choices(['md', 'html', 'json']))
    .option('-q, --quiet', 'print nothing but the report (no "written" line on stderr)')
    .addHelpText(
      'after',
      `
Examples:
  twscope report cap.twscope.db                      # Markdown on stdout, paste into a ticket
  twscope report cap.twscope.db -o incident.html     # one self-contained HTML file with charts
  twscope report cap.twscope.db --format json | jq '.findings[] | .summary'
  twscope report night.db --capture 3 -o night.md

Exit codes: 0 done, 2 bad input (no such store, no such capture, unwritable file, bad option).`,
    )
    .action((dbPath: string, o: ReportCliOptions) => {
      let format: ReportFormat = o.format ?? 'md';
      if (o.output !== undefined && o.format === undefined) {
        const f = formatOfFile(o.output);
        if (f === null) throw new UserError(`-o ${o.output}: the extension must be .md, .html or .json (or give --format)`);
        format = f;
      }
      if (!fs.existsSync(dbPath)) throw new UserError(`${dbPath}: no such file`);
      let db: Database.Database;
      try {
        db = new Database(dbPath, { readonly: true, fileMustExist: true });
        db.prepare('SELECT 1 FROM captures LIMIT 1').get();
      } catch (err) {
        throw new UserError(`${dbPath}: not a twscope database (${(err as Error).message})`);
      }
      let text: string;
      try {
        let id: number;
        if (o.capture !== undefined) {
          id = Number(o.capture);
          if (!Number.isInteger(id) || id < 1) throw new UserError(`--capture: expected a capture id (a positive integer), got '${o.capture}'`);
          if (db.prepare('SELECT 1 FROM captures WHERE id = ?').get(id) === undefined) {
            const ids = (db.prepare('SELECT id FROM captures ORDER BY id').all() as { id: number }[]).map((r) => r.id);
            throw new UserError(`--capture ${id}: no such capture in ${dbPath} (captures: ${ids.join(', ') || 'none'})`);
          }
        } else {
          try {
            id = latestCaptureId(db);
          } catch {
            throw new UserError(`${dbPath}: the store holds no capture`);
          }
        }
        text = renderReport(buildReport(db, id, { db: dbPath }), format);
      } finally {
        db.close();
      }
      if (o.output === undefined) {
        process.stdout.write(text);
        return;
      }
      try {
        fs.writeFileSync(o.output, text);
      } catch (err) {
        throw new UserError(`${o.output}: cannot write the report (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
      if (!o.quiet) process.stderr.write(`twscope: wrote ${o.output}\n`);
    });
}
