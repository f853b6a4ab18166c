// Writes one analysis into SQLite inside a single transaction: an interrupted run leaves
// the database as it was (SQLite rolls the journal back), a finished run replaces the
// rows of an earlier analysis of the same capture path(s).

import Database from 'better-sqlite3';
import type { Conn } from '../tracker/connection.js';
import { CAPTURE_FILES, CLOCKS, CONNECTIONS, FINDINGS, PACKETS, TIME_WAIT_TIMELINE, insertSQL, schemaSQL, SCHEMA_VERSION, type Table } from './schema.js';

const INDEXED: Table[] = [CONNECTIONS, PACKETS];
/** indexes earlier versions created (connections_capture: the prefix of connections_start) */
const OBSOLETE_INDEXES = ['connections_capture'];
const indexNames = (t: Table): string[] => (t.indexes ?? []).map((ix) => /INDEX IF NOT EXISTS (\w+)/.exec(ix)![1]!);

export interface CaptureRow {
  path: string;
  format: string;
  linkTypes: string;
  packets: number;
  tcpSegments: number;
  firstSec: number | null;
  firstNsec: number | null;
  lastSec: number | null;
  lastNsec: number | null;
  damaged: string | null;
  options: unknown;
  decodeStats: unknown;
  connections: number;
  version: string;
}

export interface CaptureFileRow {
  fileIndex: number;
  path: string;
  format: string;
  linkTypes: string;
  packets: number;
  bytes: number;
  firstTs: number | null;
  lastTs: number | null;
  damaged: string | null;
}

export interface FindingRow {
  kind: string;
  severity: 'info' | 'warning' | 'critical';
  ts: number;
  connectionId: number | null;
  relatedConnectionId: number | null;
  frames: number[];
  host: string | null;
  summary: string;
  details: unknown;
  wiresharkFilter: string;
}

export interface ClockRow {
  srcIp: string;
  dstIp: string;
  clock: number;
  rateHz: number;
  measuredHz: number | null;
  offset: number | null;
  connections: number[];
  firstTs: number;
  lastTs: number;
}

export interface TimelineRow {
  ts: number;
  host: string;
  serverIp: string;
  serverPort: number | null;
  timeWait: number;
  peakTimeWait: number;
  newConnections: number;
}

/** exact Unix nanoseconds as a BigInt (doubles cannot hold them) */
export function nanos(sec: number, nsec: number): bigint | null {
  const v = BigInt(sec) * 1_000_000_000n + BigInt(nsec);
  // SQLite integers are 64-bit: times past the year 2262 (damaged or synthetic files) have no ns column
  return v > 9_223_372_036_854_775_807n || v < -9_223_372_036_854_775_808n ? null : v;
}

const BATCH = 16;

export class StoreWriter {
  readonly db: Database.Database;
  captureId = 0;
  firstConnId = 1;
  private readonly insConn: Database.Statement;
  private readonly insConnBatch: Database.Statement;
  private readonly insPacket: Database.Statement;
  private readonly insFinding: Database.Statement;
  private readonly insClock: Database.Statement;
  private readonly insTimeline: Database.Statement;
  private readonly insFile: Database.Statement;
  private connBuf: unknown[] = [];
  private connBufRows = 0;
  private open = false;
  private deferredIndexes = false;
  connectionsWritten = 0;

