// time-wait-reuse: a new incarnation's SYN inside the TIME-WAIT window of the previous one.
// The verdicts follow RFC 1122 4.2.2.13 (new ISN beyond the old sequence space), RFC 6191
// (newer timestamp), and Linux tcp_timewait_state_process (accept iff PAWS passes and one
// of the two holds; otherwise the TIME-WAIT socket answers with a bare ACK).

import { ACK, RST, SYN } from '../decode/segment.js';
import type { Conn, ReuseStep, Side } from '../tracker/connection.js';
import { seqAfter, seqDiff, seqGE } from '../tracker/seq.js';
import type { AnalysisOptions, Detector, FindingSink } from './types.js';
import { frameList, framesFilter, round, secs, tupleText } from './util.js';

/** Linux TCP_PAWS_WINDOW (ticks) and TCP_PAWS_MSL (seconds) */
const PAWS_WINDOW = 1;
const PAWS_MSL = 60;

export type ReuseOutcome = 'syn-ack' | 'ack-rst-retry' | 'retry' | 'rst' | 'ack-rst' | 'no-answer';

export interface ReuseDetails {
  gap: number;
  time_wait: number;
  holder: 'client' | 'server' | 'both';
  holder_role: 'syn-sender' | 'syn-receiver' | 'both';
  holder_ip: string;
  old_state_of_receiver: 'TIME_WAIT' | 'LAST_ACK' | 'CLOSED';
  isn: number;
  old_next_seq: number;
  isn_after_old: boolean;
  syn_tsval: number | null;
  old_tsval: number | null;
  tsval_newer: boolean | null;
  paws_ok: boolean;
  linux_verdict: 'accept' | 'ack' | 'challenge-ack';
  outcome: ReuseOutcome;
  /** the SYN itself was answered with a SYN-ACK (not refused by the old state first) */
  accepted: boolean;
  /** the new connection got established in the end (possibly after a reset and a retry) */
  connected: boolean;
  syn_retries: number;
  delay: number | null;
  lost_last_ack: boolean;
  time_wait_estimated: boolean;
  old_connection: number;
}

export class ReuseDetector implements Detector {
  private out: FindingSink | null = null;

  constructor(private readonly opts: AnalysisOptions) {}

  begin(out: FindingSink): void {
    this.out = out;
  }

  onReuse(c: Conn, prev: Conn): void {
    const trail = c.reuseTrail;
    if (trail === null || trail.length === 0 || this.out === null) return;
    const first = trail[0]!;
    if (first.from !== 'client' || (first.flags & (SYN | ACK | RST)) !== SYN) return;
    if (prev.timeWaitStart === null || prev.activeCloser === null) return;
    const tw = this.opts.timeWait;
    const gap = first.ts - prev.timeWaitStart;
    if (gap >= tw || gap < 0) return;

    // map the old incarnation's sides onto the new one's roles (the 4-tuple may be reused reversed)
    const same = prev.cport === c.cport && prev.c0 === c.c0 && prev.c1 === c.c1 && prev.c2 === c.c2 && prev.c3 === c.c3;
    const oldSender: Side = same ? prev.client : prev.server; // old side of the endpoint now sending the SYN
    const oldReceiver: Side = same ? prev.server : prev.client;
    const closer = prev.activeCloser;
    const senderHeld = closer === 'both' || (closer === 'client') === same;
    const receiverHeld = closer === 'both' || (closer === 'server') === same;
    const holderRole = senderHeld && receiverHeld ? 'both' : senderHeld ? 'syn-sender' : 'syn-receiver';
    const holder: ReuseDetails['holder'] = holderRole === 'both' ? 'both' : holderRole === 'syn-sender' ? 'client' : 'server';

    const isn = c.client.isn;
    const isnAfterOld = seqGE(isn, oldSender.nextSeq);
    const synHasTs = c.client.synHasTs;
    const synTsval = synHasTs ? c.client.firstTsval : null;
    const oldTsval = oldSender.tsSeen ? oldSender.lastTsval : null;
    const tsvalNewer = synTsval !== null && oldTsval !== null ? seqDiff(synTsval, oldTsval) > 0 : null;
    const pawsOk =
      synTsval === null || oldTsval === null || seqDiff(oldTsval, synTsval) <= PAWS_WINDOW || first.ts - oldSender.lastTsTime >= PAWS_MSL;

    // the receiver's state when the SYN arrived
    const receiverWasPassive = !receiverHeld;
    const receiverFinUnacked = oldReceiver.finFrame !== 0 && (oldReceiver.finAckedFrame === 0 || oldReceiver.finAckedTs > first.ts);
    const receiverState: ReuseDetails['old_state_of_receiver'] = receiverHeld ? 'TIME_WAIT' : receiverWasPassive && receiverFinUnacked ? 'LAST_ACK' : 'CLOSED';

    let linux: ReuseDetails['linux_verdict'];
    if (receiverState === 'TIME_WAIT') {
      const seqOk = seqAfter(isn, oldSender.nextSeq);
      linux = pawsOk && (seqOk || tsvalNewer === true) ? 'accept' : 'ack';
    } else if (receiverState === 'LAST_ACK') linux = 'challenge-ack';
    else linux = 'accept';

    const seen = readTrail(trail);
    const connected = seen.synAck !== null;
    let outcome: ReuseOutcome;
    if (connected) outcome = seen.serverAck && seen.clientRst ? 'ack-rst-retry' : seen.retries > 0 ? 'retry' : 'syn-ack';
    else if (seen.serverRst !== null) outcome = 'rst';
    else if (seen.serverAck && seen.clientRst) outcome = 'ack-rst';
    else outcome = 'no-answer';
    const delay = seen.synAck !== null ? seen.synAck.ts - first.ts : trail.length > 1 ? trail[trail.length - 1]!.ts - first.ts : null;
    const lostLastAck = receiverState === 'LAST_ACK' && (seen.serverAck || seen.serverRst !== null || oldReceiver.finCount > 1);

    const details: ReuseDetails = {
      gap: round(gap),
      time_wait: tw,
      holder,
      holder_role: holderRole,
      holder_ip: holderRole === 'syn-receiver' ? c.serverIp : c.clientIp,
      old_state_of_receiver: receiverState,
      isn,
      old_next_seq: oldSender.nextSeq,
      isn_after_old: isnAfterOld,
      syn_tsval: synTsval,
      old_tsval: oldTsval,
      tsval_newer: tsvalNewer,
      paws_ok: pawsOk,
      linux_verdict: linux,
      outcome,
      accepted: outcome === 'syn-ack' || outcome === 'retry',
      connected,
      syn_retries: seen.retries,
      delay: delay === null ? null : round(delay),
      lost_last_ack: lostLastAck,
      time_wait_estimated: prev.timeWaitEstimated,
      old_connection: prev.id,
    };

    const severity = !connected || outcome !== 'syn-ack' ? 'critical' : !isnAfterOld && tsvalNewer !== true ? 'warning' : 'info';
    const twFrame = prev.lastAckFrame || (same ? (closer === 'client' ? prev.server.finFrame : prev.client.finFrame) : 0) || prev.lastFrame;
    const frames = frameList(twFrame, ...trail.slice(0, seen.endIndex + 1).map((s) => s.frame));
    this.out.finding({
      kind: 'time-wait-reuse',
      severity,
      ts: first.ts,
      connectionId: c.id,
      relatedConnectionId: prev.id,
      frames,
      host: details.holder_ip,
      summary: summarize(c, details),
      details,
      wiresharkFilter: framesFilter(frames),
    });
  }

