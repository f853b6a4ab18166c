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
import { frameList, round, synFilter, thousands } from './util.js';

export const MAX_BUCKETS = 2000;
/** timelines written per kind of row (per host, per host+service) */
const TOP_SERIES = 20;
const EXAMPLES = 3;
/** TIME-WAIT start frames cited per finding */
const TW_FRAMES = 20;
/** share of the range in TIME-WAIT that deserves a warning */
const NEAR = 0.8;

class Slot {
  /** TIME-WAIT delta (+starts -ends); in a key series, held by the client */
  tw = 0;
  /** TIME-WAIT entries starting */
  twIn = 0;
  /** key series only: TIME-WAIT held by the server (it closed first), delta and starts */
  stw = 0;
  stwIn = 0;
  /** ports in use delta (connection start .. TIME-WAIT end or connection end) */
  use = 0;
  /** new connections (client SYN seen) */
  newc = 0;
}

interface Series {
  host: string;
  serverIp: string;
  serverPort: number | null;
  ipVersion: 4 | 6;
  slots: Map<number, Slot>;
  /** recently used buckets and their slots, by bucket index & (size - 1) (cleared when buckets are
   *  merged); 8 entries, CACHE_BIG once the series is busy (a TIME-WAIT length of buckets apart) */
  cacheIdx: number[];
  cacheSlot: (Slot | null)[];
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

const CACHE_SMALL = 8;
const CACHE_BIG = 128;
/** connections after which a key series gets the big cache */
const BUSY = 256;
function setCache(s: Series, size: number): void {
  s.cacheIdx = new Array<number>(size).fill(NaN);
  s.cacheSlot = new Array<Slot | null>(size).fill(null);
}

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
  /** every (client, server, port) series, in the order first seen (found through keyCache) */
  private readonly keys: Series[] = [];
  private readonly keyCache = new Map<string, Map<string, Map<number, Series>>>();
  /** per host, built in finish(): TIME-WAIT held as client or server (what `ss -s` shows), for timelines */
  private readonly hosts = new Map<string, Series>();
  /** per host, built in finish(): TIME-WAIT held as client only (ephemeral ports), for the host-level finding */
  private readonly clientHosts = new Map<string, Series>();
  private base = NaN;
  width = 1;
  private minIdx = Infinity;
  private maxIdx = -Infinity;
  private readonly range: number;

  constructor(private readonly opts: AnalysisOptions) {
    this.range = opts.portHigh - opts.portLow + 1;
  }

  private newSeries(host: string, serverIp: string, serverPort: number | null, v: 4 | 6): Series {
    const s: Series = { host, serverIp, serverPort, ipVersion: v, slots: new Map(), cacheIdx: [], cacheSlot: [], connections: 0, timeWaits: 0, serverTimeWaits: 0, outsideRange: 0, twFrames: [], twFirst: Infinity, twLast: -Infinity, twDurSum: 0, lastSyns: [] };
    setCache(s, CACHE_SMALL);
    return s;
  }

  /** a host's series ('*' for every server) */
  private hostOf(map: Map<string, Series>, host: string, v: 4 | 6): Series {
    let s = map.get(host);
    if (s === undefined) map.set(host, (s = this.newSeries(host, '*', null, v)));
    return s;
  }

  /** the (client, server, port) series without building a key string per connection */
  private keySeries(c: Conn): Series {
    let byServer = this.keyCache.get(c.clientIp);
    if (byServer === undefined) this.keyCache.set(c.clientIp, (byServer = new Map()));
    let byPort = byServer.get(c.serverIp);
    if (byPort === undefined) byServer.set(c.serverIp, (byPort = new Map()));
    let s = byPort.get(c.sport);
    if (s === undefined) {
      s = this.newSeries(c.clientIp, c.serverIp, c.sport, c.ipVersion);
      this.keys.push(s);
      byPort.set(c.sport, s);
    }
    return s;
  }

  private idx(t: number): number {
    if (Number.isNaN(this.base)) this.base = Math.floor(t);
    let i = Math.floor((t - this.base) / this.width);
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
    const remap = (s: Series): void => {
      const m = new Map<number, Slot>();
      for (const [i, sl] of s.slots) {
        const j = Math.floor(i / 2);
        const t = m.get(j);
        if (t === undefined) m.set(j, sl);
        else {
          t.tw += sl.tw;
          t.twIn += sl.twIn;
          t.use += sl.use;
          t.newc += sl.newc;
        }
      }
      s.slots = m;
      s.cacheIdx.fill(NaN);
      s.cacheSlot.fill(null);
    };
    for (const s of this.keys) remap(s);
    if (this.minIdx !== Infinity) {
      this.minIdx = Math.floor(this.minIdx / 2);
      this.maxIdx = Math.floor(this.maxIdx / 2);
    }
  }

  private slot(s: Series, i: number): Slot {
    // connections end roughly in time order: most land in buckets a recent one used
    const h = i & (s.cacheIdx.length - 1);
    if (s.cacheIdx[h] === i) return s.cacheSlot[h]!;
    let sl = s.slots.get(i);
    if (sl === undefined) s.slots.set(i, (sl = new Slot()));
    s.cacheIdx[h] = i;
    s.cacheSlot[h] = sl;
    return sl;
  }

