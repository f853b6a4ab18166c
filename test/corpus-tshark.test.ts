// Differential test: twscope's reader + decoder against tshark on every corpus file.
// For every frame: frame number and epoch time (to the ns). For every TCP frame: addresses,
// ports, 9 flag bits, raw seq/ack, tcp.len, TSval/TSecr. Files tshark rejects must be
// rejected (or read up to the damage) by twscope with a message, never a crash.
import { describe, it, expect, beforeAll } from 'vitest';
import path from 'node:path';
import { corpusDir, corpusFiles, hasCorpus, hasTshark, manifest } from './helpers/env.ts';
import { compareWithTshark, type FileOutcome } from './helpers/tshark.ts';

/**
 * Frames where twscope deliberately differs from tshark, with the reason. The test fails if
 * a frame differs and is not listed here, and also if a listed frame no longer differs.
 * Key: `file#frame`, value: reason.
 */
const IPCOMP = 'IPv6 AH + IPComp (DEFLATE-compressed inner IPv6/TCP): tshark inflates the payload, twscope does not decompress (counted as another IP protocol)';
const BOGUS_THL = 'TCP data offset larger than the IP payload (IP total length exceeds the frame) or < 5 words: tshark shows ports/seq with no segment length, twscope counts badTcpHeader and delivers no segment';
const FUZZ_6875 =
  "fuzzed 2.4 pcap: tshark's libpcap reader tries header variants (SuSE/Nokia-modified) on garbage and reads a 1-byte frame 2; twscope reads standard 2.4 records and stops at record 2 (implausible 1.4 GB caplen) with a damage message";
const EXCEPTIONS: Record<string, string> = {
  ...Object.fromEntries([3, 4, 5, 6, 7, 9, 10].map((n) => [`libpcap__filter__AH-IPcomp-IPv6.pcap#${n} tcp`, IPCOMP])),
  'gopacket__linux_sll_oversized_addr.pcapng#87 tcp': BOGUS_THL,
  'gopacket__linux_sll_oversized_addr.pcapng#95 tcp': BOGUS_THL,
  'suricata-verify__bug-6875-01__fuzz.pcap frame count: tshark 2, twscope 1': FUZZ_6875,
  'suricata-verify__bug-6875-01__fuzz.pcap#2 frame': FUZZ_6875,
  'tcpdump__timestamp_invalid_nano.pcap#3 time':
    'ts fraction 2147483648 is -2147483648 as a signed 32-bit ns value; tshark prints it as the string "-1418145370.2147483648" (sign of the ns part moved to the front), twscope normalises to 1418145367.852516352',
};

const outcomes = new Map<string, FileOutcome>();

async function pool<T>(items: string[], n: number, fn: (s: string) => Promise<T>): Promise<T[]> {
  const res: T[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const i = next++;
        res[i] = await fn(items[i]);
      }
    }),
  );
  return res;
}

const run = hasCorpus && hasTshark;
if (!run) console.warn(`corpus-tshark: SKIPPED (${!hasCorpus ? `no corpus at ${corpusDir}` : 'tshark not installed'})`);

describe.skipIf(!run)('corpus differential against tshark', () => {
  const files = corpusFiles();
  const man = manifest();

  beforeAll(async () => {
    const res = await pool(files, 3, (f) => compareWithTshark(path.join(corpusDir, f)));
    for (const r of res) outcomes.set(r.file, r);
    let frames = 0;
    let tcp = 0;
    for (const r of res) {
      frames += r.frames;
      tcp += r.tcpFrames;
    }
    console.log(`corpus-tshark: ${res.length} files, ${frames} frames, ${tcp} TCP frames compared`);
  }, 600_000);

  it('every difference from tshark is an explained exception, and every exception still applies', () => {
    const unexplained: string[] = [];
    const seen = new Set<string>();
    for (const r of outcomes.values()) {
      for (const d of r.diffs) {
        const m = /^#(\d+) (\w+)/.exec(d);
        const key = m ? `${r.file}#${m[1]} ${m[2]}` : `${r.file} ${d}`;
        if (key in EXCEPTIONS) seen.add(key);
        else unexplained.push(`${r.file} ${d}`);
      }
    }
    expect(unexplained.slice(0, 60)).toEqual([]);
    expect(Object.keys(EXCEPTIONS).filter((k) => !seen.has(k))).toEqual([]);
  });

  it('files tshark rejects or stops on are reported as damaged by twscope, and only those', () => {
    const bad: string[] = [];
    for (const r of outcomes.values()) {
      if ((r.tsharkError !== null) !== (r.twDamage !== null)) bad.push(`${r.file}: tshark=${r.tsharkError} twscope=${r.twDamage}`);
      if (r.twDamage !== null) {
        // one line naming the file and a byte offset
        expect(r.twDamage).not.toContain('\n');
        expect(r.twDamage).toContain(r.file);
        expect(r.twDamage).toMatch(/byte offset \d+/);
      }
    }
    expect(bad).toEqual([]);
  });

  it('frame counts match MANIFEST.tsv', async () => {
    const bad: string[] = [];
    let checked = 0;
    for (const r of outcomes.values()) {
      const row = man.get(r.file);
      if (!row || !/^\d+$/.test(row.packets)) continue;
      checked++;
      // the manifest counts packets; tshark's frame count also includes pcapng custom blocks
      if (r.tsharkError === null && r.frames - r.nonPacket !== Number(row.packets)) bad.push(`${r.file}: manifest ${row.packets}, compared ${r.frames - r.nonPacket}`);
    }
    expect(checked).toBeGreaterThan(100);
    expect(bad).toEqual([]);
  });
});
