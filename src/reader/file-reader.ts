// One capture file: format detection, classic pcap (all variants we accept) and pcapng.
// Pull API used by the driver in index.ts:
//   next()   -> FRAME (this.frame holds the record), NEED (call refill()), END (done or damaged)
// Two chunks alternate: while the records of one are parsed, the next chunk is already being
// read into the other (a file read runs on libuv's pool, a gzip or stdin stream keeps flowing),
// so parsing does not wait for the disk or the page-cache copy. Each chunk starts with HEADROOM
// bytes where the unread tail of the previous chunk (a record straddling the boundary) is
// copied. No allocation per record.

import { CaptureError, type CaptureFileInfo, type Frame } from './types.js';
import type { ByteSource } from './source.js';

export const FRAME = 1;
export const NEED = 0;
export const END = -1;
/** a record that Wireshark numbers as a frame but that holds no packet (custom block...) */
export const NONPACKET = 2;

/** libpcap's / Wireshark's largest plausible classic-pcap record (WTAP_MAX_PACKET_SIZE_STANDARD) */
export const PCAP_MAX_CAPLEN = 262144;
/** largest pcapng block we accept (Wireshark allows ~128 MiB for D-Bus; captures of TCP never need it) */
export const PCAPNG_MAX_BLOCK = 128 << 20;
const DEFAULT_CHUNK = 1 << 20;
/** room before a chunk's data for the previous chunk's unread tail: one classic-pcap record */
const HEADROOM = PCAP_MAX_CAPLEN + 64;

type ReadResult = { n: number; err: null } | { n: 0; err: unknown };

const ST_START = 0;
const ST_PCAP = 1;
const ST_PCAPNG = 2;
const ST_END = 3;

// timestamp conversion modes of a pcapng interface
const TS_POW10 = 0; // units = 10^k, k <= 11: exact with 16-bit limb division
const TS_POW2 = 1; // units = 2^k, k <= 23: exact with doubles
const TS_BIG = 2; // anything else: BigInt (exotic resolutions only)

const SHB = 0x0a0d0d0a;
const IDB = 1;
const PB = 2;
const SPB = 3;
const EPB = 6;

interface Iface {
  linkType: number;
  snaplen: number;
  mode: number;
  /** units per second (TS_POW10) */
  units: number;
  /** multiplier from remainder ticks to ns when units <= 1e9, else 0 */
  nsMul: number;
  /** 2^k exponent (TS_POW2) */
  shift: number;
  unitsBig: bigint;
  offsetSec: number;
  digits: number;
}

export class FileReader {
  buf: Uint8Array;
  pos = 0;
  end = 0;
  /** file offset of buf[0] */
  base = 0;
  eof = false;
  need = 0;
  state = ST_START;
  readonly frame: Frame & { tsDigits: number };
  readonly info: Required<CaptureFileInfo>;
  damage: CaptureError | null = null;
  /** on-disk bytes read so far (compressed ones for gzip) */
  get bytesOnDisk(): number {
    return this.src.consumed();
  }
  private readonly chunk: number;
  /** the other chunk, and the read into it (at HEADROOM) that is under way */
  private spare: Uint8Array;
  private ahead: Promise<ReadResult> | null = null;

  // classic pcap
  private le = true;
  private recHdr = 16;
  private nano = false;
  /** 0 = lengths in order, 1 = swapped (pre-2.3), 2 = maybe swapped (2.3) */
  private swapMode = 0;
  private linkType = 0;

  // pcapng
  private ifaces: Iface[] = [];
  private sectionNo = 0;

  constructor(
    private src: ByteSource,
    readonly path: string,
    fileIndex: number,
    chunkSize = DEFAULT_CHUNK,
  ) {
    this.chunk = chunkSize;
    this.buf = new Uint8Array(HEADROOM + chunkSize);
    this.spare = new Uint8Array(HEADROOM + chunkSize);
    this.frame = {
      frame: 0,
      fileIndex,
      tsSec: 0,
      tsNsec: 0,
      linkType: 0,
      buf: this.buf,
      off: 0,
      caplen: 0,
      origLen: 0,
      fileOffset: 0,
      tsDigits: 6,
    };
    this.info = {
      path,
      format: 'unknown',
      linkTypes: [],
      packets: 0,
      bytes: 0,
      firstTsSec: null,
      firstTsNsec: null,
      lastTsSec: null,
      lastTsNsec: null,
      damaged: null,
      nonPacketRecords: 0,
    };
  }

