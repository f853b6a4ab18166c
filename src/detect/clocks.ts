// nat-clock-collision: several TCP timestamp clocks behind one address.
//
// Per (source address, destination address) pair, every connection side that carried
// timestamps gives two samples of its sender's clock: (time, TSval) of its first and last
// timestamped segment. A clock is TSval(t) = rate*t + offset (mod 2^32), the rate snapped to
// one of RATES. Connections are clustered into clocks as they end (onConnEnd): a connection
// joins a clock when its samples fall on the clock's line (32-bit serial arithmetic, tolerance
// TICK_TOL ticks + DRIFT*rate*dt + rate*JITTER); while a clock's rate is not known (short
// connections) it keeps the set of candidate rates its samples allow, and a join must leave at
// least one. Lookup is indexed (per candidate rate, offset bucket) so it stays O(1) per
// connection; clocks seen on one 4-tuple only that have not been matched for 2x the TIME-WAIT
// length are folded into counters (per-connection randomization makes one per connection).
//
// Verdicts per pair (at finish):
//  - two or more clocks each seen on several distinct 4-tuples, or two different well-measured
//    rates, or one shared clock plus several per-connection clocks: several hosts share the
//    source address -> nat-clock-collision (critical if the tcp_tw_recycle check would have
//    dropped SYNs);
//  - every connection on its own clock -> ts-per-connection (info): timestamp offsets are
//    randomized per connection (Linux 4.10-4.12 and since 2026, FreeBSD, macOS), not NAT.
//
// tcp_tw_recycle simulation (onSegment, SYN/FIN segments only): per (client, server) pair the
// server remembers one (TSval, time) like Linux <= 4.11's tcp_metrics (tcp_remember_stamp:
// replaced when newer, or when the remembered one is older than TCP_PAWS_MSL); it is updated at
// each FIN of a connection with the client's newest TSval (its TS.Recent). The kernel did so only
// when the server entered TIME-WAIT; any close is the approximation twscope makes. A client SYN whose TSval is
// older than the remembered one by more than TCP_PAWS_WINDOW, less than TCP_PAWS_MSL after it,
// would have been dropped by tcp_peer_is_proven() (tcp_conn_request).

import { ACK, FIN, RST, SYN, type Segment } from '../decode/segment.js';
import type { Conn, Side } from '../tracker/connection.js';
import type { ClockRow } from '../store/writer.js';
import type { AnalysisOptions, Detector, FindingSink } from './types.js';
import { frameList, mod32, RATES, round, synFilter } from './util.js';
import { seqDiff } from '../tracker/seq.js';
import { AddrTable } from './addr-table.js';

export { RATES };
const NR = RATES.length;
const MHZ_BIT = 1 << (NR - 1);
/** index of 1000 Hz: the guess for a clock its samples cannot tell (Linux ticks at it) */
const KHZ = RATES.indexOf(1000);
/** tolerance: a few ticks (quantization) */
const TICK_TOL = 3;
/** tolerance: relative rate error while the rate is only snapped, not measured */
const DRIFT = 0.02;
/** tolerance when matching a connection to a clock whose rate is only snapped: real clocks are
 *  within 0.05% of their nominal rate; 0.5% keeps chance matches of random offsets rare */
const DRIFT_MATCH = 0.005;
/** tolerance: relative rate error once the rate is measured over MEASURE_SPAN */
const DRIFT_MEASURED = 0.002;
/** host clocks that one clock continued at its nominal rate reaches within this share of the
 *  rate over the time between them are one clock (coarse ticks, a sender or capture clock a few
 *  per cent off: on public captures, one sender's clock split in four, its offsets drifting
 *  20-33 ticks/s at 1000 Hz). Two hosts' boot-time offsets fall that close by chance about once in
 *  a million pairs of clocks a minute apart */
const MERGE_DRIFT = 0.05;
/** host clocks compared pairwise at most (the comparison is quadratic) */
const MAX_MERGE = 256;
/** seconds between when a TSval is taken and when the capture timestamps the segment (variation) */
const JITTER = 0.002;
/** consecutive new clocks whose TSval rates between them agree this closely are on one line */
const LINE_TOL = 0.02;
/** samples spanning this long (s) measure a rate */
const MEASURE_SPAN = 1;
/** ...and this many ticks: one tick of quantization is then within DRIFT_MEASURED / 2 of the
 *  rate (a 2 Hz clock measured over 1.3 s read 1.54 Hz, a 100 Hz one over 1 s is 1% off; either,
 *  continued over minutes, missed its own later connections and split one host into many) */
const MEASURE_TICKS = 1000;
/** Linux TCP_PAWS_MSL (s) and TCP_PAWS_WINDOW (ticks) */
const PAWS_MSL = 60;
const PAWS_WINDOW = 1;
const TWO32 = 4294967296;
/** limits that keep memory and rows bounded */
const MAX_IDS = 100_000;
const MAX_PORTS = 1000;
const MAX_SYN_FRAMES = 5;
const MAX_SCAN = 64;
const MAX_SINGLE_ROWS = 50;
/** SYNs listed per pair as tcp_tw_recycle drops (recycle_drop_count counts them all) */
const MAX_DROPS = 100;
const MAX_WEAK = 1000;
/** live single-tuple clocks kept per address pair (oldest folded into counters beyond it) */
const MAX_LIVE = 8192;
/** after this many unrelated clocks on a pair, cluster one connection side in SAMPLE_EVERY */
export const SAMPLE_AFTER = 64;
export const SAMPLE_EVERY = 32;
/** once this many connection sides were clustered over all pairs (a busy capture), a pair starts
 *  sampling after SAMPLE_AFTER_BUSY sides instead: on the 3 M-packet benchmark capture (512 pairs,
 *  every connection its own clock), clustering the first 64 sides of every pair cost about 0.4 s
 *  of CPU time, a third of this detector's cost; 16 unrelated clocks in a row are evidence enough
 *  when thousands came before them, and a pair whose clocks start matching stops sampling */
export const BUSY_CLUSTERED = 4096;
export const SAMPLE_AFTER_BUSY = 16;
/** and over all pairs together. The bound is soft (pairs below their share still add) and the
 *  clock table doubles when full: below 2^15, the overshoot stays inside a 32,768-clock table (at
 *  32,768 the 10 M-packet benchmark peaked at 32,791 clocks, and the table doubled: 3.9 MB) */
const MAX_LIVE_TOTAL = 30_000;

// Clocks are rows of two typed arrays, addressed by a handle: per-connection offsets make one
// clock per connection, tens of thousands live at once, and as objects (28 fields, 7 boxed
// doubles) they were about 360 B each and most of this detector's old-space garbage.
/** doubles: earliest and latest sample (times relative to the pair's tRef), measured rate (Hz)
 *  once the samples span MEASURE_SPAN else 0, first and last capture time of its connections */
const T0 = 0;
const V0 = 1;
const T1 = 2;
const V1 = 3;
const MEAS = 4;
const FIRST = 5;
const LAST = 6;
/** the rate as measured once the samples span MEASURE_SPAN (shown; MEAS only once it is precise) */
const EST = 7;
const FN = 8;
/** int32s: the pair's index; candidate rates (bit mask); the addSide generation that last
 *  considered it; rates measured by one connection on its own (no chance match involved); the
 *  first connection's id, 4-tuple (sport * 65536 + dport, modulo 2^32), port and SYN frame
 *  (modulo 2^32); connections; the index key when it has one candidate rate (-1 when not
 *  indexed, several keys in keysOf); MULTI and LIVE flags */
