// Tracker edge cases on real captures.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { corpusDir, repoRoot } from './helpers/env.ts';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'twscope-edge-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** `capture`: under the repository, or an absolute path (the corpus) */
function analyze(capture: string): Database.Database {
  const db = path.join(tmp, path.basename(capture) + '.db');
  execFileSync(process.execPath, [path.join(repoRoot, 'bin/twscope.js'), 'analyze', path.resolve(repoRoot, capture), '--db', db, '-q']);
  return new Database(db, { readonly: true });
}

describe('tracker edge cases', () => {
  it('a multi-interface pcapng with every packet twice (lo + any, not interleaved) is not taken for 4-tuple reuse', () => {
    const d = analyze('captures/formats/multi-if.pcapng');
    // dumpcap wrote each SYN once per interface, the second copy after the connection had closed
    const conns = d.prepare('SELECT client_port, close_kind, syn_count FROM connections ORDER BY first_frame').all() as { client_port: number; close_kind: string; syn_count: number }[];
    const reuse = d.prepare("SELECT count(*) AS n FROM findings WHERE kind = 'time-wait-reuse'").get() as { n: number };
    d.close();
    expect(reuse.n).toBe(0);
    expect(new Set(conns.map((c) => c.client_port)).size).toBe(conns.length);
    expect(conns.every((c) => c.syn_count === 2)).toBe(true);
  });
});

describe('end of capture', () => {
  it('the connections still held are released in id order (rows append to the store; detectors see them in that order)', async () => {
    const { readCaptures } = await import('../src/reader/index.ts');
    const { PacketDecoder } = await import('../src/decode/index.ts');
    const { Segment } = await import('../src/decode/segment.ts');
    const { Tracker } = await import('../src/tracker/tracker.ts');
    const ended: number[] = [];
    let finishing = false;
    const atFinish: number[] = [];
    const tracker = new Tracker({ timeWait: 60, idleTimeout: 300, firstId: 1 }, {
      onSegment() {},
      onReuse() {},
      onConnEnd(c) {
        ended.push(c.id);
        if (finishing) atFinish.push(c.id);
      },
    });
    const dec = new PacketDecoder();
    const seg = new Segment();
    await readCaptures([path.join(repoRoot, 'captures/findings/port-exhaustion.pcap')], (f) => {
      if (dec.decode(f, seg)) tracker.push(seg);
    });
    finishing = true;
    tracker.finish();
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
    expect(rows.every((r) => /^(An ACK|A segment of \d+ bytes|A reset) from the /.test(r.summary))).toBe(true);
  });
});
