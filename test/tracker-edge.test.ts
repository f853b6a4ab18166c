// Tracker edge cases on real captures.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { analyzeInto } from './helpers/cli.ts';
import { corpusDir, repoRoot } from './helpers/env.ts';
import type { Conn } from '../src/tracker/connection.ts';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'twscope-edge-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** `capture`: under the repository, or an absolute path (the corpus) */
function analyze(capture: string): Database.Database {
  return new Database(analyzeInto(tmp, capture), { readonly: true });
}

/** the tracker alone over a capture under the repository: `onEnd` sees each connection as it
 *  leaves (`atFinish`: released by finish() at the end of the capture); `eagerSweeps` runs the
 *  tracker's sweep before every packet, so expired connections leave at once */
async function runTracker(file: string, onEnd: (c: Conn, atFinish: boolean) => void, eagerSweeps = false): Promise<void> {
  const { readCaptures } = await import('../src/reader/index.ts');
  const { PacketDecoder } = await import('../src/decode/index.ts');
  const { Segment } = await import('../src/decode/segment.ts');
  const { Tracker } = await import('../src/tracker/tracker.ts');
  let finishing = false;
  const tracker = new Tracker({ timeWait: 60, idleTimeout: 300, firstId: 1 }, {
    onSegment() {},
    onReuse() {},
    onConnEnd: (c) => onEnd(c, finishing),
  });
  const sweep = (tracker as unknown as { sweep(): void }).sweep.bind(tracker);
  const dec = new PacketDecoder();
  const seg = new Segment();
  await readCaptures([path.resolve(repoRoot, file)], (f) => {
    if (!dec.decode(f, seg)) return;
    if (eagerSweeps) sweep();
    tracker.push(seg);
  });
  finishing = true;
  tracker.finish();
}

describe('tracker edge cases', () => {
  it('a multi-interface pcapng with every packet twice (lo + any, not interleaved) is not taken for 4-tuple reuse', () => {
    const d = analyze('captures/formats/multi-if.pcapng');
    // dumpcap wrote each SYN once per interface, the second copy after the connection had closed
    const conns = d.prepare("SELECT client_port, close_kind, syn_count, client_pkts FROM connections WHERE close_kind = 'fin' ORDER BY first_frame").all() as { client_port: number; close_kind: string; syn_count: number; client_pkts: number }[];
    const reuse = d.prepare("SELECT count(*) AS n FROM findings WHERE kind = 'time-wait-reuse'").get() as { n: number };
    d.close();
    expect(reuse.n).toBe(0);
    expect(new Set(conns.map((c) => c.client_port)).size).toBe(conns.length);
    // each copy joined its connection (10 client packets: 5 captured twice), and a SYN copy
    // microseconds from the first is not a second transmission
    expect(conns.length).toBe(5);
    expect(conns.every((c) => c.syn_count === 1 && c.client_pkts === 10)).toBe(true);
  });
});

describe('end of capture', () => {
  it('the connections still held are released in id order (rows append to the store; detectors see them in that order)', async () => {
    const ended: number[] = [];
    const atFinish: number[] = [];
    await runTracker('captures/findings/port-exhaustion.pcap', (c, finishing) => {
      ended.push(c.id);
      if (finishing) atFinish.push(c.id);
    });
    // the capture ends with its connections in TIME-WAIT: all of them are released here
    expect(atFinish.length).toBeGreaterThanOrEqual(10);
    expect(atFinish).toEqual([...atFinish].sort((a, b) => a - b));
    expect(new Set(ended).size).toBe(ended.length);
  });
});

// A capture that holds every frame of the teardown three or four times (the same timestamp and
// TSval): copies are not FIN retransmissions, and no LAST-ACK was lost (public capture, Zeek's tests)
const sshDups = path.join(corpusDir, 'zeek__tcp__ssh-dups.pcap');
describe.skipIf(!existsSync(sshDups))('duplicated frames', () => {
  it('a FIN captured three times is one transmission, and no lost-last-ack', () => {
    const d = analyze(sshDups);
    const c = d.prepare('SELECT client_fin_count AS cf, server_fin_count AS sf, close_kind AS k FROM connections').all();
    const lost = d.prepare("SELECT count(*) AS n FROM findings WHERE kind = 'lost-last-ack'").get() as { n: number };
    d.close();
    expect(c).toEqual([{ cf: 1, sf: 1, k: 'fin' }]);
    expect(lost.n).toBe(0);
  });
});

