// Small helpers shared by the detectors: evidence formatting for findings.

import type { Conn } from '../tracker/connection.js';

/** Wireshark display filter showing exactly these frames */
export function framesFilter(frames: number[]): string {
  const uniq = [...new Set(frames.filter((f) => f > 0))].sort((a, b) => a - b);
  if (uniq.length === 0) return '';
  if (uniq.length === 1) return `frame.number == ${uniq[0]}`;
  return `frame.number in {${uniq.join(' ')}}`;
}

/** Wireshark display filter for a connection's 4-tuple (both directions) */
export function tupleFilter(c: Conn): string {
  const ip = c.ipVersion === 6 ? 'ipv6' : 'ip';
  return `${ip}.addr == ${c.clientIp} && ${ip}.addr == ${c.serverIp} && tcp.port == ${c.cport} && tcp.port == ${c.sport}`;
}

/** "client:port -> server:port", IPv6 in brackets */
export function tupleText(c: Conn): string {
  const ep = (ip: string, port: number): string => (c.ipVersion === 6 ? `[${ip}]:${port}` : `${ip}:${port}`);
  return `${ep(c.clientIp, c.cport)} -> ${ep(c.serverIp, c.sport)}`;
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
