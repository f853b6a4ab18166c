// Per-service findings read off finished connections, about how they start and end:
//  - syn-retransmission: clients that had to send their SYN again (connect() waited a
//    retransmission timeout, or failed when no answer came);
//  - connection-refused: SYNs answered by RST (what the client sees as ECONNREFUSED);
//  - abortive-close: connections ended by RST instead of FIN, per service and resetting side;
//  - lost-last-ack: the passive closer retransmitted its FIN from LAST-ACK (the active
//    closer's last ACK did not arrive);
//  - client-closes-first: per service, how many connections the clients closed first,
//    i.e. where TIME-WAIT piles up.

import type { Conn } from '../tracker/connection.js';
import type { Detector, FindingSink } from './types.js';
import { endpointText, frameList, framesFilter, ipField, median, round, secs, thousands, tupleText } from './util.js';

const EXAMPLES = 10;

interface ServiceStats {
  serverIp: string;
  port: number;
  ipVersion: number;
  total: number;
  clientFirst: number;
  serverFirst: number;
  both: number;
  firstTs: number;
  /** client-first connections that reached TIME-WAIT on the client (not reset, not still closing) */
  clientTimeWait: number;
  clientFirstExamples: number[];
  clientFirstFrames: number[];
  resets: Map<string, ResetStats>;
  refused: { count: number; clients: Set<string>; examples: { id: number; frame: number; tuple: string; ts: number }[] };
  syn: SynStats;
}

/** connections of one service that one side reset (other than refusing the SYN) */
export interface ResetStats {
  count: number;
  /** by rst_kind: abort (no FIN before the RST) or after-fin */
  kinds: Record<string, number>;
  /** after-fin resets by whose FIN came first: the resetter's own (it had closed, and answered
   *  what still arrived with a RST) or only the peer's (it reset instead of sending its own FIN) */
  afterOwnFin: number;
  /** of those, resets answering data or a FIN the peer sent that the resetter had not acknowledged */
  afterOwnFinLateData: number;
  afterPeerFin: number;
  examples: { id: number; frame: number; tuple: string; ts: number }[];
}

/** connection attempts (a client SYN seen) and those whose SYN had to be sent again */
interface SynStats {
  attempts: number;
  /** attempts the server never answered, however many SYNs they sent */
  noAnswer: number;
  /** answered (SYN-ACK) after at least one retransmitted SYN */
  delayed: number;
  /** delayed attempts whose SYN-ACK was seen here before the client's last SYN: the server had
   *  answered, and the SYN-ACK was lost between the capture point and the client (or came late) */
  answeredBefore: number;
  /** never answered although the client sent its SYN more than once */
  unanswered: number;
  /** SYN transmissions beyond the first, over delayed and unanswered attempts */
  retransmissions: number;
  /** connect delays (first SYN to the client's ACK of the SYN-ACK) of delayed attempts, the first MAX_DELAYS */
  delays: number[];
  maxDelay: number;
  clients: Set<string>;
  examples: { id: number; frames: number[]; ts: number }[];
  /** the first attempt with one SYN and no answer (evidence for a port nothing answers on) */
  firstSilent: { id: number; frames: number[]; ts: number } | null;
}

/** SYNs of one attempt closer than this (s) are copies, not retransmissions */
const SYN_RTO_MIN = 0.1;
/** connect delays kept per service for the median */
const MAX_DELAYS = 4096;
/** a server address with this many ports where every attempt went unanswered: one finding for the address */
const SCAN_PORTS = 10;

export class ServiceDetector implements Detector {
  private out: FindingSink | null = null;
  /** every service, in the order first seen (found through byServer) */
  private readonly services: ServiceStats[] = [];
  /** server address -> port -> stats: no key string built per connection */
  private readonly byServer = new Map<string, Map<number, ServiceStats>>();

  begin(out: FindingSink): void {
    this.out = out;
  }