  /** Read more bytes so that at least `need` bytes are available from pos (or EOF). */
  async refill(): Promise<void> {
    try {
      const tail = this.end - this.pos;
      if (this.ahead !== null && tail <= HEADROOM) {
        // the usual case: the next chunk is (being) read into the spare; the tail goes before it
        const r = await this.take();
        const b = this.spare;
        const at = HEADROOM - tail;
        if (tail > 0) b.set(this.buf.subarray(this.pos, this.end), at);
        this.spare = this.buf;
        this.buf = b;
        this.frame.buf = b;
        this.base += this.end - HEADROOM;
        this.pos = at;
        this.end = HEADROOM + r;
      } else {
        if (this.pos > 0) {
          if (tail > 0) this.buf.copyWithin(0, this.pos, this.end);
          this.base += this.pos;
          this.end = tail;
          this.pos = 0;
        }
        if (this.ahead !== null) {
          // a tail longer than the headroom (a large pcapng block): append the chunk read ahead
          const r = await this.take();
          this.grow(this.end + r);
          this.buf.set(this.spare.subarray(HEADROOM, HEADROOM + r), this.end);
          this.end += r;
        }
      }
      this.grow(this.pos + this.need);
      while (this.end - this.pos < this.need && !this.eof) {
        const want = Math.max(this.chunk, this.pos + this.need - this.end);
        const n = await this.src.read(this.buf, this.end, Math.min(want, this.buf.length - this.end));
        if (n === 0) this.eof = true;
        this.end += n;
      }
    } catch (e) {
      // a decompression or I/O error mid-file: keep what was read, stop here
      this.eof = true;
      const msg = e instanceof Error ? e.message : String(e);
      this.fail(this.base + this.end, `${this.src.gzip ? 'gzip: ' : ''}${msg}`, this.info.packets + 1);
    }
    if (!this.eof) {
      // errors are kept in the result, not left as a rejected promise nobody awaits yet
      this.ahead = this.src.read(this.spare, HEADROOM, this.chunk).then(
        (n): ReadResult => ({ n, err: null }),
        (err: unknown): ReadResult => ({ n: 0, err }),
      );
    }
  }

  /** the chunk read ahead: its length (0 = end of input) */
  private async take(): Promise<number> {
    const r = await this.ahead!;
    this.ahead = null;
    if (r.err !== null) throw r.err;
    if (r.n === 0) this.eof = true;
    return r.n;
  }

  /** room for `size` bytes in buf (a record larger than a chunk) */
  private grow(size: number): void {
    if (size <= this.buf.length) return;
    const nb = new Uint8Array(Math.max(size, this.buf.length * 2));
    nb.set(this.buf.subarray(0, this.end));
    this.buf = nb;
    this.frame.buf = nb;
  }

  async close(): Promise<void> {
    this.info.bytes = this.base + this.pos;
    if (this.ahead !== null) await this.ahead;
    this.ahead = null;
    await this.src.close();
  }

  private fail(offset: number, detail: string, frameNo = this.info.packets + 1): number {
    if (this.damage === null) {
      this.damage = new CaptureError(this.path, frameNo, offset, detail);
      this.info.damaged = this.damage.message;
    }
    this.state = ST_END;
    return END;
  }

  private addLinkType(lt: number): void {
    if (this.info.linkTypes.indexOf(lt) < 0) this.info.linkTypes.push(lt);
  }

  next(): number {
    switch (this.state) {
      case ST_PCAP:
        return this.nextPcap();
      case ST_PCAPNG:
        return this.nextPcapng();
      case ST_START:
        return this.start();
      default:
        return END;
    }
  }

