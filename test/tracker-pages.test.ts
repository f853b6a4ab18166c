// The connection record's storage: typed-array pages, pooled handles, packed history letters.
import { describe, expect, it } from 'vitest';
import { Conn } from '../src/tracker/connection.ts';
import { Tracker } from '../src/tracker/tracker.ts';

describe('connection pages', () => {
  it('keeps Zeek history letters beyond the 24 packed into the page', () => {
    const c = Conn.create();
    const h = 'ShADadFfTtWwRrIiQqSsHhAaDdFf^x';
    for (const ch of h) c.addHistory(ch.charCodeAt(0));
    expect(c.history).toBe(h);
    c.history = '^hS';
    expect(c.history).toBe('^hS');
    c.free();
  });

  it('hands out a released connection with every field back at its initial value', () => {
    const a = Conn.create();
    a.id = 7;
    a.cport = 40000;
    a.c0 = 0xc0000201; // 192.0.2.1 as an unsigned word
    a.client.isn = 0xfffffff0;
    a.client.pkts = 3;
    a.server.finFrame = 4000000000;
    a.client.tsSeen = true;
    a.activeCloser = 'server';
    a.closeKind = 'fin';
    a.timeWaitStart = 12.5;
    a.prevId = 3;
    a.supersededAt = 99.5;
    a.history = 'ShAFf';
    a.client.finRetransFrames = [9];
    expect([a.c0, a.server.finFrame, a.client.isn, a.activeCloser, a.timeWaitStart]).toEqual([0xc0000201, 4000000000, 0xfffffff0, 'server', 12.5]);
    a.free();
    a.free(); // a second release must not hand the same record out twice
    const b = Conn.create();
    const other = Conn.create();
    expect(other).not.toBe(b);
    for (const c of [b, other]) {
      expect([c.id, c.cport, c.c0, c.client.isn, c.server.isn, c.client.pkts, c.server.finFrame, c.client.tsSeen]).toEqual([0, 0, 0, -1, -1, 0, 0, false]);
      expect([c.activeCloser, c.closeKind, c.connState, c.endReason, c.timeWaitStart, c.prevId, c.supersededAt, c.reuseGap, c.history]).toEqual([null, 'open', 'OTH', 'capture-end', null, null, null, null, '']);
      expect([c.client.mss, c.client.wscale, c.client.finRetransFrames]).toEqual([-1, -1, null]);
    }
    expect(() => {
      b.closeKind = 'bogus' as never;
    }).toThrow(/closeKind/);
    b.free();
    other.free();
  });

  it('a connection dropped at the end of the input is not pooled, and its page slot goes to the next new record', () => {
    const held: Conn[] = [];
    while (Conn.pooledCount > 0) held.push(Conn.create());
    const a = Conn.create();
    a.client.pkts = 5;
    a.free(false);
    expect(Conn.pooledCount).toBe(0);
    const b = Conn.create();
    expect(b === a).toBe(false);
    expect(b.slot).toBe(a.slot);
    expect(b.client.pkts).toBe(0);
    b.free();
    for (const c of held) c.free();
  });
});

describe('page memory', () => {
  const sink = { onSegment: () => {}, onReuse: () => {}, onConnEnd: () => {} };
  const opts = { timeWait: 60, idleTimeout: 300, firstId: 1 };

  it('goes back when the last running tracker is done, not while another still holds connections', () => {
    const a = new Tracker(opts, sink);
    const b = new Tracker(opts, sink);
    const held = Conn.create();
    held.client.pkts = 7;
    b.finish();
    // a is still running: its connections' pages stay
    expect(held.client.pkts).toBe(7);
    expect(held.f.length).toBeGreaterThan(0);
    a.dispose();
    a.dispose(); // once only
    // the buffers are detached, and a new record gets fresh storage
    expect(held.f.length).toBe(0);
    expect(held.i.length).toBe(0);
    const fresh = Conn.create();
    // (not .not.toBe: its message prints the records, and so reads the detached arrays)
    expect(fresh === held).toBe(false);
    expect(fresh.f.length).toBeGreaterThan(0);
    expect(fresh.client.pkts).toBe(0);
    fresh.client.pkts = 3;
    expect(fresh.client.pkts).toBe(3);
    fresh.free();
  });
});
