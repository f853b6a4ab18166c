import fs from 'node:fs';
import type Database from 'better-sqlite3';
import { buildReport, type Report } from './model.js';
import { renderMarkdown } from './markdown.js';
import { renderHtml } from './html.js';
import { UserError } from '../cli/errors.js';

export type ReportFormat = 'md' | 'html' | 'json';

/** the format a file name asks for, or null */
export function formatOfFile(file: string): ReportFormat | null {
  if (/\.(md|markdown)$/i.test(file)) return 'md';
  if (/\.html?$/i.test(file)) return 'html';
  if (/\.json$/i.test(file)) return 'json';
  return null;
}

export function renderReport(report: Report, format: ReportFormat): string {
  if (format === 'md') return renderMarkdown(report);
  if (format === 'html') return renderHtml(report);
  return JSON.stringify(report, null, 2) + '\n';
}

/** render a report of one capture from the store; the format follows the file extension unless given */
export function writeReportFile(db: Database.Database, captureId: number, file: string, format?: ReportFormat): void {
  const fmt = format ?? formatOfFile(file);
  if (fmt === null) throw new UserError(`${file}: the report format follows the extension: .md, .html or .json`);
  const text = renderReport(buildReport(db, captureId, { db: db.name }), fmt);
  try {
    fs.writeFileSync(file, text);
  } catch (err) {
    throw new UserError(`${file}: cannot write the report (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

export { buildReport } from './model.js';
