// Tiny capture writers for variants no tool here writes: classic pcap in either byte order /
// version / link-type field, and pcapng with arbitrary blocks (big-endian sections, several
// sections, power-of-2 if_tsresol, if_tsoffset, SPB, obsolete PB, damage).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { formatsDir } from './env.ts';
import { collect } from './collect.ts';

export interface Rec {
  sec: number;
  frac: number;
  data: Uint8Array;
  orig?: number;
}

export interface PcapOpts {
  be?: boolean;
  nano?: boolean;
  linkType?: number;
  /** raw link-type field (overrides linkType) */
  linkField?: number;
  major?: number;
  minor?: number;
  /** write caplen/len in swapped order (pre-2.3 files) */
  swapLens?: boolean;
  magic?: number;
}

export function pcapFile(recs: Rec[], o: PcapOpts = {}): Buffer {
  const be = o.be ?? false;
  const parts: Buffer[] = [];
  const h = Buffer.alloc(24);
  const w32 = (b: Buffer, v: number, off: number): number => (be ? b.writeUInt32BE(v >>> 0, off) : b.writeUInt32LE(v >>> 0, off));
  const w16 = (b: Buffer, v: number, off: number): number => (be ? b.writeUInt16BE(v, off) : b.writeUInt16LE(v, off));
  w32(h, o.magic ?? (o.nano ? 0xa1b23c4d : 0xa1b2c3d4), 0);
  w16(h, o.major ?? 2, 4);
  w16(h, o.minor ?? 4, 6);
  w32(h, 262144, 16);
  w32(h, o.linkField ?? o.linkType ?? 1, 20);
  parts.push(h);
  for (const r of recs) {
    const rh = Buffer.alloc(16);
    w32(rh, r.sec, 0);
    w32(rh, r.frac, 4);
    const orig = r.orig ?? r.data.length;
    w32(rh, o.swapLens ? orig : r.data.length, 8);
    w32(rh, o.swapLens ? r.data.length : orig, 12);
    parts.push(rh, Buffer.from(r.data));
  }
  return Buffer.concat(parts);
}

