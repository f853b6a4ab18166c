// Turns decoded segments into connections: one Conn per incarnation of a 4-tuple.
// Memory holds only connections that can still receive packets or be referred to
// (open ones, and closed ones until their TIME-WAIT window has passed in capture time).

import { ACK, FIN, RST, SYN, Segment } from '../decode/segment.js';
import { formatAddr } from '../decode/format.js';
import { Conn, ReuseStep, Side, ZState, deriveEnd, finishConn, trackerDisposed, trackerStarted, type EndReason } from './connection.js';
import { seqAfter, seqDiff, seqGE } from './seq.js';

export interface TrackerOptions {
  /** TIME-WAIT length in seconds (Linux TCP_TIMEWAIT_LEN = 60) */
  timeWait: number;
  /** an open connection idle this long (capture time) is written out and forgotten */
  idleTimeout: number;
  /** first connection id to hand out */
  firstId: number;
}

export interface ConnSink {
  /** every segment, after the tracker updated `conn` with it; dir 0 = client to server */
  onSegment(seg: Segment, conn: Conn, dir: 0 | 1): void;
  /** a new incarnation of a 4-tuple whose previous incarnation was still in memory has
   *  shown what became of its first SYN (trail complete); `prev` is finished */
  onReuse(conn: Conn, prev: Conn): void;
  /** the connection is finished and leaves memory. If its row was written ahead
   *  (onConnEarly), `conn.earlyRowCurrent` says whether that row still holds */
  onConnEnd(conn: Conn): void;
  /** a connection has settled (RST, or both FINs acknowledged): its row, derived as if nothing
   *  more happened (expired after TIME-WAIT, or held at the tracker's `endEstimate` if that
   *  comes first), can be written now */
  onConnEarly?(conn: Conn): void;
}

export interface TrackerStats {
  segments: number;
  connections: number;
  peakOpen: number;
  /** segments attributed to the previous incarnation of their 4-tuple (old sequence space) */
  strays: number;
  /** connections where one side acknowledged sequence space the capture never showed from the
   *  other (Wireshark's "ACKed segment that wasn't captured"): the capture lost packets */
  ackedUnseen: number;
}

const TRAIL_MAX = 24;
/** two copies of one segment in a capture are this close in time (s) */
const DUP_SECONDS = 0.001;
/** how far (bytes) a segment may sit from a side's sequence space and still belong to it */
const SEQ_SLACK = 1 << 22;

export class Tracker {
  /** flow table: buckets by tuple hash, chained through Conn.hashNext. A plain array of
   *  handles, not a Map: one memory access less per packet, and packets are memory-bound */
  private buckets: (Conn | null)[] = new Array<Conn | null>(1 << 12).fill(null);
  private mask = (1 << 12) - 1;
  private readonly live: Conn[] = [];
  private readonly v4names = new Map<number, string>();
  private nextId: number;
  /** newest capture time seen (timestamps can step back between interfaces/files) */
  now = 0;
  /** earliest capture time seen */
  private first = Infinity;
  /** capture time at which the input is expected to end (estimateEnd), Infinity = unknown */
  endEstimate = Infinity;
  /** rows written ahead, and those of them written again at the connection's end */
  readonly early = { written: 0, rewritten: 0, off: false };
  private lastSweep = 0;
  private sinceSweep = 0;
  /** expiry candidates by whole second of capture time: a sweep only visits what may expire */
  private readonly wheel = new Map<number, Conn[]>();
  private wheelFrom = -Infinity;
  readonly stats: TrackerStats = { segments: 0, connections: 0, peakOpen: 0, strays: 0, ackedUnseen: 0 };

  /** dispose() ran: the connections' storage may be gone */
  private disposed = false;
  /** no connection expires sooner than this after its last packet (s) */
  private readonly minLife: number;

  constructor(
    private readonly opts: TrackerOptions,
    private readonly sink: ConnSink,
  ) {
    this.nextId = opts.firstId;
    this.minLife = Math.min(opts.timeWait, opts.idleTimeout);
    trackerStarted();
  }

  get open(): number {
    return this.live.length;
  }

