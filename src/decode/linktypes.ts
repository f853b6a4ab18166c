// Names of LINKTYPE_* values (https://www.tcpdump.org/linktypes.html), for messages and reports.

const NAMES: Record<number, string> = {
  0: 'NULL',
  1: 'ETHERNET',
  12: 'RAW (legacy 12)',
  14: 'RAW (OpenBSD 14)',
  101: 'RAW',
  105: 'IEEE802_11',
  108: 'LOOP',
  113: 'LINUX_SLL',
  127: 'IEEE802_11_RADIOTAP',
  228: 'IPV4',
  229: 'IPV6',
  274: 'ETHERNET_MPACKET',
  276: 'LINUX_SLL2',
};

export function linkTypeName(lt: number): string {
  return NAMES[lt] ?? `LINKTYPE_${lt}`;
}