const PAIR = 0;
const MASK = 1;
const GEN = 2;
const SELF = 3;
const ID0 = 4;
const TUPLE0 = 5;
const PORT0 = 6;
const SYN0 = 7;
const NCONNS = 8;
const KEY0 = 9;
const FLAGS = 10;
/** the pair's live-clock list (see HEAD) */
const LPREV = 11;
const LNEXT = 12;
const IN = 13;
/** seen on several distinct 4-tuples (scanned linearly, never folded while it has 3 connections) */
const MULTI = 1;
const LIVE = 2;

/** most clocks stay on one connection: the lists are allocated at the second one */
interface More {
  ids: number[];
  ports: number[] | null;
  synFrames: number[] | null;
}

// A pair's listed recycle drops and kept single clocks are a few numbers each: rows of one
// Float64Array per pair, allocated at the first (as objects, 25,600 of each on the 10 M-packet
// benchmark held 8 MB of heap, most of it doubles boxed one by one).
/** recycle drop row: frame, connection id, TSval, newest TSval, its frame, age */
const DROP_F = 6;
/** kept single row: rate, measured rate (NaN: none), offset, first connection id, first and last time */
const KEPT_F = 6;

/** a pair's counters (from ClockDetector.ps), for its findings */
interface PairCounts {
  conns: number;
  unclassified: number;
  dropCount: number;
  dropsNoTs: number;
  tFirst: number;
  asClient: number;
  asServer: number;
  sampledOut: number;
}

/** what finishPair found for a pair, for the finding it writes */
interface PairVerdict {
  n: PairCounts;
  hostClocks: number[];
  singles: number[];
  rows: ClockRow[];
  group: number[];
  hostGroups: number;
  mixed: boolean;
  rates: number[];
  singleClocks: number;
  sameTuple: number;
  drops: RecycleDrop[];
}

interface SingleSummary {
  rate: number;
  measured: number | null;
  offset: number;
  ids: number[];
  firstTs: number;
  lastTs: number;
}

export interface RecycleDrop {
  frame: number;
  connection_id: number;
  tsval: number;
  newest_tsval: number;
  newest_frame: number;
  age: number;
}

interface Pair {
  /** position in ClockDetector.pairs (a clock's PAIR) */
  idx: number;
  src: string;
  dst: string;
  ipVersion: 4 | 6;
  tRef: number;
  /** clocks by (rate, offset bucket): one handle, or a list when several share a key */
  index: Map<number, number | number[]>;
  /** clocks on several distinct 4-tuples: scanned linearly (a host's clock can go unmatched for long) */
  multi: number[];
  expiredSingles: number;
  expiredConns: number;
  /** expired single-tuple clocks that were on several incarnations of their 4-tuple (offset from the 4-tuple) */
  expiredSameTuple: number;
  expiredRates: number[];
  /** summaries of expired single clocks (MAX_SINGLE_ROWS rows of KEPT_F), keptCount of them used;
   *  the ids of those with several connections (incarnations of one 4-tuple) by row */
  kept: Float64Array | null;
  keptCount: number;
  keptIds: Map<number, number[]> | null;
  /** expired clocks on two connections (distinct 4-tuples): host clocks only when chance matches are unlikely */
  weak: number[];
  weakDropped: number;
  /** listed tcp_tw_recycle drops (MAX_DROPS rows of DROP_F, DROPS_LISTED of them used) */
  drops: Float64Array | null;
}

const W: number[] = [];
/** Conn.clockPair: a pair index + 1 in the low 20 bits, the detector's tag above */
const PAIR_BITS = (1 << 20) - 1;
let nextTag = 0;

// The counters and the tcp_tw_recycle state that every SYN, FIN and connection end updates sit
// in one Float64Array, PS doubles per pair (ClockDetector.ps, at Pair.idx * PS): as object fields,
// each first access per segment was a cache miss on the pair and one more on each boxed double.
// The first 16 are what every connection side touches; the rest is what clustering a side touches
// (a pair clusters one side in hundreds once it samples: its state is out of the cache each time,
// and as fields of the Pair, its Set of live clocks and its arrays it was a dozen cache misses).
const PS = 40;
/** tcp_tw_recycle state (this pair as client -> server): the remembered TSval, its time and frame, 1 once set */
const REM_TSVAL = 0;
const REM_TIME = 1;
const REM_FRAME = 2;
const REM_VALID = 3;
/** the (dst, src) pair's index + 1 once looked up from this one (0: not yet) */
const REV = 4;
/** client SYNs a per-host timestamp check would drop, and those without a timestamp it would drop */
const DROP_COUNT = 5;
const DROPS_NO_TS = 6;
/** connection sides with timestamps, and those whose clock could not be estimated */
const CONNS = 7;
const UNCLASSIFIED = 8;
/** earliest time a connection of the pair was seen (a SYN, a connection start or its first timestamp) */
const T_FIRST = 9;
/** connection sides seen from the client / server end (which SYNs the filter shows) */
const AS_CLIENT = 10;
const AS_SERVER = 11;
/** connection sides clustered, and how many of them started a clock of their own */
const CLUSTERED = 12;
const NEW_CLOCKS = 13;
const SAMPLE_TICK = 14;
/** connection sides not clustered (sampling, see SAMPLE_EVERY) */
const SAMPLED_OUT = 15;
/** tcp_tw_recycle drops listed in Pair.drops */
const DROPS_LISTED = 16;
/** the pair's reference time (clock sample times are relative to it; Pair.tRef too) */
const T_REF = 17;
/** expected number of chance matches so far (random offsets falling into a tolerance window) */
const EXP_FALSE = 18;
/** the first sample of the last new clock at least a second older than the newest (NaN: none),
 *  the TSval rate from it to the one before, and how often consecutive rates agreed or not */
const LINE_T = 19;
const LINE_V = 20;
const LINE_RATE = 21;
const LINE_RUNS = 22;
const LINE_BREAKS = 23;
/** live clocks, how many of them are in Pair.multi, and the oldest and newest live clock (-1:
 *  none; the live clocks are a list through their LPREV and LNEXT, oldest first) */
const LIVE_N = 24;
const MULTI_N = 25;
const HEAD = 26;
const TAIL = 27;
/** live clocks indexed under each rate (NR of them) */
const LIVE_BY_RATE = 28;

function tol(r: number, dt: number, drift: number): number {
  return TICK_TOL + drift * r * Math.abs(dt) + r * JITTER;
}

/** how far (ticks) one clock's line, continued at rate r for dt seconds, may miss another's and
 *  still be the same clock (MERGE_DRIFT) */
function mergeTol(r: number, dt: number): number {
  return TICK_TOL + MERGE_DRIFT * r * Math.abs(dt) + 2 * r * JITTER;
}

function wrap(x: number): number {
  return x - Math.round(x / TWO32) * TWO32;
}

/** |residual| / tolerance of sample (t, v) against the clock at f[o..] at rate r, or -1 when outside the tolerance */
function residual(f: Float64Array, o: number, t: number, v: number, r: number, drift: number): number {
  const useFirst = Math.abs(t - f[o + T0]!) < Math.abs(t - f[o + T1]!);
  const dt = t - (useFirst ? f[o + T0]! : f[o + T1]!);
  const res = Math.abs(wrap(v - (useFirst ? f[o + V0]! : f[o + V1]!) - r * dt));
  const tl = tol(r, dt, drift);
  return res > tl ? -1 : res / tl;
}