// A public capture where an old timestamp arrives on a bare ACK: the finding reads 'An ACK'
const sllOversized = path.join(corpusDir, 'gopacket__linux_sll_oversized_addr.pcapng');
describe.skipIf(!existsSync(sllOversized))('PAWS on an ACK', () => {
  it('names it with the right article', () => {
    const d = analyze(sllOversized);
    const rows = d.prepare("SELECT summary FROM findings WHERE kind = 'paws-violation'").all() as { summary: string }[];
    d.close();
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.some((r) => r.summary.startsWith('An ACK from the client of '))).toBe(true);
    // (but the count of those past the 20 listed)
    expect(rows.filter((r) => !/^\d+ more segments? from /.test(r.summary)).every((r) => /^(An ACK|A segment of \d+ bytes|A reset) from the /.test(r.summary))).toBe(true);
  });

  it('caught mid-stream (no SYN): a stray only beyond the maximum segment lifetime, never "older than its connection"', () => {
    const d = analyze(sllOversized);
    const rows = (d.prepare("SELECT summary, details FROM findings WHERE kind = 'paws-violation'").all() as { summary: string; details: string }[]).map((r) => ({ s: r.summary, d: JSON.parse(r.details) as Record<string, unknown> }));
    const [conn] = d.prepare('SELECT client_isn FROM connections').all() as { client_isn: number | null }[];
    d.close();
    expect(conn!.client_isn).toBeNull();
    const stray = rows.filter((r) => r.d.arrival === 'stray');
    expect(stray.length).toBeGreaterThan(0);
    for (const r of stray) {
      expect(r.d.time_back as number).toBeGreaterThan(120);
      expect(r.s).toMatch(/behind TS\.Recent, longer than a segment lives in the network: a stray segment/);
    }
    expect(rows.some((r) => / in a connection [\d.]+ \w+ old/.test(r.s))).toBe(false);
  });

  // frame 6, the server's first timestamp, is 67,000 s ahead of its clock: every later server
  // segment is 'older' than TS.Recent although the server's clock moves on normally
  it('says when TS.Recent itself is ahead of the sender clock, and counts the violations past the 20 listed', () => {
    const d = analyze(sllOversized);
    const rows = (d.prepare("SELECT summary, details FROM findings WHERE kind = 'paws-violation' ORDER BY id").all() as { summary: string; details: string }[]).map((r) => ({
      summary: r.summary,
      d: JSON.parse(r.details) as Record<string, unknown>,
    }));
    d.close();
    const s2c = rows.filter((r) => r.d.direction === 's2c' && r.d.nth !== undefined);
    expect(s2c.map((r) => r.d.ts_recent_frame)).toEqual(s2c.map(() => 6));
    // the first violation alone cannot tell a stray segment from a stray TS.Recent; from the second on the clock has moved on
    expect(s2c.map((r) => r.d.ts_recent_ahead)).toEqual([false, ...s2c.slice(1).map(() => true)]);
    expect(s2c[1]!.summary).toMatch(/The connection is only [\d.]+ s old and the server's clock moves on: TS\.Recent, from frame 6, is ahead of that clock/);
    // 128 client segments violated PAWS: 20 findings, then one for the other 108
    const c2s = rows.filter((r) => r.d.direction === 'c2s');
    expect(c2s.length).toBe(21);
    // every one of the 128 lags by more than a tick, none is a RST or a disordered duplicate ACK: Linux drops them all
    expect(c2s.slice(0, 20).every((r) => r.d.linux_drop === true)).toBe(true);
    expect(c2s[20]!.d).toMatchObject({ violations: 128, listed: 20, more: 108, linux_drops: 128 });
    expect(c2s[20]!.summary).toMatch(/^108 more segments from the client of .* after the 20 listed one by one \(128 in all, 128 of them dropped by Linux; the last in frame \d+\)\.$/);
  });
});