  onConnEnd(c: Conn): void {
    let ports = this.byServer.get(c.serverIp);
    if (ports === undefined) this.byServer.set(c.serverIp, (ports = new Map()));
    let s = ports.get(c.sport);
    if (s === undefined) {
      s = {
        serverIp: c.serverIp, port: c.sport, ipVersion: c.ipVersion, total: 0, clientFirst: 0, clientTimeWait: 0, serverFirst: 0, both: 0, firstTs: c.start,
        clientFirstExamples: [], clientFirstFrames: [], resets: new Map(), refused: { count: 0, clients: new Set(), examples: [] },
        syn: { attempts: 0, noAnswer: 0, delayed: 0, answeredBefore: 0, unanswered: 0, retransmissions: 0, delays: [], maxDelay: 0, clients: new Set(), examples: [], firstSilent: null },
      };
      this.services.push(s);
      ports.set(c.sport, s);
    }
    s.total++;
    if (c.activeCloser === 'client') {
      s.clientFirst++;
      // (the NaN-for-NULL accessor: per connection, a nullable getter would box a double)
      if (!Number.isNaN(c.timeWaitStartNaN)) s.clientTimeWait++;
      if (s.clientFirstExamples.length < EXAMPLES) {
        s.clientFirstExamples.push(c.id);
        s.clientFirstFrames.push(c.client.finFrame);
      }
    } else if (c.activeCloser === 'server') s.serverFirst++;
    else if (c.activeCloser === 'both') s.both++;

    const kind = c.closeKind;
    if (kind === 'refused') {
      s.refused.count++;
      if (s.refused.clients.size < 1000) s.refused.clients.add(c.clientIp);
      if (s.refused.examples.length < EXAMPLES) s.refused.examples.push({ id: c.id, frame: c.rstFrame, tuple: tupleText(c), ts: c.start });
    } else if (c.rstBy !== null && (kind === 'rst' || kind === 'fin-rst')) {
      let r = s.resets.get(c.rstBy);
      if (r === undefined) s.resets.set(c.rstBy, (r = { count: 0, kinds: {}, afterOwnFin: 0, afterOwnFinLateData: 0, afterPeerFin: 0, examples: [] }));
      r.count++;
      const k = c.rstKind ?? 'abort';
      r.kinds[k] = (r.kinds[k] ?? 0) + 1;
      if (k === 'after-fin') {
        const ownFin = (c.rstBy === 'client' ? c.client : c.server).finFrame;
        if (ownFin !== 0 && ownFin < c.rstFrame) {
          r.afterOwnFin++;
          if (c.rstOnLateData) r.afterOwnFinLateData++;
        } else r.afterPeerFin++;
      }
      if (r.examples.length < EXAMPLES) r.examples.push({ id: c.id, frame: c.rstFrame, tuple: tupleText(c), ts: c.rstBy === 'client' ? c.client.rstTs : c.server.rstTs });
    }

    const cl = c.client;
    if (cl.isn !== -1 && !c.orientationGuessed) {
      const y = s.syn;
      y.attempts++;
      if (kind === 'unanswered') {
        y.noAnswer++;
        if (y.clients.size < 1000) y.clients.add(c.clientIp);
      }
      // one SYN is the rule; more means the first got no answer within a retransmission timeout
      // (1 s on Linux, longer after a few retries; never under 200 ms), copies of one SYN in the capture
      // (two interfaces, a duplicating tap) come closer. Answered by a RST: connection-refused says it
      if (cl.synCount > 1 && cl.lastSynTs - cl.synTs >= SYN_RTO_MIN && kind !== 'refused') {
        const sv = c.server;
        y.retransmissions += cl.synCount - 1;
        if (y.clients.size < 1000) y.clients.add(c.clientIp);
        const answered = sv.isn !== -1;
        if (y.examples.length < EXAMPLES) y.examples.push({ id: c.id, frames: answered ? [cl.synFrame, sv.synFrame] : [cl.synFrame], ts: cl.synTs });
        if (answered) {
          y.delayed++;
          if (sv.synTs < cl.lastSynTs) y.answeredBefore++;
          // connect() returns when the SYN-ACK arrives; at the capture point the client's ACK of it is the nearest mark
          const delay = (c.handshakeAckTs >= sv.synTs ? c.handshakeAckTs : sv.synTs) - cl.synTs;
          if (y.delays.length < MAX_DELAYS) y.delays.push(delay);
          if (delay > y.maxDelay) y.maxDelay = delay;
        } else if (kind === 'unanswered') y.unanswered++;
      } else if (kind === 'unanswered' && y.firstSilent === null) y.firstSilent = { id: c.id, frames: [cl.synFrame], ts: cl.synTs };
    }

    this.lostLastAck(c);
  }

