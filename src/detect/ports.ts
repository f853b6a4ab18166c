// port-exhaustion and the TIME-WAIT occupancy timeline.
//
// Linux lets a client reuse a local port for a different destination, so the ephemeral range
// (ip_local_port_range, default 32768-60999 = 28,232 ports) limits connections per
// (client address, server address, server port): every 4-tuple the client holds in TIME-WAIT
// (it closed first) keeps one port for the TIME-WAIT length. We count, per such key and per host
// over all peers, the 4-tuples in TIME-WAIT over time, the ports in use (open connections plus
// TIME-WAIT), and the new-connection rate, and compare them with the range:
//  - critical: TIME-WAIT (or ports in use) reached the range size: connect() fails with
//    EADDRNOTAVAIL until TIME-WAIT entries expire;
//  - warning: >= 80% of the range in TIME-WAIT, or the steady rate of connections entering
//    TIME-WAIT times how long each stays there (Little's law: the TIME-WAIT length, less when a
//    new incarnation takes the 4-tuple over) is at least the range (it will run out). The rate is
//    exact over the span of TIME-WAIT starts when they fit in one TIME-WAIT length (a span under
//    1 s is a burst and projects nothing), else the busiest TIME-WAIT-long window of buckets.
// A TIME-WAIT ends early when the next incarnation of its 4-tuple starts (Conn.supersededAt).
//
// Streaming and bounded: connections arrive out of order (onConnEnd), so each key keeps sparse
// bucket counters (+1/-1 deltas at TIME-WAIT start/end, new connections), never a list of
// connections; all keys share one bucket width that doubles whenever the covered time span
// would exceed MAX_BUCKETS buckets. Only the keys are counted per connection: the per-host
// series are sums of key series, built in finish(), which then prefix-sums them. Per bucket, time_wait is the
// count at the end of the bucket and peak_time_wait the larger of the counts at its start and
// end (exact when a bucket only fills or only drains, a lower bound otherwise).

import type { Conn } from '../tracker/connection.js';
import type { AnalysisOptions, Detector, FindingSink } from './types.js';
import { endpointText, frameList, round, synFilter, thousands } from './util.js';
import { AddrTable } from './addr-table.js';

export const MAX_BUCKETS = 2000;
/** timelines written per kind of row (per host, per host+service) */
const TOP_SERIES = 20;
const EXAMPLES = 3;
/** TIME-WAIT start frames cited per finding */
const TW_FRAMES = 20;
/** share of the range in TIME-WAIT that deserves a warning */
const NEAR = 0.8;

// Bucket counters live in Int32Array pages shared by all series, in blocks of BLOCK buckets: a Map
// of small objects per series (one per touched bucket) was 25 MB and most of this detector's GC
// work on 512 busy series. Per bucket:
const TW = 0; // TIME-WAIT delta (+starts -ends); in a key series, held by the client
const TW_IN = 1; // TIME-WAIT entries starting
const STW = 2; // key series only: TIME-WAIT held by the server (it closed first), delta and starts
const STW_IN = 3;
const USE = 4; // ports in use delta (connection start .. TIME-WAIT end or connection end)
const NEWC = 5; // new connections (client SYN seen)
const SEEN = 6; // 1 once the bucket had an event: a series' first and last such bucket bound its rows
const BUCKET_INTS = 8;
const BLOCK_BITS = 2;
const BLOCK = 1 << BLOCK_BITS;
const BLOCK_INTS = BUCKET_INTS * BLOCK;

/** pages of blocks: grows a page at a time, never copies (a doubled array copied megabytes and
 *  held both copies, at the end of a run when the per-host series are added). A page holds 128
 *  blocks: the first series fill several while V8 still gathers type feedback (see LATE in util.ts) */
const PAGE_BITS = 12;
const PAGE_MASK = (1 << PAGE_BITS) - 1;
class Pool {
  readonly pages: Int32Array[] = [];
  private n = 0;
  /** offset of a zeroed block (a block never straddles two pages) */
  alloc(): number {
    if ((this.n & PAGE_MASK) === 0) this.pages.push(new Int32Array(1 << PAGE_BITS));
    const o = this.n;
    this.n += BLOCK_INTS;
    return o;
  }
  get(x: number, field: number): number {
    return this.pages[x >>> PAGE_BITS]![(x & PAGE_MASK) + field]!;
  }
  add(x: number, field: number, d: number): void {
    this.pages[x >>> PAGE_BITS]![(x & PAGE_MASK) + field]! += d;
  }
  set(x: number, field: number, v: number): void {
    this.pages[x >>> PAGE_BITS]![(x & PAGE_MASK) + field] = v;
  }
}