// Sweeps that release expired connections run lazily (every few thousand packets). What a
// packet on an expired connection's 4-tuple starts must not depend on whether one has run.
describe('expiry', () => {
  async function track(file: string, eagerSweeps: boolean): Promise<{ id: number; end: string; prev: number | null; first: number }[]> {
    const out: { id: number; end: string; prev: number | null; first: number }[] = [];
    await runTracker(file, (c) => out.push({ id: c.id, end: c.endReason, prev: c.prevId, first: c.firstFrame }), eagerSweeps);
    return out.sort((a, b) => a.id - b.id);
  }

  it('a reconnect 65 s after TIME-WAIT began is a fresh connection, swept or not', async () => {
    const file = 'captures/findings/reuse-server-tw-late.pcap';
    const lazy = await track(file, false);
    expect(lazy).toEqual([
      { id: 1, end: 'expired', prev: null, first: 3 },
      { id: 2, end: 'capture-end', prev: null, first: 32 },
    ]);
    expect(await track(file, true)).toEqual(lazy);
  });

  it('a reconnect inside TIME-WAIT links to the connection it supersedes, swept or not', async () => {
    const file = 'captures/findings/reuse-server-tw.pcap';
    const lazy = await track(file, false);
    expect(lazy.map((c) => [c.end, c.prev])).toEqual([['superseded', null], ['capture-end', 1]]);
    expect(await track(file, true)).toEqual(lazy);
  });
});

// tcptrace's sample: one 4-tuple used by 18 connections, each 150-225 s after the previous one
// closed (past TIME-WAIT): none is a reuse of the one before
const fastReuse = path.join(corpusDir, 'tcptrace__fast_reuse.dmp');
describe.skipIf(!existsSync(fastReuse))('a 4-tuple reused minutes apart', () => {
  it('gives connections with no previous incarnation, each expired before the next', () => {
    const d = analyze(fastReuse);
    const rows = d.prepare('SELECT prev_id AS p, end_reason AS e, reuse_gap AS g FROM connections ORDER BY id').all() as { p: number | null; e: string; g: number | null }[];
    d.close();
    expect(rows.length).toBe(18);
    expect(rows.every((r) => r.p === null && r.g === null)).toBe(true);
    expect(rows.slice(0, 17).every((r) => r.e === 'expired')).toBe(true);
  });
});

// Zeek's sample: the client sends its FIN (frame 80), and the server sends its last data with its
// own FIN 235 s later (frame 82, retransmitted). A half-closed connection is not in TIME-WAIT: it stays one connection
const halfIdle = path.join(corpusDir, 'zeek__pppoe-over-qinq.pcap');
describe.skipIf(!existsSync(halfIdle))('a half-closed connection idle for minutes', () => {
  it('is still the same connection when the other side resumes', () => {
    const d = analyze(halfIdle);
    const rows = d.prepare('SELECT first_frame AS f, last_frame AS l, client_fin_frame AS cf, server_fin_frame AS sf FROM connections').all();
    d.close();
    expect(rows).toEqual([{ f: 1, l: 86, cf: 80, sf: 82 }]);
  });
});

// Timestamps that step back within a connection (crafted from the real frames of lo-eth.pcap:
// frame 5 stamped 1000 s earlier, as in a merged capture whose interfaces' clocks disagree; no
// kernel writes that). Idle time counts from the connection's newest packet, so frame 6 does not
// find the connection idle for 1000 s and start another.
describe('a capture clock that steps back', () => {
  it('keeps the connection whole', async () => {
    const { pcapFile, realRecords } = await import('./helpers/craft.ts');
    const recs = await realRecords();
    recs[4] = { ...recs[4]!, sec: recs[4]!.sec - 1000 };
    const file = path.join(tmp, 'clock-step-back.pcap');
    writeFileSync(file, pcapFile(recs));
    const d = analyze(file);
    const first = d.prepare('SELECT count(*) AS n, min(first_frame) AS f, max(last_frame) AS l FROM connections WHERE client_port = (SELECT client_port FROM connections WHERE first_frame = 1)').get();
    d.close();
    expect(first).toEqual({ n: 1, f: 1, l: 10 });
  });
});

