// Byte sources for the capture reader: a plain file (positional fs reads into the caller's
// chunk, no intermediate copy) and a stream (gzip via zlib, stdin) whose chunks are copied
// into the caller's chunk as they arrive.

import { open, type FileHandle } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';

export interface ByteSource {
  /** read up to len bytes into buf[off..]; 0 = end of input */
  read(buf: Uint8Array, off: number, len: number): Promise<number>;
  close(): Promise<void>;
  readonly gzip: boolean;
  /** on-disk size when known */
  readonly size: number | null;
  /** on-disk bytes consumed so far (compressed ones for gzip: comparable with size) */
  consumed(): number;
}

export class FileSource implements ByteSource {
  readonly gzip = false;
  private pos = 0;
  constructor(private fh: FileHandle, readonly size: number | null) {}
  consumed(): number {
    return this.pos;
  }
  async read(buf: Uint8Array, off: number, len: number): Promise<number> {
    const { bytesRead } = await this.fh.read(buf, off, len, null);
    this.pos += bytesRead;
    return bytesRead;
  }
  async close(): Promise<void> {
    await this.fh.close();
  }
}

export class StreamSource implements ByteSource {
  private it: AsyncIterator<Buffer>;
  private cur: Buffer | null = null;
  private curOff = 0;
  private done = false;
  private out = 0;
  /** `raw`: on-disk bytes read so far, when the stream decompresses a file */
  constructor(stream: AsyncIterable<Buffer>, readonly gzip: boolean, readonly size: number | null, private onClose?: () => void, private readonly raw?: () => number) {
    this.it = stream[Symbol.asyncIterator]();
  }
  consumed(): number {
    return this.raw ? this.raw() : this.out;
  }
  async read(buf: Uint8Array, off: number, len: number): Promise<number> {
    while (this.cur === null || this.curOff >= this.cur.length) {
      if (this.done) return 0;
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        return 0;
      }
      this.cur = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
      this.curOff = 0;
    }
    const n = Math.min(len, this.cur.length - this.curOff);
    buf.set(this.cur.subarray(this.curOff, this.curOff + n), off);
    this.curOff += n;
    this.out += n;
    return n;
  }
  async close(): Promise<void> {
    if (!this.done) {
      this.done = true;
      try {
        await this.it.return?.();
      } catch {
        /* ignore */
      }
    }
    this.onClose?.();
  }
}

const GZ_CHUNK = 1 << 20;
const FILE_HWM = 4 << 20;

function gunzip(src: Readable): AsyncIterable<Buffer> {
  const gz = createGunzip({ chunkSize: GZ_CHUNK });
  gz.on('error', () => {
    /* surfaced through the iterator */
  });
  src.on('error', (e) => gz.destroy(e));
  return src.pipe(gz);
}

/** Open a capture path ('-' = stdin). Throws the fs error (ENOENT, EISDIR...) before reading anything. */
export async function openSource(path: string): Promise<ByteSource> {
  if (path === '-') return openStdin();
  const fh = await open(path, 'r');
  try {
    const st = await fh.stat();
    if (st.isDirectory()) {
      const e = new Error(`${path}: is a directory`) as NodeJS.ErrnoException;
      e.code = 'EISDIR';
      e.path = path;
      throw e;
    }
    const head = new Uint8Array(2);
    const { bytesRead } = await fh.read(head, 0, 2, 0);
    if (bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b) {
      await fh.close();
      const rs = createReadStream(path, { highWaterMark: FILE_HWM });
      return new StreamSource(gunzip(rs), true, st.size, () => rs.destroy(), () => rs.bytesRead);
    }
    return new FileSource(fh, st.isFile() ? st.size : null);
  } catch (e) {
    await fh.close().catch(() => undefined);
    throw e;
  }
}

async function openStdin(): Promise<ByteSource> {
  const stdin = process.stdin;
  const it = (stdin as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) return new StreamSource((async function* () {})(), false, null);
  const head: Buffer = first.value;
  async function* rest(): AsyncGenerator<Buffer> {
    yield head;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  }
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
    return new StreamSource(gunzip(Readable.from(rest(), { objectMode: false })), true, null);
  }
  return new StreamSource(rest(), false, null);
}
