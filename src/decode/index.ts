// Packet decoder: link layer -> IPv4/IPv6 -> TCP, into a reused Segment.
// Hot path: bytes are read by index from the frame's chunk; no allocation, no closures,
// no try/catch per packet.

import type { Frame } from '../reader/types.js';
import { Segment } from './segment.js';

export { Segment } from './segment.js';
export * from './segment.js';
export { formatAddr, segSrc, segDst, flagLetters } from './format.js';

/** LINKTYPE_* values the decoder understands */
export const LINKTYPE = {
  NULL: 0,
  ETHERNET: 1,
  /** DLT_RAW as written by some BSDs (LINKTYPE 12 in files) */
  RAW_12: 12,
  /** DLT_RAW on OpenBSD */
  RAW_14: 14,
  RAW: 101,
  LOOP: 108,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

/** Counters by kind; plain numbers, fit to print or to store as JSON. */
export interface DecodeStats {
  /** frames given to the decoder */
  frames: number;
  ipv4: number;
  ipv6: number;
  /** TCP segments decoded (decode() returned true) */
  tcp: number;
  udp: number;
  icmp: number;
  /** other IP protocols (and IPv6 chains ending in ESP / no-next-header) */
  otherIpProto: number;
  arp: number;
  /** link payloads that are neither IP nor ARP (other ethertypes, LLC, other address families) */
  otherEthertype: number;
  unknownLinkType: number;
  /** IPv4/IPv6 fragments with a non-zero offset: counted, not decoded */
  nonFirstFragment: number;
  /** frames cut by the snapshot length before the end of the link/IP/TCP fixed headers */
  truncated: number;
  /** TCP segments decoded whose options or payload were cut by the snapshot length */
  tcpCut: number;
  /** of those, segments cut inside the TCP header (options: timestamps, MSS, SACK unknown) */
  tcpOptionsCut: number;
  /** TCP segments with a malformed option list (kept, options before the fault decoded) */
  tcpOptionsMalformed: number;
  badIpHeader: number;
  /** TCP data offset < 5 words or larger than the IP payload */
  badTcpHeader: number;
  /** IPv6 extension header chains longer than the bound */
  ipv6ChainTooLong: number;
  /** encapsulations opened to reach an inner packet: IP in IP, GRE (with ERSPAN, NVGRE), VXLAN,
   *  Geneve, MPLS. The connections are the inner ones */
  tunnels: number;
  /** frames nested deeper than MAX_NEST encapsulations (not decoded) */
  tunnelTooDeep: number;
}

export function newDecodeStats(): DecodeStats {
  return {
    frames: 0,
    ipv4: 0,
    ipv6: 0,
    tcp: 0,
    udp: 0,
    icmp: 0,
    otherIpProto: 0,
    arp: 0,
    otherEthertype: 0,
    unknownLinkType: 0,
    nonFirstFragment: 0,
    truncated: 0,
    tcpCut: 0,
    tcpOptionsCut: 0,
    tcpOptionsMalformed: 0,
    badIpHeader: 0,
    badTcpHeader: 0,
    ipv6ChainTooLong: 0,
    tunnels: 0,
    tunnelTooDeep: 0,
  };
}

const ET_IPV4 = 0x0800;
const ET_IPV6 = 0x86dd;
const ET_ARP = 0x0806;
/** longest IPv6 extension-header chain walked before giving up */
export const IPV6_MAX_EXT_HEADERS = 16;
/** longest stack of VLAN tags / PPPoE / MPLS labels followed */
const MAX_TAGS = 8;
/** encapsulations followed into one frame (IP in IP, GRE, VXLAN, Geneve, MPLS); each is a level of
 *  recursion, and a crafted frame could otherwise nest thousands */
export const MAX_NEST = 8;
/** UDP ports of VXLAN: IANA's, and Linux's default (flannel, Cilium), also what tshark calls VXLAN
 *  with `-d udp.port==8472,vxlan` */
const VXLAN_PORT = 4789;
const VXLAN_LINUX_PORT = 8472;
const GENEVE_PORT = 6081;
const ET_TEB = 0x6558;
const ET_MPLS = 0x8847;
const ET_ERSPAN2 = 0x88be;
const ET_ERSPAN3 = 0x22eb;

export class PacketDecoder {
  readonly stats: DecodeStats = newDecodeStats();
  /** encapsulations opened in the current frame */
  private nest = 0;

  /** true when `seg` now holds a TCP segment (its other contents are unspecified otherwise) */
  decode(frame: Frame, seg: Segment): boolean {
    const st = this.stats;
    st.frames++;
    this.nest = 0;
    const b = frame.buf;
    const start = frame.off;
    const end = start + frame.caplen;
    let o = start;
    let et = -1;
    switch (frame.linkType) {
      case 1: // Ethernet
        if (end - start < 14) {
          st.truncated++;
          return false;
        }
        et = (b[start + 12] << 8) | b[start + 13];
        o = start + 14;
        break;
      case 113: // Linux cooked v1
        if (end - start < 16) {
          st.truncated++;
          return false;
        }
        et = (b[start + 14] << 8) | b[start + 15];
        o = start + 16;
        break;
      case 276: // Linux cooked v2
        if (end - start < 20) {
          st.truncated++;
          return false;
        }
        et = (b[start] << 8) | b[start + 1];
        o = start + 20;
        break;
      case 101:
      case 12:
      case 14: {
        if (end - start < 1) {
          st.truncated++;
          return false;
        }
        const v = b[start] >> 4;
        et = v === 4 ? ET_IPV4 : v === 6 ? ET_IPV6 : -1;
        if (et < 0) {
          st.badIpHeader++;
          return false;
        }
        break;
      }
      case 228:
        et = ET_IPV4;
        break;
      case 229:
        et = ET_IPV6;
        break;
      case 0: // BSD NULL: address family in the writer's byte order
      case 108: {
        // LOOP: network byte order
        if (end - start < 4) {
          st.truncated++;
          return false;
        }
        let af: number;
        if (frame.linkType === 108) af = ((b[start] << 24) | (b[start + 1] << 16) | (b[start + 2] << 8) | b[start + 3]) >>> 0;
        else {
          // small value in either byte order (Wireshark's rule: upper 16 bits set -> swapped)
          const lev = (b[start] | (b[start + 1] << 8) | (b[start + 2] << 16) | (b[start + 3] << 24)) >>> 0;
          af = (lev & 0xffff0000) !== 0 ? ((b[start] << 24) | (b[start + 1] << 16) | (b[start + 2] << 8) | b[start + 3]) >>> 0 : lev;
        }
        o = start + 4;
        if (af === 2) et = ET_IPV4;
        else if (af === 24 || af === 28 || af === 30 || af === 10) et = ET_IPV6;
        else {
          st.otherEthertype++;
          return false;
        }
        break;
      }
      default:
        st.unknownLinkType++;
        return false;
    }
    // reported (on-the-wire) bytes from here
    const rep = frame.origLen - (o - start);
    // the common case straight away (a call less per packet)
    if (et === ET_IPV4) return this.ipv4(frame, seg, b, o, end, rep);
    return this.network(frame, seg, b, o, end, rep, et);
  }

  /** an encapsulation's inner packet is next: false (counted) when frames nest too deep */
  private enter(): boolean {
    if (++this.nest > MAX_NEST) {
      this.stats.tunnelTooDeep++;
      return false;
    }
    this.stats.tunnels++;
    return true;
  }

  /** an Ethernet frame inside a tunnel (VXLAN, Geneve, NVGRE, ERSPAN) */
  private ether(frame: Frame, seg: Segment, b: Uint8Array, o: number, end: number, rep: number): boolean {
    if (o + 14 > end) {
      this.stats.truncated++;
      return false;
    }
    return this.network(frame, seg, b, o + 14, end, rep - 14, (b[o + 12] << 8) | b[o + 13]);
  }

  /** from an ethertype at `o`: VLAN tags, PPPoE, MPLS, then IP; `rep` counts the reported
   *  (on-the-wire) bytes from `o`, which PPPoE's length field narrows like tshark */
  private network(frame: Frame, seg: Segment, b: Uint8Array, o: number, end: number, rep: number, et: number): boolean {
    const st = this.stats;
    // VLAN tag stacks (802.1Q, 802.1ad, old QinQ 0x9100/0x9200), PPPoE session, MPLS label stacks
    for (let i = 0; i < MAX_TAGS; i++) {
      if (et === 0x8100 || et === 0x88a8 || et === 0x9100 || et === 0x9200) {
        if (o + 4 > end) {
          st.truncated++;
          return false;
        }
        et = (b[o + 2] << 8) | b[o + 3];
        o += 4;
        rep -= 4;
      } else if (et === 0x8864) {
        if (o + 8 > end) {
          st.truncated++;
          return false;
        }
        const ppp = (b[o + 6] << 8) | b[o + 7];
        const plen = ((b[o + 4] << 8) | b[o + 5]) - 2;
        o += 8;
        rep -= 8;
        if (plen >= 0 && plen < rep) rep = plen;
        et = ppp === 0x0021 ? ET_IPV4 : ppp === 0x0057 ? ET_IPV6 : -2;
        break;
      } else if (et === ET_MPLS) {
        if (!this.enter()) return false;
        // labels up to the bottom of the stack, then IP by its version nibble (as tshark guesses)
        let bottom = false;
        for (let k = 0; k < MAX_TAGS && !bottom; k++) {
          if (o + 4 > end) {
            st.truncated++;
            return false;
          }
          bottom = (b[o + 2] & 1) !== 0;
          o += 4;
          rep -= 4;
        }
        if (!bottom || o >= end) {
          st.otherEthertype++;
          return false;
        }
        const v = b[o] >> 4;
        et = v === 4 ? ET_IPV4 : v === 6 ? ET_IPV6 : -2;
        break;
      } else break;
    }
    if (et === ET_IPV4) return this.ipv4(frame, seg, b, o, end, rep);
    if (et === ET_IPV6) return this.ipv6(frame, seg, b, o, end, rep);
    if (et === ET_ARP) st.arp++;
    else st.otherEthertype++;
    return false;
  }

  private ipv4(frame: Frame, seg: Segment, b: Uint8Array, o: number, end: number, reported: number): boolean {
    const st = this.stats;
    if (o + 20 > end) {
      st.truncated++;
      return false;
    }
    const vihl = b[o];
    const ihl = (vihl & 15) << 2;
    if (vihl >> 4 !== 4 || ihl < 20) {
      st.badIpHeader++;
      return false;
    }
    st.ipv4++;
    let tot = (b[o + 2] << 8) | b[o + 3];
    // total length 0 (TSO / BIG TCP) or larger than the frame: use the frame's reported
    // length like tshark (its tcp.len comes from the reported length in both cases)
    if (tot === 0 || tot > reported) tot = reported;
    if (tot < ihl) {
      st.badIpHeader++;
      return false;
    }
    if (o + ihl > end) {
      st.truncated++;
      return false;
    }
    const proto = b[o + 9];
    if ((((b[o + 6] & 0x1f) << 8) | b[o + 7]) !== 0) {
      st.nonFirstFragment++;
      return false;
    }
    if (proto !== 6) {
      if (proto === 17) return this.udp(frame, seg, b, o + ihl, end, tot - ihl);
      if (proto === 4 || proto === 41 || proto === 47) return this.inner(frame, seg, b, proto, o + ihl, end, tot - ihl);
      if (proto === 1) st.icmp++;
      else st.otherIpProto++;
      return false;
    }
    seg.ipVersion = 4;
    seg.src0 = ((b[o + 12] << 24) | (b[o + 13] << 16) | (b[o + 14] << 8) | b[o + 15]) >>> 0;
    seg.dst0 = ((b[o + 16] << 24) | (b[o + 17] << 16) | (b[o + 18] << 8) | b[o + 19]) >>> 0;
    seg.src1 = 0;
    seg.src2 = 0;
    seg.src3 = 0;
    seg.dst1 = 0;
    seg.dst2 = 0;
    seg.dst3 = 0;
    seg.ipTtl = b[o + 8];
    seg.ipId = (b[o + 4] << 8) | b[o + 5];
    return this.tcp(frame, seg, b, o + ihl, end, tot - ihl);
  }

  private ipv6(frame: Frame, seg: Segment, b: Uint8Array, o: number, end: number, rep: number): boolean {
    const st = this.stats;
    if (o + 40 > end) {
      st.truncated++;
      return false;
    }
    if (b[o] >> 4 !== 6) {
      st.badIpHeader++;
      return false;
    }
    st.ipv6++;
    let plen = (b[o + 4] << 8) | b[o + 5];
    let nh = b[o + 6];
    let p = o + 40;
    let jumbo = -1;
    let hdrs = 0;
    for (;;) {
      if (nh === 6 || nh === 17 || nh === 58 || nh === 4 || nh === 41 || nh === 47) break;
      if (nh === 0 || nh === 43 || nh === 60 || nh === 135) {
        if (p + 2 > end) {
          st.truncated++;
          return false;
        }
        const hl = (b[p + 1] + 1) << 3;
        if (nh === 0) {
          // Hop-by-Hop: look for the Jumbo Payload option (0xC2, length 4)
          const oe = Math.min(p + hl, end);
          let q = p + 2;
          while (q < oe) {
            const t = b[q];
            if (t === 0) {
              q++;
              continue;
            }
            if (q + 1 >= oe) break;
            const ol = b[q + 1];
            if (t === 0xc2 && ol === 4 && q + 6 <= oe) {
              jumbo = ((b[q + 2] << 24) | (b[q + 3] << 16) | (b[q + 4] << 8) | b[q + 5]) >>> 0;
            }
            q += 2 + ol;
          }
        }
        nh = b[p];
        p += hl;
      } else if (nh === 44) {
        if (p + 8 > end) {
          st.truncated++;
          return false;
        }
        const fo = ((b[p + 2] << 8) | b[p + 3]) & 0xfff8;
        nh = b[p];
        p += 8;
        if (fo !== 0) {
          st.nonFirstFragment++;
          return false;
        }
      } else if (nh === 51) {
        if (p + 2 > end) {
          st.truncated++;
          return false;
        }
        const hl = (b[p + 1] + 2) << 2;
        nh = b[p];
        p += hl;
      } else break;
      if (++hdrs > IPV6_MAX_EXT_HEADERS) {
        st.ipv6ChainTooLong++;
        return false;
      }
    }
    if (nh !== 6) {
      if (nh === 4 || nh === 41 || nh === 47 || nh === 17) {
        let pl = (b[o + 4] << 8) | b[o + 5];
        if (pl === 0) pl = jumbo >= 0 ? jumbo : rep - 40;
        else if (pl > rep - 40) pl = rep - 40;
        const inner = pl - (p - (o + 40));
        return nh === 17 ? this.udp(frame, seg, b, p, end, inner) : this.inner(frame, seg, b, nh, p, end, inner);
      }
      if (nh === 58) st.icmp++;
      else st.otherIpProto++;
      return false;
    }
    const reported = rep - 40;
    if (plen === 0) plen = jumbo >= 0 ? jumbo : reported;
    else if (plen > reported) plen = reported;
    const payload = plen - (p - (o + 40));
    if (payload < 0) {
      st.badIpHeader++;
      return false;
    }
    seg.ipVersion = 6;
    seg.src0 = ((b[o + 8] << 24) | (b[o + 9] << 16) | (b[o + 10] << 8) | b[o + 11]) >>> 0;
    seg.src1 = ((b[o + 12] << 24) | (b[o + 13] << 16) | (b[o + 14] << 8) | b[o + 15]) >>> 0;
    seg.src2 = ((b[o + 16] << 24) | (b[o + 17] << 16) | (b[o + 18] << 8) | b[o + 19]) >>> 0;
    seg.src3 = ((b[o + 20] << 24) | (b[o + 21] << 16) | (b[o + 22] << 8) | b[o + 23]) >>> 0;
    seg.dst0 = ((b[o + 24] << 24) | (b[o + 25] << 16) | (b[o + 26] << 8) | b[o + 27]) >>> 0;
    seg.dst1 = ((b[o + 28] << 24) | (b[o + 29] << 16) | (b[o + 30] << 8) | b[o + 31]) >>> 0;
    seg.dst2 = ((b[o + 32] << 24) | (b[o + 33] << 16) | (b[o + 34] << 8) | b[o + 35]) >>> 0;
    seg.dst3 = ((b[o + 36] << 24) | (b[o + 37] << 16) | (b[o + 38] << 8) | b[o + 39]) >>> 0;
    seg.ipTtl = b[o + 7];
    seg.ipId = -1;
    return this.tcp(frame, seg, b, p, end, payload);
  }

  /** the packet inside IP protocol `proto` (4 IPv4, 41 IPv6, 47 GRE) starting at `o`, of `rep` reported bytes */
  private inner(frame: Frame, seg: Segment, b: Uint8Array, proto: number, o: number, end: number, rep: number): boolean {
    if (!this.enter()) return false;
    if (proto === 4) return this.ipv4(frame, seg, b, o, end, rep);
    if (proto === 41) return this.ipv6(frame, seg, b, o, end, rep);
    return this.gre(frame, seg, b, o, end, rep);
  }

  /** GRE (RFC 2784/2890): IP, Ethernet (NVGRE, gretap), MPLS, ERSPAN types I-III */
  private gre(frame: Frame, seg: Segment, b: Uint8Array, o: number, end: number, rep: number): boolean {
    const st = this.stats;
    if (o + 4 > end) {
      st.truncated++;
      return false;
    }
    const f = b[o];
    // version 1 is PPTP's enhanced GRE (PPP inside); the routing bit is long obsolete
    if ((b[o + 1] & 7) !== 0 || (f & 0x40) !== 0) {
      st.otherIpProto++;
      return false;
    }
    const et = (b[o + 2] << 8) | b[o + 3];
    const seq = (f & 0x10) !== 0;
    const hl = 4 + ((f & 0x80) !== 0 ? 4 : 0) + ((f & 0x20) !== 0 ? 4 : 0) + (seq ? 4 : 0);
    let p = o + hl;
    let r = rep - hl;
    if (et === ET_ERSPAN2 || et === ET_ERSPAN3) {
      // ERSPAN type I has no header and no sequence number; II has 8 bytes; III 12, plus an
      // 8-byte platform subheader when its O bit is set. Only frame type Ethernet is mirrored here
      if (et === ET_ERSPAN2 && seq) {
        p += 8;
        r -= 8;
      } else if (et === ET_ERSPAN3) {
        if (p + 12 > end) {
          st.truncated++;
          return false;
        }
        const ft = (b[p + 10] >> 2) & 0x1f;
        const sub = (b[p + 11] & 1) !== 0;
        if (ft !== 0) {
          st.otherEthertype++;
          return false;
        }
        p += sub ? 20 : 12;
        r -= sub ? 20 : 12;
      }
      return this.ether(frame, seg, b, p, end, r);
    }
    if (et === ET_TEB) return this.ether(frame, seg, b, p, end, r);
    return this.network(frame, seg, b, p, end, r, et);
  }

  /** UDP: VXLAN and Geneve carry inner Ethernet frames; other UDP is counted */
  private udp(frame: Frame, seg: Segment, b: Uint8Array, o: number, end: number, rep: number): boolean {
    const st = this.stats;
    if (o + 16 <= end) {
      const dport = (b[o + 2] << 8) | b[o + 3];
      // VXLAN: flags with the I bit (VNI valid), 24-bit VNI, reserved byte
      if ((dport === VXLAN_PORT || dport === VXLAN_LINUX_PORT) && (b[o + 8] & 0x08) !== 0) {
        if (!this.enter()) return false;
        return this.ether(frame, seg, b, o + 16, end, rep - 16);
      }
      // Geneve: version 0, options length in 4-byte words, protocol type as an ethertype
      if (dport === GENEVE_PORT && b[o + 8] >> 6 === 0) {
        if (!this.enter()) return false;
        const hl = 16 + ((b[o + 8] & 0x3f) << 2);
        const et = (b[o + 10] << 8) | b[o + 11];
        if (et === ET_TEB) return this.ether(frame, seg, b, o + hl, end, rep - hl);
        return this.network(frame, seg, b, o + hl, end, rep - hl, et);
      }
    }
    st.udp++;
    return false;
  }

  private tcp(frame: Frame, seg: Segment, b: Uint8Array, t: number, end: number, ipPayload: number): boolean {
    const st = this.stats;
    // Needed: ports, seq, ack, data offset, flags, window (16 bytes). A header cut after
    // that (checksum / urgent pointer missing) is still decoded and marked truncated, as
    // tshark shows it.
    if (t + 16 > end) {
      st.truncated++;
      return false;
    }
    const thl = (b[t + 12] >> 4) << 2;
    if (thl < 20 || thl > ipPayload) {
      st.badTcpHeader++;
      return false;
    }
    st.tcp++;
    seg.frame = frame.frame;
    seg.fileIndex = frame.fileIndex;
    seg.tsSec = frame.tsSec;
    seg.tsNsec = frame.tsNsec;
    seg.ts = frame.tsSec + frame.tsNsec / 1e9;
    seg.srcPort = (b[t] << 8) | b[t + 1];
    seg.dstPort = (b[t + 2] << 8) | b[t + 3];
    seg.seq = ((b[t + 4] << 24) | (b[t + 5] << 16) | (b[t + 6] << 8) | b[t + 7]) >>> 0;
    seg.ack = ((b[t + 8] << 24) | (b[t + 9] << 16) | (b[t + 10] << 8) | b[t + 11]) >>> 0;
    seg.flags = ((b[t + 12] & 1) << 8) | b[t + 13];
    seg.window = (b[t + 14] << 8) | b[t + 15];
    seg.payloadLen = ipPayload - thl;
    seg.hasTs = false;
    seg.tsval = 0;
    seg.tsecr = 0;
    seg.mss = -1;
    seg.wscale = -1;
    seg.sackPermitted = false;
    seg.sackCount = 0;
    seg.optionsMalformed = false;
    let cut = t + thl + seg.payloadLen > end;
    // options
    const oe = t + thl;
    if (oe > end) st.tcpOptionsCut++;
    let p = t + 20;
    while (p < oe) {
      if (p >= end) {
        cut = true;
        break;
      }
      const kind = b[p];
      if (kind === 0) break;
      if (kind === 1) {
        p++;
        continue;
      }
      if (p + 1 >= end) {
        cut = true;
        break;
      }
      const len = b[p + 1];
      if (len < 2 || p + len > oe) {
        seg.optionsMalformed = true;
        break;
      }
      if (p + len > end) {
        cut = true;
        break;
      }
      switch (kind) {
        case 2:
          if (len === 4) seg.mss = (b[p + 2] << 8) | b[p + 3];
          break;
        case 3:
          if (len === 3) seg.wscale = b[p + 2];
          break;
        case 4:
          if (len === 2) seg.sackPermitted = true;
          break;
        case 5: {
          let n = (len - 2) >> 3;
          if (n > 4) n = 4;
          const sb = seg.sackBlocks;
          for (let i = 0; i < n; i++) {
            const q = p + 2 + (i << 3);
            sb[2 * i] = ((b[q] << 24) | (b[q + 1] << 16) | (b[q + 2] << 8) | b[q + 3]) >>> 0;
            sb[2 * i + 1] = ((b[q + 4] << 24) | (b[q + 5] << 16) | (b[q + 6] << 8) | b[q + 7]) >>> 0;
          }
          seg.sackCount = n;
          break;
        }
        case 8:
          if (len === 10) {
            seg.hasTs = true;
            seg.tsval = ((b[p + 2] << 24) | (b[p + 3] << 16) | (b[p + 4] << 8) | b[p + 5]) >>> 0;
            seg.tsecr = ((b[p + 6] << 24) | (b[p + 7] << 16) | (b[p + 8] << 8) | b[p + 9]) >>> 0;
          }
          break;
        default:
          break;
      }
      p += len;
    }
    if (seg.optionsMalformed) st.tcpOptionsMalformed++;
    seg.truncated = cut;
    if (cut) st.tcpCut++;
    return true;
  }
}