function bits(mask: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < NR; i++) if (mask & (1 << i)) out.push(i);
  return out;
}

/** candidate rates for one sender's samples within one connection */
export function connRateMask(d: number, dv: number): number {
  let mask = 0;
  for (let i = 0; i < NR; i++) {
    const r = RATES[i]!;
    if (Math.abs(dv - r * d) <= tol(r, d, DRIFT)) mask |= 1 << i;
  }
  // a 1 MHz clock shows at least 1000 ticks within a connection lasting 1 ms; shorter ones
  // cannot tell it apart, and allowing it would let random offsets match (huge tolerance)
  if (dv < 1000) mask &= ~MHZ_BIT;
  return mask;
}

/** snap a measured rate to the candidates, or -1 */
export function snapRate(hz: number): number {
  for (let i = 0; i < NR; i++) {
    const r = RATES[i]!;
    if (Math.abs(hz - r) <= DRIFT * r + 0.5) return i;
  }
  return -1;
}

export class ClockDetector implements Detector {
  /** every pair, in the order first seen (found through pairIndex) */
  private readonly pairs: Pair[] = [];
  private readonly expireAfter: number;
  private gen = 0;
  /** pair index by (source, destination) address */
  private readonly pairIndex = new AddrTable();
  /** clocks live over all pairs (memory bound) */
  private liveClusters = 0;
  // (-0: a double from the start, see newPair())
  private now = -0;
  private lastSweep = -0;
  /** connection sides clustered over all pairs */
  private clusteredAll = 0;

  /** per rate, the chance that a random offset falls into one live clock's tolerance window */
  private readonly chance = new Float64Array(NR);

  constructor(private readonly opts: AnalysisOptions) {
    this.expireAfter = 2 * opts.timeWait;
    // (2 t / 2^32 times a count is exactly the count times 2 t, over 2^32: powers of two scale exactly)
    for (let i = 0; i < NR; i++) this.chance[i] = (2 * tol(RATES[i]!, opts.timeWait, DRIFT_MATCH)) / TWO32;
    if (W.length === 0) {
      for (const r of RATES) {
        const t = 2 * tol(r, 2 * 60, DRIFT);
        let w = 64;
        while (w < t) w *= 2;
        W.push(w);
      }
    }
  }

  /** the index of the pair (src, dst) = the connection's (client, server), or with `rev` its
   *  (server, client); created at the first lookup */
  private pairOf(c: Conn, rev: boolean): number {
    let i = this.pairIndex.get(c, rev, 0);
    if (i < 0) {
      i = this.newPair(rev ? c.serverIp : c.clientIp, rev ? c.clientIp : c.serverIp, c.ipVersion, this.pairT).idx;
      this.pairIndex.add(c, rev, 0, i);
    }
    return i;
  }

  private newPair(src: string, dst: string, ipVersion: 4 | 6, t: number): Pair {
    // fields that come to hold doubles start as doubles (NaN where unset, -0 for a zero: it
    // compares and adds as 0): a field first holding a small integer changes representation at
    // its first double, which deoptimized every function that had the pair's shape built in
    const p: Pair = {
      idx: this.pairs.length, src, dst, ipVersion, tRef: Math.floor(t), index: new Map(), multi: [],
      expiredSingles: 0, expiredConns: 0, expiredSameTuple: 0, expiredRates: new Array(NR).fill(0), kept: null, keptCount: 0, keptIds: null, weak: [], weakDropped: 0,
      drops: null,
    };
    this.pairs.push(p);
    if (this.pairs.length * PS > this.ps.length) {
      const ps = new Float64Array(2 * this.ps.length);
      ps.set(this.ps);
      this.ps = ps;
    }
    const o = p.idx * PS;
    const st = this.ps;
    st[o + REM_TSVAL] = NaN;
    st[o + REM_TIME] = NaN;
    st[o + T_FIRST] = t;
    st[o + T_REF] = p.tRef;
    st[o + LINE_T] = NaN;
    st[o + LINE_V] = NaN;
    st[o + HEAD] = -1;
    st[o + TAIL] = -1;
    return p;
  }

  /** per pair, PS doubles (see PS); starts as doubles for 16 pairs (see LATE in util.ts) */
  private ps = new Float64Array(16 * PS);

  /** capture time a new pair is dated from (connPair's callers set it: a double argument to a call
   *  that is not inlined is a heap number per call); a double from the start, so that the first
   *  capture time does not change the field's representation (a deoptimization) */
  private pairT = NaN;

  /** tags this detector's pair indexes in Conn.clockPair (bits 20 and up): a connection handed to
   *  another detector instance too (tests do) is not read as one of its own pairs */
  private readonly tag = (nextTag = (nextTag % 2047) + 1) << 20;

  /** the index of a connection's (client, server) pair, remembered in the connection
   *  (Conn.clockPair); its (server, client) pair is remembered in the first's state (REV,
   *  revPair()). Neither touches the Pair objects, which the counters and the SYN and FIN checks
   *  do not need */
  private connPair(c: Conn): number {
    const k = c.clockPair;
    if ((k & ~PAIR_BITS) === this.tag) return (k & PAIR_BITS) - 1;
    const fwd = this.pairOf(c, false);
    if (fwd + 1 < PAIR_BITS) c.clockPair = this.tag | (fwd + 1);
    return fwd;
  }

  /** the (server, client) pair, from the (client, server) one. (A function apart: inside connPair,
   *  which V8 optimizes on the SYNs long before the first connection ends, its first run
   *  deoptimized connPair; see LATE in util.ts) */
  private revPair(c: Conn, fwd: number): number {
    const r = this.ps[fwd * PS + REV]!;
    if (r !== 0) return r - 1;
    const r1 = this.pairOf(c, true);
    this.ps[fwd * PS + REV] = r1 + 1;
    this.ps[r1 * PS + REV] = fwd + 1;
    return r1;
  }

  // ---- tcp_tw_recycle simulation: SYN and FIN segments only ----
  readonly segmentFlags = SYN | FIN;
  onSegment(seg: Segment, c: Conn, dir: 0 | 1): void {
    const f = seg.flags;
    if ((f & (SYN | FIN)) === 0 || (f & RST) !== 0) return;
    if ((f & (SYN | ACK)) === SYN) {
      if (dir !== 0) return;
      this.pairT = seg.ts;
      const pi = this.connPair(c);
      const st = this.ps;
      const so = pi * PS;
      if (st[so + REM_VALID] === 0 || seg.ts - st[so + REM_TIME]! >= PAWS_MSL) return;
      if (!seg.hasTs) {
        st[so + DROPS_NO_TS]++;
        return;
      }
      if (seqDiff(st[so + REM_TSVAL]!, seg.tsval) > PAWS_WINDOW) {
        st[so + DROP_COUNT]++;
        const listed = st[so + DROPS_LISTED]!;
        if (listed < MAX_DROPS) {
          st[so + DROPS_LISTED] = listed + 1;
          const p = this.pairs[pi]!;
          const d = (p.drops ??= new Float64Array(MAX_DROPS * DROP_F));
          const o = listed * DROP_F;
          d[o] = seg.frame;
          d[o + 1] = c.id;
          d[o + 2] = seg.tsval;
          d[o + 3] = st[so + REM_TSVAL]!;
          d[o + 4] = st[so + REM_FRAME]!;
          d[o + 5] = round(seg.ts - st[so + REM_TIME]!);
        }
      }
      return;
    }
    if ((f & FIN) === 0) return;
    // at each FIN (the close), the server remembers the newest TSval it holds for the client:
    // its TS.Recent (kept by the PAWS detector, which runs first), else the newest TSval seen
    const cl = c.client;
    if (!cl.tsSeen) return;
    this.pairT = seg.ts;
    const pi = this.connPair(c);
    const fromRecent = cl.tsRecentValid && seqDiff(cl.tsRecent, cl.lastTsval) >= 0;
    const tsval = fromRecent ? cl.tsRecent : cl.lastTsval;
    const t = fromRecent ? cl.tsRecentTime : cl.lastTsTime;
    const frame = fromRecent ? cl.tsRecentFrame : cl.lastFrame;
    // tcp_remember_stamp: keep the newest TSval, or replace one older than TCP_PAWS_MSL
    const st = this.ps;
    const so = pi * PS;
    const remTime = st[so + REM_TIME]!;
    if (st[so + REM_VALID] === 0 || seqDiff(st[so + REM_TSVAL]!, tsval) <= 0 || (seg.ts - remTime > PAWS_MSL && remTime <= t)) {
      st[so + REM_VALID] = 1;
      st[so + REM_TSVAL] = tsval;
      st[so + REM_TIME] = t;
      st[so + REM_FRAME] = frame;
    }
  }