  push(seg: Segment): void {
    this.stats.segments++;
    const ts = seg.ts;
    if (ts > this.now) this.now = ts;
    if (ts < this.first) this.first = ts;
    // the wheel makes a sweep cheap; still, not per packet: once a second of capture time at most
    if (++this.sinceSweep >= 4096 && this.now - this.lastSweep >= 1) this.sweep();

    const key = hashTuple(seg);
    let c: Conn | null = this.buckets[key & this.mask]!;
    let dir: 0 | 1 = 0;
    while (c !== null) {
      if (c.hashKey !== key) {
        c = c.hashNext;
        continue;
      }
      if (c.cport === seg.srcPort && c.sport === seg.dstPort && c.c0 === seg.src0 && c.s0 === seg.dst0 && c.c1 === seg.src1 && c.s1 === seg.dst1 && c.c2 === seg.src2 && c.s2 === seg.dst2 && c.c3 === seg.src3 && c.s3 === seg.dst3) {
        dir = 0;
        break;
      }
      if (c.cport === seg.dstPort && c.sport === seg.srcPort && c.c0 === seg.dst0 && c.s0 === seg.src0 && c.c1 === seg.dst1 && c.s1 === seg.src1 && c.c2 === seg.dst2 && c.s2 === seg.src2 && c.c3 === seg.dst3 && c.s3 === seg.src3) {
        dir = 1;
        break;
      }
      c = c.hashNext;
    }

    // a connection that had expired by this packet's time but that no sweep has visited yet
    // (sweeps are lazy) is released here as the sweep would have: whether a later packet on its
    // 4-tuple starts afresh or links to it (prev_id, superseded) must not depend on how many
    // packets lie between sweeps. The packet's own time, not the newest seen: a file whose
    // interfaces' clocks disagree steps back and forth
    if (c !== null && ts - c.latest > this.minLife && this.expiry(c) < ts) {
      this.unlink(c);
      this.release(c, 'expired');
      c = null;
    }

    const f = seg.flags;
    if (c === null) {
      c = this.create(seg, key, null);
      dir = fromClient(c, seg) ? 0 : 1;
    } else if ((f & SYN) !== 0 && (f & RST) === 0 && this.startsIncarnation(c, dir, seg)) {
      const prev = c;
      c = this.create(seg, key, prev);
      dir = fromClient(c, seg) ? 0 : 1;
    } else if (c.orientationGuessed && (f & (SYN | ACK)) === SYN && dir === 1 && c.client.isn === -1 && !c.closing) {
      // the side we took for the server sends the first SYN: it is the client
      swapRoles(c);
      dir = 0;
    }

    // Before the new incarnation is established, segments in the previous incarnation's
    // sequence space (a TIME-WAIT's bare ACK, the RST answering it, a LAST-ACK's FIN) are old.
    let target = c;
    let tdir = dir;
    const prev = c.prev;
    let old = false;
    if (prev !== null && !c.established && (f & SYN) === 0) {
      const pdir: 0 | 1 = fromClient(prev, seg) ? 0 : 1;
      if (belongsToPrev(c.side(dir), prev.side(pdir), seg)) {
        target = prev;
        tdir = pdir;
        old = true;
        this.stats.strays++;
      }
    }

    update(target, tdir, seg);
    if (this.endEstimate !== Infinity && settled(target) && target.earlyFrame === 0 && !target.finished) this.writeEarly(target);

    if (c.reuseTrail !== null && c.prev !== null) {
      const step: ReuseStep = {
        frame: seg.frame, ts, from: dir === 0 ? 'client' : 'server', flags: f, seq: seg.seq, ack: seg.ack, len: seg.payloadLen, oldSpace: old,
      };
      c.reuseTrail.push(step);
      if (c.established || c.closing || c.reuseTrail.length >= TRAIL_MAX) this.releasePrev(c);
    }

    this.sink.onSegment(seg, target, tdir);
  }

  /** the share of the input read so far (on-disk bytes, 0..1), from which the capture's end
   *  is extrapolated in capture time. Known, it lets rows be written when their connections
   *  close instead of a TIME-WAIT later (a capture shorter than TIME-WAIT holds every connection
   *  to the end, and the store would do all its work after the last packet; a longer one left
   *  the writer idle for its first TIME-WAIT and then gave it two connections' rows per close) */
  estimateEnd(fraction: number): void {
    if (!(fraction > 0) || this.first === Infinity || this.early.off) this.endEstimate = Infinity;
    else if (fraction >= 1) this.endEstimate = this.now;
    else this.endEstimate = this.now + ((this.now - this.first) * (1 - fraction)) / fraction;
  }

  private writeEarly(c: Conn): void {
    const sink = this.sink;
    if (sink.onConnEarly === undefined) return;
    // the estimate keeps missing (timestamps that jump, a rate that changes a lot): a row
    // written twice costs more than writing it at the end, so stop
    const e = this.early;
    if (e.rewritten > 1000 && e.rewritten * 4 > e.written) {
      e.off = true;
      this.endEstimate = Infinity;
      return;
    }
    e.written++;
    // as it will end if nothing more happens: expired at its expiry (a sweep releases it after
    // that, and the states then depend on nothing later), or still held when the capture ends
    const expiry = this.expiry(c);
    if (expiry > this.endEstimate) deriveEnd(c, this.endEstimate, this.opts.timeWait, 'capture-end');
    else deriveEnd(c, expiry, this.opts.timeWait, 'expired');
    c.markEarlyRow();
    sink.onConnEarly(c);
  }

