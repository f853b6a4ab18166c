// One incarnation of a TCP 4-tuple, as reconstructed from the segments seen at the capture point.
// The tracker mutates these per packet; `finish()` derives the teardown story once the
// connection leaves memory (superseded, expired, or end of capture).

/** Zeek's per-endpoint states (TCP_ENDPOINT_*), kept to derive a Zeek-compatible conn_state. */
export const enum ZState {
  Inactive = 0,
  SynSent = 1,
  SynAckSent = 2,
  Partial = 3,
  Established = 4,
  Closed = 5,
  Reset = 6,
}

// Field storage. A live connection's numbers and flags sit in typed-array pages (never in
// per-object fields): at 150k connections in TIME-WAIT, one JS object per connection with
// 80 in-object fields was most of the heap and most of the GC's work. Conn and Side are thin
// handles whose prototype accessors index into the pages; a page never moves, so a handle
// keeps a direct reference to its page.
const SIDE_F64 = ['isn', 'synTs', 'lastSynTs', 'prevSynTs', 'finTs', 'finAckedTs', 'rstTs', 'firstTsTime', 'lastTsTime', 'tsRecentTime', 'lastTs', 'bytes', 'nextSeqTs'] as const;
const SIDE_I32 = ['pkts', 'retrans', 'synCount', 'finCount', 'rstCount', 'pawsViolations', 'mss', 'wscale', 'zstate', 'zprev', 'rxmitHist', 'zeroWin', 'pawsLinuxDrops', 'gapHist'] as const;
/** frames, and 32-bit sequence/timestamp values (read only after they were first set: no sentinel) */
const SIDE_U32 = ['synFrame', 'finFrame', 'finAckedFrame', 'rstFrame', 'tsRecentFrame', 'lastFrame', 'nextSeq', 'highAck', 'finSeq', 'firstTsval', 'lastTsval', 'tsRecent', 'histLastSyn', 'histLastFin', 'histLastRst', 'pawsFirstTsval', 'pawsLastFrame', 'nextSeqTsval'] as const;
const SIDE_BOOL = ['seqKnown', 'ackKnown', 'finAckedPeerFin', 'tsRecentValid', 'sackPermitted', 'synHasTs', 'tsSeen', 'cutPending'] as const;

/** `end` is the last packet's time; `latest` the newest of them (a file's clock can step back) */
const CONN_F64 = ['startSec', 'start', 'endSec', 'end', 'latest', 'handshakeAckTs'] as const;
/** stored as NaN, read as null */
const CONN_NULLABLE = ['timeWaitStart', 'timeWaitEnd', 'reuseGap', 'handshakeRtt', 'prevId', 'supersededAt'] as const;
const CONN_I32 = ['cport', 'sport', 'ipVersion', 'startNsec', 'endNsec', 'histSeen', 'histLen', 'h0', 'h1', 'h2', 'h3', 'h4', 'h5', 'liveIndex', 'earlyEnums', 'clockPair'] as const;
/** history letters kept in the page (4 per int32 in h0..h5); longer histories continue in a string */
const HIST_INLINE = 24;
const H0 = CONN_I32.indexOf('h0');
const HLEN = CONN_I32.indexOf('histLen');
const HIST_CODES: number[] = [];
const CONN_U32 = ['c0', 'c1', 'c2', 'c3', 's0', 's1', 's2', 's3', 'firstFrame', 'lastFrame', 'rstFrame', 'lastAckFrame', 'id', 'earlyFrame'] as const;
const CONN_BOOL = ['orientationGuessed', 'flipped', 'finished', 'timeWaitEstimated', 'pooled', 'ackedUnseen', 'rstOnLateData'] as const;