  private lostLastAck(c: Conn): void {
    if (this.out === null || (c.activeCloser !== 'client' && c.activeCloser !== 'server')) return;
    const passive = c.activeCloser === 'client' ? c.server : c.client;
    const active = c.activeCloser === 'client' ? c.client : c.server;
    if (passive.finCount < 2) return;
    const passiveName = c.activeCloser === 'client' ? 'server' : 'client';
    const acked = passive.finAckedFrame !== 0;
    const retrans = passive.finRetransFrames ?? [];
    const lastRetrans = retrans.length ? retrans[retrans.length - 1]! : passive.finFrame;
    const frames = frameList(active.finFrame, passive.finFrame, ...retrans, passive.finAckedFrame);
    // an ACK of the FIN seen here before the last retransmission was lost past the capture point
    // (captured at the active closer's side): LAST-ACK lasted until the active closer's last
    // segment, the ACK that answered the last retransmission, not until the first ACK seen
    const lostPastCapture = acked && lastRetrans > passive.finAckedFrame && active.lastTs > passive.finAckedTs;
    const stuck = lostPastCapture ? active.lastTs - passive.finTs : acked ? passive.finAckedTs - passive.finTs : c.end - passive.finTs;
    this.out.finding({
      kind: 'lost-last-ack',
      severity: acked ? 'info' : 'warning',
      ts: passive.finTs,
      connectionId: c.id,
      relatedConnectionId: null,
      frames,
      host: passiveName === 'server' ? c.serverIp : c.clientIp,
      summary:
        `The ${passiveName} of ${tupleText(c)} sent its FIN ${passive.finCount} times: the ${c.activeCloser}'s last ACK did not reach it, ` +
        (lostPastCapture
          ? `although the capture shows it (lost after the capture point), so it stayed in LAST-ACK for ${secs(stuck)} until an ACK finally arrived.`
          : acked
            ? `so it stayed in LAST-ACK for ${secs(stuck)} until an ACK finally arrived.`
            : `and no ACK of it is in the capture (it stayed in LAST-ACK at least ${secs(stuck)}).`),
      details: {
        passive_closer: passiveName,
        fin_transmissions: passive.finCount,
        fin_frame: passive.finFrame,
        retransmission_frames: retrans,
        last_retransmission_frame: lastRetrans,
        acked_frame: passive.finAckedFrame || null,
        last_ack_frame: c.lastAckFrame || null,
        time_in_last_ack: round(stuck),
        acks_lost_after_capture_point: lostPastCapture,
      },
      wiresharkFilter: framesFilter(frames),
    });
  }

  finish(out: FindingSink): void {
    const ep = (s: ServiceStats): string => endpointText(s.ipVersion, s.serverIp, s.port);
    const services = [...this.services].sort((a, b) => b.total - a.total || a.firstTs - b.firstTs);
    const scanned = this.scans(out);
    for (const s of services) {
      if (s.syn.delayed + s.syn.unanswered > 0 && !scanned.has(s)) this.synFinding(out, s, ep(s));
      for (const [by, r] of s.resets) {
        const frames = frameList(...r.examples.map((e) => e.frame));
        const share = r.count / s.total;
        out.finding({
          kind: 'abortive-close',
          severity: share >= 0.1 && r.count >= 10 ? 'warning' : 'info',
          ts: r.examples[0]?.ts ?? s.firstTs,
          connectionId: r.examples[0]?.id ?? null,
          relatedConnectionId: null,
          frames,
          host: s.serverIp,
          summary: resetSummary(r, s.total, ep(s), by),
          details: {
            service: ep(s), reset_by: by, connections: r.count, total: s.total, share: round(share, 4), rst_kinds: r.kinds,
            after_own_fin: r.afterOwnFin, after_own_fin_on_late_data: r.afterOwnFinLateData, after_peer_fin: r.afterPeerFin, examples: r.examples,
          },
          wiresharkFilter: `${ipField(s.ipVersion)}.addr == ${s.serverIp} && tcp.port == ${s.port} && tcp.flags.reset == 1`,
        });
      }
      if (s.refused.count > 0) {
        const frames = frameList(...s.refused.examples.map((e) => e.frame));
        out.finding({
          kind: 'connection-refused',
          severity: 'warning',
          ts: s.refused.examples[0]?.ts ?? s.firstTs,
          connectionId: s.refused.examples[0]?.id ?? null,
          relatedConnectionId: null,
          frames,
          host: s.serverIp,
          summary: `${s.refused.count} connection attempt${s.refused.count === 1 ? ' was' : 's were'} refused by ${ep(s)} (SYN answered by a reset: the client sees ECONNREFUSED; nothing listened, or the listen queue or a firewall rejected it).`,
          details: { service: ep(s), refused: s.refused.count, clients: [...s.refused.clients].slice(0, 50), examples: s.refused.examples },
          wiresharkFilter: framesFilter(frames),
        });
      }
      if (s.clientFirst > 0) {
        const frames = frameList(...s.clientFirstFrames);
        out.finding({
          kind: 'client-closes-first',
          severity: 'info',
          ts: s.firstTs,
          connectionId: s.clientFirstExamples[0] ?? null,
          relatedConnectionId: null,
          frames,
          host: s.serverIp,
          summary: clientFirstSummary(s, ep(s)),
          details: {
            service: ep(s), connections: s.total, client_first: s.clientFirst, client_time_wait: s.clientTimeWait, server_first: s.serverFirst, simultaneous: s.both, examples: s.clientFirstExamples,
          },
          wiresharkFilter: `${ipField(s.ipVersion)}.addr == ${s.serverIp} && tcp.port == ${s.port} && tcp.flags.fin == 1`,
        });
      }
    }
  }