  onConnEnd(c: Conn): void {
    const key = this.keySeries(c);
    if (++key.connections === BUSY) setCache(key, CACHE_BIG);
    if (c.cport < this.opts.portLow || c.cport > this.opts.portHigh) key.outsideRange++;

    const cl = c.client;
    if (cl.synFrame > 0) {
      this.slot(key, this.idx(cl.synTs)).newc++;
      if (key.lastSyns.length < EXAMPLES) key.lastSyns.push([cl.synTs, cl.synFrame]);
      else {
        let m = 0;
        for (let j = 1; j < key.lastSyns.length; j++) if (key.lastSyns[j]![0] < key.lastSyns[m]![0]) m = j;
        const oldest = key.lastSyns[m]!;
        if (cl.synTs > oldest[0]) {
          oldest[0] = cl.synTs;
          oldest[1] = cl.synFrame;
        }
      }
    }

    const tws = c.timeWaitStart;
    let twe = c.timeWaitEnd;
    // a new incarnation that took the 4-tuple over ended the TIME-WAIT at its SYN
    const next = c.supersededAt;
    if (next !== null && twe !== null && tws !== null && next < twe) twe = Math.max(tws, next);
    const closer = c.activeCloser;
    const clientHolds = tws !== null && twe !== null && (closer === 'client' || closer === 'both');
    // a host talking to itself is one host series: its server-side TIME-WAIT is not counted twice
    const serverHolds = tws !== null && twe !== null && (closer === 'server' || closer === 'both') && c.serverIp !== c.clientIp;

    // ports in use by the client towards this service
    const useEnd = clientHolds ? twe! : c.end;
    // idx() may coarsen the buckets: first make room for every time, then index with the final width
    this.idx(c.start);
    this.idx(useEnd);
    if (tws !== null) this.idx(tws);
    if (twe !== null) this.idx(twe);
    const w = this.width;
    const base = this.base;
    this.slot(key, Math.floor((c.start - base) / w)).use++;
    this.slot(key, Math.floor((useEnd - base) / w)).use--;

    if (clientHolds || serverHolds) {
      const a = this.slot(key, Math.floor((tws! - base) / w));
      const b = this.slot(key, Math.floor((twe! - base) / w));
      if (clientHolds) {
        a.tw++;
        a.twIn++;
        b.tw--;
        key.timeWaits++;
        if (tws! < key.twFirst) key.twFirst = tws!;
        if (tws! > key.twLast) key.twLast = tws!;
        key.twDurSum += twe! - tws!;
        if (key.twFrames.length < TW_FRAMES) key.twFrames.push(c.lastAckFrame || cl.finFrame);
      }
      if (serverHolds) {
        a.stw++;
        a.stwIn++;
        b.stw--;
        key.serverTimeWaits++;
      }
    }
  }

  /** the per-host series as sums of the key series, in the order the keys were first seen:
   *  client-role (ports held by the client) and both roles (client and server TIME-WAIT) */
  private buildHosts(): void {
    const add = (into: Series, from: Series, tw: boolean, stw: boolean, newc: boolean): void => {
      for (const [i, x] of from.slots) {
        // only buckets with an event of this kind: a series' first and last bucket bound its rows
        const touched = (tw && (x.twIn > 0 || x.tw !== 0)) || (stw && (x.stwIn > 0 || x.stw !== 0)) || (newc && x.newc > 0);
        if (!touched) continue;
        let y = into.slots.get(i);
        if (y === undefined) into.slots.set(i, (y = new Slot()));
        if (tw) {
          y.tw += x.tw;
          y.twIn += x.twIn;
        }
        if (stw) {
          y.tw += x.stw;
          y.twIn += x.stwIn;
        }
        if (newc) y.newc += x.newc;
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

  /** prefix sums of one series, cut at the end of the capture */
  stats(s: Series, now: number): SeriesStats {
    const idxs = [...s.slots.keys()];
    const first = Math.min(...idxs);
    const lastEvent = Math.max(...idxs);
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
    const rows: SeriesStats['rows'] = [];
    for (let b = first; b <= last; b++) {
      const sl = s.slots.get(b);
      const t0 = tw;
      const u0 = use;
      if (sl) {
        tw += sl.tw;
        use += sl.use;
        twIn[b - first] = sl.twIn;
        newc[b - first] = sl.newc;
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
      rows.push({ ts, timeWait: tw, peak: p, newc: sl ? sl.newc : 0 });
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
      const trend = projected >= range && st.windowSeconds >= 1;
      if (!critical && !near && !trend) continue;
      flaggedHosts.add(s.host);
      const svc = s.ipVersion === 6 ? `[${s.serverIp}]:${s.serverPort}` : `${s.serverIp}:${s.serverPort}`;
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
          rate: rate,
          new_connections_rate: round(st.synRate, 1),
          rate_window: st.windowSeconds,
          projected_time_wait: Math.round(projected),
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
    for (const { s, st } of hostStats.slice(0, TOP_SERIES)) this.writeRows(out, s, st);
    for (const { s, st } of keyStats.slice(0, TOP_SERIES)) this.writeRows(out, s, st);
  }

  private writeRows(out: FindingSink, s: Series, st: SeriesStats): void {
    if (st.peak === 0) return;
    for (const r of st.rows) {
      out.timeline({ ts: r.ts, host: s.host, serverIp: s.serverIp, serverPort: s.serverPort, timeWait: r.timeWait, peakTimeWait: r.peak, newConnections: r.newc });
    }
  }
}
