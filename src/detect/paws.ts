// paws-violation: segments whose TSval is older than the TS.Recent the receiver holds.
// TS.Recent follows RFC 7323 4.3: updated only by a segment with TSval >= TS.Recent that
// starts at or before the last ACK the receiver sent. Two verdicts per violation:
//  - strict RFC 7323 5.3 (R1): any non-RST segment older than TS.Recent is dropped;
//  - Linux (tcp_validate_incoming / tcp_paws_discard): a 1-tick window (TCP_PAWS_WINDOW),
//    a reordered duplicate ACK passes (tcp_disordered_ack), a RST passes in a synchronized
//    state, and TS.Recent is void after 24 days idle (TCP_PAWS_24DAYS).

import { ACK, FIN, RST, SYN, type Segment } from '../decode/segment.js';
import type { Conn, Side } from '../tracker/connection.js';
import { segmentResent } from '../tracker/tracker.js';
import { seqDiff } from '../tracker/seq.js';
import type { Detector, FindingSink } from './types.js';
import { frameList, framesFilter, RATES, round, secs, tupleText } from './util.js';

const PAWS_WINDOW = 1;
const PAWS_24DAYS = 24 * 24 * 3600;
/** Linux lets a disordered duplicate ACK through when its TSval lags by at most ~RTO (>= 200 ms) */
const DISORDERED_ACK_TICKS = 205;
/** at most this many findings per connection direction; the rest are counted in one more at the connection's end */
const MAX_PER_DIRECTION = 20;
/** RFC 9293's maximum segment lifetime (s): a segment further behind was not reordered in flight */
const MSL = 120;

export class PawsDetector implements Detector {
  private out: FindingSink | null = null;

  begin(out: FindingSink): void {
    this.out = out;
  }

  onSegment(seg: Segment, c: Conn, dir: 0 | 1): void {
    if (!seg.hasTs) return;
    const snd = dir === 0 ? c.client : c.server;
    const rcv = dir === 0 ? c.server : c.client;
    const f = seg.flags;
    const tsval = seg.tsval;
    if ((f & SYN) !== 0 || !snd.tsRecentValid || seg.ts - snd.tsRecentTime > PAWS_24DAYS) {
      setRecent(snd, seg);
      return;
    }
    const back = seqDiff(snd.tsRecent, tsval);
    if (back > 0) {
      this.violation(seg, c, dir, snd, back);
      return;
    }
    // RFC 7323 4.3: only a segment that starts at or before Last.ACK.sent may update TS.Recent
    if (!rcv.ackKnown || seqDiff(rcv.highAck, seg.seq) >= 0) setRecent(snd, seg);
  }

  private violation(seg: Segment, c: Conn, dir: 0 | 1, snd: Side, back: number): void {
    const firstTsval = snd.pawsViolations > 0 ? snd.pawsFirstTsval : null;
    if (firstTsval === null) snd.pawsFirstTsval = seg.tsval;
    snd.pawsViolations++;
    snd.pawsLastFrame = seg.frame;
    const f = seg.flags;
    const rst = (f & RST) !== 0;
    const pureAck = (f & (ACK | SYN | FIN | RST)) === ACK && seg.payloadLen === 0;
    // a duplicate ACK overtaken by newer segments: same sequence and ack as the newest seen
    const disordered = pureAck && seg.seq === snd.nextSeq && seg.ack === snd.highAck && back <= DISORDERED_ACK_TICKS;
    const rfcDrop = !rst;
    const linuxDrop = !rst && back > PAWS_WINDOW && !disordered;
    if (linuxDrop) snd.pawsLinuxDrops++;
    if (snd.pawsViolations > MAX_PER_DIRECTION || this.out === null) return;
    const rate = clockRate(snd);
    const timeBack = back / rate.hz;
    const from = dir === 0 ? 'client' : 'server';
    // a segment older than its connection is a forged or stray one, unless the sender's clock
    // has moved on since the first violation while staying behind: then TS.Recent itself came
    // from a timestamp ahead of this sender's clock (another host, or a middlebox rewriting it),
    // and every later segment fails until the clock catches up
    const age = seg.ts - c.start;
    const recentAhead = timeBack > age + 1 && firstTsval !== null && seqDiff(seg.tsval, firstTsval) > 0;
    // how the old segment came to be here: older than the connection (and TS.Recent is right; only
    // known when its SYN is in the capture), or a data segment whose data is new here (sent before
    // segments that overtook it), or a copy
    const olderThanConn = timeBack > age + 1 && c.client.isn !== -1;
    const arrival = recentAhead ? null : olderThanConn || timeBack > MSL ? 'stray' : seg.payloadLen === 0 ? null : segmentResent() ? 'duplicate' : 'reordered';
    const frames = frameList(snd.tsRecentFrame, seg.frame);
    const details = {
      direction: dir === 0 ? 'c2s' : 's2c',
      sender: from,
      tsval: seg.tsval,
      ts_recent: snd.tsRecent,
      ts_recent_frame: snd.tsRecentFrame,
      ts_recent_age: round(seg.ts - snd.tsRecentTime),
      ticks_back: back,
      time_back: round(timeBack),
      clock_hz: rate.hz,
      clock_rate_measured: rate.measured,
      seq: seg.seq,
      len: seg.payloadLen,
      flags: f,
      rst,
      rst_exempt: rst,
      within_linux_window: back <= PAWS_WINDOW,
      disordered_ack: disordered,
      rfc7323_drop: rfcDrop,
      linux_drop: linuxDrop,
      ts_recent_ahead: recentAhead,
      arrival,
      nth: snd.pawsViolations,
    };
    // (an article that fits: 'An ACK', and a byte count read aloud can start with a vowel)
    const kindText = rst ? 'A reset' : seg.payloadLen > 0 ? `A segment of ${seg.payloadLen} bytes` : 'An ACK';
    const verdict = linuxDrop
      ? 'Linux drops it (counted as PAWSEstab) and answers with a duplicate ACK'
      : rst
        ? 'a reset is accepted anyway in an established connection'
        : disordered
          ? 'Linux lets it through as a reordered duplicate ACK'
          : 'Linux tolerates it (1-tick window)';
    this.out.finding({
      kind: 'paws-violation',
      severity: linuxDrop ? 'warning' : 'info',
      ts: seg.ts,
      connectionId: c.id,
      relatedConnectionId: null,
      frames,
      host: dir === 0 ? c.clientIp : c.serverIp,
      summary:
        `${kindText} from the ${from} of ${tupleText(c)} carries a timestamp ${back} tick${back === 1 ? '' : 's'} (about ${secs(timeBack)}) older than one the ${dir === 0 ? 'server' : 'client'} already saw: RFC 7323 ${rfcDrop ? 'says drop it' : 'exempts it'}; ${verdict}.` +
        (recentAhead
          ? ` The connection is only ${secs(age)} old and the ${from}'s clock moves on: TS.Recent, from frame ${snd.tsRecentFrame}, is ahead of that clock (a timestamp from another host or rewritten on the way), so its segments keep failing until the clock catches up.`
          : arrival === 'stray'
            ? ` It is ${secs(timeBack)} behind ${olderThanConn ? `in a connection ${secs(age)} old` : 'TS.Recent, longer than a segment lives in the network'}: a stray segment of an earlier connection on this 4-tuple, or a forged one.`
            : arrival === 'reordered'
              ? ` Its data was not here yet: newer segments overtook it on the way (reordering)${linuxDrop ? ", and the drop makes the sender send it again" : ''}.`
              : arrival === 'duplicate'
                ? ` Its data was already here: a duplicate, or a copy that came late${linuxDrop ? '; the drop costs nothing' : ''}.`
                : ''),
      details,
      wiresharkFilter: framesFilter(frames),
    });
  }

