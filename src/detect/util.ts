// Small helpers shared by the detectors: evidence formatting for findings.
//
// LATE: V8 optimizes a hot function with the type feedback its operations have gathered; an
// operation that has not run yet has none, and when it first runs in the optimized code, the
// function (and any it was inlined into) is deoptimized and compiled again. In the detectors'
// per-connection functions, operations that start running only once a capture is well under way
// (sampling, memory bounds, counters past a threshold) are therefore written to run on every call
// (a 0 added, a no-op call): on 3 M packets, the clock detector's addSide was compiled four times.

import type { Conn } from '../tracker/connection.js';
import { endpointText } from '../decode/format.js';

export { endpointText };

/** Wireshark display filter showing exactly these frames */
export function framesFilter(frames: number[]): string {
  const uniq = [...new Set(frames.filter((f) => f > 0))].sort((a, b) => a - b);
  if (uniq.length === 0) return '';
  if (uniq.length === 1) return `frame.number == ${uniq[0]}`;
  return `frame.number in {${uniq.join(' ')}}`;
}

/** the tick rates timestamp clocks are snapped to */
export const RATES = [1, 2, 10, 100, 250, 300, 1000, 1_000_000];

/** "client:port -> server:port", IPv6 in brackets */
export function tupleText(c: Conn): string {
  return `${endpointText(c.ipVersion, c.clientIp, c.cport)} -> ${endpointText(c.ipVersion, c.serverIp, c.sport)}`;
}

/** Wireshark's field prefix for the addresses of an IP version */
export function ipField(ipVersion: number): 'ip' | 'ipv6' {
  return ipVersion === 6 ? 'ipv6' : 'ip';
}

/** the median of a non-empty list (the mean of the middle two for an even count) */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** frames sorted, unique, positive */
export function frameList(...frames: number[]): number[] {
  return [...new Set(frames.filter((f) => f > 0))].sort((a, b) => a - b);
}

export function round(v: number, digits = 6): number {
  const m = 10 ** digits;
  return Math.round(v * m) / m;
}

/** seconds as a short human string */
export function secs(v: number): string {
  if (Math.abs(v) < 1) return `${(v * 1000).toFixed(v < 0.01 ? 2 : 0)} ms`;
  return `${v.toFixed(v < 10 ? 2 : 1)} s`;
}

/** Wireshark display filter for the SYNs (or SYN-ACKs) one address sent to another, optionally from a set of source ports */
export function synFilter(ipVersion: 4 | 6, src: string, dst: string, opts: { synAck?: boolean; srcPorts?: number[]; dstPort?: number } = {}): string {
  const ip = ipField(ipVersion);
  let f = `${ip}.src == ${src} && ${ip}.dst == ${dst} && tcp.flags.syn == 1 && tcp.flags.ack == ${opts.synAck ? 1 : 0}`;
  if (opts.dstPort !== undefined) f += ` && tcp.dstport == ${opts.dstPort}`;
  const ports = opts.srcPorts ? [...new Set(opts.srcPorts)].sort((a, b) => a - b) : [];
  if (ports.length === 1) f += ` && tcp.srcport == ${ports[0]}`;
  else if (ports.length > 1) f += ` && tcp.srcport in {${ports.join(' ')}}`;
  return f;
}

/** x modulo 2^32 as a non-negative double (x may be fractional or huge) */
export function mod32(x: number): number {
  const m = x - Math.floor(x / 4294967296) * 4294967296;
  return m >= 4294967296 ? 0 : m;
}

/** a number with thousands separators: 28232 -> "28,232" */
export function thousands(n: number): string {
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}
