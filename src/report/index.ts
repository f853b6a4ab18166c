import fs from 'node:fs';
import type Database from 'better-sqlite3';
import { buildSummary } from './summary.js';
import { UserError } from '../cli/errors.js';

/** render a report of one capture from the store; the format follows the file extension */
export function writeReportFile(db: Database.Database, captureId: number, file: string): void {
  if (/\.json$/i.test(file)) {
    fs.writeFileSync(file, JSON.stringify({ schema_version: 1, summary: buildSummary(db, captureId) }, null, 2) + '\n');
    return;
  }
  throw new UserError(`${file}: only .json reports are available in this build`);
}