  /** end of capture: every connection still in memory is finished and written */
  finish(): void {
    // in id order: the store's rows then go to the end of its table, not all over its last pages
    // (the live list is shuffled by O(1) removals; 10 M packets: 0.2 s less after the last packet)
    const live = this.live.sort((a, b) => a.id - b.id);
    for (let i = 0; i < live.length; i++) this.release(live[i]!, 'capture-end', false);
    this.live.length = 0;
    this.buckets.fill(null);
    this.wheel.clear();
    this.dispose();
  }

  /** done with the connections (finish() calls it; an interrupted run that does not finish should):
   *  their storage can go */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.live.length = 0;
    this.buckets.fill(null);
    this.wheel.clear();
    trackerDisposed();
  }

  private startsIncarnation(c: Conn, dir: 0 | 1, seg: Segment): boolean {
    const me = c.side(dir);
    const isSynAck = (seg.flags & ACK) !== 0;
    const idle = seg.ts - c.latest > this.opts.timeWait;
    if (isSynAck) {
      // a SYN-ACK stands in for a missed SYN when the old incarnation is over
      if (me.isn === seg.seq) return false;
      // it answers the current SYN: same incarnation, even if a FIN went out before it
      const syner = dir === 0 ? c.server : c.client;
      if (syner.isn !== -1 && seg.ack === ((syner.isn + 1) >>> 0)) return false;
      return c.closing || idle || me.isn !== -1;
    }
    if (me.isn === seg.seq && me === c.client && !c.closing) return false; // retransmitted SYN
    // the same SYN again, stamped before the connection's last packet: a copy from another
    // interface of a multi-interface capture (pcapng writers need not interleave them)
    if (me.isn === seg.seq && me === c.client && seg.ts < c.end) return false;
    if (c.closing) return true;
    if (idle) return true;
    if (me === c.client) {
      if (me.isn !== -1) return true; // a different ISN
      // no SYN seen yet: a SYN into a mid-stream connection with data is a new one
      return c.client.bytes > 0 || c.server.bytes > 0;
    }
    // SYN (no ACK) from the server side of an open connection: simultaneous open, same incarnation
    return false;
  }

  private create(seg: Segment, key: number, prev: Conn | null): Conn {
    const c = Conn.create();
    c.id = this.nextId++;
    c.ipVersion = seg.ipVersion;
    const f = seg.flags;
    let srcIsClient: boolean;
    if ((f & (SYN | ACK)) === SYN) srcIsClient = true;
    else if ((f & (SYN | ACK)) === (SYN | ACK)) {
      srcIsClient = false;
      c.orientationGuessed = true;
    } else {
      c.orientationGuessed = true;
      srcIsClient = guessSrcIsClient(seg.srcPort, seg.dstPort);
    }
    if (srcIsClient) {
      c.c0 = seg.src0; c.c1 = seg.src1; c.c2 = seg.src2; c.c3 = seg.src3; c.cport = seg.srcPort;
      c.s0 = seg.dst0; c.s1 = seg.dst1; c.s2 = seg.dst2; c.s3 = seg.dst3; c.sport = seg.dstPort;
    } else {
      c.c0 = seg.dst0; c.c1 = seg.dst1; c.c2 = seg.dst2; c.c3 = seg.dst3; c.cport = seg.dstPort;
      c.s0 = seg.src0; c.s1 = seg.src1; c.s2 = seg.src2; c.s3 = seg.src3; c.sport = seg.srcPort;
      c.flipped = true;
    }
    c.clientIp = this.addrName(seg.ipVersion, c.c0, c.c1, c.c2, c.c3);
    c.serverIp = this.addrName(seg.ipVersion, c.s0, c.s1, c.s2, c.s3);
    c.firstFrame = seg.frame;
    c.startSec = seg.tsSec;
    c.startNsec = seg.tsNsec;
    c.start = seg.ts;
    if (c.flipped) c.history = '^';

    c.hashKey = key;
    if (prev !== null) {
      // replace prev in the table; prev stays reachable through c until c's first SYN has shown its outcome
      this.unlink(prev);
      finishConn(prev, seg.ts, this.opts.timeWait, 'superseded');
      if (prev.prev !== null) this.releasePrev(prev);
      c.prev = prev;
      c.prevId = prev.id;
      prev.supersededAt = seg.ts;
      const ref = prev.timeWaitStart ?? prev.end;
      c.reuseGap = seg.ts - ref;
      c.reuseTrail = [];
    }
    if (this.live.length * 2 >= this.buckets.length) this.grow();
    c.liveIndex = this.live.length;
    this.live.push(c);
    const b = key & this.mask;
    c.hashNext = this.buckets[b]!;
    this.buckets[b] = c;
    if (this.wheelFrom === -Infinity) this.wheelFrom = Math.floor(seg.ts);
    this.schedule(c, seg.ts + Math.min(this.opts.timeWait, this.opts.idleTimeout));
    if (this.live.length > this.stats.peakOpen) this.stats.peakOpen = this.live.length;
    this.stats.connections++;
    return c;
  }

  /** IPv4 address strings are interned (bounded): one string per host, not two per connection */
  private addrName(v: 4 | 6, w0: number, w1: number, w2: number, w3: number): string {
    if (v === 6) return formatAddr(v, w0, w1, w2, w3);
    let name = this.v4names.get(w0);
    if (name === undefined) {
      if (this.v4names.size >= 1 << 16) this.v4names.clear();
      name = formatAddr(4, w0, 0, 0, 0);
      this.v4names.set(w0, name);
    }
    return name;
  }

  /** twice the buckets once live connections fill half of them (short chains: each step is a cache miss) */
  private grow(): void {
    const n = this.buckets.length * 2;
    const buckets = new Array<Conn | null>(n).fill(null);
    this.mask = n - 1;
    for (const c of this.live) {
      const b = c.hashKey & this.mask;
      c.hashNext = buckets[b]!;
      buckets[b] = c;
    }
    this.buckets = buckets;
  }

  private unlink(c: Conn): void {
    const b = c.hashKey & this.mask;
    const head = this.buckets[b]!;
    if (head === c) this.buckets[b] = c.hashNext;
    else {
      let p: Conn | null = head;
      while (p !== null && p.hashNext !== c) p = p.hashNext;
      if (p !== null) p.hashNext = c.hashNext;
    }
    c.hashNext = null;
    const i = c.liveIndex;
    if (i >= 0) {
      const last = this.live.pop()!;
      if (last !== c) {
        this.live[i] = last;
        last.liveIndex = i;
      }
      c.liveIndex = -1;
    }
  }

  /** write out c's previous incarnation and drop the link */
  private releasePrev(c: Conn): void {
    const prev = c.prev;
    if (prev === null) return;
    c.prev = null;
    this.finishForRelease(prev, 'superseded');
    if (c.reuseTrail !== null) this.sink.onReuse(c, prev);
    this.countUnseen(prev);
    this.sink.onConnEnd(prev);
    prev.free();
  }

  /** finish c (and its previous incarnation) and hand it to the sink */
  private release(c: Conn, reason: 'capture-end' | 'expired', reuse = true): void {
    if (c.prev !== null) this.releasePrev(c);
    this.finishForRelease(c, reason);
    this.countUnseen(c);
    this.sink.onConnEnd(c);
    c.free(reuse);
  }

  private countUnseen(c: Conn): void {
    if (c.ackedUnseen) this.stats.ackedUnseen++;
  }

  /** finish a connection about to go to the sink, counting a row written ahead that no longer holds */
  private finishForRelease(c: Conn, reason: EndReason): void {
    // expiring as its row written ahead said, with no packet since: the fields stand as derived
    // then (at its expiry, later than its TIME-WAIT's end; nothing else depends on the time)
    if (reason === 'expired' && c.endReason === 'expired' && c.earlyRowCurrent) c.finished = true;
    else finishConn(c, this.now, this.opts.timeWait, reason);
    if (c.earlyFrame !== 0 && !c.earlyRowCurrent) this.early.rewritten++;
  }

  private sweep(): void {
    this.lastSweep = this.now;
    this.sinceSweep = 0;
    const now = this.now;
    const nowKey = Math.floor(now);
    if (this.wheelFrom > nowKey) return;
    if (nowKey - this.wheelFrom > 100_000) {
      // a long jump in capture time: visit the buckets that exist rather than every second
      const due = [...this.wheel.keys()].filter((k) => k <= nowKey).sort((a, b) => a - b);
      for (const k of due) this.sweepBucket(k, now);
    } else for (let k = this.wheelFrom; k <= nowKey; k++) this.sweepBucket(k, now);
    this.wheelFrom = nowKey + 1;
  }

  private sweepBucket(k: number, now: number): void {
    // anything rescheduled while visiting bucket k lands in a later bucket
    if (k + 1 > this.wheelFrom) this.wheelFrom = k + 1;
    const bucket = this.wheel.get(k);
    if (bucket === undefined) return;
    this.wheel.delete(k);
    for (let i = 0; i < bucket.length; i++) {
      const c = bucket[i]!;
      if (c.liveIndex === -1) continue; // superseded or released already
      const expiry = this.expiry(c);
      if (expiry < now) {
        this.unlink(c);
        this.release(c, 'expired');
      } else this.schedule(c, expiry);
    }
  }

  /** when a connection can be forgotten, counted from its newest packet: closed ones (both FINs, or
   *  a RST) and unanswered SYNs after a TIME-WAIT window, others when idle. A half-closed one is
   *  not closed: the side that has not sent its FIN may go on sending for as long as it likes */
  private expiry(c: Conn): number {
    const tw = this.opts.timeWait;
    const cl = c.client;
    const sv = c.server;
    const bothFins = cl.finFrame !== 0 && sv.finFrame !== 0;
    if (bothFins || cl.rstFrame !== 0 || sv.rstFrame !== 0 || sv.pkts === 0) {
      let expiry = c.latest + tw;
      if (bothFins) {
        const twEndGuess = Math.max(cl.finAckedTs, sv.finAckedTs, cl.finTs, sv.finTs) + tw;
        if (twEndGuess > expiry) expiry = twEndGuess;
      }
      return expiry;
    }
    return c.latest + this.opts.idleTimeout;
  }

  private schedule(c: Conn, at: number): void {
    const k = Math.max(Math.floor(at), this.wheelFrom);
    let b = this.wheel.get(k);
    if (b === undefined) this.wheel.set(k, (b = []));
    b.push(c);
  }
}