/** Every bucket that had an event, in a series' blocks: their indexes and offsets in `pool` go to
 *  the first n entries of `idx` and `off`, n returned. Each caller loops over them: with a callback per caller, the
 *  call site saw three functions and was deoptimized, and iterating the Map's entries allocated an
 *  array per block (6 MB on 1 M packets) */
function seenBuckets(blocks: Map<number, number>, pool: Pool, idx: number[], off: number[]): number {
  // (the lists keep their length between calls: truncated, they gave their storage up and grew
  // it again from nothing for every series)
  let n = 0;
  blocks.forEach((o, blk) => {
    for (let k = 0; k < BLOCK; k++) {
      const x = o + k * BUCKET_INTS;
      if (pool.get(x, SEEN) !== 0) {
        idx[n] = (blk << BLOCK_BITS) + k;
        off[n++] = x;
      }
    }
  });
  return n;
}

interface Series {
  host: string;
  serverIp: string;
  serverPort: number | null;
  ipVersion: 4 | 6;
  /** block number (bucket index >> BLOCK_BITS) -> offset of the block in the pool */
  blocks: Map<number, number>;
  /** the index in PortDetector.series, kc (its block cache) and kf (its counters, a key series') */
  slot: number;
  // (a key series' counters live in PortDetector.kf while packets are read; finish() copies them here)
  connections: number;
  /** TIME-WAIT entries held by the client (in a host series: by the host) */
  timeWaits: number;
  /** key series only: TIME-WAIT entries held by the server */
  serverTimeWaits: number;
  outsideRange: number;
  twFrames: number[];
  /** first and last TIME-WAIT start (exact rates over short spans) and the summed TIME-WAIT durations */
  twFirst: number;
  twLast: number;
  twDurSum: number;
  /** latest SYNs: [ts, frame] */
  lastSyns: [number, number][];
}

/** block cache entries per series: a TIME-WAIT length of 1 s buckets spans 15 blocks, and its start
 *  and end must not evict each other (with 16, one block's start and the end 16 blocks later share a
 *  slot while connections of both still end: a Map lookup on 64 ms of 450 on 10 M packets) */
const CACHE = 32;

// What every connection end updates for its key series sits in two typed arrays indexed by the
// series' slot (kf: KF doubles, kc: the block cache, CACHE pairs of block number and offset; the
// per-host series built at the end have a block cache there too). As
// fields and arrays of a Series object (eight heap objects per key: its Maps, cache arrays, SYN
// tuples), each connection end touched several cache lines per key, and on the 10 M-packet
// benchmark (512 keys among the tracker's connections) this function was the detectors' costliest.
const KF = 16;
const K_CONNS = 0;
const K_OUTSIDE = 1;
const K_TW = 2;
const K_STW = 3;
const K_TW_FIRST = 4;
const K_TW_LAST = 5;
const K_TW_DUR = 6;
/** the latest EXAMPLES SYNs: how many, then (time, frame) each */
const K_NSYN = 7;
const K_SYN = 8;
/** TIME-WAIT start frames listed in the series' twFrames */
const K_NTWF = 14;
const NO_BLOCK = -2147483648;

export interface SeriesStats {
  peak: number;
  peakTs: number;
  peakUse: number;
  peakUseTs: number;
  /** connections entering TIME-WAIT per second, highest over a TIME-WAIT-long window (or the span) */
  twRate: number;
  synRate: number;
  windowSeconds: number;
  /** mean time a 4-tuple stayed in TIME-WAIT (shorter than the TIME-WAIT length when reused) */
  meanTimeWait: number;
  rows: { ts: number; timeWait: number; peak: number; newc: number }[];
}

