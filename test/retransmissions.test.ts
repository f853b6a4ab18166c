// Retransmission counts (connections.client_retrans/server_retrans, packets.retransmission)
// against two independent truths: the sending kernel's TcpRetransSegs on the namespace
// captures, and tshark's tcp.analysis flags on the public corpus (every difference explained).
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { analyzeInto, query, storedFindings } from './helpers/cli.ts';
import { corpusDir, corpusFiles, hasCorpus, hasTshark, repoRoot } from './helpers/env.ts';

const run = promisify(execFile);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'twscope-retrans-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Spec {
  capture: string;
  nstat?: Record<string, Record<string, number>>;
  check?: Record<string, unknown>;
}

function specs(): { dir: string; file: string; spec: Spec }[] {
  const out: { dir: string; file: string; spec: Spec }[] = [];
  for (const sub of ['captures/findings', 'captures/teardown']) {
    const dir = path.join(repoRoot, sub);
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
      out.push({ dir, file: f, spec: JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as Spec });
    }
  }
  return out;
}

/** copies the network made, which the sender's kernel never counted (the capture is taken after them) */
const NETWORK_COPIES: Record<string, { client: number; why: string }> = {
  'paws-delayed.pcapng': { client: 4, why: 'the router delays one segment past its retransmission, duplicates two and injects a forged copy of a fourth' },
};

describe('retransmissions against the sending kernel (TcpRetransSegs)', () => {
  // one client and one server namespace (and a router, which sends no TCP): the NAT scenarios have several clients
  const pairs = specs().filter(({ spec }) => {
    const ns = Object.keys(spec.nstat ?? {});
    return ns.every((n) => /-[csr]$/.test(n)) && ns.filter((n) => n.endsWith('-c')).length === 1 && ns.filter((n) => n.endsWith('-s')).length === 1;
  });
  it('has two-host scenario captures', () => expect(pairs.length).toBeGreaterThan(20));
  for (const { dir, file, spec } of pairs) {
    it(file, () => {
      const db = analyzeInto(tmp, path.join(dir, spec.capture));
      const [sum] = query<{ c: number; s: number }>(db, 'SELECT total(client_retrans) AS c, total(server_retrans) AS s FROM connections');
      const nsOf = (suffix: string): Record<string, number> => Object.entries(spec.nstat!).find(([n]) => n.endsWith(suffix))![1];
      const copies = NETWORK_COPIES[spec.capture]?.client ?? 0;
      expect(sum!.c, 'client').toBe((nsOf('-c').TcpRetransSegs ?? 0) + copies);
      expect(sum!.s, 'server').toBe(nsOf('-s').TcpRetransSegs ?? 0);
    });
  }
});