// One client segment of paws-delayed (real frames, Linux 6.18) with its TSval moved 1,000,000
// ticks ahead, as a middlebox rewriting one timestamp would leave it (crafted: no kernel sends
// that). It becomes TS.Recent, and every later client segment is 'older': the findings say that
// TS.Recent is ahead of the client's clock, and those past the 20 listed are counted in one more.
describe('a stray TSval far ahead', () => {
  it('is named as the cause, and every violation is counted', async () => {
    const { pcapFile, realRecords } = await import('./helpers/craft.ts');
    const recs = await realRecords('../findings/paws-delayed.pcapng');
    const tcpAt = (b: Uint8Array): number => 14 + (b[14]! & 15) * 4;
    const isTcp4 = (b: Uint8Array): boolean => b[12] === 0x08 && b[13] === 0x00 && b[23] === 6;
    const src = (b: Uint8Array): string => b.slice(26, 30).join('.');
    // the client sent the SYN; the segment to alter is one of its data segments, a few into the connection
    const syn = recs.find((r) => isTcp4(r.data) && (r.data[tcpAt(r.data) + 13]! & 0x12) === 0x02)!;
    const client = src(syn.data);
    const k = recs.findIndex((r, i) => i > 20 && isTcp4(r.data) && src(r.data) === client && r.data.length > 1000);
    expect(k).toBeGreaterThan(0);
    const b = Uint8Array.from(recs[k]!.data);
    const t = tcpAt(b);
    let o = t + 20;
    while (o < t + (b[t + 12]! >> 4) * 4 && b[o] !== 8) o += b[o]! <= 1 ? 1 : b[o + 1]!;
    expect(b[o]).toBe(8);
    const v = new DataView(b.buffer);
    v.setUint32(o + 2, (v.getUint32(o + 2) + 1_000_000) >>> 0);
    recs[k] = { ...recs[k]!, data: b };
    const file = path.join(tmp, 'paws-stray-ahead.pcap');
    writeFileSync(file, pcapFile(recs));
    const d = analyze(file);
    const rows = (d.prepare("SELECT summary, details FROM findings WHERE kind = 'paws-violation' AND json_extract(details, '$.direction') = 'c2s' ORDER BY id").all() as { summary: string; details: string }[]).map((r) => ({
      summary: r.summary,
      d: JSON.parse(r.details) as Record<string, unknown>,
    }));
    d.close();
    const listed = rows.filter((r) => r.d.nth !== undefined);
    expect(listed.length).toBe(20);
    expect(listed.every((r) => r.d.ts_recent_frame === k + 1)).toBe(true);
    // the first violation alone cannot tell a stray segment from a stray TS.Recent; the later ones
    // come from a clock that has moved on since (all but segments sent in the first one's tick)
    expect(listed[0]!.d.ts_recent_ahead).toBe(false);
    expect(listed.slice(1).every((r) => r.d.ts_recent_ahead === (r.d.tsval !== listed[0]!.d.tsval))).toBe(true);
    expect(listed.filter((r) => r.d.ts_recent_ahead === true).length).toBeGreaterThanOrEqual(15);
    const more = rows.filter((r) => r.d.more !== undefined);
    expect(more.length).toBe(1);
    expect(more[0]!.d.listed).toBe(20);
    expect(more[0]!.d.violations as number).toBeGreaterThan(100);
    expect(more[0]!.d.more).toBe((more[0]!.d.violations as number) - 20);
  });
});

const invalidNano = path.join(corpusDir, 'tcpdump__timestamp_invalid_nano.pcap');
describe.skipIf(!existsSync(invalidNano))('a handshake whose ACK is stamped before its SYN', () => {
  it('has no handshake RTT rather than a negative one (public capture with invalid nanosecond fields)', () => {
    const d = analyze(invalidNano);
    const rows = d.prepare('SELECT handshake_rtt, start_ts, end_ts, client_isn, server_isn FROM connections').all() as { handshake_rtt: number | null; start_ts: number; end_ts: number; client_isn: number | null; server_isn: number | null }[];
    d.close();
    expect(rows.length).toBe(1);
    // the full handshake is there (SYN, SYN-ACK, ACK), but the ACK's time (frame 3) lies 2.1 s before the SYN's
    expect(rows[0]!.client_isn).not.toBeNull();
    expect(rows[0]!.server_isn).not.toBeNull();
    expect(rows[0]!.end_ts).toBeLessThan(rows[0]!.start_ts);
    expect(rows[0]!.handshake_rtt).toBeNull();
  });
});