export class PortDetector implements Detector {
  /** every (client, server, port) series, in the order first seen (found through keyIndex) */
  private readonly keys: Series[] = [];
  private readonly keyIndex = new AddrTable();
  /** every series, key and host, by slot */
  private readonly series: Series[] = [];
  /** per series slot: counters (KF doubles) and block cache (CACHE pairs); they start as room for 16 */
  private kf = new Float64Array(16 * KF);
  private kc = new Int32Array(16 * CACHE * 2).fill(NO_BLOCK);
  /** per host, built in finish(): TIME-WAIT held as client or server (what `ss -s` shows), for timelines */
  private readonly hosts = new Map<string, Series>();
  /** per host, built in finish(): TIME-WAIT held as client only (ephemeral ports), for the host-level finding */
  private readonly clientHosts = new Map<string, Series>();
  private base = NaN;
  width = 1;
  private minIdx = Infinity;
  private maxIdx = -Infinity;
  private readonly range: number;
  private pool = new Pool();
  /** seenBuckets' output */
  private readonly seenIdx: number[] = [];
  private readonly seenOff: number[] = [];

  constructor(private readonly opts: AnalysisOptions) {
    this.range = opts.portHigh - opts.portLow + 1;
  }

  private newSeries(host: string, serverIp: string, serverPort: number | null, v: 4 | 6): Series {
    const s: Series = {
      host, serverIp, serverPort, ipVersion: v, blocks: new Map(), slot: this.series.length,
      connections: 0, timeWaits: 0, serverTimeWaits: 0, outsideRange: 0, twFrames: [], twFirst: Infinity, twLast: -Infinity, twDurSum: 0, lastSyns: [],
    };
    this.series.push(s);
    if (this.series.length * KF > this.kf.length) {
      const kf = new Float64Array(2 * this.kf.length);
      kf.set(this.kf);
      this.kf = kf;
      const kc = new Int32Array(2 * this.kc.length).fill(NO_BLOCK);
      kc.set(this.kc);
      this.kc = kc;
    }
    this.kf[s.slot * KF + K_TW_FIRST] = Infinity;
    this.kf[s.slot * KF + K_TW_LAST] = -Infinity;
    return s;
  }

  /** a host's series ('*' for every server) */
  private hostOf(map: Map<string, Series>, host: string, v: 4 | 6): Series {
    let s = map.get(host);
    if (s === undefined) map.set(host, (s = this.newSeries(host, '*', null, v)));
    return s;
  }

  /** the (client, server, port) series' slot */
  private keySeries(c: Conn): number {
    let k = this.keyIndex.get(c, false, c.sport);
    if (k < 0) {
      const s = this.newSeries(c.clientIp, c.serverIp, c.sport, c.ipVersion);
      this.keys.push(s);
      k = s.slot;
      this.keyIndex.add(c, false, c.sport, k);
    }
    return k;
  }

  /** the key series' counters into their Series objects (finish() reads those) */
  private syncKeys(): void {
    const f = this.kf;
    for (const s of this.keys) {
      const o = s.slot * KF;
      s.connections = f[o + K_CONNS]!;
      s.outsideRange = f[o + K_OUTSIDE]!;
      s.timeWaits = f[o + K_TW]!;
      s.serverTimeWaits = f[o + K_STW]!;
      s.twFirst = f[o + K_TW_FIRST]!;
      s.twLast = f[o + K_TW_LAST]!;
      s.twDurSum = f[o + K_TW_DUR]!;
      s.lastSyns = [];
      for (let j = 0; j < f[o + K_NSYN]!; j++) s.lastSyns.push([f[o + K_SYN + 2 * j]!, f[o + K_SYN + 2 * j + 1]!]);
    }
  }

  private idx(t: number): number {
    if (Number.isNaN(this.base)) this.base = Math.floor(t);
    let i = Math.floor((t - this.base) / this.width);
    // small enough to be inlined (a double argument to a call is a heap number): the rest is rare
    if (i >= this.minIdx && i <= this.maxIdx) return i;
    return this.widen(t, i);
  }

  private widen(t: number, i: number): number {
    while (Math.max(this.maxIdx, i) - Math.min(this.minIdx, i) + 1 > MAX_BUCKETS) {
      this.coarsen();
      i = Math.floor((t - this.base) / this.width);
    }
    if (i < this.minIdx) this.minIdx = i;
    if (i > this.maxIdx) this.maxIdx = i;
    return i;
  }

