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

export { RATES };
const NR = RATES.length;
const MHZ_BIT = 1 << (NR - 1);
/** tolerance: a few ticks (quantization) */
const TICK_TOL = 3;
/** tolerance: relative rate error while the rate is only snapped, not measured */
const DRIFT = 0.02;
/** tolerance when matching a connection to a clock whose rate is only snapped: real clocks are
 *  within 0.05% of their nominal rate; 0.5% keeps chance matches of random offsets rare */
const DRIFT_MATCH = 0.005;
/** tolerance: relative rate error once the rate is measured over MEASURE_SPAN */
const DRIFT_MEASURED = 0.002;
/** seconds between when a TSval is taken and when the capture timestamps the segment (variation) */
const JITTER = 0.002;
/** samples spanning this long (s) measure a rate */
const MEASURE_SPAN = 1;
/** Linux TCP_PAWS_MSL (s) and TCP_PAWS_WINDOW (ticks) */
const PAWS_MSL = 60;
const PAWS_WINDOW = 1;
const TWO32 = 4294967296;
/** limits that keep memory and rows bounded */
const MAX_IDS = 100_000;
const MAX_PORTS = 1000;
const MAX_SYN_FRAMES = 5;
const MAX_SCAN = 64;
const MAX_SINGLE_ROWS = 200;
/** SYNs listed per pair as tcp_tw_recycle drops (recycle_drop_count counts them all) */
const MAX_DROPS = 100;
const MAX_WEAK = 1000;
/** live single-tuple clocks kept per address pair (oldest folded into counters beyond it) */
const MAX_LIVE = 8192;
/** after this many unrelated clocks on a pair, cluster one connection side in SAMPLE_EVERY */
export const SAMPLE_AFTER = 64;
export const SAMPLE_EVERY = 32;
/** and over all pairs together */
const MAX_LIVE_TOTAL = 32768;

interface Cluster {
  pair: Pair;
  mask: number;
  /** addSide generation that last considered this clock */
  gen: number;
  /** earliest and latest sample, times relative to pair.tRef */
  t0: number;
  v0: number;
  t1: number;
  v1: number;
  /** measured rate (Hz) once the samples span MEASURE_SPAN, else 0 */
  measured: number;
  /** rates (bit mask) measured by one connection on its own (no chance match involved) */
  selfRates: number;
  /** most clocks stay on one connection: its id, port and SYN frame are kept in place, the
   *  lists are allocated at the second connection (read them through idsOf, portsOf, synsOf) */
  id0: number;
  ids: number[] | null;
  nConns: number;
  tuple0: number;
  /** distinct 4-tuples (allocated at the second distinct one) */
  tuples: Set<number> | null;
  port0: number;
  ports: number[] | null;
  syn0: number;
  synFrames: number[] | null;
  firstTs: number;
  lastTs: number;
  /** index keys: key0 when the clock has one candidate rate (-1 when not indexed), else keys */
  key0: number;
  keys: number[];
  multi: boolean;
  live: boolean;
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
  src: string;
  dst: string;
  /** the (dst, src) pair once looked up from this one */
  rev: Pair | null;
  ipVersion: 4 | 6;
  tRef: number;
  clusters: Set<Cluster>;
  index: Map<number, Cluster[]>;
  /** clusters on several distinct 4-tuples: scanned linearly (a host's clock can go unmatched for long) */
  multi: Cluster[];
  liveByRate: number[];
  conns: number;
  unclassified: number;
  expiredSingles: number;
  expiredConns: number;
  /** expired single-tuple clocks that were on several incarnations of their 4-tuple (offset from the 4-tuple) */
  expiredSameTuple: number;
  expiredRates: number[];
  keptSingles: SingleSummary[];
  /** expired clocks on two connections (distinct 4-tuples): host clocks only when chance matches are unlikely */
  weak: Cluster[];
  weakDropped: number;
  /** expected number of chance matches so far (random offsets falling into a tolerance window) */
  expectedFalse: number;
  // tcp_tw_recycle state (this pair as client -> server)
  remTsval: number;
  remTime: number;
  remFrame: number;
  remValid: boolean;
  drops: RecycleDrop[];
  dropCount: number;
  dropsNoTs: number;
  syns: number;
  /** connection sides seen from the client / server end (which SYNs the filter shows) */
  asClient: number;
  asServer: number;
  sampleTick: number;
  /** connection sides clustered, and how many of them started a clock of their own */
  clustered: number;
  newClocks: number;
  /** connection sides not clustered (sampling, see SAMPLE_EVERY) */
  sampledOut: number;
}