  // ---- clock storage ----
  private cf = new Float64Array(FN * 1024);
  private ci = new Int32Array(IN * 1024);
  private cap = 1024;
  private used = 0;
  private readonly freed: number[] = [];
  private readonly more: (More | undefined)[] = [];
  /** index keys of clocks with several candidate rates */
  private readonly keysOf: (number[] | undefined)[] = [];

  private alloc(): number {
    const k = this.freed.pop();
    if (k !== undefined) return k;
    if (this.used === this.cap) {
      const f = new Float64Array(FN * this.cap * 2);
      f.set(this.cf);
      this.cf = f;
      const i = new Int32Array(IN * this.cap * 2);
      i.set(this.ci);
      this.ci = i;
      this.cap *= 2;
    }
    return this.used++;
  }

  private release(k: number): void {
    this.more[k] = undefined;
    this.keysOf[k] = undefined;
    this.freed.push(k);
  }

  private idsOf(k: number): number[] {
    return this.more[k]?.ids ?? [this.ci[k * IN + ID0]!];
  }
  private portsOf(k: number): number[] {
    return this.more[k]?.ports ?? [this.ci[k * IN + PORT0]!];
  }
  private synsOf(k: number): number[] {
    const m = this.more[k];
    if (m !== undefined && m.synFrames !== null) return m.synFrames;
    const syn = this.ci[k * IN + SYN0]! >>> 0;
    return syn > 0 ? [syn] : [];
  }
  private multi(k: number): boolean {
    return (this.ci[k * IN + FLAGS]! & MULTI) !== 0;
  }
  private nConns(k: number): number {
    return this.ci[k * IN + NCONNS]!;
  }
  private firstTs(k: number): number {
    return this.cf[k * FN + FIRST]!;
  }

  // ---- clock clustering ----
  onConnEnd(c: Conn): void {
    if (c.end > this.now) this.now = c.end;
    this.addSide(c, c.client, c.cport, c.sport);
    this.addSide(c, c.server, c.sport, c.cport);
    if (this.now - this.lastSweep > this.opts.timeWait / 4) this.sweep();
  }

  private addSide(c: Conn, s: Side, sport: number, dport: number): void {
    if (!s.tsSeen) return;
    this.pairT = s.firstTsTime;
    const isClient = s === c.client;
    const fwd = this.connPair(c);
    const pi = isClient ? fwd : this.revPair(c, fwd);
    const st = this.ps;
    const so = pi * PS;
    st[so + CONNS]++;
    const seen = c.start < s.firstTsTime ? c.start : s.firstTsTime;
    if (seen < st[so + T_FIRST]!) st[so + T_FIRST] = seen;
    st[so + (isClient ? AS_CLIENT : AS_SERVER)]++;
    if (s.firstTsval === 0 && s.lastTsval === 0) {
      st[so + UNCLASSIFIED]++;
      return;
    }
    // per-connection offsets nearly everywhere so far (nine in ten connections brought a new clock): cluster
    // one connection in SAMPLE_EVERY; a host clock with several connections still shows, at a
    // fraction of the cost on busy pairs. Every operation here runs for every side: one that first
    // ran when sampling started, after V8 had optimized this large function, deoptimized it (see LATE in util.ts)
    const clustered = st[so + CLUSTERED]!;
    const many = clustered >= (this.clusteredAll >= BUSY_CLUSTERED ? SAMPLE_AFTER_BUSY : SAMPLE_AFTER);
    const fresh = st[so + NEW_CLOCKS]! > 0.9 * clustered;
    const sampling = many && fresh;
    const tick = st[so + SAMPLE_TICK]!;
    // (SAMPLE_EVERY is a power of 2: a bit mask, not a floating-point remainder)
    const off = ((tick | 0) & (SAMPLE_EVERY - 1)) !== 0;
    const skip = sampling && off;
    st[so + SAMPLE_TICK] = tick + (sampling ? 1 : 0);
    st[so + SAMPLED_OUT] += skip ? 1 : 0;
    if (skip) return;
    const tRef = st[so + T_REF]!;
    const ta = s.firstTsTime - tRef;
    const tb = s.lastTsTime - tRef;
    const d = tb - ta;
    const dv = seqDiff(s.lastTsval, s.firstTsval);
    const mask = d < 0 ? 0 : connRateMask(d, dv);
    if (mask === 0) {
      st[so + UNCLASSIFIED]++;
      return;
    }
    const va = s.firstTsval;
    const vb = s.lastTsval;

    // chance-match bookkeeping: live clocks times their tolerance windows
    let ef = 0;
    for (let i = 0; i < NR; i++) if (mask & (1 << i)) ef += st[so + LIVE_BY_RATE + i]! * this.chance[i]!;
    st[so + EXP_FALSE] += ef;

    this.best = -1;
    this.bestMask = 0;
    this.bestScore = Infinity;
    this.ta = ta;
    this.va = va;
    this.tb = tb;
    this.vb = vb;
    // visit each candidate clock once: a generation stamp instead of a Set per connection
    const gen = (this.gen = (this.gen + 1) | 0);
    const p = this.pairs[pi]!;
    for (let i = 0; i < NR; i++) {
      // (no clock of the pair is indexed at a rate it has none live at)
      if ((mask & (1 << i)) === 0 || st[so + LIVE_BY_RATE + i] === 0) continue;
      const r = RATES[i]!;
      const nb = TWO32 / W[i]!;
      const b = Math.floor(mod32(vb - r * tb) / W[i]!);
      for (let bb = b - 1; bb <= b + 1; bb++) {
        const list = p.index.get(i * 2 ** 27 + ((bb + nb) % nb));
        if (list === undefined) continue;
        if (typeof list === 'number') this.consider(list, gen, mask);
        else for (let j = 0; j < list.length; j++) this.consider(list[j]!, gen, mask);
      }
    }
    if (st[so + MULTI_N]! > 0) for (let j = 0; j < p.multi.length; j++) this.consider(p.multi[j]!, gen, mask);

    st[so + CLUSTERED]++;
    this.clusteredAll++;
    const tuple = sport * 65536 + dport;
    const start = Math.min(c.start, s.firstTsTime);
    const end = Math.max(c.end, s.lastTsTime);
    let k = this.best; // set by consider()
    if (k < 0) {
      this.trim(p, so);
      k = this.alloc();
      const f = this.cf;
      const fo = k * FN;
      f[fo + T0] = ta;
      f[fo + V0] = va;
      f[fo + T1] = tb;
      f[fo + V1] = vb;
      f[fo + MEAS] = 0;
      f[fo + EST] = 0;
      f[fo + FIRST] = start;
      f[fo + LAST] = end;
      const i = this.ci;
      const io = k * IN;
      i[io + PAIR] = p.idx;
      i[io + MASK] = mask;
      i[io + GEN] = 0;
      i[io + SELF] = 0;
      i[io + ID0] = c.id;
      i[io + TUPLE0] = tuple | 0;
      i[io + PORT0] = sport;
      i[io + SYN0] = s.synFrame | 0;
      i[io + NCONNS] = 0;
      i[io + KEY0] = -1;
      i[io + FLAGS] = LIVE;
      st[so + NEW_CLOCKS]++;
      this.onLine(so, ta, va);
      this.link(so, k);
      this.liveClusters++;
    } else {
      this.unindex(k);
      const f = this.cf;
      const fo = k * FN;
      const i = this.ci;
      const io = k * IN;
      i[io + MASK] = this.bestMask;
      if (ta < f[fo + T0]!) {
        f[fo + T0] = ta;
        f[fo + V0] = va;
      }
      if (tb > f[fo + T1]!) {
        f[fo + T1] = tb;
        f[fo + V1] = vb;
      }
      if (start < f[fo + FIRST]!) f[fo + FIRST] = start;
      if (end > f[fo + LAST]!) f[fo + LAST] = end;
      const m = (this.more[k] ??= { ids: [i[io + ID0]!], ports: null, synFrames: null });
      // a second distinct 4-tuple is all MULTI needs: no set of them (a host clock, such as a
      // Windows host's single clock, on a busy pair collected up to 100,000)
      if ((tuple | 0) !== i[io + TUPLE0] && (i[io + FLAGS]! & MULTI) === 0) {
        i[io + FLAGS]! |= MULTI;
        p.multi.push(k);
        if (p.multi.length > MAX_SCAN) {
          // scan only the most recently active host clocks
          const cf = this.cf;
          p.multi.sort((a, b) => cf[b * FN + T1]! - cf[a * FN + T1]!);
          p.multi.length = MAX_SCAN;
        }
        st[so + MULTI_N] = p.multi.length;
      }
      if (m.ids.length < MAX_IDS) m.ids.push(c.id);
      if (m.ports !== null || sport !== i[io + PORT0]) {
        const ports = (m.ports ??= [i[io + PORT0]!]);
        if (ports.length < MAX_PORTS && !ports.includes(sport)) ports.push(sport);
      }
      if (s.synFrame > 0) {
        const syn0 = i[io + SYN0]! >>> 0;
        const syns = (m.synFrames ??= syn0 > 0 ? [syn0] : []);
        if (syns.length < MAX_SYN_FRAMES) syns.push(s.synFrame);
      }
    }
    const io = k * IN;
    this.ci[io + NCONNS]!++;
    if (d >= MEASURE_SPAN && (mask & (mask - 1)) === 0) this.ci[io + SELF]! |= mask;
    this.measure(k);
    this.index(k);
  }

