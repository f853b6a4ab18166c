// Read a capture with the real reader + decoder and collect what tests compare.
import { readCaptures, type ReadResult } from '../../src/reader/index.ts';
import { PacketDecoder, Segment } from '../../src/decode/index.ts';
import { formatAddr } from '../../src/decode/format.ts';

export interface RecordInfo {
  frame: number;
  fileIndex: number;
  tsSec: number;
  tsNsec: number;
  caplen: number;
  origLen: number;
  linkType: number;
  bytes?: Uint8Array;
}

export interface TcpInfo {
  frame: number;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  flags: number;
  seq: number;
  ack: number;
  win: number;
  len: number;
  tsval: number | null;
  tsecr: number | null;
  mss: number;
  wscale: number;
  sackPermitted: boolean;
  sack: number[];
  truncated: boolean;
  optionsMalformed: boolean;
  ipVersion: number;
}

export interface Collected {
  res: ReadResult;
  records: RecordInfo[];
  tcp: Map<number, TcpInfo>;
  decoder: PacketDecoder;
}

export async function collect(paths: string[], opts: { keepBytes?: boolean; chunkSize?: number } = {}): Promise<Collected> {
  const dec = new PacketDecoder();
  const seg = new Segment();
  const records: RecordInfo[] = [];
  const tcp = new Map<number, TcpInfo>();
  const res = await readCaptures(
    paths,
    (f) => {
      records.push({
        frame: f.frame,
        fileIndex: f.fileIndex,
        tsSec: f.tsSec,
        tsNsec: f.tsNsec,
        caplen: f.caplen,
        origLen: f.origLen,
        linkType: f.linkType,
        bytes: opts.keepBytes ? f.buf.slice(f.off, f.off + f.caplen) : undefined,
      });
      if (dec.decode(f, seg)) {
        tcp.set(f.frame, {
          frame: seg.frame,
          src: formatAddr(seg.ipVersion, seg.src0, seg.src1, seg.src2, seg.src3),
          dst: formatAddr(seg.ipVersion, seg.dst0, seg.dst1, seg.dst2, seg.dst3),
          sport: seg.srcPort,
          dport: seg.dstPort,
          flags: seg.flags,
          seq: seg.seq,
          ack: seg.ack,
          win: seg.window,
          len: seg.payloadLen,
          tsval: seg.hasTs ? seg.tsval : null,
          tsecr: seg.hasTs ? seg.tsecr : null,
          mss: seg.mss,
          wscale: seg.wscale,
          sackPermitted: seg.sackPermitted,
          sack: Array.from(seg.sackBlocks.subarray(0, 2 * seg.sackCount)),
          truncated: seg.truncated,
          optionsMalformed: seg.optionsMalformed,
          ipVersion: seg.ipVersion,
        });
      }
    },
    { chunkSize: opts.chunkSize },
  );
  return { res, records, tcp, decoder: dec };
}