  private coarsen(): void {
    this.width *= 2;
    const from = this.pool;
    this.pool = new Pool();
    const idx = this.seenIdx;
    const off = this.seenOff;
    this.kc.fill(NO_BLOCK);
    for (const s of this.keys) {
      const blocks = s.blocks;
      s.blocks = new Map();
      const n = seenBuckets(blocks, from, idx, off);
      for (let j = 0; j < n; j++) {
        const y = this.bucket(s.slot, Math.floor(idx[j]! / 2));
        for (let f = 0; f < SEEN; f++) this.pool.add(y, f, from.get(off[j]!, f));
      }
    }
    if (this.minIdx !== Infinity) {
      this.minIdx = Math.floor(this.minIdx / 2);
      this.maxIdx = Math.floor(this.maxIdx / 2);
    }
  }

  /** offset in the pool of bucket i of the series in slot k, created (and marked seen) when
   *  missing: its block through the slot's cache in kc, the Series object only on a cache miss
   *  (connections end roughly in time order: most land in blocks a recent one used) */
  private bucket(k: number, i: number): number {
    const blk = i >> BLOCK_BITS;
    const h = (k * CACHE + (blk & (CACHE - 1))) * 2;
    const kc = this.kc;
    let off: number;
    if (kc[h] === blk) off = kc[h + 1]!;
    else {
      const s = this.series[k]!;
      let o = s.blocks.get(blk);
      if (o === undefined) s.blocks.set(blk, (o = this.pool.alloc()));
      kc[h] = blk;
      kc[h + 1] = off = o;
    }
    const x = off + (i & (BLOCK - 1)) * BUCKET_INTS;
    this.pool.set(x, SEEN, 1);
    return x;
  }

  /** bucket i of series k: u0 or u1 when i is i0 or i1 (looked up already), else bucket(). One
   *  function for every such choice: its comparisons and its bucket() call have run (have type
   *  feedback) by the time V8 optimizes onConnEnd, whichever of them the first connections took
   *  (inline, a branch first taken later deoptimized onConnEnd: see LATE in util.ts) */
  private near(k: number, i: number, i0: number, u0: number, i1: number, u1: number): number {
    return i === i0 ? u0 : i === i1 ? u1 : this.bucket(k, i);
  }

  onConnEnd(c: Conn): void {
    const k = this.keySeries(c);
    const kf = this.kf;
    const ko = k * KF;
    kf[ko + K_CONNS]++;
    // (run for every connection: see LATE in util.ts)
    kf[ko + K_OUTSIDE] += c.cport < this.opts.portLow || c.cport > this.opts.portHigh ? 1 : 0;

    const cl = c.client;
    const synFrame = cl.synFrame;
    const synTs = synFrame > 0 ? cl.synTs : c.start;

    // NaN when absent (the nullable getters would box every double they return)
    const tws = c.timeWaitStartNaN;
    let twe = c.timeWaitEndNaN;
    const hasTw = tws === tws && twe === twe;
    // a new incarnation that took the 4-tuple over ended the TIME-WAIT at its SYN (NaN: none)
    const next = c.supersededAtNaN;
    if (hasTw && next < twe) twe = Math.max(tws, next);
    const closer = c.activeCloser;
    const clientHolds = hasTw && (closer === 'client' || closer === 'both');
    // a host talking to itself is one host series: its server-side TIME-WAIT is not counted twice
    const serverHolds = hasTw && (closer === 'server' || closer === 'both') && c.serverIp !== c.clientIp;

    // ports in use by the client towards this service
    const useEnd = clientHolds ? twe : c.end;
    // idx() may coarsen the buckets: first make room for every time, then index with the final width
    this.idx(synTs);
    this.idx(c.start);
    this.idx(useEnd);
    if (tws === tws) this.idx(tws);
    if (twe === twe) this.idx(twe);
    const w = this.width;
    const base = this.base;
    // the SYN, the start and the TIME-WAIT start mostly share a bucket, and so do the ports'
    // release and the TIME-WAIT end: each distinct bucket is looked up once
    const iStart = Math.floor((c.start - base) / w);
    const iUse = Math.floor((useEnd - base) / w);
    const u0 = this.bucket(k, iStart);
    const u1 = iUse === iStart ? u0 : this.bucket(k, iUse);
    const p = this.pool;
    p.add(u0, USE, 1);
    p.add(u1, USE, -1);

    if (synFrame > 0) {
      p.add(this.near(k, Math.floor((synTs - base) / w), iStart, u0, iUse, u1), NEWC, 1);
      // the latest EXAMPLES SYNs: a free slot, else the oldest if this one is newer
      const n = kf[ko + K_NSYN]!;
      let m = n;
      if (n < EXAMPLES) kf[ko + K_NSYN] = n + 1;
      else {
        m = 0;
        for (let j = 1; j < EXAMPLES; j++) if (kf[ko + K_SYN + 2 * j]! < kf[ko + K_SYN + 2 * m]!) m = j;
        if (!(synTs > kf[ko + K_SYN + 2 * m]!)) m = -1;
      }
      if (m >= 0) {
        kf[ko + K_SYN + 2 * m] = synTs;
        kf[ko + K_SYN + 2 * m + 1] = synFrame;
      }
    }

    if (clientHolds || serverHolds) {
      const a = this.near(k, Math.floor((tws - base) / w), iStart, u0, iUse, u1);
      const b = this.near(k, Math.floor((twe - base) / w), iUse, u1, iStart, u0);
      if (clientHolds) {
        p.add(a, TW, 1);
        p.add(a, TW_IN, 1);
        p.add(b, TW, -1);
        kf[ko + K_TW]++;
        if (tws < kf[ko + K_TW_FIRST]!) kf[ko + K_TW_FIRST] = tws;
        if (tws > kf[ko + K_TW_LAST]!) kf[ko + K_TW_LAST] = tws;
        kf[ko + K_TW_DUR] += twe - tws;
        if (kf[ko + K_NTWF]! < TW_FRAMES) {
          kf[ko + K_NTWF]++;
          this.series[k]!.twFrames.push(c.lastAckFrame || cl.finFrame);
        }
      }
      if (serverHolds) {
        p.add(a, STW, 1);
        p.add(a, STW_IN, 1);
        p.add(b, STW, -1);
        kf[ko + K_STW]++;
      }
    }
  }