  finish(): void {}
}

interface TrailReading {
  synAck: ReuseStep | null;
  serverAck: boolean;
  serverRst: ReuseStep | null;
  clientRst: boolean;
  retries: number;
  /** index of the last step that belongs to the story (the SYN-ACK, or the end) */
  endIndex: number;
}

function readTrail(trail: ReuseStep[]): TrailReading {
  const r: TrailReading = { synAck: null, serverAck: false, serverRst: null, clientRst: false, retries: 0, endIndex: trail.length - 1 };
  const isn = trail[0]!.seq;
  for (let i = 1; i < trail.length; i++) {
    const s = trail[i]!;
    const syn = (s.flags & SYN) !== 0;
    const ack = (s.flags & ACK) !== 0;
    const rst = (s.flags & RST) !== 0;
    if (s.from === 'server') {
      if (syn && ack && !s.oldSpace) {
        r.synAck = s;
        r.endIndex = i;
        break;
      }
      if (rst) {
        if (r.serverRst === null) r.serverRst = s;
      } else if (ack) r.serverAck = true;
    } else {
      if (rst) r.clientRst = true;
      else if (syn && !ack && s.seq === isn) r.retries++;
    }
  }
  return r;
}

function summarize(c: Conn, d: ReuseDetails): string {
  const who =
    d.holder_role === 'syn-receiver'
      ? `the server ${d.holder_ip} still held the previous connection in TIME-WAIT`
      : d.holder_role === 'syn-sender'
        ? `the client ${d.holder_ip} reused a port it still held in TIME-WAIT`
        : 'both sides still held the previous connection in TIME-WAIT';
  const head = `New connection ${tupleText(c)} reused its 4-tuple ${secs(d.gap)} after the previous one closed: ${who}`;
  const why = d.isn_after_old ? 'its new sequence numbers start after the old ones' : d.tsval_newer ? 'its timestamp was newer than the old one' : '';
  let tail: string;
  if (d.lost_last_ack) {
    tail = `, but the server never got the client's last ACK and was still in LAST-ACK, so it answered the new SYN with ${d.outcome === 'rst' ? 'a reset' : 'an ACK the client had to reset'}${d.connected ? `; the connection started ${secs(d.delay ?? 0)} late` : ' and the connection failed'} (the lost-last-ACK failure, RFC 1337).`;
  } else if (d.outcome === 'syn-ack') {
    tail = why ? `; it was accepted at once, safely, because ${why}.` : '; it was accepted, but neither the sequence numbers nor the timestamps made it safe: a delayed segment of the old connection could have been taken as new data.';
  } else if (d.connected) {
    tail = `; ${d.outcome === 'ack-rst-retry' ? "the old connection's state answered the SYN with a bare ACK, the client reset it and retried" : 'the SYN went unanswered and was retried'}, so the connection started ${secs(d.delay ?? 0)} late.`;
  } else if (d.outcome === 'rst') {
    tail = '; the SYN was refused with a reset.';
  } else {
    tail = '; the SYN was never accepted in the capture.';
  }
  return head + tail;
}
