// Deterministic generator of a large, realistic classic-pcap capture (Ethernet, IPv4, TCP):
// many short connections interleaved in time, each with a handshake (MSS, SACK-permitted,
// timestamps, window scale), a request and a response, then a FIN teardown (client or
// server closes first) or a RST; client ports walk the ephemeral range so 4-tuples get
// reused. Same options -> byte-identical file.

import { openSync, writeSync, closeSync } from 'node:fs';

export interface GenerateOptions {
  /** number of packet records to write (the last connection may be cut short) */
  packets: number;
  /** PRNG seed (default 1) */
  seed?: number;
  /** first timestamp, Unix seconds (default 1_700_000_000) */
  startSec?: number;
  /** connections open at the same time (default 256) */
  concurrency?: number;
  /** client hosts 10.1.x.y (default 64) */
  clients?: number;
  /** server hosts 10.2.0.x (default 4) */
  servers?: number;
  /** fraction of connections ended by RST instead of FIN (default 0.08) */
  rstFraction?: number;
  /** mean gap between packets in microseconds (default 40) */
  meanGapUs?: number;
  /** nanosecond pcap instead of microsecond (default false) */
  nanosecond?: boolean;
}

export interface GenerateResult {
  packets: number;
  bytes: number;
  connections: number;
}

/** small seeded PRNG (mulberry32): the same seed gives the same sequence, here and in tests */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Conn {
  id: number;
  cip: number;
  sip: number;
  cport: number;
  sport: number;
  cseq: number;
  sseq: number;
  cts: number;
  sts: number;
  step: number;
  reqLen: number;
  respLen: number;
  rst: boolean;
  serverCloses: boolean;
}

const BUF = 8 << 20;

