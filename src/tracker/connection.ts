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

export type CloseKind = 'fin' | 'simultaneous' | 'rst' | 'fin-rst' | 'refused' | 'half-close' | 'open' | 'unanswered';
export type RstKind = 'refused' | 'abort' | 'after-fin';
export type EndReason = 'capture-end' | 'superseded' | 'expired';

/** What one side of a connection sent, and what the tracker inferred about it. */
const SIDE_F64 = ['isn', 'synTs', 'lastSynTs', 'prevSynTs', 'nextSeq', 'highAck', 'finTs', 'finSeq', 'finAckedTs', 'rstTs', 'firstTsval', 'lastTsval', 'firstTsTime', 'lastTsTime', 'tsRecent', 'tsRecentTime', 'lastTs', 'histLastSyn', 'histLastFin', 'histLastRst'] as const;
const CONN_F64 = ['c0', 'c1', 'c2', 'c3', 's0', 's1', 's2', 's3', 'startSec', 'start', 'endSec', 'end', 'handshakeAckTs'] as const;
/** stored as NaN, read as null */
const CONN_NULLABLE = ['timeWaitStart', 'timeWaitEnd', 'reuseGap', 'handshakeRtt'] as const;

const CONN_N = CONN_F64.length + CONN_NULLABLE.length;
const STRIDE = CONN_N + 2 * SIDE_F64.length;
let SLAB = new Float64Array(STRIDE * 4096);
let TOP = 0;
const FREE: number[] = [];

function allocSlot(): number {
  const f = FREE.pop();
  if (f !== undefined) return f;
  if (TOP + STRIDE > SLAB.length) {
    const bigger = new Float64Array(SLAB.length * 2);
    bigger.set(SLAB);
    SLAB = bigger;
  }
  const o = TOP;
  TOP += STRIDE;
  return o;
}

export class Side {
  /** large numbers (times, 32-bit sequence values) live in a shared Float64Array slab:
   *  boxed as separate heap numbers they made up most of the objects the GC had to trace */
  constructor(readonly o: number) {
    SLAB[o + SIDE_F64.indexOf('isn')] = -1;
    SLAB[o + SIDE_F64.indexOf('histLastSyn')] = -1;
    SLAB[o + SIDE_F64.indexOf('histLastFin')] = -1;
    SLAB[o + SIDE_F64.indexOf('histLastRst')] = -1;
  }

  pkts = 0;
  bytes = 0;
  retrans = 0;

  /** ISN from this side's SYN (or SYN-ACK); -1 when no SYN was seen */
  declare isn: number;
  synFrame = 0;
  declare synTs: number;
  /** SYN transmissions with the current ISN (1 = no retransmission) */
  synCount = 0;
  /** time of the last SYN transmission (for handshake RTT) and of the one before it */
  declare lastSynTs: number;
  declare prevSynTs: number;

  /** sequence space seen: seqKnown once any segment from this side was seen */
  seqKnown = false;
  /** one past the highest sequence number this side has used (SYN/FIN count one) */
  declare nextSeq: number;
  /** highest ACK this side sent (valid when ackKnown) */
  ackKnown = false;
  declare highAck: number;

  finFrame = 0;
  declare finTs: number;
  /** sequence number the FIN occupies */
  declare finSeq: number;
  finCount = 0;
  /** frames of FIN retransmissions (allocated only when there are some, at most 16 kept) */
  finRetransFrames: number[] | null = null;
  /** frame/time at which the peer first acknowledged this side's FIN */
  finAckedFrame = 0;
  declare finAckedTs: number;
  /** this side's FIN acknowledged the peer's FIN already (not a simultaneous close) */
  finAckedPeerFin = false;

  rstFrame = 0;
  declare rstTs: number;
  rstCount = 0;

  /** TS.Recent the peer holds for this side's segments (RFC 7323 4.3), kept by the PAWS detector */
  declare tsRecent: number;
  declare tsRecentTime: number;
  tsRecentFrame = 0;
  tsRecentValid = false;
  pawsViolations = 0;

  // handshake options (from the SYN or SYN-ACK)
  mss = -1;
  wscale = -1;
  sackPermitted = false;
  synHasTs = false;
  /** any segment from this side carried a timestamp option */
  tsSeen = false;
  declare firstTsval: number;
  declare lastTsval: number;
  /** capture times of the first and last timestamped segment (clock estimation) */
  declare firstTsTime: number;
  declare lastTsTime: number;

  lastFrame = 0;
  declare lastTs: number;

  // Zeek endpoint state and history bookkeeping
  zstate: ZState = ZState.Inactive;
  zprev: ZState = ZState.Inactive;
  declare histLastSyn: number;
  declare histLastFin: number;
  declare histLastRst: number;
  rxmitHist = 0;
  zeroWin = 0;

  setZ(s: ZState): void {
    this.zprev = this.zstate;
    this.zstate = s;
  }
}

export class Conn {
  /** store id, assigned at creation so that prev_id links are known before rows are written */
  id = 0;
  ipVersion: 4 | 6 = 4;
  // client endpoint (c*) and server endpoint (s*) as address words, see Segment
  declare c0: number; declare c1: number; declare c2: number; declare c3: number;
  declare s0: number; declare s1: number; declare s2: number; declare s3: number;
  cport = 0;
  sport = 0;
  clientIp = '';
  serverIp = '';

  orientationGuessed = false;
  /** offset of this connection's numbers in the slab */
  o: number;
  client: Side;
  server: Side;

