// `twscope packets <capture...>`: one line per TCP segment, straight from reader + decoder.

import { Command, Option } from 'commander';
import { readCaptures, CaptureOpenError, type Frame } from '../reader/index.js';
import { PacketDecoder, Segment } from '../decode/index.js';
import { flagLetters, formatEpoch, formatIso, segDst, segSrc } from '../decode/format.js';
import { UserError } from './errors.js';
import { drained, readerGone } from './stdout.js';

const COLUMNS = ['frame', 'time', 'src', 'sport', 'dst', 'dport', 'flags', 'seq', 'ack', 'win', 'len', 'tsval', 'tsecr'] as const;
/** minimum widths for the text format; negative = left-aligned */
const WIDTHS = [6, -17, 15, 5, -15, 5, -5, 10, 10, 5, 5, 10, 10];

interface PacketsOptions {
  format: 'text' | 'tsv' | 'jsonl';
  limit?: number;
  time: 'epoch' | 'iso';
}

function pad(s: string, w: number): string {
  return w < 0 ? s.padEnd(-w) : s.padStart(w);
}

export function registerPackets(program: Command): void {
  program
    .command('packets')
    .description('print one line per TCP segment (frame, time, addresses, ports, flags, raw seq/ack, window, payload length, TSval/TSecr)')
    .argument('<capture...>', 'pcap / pcapng files (gzip ok); several files are merged by time; - reads standard input')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'tsv', 'jsonl']).default('text'))
    .addOption(new Option('--time <style>', 'time column: epoch seconds or ISO 8601 UTC').choices(['epoch', 'iso']).default('epoch'))
    .option('--limit <n>', 'stop after N segments', (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new UserError(`--limit: expected a non-negative integer, got '${v}'`);
      return n;
    })
    .addHelpText(
      'after',
      `
Columns: frame (Wireshark's frame number; merged files are numbered like mergecap's output),
time (epoch seconds, 9 decimals for nanosecond captures, else 6), src, sport, dst, dport,
flags, seq, ack (raw, absolute), win (raw, unscaled), len (TCP payload length from the IP
header, tshark's tcp.len), tsval, tsecr (empty when the segment has no timestamp option).

Flags: S=SYN F=FIN R=RST P=PSH A=ACK U=URG E=ECE C=CWR N=AE, in that order; '-' = none.
  e.g. S (SYN), SA (SYN-ACK), A, PA (data), FA (FIN-ACK), R, RA.

A damaged capture prints what was read before the damage, then one line on stderr, exit 2.

Examples:
  $ twscope packets trace.pcap
  $ twscope packets --format tsv --limit 100 trace.pcapng.gz
  $ twscope packets --format jsonl rotated-0.pcap rotated-1.pcap | jq .flags
  $ tcpdump -i any -w - 'tcp' | twscope packets -`,
    )
    .action(async (paths: string[], opts: PacketsOptions) => {
      await runPackets(paths, opts);
    });
}

class Out {
  private parts: string[] = [];
  private size = 0;
  /** the last write was queued: stdout is behind */
  private behind = false;
  /** aborted when the reader has gone (`| head`): reading the rest of the capture is pointless */
  constructor(private readonly gone: AbortController) {}
  push(s: string): void {
    this.parts.push(s);
    this.size += s.length;
    if (this.size > 1 << 16) this.flush();
  }
  flush(): void {
    if (this.parts.length === 0) return;
    if (readerGone(process.stdout)) this.gone.abort();
    else if (!process.stdout.write(this.parts.join(''))) this.behind = true;
    this.parts = [];
    this.size = 0;
  }
  /** stdout has more queued than it takes (a socket is written asynchronously): hold reading
   *  back until it drains, or the whole output would wait in memory */
  pace = (): Promise<void> | undefined => {
    if (!this.behind) return undefined;
    this.behind = false;
    return drained(process.stdout);
  };
}

async function runPackets(paths: string[], opts: PacketsOptions): Promise<void> {
  const dec = new PacketDecoder();
  const seg = new Segment();
  const limit = opts.limit ?? Infinity;
  let n = 0;
  const ac = new AbortController();
  const out = new Out(ac);
  const fmt = opts.format;
  const iso = opts.time === 'iso';
  if (fmt === 'tsv') out.push(COLUMNS.join('\t') + '\n');
  else if (fmt === 'text') out.push(COLUMNS.map((c, i) => pad(c, WIDTHS[i])).join(' ').trimEnd() + '\n');
  if (limit === 0) ac.abort();

  const sink = (f: Frame): void => {
    if (n >= limit) return;
    if (!dec.decode(f, seg)) return;
    n++;
    const digits = f.tsDigits ?? 6;
    const time = iso ? formatIso(seg.tsSec, seg.tsNsec, digits) : formatEpoch(seg.tsSec, seg.tsNsec, digits);
    const tsval = seg.hasTs ? String(seg.tsval) : '';
    const tsecr = seg.hasTs ? String(seg.tsecr) : '';
    if (fmt === 'jsonl') {
      out.push(
        JSON.stringify({
          frame: seg.frame,
          time,
          tsSec: seg.tsSec,
          tsNsec: seg.tsNsec,
          src: segSrc(seg),
          sport: seg.srcPort,
          dst: segDst(seg),
          dport: seg.dstPort,
          flags: flagLetters(seg.flags),
          seq: seg.seq,
          ack: seg.ack,
          win: seg.window,
          len: seg.payloadLen,
          tsval: seg.hasTs ? seg.tsval : null,
          tsecr: seg.hasTs ? seg.tsecr : null,
          mss: seg.mss >= 0 ? seg.mss : null,
          wscale: seg.wscale >= 0 ? seg.wscale : null,
          sackPermitted: seg.sackPermitted,
          sack: seg.sackCount > 0 ? Array.from(seg.sackBlocks.subarray(0, 2 * seg.sackCount)) : null,
          truncated: seg.truncated,
          ...(f.fileIndex > 0 || paths.length > 1 ? { file: f.fileIndex } : {}),
        }) + '\n',
      );
    } else {
      const cols = [
        String(seg.frame),
        time,
        segSrc(seg),
        String(seg.srcPort),
        segDst(seg),
        String(seg.dstPort),
        flagLetters(seg.flags),
        String(seg.seq),
        String(seg.ack),
        String(seg.window),
        String(seg.payloadLen),
        tsval,
        tsecr,
      ];
      if (fmt === 'tsv') out.push(cols.join('\t') + '\n');
      else {
        let line = '';
        for (let i = 0; i < cols.length; i++) line += (i ? ' ' : '') + pad(cols[i], WIDTHS[i]);
        out.push(line.trimEnd() + '\n');
      }
    }
    if (n >= limit) ac.abort();
  };

  let res;
  try {
    res = await readCaptures(paths, sink, { signal: ac.signal, pace: out.pace });
  } catch (e) {
    if (e instanceof CaptureOpenError) throw new UserError(e.message);
    throw e;
  }
  out.flush();
  if (res.damage && n < limit) {
    process.stderr.write(`twscope: ${res.damage.message}\n`);
    process.exitCode = 2;
  }
}