/** nothing more is expected of the connection: a RST, or both FINs acknowledged (implies
 *  closing; tested first on every packet, it costs fewer reads than closing does) */
function settled(c: Conn): boolean {
  const cl = c.client;
  const sv = c.server;
  return cl.rstFrame !== 0 || sv.rstFrame !== 0 || (cl.finAckedFrame !== 0 && sv.finAckedFrame !== 0);
}

/** the segment was sent by c's client (both endpoints of c are the segment's, in some order) */
function fromClient(c: Conn, seg: Segment): boolean {
  return c.cport === seg.srcPort && c.c0 === seg.src0 && c.c1 === seg.src1 && c.c2 === seg.src2 && c.c3 === seg.src3;
}

function guessSrcIsClient(sport: number, dport: number): boolean {
  const sWell = sport < 1024;
  const dWell = dport < 1024;
  if (sWell !== dWell) return dWell;
  if (sport !== dport) return sport > dport;
  return true;
}

/** symmetric hash of the 4-tuple: both directions land on the same key */
function hashTuple(s: Segment): number {
  return ((epHash(s.src0, s.src1, s.src2, s.src3, s.srcPort) + epHash(s.dst0, s.dst1, s.dst2, s.dst3, s.dstPort)) | 0) & 0x3fffffff;
}