  private start(): number {
    const avail = this.end - this.pos;
    if (avail < 24 && !this.eof) {
      this.need = 24;
      return NEED;
    }
    if (avail === 0) {
      // zero-byte file: nothing to read (tshark reads it as an empty capture)
      this.info.format = 'empty' + (this.src.gzip ? '+gzip' : '');
      this.state = ST_END;
      return END;
    }
    const b = this.buf;
    const p = this.pos;
    const gz = this.src.gzip ? '+gzip' : '';
    if (avail < 4) return this.fail(0, `not a pcap or pcapng capture (only ${avail} bytes)`, 0);
    const m = ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
    if (m === SHB) {
      this.info.format = 'pcapng' + gz;
      this.state = ST_PCAPNG;
      return this.nextPcapng();
    }
    let le: boolean;
    let kind: string;
    switch (m) {
      case 0xa1b2c3d4: le = false; kind = 'us'; break;
      case 0xd4c3b2a1: le = true; kind = 'us'; break;
      case 0xa1b23c4d: le = false; kind = 'ns'; break;
      case 0x4d3cb2a1: le = true; kind = 'ns'; break;
      case 0xa1b2cd34: le = false; kind = 'mod'; break;
      case 0x34cdb2a1: le = true; kind = 'mod'; break;
      default:
        return this.fail(0, `not a pcap or pcapng capture (starts with 0x${m.toString(16).padStart(8, '0')})`, 0);
    }
    if (avail < 24) return this.fail(0, `pcap file header truncated (${avail} of 24 bytes)`, 0);
    this.le = le;
    const major = this.u16(p + 4);
    const minor = this.u16(p + 6);
    // Policy: major 2 with any minor is read (as tshark does; libpcap refuses minor > 4),
    // other majors are refused (as both do). Minor < 3: caplen/len are swapped in every
    // record header; minor 3: swapped when caplen > len (libpcap's and Wireshark's rule).
    if (major !== 2) return this.fail(4, `unsupported pcap version ${major}.${minor}`, 0);
    this.swapMode = minor < 3 ? 1 : minor === 3 ? 2 : 0;
    const ltField = this.u32(p + 20);
    if ((ltField & 0x03ff0000) !== 0) {
      return this.fail(20, `pcap link-type field has reserved bits set (0x${ltField.toString(16).padStart(8, '0')})`, 0);
    }
    this.linkType = ltField & 0xffff;
    this.addLinkType(this.linkType);
    this.frame.linkType = this.linkType;
    this.nano = kind === 'ns';
    this.frame.tsDigits = this.nano ? 9 : 6;
    this.recHdr = kind === 'mod' ? 24 : 16;
    this.info.format = (kind === 'ns' ? 'pcap-ns' : kind === 'mod' ? 'pcap-modified' : 'pcap') + gz;
    this.pos = p + 24;
    this.state = ST_PCAP;
    return this.nextPcap();
  }

  private u16(o: number): number {
    const b = this.buf;
    return this.le ? b[o] | (b[o + 1] << 8) : (b[o] << 8) | b[o + 1];
  }