  /** New clocks whose first samples lie on one line are one clock at a rate not in RATES (64 Hz,
   *  1024 Hz): short connections allow several listed rates and match none across them. Random
   *  per-connection offsets give random slopes, which agree by chance one time in 50. */
  private onLine(so: number, t: number, v: number): void {
    const st = this.ps;
    const lineT = st[so + LINE_T]!;
    const dt = t - lineT;
    if (dt < 1) {
      if (lineT === lineT) return;
    } else {
      const rate = seqDiff(v, st[so + LINE_V]!) / dt;
      const prev = st[so + LINE_RATE]!;
      // one tick of quantization at each of the two ends, and the capture's timing jitter (every
      // comparison made on every call: see LATE in util.ts)
      const close = Math.abs(rate - prev) <= LINE_TOL * prev + (4 + 4 * JITTER * rate) / dt;
      const prevUp = prev > 0;
      const rateUp = rate > 0;
      const wasSet = prev !== 0;
      const run = prevUp && rateUp && close;
      st[so + LINE_RUNS] += run ? 1 : 0;
      st[so + LINE_BREAKS] += !run && wasSet ? 1 : 0;
      st[so + LINE_RATE] = rate;
    }
    st[so + LINE_T] = t;
    st[so + LINE_V] = v;
  }

  /** append clock k to its pair's live list (newest last) */
  private link(so: number, k: number): void {
    const st = this.ps;
    const ci = this.ci;
    const tail = st[so + TAIL]!;
    ci[k * IN + LPREV] = tail;
    ci[k * IN + LNEXT] = -1;
    if (tail >= 0) ci[tail * IN + LNEXT] = k;
    else st[so + HEAD] = k;
    st[so + TAIL] = k;
    st[so + LIVE_N]++;
  }

  private unlink(so: number, k: number): void {
    const st = this.ps;
    const ci = this.ci;
    const prev = ci[k * IN + LPREV]!;
    const next = ci[k * IN + LNEXT]!;
    if (prev >= 0) ci[prev * IN + LNEXT] = next;
    else st[so + HEAD] = next;
    if (next >= 0) ci[next * IN + LPREV] = prev;
    else st[so + TAIL] = prev;
    st[so + LIVE_N]--;
  }

  /** clocks live on the (src, dst) pair now (a memory bound the tests check) */
  liveClocks(src: string, dst: string): number {
    const p = this.pairs.find((x) => x.src === src && x.dst === dst);
    return p === undefined ? 0 : this.ps[p.idx * PS + LIVE_N]!;
  }

  /** the pair's live clocks, oldest first */
  private liveOf(p: Pair): number[] {
    const out: number[] = [];
    for (let k = this.ps[p.idx * PS + HEAD]!; k >= 0; k = this.ci[k * IN + LNEXT]!) out.push(k);
    return out;
  }

  /** addSide's best candidate so far (fields, not a closure per connection) */
  private best = -1;
  private bestMask = 0;
  private bestScore = Infinity;

  /** the side's two samples, for consider() (-0: a double from the start, see newPair()) */
  private ta = -0;
  private va = -0;
  private tb = -0;
  private vb = -0;

  private consider(k: number, gen: number, mask: number): void {
    const { ta, va, tb, vb } = this;
    const i = this.ci;
    const io = k * IN;
    if (i[io + GEN] === gen) return;
    i[io + GEN] = gen;
    const common = i[io + MASK]! & mask;
    if (common === 0) return;
    const f = this.cf;
    const fo = k * FN;
    const measured = f[fo + MEAS]!;
    let pass = 0;
    let score = Infinity;
    for (let b = 0; b < NR; b++) {
      if ((common & (1 << b)) === 0) continue;
      const r = measured > 0 ? measured : RATES[b]!;
      const drift = measured > 0 ? DRIFT_MEASURED + (2 * JITTER) / Math.max(f[fo + T1]! - f[fo + T0]!, MEASURE_SPAN) : DRIFT_MATCH;
      // both samples must sit on the clock's line, measured from its nearest anchor
      const ra = residual(f, fo, ta, va, r, drift);
      if (ra < 0) continue;
      const rb = residual(f, fo, tb, vb, r, drift);
      if (rb < 0) continue;
      pass |= 1 << b;
      score = Math.min(score, Math.max(ra, rb));
    }
    if (pass !== 0 && score < this.bestScore) {
      this.best = k;
      this.bestMask = pass;
      this.bestScore = score;
    }
  }

