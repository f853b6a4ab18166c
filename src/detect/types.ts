// Detectors read the tracker's stream (segments with their connection, reuse events,
// finished connections) and emit findings, clocks and timelines to the store.

import type { Segment } from '../decode/segment.js';
import type { Conn } from '../tracker/connection.js';
import type { ClockRow, FindingRow, TimelineRow } from '../store/writer.js';

export interface FindingSink {
  finding(f: FindingRow): void;
  clock(r: ClockRow): void;
  timeline(r: TimelineRow): void;
}

export interface AnalysisOptions {
  /** TIME-WAIT length, seconds (Linux TCP_TIMEWAIT_LEN: 60) */
  timeWait: number;
  /** maximum segment lifetime, seconds (RFC 9293: 120; 2*MSL = 240) */
  msl: number;
  /** ephemeral port range of the clients, inclusive */
  portLow: number;
  portHigh: number;
  /** idle open connections are forgotten after this many seconds of capture time */
  idleTimeout: number;
}

export interface Detector {
  /** called once before the first segment: detectors that find things while packets flow write here */
  begin?(out: FindingSink): void;
  onSegment?(seg: Segment, conn: Conn, dir: 0 | 1): void;
  /** onSegment only for segments with one of these TCP flags (a few in a hundred, not all) */
  segmentFlags?: number;
  onReuse?(conn: Conn, prev: Conn): void;
  onConnEnd?(conn: Conn): void;
  /** end of capture: emit what is left */
  finish(out: FindingSink, now: number): void;
}
