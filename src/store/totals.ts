// Counts over the connection rows as the writer stores them, for the summary `analyze` prints
// and the reports. The same numbers come from GROUP BY queries over `connections`, but each of
// those scans and sorts every row: seven of them took 4-5 s after a 10 M-packet analysis, half
// as long as the analysis itself. Counted here, on the writer thread while it inserts, they cost
// a few map updates per row, and `captures.totals` holds them for every later reader.
//
// A row written ahead of its connection's end may be written again (INSERT OR REPLACE): the
// writer takes the row it replaces out of the counts first (sub), so the totals always describe
// the rows the table holds.

import { CONN_ENUMS } from '../tracker/connection.js';

/** distinct client addresses, or services, counted at most: past it that list is left to SQL
 *  (a scan of a capture with millions of peers), so memory stays bounded */
export const MAX_KEYS = 100_000;
/** clients or services listed whole (for the report's busiest clients and services) at most */
export const MAX_LISTED = 10_000;

interface ServiceCount {
  ipVersion: number;
  n: number;
  /** closed first by the client, by the server */
  cf: number;
  sf: number;
  /** ended by a reset (close_kind rst or fin-rst), or refused */
  resets: number;
  refused: number;
}

interface ClientCount {
  n: number;
  /** TIME-WAIT held by the client (it closed first, or both did) */
  tw: number;
  resets: number;
  refused: number;
}

/** a service as `services` lists it */
export interface ServiceTotals {
  server_ip: string;
  server_port: number;
  ip_version: number;
  n: number;
  /** closed first by the client, by the server */
  cf: number;
  sf: number;
  /** ended by a reset (rst, fin-rst) or refused */
  resets: number;
  refused: number;
}

/** a client address as `clients` lists it */
export interface ClientTotals {
  client_ip: string;
  n: number;
  time_wait_held: number;
  resets: number;
  refused: number;
}

/** what `captures.totals` holds (JSON); `version` changes when its meaning does */
export interface ConnTotalsJSON {
  version: 1;
  connections: number;
  close_kind: Record<string, number>;
  conn_state: Record<string, number>;
  /** by active_closer; `none` when NULL */
  active_closer: Record<string, number>;
  /** connections with a TIME-WAIT window, by its holder (a simultaneous close counts for both) */
  time_wait_holders: { client: number; server: number };
  /** connections whose client/server orientation is a guess (no SYN seen), and whose TIME-WAIT is
   *  dated from the peer's FIN (the last ACK not in the capture) */
  orientation_guessed: number;
  time_wait_estimated: number;
  /** earliest and latest connection start (Unix seconds), null without connections */
  start_ts: { min: number; max: number } | null;
  /** connections showing packets from one side only although that side answered (capture-notes) */
  one_way: { clientOnly: number; serverOnly: number; total: number };
  /** the 5 busiest services and clients, or null when there were more than MAX_KEYS of them */
  top_services: { server_ip: string; server_port: number; ip_version: number; n: number; cf: number; sf: number; r: number }[] | null;
  top_clients: { client_ip: string; n: number }[] | null;
  /** every service and every client address, or null when there were more than MAX_LISTED */
  services: ServiceTotals[] | null;
  clients: ClientTotals[] | null;
}

const TOP = 5;
/** close_kind codes: 1 for a reset (rst, fin-rst), 2 for refused */
const RESET_KINDS = CONN_ENUMS.closeKind.map((k) => (k === 'rst' || k === 'fin-rst' ? 1 : k === 'refused' ? 2 : 0));

/** a one-sided connection (capture-notes' ONE_WAY_SQL): packets from `pkts`'s side only, and that
 *  side acknowledged, sent data or a FIN (letters of its case in the history) */
function answeredAlone(pkts: number, otherPkts: number, history: string, letters: string): boolean {
  if (otherPkts !== 0 || pkts < 2) return false;
  for (let i = 0; i < letters.length; i++) if (history.includes(letters[i]!)) return true;
  return false;
}