  /** the violations past the per-direction cap, in one finding per direction */
  onConnEnd(c: Conn): void {
    const out = this.out;
    if (out === null) return;
    for (let dir = 0; dir < 2; dir++) {
      const snd = dir === 0 ? c.client : c.server;
      const n = snd.pawsViolations;
      if (n <= MAX_PER_DIRECTION) continue;
      const from = dir === 0 ? 'client' : 'server';
      const more = n - MAX_PER_DIRECTION;
      out.finding({
        kind: 'paws-violation',
        severity: 'info',
        ts: c.end,
        connectionId: c.id,
        relatedConnectionId: null,
        frames: [snd.pawsLastFrame],
        host: dir === 0 ? c.clientIp : c.serverIp,
        summary: `${more} more segment${more === 1 ? '' : 's'} from the ${from} of ${tupleText(c)} carried a timestamp older than TS.Recent after the ${MAX_PER_DIRECTION} listed one by one (${n} in all, ${snd.pawsLinuxDrops} of them dropped by Linux; the last in frame ${snd.pawsLastFrame}).`,
        // linux_drops counts all n violations, the listed ones included (the kernel's PAWSEstab for this direction)
        details: { direction: dir === 0 ? 'c2s' : 's2c', sender: from, violations: n, listed: MAX_PER_DIRECTION, more, linux_drops: snd.pawsLinuxDrops, last_frame: snd.pawsLastFrame },
        wiresharkFilter: framesFilter([snd.pawsLastFrame]),
      });
    }
  }

  finish(): void {}
}

function setRecent(s: Side, seg: Segment): void {
  s.tsRecent = seg.tsval;
  s.tsRecentTime = seg.ts;
  s.tsRecentFrame = seg.frame;
  s.tsRecentValid = true;
}

/** the sender's timestamp clock rate, snapped; 1000 Hz assumed when the connection is too short to tell.
 *  Measured up to TS.Recent, the newest timestamp accepted: the side's last one is the segment
 *  being judged, whose old TSval would slow the clock down (a 1000 Hz clock measured at 350 Hz
 *  made 396 ticks back read as 1.3 s instead of 0.4 s) */
export function clockRate(s: Side): { hz: number; measured: number | null } {
  const recent = s.tsRecentValid;
  const dt = (recent ? s.tsRecentTime : s.lastTsTime) - s.firstTsTime;
  const dv = seqDiff(recent ? s.tsRecent : s.lastTsval, s.firstTsval);
  if (dt >= 0.5 && dv > 0) {
    const m = dv / dt;
    return { hz: snapRate(m), measured: round(m, 3) };
  }
  return { hz: 1000, measured: null };
}

export function snapRate(hz: number): number {
  let best = RATES[0]!;
  for (const r of RATES) if (Math.abs(Math.log(hz / r)) < Math.abs(Math.log(hz / best))) best = r;
  return best;
}