/** a hash of one endpoint (address words and port); the detectors' address tables use it too */
export function epHash(w0: number, w1: number, w2: number, w3: number, port: number): number {
  let h = Math.imul(w0 ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ w1 ^ (h >>> 13), 0xc2b2ae35);
  h = Math.imul(h ^ w2 ^ (h >>> 16), 0x27d4eb2f);
  h = Math.imul(h ^ w3 ^ (h >>> 13), 0x165667b1);
  h = Math.imul(h ^ port ^ (h >>> 15), 0x85ebca6b);
  return h ^ (h >>> 16);
}

function swapRoles(c: Conn): void {
  let t: number;
  t = c.c0; c.c0 = c.s0; c.s0 = t;
  t = c.c1; c.c1 = c.s1; c.s1 = t;
  t = c.c2; c.c2 = c.s2; c.s2 = t;
  t = c.c3; c.c3 = c.s3; c.s3 = t;
  t = c.cport; c.cport = c.sport; c.sport = t;
  const ip = c.clientIp; c.clientIp = c.serverIp; c.serverIp = ip;
  c.swapSides();
  c.flipped = !c.flipped;
  let h = '';
  for (const ch of c.history) h += ch === '^' ? '' : ch === ch.toUpperCase() ? ch.toLowerCase() : ch.toUpperCase();
  c.history = (c.flipped ? '^' : '') + h;
  c.histSeen = ((c.histSeen & 0xffff) << 16) | (c.histSeen >>> 16);
}

/** does this segment sit in the previous incarnation's sequence space rather than the current one's? */
function belongsToPrev(cur: Side, old: Side, seg: Segment): boolean {
  if (!old.seqKnown) return false;
  const dOld = Math.abs(seqDiff(seg.seq, old.nextSeq));
  if (dOld > SEQ_SLACK) return false;
  if (!cur.seqKnown) return true;
  const dCur = Math.abs(seqDiff(seg.seq, cur.nextSeq));
  return dOld < dCur;
}

// Zeek history bits: per letter, client in the low 16 bits, server in the high 16.
const H_SYN = 1, H_ACK = 2, H_DATA = 4, H_FIN = 8, H_RST = 16, H_FINRST = 32, H_MULTI = 64;

// letters as char codes: upper case for the client, | 0x20 makes the server's lower case
const L_S = 83, L_H = 72, L_A = 65, L_D = 68, L_F = 70, L_R = 82, L_I = 73, L_Q = 81, L_T = 84, L_W = 87, L_G = 71;

function letter(c: Conn, dir: 0 | 1, code: number): void {
  c.addHistory(dir === 0 ? code : code | 0x20);
}

function hist(c: Conn, dir: 0 | 1, mask: number, code: number): boolean {
  const m = dir === 0 ? mask : mask << 16;
  if ((c.histSeen & m) === 0) {
    c.histSeen |= m;
    letter(c, dir, code);
    return false;
  }
  return true;
}

function scaledHist(c: Conn, dir: 0 | 1, count: number, code: number): void {
  // Zeek logs these at the 1st, 10th, 100th... occurrence
  let t = 1;
  while (t < count) t *= 10;
  if (t === count) letter(c, dir, code);
}

