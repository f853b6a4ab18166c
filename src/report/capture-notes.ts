// What the capture itself kept from the analysis: frames and TCP options cut by the snapshot
// length (tcpdump -s). A capture cut too short is otherwise silent: no TCP segment reads as
// "no problem found", lost options as "no timestamps".

import type { DecodeStats } from '../decode/index.js';

const n = (v: number): string => v.toLocaleString('en-US');
const ADVICE = 'capture with -s 128 or more (tcpdump keeps whole packets by default)';

/** one sentence per limitation, from the captures.decode_stats JSON (empty when nothing was cut) */
export function captureNotes(decodeStatsJson: string | null, tcpSegments: number): string[] {
  let st: Partial<DecodeStats>;
  try {
    st = decodeStatsJson ? (JSON.parse(decodeStatsJson) as Partial<DecodeStats>) : {};
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
  return notes;
}