  /** measured rate once the samples span long enough; narrows the candidate rates */
  private measure(k: number): void {
    const f = this.cf;
    const fo = k * FN;
    const span = f[fo + T1]! - f[fo + T0]!;
    if (span < MEASURE_SPAN) return;
    // unwrap the TSval difference with the candidate rate closest to it
    const v0 = f[fo + V0]!;
    const v1 = f[fo + V1]!;
    const mask = this.ci[k * IN + MASK]!;
    const raw = seqDiff(v1, v0);
    let bestHz = raw / span;
    let bestErr = Infinity;
    for (let i = 0; i < NR; i++) {
      if ((mask & (1 << i)) === 0) continue;
      const r = RATES[i]!;
      const dv = r * span + wrap(v1 - v0 - r * span);
      const hz = dv / span;
      const err = Math.abs(hz - r) / r;
      if (err < bestErr) {
        bestErr = err;
        bestHz = hz;
      }
    }
    const si = snapRate(bestHz);
    if (si < 0 || (mask & (1 << si)) === 0) return;
    f[fo + EST] = bestHz;
    if (RATES[si]! * span >= MEASURE_TICKS) {
      this.ci[k * IN + MASK] = 1 << si;
      f[fo + MEAS] = bestHz;
    }
  }

  private index(k: number): void {
    const io = k * IN;
    const p = this.pairs[this.ci[io + PAIR]!]!;
    const mask = this.ci[io + MASK]!;
    const several = (mask & (mask - 1)) !== 0;
    const keys: number[] | undefined = several ? [] : undefined;
    const v1 = this.cf[k * FN + V1]!;
    const t1 = this.cf[k * FN + T1]!;
    for (let i = 0; i < NR; i++) {
      if ((mask & (1 << i)) === 0) continue;
      const r = RATES[i]!;
      const key = i * 2 ** 27 + Math.floor(mod32(v1 - r * t1) / W[i]!);
      const list = p.index.get(key);
      if (list === undefined) p.index.set(key, k);
      else if (typeof list === 'number') p.index.set(key, [list, k]);
      else list.push(k);
      if (keys !== undefined) keys.push(key);
      else this.ci[io + KEY0] = key;
      this.ps[p.idx * PS + LIVE_BY_RATE + i]!++;
    }
    // (unindex() and release() leave it undefined: stored only when there is a list)
    if (keys !== undefined) this.keysOf[k] = keys;
  }

  private unindex(k: number): void {
    const io = k * IN;
    const p = this.pairs[this.ci[io + PAIR]!]!;
    const key0 = this.ci[io + KEY0]!;
    if (key0 >= 0) this.unindexKey(p, k, key0);
    const keys = this.keysOf[k];
    if (keys !== undefined) for (const key of keys) this.unindexKey(p, k, key);
    this.ci[io + KEY0] = -1;
    this.keysOf[k] = undefined;
  }

  private unindexKey(p: Pair, k: number, key: number): void {
    const list = p.index.get(key);
    if (list === undefined) return;
    if (typeof list === 'number') {
      if (list === k) p.index.delete(key);
    } else {
      const j = list.indexOf(k);
      if (j >= 0) {
        list[j] = list[list.length - 1]!;
        list.pop();
      }
      if (list.length === 1) p.index.set(key, list[0]!);
      else if (list.length === 0) p.index.delete(key);
    }
    this.ps[p.idx * PS + LIVE_BY_RATE + Math.floor(key / 2 ** 27)]!--;
  }

  /** fold clocks unmatched for expireAfter into counters: those seen on one 4-tuple only, and
   *  those on two connections (kept aside, bounded, as weak host clocks) */
  private sweep(): void {
    this.lastSweep = this.now;
    const f = this.cf;
    for (const p of this.pairs) {
      const limit = this.now - this.expireAfter - p.tRef;
      let dropMulti = false;
      for (let k = this.ps[p.idx * PS + HEAD]!, next = -1; k >= 0; k = next) {
        next = this.ci[k * IN + LNEXT]!;
        if ((this.multi(k) && this.nConns(k) >= 3) || f[k * FN + T1]! >= limit || f[k * FN + LAST]! - p.tRef >= limit) continue;
        if (this.retire(p, k)) dropMulti = true;
      }
      if (dropMulti) this.pruneMulti(p);
    }
  }

  /** the pair's multi-tuple clocks without those retired */
  private pruneMulti(p: Pair): void {
    p.multi = p.multi.filter((k) => (this.ci[k * IN + FLAGS]! & LIVE) !== 0);
    this.ps[p.idx * PS + MULTI_N] = p.multi.length;
  }

  /** fold one clock into the pair's counters; true when it was a (weak) multi-tuple clock */
  private retire(p: Pair, k: number): boolean {
    this.unindex(k);
    this.unlink(p.idx * PS, k);
    this.liveClusters--;
    this.ci[k * IN + FLAGS]! &= ~LIVE;
    if (this.multi(k)) {
      // kept for finish() (its handle is not reused)
      if (p.weak.length < MAX_WEAK) p.weak.push(k);
      else {
        p.weakDropped++;
        this.release(k);
      }
      return true;
    }
    const n = this.nConns(k);
    p.expiredSingles++;
    p.expiredConns += n;
    if (n > 1) p.expiredSameTuple++;
    for (const i of bits(this.ci[k * IN + SELF]!)) p.expiredRates[i]!++;
    if (p.keptCount < MAX_SINGLE_ROWS) this.keep(p, this.summary(k));
    this.release(k);
    return false;
  }

  /** memory bound: when every connection brings its own clock (per-connection offsets), keep only
   *  the most recent MAX_LIVE single-tuple clocks of a pair live; the oldest are folded early */
  private trim(p: Pair, so: number): void {
    // over the global bound, only pairs above their fair share give clocks up (amortized: an eighth at a time)
    // (every comparison made on every call: see LATE in util.ts)
    const size = this.ps[so + LIVE_N]!;
    const underPair = size < MAX_LIVE;
    const underTotal = this.liveClusters < MAX_LIVE_TOTAL;
    const underShare = size * this.pairs.length < MAX_LIVE_TOTAL;
    if (underPair && (underTotal || underShare)) return;
    let n = Math.max(1, size >> 3);
    let dropMulti = false;
    for (let k = this.ps[so + HEAD]!, next = -1; k >= 0; k = next) {
      next = this.ci[k * IN + LNEXT]!;
      if (n-- <= 0) break;
      if (this.multi(k)) continue;
      if (this.retire(p, k)) dropMulti = true;
    }
    if (dropMulti) this.pruneMulti(p);
  }

  private rateOf(k: number): number {
    const b = bits(this.ci[k * IN + MASK]!);
    if (b.length === 1) return RATES[b[0]!]!;
    if (b.includes(KHZ)) return 1000;
    return RATES[b[b.length - 1]!]!;
  }