/** the last segment update() applied was counted as a retransmission */
let resent = false;

/** the segment the tracker is handing to its sink was counted in its side's retransmissions
 *  (its data, SYN or FIN was already in the capture, or comes late enough to be sent again) */
export function segmentResent(): boolean {
  return resent;
}

/** apply one segment to a connection (the hot path of the tracker) */
function update(c: Conn, dir: 0 | 1, seg: Segment): void {
  resent = false;
  const me = dir === 0 ? c.client : c.server;
  const peer = dir === 0 ? c.server : c.client;
  const f = seg.flags;
  const syn = (f & SYN) !== 0;
  const fin = (f & FIN) !== 0;
  const rst = (f & RST) !== 0;
  const ack = (f & ACK) !== 0;
  const len = seg.payloadLen;
  const seq = seg.seq;
  const ts = seg.ts;

  // the same FIN captured again (a tap that duplicates, or one frame seen on two interfaces):
  // within a millisecond of this side's previous segment, with its TSval, or within a millisecond
  // of the first FIN (either way: a file of two interfaces holds each one's packets in turn, and
  // their clocks differ by microseconds). Not a transmission: a retransmitted FIN waits at least
  // a retransmission timeout (200 ms on Linux, a tail loss probe 10 ms) and carries a newer TSval
  const finCopy =
    fin && me.finFrame !== 0 && ((ts - me.lastTs < DUP_SECONDS && (!seg.hasTs || (me.tsSeen && seg.tsval === me.lastTsval))) || Math.abs(ts - me.finTs) < DUP_SECONDS);
  me.pkts++;
  me.bytes += len;
  if (len > 0 && seg.truncated) me.cutPending = true;
  me.lastFrame = seg.frame;
  me.lastTs = ts;
  c.lastFrame = seg.frame;
  c.endSec = seg.tsSec;
  c.endNsec = seg.tsNsec;
  c.end = ts;
  if (ts > c.latest) c.latest = ts;

  if (seg.hasTs) {
    if (!me.tsSeen) {
      me.tsSeen = true;
      me.firstTsval = seg.tsval;
      me.firstTsTime = ts;
    }
    me.lastTsval = seg.tsval;
    me.lastTsTime = ts;
  }

  // --- Zeek history letters (before the sequence bookkeeping, as Zeek does)
  const bits = (syn ? 1 : 0) + (fin ? 1 : 0) + (rst ? 1 : 0);
  if (bits > 1) {
    if (fin && rst) hist(c, dir, H_FINRST, L_I);
    else hist(c, dir, H_MULTI, L_Q);
  } else if (bits === 1) {
    if (syn) {
      const code = ack ? L_H : L_S;
      if (hist(c, dir, H_SYN, code) && seq !== me.histLastSyn) letter(c, dir, code);
      me.histLastSyn = seq;
    } else if (fin) {
      const end = (seq + len) >>> 0;
      if (hist(c, dir, H_FIN, L_F) && end !== me.histLastFin) letter(c, dir, L_F);
      me.histLastFin = end;
    } else {
      if (hist(c, dir, H_RST, L_R) && seq !== me.histLastRst) letter(c, dir, L_R);
      me.histLastRst = seq;
    }
  } else if (len > 0) hist(c, dir, H_DATA, L_D);
  else if (ack) hist(c, dir, H_ACK, L_A);

  if (seg.window === 0 && !rst && !syn && peer.zstate !== ZState.Closed && me.zstate !== ZState.Reset) {
    scaledHist(c, dir, ++me.zeroWin, L_W);
  }

  // --- sequence space and retransmissions
  const segEnd = (seq + (rst ? 0 : len) + (syn ? 1 : 0) + (fin ? 1 : 0)) >>> 0;
  if (!me.seqKnown) {
    me.seqKnown = true;
    advanceTo(me, segEnd, seg);
  } else if (!rst) {
    if (seqAfter(segEnd, me.nextSeq)) {
      if (me.gaps !== null) fillGaps(me, seq, segEnd);
      // skipped sequence space: not in the capture (yet)
      if (seqAfter(seq, me.nextSeq)) addGap(me, me.nextSeq, seq);
      advanceTo(me, segEnd, seg);
    } else if (len > 0 || syn || fin) {
      // data the capture skipped and now sees for the first time: reordered on the way, or sent
      // again after being lost before the capture point. Zeek's history says T either way
      const reordered = me.gaps !== null && len > 0 && !syn && !fin && inGap(me.gaps, seq, segEnd) && sentBefore(c, me, seg);
      if (me.gaps !== null) fillGaps(me, seq, segEnd);
      // re-sends sequence space already seen; a 1-byte probe just below nextSeq is a keep-alive
      const keepalive = len <= 1 && !syn && !fin && ((me.nextSeq - seq) >>> 0) === 1;
      if (!keepalive && !reordered) {
        me.retrans++;
        resent = true;
      }
      if (len > 0) scaledHist(c, dir, ++me.rxmitHist, L_T);
    }
  }

  // --- SYN / SYN-ACK
  if (syn) {
    if (me.isn !== seq) {
      me.isn = seq;
      me.synFrame = seg.frame;
      me.synTs = ts;
      me.synCount = 1;
      advanceTo(me, segEnd, seg);
      me.gaps = null;
      me.prevSynTs = me.lastSynTs;
      me.lastSynTs = ts;
    } else if (Math.abs(ts - me.lastSynTs) >= DUP_SECONDS && Math.abs(ts - me.synTs) >= DUP_SECONDS) {
      // a transmission, not a copy of the first or the latest one (as for FINs above)
      me.synCount++;
      me.prevSynTs = me.lastSynTs;
      me.lastSynTs = ts;
    }
    me.mss = seg.mss;
    me.wscale = seg.wscale;
    me.sackPermitted = seg.sackPermitted;
    me.synHasTs = seg.hasTs;
  }

  // --- ACK: FIN acknowledgments and the end of the handshake
  let gapAcked = false;
  if (ack) {
    const a = seg.ack;
    if (!me.ackKnown || seqAfter(a, me.highAck)) {
      me.highAck = a;
      me.ackKnown = true;
      // past everything the peer was seen to send, or into a stretch it skipped: a segment of the
      // peer's is not in the capture (Wireshark: "ACKed segment that wasn't captured")
      if (peer.seqKnown && (seqAfter(a, peer.nextSeq) || (peer.gaps !== null && ackedGap(peer.gaps, a)))) {
        c.ackedUnseen = true;
        gapAcked = true;
      }
      // payload that the snapshot length cut off is missing content for Zeek as well (not lost packets)
      if (peer.cutPending) {
        peer.cutPending = false;
        gapAcked = true;
      }
    }
    if (!rst && peer.finFrame !== 0 && peer.finAckedFrame === 0 && seqGE(a, (peer.finSeq + 1) >>> 0)) {
      peer.finAckedFrame = seg.frame;
      peer.finAckedTs = ts;
    }
    if (dir === 0 && !syn && c.handshakeAckTs === 0 && c.server.isn !== -1 && seqGE(a, (c.server.isn + 1) >>> 0)) {
      c.handshakeAckTs = ts;
    }
  }

  // --- FIN: who closed first, simultaneous close, FIN retransmissions
  if (fin) {
    const finSeq = (seq + len) >>> 0;
    if (me.finFrame === 0) {
      me.finFrame = seg.frame;
      me.finTs = ts;
      me.finSeq = finSeq;
      me.finCount = 1;
      if (peer.finFrame === 0) {
        if (c.activeCloser === null) c.activeCloser = dir === 0 ? 'client' : 'server';
      } else if (ack && seqGE(seg.ack, (peer.finSeq + 1) >>> 0)) {
        me.finAckedPeerFin = true;
      } else {
        // each FIN left before the other arrived: both sides go through CLOSING to TIME-WAIT
        c.activeCloser = 'both';
      }
    } else if (finSeq === me.finSeq && !finCopy) {
      me.finCount++;
      if (me.finRetransFrames === null) me.finRetransFrames = [];
      if (me.finRetransFrames.length < 16) me.finRetransFrames.push(seg.frame);
    }
  }

  // --- RST: who reset, and what kind
  if (rst) {
    me.rstCount++;
    if (me.rstFrame === 0) {
      me.rstFrame = seg.frame;
      me.rstTs = ts;
    }
    if (c.rstBy === null) {
      c.rstBy = dir === 0 ? 'client' : 'server';
      c.rstFrame = seg.frame;
      if (dir === 1 && c.server.isn === -1 && c.client.isn !== -1 && c.server.bytes === 0 && c.client.bytes === 0) c.rstKind = 'refused';
      else if (me.finFrame !== 0 || peer.finFrame !== 0) {
        c.rstKind = 'after-fin';
        // (a RST|ACK's own acknowledgment counts: one that covers everything answers nothing)
        const peerSent = peer.seqKnown && (peer.bytes > 0 || peer.finFrame !== 0);
        if (me.finFrame !== 0 && peerSent && (!me.ackKnown || seqAfter(peer.nextSeq, me.highAck))) c.rstOnLateData = true;
      } else c.rstKind = 'abort';
    }
  }

  zeekState(c, me, peer, dir, f, len);
  // Zeek's content gap (history G/g for the side whose data the capture lacks), judged after the
  // state machine as Zeek does, and only while both sides are established or closed from there
  if (gapAcked && zClean(peer) && zClean(me)) scaledHist(c, dir === 0 ? 1 : 0, ++peer.gapHist, L_G);
}