  private synFinding(out: FindingSink, s: ServiceStats, ep: string): void {
    const y = s.syn;
    const affected = y.delayed + y.unanswered;
    const share = affected / y.attempts;
    const delays = y.delays;
    const mid = delays.length ? median(delays) : null;
    const parts: string[] = [];
    if (y.delayed > 0) {
      const min = Math.min(...delays);
      const range = delays.length > 1 && min < y.maxDelay ? `${secs(min)} to ${secs(y.maxDelay)}` : secs(y.maxDelay);
      const took = `connect() took ${range}${delays.length > 2 ? `, median ${secs(mid!)}` : ''}`;
      const lead = `${y.delayed} of ${y.attempts} connection attempt${y.attempts === 1 ? '' : 's'} to ${ep}`;
      const was = y.delayed === 1 ? 'was' : 'were';
      if (y.answeredBefore === 0) parts.push(`${lead} ${was} answered only after the client sent its SYN again (${took})`);
      else if (y.answeredBefore === y.delayed) parts.push(`${lead} sent ${y.delayed === 1 ? 'its' : 'their'} SYN again although the server had answered: its SYN-ACK shows here before the repeated SYN (${took})`);
      else parts.push(`${lead} ${was} answered only after the client sent its SYN again (${took}); in ${y.answeredBefore} of them the server had answered the first SYN already`);
    }
    if (y.unanswered > 0) {
      const lead = y.delayed > 0 ? `${y.unanswered} more` : `${y.unanswered} of ${y.attempts} connection attempt${y.attempts === 1 ? '' : 's'} to ${ep}`;
      parts.push(`${lead} got no answer to ${y.unanswered === 1 ? 'its' : 'their'} repeated SYNs (connect() fails with ETIMEDOUT when the retries run out)`);
    }
    const frames = frameList(...y.examples.flatMap((e) => e.frames));
    out.finding({
      kind: 'syn-retransmission',
      severity: affected >= 5 || (affected >= 2 && share >= 0.05) || (y.unanswered > 0 && y.unanswered === y.attempts) ? 'warning' : 'info',
      ts: y.examples[0]?.ts ?? s.firstTs,
      connectionId: y.examples[0]?.id ?? null,
      relatedConnectionId: null,
      frames,
      host: s.serverIp,
      summary: `${parts.join('; ')}: ${synCause(y)}.`,
      details: {
        scope: 'service',
        service: ep,
        attempts: y.attempts,
        delayed: y.delayed,
        answered_before_resend: y.answeredBefore,
        unanswered: y.unanswered,
        share: round(share, 4),
        syn_retransmissions: y.retransmissions,
        connect_delay_median: mid === null ? null : round(mid),
        connect_delay_max: y.delayed > 0 ? round(y.maxDelay) : null,
        clients: [...y.clients].slice(0, 50),
        examples: y.examples.map((e) => e.id),
      },
      wiresharkFilter: `${ipField(s.ipVersion)}.dst == ${s.serverIp} && tcp.dstport == ${s.port} && tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.analysis.retransmission`,
    });
  }