  private summary(k: number): SingleSummary {
    const rate = this.rateOf(k);
    const f = this.cf;
    const fo = k * FN;
    const measured = f[fo + EST]!;
    return {
      rate,
      measured: measured > 0 ? round(measured, 3) : null,
      offset: Math.round(mod32(f[fo + V0]! - rate * (f[fo + T0]! + this.ps[this.ci[k * IN + PAIR]! * PS + T_REF]!))),
      ids: this.idsOf(k).slice().sort((a, b) => a - b),
      firstTs: f[fo + FIRST]!,
      lastTs: f[fo + LAST]!,
    };
  }

  private keep(p: Pair, s: SingleSummary): void {
    const j = p.keptCount++;
    const f = (p.kept ??= new Float64Array(MAX_SINGLE_ROWS * KEPT_F));
    const o = j * KEPT_F;
    f[o] = s.rate;
    f[o + 1] = s.measured ?? NaN;
    f[o + 2] = s.offset;
    f[o + 3] = s.ids[0]!;
    f[o + 4] = s.firstTs;
    f[o + 5] = s.lastTs;
    if (s.ids.length > 1) (p.keptIds ??= new Map()).set(j, s.ids);
  }

  /** the pair's kept single clocks, as summaries again */
  private keptSingles(p: Pair): SingleSummary[] {
    const out: SingleSummary[] = [];
    const f = p.kept;
    for (let j = 0; f !== null && j < p.keptCount; j++) {
      const o = j * KEPT_F;
      const measured = f[o + 1]!;
      out.push({ rate: f[o]!, measured: measured === measured ? measured : null, offset: f[o + 2]!, ids: p.keptIds?.get(j) ?? [f[o + 3]!], firstTs: f[o + 4]!, lastTs: f[o + 5]! });
    }
    return out;
  }

  /** the pair's listed recycle drops, as objects */
  private dropList(p: Pair): RecycleDrop[] {
    const out: RecycleDrop[] = [];
    const d = p.drops;
    const listed = this.ps[p.idx * PS + DROPS_LISTED]!;
    for (let j = 0; d !== null && j < listed; j++) {
      const o = j * DROP_F;
      out.push({ frame: d[o]!, connection_id: d[o + 1]!, tsval: d[o + 2]!, newest_tsval: d[o + 3]!, newest_frame: d[o + 4]!, age: d[o + 5]! });
    }
    return out;
  }