  constructor() {
    const o = (this.o = allocSlot());
    SLAB.fill(0, o, o + STRIDE);
    SLAB.fill(NaN, o + CONN_F64.length, o + CONN_N);
    this.client = new Side(o + CONN_N);
    this.server = new Side(o + CONN_N + SIDE_F64.length);
  }

  /** give the slab slot back: call once the connection is written and nothing refers to it */
  free(): void {
    if (this.o >= 0) FREE.push(this.o);
    this.o = -1;
  }

  firstFrame = 0;
  lastFrame = 0;
  declare startSec: number;
  startNsec = 0;
  declare start: number;
  declare endSec: number;
  endNsec = 0;
  declare end: number;

  /** previous incarnation of the same 4-tuple, kept while it can still matter */
  prev: Conn | null = null;
  prevId: number | null = null;
  /** seconds from the previous incarnation's TIME-WAIT start (or its end) to this one's first SYN */
  declare reuseGap: number | null;
  /** bounded trail of segments after a reusing SYN: what happened on the wire */
  reuseTrail: ReuseStep[] | null = null;

  history = '';
  histSeen = 0;
  /** the first packet came from the server (Zeek's '^') */
  flipped = false;

  /** 'client' | 'server' | 'both' | null, fixed at the first FIN(s) */
  activeCloser: 'client' | 'server' | 'both' | null = null;
  rstBy: 'client' | 'server' | null = null;
  rstKind: RstKind | null = null;
  /** RST frame that decided rstBy */
  rstFrame = 0;

  // derived by finish()
  closeKind: CloseKind = 'open';
  connState = 'OTH';
  declare timeWaitStart: number | null;
  declare timeWaitEnd: number | null;
  /** true when the active closer's last ACK is not in the capture and TIME-WAIT is dated from the peer's FIN */
  timeWaitEstimated = false;
  /** frame of the last ACK (active closer acknowledging the peer's FIN) */
  lastAckFrame = 0;
  declare handshakeRtt: number | null;
  declare handshakeAckTs: number;
  clientState = '';
  serverState = '';
  endReason: EndReason = 'capture-end';
  finished = false;

  /** hash chain in the tracker's flow table */
  hashNext: Conn | null = null;
  hashKey = 0;
  /** index in the tracker's live list (for O(1) removal) */
  liveIndex = -1;

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

const STATE_NAMES = ['CLOSED', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT_1', 'FIN_WAIT_2', 'CLOSING', 'TIME_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN'] as const;
export type TcpStateName = (typeof STATE_NAMES)[number] | 'UNKNOWN';

/** Derive the teardown story and the Zeek fields. `now` is the capture time the connection is judged at. */
export function finishConn(c: Conn, now: number, timeWait: number, reason: EndReason): void {
  if (c.finished) return;
  c.finished = true;
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
  if (cl.finFrame !== 0 && sv.finFrame !== 0 && c.activeCloser) {
    const starts: number[] = [];
    let estimated = false;
    const holderStart = (holder: Side, peer: Side): void => {
      // the holder's ACK of the peer's FIN, else (not captured) the peer's FIN itself
      if (peer.finAckedFrame !== 0) starts.push(peer.finAckedTs);
      else {
        starts.push(Math.max(peer.finTs, holder.finTs));
        estimated = true;
      }
    };
    if (c.activeCloser === 'client' || c.activeCloser === 'both') holderStart(cl, sv);
    if (c.activeCloser === 'server' || c.activeCloser === 'both') holderStart(sv, cl);
    if (c.activeCloser === 'client') c.lastAckFrame = sv.finAckedFrame;
    else if (c.activeCloser === 'server') c.lastAckFrame = cl.finAckedFrame;
    else if (cl.finAckedFrame !== 0 && sv.finAckedFrame !== 0) c.lastAckFrame = Math.min(cl.finAckedFrame, sv.finAckedFrame);
    // a RST that ends TIME-WAIT early (RFC 1337 hazard) does not change when it started
    const first = Math.min(...starts);
    const last = Math.max(...starts);
    c.timeWaitStart = first;
    c.timeWaitEnd = last + timeWait;
    c.timeWaitEstimated = estimated;
  }

  // handshake RTT at the capture point: last SYN transmission to the client's ACK of the SYN-ACK
  if (c.handshakeAckTs !== 0 && cl.lastSynTs !== 0) c.handshakeRtt = c.handshakeAckTs - cl.lastSynTs;

  c.connState = zeekConnState(c);
  c.clientState = sideState(c, 0, now);
  c.serverState = sideState(c, 1, now);
}

/** Zeek's conn_state, from the two endpoint states (base/protocols/conn/main.zeek). */
function zeekConnState(c: Conn): string {
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
        return c.timeWaitEnd !== null && now < c.timeWaitEnd ? 'TIME_WAIT' : 'CLOSED';
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


// accessors over the Float64Array (plain indexed loads and stores once inlined)
SIDE_F64.forEach((name, i) =>
  Object.defineProperty(Side.prototype, name, {
    get(this: Side) { return SLAB[this.o + i]; },
    set(this: Side, v: number) { SLAB[this.o + i] = v; },
  }),
);
CONN_F64.forEach((name, i) =>
  Object.defineProperty(Conn.prototype, name, {
    get(this: Conn) { return SLAB[this.o + i]; },
    set(this: Conn, v: number) { SLAB[this.o + i] = v; },
  }),
);
CONN_NULLABLE.forEach((name, j) => {
  const i = CONN_F64.length + j;
  Object.defineProperty(Conn.prototype, name, {
    get(this: Conn) { const v = SLAB[this.o + i]!; return v !== v ? null : v; },
    set(this: Conn, v: number | null) { SLAB[this.o + i] = v === null ? NaN : v; },
  });
});