/** pcapng block builder for one section's byte order */
export class Ng {
  private parts: Buffer[] = [];
  constructor(private be = false) {}
  private u32(v: number): Buffer {
    const b = Buffer.alloc(4);
    if (this.be) b.writeUInt32BE(v >>> 0);
    else b.writeUInt32LE(v >>> 0);
    return b;
  }
  private u16(v: number): Buffer {
    const b = Buffer.alloc(2);
    if (this.be) b.writeUInt16BE(v);
    else b.writeUInt16LE(v);
    return b;
  }
  private pad(b: Uint8Array): Buffer {
    const n = (4 - (b.length % 4)) % 4;
    return Buffer.concat([Buffer.from(b), Buffer.alloc(n)]);
  }
  /** raw block; lenOverride / trailerOverride to damage it */
  block(type: number, body: Buffer, lenOverride?: number, trailerOverride?: number): this {
    const len = 12 + body.length;
    this.parts.push(this.u32(type), this.u32(lenOverride ?? len), body, this.u32(trailerOverride ?? lenOverride ?? len));
    return this;
  }
  option(code: number, value: Uint8Array): Buffer {
    return Buffer.concat([this.u16(code), this.u16(value.length), this.pad(value)]);
  }
  shb(major = 1, minor = 0): this {
    const body = Buffer.concat([this.u32(0x1a2b3c4d), this.u16(major), this.u16(minor), Buffer.alloc(8, 0xff)]);
    // the byte-order magic must be written in this section's order
    return this.block(0x0a0d0d0a, body);
  }
  idb(linkType: number, snaplen = 0, opts: { tsresol?: number; tsoffset?: bigint } = {}): this {
    const o: Buffer[] = [];
    if (opts.tsresol !== undefined) o.push(this.option(9, Uint8Array.of(opts.tsresol)));
    if (opts.tsoffset !== undefined) {
      const b = Buffer.alloc(8);
      if (this.be) b.writeBigInt64BE(opts.tsoffset);
      else b.writeBigInt64LE(opts.tsoffset);
      o.push(this.option(14, b));
    }
    if (o.length) o.push(Buffer.alloc(4));
    return this.block(1, Buffer.concat([this.u16(linkType), this.u16(0), this.u32(snaplen), ...o]));
  }
  /** Enhanced Packet Block with a 64-bit tick count */
  epb(ifid: number, ticks: bigint, data: Uint8Array, orig = data.length): this {
    const hi = Number(ticks >> 32n);
    const lo = Number(ticks & 0xffffffffn);
    return this.block(6, Buffer.concat([this.u32(ifid), this.u32(hi), this.u32(lo), this.u32(data.length), this.u32(orig), this.pad(data)]));
  }
  /** obsolete Packet Block (type 2) */
  pb(ifid: number, ticks: bigint, data: Uint8Array, orig = data.length): this {
    const hi = Number(ticks >> 32n);
    const lo = Number(ticks & 0xffffffffn);
    return this.block(2, Buffer.concat([this.u16(ifid), this.u16(0), this.u32(hi), this.u32(lo), this.u32(data.length), this.u32(orig), this.pad(data)]));
  }
  spb(data: Uint8Array, orig = data.length): this {
    return this.block(3, Buffer.concat([this.u32(orig), this.pad(data)]));
  }
  raw(b: Uint8Array): this {
    this.parts.push(Buffer.from(b));
    return this;
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** the records of a real capture (read by the reader, which the tshark tests cross-check) */
export async function realRecords(name = 'lo-eth.pcap'): Promise<Rec[]> {
  const c = await collect([path.join(formatsDir, name)], { keepBytes: true });
  const nano = name.includes('nano');
  return c.records.map((r) => ({ sec: r.tsSec, frac: nano ? r.tsNsec : Math.floor(r.tsNsec / 1000), data: r.bytes!, orig: r.origLen }));
}

export function fileBytes(name: string): Buffer {
  return readFileSync(path.join(formatsDir, name));
}

/** Ethernet frame -> same frame with VLAN tags (tpid list, outermost first) inserted after the MACs */
export function withTags(eth: Uint8Array, tpids: number[]): Uint8Array {
  const tags = Buffer.alloc(4 * tpids.length);
  tpids.forEach((t, i) => {
    tags.writeUInt16BE(t, 4 * i);
    tags.writeUInt16BE(100 + i, 4 * i + 2);
  });
  // each tag's inner type is the next tag's TPID; the last carries the original ethertype
  const out = Buffer.concat([Buffer.from(eth.subarray(0, 12)), tags, Buffer.from(eth.subarray(12))]);
  // fix: place TPIDs at 12, 16, ...; the ethertype follows the last tag
  for (let i = 0; i < tpids.length; i++) out.writeUInt16BE(tpids[i], 12 + 4 * i);
  return out;
}

/** Ethernet frame -> PPPoE session frame (ethertype 0x8864, PPP protocol for IPv4/IPv6) */
export function withPppoe(eth: Uint8Array): Uint8Array {
  const et = (eth[12] << 8) | eth[13];
  const ip = eth.subarray(14);
  const h = Buffer.alloc(8);
  h[0] = 0x11;
  h.writeUInt16BE(0x1234, 2);
  h.writeUInt16BE(ip.length + 2, 4);
  h.writeUInt16BE(et === 0x86dd ? 0x0057 : 0x0021, 6);
  const mac = Buffer.from(eth.subarray(0, 12));
  return Buffer.concat([mac, Buffer.from([0x88, 0x64]), h, Buffer.from(ip)]);
}

/** IP packet of an Ethernet frame */
export function ipOf(eth: Uint8Array): Uint8Array {
  return eth.subarray(14);
}

/** Ethernet frame (zero MACs) of ethertype `type` around `payload` */
export function ethFrame(type: number, payload: Uint8Array): Buffer {
  const h = Buffer.alloc(14);
  h.writeUInt16BE(type, 12);
  return Buffer.concat([h, payload]);
}

/** IPv4 packet 192.0.2.1 -> 192.0.2.2 of protocol `proto` around `payload` */
export function ipv4Packet(proto: number, payload: Uint8Array): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + payload.length, 2);
  h[8] = 64;
  h[9] = proto;
  h.writeUInt32BE(0xc0000201, 12);
  h.writeUInt32BE(0xc0000202, 16);
  return Buffer.concat([h, payload]);
}

/** Ethernet frame -> the same frame inside Ethernet / IPv4 / UDP to `port` / VXLAN (VNI 42) with `flags` */
export function inVxlan(frame: Uint8Array, port = 4789, flags = 0x08): Buffer {
  const u = Buffer.alloc(16);
  u.writeUInt16BE(40000, 0);
  u.writeUInt16BE(port, 2);
  u.writeUInt16BE(16 + frame.length, 4);
  u[8] = flags;
  u[14] = 42;
  return ethFrame(0x0800, ipv4Packet(17, Buffer.concat([u, frame])));
}