  /** the per-host series as sums of the key series, in the order the keys were first seen:
   *  client-role (ports held by the client) and both roles (client and server TIME-WAIT) */
  private buildHosts(): void {
    const add = (into: Series, from: Series, tw: boolean, stw: boolean, newc: boolean): void => {
      const a = this.pool;
      const idx = this.seenIdx;
      const off = this.seenOff;
      const n = seenBuckets(from.blocks, a, idx, off);
      for (let j = 0; j < n; j++) {
        const x = off[j]!;
        // only buckets with an event of this kind: a series' first and last bucket bound its rows
        const touched = (tw && (a.get(x, TW_IN) > 0 || a.get(x, TW) !== 0)) || (stw && (a.get(x, STW_IN) > 0 || a.get(x, STW) !== 0)) || (newc && a.get(x, NEWC) > 0);
        if (!touched) continue;
        const y = this.bucket(into.slot, idx[j]!);
        if (tw) {
          a.add(y, TW, a.get(x, TW));
          a.add(y, TW_IN, a.get(x, TW_IN));
        }
        if (stw) {
          a.add(y, TW, a.get(x, STW));
          a.add(y, TW_IN, a.get(x, STW_IN));
        }
        if (newc) a.add(y, NEWC, a.get(x, NEWC));
      }
      if (tw) {
        into.timeWaits += from.timeWaits;
        into.twFirst = Math.min(into.twFirst, from.twFirst);
        into.twLast = Math.max(into.twLast, from.twLast);
        into.twDurSum += from.twDurSum;
      }
      if (stw) into.timeWaits += from.serverTimeWaits;
    };
    for (const k of this.keys) {
      const cc = this.hostOf(this.clientHosts, k.host, k.ipVersion);
      const hc = this.hostOf(this.hosts, k.host, k.ipVersion);
      const hs = this.hostOf(this.hosts, k.serverIp, k.ipVersion);
      add(cc, k, true, false, false);
      add(hc, k, true, false, true);
      add(hs, k, false, true, true);
    }
  }