describe('retrans-loss: lost and reordered data segments, frame by frame', () => {
  const dir = path.join(repoRoot, 'captures/findings');
  const spec = JSON.parse(readFileSync(path.join(dir, 'retrans-loss.json'), 'utf8')) as Spec & {
    check: { held_frames: number[]; tshark_retransmission_frames: number[]; tshark_out_of_order_frames: number[]; client_TcpRetransSegs: number; server_TcpExtPAWSEstab: number; dropped: unknown[]; held: unknown[] };
  };
  const db = analyzeInto(tmp, path.join(dir, spec.capture), ['--packets']);
  const resent = new Set(query<{ frame: number }>(db, 'SELECT frame FROM packets WHERE retransmission = 1').map((r) => r.frame));
  // the held segments' first arrival: the original, late and overtaken; later ones are the client's copies
  const seqOf = new Map(query<{ frame: number; seq: number }>(db, 'SELECT frame, seq FROM packets').map((r) => [r.frame, r.seq]));
  const firstBySeq = new Map<number, number>();
  for (const f of [...spec.check.held_frames].sort((a, b) => a - b)) if (!firstBySeq.has(seqOf.get(f)!)) firstBySeq.set(seqOf.get(f)!, f);
  const originals = new Set(firstBySeq.values());

  it('drops and holds happened', () => {
    expect(spec.check.dropped.length).toBeGreaterThan(10);
    expect(originals.size).toBe(spec.check.held.length);
  });
  it('counts what the client kernel resent, and nothing else', () => {
    expect(resent.size).toBe(spec.check.client_TcpRetransSegs);
    const [c] = query<{ n: number }>(db, 'SELECT client_retrans AS n FROM connections');
    expect(c!.n).toBe(spec.check.client_TcpRetransSegs);
  });
  it('a held original is reordered, not resent; its copy is resent', () => {
    for (const f of originals) expect(resent.has(f), `frame ${f}`).toBe(false);
    for (const f of spec.check.held_frames) if (!originals.has(f)) expect(resent.has(f), `frame ${f}`).toBe(true);
  });
  it("agrees with tshark, which also calls a retransmission out-of-order within its first round trip", () => {
    const expected = new Set([...spec.check.tshark_retransmission_frames, ...spec.check.tshark_out_of_order_frames.filter((f) => !originals.has(f))]);
    expect([...resent].sort((a, b) => a - b)).toEqual([...expected].sort((a, b) => a - b));
    for (const f of originals) expect(spec.check.tshark_out_of_order_frames, `frame ${f}`).toContain(f);
  });
  it("PAWS: every held original is a violation, and Linux's verdict matches the server's PAWSEstab", () => {
    const paws = storedFindings(db, 'paws-violation');
    const more = paws.find((f) => 'linux_drops' in f.details);
    const listed = paws.filter((f) => !('linux_drops' in f.details));
    const violations = more ? (more.details.violations as number) : listed.length;
    expect(violations).toBe(originals.size);
    for (const f of listed) expect(originals.has(f.frames[f.frames.length - 1]!), `frame ${f.frames}`).toBe(true);
    // each one carries data the server did not have yet: overtaken on the way
    for (const f of listed) {
      expect(f.details.arrival).toBe('reordered');
      expect(f.summary).toMatch(/newer segments overtook it on the way \(reordering\)/);
    }
    const drops = more ? (more.details.linux_drops as number) : listed.filter((f) => f.details.linux_drop).length;
    expect(drops).toBe(spec.check.server_TcpExtPAWSEstab);
    expect(drops).toBeGreaterThan(0);
  });
});