/** enum text -> its code (NULL: the code of null, or -1 when it has none) */
const code = (values: readonly (string | null)[], v: string | null): number => values.indexOf(v);

export class ConnTotals {
  private connections = 0;
  /** counts by enum code (CONN_ENUMS order) */
  private readonly closeKind = new Array<number>(CONN_ENUMS.closeKind.length).fill(0);
  private readonly connState = new Array<number>(CONN_ENUMS.connState.length).fill(0);
  private readonly closer = new Array<number>(CONN_ENUMS.activeCloser.length).fill(0);
  private twClient = 0;
  private twServer = 0;
  private guessed = 0;
  private estimated = 0;
  private startMin = Infinity;
  private startMax = -Infinity;
  private clientOnly = 0;
  private serverOnly = 0;
  /** server address -> port -> counts */
  private services: Map<string, Map<number, ServiceCount>> | null = new Map();
  private serviceKeys = 0;
  private clients: Map<string, ClientCount> | null = new Map();

  /** count one row in (sign 1) or take it out (sign -1); the enums as their codes in CONN_ENUMS */
  add(
    sign: 1 | -1,
    closeKind: number,
    connState: number,
    activeCloser: number,
    hasTimeWait: boolean,
    clientIp: string,
    serverIp: string,
    serverPort: number,
    ipVersion: number,
    clientPkts: number,
    serverPkts: number,
    history: string,
    guessed: boolean,
    estimated: boolean,
    start: number,
  ): void {
    this.connections += sign;
    if (guessed) this.guessed += sign;
    if (estimated) this.estimated += sign;
    // a row replaces one of the same connection, which started at the same time: only new rows move these
    if (sign === 1) {
      if (start < this.startMin) this.startMin = start;
      if (start > this.startMax) this.startMax = start;
    }
    this.closeKind[closeKind] += sign;
    this.connState[connState] += sign;
    this.closer[activeCloser] += sign;
    // activeCloser codes: 1 client, 2 server, 3 both
    const clientTw = hasTimeWait && (activeCloser === 1 || activeCloser === 3);
    if (clientTw) this.twClient += sign;
    if (hasTimeWait && (activeCloser === 2 || activeCloser === 3)) this.twServer += sign;
    const reset = RESET_KINDS[closeKind];
    if (serverPkts === 0 && answeredAlone(clientPkts, serverPkts, history, 'ADF')) this.clientOnly += sign;
    if (clientPkts === 0 && answeredAlone(serverPkts, clientPkts, history, 'adf')) this.serverOnly += sign;

    if (this.services !== null) {
      let byPort = this.services.get(serverIp);
      if (byPort === undefined) this.services.set(serverIp, (byPort = new Map()));
      let s = byPort.get(serverPort);
      if (s === undefined) {
        if (++this.serviceKeys > MAX_KEYS) this.services = null;
        else byPort.set(serverPort, (s = { ipVersion, n: 0, cf: 0, sf: 0, resets: 0, refused: 0 }));
      }
      if (s !== undefined) {
        s.n += sign;
        if (activeCloser === 1) s.cf += sign;
        else if (activeCloser === 2) s.sf += sign;
        if (reset === 1) s.resets += sign;
        else if (reset === 2) s.refused += sign;
      }
    }
    if (this.clients !== null) {
      let k = this.clients.get(clientIp);
      if (k === undefined) {
        if (this.clients.size >= MAX_KEYS) this.clients = null;
        else this.clients.set(clientIp, (k = { n: 0, tw: 0, resets: 0, refused: 0 }));
      }
      if (k !== undefined) {
        k.n += sign;
        if (clientTw) k.tw += sign;
        if (reset === 1) k.resets += sign;
        else if (reset === 2) k.refused += sign;
      }
    }
  }