  /** server addresses where SYNs to many ports all went unanswered (a port scan, or a firewall
   *  dropping what is not open): one finding per address instead of one per port */
  private scans(out: FindingSink): Set<ServiceStats> {
    const byHost = new Map<string, ServiceStats[]>();
    for (const s of this.services) {
      const y = s.syn;
      if (y.attempts === 0 || y.noAnswer !== y.attempts) continue;
      let l = byHost.get(s.serverIp);
      if (l === undefined) byHost.set(s.serverIp, (l = []));
      l.push(s);
    }
    const scanned = new Set<ServiceStats>();
    for (const [ip, l] of byHost) {
      const retransmissions = l.reduce((n, s) => n + s.syn.retransmissions, 0);
      if (l.length < SCAN_PORTS || retransmissions === 0) continue;
      for (const s of l) scanned.add(s);
      const attempts = l.reduce((n, s) => n + s.syn.attempts, 0);
      const clients = new Set(l.flatMap((s) => [...s.syn.clients]));
      const ports = l.map((s) => s.port).sort((a, b) => a - b);
      const first = (s: ServiceStats): { frames: number[]; ts: number } => s.syn.examples[0] ?? s.syn.firstSilent!;
      const frames = frameList(...l.slice(0, EXAMPLES).map((s) => first(s).frames[0]!));
      out.finding({
        kind: 'syn-retransmission',
        severity: 'info',
        ts: Math.min(...l.map((s) => first(s).ts)),
        connectionId: null,
        relatedConnectionId: null,
        frames,
        host: ip,
        summary: `SYNs to ${thousands(l.length)} ports of ${ip} got no answer at all (${thousands(attempts)} attempts from ${thousands(clients.size)} client${clients.size === 1 ? '' : 's'}, ${thousands(retransmissions)} SYNs sent again): a port scan, or a firewall dropping SYNs to ports that are not open.`,
        details: { scope: 'host', server: ip, ports: l.length, port_list: ports.slice(0, 50), attempts, syn_retransmissions: retransmissions, clients: [...clients].slice(0, 50) },
        wiresharkFilter: `${ipField(l[0]!.ipVersion)}.dst == ${ip} && tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.analysis.retransmission`,
      });
    }
    return scanned;
  }
}

/** where the time went: SYNs lost on the way to the server (or dropped by it), or its SYN-ACKs on the way back */
function synCause(y: SynStats): string {
  const synsLost = y.delayed - y.answeredBefore + y.unanswered;
  const back = 'the SYN-ACK was lost between the capture point and the client, or reached it too late (the capture was taken nearer the server)';
  // a capture taken near the client cannot tell a dropped SYN from a SYN-ACK lost on its way back
  const fwd = 'the SYNs were dropped, by the server when its listen queue is full, by a firewall, or on the way (or, seen from near the client, the SYN-ACKs were lost on their way back)';
  if (y.answeredBefore === 0) return fwd;
  if (synsLost === 0) return back;
  return `${fwd}; where the server had answered, ${back}`;
}

/** what the resets of one side say, by whether a FIN came before them and whose */
export function resetSummary(r: ResetStats, total: number, service: string, by: string): string {
  const peer = by === 'client' ? 'server' : 'client';
  const all: [n: number, what: string, why: string][] = [
    [r.kinds['abort'] ?? 0, 'with no FIN before it', 'an abortive close by SO_LINGER 0, a killed process or a timeout, and data in flight may have been lost'],
    [r.afterOwnFinLateData, 'after its own FIN, answering data that came after it', 'it had closed before reading everything, such as a response it did not wait for, and that data was lost'],
    [r.afterOwnFin - r.afterOwnFinLateData, `after its own FIN, with nothing from the ${peer} left unacknowledged`, 'it aborted after closing, by SO_LINGER 0 after shutdown or because its socket was killed'],
    [r.afterPeerFin, `after the ${peer}'s FIN, without a FIN of its own`, 'it closed with received data unread, or aborted'],
  ];
  const parts = all.filter(([n]) => n > 0);
  const head = `${r.count} of ${total} connection${total === 1 ? '' : 's'} to ${service} ended with a reset from the ${by}`;
  const tail = 'no TIME-WAIT protects the 4-tuple.';
  if (parts.length === 1) return `${head} ${parts[0]![1]}: ${parts[0]![2]}; ${tail}`;
  return `${head}: ${parts.map(([n, what, why]) => `${n} ${what} (${why})`).join('; ')}. In each case ${tail}`;
}

/** who closed first on a service, and whether that left TIME-WAIT on the clients (a reset after
 *  the client's FIN, or a close unfinished when the capture ended, leaves none) */
function clientFirstSummary(s: ServiceStats, service: string): string {
  const head = `Clients closed first on ${s.clientFirst} of ${s.total} connection${s.total === 1 ? '' : 's'} to ${service} (server first: ${s.serverFirst}, simultaneous: ${s.both})`;
  const tw = 'TIME-WAIT lands on the clients, whose ephemeral ports it holds for the TIME-WAIT length';
  if (s.clientTimeWait === s.clientFirst) return `${head}: ${tw}.`;
  if (s.clientTimeWait === 0) return `${head}, but none of them reached TIME-WAIT on the client: each ended with a reset or was still closing when the capture ended.`;
  return `${head}: ${tw}; ${s.clientTimeWait} of them reached it (the others ended with a reset or were still closing when the capture ended).`;
}