const W: number[] = [];
const NO_KEYS: number[] = [];

const idsOf = (k: Cluster): number[] => k.ids ?? [k.id0];
const portsOf = (k: Cluster): number[] => k.ports ?? [k.port0];
const synsOf = (k: Cluster): number[] => k.synFrames ?? (k.syn0 > 0 ? [k.syn0] : []);

function tol(r: number, dt: number, drift: number): number {
  return TICK_TOL + drift * r * Math.abs(dt) + r * JITTER;
}

function wrap(x: number): number {
  return x - Math.round(x / TWO32) * TWO32;
}

/** |residual| / tolerance of sample (t, v) against clock k at rate r, or -1 when outside the tolerance */
function residual(k: Cluster, t: number, v: number, r: number, drift: number): number {
  const useFirst = Math.abs(t - k.t0) < Math.abs(t - k.t1);
  const dt = t - (useFirst ? k.t0 : k.t1);
  const res = Math.abs(wrap(v - (useFirst ? k.v0 : k.v1) - r * dt));
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
  /** every pair, in the order first seen (found through pairsBySrc) */
  private readonly pairs: Pair[] = [];
  private readonly expireAfter: number;
  private gen = 0;
  private readonly pairsBySrc = new Map<string, Map<string, Pair>>();
  /** clocks live over all pairs (memory bound) */
  private liveClusters = 0;
  private now = 0;
  private lastSweep = 0;

  constructor(private readonly opts: AnalysisOptions) {
    this.expireAfter = 2 * opts.timeWait;
    if (W.length === 0) {
      for (const r of RATES) {
        const t = 2 * tol(r, 2 * 60, DRIFT);
        let w = 64;
        while (w < t) w *= 2;
        W.push(w);
      }
    }
  }

  private pair(src: string, dst: string, ipVersion: 4 | 6, t: number): Pair {
    // two-level lookup: no key string built per call (the tracker interns address strings)
    let bySrc = this.pairsBySrc.get(src);
    if (bySrc === undefined) this.pairsBySrc.set(src, (bySrc = new Map()));
    let p = bySrc.get(dst);
    if (p === undefined) {
      p = {
        src, dst, rev: null, ipVersion, tRef: Math.floor(t), clusters: new Set(), index: new Map(), multi: [], liveByRate: new Array(NR).fill(0),
        conns: 0, unclassified: 0, expiredSingles: 0, expiredConns: 0, expiredSameTuple: 0, expiredRates: new Array(NR).fill(0), keptSingles: [], weak: [], weakDropped: 0,
        expectedFalse: 0, remTsval: 0, remTime: 0, remFrame: 0, remValid: false, drops: [], dropCount: 0, dropsNoTs: 0, syns: 0, asClient: 0, asServer: 0, sampleTick: 0, sampledOut: 0, clustered: 0, newClocks: 0,
      };
      this.pairs.push(p);
      bySrc.set(dst, p);
    }
    return p;
  }

  /** a connection's (client, server) and (server, client) pairs, remembered by its tracker slot
   *  until the slot holds another connection: its SYN, FINs and end need them, one lookup each */
  private readonly slotPairs: (Pair | null)[][] = [[], []];
  private readonly slotConns: number[][] = [[], []];

  private connPair(c: Conn, t: number, rev: 0 | 1): Pair {
    const k = c.slot;
    const conns = this.slotConns[rev]!;
    const pairs = this.slotPairs[rev]!;
    if (conns[k] === c.id) return pairs[k]!;
    let p: Pair;
    if (rev === 0) p = this.pair(c.clientIp, c.serverIp, c.ipVersion, t);
    else {
      // the reverse of the connection's (client, server) pair when that one is known already
      const fwd = this.slotConns[0]![k] === c.id ? this.slotPairs[0]![k]! : null;
      if (fwd !== null && fwd.rev !== null) p = fwd.rev;
      else {
        p = this.pair(c.serverIp, c.clientIp, c.ipVersion, t);
        if (fwd !== null) {
          fwd.rev = p;
          p.rev = fwd;
        }
      }
    }
    while (pairs.length <= k) {
      pairs.push(null);
      conns.push(-1);
    }
    pairs[k] = p;
    conns[k] = c.id;
    return p;
  }

  // ---- tcp_tw_recycle simulation: SYN and FIN segments only ----
  onSegment(seg: Segment, c: Conn, dir: 0 | 1): void {
    const f = seg.flags;
    if ((f & (SYN | FIN)) === 0 || (f & RST) !== 0) return;
    if ((f & (SYN | ACK)) === SYN) {
      if (dir !== 0) return;
      const p = this.connPair(c, seg.ts, 0);
      p.syns++;
      if (!p.remValid || seg.ts - p.remTime >= PAWS_MSL) return;
      if (!seg.hasTs) {
        p.dropsNoTs++;
        return;
      }
      if (seqDiff(p.remTsval, seg.tsval) > PAWS_WINDOW) {
        p.dropCount++;
        if (p.drops.length < MAX_DROPS) {
          p.drops.push({ frame: seg.frame, connection_id: c.id, tsval: seg.tsval, newest_tsval: p.remTsval, newest_frame: p.remFrame, age: round(seg.ts - p.remTime) });
        }
      }
      return;
    }
    if ((f & FIN) === 0) return;
    // at each FIN (the close), the server remembers the newest TSval it holds for the client:
    // its TS.Recent (kept by the PAWS detector, which runs first), else the newest TSval seen
    const cl = c.client;
    if (!cl.tsSeen) return;
    const p = this.connPair(c, seg.ts, 0);
    const fromRecent = cl.tsRecentValid && seqDiff(cl.tsRecent, cl.lastTsval) >= 0;
    const tsval = fromRecent ? cl.tsRecent : cl.lastTsval;
    const t = fromRecent ? cl.tsRecentTime : cl.lastTsTime;
    const frame = fromRecent ? cl.tsRecentFrame : cl.lastFrame;
    // tcp_remember_stamp: keep the newest TSval, or replace one older than TCP_PAWS_MSL
    if (!p.remValid || seqDiff(p.remTsval, tsval) <= 0 || (seg.ts - p.remTime > PAWS_MSL && p.remTime <= t)) {
      p.remValid = true;
      p.remTsval = tsval;
      p.remTime = t;
      p.remFrame = frame;
    }
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
    const p = this.connPair(c, s.firstTsTime, s === c.client ? 0 : 1);
    p.conns++;
    if (s === c.client) p.asClient++;
    else p.asServer++;
    if (s.firstTsval === 0 && s.lastTsval === 0) {
      p.unclassified++;
      return;
    }
    // per-connection offsets nearly everywhere so far (nine in ten connections brought a new clock): cluster
    // one connection in SAMPLE_EVERY; a host clock with several connections still shows, at a
    // fraction of the cost on busy pairs
    if (p.clustered >= SAMPLE_AFTER && p.newClocks > 0.9 * p.clustered && p.sampleTick++ % SAMPLE_EVERY !== 0) {
      p.sampledOut++;
      return;
    }
    const ta = s.firstTsTime - p.tRef;
    const tb = s.lastTsTime - p.tRef;
    const d = tb - ta;
    const dv = seqDiff(s.lastTsval, s.firstTsval);
    const mask = d < 0 ? 0 : connRateMask(d, dv);
    if (mask === 0) {
      p.unclassified++;
      return;
    }
    const va = s.firstTsval;
    const vb = s.lastTsval;

    // chance-match bookkeeping: live clocks times their tolerance windows
    let ef = 0;
    for (let i = 0; i < NR; i++) if (mask & (1 << i)) ef += (p.liveByRate[i]! * 2 * tol(RATES[i]!, this.opts.timeWait, DRIFT_MATCH)) / TWO32;
    p.expectedFalse += ef;

    this.best = null;
    this.bestMask = 0;
    this.bestScore = Infinity;
    // visit each candidate clock once: a generation stamp instead of a Set per connection
    const gen = ++this.gen;
    for (let i = 0; i < NR; i++) {
      if ((mask & (1 << i)) === 0) continue;
      const r = RATES[i]!;
      const nb = TWO32 / W[i]!;
      const b = Math.floor(mod32(vb - r * tb) / W[i]!);
      for (let bb = b - 1; bb <= b + 1; bb++) {
        const list = p.index.get(i * 2 ** 27 + ((bb + nb) % nb));
        if (list) for (let j = 0; j < list.length; j++) this.consider(list[j]!, gen, mask, ta, va, tb, vb);
      }
    }
    for (let j = 0; j < p.multi.length; j++) this.consider(p.multi[j]!, gen, mask, ta, va, tb, vb);

    p.clustered++;
    const tuple = sport * 65536 + dport;
    const start = Math.min(c.start, s.firstTsTime);
    const end = Math.max(c.end, s.lastTsTime);
    let k = this.best as Cluster | null; // set by consider()
    if (k === null) {
      k = {
        pair: p, mask, t0: ta, v0: va, t1: tb, v1: vb, measured: 0, selfRates: 0, id0: c.id, ids: null, nConns: 0, tuple0: tuple, tuples: null, port0: sport, ports: null,
        syn0: s.synFrame, synFrames: null, firstTs: start, lastTs: end, key0: -1, keys: NO_KEYS, multi: false, live: true, gen: 0,
      };
      this.trim(p);
      p.newClocks++;
      p.clusters.add(k);
      this.liveClusters++;
    } else {
      this.unindex(k);
      k.mask = this.bestMask;
      if (ta < k.t0) {
        k.t0 = ta;
        k.v0 = va;
      }
      if (tb > k.t1) {
        k.t1 = tb;
        k.v1 = vb;
      }
      if (start < k.firstTs) k.firstTs = start;
      if (end > k.lastTs) k.lastTs = end;
      if (tuple !== k.tuple0 && k.tuples === null) {
        k.tuples = new Set([k.tuple0]);
      }
      if (k.tuples !== null && k.tuples.size < MAX_IDS) k.tuples.add(tuple);
      if (k.tuples !== null && k.tuples.size >= 2 && !k.multi) {
        k.multi = true;
        p.multi.push(k);
        if (p.multi.length > MAX_SCAN) {
          // scan only the most recently active host clocks
          p.multi.sort((a, b) => b.t1 - a.t1);
          p.multi.length = MAX_SCAN;
        }
      }
    }
    if (k.nConns > 0) {
      // exact-size array literals: an empty array grows to room for 17 at its first push
      const ids = (k.ids ??= [k.id0]);
      if (ids.length < MAX_IDS) ids.push(c.id);
      if (k.ports !== null || sport !== k.port0) {
        const ports = (k.ports ??= [k.port0]);
        if (ports.length < MAX_PORTS && !ports.includes(sport)) ports.push(sport);
      }
      if (s.synFrame > 0) {
        const syns = (k.synFrames ??= k.syn0 > 0 ? [k.syn0] : []);
        if (syns.length < MAX_SYN_FRAMES) syns.push(s.synFrame);
      }
    }
    k.nConns++;
    if (d >= MEASURE_SPAN && (mask & (mask - 1)) === 0) k.selfRates |= mask;
    this.measure(k);
    this.index(k);
  }

  /** addSide's best candidate so far (fields, not a closure per connection) */
  private best: Cluster | null = null;
  private bestMask = 0;
  private bestScore = Infinity;

  private consider(k: Cluster, gen: number, mask: number, ta: number, va: number, tb: number, vb: number): void {
    if (k.gen === gen) return;
    k.gen = gen;
    const common = k.mask & mask;
    if (common === 0) return;
    let pass = 0;
    let score = Infinity;
    for (let i = 0; i < NR; i++) {
      if ((common & (1 << i)) === 0) continue;
      const r = k.measured > 0 ? k.measured : RATES[i]!;
      const drift = k.measured > 0 ? DRIFT_MEASURED + (2 * JITTER) / Math.max(k.t1 - k.t0, MEASURE_SPAN) : DRIFT_MATCH;
      // both samples must sit on the clock's line, measured from its nearest anchor
      const ra = residual(k, ta, va, r, drift);
      if (ra < 0) continue;
      const rb = residual(k, tb, vb, r, drift);
      if (rb < 0) continue;
      pass |= 1 << i;
      score = Math.min(score, Math.max(ra, rb));
    }
    if (pass !== 0 && score < this.bestScore) {
      this.best = k;
      this.bestMask = pass;
      this.bestScore = score;
    }
  }

  /** measured rate once the samples span long enough; narrows the candidate rates */
  private measure(k: Cluster): void {
    const span = k.t1 - k.t0;
    if (span < MEASURE_SPAN) return;
    // unwrap the TSval difference with the candidate rate closest to it
    const raw = seqDiff(k.v1, k.v0);
    let bestHz = raw / span;
    let bestErr = Infinity;
    for (let i = 0; i < NR; i++) {
      if ((k.mask & (1 << i)) === 0) continue;
      const r = RATES[i]!;
      const dv = r * span + wrap(k.v1 - k.v0 - r * span);
      const hz = dv / span;
      const err = Math.abs(hz - r) / r;
      if (err < bestErr) {
        bestErr = err;
        bestHz = hz;
      }
    }
    const si = snapRate(bestHz);
    if (si >= 0 && k.mask & (1 << si)) {
      k.mask = 1 << si;
      k.measured = bestHz;
    }
  }

  private index(k: Cluster): void {
    const p = k.pair;
    const several = (k.mask & (k.mask - 1)) !== 0;
    const keys: number[] = several ? [] : NO_KEYS;
    for (let i = 0; i < NR; i++) {
      if ((k.mask & (1 << i)) === 0) continue;
      const r = RATES[i]!;
      const key = i * 2 ** 27 + Math.floor(mod32(k.v1 - r * k.t1) / W[i]!);
      let list = p.index.get(key);
      if (list === undefined) p.index.set(key, (list = [k]));
      else list.push(k);
      if (several) keys.push(key);
      else k.key0 = key;
      p.liveByRate[i]!++;
    }
    k.keys = keys;
  }

  private unindex(k: Cluster): void {
    if (k.key0 >= 0) this.unindexKey(k, k.key0);
    for (const key of k.keys) this.unindexKey(k, key);
    k.key0 = -1;
    k.keys = NO_KEYS;
  }

  private unindexKey(k: Cluster, key: number): void {
    const p = k.pair;
    const list = p.index.get(key);
    if (list === undefined) return;
    const j = list.indexOf(k);
    if (j >= 0) {
      list[j] = list[list.length - 1]!;
      list.pop();
    }
    if (list.length === 0) p.index.delete(key);
    p.liveByRate[Math.floor(key / 2 ** 27)]!--;
  }

  /** fold clocks unmatched for expireAfter into counters: those seen on one 4-tuple only, and
   *  those on two connections (kept aside, bounded, as weak host clocks) */
  private sweep(): void {
    this.lastSweep = this.now;
    for (const p of this.pairs) {
      const limit = this.now - this.expireAfter - p.tRef;
      let dropMulti = false;
      for (const k of p.clusters) {
        if ((k.multi && k.nConns >= 3) || k.t1 >= limit || k.lastTs - p.tRef >= limit) continue;
        if (this.retire(p, k)) dropMulti = true;
      }
      if (dropMulti) p.multi = p.multi.filter((k) => k.live);
    }
  }

  /** fold one clock into the pair's counters; true when it was a (weak) multi-tuple clock */
  private retire(p: Pair, k: Cluster): boolean {
    this.unindex(k);
    p.clusters.delete(k);
    this.liveClusters--;
    k.live = false;
    if (k.multi) {
      if (p.weak.length < MAX_WEAK) p.weak.push(k);
      else p.weakDropped++;
      return true;
    }
    p.expiredSingles++;
    p.expiredConns += k.nConns;
    if (k.nConns > 1) p.expiredSameTuple++;
    for (const i of bits(k.selfRates)) p.expiredRates[i]!++;
    if (p.keptSingles.length < MAX_SINGLE_ROWS) p.keptSingles.push(this.summary(k));
    return false;
  }

  /** memory bound: when every connection brings its own clock (per-connection offsets), keep only
   *  the most recent MAX_LIVE single-tuple clocks of a pair live; the oldest are folded early */
  private trim(p: Pair): void {
    // over the global bound, only pairs above their fair share give clocks up (amortized: an eighth at a time)
    if (p.clusters.size < MAX_LIVE && (this.liveClusters < MAX_LIVE_TOTAL || p.clusters.size * this.pairs.length < MAX_LIVE_TOTAL)) return;
    let n = Math.max(1, p.clusters.size >> 3);
    let dropMulti = false;
    for (const k of p.clusters) {
      if (n-- <= 0) break;
      if (k.multi) continue;
      if (this.retire(p, k)) dropMulti = true;
    }
    if (dropMulti) p.multi = p.multi.filter((k) => k.live);
  }

  private rateOf(k: Cluster): number {
    const b = bits(k.mask);
    if (b.length === 1) return RATES[b[0]!]!;
    if (b.includes(5)) return 1000;
    return RATES[b[b.length - 1]!]!;
  }

  private summary(k: Cluster): SingleSummary {
    const rate = this.rateOf(k);
    return {
      rate,
      measured: k.measured > 0 ? round(k.measured, 3) : null,
      offset: Math.round(mod32(k.v0 - rate * (k.t0 + k.pair.tRef))),
      ids: idsOf(k).slice().sort((a, b) => a - b),
      firstTs: k.firstTs,
      lastTs: k.lastTs,
    };
  }

  finish(out: FindingSink): void {
    const pairs = [...this.pairs].sort((a, b) => (a.src < b.src ? -1 : a.src > b.src ? 1 : a.dst < b.dst ? -1 : a.dst > b.dst ? 1 : 0));
    for (const p of pairs) this.finishPair(p, out);
  }

  private finishPair(p: Pair, out: FindingSink): void {
    // several connections per host clock; when chance matches of random offsets are expected
    // (many per-connection clocks at once), ask for more connections per clock
    const need = p.expectedFalse < 0.05 ? 2 : p.expectedFalse < 50 ? 3 : 4;
    const live = [...p.clusters, ...(need === 2 ? p.weak : [])];
    const hostClocks = live.filter((k) => k.multi && k.nConns >= need).sort((a, b) => a.firstTs - b.firstTs);
    const others = live.filter((k) => !hostClocks.includes(k)).sort((a, b) => a.firstTs - b.firstTs);
    const singles = others.filter((k) => !k.multi);
    const sameTuple = singles.filter((k) => k.nConns > 1).length + p.expiredSameTuple;
    const singleClocks = singles.length + p.expiredSingles;

    // well-measured rates: by one connection lasting MEASURE_SPAN, or by a host clock (a clock
    // made of chance matches has a random rate and does not count)
    const rateCount = new Map<number, number>();
    const addRate = (r: number): void => void rateCount.set(r, (rateCount.get(r) ?? 0) + 1);
    for (const k of live) for (const i of bits(k.selfRates)) addRate(RATES[i]!);
    for (const k of hostClocks) if (k.measured > 0 && k.selfRates === 0) addRate(this.rateOf(k));
    p.expiredRates.forEach((n, i) => {
      if (n > 0) rateCount.set(RATES[i]!, (rateCount.get(RATES[i]!) ?? 0) + n);
    });
    const rates = [...rateCount.keys()].sort((a, b) => a - b);

    // clocks rows: host clocks first, then the others (singles capped)
    const rows: { row: ClockRow; k: Cluster | null }[] = [];
    let n = 0;
    const push = (k: Cluster): void => {
      const s = this.summary(k);
      rows.push({ row: { srcIp: p.src, dstIp: p.dst, clock: ++n, rateHz: s.rate, measuredHz: s.measured, offset: s.offset, connections: s.ids, firstTs: s.firstTs, lastTs: s.lastTs }, k });
    };
    for (const k of hostClocks) push(k);
    // the other clocks: at most MAX_SINGLE_ROWS rows per pair (the finding details count them all)
    let singleRows = 0;
    for (const k of others.filter((k) => k.multi)) {
      if (singleRows++ >= MAX_SINGLE_ROWS) break;
      push(k);
    }
    for (const s of p.keptSingles) {
      if (singleRows++ >= MAX_SINGLE_ROWS) break;
      rows.push({ row: { srcIp: p.src, dstIp: p.dst, clock: ++n, rateHz: s.rate, measuredHz: s.measured, offset: s.offset, connections: s.ids, firstTs: s.firstTs, lastTs: s.lastTs }, k: null });
    }
    for (const k of singles) {
      if (singleRows++ >= MAX_SINGLE_ROWS) break;
      push(k);
    }
    for (const r of rows) out.clock(r.row);

    const mixed = hostClocks.length === 1 && singleClocks - sameTuple >= Math.max(2, 0.1 * p.conns);
    const nat = hostClocks.length >= 2 || rates.length >= 2 || mixed;
    const drops = p.drops;
    const dropDetails = drops.map((d) => ({ ...d }));
    if (nat) {
      const hosts = Math.max(hostClocks.length + (mixed ? 1 : 0), rates.length);
      const clockInfo = hostClocks.map((k, i) => ({
        clock: i + 1,
        rate_hz: this.rateOf(k),
        measured_hz: k.measured > 0 ? round(k.measured, 3) : null,
        offset: rows[i]!.row.offset,
        connections: idsOf(k).slice().sort((a, b) => a - b).slice(0, 1000),
        connection_count: k.nConns,
        client_ports: portsOf(k).slice().sort((a, b) => a - b),
        first_ts: round(k.firstTs),
        last_ts: round(k.lastTs),
      }));
      const frames = frameList(...hostClocks.flatMap((k) => synsOf(k).slice(0, 3)), ...drops.slice(0, 5).map((d) => d.frame));
      const ports = hostClocks.flatMap((k) => portsOf(k)).slice(0, 64);
      const isClientSide = p.asClient >= p.asServer;
      const critical = p.dropCount > 0;
      const why = hostClocks.length >= 2 ? `${hostClocks.length} different TCP timestamp clocks` : rates.length >= 2 ? `timestamp clocks ticking at different rates (${rates.join(', ')} Hz)` : 'one shared timestamp clock next to per-connection clocks';
      out.finding({
        kind: 'nat-clock-collision',
        severity: critical ? 'critical' : 'warning',
        ts: hostClocks.length ? Math.min(...hostClocks.map((k) => k.firstTs)) : p.tRef,
        connectionId: null,
        relatedConnectionId: null,
        frames,
        host: p.src,
        summary:
          `About ${hosts} different machines send from ${p.src} to ${p.dst} (behind NAT or a load balancer): their connections carry ${why}` +
          (critical ? `, and a server with the old tcp_tw_recycle setting would have dropped ${p.dropCount} of their connection attempts.` : '.'),
        details: {
          hosts,
          peer: p.dst,
          reason: hostClocks.length >= 2 ? 'several-clocks' : rates.length >= 2 ? 'several-rates' : 'shared-and-per-connection-clocks',
          rates_hz: rates,
          clocks: clockInfo,
          other_clocks: singleClocks,
          connections_with_timestamps: p.conns,
          unclassified: p.unclassified,
          recycle_drops: dropDetails,
          recycle_drop_count: p.dropCount,
          recycle_drops_without_timestamp: p.dropsNoTs,
          expected_chance_matches: round(p.expectedFalse, 4),
        },
        wiresharkFilter: synFilter(p.ipVersion, p.src, p.dst, { srcPorts: ports, synAck: !isClientSide }),
      });
      return;
    }
    if (hostClocks.length === 0 && singleClocks >= 2 && rates.length <= 1) {
      const rate = rates[0] ?? (singles.length ? this.rateOf(singles[0]!) : null);
      const frames = frameList(...singles.slice(0, 5).flatMap((k) => synsOf(k).slice(0, 1)));
      out.finding({
        kind: 'ts-per-connection',
        severity: 'info',
        ts: p.tRef,
        connectionId: null,
        relatedConnectionId: null,
        frames,
        host: p.src,
        summary:
          `${p.src} gives every connection to ${p.dst} its own TCP timestamp clock (per-connection randomization, as Linux, FreeBSD and macOS do): ` +
          `the ${singleClocks} clocks are not separate machines, so this is not NAT.`,
        details: {
          peer: p.dst,
          connections_with_timestamps: p.conns,
          clocks: singleClocks,
          clocks_shared_by_incarnations_of_one_4tuple: sameTuple,
          rate_hz: rate,
          unclassified: p.unclassified,
          not_clustered_sampling: p.sampledOut,
          recycle_drop_count: p.dropCount,
          recycle_drops: dropDetails.slice(0, 50),
          recycle_drops_without_timestamp: p.dropsNoTs,
        },
        wiresharkFilter: synFilter(p.ipVersion, p.src, p.dst, { synAck: p.asClient < p.asServer }),
      });
    }
  }
}