  /** each host clock's host (0, 1, ...) in order of first appearance: clocks that are one clock a
   *  little off its nominal rate share one (MERGE_DRIFT) */
  private driftGroups(ks: number[]): number[] {
    const parent = ks.map((_, i) => i);
    const find = (i: number): number => {
      while (parent[i] !== i) i = parent[i] = parent[parent[i]!]!;
      return i;
    };
    const n = Math.min(ks.length, MAX_MERGE);
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        // at either clock's rate: a rate taken from short connections only is a guess (a coarse,
        // irregular clock can fit 300 Hz over 0.15 s and 1000 Hz over minutes)
        const ra = this.rateOf(ks[i]!);
        const rb = this.rateOf(ks[j]!);
        if (this.continues(ks[i]!, ks[j]!, ra) || (rb !== ra && this.continues(ks[i]!, ks[j]!, rb))) parent[find(j)] = find(i);
      }
    }
    const id = new Map<number, number>();
    return ks.map((_, i) => {
      const root = find(i);
      let g = id.get(root);
      if (g === undefined) id.set(root, (g = id.size));
      return g;
    });
  }

  /** clock b lies on clock a's line continued at rate r, within MERGE_DRIFT of r over the time
   *  between their nearest samples (clocks at the same time must agree to a few ticks) */
  private continues(a: number, b: number, r: number): boolean {
    const f = this.cf;
    let dt = Infinity;
    let dv = 0;
    for (const [ta, va] of [[T0, V0], [T1, V1]] as const) {
      for (const [tb, vb] of [[T0, V0], [T1, V1]] as const) {
        const d = f[b * FN + tb]! - f[a * FN + ta]!;
        if (Math.abs(d) < Math.abs(dt)) {
          dt = d;
          dv = f[b * FN + vb]! - f[a * FN + va]!;
        }
      }
    }
    return Math.abs(wrap(dv - r * dt)) <= mergeTol(r, dt);
  }

  finish(out: FindingSink): void {
    const pairs = [...this.pairs].sort((a, b) => (a.src < b.src ? -1 : a.src > b.src ? 1 : a.dst < b.dst ? -1 : a.dst > b.dst ? 1 : 0));
    for (const p of pairs) this.finishPair(p, out);
  }

  // finish() runs once per pair, and V8 optimizes what runs often enough: the findings are separate
  // functions so that the one no pair reaches is never compiled (finishPair, 90-120 ms of a helper
  // thread at the end of a 3 M-packet run as one function, is still 70-110 ms without them)

  /** the pair's clocks rows: host clocks first, then the others (at most MAX_SINGLE_ROWS rows of
   *  them per pair; the finding details count them all) */
  private clockRows(p: Pair, hostClocks: number[], others: number[], keptSingles: SingleSummary[], singles: number[]): ClockRow[] {
    const rows: ClockRow[] = [];
    const row = (s: SingleSummary): ClockRow => ({ srcIp: p.src, dstIp: p.dst, clock: rows.length + 1, rateHz: s.rate, measuredHz: s.measured, offset: s.offset, connections: s.ids, firstTs: s.firstTs, lastTs: s.lastTs });
    for (const k of hostClocks) rows.push(row(this.summary(k)));
    let singleRows = 0;
    for (const k of others) {
      if (!this.multi(k)) continue;
      if (singleRows++ >= MAX_SINGLE_ROWS) break;
      rows.push(row(this.summary(k)));
    }
    for (const s of keptSingles) {
      if (singleRows++ >= MAX_SINGLE_ROWS) break;
      rows.push(row(s));
    }
    for (const k of singles) {
      if (singleRows++ >= MAX_SINGLE_ROWS) break;
      rows.push(row(this.summary(k)));
    }
    return rows;
  }

  private finishPair(p: Pair, out: FindingSink): void {
    const o = p.idx * PS;
    const st = this.ps;
    const n: PairCounts = { conns: st[o + CONNS]!, unclassified: st[o + UNCLASSIFIED]!, dropCount: st[o + DROP_COUNT]!, dropsNoTs: st[o + DROPS_NO_TS]!, tFirst: st[o + T_FIRST]!, asClient: st[o + AS_CLIENT]!, asServer: st[o + AS_SERVER]!, sampledOut: st[o + SAMPLED_OUT]! };
    // several connections per host clock; when chance matches of random offsets are expected
    // (many per-connection clocks at once), ask for more connections per clock
    const expectedFalse = st[o + EXP_FALSE]!;
    const need = expectedFalse < 0.05 ? 2 : expectedFalse < 50 ? 3 : 4;
    const live = [...this.liveOf(p), ...(need === 2 ? p.weak : [])];
    const byFirst = (a: number, b: number): number => this.firstTs(a) - this.firstTs(b);
    const hostClocks = live.filter((k) => this.multi(k) && this.nConns(k) >= need).sort(byFirst);
    const others = live.filter((k) => !hostClocks.includes(k)).sort(byFirst);
    const singles = others.filter((k) => !this.multi(k));
    const sameTuple = singles.filter((k) => this.nConns(k) > 1).length + p.expiredSameTuple;
    const singleClocks = singles.length + p.expiredSingles;

    // well-measured rates: by one connection lasting MEASURE_SPAN, or by a host clock (a clock
    // made of chance matches has a random rate and does not count)
    const rateCount = new Map<number, number>();
    const addRate = (r: number): void => void rateCount.set(r, (rateCount.get(r) ?? 0) + 1);
    for (const k of live) for (const i of bits(this.ci[k * IN + SELF]!)) addRate(RATES[i]!);
    for (const k of hostClocks) if (this.cf[k * FN + MEAS]! > 0 && this.ci[k * IN + SELF] === 0) addRate(this.rateOf(k));
    p.expiredRates.forEach((n, i) => {
      if (n > 0) rateCount.set(RATES[i]!, (rateCount.get(RATES[i]!) ?? 0) + n);
    });
    const rates = [...rateCount.keys()].sort((a, b) => a - b);
    const keptSingles = this.keptSingles(p);

    const rows = this.clockRows(p, hostClocks, others, keptSingles, singles);
    for (const r of rows) out.clock(r);

    // host clocks that are one drifting clock count as one host
    const group = this.driftGroups(hostClocks);
    const hostGroups = hostClocks.length === 0 ? 0 : Math.max(...group) + 1;
    // one host clock next to per-connection clocks is a second host, unless those clocks lie on
    // the host clock's line too (the same drifting clock, its connections missed by the tighter match)
    let onHostLine = 0;
    if (hostGroups === 1) {
      onHostLine = singles.filter((k) => this.nConns(k) <= 1 && hostClocks.some((h) => this.continues(h, k, this.rateOf(h)))).length;
      // clocks already folded into counters: their summary's offset at the same rate
      const lines = hostClocks.map((h) => this.summary(h));
      const near = (x: SingleSummary): boolean =>
        lines.some((h) => h.rate === x.rate && Math.abs(wrap(x.offset - h.offset)) <= mergeTol(x.rate, Math.min(Math.abs(x.firstTs - h.firstTs), Math.abs(x.firstTs - h.lastTs))));
      onHostLine += keptSingles.filter((x) => x.ids.length <= 1 && near(x)).length;
    }
    const mixed = hostGroups === 1 && singleClocks - sameTuple - onHostLine >= Math.max(2, 0.1 * n.conns);
    const nat = hostGroups >= 2 || rates.length >= 2 || mixed;
    const v: PairVerdict = { n, hostClocks, singles, rows, group, hostGroups, mixed, rates, singleClocks, sameTuple, drops: this.dropList(p) };
    if (nat) this.natFinding(p, v, out);
    else this.perConnectionFinding(p, v, out);
  }

  /** several hosts behind the pair's source address */
  private natFinding(p: Pair, v: PairVerdict, out: FindingSink): void {
    const { n, hostClocks, rows, group, hostGroups, mixed, rates, singleClocks, drops } = v;
    const hosts = Math.max(hostGroups + (mixed ? 1 : 0), rates.length);
    // the host clocks are the first rows
    const clockInfo = hostClocks.map((k, i) => {
      const r = rows[i]!;
      return {
        clock: r.clock,
        host: group[i]! + 1,
        rate_hz: r.rateHz,
        measured_hz: r.measuredHz,
        offset: r.offset,
        connections: r.connections.slice(0, 1000),
        connection_count: this.nConns(k),
        client_ports: this.portsOf(k).slice().sort((a, b) => a - b),
        first_ts: round(r.firstTs),
        last_ts: round(r.lastTs),
      };
    });
    const frames = frameList(...hostClocks.flatMap((k) => this.synsOf(k).slice(0, 3)), ...drops.slice(0, 5).map((d) => d.frame));
    const ports = hostClocks.flatMap((k) => this.portsOf(k)).slice(0, 64);
    const isClientSide = n.asClient >= n.asServer;
    const critical = n.dropCount > 0;
    const why = hostGroups >= 2 ? `${hostGroups} different TCP timestamp clocks` : rates.length >= 2 ? `timestamp clocks ticking at different rates (${rates.join(', ')} Hz)` : 'one shared timestamp clock next to per-connection clocks';
    out.finding({
      kind: 'nat-clock-collision',
      severity: critical ? 'critical' : 'warning',
      ts: hostClocks.length ? Math.min(...hostClocks.map((k) => this.firstTs(k))) : n.tFirst,
      connectionId: null,
      relatedConnectionId: null,
      frames,
      host: p.src,
      summary:
        `About ${hosts} different machines send from ${p.src} to ${p.dst} (behind NAT or a load balancer): their connections carry ${why}` +
        (critical ? `, and a server with the old tcp_tw_recycle setting would have dropped ${n.dropCount} of their connection attempts.` : '.'),
      details: {
        hosts,
        peer: p.dst,
        reason: hostGroups >= 2 ? 'several-clocks' : rates.length >= 2 ? 'several-rates' : 'shared-and-per-connection-clocks',
        rates_hz: rates,
        clocks: clockInfo,
        other_clocks: singleClocks,
        drifting_clocks_merged: hostClocks.length - hostGroups,
        connections_with_timestamps: n.conns,
        unclassified: n.unclassified,
        recycle_drops: drops,
        recycle_drop_count: n.dropCount,
        recycle_drops_without_timestamp: n.dropsNoTs,
        expected_chance_matches: round(this.ps[p.idx * PS + EXP_FALSE]!, 4),
      },
      wiresharkFilter: synFilter(p.ipVersion, p.src, p.dst, { srcPorts: ports, synAck: !isClientSide }),
    });
  }

  /** every connection on its own clock (per-connection randomization), or nothing to say */
  private perConnectionFinding(p: Pair, v: PairVerdict, out: FindingSink): void {
    const { n, hostClocks, singles, rates, singleClocks, sameTuple, drops } = v;
    // new clocks that line up are one host clock at a rate twscope does not snap to: no verdict
    const runs = this.ps[p.idx * PS + LINE_RUNS]!;
    const oneUnlistedClock = runs >= 3 && runs >= 4 * this.ps[p.idx * PS + LINE_BREAKS]!;
    if (hostClocks.length === 0 && singleClocks >= 2 && rates.length <= 1 && !oneUnlistedClock) {
      // measured by a connection lasting MEASURE_SPAN, else one clock's best candidate (a guess)
      const rate = rates[0] ?? (singles.length ? this.rateOf(singles[0]!) : null);
      const frames = frameList(...singles.slice(0, 5).flatMap((k) => this.synsOf(k).slice(0, 1)));
      out.finding({
        kind: 'ts-per-connection',
        severity: 'info',
        ts: n.tFirst,
        connectionId: null,
        relatedConnectionId: null,
        frames,
        host: p.src,
        summary:
          `${p.src} gives every connection to ${p.dst} its own TCP timestamp clock (per-connection randomization, as Linux, FreeBSD and macOS do): ` +
          `the ${singleClocks} clocks are not separate machines, so this is not NAT.`,
        details: {
          peer: p.dst,
          connections_with_timestamps: n.conns,
          clocks: singleClocks,
          clocks_shared_by_incarnations_of_one_4tuple: sameTuple,
          rate_hz: rate,
          rate_measured: rates.length > 0,
          unclassified: n.unclassified,
          not_clustered_sampling: n.sampledOut,
          recycle_drop_count: n.dropCount,
          recycle_drops: drops.slice(0, 50),
          recycle_drops_without_timestamp: n.dropsNoTs,
        },
        wiresharkFilter: synFilter(p.ipVersion, p.src, p.dst, { synAck: n.asClient < n.asServer }),
      });
    }
  }
}