  /** prefix sums of one series, cut at the end of the capture; the per-bucket rows only when asked
   *  (every series is ranked, few are written: rows for all of them were a burst of garbage at the end) */
  stats(s: Series, now: number, withRows = false): SeriesStats {
    let first = Infinity;
    let lastEvent = -Infinity;
    const idx = this.seenIdx;
    const nSeen = seenBuckets(s.blocks, this.pool, idx, this.seenOff);
    for (let j = 0; j < nSeen; j++) {
      const i = idx[j]!;
      if (i < first) first = i;
      if (i > lastEvent) lastEvent = i;
    }
    const last = Math.max(first, Math.min(lastEvent, Math.floor((now - this.base) / this.width)));
    const w = this.width;
    let tw = 0;
    let use = 0;
    let peak = 0;
    let peakTs = this.base + first * w;
    let peakUse = 0;
    let peakUseTs = peakTs;
    const n = last - first + 1;
    const twIn = new Float64Array(n);
    const newc = new Float64Array(n);
    // each bucket's offset + 1 (0: no event), from the list: no Map lookup per bucket
    const at = new Int32Array(n);
    const off = this.seenOff;
    for (let j = 0; j < nSeen; j++) if (idx[j]! <= last) at[idx[j]! - first] = off[j]! + 1;
    const rows: SeriesStats['rows'] = [];
    for (let b = first; b <= last; b++) {
      const x = at[b - first]! - 1;
      const a = this.pool;
      const t0 = tw;
      const u0 = use;
      if (x >= 0) {
        tw += a.get(x, TW);
        use += a.get(x, USE);
        twIn[b - first] = a.get(x, TW_IN);
        newc[b - first] = a.get(x, NEWC);
      }
      const p = Math.max(t0, tw);
      const pu = Math.max(u0, use);
      const ts = this.base + b * w;
      if (p > peak) {
        peak = p;
        peakTs = ts;
      }
      if (pu > peakUse) {
        peakUse = pu;
        peakUseTs = ts;
      }
      if (withRows) rows.push({ ts, timeWait: tw, peak: p, newc: x >= 0 ? a.get(x, NEWC) : 0 });
    }
    // steady rates: best window of one TIME-WAIT length (or the whole span when shorter)
    const m = Math.max(1, Math.min(n, Math.round(this.opts.timeWait / w)));
    const best = (arr: Float64Array): number => {
      let sum = 0;
      let bestSum = 0;
      for (let i = 0; i < n; i++) {
        sum += arr[i]!;
        if (i >= m) sum -= arr[i - m]!;
        if (sum > bestSum) bestSum = sum;
      }
      return bestSum / (m * w);
    };
    const meanTimeWait = s.timeWaits > 0 ? s.twDurSum / s.timeWaits : this.opts.timeWait;
    const span = s.twLast - s.twFirst;
    if (s.timeWaits >= 2 && span > 0 && span <= this.opts.timeWait) {
      // all TIME-WAIT starts within one TIME-WAIT length: the exact rate over their span
      return { peak, peakTs, peakUse, peakUseTs, twRate: (s.timeWaits - 1) / span, synRate: best(newc), windowSeconds: span, meanTimeWait, rows };
    }
    return { peak, peakTs, peakUse, peakUseTs, twRate: best(twIn), synRate: best(newc), windowSeconds: m * w, meanTimeWait, rows };
  }

