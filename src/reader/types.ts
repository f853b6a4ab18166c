// Contract between the capture reader and everything downstream.
// The reader pushes one Frame per packet record; the object and the bytes it points
// at are reused and only valid during the sink call (copy what you keep).

export interface Frame {
  /** 1-based record number in the run's timeline. One file: Wireshark's frame number.
   *  Several files: the number `mergecap -w merged files...` would give. */
  frame: number;
  /** index of the file in the run's path list */
  fileIndex: number;
  /** integer Unix seconds (may exceed 2^32 for pcapng) */
  tsSec: number;
  /** 0..999_999_999 */
  tsNsec: number;
  /** LINKTYPE_* value of the record's interface */
  linkType: number;
  /** backing chunk; the packet is buf[off, off + caplen) */
  buf: Uint8Array;
  off: number;
  caplen: number;
  origLen: number;
  /** byte offset of the record header in its (decompressed) file, for messages */
  fileOffset: number;
  /** decimal digits the record's timestamp resolution needs: 6 (microsecond or coarser) or 9 */
  tsDigits?: number;
}

export type FrameSink = (f: Frame) => void;

export interface CaptureFileInfo {
  path: string;
  /** 'pcap' | 'pcap-ns' | 'pcapng' (suffix '+gzip' when compressed) */
  format: string;
  /** distinct LINKTYPE_* values seen in headers / interface blocks */
  linkTypes: number[];
  packets: number;
  /** bytes consumed from the (decompressed) file */
  bytes: number;
  firstTsSec: number | null;
  firstTsNsec: number | null;
  lastTsSec: number | null;
  lastTsNsec: number | null;
  /** one-line description of the damage that stopped reading, or null */
  damaged: string | null;
  /** records Wireshark numbers as frames but that hold no packet (pcapng custom blocks) */
  nonPacketRecords?: number;
}

export interface ReadProgress {
  /** on-disk bytes read (compressed ones for a gzip file) */
  bytesRead: number;
  /** sum of on-disk file sizes when known (not for stdin) */
  totalBytes: number | null;
  frames: number;
}

export interface ReadOptions {
  /** called every few MB, never per frame */
  onProgress?: (p: ReadProgress) => void;
  /** stop early (Ctrl-C): the reader returns what it has */
  signal?: AbortSignal;
  /** awaited before each chunk is read: a consumer that cannot keep up holds reading back */
  pace?: () => Promise<void> | undefined;
  /** called after each chunk is read (about 1 MB): cheap housekeeping that must not wait for onProgress */
  onChunk?: () => void;
}

export interface ReadResult {
  files: CaptureFileInfo[];
  frames: number;
  /** first damage met, if any (the same text is in files[i].damaged) */
  damage: CaptureError | null;
}

/** Damage or unreadable input: names the file, the frame and the byte offset. */
export class CaptureError extends Error {
  constructor(
    readonly file: string,
    /** frame number being read when the damage was met (1-based; 0 = file header) */
    readonly frameNo: number,
    readonly offset: number,
    readonly detail: string,
  ) {
    super(`${file}: ${frameNo > 0 ? `frame ${frameNo}, ` : ''}byte offset ${offset}: ${detail}`);
    this.name = 'CaptureError';
  }
}