export type CloseKind = 'fin' | 'simultaneous' | 'rst' | 'fin-rst' | 'refused' | 'half-close' | 'open' | 'unanswered';
export type RstKind = 'refused' | 'abort' | 'after-fin';
export type EndReason = 'capture-end' | 'superseded' | 'expired';
const STATE_NAMES = ['CLOSED', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT_1', 'FIN_WAIT_2', 'CLOSING', 'TIME_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN'] as const;
export type TcpStateName = (typeof STATE_NAMES)[number] | 'UNKNOWN';
export const CONN_STATES = ['OTH', 'S0', 'S1', 'SF', 'REJ', 'S2', 'S3', 'RSTO', 'RSTR', 'RSTOS0', 'RSTRH', 'SH', 'SHR'] as const;

/** text-valued fields, stored as their index in the list (the first entry is the initial value) */
export const CONN_ENUMS = {
  activeCloser: [null, 'client', 'server', 'both'],
  rstBy: [null, 'client', 'server'],
  rstKind: [null, 'refused', 'abort', 'after-fin'],
  closeKind: ['open', 'fin', 'simultaneous', 'rst', 'fin-rst', 'refused', 'half-close', 'unanswered'],
  connState: CONN_STATES,
  clientState: ['', ...STATE_NAMES, 'UNKNOWN'],
  serverState: ['', ...STATE_NAMES, 'UNKNOWN'],
  endReason: ['capture-end', 'superseded', 'expired'],
} as const;
const ENUM_NAMES = Object.keys(CONN_ENUMS) as (keyof typeof CONN_ENUMS)[];

// layout: per connection, [conn fields][client fields][server fields] in each array kind
const CONN_NF = CONN_F64.length + CONN_NULLABLE.length;
const SIDE_NF = SIDE_F64.length;
const F_STRIDE = CONN_NF + 2 * SIDE_NF;
// flags share one int per connection and one per side; the enums (4 bits each) one more
const CONN_NI = CONN_I32.length + CONN_U32.length + 2;
const SIDE_NI = SIDE_I32.length + SIDE_U32.length + 1;
const I_STRIDE = CONN_NI + 2 * SIDE_NI;
const PAGE_BITS = 12;
const PAGE = 1 << PAGE_BITS;

interface Page {
  f: Float64Array;
  /** 32-bit fields; the unsigned ones (frames, address words) are stored modulo 2^32 */
  i: Int32Array;
}
const PAGES: Page[] = [];
/** released handles, each with its page slot: reused instead of allocating (no GC churn) */
const POOL: Conn[] = [];
let NEXT = 0;
/** slots of handles dropped instead of pooled (free(false)): the next analysis in this process reuses them */
let FREE_SLOTS = new Int32Array(0);
let FREE_N = 0;

/** trackers constructed and not yet disposed: they share the pages */
let ACTIVE = 0;

export function trackerStarted(): void {
  ACTIVE++;
}

/** A tracker is done with its connections. When no other is running, the pages' memory goes back
 *  at once: the run's largest allocation (108 MB at 157,000 connections) would otherwise stay until
 *  a full collection, through the detectors' summaries and the store's index build at the end of
 *  the run, where its peak RSS was. The buffers are detached by transferring them to copies that
 *  nothing references, which the next scavenge frees; handles still around (in the pool) go too. */
export function trackerDisposed(): void {
  if (--ACTIVE > 0) return;
  ACTIVE = 0;
  for (const p of PAGES) {
    for (const b of [p.f.buffer as ArrayBuffer, p.i.buffer as ArrayBuffer]) structuredClone(b, { transfer: [b] });
  }
  PAGES.length = 0;
  POOL.length = 0;
  NEXT = 0;
  FREE_N = 0;
}

function allocSlot(): number {
  if (FREE_N > 0) return FREE_SLOTS[--FREE_N]!;
  const slot = NEXT++;
  if (slot >>> PAGE_BITS === PAGES.length) {
    PAGES.push({ f: new Float64Array(PAGE * F_STRIDE), i: new Int32Array(PAGE * I_STRIDE) });
  }
  return slot;
}

/** What one side of a connection sent, and what the tracker inferred about it. */
export class Side {
  readonly f: Float64Array;
  readonly fo: number;
  readonly i: Int32Array;
  readonly io: number;
  /** frames of FIN retransmissions (allocated only when there are some, at most 16 kept) */
  finRetransFrames: number[] | null = null;
  /** stretches of this side's sequence space the capture skipped and has not shown since, as
   *  [start, end) pairs (allocated at the first one, at most MAX_GAPS): acknowledged by the
   *  peer, the capture lost them */
  gaps: number[] | null = null;

  constructor(p: Page, fo: number, io: number) {
    this.f = p.f;
    this.fo = fo;
    this.i = p.i;
    this.io = io;
  }

  reset(): void {
    this.finRetransFrames = null;
    this.gaps = null;
    this.isn = -1;
    this.mss = -1;
    this.wscale = -1;
  }

  declare pkts: number;
  declare bytes: number;
  declare retrans: number;

  /** ISN from this side's SYN (or SYN-ACK); -1 when no SYN was seen */
  declare isn: number;
  declare synFrame: number;
  declare synTs: number;
  /** SYN transmissions with the current ISN (1 = no retransmission) */
  declare synCount: number;
  /** time of the last SYN transmission (for handshake RTT) and of the one before it */
  declare lastSynTs: number;
  declare prevSynTs: number;

  /** sequence space seen: seqKnown once any segment from this side was seen */
  declare seqKnown: boolean;
  /** one past the highest sequence number this side has used (SYN/FIN count one) */
  declare nextSeq: number;
  /** highest ACK this side sent (valid when ackKnown) */
  declare ackKnown: boolean;
  declare highAck: number;

  declare finFrame: number;
  declare finTs: number;
  /** sequence number the FIN occupies */
  declare finSeq: number;
  declare finCount: number;
  /** frame/time at which the peer first acknowledged this side's FIN */
  declare finAckedFrame: number;
  declare finAckedTs: number;
  /** this side's FIN acknowledged the peer's FIN already (not a simultaneous close) */
  declare finAckedPeerFin: boolean;

  declare rstFrame: number;
  declare rstTs: number;
  declare rstCount: number;

  /** TS.Recent the peer holds for this side's segments (RFC 7323 4.3), kept by the PAWS detector */
  declare tsRecent: number;
  declare tsRecentTime: number;
  declare tsRecentFrame: number;
  declare tsRecentValid: boolean;
  declare pawsViolations: number;
  /** of them, those Linux drops (PAWSEstab), counted past the listed ones too */
  declare pawsLinuxDrops: number;
  /** TSval of the first PAWS violation and frame of the last (read with pawsViolations > 0) */
  declare pawsFirstTsval: number;
  declare pawsLastFrame: number;

  // handshake options (from the SYN or SYN-ACK); -1 when absent
  declare mss: number;
  declare wscale: number;
  declare sackPermitted: boolean;
  declare synHasTs: boolean;
  /** any segment from this side carried a timestamp option */
  declare tsSeen: boolean;
  declare firstTsval: number;
  declare lastTsval: number;
  /** capture times of the first and last timestamped segment (clock estimation) */
  declare firstTsTime: number;
  declare lastTsTime: number;

  declare lastFrame: number;
  declare lastTs: number;
  /** when nextSeq last moved forward, and that segment's TSval (tells a reordered segment from one sent again) */
  declare nextSeqTs: number;
  declare nextSeqTsval: number;

  // Zeek endpoint state (ZState) and history bookkeeping
  declare zstate: ZState;
  declare zprev: ZState;
  declare histLastSyn: number;
  declare histLastFin: number;
  declare histLastRst: number;
  declare rxmitHist: number;
  /** acknowledgments of data the capture lacks (Zeek history G/g, scaled like T) */
  declare gapHist: number;
  /** data whose payload the snapshot length cut, not yet acknowledged (a content gap for Zeek) */
  declare cutPending: boolean;
  declare zeroWin: number;

  setZ(s: ZState): void {
    this.zprev = this.zstate;
    this.zstate = s;
  }
}

/** A handle on one connection's fields. Valid until the sink's onConnEnd for it returns: then it
 *  goes back to the pool for a later connection, and once its tracker is disposed its storage is
 *  gone (reads give undefined). Whoever needs a field later copies it during the call. */
export class Conn {
  /** store id, assigned at creation so that prev_id links are known before rows are written */
  declare id: number;
  /** page slot (kept with the handle when it goes back to the pool) */
  readonly slot: number;
  /** handed back to the pool (id, pooled and liveIndex live in the page too: 24 bytes less per
   *  handle, and there are as many handles as connections held at once) */
  declare private pooled: boolean;
  f: Float64Array;
  fo: number;
  i: Int32Array;
  io: number;
  client: Side;
  server: Side;
  clientIp = '';
  serverIp = '';
  /** history letters beyond the HIST_INLINE kept in the page (rare) */
  private histMore = '';
  /** previous incarnation of the same 4-tuple, kept while it can still matter */
  prev: Conn | null = null;
  /** bounded trail of segments after a reusing SYN: what happened on the wire */
  reuseTrail: ReuseStep[] | null = null;
  /** hash chain in the tracker's flow table */
  hashNext: Conn | null = null;
  /** a field, not in the page: every packet's flow-table lookup compares it along the chain */
  hashKey = 0;
  /** index in the tracker's live list (for O(1) removal); -1 when not live */
  declare liveIndex: number;

  private constructor() {
    const slot = (this.slot = allocSlot());
    const p = PAGES[slot >>> PAGE_BITS]!;
    const k = slot & (PAGE - 1);
    this.fo = k * F_STRIDE;
    this.io = k * I_STRIDE;
    this.f = p.f;
    this.i = p.i;
    this.client = new Side(p, this.fo + CONN_NF, this.io + CONN_NI);
    this.server = new Side(p, this.fo + CONN_NF + SIDE_NF, this.io + CONN_NI + SIDE_NI);
    this.reset();
  }

  /** a connection with every field at its initial value */
  /** handles waiting in the pool */
  static get pooledCount(): number {
    return POOL.length;
  }

  static create(): Conn {
    const c = POOL.pop();
    if (c === undefined) return new Conn();
    c.reset();
    return c;
  }

  private reset(): void {
    const fo = this.fo;
    const io = this.io;
    // plain loops: TypedArray.fill with a range costs more than these few dozen stores
    const f = this.f;
    for (let k = fo; k < fo + F_STRIDE; k++) f[k] = 0;
    for (let k = fo + CONN_F64.length; k < fo + CONN_NF; k++) f[k] = NaN;
    const i = this.i;
    for (let k = io; k < io + I_STRIDE; k++) i[k] = 0;
    this.client.reset();
    this.server.reset();
    this.id = 0;
    this.clientIp = '';
    this.serverIp = '';
    this.histMore = '';
    this.prev = null;
    this.reuseTrail = null;
    this.hashNext = null;
    this.hashKey = 0;
    this.liveIndex = -1;
    this.pooled = false;
  }

  /** hand the connection back for reuse: call once it is written and nothing reads it any more.
   *  `reuse` false at the end of the input: no connection follows, and pooling all those still
   *  held then (150,000 on 10 M packets) only grew the pool at the run's peak of memory */
  free(reuse = true): void {
    if (this.pooled) return;
    this.pooled = true;
    this.prev = null;
    this.reuseTrail = null;
    this.hashNext = null;
    this.liveIndex = -1;
    if (reuse) POOL.push(this);
    else {
      if (FREE_N === FREE_SLOTS.length) {
        const grown = new Int32Array(Math.max(1024, 2 * FREE_N));
        grown.set(FREE_SLOTS);
        FREE_SLOTS = grown;
      }
      FREE_SLOTS[FREE_N++] = this.slot;
    }
  }

  /** Zeek history letters */
  get history(): string {
    // one string from the letter codes (appending letter by letter made a string per letter)
    const n = Math.min(this.i[this.io + HLEN]!, HIST_INLINE);
    HIST_CODES.length = n;
    for (let k = 0; k < n; k++) HIST_CODES[k] = (this.i[this.io + H0 + (k >> 2)]! >>> ((k & 3) * 8)) & 0xff;
    const h = String.fromCharCode.apply(null, HIST_CODES);
    return this.histMore === '' ? h : h + this.histMore;
  }

  set history(h: string) {
    this.i.fill(0, this.io + HLEN, this.io + H0 + HIST_INLINE / 4);
    this.histMore = '';
    for (let k = 0; k < h.length; k++) this.addHistory(h.charCodeAt(k));
  }

  /** append one history letter (a char code) */
  addHistory(ch: number): void {
    const at = this.io + HLEN;
    const n = this.i[at]!;
    if (n < HIST_INLINE) this.i[this.io + H0 + (n >> 2)] |= ch << ((n & 3) * 8);
    else this.histMore += String.fromCharCode(ch);
    this.i[at] = n + 1;
  }

  // client endpoint (c*) and server endpoint (s*) as address words, see Segment
  declare c0: number; declare c1: number; declare c2: number; declare c3: number;
  declare s0: number; declare s1: number; declare s2: number; declare s3: number;
  declare cport: number;
  declare sport: number;
  declare ipVersion: 4 | 6;
  declare orientationGuessed: boolean;
  /** one side acknowledged sequence space the capture never showed from the other */
  declare ackedUnseen: boolean;
  /** the first RST came from a side that had sent its FIN, while the peer had sent data or a FIN
   *  beyond what that side acknowledged: a closed socket answering what arrived after its close */
  declare rstOnLateData: boolean;

  declare firstFrame: number;
  declare lastFrame: number;
  declare startSec: number;
  declare startNsec: number;
  declare start: number;
  declare endSec: number;
  declare endNsec: number;
  declare end: number;
  declare latest: number;

  declare prevId: number | null;
  /** first SYN of the next incarnation of this 4-tuple, when it started while this one was in memory */
  declare supersededAt: number | null;
  /** seconds from the previous incarnation's TIME-WAIT start (or its end) to this one's first SYN */
  declare reuseGap: number | null;

  declare histSeen: number;
  /** the first packet came from the server (Zeek's '^') */
  declare flipped: boolean;

  /** fixed at the first FIN(s) */
  declare activeCloser: 'client' | 'server' | 'both' | null;
  declare rstBy: 'client' | 'server' | null;
  declare rstKind: RstKind | null;
  /** RST frame that decided rstBy */
  declare rstFrame: number;

  // derived by finish()
  declare closeKind: CloseKind;
  declare connState: (typeof CONN_STATES)[number];
  declare timeWaitStart: number | null;
  declare timeWaitEnd: number | null;
  /** true when the active closer's last ACK is not in the capture and TIME-WAIT is dated from the peer's FIN */
  declare timeWaitEstimated: boolean;
  /** frame of the last ACK (active closer acknowledging the peer's FIN) */
  declare lastAckFrame: number;
  declare handshakeRtt: number | null;
  /** the nullable fields as numbers, NaN for null (no boxed double per read) */
  declare timeWaitStartNaN: number;
  declare timeWaitEndNaN: number;
  declare reuseGapNaN: number;
  declare handshakeRttNaN: number;
  declare prevIdNaN: number;
  declare supersededAtNaN: number;
  declare handshakeAckTs: number;
  declare clientState: TcpStateName | '';
  declare serverState: TcpStateName | '';
  declare endReason: EndReason;
  declare finished: boolean;

  /** the frame after which the connection's row was written ahead of its end (see Tracker
   *  writeEarly), 0 if it was not; and the enum fields that row holds */
  declare earlyFrame: number;
  declare earlyEnums: number;

  /** the clock detector's (client, server) address pair for this connection, its index + 1 (0:
   *  not looked up yet). In the page, next to the fields the segment being handled just touched:
   *  a table of its own, indexed by slot, cost a cache miss per SYN, FIN and connection end */
  declare clockPair: number;

  /** the row written ahead of the end still holds: no packet since, same derived fields */
  get earlyRowCurrent(): boolean {
    return this.earlyFrame !== 0 && this.earlyFrame === this.lastFrame && this.earlyEnums === this.i[this.io + ENUM_AT];
  }

  /** note that the row was written now, with the fields derived as they stand */
  markEarlyRow(): void {
    this.earlyFrame = this.lastFrame;
    this.earlyEnums = this.i[this.io + ENUM_AT]!;
  }

  swapSides(): void {
    const t = this.client;
    this.client = this.server;
    this.server = t;
  }

  side(dir: 0 | 1): Side {
    return dir === 0 ? this.client : this.server;
  }

  /** any FIN or RST seen (the 4-tuple's next SYN starts a new incarnation) */
  get closing(): boolean {
    return this.client.finFrame !== 0 || this.server.finFrame !== 0 || this.client.rstFrame !== 0 || this.server.rstFrame !== 0;
  }

  /** handshake completed: SYN-ACK seen and acknowledged by the client */
  get established(): boolean {
    return this.handshakeAckTs !== 0;
  }
}

export interface ReuseStep {
  frame: number;
  ts: number;
  /** sender relative to the NEW incarnation */
  from: 'client' | 'server';
  flags: number;
  seq: number;
  ack: number;
  len: number;
  /** the tracker attributed it to the previous incarnation (old sequence space) */
  oldSpace: boolean;
}

/** Derive the teardown story and the Zeek fields. `now` is the capture time the connection is judged at. */
export function finishConn(c: Conn, now: number, timeWait: number, reason: EndReason): void {
  if (c.finished) return;
  c.finished = true;
  deriveEnd(c, now, timeWait, reason);
}

/** the derived fields as they would be if the connection ended now for `reason` (finishConn;
 *  also for a row written ahead of the end, when they can still change). With no further
 *  packet, only the enum fields end_reason, client_state and server_state depend on
 *  `now` and `reason`: the others follow from the fields packets set. */
export function deriveEnd(c: Conn, now: number, timeWait: number, reason: EndReason): void {
  c.endReason = reason;
  const cl = c.client;
  const sv = c.server;

  // RST / FIN classification
  const anyFin = cl.finFrame !== 0 || sv.finFrame !== 0;
  const anyRst = cl.rstFrame !== 0 || sv.rstFrame !== 0;
  if (c.rstKind === 'refused') c.closeKind = 'refused';
  else if (anyRst) c.closeKind = c.rstKind === 'after-fin' ? 'fin-rst' : 'rst';
  else if (cl.finFrame !== 0 && sv.finFrame !== 0) c.closeKind = c.activeCloser === 'both' ? 'simultaneous' : 'fin';
  else if (anyFin) c.closeKind = 'half-close';
  else if (sv.pkts === 0 && cl.isn !== -1) c.closeKind = 'unanswered';
  else c.closeKind = 'open';

  // TIME-WAIT: the active closer enters it when it acknowledges the peer's FIN.
  const closer = c.activeCloser;
  let first = Infinity;
  let last = -Infinity;
  let estimated = false;
  if (cl.finFrame !== 0 && sv.finFrame !== 0 && closer !== null) {
    // the first RST of either side: one before a holder had both its FIN acknowledged and the
    // peer's FIN acknowledged ends the connection before TIME-WAIT (a closed socket answering
    // late data with RST instead of acknowledging the FIN, a reset in CLOSING). One after it is
    // the RFC 1337 hazard and does not change when TIME-WAIT started
    const rst = cl.rstFrame === 0 ? sv.rstFrame : sv.rstFrame === 0 ? cl.rstFrame : Math.min(cl.rstFrame, sv.rstFrame);
    for (let k = 0; k < 2; k++) {
      const holder = k === 0 ? cl : sv;
      if (closer !== 'both' && closer !== (k === 0 ? 'client' : 'server')) continue;
      const peer = k === 0 ? sv : cl;
      if (rst !== 0 && (holder.finAckedFrame === 0 || holder.finAckedFrame > rst || peer.finAckedFrame === 0 || peer.finAckedFrame > rst)) continue;
      // the holder's ACK of the peer's FIN, else (not captured) the peer's FIN itself
      let t: number;
      if (peer.finAckedFrame !== 0) t = peer.finAckedTs;
      else {
        t = Math.max(peer.finTs, holder.finTs);
        estimated = true;
      }
      if (t < first) first = t;
      if (t > last) last = t;
    }
    if (closer === 'client') c.lastAckFrame = sv.finAckedFrame;
    else if (closer === 'server') c.lastAckFrame = cl.finAckedFrame;
    else if (cl.finAckedFrame !== 0 && sv.finAckedFrame !== 0) c.lastAckFrame = Math.min(cl.finAckedFrame, sv.finAckedFrame);
  }
  // (derived again for the final row: a RST after a row written ahead can take TIME-WAIT away)
  c.timeWaitStart = first === Infinity ? null : first;
  c.timeWaitEnd = first === Infinity ? null : last + timeWait;
  c.timeWaitEstimated = first !== Infinity && estimated;

  // handshake RTT at the capture point: last SYN transmission to the client's ACK of the SYN-ACK
  // (a clock that stepped back between them leaves no round trip to measure)
  if (c.handshakeAckTs !== 0 && cl.lastSynTs !== 0 && c.handshakeAckTs >= cl.lastSynTs) c.handshakeRtt = c.handshakeAckTs - cl.lastSynTs;

  c.connState = zeekConnState(c);
  c.clientState = sideState(c, 0, now);
  c.serverState = sideState(c, 1, now);
}

/** Zeek's conn_state, from the two endpoint states (base/protocols/conn/main.zeek). */
function zeekConnState(c: Conn): (typeof CONN_STATES)[number] {
  const o = c.client;
  const r = c.server;
  const os = o.zstate;
  const rs = r.zstate;
  const oInactive = os === ZState.Inactive || os === ZState.Partial;
  const rInactive = rs === ZState.Inactive || rs === ZState.Partial;
  if (rs === ZState.Reset) {
    if (os === ZState.SynSent || os === ZState.SynAckSent || (os === ZState.Reset && o.bytes === 0 && r.bytes === 0)) return 'REJ';
    if (oInactive) return 'RSTRH';
    return 'RSTR';
  }
  if (os === ZState.Reset) {
    if (rInactive) {
      if (/^\^?S[^HAFGIQ]*R/.test(c.history)) return 'RSTOS0';
      return 'OTH';
    }
    return 'RSTO';
  }
  if (rs === ZState.Closed && os === ZState.Closed) return 'SF';
  if (os === ZState.Closed) return rInactive ? 'SH' : 'S2';
  if (rs === ZState.Closed) return oInactive ? 'SHR' : 'S3';
  if (os === ZState.SynSent && rs === ZState.Inactive) return 'S0';
  if (os === ZState.Established && rs === ZState.Established) return 'S1';
  return 'OTH';
}

/** Where one side stood at `now`, in Linux TCP state names, as far as the capture shows. */
function sideState(c: Conn, dir: 0 | 1, now: number): TcpStateName {
  const me = c.side(dir);
  const peer = c.side(dir === 0 ? 1 : 0);
  if (me.rstFrame !== 0 || peer.rstFrame !== 0) return 'CLOSED';
  if (me.finFrame !== 0) {
    const myFinAcked = me.finAckedFrame !== 0;
    if (peer.finFrame !== 0) {
      const iAmHolder =
        c.activeCloser === 'both' || (c.activeCloser === 'client' && dir === 0) || (c.activeCloser === 'server' && dir === 1);
      if (iAmHolder) {
        if (!myFinAcked) return 'CLOSING';
        // (NaN, no TIME-WAIT, compares false)
        return now < c.timeWaitEndNaN ? 'TIME_WAIT' : 'CLOSED';
      }
      return myFinAcked ? 'CLOSED' : 'LAST_ACK';
    }
    return myFinAcked ? 'FIN_WAIT_2' : 'FIN_WAIT_1';
  }
  if (peer.finFrame !== 0) return 'CLOSE_WAIT';
  if (c.established) return 'ESTABLISHED';
  if (dir === 0) {
    if (me.isn !== -1 && c.server.isn === -1) {
      // unanswered: Linux backs off exponentially; far past the next retransmission it has given up
      const step = me.prevSynTs !== 0 ? me.lastSynTs - me.prevSynTs : 1;
      return now - me.lastSynTs > Math.max(3, 2.5 * step) ? 'CLOSED' : 'SYN_SENT';
    }
    if (c.server.isn !== -1) return me.pkts > 0 ? 'ESTABLISHED' : 'SYN_SENT';
  } else {
    if (me.isn !== -1) return 'SYN_RECV';
    // no packet from the server: it holds no state for this 4-tuple
    if (me.pkts === 0) return 'CLOSED';
  }
  // picked up mid-stream: data flowing both ways means it was established
  return me.pkts > 0 && peer.pkts > 0 ? 'ESTABLISHED' : 'UNKNOWN';
}


// accessors over the pages (plain indexed loads and stores once inlined)
type Handle = { f: Float64Array; fo: number; i: Int32Array; io: number };
function defineF64(proto: object, names: readonly string[], base: number, nullable = false): void {
  names.forEach((name, k) => {
    const at = base + k;
    Object.defineProperty(proto, name, nullable
      ? { get(this: Handle) { const v = this.f[this.fo + at]!; return v !== v ? null : v; }, set(this: Handle, v: number | null) { this.f[this.fo + at] = v === null ? NaN : v; } }
      : { get(this: Handle) { return this.f[this.fo + at]; }, set(this: Handle, v: number) { this.f[this.fo + at] = v; } });
  });
}
function defineFlags(proto: object, names: readonly string[], at: number): void {
  names.forEach((name, k) => {
    const bit = 1 << k;
    Object.defineProperty(proto, name, {
      get(this: Handle) { return (this.i[this.io + at]! & bit) !== 0; },
      set(this: Handle, v: boolean) { if (v) this.i[this.io + at] |= bit; else this.i[this.io + at] &= ~bit; },
    });
  });
}
function defineI32(proto: object, names: readonly string[], base: number, kind: 'int' | 'u32'): void {
  names.forEach((name, k) => {
    const at = base + k;
    Object.defineProperty(proto, name,
      kind === 'int' ? { get(this: Handle) { return this.i[this.io + at]; }, set(this: Handle, v: number) { this.i[this.io + at] = v; } }
      // unsigned: stored modulo 2^32 in the int32 array, read back with >>> 0
      : { get(this: Handle) { return this.i[this.io + at]! >>> 0; }, set(this: Handle, v: number) { this.i[this.io + at] = v; } });
  });
}
defineF64(Side.prototype, SIDE_F64, 0);
defineI32(Side.prototype, SIDE_I32, 0, 'int');
defineI32(Side.prototype, SIDE_U32, SIDE_I32.length, 'u32');
defineFlags(Side.prototype, SIDE_BOOL, SIDE_I32.length + SIDE_U32.length);
defineF64(Conn.prototype, CONN_F64, 0);
defineF64(Conn.prototype, CONN_NULLABLE, CONN_F64.length, true);
// the same slots as numbers, NaN for null: a getter that returns null or a double hands out a boxed
// double (an allocation per read); the row layout and the per-connection detectors read these
defineF64(Conn.prototype, CONN_NULLABLE.map((n) => n + 'NaN'), CONN_F64.length);
defineI32(Conn.prototype, CONN_I32, 0, 'int');
defineI32(Conn.prototype, CONN_U32, CONN_I32.length, 'u32');
defineFlags(Conn.prototype, CONN_BOOL, CONN_I32.length + CONN_U32.length);
const ENUM_AT = CONN_I32.length + CONN_U32.length + 1;

/** a text-valued field's index in its CONN_ENUMS list, without going through the text */
export function enumCode(c: Conn, name: keyof typeof CONN_ENUMS): number {
  return (c.i[c.io + ENUM_AT]! >>> ENUM_SHIFT[name]) & 15;
}
const ENUM_SHIFT = Object.fromEntries(ENUM_NAMES.map((n, k) => [n, 4 * k])) as Record<keyof typeof CONN_ENUMS, number>;
ENUM_NAMES.forEach((name, k) => {
  const shift = ENUM_SHIFT[name];
  const values: readonly (string | null)[] = CONN_ENUMS[name];
  if (values.length > 16 || k >= 8) throw new Error(`${name}: the enums no longer fit one int of 4-bit fields`);
  Object.defineProperty(Conn.prototype, name, {
    get(this: Handle) { return values[(this.i[this.io + ENUM_AT]! >>> shift) & 15]; },
    set(this: Handle, v: string | null) {
      const x = values.indexOf(v);
      if (x < 0) throw new Error(`${name}: unknown value ${v}`);
      const at = this.io + ENUM_AT;
      this.i[at] = (this.i[at]! & ~(15 << shift)) | (x << shift);
    },
  });
});
