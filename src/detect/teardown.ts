// Teardown findings read off finished connections:
//  - lost-last-ack: the passive closer retransmitted its FIN from LAST-ACK (the active
//    closer's last ACK did not arrive);
//  - abortive-close: connections ended by RST instead of FIN, per service and resetting side;
//  - connection-refused: SYNs answered by RST (what the client sees as ECONNREFUSED);
//  - client-closes-first: per service, how many connections the clients closed first,
//    i.e. where TIME-WAIT piles up.

import type { Conn } from '../tracker/connection.js';
import type { Detector, FindingSink } from './types.js';
import { frameList, framesFilter, round, secs, tupleText } from './util.js';

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
  clientFirstExamples: number[];
  clientFirstFrames: number[];
  resets: Map<string, { count: number; kinds: Record<string, number>; examples: { id: number; frame: number; tuple: string; ts: number }[] }>;
  refused: { count: number; clients: Set<string>; examples: { id: number; frame: number; tuple: string; ts: number }[] };
}

export class TeardownDetector implements Detector {
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
        serverIp: c.serverIp, port: c.sport, ipVersion: c.ipVersion, total: 0, clientFirst: 0, serverFirst: 0, both: 0, firstTs: c.start,
        clientFirstExamples: [], clientFirstFrames: [], resets: new Map(), refused: { count: 0, clients: new Set(), examples: [] },
      };
      this.services.push(s);
      ports.set(c.sport, s);
    }
    s.total++;
    if (c.activeCloser === 'client') {
      s.clientFirst++;
      if (s.clientFirstExamples.length < EXAMPLES) {
        s.clientFirstExamples.push(c.id);
        s.clientFirstFrames.push(c.client.finFrame);
      }
    } else if (c.activeCloser === 'server') s.serverFirst++;
    else if (c.activeCloser === 'both') s.both++;

    if (c.closeKind === 'refused') {
      s.refused.count++;
      if (s.refused.clients.size < 1000) s.refused.clients.add(c.clientIp);
      if (s.refused.examples.length < EXAMPLES) s.refused.examples.push({ id: c.id, frame: c.rstFrame, tuple: tupleText(c), ts: c.start });
    } else if (c.rstBy !== null && (c.closeKind === 'rst' || c.closeKind === 'fin-rst')) {
      let r = s.resets.get(c.rstBy);
      if (r === undefined) s.resets.set(c.rstBy, (r = { count: 0, kinds: {}, examples: [] }));
      r.count++;
      const k = c.rstKind ?? 'abort';
      r.kinds[k] = (r.kinds[k] ?? 0) + 1;
      if (r.examples.length < EXAMPLES) r.examples.push({ id: c.id, frame: c.rstFrame, tuple: tupleText(c), ts: c.rstBy === 'client' ? c.client.rstTs : c.server.rstTs });
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
    const ipf = (v: number): string => (v === 6 ? 'ipv6' : 'ip');
    const ep = (s: ServiceStats): string => (s.ipVersion === 6 ? `[${s.serverIp}]:${s.port}` : `${s.serverIp}:${s.port}`);
    const services = [...this.services].sort((a, b) => b.total - a.total || a.firstTs - b.firstTs);
    for (const s of services) {
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
          summary: `${r.count} of ${s.total} connections to ${ep(s)} ended with a reset from the ${by} instead of an orderly FIN close${r.kinds['after-fin'] ? ` (${r.kinds['after-fin']} after a FIN)` : ''}: data in flight may have been lost and no TIME-WAIT protects the 4-tuple.`,
          details: { service: ep(s), reset_by: by, connections: r.count, total: s.total, share: round(share, 4), rst_kinds: r.kinds, examples: r.examples },
          wiresharkFilter: `${ipf(s.ipVersion)}.addr == ${s.serverIp} && tcp.port == ${s.port} && tcp.flags.reset == 1`,
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
          summary: `Clients closed first on ${s.clientFirst} of ${s.total} connections to ${ep(s)} (server first: ${s.serverFirst}, simultaneous: ${s.both}): TIME-WAIT lands on the clients, whose ephemeral ports it holds for the TIME-WAIT length.`,
          details: { service: ep(s), connections: s.total, client_first: s.clientFirst, server_first: s.serverFirst, simultaneous: s.both, examples: s.clientFirstExamples },
          wiresharkFilter: `${ipf(s.ipVersion)}.addr == ${s.serverIp} && tcp.port == ${s.port} && tcp.flags.fin == 1`,
        });
      }
    }
  }
}
