// Address, flag and time formatting (not on the decode hot path).

import type { Segment } from './segment.js';

const HEX: string[] = [];
for (let i = 0; i < 65536; i++) HEX.push(i.toString(16));

/** IPv4 dotted quad from an unsigned 32-bit number */
export function formatIpv4(w: number): string {
  return `${w >>> 24}.${(w >>> 16) & 255}.${(w >>> 8) & 255}.${w & 255}`;
}

/**
 * IPv4 dotted, or IPv6 in RFC 5952 form as tshark prints `ipv6.src`: lowercase hex, no
 * leading zeros, the longest run of two or more zero groups (the first on a tie) as `::`,
 * IPv4-mapped addresses (::ffff:0:0/96) with a dotted tail.
 */
export function formatAddr(version: number, w0: number, w1: number, w2: number, w3: number): string {
  if (version === 4) return formatIpv4(w0 >>> 0);
  const g = [w0 >>> 16, w0 & 0xffff, w1 >>> 16, w1 & 0xffff, w2 >>> 16, w2 & 0xffff, w3 >>> 16, w3 & 0xffff];
  if (w0 === 0 && w1 === 0 && w2 >>> 0 === 0xffff) return `::ffff:${formatIpv4(w3 >>> 0)}`;
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return g.map((x) => HEX[x]).join(':');
  const head = g.slice(0, bestStart).map((x) => HEX[x]).join(':');
  const tail = g.slice(bestStart + bestLen).map((x) => HEX[x]).join(':');
  return `${head}::${tail}`;
}

/** "address:port", IPv6 in brackets */
export function endpointText(ipVersion: number, ip: string, port: number): string {
  return ipVersion === 6 ? `[${ip}]:${port}` : `${ip}:${port}`;
}

export function segSrc(s: Segment): string {
  return formatAddr(s.ipVersion, s.src0, s.src1, s.src2, s.src3);
}

export function segDst(s: Segment): string {
  return formatAddr(s.ipVersion, s.dst0, s.dst1, s.dst2, s.dst3);
}

/**
 * Compact flag letters, in this order: S (SYN), F (FIN), R (RST), P (PSH), A (ACK),
 * U (URG), E (ECE), C (CWR), N (AE, the former NS bit). No flag at all prints `-`.
 * So a SYN-ACK is `SA`, FIN-ACK `FA`, RST-ACK `RA`, data `PA`.
 */
export function flagLetters(flags: number): string {
  if (flags === 0) return '-';
  let s = '';
  if (flags & 0x02) s += 'S';
  if (flags & 0x01) s += 'F';
  if (flags & 0x04) s += 'R';
  if (flags & 0x08) s += 'P';
  if (flags & 0x10) s += 'A';
  if (flags & 0x20) s += 'U';
  if (flags & 0x40) s += 'E';
  if (flags & 0x80) s += 'C';
  if (flags & 0x100) s += 'N';
  return s;
}

/** epoch seconds with `digits` decimals (6 or 9), exact from the integer parts */
export function formatEpoch(sec: number, nsec: number, digits: number): string {
  const frac = digits >= 9 ? String(nsec).padStart(9, '0') : String(Math.floor(nsec / 1000)).padStart(6, '0');
  return `${sec}.${frac}`;
}

/** ISO 8601 UTC with 6 or 9 decimals */
export function formatIso(sec: number, nsec: number, digits: number): string {
  const d = new Date(sec * 1000);
  const base = Number.isFinite(d.getTime()) ? d.toISOString().slice(0, 19) : String(sec);
  const frac = digits >= 9 ? String(nsec).padStart(9, '0') : String(Math.floor(nsec / 1000)).padStart(6, '0');
  return `${base}.${frac}Z`;
}
