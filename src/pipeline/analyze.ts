// Wires the stages together: reader -> decoder -> tracker -> detectors -> store.
// Everything is streaming; memory follows the number of open connections.

import path from 'node:path';
import v8 from 'node:v8';
import { readCaptures } from '../reader/index.js';
import type { CaptureFileInfo, ReadProgress } from '../reader/types.js';
import { CaptureError } from '../reader/types.js';
import { PacketDecoder } from '../decode/index.js';
import { Segment } from '../decode/segment.js';
import { flagLetters } from '../decode/format.js';
import { Tracker, segmentResent } from '../tracker/tracker.js';
import type { Conn } from '../tracker/connection.js';
import { StoreClient } from '../store/client.js';
import type { AnalysisOptions, Detector, FindingSink } from '../detect/types.js';
import { createDetectors } from '../detect/index.js';
import { linkTypeName } from '../decode/linktypes.js';
import { VERSION } from '../version.js';
import { capYoungGeneration, limitHeapGrowth } from './heap.js';

// The tracker, the detectors and the store read connection fields through accessors over
// typed-array pages (tracker/connection.ts). Under V8's default budget (920 bytes of bytecode
// inlined into one function) the large per-packet and per-connection functions keep most of
// them as calls; a larger budget inlines them (read, decode, track and lay out 3 M packets:
// 1.15-1.31 s instead of 1.42-1.65 s). Inlining flags are read when a function is optimized,
// which is after this module is loaded.
v8.setFlagsFromString('--max-inlined-bytecode-size-cumulative=5000');

export interface AnalyzeParams {
  paths: string[];
  dbPath: string;
  options: AnalysisOptions;
  /** also store every segment in the packets table */
  packets: boolean;
  /** run the detectors (default true; false only to measure their cost) */
  detectors?: boolean;
  onProgress?: (p: ReadProgress & { openConnections: number }) => void;
  signal?: AbortSignal;
}

export interface AnalyzeResult {
  captureId: number;
  files: CaptureFileInfo[];
  damage: CaptureError | null;
  frames: number;
  tcpSegments: number;
  connections: number;
  peakOpen: number;
  interrupted: boolean;
  seconds: number;
}

export function defaultDbPath(paths: string[]): string {
  const first = paths[0]!;
  if (first === '-') return 'twscope.db';
  const base = first.replace(/\.(gz)$/i, '').replace(/\.(pcapng|pcap|cap|dmp|dump|ntar)$/i, '');
  return base + '.twscope.db';
}

/** the key under which a capture is stored (and replaced when analyzed again) */
export function captureKey(paths: string[]): string {
  return paths.map((p) => (p === '-' ? '-' : path.resolve(p))).join('\n');
}

