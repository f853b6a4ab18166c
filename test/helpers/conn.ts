// Synthetic connections for the detectors' unit tests: the tracker sets both the address strings
// and the address words of a connection's page (the detectors key their tables on the words).
import type { Conn } from '../../src/tracker/connection.ts';

/** dotted IPv4 as the tracker's first address word */
function v4word(ip: string): number {
  const p = ip.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !(x >= 0 && x <= 255))) throw new Error(`not an IPv4 address: ${ip}`);
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
}

/** a connection's client and server addresses, as the tracker sets them (IPv4) */
export function setAddresses(c: Conn, client: string, server: string): void {
  c.ipVersion = 4;
  c.clientIp = client;
  c.serverIp = server;
  c.c0 = v4word(client);
  c.s0 = v4word(server);
}
