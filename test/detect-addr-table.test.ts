// AddrTable: the detectors' hash table from a connection's address words and a port to an index.
import { describe, expect, it } from 'vitest';
import { AddrTable } from '../src/detect/addr-table.ts';
import { Conn } from '../src/tracker/connection.ts';

function conn(v: 4 | 6, client: number[], server: number[]): Conn {
  const c = new Conn();
  c.ipVersion = v;
  [c.c0, c.c1, c.c2, c.c3] = [client[0] ?? 0, client[1] ?? 0, client[2] ?? 0, client[3] ?? 0];
  [c.s0, c.s1, c.s2, c.s3] = [server[0] ?? 0, server[1] ?? 0, server[2] ?? 0, server[3] ?? 0];
  return c;
}

describe('AddrTable', () => {
  it('finds what was added by (source, destination, port), in either direction of a connection', () => {
    const t = new AddrTable();
    const c = conn(4, [0xc0000201], [0xc6336401]); // 192.0.2.1 -> 198.51.100.1
    expect(t.get(c, false, 443)).toBe(-1);
    t.add(c, false, 443, 7);
    expect(t.get(c, false, 443)).toBe(7);
    // the same addresses the other way round, and another port, are other keys
    expect(t.get(c, true, 443)).toBe(-1);
    expect(t.get(c, false, 80)).toBe(-1);
    t.add(c, true, 443, 8);
    expect(t.get(c, true, 443)).toBe(8);
    // another connection between the same addresses finds the same entries
    const d = conn(4, [0xc0000201], [0xc6336401]);
    expect(t.get(d, false, 443)).toBe(7);
    // seen from the other end: its client is the first one's server
    const e = conn(4, [0xc6336401], [0xc0000201]);
    expect(t.get(e, false, 443)).toBe(8);
    expect(t.get(e, true, 443)).toBe(7);
  });

  it('tells IPv6 from IPv4 with the same words, and uses every word of an IPv6 address', () => {
    const t = new AddrTable();
    const v4 = conn(4, [1], [2]);
    const v6 = conn(6, [1], [2]);
    const v6b = conn(6, [1, 0, 0, 5], [2]);
    t.add(v4, false, 0, 1);
    expect(t.get(v6, false, 0)).toBe(-1);
    t.add(v6, false, 0, 2);
    expect(t.get(v6b, false, 0)).toBe(-1);
    t.add(v6b, false, 0, 3);
    expect([t.get(v4, false, 0), t.get(v6, false, 0), t.get(v6b, false, 0)]).toEqual([1, 2, 3]);
  });

  it('keeps every entry through growth, with words past 2^31 (stored as int32)', () => {
    const t = new AddrTable();
    const n = 5000;
    const key = (i: number): Conn => conn(4, [(0xf0000000 + i) >>> 0], [0xcb007100 + (i % 7)]);
    for (let i = 0; i < n; i++) t.add(key(i), false, 1000 + (i % 3), i);
    for (let i = 0; i < n; i++) expect(t.get(key(i), false, 1000 + (i % 3))).toBe(i);
    expect(t.get(key(n), false, 1000 + (n % 3))).toBe(-1);
  });
});
