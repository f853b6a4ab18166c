// Main-thread side of the store: lays rows out and hands them to the writer thread in
// batches. Back-pressure: when too many batches are in flight the main thread waits,
// so memory stays bounded when SQLite is the slower side.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Conn } from '../tracker/connection.js';
import { CONN_INSERT_ROWS, CONN_SLOTS, CONN_TEXTS, layoutConn, nanos, type CaptureFileRow, type CaptureRow, type ClockRow, type FindingRow, type TimelineRow } from './writer.js';

export type StoreMessage =
  | { op: 'open'; dbPath: string; key: string; pending: SharedArrayBuffer; connRing: SharedArrayBuffer }
  /** rows in slot `slot` of the ring; their strings joined with TEXT_SEP; `replaced`: the rows
   *  (by index in the batch) that replace a row written earlier for the same connection */
  | { op: 'conns'; slot: number; texts: string; rows: number; replaced: number[] }
  | { op: 'packets'; values: unknown[]; rows: number }
  | { op: 'rows'; findings: FindingRow[]; clocks: ClockRow[]; timeline: TimelineRow[]; files: CaptureFileRow[] }
  | { op: 'commit'; row: CaptureRow }
  | { op: 'close' };

type Reply = { op: 'opened'; captureId: number; firstConnId: number } | { op: 'committed'; connections: number } | { op: 'closed' } | { op: 'error'; message: string; code?: string };

export const CONN_BATCH = 4 * CONN_INSERT_ROWS;
const PACKET_BATCH = 4096;
const MAX_IN_FLIGHT = 16;
const SMALL_BATCH = 512;
/** ...and those batches (structured clones, not shared memory) in flight at most: at the end of a
 *  run the detectors hand over tens of thousands of finding and clock rows at once, and 16 queued
 *  batches of them were 4-5 MiB of the peak RSS on 10 M packets */
const MAX_ROWS_IN_FLIGHT = 2;
/** Connection rows are laid out in a ring of slots shared with the writer (no buffer allocated
 * or transferred per batch). At most MAX_IN_FLIGHT batches are queued, so the slot being filled
 * is never one the writer still reads. */
export const CONN_RING = MAX_IN_FLIGHT + 1;
export const connSlots = (ring: SharedArrayBuffer): Float64Array[] =>
  Array.from({ length: CONN_RING }, (_, i) => new Float64Array(ring, i * CONN_BATCH * CONN_SLOTS * 8, CONN_BATCH * CONN_SLOTS));
/** separates the free-text values of a batch (addresses and Zeek history letters never contain it) */
export const TEXT_SEP = '\n';

/** the compiled worker next to this module; from the TypeScript sources (tests) the built one in dist/ */
function workerPath(): string {
  const here = fileURLToPath(import.meta.url);
  const js = here.replace(/client\.[tj]s$/, 'worker.js');
  if (here.endsWith('.ts')) {
    const built = js.replace(/([\\/])src([\\/])store([\\/])worker\.js$/, '$1dist$2store$3worker.js');
    if (existsSync(built)) return built;
  }
  return js;
}

export class StoreError extends Error {
  constructor(message: string, readonly code?: string) {
    super(message);
    this.name = 'StoreError';
  }
}

export class StoreClient {
  private readonly worker: Worker;
  private readonly pending = new SharedArrayBuffer(4);
  private readonly inFlight = new Int32Array(this.pending);
  private readonly connRing = new SharedArrayBuffer(CONN_RING * CONN_BATCH * CONN_SLOTS * 8);
  private readonly connSlots = connSlots(this.connRing);
  private connSlot = 0;
  private connNums = this.connSlots[0]!;
  private readonly connTexts: string[] = new Array<string>(CONN_BATCH * CONN_TEXTS).fill('');
  private connRows = 0;
  private connReplaced: number[] = [];
  private packets: unknown[] = [];
  private packetRows = 0;
  private failure: StoreError | null = null;
  private waiter: ((r: Reply) => void) | null = null;
  captureId = 0;
  firstConnId = 1;
  connectionsWritten = 0;

  constructor() {
    this.worker = new Worker(workerPath());
    this.worker.on('message', (r: Reply) => {
      if (r.op === 'error') this.failure = new StoreError(r.message, r.code);
      const w = this.waiter;
      if (w) {
        this.waiter = null;
        w(r);
      }
    });
    this.worker.on('exit', (code) => {
      if (this.waiter === null) return;
      const w = this.waiter;
      this.waiter = null;
      this.failure = new StoreError(`store writer thread exited with code ${code}`);
      w({ op: 'error', message: this.failure.message });
    });
    this.worker.on('error', (e) => {
      this.failure = new StoreError(e.message);
      const w = this.waiter;
      this.waiter = null;
      w?.({ op: 'error', message: e.message });
    });
  }