  private u32(o: number): number {
    const b = this.buf;
    return this.le
      ? (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0
      : ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
  }

  private nextPcap(): number {
    const p = this.pos;
    const hl = this.recHdr;
    const avail = this.end - p;
    if (avail < hl) {
      if (!this.eof) {
        this.need = hl;
        return NEED;
      }
      if (avail === 0) {
        this.state = ST_END;
        return END;
      }
      return this.fail(this.base + p, `truncated record header: the file ends ${avail} bytes into a ${hl}-byte record header`);
    }
    const secRaw = this.u32(p);
    const frac = this.u32(p + 4);
    let incl = this.u32(p + 8);
    let orig = this.u32(p + 12);
    if (this.swapMode === 1 || (this.swapMode === 2 && incl > orig)) {
      const t = incl;
      incl = orig;
      orig = t;
    }
    if (incl > PCAP_MAX_CAPLEN) {
      return this.fail(this.base + p, `record claims a ${incl}-byte packet, more than the ${PCAP_MAX_CAPLEN}-byte maximum (damaged or not a capture)`);
    }
    if (avail < hl + incl) {
      if (!this.eof) {
        this.need = hl + incl;
        return NEED;
      }
      return this.fail(this.base + p, `truncated record: the file ends ${avail - hl} bytes into a ${incl}-byte packet`);
    }
    const f = this.frame;
    // ts_sec is signed 32-bit (libpcap's struct pcap_timeval, Wireshark); the fraction is
    // turned into ns in 32-bit signed arithmetic like Wireshark (usec * 1000), then normalised.
    let sec = secRaw | 0;
    let ns = this.nano ? frac | 0 : Math.imul(frac, 1000);
    if (ns < 0 || ns >= 1e9) {
      const carry = Math.floor(ns / 1e9);
      sec += carry;
      ns -= carry * 1e9;
    }
    f.tsSec = sec;
    f.tsNsec = ns;
    f.off = p + hl;
    f.caplen = incl;
    f.origLen = orig;
    f.fileOffset = this.base + p;
    this.pos = p + hl + incl;
    this.count();
    return FRAME;
  }

  private count(): void {
    const info = this.info;
    const f = this.frame;
    if (info.packets++ === 0) {
      info.firstTsSec = f.tsSec;
      info.firstTsNsec = f.tsNsec;
    }
    info.lastTsSec = f.tsSec;
    info.lastTsNsec = f.tsNsec;
  }

  private nextPcapng(): number {
    for (;;) {
      const p = this.pos;
      const avail = this.end - p;
      const b = this.buf;
      if (avail < 12) {
        if (!this.eof) {
          this.need = 12;
          return NEED;
        }
        if (avail === 0) {
          this.state = ST_END;
          return END;
        }
        if (avail < 8 || this.sectionNo === 0) {
          return this.fail(this.base + p, `truncated block header: the file ends ${avail} bytes into a block`);
        }
      }
      let type = ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
      if (type === SHB) {
        if (avail < 12) return this.fail(this.base + p, `truncated section header block`);
        const bom = ((b[p + 8] << 24) | (b[p + 9] << 16) | (b[p + 10] << 8) | b[p + 11]) >>> 0;
        if (bom === 0x1a2b3c4d) this.le = false;
        else if (bom === 0x4d3c2b1a) this.le = true;
        else return this.fail(this.base + p, `section header block has a bad byte-order magic 0x${bom.toString(16)}`);
      } else {
        if (this.sectionNo === 0) return this.fail(this.base + p, 'pcapng file does not start with a section header block');
        type = this.u32(p);
      }
      const len = this.u32(p + 4);
      if (len < 12) return this.fail(this.base + p, `bad block length ${len} (block type 0x${type.toString(16)})`);
      // Block lengths that are not a multiple of 4 are rounded up (Wireshark does the same:
      // old NTAR files wrote the unpadded length).
      const L = (len + 3) & ~3;
      if (L > PCAPNG_MAX_BLOCK || L < 0) return this.fail(this.base + p, `implausible block length ${len} (block type 0x${type.toString(16)})`);
      if (avail < L) {
        if (!this.eof) {
          this.need = L;
          return NEED;
        }
        return this.fail(this.base + p, `truncated block: the file ends ${avail} bytes into a ${len}-byte block (type 0x${type.toString(16)})`);
      }
      const trailer = this.u32(p + L - 4);
      if (((trailer + 3) & ~3) !== L) {
        return this.fail(this.base + p, `block length mismatch: header says ${len}, trailer says ${trailer} (block type 0x${type.toString(16)})`);
      }
      switch (type) {
        case SHB: {
          if (L < 28) return this.fail(this.base + p, `section header block too short (${len} bytes)`);
          const major = this.u16(p + 12);
          const minor = this.u16(p + 14);
          if (major !== 1 || minor !== 0) {
            return this.fail(this.base + p, `unsupported pcapng section version ${major}.${minor}`);
          }
          this.sectionNo++;
          this.ifaces = [];
          break;
        }
        case IDB: {
          if (L < 20) return this.fail(this.base + p, `interface description block too short (${len} bytes)`);
          const r = this.parseIdb(p, L);
          if (r !== null) return this.fail(this.base + p, r);
          break;
        }
        case EPB:
        case PB: {
          if (L < 32) return this.fail(this.base + p, `packet block too short (${len} bytes)`);
          const ifid = type === EPB ? this.u32(p + 8) : this.u16(p + 8);
          const ifc = this.ifaces[ifid];
          if (ifc === undefined) return this.fail(this.base + p, `packet on undefined interface ${ifid} (section has ${this.ifaces.length})`);
          const caplen = this.u32(p + 20);
          if (caplen > L - 32) return this.fail(this.base + p, `packet length ${caplen} runs past its ${len}-byte block`);
          const f = this.frame;
          this.ticks(ifc, this.u32(p + 12), this.u32(p + 16));
          f.linkType = ifc.linkType;
          f.tsDigits = ifc.digits;
          f.off = p + 28;
          f.caplen = caplen;
          f.origLen = this.u32(p + 24);
          f.fileOffset = this.base + p;
          this.pos = p + L;
          this.count();
          return FRAME;
        }
        case SPB: {
          if (L < 16) return this.fail(this.base + p, `simple packet block too short (${len} bytes)`);
          const ifc = this.ifaces[0];
          if (ifc === undefined) return this.fail(this.base + p, 'simple packet block with no interface defined');
          const orig = this.u32(p + 8);
          let caplen = Math.min(orig, L - 16);
          if (ifc.snaplen > 0 && caplen > ifc.snaplen) caplen = ifc.snaplen;
          // the block must end right after the (padded) packet data, as Wireshark checks
          if (12 + ((caplen + 3) & ~3) + 4 !== L) {
            return this.fail(this.base + p, `simple packet block length ${len} does not match its ${caplen}-byte packet`);
          }
          const f = this.frame;
          // no timestamp in an SPB
          f.tsSec = 0;
          f.tsNsec = 0;
          f.linkType = ifc.linkType;
          f.tsDigits = ifc.digits;
          f.off = p + 12;
          f.caplen = caplen;
          f.origLen = orig;
          f.fileOffset = this.base + p;
          this.pos = p + L;
          this.count();
          return FRAME;
        }
        case 0x00000bad:
        case 0x40000bad:
        case 0x00000009:
          // Custom blocks and systemd journal entries: Wireshark shows them as frames
          // (numbered, no packet), so they take a frame number but reach no sink.
          this.pos = p + L;
          this.info.nonPacketRecords++;
          return NONPACKET;
        default:
          // NRB, ISB, DSB, unknown: skipped
          break;
      }
      this.pos = p + L;
    }
  }

  /** returns an error text or null */
  private parseIdb(p: number, L: number): string | null {
    const lt = this.u16(p + 8);
    const snaplen = this.u32(p + 12);
    let tsresol = 6;
    let offsetSec = 0;
    let o = p + 16;
    const oe = p + L - 4;
    const b = this.buf;
    while (o + 4 <= oe) {
      const code = this.u16(o);
      const olen = this.u16(o + 2);
      if (code === 0) break;
      if (o + 4 + olen > oe) return `interface option ${code} of length ${olen} runs past its block`;
      if (code === 9 && olen >= 1) tsresol = b[o + 4];
      else if (code === 14 && olen >= 8) {
        const lo = this.u32(this.le ? o + 4 : o + 8);
        const hi = this.u32(this.le ? o + 8 : o + 4) | 0;
        offsetSec = hi * 4294967296 + lo;
      }
      o += 4 + ((olen + 3) & ~3);
    }
    const ifc: Iface = { linkType: lt, snaplen, mode: TS_POW10, units: 1e6, nsMul: 1000, shift: 0, unitsBig: 0n, offsetSec, digits: 6 };
    if (tsresol & 0x80) {
      const k = tsresol & 0x7f;
      ifc.shift = k;
      ifc.digits = k <= 6 ? 6 : 9;
      if (k <= 23) ifc.mode = TS_POW2;
      else {
        ifc.mode = TS_BIG;
        ifc.unitsBig = 1n << BigInt(k);
      }
    } else {
      const k = tsresol;
      ifc.digits = k <= 6 ? 6 : 9;
      if (k <= 11) {
        ifc.mode = TS_POW10;
        ifc.units = 10 ** k;
        ifc.nsMul = k <= 9 ? 10 ** (9 - k) : 0;
      } else {
        ifc.mode = TS_BIG;
        ifc.unitsBig = 10n ** BigInt(k);
      }
    }
    this.ifaces.push(ifc);
    this.addLinkType(lt);
    return null;
  }

  /** 64-bit tick count (hi, lo) of an interface -> frame.tsSec/tsNsec, exact to the ns (floor). */
  private ticks(ifc: Iface, hi: number, lo: number): void {
    const f = this.frame;
    let sec: number;
    let ns: number;
    if (ifc.mode === TS_POW10) {
      const D = ifc.units;
      let rem: number;
      if (hi < 2097152) {
        // < 2^53: exact in a double
        const t = hi * 4294967296 + lo;
        sec = Math.floor(t / D);
        rem = t - sec * D;
      } else {
        // long division in 16-bit limbs; every intermediate stays below 2^53 for D <= 2^37
        let x = hi >>> 16;
        const q3 = Math.floor(x / D);
        let r = x - q3 * D;
        x = r * 65536 + (hi & 0xffff);
        const q2 = Math.floor(x / D);
        r = x - q2 * D;
        x = r * 65536 + (lo >>> 16);
        const q1 = Math.floor(x / D);
        r = x - q1 * D;
        x = r * 65536 + (lo & 0xffff);
        const q0 = Math.floor(x / D);
        rem = x - q0 * D;
        sec = ((q3 * 65536 + q2) * 65536 + q1) * 65536 + q0;
      }
      ns = ifc.nsMul !== 0 ? rem * ifc.nsMul : Math.floor(rem / (D / 1e9));
    } else if (ifc.mode === TS_POW2) {
      const k = ifc.shift;
      const scale = 2 ** k;
      if (hi < 2097152) {
        const t = hi * 4294967296 + lo;
        sec = Math.floor(t / scale);
        const frac = t - sec * scale;
        ns = Math.floor((frac * 1e9) / scale);
      } else {
        // k <= 23: the fraction lives in lo
        sec = hi * (4294967296 / scale) + Math.floor(lo / scale);
        const frac = lo % scale;
        ns = Math.floor((frac * 1e9) / scale);
      }
    } else {
      const t = (BigInt(hi) << 32n) | BigInt(lo);
      const u = ifc.unitsBig;
      sec = Number(t / u);
      ns = Number(((t % u) * 1000000000n) / u);
    }
    f.tsSec = sec + ifc.offsetSec;
    f.tsNsec = ns;
  }
}
