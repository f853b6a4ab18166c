// Capture reader: streams one or more capture files and pushes every packet record, in
// timeline order, to a synchronous sink.
//
// Several files are one timeline: a k-way merge by timestamp of each file's next record;
// records of one file keep their file order (a file whose clock goes backwards is not
// re-sorted). Ties go to the file listed LAST: that is what `mergecap -w out in1 in2 ...`
// (Wireshark 4.0) does — merge.c scans the inputs in command-line order and takes a later
// input when its head record is earlier *or equal* — checked against mergecap in
// test/reader.pcap.test.ts. So frame numbers equal the merged file's frame numbers.
// One file: non-packet records that Wireshark lists as frames (pcapng custom blocks,
// systemd journal blocks) take a frame number. With several files they are dropped from
// the numbering (mergecap has no timestamp to place them by).

import { CaptureError, type CaptureFileInfo, type FrameSink, type ReadOptions, type ReadResult } from './types.js';
import { openSource, type ByteSource } from './source.js';
import { FileReader, FRAME, NEED, NONPACKET } from './file-reader.js';

export * from './types.js';
export { PCAP_MAX_CAPLEN } from './file-reader.js';

/** A path could not be opened: nothing was read. */
export class CaptureOpenError extends Error {
  constructor(readonly file: string, readonly detail: string) {
    super(`${file}: ${detail}`);
    this.name = 'CaptureOpenError';
  }
}

export interface ReaderInternalOptions {
  /** chunk size in bytes (tests use tiny chunks to exercise records straddling chunks) */
  chunkSize?: number;
}

const PROGRESS_EVERY = 4 << 20;

function openErrorText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory';
  return e instanceof Error ? e.message : String(e);
}

export async function readCaptures(
  paths: string[],
  sink: FrameSink,
  opts: ReadOptions & ReaderInternalOptions = {},
): Promise<ReadResult> {
  if (paths.length === 0) throw new CaptureOpenError('(none)', 'no capture file given');
  if (paths.filter((p) => p === '-').length > 1) throw new CaptureOpenError('-', 'standard input can be read only once');
  // open everything first: a wrong path fails before anything is read
  const sources: ByteSource[] = [];
  try {
    for (const p of paths) {
      try {
        sources.push(await openSource(p));
      } catch (e) {
        throw new CaptureOpenError(p === '-' ? '(stdin)' : p, openErrorText(e));
      }
    }
  } catch (e) {
    await Promise.all(sources.map((s) => s.close().catch(() => undefined)));
    throw e;
  }
  let totalBytes: number | null = 0;
  for (const s of sources) totalBytes = s.size === null || totalBytes === null ? null : totalBytes + s.size;

  const readers = sources.map((s, i) => new FileReader(s, paths[i] === '-' ? '(stdin)' : paths[i], i, opts.chunkSize));
  const st = { frames: 0, nextProgress: PROGRESS_EVERY };
  const bytesOnDisk = (): number => readers.reduce((sum, r) => sum + r.bytesOnDisk, 0);
  const progress = (): void => {
    if (!opts.onProgress) return;
    const bytesRead = bytesOnDisk();
    if (bytesRead >= st.nextProgress) {
      st.nextProgress = bytesRead + PROGRESS_EVERY;
      opts.onProgress({ bytesRead, totalBytes, frames: st.frames });
    }
  };
  /** the next chunk of r, once a slow consumer has caught up (pace); false when stopped (Ctrl-C) */
  const refill: Refill = async (r) => {
    if (opts.pace) await opts.pace();
    if (opts.signal?.aborted === true) return false;
    await r.refill();
    opts.onChunk?.();
    progress();
    return true;
  };

  try {
    if (readers.length === 1) {
      const r = readers[0];
      const f = r.frame;
      let n = 0;
      for (;;) {
        const k = r.next();
        if (k === FRAME) {
          f.frame = ++n;
          sink(f);
        } else if (k === NONPACKET) {
          n++;
        } else if (k === NEED) {
          st.frames = n;
          if (!(await refill(r))) break;
        } else break;
      }
      st.frames = n;
    } else {
      await merge(readers, sink, st, refill);
    }
  } finally {
    for (const r of readers) await r.close().catch(() => undefined);
  }
  const files: CaptureFileInfo[] = readers.map((r) => r.info);
  let damage: CaptureError | null = null;
  for (const r of readers) {
    if (r.damage) {
      damage = r.damage;
      break;
    }
  }
  if (opts.onProgress) opts.onProgress({ bytesRead: bytesOnDisk(), totalBytes, frames: st.frames });
  return { files, frames: st.frames, damage };
}

/** reads a reader's next chunk; false when reading stops */
type Refill = (r: FileReader) => Promise<boolean>;

/** advance a reader to its next record; false when it has none */
async function advance(r: FileReader, refill: Refill): Promise<boolean> {
  for (;;) {
    const k = r.next();
    if (k === FRAME) return true;
    if (k === NONPACKET) continue;
    if (k !== NEED || !(await refill(r))) return false;
  }
}

async function merge(readers: FileReader[], sink: FrameSink, st: { frames: number }, refill: Refill): Promise<void> {
  const k = readers.length;
  const live = new Array<boolean>(k);
  for (let i = 0; i < k; i++) live[i] = await advance(readers[i], refill);
  let n = 0;
  for (;;) {
    let best = -1;
    let bs = 0;
    let bn = 0;
    for (let i = 0; i < k; i++) {
      if (!live[i]) continue;
      const f = readers[i].frame;
      if (best < 0 || f.tsSec < bs || (f.tsSec === bs && f.tsNsec <= bn)) {
        best = i;
        bs = f.tsSec;
        bn = f.tsNsec;
      }
    }
    if (best < 0) break;
    const r = readers[best];
    r.frame.frame = ++n;
    st.frames = n;
    sink(r.frame);
    // fast path: the next record is usually already in the chunk
    const nk = r.next();
    if (nk === FRAME) continue;
    if (nk === NONPACKET) {
      live[best] = await advance(r, refill);
      continue;
    }
    live[best] = nk === NEED && (await refill(r)) && (await advance(r, refill));
  }
}