  finish(out: FindingSink, now: number): void {
    if (Number.isNaN(this.base)) return;
    this.syncKeys();
    this.buildHosts();
    const range = this.range;
    const L = this.opts.timeWait;
    const keyStats = this.keys.filter((s) => s.timeWaits > 0).map((s) => ({ s, st: this.stats(s, now) }));
    keyStats.sort((a, b) => b.st.peak - a.st.peak || a.st.peakTs - b.st.peakTs);
    const flaggedHosts = new Set<string>();
    for (const { s, st } of keyStats) {
      // Little's law: entries held = rate x how long each stays (TIME-WAIT length, or less when reused)
      const projected = st.twRate * Math.min(L, st.meanTimeWait);
      const critical = st.peak >= range || st.peakUse >= range;
      const near = st.peak >= NEAR * range;
      const burst = st.windowSeconds < 1;
      const trend = projected >= range && !burst;
      if (!critical && !near && !trend) continue;
      flaggedHosts.add(s.host);
      const svc = endpointText(s.ipVersion, s.serverIp, s.serverPort!);
      const rate = round(st.twRate, 1);
      const maxRate = range / L;
      let summary: string;
      if (critical) {
        summary =
          `Client ${s.host} ran out of local ports towards ${svc}: ${thousands(st.peak)} of its ${thousands(range)} ports were in TIME-WAIT` +
          (st.peakUse > st.peak ? ` (${thousands(st.peakUse)} in use in all)` : '') +
          `, so new connections fail (EADDRNOTAVAIL) until TIME-WAIT entries expire ${L} s after each close.`;
      } else if (trend && !near) {
        summary =
          `Client ${s.host} opens and closes ${rate} connections/s towards ${svc}; each keeps its port in TIME-WAIT for ${L} s, ` +
          `so at this rate it needs ${thousands(projected)} ports and exhausts its range of ${thousands(range)} (the limit is about ${Math.floor(maxRate)} connections/s).`;
      } else {
        summary =
          `Client ${s.host} held ${thousands(st.peak)} of ${thousands(range)} ports in TIME-WAIT towards ${svc}` +
          (trend ? `; at ${rate} new connections/s this exhausts the range.` : `, close to running out of ports (the limit is about ${Math.floor(maxRate)} connections/s).`);
      }
      const frames = frameList(...s.twFrames, ...s.lastSyns.map((x) => x[1]));
      out.finding({
        kind: 'port-exhaustion',
        severity: critical ? 'critical' : 'warning',
        ts: st.peakTs,
        connectionId: null,
        relatedConnectionId: null,
        frames,
        host: s.host,
        summary,
        details: {
          scope: 'service',
          server: s.serverIp,
          server_port: s.serverPort,
          peak_time_wait: st.peak,
          peak_ts: round(st.peakTs),
          peak_ports_in_use: st.peakUse,
          peak_ports_in_use_ts: round(st.peakUseTs),
          range,
          port_low: this.opts.portLow,
          port_high: this.opts.portHigh,
          time_wait_len: L,
          mean_time_wait: round(st.meanTimeWait, 3),
          // a span under a second is a burst: a rate over it (16 closes in 2 ms: 7,537/s) projects nothing
          rate: burst ? null : rate,
          new_connections_rate: round(st.synRate, 1),
          rate_window: round(st.windowSeconds, 6),
          burst,
          projected_time_wait: burst ? null : Math.round(projected),
          max_sustainable_rate: round(maxRate, 1),
          share_of_range: round(st.peak / range, 4),
          connections: s.connections,
          time_waits: s.timeWaits,
          ports_outside_range: s.outsideRange,
          bucket_seconds: this.width,
        },
        wiresharkFilter: synFilter(s.ipVersion, s.host, s.serverIp, { dstPort: s.serverPort ?? undefined }),
      });
    }

    const byPeak = (a: { st: SeriesStats }, b: { st: SeriesStats }): number => b.st.peak - a.st.peak || a.st.peakTs - b.st.peakTs;
    const clientHostStats = [...this.clientHosts.values()].filter((s) => s.timeWaits > 0).map((s) => ({ s, st: this.stats(s, now) }));
    clientHostStats.sort(byPeak);
    // a client near the range over all its peers matters when it binds before connecting
    for (const { s, st } of clientHostStats) {
      if (flaggedHosts.has(s.host) || st.peak < NEAR * range) continue;
      out.finding({
        kind: 'port-exhaustion',
        severity: 'info',
        ts: st.peakTs,
        connectionId: null,
        relatedConnectionId: null,
        frames: [],
        host: s.host,
        summary:
          `${s.host} held ${thousands(st.peak)} TIME-WAIT entries over all its peers, ${Math.round((100 * st.peak) / range)}% of a ${thousands(range)}-port range: ` +
          `harmless while each destination stays below the range, but an application that binds its local port before connecting would run out.`,
        details: { scope: 'host', peak_time_wait: st.peak, peak_ts: round(st.peakTs), range, time_wait_len: L, rate: round(st.twRate, 1), bucket_seconds: this.width },
        wiresharkFilter: '',
      });
    }

    const hostStats = [...this.hosts.values()].filter((s) => s.timeWaits > 0).map((s) => ({ s, st: this.stats(s, now) }));
    hostStats.sort(byPeak);
    for (const { s, st } of hostStats.slice(0, TOP_SERIES)) this.writeRows(out, s, st, now);
    for (const { s, st } of keyStats.slice(0, TOP_SERIES)) this.writeRows(out, s, st, now);
  }

  private writeRows(out: FindingSink, s: Series, st: SeriesStats, now: number): void {
    if (st.peak === 0) return;
    for (const r of this.stats(s, now, true).rows) {
      out.timeline({ ts: r.ts, host: s.host, serverIp: s.serverIp, serverPort: s.serverPort, timeWait: r.timeWait, peakTimeWait: r.peak, newConnections: r.newc });
    }
  }
}