function zClean(s: Side): boolean {
  return s.zstate === ZState.Established || (s.zstate === ZState.Closed && s.zprev === ZState.Established);
}

/** Zeek's endpoint state machine (TCP_Analyzer::UpdateStateMachine), enough for conn_state */
function zeekState(c: Conn, me: Side, peer: Side, dir: 0 | 1, f: number, len: number): void {
  const syn = (f & SYN) !== 0;
  const fin = (f & FIN) !== 0;
  const rst = (f & RST) !== 0;
  const ack = (f & ACK) !== 0;
  switch (me.zstate) {
    case ZState.Inactive:
      if (syn) {
        if (dir === 0) me.setZ(ack ? ZState.SynAckSent : ZState.SynSent);
        else {
          if (peer.zstate === ZState.SynSent) peer.setZ(ZState.Established);
          me.setZ(ZState.Established);
        }
      }
      if (fin) me.setZ(ZState.Closed);
      if (rst) me.setZ(ZState.Reset);
      if (me.zstate === ZState.Inactive) {
        if (dir === 1 && len === 0 && c.client.zstate === ZState.SynSent) {
          // an ACK of the SYN before the SYN-ACK does not make a partial connection
        } else if (ack && peer.zstate === ZState.Established) me.setZ(ZState.Established);
        else me.setZ(ZState.Partial);
      }
      break;
    case ZState.SynSent:
    case ZState.SynAckSent:
      if (fin) me.setZ(ZState.Closed);
      if (rst) me.setZ(ZState.Reset);
      break;
    case ZState.Established:
    case ZState.Partial:
      if (syn && me.zstate === ZState.Partial && peer.zstate === ZState.Inactive && !ack) me.setZ(ZState.SynSent);
      if (fin && !rst) {
        me.setZ(ZState.Closed);
        if (peer.zstate === ZState.Reset && peer.zprev === ZState.Closed) peer.setZ(ZState.Closed);
      }
      if (rst) me.setZ(ZState.Reset);
      break;
    case ZState.Closed:
      if (rst && peer.zstate !== ZState.Closed) me.setZ(ZState.Reset);
      break;
    default:
      break;
  }
}