  private request(m: StoreMessage): Promise<Reply> {
    return new Promise((resolve, reject) => {
      this.waiter = (r) => (r.op === 'error' ? reject(new StoreError(r.message, r.code)) : resolve(r));
      this.worker.postMessage(m);
    });
  }

  async open(dbPath: string, key: string): Promise<void> {
    const r = await this.request({ op: 'open', dbPath, key, pending: this.pending, connRing: this.connRing });
    if (r.op === 'opened') {
      this.captureId = r.captureId;
      this.firstConnId = r.firstConnId;
    }
  }

  private post(m: StoreMessage): void {
    if (this.failure) throw this.failure;
    // wait (blocking, bounded) while the writer thread is behind
    const limit = m.op === 'rows' ? MAX_ROWS_IN_FLIGHT : MAX_IN_FLIGHT;
    while (Atomics.load(this.inFlight, 0) >= limit) Atomics.wait(this.inFlight, 0, Atomics.load(this.inFlight, 0), 1000);
    Atomics.add(this.inFlight, 0, 1);
    this.worker.postMessage(m);
  }

  /** `isNew`: false when the row replaces one written earlier for the same connection */
  writeConn(c: Conn, isNew = true): void {
    layoutConn(this.connNums, this.connTexts, this.connRows, c);
    if (isNew) this.connectionsWritten++;
    else this.connReplaced.push(this.connRows);
    if (++this.connRows === CONN_BATCH) this.flushConns();
  }

  private flushConns(): void {
    const rows = this.connRows;
    if (rows === 0) return;
    // one string clones faster than an array of them
    const texts = (rows === CONN_BATCH ? this.connTexts : this.connTexts.slice(0, rows * CONN_TEXTS)).join(TEXT_SEP);
    this.post({ op: 'conns', slot: this.connSlot, texts, rows, replaced: this.connReplaced });
    if (this.connReplaced.length) this.connReplaced = [];
    this.connSlot = (this.connSlot + 1) % CONN_RING;
    this.connNums = this.connSlots[this.connSlot]!;
    this.connRows = 0;
  }

  writePacket(frame: number, sec: number, nsec: number, ts: number, connId: number, dir: 0 | 1, flags: string, seq: number, ack: number, win: number, len: number, tsval: number | null, tsecr: number | null, resent: boolean): void {
    this.packets.push(frame, ts, nanos(sec, nsec), connId, dir === 0 ? 'c2s' : 's2c', flags, seq, ack, win, len, tsval, tsecr, resent ? 1 : 0);
    if (++this.packetRows === PACKET_BATCH) this.flushPackets();
  }

  private flushPackets(): void {
    if (this.packetRows === 0) return;
    this.post({ op: 'packets', values: this.packets, rows: this.packetRows });
    this.packets = [];
    this.packetRows = 0;
  }

  // findings, clocks, timeline and file rows are few per connection but can number tens of
  // thousands per capture: they travel in batches too
  private findings: FindingRow[] = [];
  private clocks: ClockRow[] = [];
  private timeline: TimelineRow[] = [];
  private files: CaptureFileRow[] = [];
  private small = 0;

  writeFinding(row: FindingRow): void {
    this.findings.push(row);
    if (++this.small === SMALL_BATCH) this.flushSmall();
  }
  writeClock(row: ClockRow): void {
    this.clocks.push(row);
    if (++this.small === SMALL_BATCH) this.flushSmall();
  }
  writeTimeline(row: TimelineRow): void {
    this.timeline.push(row);
    if (++this.small === SMALL_BATCH) this.flushSmall();
  }
  writeFile(row: CaptureFileRow): void {
    this.files.push(row);
    if (++this.small === SMALL_BATCH) this.flushSmall();
  }

  private flushSmall(): void {
    if (this.small === 0) return;
    // back-pressure too: at the end of a run the detectors emit their rows while the writer is
    // still busy with the last connections; unbounded, the queued copies were tens of MB at peak
    this.post({ op: 'rows', findings: this.findings, clocks: this.clocks, timeline: this.timeline, files: this.files });
    this.findings = [];
    this.clocks = [];
    this.timeline = [];
    this.files = [];
    this.small = 0;
  }

  async commit(row: CaptureRow): Promise<void> {
    this.flushConns();
    this.flushPackets();
    this.flushSmall();
    if (this.failure) throw this.failure;
    await this.request({ op: 'commit', row });
  }

  /** roll back anything not committed and stop the thread */
  async close(): Promise<void> {
    try {
      await this.request({ op: 'close' });
    } catch {
      // the writer failed already; its transaction is gone with it
    }
    await this.worker.terminate();
  }
}