export async function analyze(params: AnalyzeParams): Promise<AnalyzeResult> {
  const t0 = performance.now();
  const store = new StoreClient();
  try {
    await store.open(params.dbPath, captureKey(params.paths));
    limitHeapGrowth();
    const detectors: Detector[] = params.detectors === false ? [] : createDetectors(params.options);
    // The detectors are called through bound functions, one call site per kind of event: a site
    // that several detectors take (segments, connection ends) sees several targets, and V8 inlines
    // none of them (a reuse has one detector; it is rare). Called as methods, their code was
    // inlined into the tracker's largest functions (push, sweepBucket, create), and each branch a
    // detector first took after that deoptimized and recompiled those as well (3 M packets:
    // 2.09 s of optimizing compilation instead of 2.47 s, and 0.16 s less CPU time in six paired runs).
    const segDetectors = detectors.filter((d) => d.onSegment);
    const segCalls = segDetectors.map((d) => d.onSegment!.bind(d));
    const segFlags = segDetectors.map((d) => d.segmentFlags ?? 0);
    const reuseCalls = detectors.filter((d) => d.onReuse).map((d) => d.onReuse!.bind(d));
    const endCalls = detectors.filter((d) => d.onConnEnd).map((d) => d.onConnEnd!.bind(d));
    const wantPackets = params.packets;

    const tracker = new Tracker(
      { timeWait: params.options.timeWait, idleTimeout: params.options.idleTimeout, firstId: store.firstConnId },
      {
        onSegment(seg: Segment, conn: Conn, dir: 0 | 1): void {
          for (let i = 0; i < segCalls.length; i++) {
            const m = segFlags[i]!;
            if (m === 0 || (seg.flags & m) !== 0) segCalls[i]!(seg, conn, dir);
          }
          if (wantPackets) {
            store.writePacket(seg.frame, seg.tsSec, seg.tsNsec, seg.ts, conn.id, dir, flagLetters(seg.flags), seg.seq, seg.ack, seg.window, seg.payloadLen, seg.hasTs ? seg.tsval : null, seg.hasTs ? seg.tsecr : null, segmentResent());
          }
        },
        onReuse(conn: Conn, prev: Conn): void {
          for (let i = 0; i < reuseCalls.length; i++) reuseCalls[i]!(conn, prev);
        },
        onConnEnd(conn: Conn): void {
          for (let i = 0; i < endCalls.length; i++) endCalls[i]!(conn);
          // a row written ahead is rewritten whole if anything in it changed (rare: a packet
          // after the close, or the end came otherwise than expected)
          if (!conn.earlyRowCurrent) store.writeConn(conn, conn.earlyFrame === 0);
        },
        onConnEarly(conn: Conn): void {
          store.writeConn(conn, true);
        },
      },
    );

    const sink: FindingSink = {
      finding: (f) => store.writeFinding(f),
      clock: (r) => store.writeClock(r),
      timeline: (r) => store.writeTimeline(r),
    };
    for (const d of detectors) d.begin?.(sink);

    const decoder = new PacketDecoder();
    const seg = new Segment();
    let tcpSegments = 0;
    const onProgress = params.onProgress;
    const read = await readCaptures(
      params.paths,
      (frame) => {
        if (decoder.decode(frame, seg)) {
          tcpSegments++;
          tracker.push(seg);
        }
      },
      {
        signal: params.signal,
        onChunk: capYoungGeneration,
        onProgress: (p) => {
          if (p.totalBytes) tracker.estimateEnd(p.bytesRead / p.totalBytes);
          onProgress?.({ ...p, openConnections: tracker.open });
        },
      },
    );
    const interrupted = params.signal?.aborted ?? false;
    if (interrupted) {
      tracker.dispose();
      return { captureId: 0, files: read.files, damage: read.damage, frames: read.frames, tcpSegments, connections: 0, peakOpen: tracker.stats.peakOpen, interrupted, seconds: (performance.now() - t0) / 1000 };
    }
    tracker.finish();
    for (const d of detectors) d.finish(sink, tracker.now);

    const files = read.files;
    files.forEach((f, i) =>
      store.writeFile({
        fileIndex: i, path: f.path, format: f.format, linkTypes: f.linkTypes.map(linkTypeLabel).join(', '), packets: f.packets, bytes: f.bytes,
        firstTs: f.firstTsSec === null ? null : f.firstTsSec + (f.firstTsNsec ?? 0) / 1e9,
        lastTs: f.lastTsSec === null ? null : f.lastTsSec + (f.lastTsNsec ?? 0) / 1e9,
        damaged: f.damaged,
      }),
    );
    const first = extreme(files, 1);
    const last = extreme(files, -1);
    await store.commit({
      path: captureKey(params.paths),
      format: [...new Set(files.map((f) => f.format))].join(', '),
      linkTypes: [...new Set(files.flatMap((f) => f.linkTypes))].map(linkTypeLabel).join(', '),
      packets: read.frames,
      tcpSegments,
      firstSec: first?.[0] ?? null,
      firstNsec: first?.[1] ?? null,
      lastSec: last?.[0] ?? null,
      lastNsec: last?.[1] ?? null,
      damaged: read.damage ? read.damage.message : null,
      options: { ...params.options, packets: params.packets },
      decodeStats: { ...decoder.stats, connections: tracker.stats.connections, peak_open_connections: tracker.stats.peakOpen, old_space_segments: tracker.stats.strays, acked_unseen_connections: tracker.stats.ackedUnseen },
      connections: store.connectionsWritten,
      version: VERSION,
    });
    return {
      captureId: store.captureId, files, damage: read.damage, frames: read.frames, tcpSegments, connections: store.connectionsWritten,
      peakOpen: tracker.stats.peakOpen, interrupted: false, seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    await store.close();
  }
}

function linkTypeLabel(lt: number): string {
  const name = linkTypeName(lt);
  return name ? `${lt} ${name}` : String(lt);
}

/** the earliest first timestamp (sign 1) or the latest last one (sign -1) over the files, exact to the ns */
function extreme(files: CaptureFileInfo[], sign: 1 | -1): [number, number] | null {
  let best: [number, number] | null = null;
  for (const f of files) {
    const sec = sign === 1 ? f.firstTsSec : f.lastTsSec;
    if (sec === null) continue;
    const v: [number, number] = [sec, (sign === 1 ? f.firstTsNsec : f.lastTsNsec) ?? 0];
    if (best === null || sign * (v[0] - best[0] || v[1] - best[1]) < 0) best = v;
  }
  return best;
}
