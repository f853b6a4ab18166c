// Differential test: twscope's reader + decoder against tshark on every corpus file.
// For every frame: frame number and epoch time (to the ns). For every TCP frame: addresses,
// ports, 9 flag bits, raw seq/ack, tcp.len, TSval/TSecr. Files tshark rejects must be
// rejected (or read up to the damage) by twscope with a message, never a crash.
import { describe, it, expect, beforeAll } from 'vitest';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { corpusDir, corpusFiles, hasCorpus, hasTshark, manifest } from './helpers/env.ts';
import { collect, type Collected } from './helpers/collect.ts';

const FIELDS = [
  'frame.number',
  'frame.time_epoch',
  'ip.src',
  'ipv6.src',
  'ip.dst',
  'ipv6.dst',
  'tcp.srcport',
  'tcp.dstport',
  'tcp.flags',
  'tcp.seq_raw',
  'tcp.ack_raw',
  'tcp.len',
  'tcp.options.timestamp.tsval',
  'tcp.options.timestamp.tsecr',
];

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

interface TsharkResult {
  code: number | null;
  stderr: string;
  rows: string[][];
}

function runTshark(file: string): Promise<TsharkResult> {
  return new Promise((resolve) => {
    const args = ['-r', file, '-n', '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=,'];
    for (const f of FIELDS) args.push('-e', f);
    args.push('-o', 'tcp.analyze_sequence_numbers:FALSE', '-o', 'tcp.desegment_tcp_streams:FALSE');
    const p = spawn('tshark', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => err.push(d));
    p.on('close', (code) => {
      const text = Buffer.concat(out).toString('utf8');
      const rows = text.split('\n').filter((l) => l.length > 0).map((l) => l.split('\t'));
      const stderr = Buffer.concat(err)
        .toString('utf8')
        .split('\n')
        .filter((l) => l && !l.startsWith('Running as user'))
        .join(' ');
      resolve({ code, stderr, rows });
    });
  });
}

/** tshark's "S.F" epoch (F may be 9 digits, or more when the ns field is >= 1e9) -> ns as BigInt, or null if unparseable */
function tsharkNs(s: string): bigint | null {
  const m = /^(-?)(\d+)\.(\d+)$/.exec(s);
  if (!m) return null;
  const frac = m[3].length <= 9 ? BigInt(m[3].padEnd(9, '0')) : BigInt(m[3]);
  const sec = BigInt(m[2]);
  return m[1] === '-' ? -sec * 1000000000n + frac : sec * 1000000000n + frac;
}

interface FileOutcome {
  file: string;
  frames: number;
  tcpFrames: number;
  tsharkError: string | null;
  twDamage: string | null;
  nonPacket: number;
  diffs: string[];
}

const outcomes = new Map<string, FileOutcome>();

async function compareFile(file: string): Promise<FileOutcome> {
  const full = path.join(corpusDir, file);
  const [ts, tw] = await Promise.all([runTshark(full), collect([full]).catch((e: unknown) => e as Error)]);
  const out: FileOutcome = { file, frames: 0, tcpFrames: 0, tsharkError: ts.code === 0 ? null : ts.stderr || `exit ${ts.code}`, twDamage: null, nonPacket: 0, diffs: [] };
  if (tw instanceof Error) {
    out.diffs.push(`twscope threw: ${tw.message}`);
    return out;
  }
  const c: Collected = tw;
  out.twDamage = c.res.damage ? c.res.damage.message : null;
  out.frames = ts.rows.length;
  if (c.res.frames !== ts.rows.length) out.diffs.push(`frame count: tshark ${ts.rows.length}, twscope ${c.res.frames}`);
  const byFrame = new Map(c.records.map((r) => [r.frame, r]));
  let nonPacket = 0;
  for (const row of ts.rows) {
    const frame = Number(row[0]);
    const rec = byFrame.get(frame);
    if (!rec) {
      // a record tshark shows without a timestamp and twscope hands to no sink: pcapng custom block
      if (row[1] === '' && frame <= c.res.frames) nonPacket++;
      else out.diffs.push(`#${frame} frame: missing in twscope`);
      continue;
    }
    if (row[1] === '') {
      // tshark has no time for Simple Packet Blocks; twscope uses 0
      if (rec.tsSec !== 0 || rec.tsNsec !== 0) out.diffs.push(`#${frame} time: tshark none, twscope ${rec.tsSec}.${rec.tsNsec}`);
    } else {
      const tns = tsharkNs(row[1]);
      const ours = BigInt(rec.tsSec) * 1000000000n + BigInt(rec.tsNsec);
      if (tns !== ours) out.diffs.push(`#${frame} time: tshark ${row[1]}, twscope ${rec.tsSec}.${String(rec.tsNsec).padStart(9, '0')}`);
    }
    const tcpTshark = row[6] !== '' && row[6] !== undefined;
    const seg = c.tcp.get(frame);
    if (!tcpTshark) {
      if (seg) out.diffs.push(`#${frame} tcp: twscope decodes TCP, tshark does not`);
      continue;
    }
    out.tcpFrames++;
    if (!seg) {
      out.diffs.push(`#${frame} tcp: tshark decodes TCP, twscope does not`);
      continue;
    }
    // tunnels: tshark lists every IP layer; the TCP belongs to the innermost one
    const last = (v: string): string => v.split(',').pop() ?? '';
    const src = last(seg.ipVersion === 4 ? row[2] : row[3]);
    const dst = last(seg.ipVersion === 4 ? row[4] : row[5]);
    const exp: Record<string, string> = {
      src,
      dst,
      sport: row[6],
      dport: row[7],
      flags: String(parseInt(row[8], 16) & 0x1ff),
      seq: row[9],
      ack: row[10],
      len: row[11],
      tsval: row[12],
      tsecr: row[13],
    };
    const got: Record<string, string> = {
      src: seg.src,
      dst: seg.dst,
      sport: String(seg.sport),
      dport: String(seg.dport),
      flags: String(seg.flags),
      seq: String(seg.seq),
      ack: String(seg.ack),
      len: String(seg.len),
      tsval: seg.tsval === null ? '' : String(seg.tsval),
      tsecr: seg.tsecr === null ? '' : String(seg.tsecr),
    };
    for (const k of Object.keys(exp)) {
      if (exp[k] !== got[k]) out.diffs.push(`#${frame} ${k}: tshark '${exp[k]}', twscope '${got[k]}'`);
    }
  }
  out.nonPacket = nonPacket;
  if (nonPacket !== (c.res.files[0].nonPacketRecords ?? 0)) out.diffs.push(`non-packet records: tshark ${nonPacket}, twscope ${c.res.files[0].nonPacketRecords}`);
  return out;
}

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
    const res = await pool(files, 3, compareFile);
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
