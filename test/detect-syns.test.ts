// syn-retransmission on real captures: a bundled one (a SYN dropped by a firewall), one with
// every SYN captured twice (copies are not retransmissions), variants crafted from real frames
// (a SYN copy microseconds later, a port scan), and public ones (skipped without ../shared):
// tcptrace's 6syns sample and a port scan in gopacket's cip.pcap.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { corpusDir } from './helpers/env.ts';
import { analyzeInto, storedFindings, type StoredFinding } from './helpers/cli.ts';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'twscope-syns-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const synFindings = (capture: string): StoredFinding[] => storedFindings(analyzeInto(tmp, capture), 'syn-retransmission');

describe('syn-retransmission', () => {
  it('a SYN sent three times and never answered (iptables DROP) is an unanswered attempt, warning', () => {
    const f = synFindings('captures/teardown/unanswered.pcap');
    expect(f.length).toBe(1);
    expect(f[0]!.severity).toBe('warning');
    expect(f[0]!.frames).toEqual([1]);
    expect(f[0]!.details).toMatchObject({ scope: 'service', service: '192.0.2.70:8012', attempts: 1, delayed: 0, unanswered: 1, syn_retransmissions: 2, connect_delay_max: null });
    expect(f[0]!.summary).toMatch(/^1 of 1 connection attempt to 192\.0\.2\.70:8012 got no answer to its repeated SYNs \(connect\(\) fails with ETIMEDOUT/);
    expect(f[0]!.wireshark_filter).toBe('ip.dst == 192.0.2.70 && tcp.dstport == 8012 && tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.analysis.retransmission');
  });

  it('each SYN captured twice (two interfaces, microseconds apart) is no retransmission', () => {
    expect(synFindings('captures/formats/multi-if.pcapng')).toEqual([]);
  });
});

// Variants crafted from real frames (helpers/craft.ts writes them as classic pcap): a copy of a
// SYN in the capture, and a port scan. No kernel here writes the first; the second is what
// scanning a firewalled host looks like, built from one real unanswered attempt.
describe('syn-retransmission on crafted variants of real captures', () => {
  const ethTcp = (b: Uint8Array): number => 14 + (b[14]! & 15) * 4;

  it('a copy of the SYN microseconds later (a duplicating tap) is no retransmission', async () => {
    const { pcapFile, realRecords } = await import('./helpers/craft.ts');
    const recs = await realRecords(); // lo-eth.pcap: frame 1 is a SYN, frame 2 its SYN-ACK 14 us later
    const syn = recs[0]!;
    const file = path.join(tmp, 'syn-copy.pcap');
    writeFileSync(file, pcapFile([syn, { ...syn, frac: syn.frac + 5 }, ...recs.slice(1)]));
    expect(synFindings(file)).toEqual([]);
    // the same SYN first sent a second earlier (a retransmission timeout) is one
    writeFileSync(file, pcapFile([{ ...syn, sec: syn.sec - 1 }, ...recs]));
    const f = synFindings(file);
    expect(f.length).toBe(1);
    expect(f[0]!.details).toMatchObject({ delayed: 1, syn_retransmissions: 1 });
  });

  it('SYNs to 12 ports of one address, none answered, are one finding for the address', async () => {
    const { pcapFile, realRecords } = await import('./helpers/craft.ts');
    // unanswered.pcap: one attempt, its SYN sent three times, dropped by iptables
    const syns = await realRecords('../teardown/unanswered.pcap');
    const recs: typeof syns = [];
    for (let p = 0; p < 12; p++) {
      for (const r of syns) {
        const b = Uint8Array.from(r.data);
        const v = new DataView(b.buffer);
        const t = ethTcp(b);
        v.setUint16(t, 41000 + p); // source port
        v.setUint16(t + 2, 9000 + p); // destination port
        recs.push({ ...r, frac: r.frac + p * 1000, data: b });
      }
    }
    recs.sort((a, b) => a.sec - b.sec || a.frac - b.frac);
    const file = path.join(tmp, 'scan.pcap');
    writeFileSync(file, pcapFile(recs));
    const f = synFindings(file);
    expect(f.length).toBe(1);
    expect(f[0]!.severity).toBe('info');
    expect(f[0]!.details).toMatchObject({ scope: 'host', server: '192.0.2.70', ports: 12, attempts: 12, syn_retransmissions: 24 });
    expect(f[0]!.summary).toMatch(/^SYNs to 12 ports of 192\.0\.2\.70 got no answer at all \(12 attempts from 1 client, 24 SYNs sent again\): a port scan/);
  });
});

const sixSyns = path.join(corpusDir, 'tcptrace__6syns.dmp');
describe.skipIf(!existsSync(sixSyns))('tcptrace 6syns', () => {
  it('two connections on one 4-tuple, answered after 4 and 2 SYNs: both delayed, by 6.9 s and 43.0 s', () => {
    const f = synFindings(sixSyns);
    expect(f.length).toBe(1);
    const d = f[0]!.details;
    expect(d).toMatchObject({ service: '132.235.67.34:9080', attempts: 2, delayed: 2, unanswered: 0, syn_retransmissions: 4 });
    expect(d.connect_delay_max as number).toBeCloseTo(43.0, 1);
    // the median of two is their mean
    expect(d.connect_delay_median as number).toBeCloseTo((43.0 + 6.92) / 2, 1);
    expect(f[0]!.summary).toMatch(/connect\(\) took 6\.\d\d s to 43\.0 s\)/);
  });
});

const cip = path.join(corpusDir, 'gopacket__cip.pcap');
describe.skipIf(!existsSync(cip))('a port scan', () => {
  it('is one finding for the scanned address, not one per port', () => {
    const f = synFindings(cip);
    const host = f.filter((r) => r.details.scope === 'host');
    expect(host.length).toBe(1);
    expect(host[0]!.severity).toBe('info');
    expect(host[0]!.details).toMatchObject({ server: '10.200.1.18', ports: 785, attempts: 2838 });
    expect(host[0]!.summary).toMatch(/^SYNs to 785 ports of 10\.200\.1\.18 got no answer at all \(2,838 attempts from 3 clients, \d+ SYNs sent again\): a port scan/);
    // no per-port finding on the scanned address: its only other SYN copy (0.7 ms apart) is not a retransmission
    expect(f.filter((r) => r.details.scope === 'service').map((r) => r.details.service)).toEqual(['54.175.48.202:80']);
  });
});