/** file -> frames flagged by one side only, and why (anything else fails) */
const SEEN_BEFORE = 'copies of data the capture already showed, which tshark calls out-of-order because they come within its first round trip of the newest data; twscope counts data seen before as resent';
const CORPUS_DIFF: Record<string, { oursOnly: number; tsharkOnly: number; why: string }> = {
  'tcptrace__discard.solaris.dmp': { oursOnly: 12, tsharkOnly: 0, why: SEEN_BEFORE },
  'tcptrace__dsack.dmp': { oursOnly: 4, tsharkOnly: 0, why: SEEN_BEFORE + ' (frames 2543, 2544, 5998, 5999, 0.65-1 s after the first copies)' },
  'tcptrace__sack_nasa_sim.dump': { oursOnly: 4, tsharkOnly: 0, why: SEEN_BEFORE + ' (the same transfer as dsack.dmp)' },
  'tcptrace__hardware_dups.dmp': { oursOnly: 15, tsharkOnly: 0, why: SEEN_BEFORE + ' (a tap that duplicates frames)' },
  'zeek__pppoe-over-qinq.pcap': { oursOnly: 2, tsharkOnly: 0, why: SEEN_BEFORE + ' (frames 57 and 58 repeat frames 50 and 51)' },
  'suricata-verify__tcp-split-handshake-02-5whs__split-handshake-5whs.pcap': {
    oursOnly: 1, tsharkOnly: 0, why: "split handshake: the client's SYN-ACK (frame 4) repeats its SYN's sequence number; twscope keeps one connection (a simultaneous open) and counts the SYN sent again, tshark starts a new stream",
  },
  'PcapPlusPlus__dns_over_tcp.pcapng': { oursOnly: 0, tsharkOnly: 1, why: 'frame 4 is stamped 51 years after frame 1 on the same 4-tuple: a new connection after the idle timeout for twscope (see corpus-streams), a retransmission in the same stream for tshark' },
  'zeek__ipv6-http-atomic-frag.pcap': { oursOnly: 0, tsharkOnly: 1, why: "frame 8, the client's request, comes after the server's ACK of it (frame 6): the first sighting of that data for twscope, a spurious retransmission for tshark, which judges by the ACK" },
  'suricata-verify__tcp-fastopen-10-syn-data-ignore__input.pcap': { oursOnly: 0, tsharkOnly: 1, why: "the server's SYN-ACKs alternate between two ISNs; twscope takes a SYN-ACK with another ISN than the last as a new one, tshark flags frame 17" },
  'gopacket__linux_sll_oversized_addr.pcapng': {
    oursOnly: 1, tsharkOnly: 2, why: 'a damaged file: frame 187 jumps 1.1e9 ahead in sequence space and frame 188 goes on where the stream was with a newer TSval, sent after 187 (resent for twscope, out-of-order by time for tshark); frame 143 fills a skipped stretch with a garbage TSval 520 million ticks back, so twscope takes it for a segment sent before the skip; frame 34 carries FIN and RST together, and a RST takes no sequence space for twscope',
  },
  'gopacket__cip.pcap': {
    oursOnly: 0, tsharkOnly: 85, why: "71 in the EtherNet/IP session: the capture interleaves two copies of the traffic out of order, so data often shows after the peer's ACK of it, the first sighting for twscope and a spurious retransmission for tshark; 14 in the 4-tuple replayed every 20 s after a RST: new connections for twscope (see corpus-streams), one stream with repeated SYNs and data for tshark",
  },
};

async function tsharkResent(file: string): Promise<Set<number>> {
  let out = '';
  try {
    out = (await run('tshark', ['-r', file, '-Y', 'tcp.analysis.retransmission || tcp.analysis.fast_retransmission || tcp.analysis.spurious_retransmission', '-T', 'fields', '-e', 'frame.number'], { maxBuffer: 1 << 28 })).stdout;
  } catch (e) {
    out = (e as { stdout?: string }).stdout ?? '';
  }
  return new Set(out.split('\n').filter(Boolean).map(Number));
}

describe.skipIf(!hasCorpus || !hasTshark)('retransmissions against tshark on ../shared/corpus', () => {
  const found: Record<string, { oursOnly: number[]; tsharkOnly: number[] }> = {};
  for (const f of corpusFiles()) {
    it(f, async () => {
      const file = path.join(corpusDir, f);
      const theirs = await tsharkResent(file);
      let ours = new Set<number>();
      try {
        const db = analyzeInto(tmp, file, ['--packets']);
        ours = new Set(query<{ frame: number }>(db, 'SELECT frame FROM packets WHERE retransmission = 1').map((r) => r.frame));
      } catch {
        return; // damaged or not a capture: the reader tests cover those
      }
      const oursOnly = [...ours].filter((x) => !theirs.has(x)).sort((a, b) => a - b);
      const tsharkOnly = [...theirs].filter((x) => !ours.has(x)).sort((a, b) => a - b);
      if (oursOnly.length || tsharkOnly.length) found[f] = { oursOnly: oursOnly.slice(0, 12), tsharkOnly: tsharkOnly.slice(0, 12) };
      const exp = CORPUS_DIFF[f] ?? { oursOnly: 0, tsharkOnly: 0 };
      expect({ oursOnly: oursOnly.length, tsharkOnly: tsharkOnly.length }, JSON.stringify(found[f])).toEqual({ oursOnly: exp.oursOnly, tsharkOnly: exp.tsharkOnly });
    });
  }
});