  constructor(path: string) {
    this.db = new Database(path);
    // rollback journal, not WAL: a fresh database needs almost no journal for a bulk insert,
    // and a killed run is rolled back by SQLite on next open
    this.db.pragma('journal_mode = DELETE');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('cache_size = -16384');
    this.db.pragma('temp_store = MEMORY');
    const version = this.db.pragma('user_version', { simple: true }) as number;
    this.db.exec(schemaSQL());
    if (version === 0) this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
    this.insConn = this.db.prepare(insertSQL(CONNECTIONS));
    const one = `(${CONNECTIONS.columns.map(() => '?').join(', ')})`;
    this.insConnBatch = this.db.prepare(`${insertSQL(CONNECTIONS).replace(/VALUES \(.*\)$/, 'VALUES ')}${Array(BATCH).fill(one).join(', ')}`);
    this.insPacket = this.db.prepare(insertSQL(PACKETS));
    this.insFinding = this.db.prepare(insertSQL(FINDINGS, true));
    this.insClock = this.db.prepare(insertSQL(CLOCKS));
    this.insTimeline = this.db.prepare(insertSQL(TIME_WAIT_TIMELINE));
    this.insFile = this.db.prepare(insertSQL(CAPTURE_FILES));
  }

  /** open the transaction, drop an earlier analysis of the same path, reserve ids */
  begin(path: string): void {
    this.db.exec('BEGIN IMMEDIATE');
    this.open = true;
    const old = this.db.prepare('SELECT id FROM captures WHERE path = ?').all(path) as { id: number }[];
    for (const { id } of old) {
      for (const t of ['connections', 'findings', 'clocks', 'packets', 'time_wait_timeline', 'capture_files']) {
        this.db.prepare(`DELETE FROM ${t} WHERE capture_id = ?`).run(id);
      }
      this.db.prepare('DELETE FROM captures WHERE id = ?').run(id);
    }
    const info = this.db
      .prepare("INSERT INTO captures (path, status, analyzed_at) VALUES (?, 'incomplete', ?)")
      .run(path, new Date().toISOString());
    this.captureId = Number(info.lastInsertRowid);
    const max = this.db.prepare('SELECT max(id) AS m FROM connections').get() as { m: number | null };
    this.firstConnId = (max.m ?? 0) + 1;
    // bulk load into an empty store: build the indexes once at the end instead of row by row
    if (max.m === null) {
      for (const name of [...INDEXED.flatMap(indexNames), ...OBSOLETE_INDEXES]) this.db.exec(`DROP INDEX IF EXISTS ${name}`);
      this.deferredIndexes = true;
    }
  }

  /** rows already laid out by pushConnRow (from the main thread) */
  writeConnRows(values: unknown[], rows: number): void {
    const n = CONNECTIONS.columns.length;
    let r = 0;
    if (this.connBufRows === 0) for (; r + BATCH <= rows; r += BATCH) this.insConnBatch.run(values.slice(r * n, (r + BATCH) * n));
    for (; r < rows; r++) {
      for (let i = r * n; i < (r + 1) * n; i++) this.connBuf.push(values[i]);
      if (++this.connBufRows === BATCH) {
        this.insConnBatch.run(this.connBuf);
        this.connBuf.length = 0;
        this.connBufRows = 0;
      }
    }
    this.connectionsWritten += rows;
  }

  /** packet rows laid out as PACKETS columns without capture_id */
  writePacketRows(values: unknown[], rows: number): void {
    const n = PACKETS.columns.length - 1;
    const row: unknown[] = new Array(n + 1);
    row[0] = this.captureId;
    for (let r = 0; r < rows; r++) {
      for (let i = 0; i < n; i++) row[i + 1] = values[r * n + i];
      this.insPacket.run(row);
    }
  }

  private flushConns(): void {
    const n = CONNECTIONS.columns.length;
    for (let i = 0; i < this.connBufRows; i++) this.insConn.run(this.connBuf.slice(i * n, (i + 1) * n));
    this.connBuf.length = 0;
    this.connBufRows = 0;
  }

  writeFinding(f: FindingRow): void {
    this.insFinding.run(
      this.captureId, f.kind, f.severity, f.ts, f.connectionId, f.relatedConnectionId, JSON.stringify(f.frames), f.host, f.summary, JSON.stringify(f.details), f.wiresharkFilter,
    );
  }

  writeClock(r: ClockRow): void {
    this.insClock.run(this.captureId, r.srcIp, r.dstIp, r.clock, r.rateHz, r.measuredHz, r.offset, JSON.stringify(r.connections), r.firstTs, r.lastTs);
  }

