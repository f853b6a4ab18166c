// Compare twscope's reader + decoder with tshark on one capture file.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { collect, type Collected } from './collect.ts';

export const FIELDS = [
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

interface TsharkResult {
  code: number | null;
  stderr: string;
  rows: string[][];
}

/** `extra`: more tshark arguments, e.g. `-d udp.port==8472,vxlan` */
export function runTshark(file: string, extra: string[] = []): Promise<TsharkResult> {
  return new Promise((resolve) => {
    const args = ['-r', file, '-n', '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=,', ...extra];
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
export function tsharkNs(s: string): bigint | null {
  const m = /^(-?)(\d+)\.(\d+)$/.exec(s);
  if (!m) return null;
  const frac = m[3].length <= 9 ? BigInt(m[3].padEnd(9, '0')) : BigInt(m[3]);
  const sec = BigInt(m[2]);
  return m[1] === '-' ? -sec * 1000000000n + frac : sec * 1000000000n + frac;
}

export interface FileOutcome {
  file: string;
  frames: number;
  tcpFrames: number;
  tsharkError: string | null;
  twDamage: string | null;
  nonPacket: number;
  diffs: string[];
}

export async function compareWithTshark(full: string, extra: string[] = []): Promise<FileOutcome> {
  const file = path.basename(full);
  const [ts, tw] = await Promise.all([runTshark(full, extra), collect([full]).catch((e: unknown) => e as Error)]);
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