  /** take out a row read back from the table (the enums as text) */
  subtractStored(r: StoredRow): void {
    this.add(
      -1, code(CONN_ENUMS.closeKind, r.close_kind), code(CONN_ENUMS.connState, r.conn_state), code(CONN_ENUMS.activeCloser, r.active_closer),
      r.time_wait_start !== null, r.client_ip, r.server_ip, r.server_port, r.ip_version, r.client_pkts, r.server_pkts, r.history ?? '',
      r.orientation_guessed === 1, r.time_wait_estimated === 1, r.start_ts,
    );
  }

  toJSON(): ConnTotalsJSON {
    let topServices: ConnTotalsJSON['top_services'] = null;
    let services: ServiceTotals[] | null = null;
    if (this.services !== null) {
      const all: ServiceTotals[] = [];
      for (const [ip, byPort] of this.services) {
        for (const [port, s] of byPort) if (s.n > 0) all.push({ server_ip: ip, server_port: port, ip_version: s.ipVersion, n: s.n, cf: s.cf, sf: s.sf, resets: s.resets, refused: s.refused });
      }
      // as the SQL orders them: most connections first, then by address text and port
      all.sort((a, b) => b.n - a.n || cmp(a.server_ip, b.server_ip) || a.server_port - b.server_port);
      topServices = all.slice(0, TOP).map((s) => ({ server_ip: s.server_ip, server_port: s.server_port, ip_version: s.ip_version, n: s.n, cf: s.cf, sf: s.sf, r: s.resets + s.refused }));
      if (all.length <= MAX_LISTED) services = all;
    }
    let topClients: ConnTotalsJSON['top_clients'] = null;
    let clients: ClientTotals[] | null = null;
    if (this.clients !== null) {
      const all: ClientTotals[] = [];
      for (const [ip, k] of this.clients) if (k.n > 0) all.push({ client_ip: ip, n: k.n, time_wait_held: k.tw, resets: k.resets, refused: k.refused });
      all.sort((a, b) => b.n - a.n || cmp(a.client_ip, b.client_ip));
      topClients = all.slice(0, TOP).map((c) => ({ client_ip: c.client_ip, n: c.n }));
      if (all.length <= MAX_LISTED) clients = all;
    }
    return {
      version: 1,
      connections: this.connections,
      close_kind: ordered(CONN_ENUMS.closeKind, this.closeKind),
      conn_state: ordered(CONN_ENUMS.connState, this.connState),
      active_closer: ordered(CONN_ENUMS.activeCloser.map((v) => v ?? 'none'), this.closer),
      time_wait_holders: { client: this.twClient, server: this.twServer },
      orientation_guessed: this.guessed,
      time_wait_estimated: this.estimated,
      start_ts: this.startMin <= this.startMax ? { min: this.startMin, max: this.startMax } : null,
      one_way: { clientOnly: this.clientOnly, serverOnly: this.serverOnly, total: this.connections },
      top_services: topServices,
      top_clients: topClients,
      services,
      clients,
    };
  }
}

/** the columns subtractStored reads (STORED_COLUMNS) */
export interface StoredRow {
  close_kind: string | null;
  conn_state: string | null;
  active_closer: string | null;
  time_wait_start: number | null;
  client_ip: string;
  server_ip: string;
  server_port: number;
  ip_version: number;
  client_pkts: number;
  server_pkts: number;
  history: string | null;
  orientation_guessed: number;
  time_wait_estimated: number | null;
  start_ts: number;
}
export const STORED_COLUMNS =
  'close_kind, conn_state, active_closer, time_wait_start, client_ip, server_ip, server_port, ip_version, client_pkts, server_pkts, history, orientation_guessed, time_wait_estimated, start_ts';

/** SQLite's BINARY collation on ASCII text (addresses, enum names) */
export const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** counts above zero by name, most first, then by name (the order of `ORDER BY n DESC, k`) */
function ordered(names: readonly (string | null)[], counts: number[]): Record<string, number> {
  const out: Record<string, number> = {};
  const rows = names.map((k, i) => [String(k), counts[i]!] as const).filter(([, n]) => n > 0);
  for (const [k, n] of rows.sort((a, b) => b[1] - a[1] || cmp(a[0], b[0]))) out[k] = n;
  return out;
}