  writeTimeline(r: TimelineRow): void {
    this.insTimeline.run(this.captureId, r.ts, r.host, r.serverIp, r.serverPort, r.timeWait, r.peakTimeWait, r.newConnections);
  }

  writeFile(r: CaptureFileRow): void {
    this.insFile.run(this.captureId, r.fileIndex, r.path, r.format, r.linkTypes, r.packets, r.bytes, r.firstTs, r.lastTs, r.damaged);
  }

  /** fill in the capture row, mark it complete and commit */
  commit(row: CaptureRow): void {
    this.flushConns();
    const ts = (s: number | null, n: number | null): number | null => (s === null || n === null ? null : s + n / 1e9);
    this.db
      .prepare(
        `UPDATE captures SET path = ?, format = ?, link_types = ?, packets = ?, tcp_segments = ?, first_ts = ?, first_ns = ?, last_ts = ?, last_ns = ?,
         damaged = ?, options = ?, decode_stats = ?, status = 'complete', connections = ?, twscope_version = ? WHERE id = ?`,
      )
      .run(
        row.path, row.format, row.linkTypes, row.packets, row.tcpSegments,
        ts(row.firstSec, row.firstNsec), row.firstSec === null ? null : nanos(row.firstSec, row.firstNsec ?? 0),
        ts(row.lastSec, row.lastNsec), row.lastSec === null ? null : nanos(row.lastSec, row.lastNsec ?? 0),
        row.damaged, JSON.stringify(row.options), JSON.stringify(row.decodeStats), row.connections, row.version, this.captureId,
      );
    if (this.deferredIndexes) for (const t of INDEXED) for (const ix of t.indexes ?? []) this.db.exec(ix);
    this.db.exec('COMMIT');
    this.open = false;
  }

  rollback(): void {
    if (this.open) {
      this.db.exec('ROLLBACK');
      this.open = false;
    }
  }

  close(): void {
    this.rollback();
    this.db.close();
  }
}

const int = (v: number): number | null => (v < 0 ? null : v);

export function pushConnRow(out: unknown[], c: Conn, captureId: number): void {
  const cl = c.client;
  const sv = c.server;
  const handshake = cl.isn !== -1 && sv.isn !== -1;
  out.push(
    c.id, captureId, c.clientIp, c.cport, c.serverIp, c.sport, c.ipVersion,
    c.firstFrame, c.lastFrame,
    c.start, nanos(c.startSec, c.startNsec), c.end, nanos(c.endSec, c.endNsec), c.end - c.start,
    c.orientationGuessed ? 1 : 0, c.connState, c.history, c.closeKind, c.activeCloser,
    c.timeWaitStart, c.timeWaitEnd, c.timeWaitStart === null ? null : c.timeWaitEstimated ? 1 : 0, c.lastAckFrame || null,
    c.rstBy, c.rstKind, c.rstFrame || null,
    cl.finFrame || null, sv.finFrame || null, cl.finCount, sv.finCount,
    c.clientState, c.serverState, c.endReason,
    cl.pkts, sv.pkts, cl.bytes, sv.bytes, cl.retrans, sv.retrans,
    int(cl.isn), int(sv.isn), cl.synCount,
    (handshake ? cl.synHasTs && sv.synHasTs : cl.tsSeen && sv.tsSeen) ? 1 : 0,
    int(cl.mss), int(sv.mss), int(cl.wscale), int(sv.wscale),
    cl.sackPermitted && sv.sackPermitted ? 1 : 0,
    cl.tsSeen ? cl.firstTsval : null, cl.tsSeen ? cl.lastTsval : null,
    sv.tsSeen ? sv.firstTsval : null, sv.tsSeen ? sv.lastTsval : null,
    c.handshakeRtt, c.prevId, c.reuseGap,
  );
}

