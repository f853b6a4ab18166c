// One decoded TCP segment. The decoder fills a single reused instance per frame
// (no per-packet allocation on the hot path); consumers copy what they keep.

export const FIN = 0x01;
export const SYN = 0x02;
export const RST = 0x04;
export const PSH = 0x08;
export const ACK = 0x10;
export const URG = 0x20;
export const ECE = 0x40;
export const CWR = 0x80;
/** AccECN / former NS bit (bit 8 of the 9 flag bits) */
export const AE = 0x100;

export class Segment {
  frame = 0;
  fileIndex = 0;
  tsSec = 0;
  tsNsec = 0;
  /** tsSec + tsNsec/1e9: sub-microsecond resolution lost, fine for arithmetic; exact value is tsSec/tsNsec */
  ts = 0;

  ipVersion: 4 | 6 = 4;
  /** IPv4: src0/dst0 hold the address as an unsigned 32-bit number, src1..3/dst1..3 are 0.
   *  IPv6: four big-endian 32-bit words. */
  src0 = 0; src1 = 0; src2 = 0; src3 = 0;
  dst0 = 0; dst1 = 0; dst2 = 0; dst3 = 0;
  ipTtl = 0;
  /** IPv4 identification, -1 for IPv6 */
  ipId = -1;

  srcPort = 0;
  dstPort = 0;
  /** raw (absolute) sequence and acknowledgment numbers, 0..2^32-1 */
  seq = 0;
  ack = 0;
  /** 9 flag bits: FIN SYN RST PSH ACK URG ECE CWR AE */
  flags = 0;
  /** raw window field, not scaled */
  window = 0;
  /** TCP payload length from the IP length fields (what tshark calls tcp.len), even if the capture cut it */
  payloadLen = 0;
  /** true when caplen ended before the end of the TCP payload */
  truncated = false;

  hasTs = false;
  tsval = 0;
  tsecr = 0;
  /** -1 when absent */
  mss = -1;
  /** -1 when absent (raw shift as sent, not clamped to 14) */
  wscale = -1;
  sackPermitted = false;
  /** number of SACK blocks; sackBlocks[2i], sackBlocks[2i+1] = left, right edge */
  sackCount = 0;
  readonly sackBlocks = new Float64Array(8);
  /** the option list was malformed (bad length, runs past the header); options before the fault are kept */
  optionsMalformed = false;
}
