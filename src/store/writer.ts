// Writes one analysis into SQLite inside a single transaction: an interrupted run leaves
// the database as it was (SQLite rolls the journal back), a finished run replaces the
// rows of an earlier analysis of the same capture path(s).

import { existsSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { CONN_ENUMS, enumCode, type Conn } from '../tracker/connection.js';
import { ConnTotals, STORED_COLUMNS, type StoredRow } from './totals.js';
import { TABLES, VIEWS, CAPTURE_FILES, CLOCKS, CONNECTIONS, FINDINGS, PACKETS, TIME_WAIT_TIMELINE, insertSQL, schemaSQL, SCHEMA_VERSION } from './schema.js';

const indexName = (ix: string): string => /INDEX IF NOT EXISTS (\w+)/.exec(ix)![1]!;
/** indexes built once after a bulk load into an empty store rather than row by row. Not
 *  connections_start: rows arrive nearly in start order, so it grows at its right edge for
 *  little cost while the writer thread has time to spare, instead of a sort at the end */
const DEFERRED: string[] = [CONNECTIONS, PACKETS].flatMap((t) => t.indexes ?? []).filter((ix) => indexName(ix) !== 'connections_start');
/** SQLite page cache in KiB (set as a negative cache_size); the index sort after a bulk load uses a
 *  quarter. Rows append, so a small cache does: 2 MiB instead of 4 took 4-6 MiB off the peak RSS on
 *  10 M packets with detectors (291-292 against 295-297) for the same insert and index times */
const CACHE_KIB = 2048;
const PAGE_SIZE = 16384;
/** indexes earlier versions created (connections_capture: the prefix of connections_start) */
const OBSOLETE_INDEXES = ['connections_capture'];

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

// Connection rows cross from the main thread to the writer as numbers: each row is CONN_SLOTS
// doubles (NaN = NULL, text enums as their index in CONN_ENUMS) and CONN_TEXTS strings. The
// insert binds them in that order and SQL turns them back into the column values: an enum code
// into its text (cheaper than binding the string), seconds and nanoseconds into exact Unix
// nanoseconds (no BigInt per row). Binding costs about the same per value whatever it holds,
// so the row has no more values than columns, plus one for each nanosecond column.

/** `CASE ? WHEN 1 THEN 'fin' ... END`: an enum code back to its text (unlisted codes: NULL) */
function enumSQL(values: readonly (string | null)[]): string {
  return `CASE ?${values.map((v, i) => (v === null ? '' : ` WHEN ${i} THEN '${v}'`)).join('')} END`;
}
/** seconds and nanoseconds (both exact integers, laid out by nsSlots) to Unix nanoseconds; seconds NaN gives NULL */
const NS_SQL = 'CAST(? AS INTEGER) * 1000000000 + CAST(? AS INTEGER)';

/** free-text columns, bound from the row's strings (in this order) before its numbers */
const CONN_TEXT_COLUMNS = ['client_ip', 'server_ip', 'history'] as const;
export const CONN_TEXTS = CONN_TEXT_COLUMNS.length;
/** the other columns in slot order (as layoutConn writes them), each an SQL expression taking one '?' per slot it reads */
const CONN_NUMERIC: [column: string, sql: string][] = [
  ['id', '?'], ['capture_id', ''], ['client_port', '?'], ['server_port', '?'], ['ip_version', '?'], ['first_frame', '?'], ['last_frame', '?'],
  ['start_ts', '?'], ['start_ns', NS_SQL], ['end_ts', '?'], ['end_ns', NS_SQL], ['duration', '?'],
  ['orientation_guessed', '?'], ['conn_state', enumSQL(CONN_ENUMS.connState)], ['close_kind', enumSQL(CONN_ENUMS.closeKind)], ['active_closer', enumSQL(CONN_ENUMS.activeCloser)],
  ['time_wait_start', '?'], ['time_wait_end', '?'], ['time_wait_estimated', '?'], ['last_ack_frame', '?'],
  ['rst_by', enumSQL(CONN_ENUMS.rstBy)], ['rst_kind', enumSQL(CONN_ENUMS.rstKind)], ['rst_frame', '?'],
  ['client_fin_frame', '?'], ['server_fin_frame', '?'], ['client_fin_count', '?'], ['server_fin_count', '?'],
  ['client_state', enumSQL(CONN_ENUMS.clientState)], ['server_state', enumSQL(CONN_ENUMS.serverState)], ['end_reason', enumSQL(CONN_ENUMS.endReason)],
  ['client_pkts', '?'], ['server_pkts', '?'], ['client_bytes', '?'], ['server_bytes', '?'], ['client_retrans', '?'], ['server_retrans', '?'],
  ['client_isn', '?'], ['server_isn', '?'], ['syn_count', '?'], ['ts_enabled', '?'],
  ['client_mss', '?'], ['server_mss', '?'], ['client_wscale', '?'], ['server_wscale', '?'], ['sack_permitted', '?'],
  ['client_first_tsval', '?'], ['client_last_tsval', '?'], ['server_first_tsval', '?'], ['server_last_tsval', '?'],
  ['handshake_rtt', '?'], ['prev_id', '?'], ['reuse_gap', '?'], ['acked_unseen', '?'],
];
export const CONN_SLOTS = CONN_NUMERIC.reduce((n, [, sql]) => n + (sql.match(/\?/g)?.length ?? 0), 0);
/** a column's first slot in a laid-out row */
export function slotOf(column: string): number {
  let at = 0;
  for (const [c, sql] of CONN_NUMERIC) {
    if (c === column) return at;
    at += sql.match(/\?/g)?.length ?? 0;
  }
  throw new Error(`store: no slot for ${column}`);
}
// the slots the totals read
const S_PORT = slotOf('server_port');
const S_VERSION = slotOf('ip_version');
const S_STATE = slotOf('conn_state');
const S_KIND = slotOf('close_kind');
const S_CLOSER = slotOf('active_closer');
const S_TW = slotOf('time_wait_start');
const S_CPKTS = slotOf('client_pkts');
const S_SPKTS = slotOf('server_pkts');
const S_GUESSED = slotOf('orientation_guessed');
const S_TW_EST = slotOf('time_wait_estimated');
const S_START = slotOf('start_ts');
const CONN_PARAMS = CONN_TEXTS + CONN_SLOTS;
{
  if (CONN_SLOTS !== 54) throw new Error('store: layoutConn writes 54 slots per connection');
  const listed = [...CONN_TEXT_COLUMNS, ...CONN_NUMERIC.map(([c]) => c)].sort().join();
  if (listed !== CONNECTIONS.columns.map((c) => c.name).sort().join()) throw new Error('store: connection row layout does not match the connections table');
}

/** rows per multi-row insert (the client sends whole multiples of it): 16 cost 10% more, 128 or 256 no less */
export const CONN_INSERT_ROWS = 64;

export class StoreWriter {
  readonly db: Database.Database;
  captureId = 0;
  firstConnId = 1;
  /** connection inserts (one row, CONN_INSERT_ROWS rows), made by begin() with the capture id as a constant */
  private insConn: Database.Statement | null = null;
  private insConnBatch: Database.Statement | null = null;
  private connInsertSQL = '';
  private connRowSQL = '';
  /** the parameters of one insert, refilled per statement */
  private readonly connParams: unknown[] = new Array(CONN_INSERT_ROWS * CONN_PARAMS).fill(null);
  private readonly insPacket: Database.Statement;
  private readonly insFinding: Database.Statement;
  private readonly insClock: Database.Statement;
  private readonly insTimeline: Database.Statement;
  private readonly insFile: Database.Statement;
  private open = false;
  private deferredIndexes = false;
  connectionsWritten = 0;
  /** counts over the connection rows as stored (captures.totals) */
  private totals = new ConnTotals();
  private selStored: Database.Statement | null = null;

  constructor(path: string) {
    const fresh = !existsSync(path) || statSync(path).size === 0;
    this.db = new Database(path);
    // a new store gets 16 KiB pages (before its first table): rows of ~300 bytes append 4 times
    // fewer pages; 1 M rows inserted 8 % faster and indexed 20 % faster than with 4 KiB pages
    if (fresh) this.db.pragma(`page_size = ${PAGE_SIZE}`);
    // rollback journal, not WAL: a fresh database needs almost no journal for a bulk insert,
    // and a killed run is rolled back by SQLite on next open
    this.db.pragma('journal_mode = DELETE');
    // a new file holds nothing but this analysis: no fsync (0.2-0.5 s at the end of a large
    // one). A killed process is still rolled back from the journal; only an OS crash or power
    // loss during the run can leave a damaged file, which holds nothing else. An existing
    // store with other captures in it is synced.
    this.db.pragma(fresh ? 'synchronous = OFF' : 'synchronous = NORMAL');
    this.db.pragma(`cache_size = -${CACHE_KIB}`);
    this.db.pragma('temp_store = MEMORY');
    const version = this.db.pragma('user_version', { simple: true }) as number;
    // views hold no data: recreate them so that an older store gets the current definitions
    for (const v of VIEWS) this.db.exec(`DROP VIEW IF EXISTS ${v.name}`);
    this.db.exec(schemaSQL());
    addMissingColumns(this.db);
    if (version === 0) this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
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
        // a table holding nothing else is emptied whole (SQLite frees its pages at once): deleting
        // 1 M connection rows one by one took 3.3 s, a third of analyzing them again
        const others = this.db.prepare(`SELECT 1 FROM ${t} WHERE capture_id < ? OR capture_id > ? OR capture_id IS NULL LIMIT 1`).get(id, id);
        if (others === undefined) this.db.exec(`DELETE FROM ${t}`);
        else this.db.prepare(`DELETE FROM ${t} WHERE capture_id = ?`).run(id);
      }
      this.db.prepare('DELETE FROM captures WHERE id = ?').run(id);
    }
    const info = this.db
      .prepare("INSERT INTO captures (path, status, analyzed_at) VALUES (?, 'incomplete', ?)")
      .run(path, new Date().toISOString());
    this.captureId = Number(info.lastInsertRowid);
    // OR REPLACE: a connection's row written ahead of its end is rewritten if it changed after
    // (costs nothing measurable on the rows that do not conflict)
    this.connInsertSQL = `INSERT OR REPLACE INTO connections (${[...CONN_TEXT_COLUMNS, ...CONN_NUMERIC.map(([c]) => c)].join(', ')}) VALUES `;
    this.connRowSQL = `(${[...CONN_TEXT_COLUMNS.map(() => '?'), ...CONN_NUMERIC.map(([c, sql]) => (c === 'capture_id' ? String(this.captureId) : sql))].join(', ')})`;
    this.insConn = this.db.prepare(this.connInsertSQL + this.connRowSQL);
    const max = this.db.prepare('SELECT max(id) AS m FROM connections').get() as { m: number | null };
    this.firstConnId = (max.m ?? 0) + 1;
    // bulk load into an empty store: build the indexes once at the end instead of row by row
    if (max.m === null) {
      for (const name of [...DEFERRED.map(indexName), ...OBSOLETE_INDEXES]) this.db.exec(`DROP INDEX IF EXISTS ${name}`);
      this.deferredIndexes = true;
    }
  }

  /** rows laid out by layoutConn on the main thread: CONN_SLOTS numbers and CONN_TEXTS strings
   *  each; `replaced` (ascending row indexes) replace rows written earlier */
  writeConnRows(nums: Float64Array, texts: string[], rows: number, replaced: number[] = []): void {
    const p = this.connParams;
    let r = 0;
    let q = 0;
    // prepared at the first full batch (5-10 ms: a small capture does without)
    if (rows >= CONN_INSERT_ROWS) this.insConnBatch ??= this.db.prepare(this.connInsertSQL + Array(CONN_INSERT_ROWS).fill(this.connRowSQL).join(', '));
    for (; r + CONN_INSERT_ROWS <= rows; r += CONN_INSERT_ROWS) {
      for (let k = r, o = 0; k < r + CONN_INSERT_ROWS; k++) {
        if (q < replaced.length && replaced[q] === k) {
          q++;
          this.uncount(nums, texts, k, r);
        }
        this.count(1, nums, texts, k);
        o = rowParams(p, o, nums, texts, k);
      }
      // separate arguments: binding from an array costs a property lookup per value
      this.insConnBatch!.run(...p);
    }
    for (; r < rows; r++) {
      if (q < replaced.length && replaced[q] === r) {
        q++;
        this.uncount(nums, texts, r, r);
      }
      this.count(1, nums, texts, r);
      const one = p.slice(0, CONN_PARAMS);
      rowParams(one, 0, nums, texts, r);
      this.insConn!.run(...one);
    }
    this.connectionsWritten += rows;
  }

  private count(sign: 1 | -1, nums: Float64Array, texts: string[], k: number): void {
    const o = k * CONN_SLOTS;
    const t = k * CONN_TEXTS;
    const tw = nums[o + S_TW]!;
    this.totals.add(
      sign, nums[o + S_KIND]!, nums[o + S_STATE]!, nums[o + S_CLOSER]!, tw === tw, texts[t]!, texts[t + 1]!, nums[o + S_PORT]!, nums[o + S_VERSION]!, nums[o + S_CPKTS]!, nums[o + S_SPKTS]!, texts[t + 2]!,
      nums[o + S_GUESSED] === 1, nums[o + S_TW_EST] === 1, nums[o + S_START]!,
    );
  }

  /** take the row that row k replaces out of the totals: a row of this batch not inserted yet
   *  (from `pendingFrom` on), else the one in the table */
  private uncount(nums: Float64Array, texts: string[], k: number, pendingFrom: number): void {
    const id = nums[k * CONN_SLOTS]!;
    for (let j = k - 1; j >= pendingFrom; j--) {
      if (nums[j * CONN_SLOTS] === id) return this.count(-1, nums, texts, j);
    }
    this.selStored ??= this.db.prepare(`SELECT ${STORED_COLUMNS} FROM connections WHERE id = ?`);
    const old = this.selStored.get(id) as StoredRow | undefined;
    if (old !== undefined) this.totals.subtractStored(old);
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
    const ts = (s: number | null, n: number | null): number | null => (s === null || n === null ? null : s + n / 1e9);
    this.db
      .prepare(
        `UPDATE captures SET path = ?, format = ?, link_types = ?, packets = ?, tcp_segments = ?, first_ts = ?, first_ns = ?, last_ts = ?, last_ns = ?,
         damaged = ?, options = ?, decode_stats = ?, status = 'complete', connections = ?, twscope_version = ?, totals = ? WHERE id = ?`,
      )
      .run(
        row.path, row.format, row.linkTypes, row.packets, row.tcpSegments,
        ts(row.firstSec, row.firstNsec), row.firstSec === null ? null : nanos(row.firstSec, row.firstNsec ?? 0),
        ts(row.lastSec, row.lastNsec), row.lastSec === null ? null : nanos(row.lastSec, row.lastNsec ?? 0),
        row.damaged, JSON.stringify(row.options), JSON.stringify(row.decodeStats), row.connections, row.version, JSON.stringify(this.totals.toJSON()), this.captureId,
      );
    if (this.deferredIndexes) {
      // sort the index entries through temporary files, not RAM: in memory they were the
      // largest allocation of a run (tens of MB per million connections, at the very end)
      // (a temporary directory that cannot take them fails one statement: sort in RAM then)
      // a second sorter thread: the index is built after the last packet, when the main
      // thread has little left to do; with a quarter of the cache the two sorters need less
      // memory than one did (on 1 M connections: 0.67-0.70 s instead of 0.94-1.02 s, 5 MiB less)
      this.db.pragma('threads = 2');
      this.db.pragma(`cache_size = -${CACHE_KIB / 4}`);
      for (const ix of DEFERRED) {
        this.db.pragma('temp_store = FILE');
        try {
          this.db.exec(ix);
        } catch {
          this.db.pragma('temp_store = MEMORY');
          this.db.exec(ix);
        }
      }
      this.db.pragma('temp_store = MEMORY');
      this.db.pragma('threads = 0');
      this.db.pragma(`cache_size = -${CACHE_KIB}`);
    }
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

/** a store written by an earlier version lacks the columns added since: add them (NULL in the
 *  rows already there), so that analyzing into it again works and its older captures stay */
function addMissingColumns(db: Database.Database): void {
  for (const t of TABLES) {
    const have = new Set((db.prepare(`PRAGMA table_info(${t.name})`).all() as { name: string }[]).map((r) => r.name));
    for (const c of t.columns) if (!have.has(c.name)) db.exec(`ALTER TABLE ${t.name} ADD COLUMN ${c.name} ${c.type}`);
  }
}

/** copy row k's strings, then its numbers, into the parameters from index o; returns the index after them */
function rowParams(p: unknown[], o: number, nums: Float64Array, texts: string[], k: number): number {
  for (let j = k * CONN_TEXTS, end = j + CONN_TEXTS; j < end; j++) p[o++] = texts[j];
  for (let j = k * CONN_SLOTS, end = j + CONN_SLOTS; j < end; j++) p[o++] = nums[j];
  return o;
}

/** the two slots NS_SQL reads for exact nanoseconds sec * 1e9 + nsec: NaN (NULL) when that does
 *  not fit SQLite's 64-bit integers (as in nanos()). A negative time is written as (sec + 1,
 *  nsec - 1e9), the same instant, so that the product in SQL cannot overflow at -2^63 (where
 *  SQLite would turn it into an inexact REAL) */
function nsSlots(f: Float64Array, at: number, sec: number, nsec: number): void {
  // 2^63 - 1 = 9223372036 s + 854775807 ns, -2^63 = -9223372037 s + 145224192 ns; exact in doubles
  // near the limits, and far from them the sign cannot be wrong
  const fits = (sec - 9223372036) * 1e9 + (nsec - 854775807) <= 0 && (sec + 9223372037) * 1e9 + (nsec - 145224192) >= 0;
  if (!fits) {
    f[at] = NaN;
    f[at + 1] = nsec;
  } else if (sec < 0) {
    f[at] = sec + 1;
    f[at + 1] = nsec - 1e9;
  } else {
    f[at] = sec;
    f[at + 1] = nsec;
  }
}
/** -1 (absent) as NULL */
const int = (v: number): number => (v < 0 ? NaN : v);
/** frame 0 (none) as NULL */
const frame = (v: number): number => (v === 0 ? NaN : v);

/** lay one connection out at row `r` of a batch (CONN_SLOTS numbers and CONN_TEXTS strings per row), in CONN_NUMERIC order */
export function layoutConn(f: Float64Array, texts: string[], r: number, c: Conn): void {
  const cl = c.client;
  const sv = c.server;
  const handshake = cl.isn !== -1 && sv.isn !== -1;
  const t = r * CONN_TEXTS;
  texts[t] = c.clientIp;
  texts[t + 1] = c.serverIp;
  texts[t + 2] = c.history;
  const o = r * CONN_SLOTS;
  f[o] = c.id;
  f[o + 1] = c.cport;
  f[o + 2] = c.sport;
  f[o + 3] = c.ipVersion;
  f[o + 4] = c.firstFrame;
  f[o + 5] = c.lastFrame;
  const start = c.start;
  const end = c.end;
  f[o + 6] = start;
  nsSlots(f, o + 7, c.startSec, c.startNsec);
  f[o + 9] = end;
  nsSlots(f, o + 10, c.endSec, c.endNsec);
  f[o + 12] = end - start;
  f[o + 13] = c.orientationGuessed ? 1 : 0;
  f[o + 14] = enumCode(c, 'connState');
  f[o + 15] = enumCode(c, 'closeKind');
  f[o + 16] = enumCode(c, 'activeCloser');
  const tw = c.timeWaitStartNaN;
  f[o + 17] = tw;
  f[o + 18] = c.timeWaitEndNaN;
  f[o + 19] = tw !== tw ? NaN : c.timeWaitEstimated ? 1 : 0;
  f[o + 20] = frame(c.lastAckFrame);
  f[o + 21] = enumCode(c, 'rstBy');
  f[o + 22] = enumCode(c, 'rstKind');
  f[o + 23] = frame(c.rstFrame);
  f[o + 24] = frame(cl.finFrame);
  f[o + 25] = frame(sv.finFrame);
  f[o + 26] = cl.finCount;
  f[o + 27] = sv.finCount;
  f[o + 28] = enumCode(c, 'clientState');
  f[o + 29] = enumCode(c, 'serverState');
  f[o + 30] = enumCode(c, 'endReason');
  f[o + 31] = cl.pkts;
  f[o + 32] = sv.pkts;
  f[o + 33] = cl.bytes;
  f[o + 34] = sv.bytes;
  f[o + 35] = cl.retrans;
  f[o + 36] = sv.retrans;
  f[o + 37] = int(cl.isn);
  f[o + 38] = int(sv.isn);
  f[o + 39] = cl.synCount;
  f[o + 40] = (handshake ? cl.synHasTs && sv.synHasTs : cl.tsSeen && sv.tsSeen) ? 1 : 0;
  f[o + 41] = int(cl.mss);
  f[o + 42] = int(sv.mss);
  f[o + 43] = int(cl.wscale);
  f[o + 44] = int(sv.wscale);
  f[o + 45] = cl.sackPermitted && sv.sackPermitted ? 1 : 0;
  f[o + 46] = cl.tsSeen ? cl.firstTsval : NaN;
  f[o + 47] = cl.tsSeen ? cl.lastTsval : NaN;
  f[o + 48] = sv.tsSeen ? sv.firstTsval : NaN;
  f[o + 49] = sv.tsSeen ? sv.lastTsval : NaN;
  f[o + 50] = c.handshakeRttNaN;
  f[o + 51] = c.prevIdNaN;
  f[o + 52] = c.reuseGapNaN;
  f[o + 53] = c.ackedUnseen ? 1 : 0;
}