/** Write a capture to `path`; returns what was written. */
export function generateCapture(path: string, opts: GenerateOptions): GenerateResult {
  const rnd = mulberry32(opts.seed ?? 1);
  const total = opts.packets;
  const conc = opts.concurrency ?? 256;
  const nClients = opts.clients ?? 64;
  const nServers = opts.servers ?? 4;
  const rstFrac = opts.rstFraction ?? 0.08;
  const gap = opts.meanGapUs ?? 40;
  const nano = opts.nanosecond ?? false;
  const fd = openSync(path, 'w');
  const buf = Buffer.alloc(BUF);
  let n = 0;
  let bytes = 0;
  // file header
  buf.writeUInt32LE(nano ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  buf.writeUInt16LE(2, 4);
  buf.writeUInt16LE(4, 6);
  buf.writeUInt32LE(0, 8);
  buf.writeUInt32LE(0, 12);
  buf.writeUInt32LE(262144, 16);
  buf.writeUInt32LE(1, 20);
  let w = 24;
  let sec = opts.startSec ?? 1_700_000_000;
  let ns = 0;
  let connections = 0;
  const ports = new Map<number, number>();

  const newConn = (): Conn => {
    const c = Math.floor(rnd() * nClients);
    const cip = (10 << 24) | (1 << 16) | ((c >> 8) << 8) | ((c & 255) + 1);
    // each client walks the ephemeral range 32768-60999 (Linux default), wrapping around
    let port = ports.get(c) ?? 32768 + Math.floor(rnd() * 28232);
    port = port >= 60999 ? 32768 : port + 1 + Math.floor(rnd() * 3);
    ports.set(c, port);
    connections++;
    return {
      id: connections,
      cip: cip >>> 0,
      sip: ((10 << 24) | (2 << 16) | (1 + Math.floor(rnd() * nServers))) >>> 0,
      cport: port,
      sport: rnd() < 0.7 ? 443 : 80,
      cseq: Math.floor(rnd() * 4294967296),
      sseq: Math.floor(rnd() * 4294967296),
      cts: Math.floor(rnd() * 4294967296),
      sts: Math.floor(rnd() * 4294967296),
      step: 0,
      reqLen: 40 + Math.floor(rnd() * 400),
      respLen: 100 + Math.floor(rnd() * 1300),
      rst: rnd() < rstFrac,
      serverCloses: rnd() < 0.3,
    };
  };

  const flush = (): void => {
    writeSync(fd, buf, 0, w);
    bytes += w;
    w = 0;
  };

  // one packet: from client (dir 0) or server (dir 1)
  const emit = (c: Conn, fromServer: boolean, flags: number, payload: number, syn: boolean): void => {
    const optLen = syn ? 20 : 12;
    const thl = 20 + optLen;
    const ipLen = 20 + thl + payload;
    const frameLen = 14 + ipLen;
    if (w + 16 + frameLen > BUF) flush();
    // time
    ns += Math.floor(-Math.log(1 - rnd()) * gap * 1000) + 1;
    if (ns >= 1e9) {
      sec += Math.floor(ns / 1e9);
      ns %= 1e9;
    }
    buf.writeUInt32LE(sec >>> 0, w);
    buf.writeUInt32LE(nano ? ns : Math.floor(ns / 1000), w + 4);
    buf.writeUInt32LE(frameLen, w + 8);
    buf.writeUInt32LE(frameLen, w + 12);
    let o = w + 16;
    // Ethernet
    const srcMac = fromServer ? 0x02 : 0x04;
    buf.fill(0, o, o + 12);
    buf[o + 5] = fromServer ? 0x04 : 0x02;
    buf[o + 11] = srcMac;
    buf[o + 12] = 0x08;
    buf[o + 13] = 0x00;
    o += 14;
    // IPv4
    const sip = fromServer ? c.sip : c.cip;
    const dip = fromServer ? c.cip : c.sip;
    buf[o] = 0x45;
    buf[o + 1] = 0;
    buf.writeUInt16BE(ipLen, o + 2);
    buf.writeUInt16BE((c.id * 7 + c.step) & 0xffff, o + 4);
    buf.writeUInt16BE(0x4000, o + 6);
    buf[o + 8] = fromServer ? 57 : 64;
    buf[o + 9] = 6;
    buf.writeUInt16BE(0, o + 10);
    buf.writeUInt32BE(sip, o + 12);
    buf.writeUInt32BE(dip, o + 16);
    o += 20;
    // TCP
    buf.writeUInt16BE(fromServer ? c.sport : c.cport, o);
    buf.writeUInt16BE(fromServer ? c.cport : c.sport, o + 2);
    buf.writeUInt32BE(fromServer ? c.sseq : c.cseq, o + 4);
    buf.writeUInt32BE(flags & 0x10 ? (fromServer ? c.cseq : c.sseq) : 0, o + 8);
    buf[o + 12] = (thl / 4) << 4;
    buf[o + 13] = flags;
    buf.writeUInt16BE(syn ? 64240 : 501, o + 14);
    buf.writeUInt32BE(0, o + 16);
    let p = o + 20;
    const tsv = fromServer ? c.sts : c.cts;
    const tse = flags & 0x10 ? (fromServer ? c.cts : c.sts) : 0;
    if (syn) {
      buf[p] = 2; buf[p + 1] = 4; buf.writeUInt16BE(1460, p + 2);
      buf[p + 4] = 4; buf[p + 5] = 2;
      buf[p + 6] = 8; buf[p + 7] = 10; buf.writeUInt32BE(tsv >>> 0, p + 8); buf.writeUInt32BE(tse >>> 0, p + 12);
      buf[p + 16] = 1; buf[p + 17] = 3; buf[p + 18] = 3; buf[p + 19] = 7;
    } else {
      buf[p] = 1; buf[p + 1] = 1;
      buf[p + 2] = 8; buf[p + 3] = 10; buf.writeUInt32BE(tsv >>> 0, p + 4); buf.writeUInt32BE(tse >>> 0, p + 8);
    }
    p += optLen;
    buf.fill(0x61, p, p + payload);
    w = p + payload;
    n++;
    // advance sequence numbers and clocks
    const adv = payload + (flags & 0x03 ? 1 : 0);
    if (fromServer) {
      c.sseq = (c.sseq + adv) >>> 0;
      c.sts = (c.sts + 1) >>> 0;
    } else {
      c.cseq = (c.cseq + adv) >>> 0;
      c.cts = (c.cts + 1) >>> 0;
    }
  };

  const S = 0x02, F = 0x01, R = 0x04, P = 0x08, A = 0x10;
  /** emit the connection's next packet; false when it is finished */
  const step = (c: Conn): boolean => {
    const s = c.step++;
    switch (s) {
      case 0: emit(c, false, S, 0, true); return true;
      case 1: emit(c, true, S | A, 0, true); return true;
      case 2: emit(c, false, A, 0, false); return true;
      case 3: emit(c, false, P | A, c.reqLen, false); return true;
      case 4: emit(c, true, A, 0, false); return true;
      case 5: emit(c, true, P | A, c.respLen, false); return true;
      case 6:
        if (c.rst) { emit(c, false, R | A, 0, false); return false; }
        emit(c, false, A, 0, false); return true;
      case 7: emit(c, c.serverCloses, F | A, 0, false); return true;
      case 8: emit(c, !c.serverCloses, F | A, 0, false); return true;
      case 9: emit(c, c.serverCloses, A, 0, false); return false;
      default: return false;
    }
  };

  const live: Conn[] = [];
  for (let i = 0; i < conc; i++) live.push(newConn());
  while (n < total) {
    const i = Math.floor(rnd() * live.length);
    if (!step(live[i])) live[i] = newConn();
  }
  flush();
  closeSync(fd);
  return { packets: n, bytes, connections };
}