/** skipped stretches of sequence space tracked per side (more: the oldest are forgotten) */
const MAX_GAPS = 8;

function addGap(s: Side, start: number, end: number): void {
  const g = (s.gaps ??= []);
  if (g.length >= 2 * MAX_GAPS) g.splice(0, 2);
  g.push(start, end);
}

/** take [seq, end) out of the side's skipped stretches (a late or retransmitted segment) */
function fillGaps(s: Side, seq: number, end: number): void {
  const g = s.gaps!;
  for (let k = 0; k < g.length; ) {
    const a = g[k]!;
    const b = g[k + 1]!;
    if (!seqAfter(end, a) || !seqAfter(b, seq)) {
      k += 2;
      continue;
    }
    // overlaps: keep what is left on either side
    const left = seqAfter(seq, a);
    const right = seqAfter(b, end);
    if (left && right) {
      if (g.length >= 2 * MAX_GAPS) return;
      g.splice(k, 2, a, seq, end, b);
      k += 4;
    } else if (left) {
      g[k + 1] = seq;
      k += 2;
    } else if (right) {
      g[k] = end;
      k += 2;
    } else g.splice(k, 2);
  }
  if (g.length === 0) s.gaps = null;
}

/** the side's sequence space now reaches `end`: remember when, and with which TSval (sentBefore) */
function advanceTo(s: Side, end: number, seg: Segment): void {
  s.nextSeq = end;
  s.nextSeqTs = seg.ts;
  if (seg.hasTs) s.nextSeqTsval = seg.tsval;
}

/** [seq, end) lies wholly inside one skipped stretch: none of it was in the capture */
function inGap(g: number[], seq: number, end: number): boolean {
  for (let k = 0; k < g.length; k += 2) if (seqGE(seq, g[k]!) && seqGE(g[k + 1]!, end)) return true;
  return false;
}

/** a segment filling a stretch the capture skipped was sent before the segment that skipped it
 *  (reordered on the way), not after (sent again). Its TSval says so when the clock ticked in
 *  between; otherwise its time does: a retransmission answers the peer's reaction to the gap, a
 *  round trip after the skip wherever the capture is taken, and reordering takes less. Half the
 *  handshake's round trip at the capture point is the line (Wireshark draws it at a whole one,
 *  and calls a fast retransmission on a quick path out-of-order), 3 ms without a handshake */
function sentBefore(c: Conn, me: Side, seg: Segment): boolean {
  if (seg.hasTs && me.tsSeen) {
    const d = (seg.tsval - me.nextSeqTsval) | 0;
    if (d !== 0) return d < 0;
  }
  const syn = c.client.lastSynTs;
  const window = c.handshakeAckTs !== 0 && syn !== 0 ? (c.handshakeAckTs - syn) / 2 : 0.003;
  return seg.ts - me.nextSeqTs < window;
}

/** an acknowledgment reaching into a skipped stretch */
function ackedGap(g: number[], ack: number): boolean {
  for (let k = 0; k < g.length; k += 2) if (seqAfter(ack, g[k]!)) return true;
  return false;
}
