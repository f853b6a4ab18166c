// What the capture itself kept from the analysis: frames and TCP options cut by the snapshot
// length (tcpdump -s), a direction missing, packets lost, frames nested too deep. Otherwise such
// a capture is silent about it: no TCP segment reads as "no problem found", lost options as "no
// timestamps", one direction as half-closes with no TIME-WAIT.

import { MAX_NEST, type DecodeStats } from '../decode/index.js';
import { num as n } from './format.js';
const ADVICE = 'capture with -s 128 or more (tcpdump keeps whole packets by default)';

/** one sentence per limitation, from the captures.decode_stats JSON (empty when nothing was cut) */
export function captureNotes(decodeStatsJson: string | null, tcpSegments: number): string[] {
  let st: Partial<DecodeStats> & { connections?: number; acked_unseen_connections?: number };
  try {
    st = decodeStatsJson ? (JSON.parse(decodeStatsJson) as typeof st) : {};
  } catch {
    return [];
  }
  const notes: string[] = [];
  const cutFrames = st.truncated ?? 0;
  if (cutFrames > 0) {
    const of = st.frames ? ` of ${n(st.frames)}` : '';
    const none = tcpSegments === 0 ? ': no TCP segment could be read, so nothing was analyzed' : ' and were left out';
    notes.push(`${n(cutFrames)}${of} frame${cutFrames === 1 ? ' was' : 's were'} cut by the capture's snapshot length before the end of their headers${none}; ${ADVICE}.`);
  }
  const cutOptions = st.tcpOptionsCut ?? 0;
  if (cutOptions > 0) {
    notes.push(
      `${n(cutOptions)} of ${n(tcpSegments)} TCP segment${tcpSegments === 1 ? '' : 's'} ${cutOptions === 1 ? 'was' : 'were'} cut inside ${cutOptions === 1 ? 'its' : 'their'} options: ` +
        `${cutOptions === 1 ? 'its' : 'their'} timestamps, MSS and SACK are unknown, which PAWS, clock and TIME-WAIT timestamp checks need; ${ADVICE}.`,
    );
  }
  const deep = st.tunnelTooDeep ?? 0;
  if (deep > 0) {
    notes.push(`${n(deep)} frame${deep === 1 ? ' was' : 's were'} left out: nested more than ${MAX_NEST} tunnels deep (IP in IP, GRE, VXLAN, Geneve, MPLS), which no real network does; a damaged or crafted capture.`);
  }
  const unseen = st.acked_unseen_connections ?? 0;
  const conns = st.connections ?? 0;
  if (unseen > 0 && (unseen >= 10 || unseen >= 0.1 * conns)) {
    notes.push(
      `${n(unseen)} of ${n(conns)} connection${conns === 1 ? '' : 's'} acknowledged data that is not in the capture (Wireshark: "ACKed segment that wasn't captured"): ` +
        'the capture lost packets, most often in a full capture buffer (tcpdump reports "packets dropped by kernel"), or they took another path; retransmissions and byte counts of those connections (acked_unseen = 1) are incomplete.',
    );
  }
  return notes;
}

/** connections whose packets all came from one side although that side acknowledged the other
 *  (a pure ACK, data or a FIN), over all connections */
export interface OneWay {
  /** SQL sums: NULL over no rows */
  clientOnly: number | null;
  serverOnly: number | null;
  total: number;
}

// history letters (Zeek's: upper case the client, lower case the server): a pure ACK, data or a FIN
// acknowledges the other side; SYNs and RSTs alone do not (an unanswered SYN, a SYN then a RST)
export const ONE_WAY_SQL = `SELECT
  sum(server_pkts = 0 AND client_pkts >= 2 AND (instr(history, 'A') OR instr(history, 'D') OR instr(history, 'F'))) AS clientOnly,
  sum(client_pkts = 0 AND server_pkts >= 2 AND (instr(history, 'a') OR instr(history, 'd') OR instr(history, 'f'))) AS serverOnly,
  count(*) AS total FROM connections WHERE capture_id = ?`;

/** a capture with one direction missing (a `dst port` filter, asymmetric routing, a one-way
 *  mirror port) otherwise reads as clean: half-closes, no TIME-WAIT, no RTT */
export function oneWayNote(w: OneWay): string | null {
  const n1 = (w.clientOnly ?? 0) + (w.serverOnly ?? 0);
  if (n1 === 0 || (n1 < 10 && n1 / w.total < 0.1)) return null;
  const side = (w.serverOnly ?? 0) > (w.clientOnly ?? 0) ? 'servers' : 'clients';
  return (
    `${n(n1)} of ${n(w.total)} connection${w.total === 1 ? '' : 's'} ${n1 === 1 ? 'shows' : 'show'} packets from one side only (${n1 === w.total ? 'the' : 'mostly the'} ${side}'), although that side answered packets that are not in the capture: ` +
    'the capture holds one direction only (a capture filter such as "dst port 80", asymmetric routing, a one-way mirror port), so teardowns, TIME-WAIT and handshake times are incomplete; capture both directions.'
  );
}

/** a majority of one-way connections makes the teardown story unreliable */
export function mostlyOneWay(w: OneWay): boolean {
  return w.total > 0 && ((w.clientOnly ?? 0) + (w.serverOnly ?? 0)) / w.total >= 0.5;
}
