// A hash table from a connection's address words (client and server, or the reverse) and a port to
// a small integer, for the detectors' per-connection lookups (the clock detector's address pairs,
// the port detector's (client, server, port) series). Keyed by the words the tracker keeps in the
// connection's page, in one Int32Array with open addressing: the nested Maps keyed by address
// strings it replaces cost two or three lookups per connection, each a builtin call touching the
// Map, its backing store and the strings (about 0.2 s on the 10 M-packet benchmark).

import type { Conn } from '../tracker/connection.js';
import { epHash } from '../tracker/tracker.js';

/** ints per entry: 8 address words, the port, the value + 1 (0: empty) */
const S = 10;

export class AddrTable {
  private t = new Int32Array(64 * S);
  private mask = 63;
  private size = 0;

  /** the value stored for (src, dst, port), or -1. `rev`: src and dst are the connection's server
   *  and client instead of its client and server */
  get(c: Conn, rev: boolean, port: number): number {
    // (IPv4 addresses fill the first word only: an IPv6 key is told apart by its version)
    port |= c.ipVersion === 6 ? 0x10000 : 0;
    const a0 = (rev ? c.s0 : c.c0) | 0;
    const a1 = (rev ? c.s1 : c.c1) | 0;
    const a2 = (rev ? c.s2 : c.c2) | 0;
    const a3 = (rev ? c.s3 : c.c3) | 0;
    const b0 = (rev ? c.c0 : c.s0) | 0;
    const b1 = (rev ? c.c1 : c.s1) | 0;
    const b2 = (rev ? c.c2 : c.s2) | 0;
    const b3 = (rev ? c.c3 : c.s3) | 0;
    const t = this.t;
    let h = hash(a0, a1, a2, a3, b0, b1, b2, b3, port) & this.mask;
    for (;;) {
      const o = h * S;
      const v = t[o + 9]!;
      if (v === 0) return -1;
      if (t[o] === a0 && t[o + 4] === b0 && t[o + 8] === port && t[o + 1] === a1 && t[o + 2] === a2 && t[o + 3] === a3 && t[o + 5] === b1 && t[o + 6] === b2 && t[o + 7] === b3) return v - 1;
      h = (h + 1) & this.mask;
    }
  }

  /** store a value (>= 0) for a key get() did not find */
  add(c: Conn, rev: boolean, port: number, value: number): void {
    if (2 * (this.size + 1) > this.mask + 1) this.grow();
    this.size++;
    port |= c.ipVersion === 6 ? 0x10000 : 0;
    const w = rev ? [c.s0, c.s1, c.s2, c.s3, c.c0, c.c1, c.c2, c.c3] : [c.c0, c.c1, c.c2, c.c3, c.s0, c.s1, c.s2, c.s3];
    this.put(w[0]! | 0, w[1]! | 0, w[2]! | 0, w[3]! | 0, w[4]! | 0, w[5]! | 0, w[6]! | 0, w[7]! | 0, port, value + 1);
  }

  private put(a0: number, a1: number, a2: number, a3: number, b0: number, b1: number, b2: number, b3: number, port: number, v1: number): void {
    const t = this.t;
    let h = hash(a0, a1, a2, a3, b0, b1, b2, b3, port) & this.mask;
    while (t[h * S + 9] !== 0) h = (h + 1) & this.mask;
    const o = h * S;
    t[o] = a0;
    t[o + 1] = a1;
    t[o + 2] = a2;
    t[o + 3] = a3;
    t[o + 4] = b0;
    t[o + 5] = b1;
    t[o + 6] = b2;
    t[o + 7] = b3;
    t[o + 8] = port;
    t[o + 9] = v1;
  }

  private grow(): void {
    const old = this.t;
    const n = 2 * (this.mask + 1);
    this.t = new Int32Array(n * S);
    this.mask = n - 1;
    for (let o = 0; o < old.length; o += S) {
      if (old[o + 9] !== 0) this.put(old[o]!, old[o + 1]!, old[o + 2]!, old[o + 3]!, old[o + 4]!, old[o + 5]!, old[o + 6]!, old[o + 7]!, old[o + 8]!, old[o + 9]!);
    }
  }
}

function hash(a0: number, a1: number, a2: number, a3: number, b0: number, b1: number, b2: number, b3: number, port: number): number {
  // the tracker's endpoint hash of each side, the second mixed again so that (a, b) and (b, a) differ
  return epHash(a0, a1, a2, a3, port) ^ Math.imul(epHash(b0, b1, b2, b3, 0), 0x9e3779b1);
}
